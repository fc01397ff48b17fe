"""Who read a person's data: one row per read of a ticket's personal data by staff.

LGPD art. 37 asks the controller to keep a record of processing; the citizen sees it
under "Meus dados" and admins per ticket and per person. The hot path pays one INSERT
and no SELECT (the caller already holds the ticket and its requester): on PostgreSQL on
the read's own autocommit connection; on SQLite, whose one write lock a read must never
queue behind, in a transaction of its own when the lock is free within 0.1 s, else kept
in the process's :class:`Buffer` and written with the next row (engine.usecases.base
``_record_access``). A person reading their own data leaves no row.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, select, tuple_
from sqlalchemy.orm import Session, aliased

from engine import context
from engine.models import Chamado, DataAccess, User

PAGE = "pagina"
API = "api"
ATTACHMENT = "anexo"
CHANNELS = {
    PAGE: "Página de análise do chamado",
    API: "Leitura do chamado pela API",
    ATTACHMENT: "Download de anexo",
}
# The most recent rows a page shows: the record grows with every read.
LIST_LIMIT = 200

_INSERT = DataAccess.__table__.insert()


def row(
    *,
    actor_id: int,
    subject_id: int | None,
    chamado_id: int | None,
    channel: str,
    at: datetime,
    item: str | None = None,
) -> dict[str, Any] | None:
    """The row of one read, or None when the reader is the person the data is about."""
    if subject_id is not None and actor_id == subject_id:
        return None
    return {
        "at": at,
        "actor_id": actor_id,
        "subject_id": subject_id,
        "chamado_id": chamado_id,
        "channel": channel,
        "item": item,
        "request_id": context.request_id.get(),
    }


def write(connection: Connection, rows: list[dict[str, Any]]) -> int:
    """INSERT ``rows`` (one statement); returns how many."""
    if rows:
        connection.execute(_INSERT, rows)
    return len(rows)


class Buffer:
    """Rows a read could not write at once (SQLite's write lock held by a writer: a read
    never queues behind it), written with the next read's row or by the scheduler. Per
    process; thread-safe."""

    def __init__(self) -> None:
        self._rows: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    def take(self) -> list[dict[str, Any]]:
        with self._lock:
            rows, self._rows = self._rows, []
            return rows

    def put_back(self, rows: list[dict[str, Any]]) -> None:
        with self._lock:
            self._rows[:0] = rows

    def __len__(self) -> int:
        with self._lock:
            return len(self._rows)


@dataclass(frozen=True)
class AccessView:
    """A record as pages and the export show it."""

    at: datetime
    actor_name: str
    channel: str
    channel_label: str
    protocolo: str | None
    item: str | None
    subject_name: str | None = None
    id: int = 0  # the record's key (the complete copy pages through them by (at, id))


_ACTOR = aliased(User)
_SUBJECT = aliased(User)
_LIST = (
    select(
        DataAccess.id,
        DataAccess.at,
        DataAccess.channel,
        DataAccess.item,
        _ACTOR.name.label("actor_name"),
        _ACTOR.social_name.label("actor_social"),
        _SUBJECT.name.label("subject_name"),
        _SUBJECT.social_name.label("subject_social"),
        Chamado.protocolo,
    )
    .join(_ACTOR, _ACTOR.id == DataAccess.actor_id)
    .outerjoin(_SUBJECT, _SUBJECT.id == DataAccess.subject_id)
    .outerjoin(Chamado, Chamado.id == DataAccess.chamado_id)
    .order_by(DataAccess.at.desc(), DataAccess.id.desc())
    .limit(bindparam("limit"))
)
_FOR_CHAMADO = _LIST.where(DataAccess.chamado_id == bindparam("key"))
_FOR_SUBJECT = _LIST.where(DataAccess.subject_id == bindparam("key"))


# The complete copy of "Meus dados" reads a person's whole record, a page at a time.
_SUBJECT_OLDER = _FOR_SUBJECT.where(
    tuple_(DataAccess.at, DataAccess.id)
    < tuple_(bindparam("at", type_=DataAccess.at.type), bindparam("id"))
)


def _views(
    session: Session, statement: object, key: int, limit: int, **more: Any
) -> list[AccessView]:
    rows = session.execute(statement, {"key": key, "limit": limit, **more})  # type: ignore[call-overload]
    return [
        AccessView(
            at=row.at,
            actor_name=row.actor_social or row.actor_name,
            channel=row.channel,
            channel_label=CHANNELS.get(row.channel, row.channel),
            protocolo=row.protocolo,
            item=row.item,
            subject_name=row.subject_social or row.subject_name,
            id=row.id,
        )
        for row in rows
    ]


def for_chamado(session: Session, chamado_id: int, limit: int = LIST_LIMIT) -> list[AccessView]:
    return _views(session, _FOR_CHAMADO, chamado_id, limit)


def for_subject(session: Session, user_id: int, limit: int = LIST_LIMIT) -> list[AccessView]:
    return _views(session, _FOR_SUBJECT, user_id, limit)


def subject_page(
    session: Session, user_id: int, older_than: tuple[datetime, int] | None, limit: int
) -> list[AccessView]:
    """The person's record, newest first, from just before ``older_than`` (at, id)."""
    if older_than is None:
        return _views(session, _FOR_SUBJECT, user_id, limit)
    at, ident = older_than
    return _views(session, _SUBJECT_OLDER, user_id, limit, at=at, id=ident)
