"""queue: the ticket's filtered columns copied onto its open task rows, kept by triggers

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-06 19:10:00.000000

The queue filtered by a ticket's column (órgão, tipo de problema, serviço, novos /
reenviados, atrasados) walked the open tasks in their index's order and looked each
one's ticket up until the count's cap matched: ~3,200 look-ups for the most frequent
órgão at a million tickets against ~90 at a thousand, 1.3–1.7× the time (issue #16,
target 3; migration 0020 made each look-up index-only, not fewer). The task rows now
carry those columns, so every filter is answered from an index of human_tasks alone:

* ``orgao_id``, ``categoria``, ``process_id`` (the ticket's process: its service),
  ``resent`` (``adjustment_rounds > 0``: "reenviado") — each with an index
  (group, column, created_at, assignee_id, state) of the open rows only (``state =
  'ready'``: a tenth of the rows at a million tickets, and closing a task writes none of
  them; "state" is held, last, for PostgreSQL's index-only scans and SQLite's planner),
  the queue's order after the equalities, so a count or a page walks only the matching
  open tasks; on PostgreSQL each INCLUDEs the other filters, so a combination is read
  from the index alone;
* ``late_from``: from when the task counts as late ("atrasado" is ``late_from < now``):
  the ticket's ``analysis_due_at``, or 1970-01-01 once a timer flagged it ``overdue`` —
  one column for what was ``overdue OR analysis_due_at < now``, so the due date still
  covers a scheduler running late. A range has no order to walk for the page: it is
  INCLUDEd in the queue's two indexes (PostgreSQL), whose walk starts at the oldest
  tasks — the late ones.

The database keeps the copies, whoever writes the rows: a trigger fills an open task row
when it is inserted (PostgreSQL: BEFORE INSERT, into the row being written; SQLite, whose
triggers cannot change the row being inserted: AFTER INSERT, rewriting the row only when
what the writer gave differs from the ticket's stored values — engine.tasks gives the
ticket's values, so only a step that changes the ticket as it creates the row writes it
twice), and a trigger on chamados copies a change of any of those columns to the ticket's
open task rows (the SLA timer's flag, a new due date, a resend, a staff reclassification,
a designer's migration to a new version, anonymization). No statement is added to any
request. Rows no longer open keep what they had; the queue reads only open rows.

The backfill copies the columns onto the open rows that exist, in ranges of ids, in SQL
both databases run (a million tickets, 250,000 open rows: 40 s on PostgreSQL here).
Rewritten rows leave their pages not all-visible, and index-only scans read the heap
again until a vacuum, which autovacuum may not start soon (a tenth of the table changed):
on a large PostgreSQL database run ``VACUUM ANALYZE human_tasks`` after this upgrade
(a transaction's migration cannot). ``ix_chamados_queue_filters`` (0020), the other side
of the old walk, is no longer read and goes.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None

FAMILIES = ("orgao_id", "categoria", "process_id", "resent")
COPIED = ("orgao_id", "categoria", "process_id", "resent", "late_from")
WATCHED = (  # the ticket's columns the copies come from
    "orgao_id",
    "categoria",
    "process_version_id",
    "adjustment_rounds",
    "overdue",
    "analysis_due_at",
)
QUEUE_KEY = ["group", "state", "assignee_id", "created_at"]
OPEN_KEY = ["group", "state", "created_at"]
OLD_FILTERS = list(WATCHED)  # what ix_chamados_queue_filters INCLUDEd (0020)
BATCH = 50_000

# engine.models.ALWAYS_LATE as each database stores it (SQLite: SQLAlchemy's text form;
# tests/test_queue_columns.py checks that the engine's own rows match it).
ALWAYS_LATE = {
    "postgresql": "TIMESTAMPTZ '1970-01-01 00:00:00+00'",
    "sqlite": "'1970-01-01 00:00:00.000000'",
}


def _expressions(dialect: str, ticket: str) -> list[str]:
    """The copied values of one ticket row (``ticket``: its alias, or NEW), in COPIED's order."""
    return [
        f"{ticket}.orgao_id",
        f"{ticket}.categoria",
        f"(SELECT p.process_id FROM process_versions p WHERE p.id = {ticket}.process_version_id)",
        f"{ticket}.adjustment_rounds > 0",
        f"CASE WHEN {ticket}.overdue THEN {ALWAYS_LATE[dialect]} ELSE {ticket}.analysis_due_at END",
    ]


def _values(dialect: str, ticket: str) -> str:
    return ", ".join(_expressions(dialect, ticket))


def _changed() -> str:
    return " OR ".join(f"OLD.{c} IS DISTINCT FROM NEW.{c}" for c in WATCHED)


def _copy_to_open_rows(dialect: str) -> str:
    """The ticket trigger's body: NEW's values onto its open task rows."""
    sets = ", ".join(COPIED)
    return (
        f"UPDATE human_tasks SET ({sets}) = (SELECT {_values(dialect, 'NEW')}) "
        "WHERE chamado_id = NEW.id AND state = 'ready'"
    )


def _postgresql_triggers() -> list[str]:
    into = ", ".join(f"NEW.{c}" for c in COPIED)
    return [
        f"""
        CREATE FUNCTION human_tasks_queue_columns() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            SELECT {_values("postgresql", "c")} INTO {into}
            FROM chamados c WHERE c.id = NEW.chamado_id;
            RETURN NEW;
        END $$
        """,
        "CREATE TRIGGER human_tasks_queue_columns BEFORE INSERT ON human_tasks "
        "FOR EACH ROW WHEN (NEW.state = 'ready') EXECUTE FUNCTION human_tasks_queue_columns()",
        f"""
        CREATE FUNCTION chamados_queue_columns() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            {_copy_to_open_rows("postgresql")};
            RETURN NULL;
        END $$
        """,
        f"CREATE TRIGGER chamados_queue_columns AFTER UPDATE OF {', '.join(WATCHED)} "
        f"ON chamados FOR EACH ROW WHEN ({_changed()}) "
        "EXECUTE FUNCTION chamados_queue_columns()",
    ]


