"""The real processes/chamado.bpmn through every path, via the engine's use cases.

Every step goes through the database: the workflow is loaded from its saved
state, advanced and saved again, so the serialization round-trips each time.
"""

from __future__ import annotations

import threading
from typing import Any

import pytest
from sqlalchemy import func, select

from engine import runtime
from engine.errors import Conflict, Forbidden, NotFound, TaskNotReady, ValidationFailed
from engine.models import AuditEvent, Chamado, HumanTask, Submission
from engine.service import ActorRef, Chamados
from tests.conftest import add_person

INSS = 1934


def registration(**overrides: Any) -> dict[str, Any]:
    data = {
        "solicitante_nome": "Maria da Silva",
        "solicitante_email": "39053344705@example.gov.br",
        "telefone": "(61) 99999-9999",
        "email_institucional": "maria@inss.gov.br",
        "orgao": INSS,
        "nome_servico": "Aposentadoria por idade",
        "objetivo": "erro",
        "confirmo_dados": True,
        "tipo_solicitante": "analista_servico",
        "tipo_problema": "erro_api",
        "alcance_defeito": "alguns_protocolos",
        "detalhamento": "A API de consulta devolve erro 500 para protocolos antigos.",
        "protocolos": [{"numero": "23037.001462/2021-65"}, {"numero": "123456"}],
        "observacoes": "",
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v != ""}


def open_task(svc: Chamados, chamado_id: int, group: str | None = None) -> HumanTask:
    with svc.unit.session_factory() as s:
        q = select(HumanTask).where(HumanTask.chamado_id == chamado_id, HumanTask.state == "ready")
        if group:
            q = q.where(HumanTask.group == group)
        return s.scalars(q).one()


def chamado(svc: Chamados, chamado_id: int) -> Chamado:
    with svc.unit.session_factory() as s:
        c = s.get(Chamado, chamado_id)
        assert c is not None
        return c


def submit_registration(svc: Chamados, maria: ActorRef, **overrides: Any) -> int:
    c = svc.requests.start_chamado(maria, "chamado")
    task = open_task(svc, c.id)
    svc.requests.complete_task(
        maria, task.id, registration(**overrides), chamado(svc, c.id).version
    )
    return c.id


def decide(svc: Chamados, analyst: ActorRef, chamado_id: int, data: dict[str, Any]) -> None:
    task = open_task(svc, chamado_id, "analyst")
    if task.assignee_id is None:
        svc.analysis.claim(analyst, task.id)
    svc.requests.complete_task(analyst, task.id, data, chamado(svc, chamado_id).version)


def assert_state_round_trips(svc: Chamados, chamado_id: int) -> None:
    with svc.unit.session_factory() as s:
        c = s.get(Chamado, chamado_id)
        assert c is not None
        bundle = svc.unit.bundle(s, c.process_version_id)
        wf = runtime.load(bundle, c.workflow_state)
        assert runtime.dump(bundle, wf) == c.workflow_state
        assert '"spec"' not in c.workflow_state[:200]


def test_start_gives_protocol_and_prefilled_draft(svc: Chamados, maria: ActorRef) -> None:
    c = svc.requests.start_chamado(maria, "chamado")
    assert c.protocolo.startswith(f"CH-{c.created_at.year}-")
    assert c.status == "rascunho"
    task = open_task(svc, c.id)
    assert task.task_name == "registrar_chamado"
    assert task.assignee_id == maria.id
    assert task.draft_data == {
        "solicitante_nome": "Maria da Silva",
        "solicitante_email": "39053344705@example.gov.br",
    }
    assert [row[0].id for row in svc.requests.my_chamados(maria).items] == [c.id]
    assert_state_round_trips(svc, c.id)


def test_resolve_path(svc: Chamados, maria: ActorRef, ana: ActorRef) -> None:
    cid = submit_registration(svc, maria)
    assert chamado(svc, cid).status == "em_analise"
    assert chamado(svc, cid).orgao_id == INSS
    assert_state_round_trips(svc, cid)
    decide(
        svc,
        ana,
        cid,
        {
            "decisao": "resolver",
            "resposta": "Corrigimos a integração.",
            "nota_interna": "Bug no conector.",
        },
    )
    c = chamado(svc, cid)
    assert c.status == "resolvido"
    assert c.outcome_message == "Corrigimos a integração."
    assert c.closed_at is not None
    view = svc.requests.tracking(maria, cid)
    assert all(e.public for e in view.events)
    assert "Nota interna" not in [e.summary for e in view.events]
    assert view.events[-1].message == "Corrigimos a integração."
    internal = svc.analysis.analysis(ana, cid)
    assert any(e.message == "Bug no conector." and not e.public for e in internal.events)


