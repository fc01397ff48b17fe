"""The analysts' work queue: an indexed query over task rows, never a workflow load.

Besides the views of open tasks, "Incidentes técnicos" lists the tickets stopped by a
technical incident (engine.incidents), oldest first, whichever groups their tasks are
in (a ticket can stop before it has any): a query over a partial index of tickets.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any, TypeVar

from sqlalchemy import (
    BindParameter,
    Integer,
    ScalarSelect,
    Select,
    bindparam,
    false,
    func,
    literal_column,
    or_,
    select,
)
from sqlalchemy.orm import Session, joinedload

from engine import rowload
from engine.models import TASK_READY, Chamado, HumanTask, Orgao, ProcessVersion, User
from engine.orgaos import display
from engine.prepared import Prepared

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


# Statements are built once per *shape* of a request — the view and which filters are
# present — with bind parameters for every value (the groups as an expanding list), and
# kept: a call only binds its values. Building the counts and page statements of a
# request costs more CPU than running them on a small database (see tests/test_queue.py).
# Unknown filter values (see _MAX_ID, _MAX_CODE) are part of the shape: they match
# nothing, with no value to bind.
#
# The groups and the filters' values are written into the SQL when it is sent
# (literal_execute: still bound per call, never part of the kept statement), as the
# cap and the page's limits are. psycopg prepares a statement its connection runs
# often, and PostgreSQL then plans it once ("generic") only if that plan looks no
# costlier than one planned for the call's values. With the group, the órgão or the
# type unknown, a generic plan expects fewer matches than the most frequent values
# have (and a LIMIT it cannot see, a tenth of the rows): at a million tickets
# PostgreSQL re-planned every queue statement on every call, 0.4–0.5 ms each, against
# a plan reused at a thousand (bench/queue_scale.py). A few groups and a few hundred
# órgãos make few texts; the ones that vary per call (the analyst, now) stay bound.
_GROUPS: BindParameter[Any] = bindparam("groups", expanding=True, literal_execute=True)
_CAP = literal_column(str(COUNT_CAP), Integer)


def _value(name: str) -> BindParameter[Any]:
    """A filter's value, written into the SQL as it is sent (see _GROUPS)."""
    return bindparam(name, literal_execute=True)


_SITUACOES = ("novo", "reenviado", "atrasado")


@dataclass(frozen=True)
class _Shape:
    view: str
    groups: bool  # the actor is in some group (else only the incidents are counted)
    group: bool
    orgao: bool | None  # None: no filter; False: a value no ticket can have
    categoria: bool | None
    process: bool
    situacao: str | None  # one of _SITUACOES, "?" for another value (filters nothing)
    min_age: bool

    @property
    def ticket_filters(self) -> bool:
        return bool(
            self.orgao is not None or self.categoria is not None or self.situacao or self.process
        )

    @property
    def unfiltered(self) -> bool:
        return not (self.ticket_filters or self.group or self.min_age)


def _shape(f: QueueFilters, groups: list[str]) -> _Shape:
    situacao = None
    if f.situacao:
        situacao = f.situacao if f.situacao in _SITUACOES else "?"
    return _Shape(
        view=f.view,
        groups=bool(groups),
        group=bool(f.group),
        orgao=None if not f.orgao_id else 0 < f.orgao_id <= _MAX_ID,
        categoria=(
            None if not f.categoria else len(f.categoria) <= _MAX_CODE and "\x00" not in f.categoria
        ),
        process=bool(f.process_id),
        situacao=situacao,
        min_age=bool(f.min_age_days),
    )


def _params(f: QueueFilters, groups: list[str], user_id: int, now: datetime) -> dict[str, object]:
    """The values a shape's statements bind (extra ones are ignored by the driver call)."""
    params: dict[str, object] = {"groups": groups, "user_id": user_id, "now": now}
    if f.group:
        params["group"] = f.group
    if f.orgao_id:
        params["orgao_id"] = f.orgao_id
    if f.categoria:
        params["categoria"] = f.categoria
    if f.process_id:
        params["process_id"] = f.process_id
    if f.min_age_days:
        params["age_cutoff"] = now - timedelta(days=min(f.min_age_days, MAX_AGE_DAYS))
    return params


def _base() -> Select[HumanTask]:
    return select(HumanTask).where(HumanTask.state == TASK_READY, HumanTask.group.in_(_GROUPS))


def _apply(query: Select[HumanTask], shape: _Shape) -> Select[HumanTask]:
    if shape.view == "disponiveis":
        query = query.where(HumanTask.assignee_id.is_(None))
    elif shape.view == "minhas":
        query = query.where(HumanTask.assignee_id == bindparam("user_id"))
    if shape.group:
        query = query.where(HumanTask.group == bindparam("group"))
    query = _task_filters(query, shape)
    if shape.min_age:
        query = query.where(HumanTask.created_at <= bindparam("age_cutoff"))
    return query


