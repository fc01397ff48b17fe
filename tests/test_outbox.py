"""The outbox against a real SMTP server (aiosmtpd on 127.0.0.1) and a real database.

Time is passed explicitly (``now``): back-off and leases are exercised without sleeping.
With TEST_DATABASE_URL set, the ``svc`` fixture runs all of this on PostgreSQL too.
"""

from __future__ import annotations

import re
import threading
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from functools import partial
from pathlib import Path
from typing import Any, cast

import pytest
from sqlalchemy import func, select

from engine import outbox
from engine.errors import Conflict, NotFound
from engine.mail import MailSettings
from engine.models import AuditEvent, Chamado, OutboxMessage
from engine.outbox import (
    LEASE,
    CaptureTransport,
    OutgoingMail,
    deliver_due,
    make_transport,
    resend,
)
from engine.service import ActorRef, Chamados
from tests.smtp_server import SmtpServer
from tests.test_mail import CASES, CATALOGS, TEMPLATES

# The chamado model's e-mail files, as a step passes its version's files.
enqueue = partial(outbox.enqueue, templates=TEMPLATES, catalogs=CATALOGS)

BASE = "https://chamados.example.gov.br"
T0 = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
MESSAGE_ID = re.compile(r"^<chamado-\d+-[a-z_]+-[0-9a-f]{32}@chamados\.gov\.br>$")

pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")


# --- helpers ---------------------------------------------------------------------------------


def new_chamado(svc: Chamados, requester: ActorRef) -> int:
    return svc.requests.start_chamado(requester, "chamado").id


def enqueue_all_kinds(svc: Chamados, chamado_id: int) -> dict[str, OutboxMessage]:
    rows = {}
    with svc.unit.transaction() as session:
        for kind, (context, _subject, _expected) in CASES.items():
            row = enqueue(
                session,
                kind,
                f"{kind}@example.gov.br",
                context,
                chamado_id=chamado_id,
                base_url=BASE,
                now=T0,
            )
            assert row is not None
            rows[kind] = row
    return rows


def enqueue_many(svc: Chamados, chamado_id: int, n: int, now: datetime = T0) -> list[str]:
    context = CASES["chamado_resolvido"][0]
    with svc.unit.transaction() as session:
        rows = [
            enqueue(
                session,
                "chamado_resolvido",
                f"pessoa{i}@example.gov.br",
                context,
                chamado_id=chamado_id,
                base_url=BASE,
                now=now,
            )
            for i in range(n)
        ]
        return [r.message_id for r in rows if r is not None]


def rows(svc: Chamados) -> list[OutboxMessage]:
    with svc.unit.session_factory() as session:
        return list(session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))


def parts(message: EmailMessage) -> dict[str, str]:
    return {
        part.get_content_type(): str(part.get_content())
        for part in message.walk()
        if not part.is_multipart()
    }


# --- every kind over SMTP --------------------------------------------------------------------


def test_every_kind_delivered_over_smtp(svc: Chamados, maria: ActorRef, smtp: SmtpServer) -> None:
    chamado_id = new_chamado(svc, maria)
    stored = enqueue_all_kinds(svc, chamado_id)

    report = deliver_due(svc.unit.transaction, smtp.transport(), T0, "w1")
    assert (report.claimed, report.sent, report.retrying, report.failed) == (6, 6, 0, 0)

    by_rcpt = {r.rcpt_tos[0]: r for r in smtp.handler.received}
    assert len(smtp.handler.received) == 6
    for kind, (_context, subject, expected) in CASES.items():
        got = by_rcpt[f"{kind}@example.gov.br"]
        msg = got.message
        assert got.mail_from == "nao-responda@chamados.gov.br"
        assert msg["To"] == f"{kind}@example.gov.br"
        (sender,) = msg["From"].addresses
        assert (sender.display_name, sender.addr_spec) == (
            "Chamados gov.br",
            "nao-responda@chamados.gov.br",
        )
        assert msg["Subject"] == subject
        assert msg["Message-ID"] == stored[kind].message_id
        assert MESSAGE_ID.match(msg["Message-ID"]) and f"-{kind}-" in msg["Message-ID"]
        assert msg["Auto-Submitted"] == "auto-generated"
        assert msg["Date"]
        assert msg.get_content_type() == "multipart/alternative"
        bodies = parts(msg)
        assert set(bodies) == {"text/plain", "text/html"}
        for fragment in expected:
            assert fragment in bodies["text/plain"], (kind, fragment)
            assert fragment in bodies["text/html"], (kind, fragment)
        link = next(f for f in expected if f.startswith(BASE))
        assert f'href="{link}"' in bodies["text/html"]

    for row in rows(svc):
        assert (row.status, row.attempts, row.sent_at, row.lease_until) == ("sent", 1, T0, None)
    # Nothing is due any more: a second run sends nothing.
    assert deliver_due(svc.unit.transaction, smtp.transport(), T0 + LEASE * 3, "w1").claimed == 0
    assert len(smtp.handler.received) == 6