def _sqlite_triggers() -> list[str]:
    sets = ", ".join(COPIED)
    aliases = ", ".join(
        f"{value} AS {column}"
        for value, column in zip(_expressions("sqlite", "c"), COPIED, strict=True)
    )
    same = " AND ".join(f"NEW.{c} IS v.{c}" for c in COPIED)  # SQLite's IS: NULLs equal too
    return [
        # Skipped (a read, no write) when the writer gave the ticket's stored values.
        "CREATE TRIGGER human_tasks_queue_columns AFTER INSERT ON human_tasks "
        "WHEN NEW.state = 'ready' AND NOT EXISTS ("
        f"  SELECT 1 FROM (SELECT {aliases} FROM chamados c WHERE c.id = NEW.chamado_id) AS v"
        f"  WHERE {same}"
        ") BEGIN "
        f"UPDATE human_tasks SET ({sets}) = ("
        f"  SELECT {_values('sqlite', 'c')} FROM chamados c WHERE c.id = NEW.chamado_id"
        ") WHERE id = NEW.id; END",
        f"CREATE TRIGGER chamados_queue_columns AFTER UPDATE OF {', '.join(WATCHED)} "
        f"ON chamados WHEN {_changed().replace('IS DISTINCT FROM', 'IS NOT')} BEGIN "
        f"{_copy_to_open_rows('sqlite')}; END",
    ]


def backfill(connection: sa.Connection) -> None:
    """Copy the ticket's columns onto every open task row, BATCH ids at a time."""
    dialect = connection.dialect.name
    statement = sa.text(
        f"UPDATE human_tasks SET ({', '.join(COPIED)}) = ("
        f"  SELECT {_values(dialect, 'c')} FROM chamados c WHERE c.id = human_tasks.chamado_id"
        ") WHERE state = 'ready' AND id > :low AND id <= :high"
    )
    last = connection.execute(sa.text("SELECT max(id) FROM human_tasks")).scalar() or 0
    for low in range(0, last, BATCH):
        connection.execute(statement, {"low": low, "high": low + BATCH})


def upgrade() -> None:
    bind = op.get_bind()
    dialect = bind.dialect.name
    op.add_column("human_tasks", sa.Column("orgao_id", sa.Integer(), nullable=True))
    op.add_column("human_tasks", sa.Column("categoria", sa.String(80), nullable=True))
    op.add_column("human_tasks", sa.Column("process_id", sa.String(100), nullable=True))
    op.add_column(
        "human_tasks",
        sa.Column("resent", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    op.add_column("human_tasks", sa.Column("late_from", sa.DateTime(timezone=True)))
    backfill(bind)
    for statement in _postgresql_triggers() if dialect == "postgresql" else _sqlite_triggers():
        op.execute(statement)
    for column in FAMILIES:
        op.create_index(
            f"ix_human_tasks_by_{column}",
            "human_tasks",
            ["group", column, "created_at", "assignee_id", "state"],
            postgresql_include=[c for c in COPIED if c != column],
            postgresql_where=sa.text("state = 'ready'"),
            sqlite_where=sa.text("state = 'ready'"),
        )
    if dialect == "postgresql":
        # The "atrasados" filter reads late_from from the queue's own indexes.
        op.drop_index("ix_human_tasks_queue", table_name="human_tasks")
        op.create_index(
            "ix_human_tasks_queue",
            "human_tasks",
            QUEUE_KEY,
            postgresql_include=["chamado_id", "late_from"],
        )
        op.drop_index("ix_human_tasks_open", table_name="human_tasks")
        op.create_index(
            "ix_human_tasks_open",
            "human_tasks",
            OPEN_KEY,
            postgresql_include=["chamado_id", "late_from"],
        )
    op.drop_index("ix_chamados_queue_filters", table_name="chamados")


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    op.create_index("ix_chamados_queue_filters", "chamados", ["id"], postgresql_include=OLD_FILTERS)
    if dialect == "postgresql":
        op.drop_index("ix_human_tasks_open", table_name="human_tasks")
        op.create_index(
            "ix_human_tasks_open", "human_tasks", OPEN_KEY, postgresql_include=["chamado_id"]
        )
        op.drop_index("ix_human_tasks_queue", table_name="human_tasks")
        op.create_index(
            "ix_human_tasks_queue", "human_tasks", QUEUE_KEY, postgresql_include=["chamado_id"]
        )
    for column in FAMILIES:
        op.drop_index(f"ix_human_tasks_by_{column}", table_name="human_tasks")
    if dialect == "postgresql":
        op.execute("DROP TRIGGER chamados_queue_columns ON chamados")
        op.execute("DROP FUNCTION chamados_queue_columns()")
        op.execute("DROP TRIGGER human_tasks_queue_columns ON human_tasks")
        op.execute("DROP FUNCTION human_tasks_queue_columns()")
    else:
        op.execute("DROP TRIGGER chamados_queue_columns")
        op.execute("DROP TRIGGER human_tasks_queue_columns")
    # Plain ALTER TABLE … DROP COLUMN (SQLite ≥ 3.35; no index holds them any more).
    for column in reversed(COPIED):
        op.drop_column("human_tasks", column)
