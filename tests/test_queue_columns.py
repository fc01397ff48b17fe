"""The queue's filters read the ticket's columns from its open task rows (migration 0022):
the copies follow every change of the ticket, and every filter answers what the ticket's
own columns answer."""

from __future__ import annotations

import itertools
import uuid
from datetime import timedelta
from typing import Any

from sqlalchemy import insert, or_, select, text, update

from engine import schema
from engine.models import ALWAYS_LATE, Chamado, HumanTask, Orgao, ProcessVersion
from engine.queue import QueueFilters
from engine.service import ActorRef, Chamados
from tests.conftest import BRUNO, FakeClock, add_person, downgrade_schema
from tests.test_engine_lifecycle import (
    chamado,
    decide,
    open_task,
    registration,
    submit_registration,
)
from tests.test_timers import ask_adjustment

COPIES = ("orgao_id", "categoria", "process_id", "resent", "late_from")


def ticket_values(svc: Chamados, cid: int) -> dict[str, Any]:
    """What the open task rows of ticket ``cid`` must hold."""
    with svc.unit.session_factory() as s:
        c = s.get(Chamado, cid)
        assert c is not None
        process = s.scalar(
            select(ProcessVersion.process_id).where(ProcessVersion.id == c.process_version_id)
        )
        return {
            "orgao_id": c.orgao_id,
            "categoria": c.categoria,
            "process_id": process,
            "resent": c.adjustment_rounds > 0,
            "late_from": ALWAYS_LATE if c.overdue else c.analysis_due_at,
        }


def copies(svc: Chamados, task_id: int) -> dict[str, Any]:
    with svc.unit.session_factory() as s:
        task = s.get(HumanTask, task_id)
        assert task is not None
        return {name: getattr(task, name) for name in COPIES}


def in_step(svc: Chamados, cid: int) -> bool:
    """Every open task row of the ticket holds the ticket's values."""
    with svc.unit.session_factory() as s:
        ids = s.scalars(
            select(HumanTask.id).where(HumanTask.chamado_id == cid, HumanTask.state == "ready")
        ).all()
    assert ids
    expected = ticket_values(svc, cid)
    return all(copies(svc, i) == expected for i in ids)


def queued(svc: Chamados, who: ActorRef, **filters: Any) -> list[int]:
    page = svc.analysis.queue(who, QueueFilters(view="todas", **filters))
    return [t.chamado_id for t in page.items]


def change_ticket(svc: Chamados, cid: int, **values: Any) -> None:
    """A change of the ticket's columns by any writer (staff, designer, a script)."""
    with svc.unit.transaction() as s:
        s.execute(update(Chamado).where(Chamado.id == cid).values(**values))