def test_no_address_means_no_message(svc: Chamados) -> None:
    with svc.unit.transaction() as session:
        context = CASES["encerrado_sem_resposta"][0]
        for address in ("", None, "   "):
            kwargs: dict[str, Any] = {"chamado_id": None, "base_url": BASE, "now": T0}
            assert enqueue(session, "encerrado_sem_resposta", address, context, **kwargs) is None
    assert rows(svc) == []


# --- SMTP down, then back --------------------------------------------------------------------


def test_smtp_down_then_back_delivers_all_once(
    svc: Chamados, maria: ActorRef, smtp: SmtpServer
) -> None:
    ids = enqueue_many(svc, new_chamado(svc, maria), 5)
    transport = smtp.transport()
    smtp.stop()

    report = deliver_due(svc.unit.transaction, transport, T0, "w1")
    assert (report.claimed, report.sent, report.retrying) == (5, 0, 5)
    for row in rows(svc):
        assert row.status == "pending" and row.attempts == 1
        assert row.next_attempt_at == T0 + timedelta(minutes=1)
        assert row.lease_until is None and "Connection" in (row.last_error or "")
    # Not due yet: the back-off is respected.
    assert (
        deliver_due(svc.unit.transaction, transport, T0 + timedelta(seconds=30), "w1").claimed == 0
    )

    t1 = T0 + timedelta(minutes=1)
    assert deliver_due(svc.unit.transaction, transport, t1, "w1").retrying == 5
    assert {r.next_attempt_at for r in rows(svc)} == {t1 + timedelta(minutes=5)}

    smtp.start()
    t2 = t1 + timedelta(minutes=5)
    report = deliver_due(svc.unit.transaction, transport, t2, "w1")
    assert (report.sent, report.retrying, report.failed) == (5, 0, 0)
    assert sorted(smtp.handler.message_ids()) == sorted(ids)  # each once, same Message-ID
    assert [r.message_id for r in rows(svc)] == ids
    assert all(r.status == "sent" and r.attempts == 3 and r.sent_at == t2 for r in rows(svc))
    assert deliver_due(svc.unit.transaction, transport, t2 + timedelta(days=1), "w1").claimed == 0
    assert len(smtp.handler.received) == 5


def test_temporary_refusal_is_retried_permanent_refusal_fails_at_once(
    svc: Chamados, maria: ActorRef, smtp: SmtpServer
) -> None:
    chamado_id = new_chamado(svc, maria)
    enqueue_many(svc, chamado_id, 2)
    smtp.handler.refuse.add("pessoa1@example.gov.br")
    smtp.handler.defer_data = 1  # the first DATA gets "451 try later"

    report = deliver_due(svc.unit.transaction, smtp.transport(), T0, "w1")
    assert (report.sent, report.retrying, report.failed) == (0, 1, 1)
    first, second = rows(svc)
    assert first.status == "pending" and "451" in (first.last_error or "")
    assert second.status == "failed" and second.attempts == 1 and "550" in (second.last_error or "")

    report = deliver_due(svc.unit.transaction, smtp.transport(), T0 + timedelta(minutes=1), "w1")
    assert report.sent == 1
    assert [r.rcpt_tos for r in smtp.handler.received] == [["pessoa0@example.gov.br"]]


# --- the transaction decides -----------------------------------------------------------------


def test_rolled_back_change_sends_nothing(svc: Chamados, maria: ActorRef, smtp: SmtpServer) -> None:
    chamado_id = new_chamado(svc, maria)
    with pytest.raises(RuntimeError):
        with svc.unit.transaction() as session:
            chamado = session.get(Chamado, chamado_id)
            assert chamado is not None
            chamado.status = "resolvido"
            context = CASES["chamado_resolvido"][0]
            enqueue(
                session,
                "chamado_resolvido",
                "maria@example.gov.br",
                context,
                chamado_id=chamado_id,
                base_url=BASE,
                now=T0,
            )
            session.flush()  # the row really reached the database before the failure
            raise RuntimeError("falha depois de gravar")

    assert rows(svc) == []
    assert deliver_due(svc.unit.transaction, smtp.transport(), T0, "w1").claimed == 0
    assert smtp.handler.received == []
    with svc.unit.session_factory() as session:
        assert session.get(Chamado, chamado_id).status == "rascunho"  # type: ignore[union-attr]

    # The same change committed: the message is there and goes out.
    with svc.unit.transaction() as session:
        chamado = session.get(Chamado, chamado_id)
        assert chamado is not None
        chamado.status = "resolvido"
        enqueue(
            session,
            "chamado_resolvido",
            "maria@example.gov.br",
            CASES["chamado_resolvido"][0],
            chamado_id=chamado_id,
            base_url=BASE,
            now=T0,
        )
    assert deliver_due(svc.unit.transaction, smtp.transport(), T0, "w1").sent == 1
    assert len(smtp.handler.received) == 1


