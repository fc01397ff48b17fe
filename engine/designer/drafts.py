"""Process drafts: a designer's work in progress, one per process id.

Until someone saves, a model's draft is its current version (``version`` 0,
nothing stored), so opening a page never writes. Every save bumps
``ProcessDraft.version`` with a conditional UPDATE: of two designers saving the
same draft, the second is told to reload instead of silently overwriting the
first. A draft is saved whatever its state (engine.designer.service._save_draft);
publishing is what requires a valid model.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import CursorResult, func, select, update
from sqlalchemy.orm import Session

from engine import limits, specs
from engine.designer import template
from engine.errors import Conflict, NotFound, ProcessDefinitionError, ValidationFailed
from engine.models import ProcessDraft, ProcessVersion

STALE = (
    "O rascunho foi salvo por outra pessoa (ou em outra aba) depois que você o abriu; "
    "nada foi gravado. Recarregue para ver a versão atual."
)


@dataclass(frozen=True)
class Draft:
    process_id: str
    name: str
    bpmn_xml: str
    forms: dict[str, str]
    version: int  # 0: not saved yet, the current version's content
    updated_at: datetime | None
    updated_by: str | None
    # What keeps this content from being published, as found when it was saved
    # (engine.designer.validation.Problem); empty on a draft merely loaded.
    problems: tuple[Any, ...] = ()

    @property
    def content_hash(self) -> str:
        return specs.content_hash(self.bpmn_xml.encode("utf-8"), self.forms)


def current_version(session: Session, process_id: str) -> ProcessVersion | None:
    """The version new tickets start on: the latest published one."""
    version_id = session.scalar(
        select(func.max(ProcessVersion.id)).where(
            ProcessVersion.process_id == process_id, ProcessVersion.published_at.is_not(None)
        )
    )
    return session.get(ProcessVersion, version_id) if version_id else None


def _row(session: Session, process_id: str) -> ProcessDraft | None:
    return session.scalar(select(ProcessDraft).where(ProcessDraft.process_id == process_id))


def load(session: Session, process_id: str) -> Draft:
    row = _row(session, process_id)
    if row is not None:
        return Draft(
            process_id=row.process_id,
            name=row.name,
            bpmn_xml=row.bpmn_xml,
            forms=dict(row.forms),
            version=row.version,
            updated_at=row.updated_at,
            updated_by=row.updated_by,
        )
    version = current_version(session, process_id)
    if version is None:
        raise NotFound("Modelo de processo não encontrado.")
    return Draft(
        process_id=process_id,
        name=process_name(version.bpmn_xml) or process_id,
        bpmn_xml=version.bpmn_xml,
        forms=dict(version.forms),
        version=0,
        updated_at=None,
        updated_by=None,
    )


def exists(session: Session, process_id: str) -> bool:
    return _row(session, process_id) is not None or bool(
        session.scalar(
            select(ProcessVersion.id).where(ProcessVersion.process_id == process_id).limit(1)
        )
    )


def create(
    session: Session, process_id: str, name: str, lane: str, who: str | None, now: datetime
) -> Draft:
    process_id, name = process_id.strip(), name.strip()
    errors = {}
    if not template.PROCESS_ID.fullmatch(process_id):
        errors["process_id"] = template.PROCESS_ID_RULE
    elif exists(session, process_id):
        errors["process_id"] = "Já existe um modelo com este identificador."
    if not name or len(name) > 200:
        errors["name"] = "Informe um nome de até 200 caracteres."
    elif wrong := limits.forbidden_character(name):  # PostgreSQL refuses a NUL in text
        errors["name"] = wrong
    if errors:
        raise ValidationFailed(errors)
    xml, form_texts = template.new_model(process_id, name, lane)
    return _insert_first(session, process_id, name, xml, form_texts, who, now)


def create_from(
    session: Session,
    process_id: str,
    name: str,
    xml: str,
    texts: dict[str, Any],
    who: str | None,
    now: datetime,
) -> Draft:
    """A new model's draft from files the designer brought (an imported folder)."""
    if exists(session, process_id):
        raise Conflict(
            f"Já existe um modelo com o identificador {process_id}: abra-o em Processos e "
            "importe o .bpmn no modelador dele."
        )
    return _insert_first(session, process_id, name, xml, texts, who, now)


def _insert_first(
    session: Session,
    process_id: str,
    name: str,
    xml: str,
    texts: dict[str, Any],
    who: str | None,
    now: datetime,
) -> Draft:
    """The draft's first row (version 1)."""
    session.add(
        ProcessDraft(
            process_id=process_id,
            name=name,
            bpmn_xml=xml,
            forms=texts,
            version=1,
            updated_at=now,
            updated_by=who,
        )
    )
    session.flush()
    return load(session, process_id)


def save(
    session: Session,
    draft: Draft,
    expected_version: int,
    who: str | None,
    now: datetime,
    *,
    bpmn_xml: str | None = None,
    form_texts: dict[str, Any] | None = None,
) -> Draft:
    """Stores a new state of ``draft``; ``expected_version`` is what the editor opened."""
    xml = draft.bpmn_xml if bpmn_xml is None else bpmn_xml
    texts = dict(draft.forms if form_texts is None else form_texts)
    name = process_name(xml) or draft.name
    if expected_version == 0:
        if _row(session, draft.process_id) is not None:
            raise Conflict(STALE)
        return _insert_first(session, draft.process_id, name, xml, texts, who, now)
    result: CursorResult[Any] = session.execute(  # type: ignore[assignment]
        update(ProcessDraft)
        .where(
            ProcessDraft.process_id == draft.process_id, ProcessDraft.version == expected_version
        )
        .values(
            version=ProcessDraft.version + 1,
            name=name,
            bpmn_xml=xml,
            forms=texts,
            updated_at=now,
            updated_by=who,
        )
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        raise Conflict(STALE)
    session.expire_all()
    return load(session, draft.process_id)


def process_name(bpmn_xml: str) -> str | None:
    """The executable process's name (for lists; no SpiffWorkflow parse)."""
    try:
        tree = specs.safe_parse_xml(bpmn_xml.encode("utf-8"))
    except ProcessDefinitionError:
        return None
    for node in tree.iter("{http://www.omg.org/spec/BPMN/20100524/MODEL}process"):
        if node.get("isExecutable") in ("true", None):
            return node.get("name") or None
    return None
