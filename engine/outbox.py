"""Transactional outbox: e-mail written with the change that causes it, delivered later.

``enqueue`` adds a row to the caller's session, so the message commits or rolls back with
the state change: a rolled-back action sends nothing, a committed one is never forgotten.

``deliver_due`` claims a batch of due rows in one short transaction of its own — one
``UPDATE … SET lease_until, leased_by … WHERE id IN (SELECT … LIMIT n) RETURNING …``, the
inner select ``FOR UPDATE SKIP LOCKED`` on PostgreSQL, under SQLite's write lock there —
commits, and only then talks to SMTP, so no database lock is held while a mail server is
slow; the batch goes over one SMTP connection. Each outcome is recorded in another short
transaction: sent, or a failed attempt retried with back-off (1 min, 5 min, 15 min, 1 h,
4 h…) until ``max_attempts``, after which the row is ``failed`` and an admin can
``resend`` it. A temporary refusal of a recipient (4xx at RCPT) also holds the recipient's
domain (``mail_domain_holds``) with the same back-off, so one bad domain neither uses up
the attempts of its other messages nor delays anyone else's. ``drain`` runs batches while
there is due mail; engine.mailer's senders call it when woken by a commit that enqueued.

Guarantee: **at least once, with a stable Message-ID.** Several workers never claim the same
row at once, so in normal operation each message is sent once. But a process that dies after
the SMTP server accepted a message and before the row was marked sent leaves only a lease;
when it expires the message is sent again. Exactly-once across two systems (our database and
someone else's SMTP server) is not achievable; what we promise instead is that the resend
carries the same ``Message-ID`` (generated once, stored in the row, reused on every attempt),
so a receiver or an auditor can recognise the duplicate.
"""

from __future__ import annotations

