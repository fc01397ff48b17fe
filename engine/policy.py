"""What a process model declares about itself: statuses, mails, messages, checks, deadlines.

The platform runs many processes and names none of them: everything that differs
between processes is written in the model, as SpiffArena-style extension properties
(``<spiffworkflow:property name="…" value="…"/>`` inside an element's
``extensionElements``), which SpiffArena, bpmn.io and Camunda Modeler all keep on a
round trip. This module reads them once per process version (engine.specs) into a
:class:`ProcessPolicy`; the use cases only consult it. The vocabulary (README,
"Como um processo se descreve"):

On the ``bpmn:process``:
  ``listed``                 ``false`` keeps the process off the "Serviços" page.
  ``startLabel``             the start button's text ("Iniciar" by default).
  ``retentionDays``          how many days a closed instance keeps its personal data
                             before the retention job anonymises it (engine.retention);
                             without it, and without an admin's setting, it is kept.
  ``businessDeadline:<var>`` before every step, ``<var>`` is set to the instant that
                             many business days (the value: a number or a data name)
                             from now, less the business time the instance already spent
                             with a group — a timer then reads ``<var>`` as its date.
On a user or manual task:
  ``status`` / ``statusLabel`` / ``statusTone``   the status while the task is open.
  ``mail`` / ``mailTo``      the e-mail sent when the task opens (template, recipients).
  ``mailOnComplete`` / ``mailOnCompleteTo``   … and when it is completed.
  ``timeline`` / ``message`` a public timeline entry when the task opens, with a message
                             (a Jinja template over the instance data); on a requester's
                             task the message is what they are asked to do.
  ``completedTimeline``      the timeline entry when the task is completed.
  ``submitLabel``            the text of the button that completes the task.
  ``optionIf:<field>:<value>``  the option ``<value>`` of ``<field>`` is offered only
                             while this expression over the instance data holds
                             (``optionIfMessage:<field>:<value>``: the refusal's text).
  ``incidentAnswer``         on a staff task: the form field an "Incidente"'s public
                             text answers when the incident is resolved
                             (engine.outages); with ``incidentResolution:<field>`` =
                             ``<value>`` for each other field that resolution sends
                             (e.g. ``incidentResolution:decisao`` = ``resolver``). The
                             task is completed through the model like any other sending.
On an end event: ``status``/``statusLabel``/``statusTone``, ``mail``/``mailTo``,
  ``outcome`` (the result shown to the requester: a Jinja template over the data), and
  ``timeline`` (its timeline entry; the end event's own name without it), and
  ``erasePersonalData`` (``true``: reaching it records the requester's accepted request
  to erase what is not needed any more: engine.retention).
On a timer event: ``marksOverdue`` (``true``: the instance is flagged overdue), ``mail``/
  ``mailTo``, ``timeline``.

``mailTo``: ``solicitante`` (default), ``grupo:<key>`` (members of a group), or
``papel:<role>`` (holders of a platform role, e.g. ``papel:supervisor``).
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass, field
from typing import Any

from jinja2 import Template, TemplateError, Undefined
from lxml import etree

from engine import templating
from engine.errors import ProcessDefinitionError
from engine.scripting import ExpressionRejected, compile_expression, evaluate, sanitize_for_md

SPIFF_NS = "http://spiffworkflow.org/bpmn/schema/1.0/core"
BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
# Keys SpiffArena already gives a meaning to: not policy.
_FORM_KEYS = frozenset({"formJsonSchemaFilename", "formUiSchemaFilename"})
TONES = {
    "neutro": "bg-gray-60",
    "info": "bg-info",
    "atencao": "bg-warning",
    "sucesso": "bg-success",
    "perigo": "bg-danger",
}
REQUESTER = "solicitante"
_MAX_TEMPLATE = 5000

log = logging.getLogger(__name__)

# Sandboxed and bounded in CPU time and length (engine.templating): shown on pages.
_templates = templating.BoundedEnvironment(autoescape=False, undefined=Undefined)
# SpiffArena's instructions use it both ways: {{ x | sanitize_for_md }} and
# {{ sanitize_for_md(x) }}.
_templates.filters["sanitize_for_md"] = sanitize_for_md
_templates.globals["sanitize_for_md"] = sanitize_for_md


@dataclass(frozen=True)
class Status:
    code: str
    label: str
    tone: str  # a gov.br DS tag class


# Statuses every instance can be in whatever its model declares.
IN_PROGRESS = Status("em_andamento", "Em andamento", TONES["neutro"])
FINISHED = Status("concluido", "Concluído", TONES["neutro"])
# The model failed while a step ran (engine.incidents): whatever the model declares.
INCIDENT = Status("incidente_tecnico", "Incidente técnico", TONES["perigo"])


@dataclass(frozen=True)
class Mail:
    template: str
    to: str  # "solicitante", "grupo:<key>" or "papel:<role>"


@dataclass(frozen=True)
class OptionRule:
    field: str
    value: str
    expression: str
    message: str


@dataclass(frozen=True)
class ElementPolicy:
    status: Status | None = None
    mail: Mail | None = None
    mail_on_complete: Mail | None = None
    timeline: str | None = None
    completed_timeline: str | None = None
    submit_label: str | None = None
    message: str | None = None
    outcome: str | None = None
    marks_overdue: bool = False
    erase_personal_data: bool = False
    option_rules: tuple[OptionRule, ...] = ()
    # What resolving an outage sends to this task (engine.outages): the field its public
    # text answers, and the fixed values of the other fields. None: the task takes none.
    incident_answer: str | None = None
    incident_values: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class ProcessPolicy:
    title: str
    description: str
    listed: bool = True
    start_label: str = "Iniciar"
    business_deadlines: dict[str, str] = field(default_factory=dict)
    retention_days: int | None = None
    elements: dict[str, ElementPolicy] = field(default_factory=dict)

    def element(self, element_id: str | None) -> ElementPolicy:
        return self.elements.get(element_id or "", _EMPTY)

    @property
    def incident_tasks(self) -> dict[str, ElementPolicy]:
        """element id → policy, for the tasks an outage's resolution completes."""
        return {k: v for k, v in self.elements.items() if v.incident_answer}