# --- several workers -------------------------------------------------------------------------


def test_two_workers_send_each_message_once(
    svc: Chamados, maria: ActorRef, smtp: SmtpServer
) -> None:
    ids = enqueue_many(svc, new_chamado(svc, maria), 40)
    start = threading.Barrier(2)
    sent_by: dict[str, int] = {}
    errors: list[BaseException] = []

    def worker(name: str) -> None:
        try:
            transport = smtp.transport()
            start.wait()
            total = 0
            while True:
                report = deliver_due(svc.unit.transaction, transport, T0, name, batch=3)
                assert report.retrying == report.failed == 0, report.errors
                total += report.sent
                if report.claimed == 0:
                    break
            sent_by[name] = total
        except BaseException as exc:  # surfaced in the main thread below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(f"w{i}",)) for i in (1, 2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors
    assert len(sent_by) == 2 and sum(sent_by.values()) == 40
    assert sorted(smtp.handler.message_ids()) == sorted(ids)
    assert all(r.status == "sent" and r.attempts == 1 for r in rows(svc))


def test_crash_after_send_resends_with_the_same_message_id(
    svc: Chamados, maria: ActorRef, smtp: SmtpServer
) -> None:
    (message_id,) = enqueue_many(svc, new_chamado(svc, maria), 1)
    real = smtp.transport()

    class CrashAfterSend:
        def send(self, mail: OutgoingMail) -> None:
            real.send(mail)
            raise SystemExit("processo encerrado antes de marcar como enviado")

    with pytest.raises(SystemExit):
        deliver_due(svc.unit.transaction, CrashAfterSend(), T0, "w1")
    (row,) = rows(svc)
    assert row.status == "pending" and row.leased_by == "w1"
    # The lease keeps other workers away until it expires...
    assert deliver_due(svc.unit.transaction, real, T0 + LEASE / 2, "w2").claimed == 0
    # ...then the message goes again, recognisable as the same one.
    assert (
        deliver_due(svc.unit.transaction, real, T0 + LEASE + timedelta(seconds=1), "w2").sent == 1
    )
    assert smtp.handler.message_ids() == [message_id, message_id]


