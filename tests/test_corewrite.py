"""The hot path's Core writes and per-process caches behave like the ORM path they replace."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from engine import catalogs, corewrite, runtime, timers
from engine.errors import Conflict, ValidationFailed
from engine.models import (
    TASK_READY,
    AuditEvent,
    Chamado,
    HumanTask,
    Orgao,
    Revision,
    WorkflowTimer,
)
from engine.service import ActorRef, Chamados
from tests.conftest import writer_holding_the_lock
from tests.test_engine_lifecycle import (
    chamado,
    decide,
    open_task,
    registration,
    submit_registration,
)

T0 = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def test_insert_fills_defaults_and_key_without_adding_to_the_session(
    svc: Chamados, maria: ActorRef
) -> None:
    c = svc.requests.start_chamado(maria, "chamado")
    with svc.unit.transaction() as s:
        timer = WorkflowTimer(chamado_id=c.id, task_guid="g-1", element_id="x", due_at=T0)
        corewrite.insert(s, timer)
        assert timer.id is not None
        assert timer.state == "waiting"  # the column default, as the row holds it
        assert timer.created_at is not None  # a callable default, evaluated once
        assert timer not in s
    with svc.unit.session_factory() as s:
        row = s.get(WorkflowTimer, timer.id)
        assert row is not None
        assert (row.state, row.due_at, row.created_at) == ("waiting", T0, timer.created_at)


def test_insert_many_sends_one_row_as_one_statement_and_more_as_executemany(
    svc: Chamados, maria: ActorRef
) -> None:
    """A single row (the usual audit event) is a plain execute: psycopg's executemany runs
    in pipeline mode, dearer than the row itself. Several rows stay one executemany."""
    from sqlalchemy import event

    from engine.models import AuditEvent

    c = svc.requests.start_chamado(maria, "chamado")
    sent: list[bool] = []

    def on_execute(*args: Any) -> None:
        sent.append(args[-1])  # executemany

    def row(n: int) -> dict[str, Any]:
        return {
            "chamado_id": c.id,
            "actor_id": None,
            "at": T0,
            "action": f"teste.{n}",
            "summary": "x",
            "public": False,
            "message": None,
            "details": None,
            "request_id": None,
        }

    event.listen(svc.unit.db, "before_cursor_execute", on_execute)
    try:
        with svc.unit.transaction() as s:
            corewrite.insert_many(s, AuditEvent.__table__, [row(1)])
            corewrite.insert_many(s, AuditEvent.__table__, [row(2), row(3)])
            corewrite.insert_many(s, AuditEvent.__table__, [])
    finally:
        event.remove(svc.unit.db, "before_cursor_execute", on_execute)
    assert sent[-2:] == [False, True]
    with svc.unit.session_factory() as s:
        actions = s.scalars(
            select(AuditEvent.action).where(AuditEvent.action.like("teste.%"))
        ).all()
    assert sorted(actions) == ["teste.1", "teste.2", "teste.3"]


def test_update_writes_only_assigned_columns_and_honours_the_expected_value(
    svc: Chamados, maria: ActorRef
) -> None:
    c = svc.requests.start_chamado(maria, "chamado")
    with svc.unit.transaction() as s:
        # Someone else changes the service name behind our back.
        s.execute(Chamado.__table__.update().values(servico="mudado por outro"))
    with svc.unit.transaction() as s:
        mine = s.get(Chamado, c.id)
        assert mine is not None
        mine.categoria = "lentidao"
        assert corewrite.update(s, mine, version=c.version + 5) == 0  # stale: nothing written
        assert mine.categoria == "lentidao"
        assert corewrite.update(s, mine, version=c.version) == 1
        assert mine not in s  # written: the session has nothing left to flush for it
    with svc.unit.session_factory() as s:
        row = s.get(Chamado, c.id)
        assert row is not None
        # Only the assigned column went out: the other writer's change survives.
        assert (row.categoria, row.servico) == ("lentidao", "mudado por outro")


def test_an_expected_value_given_as_sql_is_written_into_the_statement(
    svc: Chamados, maria: ActorRef
) -> None:
    from sqlalchemy import event

    c = svc.requests.start_chamado(maria, "chamado")
    statements: list[str] = []

    def seen(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    event.listen(svc.unit.db, "before_cursor_execute", seen)
    try:
        with svc.unit.transaction() as s:
            task = s.scalars(select(HumanTask).where(HumanTask.chamado_id == c.id)).one()
            task.title = "primeiro"
            assert corewrite.update(s, task, state=TASK_READY) == 1
            assert "human_tasks.state = 'ready'" in statements[-1]
            task = s.scalars(select(HumanTask).where(HumanTask.chamado_id == c.id)).one()
            s.execute(HumanTask.__table__.update().values(state="cancelled"))
            task.title = "segundo"
            assert corewrite.update(s, task, state=TASK_READY) == 0  # no longer open
            s.expunge(task)  # the caller discards the unwritten change
    finally:
        event.remove(svc.unit.db, "before_cursor_execute", seen)
    with svc.unit.session_factory() as s:
        titles = s.scalars(select(HumanTask.title).where(HumanTask.chamado_id == c.id)).all()
        assert titles == ["primeiro"]


def test_a_failed_step_leaves_no_core_written_row(svc: Chamados, maria: ActorRef) -> None:
    """Core writes share the use case's transaction: a late failure rolls them back."""
    c = svc.requests.start_chamado(maria, "chamado")
    task = open_task(svc, c.id, "requester")
    with svc.unit.session_factory() as s:
        before = (
            s.scalar(select(func.count()).select_from(AuditEvent)),
            s.scalar(select(func.count()).select_from(HumanTask)),
        )
    with pytest.raises(Conflict):
        svc.requests.complete_task(maria, task.id, registration(), expected_version=c.version + 1)
    with pytest.raises(ValidationFailed):
        svc.requests.complete_task(maria, task.id, registration(orgao=999_999_999), c.version)
    with svc.unit.session_factory() as s:
        after = (
            s.scalar(select(func.count()).select_from(AuditEvent)),
            s.scalar(select(func.count()).select_from(HumanTask)),
        )
        assert after == before
        assert s.get(HumanTask, task.id).state == "ready"  # type: ignore[union-attr]


