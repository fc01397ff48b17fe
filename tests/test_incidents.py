"""Models cannot run away: a step that fails in the workflow engine is a technical incident.

A published model whose script loops (more automatic steps than the budget), makes a
huge value or whose timer leads into such a loop is started, completed or fired through
the service: the ticket stops in "Incidente técnico" with its last saved state, never
"concluído", is listed in the queue's incidents view, supervisors and admins get one
e-mail, and an admin's retry runs the pending step once the model was fixed (and the
ticket migrated to the fixed version).
"""

from __future__ import annotations

import re
import threading
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from engine import incidents, runtime, timers
from engine.errors import Conflict, Forbidden
from engine.models import AuditEvent, Chamado, HumanTask, OutboxMessage, Submission, WorkflowTimer
from engine.queue import INCIDENTS, QueueFilters
from engine.service import ActorRef, Chamados
from tests.conftest import ANA, MARIA, SOFIA, FakeClock, add_person

DORA, CARLOS = "12345678909", "52998224725"
LOOPING = "100000"  # far more rounds than engine.runtime.MAX_ENGINE_STEPS allows
FIXED = "3"
SENT = {"descricao": "Preciso de acesso ao painel de indicadores."}

_HEAD = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core"
    id="Definitions_{pid}" targetNamespace="http://bpmn.io/schema/bpmn">
  <bpmn:process id="{pid}" name="Laço" isExecutable="true">
    <bpmn:laneSet id="LaneSet_{pid}"><bpmn:lane id="Lane_solicitante" name="Solicitante">
      <bpmn:flowNodeRef>registrar</bpmn:flowNodeRef>
      <bpmn:flowNodeRef>confirmar</bpmn:flowNodeRef></bpmn:lane>{lanes}</bpmn:laneSet>
"""
ANALYST_LANE = """<bpmn:lane id="Lane_analista" name="analyst">
      <bpmn:flowNodeRef>analisar</bpmn:flowNodeRef></bpmn:lane>"""


def _user_task(task_id: str, status: str, label: str, incoming: str, outgoing: str) -> str:
    return f"""<bpmn:userTask id="{task_id}" name="{task_id.capitalize()}">
      <bpmn:extensionElements><spiffworkflow:properties>
        <spiffworkflow:property name="formJsonSchemaFilename" value="{{pid}}-schema.json" />
        <spiffworkflow:property name="formUiSchemaFilename" value="{{pid}}-uischema.json" />
        <spiffworkflow:property name="status" value="{status}" />
        <spiffworkflow:property name="statusLabel" value="{label}" />
      </spiffworkflow:properties></bpmn:extensionElements>
      <bpmn:incoming>{incoming}</bpmn:incoming><bpmn:outgoing>{outgoing}</bpmn:outgoing>
    </bpmn:userTask>
"""


def _end(end_id: str, status: str, label: str, incoming: str) -> str:
    return f"""<bpmn:endEvent id="{end_id}"><bpmn:extensionElements>
      <spiffworkflow:properties>
        <spiffworkflow:property name="status" value="{status}" />
        <spiffworkflow:property name="statusLabel" value="{label}" />
      </spiffworkflow:properties></bpmn:extensionElements>
      <bpmn:incoming>{incoming}</bpmn:incoming></bpmn:endEvent>
