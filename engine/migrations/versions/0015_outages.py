"""outages: "Incidentes" gathering many tickets about one failing service

Revision ID: 0015
Revises: 0017 (chained after main's 0017 at the merge of main into this branch)
Create Date: 2026-12-06 10:00:00.000000

An outage (engine.outages) is keyed by a process and the ticket columns its forms fill
(órgão, serviço, categoria); tickets are linked to it (at most one outage per ticket)
and requesters may subscribe to it; resolving it completes every linked ticket's open
analysis task through the ticket's own model.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "outages",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("process_id", sa.String(length=100), nullable=False),
        sa.Column("group", sa.String(length=50), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("public_text", sa.Text(), nullable=False),
        sa.Column("orgao_id", sa.Integer(), nullable=True),
        sa.Column("servico", sa.String(length=300), nullable=True),
        sa.Column("categoria", sa.String(length=80), nullable=True),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("resolve_started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("resolved_by_id", sa.Integer(), nullable=True),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["orgao_id"], ["orgaos.id"]),
        sa.ForeignKeyConstraint(["created_by_id"], ["users.id"]),
        sa.ForeignKeyConstraint(["resolved_by_id"], ["users.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_outages_process_state", "outages", ["process_id", "state"])
    op.create_table(
        "outage_links",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("outage_id", sa.Integer(), nullable=False),
        sa.Column("chamado_id", sa.Integer(), nullable=False),
        sa.Column("linked_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("linked_by_id", sa.Integer(), nullable=True),
        sa.Column("outcome", sa.String(length=30), nullable=True),
        sa.Column("outcome_note", sa.Text(), nullable=True),
        sa.Column("done_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["outage_id"], ["outages.id"]),
        sa.ForeignKeyConstraint(["chamado_id"], ["chamados.id"]),
        sa.ForeignKeyConstraint(["linked_by_id"], ["users.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("chamado_id", name="uq_outage_links_chamado"),
    )
    op.create_index("ix_outage_links_pending", "outage_links", ["outage_id", "outcome"])
    op.create_table(
        "outage_subscribers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("outage_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("notified_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["outage_id"], ["outages.id"]),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("outage_id", "user_id", name="uq_outage_subscribers"),
    )
    op.create_index("ix_outage_subscribers_outage_id", "outage_subscribers", ["outage_id"])
    op.create_index("ix_outage_subscribers_user_id", "outage_subscribers", ["user_id"])


def downgrade() -> None:
    op.drop_table("outage_subscribers")
    op.drop_table("outage_links")
    op.drop_table("outages")