import binascii
import html as _html
import logging
import os
import re
import smtplib
import socket
import ssl
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email import policy
from email.header import Header
from email.message import Message
from email.mime.multipart import MIMEMultipart
from email.mime.nonmultipart import MIMENonMultipart
from email.utils import format_datetime, formataddr, parseaddr
from functools import cache
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy import (
    Connection,
    Integer,
    bindparam,
    case,
    delete,
    event,
    func,
    or_,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from engine import audit, corewrite
from engine.errors import Conflict, NotFound
from engine.mail import DEFAULT_FROM, DEFAULT_MAX_ATTEMPTS, MailSettings, render
from engine.models import AwareDateTime, Chamado, MailDomainHold, OutboxMessage
from engine.prepared import Prepared

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
# A header made of printable ASCII words, one space apart: what email.header.Header
# folds back into exactly itself (below SMTP's limit), so it is written as it is.
_PLAIN_HEADER = re.compile(r"[\x21-\x7e]+(?: [\x21-\x7e]+)*")


class _MailPolicy(policy.Compat32):
    """compat32 with CRLF, folding only at SMTP's hard limit, and no Header round trip
    for plain headers: compat32 built an ``email.header.Header`` for every header of
    every part (a dozen a message) to write most of them back unchanged, a sixth of a
    sender's CPU. Anything else (RFC 2047 words, long or odd values) folds as before."""

    def _fold(self, name: str, value: Any, sanitize: bool) -> str:
        if (
            isinstance(value, str)
            and len(name) + 2 + len(value) <= (self.max_line_length or 0)
            and _PLAIN_HEADER.fullmatch(value)
        ):
            return f"{name}: {value}{self.linesep}"
        return str(super()._fold(name, value, sanitize))  # type: ignore[misc]


# 7-bit transfer encodings (quoted-printable for accented text) go through any relay,
# 8BITMIME or not; headers are folded only at SMTP's hard limit so the Message-ID reaches
# the receiver on one line, byte for byte the one stored.
MAIL_POLICY = _MailPolicy(linesep="\r\n", max_line_length=998)
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
    return enqueue_rendered(
        session,
        kind,
        address,
        rendered.subject,
        rendered.text,
        rendered.html,
        chamado_id=chamado_id,
        now=now,
    )


def enqueue_rendered(
    session: Session,
    kind: str,
    address: str,
    subject: str,
    text: str,
    html: str | None,
    *,
    chamado_id: int | None,
    now: datetime,
) -> OutboxMessage:
    """Add a message already written (a template rendered, or a service task's own text:
    ``html`` None, its HTML part is that text, escaped)."""
    if html is None:
        html = "<p>" + _html.escape(text).replace("\n", "<br>\n") + "</p>"
    ref = f"chamado-{chamado_id}" if chamado_id is not None else "mail"
    row = OutboxMessage(
        message_id=f"<{ref}-{_ID_UNSAFE.sub('-', kind)}-{uuid.uuid4().hex}@{MESSAGE_ID_DOMAIN}>",
        kind=kind,
        chamado_id=chamado_id,
        to_addr=address,
        subject=subject,
        body_text=text,
        body_html=html,
        status="pending",
        attempts=0,
        next_attempt_at=_utc(now),
        created_at=_utc(now),
        to_domain=domain_of(address),
    )
    _ring_after_commit(session)
    return corewrite.insert(session, row)


def domain_of(address: str) -> str:
    """The recipient's domain, lower case ("" when the address has none)."""
    return address.rpartition("@")[2].strip().strip(">").lower() if "@" in address else ""


class Wakeup:
    """What senders wait on between batches; rung when mail is committed.

    In this process a commit that enqueued mail rings :data:`WAKEUP` itself; another
    process's commits arrive by PostgreSQL's ``NOTIFY`` (engine.mailer). A counter, not a
    flag: a sender compares it with the value it saw before its last claim, so a ring
    during a batch is never lost.
    """

    def __init__(self) -> None:
        self._condition = threading.Condition()
        self._rung = 0

    @property
    def rung(self) -> int:
        return self._rung

    def ring(self) -> None:
        with self._condition:
            self._rung += 1
            self._condition.notify_all()

    def wait(self, seen: int, timeout: float) -> int:
        """Until rung past ``seen``, or ``timeout`` seconds; the counter's value."""
        with self._condition:
            self._condition.wait_for(lambda: self._rung != seen, timeout)
            return self._rung


WAKEUP = Wakeup()
_RING_PENDING = "chamados_outbox_ring"


def _ring_after_commit(session: Session) -> None:
    # Rung once per committed transaction that enqueued; a rollback rings nothing.
    session.info[_RING_PENDING] = True


# Listening on every session, once: a listener added to each session that enqueued cost
# more than the mail's own row (SQLAlchemy's event registry and its weak references).
@event.listens_for(Session, "after_commit")
def _ring_if_pending(session: Session) -> None:
    if session.info.pop(_RING_PENDING, None):
        WAKEUP.ring()


@event.listens_for(Session, "after_rollback")
def _forget_ring(session: Session) -> None:
    session.info.pop(_RING_PENDING, None)


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
    to_domain: str = ""


class Transport(Protocol):
    def send(self, mail: OutgoingMail) -> None:
        """Deliver or raise; :class:`PermanentDeliveryError` means retrying is pointless,
        :class:`DomainDeferredError` that the relay refuses the recipient's domain for now."""


class PermanentDeliveryError(Exception):
    """The server refused the message for good (e.g. 550 no such mailbox)."""


class DomainDeferredError(Exception):
    """The server refused the recipient for now (4xx at RCPT): its domain is held."""


@dataclass
class DeliveryReport:
    claimed: int = 0
    sent: int = 0
    retrying: int = 0
    failed: int = 0
    # Claimed, then handed back untried: their domain was held during this batch.
    deferred: int = 0
    errors: list[str] = field(default_factory=list)

    def add(self, other: DeliveryReport) -> None:
        self.claimed += other.claimed
        self.sent += other.sent
        self.retrying += other.retrying
        self.failed += other.failed
        self.deferred += other.deferred
        self.errors.extend(other.errors[: max(0, 100 - len(self.errors))])


def deliver_due(
    transaction: Transaction,
    transport: Transport,
    now: datetime,
    worker_id: str,
    batch: int = 20,
    *,
    max_attempts: int = MAX_ATTEMPTS,
) -> DeliveryReport:
    """Claim up to ``batch`` due messages, send them, record each outcome.

    A temporary refusal of a recipient (4xx at RCPT) holds its domain (``mail_domain_holds``,
    the same back-off as a message's): the batch's other messages to that domain go back
    untried, and no worker claims the domain's mail until the hold ends; the first message
    that reaches it afterwards lifts the hold. Other domains' mail goes on meanwhile.
    """
    now = _utc(now)
    report = DeliveryReport()
    claimed, probing = _claim(transaction, now, worker_id, batch)
    report.claimed = len(claimed)
    held: set[str] = set()
    handed_back: list[int] = []
    started = _monotonic()
    for index, mail in enumerate(claimed):
        if _monotonic() - started > LEASE.total_seconds() / 2:
            handed_back.extend(m.pk for m in claimed[index:])
            break
        if mail.to_domain and mail.to_domain in held:
            handed_back.append(mail.pk)
            report.deferred += 1
            continue
        try:
            transport.send(mail)
        except Exception as exc:  # any failure is recorded on the row, never lost
            permanent = isinstance(exc, PermanentDeliveryError)
            hold = mail.to_domain if isinstance(exc, DomainDeferredError) else ""
            error = f"{type(exc).__name__}: {exc}"[:2000]
            outcome = _mark_failure(
                transaction, mail, now, worker_id, error, permanent, max_attempts, hold
            )
            if hold:
                held.add(hold)
            if outcome == "failed":
                report.failed += 1
            elif outcome == "pending":
                report.retrying += 1
            report.errors.append(f"{mail.message_id}: {error}")
        else:
            lift = mail.to_domain in probing
            probing.discard(mail.to_domain)
            _mark_sent(transaction, mail, now, mail.to_domain if lift else "")
            report.sent += 1
    if handed_back:
        _release(transaction, handed_back, worker_id)
    return report


def drain(
    transaction: Transaction,
    transport: Transport,
    clock: Callable[[], datetime],
    worker_id: str,
    *,
    batch: int = 50,
    max_attempts: int = MAX_ATTEMPTS,
    should_stop: Callable[[], bool] = lambda: False,
) -> DeliveryReport:
    """Deliver batch after batch while there is due mail (not a fixed number per tick).

    Ends after a claim that found less than a full batch: it took every message due then
    (on PostgreSQL, every one not being claimed by another worker at that moment), and
    each was sent, failed into its back-off, or handed back for a held domain (which no
    claim takes until the hold ends), so the loop always moves on. Mail enqueued since
    rings the senders' wakeup (engine.mailer), so a claim that would find nothing — a
    write transaction per message at a low rate — is not run. The transport's
    connection is kept between batches.
    """
    total = DeliveryReport()
    while not should_stop():
        report = deliver_due(
            transaction, transport, clock(), worker_id, batch, max_attempts=max_attempts
        )
        total.add(report)
        if report.claimed < batch:
            break
    return total


# The delivery's statements, built once (Core, on the tables): a sender runs them for
# every message, and building an ORM statement costs more CPU than running it (its cache
# key, coercions); with PostgreSQL's NOTIFY waking the senders on every enqueue they run
# at the rate tickets are sent (bench/mail_burst.py, bench/burst.py).
_MAIL = OutboxMessage.__table__
_HOLD = MailDomainHold.__table__
_NOW = bindparam("now", type_=AwareDateTime())
# Due, free of any live lease, and not to a held domain.
_DUE = (
    _MAIL.c.status == "pending",
    _MAIL.c.next_attempt_at <= _NOW,
    or_(_MAIL.c.lease_until.is_(None), _MAIL.c.lease_until < _NOW),
    ~select(_HOLD.c.domain)
    .where(_HOLD.c.domain == _MAIL.c.to_domain, _HOLD.c.until > _NOW)
    .exists(),
)
_ANY_DUE = select(_MAIL.c.id).where(*_DUE).limit(1)


def any_due(connection: Connection, now: datetime) -> bool:
    """Is a claim worth a write transaction? (one indexed read, outside any transaction)"""
    return connection.execute(_ANY_DUE, {"now": _utc(now)}).first() is not None


def _claim_statement(skip_locked: bool) -> Any:
    due = (
        select(_MAIL.c.id)
        .where(*_DUE)
        .order_by(_MAIL.c.next_attempt_at, _MAIL.c.id)
        .limit(bindparam("batch", type_=Integer, literal_execute=True))
    )
    if skip_locked:
        # Rows another worker is claiming right now are skipped, not waited for; a row
        # leased meanwhile is re-checked against the lease by the locking read itself.
        due = due.with_for_update(skip_locked=True)
    # SQLite: the transaction holds the write lock (BEGIN IMMEDIATE), so the read and
    # the lease are one step; the lease is what keeps the next claim away.
    return (
        update(_MAIL)
        .where(_MAIL.c.id.in_(due.scalar_subquery()))
        .values(lease_until=bindparam("lease_until"), leased_by=bindparam("worker_id"))
        .returning(
            _MAIL.c.id,
            _MAIL.c.message_id,
            _MAIL.c.to_addr,
            _MAIL.c.subject,
            _MAIL.c.body_text,
            _MAIL.c.body_html,
            _MAIL.c.created_at,
            _MAIL.c.to_domain,
        )
    )


# By dialect, as the task's lock (engine.usecases.base._LOCK_TASK).
_CLAIM = {
    "postgresql": _claim_statement(skip_locked=True),
    "sqlite": _claim_statement(skip_locked=False),
}
_HELD_AMONG = select(_HOLD.c.domain).where(_HOLD.c.domain.in_(bindparam("domains", expanding=True)))
# Unconditional on the lease: the server has the message, whoever holds the row now.
_MARK_SENT = Prepared(
    update(_MAIL)
    .where(_MAIL.c.id == bindparam("pk"), _MAIL.c.status == "pending")
    .values(
        status="sent",
        attempts=_MAIL.c.attempts + 1,
        sent_at=_NOW,
        lease_until=None,
        leased_by=None,
    )
)
_LIFT_HOLD = delete(_HOLD).where(_HOLD.c.domain == bindparam("domain"))
_RELEASE = (
    update(_MAIL)
    .where(
        _MAIL.c.id.in_(bindparam("pks", expanding=True)),
        _MAIL.c.status == "pending",
        _MAIL.c.leased_by == bindparam("worker_id"),
    )
    .values(lease_until=None, leased_by=None)
)


def _claim(
    transaction: Transaction, now: datetime, worker_id: str, batch: int
) -> tuple[list[OutgoingMail], set[str]]:
    """Lease up to ``batch`` due rows in one ``UPDATE … RETURNING``; and which of their
    domains have an expired hold (a success there lifts it)."""
    with transaction() as session:
        connection = session.connection()
        claim = _CLAIM[connection.dialect.name]
        params = {"now": now, "batch": batch, "lease_until": now + LEASE, "worker_id": worker_id}
        mails = sorted(
            (
                OutgoingMail(
                    pk=r.id,
                    message_id=r.message_id,
                    to_addr=r.to_addr,
                    subject=r.subject,
                    body_text=r.body_text,
                    body_html=r.body_html,
                    created_at=r.created_at,
                    to_domain=r.to_domain or "",
                )
                for r in connection.execute(claim, params)
            ),
            key=lambda m: m.pk,
        )
        domains = {m.to_domain for m in mails if m.to_domain}
        probing = (
            set(connection.execute(_HELD_AMONG, {"domains": sorted(domains)}).scalars())
            if domains
            else set()
        )
        return mails, probing


def _mark_sent(transaction: Transaction, mail: OutgoingMail, now: datetime, lift: str) -> None:
    with transaction() as session:
        # On the driver (engine.prepared): one per message sent, and SQLAlchemy's own
        # execution cost more than the UPDATE.
        _MARK_SENT.execute(session, {"pk": mail.pk, "now": now})
        if lift:  # the domain takes mail again
            session.connection().execute(_LIFT_HOLD, {"domain": lift})


def _mark_failure(
    transaction: Transaction,
    mail: OutgoingMail,
    now: datetime,
    worker_id: str,
    error: str,
    permanent: bool,
    max_attempts: int,
    hold: str = "",
) -> str | None:
    with transaction() as session:
        if hold:
            _hold_domain(session, hold, now, error)
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


def _hold_domain(session: Session, domain: str, now: datetime, error: str) -> None:
    """Hold (or hold again, for longer) ``domain``: one statement, whoever gets there first."""
    dialect = session.get_bind().dialect.name
    insert = postgresql_insert if dialect == "postgresql" else sqlite_insert
    table = MailDomainHold.__table__
    # The n-th hold in a row lasts backoff(n); a domain still held is not held twice.
    failures = case((table.c.until > now, table.c.failures), else_=table.c.failures + 1)
    statement = insert(table).values(
        domain=domain, until=now + backoff(1), failures=1, last_error=error
    )
    statement = statement.on_conflict_do_update(
        index_elements=[table.c.domain],
        set_={
            "failures": failures,
            "until": case(
                (table.c.until > now, table.c.until),
                *[
                    (table.c.failures + 1 == n, now + backoff(n))
                    for n in range(2, len(BACKOFF) + 1)
                ],
                else_=now + BACKOFF[-1],
            ),
            "last_error": error,
        },
    )
    session.execute(statement)
    log.warning("Domínio %s recusou o destinatário por ora: e-mails retidos. %s", domain, error)


def _release(transaction: Transaction, pks: Sequence[int], worker_id: str) -> None:
    with transaction() as session:
        session.connection().execute(_RELEASE, {"pks": list(pks), "worker_id": worker_id})


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


def build_email(mail: OutgoingMail, mail_from: str = DEFAULT_FROM) -> Message:
    """Plain text with an HTML alternative; Message-ID and Date are the row's, on every try.

    Built with the ``email.mime`` classes and flattened with :data:`MAIL_POLICY`: the
    header registry of ``EmailMessage`` parsed and refolded every header of every message
    and took about two thirds of a sender's CPU (bench/mail_burst.py). So what it checked
    is checked here: no header value may carry a line break (header injection); non-ASCII
    goes as RFC 2047 encoded words; bodies are quoted-printable UTF-8 (7-bit, any relay).
    """
    for value in (mail.subject, mail.to_addr, mail.message_id, mail_from):
        if _HEADER_BREAK.search(value):
            raise ValueError(f"quebra de linha num cabeçalho: {value!r}")
    if not mail.to_addr.isascii():  # would need SMTPUTF8 end to end
        raise ValueError(f"endereço fora do ASCII (SMTPUTF8) não suportado: {mail.to_addr!r}")
    # "=_" never occurs in quoted-printable text ("=" is always escaped there), so this
    # boundary needs no search of the bodies (the generator's own looked with a regex
    # compiled per message).
    message = MIMEMultipart("alternative", boundary=f"=_{uuid.uuid4().hex}")
    # typeshed types header values as str; email.header.Header is what folds non-ASCII.
    message["Subject"] = _header_text(mail.subject)  # type: ignore[assignment]
    message["From"] = _from_header(mail_from)
    message["To"] = mail.to_addr
    message["Date"] = format_datetime(_utc(mail.created_at))
    message["Message-ID"] = mail.message_id
    # RFC 3834: vacation responders must not answer automatic messages.
    message["Auto-Submitted"] = "auto-generated"
    message.attach(_quoted_printable("plain", mail.body_text))
    message.attach(_quoted_printable("html", mail.body_html))
    return message


@cache
def _from_header(mail_from: str) -> str:
    """The sender's header, the same for every message (parsed once per process)."""
    name, address = parseaddr(mail_from)
    return formataddr((name, address), charset="utf-8") if name else address


def _quoted_printable(subtype: str, text: str) -> MIMENonMultipart:
    """A UTF-8 text part, quoted-printable, as ``MIMEText`` with a QP charset makes it,
    but encoded by binascii (C) instead of email.quoprimime (Python, a third of a
    sender's CPU per message). Line breaks as quoprimime reads them (CRLF, CR, LF) all
    become one LF, which the generator writes as CRLF."""
    part = MIMENonMultipart("text", subtype, charset="utf-8")
    part["Content-Transfer-Encoding"] = "quoted-printable"
    lines = text.replace("\r\n", "\n").replace("\r", "\n")
    part.set_payload(binascii.b2a_qp(lines.encode("utf-8"), istext=True).decode("ascii"))
    return part


def as_bytes(message: Message) -> bytes:
    """The message as sent: CRLF line ends, headers folded only at SMTP's hard limit."""
    return message.as_bytes(policy=MAIL_POLICY)


@cache
def envelope_sender(mail_from: str) -> str:
    return parseaddr(mail_from)[1]


_HEADER_BREAK = re.compile(r"[\r\n\x00]")


def _header_text(value: str) -> str | Header:
    return value if value.isascii() else Header(value, "utf-8")


class _Smtp(smtplib.SMTP):
    """smtplib's client, remembering the last command of a message it sent (``stage``)."""

    stage = ""

    def mail(self, sender: str, options: Sequence[str] = ()) -> tuple[int, bytes]:
        self.stage = "mail"
        return super().mail(sender, options)

    def rcpt(self, recip: str, options: Sequence[str] = ()) -> tuple[int, bytes]:
        self.stage = "rcpt"
        return super().rcpt(recip, options)

    def data(self, msg: Any) -> tuple[int, bytes]:
        self.stage = "data"
        return super().data(msg)


class SmtpTransport:
    """SMTP to the relay, one connection kept across sends (one per sender thread).

    A batch goes over one connection: connect, EHLO, STARTTLS and login once, then
    ``MAIL``/``RCPT``/``DATA`` per message. After a refusal smtplib resets the
    transaction (``RSET``) and the connection goes on; after any other failure it is
    closed, and the next message opens a new one. A connection idle for more than
    ``PING_IDLE_SECONDS`` is checked with ``NOOP`` first (servers drop idle clients), and
    one is closed after ``MAX_PER_CONNECTION`` messages (relays cap them per connection).
    Not thread-safe: each sender has its own.
    """

    PING_IDLE_SECONDS = 2.0
    MAX_PER_CONNECTION = 500

    def __init__(self, settings: MailSettings, *, reuse: bool = True) -> None:
        if not settings.smtp_host:
            raise ValueError("SmtpTransport precisa de SMTP_HOST")
        self.settings = settings
        self.reuse = reuse
        self.connections = 0  # opened so far: what connection reuse saves shows here
        self._smtp: _Smtp | None = None
        self._sent_here = 0
        self._last_used = 0.0

    def send(self, mail: OutgoingMail) -> None:
        message = as_bytes(_build_or_refuse(mail, self.settings.mail_from))
        sender, recipients = envelope_sender(self.settings.mail_from), [mail.to_addr]
        smtp = self._connection()
        reused = self._sent_here > 0
        try:
            try:
                smtp.sendmail(sender, recipients, message)
            except (smtplib.SMTPServerDisconnected, ConnectionError):
                # A kept connection the server dropped before our DATA: nothing of this
                # message reached it, so it goes once more on a new connection. After
                # DATA the server may have it: that is the caller's retry, with back-off.
                if not reused or smtp.stage == "data":
                    raise
                self.close()
                smtp = self._connection()
                smtp.sendmail(sender, recipients, message)
        except smtplib.SMTPRecipientsRefused as exc:
            self._done(smtp)
            codes = [code for code, _ in exc.recipients.values()]
            if codes and all(code >= 500 for code in codes):
                raise PermanentDeliveryError(f"Destinatário recusado: {exc.recipients}") from exc
            if codes and all(400 <= code < 500 for code in codes):
                raise DomainDeferredError(
                    f"Destinatário recusado por ora: {exc.recipients}"
                ) from exc
            raise
        except (smtplib.SMTPSenderRefused, smtplib.SMTPDataError):
            # smtplib answered the refusal with RSET: the connection is still good
            # (unless the server said 421 and closed it, which smtplib noticed).
            self._done(smtp)
            raise
        except BaseException:
            self.close()
            raise
        self._done(smtp)

    def close(self) -> None:
        """End the kept connection (QUIT), if any; the next send opens a new one."""
        smtp, self._smtp = self._smtp, None
        if smtp is None:
            return
        try:
            smtp.quit()
        except (smtplib.SMTPException, OSError):
            smtp.close()

    def _connection(self) -> _Smtp:
        smtp = self._smtp
        if smtp is not None and time.monotonic() - self._last_used > self.PING_IDLE_SECONDS:
            try:
                if smtp.noop()[0] != 250:
                    self.close()
            except (smtplib.SMTPException, OSError):
                self.close()
        if self._smtp is None:
            self._smtp = self._open()
            self._sent_here = 0
        return self._smtp

    def _open(self) -> _Smtp:
        s = self.settings
        smtp = _Smtp(s.smtp_host or "", s.smtp_port, timeout=s.timeout)
        self.connections += 1
        try:
            smtp.ehlo()
            if s.smtp_starttls:
                # Refuses to go on in clear text if the server offers no STARTTLS.
                smtp.starttls(context=ssl.create_default_context())
                smtp.ehlo()
            if s.smtp_user:
                smtp.login(s.smtp_user, s.smtp_password or "")
        except BaseException:
            smtp.close()
            raise
        return smtp

    def _done(self, smtp: _Smtp) -> None:
        self._sent_here += 1
        self._last_used = time.monotonic()
        if not self.reuse or self._sent_here >= self.MAX_PER_CONNECTION or smtp.sock is None:
            self.close()


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
        temporary.write_bytes(as_bytes(message))
        os.replace(temporary, target)  # a reader never sees half a file

    def close(self) -> None:
        """Nothing kept open between messages."""


def close_transport(transport: Transport) -> None:
    """End whatever connection ``transport`` keeps between sends (if it keeps one)."""
    close = getattr(transport, "close", None)
    if close is not None:
        close()


def make_transport(settings: MailSettings) -> Transport:
    if settings.capture:
        return CaptureTransport(settings.capture_dir, settings.mail_from)
    return SmtpTransport(settings)


def _build_or_refuse(mail: OutgoingMail, mail_from: str) -> Message:
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
