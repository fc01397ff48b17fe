"""Transactional outbox: e-mail written with the change that causes it, delivered later.

``enqueue`` adds a row to the caller's session, so the message commits or rolls back with
the state change: a rolled-back action sends nothing, a committed one is never forgotten.

``deliver_due`` is the scheduler job. It claims due rows in a short transaction of its own —
``SELECT … FOR UPDATE SKIP LOCKED`` on PostgreSQL, then on every database a conditional
``UPDATE`` that sets a lease (``lease_until``/``leased_by``), which is all SQLite has — commits,
and only then talks to SMTP, so no database lock is held while a mail server is slow. Each
outcome is recorded in another short transaction: sent, or a failed attempt retried with
back-off (1 min, 5 min, 15 min, 1 h, 4 h…) until ``max_attempts``, after which the row is
``failed`` and an admin can ``resend`` it.

Guarantee: **at least once, with a stable Message-ID.** Several workers never claim the same
row at once, so in normal operation each message is sent once. But a process that dies after
the SMTP server accepted a message and before the row was marked sent leaves only a lease;
when it expires the message is sent again. Exactly-once across two systems (our database and
someone else's SMTP server) is not achievable; what we promise instead is that the resend
carries the same ``Message-ID`` (generated once, stored in the row, reused on every attempt),
so a receiver or an auditor can recognise the duplicate.
"""

from __future__ import annotations

import logging
import os
import re
import smtplib
import socket
import ssl
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email import policy
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session

from engine import audit, corewrite
from engine.errors import Conflict, NotFound
from engine.mail import DEFAULT_FROM, DEFAULT_MAX_ATTEMPTS, MailSettings, render
from engine.models import Chamado, OutboxMessage

log = logging.getLogger(__name__)

# Opens one transaction (engine.unit.Unit.transaction): delivery claims and records in
# short transactions of its own, never one held while a mail server answers.
Transaction = Callable[[], AbstractContextManager[Session]]

MAX_ATTEMPTS = DEFAULT_MAX_ATTEMPTS
BACKOFF: tuple[timedelta, ...] = (
    timedelta(minutes=1),
    timedelta(minutes=5),
    timedelta(minutes=15),
    timedelta(hours=1),
    timedelta(hours=4),
)
# Longer than any one send (10 s socket timeout per SMTP step); a worker stops sending its
# batch after half of it, so a slow batch never outlives its own claims.
LEASE = timedelta(minutes=5)
MESSAGE_ID_DOMAIN = "chamados.gov.br"
STATUSES = ("pending", "sent", "failed")
# 7-bit transfer encodings (quoted-printable/base64 for accented text) go through any relay,
# 8BITMIME or not; headers are folded only at SMTP's hard limit so the Message-ID reaches
# the receiver on one line, byte for byte the one stored.
MAIL_POLICY = policy.SMTP.clone(cte_type="7bit", max_line_length=998)
# Real elapsed time for the batch deadline (``now`` is the caller's and may be fixed in tests).
_monotonic = time.monotonic


# A template name comes from a process model: only these characters go into a Message-ID.
_ID_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")


# --- enqueue ---------------------------------------------------------------------------------


def enqueue(
    session: Session,
    kind: str,
    to_addr: str | None,
    context: dict[str, Any],
    *,
    chamado_id: int | None,
    base_url: str,
    now: datetime,
    templates: Mapping[str, str],
    catalogs: Mapping[str, Mapping[str, tuple[str, str | None]]] | None = None,
) -> OutboxMessage | None:
    """Render now and add the message to ``session``; None when there is no address.

    Rendering here, not at delivery, means a template or context error fails the action
    that caused it (in its transaction) and the stored row is exactly what gets sent.
    """
    address = (to_addr or "").strip()
    if not address:
        return None
    rendered = render(templates, kind, context, base_url, catalogs)
    ref = f"chamado-{chamado_id}" if chamado_id is not None else "mail"
    row = OutboxMessage(
        message_id=f"<{ref}-{_ID_UNSAFE.sub('-', kind)}-{uuid.uuid4().hex}@{MESSAGE_ID_DOMAIN}>",
        kind=kind,
        chamado_id=chamado_id,
        to_addr=address,
        subject=rendered.subject,
        body_text=rendered.text,
        body_html=rendered.html,
        status="pending",
        attempts=0,
        next_attempt_at=_utc(now),
        created_at=_utc(now),
    )
    return corewrite.insert(session, row)


