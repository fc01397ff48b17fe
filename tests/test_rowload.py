"""engine.rowload: objects built from the task lock's Core row are the objects a query loads."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import inspect, select

from engine import corewrite
from engine.errors import NotFound
from engine.models import Chamado, HumanTask, User
from engine.service import ActorRef, Chamados
from engine.usecases.base import UseCaseBase
from tests.test_api import sql_seen


def _listed(t: HumanTask) -> tuple[Any, ...]:
    """What a list shows of a task: its columns, its ticket's (but the workflow state),
    the órgão's and the assignee's."""
    orgao, assignee = t.chamado.orgao, t.assignee
    return (
        _columns(t),
        _columns(t.chamado, skip="workflow_state"),
        orgao and _columns(orgao),
        assignee and _columns(assignee),
    )


def _ready_task(svc: Chamados, maria: ActorRef) -> int:
    svc.requests.start_chamado(maria, "chamado")
    with svc.unit.reading() as s:
        task_id = s.scalar(select(HumanTask.id).where(HumanTask.state == "ready"))
    assert task_id is not None
    return task_id


def _columns(obj: Any, skip: str = "") -> dict[str, Any]:
    return {
        attr.key: getattr(obj, attr.key)
        for attr in inspect(type(obj)).column_attrs
        if attr.key != skip
    }


def test_the_locked_task_ticket_and_requester_read_as_the_orm_loads_them(
    svc: Chamados, maria: ActorRef
) -> None:
    task_id = _ready_task(svc, maria)
    with svc.unit.reading() as s:
        loaded = s.get(HumanTask, task_id)
        assert loaded is not None
        expected = (_columns(loaded), _columns(loaded.chamado), _columns(loaded.chamado.requester))
        expected[1]["workflow_state"] = loaded.chamado.workflow_state
    with svc.unit.transaction() as s:
        task, _row = UseCaseBase._lock_task_row(s, task_id)
        assert task is not None
        assert (_columns(task), _columns(task.chamado), _columns(task.chamado.requester)) == (
            expected
        )
        # Persistent, in the identity map, and clean: nothing to flush.
        for obj in (task, task.chamado, task.chamado.requester):
            state = inspect(obj)
            assert state.persistent and obj in s
        assert s.get(HumanTask, task_id) is task
        assert s.get(Chamado, task.chamado_id) is task.chamado
        assert not s.dirty and not s.new


def test_nothing_is_written_for_them_and_what_a_step_changes_is_written(
    svc: Chamados, maria: ActorRef
) -> None:
    task_id = _ready_task(svc, maria)
    with svc.unit.transaction() as s:
        task, _row = UseCaseBase._lock_task_row(s, task_id)
        assert task is not None
        with sql_seen(svc.unit.db) as seen:
            s.flush()
            assert seen["statements"] == []  # loaded as clean: nothing for the unit of work
            # A relationship the lock did not read loads lazily, as after a query.
            assert task.chamado.orgao is None or task.chamado.orgao.id == task.chamado.orgao_id
            chamado = task.chamado
            chamado.servico = "Serviço alterado"
            assert corewrite.update(s, chamado, version=chamado.version) == 1
    writes = [sql for sql in seen["statements"] if sql.startswith("UPDATE chamados")]
    assert len(writes) == 1 and "servico" in writes[0]
    with svc.unit.reading() as s:
        stored = s.get(Chamado, chamado.id)
        assert stored is not None and stored.servico == "Serviço alterado"


def test_an_object_the_session_already_holds_is_the_one_returned(
    svc: Chamados, maria: ActorRef
) -> None:
    task_id = _ready_task(svc, maria)
    with svc.unit.transaction() as s:
        requester = s.get(User, maria.id)
        assert requester is not None
        task, _row = UseCaseBase._lock_task_row(s, task_id)
        assert task is not None
        assert task.chamado.requester is requester
        assert s.get(HumanTask, task_id) is task


def test_a_missing_task_is_none(svc: Chamados) -> None:
    with svc.unit.transaction() as s:
        assert UseCaseBase._lock_task_row(s, 10**9) == (None, None)


def test_the_queue_and_task_list_read_what_the_orm_loads_without_the_workflow_state(
    svc: Chamados, maria: ActorRef, ana: ActorRef
) -> None:
    """The lists' rows (engine.queue, engine.listing): the task, its ticket without its
    workflow state (read only if asked for, as the ORM's deferred column), the órgão and
    the assignee (None when the outer join found none), in the session, nothing to flush."""
    from engine import listing
    from engine.clock import utcnow
    from engine.queue import QueueFilters, list_queue
    from tests.test_engine_lifecycle import registration

    c = svc.requests.start_chamado(maria, "chamado")
    with svc.unit.reading() as s:
        first = s.scalar(select(HumanTask.id).where(HumanTask.chamado_id == c.id))
    assert first is not None
    svc.requests.complete_task(maria, first, registration(), c.version)
    with svc.unit.reading() as s:
        waiting = s.scalars(select(HumanTask.id).where(HumanTask.group != "requester")).all()
    svc.analysis.claim(ana, waiting[0])
    svc.requests.start_chamado(maria, "chamado")  # a second ticket, its task unassigned
    with svc.unit.reading() as s:
        expected = {t.id: _listed(t) for t in s.scalars(select(HumanTask))}
    with svc.unit.reading() as s, sql_seen(svc.unit.db) as seen:
        page = list_queue(s, ["analyst"], ana.id, QueueFilters(view="todas"), utcnow())
        mine = listing.assigned_tasks(s, maria.id, ["requester"], listing.first_page(listing.TASKS))
        read = [*page.items, *mine.items]
        assert {t.group for t in read} == {"analyst", "requester"}
        assert any(t.assignee is not None for t in page.items)
        before = len(seen["statements"])
        assert all(inspect(t).persistent and not s.dirty for t in read)
        assert "workflow_state" not in inspect(read[0].chamado).dict  # not read with the list
        assert read[0].chamado.workflow_state  # …but there when asked for
        assert len(seen["statements"]) == before + 1
        got = {t.id: _listed(t) for t in read}
    assert got == {k: expected[k] for k in got}


def test_the_locked_ticket_and_requester_read_as_the_orm_loads_them(
    svc: Chamados, maria: ActorRef
) -> None:
    """The ticket lock of the steps that start from a ticket (an incident's retry, a
    message, an outage's step): its state and requester, in the session, nothing to flush."""
    c = svc.requests.start_chamado(maria, "chamado")
    with svc.unit.reading() as s:
        loaded = s.get(Chamado, c.id)
        assert loaded is not None
        expected = (_columns(loaded), _columns(loaded.requester))
    with svc.unit.transaction() as s, sql_seen(svc.unit.db) as seen:
        chamado = UseCaseBase._lock_chamado(s, c.id)
        assert (_columns(chamado), _columns(chamado.requester)) == expected
        assert inspect(chamado).persistent and not s.dirty and not s.new
        assert len(seen["statements"]) == 1 + (svc.unit.db.dialect.name == "sqlite")  # BEGIN
    with svc.unit.transaction() as s:
        with pytest.raises(NotFound):
            UseCaseBase._lock_chamado(s, 10**9)