def test_ready_and_waiting_tasks_match_the_tree_walk(
    svc: Chamados, maria: ActorRef, ana: ActorRef
) -> None:
    """runtime.all_tasks reads the task dictionaries; it must find what get_tasks finds."""
    from SpiffWorkflow import TaskState

    cid = submit_registration(svc, maria)
    decide(svc, ana, cid, {"decisao": "ajuste", "ajuste_solicitado": "Informe o protocolo."})
    with svc.unit.session_factory() as s:
        c = s.get(Chamado, cid)
        assert c is not None
        wf = runtime.load(svc.unit.bundle(s, c.process_version_id), c.workflow_state)
    by_walk = {t.id for t in wf.get_tasks(state=TaskState.READY, manual=True)}
    assert {t.id for t in runtime.ready_human_tasks(wf)} == by_walk
    assert by_walk
    waiting = {t.id for t in wf.get_tasks(state=TaskState.WAITING)}
    assert {t.id for t in runtime.all_tasks(wf) if t.state == TaskState.WAITING} == waiting
    assert set(timers.waiting(wf)) == {str(t) for t in waiting}  # both are timers here


def test_orgao_labels_are_cached_only_when_found(svc: Chamados) -> None:
    with svc.unit.session_factory() as s:
        known = s.scalar(select(Orgao).limit(1))
        assert known is not None
        assert svc.unit.orgao_labels.label(s, 424_242) is None
        assert svc.unit.orgao_labels.cached(424_242) is None
        assert svc.unit.orgao_labels.label(s, known.id) == f"{known.sigla} — {known.name}"
    assert (
        svc.analysis.orgao_label(known.id) == f"{known.sigla} — {known.name}"
    )  # no session needed
    # An órgão loaded after the miss is found: misses are never remembered.
    with svc.unit.transaction() as s:
        s.add(Orgao(id=424_242, sigla="NOVO", name="Órgão Novo", search_text="novo orgao novo"))
    assert svc.analysis.orgao_label(424_242) == "NOVO — Órgão Novo"


