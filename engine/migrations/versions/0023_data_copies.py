"""data copies: the complete copy of a person's data, requested under "Meus dados"

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-06 19:00:00.000000

LGPD art. 19: "Meus dados" answers at once in a simplified form (its cost no longer
grows with the person's history), and the complete declaration is built in the
background by the scheduler, stored here (gzip JSON) for a limited time, and announced
by e-mail (engine.data_copies, engine.usecases.privacy).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None

PENDING = sa.text("status = 'pending'")


def upgrade() -> None:
    op.create_table(
        "data_copies",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("leased_by", sa.String(length=100), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("ready_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("content", sa.LargeBinary(), nullable=True),
        sa.Column("size", sa.Integer(), nullable=True),
        sa.Column("instances", sa.Integer(), nullable=True),
        sa.Column("error", sa.String(length=300), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "uq_data_copies_pending",
        "data_copies",
        ["user_id"],
        unique=True,
        sqlite_where=PENDING,
        postgresql_where=PENDING,
    )
    op.create_index("ix_data_copies_user", "data_copies", ["user_id", "requested_at"])
    op.create_index(
        "ix_data_copies_due",
        "data_copies",
        ["requested_at", "id"],
        sqlite_where=PENDING,
        postgresql_where=PENDING,
    )
    op.create_index("ix_data_copies_expires", "data_copies", ["expires_at"])


def downgrade() -> None:
    op.drop_table("data_copies")
