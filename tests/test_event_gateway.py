"""An event-based gateway: whichever comes first of a message and a timer takes its
branch, and the other is withdrawn (bpmn.io and Camunda draw "wait for the answer, or
give up after a while" so). The timer is a quoted ISO duration, as the deploy checks ask."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from engine.errors import NotFound
from engine.models import Chamado, WorkflowTimer
from engine.service import Chamados
from tests.conftest import FakeClock
from tests.model_files import end_with_outcome, model
from tests.test_incidents import World

PID = "AguardaPagamento"


BODY = (
    '<bpmn:startEvent id="inicio"><bpmn:outgoing>f0</bpmn:outgoing></bpmn:startEvent>'
    '<bpmn:eventBasedGateway id="aguarda"><bpmn:incoming>f0</bpmn:incoming>'
    "<bpmn:outgoing>f_msg</bpmn:outgoing><bpmn:outgoing>f_tempo</bpmn:outgoing>"
    "</bpmn:eventBasedGateway>"
    '<bpmn:intermediateCatchEvent id="pago"><bpmn:incoming>f_msg</bpmn:incoming>'
    '<bpmn:outgoing>f_pago</bpmn:outgoing><bpmn:messageEventDefinition messageRef="m_pago"/>'
    "</bpmn:intermediateCatchEvent>"
    '<bpmn:intermediateCatchEvent id="expirou"><bpmn:incoming>f_tempo</bpmn:incoming>'
    "<bpmn:outgoing>f_expirado</bpmn:outgoing><bpmn:timerEventDefinition>"
    '<bpmn:timeDuration>"PT15M"</bpmn:timeDuration></bpmn:timerEventDefinition>'
    "</bpmn:intermediateCatchEvent>"
    + end_with_outcome("fim_pago", "Pagamento confirmado", "f_pago")
    + end_with_outcome("fim_expirado", "Prazo de pagamento esgotado", "f_expirado")
    + '<bpmn:sequenceFlow id="f0" sourceRef="inicio" targetRef="aguarda"/>'
    '<bpmn:sequenceFlow id="f_msg" sourceRef="aguarda" targetRef="pago"/>'
    '<bpmn:sequenceFlow id="f_tempo" sourceRef="aguarda" targetRef="expirou"/>'
    '<bpmn:sequenceFlow id="f_pago" sourceRef="pago" targetRef="fim_pago"/>'
    '<bpmn:sequenceFlow id="f_expirado" sourceRef="expirou" targetRef="fim_expirado"/>'
)
MESSAGE = '<bpmn:message id="m_pago" name="pagamento_confirmado"/>'


def ticket(svc: Chamados, cid: int) -> Chamado:
    with svc.unit.session_factory() as s:
        row = s.get(Chamado, cid)
        assert row is not None
        return row


def test_the_message_or_the_timer_whichever_comes_first(tsvc: Chamados, clock: FakeClock) -> None:
    w = World(tsvc)
    w.publish(PID, model(BODY, process_id=PID, extra=MESSAGE), "pagamento")
    paid, _task = tsvc.requests.start_instance(w.maria, PID)
    delivery = tsvc.messages.send_message(w.carlos, "pagamento_confirmado", {"valor": 10})
    assert delivery.received
    done = ticket(tsvc, paid.id)
    assert done.closed_at is not None and done.outcome_message == "Pagamento confirmado"
    with tsvc.unit.session_factory() as s:  # its timer was withdrawn with the branch
        states = s.scalars(
            select(WorkflowTimer.state).where(WorkflowTimer.chamado_id == paid.id)
        ).all()
    assert "waiting" not in states

    late, _task = tsvc.requests.start_instance(w.maria, PID)
    clock.advance(minutes=14)
    assert tsvc.timers.fire_due_timers("w1") == []
    assert ticket(tsvc, late.id).closed_at is None
    clock.advance(minutes=2)
    assert len(tsvc.timers.fire_due_timers("w1")) == 1  # this one's; the paid one never
    expired = ticket(tsvc, late.id)
    assert expired.outcome_message == "Prazo de pagamento esgotado"
    # Too late for the message: nobody waits for it any more, and the sender is told.
    with pytest.raises(NotFound, match="Nenhuma instância espera"):
        tsvc.messages.send_message(w.carlos, "pagamento_confirmado", {})
    assert ticket(tsvc, late.id).outcome_message == "Prazo de pagamento esgotado"
