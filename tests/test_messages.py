"""BPMN messages (engine.messages, engine.usecases.messages): ``POST /api/v1/messages/{name}``
delivers to the waiting instances its correlation selects and starts the processes that
begin with it; a throw in one instance reaches a catch in another through the scheduler's
job; a failure is a technical incident that "Tentar novamente" delivers again; a throw
nobody could receive is refused at deploy.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from flask import Flask

from engine.models import AuditEvent, Chamado, MessageWait, QueuedMessage
from engine.service import Chamados
from tests.conftest import MARIA, add_person
from tests.model_files import HEAD, chain, script_task
from web.cli import main

MESSAGE = (
    '<bpmn:message id="Message_aprovacao" name="aprovacao"/>'
    '<bpmn:correlationProperty id="numero" name="numero">'
    '<bpmn:correlationPropertyRetrievalExpression messageRef="Message_aprovacao">'
    "<bpmn:formalExpression>numero</bpmn:formalExpression>"
    "</bpmn:correlationPropertyRetrievalExpression></bpmn:correlationProperty>"
)
CATCH = (
    '<bpmn:intermediateCatchEvent id="Catch_aprovacao" name="Aguardar aprovação">{flows}'
    '<bpmn:messageEventDefinition id="Def_catch" messageRef="Message_aprovacao">'
    "<bpmn:extensionElements>"
    "<spiffworkflow:messageVariable>aprovacao</spiffworkflow:messageVariable>"
    "<spiffworkflow:processVariableCorrelation><spiffworkflow:propertyId>numero"
    "</spiffworkflow:propertyId><spiffworkflow:expression>numero</spiffworkflow:expression>"
    "</spiffworkflow:processVariableCorrelation>"
    "</bpmn:extensionElements></bpmn:messageEventDefinition></bpmn:intermediateCatchEvent>"
)
THROW = (
    '<bpmn:intermediateThrowEvent id="Throw_aprovacao" name="Aprovar">{flows}'
    '<bpmn:messageEventDefinition id="Def_throw" messageRef="Message_aprovacao">'
    "<bpmn:extensionElements><spiffworkflow:messagePayload>"
    '{"numero": pedido, "decisao": "sim"}'
    "</spiffworkflow:messagePayload></bpmn:extensionElements>"
    "</bpmn:messageEventDefinition></bpmn:intermediateThrowEvent>"
)


def process(pid: str, body: str, extra: str = MESSAGE) -> str:
    return (
        f'{HEAD}{extra}<bpmn:process id="{pid}" isExecutable="true">\n{body}\n'
        "</bpmn:process>\n</bpmn:definitions>\n"
    )


def pedido() -> str:
    """Waits for its approval (correlated by its number), then records the decision."""
    return process(
        "Pedido",
        chain(
            script_task("Script_numero", "numero = numero_inicial"),
            CATCH,
            script_task("Script_decisao", 'decisao = aprovacao["decisao"]'),
        ),
    )


def aprovador() -> str:
    """Sends the approval of order ``pedido`` to the order that waits for it."""
    return process("Aprovador", chain(script_task("Script_pedido", "pedido = 8"), THROW))


def alerta() -> str:
    """Starts with the message "alerta"."""
    start = (
        '<bpmn:startEvent id="start"><bpmn:outgoing>f0</bpmn:outgoing>'
        '<bpmn:messageEventDefinition id="Def_alerta" messageRef="Message_alerta">'
        "<bpmn:extensionElements><spiffworkflow:messageVariable>alerta"
        "</spiffworkflow:messageVariable></bpmn:extensionElements>"
        "</bpmn:messageEventDefinition></bpmn:startEvent>"
    )
    body = chain(script_task("Script_nivel", 'nivel = alerta["nivel"]'))
    body = body.replace(
        '<bpmn:startEvent id="start"><bpmn:outgoing>f0</bpmn:outgoing></bpmn:startEvent>', start
    )
    return process("Alerta", body, '<bpmn:message id="Message_alerta" name="alerta"/>')


@pytest.fixture
def app(tmp_path: Path) -> Iterator[Flask]:
    from tests.test_api import build_app

    app = build_app(tmp_path)
    yield app
    app.extensions["chamados"].unit.db.dispose()


def deploy(app: Flask, name: str, xml: str) -> Any:
    path = Path(app.instance_path) / f"{name}.bpmn"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(xml)
    with app.app_context():
        return CliRunner().invoke(main, ["models", "deploy", str(path)])


def start(svc: Chamados, process_id: str) -> Chamado:
    maria = add_person(svc, MARIA, "Maria da Silva")
    chamado, _task = svc.requests.start_instance(maria, process_id)
    return chamado


def reload(svc: Chamados, chamado_id: int) -> Chamado:
    with svc.unit.session_factory() as s:
        row = s.get(Chamado, chamado_id)
        assert row is not None
        s.expunge(row)
        return row


def post(app: Flask, token: str, name: str, body: Any) -> Any:
    from tests.test_api import check_against_openapi

    resp = app.test_client().post(
        f"/api/v1/messages/{name}", json=body, headers={"Authorization": f"Bearer {token}"}
    )
    check_against_openapi(resp)
    return resp


def two_orders(app: Flask) -> tuple[Chamado, Chamado]:
    """Two orders waiting for their approval: numbers 7 and 8."""
    svc: Chamados = app.extensions["chamados"]
    orders = []
    for numero in (7, 8):
        xml = pedido().replace("numero = numero_inicial", f"numero = {numero}")
        result = deploy(app, "pedido", xml)
        assert result.exit_code == 0, result.output
        orders.append(start(svc, "Pedido"))
    return orders[0], orders[1]


def test_the_api_delivers_to_the_instance_its_correlation_selects(app: Flask) -> None:
    from tests.test_api import person

    svc: Chamados = app.extensions["chamados"]
    seven, eight = two_orders(app)
    with svc.unit.session_factory() as s:
        waits = {(w.chamado_id, w.name) for w in s.query(MessageWait)}
    assert waits == {(seven.id, "aprovacao"), (eight.id, "aprovacao")}
    admin = person(app, "11144477735", "Ana Admin", "admin")
    resp = post(app, admin, "aprovacao", {"payload": {"numero": 8, "decisao": "sim"}})
    assert resp.status_code == 200, resp.get_json()
    assert resp.get_json() == {
        "name": "aprovacao",
        "delivered": [eight.protocolo],
        "started": [],
        "failed": [],
    }
    assert reload(svc, eight.id).closed_at is not None
    assert reload(svc, seven.id).closed_at is None  # still waits for its own
    with svc.unit.session_factory() as s:
        assert [w.chamado_id for w in s.query(MessageWait)] == [seven.id]
    # Nobody waits for number 9: nothing happens, and the caller is told.
    nobody = post(app, admin, "aprovacao", {"payload": {"numero": 9, "decisao": "sim"}})
    assert nobody.status_code == 404 and "Nenhuma instância espera" in nobody.get_json()["detail"]


def test_only_admins_send_and_bad_payloads_are_refused(app: Flask) -> None:
    from tests.test_api import person

    two_orders(app)
    maria = person(app, MARIA, "Maria da Silva")
    assert post(app, maria, "aprovacao", {"payload": {"numero": 7}}).status_code == 403
    admin = person(app, "11144477735", "Ana Admin", "admin")
    resp = post(app, admin, "aprovacao", {"payload": ["não", "é", "objeto"]})
    assert resp.status_code == 422
    assert resp.get_json()["errors"]["payload"] == "O conteúdo da mensagem deve ser um objeto JSON."
    big = post(app, admin, "aprovacao", {"payload": {"texto": "x" * 70_000}})
    assert big.status_code == 413  # the API's body limit comes first


def test_a_message_starts_the_processes_that_begin_with_it(app: Flask) -> None:
    from tests.test_api import person

    assert deploy(app, "alerta", alerta()).exit_code == 0
    svc: Chamados = app.extensions["chamados"]
    admin = person(app, "11144477735", "Ana Admin", "admin")
    resp = post(app, admin, "alerta", {"payload": {"nivel": "alto"}})
    assert resp.status_code == 200, resp.get_json()
    started = resp.get_json()["started"]
    assert len(started) == 1 and resp.get_json()["delivered"] == []
    with svc.unit.session_factory() as s:
        chamado = s.query(Chamado).filter_by(protocolo=started[0]).one()
        assert chamado.closed_at is not None


def test_a_throw_in_one_instance_reaches_a_catch_in_another(app: Flask) -> None:
    svc: Chamados = app.extensions["chamados"]
    seven, eight = two_orders(app)
    assert deploy(app, "aprovador", aprovador()).exit_code == 0
    sender = start(svc, "Aprovador")
    assert reload(svc, sender.id).closed_at is not None  # it threw and went on
    with svc.unit.session_factory() as s:
        queued = s.query(QueuedMessage).one()
        assert (queued.name, queued.state, queued.from_chamado_id) == (
            "aprovacao",
            "pending",
            sender.id,
        )
    assert svc.messages.deliver_queued("w1") == 1
    assert svc.messages.deliver_queued("w1") == 0  # exactly once
    assert reload(svc, eight.id).closed_at is not None
    assert reload(svc, seven.id).closed_at is None
    with svc.unit.session_factory() as s:
        queued = s.query(QueuedMessage).one()
        assert queued.state == "delivered" and queued.delivered_to == [eight.protocolo]
        assert queued.payload == {} and queued.correlations == {}  # kept only to deliver
        told = s.query(AuditEvent).filter_by(chamado_id=sender.id, action="mensagem.enviada")
        assert told.one().summary == f"Mensagem “aprovacao” entregue a {eight.protocolo}"
    # A second approval for order 8, which no longer waits: not delivered, and said so.
    again = start(svc, "Aprovador")
    assert svc.messages.deliver_queued("w1") == 1
    with svc.unit.session_factory() as s:
        lost = s.query(AuditEvent).filter_by(chamado_id=again.id, action="mensagem.nao_entregue")
        assert "nenhuma instância a esperava" in lost.one().summary


def test_the_scheduler_runs_the_messages_job(app: Flask) -> None:
    svc: Chamados = app.extensions["chamados"]
    scheduler = svc.scheduler()
    assert scheduler.get_job("messages") is not None


def test_a_failure_is_an_incident_that_retry_delivers_again(app: Flask) -> None:
    from tests.test_api import person

    svc: Chamados = app.extensions["chamados"]
    xml = pedido().replace(
        'decisao = aprovacao["decisao"]', 'decisao = aprovacao["decisao"]\nif decisao == "?": 1 / 0'
    )
    xml = xml.replace("numero = numero_inicial", "numero = 5")
    assert deploy(app, "pedido", xml).exit_code == 0
    order = start(svc, "Pedido")
    admin = person(app, "11144477735", "Ana Admin", "admin")
    resp = post(app, admin, "aprovacao", {"payload": {"numero": 5, "decisao": "?"}})
    assert resp.status_code == 200 and resp.get_json()["failed"] == [order.protocolo]
    failed = reload(svc, order.id)
    assert failed.incident_element == "Script_decisao"
    assert failed.incident_action is not None and failed.incident_action["kind"] == "message"
    with svc.unit.session_factory() as s:
        from engine import users
        from engine.usecases.base import ActorRef

        user = users.get_user_by_cpf(s, "11144477735")
        assert user is not None
        actor = ActorRef(user.id, frozenset({"admin"}))
    outcome = svc.incidents.retry_incident(actor, order.id, failed.version)
    assert not outcome.resolved and "também falhou" in outcome.message


def test_a_throw_nobody_receives_is_refused_at_deploy(app: Flask) -> None:
    result = deploy(app, "aprovador", aprovador())
    assert result.exit_code == 1
    assert (
        "Throw_aprovacao: A mensagem “aprovacao” não é recebida por nenhum processo publicado"
        in result.output
    )
    # Once a process that receives it is published, the same model deploys.
    assert deploy(app, "pedido", pedido()).exit_code == 0
    assert deploy(app, "aprovador", aprovador()).exit_code == 0
