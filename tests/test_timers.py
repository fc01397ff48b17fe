"""BPMN timers and the SLA clock, with time moved by a clock the engine takes."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from engine import business_days
from engine.errors import Conflict, ProcessDefinitionError, TaskNotReady
from engine.models import AuditEvent, Chamado, WorkflowTimer
from engine.queue import QueueFilters
from engine.service import ActorRef, Chamados
from engine.settings import Settings
from engine.specs import parse_process, read_process_dir
from tests.conftest import FakeClock
from tests.test_engine_lifecycle import (
    chamado,
    decide,
    open_task,
    registration,
    submit_registration,
)


def submit(svc: Chamados, maria: ActorRef) -> int:
    return submit_registration(svc, maria)


def ask_adjustment(svc: Chamados, ana: ActorRef, cid: int) -> None:
    decide(svc, ana, cid, {"decisao": "ajuste", "ajuste_solicitado": "Detalhe melhor."})


def timers_of(svc: Chamados, cid: int) -> dict[str, str]:
    with svc.unit.session_factory() as s:
        rows = s.scalars(select(WorkflowTimer).where(WorkflowTimer.chamado_id == cid)).all()
        return {f"{r.element_id}#{r.id}": r.state for r in rows}


def test_unanswered_adjustment_closes_after_ten_days(
    tsvc: Chamados, clock: FakeClock, people: tuple[ActorRef, ActorRef]
) -> None:
    maria, ana = people
    cid = submit(tsvc, maria)
    ask_adjustment(tsvc, ana, cid)
    adjust = open_task(tsvc, cid)
    version = chamado(tsvc, cid).version
    clock.advance(days=9, hours=23)
    assert tsvc.timers.fire_due_timers("w1") == []
    assert chamado(tsvc, cid).status == "aguardando_ajuste"
    clock.advance(hours=2)
    assert len(tsvc.timers.fire_due_timers("w1")) == 1
    c = chamado(tsvc, cid)
    assert c.status == "encerrado_sem_resposta" and c.closed_at is not None
    view = tsvc.requests.tracking(maria, cid)
    assert view.events[-1].summary == "Chamado encerrado por falta de resposta"
    # The requester's open form is now stale: nothing changes.
    with pytest.raises((Conflict, TaskNotReady)):
        tsvc.requests.complete_task(maria, adjust.id, registration(), version)
    assert tsvc.timers.fire_due_timers("w1") == []


def test_answered_adjustment_never_fires(
    tsvc: Chamados, clock: FakeClock, people: tuple[ActorRef, ActorRef]
) -> None:
    maria, ana = people
    cid = submit(tsvc, maria)
    ask_adjustment(tsvc, ana, cid)
    clock.advance(days=3)
    task = open_task(tsvc, cid)
    data = tsvc.requests.task_form(maria, task.id).data
    tsvc.requests.complete_task(maria, task.id, data, chamado(tsvc, cid).version)
    assert "cancelled" in [
        state for name, state in timers_of(tsvc, cid).items() if name.startswith("timer_sem")
    ]
    clock.advance(days=30)
    fired = tsvc.timers.fire_due_timers("w1")
    states = timers_of(tsvc, cid)
    assert all(
        state == "cancelled" for name, state in states.items() if name.startswith("timer_sem")
    )
    # Only the analysis SLA fired (30 days later), without stopping the analysis.
    assert len(fired) == 1
    assert chamado(tsvc, cid).status == "em_analise"


def test_sla_counts_business_days_and_does_not_stop_the_analysis(
    tsvc: Chamados, clock: FakeClock, people: tuple[ActorRef, ActorRef]
) -> None:
    maria, ana = people
    cid = submit(tsvc, maria)  # Friday 18:00: two business days end Tuesday 18:00
    due = chamado(tsvc, cid).analysis_due_at
    assert due is not None
    assert due.astimezone(business_days.TZ) == datetime(2026, 12, 1, 18, 0, tzinfo=business_days.TZ)
    clock.now = due - timedelta(minutes=1)
    assert tsvc.timers.fire_due_timers("w1") == []
    assert not chamado(tsvc, cid).overdue
    clock.now = due + timedelta(minutes=1)
    assert len(tsvc.timers.fire_due_timers("w1")) == 1
    c = chamado(tsvc, cid)
    assert c.overdue and c.status == "em_analise"
    late = tsvc.analysis.queue(ana, QueueFilters(view="todas", situacao="atrasado"))
    assert [t.chamado_id for t in late.items] == [cid]
    with tsvc.unit.session_factory() as s:
        actions = s.scalars(select(AuditEvent.action).where(AuditEvent.chamado_id == cid)).all()
    assert "prazo.vencido" in actions
    decide(tsvc, ana, cid, {"decisao": "resolver", "resposta": "Feito agora."})
    assert chamado(tsvc, cid).status == "resolvido"


def test_sla_clock_excludes_time_waiting_for_the_requester(
    tsvc: Chamados, clock: FakeClock, people: tuple[ActorRef, ActorRef]
) -> None:
    maria, ana = people
    clock.now = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)  # Monday 09:00
    cid = submit(tsvc, maria)
    clock.advance(hours=24)  # one business day of analysis
    ask_adjustment(tsvc, ana, cid)
    assert chamado(tsvc, cid).analysis_seconds == business_days.DAY
    clock.advance(days=6)  # the requester takes six days (back on a Monday)
    task = open_task(tsvc, cid)
    tsvc.requests.complete_task(
        maria, task.id, tsvc.requests.task_form(maria, task.id).data, chamado(tsvc, cid).version
    )
    c = chamado(tsvc, cid)
    assert c.analysis_seconds == business_days.DAY  # the waiting did not count
    resumed = clock.now
    assert c.analysis_due_at == business_days.add_business_seconds(resumed, business_days.DAY)
    clock.advance(hours=2)
    assert tsvc.analysis.analysis_clock(c) == business_days.DAY + 2 * 3600


def test_two_schedulers_fire_each_timer_once(
    tsvc: Chamados, clock: FakeClock, people: tuple[ActorRef, ActorRef]
) -> None:
    maria, ana = people
    ids = [submit(tsvc, maria) for _ in range(6)]
    for cid in ids:
        ask_adjustment(tsvc, ana, cid)
    clock.advance(days=11)
    fired: list[int] = []
    barrier = threading.Barrier(2)

    def scheduler(name: str) -> None:
        barrier.wait()
        for _ in range(3):
            fired.extend(tsvc.timers.fire_due_timers(name, limit=2))

    threads = [threading.Thread(target=scheduler, args=(f"w{i}",)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(fired) == len(set(fired)) == 6
    with tsvc.unit.session_factory() as s:
        statuses = s.scalars(select(Chamado.status).where(Chamado.id.in_(ids))).all()
        closings = s.scalars(
            select(AuditEvent.chamado_id).where(
                AuditEvent.action == "chamado.encerrado_sem_resposta"
            )
        ).all()
    assert set(statuses) == {"encerrado_sem_resposta"}
    assert sorted(closings) == sorted(ids)


def test_invalid_timer_expression_refused_at_deploy() -> None:
    settings = Settings.from_env(env={})
    bpmn, forms = read_process_dir(settings.processes_dir, settings.forms_dir)["chamado"]
    broken = bpmn.replace(b'"P10D"', b'"PT10D"')
    with pytest.raises(ProcessDefinitionError) as err:
        parse_process(broken, forms)
    assert err.value.element_id == "timer_sem_resposta"
    assert "PT10D" in err.value.message
    unquoted = bpmn.replace(b'"P10D"', b"__import__('os')")
    with pytest.raises(ProcessDefinitionError) as err:
        parse_process(unquoted, forms)
    assert err.value.element_id == "timer_sem_resposta"


def test_the_scheduler_job_fires_due_timers(
    tsvc: Chamados, clock: FakeClock, people: tuple[ActorRef, ActorRef]
) -> None:
    import time

    maria, ana = people
    cid = submit(tsvc, maria)
    ask_adjustment(tsvc, ana, cid)
    clock.advance(days=11)
    scheduler = tsvc.scheduler(interval_seconds=0.1)
    scheduler.start()
    try:
        deadline = time.monotonic() + 10
        while chamado(tsvc, cid).status != "encerrado_sem_resposta":
            assert time.monotonic() < deadline, "o agendador não disparou o temporizador"
            time.sleep(0.05)
    finally:
        scheduler.shutdown(wait=True)