def test_the_requester_reads_this_rounds_request_not_an_earlier_one(
    svc: Chamados, maria: ActorRef, ana: ActorRef
) -> None:
    """The tracking page and the task's form say what the analyst asked in this round."""
    cid = submit_registration(svc, maria)
    for asked in ("Informe o erro exato.", "Anexe a tela do erro."):
        decide(svc, ana, cid, {"decisao": "ajuste", "ajuste_solicitado": asked})
        task = open_task(svc, cid)
        assert svc.requests.tracking(maria, cid).request_message == asked
        form = svc.requests.task_form(maria, task.id)
        assert form.request_message == asked
        svc.requests.complete_task(maria, task.id, form.data, chamado(svc, cid).version)
        assert svc.requests.tracking(maria, cid).request_message is None  # nothing to do


def test_return_path_with_reason(svc: Chamados, maria: ActorRef, ana: ActorRef) -> None:
    cid = submit_registration(svc, maria)
    decide(svc, ana, cid, {"decisao": "devolver", "motivo_devolucao": "conta_govbr"})
    c = chamado(svc, cid)
    assert c.status == "devolvido"
    assert "Dificuldade com conta gov.br" in (c.outcome_message or "")
    assert_state_round_trips(svc, cid)


def test_adjustment_loop_shows_changes(svc: Chamados, maria: ActorRef, ana: ActorRef) -> None:
    cid = submit_registration(svc, maria)
    decide(svc, ana, cid, {"decisao": "ajuste", "ajuste_solicitado": "Informe o erro exato."})
    assert chamado(svc, cid).status == "aguardando_ajuste"
    task = open_task(svc, cid)
    assert task.task_name == "ajustar_solicitacao"
    form = svc.requests.task_form(maria, task.id)
    assert form.request_message == "Informe o erro exato."
    assert form.data["detalhamento"].startswith("A API de consulta")  # prefilled
    new = dict(form.data, detalhamento="Erro 500: NullPointerException ao consultar o protocolo.")
    svc.requests.complete_task(maria, task.id, new, chamado(svc, cid).version)
    assert chamado(svc, cid).status == "em_analise"
    view = svc.analysis.analysis(ana, cid)
    assert [c.field for c in view.changes] == ["detalhamento"]
    # The same analyst keeps nothing claimed: the re-sent analysis is a new queue item.
    decide(svc, ana, cid, {"decisao": "resolver", "resposta": "Resolvido."})
    assert chamado(svc, cid).status == "resolvido"
    with svc.unit.session_factory() as s:
        sent = select(func.count()).select_from(Submission)
        # The requester sent their form twice; the analyst's two decisions are kept too.
        assert s.scalar(sent.where(Submission.group == "requester")) == 2
        assert s.scalar(sent.where(Submission.group == "analyst")) == 2
    assert_state_round_trips(svc, cid)


def test_adjustment_cap(svc: Chamados, maria: ActorRef, ana: ActorRef) -> None:
    cid = submit_registration(svc, maria)
    for n in range(5):
        decide(svc, ana, cid, {"decisao": "ajuste", "ajuste_solicitado": f"Rodada {n + 1}."})
        task = open_task(svc, cid)
        data = svc.requests.task_form(maria, task.id).data
        svc.requests.complete_task(maria, task.id, data, chamado(svc, cid).version)
    task = open_task(svc, cid, "analyst")
    svc.analysis.claim(ana, task.id)
    form = svc.requests.task_form(ana, task.id)
    # The model's rule withholds the option, and its instructions say why.
    assert "ajuste" not in [o["const"] for o in form.schema["properties"]["decisao"]["oneOf"]]
    assert form.instructions and "limite" in form.instructions
    version = chamado(svc, cid).version
    with pytest.raises(ValidationFailed) as err:
        svc.requests.complete_task(
            ana, task.id, {"decisao": "ajuste", "ajuste_solicitado": "Mais um."}, version
        )
    assert "limite" in err.value.errors["decisao"]
    assert chamado(svc, cid).version == version  # nothing changed
    decide(svc, ana, cid, {"decisao": "devolver", "motivo_devolucao": "fora_escopo"})
    assert chamado(svc, cid).status == "devolvido"
    assert_state_round_trips(svc, cid)


def test_invalid_form_changes_nothing(svc: Chamados, maria: ActorRef) -> None:
    c = svc.requests.start_chamado(maria, "chamado")
    task = open_task(svc, c.id)
    bad = registration(protocolos=[{"numero": "23037.001462/2021-66"}], orgao=999999)
    with pytest.raises(ValidationFailed) as err:
        svc.requests.complete_task(maria, task.id, bad, chamado(svc, c.id).version)
    assert set(err.value.errors) >= {"protocolos.0.numero", "orgao"}
    assert chamado(svc, c.id).status == "rascunho"
    assert chamado(svc, c.id).version == c.version


