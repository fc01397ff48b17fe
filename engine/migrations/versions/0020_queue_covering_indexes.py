"""queue: covering indexes, so a filtered count reads indexes only

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-06 16:00:00.000000

A filter of the work queue on the ticket's columns (órgão, tipo de problema, serviço,
novos/reenviados, atrasados) walks the open tasks in the order of their index and looks
each one's ticket up until the count's cap (engine.queue). With a million tickets the
task and ticket rows those look-ups land on are spread over hundreds of megabytes of
table: every look-up was a random read of a heap page, 15–25 ms a count on PostgreSQL
(bench/queue_scale.py). On PostgreSQL the task indexes of the queue now carry
``chamado_id`` (INCLUDE), and ``ix_chamados_queue_filters`` holds the ticket's id with the
columns the filters read (INCLUDE): both sides of the walk are index-only scans, a few
megabytes that stay in the cache.

Only PostgreSQL gets the included columns (SQLite has no INCLUDE; a SQLite table is its
rowid's B-tree, so a look-up by id reads the row anyway): there the indexes keep their keys
and ``ix_chamados_queue_filters`` is the id alone.

``ix_human_tasks_chamado`` (chamado_id, state) becomes (chamado_id, "group", state): the
staff's access checks ask for one ticket's tasks of their groups (``chamado_id = ? AND
"group" IN (…)``, the analysis page, the duplicates, the search), and SQLite's planner, which
has no statistics (the product never runs ANALYZE), answered them by walking the group's
whole ix_human_tasks_open — 45–210 ms at 100,000 tickets, against well under a millisecond.
With both columns in one index it takes that one; look-ups by (chamado_id, state) still
use its first column.
"""

from __future__ import annotations

from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None

QUEUE_KEY = ["group", "state", "assignee_id", "created_at"]
OPEN_KEY = ["group", "state", "created_at"]
FILTERS = [
    "orgao_id",
    "categoria",
    "process_version_id",
    "adjustment_rounds",
    "overdue",
    "analysis_due_at",
]


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.drop_index("ix_human_tasks_queue", table_name="human_tasks")
        op.create_index(
            "ix_human_tasks_queue", "human_tasks", QUEUE_KEY, postgresql_include=["chamado_id"]
        )
        op.drop_index("ix_human_tasks_open", table_name="human_tasks")
        op.create_index(
            "ix_human_tasks_open", "human_tasks", OPEN_KEY, postgresql_include=["chamado_id"]
        )
        op.execute("ALTER TABLE human_tasks SET (parallel_workers = 0)")
    op.create_index("ix_chamados_queue_filters", "chamados", ["id"], postgresql_include=FILTERS)
    op.drop_index("ix_human_tasks_chamado", table_name="human_tasks")
    op.create_index("ix_human_tasks_chamado", "human_tasks", ["chamado_id", "group", "state"])


def downgrade() -> None:
    op.drop_index("ix_human_tasks_chamado", table_name="human_tasks")
    op.create_index("ix_human_tasks_chamado", "human_tasks", ["chamado_id", "state"])
    op.drop_index("ix_chamados_queue_filters", table_name="chamados")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE human_tasks RESET (parallel_workers)")
        op.drop_index("ix_human_tasks_open", table_name="human_tasks")
        op.create_index("ix_human_tasks_open", "human_tasks", OPEN_KEY)
        op.drop_index("ix_human_tasks_queue", table_name="human_tasks")
        op.create_index("ix_human_tasks_queue", "human_tasks", QUEUE_KEY)
