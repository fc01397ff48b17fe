"""queue: on SQLite, a task row given the ticket's values as the step leaves them is written once

Revision ID: 0028
Revises: 0027
Create Date: 2026-12-07 18:10:00.000000

Migration 0022 keeps the ticket's filtered columns (órgão, tipo, serviço, reenviado,
atrasado) on its open task rows with two triggers; 0027 moved PostgreSQL's to the commit.
SQLite has no deferred triggers and kept 0022's, which compare with the ticket's *stored*
values. Sending the registration form sets the órgão, the type and the due date, opens the
analysts' task and writes the ticket last (one UPDATE, with its version): the row, given
the values the ticket was about to hold, differed from the stored ones, so the insert
trigger rewrote it with the old values, and the ticket's UPDATE rewrote it again with the
new ones — three writes of the row, each touching the queue's indexes, where one suffices.

Now, on SQLite:
- the insert trigger copies the ticket's values only into a row given none (engine.tasks
  gives all of them, as the step leaves the ticket; ``process_id`` is never empty then);
- the ticket's trigger rewrites only the open rows whose copies differ from its new values.
A later change of the ticket in the same step (or by any writer) still reaches every open
row. PostgreSQL is untouched (0027).
"""

from __future__ import annotations

from types import ModuleType

from alembic import op

from engine import schema

revision = "0028"
down_revision = "0027"
branch_labels = None
depends_on = None


def _migration_0022() -> ModuleType:
    """0022's module (the copied columns, their expressions, its triggers)."""
    return schema.revision_module("0022_queue_filters_on_tasks.py")


def _triggers(m0022: ModuleType) -> list[str]:
    copied = ", ".join(m0022.COPIED)
    stored = m0022._values("sqlite", "c")
    new_values = m0022._expressions("sqlite", "NEW")
    # SQLite's IS: NULLs equal too.
    same = " AND ".join(
        f"human_tasks.{column} IS {value}"
        for column, value in zip(m0022.COPIED, new_values, strict=True)
    )
    changed = m0022._changed().replace("IS DISTINCT FROM", "IS NOT")
    return [
        "DROP TRIGGER human_tasks_queue_columns",
        "DROP TRIGGER chamados_queue_columns",
        "CREATE TRIGGER human_tasks_queue_columns AFTER INSERT ON human_tasks "
        "WHEN NEW.state = 'ready' AND NEW.process_id IS NULL BEGIN "
        f"UPDATE human_tasks SET ({copied}) = ("
        f"  SELECT {stored} FROM chamados c WHERE c.id = NEW.chamado_id"
        ") WHERE id = NEW.id; END",
        f"CREATE TRIGGER chamados_queue_columns AFTER UPDATE OF {', '.join(m0022.WATCHED)} "
        f"ON chamados WHEN {changed} BEGIN "
        f"UPDATE human_tasks SET ({copied}) = (SELECT {', '.join(new_values)}) "
        f"WHERE chamado_id = NEW.id AND state = 'ready' AND NOT ({same}); END",
    ]


def upgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    for statement in _triggers(_migration_0022()):
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    op.execute("DROP TRIGGER human_tasks_queue_columns")
    op.execute("DROP TRIGGER chamados_queue_columns")
    for statement in _migration_0022()._sqlite_triggers():
        op.execute(statement)