def test_the_open_task_rows_follow_their_ticket(
    tsvc: Chamados, clock: FakeClock, people: tuple[ActorRef, ActorRef]
) -> None:
    maria, ana = people
    cid = submit_registration(tsvc, maria)
    task = open_task(tsvc, cid, "analyst")
    due = chamado(tsvc, cid).analysis_due_at
    assert due is not None
    assert copies(tsvc, task.id) == ticket_values(tsvc, cid)
    assert copies(tsvc, task.id)["late_from"] == due
    assert queued(tsvc, ana, situacao="novo") == [cid]
    assert queued(tsvc, ana, situacao="reenviado") == []
    assert queued(tsvc, ana, situacao="atrasado") == []

    # Past the due date with the scheduler behind: late by the due date alone.
    clock.now = due + timedelta(minutes=1)
    assert not chamado(tsvc, cid).overdue
    assert queued(tsvc, ana, situacao="atrasado") == [cid]
    # The SLA timer flags it: late whatever the due date says from now on.
    assert len(tsvc.timers.fire_due_timers("w1")) == 1
    assert chamado(tsvc, cid).overdue
    assert copies(tsvc, task.id)["late_from"] == ALWAYS_LATE
    change_ticket(tsvc, cid, analysis_due_at=clock.now + timedelta(days=5))
    assert queued(tsvc, ana, situacao="atrasado") == [cid]
    # The flag cleared (a reopened deadline) and the due date moved: no longer late.
    change_ticket(tsvc, cid, overdue=False)
    assert copies(tsvc, task.id)["late_from"] == clock.now + timedelta(days=5)
    assert queued(tsvc, ana, situacao="atrasado") == []
    change_ticket(tsvc, cid, analysis_due_at=clock.now - timedelta(seconds=1))
    assert queued(tsvc, ana, situacao="atrasado") == [cid]

    # A staff reclassification: órgão and problem type.
    old_orgao = chamado(tsvc, cid).orgao_id
    with tsvc.unit.session_factory() as s:
        other = s.scalar(select(Orgao.id).where(Orgao.id != old_orgao))
    change_ticket(tsvc, cid, orgao_id=other, categoria="outra_categoria")
    assert queued(tsvc, ana, orgao_id=other) == [cid]
    assert queued(tsvc, ana, orgao_id=old_orgao) == []
    assert queued(tsvc, ana, categoria="outra_categoria") == [cid]
    assert queued(tsvc, ana, categoria="erro_api") == []
    assert in_step(tsvc, cid)

    # The ticket moved to a version of another process (the filter is the service).
    with tsvc.unit.session_factory() as s:
        elsewhere = s.scalar(
            select(ProcessVersion.id).where(ProcessVersion.process_id != "chamado").limit(1)
        )
    home = chamado(tsvc, cid).process_version_id
    change_ticket(tsvc, cid, process_version_id=elsewhere)
    assert queued(tsvc, ana, process_id="chamado") == []
    assert in_step(tsvc, cid)
    change_ticket(tsvc, cid, process_version_id=home)
    assert queued(tsvc, ana, process_id="chamado") == [cid]

    # A resend: the requester's answer to an adjustment makes the next analysis
    # "reenviado" (the new row is written after the round is counted, or before).
    ask_adjustment(tsvc, ana, cid)
    answer = open_task(tsvc, cid)
    data = tsvc.requests.task_form(maria, answer.id).data
    tsvc.requests.complete_task(maria, answer.id, data, chamado(tsvc, cid).version)
    again = open_task(tsvc, cid, "analyst")
    assert again.id != task.id and copies(tsvc, again.id)["resent"] is True
    assert queued(tsvc, ana, situacao="reenviado") == [cid]
    assert queued(tsvc, ana, situacao="novo") == []
    assert in_step(tsvc, cid)

    # Closed rows keep what they had: the queue reads only open ones.
    before = copies(tsvc, task.id)
    change_ticket(tsvc, cid, orgao_id=old_orgao)
    assert copies(tsvc, task.id) == before
    assert in_step(tsvc, cid)


def test_a_task_row_written_without_the_copies_gets_them(
    svc: Chamados, maria: ActorRef, ana: ActorRef
) -> None:
    """Whoever inserts an open task row, the database fills the ticket's values; a row
    inserted closed is left as written."""
    cid = submit_registration(svc, maria)
    change_ticket(svc, cid, adjustment_rounds=2, overdue=True)
    created = chamado(svc, cid).created_at

    def row(state: str) -> dict[str, Any]:
        return {
            "chamado_id": cid,
            "task_guid": str(uuid.uuid4()),
            "task_name": "analisar_chamado",
            "title": "Analisar chamado",
            "group": "analyst",
            "state": state,
            "created_at": created,
        }

    with svc.unit.transaction() as s:
        ready = s.execute(insert(HumanTask).values(row("ready")).returning(HumanTask.id)).scalar()
        done = s.execute(
            insert(HumanTask).values(row("completed")).returning(HumanTask.id)
        ).scalar()
    assert ready is not None and done is not None
    assert copies(svc, ready) == ticket_values(svc, cid)
    assert copies(svc, ready)["resent"] is True and copies(svc, ready)["late_from"] == ALWAYS_LATE
    assert copies(svc, done) == dict.fromkeys(COPIES) | {"resent": False}
    assert in_step(svc, cid)


