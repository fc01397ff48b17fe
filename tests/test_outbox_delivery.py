"""Delivery that keeps up with a burst, against a real SMTP server (aiosmtpd) and a real
database: one connection per batch, several claimers at once, per-domain back-off, senders
woken by the commit that enqueued the mail. Throughput itself is measured in
bench/mail_burst.py, never here.

With TEST_DATABASE_URL set, the ``svc`` fixture runs all of this on PostgreSQL too.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from functools import partial

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from engine import outbox
from engine.mail import MailSettings
from engine.mailer import Mailer, PgListener
from engine.models import MailDomainHold, OutboxMessage
from engine.outbox import Wakeup, deliver_due, drain
from engine.service import ActorRef, Chamados
from engine.settings import Settings
from tests.procs import wait_until
from tests.smtp_server import SmtpServer
from tests.test_mail import CASES, CATALOGS, TEMPLATES

enqueue = partial(outbox.enqueue, templates=TEMPLATES, catalogs=CATALOGS)
BASE = "https://chamados.example.gov.br"
T0 = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)

pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")


def add_mail(svc: Chamados, addresses: list[str], now: datetime = T0) -> list[str]:
    """One transaction per message, as ticket sends commit them."""
    ids = []
    chamado_id = svc.requests.start_chamado(_requester(svc), "chamado").id
    for address in addresses:
        with svc.unit.transaction() as session:
            row = enqueue(
                session,
                "chamado_registrado",
                address,
                CASES["chamado_registrado"][0],
                chamado_id=chamado_id,
                base_url=BASE,
                now=now,
            )
            assert row is not None
            ids.append(row.message_id)
    return ids


def _requester(svc: Chamados) -> ActorRef:
    from tests.conftest import MARIA, add_person

    return add_person(svc, MARIA, "Maria da Silva")


def rows(svc: Chamados) -> list[OutboxMessage]:
    with svc.unit.session_factory() as session:
        return list(session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))


def holds(svc: Chamados) -> dict[str, MailDomainHold]:
    with svc.unit.session_factory() as session:
        return {h.domain: h for h in session.scalars(select(MailDomainHold))}


def fixed(now: datetime) -> datetime:
    return now


# --- one connection per batch ----------------------------------------------------------------


def test_a_batch_goes_over_one_connection(svc: Chamados, smtp: SmtpServer) -> None:
    ids = add_mail(svc, [f"pessoa{i}@example.gov.br" for i in range(30)])
    transport = smtp.transport()
    report = drain(svc.unit.transaction, transport, lambda: T0, "w1", batch=7)
    assert (report.claimed, report.sent) == (30, 30)
    assert sorted(smtp.handler.message_ids()) == sorted(ids)
    # Five batches, one connection: counted by the server and by the client.
    assert smtp.handler.connections() == 1 and transport.connections == 1
    transport.close()

    # The same without reuse: one connection per message (what the server saw before).
    more = add_mail(svc, [f"outra{i}@example.gov.br" for i in range(5)])
    single = smtp.transport()
    single.reuse = False
    assert drain(svc.unit.transaction, single, lambda: T0, "w1").sent == 5
    assert single.connections == 5
    assert smtp.handler.connections() == 6
    assert sorted(smtp.handler.message_ids()) == sorted(ids + more)


def counted_claims(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many messages each claim of the outbox took, in order (engine.outbox._claim)."""
    claims: list[int] = []
    real_claim = outbox._claim

    def counting(
        transaction: outbox.Transaction, now: datetime, worker_id: str, batch: int
    ) -> tuple[list[outbox.OutgoingMail], set[str]]:
        found = real_claim(transaction, now, worker_id, batch)
        claims.append(len(found[0]))
        return found

    monkeypatch.setattr(outbox, "_claim", counting)
    return claims


