"""Publishing: a validated draft whose scenarios pass becomes an immutable version.

A version row is never updated afterwards: new tickets start on the latest
published one, running tickets keep theirs (``Chamado.process_version_id``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from engine import groups, scenarios, specs
from engine.catalogs import CatalogOption
from engine.designer.drafts import Draft
from engine.errors import Conflict, DomainError
from engine.models import Chamado, ProcessVersion, User

MAX_NOTE = 2000


class ScenariosFailed(DomainError):
    """A publish blocked by failing scenarios; ``reports`` says which and why."""

    status = 422
    title = "Cenários com falha"

    def __init__(self, reports: list[scenarios.ScenarioReport]) -> None:
        failed = [r for r in reports if not r.passed]
        names = ", ".join(r.name for r in failed)
        super().__init__(
            f"Publicação bloqueada: {len(failed)} cenário(s) falharam ({names}). "
            "Nada foi publicado."
        )
        self.reports = reports


@dataclass(frozen=True)
class VersionInfo:
    id: int
    number: int  # 1, 2, 3... within the process, as designers count them
    content_hash: str
    created_at: datetime
    created_by: str | None
    note: str | None
    published_at: datetime | None
    published_by: str | None
    current: bool
    running: int
    total: int
    # Groups this publication created, empty, for lanes that named none yet.
    created_groups: tuple[str, ...] = ()


def run_scenarios(
    session: Session,
    bundle: specs.ProcessBundle,
    catalogs: Mapping[str, Sequence[CatalogOption]],
    now: datetime,
) -> list[scenarios.ScenarioReport]:
    return [
        scenarios.run(bundle, scenarios.spec_of(row), catalogs, now)
        for row in scenarios.list_for(session, bundle.process_id)
    ]


def publishable_content(draft: Draft) -> tuple[bytes, dict[str, str]]:
    """The draft's model and only the files it runs with (specs.used_files): forms, e-mail
    templates, called .bpmn files and decision tables."""
    bpmn = draft.bpmn_xml.encode("utf-8")
    return bpmn, specs.used_files(bpmn, draft.forms)


def publish(
    session: Session,
    draft: Draft,
    bundle: specs.ProcessBundle,
    reports: list[scenarios.ScenarioReport],
    note: str,
    who: str | None,
    now: datetime,
) -> tuple[ProcessVersion, list[str]]:
    """Inserts the version; ``bundle`` and ``reports`` come from the caller's checks.

    Returns it with the names of the groups created, empty, for lanes that named none.
    """
    if any(not r.passed for r in reports):
        raise ScenariosFailed(reports)
    bpmn, form_texts = publishable_content(draft)
    digest = specs.content_hash(bpmn, form_texts)
    same = session.scalar(
        select(ProcessVersion).where(
            ProcessVersion.process_id == draft.process_id, ProcessVersion.content_hash == digest
        )
    )
    if same is not None:
        numbers = version_numbers(session, draft.process_id)
        raise Conflict(
            f"O rascunho é idêntico à versão {numbers.get(same.id, same.id)}: "
            "não há alterações para publicar."
        )
    row = ProcessVersion(
        process_id=draft.process_id,
        content_hash=digest,
        bpmn_xml=bpmn.decode("utf-8"),
        forms=form_texts,
        created_at=now,
        created_by=who,
        note=note.strip()[:MAX_NOTE] or None,
        published_at=now,
        published_by=who,
    )
    session.add(row)
    session.flush()
    # A lane that names no group yet gets one, empty, for an admin to fill (Grupos).
    return row, groups.ensure_for_lanes(session, list(bundle.lane_groups), now)


def version_numbers(session: Session, process_id: str) -> dict[int, int]:
    ids = session.scalars(
        select(ProcessVersion.id)
        .where(ProcessVersion.process_id == process_id)
        .order_by(ProcessVersion.id)
    )
    return {version_id: n for n, version_id in enumerate(ids, 1)}


def list_versions(session: Session, process_id: str) -> list[VersionInfo]:
    """Newest first, with how many tickets run (and ran) on each."""
    counts = {
        version_id: (running or 0, total or 0)
        for version_id, running, total in session.execute(
            select(
                Chamado.process_version_id,
                func.sum(case((Chamado.closed_at.is_(None), 1), else_=0)),
                func.count(),
            )
            .join(ProcessVersion, ProcessVersion.id == Chamado.process_version_id)
            .where(ProcessVersion.process_id == process_id)
            .group_by(Chamado.process_version_id)
        )
    }
    rows = list(
        session.scalars(
            select(ProcessVersion)
            .where(ProcessVersion.process_id == process_id)
            .order_by(ProcessVersion.id.desc())
        )
    )
    cpfs = {c for r in rows for c in (r.created_by, r.published_by) if c}
    names = {
        cpf: name
        for cpf, name in session.execute(select(User.cpf, User.name).where(User.cpf.in_(cpfs)))
    }
    current = max((r.id for r in rows if r.published_at is not None), default=None)
    total = len(rows)
    return [
        VersionInfo(
            id=r.id,
            number=total - i,
            content_hash=r.content_hash,
            created_at=r.created_at,
            created_by=names.get(r.created_by or "", r.created_by),
            note=r.note,
            published_at=r.published_at,
            published_by=names.get(r.published_by or "", r.published_by),
            current=r.id == current,
            running=counts.get(r.id, (0, 0))[0],
            total=counts.get(r.id, (0, 0))[1],
        )
        for i, r in enumerate(rows)
    ]
