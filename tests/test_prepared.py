"""engine.prepared: statements run on the driver read and fail exactly as SQLAlchemy's do."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import (
    Integer,
    bindparam,
    create_engine,
    event,
    literal_column,
    select,
    table,
    tuple_,
    update,
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError

from engine import corewrite, tokens, users
from engine.db import autocommit_connection, is_unavailable, make_engine
from engine.models import AuditEvent, User, WorkflowTimer
from engine.prepared import MAX_SHAPES, Prepared
from engine.service import ActorRef, Chamados
from tests.conftest import (
    TEST_DATABASE_URL,
    add_person,
    assert_transactions_hold,
    writer_holding_the_lock,
)

T0 = datetime(2026, 12, 7, 9, 30, 15, 123456, tzinfo=UTC)
AUDIT_COLUMNS = ("action", "at", "details", "public", "summary")


# A timer row with every column given: inserted with an existing id, a driver error.
TIMER_INSERT = Prepared(
    WorkflowTimer.__table__.insert(),
    column_keys=("id", "chamado_id", "task_guid", "element_id", "due_at", "state", "created_at"),
)


def timer_row(timer_id: int, chamado_id: int) -> dict[str, Any]:
    return {
        "id": timer_id,
        "chamado_id": chamado_id,
        "task_guid": "g2",
        "element_id": "e",
        "due_at": T0,
        "state": "waiting",
        "created_at": T0,
    }


def audit_row(action: str, summary: str) -> dict[str, Any]:
    return {"action": action, "at": T0, "details": None, "public": False, "summary": summary}


@contextmanager
def executed(svc: Chamados) -> Iterator[list[tuple[str, Any, bool]]]:
    """(SQL, parameters, executemany?) of every statement the driver runs meanwhile."""
    seen: list[tuple[str, Any, bool]] = []

    def on_execute(
        _conn: object, _cursor: object, sql: str, params: Any, _ctx: object, many: bool
    ) -> None:
        seen.append((sql, params, many))

    event.listen(svc.unit.db, "before_cursor_execute", on_execute)
    try:
        yield seen
    finally:
        event.remove(svc.unit.db, "before_cursor_execute", on_execute)


def test_rows_read_as_sqlalchemy_reads_them(svc: Chamados) -> None:
    """The person's roles (several rows, a NULL column, a timestamp): same values, same
    names, whether through Connection.execute or the driver."""
    sofia = add_person(svc, "71460238001", "Sofia Supervisora", "analyst", "supervisor")
    statement = users.principal_select(User.__table__.c.created_at).where(
        User.__table__.c.id == bindparam("user_id")
    )
    prepared = Prepared(statement)
    with autocommit_connection(svc.unit.db) as conn:
        expected = conn.execute(statement, {"user_id": sofia.id}).all()
        got = prepared.rows(conn, {"user_id": sofia.id})
    assert len(got) == len(expected) == 2
    assert [tuple(r) for r in got] == [tuple(r) for r in expected]
    assert got[0]._fields == tuple(expected[0]._fields)
    assert got[0].created_at.tzinfo is not None  # the column type's result processor ran
    assert users.principal_from_rows(got) == users.principal_from_rows(expected)


def test_a_bound_timestamp_goes_through_the_column_type_both_ways(svc: Chamados) -> None:
    maria = add_person(svc, "39053344705", "Maria da Silva")
    c = svc.requests.start_chamado(maria, "chamado")
    with svc.unit.transaction() as s:
        timer = corewrite.insert(
            s, WorkflowTimer(chamado_id=c.id, task_guid="g", element_id="e", due_at=T0)
        )
    due = Prepared(
        select(WorkflowTimer.__table__.c.due_at).where(
            WorkflowTimer.__table__.c.due_at == bindparam("at", type_=WorkflowTimer.due_at.type)
        )
    )
    with svc.unit.reading() as s:
        assert [r.due_at for r in due.rows(s, {"at": T0})] == [T0]
        # Whatever the column type makes of another offset, the same as SQLAlchemy's.
        other = T0.astimezone(ZoneInfo("America/Sao_Paulo"))
        assert due.rows(s, {"at": other}) == [
            tuple(r) for r in s.execute(due.statement, {"at": other})
        ]
        assert s.get(WorkflowTimer, timer.id).due_at == T0  # type: ignore[union-attr]


def test_a_run_inside_a_unit_of_work_is_part_of_its_transaction(svc: Chamados) -> None:
    """It begins the transaction as SQLAlchemy would (SQLite: BEGIN IMMEDIATE), is seen by
    the statement listeners, and is rolled back with the rest."""
    insert = Prepared(AuditEvent.__table__.insert(), column_keys=AUDIT_COLUMNS)
    with executed(svc) as seen, svc.unit.transaction() as s:
        insert.execute(s, audit_row("teste", "um"))
        s.rollback()
    sqls = [sql for sql, _p, _m in seen]
    if svc.unit.db.dialect.name == "sqlite":
        assert sqls[0] == "BEGIN IMMEDIATE"
    assert any(sql.startswith("INSERT INTO audit_events") for sql in sqls)
    with svc.unit.reading() as s:
        assert s.scalar(select(AuditEvent.id).where(AuditEvent.action == "teste")) is None


def test_executemany_is_one_driver_call_seen_once(svc: Chamados) -> None:
    insert = Prepared(AuditEvent.__table__.insert(), column_keys=AUDIT_COLUMNS)
    with executed(svc) as seen, svc.unit.transaction() as s:
        insert.execute_many(s, [audit_row("lote", str(i)) for i in range(3)])
    inserts = [(p, many) for sql, p, many in seen if sql.startswith("INSERT")]
    assert len(inserts) == 1 and inserts[0][1] is True and len(inserts[0][0]) == 3
    with svc.unit.reading() as s:
        rows = s.execute(
            select(AuditEvent.summary, AuditEvent.at).where(AuditEvent.action == "lote")
        ).all()
    assert sorted(rows) == [(str(i), T0) for i in range(3)]


def test_a_driver_error_is_sqlalchemys_error_and_the_unit_of_work_rolls_back(
    svc: Chamados, maria: ActorRef
) -> None:
    c = svc.requests.start_chamado(maria, "chamado")
    with svc.unit.reading() as s:
        taken = s.scalar(select(WorkflowTimer.id).limit(1))
    with svc.unit.transaction() as s:
        timer = corewrite.insert(
            s, WorkflowTimer(chamado_id=c.id, task_guid="g", element_id="e", due_at=T0)
        )
    values = timer_row(timer.id, c.id)
    with pytest.raises(IntegrityError) as raised, svc.unit.transaction() as s:
        corewrite.insert(
            s, WorkflowTimer(chamado_id=c.id, task_guid="g3", element_id="e", due_at=T0)
        )
        TIMER_INSERT.execute(s, values)
    assert (
        raised.value.statement is not None
        and "INSERT INTO workflow_timers" in raised.value.statement
    )
    with svc.unit.reading() as s:  # the whole transaction went, the first INSERT too
        guids = set(s.scalars(select(WorkflowTimer.task_guid)))
    assert guids == {"g"} and taken is None


def test_one_driver_cursor_per_connection_and_a_new_one_after_a_failure(
    svc: Chamados, maria: ActorRef
) -> None:
    """Statements on a connection share one driver cursor (a new psycopg cursor cost 13 µs
    of a ~100 µs statement); after a failed statement the next one gets a fresh cursor
    and runs, in the same transaction and in the next."""
    c = svc.requests.start_chamado(maria, "chamado")
    cursors: list[object] = []

    def on_execute(_conn: object, cursor: object, *_rest: object) -> None:
        cursors.append(cursor)

    one = Prepared(select(literal_column("1")))
    event.listen(svc.unit.db, "before_cursor_execute", on_execute)
    try:
        with svc.unit.transaction() as s:
            timer = corewrite.insert(
                s, WorkflowTimer(chamado_id=c.id, task_guid="g", element_id="e", due_at=T0)
            )
            assert one.rows(s, {})[0][0] == 1
            assert one.rows(s, {})[0][0] == 1
        assert cursors[-1] is cursors[-2] is cursors[-3]
        with pytest.raises(IntegrityError), svc.unit.transaction() as s:
            TIMER_INSERT.execute(s, timer_row(timer.id, c.id))
        failed = cursors[-1]
        with svc.unit.transaction() as s:
            assert one.rows(s, {})[0][0] == 1
        assert cursors[-1] is not failed
    finally:
        event.remove(svc.unit.db, "before_cursor_execute", on_execute)


def test_shapes_it_cannot_run_as_compiled_are_refused(svc: Chamados) -> None:
    # A column left to a Python-side default (AuditEvent.public's): SQLAlchemy would
    # compute it per execution; refused rather than written NULL.
    defaulted = Prepared(AuditEvent.__table__.insert(), column_keys=("action", "at", "summary"))
    with svc.unit.transaction() as s, pytest.raises(ValueError, match="padrão"):
        defaulted.execute(s, {"action": "x", "at": T0, "summary": "x"})
    pairs = Prepared(
        select(User.id).where(tuple_(User.id, User.cpf).in_(bindparam("pairs", expanding=True)))
    )
    with autocommit_connection(svc.unit.db) as conn, pytest.raises(ValueError, match="tuplas"):
        pairs.rows(conn, {"pairs": [(1, "x")]})
    expanding_write = Prepared(
        update(User).where(User.id.in_(bindparam("ids", expanding=True))).values(name="x")
    )
    with svc.unit.transaction() as s, pytest.raises(ValueError, match="executemany"):
        expanding_write.execute_many(s, [{"ids": [1]}, {"ids": [2]}])


def test_in_lists_and_literal_limits_read_as_sqlalchemy_reads_them_one_sql_per_shape(
    svc: Chamados,
) -> None:
    """An IN list of any length (none included) and a LIMIT written into the SQL, as the
    queue's and the lists' statements have them: the rows SQLAlchemy gives, each shape
    expanded once and kept, no more shapes kept than MAX_SHAPES."""
    people = [add_person(svc, f"{n:011d}", f"Pessoa {n}") for n in (39053344705, 71460238001)]
    ids = [p.id for p in people] + [10**9]
    statement = (
        select(User.id, User.name, User.created_at)
        .where(User.id.in_(bindparam("ids", expanding=True)), User.name != bindparam("not"))
        .order_by(User.id)
        .limit(bindparam("limit", type_=Integer(), literal_execute=True))
    )
    prepared = Prepared(statement)
    cases = [([], 5), (ids[:1], 5), (ids, 5), (ids, 1), (list(reversed(ids)), 5), (ids, 5)]
    with autocommit_connection(svc.unit.db) as conn, executed(svc) as seen:
        for chosen, limit in cases:
            params = {"ids": chosen, "not": "ninguém", "limit": limit}
            expected = conn.execute(statement, params).all()
            got = prepared.rows(conn, params)
            assert [tuple(r) for r in got] == [tuple(r) for r in expected]
            assert not got or got[0]._fields == tuple(expected[0]._fields)
    assert [len(prepared.rows(svc.unit.db, {"ids": ids, "not": "", "limit": 5}))] == [2]
    mine = [sql for sql, _p, _m in seen][1::2]  # SQLAlchemy's and ours alternate
    assert mine == [sql for sql, _p, _m in seen][0::2]  # the same SQL text for each shape
    (kept,) = prepared._by_dialect.values()
    assert kept.shapes is not None and len(kept.shapes) == 4  # 0, 1, 3 ids at 5; 3 at 1
    for limit in range(2 * MAX_SHAPES):
        assert len(prepared.rows(svc.unit.db, {"ids": ids, "not": "", "limit": limit})) == min(
            limit, 2
        )
    assert len(kept.shapes) == MAX_SHAPES


def test_the_api_token_read_is_one_driver_statement_and_revocation_is_immediate(
    svc: Chamados,
) -> None:
    maria = add_person(svc, "39053344705", "Maria da Silva")
    with svc.unit.transaction() as s:
        plaintext, row = tokens.create_token(s, maria.id, "integração", maria.id, T0)
    with executed(svc) as seen:
        assert svc.sessions.token_user(plaintext) is not None
    assert [sql.split()[0] for sql, _p, _m in seen if "api_tokens" in sql][:1] == ["SELECT"]
    with svc.unit.transaction() as s:
        tokens.revoke(s, row.id, maria.id, is_admin=False)
    assert svc.sessions.token_user(plaintext) is None


# --- a read given the Engine: outside any transaction, no SQLAlchemy Connection --------------


def test_a_read_given_the_engine_reads_as_sqlalchemy_and_waits_for_no_writer(
    svc: Chamados,
) -> None:
    sofia = add_person(svc, "71460238001", "Sofia Supervisora", "analyst", "supervisor")
    statement = users.principal_select(User.__table__.c.created_at).where(
        User.__table__.c.id == bindparam("user_id")
    )
    with autocommit_connection(svc.unit.db) as conn:
        expected = conn.execute(statement, {"user_id": sofia.id}).all()
    # While a writer holds SQLite's lock (or a PostgreSQL row lock) and has not committed.
    with writer_holding_the_lock(svc, update(User).values(name="Sofia Escrevendo")):
        started = time.monotonic()
        with executed(svc) as seen:
            got = Prepared(statement).rows(svc.unit.db, {"user_id": sofia.id})
        assert time.monotonic() - started < 2
    assert [tuple(r) for r in got] == [tuple(r) for r in expected] and len(got) == 2
    assert got[0]._fields == tuple(expected[0]._fields)
    assert [sql.split()[0] for sql, _p, _m in seen] == ["SELECT"]  # no BEGIN, no ROLLBACK
    assert svc.unit.db.pool.checkedout() == 0  # type: ignore[attr-defined]
    assert_transactions_hold(svc)


def test_a_failed_read_given_the_engine_is_sqlalchemys_error(svc: Chamados) -> None:
    missing = Prepared(select(literal_column("x")).select_from(table("nao_existe")))
    for listening in (False, True):  # bare, and through a Connection for the listener
        with executed(svc) if listening else nullcontext(), pytest.raises(DBAPIError) as raised:
            missing.rows(svc.unit.db, {})
        assert raised.value.statement is not None and "nao_existe" in raised.value.statement
        assert not raised.value.connection_invalidated  # the connection is fine: kept
        assert svc.unit.db.pool.checkedout() == 0  # type: ignore[attr-defined]
        assert_transactions_hold(svc)


def test_a_database_that_cannot_be_reached_is_unavailable(tmp_path: Path) -> None:
    """No connection at all: the error has no statement, which the web layer answers 503."""
    if TEST_DATABASE_URL:
        url = make_url(TEST_DATABASE_URL).set(port=9).render_as_string(hide_password=False)
    else:
        (tmp_path / "arquivo").write_text("")
        url = f"sqlite:///{tmp_path / 'arquivo' / 'banco.db'}"  # a file where a folder must be
    unreachable = make_engine(url) if TEST_DATABASE_URL else create_engine(url)
    try:
        with pytest.raises(OperationalError) as raised:
            Prepared(select(literal_column("1"))).rows(unreachable, {})
        assert raised.value.statement is None and is_unavailable(raised.value)
    finally:
        unreachable.dispose()
