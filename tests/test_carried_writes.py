"""engine.prepared's ``execute_later``: on PostgreSQL an INSERT rides with the transaction's
next statement (one round trip), and is never seen out of order, lost or sent twice."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select, text, update
from sqlalchemy.exc import IntegrityError

from engine import corewrite, prepared
from engine.models import AuditEvent, Chamado, SearchEntry, User
from engine.prepared import Prepared
from engine.service import Chamados
from tests.conftest import MARIA, add_person
from tests.test_engine_lifecycle import submit_registration
from tests.test_prepared import AUDIT_COLUMNS, T0, audit_row, executed

AUDIT = Prepared(AuditEvent.__table__.insert(), column_keys=AUDIT_COLUMNS)
_USERS = User.__table__
RENAME = Prepared(
    update(_USERS).where(_USERS.c.id == -1).values(name="ninguém"),
)
COUNT_AUDIT = Prepared(select(func.count()).select_from(AuditEvent.__table__))
SEARCH = Prepared(
    SearchEntry.__table__.insert(), column_keys=("chamado_id", "form", "body", "updated_at")
)
# An audit event with its ticket (given one that does not exist, its foreign key fails).
AUDIT_OF_TICKET = Prepared(
    AuditEvent.__table__.insert(), column_keys=(*AUDIT_COLUMNS, "chamado_id")
)


def audits(svc: Chamados, summary: str) -> int:
    with svc.unit.session_factory() as s:
        return int(s.scalar(select(func.count()).where(AuditEvent.summary == summary)) or 0)


def some_ticket(svc: Chamados) -> int:
    with svc.unit.session_factory() as s:
        found = s.scalar(select(Chamado.id).limit(1))
    if found is None:
        maria = add_person(svc, MARIA, "Maria da Silva")
        found = submit_registration(svc, maria)
    return int(found)


def postgresql(svc: Chamados) -> bool:
    return svc.unit.db.dialect.name == "postgresql"


def test_an_insert_rides_with_the_next_statement_which_answers_as_before(
    svc: Chamados,
) -> None:
    """One round trip for all; the carrying statement's rowcount (and rows) are its own."""
    ticket = some_ticket(svc)
    with executed(svc) as seen, svc.unit.transaction() as s:
        AUDIT.execute_later(s, audit_row("a", "carried"))
        SEARCH.execute_later(
            s, {"chamado_id": ticket, "form": "carried", "body": "x", "updated_at": T0}
        )
        at_call = len(seen)
        changed = RENAME.execute(s, {})
        (row,) = Prepared(select(func.count()).select_from(_USERS)).rows(s, {})
    assert changed == 0 and row[0] >= 0
    statements = [sql for sql, _p, _m in seen if not sql.startswith("BEGIN")]
    if postgresql(svc):
        assert at_call == 0  # nothing sent at the calls
        assert len(statements) == 2
        assert statements[0].startswith("WITH _w0 AS (INSERT INTO audit_events")
        assert "_w1 AS (INSERT INTO search_entries" in statements[0]
        assert statements[0].endswith(RENAME._for(svc.unit.db.dialect).base.sql)
    else:
        assert len(statements) == 4  # SQLite: each at its call
    assert audits(svc, "carried") == 1


def test_one_tables_rows_keep_the_order_of_their_calls(svc: Chamados) -> None:
    """Their ids are the timeline's order: two rows of a table never share a statement,
    whose parts run in no set order."""
    with svc.unit.transaction() as s:
        for n in range(4):
            AUDIT.execute_later(s, audit_row(f"a{n}", "ordered"))
    with svc.unit.session_factory() as s:
        actions = s.scalars(
            select(AuditEvent.action).where(AuditEvent.summary == "ordered").order_by(AuditEvent.id)
        ).all()
    assert actions == ["a0", "a1", "a2", "a3"]


def test_a_statement_that_names_the_table_sends_them_first_and_sees_them(
    svc: Chamados,
) -> None:
    with executed(svc) as seen, svc.unit.transaction() as s:
        before = COUNT_AUDIT.rows(s, {})[0][0]
        AUDIT.execute_later(s, audit_row("a", "first"))
        after = COUNT_AUDIT.rows(s, {})[0][0]
    assert after == before + 1
    counted = [sql for sql, _p, _m in seen if "count(*)" in sql]
    assert all(not sql.startswith("WITH") for sql in counted)


def test_any_other_statement_sends_them_first(svc: Chamados) -> None:
    """ORM queries, Core through SQLAlchemy, text: each sees the rows written before it."""
    with svc.unit.transaction() as s:
        AUDIT.execute_later(s, audit_row("a", "orm"))
        assert s.scalar(select(func.count()).where(AuditEvent.summary == "orm")) == 1
        AUDIT.execute_later(s, audit_row("a", "orm"))
        found = s.execute(text("SELECT count(*) FROM audit_events WHERE summary = 'orm'"))
        assert found.scalar() == 2
        AUDIT.execute_later(s, audit_row("a", "orm"))
        s.execute(update(AuditEvent).where(AuditEvent.summary == "orm").values(public=True))
    with svc.unit.session_factory() as s:
        public = s.scalars(select(AuditEvent.public).where(AuditEvent.summary == "orm")).all()
    assert public == [True, True, True]


