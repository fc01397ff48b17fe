"""LGPD: who read a person's data, retention per process, anonymised instances

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06 07:00:00.000000

``data_access_records``: one row per read of a ticket's personal data by staff
(engine.access_log), indexed by ticket and by person. ``retention_settings``: an admin's
retention in days per process, over the model's ``retentionDays``. ``chamados.anonymized_at``
marks an instance whose personal data was removed (engine.anonymization);
``users.erasure_requested_at`` a person's accepted request to erase what is not needed.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

_WHERE = "closed_at IS NOT NULL AND anonymized_at IS NULL"


def upgrade() -> None:
    op.create_table(
        "data_access_records",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor_id", sa.Integer(), sa.ForeignKey("users.id"), nullable=False),
        sa.Column("subject_id", sa.Integer(), sa.ForeignKey("users.id"), nullable=True),
        sa.Column("chamado_id", sa.Integer(), sa.ForeignKey("chamados.id"), nullable=True),
        sa.Column("channel", sa.String(length=20), nullable=False),
        sa.Column("item", sa.String(length=100), nullable=True),
        sa.Column("request_id", sa.String(length=64), nullable=True),
    )
    op.create_index("ix_data_access_chamado", "data_access_records", ["chamado_id", "at"])
    op.create_index("ix_data_access_subject", "data_access_records", ["subject_id", "at"])
    op.create_table(
        "retention_settings",
        sa.Column("process_id", sa.String(length=100), primary_key=True),
        sa.Column("days", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_by_id", sa.Integer(), sa.ForeignKey("users.id"), nullable=True),
    )
    with op.batch_alter_table("chamados", schema=None) as batch_op:
        batch_op.add_column(sa.Column("anonymized_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index(
            "ix_chamados_retention",
            ["closed_at", "id"],
            unique=False,
            sqlite_where=sa.text(_WHERE),
            postgresql_where=sa.text(_WHERE),
        )
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("erasure_requested_at", sa.DateTime(timezone=True), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("erasure_requested_at")
    with op.batch_alter_table("chamados", schema=None) as batch_op:
        batch_op.drop_index("ix_chamados_retention")
        batch_op.drop_column("anonymized_at")
    op.drop_table("retention_settings")
    op.drop_index("ix_data_access_subject", table_name="data_access_records")
    op.drop_index("ix_data_access_chamado", table_name="data_access_records")
    op.drop_table("data_access_records")
