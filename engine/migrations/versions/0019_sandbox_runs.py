"""sandbox_runs: a designer's test run of a draft, kept between requests

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-06 13:00:00.000000

"Executar teste" (engine.designer.sandbox_runs) steps a draft by hand in memory; the
serialized workflow waits here between two requests, never in ``chamados``. One run per
designer per model (unique), found by (process_id, owner_id); ``expires_at`` is indexed
so a start sweeps the runs left idle.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sandbox_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("process_id", sa.String(length=100), nullable=False),
        sa.Column("owner_id", sa.Integer(), nullable=False),
        sa.Column("draft_version", sa.Integer(), nullable=False),
        sa.Column("steps", sa.Integer(), nullable=False),
        sa.Column("workflow_state", sa.Text(), nullable=False),
        sa.Column("mails", sa.JSON(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["owner_id"], ["users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("process_id", "owner_id"),
    )
    op.create_index("ix_sandbox_runs_expires_at", "sandbox_runs", ["expires_at"])


def downgrade() -> None:
    op.drop_table("sandbox_runs")