def test_the_commit_sends_them_and_a_rollback_drops_them(svc: Chamados) -> None:
    with executed(svc) as seen, svc.unit.transaction() as s:
        AUDIT.execute_later(s, audit_row("a", "at commit"))
    assert audits(svc, "at commit") == 1
    assert sum("INSERT INTO audit_events" in sql for sql, _p, _m in seen) == 1

    class Abandoned(Exception):
        pass

    with pytest.raises(Abandoned), svc.unit.transaction() as s:
        AUDIT.execute_later(s, audit_row("a", "dropped"))
        raise Abandoned
    with svc.unit.transaction() as s:  # the same pooled connection: nothing left on it
        AUDIT.execute_later(s, audit_row("a", "next"))
    assert audits(svc, "dropped") == 0
    assert audits(svc, "next") == 1


def test_a_savepoint_starts_clean_and_its_rollback_drops_what_came_after(
    svc: Chamados,
) -> None:
    with svc.unit.transaction() as s:
        AUDIT.execute_later(s, audit_row("a", "kept"))
        with pytest.raises(ValueError), s.begin_nested():
            AUDIT.execute_later(s, audit_row("a", "undone"))
            raise ValueError
        with s.begin_nested():
            AUDIT.execute_later(s, audit_row("a", "released"))
    assert (audits(svc, "kept"), audits(svc, "undone"), audits(svc, "released")) == (1, 0, 1)


def test_a_carried_row_that_fails_fails_the_statement_that_sends_it(svc: Chamados) -> None:
    """The error is the database's (a foreign key here), raised where the row is sent; the
    transaction writes nothing."""
    orphan = {**audit_row("a", "orphan"), "chamado_id": 999_999}
    with pytest.raises(IntegrityError), svc.unit.transaction() as s:
        AUDIT.execute_later(s, audit_row("a", "with the orphan"))
        AUDIT_OF_TICKET.execute_later(s, orphan)
        RENAME.execute(s, {})
    assert audits(svc, "with the orphan") == 0 and audits(svc, "orphan") == 0


def test_a_carried_row_that_fails_at_commit_fails_the_commit(svc: Chamados) -> None:
    """Sent by the commit: the commit fails, nothing is written, the connection serves on."""
    orphan = {**audit_row("a", "orphan at commit"), "chamado_id": 999_999}
    with pytest.raises(IntegrityError), svc.unit.transaction() as s:
        AUDIT.execute_later(s, audit_row("a", "before the orphan"))
        AUDIT_OF_TICKET.execute_later(s, orphan)
    assert audits(svc, "before the orphan") == 0 and audits(svc, "orphan at commit") == 0
    with svc.unit.transaction() as s:
        AUDIT.execute_later(s, audit_row("a", "after the orphan"))
    assert audits(svc, "after the orphan") == 1


def test_outside_a_transaction_it_runs_at_once(svc: Chamados) -> None:
    """An autocommit connection (engine.db) has no commit to send it with."""
    from engine.db import autocommit_connection

    with executed(svc) as seen, autocommit_connection(svc.unit.db) as conn:
        AUDIT.execute_later(conn, audit_row("a", "autocommit"))
        assert sum("INSERT INTO audit_events" in sql for sql, _p, _m in seen) == 1
    assert audits(svc, "autocommit") == 1


def test_a_statement_with_a_with_of_its_own_takes_them_first_in_its_list(
    svc: Chamados,
) -> None:
    if not postgresql(svc):
        pytest.skip("SQLite runs every statement at its call")
    cte = select(_USERS.c.id).where(_USERS.c.id == -1).cte("ninguem")
    own = Prepared(update(_USERS).where(_USERS.c.id.in_(select(cte.c.id))).values(name="x"))
    with executed(svc) as seen, svc.unit.transaction() as s:
        AUDIT.execute_later(s, audit_row("a", "spliced"))
        assert own.execute(s, {}) == 0
    (sql,) = [q for q, _p, _m in seen if "ninguem" in q]
    assert sql.startswith("WITH _w0 AS (INSERT INTO audit_events") and ", ninguem AS" in sql
    assert audits(svc, "spliced") == 1


def test_a_returned_connection_holds_no_carried_rows(svc: Chamados) -> None:
    """However a transaction ended, the pool hands the connection out clean."""
    if not postgresql(svc):
        pytest.skip("SQLite runs every statement at its call: nothing ever waits")
    pooled = svc.unit.db.raw_connection()
    pooled.info[prepared._PENDING] = [prepared._Carried("INSERT …", {}, frozenset({"x"}))]
    pooled.close()
    again = svc.unit.db.raw_connection()
    try:
        assert prepared._PENDING not in again.info
    finally:
        again.close()


def test_only_an_insert_without_returning_can_wait(svc: Chamados) -> None:
    if not postgresql(svc):
        pytest.skip("SQLite runs every statement at its call")
    returning = Prepared(
        AuditEvent.__table__.insert().returning(AuditEvent.id), column_keys=AUDIT_COLUMNS
    )
    with svc.unit.transaction() as s:
        for statement, params in ((RENAME, {}), (returning, audit_row("a", "r"))):
            with pytest.raises(ValueError, match="INSERT sem RETURNING"):
                statement.execute_later(s, params)


def test_corewrite_insert_many_lets_a_single_row_wait(svc: Chamados) -> None:
    """A step's audit event (corewrite.insert_many, one row) and the next write: one
    statement on PostgreSQL."""
    with executed(svc) as seen, svc.unit.transaction() as s:
        corewrite.insert_many(s, AuditEvent.__table__, [audit_row("a", "step")])
        RENAME.execute(s, {})
    writes = [sql for sql, _p, _m in seen if not sql.startswith("BEGIN")]
    assert len(writes) == (1 if postgresql(svc) else 2)
    assert audits(svc, "step") == 1