# --- delivery --------------------------------------------------------------------------------


@dataclass(frozen=True)
class OutgoingMail:
    """A claimed row, detached from any session, as the transport sees it."""

    pk: int
    message_id: str
    to_addr: str
    subject: str
    body_text: str
    body_html: str
    created_at: datetime


class Transport(Protocol):
    def send(self, mail: OutgoingMail) -> None:
        """Deliver or raise; :class:`PermanentDeliveryError` means retrying is pointless."""


class PermanentDeliveryError(Exception):
    """The server refused the message for good (e.g. 550 no such mailbox)."""


@dataclass
class DeliveryReport:
    claimed: int = 0
    sent: int = 0
    retrying: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)


def deliver_due(
    transaction: Transaction,
    transport: Transport,
    now: datetime,
    worker_id: str,
    batch: int = 20,
    *,
    max_attempts: int = MAX_ATTEMPTS,
) -> DeliveryReport:
    """Claim up to ``batch`` due messages, send them, record each outcome."""
    now = _utc(now)
    report = DeliveryReport()
    claimed = _claim(transaction, now, worker_id, batch)
    report.claimed = len(claimed)
    started = _monotonic()
    for index, mail in enumerate(claimed):
        if _monotonic() - started > LEASE.total_seconds() / 2:
            _release(transaction, [m.pk for m in claimed[index:]], worker_id)
            break
        try:
            transport.send(mail)
        except Exception as exc:  # any failure is recorded on the row, never lost
            permanent = isinstance(exc, PermanentDeliveryError)
            error = f"{type(exc).__name__}: {exc}"[:2000]
            outcome = _mark_failure(
                transaction, mail, now, worker_id, error, permanent, max_attempts
            )
            if outcome == "failed":
                report.failed += 1
            elif outcome == "pending":
                report.retrying += 1
            report.errors.append(f"{mail.message_id}: {error}")
        else:
            _mark_sent(transaction, mail, now)
            report.sent += 1
    return report


def _claim(
    transaction: Transaction, now: datetime, worker_id: str, batch: int
) -> list[OutgoingMail]:
    free = or_(OutboxMessage.lease_until.is_(None), OutboxMessage.lease_until < now)
    with transaction() as session:
        due = (
            select(OutboxMessage.id)
            .where(OutboxMessage.status == "pending", OutboxMessage.next_attempt_at <= now, free)
            .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id)
            .limit(batch)
        )
        if session.get_bind().dialect.name == "postgresql":
            # Rows another worker is claiming right now are skipped, not waited for.
            due = due.with_for_update(skip_locked=True)
        claimed = []
        for pk in session.scalars(due).all():
            # The lease itself: only one worker's conditional UPDATE can match.
            result = session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.id == pk, OutboxMessage.status == "pending", free)
                .values(lease_until=now + LEASE, leased_by=worker_id)
                .execution_options(synchronize_session=False)
            )
            if result.rowcount == 1:
                claimed.append(pk)
        rows = session.scalars(
            select(OutboxMessage).where(OutboxMessage.id.in_(claimed)).order_by(OutboxMessage.id)
        )
        return [
            OutgoingMail(
                pk=r.id,
                message_id=r.message_id,
                to_addr=r.to_addr,
                subject=r.subject,
                body_text=r.body_text,
                body_html=r.body_html,
                created_at=r.created_at,
            )
            for r in rows
        ]


