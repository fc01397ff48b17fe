"""messages: what instances wait for, and messages thrown for other instances

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-06 10:20:00.000000

``message_waits`` mirrors the BPMN messages each instance waits for (engine.messages),
one row per correlation key, so that ``POST /api/v1/messages/{name}`` and a throw in
another instance find their receivers by index. ``message_queue`` holds the messages an
instance throws for others, saved with the throwing step and delivered by the scheduler.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "message_waits",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("chamado_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("correlation", sa.String(length=500), nullable=True),
        sa.ForeignKeyConstraint(["chamado_id"], ["chamados.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_message_waits_chamado_id", "message_waits", ["chamado_id"])
    op.create_index("ix_message_waits_name", "message_waits", ["name", "correlation"])
    op.create_table(
        "message_queue",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("correlations", sa.JSON(), nullable=False),
        sa.Column("from_chamado_id", sa.Integer(), nullable=True),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("delivered_to", sa.JSON(), nullable=True),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["from_chamado_id"], ["chamados.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_message_queue_due", "message_queue", ["state", "lease_until"])


def downgrade() -> None:
    op.drop_table("message_queue")
    op.drop_table("message_waits")
