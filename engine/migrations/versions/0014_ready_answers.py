"""ready answers: supervisors' answer texts offered on the analysis form

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06 07:40:00.000000

Each row is a text with placeholders ({protocolo}, {nome}, {servico}, {orgao}) keyed
by a catalog value — a problem type, a return reason — or by every value of a catalog
(engine.ready_answers). Retired, never deleted.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ready_answers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=120), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("catalog", sa.String(length=80), nullable=False),
        sa.Column("code", sa.String(length=80), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_by_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["updated_by_id"], ["users.id"]),
        sa.PrimaryKeyConstraint("id"),
    )


def downgrade() -> None:
    op.drop_table("ready_answers")
