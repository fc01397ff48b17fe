"""A person's own lists, paged by keyset: their tickets ("Minhas solicitações",
GET /api/v1/chamados) and the tasks assigned to them (GET /api/v1/tasks).

Each request costs the page, not the person's history: the list is filtered (open by
default), walked from a cursor along an index in its own order, (created_at desc,
id desc), and stops after one row more than the page; counts stop at COUNT_CAP.
An offset would make the database read and throw away every row before the page.

Cursors are opaque to clients: a kind, a view, a direction and the last row's key,
with a checksum so that an edited or truncated cursor is refused (422) instead of
silently landing elsewhere. They need no secret: a cursor only says where to resume
inside the caller's own list, which every request filters again by its owner.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import hmac
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Generic, TypeVar

from sqlalchemy import (
    ColumnElement,
    Integer,
    ScalarSelect,
    Select,
    bindparam,
    func,
    select,
    tuple_,
)
from sqlalchemy.orm import Session, lazyload

from engine import rowload
from engine.errors import ValidationFailed
from engine.models import TASK_READY, Chamado, HumanTask
from engine.prepared import Prepared
from engine.queue import COUNT_CAP
from engine.tasks import REQUESTER_GROUP

T = TypeVar("T")
# A list's statement run for a cursor position and direction, with the page's values.
_Read = Callable[[Session, str | None, bool, Any], list[T]]

CHAMADOS = "chamados"
TASKS = "tarefas"
# The views of each list; the first is the default. Tasks are listed while ready only.
VIEWS: dict[str, tuple[str, ...]] = {
    CHAMADOS: ("abertos", "encerrados", "todos"),
    TASKS: ("abertas",),
}
DEFAULT_LIMIT = 20
MAX_LIMIT = 100
# Longer than any cursor this module writes; checked before decoding anything.
_MAX_CURSOR_CHARS = 200
_CHECK_BYTES = 8
_CHECK_KEY = b"chamados.listing.cursor.v1"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# Ids are INTEGER columns: a larger one would fail in the database, not as a bad cursor.
_MAX_ID = 2**31 - 1


@dataclass(frozen=True)
class Cursor:
    kind: str
    view: str
    backward: bool  # True: the page before the row (created_at, id); else the page after
    created_at: datetime
    id: int


@dataclass(frozen=True)
class ListRequest:
    kind: str
    view: str
    limit: int = DEFAULT_LIMIT
    cursor: Cursor | None = None


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    view: str
    limit: int
    next_cursor: str | None
    prev_cursor: str | None
    # Per view, counted up to count_cap: a value equal to it means "at least this many".
    counts: dict[str, int] = field(default_factory=dict)
    count_cap: int = COUNT_CAP


@dataclass(frozen=True)
class ParamNames:
    """What the caller calls each parameter, to name it in a validation error."""

    view: str = "view"
    cursor: str = "cursor"
    limit: str = "limit"


# --- cursors ---------------------------------------------------------------------------------


def _check(raw: bytes) -> bytes:
    return hashlib.blake2b(raw, digest_size=_CHECK_BYTES, key=_CHECK_KEY).digest()


def encode_cursor(cursor: Cursor) -> str:
    micros = (cursor.created_at - _EPOCH) // timedelta(microseconds=1)
    direction = "p" if cursor.backward else "n"
    raw = json.dumps(
        [cursor.kind, cursor.view, direction, micros, cursor.id], separators=(",", ":")
    ).encode("utf-8")
    return base64.urlsafe_b64encode(_check(raw) + raw).decode("ascii").rstrip("=")


def decode_cursor(text: str) -> Cursor | None:
    """The cursor ``text`` encodes, or None when it is not one this module wrote."""
    if not text or len(text) > _MAX_CURSOR_CHARS or not text.isascii():
        return None
    try:
        blob = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        return None
    # One spelling per cursor: base64 leaves spare bits in the last character.
    if base64.urlsafe_b64encode(blob).decode("ascii").rstrip("=") != text:
        return None
    check, raw = blob[:_CHECK_BYTES], blob[_CHECK_BYTES:]
    if not hmac.compare_digest(check, _check(raw)):
        return None
    try:
        kind, view, direction, micros, row_id = json.loads(raw)
        if not (
            isinstance(kind, str)
            and isinstance(view, str)
            and direction in ("n", "p")
            and type(micros) is int
            and type(row_id) is int
            and 0 < row_id <= _MAX_ID
        ):
            return None
        created_at = _EPOCH + timedelta(microseconds=micros)
    except (ValueError, TypeError, OverflowError):
        return None
    if view not in VIEWS.get(kind, ()):
        return None
    return Cursor(kind, view, direction == "p", created_at, row_id)


# --- requests --------------------------------------------------------------------------------


def parse_request(
    kind: str,
    view: str | None = None,
    cursor: str | None = None,
    limit: str | None = None,
    names: ParamNames = ParamNames(),  # noqa: B008 - frozen, never mutated
) -> ListRequest:
    """The list request from raw query parameters; ValidationFailed names each bad one.

    Without ``view`` the cursor's view applies (links carry it anyway), else the default.
    """
    views = VIEWS[kind]
    errors: dict[str, str] = {}
    view = (view or "").strip() or None
    if view is not None and view not in views:
        errors[names.view] = f"Use um destes valores: {', '.join(views)}."
    size = DEFAULT_LIMIT
    raw_limit = (limit or "").strip()
    if raw_limit:
        # isascii: "²" is a digit to str.isdigit, not to int().
        if (
            not (raw_limit.isascii() and raw_limit.isdigit())
            or not 1 <= int(raw_limit) <= MAX_LIMIT
        ):
            errors[names.limit] = f"Informe um número inteiro de 1 a {MAX_LIMIT}."
        else:
            size = int(raw_limit)
    found = None
    raw_cursor = (cursor or "").strip()
    if raw_cursor:
        found = decode_cursor(raw_cursor)
        if found is None or found.kind != kind:
            errors[names.cursor] = (
                "Cursor de paginação inválido: use o link da página anterior ou da próxima "
                "exatamente como foi recebido, ou comece pela primeira página (sem cursor)."
            )
            found = None
        elif view is not None and found.view != view and names.view not in errors:
            errors[names.cursor] = (
                f"Este cursor é da visão {found.view!r}, não de {view!r}: "
                "troque de visão começando pela primeira página (sem cursor)."
            )
    if errors:
        # The message repeats the reasons: a page shows the message only.
        message = " ".join(["Parâmetros de consulta inválidos.", *errors.values()])
        raise ValidationFailed(errors, message)
    chosen = view or (found.view if found else views[0])
    return ListRequest(kind=kind, view=chosen, limit=size, cursor=found)


def first_page(kind: str) -> ListRequest:
    """The list's first page in its default view."""
    return ListRequest(kind=kind, view=VIEWS[kind][0])


