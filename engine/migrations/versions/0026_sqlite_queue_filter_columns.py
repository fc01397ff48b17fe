"""queue: on SQLite, the órgão's, type's and service's indexes carry the other filters

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-06 22:40:00.000000

Migration 0022 gave each queue filter (órgão, tipo de problema, serviço, reenviado) an
index of the open task rows; on PostgreSQL each also INCLUDEs the other filters' columns,
so a combination (tipo + novos) is counted from one index alone. SQLite has no INCLUDE,
and its planner, without statistics (the product never runs ANALYZE), weighed the type's
index and the ``resent`` one alike (two equalities each) and took the latter — "novos",
which matches most open tasks — then read each task's row for its type: the page "tipo +
novos" cost 1.40× at 100,000 tickets what it costs at a thousand (bench/queue_scale.py).

On SQLite the other filters now follow the key of the órgão's, the type's and the
service's indexes (the stand-in for INCLUDE: never read to find a row, only to check
one): a combination's count reads that filter's index alone, which the planner now
prefers. PostgreSQL keeps its indexes: nothing to do there.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0026"
down_revision = "0025"
branch_labels = None
depends_on = None

# Not ``resent``'s: "novos" (resent = false) matches most open tasks, so that index
# should lose to the other filter's when both come; holding only its own column, it does.
FAMILIES = ("orgao_id", "categoria", "process_id")
COPIED = ("orgao_id", "categoria", "process_id", "resent", "late_from")
KEY = ("created_at", "assignee_id", "state")


def _recreate(others: bool) -> None:
    for column in FAMILIES:
        name = f"ix_human_tasks_by_{column}"
        op.drop_index(name, table_name="human_tasks")
        extra = [c for c in COPIED if c != column] if others else []
        op.create_index(
            name,
            "human_tasks",
            ["group", column, *KEY, *extra],
            sqlite_where=sa.text("state = 'ready'"),
        )


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        _recreate(others=True)


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        _recreate(others=False)
