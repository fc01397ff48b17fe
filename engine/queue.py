"""The analysts' work queue: an indexed query over task rows, never a workflow load.

Besides the views of open tasks, "Incidentes técnicos" lists the tickets stopped by a
technical incident (engine.incidents), oldest first, whichever groups their tasks are
in (a ticket can stop before it has any): a query over a partial index of tickets.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TypeVar

from sqlalchemy import ScalarSelect, Select, false, func, or_, select
from sqlalchemy.orm import Session, joinedload

from engine.models import Chamado, HumanTask, Orgao, ProcessVersion
from engine.orgaos import display

T = TypeVar("T")

VIEWS = ("disponiveis", "minhas", "todas")  # views of open tasks
INCIDENTS = "incidentes"  # tickets in a technical incident
ALL_VIEWS = (*VIEWS, INCIDENTS)
# Counting every open task makes each page cost O(open tasks). Counts stop at this
# cap ("500+"): no analyst pages past it, they filter; the cost stays bounded.
COUNT_CAP = 500
# "Waiting for at least N days" beyond this finds what this finds (nothing): larger N
# would overflow the date arithmetic.
MAX_AGE_DAYS = 36_500  # a century; the API documents it as the parameter's maximum
# Filter values no ticket can have (an órgão code past the database's integer, a
# category longer than its column or with a NUL, which PostgreSQL refuses in a query)
# match nothing instead of failing the query.
_MAX_ID = 2**31 - 1
_MAX_CODE = 80


@dataclass(frozen=True)
class QueueFilters:
    # disponiveis: unclaimed; minhas: mine; todas: every open task; incidentes: tickets in
    # a technical incident (there group and min_age_days, which are about tasks, do not apply)
    view: str = "disponiveis"
    orgao_id: int | None = None
    categoria: str | None = None
    process_id: str | None = None  # one service
    group: str | None = None  # one of the actor's groups
    situacao: str | None = None  # "novo", "reenviado" (after adjustment) or "atrasado"
    min_age_days: int | None = None
    page: int = 1


@dataclass(frozen=True)
class QueuePage:
    items: list[HumanTask]
    total: int
    page: int
    pages: int
    counts: dict[str, int]
    count_cap: int = COUNT_CAP  # a total or count equal to it means "at least this many"
    # The page of the incidents view (``items`` is then empty).
    incidents: list[Chamado] = field(default_factory=list)


def _base(groups: list[str]) -> Select[HumanTask]:
    return select(HumanTask).where(HumanTask.state == "ready", HumanTask.group.in_(groups))


def _apply(
    query: Select[HumanTask], f: QueueFilters, user_id: int, now: datetime
) -> Select[HumanTask]:
    if f.view == "disponiveis":
        query = query.where(HumanTask.assignee_id.is_(None))
    elif f.view == "minhas":
        query = query.where(HumanTask.assignee_id == user_id)
    if f.group:
        query = query.where(HumanTask.group == f.group)
    if f.orgao_id or f.categoria or f.situacao or f.process_id:
        # The ticket's columns only when a filter reads them: the tab counts stay on
        # the task index alone.
        query = query.join(Chamado, Chamado.id == HumanTask.chamado_id)
    query = _ticket_filters(query, f, now)
    if f.min_age_days:
        days = min(f.min_age_days, MAX_AGE_DAYS)
        query = query.where(HumanTask.created_at <= now - timedelta(days=days))
    return query


def _ticket_filters(query: Select[T], f: QueueFilters, now: datetime) -> Select[T]:
    """The filters on the ticket's own columns (the query selects or joins Chamado)."""
    if f.orgao_id:
        known = 0 < f.orgao_id <= _MAX_ID
        query = query.where(Chamado.orgao_id == f.orgao_id if known else false())
    if f.categoria:
        known = len(f.categoria) <= _MAX_CODE and "\x00" not in f.categoria
        query = query.where(Chamado.categoria == f.categoria if known else false())
    if f.process_id:
        query = query.join(ProcessVersion, ProcessVersion.id == Chamado.process_version_id).where(
            ProcessVersion.process_id == f.process_id
        )
    if f.situacao == "novo":
        query = query.where(Chamado.adjustment_rounds == 0)
    elif f.situacao == "reenviado":
        query = query.where(Chamado.adjustment_rounds > 0)
    elif f.situacao == "atrasado":
        # The SLA timer sets the flag; the due date also covers a scheduler running late.
        query = query.where(or_(Chamado.overdue.is_(True), Chamado.analysis_due_at < now))
    return query