def test_a_drain_stops_after_a_partial_batch_without_an_empty_claim(
    svc: Chamados, smtp: SmtpServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A claim that found less than a full batch took all that was due: no claim more.

    At a low rate each message arrives alone (PostgreSQL's NOTIFY wakes the senders on
    every enqueue); a second, empty claim would be a write transaction per message."""
    add_mail(svc, [f"p{i}@example.gov.br" for i in range(17)])
    claims = counted_claims(monkeypatch)
    transport = smtp.transport()
    report = drain(svc.unit.transaction, transport, lambda: T0, "w1", batch=5)
    assert (report.claimed, report.sent) == (17, 17)
    assert claims == [5, 5, 5, 2]  # not a fifth, empty one
    claims.clear()
    # Exactly a full batch left: the next claim finds nothing and ends the drain.
    add_mail(svc, [f"q{i}@example.gov.br" for i in range(5)])
    assert drain(svc.unit.transaction, transport, lambda: T0, "w1", batch=5).sent == 5
    assert claims == [5, 0]
    transport.close()
    assert all(r.status == "sent" and r.attempts == 1 for r in rows(svc))


def test_a_dropped_connection_is_reopened_without_losing_a_message(
    svc: Chamados, smtp: SmtpServer
) -> None:
    first = add_mail(svc, ["a@example.gov.br", "b@example.gov.br"])
    transport = smtp.transport()
    assert drain(svc.unit.transaction, transport, lambda: T0, "w1").sent == 2
    # The server goes away and comes back (a restart): the kept connection is dead.
    smtp.stop()
    smtp.start()
    second = add_mail(svc, ["c@example.gov.br", "d@example.gov.br"])
    report = drain(svc.unit.transaction, transport, lambda: T0, "w1")
    # Nothing of the first message reached the dead connection: it went on a new one,
    # at once, not after a back-off.
    assert (report.sent, report.retrying) == (2, 0), report.errors
    assert transport.connections == 2
    assert sorted(smtp.handler.message_ids()) == sorted(first + second)  # each once
    assert all(r.status == "sent" and r.attempts == 1 for r in rows(svc))
    transport.close()


def test_a_refused_recipient_keeps_the_connection(svc: Chamados, smtp: SmtpServer) -> None:
    add_mail(svc, ["ok1@example.gov.br", "nao.existe@example.gov.br", "ok2@example.gov.br"])
    smtp.handler.refuse.add("nao.existe@example.gov.br")
    transport = smtp.transport()
    report = drain(svc.unit.transaction, transport, lambda: T0, "w1")
    assert (report.sent, report.failed) == (2, 1)
    assert transport.connections == 1 and smtp.handler.connections() == 1
    transport.close()


# --- several claimers at once ----------------------------------------------------------------


def _second_node(svc: Chamados) -> Chamados:
    """Another process on the same database: its own engine, pool and caches."""
    settings = Settings(**svc.settings.__dict__)
    return Chamados.from_settings(settings)


def test_concurrent_claimers_on_two_nodes_deliver_each_message_once(
    svc: Chamados, smtp: SmtpServer
) -> None:
    ids = add_mail(svc, [f"pessoa{i}@d{i % 3}.example.gov.br" for i in range(120)])
    other = _second_node(svc)
    start = threading.Barrier(4)
    sent_by: dict[str, int] = {}
    errors: list[BaseException] = []

    def claimer(node: Chamados, name: str) -> None:
        try:
            transport = smtp.transport()
            start.wait()
            report = drain(node.unit.transaction, transport, lambda: T0, name, batch=5)
            transport.close()
            assert report.retrying == report.failed == 0, report.errors
            sent_by[name] = report.sent
        except BaseException as exc:  # surfaced in the main thread below
            errors.append(exc)

    threads = [
        threading.Thread(target=claimer, args=(node, f"{label}{n}"))
        for label, node in (("a", svc), ("b", other))
        for n in (1, 2)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    other.unit.dispose()
    assert not errors, errors
    assert sum(sent_by.values()) == 120
    assert sorted(smtp.handler.message_ids()) == sorted(ids)  # each exactly once
    assert all(r.status == "sent" and r.attempts == 1 and r.leased_by is None for r in rows(svc))


# --- back-off per recipient domain -----------------------------------------------------------


def test_a_failing_domain_backs_off_while_others_deliver(svc: Chamados, smtp: SmtpServer) -> None:
    addresses = [f"p{i}@{'fora.example.org' if i % 2 else 'example.gov.br'}" for i in range(20)]
    add_mail(svc, addresses)
    smtp.handler.defer_domains.add("fora.example.org")
    transport = smtp.transport()

    report = drain(svc.unit.transaction, transport, lambda: T0, "w1", batch=50)
    # The good domain's ten went out; of the bad one's, one was tried, nine wait untried.
    assert (report.sent, report.retrying, report.deferred) == (10, 1, 9)
    assert {r.rcpt_tos[0].rpartition("@")[2] for r in smtp.handler.received} == {"example.gov.br"}
    bad = [r for r in rows(svc) if r.to_domain == "fora.example.org"]
    assert sorted(r.attempts for r in bad) == [0] * 9 + [1]
    assert all(r.status == "pending" and r.lease_until is None for r in bad)
    (hold,) = holds(svc).values()
    assert (hold.domain, hold.failures, hold.until) == (
        "fora.example.org",
        1,
        T0 + timedelta(minutes=1),
    )
    assert "450" in (hold.last_error or "")

    # Held: no claim takes the domain's mail, while new mail elsewhere still goes at once.
    add_mail(svc, ["nova@example.gov.br"], now=T0 + timedelta(seconds=30))
    t30 = T0 + timedelta(seconds=30)
    assert svc.unit.read_one(lambda c: outbox.any_due(c, t30))
    report = drain(svc.unit.transaction, transport, lambda: t30, "w1")
    assert (report.claimed, report.sent) == (1, 1)
    assert not svc.unit.read_one(lambda c: outbox.any_due(c, t30))

    # The hold ends, the domain still refuses: held again, for longer (5 minutes).
    t1 = T0 + timedelta(minutes=1)
    report = drain(svc.unit.transaction, transport, lambda: t1, "w1")
    assert report.sent == 0 and report.retrying == 1
    assert holds(svc)["fora.example.org"].failures == 2
    assert holds(svc)["fora.example.org"].until == t1 + timedelta(minutes=5)

    # The domain takes mail again: every message of it goes, and the hold is lifted.
    smtp.handler.defer_domains.clear()
    t2 = t1 + timedelta(minutes=5)
    report = drain(svc.unit.transaction, transport, lambda: t2, "w1")
    assert (report.sent, report.retrying) == (10, 0)
    assert holds(svc) == {}
    assert all(r.status == "sent" for r in rows(svc))
    assert len(smtp.handler.received) == 21
    assert len(set(smtp.handler.message_ids())) == 21
    transport.close()


# --- waking the senders ----------------------------------------------------------------------


def _enqueue_receipt(session: Session) -> None:
    enqueue(
        session,
        "chamado_registrado",
        "a@example.gov.br",
        CASES["chamado_registrado"][0],
        chamado_id=None,
        base_url=BASE,
        now=T0,
    )


def test_a_commit_that_enqueues_rings_and_a_rollback_does_not(svc: Chamados) -> None:
    before = outbox.WAKEUP.rung
    with pytest.raises(RuntimeError):
        with svc.unit.transaction() as session:
            _enqueue_receipt(session)
            raise RuntimeError("desfeito")
    assert outbox.WAKEUP.rung == before
    add_mail(svc, ["a@example.gov.br"])
    assert outbox.WAKEUP.rung > before


def test_a_session_rings_for_its_own_commit_only(svc: Chamados) -> None:
    """Every session is listened to once (engine.outbox): what one session enqueued and
    rolled back rings nothing at its next commit, nor at another session's."""
    session = svc.unit.session_factory()
    try:
        before = outbox.WAKEUP.rung
        session.begin()
        _enqueue_receipt(session)
        session.rollback()
        with session.begin():
            pass
        with svc.unit.transaction():
            pass
        assert outbox.WAKEUP.rung == before
        with session.begin():
            _enqueue_receipt(session)
        assert outbox.WAKEUP.rung == before + 1
        with session.begin():
            pass
        assert outbox.WAKEUP.rung == before + 1
    finally:
        session.close()


def test_senders_wake_on_commit_not_on_the_poll(
    svc: Chamados, smtp: SmtpServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = MailSettings(smtp_host="127.0.0.1", smtp_port=smtp.port, senders=2)
    # A poll of a minute: only the wake-up can deliver within the few seconds allowed.
    mailer = Mailer(svc.unit, settings, "teste", poll_seconds=60)
    mailer.start()
    try:
        time.sleep(0.3)  # both senders found nothing and wait
        ids = add_mail(svc, [f"p{i}@example.gov.br" for i in range(40)], now=svc.clock())
        wait_until(
            lambda: len(smtp.handler.received) >= 40,
            10,
            "os remetentes acordarem com o commit",
            interval=0.05,
        )
    finally:
        mailer.stop()
    assert sorted(smtp.handler.message_ids()) == sorted(ids)
    assert sum(r.sent for r in mailer.reports) == 40
    assert smtp.handler.connections() <= 2 + 1  # kept connections, not one per message


def test_mail_arriving_one_by_one_is_claimed_in_few_batches(
    svc: Chamados, smtp: SmtpServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each commit rings the senders; a sender that just delivered gathers what rings
    meanwhile (Mailer.coalesce_seconds) into one claim instead of one claim per message."""
    claims = counted_claims(monkeypatch)
    settings = MailSettings(smtp_host="127.0.0.1", smtp_port=smtp.port, senders=1)
    mailer = Mailer(svc.unit, settings, "teste", poll_seconds=60, coalesce_seconds=0.5)
    mailer.start()
    ids: list[str] = []
    try:
        time.sleep(0.2)
        started = time.monotonic()
        for i in range(40):  # one commit (and one ring) each, ~every 10 ms
            ids += add_mail(svc, [f"p{i}@example.gov.br"], now=svc.clock())
            time.sleep(0.01)
        took = time.monotonic() - started
        wait_until(
            lambda: len(smtp.handler.received) >= 40, 10, "a entrega dos e-mails", interval=0.05
        )
    finally:
        mailer.stop()
    assert sorted(smtp.handler.message_ids()) == sorted(ids)  # each once
    # At most one claim per 0.5 s while mail kept coming, the first at once, and the
    # last one (or two) after it stopped; one claim per message before.
    assert sum(claims) == 40
    assert len([n for n in claims if n]) <= took / 0.5 + 3, claims


def test_another_process_commit_is_heard_on_postgresql(svc: Chamados) -> None:
    if svc.unit.db.dialect.name != "postgresql":
        pytest.skip("NOTIFY/LISTEN existe só no PostgreSQL (no SQLite os remetentes consultam)")
    wakeup, stop = Wakeup(), threading.Event()
    listener = threading.Thread(target=PgListener(svc.unit, wakeup, stop).run, daemon=True)
    listener.start()
    try:
        deadline = time.monotonic() + 10
        while wakeup.rung == 0:  # rung once when listening starts
            assert time.monotonic() < deadline
            time.sleep(0.02)
        seen = wakeup.rung
        other = _second_node(svc)  # the commit comes from another engine
        add_mail(other, ["x@example.gov.br"])
        other.unit.dispose()
        assert wakeup.wait(seen, 10) != seen, "o NOTIFY do commit não chegou"
    finally:
        stop.set()
        listener.join(5)


def test_a_crash_after_send_is_resent_with_the_same_message_id_by_a_sender(
    svc: Chamados, smtp: SmtpServer
) -> None:
    (message_id,) = add_mail(svc, ["a@example.gov.br"])
    real = smtp.transport()

    class CrashAfterSend:
        def send(self, mail: outbox.OutgoingMail) -> None:
            real.send(mail)
            raise SystemExit("processo encerrado antes de marcar como enviado")

    with pytest.raises(SystemExit):
        drain(svc.unit.transaction, CrashAfterSend(), lambda: T0, "w1")
    # No other claimer takes it while the lease lasts; then it goes again, same Message-ID.
    assert drain(svc.unit.transaction, real, lambda: T0 + outbox.LEASE / 2, "w2").claimed == 0
    later = T0 + outbox.LEASE + timedelta(seconds=1)
    assert deliver_due(svc.unit.transaction, real, later, "w2").sent == 1
    assert smtp.handler.message_ids() == [message_id, message_id]
    real.close()


def test_a_line_break_in_a_header_is_refused_for_good_never_sent(
    svc: Chamados, smtp: SmtpServer
) -> None:
    add_mail(svc, ["vitima@example.gov.br\r\nBcc: todos@example.gov.br", "ok@example.gov.br"])
    report = drain(svc.unit.transaction, smtp.transport(), lambda: T0, "w1")
    assert (report.sent, report.failed) == (1, 1)
    (bad,) = [r for r in rows(svc) if r.status == "failed"]
    assert "Mensagem inválida" in (bad.last_error or "")
    assert [r.rcpt_tos for r in smtp.handler.received] == [["ok@example.gov.br"]]
    assert "Bcc" not in smtp.handler.received[0].message