"""


def _flow(flow_id: str, source: str, target: str) -> str:
    return f'<bpmn:sequenceFlow id="{flow_id}" sourceRef="{source}" targetRef="{target}" />\n'


def loop_model(pid: str, where: str, limit: str = LOOPING, script: str = "n = n + 1") -> str:
    """A model whose script task ``contar`` loops back through ``decidir`` while
    ``n < limit``: after the requester's first form (``where="task"``), before it
    (``"start"``), after an analyst's form (``"analysis"``), or when the requester's
    form's one-day boundary timer fires (``"timer"``).
    The loop is entered by flow ``f_loop`` and left by ``f_saida``."""
    loop = (
        f"""<bpmn:scriptTask id="iniciar"><bpmn:incoming>f_loop</bpmn:incoming>
      <bpmn:outgoing>f_i</bpmn:outgoing><bpmn:script>n = 0</bpmn:script></bpmn:scriptTask>
    <bpmn:scriptTask id="contar"><bpmn:incoming>f_i</bpmn:incoming>
      <bpmn:incoming>f_de_novo</bpmn:incoming><bpmn:outgoing>f_c</bpmn:outgoing>
      <bpmn:script>{script}</bpmn:script></bpmn:scriptTask>
    <bpmn:exclusiveGateway id="decidir" default="f_saida"><bpmn:incoming>f_c</bpmn:incoming>
      <bpmn:outgoing>f_de_novo</bpmn:outgoing><bpmn:outgoing>f_saida</bpmn:outgoing>
    </bpmn:exclusiveGateway>
    <bpmn:sequenceFlow id="f_de_novo" sourceRef="decidir" targetRef="contar">
      <bpmn:conditionExpression>n &lt; {limit}</bpmn:conditionExpression></bpmn:sequenceFlow>
"""
        + _flow("f_i", "iniciar", "contar")
        + _flow("f_c", "contar", "decidir")
    )
    start = '<bpmn:startEvent id="inicio"><bpmn:outgoing>f_a</bpmn:outgoing></bpmn:startEvent>\n'
    done = _end("fim", "resolvido", "Resolvido", "f_fim") + _flow("f_fim", "confirmar", "fim")
    if where == "start":  # inicio → loop → registrar → confirmar → fim
        parts = [
            _flow("f_a", "inicio", "iniciar").replace('id="f_a"', 'id="f_loop"'),
            _user_task("registrar", "rascunho", "Rascunho", "f_saida", "f_b"),
            _user_task("confirmar", "em_confirmacao", "Aguardando confirmação", "f_b", "f_fim"),
            _flow("f_saida", "decidir", "registrar"),
            _flow("f_b", "registrar", "confirmar"),
        ]
        start = start.replace("f_a", "f_loop")
    elif where == "task":  # inicio → registrar → loop → confirmar → fim
        parts = [
            _flow("f_a", "inicio", "registrar"),
            _user_task("registrar", "rascunho", "Rascunho", "f_a", "f_loop"),
            _user_task("confirmar", "em_confirmacao", "Aguardando confirmação", "f_saida", "f_fim"),
            _flow("f_loop", "registrar", "iniciar"),
            _flow("f_saida", "decidir", "confirmar"),
        ]
    elif where == "analysis":  # inicio → registrar → analisar (analysts) → loop → confirmar
        parts = [
            _flow("f_a", "inicio", "registrar"),
            _user_task("registrar", "rascunho", "Rascunho", "f_a", "f_b"),
            _flow("f_b", "registrar", "analisar"),
            _user_task("analisar", "em_analise", "Em análise", "f_b", "f_loop"),
            _flow("f_loop", "analisar", "iniciar"),
            _user_task("confirmar", "em_confirmacao", "Aguardando confirmação", "f_saida", "f_fim"),
            _flow("f_saida", "decidir", "confirmar"),
        ]
    else:  # inicio → registrar → confirmar → fim; the timer on registrar → loop → fim_prazo
        parts = [
            _flow("f_a", "inicio", "registrar"),
            _user_task("registrar", "rascunho", "Rascunho", "f_a", "f_b"),
            _user_task("confirmar", "em_confirmacao", "Aguardando confirmação", "f_b", "f_fim"),
            _flow("f_b", "registrar", "confirmar"),
            """<bpmn:boundaryEvent id="prazo" name="Prazo do registro" attachedToRef="registrar">
      <bpmn:outgoing>f_loop</bpmn:outgoing><bpmn:timerEventDefinition>
      <bpmn:timeDuration>"P1D"</bpmn:timeDuration></bpmn:timerEventDefinition>
    </bpmn:boundaryEvent>
