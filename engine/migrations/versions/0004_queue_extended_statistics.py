"""queue: extended statistics on human_tasks ("group", state, assignee_id)

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29 06:00:00.000000

PostgreSQL estimates each column of the queue's filters on its own and multiplies:
with 100,000 tickets it expected ~450 unclaimed analyses where there are ~10,000
(the columns are correlated: ready analyst tasks are mostly unassigned, requester
tasks always assigned). Below the counting cap (engine.queue.COUNT_CAP) that looks
cheap to fetch in full, so it picked a bitmap scan that reads every matching entry
before the LIMIT. A multivariate MCV list (which covers ``assignee_id IS NULL``) and
functional dependencies give it the real figure; ANALYZE (autovacuum) fills them.

SQLite has no such thing (and the product never runs ANALYZE there): nothing to do.
"""

from __future__ import annotations

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_NAME = "st_human_tasks_queue"


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(
        f"CREATE STATISTICS IF NOT EXISTS {_NAME} (mcv, dependencies) "
        'ON "group", state, assignee_id FROM human_tasks'
    )
    op.execute("ANALYZE human_tasks")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(f"DROP STATISTICS IF EXISTS {_NAME}")
