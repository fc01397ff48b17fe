"""satisfaction: "O atendimento resolveu seu problema?" per closed ticket

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06 07:30:00.000000

Lei 13.460/2017, art. 23: public services are evaluated continuously. Each ticket that
reaches its end gets one survey row (engine.satisfaction): the hash of the single-use
token its result e-mail links to, the 1–5 answer and an optional comment, when it was
first given and last changed, and through which channel.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "satisfaction_surveys",
        sa.Column("chamado_id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("link_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("rating", sa.Integer(), nullable=True),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("channel", sa.String(length=10), nullable=True),
        sa.ForeignKeyConstraint(["chamado_id"], ["chamados.id"]),
        sa.PrimaryKeyConstraint("chamado_id"),
        sa.UniqueConstraint("token_hash"),
    )


def downgrade() -> None:
    op.drop_table("satisfaction_surveys")