""",
            _flow("f_loop", "prazo", "iniciar"),
            _end("fim_prazo", "encerrado_prazo", "Encerrado pelo prazo", "f_saida"),
            _flow("f_saida", "decidir", "fim_prazo"),
        ]
    body = "    ".join([start, loop, *parts, done])
    head = _HEAD.replace("{lanes}", ANALYST_LANE if where == "analysis" else "")
    xml = head + "    " + body + "  </bpmn:process>\n</bpmn:definitions>\n"
    return xml.replace("{pid}", pid)


# ------------------------------------------------------------------ fixtures and helpers


class World:
    """A service with a designer, an admin, a supervisor, an analyst and a requester."""

    def __init__(self, svc: Chamados) -> None:
        self.svc = svc
        self.designer = svc.designer
        self.tickets = svc.tickets
        self.dora = add_person(svc, DORA, "Dora Projetista", "designer")
        self.carlos = add_person(svc, CARLOS, "Carlos Admin", "admin")
        self.sofia = add_person(svc, SOFIA, "Sofia Supervisora", "supervisor")
        self.ana = add_person(svc, ANA, "Ana Souza", "analyst")
        self.maria = add_person(svc, MARIA, "Maria da Silva")

    def publish(self, pid: str, xml: str, note: str) -> int:
        if pid not in {m.process_id for m in self.designer.models(self.dora)}:
            self.designer.create_model(self.dora, pid, "Laço")
        draft = self.designer.draft(self.dora, pid)
        draft = self.designer.save_model(self.dora, pid, xml, draft.version)
        return self.designer.publish(self.dora, pid, draft.version, note).id

    def ticket(self, cid: int) -> Chamado:
        with self.svc.unit.session_factory() as s:
            row = s.get(Chamado, cid)
            assert row is not None
            s.refresh(row, ["workflow_state"])
            s.expunge(row)
            return row

    def workflow_data(self, cid: int) -> dict[str, Any]:
        with self.svc.unit.session_factory() as s:
            c = s.get(Chamado, cid)
            assert c is not None
            bundle = self.svc.unit.bundle(s, c.process_version_id)
            return runtime.current_data(runtime.load(bundle, c.workflow_state))

    def open_tasks(self, cid: int) -> list[HumanTask]:
        with self.svc.unit.session_factory() as s:
            return list(
                s.scalars(
                    select(HumanTask).where(HumanTask.chamado_id == cid, HumanTask.state == "ready")
                )
            )

    def count(self, model: Any, *where: Any) -> int:
        with self.svc.unit.session_factory() as s:
            return int(s.scalar(select(func.count()).select_from(model).where(*where)) or 0)

    def audit(self, cid: int) -> list[str]:
        with self.svc.unit.session_factory() as s:
            rows = s.scalars(
                select(AuditEvent.action)
                .where(AuditEvent.chamado_id == cid)
                .order_by(AuditEvent.id)
            )
            return list(rows)

    def incident_mails(self, cid: int) -> list[str]:
        with self.svc.unit.session_factory() as s:
            return sorted(
                s.scalars(
                    select(OutboxMessage.to_addr).where(
                        OutboxMessage.chamado_id == cid, OutboxMessage.kind == incidents.MAIL
                    )
                )
            )

    def incidents_listed(self, actor: ActorRef) -> list[int]:
        page = self.svc.analysis.queue(actor, QueueFilters(view=INCIDENTS))
        assert page.counts[INCIDENTS] == page.total == len(page.incidents)
        return [c.id for c in page.incidents]

    def migrate(self, pid: str, version_id: int, cid: int) -> None:
        (result,) = self.tickets.migrate(self.dora, pid, version_id, [cid])
        assert result.moved, result.message


@pytest.fixture
def world(svc: Chamados) -> World:
    return World(svc)


@pytest.fixture
def tworld(tsvc: Chamados) -> World:
    return World(tsvc)


def assert_in_incident(w: World, cid: int, element: set[str], words: str) -> Chamado:
    c = w.ticket(cid)
    assert (c.status, c.status_label, c.status_tone) == (
        "incidente_tecnico",
        "Incidente técnico",
        "bg-danger",
    )
    assert c.incident_at is not None and c.closed_at is None
    assert c.incident_element in element
    assert words in (c.incident_message or "")
    return c


# ------------------------------------------------------------------ the start


def test_a_runaway_loop_at_the_start_is_an_incident_and_a_retry_restarts_on_the_fix(
    world: World,
) -> None:
    w = world
    w.publish("laco", loop_model("laco", "start"), "Com laço")
    chamado, first = w.svc.requests.start_instance(w.maria, "laco")
    assert first is None and chamado.incident_at is not None
    c = assert_in_incident(w, chamado.id, {"contar", "decidir"}, "passos automáticos")
    assert incidents.PendingAction.from_json(c.incident_action).kind == incidents.START
    assert w.open_tasks(c.id) == []
    assert w.tickets.diagram(w.maria, c.id).current == []  # its saved state loads
    # Staff see it in the queue's incidents view, admins who do not work the queue too.
    assert w.incidents_listed(w.ana) == [c.id] == w.incidents_listed(w.carlos)
    with pytest.raises(Forbidden):
        w.svc.analysis.queue(w.carlos, QueueFilters())  # the task views stay the analysts'
    # One e-mail to each supervisor and admin; a public entry on the requester's timeline.
    assert w.incident_mails(c.id) == [f"{CARLOS}@example.gov.br", f"{SOFIA}@example.gov.br"]
    assert w.audit(c.id) == ["chamado.criado", "incidente.aberto"]
    assert w.svc.requests.tracking(w.maria, c.id).events[-1].action == "incidente.aberto"

    # Retried before the model is fixed: the incident stays, with no second e-mail.
    outcome = w.svc.incidents.retry_incident(w.carlos, c.id, c.version)
    assert not outcome.resolved and "também falhou" in outcome.message
    assert_in_incident(w, c.id, {"contar", "decidir"}, "passos automáticos")
    assert w.incident_mails(c.id) == [f"{CARLOS}@example.gov.br", f"{SOFIA}@example.gov.br"]
    assert w.audit(c.id)[-1] == "incidente.nova_falha"

    # A start has nothing of the requester's yet: it runs on the latest published version.
    fixed = w.publish("laco", loop_model("laco", "start", FIXED), "Laço limitado")
    outcome = w.svc.incidents.retry_incident(w.carlos, c.id, w.ticket(c.id).version)
    assert outcome.resolved, outcome.message
    c = w.ticket(c.id)
    assert c.incident_at is None and c.incident_action is None
    assert (c.status, c.process_version_id) == ("rascunho", fixed)
    assert [t.task_name for t in w.open_tasks(c.id)] == ["registrar"]
    assert w.workflow_data(c.id)["n"] == int(FIXED)
    assert w.incidents_listed(w.ana) == []
    assert w.audit(c.id)[-1] == "incidente.resolvido"


# ------------------------------------------------------------------ a completion


def start_registered(w: World, pid: str) -> tuple[int, HumanTask]:
    chamado, first = w.svc.requests.start_instance(w.maria, pid)
    assert first is not None and chamado.incident_at is None
    return chamado.id, first


def test_a_runaway_after_a_completion_keeps_the_data_and_finishes_after_migration(
    world: World,
) -> None:
    w = world
    w.publish("laco", loop_model("laco", "task"), "Com laço")
    cid, task = start_registered(w, "laco")
    w.svc.requests.save_draft(w.maria, task.id, SENT, None)  # as the wizard does before sending
    before = w.ticket(cid)
    returned = w.svc.requests.complete_task(w.maria, task.id, SENT, before.version)
    assert returned.incident_at is not None  # the caller tells the person: data received
    c = assert_in_incident(w, cid, {"contar", "decidir"}, "passos automáticos")
    assert c.status != "concluido"
    # The last saved state, not a half-run one; the data is kept twice: as the task's
    # draft (the person finds it) and in the pending step (what the retry will send).
    assert c.workflow_state == before.workflow_state
    (still_open,) = w.open_tasks(cid)
    assert still_open.id == task.id and still_open.draft_data == SENT
    pending = incidents.PendingAction.from_json(c.incident_action)
    assert (pending.kind, pending.task_id, pending.actor_id, pending.data) == (
        incidents.TASK,
        task.id,
        w.maria.id,
        SENT,
    )
    assert w.count(Submission, Submission.chamado_id == cid) == 0
    assert w.incidents_listed(w.sofia) == [cid]
    # Nothing moves while the incident lasts: a second sending is refused.
    with pytest.raises(Conflict, match="problema técnico"):
        w.svc.requests.complete_task(w.maria, task.id, SENT, c.version)

    # The designer fixes the model and moves the ticket: still in its incident.
    fixed = w.publish("laco", loop_model("laco", "task", FIXED), "Laço limitado")
    w.migrate("laco", fixed, cid)
    c = assert_in_incident(w, cid, {"contar", "decidir"}, "passos automáticos")
    assert c.process_version_id == fixed

    # Only admins retry, on the version they saw.
    for someone in (w.ana, w.sofia, w.maria, w.dora):
        with pytest.raises(Forbidden):
            w.svc.incidents.retry_incident(someone, cid, c.version)
    with pytest.raises(Conflict):
        w.svc.incidents.retry_incident(w.carlos, cid, c.version - 1)
    outcome = w.svc.incidents.retry_incident(w.carlos, cid, c.version)
    assert outcome.resolved, outcome.message
    c = w.ticket(cid)
    assert c.incident_at is None and c.status == "em_confirmacao"
    assert w.workflow_data(cid)["n"] == int(FIXED)
    with w.svc.unit.session_factory() as s:
        done = s.get(HumanTask, task.id)
        assert done is not None
        assert (done.state, done.completed_by_id, done.draft_data) == (
            "completed",
            w.maria.id,
            None,
        )
        (sent,) = s.scalars(select(Submission).where(Submission.chamado_id == cid))
        assert sent.data == SENT
    (confirm,) = w.open_tasks(cid)
    assert confirm.task_name == "confirmar"
    actions = w.audit(cid)  # the timeline tells the end of the incident, then the sending
    assert actions.index("incidente.resolvido") < actions.index("chamado.enviado")
    # ...and goes on normally to its end.
    w.svc.requests.complete_task(w.maria, confirm.id, SENT, c.version)
    c = w.ticket(cid)
    assert (c.status, c.closed_at is not None) == ("resolvido", True)
    with pytest.raises(Conflict, match="não está em incidente"):
        w.svc.incidents.retry_incident(w.carlos, cid, c.version)


def test_a_huge_value_in_a_script_is_refused_and_becomes_an_incident(world: World) -> None:
    w = world
    w.publish("laco", loop_model("laco", "task", script="texto = 'a' * 100000000"), "Texto")
    cid, task = start_registered(w, "laco")
    tracemalloc.start()
    try:
        returned = w.svc.requests.complete_task(w.maria, task.id, SENT, w.ticket(cid).version)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert returned.incident_at is not None
    c = assert_in_incident(w, cid, {"contar"}, "nada foi calculado")
    assert peak < 20_000_000  # the 100 MB text was never made
    assert len(c.workflow_state) < 50_000  # nor saved
    assert w.incidents_listed(w.ana) == [cid]


def test_two_admins_retrying_at_once_run_the_step_once(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    w = world
    w.publish("laco", loop_model("laco", "task"), "Com laço")
    cid, task = start_registered(w, "laco")
    w.svc.requests.complete_task(w.maria, task.id, SENT, w.ticket(cid).version)
    w.migrate("laco", w.publish("laco", loop_model("laco", "task", FIXED), "Fix"), cid)
    version = w.ticket(cid).version
    other_admin = add_person(w.svc, "71460238001", "Outra Admin", "admin")

    slow_complete = runtime.complete

    def slowly(*args: Any) -> None:
        threading.Event().wait(0.3)  # both retries are under way together
        slow_complete(*args)

    monkeypatch.setattr(runtime, "complete", slowly)
    start = threading.Barrier(2)
    results: list[Any] = []

    def retry(admin: ActorRef) -> None:
        start.wait()
        try:
            results.append(w.svc.incidents.retry_incident(admin, cid, version))
        except Conflict as exc:
            results.append(exc)

    threads = [threading.Thread(target=retry, args=(a,)) for a in (w.carlos, other_admin)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    resolved = [r for r in results if not isinstance(r, Conflict)]
    refused = [r for r in results if isinstance(r, Conflict)]
    assert len(resolved) == 1 and resolved[0].resolved and len(refused) == 1
    assert w.count(Submission, Submission.chamado_id == cid) == 1
    assert w.count(HumanTask, HumanTask.chamado_id == cid, HumanTask.task_name == "confirmar") == 1
    assert w.audit(cid).count("incidente.resolvido") == 1


# ------------------------------------------------------------------ a timer


def test_a_runaway_timer_is_an_incident_its_timers_wait_and_a_retry_fires_it(
    tworld: World, clock: FakeClock
) -> None:
    w = tworld
    w.publish("laco", loop_model("laco", "timer"), "Com laço")
    cid, task = start_registered(w, "laco")
    clock.advance(days=1, hours=1)
    assert w.svc.timers.fire_due_timers("w1") == []
    c = assert_in_incident(w, cid, {"contar", "decidir"}, "passos automáticos")
    pending = incidents.PendingAction.from_json(c.incident_action)
    assert (pending.kind, pending.element) == (incidents.TIMER, "prazo")
    assert "Prazo do registro" in incidents.describe(c.incident_action)
    assert w.incidents_listed(w.ana) == [cid]
    assert w.incident_mails(cid) == [f"{CARLOS}@example.gov.br", f"{SOFIA}@example.gov.br"]
    # Its timer waits for the incident: never claimed again, so never fired in a loop.
    clock.advance(minutes=5)
    with w.svc.unit.transaction() as s:
        assert timers.claim_due(s, clock(), "w2") == []
        row = s.get(WorkflowTimer, pending.timer_id)
        assert row is not None and (row.state, row.lease_until) == ("waiting", None)
    assert w.svc.timers.fire_due_timers("w2") == []
    # Claimed just before the incident opened, it fires nothing either.
    actions = w.audit(cid)
    assert w.svc.timers.fire_timer(pending.timer_id) is False
    assert w.audit(cid) == actions and w.ticket(cid).version == c.version
    with pytest.raises(Conflict, match="problema técnico"):
        w.svc.requests.complete_task(w.maria, task.id, SENT, c.version)

    fixed = w.publish("laco", loop_model("laco", "timer", FIXED), "Laço limitado")
    w.migrate("laco", fixed, cid)
    outcome = w.svc.incidents.retry_incident(w.carlos, cid, w.ticket(cid).version)
    assert outcome.resolved, outcome.message
    c = w.ticket(cid)
    assert c.incident_at is None
    assert (c.status, c.closed_at is not None) == ("encerrado_prazo", True)
    with w.svc.unit.session_factory() as s:
        row = s.get(WorkflowTimer, pending.timer_id)
        assert row is not None and row.state == "fired"
    assert "temporizador" in w.audit(cid)
    assert w.open_tasks(cid) == []


# ------------------------------------------------------------------ pages and API


@pytest.fixture
def app(tmp_path: Path) -> Iterator[Flask]:
    from tests.test_api import build_app

    app = build_app(tmp_path)
    yield app
    app.extensions["chamados"].unit.db.dispose()


RETRY_BUTTON = 'type="submit">Tentar novamente</button>'


def logged_in(app: Flask, cpf: str, name: str, *roles: str) -> FlaskClient:
    from tests.test_auth import set_session_user

    client = app.test_client()
    set_session_user(app, client, cpf, name, *roles)
    return client


def csrf_of(client: FlaskClient, page: str) -> str:
    html = client.get(page).get_data(as_text=True)
    match = re.search(r'<meta name="csrf-token" content="([^"]+)"', html)
    assert match, html[:300]
    return match.group(1)


def test_pages_and_api_show_the_incident_and_only_admins_retry(app: Flask) -> None:
    from tests.test_api import Api, person

    svc: Chamados = app.extensions["chamados"]
    w = World(svc)
    w.publish("laco", loop_model("laco", "task"), "Com laço")
    maria = Api(app.test_client(), person(app, MARIA, "Maria da Silva"))
    ana = Api(app.test_client(), person(app, ANA, "Ana Souza", "analyst"))
    carlos = Api(app.test_client(), person(app, CARLOS, "Carlos Admin", "admin"))

    started = maria.post("/processes/laco/instances", expect=201)
    cid, task_id = started["chamado"]["id"], started["task"]["id"]
    assert started["chamado"]["incident"] is None
    version = maria.get(f"/tasks/{task_id}")["version"]
    # Received, not processed: 202, with the pt-BR notice; no technical detail to her.
    sent = maria.post(f"/tasks/{task_id}/submit", {"data": SENT, "version": version}, expect=202)
    assert sent["message"] == incidents.RECEIVED
    assert sent["chamado"]["status_label"] == "Incidente técnico"
    assert set(sent["chamado"]["incident"]) == {"at", "notice"}
    maria.post(f"/tasks/{task_id}/submit", {"data": SENT, "version": version + 1}, expect=409)

    w.publish("laco_inicio", loop_model("laco_inicio", "start"), "Com laço no início")
    stopped = maria.post("/processes/laco_inicio/instances", expect=201)
    assert stopped["task"] is None and stopped["message"] == incidents.STARTED
    assert stopped["chamado"]["status"] == "incidente_tecnico"
    (only,) = ana.get(f"/queue?view={INCIDENTS}&processo=laco_inicio")["items"]
    assert only["chamado"]["id"] == stopped["chamado"]["id"]

    listed = ana.get(f"/queue?view={INCIDENTS}&processo=laco")
    assert (listed["counts"][INCIDENTS], listed["total"]) == (2, 1)
    (item,) = listed["items"]
    assert item["task"] is None and item["chamado"]["id"] == cid
    incident = item["chamado"]["incident"]
    assert incident["element"] in {"contar", "decidir"}
    assert (incident["action"]["kind"], incident["action"]["task_id"]) == ("task", task_id)
    assert ana.get("/queue")["counts"][INCIDENTS] == 2
    current = item["chamado"]["version"]
    ana.post(f"/chamados/{cid}/retry", {"version": current}, expect=403)
    maria.post(f"/chamados/{cid}/retry", {"version": current}, expect=403)
    carlos.post(f"/chamados/{cid}/retry", {"version": "x"}, expect=422)
    again = carlos.post(f"/chamados/{cid}/retry", {"version": current})
    assert again["resolved"] is False and "também falhou" in again["message"]
    carlos.post(f"/chamados/{cid}/retry", {"version": current}, expect=409)  # stale now

    # Pages: the requester's notice, the queue's tab, the analysis card, the button.
    requester = logged_in(app, MARIA, "Maria da Silva")
    tracking = requester.get(f"/chamados/{cid}").get_data(as_text=True)
    assert "Recebemos seus dados" in tracking and "Incidente técnico" in tracking
    wizard = requester.get(f"/tarefas/{task_id}")
    assert wizard.status_code == 302 and wizard.headers["Location"] == f"/chamados/{cid}"

    analyst = logged_in(app, ANA, "Ana Souza", "analyst")
    queue = analyst.get("/fila?visao=incidentes").get_data(as_text=True)
    assert "Incidentes técnicos (2)" in queue and w.ticket(cid).protocolo in queue
    assert RETRY_BUTTON not in queue
    analysis = analyst.get(f"/analise/{cid}").get_data(as_text=True)
    assert "incident-card" in analysis and RETRY_BUTTON not in analysis
    token = csrf_of(analyst, f"/analise/{cid}")
    refused = analyst.post(
        f"/analise/{cid}/tentar-novamente",
        data={"csrf_token": token, "version": str(w.ticket(cid).version)},
    )
    assert refused.status_code == 403

    admin = logged_in(app, CARLOS, "Carlos Admin", "admin")
    assert admin.get("/incidentes").headers["Location"] == "/fila?visao=incidentes"
    queue = admin.get("/fila").get_data(as_text=True)  # admins see the incidents view
    assert "Incidentes técnicos (2)" in queue and RETRY_BUTTON in queue
    assert "Não atribuídas" not in queue
    page = admin.get(f"/analise/{cid}").get_data(as_text=True)
    assert RETRY_BUTTON in page
    no_csrf = admin.post(
        f"/analise/{cid}/tentar-novamente", data={"version": str(w.ticket(cid).version)}
    )
    assert no_csrf.status_code == 400
    fixed = w.publish("laco", loop_model("laco", "task", FIXED), "Laço limitado")
    w.migrate("laco", fixed, cid)
    done = admin.post(
        f"/analise/{cid}/tentar-novamente",
        data={
            "csrf_token": csrf_of(admin, f"/analise/{cid}"),
            "version": str(w.ticket(cid).version),
        },
        follow_redirects=True,
    )
    assert "Nova tentativa concluída" in done.get_data(as_text=True)
    assert w.ticket(cid).status == "em_confirmacao"
    queue = admin.get("/fila").get_data(as_text=True)
    assert "Incidentes técnicos (1)" in queue and w.ticket(cid).protocolo not in queue


def test_the_wizard_tells_the_requester_her_data_was_received(app: Flask) -> None:
    from tests.webform import fill

    w = World(app.extensions["chamados"])
    w.publish("laco", loop_model("laco", "task"), "Com laço")
    requester = logged_in(app, MARIA, "Maria da Silva")
    token = csrf_of(requester, "/servicos/laco")
    started = requester.post("/servicos/laco", data={"csrf_token": token})
    task_url = started.headers["Location"]
    page = requester.get(task_url).get_data(as_text=True)
    sent = requester.post(
        task_url,
        data=fill(page, {"descricao": SENT["descricao"], "_action": "submit"}),
        follow_redirects=True,
    )
    body = sent.get_data(as_text=True)
    assert sent.status_code == 200 and body.count("Recebemos seus dados") == 1
    assert "Incidente técnico" in body and "Continuar preenchimento" not in body
    (cid,) = w.incidents_listed(w.ana)
    (task,) = w.open_tasks(cid)
    assert task.draft_data == SENT
    # Opening the form again leads back to the notice: nothing can be sent meanwhile.
    again = requester.get(task_url, follow_redirects=True).get_data(as_text=True)
    assert "Recebemos seus dados" in again


def test_an_analyst_whose_decision_stops_in_an_incident_is_told_so(app: Flask) -> None:
    from tests.webform import fill

    svc: Chamados = app.extensions["chamados"]
    w = World(svc)
    w.publish("laco", loop_model("laco", "analysis"), "Com laço")
    cid, task = start_registered(w, "laco")
    w.svc.requests.complete_task(w.maria, task.id, SENT, w.ticket(cid).version)
    (analysis,) = w.open_tasks(cid)
    assert analysis.group == "analyst"
    w.svc.analysis.claim(w.ana, analysis.id)
    analyst = logged_in(app, ANA, "Ana Souza", "analyst")
    page = analyst.get(f"/analise/{cid}").get_data(as_text=True)
    decided = analyst.post(
        f"/analise/{cid}",
        data=fill(page, {"descricao": "Parecer favorável ao pedido."}, containing="version"),
        follow_redirects=True,
    )
    body = decided.get_data(as_text=True)
    assert decided.status_code == 200 and "Recebemos seus dados" in body
    assert "incident-card" in body and "Parado no incidente técnico" in body
    assert 'name="descricao"' not in body  # no form to send while the incident lasts
    c = assert_in_incident(w, cid, {"contar", "decidir"}, "passos automáticos")
    pending = incidents.PendingAction.from_json(c.incident_action)
    assert (pending.task_id, pending.actor_id) == (analysis.id, w.ana.id)
    (still,) = w.open_tasks(cid)
    assert (still.assignee_id, still.draft_data) == (w.ana.id, pending.data)
    # The analyst who sent it may have released it meanwhile: the retry still completes
    # it as hers.
    w.svc.analysis.release(w.ana, analysis.id)
    w.migrate("laco", w.publish("laco", loop_model("laco", "analysis", FIXED), "Fix"), cid)
    assert w.svc.incidents.retry_incident(w.carlos, cid, w.ticket(cid).version).resolved
    with svc.unit.session_factory() as s:
        done = s.get(HumanTask, analysis.id)
        assert done is not None and (done.state, done.completed_by_id) == ("completed", w.ana.id)
    assert w.ticket(cid).status == "em_confirmacao"
