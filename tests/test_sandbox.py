""" "Executar teste": a draft stepped by hand in memory, never a ticket (engine side).

Each test runs the real model (the shipped chamado or tests/models/sandbox_pedido.bpmn)
through engine.designer.sandbox_runs on a real database, and counts the rows of real
tickets before and after: the sandbox writes none.
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from engine.errors import Conflict, Forbidden, NotFound, ValidationFailed
from engine.models import AuditEvent, Chamado, HumanTask, OutboxMessage, SandboxRun
from engine.service import ActorRef, Chamados, SandboxFailed, SandboxPage
from tests.conftest import FakeClock, add_person

DORA = "12345678909"
OUTRO = "52998224725"
ROOT = Path(__file__).resolve().parent.parent
PEDIDO_XML = (ROOT / "tests" / "models" / "sandbox_pedido.bpmn").read_text(encoding="utf-8")
PEDIDO_SCHEMA = json.dumps(
    {
        "title": "Pedido",
        "type": "object",
        "properties": {
            "valor": {"type": "integer", "title": "Valor do pedido", "minimum": 0},
            "descricao": {"type": "string", "title": "Descrição", "minLength": 3},
        },
        "required": ["valor", "descricao"],
        "additionalProperties": False,
    }
)
PEDIDO_UI = json.dumps({"ui:order": ["valor", "descricao"]})
SCENARIOS = json.loads((ROOT / "processes" / "chamado.scenarios.json").read_text("utf-8"))


def scenario_data(name: str, task: str) -> dict[str, Any]:
    found = next(s for s in SCENARIOS["scenarios"] if s["name"] == name)
    return dict(next(s["data"] for s in found["steps"] if s.get("task") == task))


def make_pedido(svc: Chamados, dora: ActorRef) -> None:
    """The small model as a draft: a form, a gateway on its value, a manual task with a
    boundary timer, a message catch."""
    svc.designer.create_model(dora, "pedido_teste", "Pedido de teste")
    draft = svc.designer.draft(dora, "pedido_teste")
    draft = svc.designer.save_model(dora, "pedido_teste", PEDIDO_XML, draft.version)
    draft = svc.designer.save_form(
        dora,
        "pedido_teste",
        "informar",
        ("pedido_teste-schema.json", "pedido_teste-uischema.json"),
        (PEDIDO_SCHEMA, PEDIDO_UI),
        draft.version,
    )
    assert draft.problems == (), draft.problems


def real_rows(svc: Chamados) -> tuple[int, ...]:
    with svc.unit.reading() as session:
        return tuple(
            session.scalar(select(func.count()).select_from(model)) or 0
            for model in (Chamado, HumanTask, OutboxMessage, AuditEvent)
        )


def page(svc: Chamados, actor: ActorRef, pid: str) -> SandboxPage:
    found = svc.sandbox.current(actor, pid)
    assert found is not None and found.view is not None
    return found


def complete(svc: Chamados, actor: ActorRef, pid: str, data: dict[str, Any]) -> SandboxPage:
    run = page(svc, actor, pid)
    svc.sandbox.complete(actor, pid, run.run_id, run.step, run.view.ready[0].guid, data)
    return page(svc, actor, pid)


@pytest.fixture
def dora(svc: Chamados) -> ActorRef:
    return add_person(svc, DORA, "Dora Projetista", "designer")


def test_chamado_runs_both_branches_and_writes_nothing_of_a_ticket(
    svc: Chamados, dora: ActorRef
) -> None:
    before = real_rows(svc)
    for decision, expected_end, mail in (
        ("resolver", "fim_resolvido", "resolvido"),
        ("devolver", "fim_devolvido", "devolvido"),
    ):
        svc.sandbox.start(dora, "chamado")
        run = page(svc, dora, "chamado")
        assert [r.element_id for r in run.view.ready] == ["registrar_chamado"]
        assert run.view.ready[0].guid in run.forms  # drawn with its own schema
        name = "Resolver" if decision == "resolver" else "Devolver"
        run = complete(svc, dora, "chamado", scenario_data(name, "registrar_chamado"))
        assert [r.element_id for r in run.view.ready] == ["analisar_chamado"]
        assert [t.element_id for t in run.view.timers] == ["timer_prazo_analise"]
        run = complete(svc, dora, "chamado", scenario_data(name, "analisar_chamado"))
        assert run.view.finished and run.view.end_event == expected_end
        diagram = run.view.diagram
        assert diagram is not None
        assert {"registrar_chamado", "decisao_analise", expected_end} <= set(diagram.completed)
        assert ("Flow_resolver" in diagram.flows) == (decision == "resolver")
        subjects = [m["subject"] for m in run.mails]
        assert any("registrado" in s for s in subjects), subjects
        assert any(mail in s for s in subjects), subjects
        assert all("TESTE" in s for s in subjects)  # never a real protocol
    assert real_rows(svc) == before


def test_form_errors_as_in_production_and_the_run_does_not_move(
    svc: Chamados, dora: ActorRef
) -> None:
    make_pedido(svc, dora)
    svc.sandbox.start(dora, "pedido_teste")
    run = page(svc, dora, "pedido_teste")
    with pytest.raises(ValidationFailed) as err:
        svc.sandbox.complete(
            dora, "pedido_teste", run.run_id, run.step, run.view.ready[0].guid, {"valor": -3}
        )
    assert set(err.value.errors) == {"valor", "descricao"}
    assert page(svc, dora, "pedido_teste").step == run.step


def test_small_model_gateway_timer_and_message(svc: Chamados, dora: ActorRef) -> None:
    make_pedido(svc, dora)
    before = real_rows(svc)
    # The low branch: the gateway's default flow.
    svc.sandbox.start(dora, "pedido_teste")
    run = complete(svc, dora, "pedido_teste", {"valor": 50, "descricao": "Canetas"})
    assert run.view.end_event == "fim_simples" and "Flow_baixo" in run.view.diagram.flows
    # The high branch, then the boundary timer fired by hand.
    svc.sandbox.start(dora, "pedido_teste")
    run = complete(svc, dora, "pedido_teste", {"valor": 500, "descricao": "Notebook"})
    ready = run.view.ready[0]
    assert ready.element_id == "aprovar" and not ready.has_form
    assert ready.instructions == "Confira o pedido de **500** reais."
    assert [t.element_id for t in run.view.timers] == ["prazo_aprovacao"]
    svc.sandbox.fire_timer(dora, "pedido_teste", run.run_id, run.step, "prazo_aprovacao")
    run = page(svc, dora, "pedido_teste")
    assert run.view.end_event == "fim_expirado" and not run.view.ready
    # The high branch again: "Concluir" the manual task, then the message it waits for.
    svc.sandbox.start(dora, "pedido_teste")
    run = complete(svc, dora, "pedido_teste", {"valor": 500, "descricao": "Notebook"})
    run = complete(svc, dora, "pedido_teste", {})
    assert [m.message for m in run.view.messages] == ["confirmacao_pedido"]
    with pytest.raises(ValidationFailed):
        svc.sandbox.send_message(
            dora, "pedido_teste", run.run_id, run.step, "confirmacao_pedido", "{não é json"
        )
    svc.sandbox.send_message(
        dora, "pedido_teste", run.run_id, run.step, "confirmacao_pedido", '{"ok": true}'
    )
    run = page(svc, dora, "pedido_teste")
    assert run.view.end_event == "fim_aprovado"
    assert real_rows(svc) == before


def test_stale_step_changed_draft_and_expiry(svc: Chamados, dora: ActorRef) -> None:
    clock = FakeClock(svc.clock())
    svc.unit.clock = clock
    make_pedido(svc, dora)
    svc.sandbox.start(dora, "pedido_teste")
    run = page(svc, dora, "pedido_teste")
    guid = run.view.ready[0].guid
    data = {"valor": 50, "descricao": "Canetas"}
    with pytest.raises(Conflict):  # shown on another step (a second tab)
        svc.sandbox.complete(dora, "pedido_teste", run.run_id, run.step + 1, guid, data)
    # The draft saved again: the run is stale, nothing runs on it.
    draft = svc.designer.draft(dora, "pedido_teste")
    svc.designer.save_model(
        dora, "pedido_teste", PEDIDO_XML.replace("Início", "Começo"), draft.version
    )
    stale = svc.sandbox.current(dora, "pedido_teste")
    assert stale is not None and stale.stale and stale.view is None
    with pytest.raises(Conflict):
        svc.sandbox.complete(dora, "pedido_teste", run.run_id, run.step, guid, data)
    # A restart runs the new revision; left idle, it expires.
    svc.sandbox.start(dora, "pedido_teste")
    run = page(svc, dora, "pedido_teste")
    clock.advance(hours=3)
    assert svc.sandbox.current(dora, "pedido_teste") is None
    with pytest.raises(NotFound):
        svc.sandbox.complete(dora, "pedido_teste", run.run_id, run.step, guid, data)
    # The next start anywhere sweeps it.
    svc.sandbox.start(dora, "chamado")
    with svc.unit.reading() as session:
        left = session.scalars(select(SandboxRun.process_id)).all()
    assert left == ["chamado"]
    assert clock() - timedelta(hours=3) < svc.sandbox.current(dora, "chamado").expires_at


def test_only_designers_and_only_their_own_run(svc: Chamados, dora: ActorRef) -> None:
    ana = add_person(svc, "11144477735", "Ana Souza", "analyst")
    with pytest.raises(Forbidden):
        svc.sandbox.start(ana, "chamado")
    with pytest.raises(Forbidden):
        svc.sandbox.current(ana, "chamado")
    svc.sandbox.start(dora, "chamado")
    run = page(svc, dora, "chamado")
    outro = add_person(svc, OUTRO, "Outro Projetista", "designer")
    assert svc.sandbox.current(outro, "chamado") is None  # Dora's run is hers
    data = scenario_data("Resolver", "registrar_chamado")
    guid = run.view.ready[0].guid
    with pytest.raises(NotFound):  # her run's id and step do not reach it
        svc.sandbox.complete(outro, "chamado", run.run_id, run.step, guid, data)
    svc.sandbox.discard(outro, "chamado", run.run_id)  # deletes nothing of hers
    assert page(svc, dora, "chamado").step == 0
    with pytest.raises(NotFound):
        svc.sandbox.start(dora, "nao_existe")


def test_a_model_failure_leaves_the_run_as_it_was(svc: Chamados, dora: ActorRef) -> None:
    make_pedido(svc, dora)
    draft = svc.designer.draft(dora, "pedido_teste")
    broken = PEDIDO_XML.replace("valor &gt; 100", "valor / 0 &gt; 1")
    svc.designer.save_model(dora, "pedido_teste", broken, draft.version)
    svc.sandbox.start(dora, "pedido_teste")
    run = page(svc, dora, "pedido_teste")
    with pytest.raises(SandboxFailed) as err:
        svc.sandbox.complete(
            dora,
            "pedido_teste",
            run.run_id,
            run.step,
            run.view.ready[0].guid,
            {"valor": 500, "descricao": "Notebook"},
        )
    assert "ZeroDivisionError" in err.value.message
    after = page(svc, dora, "pedido_teste")
    assert after.step == run.step and after.view.ready[0].element_id == "informar"


def test_service_tasks_change_nothing_elsewhere(svc: Chamados, dora: ActorRef) -> None:
    """A POST is checked against the allow-list and shown, not made; a service task's
    e-mail is shown, not queued. (The connectors' own tests make real calls.)"""
    from engine import connectors
    from tests.model_files import chain, http_task, model

    mail_task = http_task(
        "avisar",
        "smtp/SendEmail",
        "aviso",
        email_to='"equipe@example.gov.br"',
        email_subject='"Pedido recebido"',
        email_body='"Corpo do aviso"',
    )
    post = http_task(
        "registrar_fora", "http/PostRequestV2", "resposta", url='"https://api.exemplo.gov.br/x"'
    )
    xml = model(chain(post, mail_task), process_id="servico_teste")
    svc.designer.create_model(dora, "servico_teste", "Serviço de teste")
    draft = svc.designer.draft(dora, "servico_teste")
    assert svc.designer.save_model(dora, "servico_teste", xml, draft.version).problems == ()
    before = real_rows(svc)
    connectors.configure(connectors.HttpPolicy.from_text("api.exemplo.gov.br"))
    try:
        svc.sandbox.start(dora, "servico_teste")
    finally:
        connectors.configure(connectors.HttpPolicy())
    run = page(svc, dora, "servico_teste")
    assert run.view.finished
    calls = [m for m in run.mails if m["kind"] == "http"]
    assert [c["to"] for c in calls] == ["https://api.exemplo.gov.br/x"]
    sent = [m for m in run.mails if m["kind"] == "email"]
    assert [(m["to"], m["subject"], m["text"]) for m in sent] == [
        ("equipe@example.gov.br", "Pedido recebido", "Corpo do aviso")
    ]
    assert real_rows(svc) == before
    # A host off the allow-list fails the step as in production, naming it.
    with pytest.raises(SandboxFailed) as err:
        svc.sandbox.start(dora, "servico_teste")
    assert "api.exemplo.gov.br" in err.value.message
