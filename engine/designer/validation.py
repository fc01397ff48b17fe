"""Checks a model (BPMN + form files) before it is saved or published.

``specs.parse_process`` is the authority (safe XML, SpiffBpmnParser, restricted
expressions and scripts, lanes, timers) but stops at the first problem. A
designer fixing a model wants every broken form at once, so the user tasks'
form files are checked here first, one problem per task, and the parser's
verdict is added when it names something not already reported.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

from lxml import etree

from engine import forms, limits, specs
from engine.errors import DomainError, ProcessDefinitionError

BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
SPIFF_NS = "http://spiffworkflow.org/bpmn/schema/1.0/core"
MAX_FORM_BYTES = 256 * 1024
MAX_FORMS = 100
_USER_TASKS = (f"{{{BPMN_NS}}}userTask", f"{{{BPMN_NS}}}manualTask")


@dataclass(frozen=True)
class Problem:
    """One reason a model is refused; ``element_id`` is the BPMN element (or form field)."""

    element_id: str | None
    message: str

    def as_dict(self) -> dict[str, str | None]:
        return {"element_id": self.element_id, "message": self.message}


class ModelRejected(DomainError):
    status = 422
    title = "Modelo de processo inválido"

    def __init__(self, problems: list[Problem]) -> None:
        first = problems[0].message if problems else "Modelo inválido."
        more = len(problems) - 1
        super().__init__(first if not more else f"{first} (e mais {more} problema(s))")
        self.problems = problems


@dataclass(frozen=True)
class UserTaskForm:
    """A user task as the XML names it, with the form files it links to."""

    task_id: str
    name: str
    schema_file: str | None
    ui_file: str | None


def user_task_forms(tree: etree._Element) -> list[UserTaskForm]:
    found = []
    for node in tree.iter(*_USER_TASKS):
        props = {
            p.get("name"): p.get("value")
            for p in node.iter(f"{{{SPIFF_NS}}}property")
            if p.get("name")
        }
        found.append(
            UserTaskForm(
                task_id=node.get("id", ""),
                name=node.get("name") or node.get("id", ""),
                schema_file=props.get(specs.FORM_SCHEMA_KEY) or None,
                ui_file=props.get(specs.FORM_UI_KEY) or None,
            )
        )
    return found


def check_form_pair(
    name: str,
    schema_text: str,
    ui_text: str | None,
    catalogs: Collection[str] | None = None,
) -> forms.FormDefinition:
    """A schema + UI schema pair as the form engine will load it; raises ProcessDefinitionError."""
    for label, text in ((name, schema_text), (f"{name} (UI)", ui_text or "")):
        if len(text.encode("utf-8")) > MAX_FORM_BYTES:
            raise ProcessDefinitionError(
                f"Formulário {label}: passa do limite de {MAX_FORM_BYTES // 1024} KB."
            )
    definition = forms.load_form_from_texts(schema_text, ui_text or "{}", name)
    if catalogs is not None:
        for field, prop in definition.schema.get("properties", {}).items():
            catalog = prop.get("x-catalog") if isinstance(prop, dict) else None
            if catalog is not None and catalog not in catalogs:
                raise ProcessDefinitionError(
                    f"Formulário {name}: o campo '{field}' usa o catálogo '{catalog}', "
                    "que não existe.",
                    field,
                )
    return definition


def _form_problems(
    tree: etree._Element, form_texts: Mapping[str, str], catalogs: Collection[str] | None
) -> list[Problem]:
    problems = []
    for task in user_task_forms(tree):
        try:
            if not task.schema_file:
                if task.ui_file:
                    raise ProcessDefinitionError(
                        f"A tarefa {task.task_id} indica só o UI do formulário; indique também "
                        f"o esquema ({specs.FORM_SCHEMA_KEY})."
                    )
                # SpiffArena's manual tasks (and user tasks) without a form: the person
                # reads the instructions and presses "Concluir".
                continue
            for filename in (task.schema_file, task.ui_file):
                if filename and filename not in form_texts:
                    raise ProcessDefinitionError(
                        f"A tarefa {task.task_id} usa o formulário {filename}, que não existe."
                    )
            ui_text = form_texts.get(task.ui_file or "")
            check_form_pair(task.schema_file, form_texts[task.schema_file], ui_text, catalogs)
        except ProcessDefinitionError as exc:
            message = exc.message
            if task.task_id not in message:
                message = f"Tarefa {task.task_id}: {message}"
            problems.append(Problem(task.task_id, message))
    return problems


def _files_problems(form_texts: Mapping[str, Any]) -> list[Problem]:
    if len(form_texts) > MAX_FORMS:
        return [Problem(None, f"O modelo tem mais de {MAX_FORMS} arquivos de formulário.")]
    problems = []
    for name, text in form_texts.items():
        if not isinstance(text, str):
            problems.append(Problem(None, f"Formulário {name}: conteúdo inválido."))
        elif len(text.encode("utf-8")) > MAX_FORM_BYTES:
            problems.append(
                Problem(
                    None,
                    f"Formulário {name}: passa do limite de {MAX_FORM_BYTES // 1024} KB.",
                )
            )
        elif specs.is_mail_file(name) or specs.is_model_file(name):
            continue  # an e-mail template, a called .bpmn or a .dmn: checked with the model
        else:
            try:
                limits.loads(text)
            except limits.JsonRejected as exc:
                problems.append(Problem(None, f"Formulário {name}: {exc.message}"))
            except json.JSONDecodeError as exc:
                problems.append(
                    Problem(None, f"Formulário {name}: JSON inválido na linha {exc.lineno}.")
                )
    return problems


@dataclass
class Validation:
    problems: list[Problem]
    bundle: specs.ProcessBundle | None

    @property
    def ok(self) -> bool:
        return not self.problems


def _not_executable(tree: etree._Element) -> list[str]:
    """The file's processes when none of them is executable (a drawing from bpmn.io, whose
    default is isExecutable="false"); [] when one is, or when there is no process."""
    processes = list(tree.iter(f"{{{BPMN_NS}}}process"))
    if any(node.get("isExecutable", "true") == "true" for node in processes):
        return []
    return [str(node.get("id")) for node in processes if node.get("id")]


def validate_model(
    bpmn: bytes,
    form_texts: Mapping[str, str],
    *,
    process_id: str | None = None,
    catalogs: Collection[str] | None = None,
    run: str | None = None,
    message_receivers: Collection[str] | None = None,
) -> Validation:
    """Every problem found, and the parsed bundle when there is none.

    ``run``: the process to run when the file holds several (SpiffArena's
    ``primary_process_id``); ``process_id``: the id the model must keep;
    ``message_receivers``: the messages other published processes catch (a throw that
    neither they nor this model catch could never be delivered).
    """
    try:
        tree = specs.safe_parse_xml(bpmn)
    except ProcessDefinitionError as exc:
        return Validation([Problem(exc.element_id, exc.message)], None)
    problems = _files_problems(form_texts)
    if problems:
        return Validation(problems, None)
    problems = _form_problems(tree, form_texts, catalogs)
    bundle = None
    drawn_only = _not_executable(tree)
    if drawn_only:
        # Said once, on the process; the rest of the model is checked as if switched on,
        # so the designer sees everything left to do before switching it on.
        problems.extend(
            Problem(
                pid,
                f'O processo {pid} está marcado como não executável (isExecutable="false"): '
                "marque “Executável” no painel do processo para publicá-lo.",
            )
            for pid in drawn_only
        )
        for node in tree.iter(f"{{{BPMN_NS}}}process"):
            node.set("isExecutable", "true")
        bpmn = etree.tostring(tree, xml_declaration=True, encoding="UTF-8")
    try:
        bundle = specs.parse_process(bpmn, dict(form_texts), process_id=run)
    except ProcessDefinitionError as exc:
        # What the form checks said of an element is not repeated; the parser's own
        # problems all stay (a decision table's, one per rule and column).
        reported = {p.element_id for p in problems}
        for element_id, message in exc.problems:
            if not (element_id and element_id in reported) and not any(
                p.message == message for p in problems
            ):
                problems.append(Problem(element_id, message))
    if bundle is not None and process_id is not None and bundle.process_id != process_id:
        problems.append(
            Problem(
                bundle.process_id,
                f"O processo do diagrama tem o id '{bundle.process_id}', mas este modelo é "
                f"'{process_id}': mantenha o id do processo.",
            )
        )
    if bundle is not None and message_receivers is not None:
        for name, element in sorted(bundle.message_throws.items()):
            if name not in bundle.message_catches and name not in message_receivers:
                problems.append(
                    Problem(
                        element,
                        f"A mensagem “{name}” não é recebida por nenhum processo publicado nem "
                        "por este modelo: ninguém a receberia. Publique antes o processo que a "
                        "recebe.",
                    )
                )
    return Validation(problems, None if problems else bundle)