def test_stale_version_and_completed_task(svc: Chamados, maria: ActorRef) -> None:
    c = svc.requests.start_chamado(maria, "chamado")
    task = open_task(svc, c.id)
    with pytest.raises(Conflict):
        svc.requests.complete_task(maria, task.id, registration(), c.version + 7)
    svc.requests.complete_task(maria, task.id, registration(), c.version)
    with pytest.raises(TaskNotReady):
        svc.requests.complete_task(maria, task.id, registration(), chamado(svc, c.id).version)


def test_other_people_cannot_touch_a_ticket(svc: Chamados, maria: ActorRef, ana: ActorRef) -> None:
    joao = add_person(svc, "74682489070", "João")
    c = svc.requests.start_chamado(maria, "chamado")
    task = open_task(svc, c.id)
    with pytest.raises(NotFound):
        svc.requests.tracking(joao, c.id)
    with pytest.raises(NotFound):
        svc.requests.task_form(joao, task.id)
    with pytest.raises(NotFound):
        svc.requests.complete_task(joao, task.id, registration(), c.version)
    cid = submit_registration(svc, maria)
    analysis = open_task(svc, cid, "analyst")
    with pytest.raises(Conflict):  # an analyst must claim before deciding
        svc.requests.complete_task(
            ana,
            analysis.id,
            {"decisao": "resolver", "resposta": "ok ok"},
            chamado(svc, cid).version,
        )


def test_claim_race_exactly_one_wins(
    svc: Chamados, maria: ActorRef, ana: ActorRef, bruno: ActorRef
) -> None:
    cid = submit_registration(svc, maria)
    task = open_task(svc, cid, "analyst")
    barrier = threading.Barrier(2)
    outcomes: dict[str, str] = {}

    def attempt(name: str, actor: ActorRef) -> None:
        barrier.wait()
        try:
            svc.analysis.claim(actor, task.id)
            outcomes[name] = "won"
        except Conflict as exc:
            outcomes[name] = exc.message

    threads = [
        threading.Thread(target=attempt, args=(n, a)) for n, a in (("ana", ana), ("bruno", bruno))
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes.values())[1] == "won"
    assert "já foi assumida" in sorted(outcomes.values())[0]


def test_release_and_supervisor_reassign(
    svc: Chamados, maria: ActorRef, ana: ActorRef, bruno: ActorRef, sofia: ActorRef
) -> None:
    cid = submit_registration(svc, maria)
    task = open_task(svc, cid, "analyst")
    svc.analysis.claim(ana, task.id)
    with pytest.raises(Conflict):
        svc.analysis.release(bruno, task.id)
    svc.analysis.release(ana, task.id)
    assert open_task(svc, cid, "analyst").assignee_id is None
    svc.analysis.reassign(sofia, task.id, "52998224725")
    assert open_task(svc, cid, "analyst").assignee_id == bruno.id
    with pytest.raises(Forbidden):
        svc.analysis.reassign(ana, task.id, "11144477735")


def test_protocol_numbers_unique_under_concurrency(svc: Chamados, maria: ActorRef) -> None:
    barrier = threading.Barrier(4)
    numbers: list[str] = []

    def create() -> None:
        barrier.wait()
        for _ in range(5):
            numbers.append(svc.requests.start_chamado(maria, "chamado").protocolo)

    threads = [threading.Thread(target=create) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(numbers) == 20
    assert len(set(numbers)) == 20
    seqs = sorted(int(n.rsplit("-", 1)[1]) for n in numbers)
    assert seqs == list(range(1, 21))


def test_queue_filters_and_order(svc: Chamados, maria: ActorRef, ana: ActorRef) -> None:
    from engine.queue import QueueFilters

    first = submit_registration(svc, maria)
    second = submit_registration(svc, maria, tipo_problema="lentidao", orgao=244)
    page = svc.analysis.queue(ana, QueueFilters())
    assert [t.chamado_id for t in page.items] == [first, second]
    assert [
        t.chamado_id for t in svc.analysis.queue(ana, QueueFilters(categoria="lentidao")).items
    ] == [second]
    assert [t.chamado_id for t in svc.analysis.queue(ana, QueueFilters(orgao_id=INSS)).items] == [
        first
    ]
    svc.analysis.claim(ana, page.items[0].id)
    mine = svc.analysis.queue(ana, QueueFilters(view="minhas"))
    assert [t.chamado_id for t in mine.items] == [first]
    assert mine.counts == {"disponiveis": 1, "minhas": 1, "todas": 2, "incidentes": 0}


def test_audit_records_every_action(svc: Chamados, maria: ActorRef, ana: ActorRef) -> None:
    cid = submit_registration(svc, maria)
    decide(svc, ana, cid, {"decisao": "resolver", "resposta": "Feito."})
    with svc.unit.session_factory() as s:
        actions = s.scalars(
            select(AuditEvent.action).where(AuditEvent.chamado_id == cid).order_by(AuditEvent.id)
        ).all()
    assert actions == [
        "chamado.criado",
        "chamado.enviado",
        "tarefa.assumida",
        "tarefa.concluida",
        "chamado.resolvido",
    ]
