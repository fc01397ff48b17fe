"""revisions: counters of shared reference data (catalogs), for per-process caches

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29 05:45:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    revisions = op.create_table(
        "revisions",
        sa.Column("name", sa.String(length=50), nullable=False),
        sa.Column("value", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    # The row exists from the start: writers only ever UPDATE it (no insert race).
    op.bulk_insert(revisions, [{"name": "catalogs", "value": 0}])


def downgrade() -> None:
    op.drop_table("revisions")
