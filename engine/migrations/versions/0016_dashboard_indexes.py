"""dashboard: indexes on the times each figure of the Painel reads by period

Revision ID: 0016
Revises: 0014
Create Date: 2026-12-06 10:00:00.000000

engine.dashboard reads, per period, the tickets sent in it (``submitted_at``), those
closed in it (``closed_at``), the open ones by age and the satisfaction answers given in
it (``answered_at``): one index on each of those times, partial so drafts, open or
unanswered rows are not in it, and the work follows the tickets of the period rather
than the tickets the database holds (bench/dashboard_scale.py).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0014"
branch_labels = None
depends_on = None

# name -> (table, column, the partial index's condition)
INDEXES = {
    "ix_chamados_submitted": ("chamados", "submitted_at", "submitted_at IS NOT NULL"),
    "ix_chamados_closed": ("chamados", "closed_at", "closed_at IS NOT NULL"),
    "ix_chamados_open_age": (
        "chamados",
        "submitted_at",
        "closed_at IS NULL AND submitted_at IS NOT NULL",
    ),
    "ix_satisfaction_answered": (
        "satisfaction_surveys",
        "answered_at",
        "answered_at IS NOT NULL",
    ),
}


def upgrade() -> None:
    for name, (table, column, where) in INDEXES.items():
        op.create_index(
            name,
            table,
            [column],
            unique=False,
            sqlite_where=sa.text(where),
            postgresql_where=sa.text(where),
        )


def downgrade() -> None:
    for name, (table, _column, _where) in INDEXES.items():
        op.drop_index(name, table_name=table)