def _incidents(f: QueueFilters, now: datetime) -> Select[Chamado]:
    """Tickets in a technical incident (ix_chamados_incidents holds only those)."""
    query = select(Chamado).where(Chamado.incident_at.is_not(None))
    return _ticket_filters(query, f, now)


def orgaos_for_filter(session: Session) -> list[tuple[int, str]]:
    """Every órgão, for the queue's filter: a fixed few hundred rows, unlike a DISTINCT
    over all open tasks, whose cost grows with the queue."""
    rows = session.execute(select(Orgao.id, Orgao.sigla, Orgao.name).order_by(Orgao.sigla)).all()
    return [(row.id, display(row.sigla, row.name)) for row in rows]


# The key of the index that serves each view's count (engine.models.HumanTask).
_BY_ASSIGNEE = (HumanTask.group, HumanTask.state, HumanTask.assignee_id, HumanTask.created_at)
_OPEN = (HumanTask.group, HumanTask.state, HumanTask.created_at)
# ... and of the incidents view (engine.models.Chamado, ix_chamados_incidents).
_INCIDENT_ORDER = (Chamado.incident_at, Chamado.id)


def _capped_count(query: Select[HumanTask], view: str) -> ScalarSelect[int]:
    # Ordered like the index that serves the view, in full, so the database walks it
    # and stops at the cap instead of collecting every match and sorting it. For
    # PostgreSQL "assignee_id IS NULL" is no equality: ordered by created_at alone,
    # the unclaimed count read and sorted every unclaimed task (~10,000 at 100,000
    # tickets) to keep the oldest 500; ordered by the whole key of
    # ix_human_tasks_queue it reads 500 index entries. Which rows are counted does
    # not matter, only that the walk can stop.
    order = _OPEN if view == "todas" else _BY_ASSIGNEE
    capped = query.with_only_columns(HumanTask.id).order_by(*order).limit(COUNT_CAP).subquery()
    return select(func.count()).select_from(capped).scalar_subquery()


def _capped_incidents(query: Select[Chamado]) -> ScalarSelect[int]:
    capped = query.with_only_columns(Chamado.id).order_by(*_INCIDENT_ORDER).limit(COUNT_CAP)
    return select(func.count()).select_from(capped.subquery()).scalar_subquery()


def list_queue(
    session: Session,
    groups: list[str],
    user_id: int,
    filters: QueueFilters,
    now: datetime,
    page_size: int = 20,
) -> QueuePage:
    incidents_view = filters.view == INCIDENTS
    query = _apply(_base(groups), filters, user_id, now)
    unfiltered = filters == QueueFilters(view=filters.view, page=filters.page)
    # The page's total and every tab's count in one statement (one round trip, one
    # execution); the page's own total doubles as its tab's count when unfiltered.
    counted: dict[str, ScalarSelect[int]] = {}
    if incidents_view:
        counted["total"] = _capped_incidents(_incidents(filters, now))
    elif groups:
        counted["total"] = _capped_count(query, filters.view)
    for view in VIEWS:
        if groups and not (unfiltered and view == filters.view):
            tab = _apply(_base(groups), QueueFilters(view=view), user_id, now)
            counted[view] = _capped_count(tab, view)
    if not (unfiltered and incidents_view):
        counted[INCIDENTS] = _capped_incidents(_incidents(QueueFilters(view=INCIDENTS), now))
    counts_row = select(*(count.label(name) for name, count in counted.items()))
    found = session.execute(counts_row).one()._mapping
    total = int(found.get("total", 0))
    counts = {
        view: int(found[view]) if view in found else total if view == filters.view else 0
        for view in ALL_VIEWS
    }
    pages = max(1, -(-total // page_size))
    page = min(max(1, filters.page), pages)
    if incidents_view:
        incidents = list(
            session.scalars(
                _incidents(filters, now)
                .options(joinedload(Chamado.orgao))
                .order_by(*_INCIDENT_ORDER)
                .limit(page_size)
                .offset((page - 1) * page_size)
            )
        )
        return QueuePage([], total, page, pages, counts, incidents=incidents)
    if not groups:
        return QueuePage([], 0, 1, 1, counts)
    items = list(
        session.scalars(
            query.options(
                joinedload(HumanTask.chamado).joinedload(Chamado.orgao),
                joinedload(HumanTask.assignee),
            )
            .order_by(HumanTask.created_at, HumanTask.id)
            .limit(page_size)
            .offset((page - 1) * page_size)
        ).unique()
    )
    return QueuePage(items=items, total=total, page=page, pages=pages, counts=counts)
