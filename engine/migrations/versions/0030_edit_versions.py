"""edit versions: ready answers, catalog items, groups and scenarios carry a version

Revision ID: 0030
Revises: 0029
Create Date: 2026-12-08 10:00:00.000000

Two people editing the same ready answer, catalog item, group's roles or scenario: the
second save overwrote the first without a word. Like the outages (0015) and the drafts,
each row now has a ``version`` that every edit bumps and that the edit form carries back;
an edit made on an older version changes nothing and says so (a conditional UPDATE on
it). Existing rows start at 1.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0030"
down_revision = "0029"
branch_labels = None
depends_on = None

TABLES = ("ready_answers", "catalog_items", "groups", "scenarios")


def upgrade() -> None:
    for table in TABLES:
        # A constant default: both databases fill the existing rows without a rewrite by
        # hand (SQLite's ADD COLUMN accepts NOT NULL with one).
        op.add_column(table, sa.Column("version", sa.Integer(), nullable=False, server_default="1"))


def downgrade() -> None:
    # A plain ALTER TABLE … DROP COLUMN (SQLite ≥ 3.35 has it; the column is in no index
    # or constraint): a batch copy of ``groups`` would, with the foreign keys on, delete
    # every member listed in it (``group_members`` cascades).
    for table in TABLES:
        op.drop_column(table, "version")
