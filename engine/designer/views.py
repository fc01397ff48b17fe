"""What the designer's pages show, and the small reads behind it."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime

from engine import specs
from engine.designer import template
from engine.designer.drafts import Draft
from engine.designer.publishing import VersionInfo
from engine.designer.validation import (
    BPMN_NS,
    ModelRejected,
    Problem,
    UserTaskForm,
    user_task_forms,
)
from engine.errors import NotFound, ProcessDefinitionError
from engine.models import ProcessVersion, Scenario

FORM_FILE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,95}\.json$")


@dataclass(frozen=True)
class ModelSummary:
    process_id: str
    name: str
    current_number: int | None
    current_published_at: datetime | None
    pending: bool  # a saved draft differs from the current version
    running: int


@dataclass
class ModelView:
    draft: Draft
    pending: bool
    versions: list[VersionInfo]
    scenarios: list[Scenario]
    end_events: dict[str, str]
    user_tasks: list[UserTaskForm]
    problems: list[Problem]


@dataclass(frozen=True)
class FormEdit:
    process_id: str
    draft_version: int
    task: UserTaskForm
    schema_file: str
    ui_file: str
    schema_text: str
    ui_text: str
    new: bool  # the files do not exist yet: the texts are a starting template
    # The other tasks whose forms are these files: saving changes their forms too.
    shared_with: tuple[str, ...] = ()


@dataclass(frozen=True)
class NewForm:
    """A form pair to create from the template, for the task titled ``title``."""

    schema_file: str
    ui_file: str
    title: str


@dataclass
class Imported:
    xml: str
    problems: list[Problem] = field(default_factory=list)


def is_pending(draft: Draft, current: ProcessVersion | None) -> bool:
    """True when a saved draft would publish something new."""
    if draft.version == 0:
        return False
    if current is None:
        return True
    bpmn = draft.bpmn_xml.encode("utf-8")
    return specs.content_hash(bpmn, specs.used_files(bpmn, draft.forms)) != current.content_hash


def check_form_file(name: str, element_id: str | None = None) -> None:
    if not FORM_FILE.match(name):
        raise ModelRejected(
            [
                Problem(
                    element_id,
                    f"Nome de arquivo de formulário inválido: {name!r} (use letras, dígitos, "
                    "., _ ou - e termine em .json).",
                )
            ]
        )


def template_files(form: NewForm, existing: dict[str, str]) -> dict[str, str]:
    for name in (form.schema_file, form.ui_file):
        check_form_file(name)
    schema_text, ui_text = template.new_form_texts(form.title.strip()[:200] or "Formulário")
    created = {form.schema_file: schema_text, form.ui_file: ui_text}
    return {name: text for name, text in created.items() if name not in existing}


def user_task(draft: Draft, task_id: str) -> UserTaskForm:
    tree = specs.safe_parse_xml(draft.bpmn_xml.encode("utf-8"))
    task = next((t for t in user_task_forms(tree) if t.task_id == task_id), None)
    if task is None:
        raise NotFound(f"A tarefa de usuário {task_id} não existe no rascunho.")
    return task


def end_events(bpmn_xml: str) -> dict[str, str]:
    try:
        tree = specs.safe_parse_xml(bpmn_xml.encode("utf-8"))
    except ProcessDefinitionError:
        return {}
    return {
        node.get("id", ""): node.get("name") or node.get("id", "")
        for node in tree.iter(f"{{{BPMN_NS}}}endEvent")
    }