# --- keyset paging ---------------------------------------------------------------------------


_AT = "_cursor_at"
# Bound per request, and written into the SQL as a literal ("literal_execute"): the
# planner sees the limit, as when statements were built per request, even in a plan
# PostgreSQL reuses for a prepared statement (psycopg prepares after 5 executions).
_CAP = "_count_cap"
_ID = "_cursor_id"
_LIMIT = "_limit"


def _orm(statement: Callable[[str | None, bool], Select[T]]) -> _Read[T]:
    """A list's reader from its ORM statement (built once per cursor position)."""

    def read(session: Session, position: str | None, backward: bool, bound: Any) -> list[T]:
        return list(session.scalars(statement(position, backward), bound).unique())

    return read


def _keyset(
    session: Session,
    read: _Read[T],
    params: dict[str, Any],
    key: Callable[[T], tuple[datetime, int]],
    request: ListRequest,
) -> tuple[list[T], str | None, str | None]:
    """One page in (created desc, id desc) order, from the request's cursor; returns the
    rows with the cursors of the next and the previous page (None: none).

    ``read(session, position, backward, values)`` runs the list's statement for a cursor
    position ("after", "before" or None) and direction, built once per shape: a page binds
    its owner (``params``), the cursor and the limit."""
    limit, cursor = request.limit, request.cursor

    def fetch(position: str | None, backward: bool) -> list[T]:
        bound = {**params, _LIMIT: limit + 1}
        if position is not None and cursor is not None:
            bound.update({_AT: cursor.created_at, _ID: cursor.id})
        return read(session, position, backward, bound)

    def make(row: T, backward: bool) -> str:
        created_at, row_id = key(row)
        return encode_cursor(Cursor(request.kind, request.view, backward, created_at, row_id))

    has_prev = False
    if cursor is not None and cursor.backward:
        rows = fetch("before", backward=True)
        if len(rows) > limit:
            rows, has_next, has_prev = rows[:limit][::-1], True, True
        else:
            # Back at the start: the first page, full, rather than a short page 1.
            rows = fetch(None, backward=False)
            rows, has_next = rows[:limit], len(rows) > limit
    else:
        rows = fetch(None if cursor is None else "after", backward=False)
        rows, has_next, has_prev = rows[:limit], len(rows) > limit, cursor is not None
    next_cursor = make(rows[-1], backward=False) if has_next and rows else None
    # An empty page after a cursor (its rows left the view meanwhile) can still go back.
    if has_prev and rows:
        prev_cursor: str | None = make(rows[0], backward=True)
    elif has_prev and cursor is not None:
        prev_cursor = encode_cursor(
            Cursor(request.kind, request.view, True, cursor.created_at, cursor.id)
        )
    else:
        prev_cursor = None
    return rows, next_cursor, prev_cursor


