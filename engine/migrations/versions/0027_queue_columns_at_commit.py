"""queue: on PostgreSQL the task rows' copies of the ticket's columns are checked at commit

Revision ID: 0027
Revises: 0026
Create Date: 2026-12-07 11:30:00.000000

Migration 0022 keeps the ticket's filtered columns (órgão, tipo, serviço, reenviado,
atrasado) on its open task rows with two triggers. On PostgreSQL the task row's was BEFORE
INSERT: it copied the ticket's *stored* values into the row being written, whatever the
writer gave. A step that changes the ticket as it creates a task row — sending the
registration form sets the órgão, the type and the due date, and opens the analysts'
task — inserts the row first and writes the ticket last (one UPDATE, with its version):
the row got the old values, and the ticket's trigger then rewrote it, a second row
version with an entry in each of the table's ten indexes. That rewrite was the most
expensive statement PostgreSQL ran in the burst (bench/burst.py, pg_stat_statements:
~0.5 ms per ticket sent, more than the ticket's own UPDATE).

Both triggers are now constraint triggers, DEFERRABLE INITIALLY DEFERRED: they run when the
transaction commits, against the ticket's values as committed, and rewrite only an open row
whose copies differ. engine.tasks gives the ticket's values as the step leaves them, so the
step writes each row once; a writer that gives nothing (or something else) still gets the
ticket's values, at its commit. Until then only that transaction could see the difference,
and no step reads the queue's columns back. SQLite keeps 0022's triggers (no deferred
triggers there; its insert trigger already skips a row given the stored values).
"""

from __future__ import annotations

from types import ModuleType

from alembic import op

from engine import schema

revision = "0027"
down_revision = "0026"
branch_labels = None
depends_on = None


def _migration_0022() -> ModuleType:
    """0022's module (the copied columns, their expressions, its triggers)."""
    return schema.revision_module("0022_queue_filters_on_tasks.py")


def _triggers(m0022: ModuleType) -> list[str]:
    copied = ", ".join(m0022.COPIED)
    held = ", ".join(f"t.{c}" for c in m0022.COPIED)
    wanted = ", ".join(f"v.{c}" for c in m0022.COPIED)
    values = ", ".join(
        f"{value} AS {column}"
        for value, column in zip(m0022._expressions("postgresql", "c"), m0022.COPIED, strict=True)
    )

    def function(name: str, ticket: str, rows: str) -> str:
        # The ticket's values first (its primary key), then only the rows whose copies
        # differ. Each lookup names its key alone: given "state = 'ready'" next to the
        # task's id, a generic plan walked a partial index of every open row instead.
        return f"""
        CREATE OR REPLACE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$
        DECLARE
            v record;
        BEGIN
            SELECT {values} INTO v FROM chamados c WHERE c.id = {ticket};
            UPDATE human_tasks t SET ({copied}) = ROW({wanted})
            WHERE {rows} AND ({held}) IS DISTINCT FROM ({wanted});
            RETURN NULL;
        END $$
        """

    return [
        "DROP TRIGGER human_tasks_queue_columns ON human_tasks",
        "DROP TRIGGER chamados_queue_columns ON chamados",
        # A row inserted open; closed again before the commit, it may take the copies too
        # (nothing reads a closed row's).
        function("human_tasks_queue_columns", "NEW.chamado_id", "t.id = NEW.id"),
        "CREATE CONSTRAINT TRIGGER human_tasks_queue_columns AFTER INSERT ON human_tasks "
        "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW WHEN (NEW.state = 'ready') "
        "EXECUTE FUNCTION human_tasks_queue_columns()",
        function("chamados_queue_columns", "NEW.id", "t.chamado_id = NEW.id AND t.state = 'ready'"),
        f"CREATE CONSTRAINT TRIGGER chamados_queue_columns AFTER UPDATE OF "
        f"{', '.join(m0022.WATCHED)} ON chamados DEFERRABLE INITIALLY DEFERRED "
        f"FOR EACH ROW WHEN ({m0022._changed()}) EXECUTE FUNCTION chamados_queue_columns()",
    ]


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for statement in _triggers(_migration_0022()):
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP TRIGGER human_tasks_queue_columns ON human_tasks")
    op.execute("DROP TRIGGER chamados_queue_columns ON chamados")
    op.execute("DROP FUNCTION human_tasks_queue_columns()")
    op.execute("DROP FUNCTION chamados_queue_columns()")
    for statement in _migration_0022()._postgresql_triggers():
        op.execute(statement)