_EMPTY = ElementPolicy()


def _properties(element: etree._Element) -> dict[str, str]:
    props: dict[str, str] = {}
    ext = element.find(f"{{{BPMN_NS}}}extensionElements")
    if ext is None:
        return props
    for prop in ext.iter(f"{{{SPIFF_NS}}}property"):
        name, value = prop.get("name"), prop.get("value")
        if name and value is not None and name not in _FORM_KEYS:
            props[name] = value
    return props


def _documentation(element: etree._Element) -> str:
    doc = element.find(f"{{{BPMN_NS}}}documentation")
    return (doc.text or "").strip() if doc is not None else ""


def _check_template(source: str, element: str) -> str:
    if len(source) > _MAX_TEMPLATE:
        raise ProcessDefinitionError(f"Elemento {element}: modelo de texto longo demais.", element)
    try:
        problem = templating.loop_problem(_templates.parse(source))
    except TemplateError as exc:
        problem = str(exc)
    if problem:
        raise ProcessDefinitionError(
            f"Elemento {element}: modelo de texto inválido ({problem}).", element
        )
    return source


def _check_expression(source: str, element: str) -> str:
    try:
        compile_expression(source)
    except ExpressionRejected as exc:
        raise ProcessDefinitionError(f"Elemento {element}: {exc}", element) from exc
    return source


def _mail(props: dict[str, str], key: str, element: str) -> Mail | None:
    template = props.get(key)
    if not template:
        return None
    to = props.get(f"{key}To", REQUESTER).strip()
    if not (to == REQUESTER or to.startswith(("grupo:", "papel:"))):
        raise ProcessDefinitionError(
            f"Elemento {element}: destinatário {to!r} desconhecido (use 'solicitante', "
            "'grupo:<chave>' ou 'papel:<papel>').",
            element,
        )
    return Mail(template.strip(), to)


def _status(props: dict[str, str], element: str) -> Status | None:
    code = props.get("status", "").strip()
    if not code:
        return None
    tone = props.get("statusTone", "info").strip()
    if tone not in TONES:
        raise ProcessDefinitionError(
            f"Elemento {element}: cor de situação {tone!r} desconhecida (use {', '.join(TONES)}).",
            element,
        )
    return Status(code, props.get("statusLabel", code).strip() or code, TONES[tone])