def test_a_row_given_the_tickets_values_is_written_once(svc: Chamados, maria: ActorRef) -> None:
    """Values given as engine.tasks gives them, in the form each database stores them: when
    they are the ticket's, the row is written once; given nothing, the trigger writes the
    copies (a second version of the row); ALWAYS_LATE is compared as the trigger writes it.
    SQLite's total_changes() counts what its triggers write; on PostgreSQL, whose trigger
    runs at commit (migration 0027), a rewrite gives the row a new place (ctid)."""
    cid = submit_registration(svc, maria)
    change_ticket(svc, cid, adjustment_rounds=1)
    values = ticket_values(svc, cid)
    assert values["late_from"] is not None
    created = chamado(svc, cid).created_at
    sqlite = svc.unit.db.dialect.name == "sqlite"

    def written(**given: Any) -> int:
        row = insert(HumanTask).values(
            chamado_id=cid,
            task_guid=str(uuid.uuid4()),
            task_name="analisar_chamado",
            title="Analisar chamado",
            group="analyst",
            state="ready",
            created_at=created,
            **given,
        )
        if sqlite:
            with svc.unit.transaction() as s:
                before = int(s.execute(text("SELECT total_changes()")).scalar() or 0)
                s.execute(row)
                return int(s.execute(text("SELECT total_changes()")).scalar() or 0) - before
        place = text("SELECT ctid::text FROM human_tasks WHERE id = :id")
        with svc.unit.transaction() as s:
            task_id = s.execute(row.returning(HumanTask.id)).scalar()
            inserted = s.execute(place, {"id": task_id}).scalar()
        with svc.unit.session_factory() as s:
            committed = s.execute(place, {"id": task_id}).scalar()
        assert copies(svc, int(task_id or 0)) == ticket_values(svc, cid)
        return 1 if committed == inserted else 2

    assert written(**values) == 1
    assert written() == 2  # nothing given: the trigger writes the copies
    overdue = {**values, "late_from": ALWAYS_LATE}
    change_ticket(svc, cid, overdue=True)  # the trigger copies ALWAYS_LATE as stored
    assert written(**overdue) == 1
    assert in_step(svc, cid)


def test_on_postgresql_sending_the_form_writes_the_new_task_row_once(
    svc: Chamados, maria: ActorRef
) -> None:
    """The step that sets the órgão, the type and the due date opens the analysts' task
    before it writes the ticket (its last statement): the row is inserted with the values
    the ticket is about to hold, and the commit-time trigger (migration 0027) leaves it.
    Under 0022's triggers it was rewritten after the ticket's UPDATE (a later command of
    the same transaction)."""
    import pytest

    if svc.unit.db.dialect.name != "postgresql":
        pytest.skip("SQLite has no commit-time triggers (migration 0022's stay)")
    cid = submit_registration(svc, maria)
    task = open_task(svc, cid, "analyst")
    with svc.unit.session_factory() as s:
        version = "SELECT xmin::text, cmin::text::int FROM {} WHERE id = :id"
        ticket = s.execute(text(version.format("chamados")), {"id": cid}).one()
        row = s.execute(text(version.format("human_tasks")), {"id": task.id}).one()
    assert row[0] == ticket[0]  # the same transaction wrote both
    assert row[1] < ticket[1]  # the row's only version came before the ticket's UPDATE
    assert copies(svc, task.id) == ticket_values(svc, cid)


