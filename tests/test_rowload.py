"""engine.rowload: objects built from the task lock's Core row are the objects a query loads."""

from __future__ import annotations

from typing import Any

from sqlalchemy import inspect, select

from engine import corewrite
from engine.models import Chamado, HumanTask, User
from engine.service import ActorRef, Chamados
from engine.usecases.base import UseCaseBase
from tests.test_api import sql_seen


def _ready_task(svc: Chamados, maria: ActorRef) -> int:
    svc.requests.start_chamado(maria, "chamado")
    with svc.unit.reading() as s:
        task_id = s.scalar(select(HumanTask.id).where(HumanTask.state == "ready"))
    assert task_id is not None
    return task_id


def _columns(obj: Any) -> dict[str, Any]:
    return {attr.key: getattr(obj, attr.key) for attr in inspect(type(obj)).column_attrs}


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