def _mark_sent(transaction: Transaction, mail: OutgoingMail, now: datetime) -> None:
    # Unconditional on the lease: the server has the message, whoever holds the row now.
    with transaction() as session:
        session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id == mail.pk, OutboxMessage.status == "pending")
            .values(
                status="sent",
                attempts=OutboxMessage.attempts + 1,
                sent_at=now,
                lease_until=None,
                leased_by=None,
            )
            .execution_options(synchronize_session=False)
        )


def _mark_failure(
    transaction: Transaction,
    mail: OutgoingMail,
    now: datetime,
    worker_id: str,
    error: str,
    permanent: bool,
    max_attempts: int,
) -> str | None:
    with transaction() as session:
        row = session.get(OutboxMessage, mail.pk, with_for_update=True)
        # Lost the lease (another worker took over and may have sent it): leave its record.
        if row is None or row.status != "pending" or row.leased_by != worker_id:
            return None
        row.attempts += 1
        row.last_error = error
        row.lease_until = None
        row.leased_by = None
        if permanent or row.attempts >= max_attempts:
            row.status = "failed"
            log.error("E-mail %s falhou de vez: %s", row.message_id, error)
        else:
            row.next_attempt_at = now + backoff(row.attempts)
            log.warning("E-mail %s: tentativa %d falhou: %s", row.message_id, row.attempts, error)
        return row.status


def _release(transaction: Transaction, pks: Sequence[int], worker_id: str) -> None:
    with transaction() as session:
        session.execute(
            update(OutboxMessage)
            .where(
                OutboxMessage.id.in_(pks),
                OutboxMessage.status == "pending",
                OutboxMessage.leased_by == worker_id,
            )
            .values(lease_until=None, leased_by=None)
            .execution_options(synchronize_session=False)
        )


def backoff(attempts: int) -> timedelta:
    """Wait after the ``attempts``-th failure: 1 min, 5 min, 15 min, 1 h, then 4 h."""
    return BACKOFF[min(attempts, len(BACKOFF)) - 1]


def default_worker_id() -> str:
    """Host, process and a random tag: unique per scheduler, readable in the admin page."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


# --- administration --------------------------------------------------------------------------


def resend(
    session: Session, message_id_or_pk: str | int, now: datetime, *, actor_id: int | None = None
) -> OutboxMessage:
    """Put a failed message back in the queue with a fresh set of attempts (same Message-ID)."""
    row = get_message(session, message_id_or_pk, for_update=True)
    if row is None:
        raise NotFound("Mensagem não encontrada.")
    if row.status != "failed":
        raise Conflict("Só mensagens com falha podem ser reenviadas; nada foi alterado.")
    row.status = "pending"
    row.attempts = 0
    row.next_attempt_at = _utc(now)
    row.lease_until = None
    row.leased_by = None
    audit.record(
        session,
        "email.reenviado",
        f"E-mail reenviado pela administração para {row.to_addr}",
        chamado_id=row.chamado_id,
        actor_id=actor_id,
        at=_utc(now),
        details={"message_id": row.message_id, "tipo": row.kind},
    )
    return row


def get_message(
    session: Session, message_id_or_pk: str | int, for_update: bool = False
) -> OutboxMessage | None:
    query = select(OutboxMessage)
    if isinstance(message_id_or_pk, int) or str(message_id_or_pk).isdigit():
        query = query.where(OutboxMessage.id == int(message_id_or_pk))
    else:
        query = query.where(OutboxMessage.message_id == str(message_id_or_pk))
    if for_update:
        query = query.with_for_update()
    return session.scalar(query)


@dataclass(frozen=True)
class OutboxEntry:
    message: OutboxMessage
    protocolo: str | None


def list_messages(
    session: Session, status: str | None = None, limit: int = 50, offset: int = 0
) -> list[OutboxEntry]:
    """Newest first, with the ticket's protocol number."""
    query = select(OutboxMessage, Chamado.protocolo).outerjoin(
        Chamado, Chamado.id == OutboxMessage.chamado_id
    )
    if status:
        query = query.where(OutboxMessage.status == status)
    query = query.order_by(OutboxMessage.created_at.desc(), OutboxMessage.id.desc())
    rows = session.execute(query.limit(limit).offset(offset)).all()
    return [OutboxEntry(message=m, protocolo=p) for m, p in rows]