def _task_filters(query: Select[HumanTask], shape: _Shape) -> Select[HumanTask]:
    """The filters on the ticket's columns, read from their copies on the task rows
    (migration 0022: the database keeps them in step with the ticket), so a filtered
    count or page walks an index of human_tasks alone, never the tickets."""
    if shape.orgao is not None:
        query = query.where(HumanTask.orgao_id == _value("orgao_id") if shape.orgao else false())
    if shape.categoria is not None:
        query = query.where(
            HumanTask.categoria == _value("categoria") if shape.categoria else false()
        )
    if shape.process:
        query = query.where(HumanTask.process_id == _value("process_id"))
    if shape.situacao == "novo":
        query = query.where(HumanTask.resent.is_(False))
    elif shape.situacao == "reenviado":
        query = query.where(HumanTask.resent.is_(True))
    elif shape.situacao == "atrasado":
        # The ticket's due date, or models.ALWAYS_LATE once a timer flagged it: one
        # column for "flagged overdue, or past the due date (a scheduler running late)".
        query = query.where(HumanTask.late_from < bindparam("now"))
    return query


def _ticket_filters(query: Select[T], shape: _Shape) -> Select[T]:
    """The same filters on the ticket's own columns (the incidents view, over tickets)."""
    if shape.orgao is not None:
        query = query.where(Chamado.orgao_id == _value("orgao_id") if shape.orgao else false())
    if shape.categoria is not None:
        query = query.where(
            Chamado.categoria == _value("categoria") if shape.categoria else false()
        )
    if shape.process:
        query = query.join(ProcessVersion, ProcessVersion.id == Chamado.process_version_id).where(
            ProcessVersion.process_id == _value("process_id")
        )
    if shape.situacao == "novo":
        query = query.where(Chamado.adjustment_rounds == 0)
    elif shape.situacao == "reenviado":
        query = query.where(Chamado.adjustment_rounds > 0)
    elif shape.situacao == "atrasado":
        # The SLA timer sets the flag; the due date also covers a scheduler running late.
        query = query.where(
            or_(Chamado.overdue.is_(True), Chamado.analysis_due_at < bindparam("now"))
        )
    return query


def _incidents(shape: _Shape) -> Select[Chamado]:
    """Tickets in a technical incident (ix_chamados_incidents holds only those)."""
    query = select(Chamado).where(Chamado.incident_at.is_not(None))
    return _ticket_filters(query, shape)


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


def _capped_count(query: Select[HumanTask], shape: _Shape) -> ScalarSelect[int]:
    # Ordered like the index that serves the view, in full, so the database walks it
    # and stops at the cap instead of collecting every match and sorting it. For
    # PostgreSQL "assignee_id IS NULL" is no equality: ordered by created_at alone,
    # the unclaimed count read and sorted every unclaimed task (~10,000 at 100,000
    # tickets) to keep the oldest 500; ordered by the whole key of
    # ix_human_tasks_queue it reads 500 index entries. Which rows are counted does
    # not matter, only that the walk can stop.
    # It selects no column (a constant), so the walk reads the index alone: SQLite's
    # indexes hold the rowid but not chamado_id, PostgreSQL's the INCLUDEd chamado_id
    # but not the id (migration 0020).
    # A filter that is an equality on a copied ticket column has its own index (group,
    # column, created_at, assignee_id, state) of the open rows (migration 0022): after the
    # equalities it is in _OPEN's order, whatever the view, and the walk reads only
    # matching tasks.
    equality = bool(
        shape.orgao or shape.categoria or shape.process or shape.situacao in ("novo", "reenviado")
    )
    order = _OPEN if shape.view == "todas" or equality else _BY_ASSIGNEE
    capped = query.with_only_columns(literal_column("1")).order_by(*order).limit(_CAP).subquery()
    return select(func.count()).select_from(capped).scalar_subquery()


def _capped_incidents(query: Select[Chamado]) -> ScalarSelect[int]:
    capped = query.with_only_columns(Chamado.id).order_by(*_INCIDENT_ORDER).limit(_CAP)
    return select(func.count()).select_from(capped.subquery()).scalar_subquery()


_UNFILTERED = {view: _Shape(view, True, False, None, None, False, None, False) for view in VIEWS}
# Written into the SQL as literals (as engine.listing's limits): the planner sees the page,
# even in a plan PostgreSQL reuses for a statement psycopg prepared.
_PAGE = (
    bindparam("limit", type_=Integer, literal_execute=True),
    bindparam("offset", type_=Integer, literal_execute=True),
)


@dataclass(frozen=True)
class _Statements:
    # One row: a capped count per label. On the driver (engine.prepared): every queue page
    # and API call runs it, and SQLAlchemy's own execution re-expanded its group lists.
    counts: Prepared
    # The page: the incidents' tickets (ORM), or the tasks' rows (_TASK_ROW, read into
    # objects by engine.rowload); both None: no page to read.
    incidents: Select[Chamado] | None = None
    tasks: Prepared | None = None