def count_task_row_writes(svc: Chamados) -> None:
    """Records every UPDATE of a task row, by any statement or trigger (table
    ``task_row_writes``), so a test counts each row's versions on either database."""
    with svc.unit.transaction() as s:
        s.execute(text("CREATE TABLE task_row_writes (task_id INTEGER)"))
        if svc.unit.db.dialect.name == "sqlite":
            s.execute(
                text(
                    "CREATE TRIGGER count_task_row_writes AFTER UPDATE ON human_tasks "
                    "BEGIN INSERT INTO task_row_writes VALUES (NEW.id); END"
                )
            )
            return
        s.execute(
            text(
                "CREATE FUNCTION count_task_row_writes() RETURNS trigger LANGUAGE plpgsql AS "
                "$$ BEGIN INSERT INTO task_row_writes VALUES (NEW.id); RETURN NULL; END $$"
            )
        )
        s.execute(
            text(
                "CREATE TRIGGER count_task_row_writes AFTER UPDATE ON human_tasks "
                "FOR EACH ROW EXECUTE FUNCTION count_task_row_writes()"
            )
        )


def row_writes(svc: Chamados, task_id: int) -> int:
    with svc.unit.session_factory() as s:
        query = text("SELECT count(*) FROM task_row_writes WHERE task_id = :id")
        return int(s.execute(query, {"id": task_id}).scalar() or 0)


def test_each_step_writes_the_task_rows_it_opens_once(
    svc: Chamados, maria: ActorRef, ana: ActorRef
) -> None:
    """The steps that change the ticket's copied columns as they open a task write the new
    row once, with the values the ticket is left with: sending the form (órgão, type, due
    date: the ticket is written after the row) and asking for an adjustment (the round is
    counted before the requester's row is written: "reenviado"). On SQLite, 0022's triggers
    wrote the analysts' row three times (the stored values, then the new ones: migration
    0028); on both databases the requester's row was rewritten for its round."""
    count_task_row_writes(svc)
    cid = submit_registration(svc, maria)
    analysis = open_task(svc, cid, "analyst")
    assert row_writes(svc, analysis.id) == 0
    assert in_step(svc, cid)
    ask_adjustment(svc, ana, cid)
    assert chamado(svc, cid).adjustment_rounds == 1
    adjustment = open_task(svc, cid)
    assert adjustment.group == "requester" and copies(svc, adjustment.id)["resent"] is True
    assert row_writes(svc, adjustment.id) == 0
    assert in_step(svc, cid)
    svc.requests.complete_task(maria, adjustment.id, registration(), chamado(svc, cid).version)
    again = open_task(svc, cid, "analyst")
    assert row_writes(svc, again.id) == 0
    assert in_step(svc, cid)
    # A later change of the ticket still reaches its open row, once.
    change_ticket(svc, cid, categoria="outro")
    assert row_writes(svc, again.id) == 1
    assert in_step(svc, cid)
    change_ticket(svc, cid, categoria="outro", adjustment_rounds=2)  # copies unchanged
    assert row_writes(svc, again.id) == 1