def _element_policy(props: dict[str, str], element: str) -> ElementPolicy | None:
    if not props:
        return None
    rules = []
    for key, expression in props.items():
        if key.startswith("optionIf:"):
            _prefix, _sep, rest = key.partition(":")
            field_name, _sep, value = rest.partition(":")
            if not field_name or not value:
                raise ProcessDefinitionError(
                    f"Elemento {element}: use optionIf:<campo>:<valor>.", element
                )
            refusal = props.get(
                f"optionIfMessage:{field_name}:{value}", "Esta opção não está disponível agora."
            )
            rules.append(
                OptionRule(field_name, value, _check_expression(expression, element), refusal)
            )
    answer = props.get("incidentAnswer", "").strip() or None
    values = []
    for key, value in props.items():
        if key.startswith("incidentResolution:"):
            field_name = key.partition(":")[2].strip()
            if not field_name:
                raise ProcessDefinitionError(
                    f"Elemento {element}: use incidentResolution:<campo>.", element
                )
            values.append((field_name, value))
    if values and answer is None:
        raise ProcessDefinitionError(
            f"Elemento {element}: incidentResolution exige incidentAnswer (o campo que "
            "recebe o texto público do incidente).",
            element,
        )
    message = props.get("message")
    outcome = props.get("outcome")
    return ElementPolicy(
        status=_status(props, element),
        mail=_mail(props, "mail", element),
        mail_on_complete=_mail(props, "mailOnComplete", element),
        timeline=props.get("timeline"),
        completed_timeline=props.get("completedTimeline"),
        submit_label=props.get("submitLabel"),
        message=_check_template(message, element) if message else None,
        outcome=_check_template(outcome, element) if outcome else None,
        marks_overdue=props.get("marksOverdue", "").strip().lower() == "true",
        erase_personal_data=props.get("erasePersonalData", "").strip().lower() == "true",
        option_rules=tuple(rules),
        incident_answer=answer,
        incident_values=tuple(sorted(values)),
    )


def read(tree: etree._Element, process_id: str) -> ProcessPolicy:
    """The policy of ``process_id`` in a parsed (and already safety-checked) BPMN tree."""
    process = next(
        (p for p in tree.iter(f"{{{BPMN_NS}}}process") if p.get("id") == process_id), None
    )
    if process is None:
        return ProcessPolicy(title=process_id, description="")
    props = _properties(process)
    deadlines = {}
    for key, value in props.items():
        if key.startswith("businessDeadline:"):
            variable = key.partition(":")[2]
            if not variable.isidentifier() or variable.startswith("_"):
                raise ProcessDefinitionError(
                    f"Processo {process_id}: nome de variável inválido {variable!r}.", process_id
                )
            deadlines[variable] = _check_expression(value, process_id)
    elements = {}
    for element in process.iter():
        element_id = element.get("id")
        if element_id and element is not process:
            policy = _element_policy(_properties(element), element_id)
            if policy is not None:
                elements[element_id] = policy
    return ProcessPolicy(
        title=(process.get("name") or process_id).strip(),
        description=_documentation(process),
        listed=props.get("listed", "true").strip().lower() != "false",
        start_label=props.get("startLabel", "Iniciar").strip() or "Iniciar",
        business_deadlines=deadlines,
        retention_days=_retention_days(props.get("retentionDays"), process_id),
        elements=elements,
    )


# Ten years: beyond it a typo (days for hours) is more likely than a purpose.
MAX_RETENTION_DAYS = 3650


def _retention_days(raw: str | None, process_id: str) -> int | None:
    if raw is None or not raw.strip():
        return None
    try:
        days = int(raw.strip())
    except ValueError:
        days = -1
    if not 1 <= days <= MAX_RETENTION_DAYS:
        raise ProcessDefinitionError(
            f"Processo {process_id}: retentionDays deve ser um número de dias entre 1 e "
            f"{MAX_RETENTION_DAYS}.",
            process_id,
        )
    return days


def render(source: str | None, data: dict[str, Any], **helpers: Any) -> str | None:
    """A model's text template over instance data; None when it renders empty.

    Sandboxed: the model's author is trusted with texts, not with the host, nor with more
    than a bounded share of its CPU and memory (engine.templating). A template that fails
    at run time (a filter on a missing value, a bound exceeded) gives None rather than
    stopping the step that already happened.
    """
    if not source:
        return None
    try:
        with templating.budget():
            text = templating.render(_compiled(source), {**data, **helpers}).strip()
    except templating.TemplateLimitError as exc:
        # A runaway text is the model's to fix: the operators hear of it, the page does not.
        log.warning("modelo de texto interrompido: %s", exc)
        return None
    except TemplateError:
        return None
    return text or None


@functools.lru_cache(maxsize=512)
def _compiled(source: str) -> Template:
    # A model's texts are few and fixed per version; compiling one costs a millisecond.
    return _templates.from_string(source)


def option_allowed(rule: OptionRule, data: dict[str, Any]) -> bool:
    try:
        return bool(evaluate(rule.expression, data))
    except Exception:  # a missing name means the rule cannot hold
        return False