def test_a_catalog_edit_in_another_process_reaches_the_next_submission(
    svc: Chamados, maria: ActorRef, ana: ActorRef
) -> None:
    """Catalogs and validated schemas are cached per process, keyed by the catalogs'
    revision: an edit made by another process is seen by the very next step."""
    other = Chamados.from_settings(svc.settings)  # a second app process, same database
    try:
        assert submit_registration(svc, maria)  # warms svc's caches, every option active
        c = svc.requests.start_chamado(maria, "chamado")
        task = open_task(svc, c.id, "requester")
        tipo = registration()["tipo_problema"]
        with other.unit.transaction() as s:
            before = s.scalar(select(Revision.value).where(Revision.name == "catalogs"))
            assert len(catalogs.options(s, "tipo_problema", active_only=True)) > 1
            catalogs.set_active(s, "tipo_problema", tipo, False, None)
        with other.unit.session_factory() as s:
            after = s.scalar(select(Revision.value).where(Revision.name == "catalogs"))
        assert after == before + 1
        with pytest.raises(ValidationFailed) as refused:
            svc.requests.complete_task(maria, task.id, registration(), c.version)
        assert "tipo_problema" in refused.value.errors
        with other.unit.transaction() as s:
            catalogs.set_active(s, "tipo_problema", tipo, True, None)
        done = svc.requests.complete_task(maria, task.id, registration(), c.version)
        assert done.status == "em_analise"
    finally:
        other.unit.db.dispose()


def test_seeding_new_catalog_items_bumps_the_revision(svc: Chamados, tmp_path: Path) -> None:
    seed = tmp_path / "catalogs.json"
    seed.write_text(json.dumps({"tipo_problema": [{"code": "novo", "label": "Novo"}]}))
    with svc.unit.transaction() as s:
        before = s.scalar(select(Revision.value).where(Revision.name == "catalogs"))
        catalogs.seed_catalogs(s, seed)
        catalogs.seed_catalogs(s, seed)  # nothing new the second time
        assert s.scalar(select(Revision.value).where(Revision.name == "catalogs")) == before + 1


def test_timer_rows_follow_the_workflow(svc: Chamados, maria: ActorRef, ana: ActorRef) -> None:
    """timers.sync moves a row whose due time differs and cancels one no longer waited on."""
    cid = submit_registration(svc, maria)
    decide(svc, ana, cid, {"decisao": "ajuste", "ajuste_solicitado": "Informe o protocolo."})
    with svc.unit.transaction() as s:
        c = s.get(Chamado, cid)
        assert c is not None
        wf = runtime.load(svc.unit.bundle(s, c.process_version_id), c.workflow_state)
        expected = timers.waiting(wf)
        assert expected
        s.execute(
            WorkflowTimer.__table__.update()
            .where(WorkflowTimer.chamado_id == cid, WorkflowTimer.state == "waiting")
            .values(due_at=T0)
        )
        stray = WorkflowTimer(chamado_id=cid, task_guid="gone", element_id="x", due_at=T0)
        corewrite.insert(s, stray)
        assert timers.sync(s, c, wf, T0) == expected
    with svc.unit.session_factory() as s:
        rows = s.scalars(select(WorkflowTimer).where(WorkflowTimer.chamado_id == cid)).all()
        waiting = {r.task_guid: r.due_at for r in rows if r.state == "waiting"}
        assert waiting == {guid: due for guid, (_el, due) in expected.items()}
        assert {r.task_guid: r.state for r in rows}["gone"] == "cancelled"