def test_every_filter_answers_what_the_tickets_columns_answer(
    tsvc: Chamados, clock: FakeClock, people: tuple[ActorRef, ActorRef]
) -> None:
    """Tickets differing in every filtered column, some claimed: each view × filter gives
    the tickets (and totals) the filters on the ticket's own columns gave before 0022."""
    maria, ana = people
    bruno = add_person(tsvc, BRUNO, "Bruno Lima", "analyst")
    with tsvc.unit.session_factory() as s:
        orgaos = list(s.scalars(select(Orgao.id).order_by(Orgao.id).limit(3)))
        other_process = s.scalar(
            select(ProcessVersion.id).where(ProcessVersion.process_id != "chamado").limit(1)
        )
    ids = []
    for _ in range(12):
        ids.append(submit_registration(tsvc, maria))
        clock.advance(minutes=7)
    now = clock.now
    for i, cid in enumerate(ids):
        values: dict[str, Any] = {
            "orgao_id": orgaos[i % 3],
            "categoria": ("erro_api", "lentidao")[i % 2],
            "adjustment_rounds": (0, 0, 1, 2)[i % 4],
            "overdue": i % 5 == 0,
            "analysis_due_at": (now - timedelta(hours=1))
            if i % 3 == 0
            else now + timedelta(days=1),
        }
        if i == 7:
            values["analysis_due_at"] = None
        if i == 10:
            values["process_version_id"] = other_process
        change_ticket(tsvc, cid, **values)
    for cid in ids[:3]:
        tsvc.analysis.claim(ana, open_task(tsvc, cid, "analyst").id)
    tsvc.analysis.claim(bruno, open_task(tsvc, ids[3], "analyst").id)

    def expected(view: str, f: dict[str, Any]) -> list[int]:
        """The old query: the task joined to its ticket, the filters on the ticket."""
        query = (
            select(HumanTask.chamado_id)
            .join(Chamado, Chamado.id == HumanTask.chamado_id)
            .join(ProcessVersion, ProcessVersion.id == Chamado.process_version_id)
            .where(HumanTask.state == "ready", HumanTask.group == "analyst")
            .order_by(HumanTask.created_at, HumanTask.id)
        )
        if view == "disponiveis":
            query = query.where(HumanTask.assignee_id.is_(None))
        elif view == "minhas":
            query = query.where(HumanTask.assignee_id == ana.id)
        if "orgao_id" in f:
            query = query.where(Chamado.orgao_id == f["orgao_id"])
        if "categoria" in f:
            query = query.where(Chamado.categoria == f["categoria"])
        if "process_id" in f:
            query = query.where(ProcessVersion.process_id == f["process_id"])
        situacao = f.get("situacao")
        if situacao == "novo":
            query = query.where(Chamado.adjustment_rounds == 0)
        elif situacao == "reenviado":
            query = query.where(Chamado.adjustment_rounds > 0)
        elif situacao == "atrasado":
            query = query.where(or_(Chamado.overdue.is_(True), Chamado.analysis_due_at < now))
        with tsvc.unit.session_factory() as s:
            return list(s.scalars(query))

    choices: dict[str, tuple[Any, ...]] = {
        "orgao_id": (None, orgaos[0], orgaos[1]),
        "categoria": (None, "lentidao"),
        "process_id": (None, "chamado"),
        "situacao": (None, "novo", "reenviado", "atrasado"),
    }
    checked = 0
    for view in ("disponiveis", "minhas", "todas"):
        for combo in itertools.product(*choices.values()):
            f = {k: v for k, v in zip(choices, combo, strict=True) if v is not None}
            page = tsvc.analysis.queue(ana, QueueFilters(view=view, **f))
            want = expected(view, f)
            assert ([t.chamado_id for t in page.items], page.total) == (want, len(want)), (view, f)
            checked += bool(want)
    assert checked > 40  # most combinations find something: the comparison is not empty