def _capped_count(query: Select[Any], order: Sequence[Any]) -> ScalarSelect[int]:
    # Ordered like the index that serves the view so the database walks it and stops at
    # the cap, as engine.queue does: a requester with 10,000 tickets costs 500 entries.
    capped = (
        query.order_by(*order)
        .limit(bindparam(_CAP, type_=Integer(), literal_execute=True))
        .subquery()
    )
    return select(func.count()).select_from(capped).scalar_subquery()


# --- the lists -------------------------------------------------------------------------------
# Every statement below is built once per shape (view, cursor position, direction) and
# bound per request: building one costs about as much as running it.

_OWNER = "_owner"
_GROUPS = "_groups"


def _page(
    query: Select[T], created: Any, ident: Any, position: str | None, backward: bool
) -> Select[T]:
    """``query`` from a cursor position, in keyset order, up to the bound limit."""
    at = bindparam(_AT, type_=created.type)
    row = tuple_(created, ident)
    if position == "after":
        query = query.where(row < tuple_(at, bindparam(_ID)))
    elif position == "before":
        query = query.where(row > tuple_(at, bindparam(_ID)))
    order = (created, ident) if backward else (created.desc(), ident.desc())
    return query.order_by(*order).limit(bindparam(_LIMIT, type_=Integer(), literal_execute=True))


def _chamados_where(view: str) -> list[ColumnElement[bool]]:
    # "closed_at IS [NOT] NULL" literally: SQLite uses a partial index only when the
    # query repeats its WHERE term (engine.models: ix_chamados_requester_open/closed).
    where = [Chamado.requester_id == bindparam(_OWNER)]
    if view == "abertos":
        where.append(Chamado.closed_at.is_(None))
    elif view == "encerrados":
        where.append(Chamado.closed_at.is_not(None))
    return where


@functools.cache
def _chamados_page(view: str, position: str | None, backward: bool) -> Select[Chamado]:
    query = select(Chamado).where(*_chamados_where(view))
    return _page(query, Chamado.created_at, Chamado.id, position, backward)


# The requester's open task on each ticket of a page (the page holds the tickets already).
_OPEN_TASKS_OF = (
    select(HumanTask)
    .options(lazyload(HumanTask.chamado))
    .where(
        HumanTask.chamado_id.in_(bindparam("_ids", expanding=True)),
        HumanTask.state == TASK_READY,
        HumanTask.assignee_id == bindparam(_OWNER),
        HumanTask.group == REQUESTER_GROUP,
    )
)
# "todos" is the sum of the two: one count fewer, and still bounded.
_CHAMADOS_COUNTS = select(
    *(
        _capped_count(
            select(Chamado.id).where(*_chamados_where(view)),
            (Chamado.created_at.desc(), Chamado.id.desc()),
        ).label(view)
        for view in ("abertos", "encerrados")
    )
)