def test_a_slow_batch_hands_back_what_it_did_not_send(
    svc: Chamados, maria: ActorRef, smtp: SmtpServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    enqueue_many(svc, new_chamado(svc, maria), 3)
    # The first send "takes" longer than half the lease: the rest go back, unleased.
    ticks = iter([0.0, 0.0, LEASE.total_seconds()])
    monkeypatch.setattr(outbox, "_monotonic", lambda: next(ticks))
    report = deliver_due(svc.unit.transaction, smtp.transport(), T0, "w1")
    assert (report.claimed, report.sent) == (3, 1)
    assert [(r.status, r.attempts, r.lease_until) for r in rows(svc)] == [
        ("sent", 1, None),
        ("pending", 0, None),
        ("pending", 0, None),
    ]
    monkeypatch.undo()
    # Another worker may take them straight away, without waiting for a lease to expire.
    assert deliver_due(svc.unit.transaction, smtp.transport(), T0, "w2").sent == 2
    assert len(set(smtp.handler.message_ids())) == 3


# --- giving up, and the admin's resend -------------------------------------------------------


def test_max_attempts_then_failed_then_resend(
    svc: Chamados, maria: ActorRef, smtp: SmtpServer
) -> None:
    (message_id,) = enqueue_many(svc, new_chamado(svc, maria), 1)
    smtp.stop()
    down = smtp.transport()
    now = T0
    waits = []
    for attempt in range(1, 4):
        report = deliver_due(svc.unit.transaction, down, now, "w1", max_attempts=3)
        (row,) = rows(svc)
        assert row.attempts == attempt
        if attempt < 3:
            assert report.retrying == 1 and row.status == "pending"
            waits.append(row.next_attempt_at - now)
            now = row.next_attempt_at
    assert waits == [timedelta(minutes=1), timedelta(minutes=5)]
    assert report.failed == 1 and row.status == "failed" and row.last_error
    assert deliver_due(svc.unit.transaction, down, now + timedelta(days=1), "w1").claimed == 0

    with svc.unit.transaction() as session:
        with pytest.raises(NotFound):
            resend(session, 999999, now)
        again = resend(session, message_id, now + timedelta(days=1), actor_id=maria.id)
        assert (again.status, again.attempts) == ("pending", 0)
    with svc.unit.session_factory() as session:
        audit = session.scalar(select(AuditEvent).where(AuditEvent.action == "email.reenviado"))
        assert audit is not None and not audit.public and audit.actor_id == maria.id

    smtp.start()
    later = now + timedelta(days=1)
    assert deliver_due(svc.unit.transaction, smtp.transport(), later, "w1").sent == 1
    assert smtp.handler.message_ids() == [message_id]
    (row,) = rows(svc)
    assert (row.status, row.attempts) == ("sent", 1)
    with svc.unit.transaction() as session:
        with pytest.raises(Conflict):
            resend(session, row.id, later)


def test_backoff_schedule() -> None:
    minutes = [outbox.backoff(n).total_seconds() / 60 for n in range(1, 8)]
    assert minutes == [1, 5, 15, 60, 240, 240, 240]


# --- SMTP options ----------------------------------------------------------------------------


def test_login_when_a_user_is_configured(svc: Chamados, maria: ActorRef) -> None:
    server = SmtpServer(auth_require_tls=False)
    server.options["authenticator"] = server.handler.authenticate
    server.start()
    try:
        enqueue_many(svc, new_chamado(svc, maria), 2)
        wrong = server.transport(smtp_user="chamados", smtp_password="errada")
        assert deliver_due(svc.unit.transaction, wrong, T0, "w1").retrying == 2
        right = server.transport(smtp_user="chamados", smtp_password="segredo")
        later = T0 + timedelta(minutes=1)
        assert deliver_due(svc.unit.transaction, right, later, "w1").sent == 2
    finally:
        server.stop()
    assert (b"chamados", b"segredo") in server.handler.logins
    assert len(server.handler.received) == 2


def test_starttls_required_never_sends_in_clear(
    svc: Chamados, maria: ActorRef, smtp: SmtpServer
) -> None:
    enqueue_many(svc, new_chamado(svc, maria), 1)
    report = deliver_due(svc.unit.transaction, smtp.transport(smtp_starttls=True), T0, "w1")
    assert report.retrying == 1 and "STARTTLS" in report.errors[0]
    assert smtp.handler.received == []


# --- capture mode ----------------------------------------------------------------------------


def test_capture_mode_writes_eml_files(svc: Chamados, maria: ActorRef, tmp_path: Path) -> None:
    settings = MailSettings.from_env({}, instance_dir=tmp_path / "instance")
    transport = make_transport(settings)
    assert isinstance(transport, CaptureTransport)
    stored = enqueue_all_kinds(svc, new_chamado(svc, maria))

    assert deliver_due(svc.unit.transaction, transport, T0, "w1").sent == 6
    files = sorted((tmp_path / "instance" / "mail").glob("*.eml"))
    assert len(files) == 6
    seen = {}
    for path in files:
        message = cast(EmailMessage, message_from_bytes(path.read_bytes(), policy=policy.default))
        seen[str(message["Message-ID"])] = message
        assert set(parts(message)) == {"text/plain", "text/html"}
    assert set(seen) == {row.message_id for row in stored.values()}
    assert all(r.status == "sent" for r in rows(svc))

    # Delivering the same message again (a crash before marking) overwrites, never duplicates.
    row = stored["chamado_registrado"]
    again = OutgoingMail(
        row.id, row.message_id, row.to_addr, row.subject, row.body_text, row.body_html, T0
    )
    transport.send(again)
    assert len(list((tmp_path / "instance" / "mail").glob("*"))) == 6


def test_listing_for_the_admin_page(svc: Chamados, maria: ActorRef, smtp: SmtpServer) -> None:
    chamado_id = new_chamado(svc, maria)
    enqueue_many(svc, chamado_id, 2)
    enqueue_many(svc, chamado_id, 1, now=T0 + timedelta(minutes=1))
    deliver_due(svc.unit.transaction, smtp.transport(), T0, "w1")  # only the first two are due
    with svc.unit.session_factory() as session:
        entries = outbox.list_messages(session)
        assert [e.message.created_at for e in entries][0] == T0 + timedelta(minutes=1)
        assert {e.protocolo for e in entries} == {
            session.scalar(select(Chamado.protocolo).where(Chamado.id == chamado_id))
        }
        assert len(outbox.list_messages(session, status="sent")) == 2
        assert outbox.count_by_status(session) == {"pending": 1, "sent": 2, "failed": 0}
        total = session.scalar(select(func.count()).select_from(OutboxMessage))
        assert total == 3
