"""LGPD through the engine's use cases: who read whose data, "Meus dados", retention and
anonymisation, the erasure request process (engine.usecases.privacy)."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest
from sqlalchemy import JSON, LargeBinary, String, Text, func, select, text

from engine import outbox
from engine.errors import Forbidden, NotFound, ValidationFailed
from engine.models import (
    Attachment,
    AuditEvent,
    Base,
    Chamado,
    DataAccess,
    DataCopy,
    OutboxMessage,
    SatisfactionSurvey,
    SearchEntry,
    Submission,
    User,
)
from engine.service import ActorRef, Chamados
from tests.conftest import FakeClock, add_person, full_copy
from tests.test_attachments import make_pdf
from tests.test_engine_lifecycle import chamado, decide, open_task, registration

JOAO_CPF = "85351346893"
JOAO_NAME = "João Pereira Lima"
JOAO_MAIL = "joao.lima@exemplo.com.br"
JOAO_PHONE = "(61) 98888-7777"
OTHER_CPF = "39053344705"


def _person(svc: Chamados, cpf: str, name: str, email: str, *roles: str) -> ActorRef:
    actor = add_person(svc, cpf, name, *roles)
    with svc.unit.transaction() as s:
        user = s.get(User, actor.id)
        assert user is not None
        user.email, user.phone = email, JOAO_PHONE if cpf == JOAO_CPF else None
    return actor


def _ticket_with_everything(svc: Chamados, person: ActorRef, name: str, email: str) -> int:
    """A chamado with typed personal data, an attachment and mail, resolved by staff."""
    c = svc.requests.start_chamado(person, "chamado")
    task = open_task(svc, c.id)
    file = svc.requests.add_attachment(person, task.id, "rg-digitalizado.pdf", make_pdf())
    data = registration(
        solicitante_nome=name,
        solicitante_email=email,
        telefone=JOAO_PHONE,
        email_institucional=email,
        detalhamento=f"Sou {name}, CPF {JOAO_CPF}, e o serviço falha para mim.",
        observacoes=f"Escreva para {email}.",
        anexos=[file],
    )
    svc.requests.complete_task(person, task.id, data, chamado(svc, c.id).version)
    return c.id


def _deliver(svc: Chamados) -> Path:
    folder = svc.settings.instance_dir / "mail"
    outbox.deliver_due(svc.unit.transaction, outbox.CaptureTransport(folder), svc.clock(), "test")
    return folder


def _every_text(svc: Chamados) -> list[tuple[str, str, str]]:
    """(table, column, value) of every text-like column of every table."""
    found = []
    with svc.unit.db.connect() as conn:
        for table in Base.metadata.sorted_tables:
            columns = [
                c
                for c in table.columns
                if isinstance(c.type, String | Text | JSON | LargeBinary)
                or "JSON" in type(c.type).__name__
            ]
            for column in columns:
                for (value,) in conn.execute(select(column)):
                    if value is None:
                        continue
                    if isinstance(value, bytes):
                        value = value.decode("latin-1")
                    elif not isinstance(value, str):
                        value = json.dumps(value, ensure_ascii=False)
                    found.append((table.name, column.name, value))
    return found


def _leaks(svc: Chamados, needles: list[str]) -> list[tuple[str, str]]:
    lowered = [n.lower() for n in needles]
    return [
        (table, column)
        for table, column, value in _every_text(svc)
        if any(n in value.lower() for n in lowered)
    ]


# --- who read whose data ---------------------------------------------------------------


def _records(svc: Chamados) -> list[tuple[int, int | None, int | None, str]]:
    with svc.unit.session_factory() as s:
        return [
            (r.actor_id, r.subject_id, r.chamado_id, r.channel)
            for r in s.scalars(select(DataAccess).order_by(DataAccess.id))
        ]


def test_staff_reads_are_recorded_and_own_reads_are_not(tsvc: Chamados) -> None:
    svc = tsvc
    joao = _person(svc, JOAO_CPF, JOAO_NAME, JOAO_MAIL)
    ana = add_person(svc, "11144477735", "Ana Souza", "analyst")
    cid = _ticket_with_everything(svc, joao, JOAO_NAME, JOAO_MAIL)
    svc.requests.tracking(joao, cid)  # the person's own read
    with svc.unit.session_factory() as s:
        attachment_id = s.scalar(select(Attachment.id).where(Attachment.chamado_id == cid))
    assert attachment_id is not None
    svc.requests.attachment(joao, attachment_id)
    assert _records(svc) == []
    svc.analysis.analysis(ana, cid)
    svc.analysis.analysis(ana, cid, channel="api")
    svc.requests.attachment(ana, attachment_id)
    assert _records(svc) == [
        (ana.id, joao.id, cid, "pagina"),
        (ana.id, joao.id, cid, "api"),
        (ana.id, joao.id, cid, "anexo"),
    ]
    # A member of staff reading their own ticket is the person, not staff.
    own = svc.requests.start_chamado(ana, "chamado")
    svc.analysis.analysis(ana, own.id)
    assert len(_records(svc)) == 3
    # The person sees it in "Meus dados"; admins per ticket and per person.
    mine = full_copy(svc, joao)["acessos_por_servidores"]
    assert [(a["quem"], a["canal"]) for a in mine] == [
        ("Ana Souza", "Download de anexo"),
        ("Ana Souza", "Leitura do chamado pela API"),
        ("Ana Souza", "Página de análise do chamado"),
    ]
    carlos = add_person(svc, "52998224725", "Carlos Admin", "admin")
    ticket, rows = svc.privacy.accesses_for_chamado(carlos, protocolo=chamado(svc, cid).protocolo)
    assert ticket.id == cid and len(rows) == 3
    person, rows = svc.privacy.accesses_for_person(carlos, "853.513.468-93")
    assert person.id == joao.id and {r.channel for r in rows} == {"pagina", "api", "anexo"}
    with pytest.raises(Forbidden):
        svc.privacy.accesses_for_person(ana, JOAO_CPF)
    with pytest.raises(ValidationFailed):
        svc.privacy.accesses_for_person(carlos, "123")
    with pytest.raises(NotFound):
        svc.privacy.accesses_for_chamado(carlos, protocolo="CH-1999-000001")


# --- Meus dados ------------------------------------------------------------------------


def test_my_data_holds_mine_and_nothing_of_anyone_else(tsvc: Chamados) -> None:
    svc = tsvc
    joao = _person(svc, JOAO_CPF, JOAO_NAME, JOAO_MAIL)
    maria = _person(svc, OTHER_CPF, "Maria da Silva", "maria.silva@exemplo.com.br")
    ana = add_person(svc, "11144477735", "Ana Souza", "analyst")
    mine = _ticket_with_everything(svc, joao, JOAO_NAME, JOAO_MAIL)
    hers = _ticket_with_everything(svc, maria, "Maria da Silva", "maria.silva@exemplo.com.br")
    svc.analysis.analysis(ana, hers)
    _deliver(svc)
    doc = full_copy(svc, joao)
    assert doc["formato"] == "chamados.meus-dados/1"
    assert doc["conta"]["cpf"] == "853.513.468-93" and doc["conta"]["email"] == JOAO_MAIL
    assert [i["protocolo"] for i in doc["solicitacoes"]] == [chamado(svc, mine).protocolo]
    answers = doc["solicitacoes"][0]["respostas"][0]["dados"]
    assert answers["solicitante_nome"] == JOAO_NAME
    files = doc["solicitacoes"][0]["arquivos"]
    assert files[0]["nome_do_arquivo"] == "rg-digitalizado.pdf" and files[0]["tamanho"] > 0
    assert doc["emails"] and {m["para"] for m in doc["emails"]} == {JOAO_MAIL}
    assert doc["acessos_por_servidores"] == []  # Ana read Maria's ticket, not his
    whole = json.dumps(doc, ensure_ascii=False)
    assert "Maria" not in whole and OTHER_CPF not in whole and "390.533.447-05" not in whole
    assert chamado(svc, hers).protocolo not in whole


# --- retention and anonymisation ---------------------------------------------------------


def _close_old_ticket(svc: Chamados, clock: FakeClock) -> tuple[ActorRef, int, ActorRef]:
    joao = _person(svc, JOAO_CPF, JOAO_NAME, JOAO_MAIL)
    ana = add_person(svc, "11144477735", "Ana Souza", "analyst")
    cid = _ticket_with_everything(svc, joao, JOAO_NAME, JOAO_MAIL)
    decide(svc, ana, cid, {"decisao": "resolver", "resposta": f"Pronto, {JOAO_NAME}."})
    svc.analysis.analysis(ana, cid)
    _deliver(svc)
    return joao, cid, ana


def test_retention_anonymises_and_keeps_the_statistics(tsvc: Chamados, clock: FakeClock) -> None:
    svc = tsvc
    joao, cid, ana = _close_old_ticket(svc, clock)
    before = chamado(svc, cid)
    assert before.closed_at is not None and before.status == "resolvido"
    folder = svc.settings.instance_dir / "mail"
    assert list(folder.glob("*.eml"))
    needles = [JOAO_CPF, "853.513.468-93", JOAO_NAME, JOAO_MAIL, JOAO_PHONE]
    # His answer to "O atendimento resolveu seu problema?", signed in the comment.
    svc.satisfaction.answer(joao, cid, "4", f"Resolvido. {JOAO_NAME}, {JOAO_PHONE}")
    # A complete copy of "Meus dados" (stored gzip-compressed) and its e-mail, captured.
    assert JOAO_NAME in json.dumps(full_copy(svc, joao), ensure_ascii=False)
    _deliver(svc)
    assert _leaks(svc, needles)  # the scan can fail: the data is there before
    with svc.unit.session_factory() as s:
        s.execute(text("UPDATE users SET last_login_at = :t"), {"t": clock()})
        s.commit()
    assert svc.privacy.due() == []  # 1825 days (the model's retentionDays) not reached
    clock.advance(days=1826)
    due = svc.privacy.due()
    assert [(d.chamado_id, d.reason) for d in due] == [(cid, "prazo")]
    report = svc.privacy.run_retention()
    assert report.instances == 1 and report.accounts == 1
    after = chamado(svc, cid)
    # Protocol, dates, statuses, process, órgão and problem type stay.
    assert after.protocolo == before.protocolo
    assert (after.created_at, after.submitted_at, after.closed_at) == (
        before.created_at,
        before.submitted_at,
        before.closed_at,
    )
    assert (after.status, after.status_label) == (before.status, before.status_label)
    assert after.process_version_id == before.process_version_id
    assert (after.orgao_id, after.categoria) == (before.orgao_id, before.categoria)
    assert after.anonymized_at is not None
    with svc.unit.session_factory() as s:
        data = s.scalars(select(Submission.data).where(Submission.chamado_id == cid)).all()
        assert data[0]["tipo_problema"] == "erro_api" and data[0]["orgao"] == 1934
        assert "detalhamento" not in data[0] and data[0]["anexos"] == []
        assert data[1]["decisao"] == "resolver" and "resposta" not in data[1]
        assert s.scalar(select(func.count()).select_from(Attachment)) == 0
        assert all(m.body_text == "" for m in s.scalars(select(OutboxMessage)))
        survey = s.get(SatisfactionSurvey, cid)
        assert survey is not None and (survey.rating, survey.comment) == (4, None)
        assert s.scalar(select(func.count()).select_from(SearchEntry)) == 0
        actions = s.scalars(
            select(AuditEvent.action).where(AuditEvent.action == "dados.anonimizados")
        ).all()
        assert actions == ["dados.anonimizados"]
    # Nothing of the person remains, in any table or in the captured mail.
    assert _leaks(svc, needles) == []
    assert not list(folder.glob("*.eml"))
    with svc.unit.session_factory() as s:
        assert s.scalar(select(func.count()).select_from(DataCopy)) == 0  # the copy too
    # Staff pages still open it; the record of who read it stays (ids only).
    view = svc.analysis.analysis(ana, cid)
    assert view.chamado.protocolo == before.protocolo
    assert svc.privacy.run_retention().instances == 0  # once


def test_retention_runs_once_across_concurrent_schedulers(tsvc: Chamados, clock: FakeClock) -> None:
    svc = tsvc
    joao, cid, _ana = _close_old_ticket(svc, clock)
    clock.advance(days=1826)
    results: list[int] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            results.append(svc.privacy.run_retention().instances)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and sorted(results) == [0, 0, 1]
    with svc.unit.session_factory() as s:
        assert (
            s.scalar(
                select(func.count())
                .select_from(AuditEvent)
                .where(AuditEvent.action == "dados.anonimizados")
            )
            == 1
        )


def test_an_admin_sets_the_retention_of_a_process(tsvc: Chamados, clock: FakeClock) -> None:
    svc = tsvc
    joao, cid, ana = _close_old_ticket(svc, clock)
    carlos = add_person(svc, "52998224725", "Carlos Admin", "admin")
    rows = {r.process_id: r for r in svc.privacy.retention(carlos)}
    assert rows["chamado"].declared_days == 1825 and rows["chamado"].days == 1825
    with pytest.raises(ValidationFailed):
        svc.privacy.set_retention(carlos, "chamado", "zero")
    with pytest.raises(ValidationFailed):
        svc.privacy.set_retention(carlos, "chamado", "0")
    with pytest.raises(NotFound):
        svc.privacy.set_retention(carlos, "nao_existe", "10")
    with pytest.raises(Forbidden):
        svc.privacy.set_retention(ana, "chamado", "10")
    svc.privacy.set_retention(carlos, "chamado", "30")
    assert {r.process_id: r.days for r in svc.privacy.retention(carlos)}["chamado"] == 30
    clock.advance(days=31)
    assert [d.chamado_id for d in svc.privacy.due(carlos)] == [cid]
    assert svc.privacy.run_retention(carlos).instances == 1
    svc.privacy.set_retention(carlos, "chamado", "")  # back to the model's
    assert {r.process_id: r.days for r in svc.privacy.retention(carlos)}["chamado"] == 1825


def test_an_erasure_request_goes_to_the_admins_and_makes_closed_tickets_due(
    tsvc: Chamados, clock: FakeClock
) -> None:
    svc = tsvc
    joao, cid, _ana = _close_old_ticket(svc, clock)
    # The lane "Encarregado de dados (LGPD)" is the group data/groups.json seeds, whose
    # members are the admins (who also work queues as analysts).
    carlos = add_person(svc, "52998224725", "Carlos Admin", "admin", "analyst")
    services = svc.privacy.erasure_services()
    assert [s.process_id for s in services] == ["pedido_eliminacao_dados"]
    assert "pedido_eliminacao_dados" not in {s.process_id for s in svc.requests.services()}
    clock.advance(days=1)
    req, first = svc.requests.start_instance(joao, "pedido_eliminacao_dados")
    assert first is not None
    svc.requests.complete_task(
        joao,
        first.id,
        {"abrangencia": "encerradas", "confirmo": True},
        chamado(svc, req.id).version,
    )
    task = open_task(svc, req.id)
    assert task.group == "encarregado-dados"
    svc.analysis.claim(carlos, task.id)
    svc.requests.complete_task(
        carlos,
        task.id,
        {"decisao": "atender", "resposta": "Eliminamos os dados das solicitações encerradas."},
        chamado(svc, req.id).version,
    )
    assert chamado(svc, req.id).status == "atendido"
    due = svc.privacy.due()
    # The old ticket is due at once; the request itself keeps its record.
    assert [(d.chamado_id, d.reason) for d in due] == [(cid, "pedido")]
    assert svc.privacy.run_retention().instances == 1
    assert chamado(svc, cid).anonymized_at is not None
    assert chamado(svc, req.id).anonymized_at is None


def test_the_scheduler_runs_the_retention_job(tsvc: Chamados, clock: FakeClock) -> None:
    svc = tsvc
    _joao, cid, _ana = _close_old_ticket(svc, clock)
    clock.advance(days=1826)
    scheduler = svc.scheduler(interval_seconds=5)
    job = scheduler.get_job("retention")
    assert job is not None and job.trigger.interval.total_seconds() == 600
    assert job.func() == 1  # what the scheduler calls every ten minutes
    assert chamado(svc, cid).anonymized_at is not None
    assert job.func() == 0


def test_a_staff_read_never_waits_for_a_writer_and_its_record_is_kept(tsvc: Chamados) -> None:
    import time

    from tests.conftest import writer_holding_the_lock

    svc = tsvc
    joao = _person(svc, JOAO_CPF, JOAO_NAME, JOAO_MAIL)
    ana = add_person(svc, "11144477735", "Ana Souza", "analyst")
    cid = _ticket_with_everything(svc, joao, JOAO_NAME, JOAO_MAIL)
    busy = Chamado.__table__.update().values(servico="sendo alterado")
    with writer_holding_the_lock(svc, busy):
        started = time.monotonic()
        svc.analysis.analysis(ana, cid)
        svc.analysis.analysis(ana, cid, channel="api")
        assert time.monotonic() - started < 5
    # Written once the lock is free (SQLite: from the process's buffer), none lost.
    seen = full_copy(svc, joao)["acessos_por_servidores"]
    assert sorted(a["canal"] for a in seen) == [
        "Leitura do chamado pela API",
        "Página de análise do chamado",
    ]
    assert len(svc.unit.access_buffer) == 0