def test_the_migration_copies_the_columns_onto_the_open_tasks(
    tsvc: Chamados, clock: FakeClock, people: tuple[ActorRef, ActorRef]
) -> None:
    """Tickets run through the engine, the database taken back to 0021 (the columns
    dropped), then upgraded: the backfill gives each open task row its ticket's values
    and the queue answers as before."""
    maria, ana = people
    plain = submit_registration(tsvc, maria)
    resent = submit_registration(tsvc, maria)
    ask_adjustment(tsvc, ana, resent)
    answer = open_task(tsvc, resent)
    data = tsvc.requests.task_form(maria, answer.id).data
    tsvc.requests.complete_task(maria, answer.id, data, chamado(tsvc, resent).version)
    late = submit_registration(tsvc, maria)
    change_ticket(tsvc, late, overdue=True, categoria="lentidao")
    waiting = submit_registration(tsvc, maria)
    ask_adjustment(tsvc, ana, waiting)  # its open task is the requester's
    closed = submit_registration(tsvc, maria)
    decide(tsvc, ana, closed, {"decisao": "resolver", "resposta": "Feito."})
    tickets = (plain, resent, late, waiting)
    filters = [
        QueueFilters(view="todas", situacao=s) for s in ("novo", "reenviado", "atrasado")
    ] + [QueueFilters(view="todas", categoria="lentidao"), QueueFilters(view="todas")]
    answers = [[t.chamado_id for t in tsvc.analysis.queue(ana, f).items] for f in filters]
    assert answers[1] == [resent] and answers[2] == [late]

    db = tsvc.unit.db
    downgrade_schema(db, "0021")
    schema.upgrade(db)
    assert schema.current_revision(db) == schema.head_revision()
    for cid in tickets:
        assert in_step(tsvc, cid), cid
    with tsvc.unit.session_factory() as s:
        closed_rows = s.scalars(
            select(HumanTask.orgao_id).where(HumanTask.state != "ready").distinct()
        ).all()
    assert closed_rows == [None]  # the backfill copies onto open rows only
    again = [[t.chamado_id for t in tsvc.analysis.queue(ana, f).items] for f in filters]
    assert again == answers
    # And the triggers are back: a change still reaches the open rows.
    change_ticket(tsvc, plain, categoria="lentidao")
    assert in_step(tsvc, plain)
    assert queued(tsvc, ana, categoria="lentidao") == [plain, late]


def test_on_postgresql_the_commit_time_checks_find_rows_by_key_however_the_table_grew(
    svc: Chamados, maria: ActorRef
) -> None:
    """Migration 0029. PL/pgSQL keeps a trigger's plans per connection, made the first times
    it runs: made on a small table, a sequential scan. A transaction that then writes many
    open rows read the whole table once per row at its commit (quadratic: over 13 minutes
    for 100,000 tickets loaded at once). The plans of the commit-time trigger's statements
    are read here as auto_explain writes them, sent to this connection as notices."""
    import pytest

    if svc.unit.db.dialect.name != "postgresql":
        pytest.skip("SQLite has no commit-time triggers")
    cid = submit_registration(svc, maria)
    created = chamado(svc, cid).created_at
    row = {
        "chamado_id": cid,
        "task_name": "analisar_chamado",
        "title": "Analisar chamado",
        "group": "analyst",
        "state": "ready",
        "created_at": created,
    }
    with svc.unit.db.connect() as conn:
        # Six commits of one open row each: the trigger's plans are made (and kept) while
        # the table holds a handful of rows.
        for _ in range(6):
            conn.execute(insert(HumanTask).values(task_guid=str(uuid.uuid4()), **row))
            conn.commit()
        notices: list[str] = []
        raw = conn.connection.driver_connection
        raw.add_notice_handler(lambda notice: notices.append(notice.message_primary or ""))
        conn.execute(
            text(
                'INSERT INTO human_tasks (chamado_id, task_guid, task_name, title, "group", '
                "state, created_at) SELECT :cid, md5(i::text), 'analisar_chamado', "
                "'Analisar chamado', 'analyst', 'ready', :created "
                "FROM generate_series(1, 400) AS i"
            ),
            {"cid": cid, "created": created},
        )
        for setting in (
            "LOAD 'auto_explain'",
            "SET LOCAL auto_explain.log_min_duration = 0",
            "SET LOCAL auto_explain.log_nested_statements = on",
            "SET LOCAL auto_explain.log_level = notice",
            "SET LOCAL client_min_messages = notice",
        ):
            conn.execute(text(setting))
        conn.commit()
    checks = [n for n in notices if "UPDATE human_tasks t SET" in n]
    assert len(checks) >= 400  # one per open row written, each explained
    scans = {
        line.strip().removeprefix("->").strip().split("  (")[0]
        for notice in checks
        for line in notice.splitlines()
        if " Scan " in line
    }
    assert scans and not any(scan.startswith("Seq Scan") for scan in scans), scans
    assert in_step(svc, cid)
