"""The complete copy of a person's data (LGPD art. 19, II): requests, the scheduler's
claims, the stored copy and its expiry. What goes into the copy is engine.personal_data.

A request is a ``data_copies`` row in status ``pending``; a partial unique index keeps
one pending request per person, whatever the race between two clicks. Schedulers claim
pending rows as the outbox claims mail (engine.outbox): one ``UPDATE … WHERE id IN
(SELECT … LIMIT 1 FOR UPDATE SKIP LOCKED) RETURNING`` in a short transaction of its own
(on SQLite the transaction holds the write lock, and the lease keeps the next claim
away), then build outside it. The builder renews its lease between chunks, and the
copy is stored by a conditional UPDATE on the lease it holds: a request is built and
announced once even with several schedulers, and a builder that died is replaced
when its lease ends. After ``MAX_ATTEMPTS`` claims the request is marked ``failed``
(the page says so; the person may ask again).

A copy is kept ``KEEP_DAYS`` days (the page and the e-mail say until when), then the
``expire`` job deletes it; a newer copy replaces it, and anonymising the person's data
deletes it (engine.anonymization).
"""

from __future__ import annotations

import gzip
import io
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from engine.db import rows_changed
from engine.errors import Conflict
from engine.mail import datahora
from engine.models import DataCopy

Transaction = Callable[[], AbstractContextManager[Session]]

PENDING, READY, FAILED = "pending", "ready", "failed"
# The platform's e-mail saying a copy is ready (engine/mail_templates).
MAIL = "copia_dados_pronta"
# How long a ready copy stays downloadable (stated on the page and in the e-mail).
KEEP_DAYS = 7
# Longer than one chunk of the build, however slow; renewed after every chunk.
LEASE = timedelta(minutes=10)
MAX_ATTEMPTS = 3
# A new copy once a day at most: building one reads all of a person's history (seconds of
# a scheduler's CPU at 10,000 instances), and the one ready stays downloadable meanwhile.
REQUEST_INTERVAL = timedelta(hours=24)
# Streamed downloads hand the web server pieces of this size.
STREAM_BYTES = 64 * 1024

ALREADY_PENDING = (
    "Você já pediu a cópia completa dos seus dados e ela ainda está sendo preparada. "
    "Avisaremos por e-mail quando estiver pronta; não é preciso pedir de novo."
)


@dataclass(frozen=True)
class CopyState:
    """What the page says about the person's copy: their latest request, if any."""

    status: str  # pending | ready | failed
    requested_at: datetime
    ready_at: datetime | None
    expires_at: datetime | None
    size: int | None
    instances: int | None
    # When a new copy may be asked for (a ready copy less than REQUEST_INTERVAL old).
    next_request_at: datetime | None = None


@dataclass(frozen=True)
class Claimed:
    id: int
    user_id: int
    attempts: int


class LeaseLost(Exception):
    """Another scheduler holds the request now (this one's lease ended): stop building."""


def latest(
    session: Session, user_id: int, now: datetime, interval: timedelta = REQUEST_INTERVAL
) -> CopyState | None:
    """The person's latest request that has not expired (one indexed row); a ready copy
    less than ``interval`` old says when a new one may be asked for."""
    row = session.execute(
        select(
            DataCopy.status,
            DataCopy.requested_at,
            DataCopy.ready_at,
            DataCopy.expires_at,
            DataCopy.size,
            DataCopy.instances,
        )
        .where(
            DataCopy.user_id == user_id,
            or_(DataCopy.expires_at.is_(None), DataCopy.expires_at > now),
        )
        .order_by(DataCopy.requested_at.desc(), DataCopy.id.desc())
        .limit(1)
    ).first()
    if row is None:
        return None
    next_request_at = None
    if row.status == READY and row.ready_at is not None:
        allowed = row.ready_at + interval
        next_request_at = allowed if allowed > now else None
    return CopyState(
        row.status,
        row.requested_at,
        row.ready_at,
        row.expires_at,
        row.size,
        row.instances,
        next_request_at,
    )


def too_soon(next_request_at: datetime) -> str:
    return (
        "Você já tem uma cópia completa pronta, feita há menos de 24 horas; ela continua "
        "disponível para baixar. Uma cópia nova pode ser pedida a partir de "
        f"{datahora(next_request_at)}. Nada foi alterado."
    )


def request(
    transaction: Transaction,
    user_id: int,
    now: datetime,
    interval: timedelta = REQUEST_INTERVAL,
) -> None:
    """Record a request; Conflict (nothing changed) while one is pending, or while a
    ready copy is less than ``interval`` old."""
    try:
        with transaction() as session:
            pending = session.scalar(
                select(DataCopy.id).where(DataCopy.user_id == user_id, DataCopy.status == PENDING)
            )
            if pending is not None:
                raise Conflict(ALREADY_PENDING)
            state = latest(session, user_id, now, interval)
            if state is not None and state.next_request_at is not None:
                raise Conflict(too_soon(state.next_request_at))
            session.add(DataCopy(user_id=user_id, status=PENDING, requested_at=now, attempts=0))
    except IntegrityError as exc:
        # Two requests at once on PostgreSQL: the unique index refused the second.
        raise Conflict(ALREADY_PENDING) from exc


def any_pending(session: Session, now: datetime) -> bool:
    """Is a claim worth a write transaction? (one indexed read)"""
    return (
        session.scalar(
            select(DataCopy.id)
            .where(
                DataCopy.status == PENDING,
                or_(DataCopy.lease_until.is_(None), DataCopy.lease_until < now),
            )
            .limit(1)
        )
        is not None
    )