def count_by_status(session: Session) -> dict[str, int]:
    counts = dict.fromkeys(STATUSES, 0)
    query = select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status)
    for status, count in session.execute(query):
        counts[status] = count
    return counts


# --- transports ------------------------------------------------------------------------------


def build_email(mail: OutgoingMail, mail_from: str = DEFAULT_FROM) -> EmailMessage:
    """Plain text with an HTML alternative; Message-ID and Date are the row's, on every try."""
    message = EmailMessage(policy=MAIL_POLICY)
    message["Subject"] = mail.subject
    message["From"] = mail_from
    message["To"] = mail.to_addr
    message["Date"] = format_datetime(_utc(mail.created_at))
    message["Message-ID"] = mail.message_id
    # RFC 3834: vacation responders must not answer automatic messages.
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(mail.body_text)
    message.add_alternative(mail.body_html, subtype="html")
    return message


class SmtpTransport:
    def __init__(self, settings: MailSettings) -> None:
        if not settings.smtp_host:
            raise ValueError("SmtpTransport precisa de SMTP_HOST")
        self.settings = settings

    def send(self, mail: OutgoingMail) -> None:
        message = _build_or_refuse(mail, self.settings.mail_from)
        s = self.settings
        try:
            with smtplib.SMTP(s.smtp_host or "", s.smtp_port, timeout=s.timeout) as smtp:
                smtp.ehlo()
                if s.smtp_starttls:
                    # Refuses to go on in clear text if the server offers no STARTTLS.
                    smtp.starttls(context=ssl.create_default_context())
                    smtp.ehlo()
                if s.smtp_user:
                    smtp.login(s.smtp_user, s.smtp_password or "")
                smtp.send_message(message)
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _ in exc.recipients.values()]
            if codes and all(code >= 500 for code in codes):
                raise PermanentDeliveryError(f"Destinatário recusado: {exc.recipients}") from exc
            raise


class CaptureTransport:
    """Capture mode: each message becomes ``<folder>/<message-id>.eml`` (idempotent by name)."""

    def __init__(self, folder: Path, mail_from: str = DEFAULT_FROM) -> None:
        self.folder = folder
        self.mail_from = mail_from

    def send(self, mail: OutgoingMail) -> None:
        message = _build_or_refuse(mail, self.mail_from)
        self.folder.mkdir(parents=True, exist_ok=True)
        name = re.sub(r"[^A-Za-z0-9._-]+", "_", mail.message_id.strip("<>"))
        target = self.folder / f"{name}.eml"
        temporary = target.with_suffix(f".{uuid.uuid4().hex}.tmp")
        temporary.write_bytes(message.as_bytes())
        os.replace(temporary, target)  # a reader never sees half a file


def make_transport(settings: MailSettings) -> Transport:
    if settings.capture:
        return CaptureTransport(settings.capture_dir, settings.mail_from)
    return SmtpTransport(settings)


def _build_or_refuse(mail: OutgoingMail, mail_from: str) -> EmailMessage:
    try:
        return build_email(mail, mail_from)
    except ValueError as exc:  # e.g. a line break in the address: no retry will fix it
        raise PermanentDeliveryError(f"Mensagem inválida: {exc}") from exc


def _utc(value: datetime) -> datetime:
    # SQLite keeps timestamps as text without the zone: everything stored must be UTC.
    if value.tzinfo is None:
        raise ValueError("naive datetime")
    return value.astimezone(UTC)


def captured_path(folder: Path, message_id: str) -> Path:
    """Where capture mode keeps ``message_id`` (CaptureTransport's file name): the
    retention job removes it with the stored message (engine.anonymization)."""
    return folder / (re.sub(r"[^A-Za-z0-9._-]+", "_", message_id.strip("<>")) + ".eml")
