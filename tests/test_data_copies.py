"""The complete copy of "Meus dados" (LGPD art. 19, II) through the engine: asked for,
built by the scheduler's job in bounded reads with nothing left out (past the 1,000
instances the old document stopped at), announced by e-mail through a real SMTP server,
downloaded by its owner only, one pending request per person, built once whatever the
number of schedulers, expired and deleted (engine.data_copies, engine.personal_data)."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, insert, select

from engine import data_copies, outbox, personal_data
from engine.errors import Conflict, NotFound
from engine.models import AuditEvent, Chamado, DataCopy, OutboxMessage, UserSession
from engine.service import ActorRef, Chamados
from tests.conftest import FakeClock, add_person, full_copy
from tests.smtp_server import SmtpServer
from tests.test_engine_lifecycle import chamado
from tests.test_privacy import (
    JOAO_CPF,
    JOAO_MAIL,
    JOAO_NAME,
    OTHER_CPF,
    _deliver,
    _person,
    _ticket_with_everything,
)


def _doc(svc: Chamados, person: ActorRef) -> dict[str, Any]:
    return json.loads(b"".join(svc.privacy.my_copy(person).json_chunks()))


def _rows(svc: Chamados) -> list[tuple[int, str]]:
    with svc.unit.session_factory() as s:
        return [(c.user_id, c.status) for c in s.scalars(select(DataCopy).order_by(DataCopy.id))]


def _copy_mails(svc: Chamados) -> list[OutboxMessage]:
    with svc.unit.session_factory() as s:
        return list(s.scalars(select(OutboxMessage).where(OutboxMessage.kind == data_copies.MAIL)))


def _past_instances(svc: Chamados, person: ActorRef, like: int, n: int) -> list[str]:
    """``n`` more instances of ``person``, copies of instance ``like`` (Core inserts:
    a history the size of a long-standing requester's, in a second)."""
    table = Chamado.__table__
    with svc.unit.transaction() as s:
        model = s.execute(select(table).where(table.c.id == like)).mappings().one()
        start = s.scalar(select(func.max(table.c.id))) or 0
        rows = []
        for i in range(n):
            row = {k: v for k, v in model.items() if k != "id"}
            row.update(
                id=start + 1 + i,
                protocolo=f"CH-2020-{900000 + i:06d}",
                requester_id=person.id,
                created_at=datetime(2020, 1, 1, tzinfo=UTC) + timedelta(minutes=i),
            )
            rows.append(row)
        s.execute(insert(table), rows)
    return [r["protocolo"] for r in rows]


def test_a_copy_is_asked_built_announced_and_downloaded_with_every_instance(
    tsvc: Chamados, clock: FakeClock, smtp: SmtpServer
) -> None:
    svc = tsvc
    joao = _person(svc, JOAO_CPF, JOAO_NAME, JOAO_MAIL)
    maria = _person(svc, OTHER_CPF, "Maria da Silva", "maria.silva@exemplo.com.br")
    mine = _ticket_with_everything(svc, joao, JOAO_NAME, JOAO_MAIL)
    hers = _ticket_with_everything(svc, maria, "Maria da Silva", "maria.silva@exemplo.com.br")
    past = _past_instances(svc, joao, mine, 1_010)  # past the old document's 1,000
    _deliver(svc)
    svc.privacy.copy_chunk = 300  # four pages of instances
    with pytest.raises(NotFound):
        svc.privacy.my_copy(joao)
    assert svc.privacy.my_data(joao).copy is None
    svc.privacy.request_copy(joao)
    state = svc.privacy.my_data(joao).copy
    assert state is not None and state.status == "pending" and state.requested_at == clock()
    # A second request while one is pending changes nothing, and says so.
    with pytest.raises(Conflict, match="ainda está sendo preparada"):
        svc.privacy.request_copy(joao)
    assert _rows(svc) == [(joao.id, "pending")]
    with pytest.raises(NotFound):
        svc.privacy.my_copy(joao)  # not ready yet

    clock.advance(minutes=1)
    assert svc.privacy.build_copies("agendador-1") == 1
    assert svc.privacy.build_copies("agendador-1") == 0  # nothing left to build
    doc = _doc(svc, joao)
    protocols = [i["protocolo"] for i in doc["solicitacoes"]]
    assert protocols == [*past, chamado(svc, mine).protocolo]  # oldest first, all 1,011
    assert doc["formato"] == "chamados.meus-dados/1" and doc["gerado_em"] == clock().isoformat()
    assert doc["conta"]["cpf"] == "853.513.468-93" and doc["conta"]["email"] == JOAO_MAIL
    first = next(i for i in doc["solicitacoes"] if i["protocolo"] == chamado(svc, mine).protocolo)
    assert first["respostas"][0]["dados"]["solicitante_nome"] == JOAO_NAME
    assert first["arquivos"][0]["nome_do_arquivo"] == "rg-digitalizado.pdf"
    assert doc["emails"] and {m["para"] for m in doc["emails"]} == {JOAO_MAIL}
    whole = json.dumps(doc, ensure_ascii=False)
    assert "Maria" not in whole and chamado(svc, hers).protocolo not in whole
    state = svc.privacy.my_data(joao).copy
    assert state is not None and state.status == "ready" and state.instances == 1_011
    assert state.expires_at == clock() + timedelta(days=7)
    # The summary counts stop at the cap: as cheap for 1,011 instances as for 1.
    counts = svc.privacy.my_data(joao).counts
    assert counts["solicitacoes_encerradas"] + counts["solicitacoes_abertas"] >= 500

    # The e-mail, through a real SMTP server: to his gov.br address, in pt-BR.
    [mail] = _copy_mails(svc)
    assert mail.to_addr == JOAO_MAIL and mail.chamado_id is None
    report = outbox.deliver_due(svc.unit.transaction, smtp.transport(), clock(), "teste")
    assert report.sent == 1
    [received] = smtp.handler.received
    assert received.rcpt_tos == [JOAO_MAIL]
    assert str(received.message["Subject"]) == "A cópia completa dos seus dados está pronta"
    body = received.message.get_body(("plain",))
    assert body is not None
    text = body.get_content()
    assert "1011 solicitação(ões)" in text and "/meus-dados" in text
    assert "Ele fica disponível até 04/12/2026 às 18:01" in text

    # Only the owner: Maria has no copy and gets nothing of his.
    with pytest.raises(NotFound):
        svc.privacy.my_copy(maria)
    # A new copy once a day: before that a request changes nothing, and says until when.
    state = svc.privacy.my_data(joao).copy
    assert state is not None and state.next_request_at == clock() + timedelta(hours=24)
    with pytest.raises(Conflict, match="a partir de 28/11/2026 às 18:01"):
        svc.privacy.request_copy(joao)
    assert _rows(svc) == [(joao.id, "ready")]
    clock.advance(hours=24)
    assert svc.privacy.my_data(joao).copy.next_request_at is None  # type: ignore[union-attr]
    # A new request replaces the ready copy once built.
    svc.privacy.request_copy(joao)
    assert _rows(svc) == [(joao.id, "ready"), (joao.id, "pending")]
    assert _doc(svc, joao)["gerado_em"] == doc["gerado_em"]  # the old one meanwhile
    clock.advance(minutes=1)
    assert svc.privacy.build_copies("agendador-1") == 1
    assert _rows(svc) == [(joao.id, "ready")]
    assert _doc(svc, joao)["gerado_em"] == clock().isoformat()

    # Expiry: after 7 days the copy is gone, and the job deletes it.
    clock.advance(days=7)
    with pytest.raises(NotFound):
        svc.privacy.my_copy(joao)
    assert svc.privacy.my_data(joao).copy is None
    assert _rows(svc) == [(joao.id, "ready")]  # until the job runs
    assert svc.privacy.build_copies("agendador-1") == 0
    assert _rows(svc) == []
    with svc.unit.session_factory() as s:
        built = s.scalars(select(AuditEvent).where(AuditEvent.action == "dados.copia_gerada"))
        assert [e.details["solicitacoes"] for e in built] == [1_011, 1_011]


def test_every_part_is_read_in_pages_and_the_chunk_changes_nothing(
    tsvc: Chamados, clock: FakeClock
) -> None:
    """Instances, e-mails, sessions and staff reads, each across several pages of 2,
    give the same document as one read of each."""
    svc = tsvc
    joao = _person(svc, JOAO_CPF, JOAO_NAME, JOAO_MAIL)
    ana = add_person(svc, "11144477735", "Ana Souza", "analyst")
    tickets = [_ticket_with_everything(svc, joao, JOAO_NAME, JOAO_MAIL) for _ in range(3)]
    for cid in tickets:
        svc.analysis.analysis(ana, cid)
        clock.advance(seconds=1)
        svc.analysis.analysis(ana, cid, channel="api")
        clock.advance(seconds=1)
    with svc.unit.transaction() as s:
        for i in range(5):
            at = clock()
            s.add(
                UserSession(
                    token_hash=f"{i:064d}",
                    user_id=joao.id,
                    created_at=at,
                    last_seen_at=at,
                    user_agent=f"Navegador {i}",
                )
            )
    _deliver(svc)
    svc.privacy.copy_chunk = 2
    paged = full_copy(svc, joao)
    svc.privacy.copy_chunk = 1000
    whole = full_copy(svc, joao)
    assert paged == whole
    # Written as json.dumps(doc, indent=2) writes it, though part by part.
    raw = b"".join(svc.privacy.my_copy(joao).json_chunks()).decode("utf-8")
    assert raw == json.dumps(whole, ensure_ascii=False, indent=2) + "\n"
    assert len(paged["solicitacoes"]) == 3 and len(paged["sessoes"]) == 5
    assert len(paged["acessos_por_servidores"]) == 6 and len(paged["emails"]) >= 3
    assert [s["navegador"] for s in paged["sessoes"]] == [
        f"Navegador {i}" for i in range(4, -1, -1)
    ]
    # The summary's counts agree with the complete copy; so do the e-mails of each
    # instance listed.
    view = svc.privacy.my_data(joao)
    assert sum(r.emails for r in view.recent) == len(whole["emails"])
    assert [r.protocolo for r in view.recent] == [i["protocolo"] for i in whole["solicitacoes"]][
        ::-1
    ]
    counts = view.counts
    assert counts == {
        "solicitacoes_abertas": 3,
        "solicitacoes_encerradas": 0,
        "sessoes": 5,
        "acessos_por_servidores": 6,
        "problemas_acompanhados": 0,
    }
    reads = [a["em"] for a in paged["acessos_por_servidores"]]
    assert reads == sorted(set(reads), reverse=True)  # newest first, each once


def test_several_schedulers_build_one_request_once(tsvc: Chamados) -> None:
    svc = tsvc
    joao = _person(svc, JOAO_CPF, JOAO_NAME, JOAO_MAIL)
    _ticket_with_everything(svc, joao, JOAO_NAME, JOAO_MAIL)
    svc.privacy.request_copy(joao)
    start = threading.Barrier(4)
    built: list[int] = []
    errors: list[BaseException] = []

    def scheduler(n: int) -> None:
        try:
            start.wait()
            built.append(svc.privacy.build_copies(f"agendador-{n}"))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=scheduler, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and sorted(built) == [0, 0, 0, 1]
    assert len(_copy_mails(svc)) == 1 and _rows(svc) == [(joao.id, "ready")]


def test_a_builder_whose_lease_ended_stores_nothing(tsvc: Chamados, clock: FakeClock) -> None:
    """A scheduler that stalled past its lease: another one builds and announces the
    copy; the first one's late result is dropped (one copy, one e-mail)."""
    svc = tsvc
    joao = _person(svc, JOAO_CPF, JOAO_NAME, JOAO_MAIL)
    svc.privacy.request_copy(joao)
    stalled = data_copies.claim(svc.unit.transaction, clock(), "lento")
    assert stalled is not None and stalled.attempts == 1
    assert data_copies.claim(svc.unit.transaction, clock(), "outro") is None  # leased
    clock.advance(minutes=11)
    assert svc.privacy.build_copies("outro") == 1
    with pytest.raises(data_copies.LeaseLost):
        data_copies.renew(svc.unit.transaction, stalled, "lento", clock())
    with svc.unit.transaction() as s:
        assert data_copies.store(s, stalled, "lento", clock(), b"x", 1, 0) is None
    assert len(_copy_mails(svc)) == 1 and _rows(svc) == [(joao.id, "ready")]


def test_a_copy_that_keeps_failing_is_marked_and_may_be_asked_again(
    tsvc: Chamados, monkeypatch: pytest.MonkeyPatch
) -> None:
    svc = tsvc
    joao = _person(svc, JOAO_CPF, JOAO_NAME, JOAO_MAIL)
    svc.privacy.request_copy(joao)

    def broken(*_a: Any, **_k: Any) -> tuple[int, int]:
        raise RuntimeError("disco cheio")

    monkeypatch.setattr(personal_data, "write", broken)
    for _ in range(data_copies.MAX_ATTEMPTS):
        assert svc.privacy.build_copies("agendador") == 0
    state = svc.privacy.my_data(joao).copy
    assert state is not None and state.status == "failed"
    assert _copy_mails(svc) == []
    monkeypatch.undo()
    svc.privacy.request_copy(joao)  # a failed one does not block a new request
    assert svc.privacy.build_copies("agendador") == 1
    assert _rows(svc) == [(joao.id, "ready")]


def test_the_scheduler_builds_and_expires_copies(tsvc: Chamados) -> None:
    job = tsvc.scheduler().get_job("data_copies")
    assert job is not None
    joao = _person(tsvc, JOAO_CPF, JOAO_NAME, JOAO_MAIL)
    tsvc.privacy.request_copy(joao)
    assert job.func() == 1  # what each run of the job does
    assert _rows(tsvc) == [(joao.id, "ready")]