@lru_cache(maxsize=512)  # shapes are few (views × which filters); the cap bounds the rest
def _statements(shape: _Shape) -> _Statements:
    """The counts statement and the page statement of one shape, built once."""
    incidents_view = shape.view == INCIDENTS
    unfiltered = shape.unfiltered
    # The page's total and every tab's count in one statement (one round trip, one
    # execution); the page's own total doubles as its tab's count when unfiltered.
    counted: dict[str, ScalarSelect[int]] = {}
    if incidents_view:
        counted["total"] = _capped_incidents(_incidents(shape))
    elif shape.groups:
        counted["total"] = _capped_count(_apply(_base(), shape), shape)
    for view in VIEWS:
        if shape.groups and not (unfiltered and view == shape.view):
            counted[view] = _capped_count(_apply(_base(), _UNFILTERED[view]), _UNFILTERED[view])
    if not (unfiltered and incidents_view):
        counted[INCIDENTS] = _capped_incidents(_incidents(_UNFILTERED["todas"]))
    counts = select(*(count.label(name) for name, count in counted.items()))
    if incidents_view:
        incidents = (
            _incidents(shape)
            .options(joinedload(Chamado.orgao))
            .order_by(*_INCIDENT_ORDER)
            .limit(_PAGE[0])
            .offset(_PAGE[1])
        )
        return _Statements(Prepared(counts), incidents=incidents)
    if shape.groups:
        # The joins the ORM's joined loads wrote (task → ticket → órgão, task → assignee),
        # so the plans stay as they were; on the driver, the objects built by rowload.
        tasks = (
            select(*_TASK_ROW)
            .select_from(_TASK_JOINS)
            .where(_apply(_base(), shape).whereclause)  # type: ignore[arg-type]
            .order_by(HumanTask.created_at, HumanTask.id)
            .limit(_PAGE[0])
            .offset(_PAGE[1])
        )
        return _Statements(Prepared(counts), tasks=Prepared(tasks))
    return _Statements(Prepared(counts))


_TASK_TABLE, _CHAMADO_TABLE = HumanTask.__table__, Chamado.__table__
_ORGAO_TABLE, _USER_TABLE = Orgao.__table__, User.__table__
_TASK_ROW = (
    *rowload.columns(HumanTask, "t_"),
    *rowload.columns(Chamado, "c_", omit=("workflow_state",)),  # deferred by the ORM too
    *rowload.columns(Orgao, "o_"),
    *rowload.columns(User, "a_"),
)
_TASK_JOINS = (
    _TASK_TABLE.outerjoin(_CHAMADO_TABLE, _CHAMADO_TABLE.c.id == _TASK_TABLE.c.chamado_id)
    .outerjoin(_ORGAO_TABLE, _ORGAO_TABLE.c.id == _CHAMADO_TABLE.c.orgao_id)
    .outerjoin(_USER_TABLE, _USER_TABLE.c.id == _TASK_TABLE.c.assignee_id)
)


def _read_tasks(session: Session, statement: Prepared, params: dict[str, Any]) -> list[HumanTask]:
    found = []
    for row in statement.rows(session, params):
        orgao = rowload.detached_or_none(session, Orgao, row, "o_")
        chamado = rowload.detached(session, Chamado, row, "c_", orgao=orgao)
        assignee = rowload.detached_or_none(session, User, row, "a_")
        task = rowload.detached(session, HumanTask, row, "t_", chamado=chamado, assignee=assignee)
        session.add(task)  # with the objects it leads to (the relationships' cascade)
        found.append(task)
    return found


def list_queue(
    session: Session,
    groups: list[str],
    user_id: int,
    filters: QueueFilters,
    now: datetime,
    page_size: int = 20,
) -> QueuePage:
    statements = _statements(_shape(filters, groups))
    params = _params(filters, groups, user_id, now)
    found = statements.counts.rows(session, params)[0]._asdict()
    total = int(found.get("total", 0))
    counts = {
        view: int(found[view]) if view in found else total if view == filters.view else 0
        for view in ALL_VIEWS
    }
    pages = max(1, -(-total // page_size))
    page = min(max(1, filters.page), pages)
    if statements.incidents is None and statements.tasks is None:
        return QueuePage([], 0, 1, 1, counts)
    params.update(limit=page_size, offset=(page - 1) * page_size)
    if statements.incidents is not None:
        incidents = list(session.scalars(statements.incidents, params))
        return QueuePage([], total, page, pages, counts, incidents=incidents)
    assert statements.tasks is not None
    items = _read_tasks(session, statements.tasks, params)
    return QueuePage(items=items, total=total, page=page, pages=pages, counts=counts)