def test_a_task_reassigned_while_it_runs_is_not_completed(
    svc: Chamados, maria: ActorRef, ana: ActorRef, bruno: ActorRef, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Only the ticket row is locked: the task row is written only if still the actor's."""
    cid = submit_registration(svc, maria)
    task = open_task(svc, cid, "analyst")
    svc.analysis.claim(ana, task.id)
    version = chamado(svc, cid).version
    lock = svc.requests._lock_task

    def lock_then_reassign(session: Any, actor: Any, task_id: int) -> Any:
        locked = lock(session, actor, task_id)
        # A supervisor's reassignment lands between the read and the write.
        tasks_table = HumanTask.__table__
        session.execute(
            tasks_table.update().where(tasks_table.c.id == task_id).values(assignee_id=bruno.id)
        )
        return locked

    monkeypatch.setattr(svc.requests, "_lock_task", lock_then_reassign)
    with pytest.raises(Conflict, match="mudou de responsável"):
        svc.requests.complete_task(
            ana, task.id, {"decisao": "resolver", "resposta": "Feito."}, version
        )
    monkeypatch.undo()
    after = open_task(svc, cid, "analyst")
    assert (after.id, after.assignee_id) == (task.id, ana.id)  # the whole step rolled back
    assert chamado(svc, cid).version == version


def test_read_use_cases_do_not_wait_for_a_writer(
    svc: Chamados, maria: ActorRef, ana: ActorRef
) -> None:
    """Reads run outside any transaction: on SQLite they would otherwise queue behind
    the writer's BEGIN IMMEDIATE (up to the 30 s busy timeout)."""
    import time

    from engine.queue import QueueFilters

    cid = submit_registration(svc, maria)
    busy = Chamado.__table__.update().values(servico="sendo alterado")
    with writer_holding_the_lock(svc, busy):
        started = time.monotonic()
        view = svc.requests.tracking(maria, cid)
        page = svc.analysis.queue(ana, QueueFilters(view="disponiveis"))
        analysis = svc.analysis.analysis(ana, cid)
        assert time.monotonic() - started < 5
        assert view.chamado.servico != "sendo alterado"  # nothing uncommitted is seen
        assert [item.chamado.id for item in page.items] == [cid]
        assert analysis.analysis_task is not None


def test_a_written_object_is_clean_and_update_checks_what_it_is_told(
    svc: Chamados, maria: ActorRef
) -> None:
    from sqlalchemy import event

    c = svc.requests.start_chamado(maria, "chamado")
    statements: list[str] = []

    def seen(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement.split()[0])

    event.listen(svc.unit.db, "before_cursor_execute", seen)
    try:
        with svc.unit.transaction() as s:
            timer = corewrite.insert(
                s, WorkflowTimer(chamado_id=c.id, task_guid="g-2", element_id="x", due_at=T0)
            )
            statements.clear()
            assert corewrite.update(s, timer) == 1  # nothing assigned since: no statement
            assert statements == []
            timer.element_id = "y"
            assert corewrite.update(s, timer) == 1
            assert statements == ["UPDATE"]
            with pytest.raises(ValueError):
                corewrite.update(s, timer, state="waiting")  # nothing left to write
    finally:
        event.remove(svc.unit.db, "before_cursor_execute", seen)


def test_an_empty_last_submission_is_still_a_submission(svc: Chamados, maria: ActorRef) -> None:
    from engine.models import Submission

    c = svc.requests.start_chamado(maria, "chamado")
    task = open_task(svc, c.id, "requester")
    with svc.unit.transaction() as s:
        s.add(
            Submission(
                chamado_id=c.id,
                round=0,
                data={},
                submitted_at=T0,
                form_schema=task.form_schema,
                group="requester",
            )
        )
    with svc.unit.transaction() as s:
        locked = svc.requests._lock_task(s, maria, task.id)
        assert locked.last_submission == {}
        assert svc.requests._kept_values(locked.task, locked.last_submission) == {}


def test_a_malformed_orgao_is_a_field_error_not_a_crash(svc: Chamados, maria: ActorRef) -> None:
    c = svc.requests.start_chamado(maria, "chamado")
    task = open_task(svc, c.id, "requester")
    for bad in ("abc", 10**30, -1, True):
        with pytest.raises(ValidationFailed) as refused:
            svc.requests.complete_task(maria, task.id, registration(orgao=bad), c.version)
        assert "orgao" in refused.value.errors
    assert open_task(svc, c.id, "requester").state == "ready"


def test_assigning_the_same_value_writes_nothing(svc: Chamados, maria: ActorRef) -> None:
    c = svc.requests.start_chamado(maria, "chamado")
    with svc.unit.transaction() as s:
        mine = s.get(Chamado, c.id)
        assert mine is not None
        mine.status = mine.status  # derived again, unchanged
        assert corewrite.update(s, mine) == 1
        assert mine in s  # nothing was written, so nothing was marked as written
