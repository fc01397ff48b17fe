"""first_analysis_at: when the team first took up a ticket, kept on the ticket

Revision ID: 0018
Revises: 0015
Create Date: 2026-12-06 11:20:00.000000

The Painel's "time to the first analysis" (engine.dashboard) is sent → the first claim or
completion of a staff task. It was looked up per ticket of the period in human_tasks'
index, a B-tree one level deeper at a million tickets, which kept the unfiltered views
above issue #12's 1.5× target (README, "Painel (issue #12)"). The ticket now keeps that
moment itself, written by the first claim (engine/usecases/analysis.py) or the completion
of a staff task (engine/usecases/requests.py ``_finish_completion``), so the figure reads
only the period's ticket rows, which it reads anyway.

The backfill gives existing tickets the same value the lookup gave: the earliest claim,
or completion, of a task of a staff group (not the requester's). A task cancelled by the
workflow (a timer or gateway moved on) was neither claimed nor completed by anyone: its
``completed_at`` is the cancellation, which is not an analysis, and does not count.
One correlated subquery, on the tasks' (chamado_id, state) index, in SQL both SQLite and
PostgreSQL run.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0015"
branch_labels = None
depends_on = None

# engine.groups.REQUESTER, copied: a migration must not change when the code does.
REQUESTER = "requester"

BACKFILL = sa.text(
    "UPDATE chamados SET first_analysis_at = ("
    "  SELECT min(CASE WHEN t.claimed_at IS NOT NULL THEN t.claimed_at"
    "                  WHEN t.state = 'completed' THEN t.completed_at END)"
    '  FROM human_tasks t WHERE t.chamado_id = chamados.id AND t."group" <> :requester'
    ") WHERE id IN ("
    '  SELECT t.chamado_id FROM human_tasks t WHERE t."group" <> :requester'
    "  AND (t.claimed_at IS NOT NULL OR t.state = 'completed')"
    ")"
).bindparams(requester=REQUESTER)


def upgrade() -> None:
    op.add_column(
        "chamados", sa.Column("first_analysis_at", sa.DateTime(timezone=True), nullable=True)
    )
    op.execute(BACKFILL)


def downgrade() -> None:
    # A plain ALTER TABLE … DROP COLUMN (SQLite ≥ 3.35 has it; the column is in no
    # index or constraint): a batch copy of chamados would trip the foreign keys of
    # every row that references a ticket.
    op.drop_column("chamados", "first_analysis_at")