def requester_chamados(
    session: Session, requester_id: int, request: ListRequest, with_counts: bool = True
) -> Page[tuple[Chamado, HumanTask | None]]:
    """One page of the requester's tickets, each with the requester's open task on it."""
    rows, next_cursor, prev_cursor = _keyset(
        session,
        _orm(functools.partial(_chamados_page, request.view)),
        {_OWNER: requester_id},
        lambda c: (c.created_at, c.id),
        request,
    )
    open_tasks: dict[int, HumanTask] = {}
    if rows:
        open_tasks = {
            t.chamado_id: t
            for t in session.scalars(
                _OPEN_TASKS_OF, {"_ids": [c.id for c in rows], _OWNER: requester_id}
            )
        }
    counts: dict[str, int] = {}
    if with_counts:
        found = session.execute(_CHAMADOS_COUNTS, {_OWNER: requester_id, _CAP: COUNT_CAP}).one()
        counts = {"abertos": int(found.abertos), "encerrados": int(found.encerrados)}
        counts["todos"] = counts["abertos"] + counts["encerrados"]
    return Page(
        items=[(c, open_tasks.get(c.id)) for c in rows],
        view=request.view,
        limit=request.limit,
        next_cursor=next_cursor,
        prev_cursor=prev_cursor,
        counts=counts,
        count_cap=COUNT_CAP,
    )


_TASKS = HumanTask.__table__
_CHAMADOS = Chamado.__table__
# A task list's row: the task and its ticket (without the ticket's workflow state, which
# the ORM defers too), as engine.rowload builds them.
_TASK_COLUMNS = (
    *rowload.columns(HumanTask, "t_"),
    *rowload.columns(Chamado, "c_", omit=("workflow_state",)),
)


@functools.cache
def _tasks_page(position: str | None, backward: bool) -> Prepared:
    # The outer join the ORM's joined HumanTask.chamado wrote: the plans stay as they were.
    query = (
        select(*_TASK_COLUMNS)
        .select_from(_TASKS.outerjoin(_CHAMADOS, _CHAMADOS.c.id == _TASKS.c.chamado_id))
        .where(
            HumanTask.assignee_id == bindparam(_OWNER),
            HumanTask.state == TASK_READY,
            HumanTask.group.in_(bindparam(_GROUPS, expanding=True)),
        )
    )
    # On the driver (engine.prepared), the objects built by engine.rowload: the ORM's own
    # loading set itself up on every call and cost more than the statement.
    return Prepared(_page(query, HumanTask.created_at, HumanTask.id, position, backward))


def _read_tasks(
    session: Session, position: str | None, backward: bool, bound: Any
) -> list[HumanTask]:
    found = []
    for row in _tasks_page(position, backward).rows(session, bound):
        chamado = rowload.detached(session, Chamado, row, "c_")
        task = rowload.detached(session, HumanTask, row, "t_", chamado=chamado)
        session.add(task)  # with its ticket (the relationship's cascade)
        found.append(task)
    return found


def assigned_tasks(
    session: Session, user_id: int, groups: Sequence[str], request: ListRequest
) -> Page[HumanTask]:
    """One page of the ready tasks assigned to the user in ``groups``, with their tickets
    (HumanTask.chamado is joined): their requester tasks and the analyses they hold."""
    rows, next_cursor, prev_cursor = _keyset(
        session,
        _read_tasks,
        {_OWNER: user_id, _GROUPS: list(groups)},
        lambda t: (t.created_at, t.id),
        request,
    )
    return Page(
        items=rows,
        view=request.view,
        limit=request.limit,
        next_cursor=next_cursor,
        prev_cursor=prev_cursor,
    )
