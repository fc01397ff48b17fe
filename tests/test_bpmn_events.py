"""Errors, escalations, signals and event sub-processes run as SpiffWorkflow runs them,
deployed and driven through the platform (the models issue: "everything SpiffWorkflow
runs, the platform runs"). Each model is small and says what a designer draws."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from engine.models import Chamado, HumanTask
from engine.service import Chamados
from tests.conftest import FakeClock
from tests.model_files import end_with_outcome, model
from tests.test_incidents import World


def flow(flow_id: str, source: str, target: str) -> str:
    return f'<bpmn:sequenceFlow id="{flow_id}" sourceRef="{source}" targetRef="{target}"/>'


def ticket(svc: Chamados, cid: int) -> Chamado:
    with svc.unit.session_factory() as s:
        row = s.get(Chamado, cid)
        assert row is not None
        return row


def tasks_of(svc: Chamados, cid: int) -> dict[str, str]:
    with svc.unit.session_factory() as s:
        rows = s.scalars(select(HumanTask).where(HumanTask.chamado_id == cid)).all()
        return {row.task_name: row.state for row in rows}


def caught_by_boundary(kind: str, ref: str) -> str:
    """A sub-process whose end event throws ``kind``; a boundary event on the sub-process
    catches it and takes the other way out."""
    return (
        '<bpmn:startEvent id="inicio"><bpmn:outgoing>f0</bpmn:outgoing></bpmn:startEvent>'
        '<bpmn:subProcess id="verificar"><bpmn:incoming>f0</bpmn:incoming>'
        "<bpmn:outgoing>f_ok</bpmn:outgoing>"
        '<bpmn:startEvent id="v_inicio"><bpmn:outgoing>v0</bpmn:outgoing></bpmn:startEvent>'
        '<bpmn:scriptTask id="v_checar"><bpmn:incoming>v0</bpmn:incoming>'
        "<bpmn:outgoing>v1</bpmn:outgoing><bpmn:script>valido = False</bpmn:script>"
        "</bpmn:scriptTask>"
        f'<bpmn:endEvent id="v_fim"><bpmn:incoming>v1</bpmn:incoming>'
        f'<bpmn:{kind}EventDefinition {kind}Ref="{ref}"/></bpmn:endEvent>'
        + flow("v0", "v_inicio", "v_checar")
        + flow("v1", "v_checar", "v_fim")
        + "</bpmn:subProcess>"
        f'<bpmn:boundaryEvent id="pegou" attachedToRef="verificar">'
        f'<bpmn:outgoing>f_pegou</bpmn:outgoing><bpmn:{kind}EventDefinition {kind}Ref="{ref}"/>'
        "</bpmn:boundaryEvent>"
        + end_with_outcome("fim_ok", "Tudo certo", "f_ok")
        + end_with_outcome("fim_pegou", f"Desviado pelo {kind}", "f_pegou")
        + flow("f0", "inicio", "verificar")
        + flow("f_ok", "verificar", "fim_ok")
        + flow("f_pegou", "pegou", "fim_pegou")
    )


def test_an_error_thrown_in_a_sub_process_is_caught_by_its_boundary(tsvc: Chamados) -> None:
    w = World(tsvc)
    extra = '<bpmn:error id="Erro_invalido" name="invalido" errorCode="INVALIDO"/>'
    w.publish("ComErro", model(caught_by_boundary("error", "Erro_invalido"), "ComErro", extra), "e")
    chamado, _task = tsvc.requests.start_instance(w.maria, "ComErro")
    done = ticket(tsvc, chamado.id)
    assert done.closed_at is not None and done.outcome_message == "Desviado pelo error"


def test_an_escalation_thrown_in_a_sub_process_is_caught_by_its_boundary(
    tsvc: Chamados,
) -> None:
    w = World(tsvc)
    extra = '<bpmn:escalation id="Esc_chefia" name="chefia" escalationCode="CHEFIA"/>'
    body = caught_by_boundary("escalation", "Esc_chefia")
    w.publish("ComEscalonamento", model(body, "ComEscalonamento", extra), "e")
    chamado, _task = tsvc.requests.start_instance(w.maria, "ComEscalonamento")
    done = ticket(tsvc, chamado.id)
    assert done.closed_at is not None and done.outcome_message == "Desviado pelo escalation"


SIGNALS = (
    '<bpmn:startEvent id="inicio"><bpmn:outgoing>f0</bpmn:outgoing></bpmn:startEvent>'
    '<bpmn:parallelGateway id="divide"><bpmn:incoming>f0</bpmn:incoming>'
    "<bpmn:outgoing>f_espera</bpmn:outgoing><bpmn:outgoing>f_tarefa</bpmn:outgoing>"
    "</bpmn:parallelGateway>"
    '<bpmn:intermediateCatchEvent id="espera_sinal"><bpmn:incoming>f_espera</bpmn:incoming>'
    '<bpmn:outgoing>f_sinal</bpmn:outgoing><bpmn:signalEventDefinition signalRef="S_pronto"/>'
    "</bpmn:intermediateCatchEvent>"
    '<bpmn:manualTask id="preparar" name="Preparar"><bpmn:incoming>f_tarefa</bpmn:incoming>'
    "<bpmn:outgoing>f_avisa</bpmn:outgoing></bpmn:manualTask>"
    '<bpmn:intermediateThrowEvent id="avisa"><bpmn:incoming>f_avisa</bpmn:incoming>'
    '<bpmn:outgoing>f_junta2</bpmn:outgoing><bpmn:signalEventDefinition signalRef="S_pronto"/>'
    "</bpmn:intermediateThrowEvent>"
    '<bpmn:parallelGateway id="junta"><bpmn:incoming>f_sinal</bpmn:incoming>'
    "<bpmn:incoming>f_junta2</bpmn:incoming><bpmn:outgoing>f_fim</bpmn:outgoing>"
    "</bpmn:parallelGateway>"
    + end_with_outcome("fim", "Sinal recebido", "f_fim")
    + flow("f0", "inicio", "divide")
    + flow("f_espera", "divide", "espera_sinal")
    + flow("f_tarefa", "divide", "preparar")
    + flow("f_sinal", "espera_sinal", "junta")
    + flow("f_avisa", "preparar", "avisa")
    + flow("f_junta2", "avisa", "junta")
    + flow("f_fim", "junta", "fim")
)


def test_a_signal_thrown_on_one_branch_releases_the_other(tsvc: Chamados) -> None:
    w = World(tsvc)
    extra = '<bpmn:signal id="S_pronto" name="pronto"/>'
    w.publish("ComSinal", model(SIGNALS, "ComSinal", extra), "s")
    chamado, task = tsvc.requests.start_instance(w.maria, "ComSinal")
    assert task is not None and task.task_name == "preparar"
    assert ticket(tsvc, chamado.id).closed_at is None  # the other branch waits
    chamado = tsvc.requests.complete_task(w.maria, task.id, {}, chamado.version)
    done = ticket(tsvc, chamado.id)
    assert done.closed_at is not None and done.outcome_message == "Sinal recebido"


EVENT_SUB_PROCESS = (
    '<bpmn:startEvent id="inicio"><bpmn:outgoing>f0</bpmn:outgoing></bpmn:startEvent>'
    '<bpmn:manualTask id="aguardar" name="Aguardar a entrega"><bpmn:incoming>f0</bpmn:incoming>'
    "<bpmn:outgoing>f1</bpmn:outgoing></bpmn:manualTask>"
    + end_with_outcome("fim", "Entregue", "f1")
    + flow("f0", "inicio", "aguardar")
    + flow("f1", "aguardar", "fim")
    + '<bpmn:subProcess id="prazo" triggeredByEvent="true">'
    '<bpmn:startEvent id="prazo_inicio"><bpmn:outgoing>p0</bpmn:outgoing>'
    '<bpmn:timerEventDefinition><bpmn:timeDuration>"P2D"</bpmn:timeDuration>'
    "</bpmn:timerEventDefinition></bpmn:startEvent>"
    + end_with_outcome("prazo_fim", "Prazo esgotado", "p0")
    + flow("p0", "prazo_inicio", "prazo_fim")
    + "</bpmn:subProcess>"
)


def test_an_event_sub_process_interrupts_the_instance_when_its_timer_fires(
    tsvc: Chamados, clock: FakeClock
) -> None:
    w = World(tsvc)
    w.publish("ComPrazo", model(EVENT_SUB_PROCESS, "ComPrazo"), "p")
    chamado, task = tsvc.requests.start_instance(w.maria, "ComPrazo")
    assert task is not None and task.task_name == "aguardar"
    clock.advance(days=1)
    assert tsvc.timers.fire_due_timers("w1") == []
    clock.advance(days=1, minutes=1)
    assert len(tsvc.timers.fire_due_timers("w1")) == 1
    done = ticket(tsvc, chamado.id)
    assert done.closed_at is not None and done.outcome_message == "Prazo esgotado"
    assert tasks_of(tsvc, chamado.id) == {"aguardar": "cancelled"}  # withdrawn from her list


def test_a_non_interrupting_event_sub_process_runs_beside_the_task(
    tsvc: Chamados, clock: FakeClock
) -> None:
    w = World(tsvc)
    body = (
        EVENT_SUB_PROCESS.replace(
            '<bpmn:startEvent id="prazo_inicio">',
            '<bpmn:startEvent id="prazo_inicio" isInterrupting="false">',
        )
        .replace(
            end_with_outcome("prazo_fim", "Prazo esgotado", "p0"),
            '<bpmn:scriptTask id="prazo_lembrete"><bpmn:incoming>p0</bpmn:incoming>'
            "<bpmn:outgoing>p1</bpmn:outgoing><bpmn:script>lembretes = 1</bpmn:script>"
            '</bpmn:scriptTask><bpmn:endEvent id="prazo_fim"><bpmn:incoming>p1</bpmn:incoming>'
            "</bpmn:endEvent>" + flow("p1", "prazo_lembrete", "prazo_fim"),
        )
        .replace(
            flow("p0", "prazo_inicio", "prazo_fim"), flow("p0", "prazo_inicio", "prazo_lembrete")
        )
    )
    w.publish("ComLembrete", model(body, "ComLembrete"), "l")
    chamado, task = tsvc.requests.start_instance(w.maria, "ComLembrete")
    assert task is not None
    clock.advance(days=2, minutes=1)
    assert len(tsvc.timers.fire_due_timers("w1")) == 1
    assert ticket(tsvc, chamado.id).closed_at is None  # her task goes on
    assert tasks_of(tsvc, chamado.id) == {"aguardar": "ready"}
    version = ticket(tsvc, chamado.id).version
    tsvc.requests.complete_task(w.maria, task.id, {}, version)
    done = ticket(tsvc, chamado.id)
    assert done.closed_at is not None and done.outcome_message == "Entregue"
    assert w.workflow_data(chamado.id).get("lembretes") == 1


PARALLEL_WITH_REMINDER = (
    '<bpmn:startEvent id="inicio"><bpmn:outgoing>f0</bpmn:outgoing></bpmn:startEvent>'
    '<bpmn:parallelGateway id="divide"><bpmn:incoming>f0</bpmn:incoming>'
    "<bpmn:outgoing>f_a</bpmn:outgoing><bpmn:outgoing>f_b</bpmn:outgoing>"
    "</bpmn:parallelGateway>"
    '<bpmn:manualTask id="primeira" name="Primeira"><bpmn:incoming>f_a</bpmn:incoming>'
    "<bpmn:outgoing>f_a2</bpmn:outgoing></bpmn:manualTask>"
    '<bpmn:boundaryEvent id="lembrete" attachedToRef="primeira" cancelActivity="false">'
    '<bpmn:outgoing>f_l</bpmn:outgoing><bpmn:timerEventDefinition><bpmn:timeDuration>"P2D"'
    "</bpmn:timeDuration></bpmn:timerEventDefinition></bpmn:boundaryEvent>"
    '<bpmn:scriptTask id="lembrar"><bpmn:incoming>f_l</bpmn:incoming>'
    "<bpmn:outgoing>f_l2</bpmn:outgoing><bpmn:script>lembretes = 1</bpmn:script>"
    '</bpmn:scriptTask><bpmn:endEvent id="lembrado"><bpmn:incoming>f_l2</bpmn:incoming>'
    "</bpmn:endEvent>"
    '<bpmn:manualTask id="segunda" name="Segunda"><bpmn:incoming>f_b</bpmn:incoming>'
    "<bpmn:outgoing>f_b2</bpmn:outgoing></bpmn:manualTask>"
    '<bpmn:parallelGateway id="junta"><bpmn:incoming>f_a2</bpmn:incoming>'
    "<bpmn:incoming>f_b2</bpmn:incoming><bpmn:outgoing>f_fim</bpmn:outgoing>"
    "</bpmn:parallelGateway>"
    + end_with_outcome("fim", "Ambas feitas", "f_fim")
    + flow("f0", "inicio", "divide")
    + flow("f_a", "divide", "primeira")
    + flow("f_b", "divide", "segunda")
    + flow("f_a2", "primeira", "junta")
    + flow("f_b2", "segunda", "junta")
    + flow("f_l", "lembrete", "lembrar")
    + flow("f_l2", "lembrar", "lembrado")
    + flow("f_fim", "junta", "fim")
)


def test_completing_one_of_two_parallel_tasks_keeps_the_other_and_its_timer(
    tsvc: Chamados, clock: FakeClock
) -> None:
    """A step compares the workflow with the ticket's open task rows and waiting timer
    rows, read with the task's lock (engine.usecases.base._LOCK_TASK): only this ticket's,
    without its own completed row, and the timer's due time as stored (a mismatch would
    move it, an UPDATE on every step)."""
    from sqlalchemy import event

    from engine.models import WorkflowTimer

    w = World(tsvc)
    w.publish("Paralelas", model(PARALLEL_WITH_REMINDER, "Paralelas"), "p")
    clock.advance(microseconds=123_457)  # due times with a fraction of a second
    first, _ = tsvc.requests.start_instance(w.maria, "Paralelas")
    other, _ = tsvc.requests.start_instance(w.maria, "Paralelas")

    def rows(cid: int) -> tuple[dict[str, str], list[tuple[str, Any]]]:
        with tsvc.unit.session_factory() as s:
            timers = s.execute(
                select(WorkflowTimer.state, WorkflowTimer.due_at).where(
                    WorkflowTimer.chamado_id == cid
                )
            ).all()
        return tasks_of(tsvc, cid), [tuple(t) for t in timers]

    before_other = rows(other.id)
    before_first = rows(first.id)
    assert before_first[0] == {"primeira": "ready", "segunda": "ready"}
    assert [state for state, _due in before_first[1]] == ["waiting"]
    segunda = next(t for t in w.open_tasks(first.id) if t.task_name == "segunda")
    written: list[str] = []

    def note(_c: Any, _cur: Any, statement: str, *_a: Any) -> None:
        if statement.lstrip().upper().startswith(("UPDATE", "INSERT", "DELETE")):
            written.append(" ".join(statement.split())[:60])

    event.listen(tsvc.unit.db, "before_cursor_execute", note)
    try:
        tsvc.requests.complete_task(w.maria, segunda.id, {}, ticket(tsvc, first.id).version)
    finally:
        event.remove(tsvc.unit.db, "before_cursor_execute", note)
    assert rows(first.id) == ({"primeira": "ready", "segunda": "completed"}, before_first[1])
    assert rows(other.id) == before_other  # the other ticket's rows untouched
    assert not [s for s in written if "workflow_timers" in s], written
    assert sum("human_tasks" in s for s in written) == 1, written  # its own row only
    clock.advance(days=2, minutes=1)
    assert len(tsvc.timers.fire_due_timers("w1")) == 2  # each ticket's reminder, once
    assert [state for state, _due in rows(first.id)[1]] == ["fired"]
    primeira = next(t for t in w.open_tasks(first.id) if t.task_name == "primeira")
    tsvc.requests.complete_task(w.maria, primeira.id, {}, ticket(tsvc, first.id).version)
    done = ticket(tsvc, first.id)
    assert done.closed_at is not None and done.outcome_message == "Ambas feitas"
