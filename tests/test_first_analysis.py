"""``chamados.first_analysis_at``: the moment the team first took a ticket up, which the
Painel's "time to the first analysis" reads (engine.dashboard). Written by the first
claim of a staff task (not moved by a release and a new claim), by a reassignment, by the
completion of a staff task nobody claimed (an admin's, an outage's resolution); filled
for older tickets by migration 0018."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import insert, select

from engine import schema
from engine.errors import Forbidden
from engine.models import Chamado, HumanTask
from engine.service import Chamados
from tests.conftest import FRIDAY_EVENING, FakeClock, add_person, downgrade_schema
from tests.test_engine_lifecycle import chamado, decide, open_task, submit_registration
from tests.test_outages import open_outage, version_of, wave

MARIA, ANA, BRUNO, CARLOS, SOFIA = (
    "39053344705",
    "11144477735",
    "86288366757",
    "52998224725",
    "71460238001",
)


def first_analysis(svc: Chamados, chamado_id: int) -> datetime | None:
    return chamado(svc, chamado_id).first_analysis_at


def test_the_first_claim_is_kept_through_release_and_a_new_claim(
    tsvc: Chamados, clock: FakeClock
) -> None:
    maria = add_person(tsvc, MARIA, "Maria da Silva")
    ana = add_person(tsvc, ANA, "Ana Souza", "analyst")
    bruno = add_person(tsvc, BRUNO, "Bruno Lima", "analyst")
    cid = submit_registration(tsvc, maria)
    # Sending the form completes the requester's task: that is no analysis.
    assert first_analysis(tsvc, cid) is None

    clock.advance(hours=2)
    claimed_at = clock.now
    task = open_task(tsvc, cid, "analyst")
    tsvc.analysis.claim(ana, task.id)
    assert first_analysis(tsvc, cid) == claimed_at

    clock.advance(hours=1)
    tsvc.analysis.release(ana, task.id)
    clock.advance(hours=1)
    tsvc.analysis.claim(bruno, task.id)
    clock.advance(hours=1)
    decide(tsvc, bruno, cid, {"decisao": "resolver", "resposta": "Corrigido."})
    assert chamado(tsvc, cid).closed_at == clock.now
    assert first_analysis(tsvc, cid) == claimed_at


def test_a_refused_claim_writes_nothing(tsvc: Chamados, clock: FakeClock) -> None:
    maria = add_person(tsvc, MARIA, "Maria da Silva")
    ana = add_person(tsvc, ANA, "Ana Souza", "analyst")
    outsider = add_person(tsvc, BRUNO, "Bruno Lima")
    cid = submit_registration(tsvc, maria)
    task = open_task(tsvc, cid, "analyst")
    with pytest.raises(Forbidden):
        tsvc.analysis.claim(outsider, task.id)
    assert first_analysis(tsvc, cid) is None
    clock.advance(minutes=10)
    tsvc.analysis.claim(ana, task.id)
    assert first_analysis(tsvc, cid) == clock.now


def test_a_reassignment_is_a_first_analysis_too(tsvc: Chamados, clock: FakeClock) -> None:
    maria = add_person(tsvc, MARIA, "Maria da Silva")
    add_person(tsvc, ANA, "Ana Souza", "analyst")
    sofia = add_person(tsvc, SOFIA, "Sofia Supervisora", "supervisor")
    cid = submit_registration(tsvc, maria)
    clock.advance(minutes=40)
    tsvc.analysis.reassign(sofia, open_task(tsvc, cid, "analyst").id, ANA)
    assert first_analysis(tsvc, cid) == clock.now


def test_a_staff_task_completed_without_a_claim(tsvc: Chamados, clock: FakeClock) -> None:
    maria = add_person(tsvc, MARIA, "Maria da Silva")
    carlos = add_person(tsvc, CARLOS, "Carlos Admin", "admin")
    cid = submit_registration(tsvc, maria)
    clock.advance(hours=3)
    task = open_task(tsvc, cid, "analyst")
    assert task.assignee_id is None
    tsvc.requests.complete_task_on_behalf(
        carlos,
        task.id,
        {"decisao": "resolver", "resposta": "Corrigido."},
        chamado(tsvc, cid).version,
    )
    assert chamado(tsvc, cid).closed_at == clock.now
    assert first_analysis(tsvc, cid) == clock.now


def test_the_migration_fills_the_older_tickets(tsvc: Chamados, clock: FakeClock) -> None:
    """Tickets run through the engine, the database taken back to before 0018 (the
    column dropped), then upgraded: the backfill gives each ticket what the live writes
    gave it — a cancelled task (the workflow moved on; nobody took it up) does not count."""
    maria = add_person(tsvc, MARIA, "Maria da Silva")
    ana = add_person(tsvc, ANA, "Ana Souza", "analyst")
    carlos = add_person(tsvc, CARLOS, "Carlos Admin", "admin")
    claimed = submit_registration(tsvc, maria)
    clock.advance(minutes=30)
    decide(tsvc, ana, claimed, {"decisao": "ajuste", "ajuste_solicitado": "Qual protocolo?"})
    task = open_task(tsvc, claimed)
    form = tsvc.requests.task_form(maria, task.id)
    clock.advance(hours=1)
    tsvc.requests.complete_task(maria, task.id, form.data, chamado(tsvc, claimed).version)
    clock.advance(hours=1)
    decide(tsvc, ana, claimed, {"decisao": "resolver", "resposta": "Corrigido."})
    unclaimed = submit_registration(tsvc, maria)
    clock.advance(hours=2)
    tsvc.requests.complete_task_on_behalf(
        carlos,
        open_task(tsvc, unclaimed, "analyst").id,
        {"decisao": "resolver", "resposta": "Corrigido."},
        chamado(tsvc, unclaimed).version,
    )
    waiting = submit_registration(tsvc, maria)
    live = {cid: first_analysis(tsvc, cid) for cid in (claimed, unclaimed, waiting)}
    assert live == {
        claimed: FRIDAY_EVENING + timedelta(minutes=30),
        unclaimed: FRIDAY_EVENING + timedelta(hours=4, minutes=30),
        waiting: None,
    }

    db = tsvc.unit.db
    downgrade_schema(db, "0015")
    # A staff task of the waiting ticket the workflow cancelled before anyone took it.
    tasks = HumanTask.__table__
    with db.begin() as connection:
        connection.execute(
            insert(tasks).values(
                chamado_id=waiting,
                task_guid="cancelada-antes-de-0018",
                task_name="analisar",
                title="Analisar",
                group="analyst",
                state="cancelled",
                created_at=clock.now,
                completed_at=clock.now + timedelta(minutes=5),
            )
        )
    schema.upgrade(db)
    assert schema.current_revision(db) == schema.head_revision()
    with db.connect() as connection:
        filled = dict(
            connection.execute(
                select(Chamado.id, Chamado.first_analysis_at).where(Chamado.id.in_(list(live)))
            ).all()
        )
    assert filled == live


def test_an_outage_resolution_is_the_first_analysis_of_a_ticket_nobody_took(
    tsvc: Chamados, clock: FakeClock
) -> None:
    ana = add_person(tsvc, ANA, "Ana Souza", "analyst")
    sofia = add_person(tsvc, SOFIA, "Sofia Supervisora", "supervisor")
    untaken, claimed = wave(tsvc, 2)
    clock.advance(minutes=20)
    claimed_at = clock.now
    tsvc.analysis.claim(ana, open_task(tsvc, claimed, "analyst").id)
    oid = open_outage(tsvc, ana, untaken)
    tsvc.outages.link(ana, oid, [claimed])
    clock.advance(hours=5)
    result = tsvc.outages.resolve(sofia, oid, version_of(tsvc, sofia, oid))
    assert sorted(result.done["resolvido"]) == sorted(
        chamado(tsvc, cid).protocolo for cid in (untaken, claimed)
    )
    assert first_analysis(tsvc, untaken) == clock.now
    assert first_analysis(tsvc, claimed) == claimed_at


@pytest.mark.parametrize("action", ["claim", "reassign"])
def test_a_first_analysis_waits_for_a_step_holding_the_ticket_instead_of_deadlocking(
    svc: Chamados, action: str
) -> None:
    """Every step that changes a ticket locks the ticket, then its task rows. A claim or a
    supervisor's reassignment writes the ticket's first analysis: both used to lock the task
    and then wait for the ticket, so a step holding the ticket and cancelling that task
    deadlocked with them (PostgreSQL aborted one after its deadlock_timeout). They now take
    the ticket first: they wait holding nothing the step needs (the task row stays free),
    then find the task gone, say so and write nothing."""
    import threading

    from sqlalchemy import update

    from engine.errors import TaskNotReady

    if svc.unit.db.dialect.name != "postgresql":
        pytest.skip("SQLite runs one writer at a time: no row locks to order")
    maria = add_person(svc, MARIA, "Maria da Silva")
    ana = add_person(svc, ANA, "Ana Souza", "analyst")
    sofia = add_person(svc, SOFIA, "Sofia Supervisora", "supervisor")
    cid = submit_registration(svc, maria)
    task = open_task(svc, cid, "analyst")
    started = threading.Event()
    outcome: list[object] = []

    def act() -> None:
        started.set()
        try:
            if action == "claim":
                svc.analysis.claim(ana, task.id)
            else:
                svc.analysis.reassign(sofia, task.id, ANA)
            outcome.append("feito")
        except Exception as error:  # noqa: BLE001 - what the action met is the result
            outcome.append(error)

    worker = threading.Thread(target=act)
    with svc.unit.transaction() as s:  # a step: the ticket first, then its task rows
        s.execute(select(Chamado.id).where(Chamado.id == cid).with_for_update(key_share=True))
        worker.start()
        assert started.wait(10)
        worker.join(0.5)  # the action is now waiting for the ticket
        s.execute(select(HumanTask.id).where(HumanTask.id == task.id).with_for_update(nowait=True))
        s.execute(update(HumanTask).where(HumanTask.id == task.id).values(state="cancelled"))
    worker.join(30)
    assert len(outcome) == 1 and isinstance(outcome[0], TaskNotReady), outcome
    assert first_analysis(svc, cid) is None  # it wrote nothing
