"""A draft run by hand, in memory: the "Executar teste" sandbox's engine side.

The draft's parsed model (the same ``ProcessBundle`` publishing would make: the same
SpiffWorkflow parser, the same restricted script engine, the same DMN and call
activities of its folder) runs through ``engine.runtime`` exactly as a ticket would,
but nothing here touches the database: no ticket, no human task row, no outbox row,
no audit row. What the model would do around a step (its e-mails) is rendered and
handed back to be shown, never sent. The caller keeps the serialized workflow between
requests (engine.designer.sandbox_runs).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from SpiffWorkflow import TaskState
from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.specs.event_definitions.message import MessageEventDefinition
from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition

from engine import connectors, forms, limits, mail, messages, policy, runtime, sla
from engine.catalogs import CatalogOption, labels_of
from engine.designer.diagram import TicketDiagram, ticket_diagram
from engine.errors import ModelRuntimeError, TaskNotReady, ValidationFailed
from engine.specs import ProcessBundle

# The platform's facts a template may name, filled with what a test run can say.
SIMULATED_PROTOCOL = "TESTE-0000"
SIMULATED_BASE_URL = "https://simulacao.invalid/"
MAX_MAILS = 50  # kept per run: the latest ones; a loop mailing on each turn is bounded
MAX_PAYLOAD_CHARS = 16_000


@dataclass(frozen=True)
class SimulatedMail:
    element_id: str
    when: str  # "ao abrir", "ao concluir", "ao alcançar"
    to: str  # the model's mailTo, read back in pt-BR
    subject: str
    text: str
    error: str | None = None  # the template failed to render (it would fail the step)
    kind: str = "email"  # or "http": a service task's call that was not made

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class ReadyStep:
    """A ready user or manual task, with what its page needs."""

    guid: str
    element_id: str
    name: str
    lane: str | None
    form_schema: str | None
    form_ui: str | None
    instructions: str | None  # rendered over the data (markdown; the page cleans it)
    submit_label: str
    data: dict[str, Any]  # the values the form opens with

    @property
    def has_form(self) -> bool:
        return self.form_schema is not None


@dataclass(frozen=True)
class WaitingTimer:
    element_id: str
    name: str
    due: datetime | None  # when it would fire (SpiffWorkflow keeps it as ISO-8601 text)


@dataclass(frozen=True)
class WaitingMessage:
    element_id: str
    name: str
    message: str  # the BPMN message's name


@dataclass
class SandboxView:
    ready: list[ReadyStep] = field(default_factory=list)
    timers: list[WaitingTimer] = field(default_factory=list)
    messages: list[WaitingMessage] = field(default_factory=list)
    end_event: str | None = None
    end_name: str | None = None
    finished: bool = False
    diagram: TicketDiagram | None = None


# ------------------------------------------------------------------ reading the run


def _props(task: Any) -> dict[str, str]:
    return dict(getattr(task.task_spec, "extensions", {}).get("properties", {}))


def view(bundle: ProcessBundle, bpmn: bytes, wf: BpmnWorkflow) -> SandboxView:
    found = SandboxView(diagram=ticket_diagram(bpmn, wf))
    for task in runtime.ready_human_tasks(wf):
        element = task.task_spec.bpmn_id
        props = _props(task)
        schema = props.get("formJsonSchemaFilename")
        declared = bundle.policy.element(element)
        instructions = getattr(task.task_spec, "extensions", {}).get("instructionsForEndUser")
        try:
            shown = policy.render(instructions, task.data) if instructions else None
        except Exception as exc:  # noqa: BLE001 - a template error is the model's to fix
            shown = f"(As instruções não puderam ser montadas: {exc})"
        props_of_form = bundle.forms.get(schema or "", {}).get("properties", {})
        found.ready.append(
            ReadyStep(
                guid=str(task.id),
                element_id=element,
                name=task.task_spec.bpmn_name or element,
                lane=task.task_spec.lane,
                form_schema=schema,
                form_ui=props.get("formUiSchemaFilename"),
                instructions=shown,
                submit_label=declared.submit_label or ("Enviar" if schema else "Concluir"),
                data={k: copy.deepcopy(v) for k, v in task.data.items() if k in props_of_form},
            )
        )
    for task in wf.get_tasks(state=TaskState.WAITING):
        definition = getattr(task.task_spec, "event_definition", None)
        element = task.task_spec.bpmn_id
        name = task.task_spec.bpmn_name or element
        if isinstance(definition, TimerEventDefinition):
            found.timers.append(WaitingTimer(element, name, _due(task)))
        elif isinstance(definition, MessageEventDefinition):
            found.messages.append(WaitingMessage(element, name, definition.name))
    found.end_event = runtime.end_event(wf, bundle)
    found.end_name = bundle.end_events.get(found.end_event or "")
    found.finished = wf.is_completed()
    return found


def _due(task: Any) -> datetime | None:
    try:
        return datetime.fromisoformat(str(task.internal_data.get("event_value", "")))
    except ValueError:  # a cycle's or a date's value the designer wrote some other way
        return None


# ------------------------------------------------------------------ what the model mails


def _recipient(to: str) -> str:
    if to == policy.REQUESTER:
        return "Solicitante"
    kind, _sep, name = to.partition(":")
    return f"Membros do grupo {name}" if kind == "grupo" else f"Pessoas com o papel {name}"


def _render(
    bundle: ProcessBundle,
    declared: policy.Mail,
    element: str,
    when: str,
    data: Mapping[str, Any],
    labels: Any,
) -> SimulatedMail:
    context = {
        **{k: v for k, v in data.items() if isinstance(k, str) and not k.startswith("_")},
        "protocolo": SIMULATED_PROTOCOL,
        "nome": "Pessoa de teste" if declared.to == policy.REQUESTER else None,
        "processo": bundle.policy.title,
        "situacao": None,
        "servico": None,
        "resultado": None,
        "tracking_url": "/chamados/0",
        "analise_url": "/analise/0",
        "tarefa_url": None,
        "prazo": None,
        "mensagem": None,
        "orgao": None,
        "analista": None,
    }
    to = _recipient(declared.to)
    try:
        done = mail.render(
            bundle.mail_templates, declared.template, context, SIMULATED_BASE_URL, labels
        )
    except Exception as exc:  # noqa: BLE001 - shown: in production it would fail the step
        return SimulatedMail(element, when, to, declared.template, "", error=str(exc)[:500])
    return SimulatedMail(element, when, to, done.subject, done.text)


def _snapshot(wf: BpmnWorkflow) -> dict[Any, TaskState]:
    return {task.id: task.state for task in runtime.all_tasks(wf)}


def _mails_between(
    bundle: ProcessBundle,
    wf: BpmnWorkflow,
    before: dict[Any, TaskState],
    labels: Any,
) -> list[SimulatedMail]:
    """The e-mails a ticket's step would queue (engine.usecases.recording): a task that
    opened with ``mail``, one completed with ``mailOnComplete``, an event reached (end,
    timer) with ``mail``."""
    found = []
    changed = sorted(
        (t for t in runtime.all_tasks(wf) if before.get(t.id) != t.state),
        key=lambda t: t.last_state_change,
    )
    for task in changed:
        element = task.task_spec.bpmn_id
        if not element:
            continue
        declared = bundle.policy.element(element)
        manual = bool(task.task_spec.manual)
        if task.state == TaskState.READY and manual and declared.mail is not None:
            found.append(_render(bundle, declared.mail, element, "ao abrir", task.data, labels))
        elif task.state == TaskState.COMPLETED:
            if manual and declared.mail_on_complete is not None:
                found.append(
                    _render(
                        bundle, declared.mail_on_complete, element, "ao concluir", task.data, labels
                    )
                )
            elif not manual and declared.mail is not None:
                found.append(
                    _render(bundle, declared.mail, element, "ao alcançar", task.data, labels)
                )
    return found


# ------------------------------------------------------------------ stepping


class SandboxStepFailed(Exception):
    """The model failed while the step ran (what a ticket would turn into a technical
    incident); the run keeps its state from before the step."""

    def __init__(self, message: str, element_id: str | None) -> None:
        super().__init__(message)
        self.message = message
        self.element_id = element_id


def _guarded(wf: BpmnWorkflow | None, step: Any) -> tuple[Any, list[SimulatedMail]]:
    """Runs ``step`` with the connectors in their dry run (engine.connectors.dry_run):
    what a service task would have sent or changed elsewhere comes back to be shown."""
    with connectors.dry_run() as calls:
        try:
            result = step()
        except ModelRuntimeError as exc:
            raise SandboxStepFailed(exc.message, exc.element_id) from exc
    effects = [
        SimulatedMail(
            "",
            "tarefa de serviço",
            c.url,
            f"{c.operator}: chamada não feita no teste",
            "",
            kind="http",
        )
        for c in calls
    ]
    queued = connectors.take_mail(wf if wf is not None else result)
    effects += [
        SimulatedMail("", "tarefa de serviço", ", ".join(m.to), m.subject, m.body) for m in queued
    ]
    return result, effects


def start(
    bundle: ProcessBundle, options: Mapping[str, Sequence[CatalogOption]]
) -> tuple[BpmnWorkflow, list[SimulatedMail]]:
    wf, effects = _guarded(None, lambda: runtime.start(bundle))
    # Every task of a new run is new: what opened at its start mails as a ticket's would.
    return wf, _mails_between(bundle, wf, {}, labels_of(options)) + effects


def complete(
    bundle: ProcessBundle,
    wf: BpmnWorkflow,
    guid: str,
    posted: dict[str, Any],
    options: Mapping[str, Sequence[CatalogOption]],
    now: datetime,
) -> list[SimulatedMail]:
    """Completes a ready task with the posted form data, checked as a ticket's sending
    is (only declared fields, the schema with its catalogs, the model's option rules).
    Raises ValidationFailed (nothing ran) or SandboxStepFailed."""
    task = runtime.ready_task(wf, guid)
    element = task.task_spec.bpmn_id
    props = _props(task)
    schema_name = props.get("formJsonSchemaFilename")
    data: dict[str, Any] = {}
    if schema_name:
        schema = forms.resolve_catalogs(bundle.forms.get(schema_name, {}), options)
        ui = bundle.forms.get(props.get("formUiSchemaFilename") or "", {})
        declared = schema.get("properties", {})
        data = {k: copy.deepcopy(v) for k, v in posted.items() if k in declared}
        errors = forms.validate(schema, data, ui=ui)
        for rule in bundle.policy.element(element).option_rules:
            allowed = policy.option_allowed(rule, task.data)
            if data.get(rule.field) == rule.value and not allowed:
                errors.setdefault(rule.field, rule.message)
        if errors:
            raise ValidationFailed(errors)
    # As the service does: the model's business deadlines, for a run with no time spent.
    deadlines = sla.business_deadlines(bundle.policy, task.data, 0, now)
    data.update({variable: due.isoformat() for variable, due in deadlines.items()})
    before = _snapshot(wf)
    _done, effects = _guarded(wf, lambda: runtime.complete(wf, task, data))
    return _mails_between(bundle, wf, before, labels_of(options)) + effects


def fire_timer(
    bundle: ProcessBundle,
    wf: BpmnWorkflow,
    element_id: str,
    options: Mapping[str, Sequence[CatalogOption]],
) -> list[SimulatedMail]:
    """Makes the waiting timer ``element_id`` due now and runs what follows."""
    waiting = [
        t
        for t in wf.get_tasks(state=TaskState.WAITING)
        if t.task_spec.bpmn_id == element_id
        and isinstance(getattr(t.task_spec, "event_definition", None), TimerEventDefinition)
    ]
    if not waiting:
        raise TaskNotReady("Este temporizador não está mais aguardando; a página foi atualizada.")
    past = (datetime.now(UTC) - timedelta(days=1)).isoformat()
    for task in waiting:
        task.internal_data["event_value"] = past
    before = _snapshot(wf)

    def run() -> None:
        # The first pass makes the timer ready, the second runs it and what follows.
        runtime.fire_timers(wf)
        runtime.fire_timers(wf)

    _done, effects = _guarded(wf, run)
    return _mails_between(bundle, wf, before, labels_of(options)) + effects


def parse_payload(text: str) -> Any:
    """A message's content as typed (JSON; empty: none). Raises ValidationFailed."""
    text = text.strip()
    if not text:
        return {}
    if len(text) > MAX_PAYLOAD_CHARS:
        raise ValidationFailed({"conteudo": f"No máximo {MAX_PAYLOAD_CHARS} caracteres."})
    try:
        return limits.loads(text)
    except limits.JsonRejected as exc:
        raise ValidationFailed({"conteudo": exc.message}) from exc
    except json.JSONDecodeError as exc:
        raise ValidationFailed(
            {"conteudo": f"JSON inválido na linha {exc.lineno}, coluna {exc.colno}."}
        ) from exc


def send_message(
    bundle: ProcessBundle,
    wf: BpmnWorkflow,
    name: str,
    payload: Any,
    options: Mapping[str, Sequence[CatalogOption]],
) -> list[SimulatedMail]:
    """Delivers the message ``name`` to the run, as one from outside would arrive
    (engine.messages); TaskNotReady when nothing waits for it."""
    waiting = {
        getattr(t.task_spec.event_definition, "name", None)
        for t in wf.get_tasks(state=TaskState.WAITING)
        if isinstance(getattr(t.task_spec, "event_definition", None), MessageEventDefinition)
    }
    if name not in waiting:
        raise TaskNotReady("Nada aguarda esta mensagem agora; a página foi atualizada.")
    before = _snapshot(wf)
    caught, effects = _guarded(wf, lambda: runtime.deliver(wf, messages.event(name, payload)))
    if not caught:
        raise SandboxStepFailed(
            f"A mensagem “{name}” não foi aceita: a correlação do modelo não corresponde "
            "ao conteúdo enviado.",
            None,
        )
    return _mails_between(bundle, wf, before, labels_of(options)) + effects