def claim(transaction: Transaction, now: datetime, worker: str) -> Claimed | None:
    """Lease the oldest pending request nobody holds, or None."""
    with transaction() as session:
        due = (
            select(DataCopy.id)
            .where(
                DataCopy.status == PENDING,
                or_(DataCopy.lease_until.is_(None), DataCopy.lease_until < now),
            )
            .order_by(DataCopy.requested_at, DataCopy.id)
            .limit(1)
        )
        if session.get_bind().dialect.name == "postgresql":
            # Rows another scheduler is claiming right now are skipped, not waited for.
            due = due.with_for_update(skip_locked=True)
        row = session.execute(
            update(DataCopy)
            .where(DataCopy.id.in_(due.scalar_subquery()))
            .values(lease_until=now + LEASE, leased_by=worker, attempts=DataCopy.attempts + 1)
            .returning(DataCopy.id, DataCopy.user_id, DataCopy.attempts)
            .execution_options(synchronize_session=False)
        ).first()
        return Claimed(row.id, row.user_id, row.attempts) if row is not None else None


def _held(claimed: Claimed, worker: str) -> list[object]:
    return [
        DataCopy.id == claimed.id,
        DataCopy.status == PENDING,
        DataCopy.leased_by == worker,
    ]


def renew(transaction: Transaction, claimed: Claimed, worker: str, now: datetime) -> None:
    """Extend the lease while building; LeaseLost when another scheduler took it."""
    with transaction() as session:
        changed = session.execute(
            update(DataCopy)
            .where(*_held(claimed, worker))  # type: ignore[arg-type]
            .values(lease_until=now + LEASE)
            .execution_options(synchronize_session=False)
        )
        if rows_changed(changed) != 1:
            raise LeaseLost()


def store(
    session: Session,
    claimed: Claimed,
    worker: str,
    now: datetime,
    content: bytes,
    size: int,
    instances: int,
) -> datetime | None:
    """The built copy, in the caller's transaction, if this worker still holds the
    request; its expiry, or None (nothing stored: another scheduler holds it). Older
    copies of the person are deleted with it: one copy per person."""
    expires = now + timedelta(days=KEEP_DAYS)
    changed = session.execute(
        update(DataCopy)
        .where(*_held(claimed, worker))  # type: ignore[arg-type]
        .values(
            status=READY,
            content=content,
            size=size,
            instances=instances,
            ready_at=now,
            expires_at=expires,
            lease_until=None,
            error=None,
        )
        .execution_options(synchronize_session=False)
    )
    if rows_changed(changed) != 1:
        return None
    session.execute(
        delete(DataCopy).where(DataCopy.user_id == claimed.user_id, DataCopy.id != claimed.id)
    )
    return expires


def fail(
    transaction: Transaction, claimed: Claimed, worker: str, now: datetime, error: str
) -> None:
    """Give the lease back to be retried, or, after MAX_ATTEMPTS, mark it failed (kept
    KEEP_DAYS for the page to say so, then expired like a copy)."""
    with transaction() as session:
        done = claimed.attempts >= MAX_ATTEMPTS
        final = {"status": FAILED, "expires_at": now + timedelta(days=KEEP_DAYS)}
        session.execute(
            update(DataCopy)
            .where(*_held(claimed, worker))  # type: ignore[arg-type]
            .values(
                lease_until=None,
                leased_by=None,
                error=error[:300],
                **(final if done else {}),
            )
            .execution_options(synchronize_session=False)
        )


def expire(transaction: Transaction, now: datetime) -> int:
    """Delete every copy (and failed request) past its expiry; how many."""
    with transaction() as session:
        return rows_changed(session.execute(delete(DataCopy).where(*_expired(now))))


def _expired(now: datetime) -> list[Any]:
    return [DataCopy.expires_at.is_not(None), DataCopy.expires_at <= now]


def any_expired(session: Session, now: datetime) -> bool:
    """Is an expiry worth a write transaction? (one indexed read; the job runs often)"""
    return session.scalar(select(DataCopy.id).where(*_expired(now)).limit(1)) is not None


def forget(session: Session, user_id: int) -> int:
    """Delete the person's copies and requests (their data is being anonymised): a copy
    holds what the anonymisation removes."""
    return rows_changed(session.execute(delete(DataCopy).where(DataCopy.user_id == user_id)))


@dataclass(frozen=True)
class Download:
    filename_day: str  # the copy's date, for the file's name
    size: int
    gzipped: bytes

    def json_chunks(self) -> Iterator[bytes]:
        """The JSON, decompressed piece by piece (for a client that does not take gzip)."""
        # BytesIO shares the bytes it is given until written to: no copy.
        with gzip.GzipFile(fileobj=io.BytesIO(self.gzipped)) as stream:
            while piece := stream.read(STREAM_BYTES):
                yield piece


def download(session: Session, user_id: int, now: datetime) -> Download | None:
    """The person's ready copy, or None. Read by their id: nobody else's can come back."""
    row = session.execute(
        select(DataCopy.ready_at, DataCopy.size, DataCopy.content)
        .where(
            DataCopy.user_id == user_id,
            DataCopy.status == READY,
            DataCopy.expires_at > now,
        )
        .order_by(DataCopy.ready_at.desc())
        .limit(1)
    ).first()
    if row is None or row.content is None or row.ready_at is None:
        return None
    return Download(row.ready_at.date().isoformat(), int(row.size or 0), bytes(row.content))
