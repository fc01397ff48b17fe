"""lz4 for the large text columns on PostgreSQL

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-06 19:40:00.000000

A ticket's saved workflow (``chamados.workflow_state``, 8–11 KB of JSON) is rewritten by
every step and read by the next; PostgreSQL compresses any value past ~2 KB, with pglz by
default. lz4 compresses about as well at a fraction of the CPU (PostgreSQL 14+): an update
and a read of such a value cost its backend ~25 % less (issue #16: PostgreSQL's CPU is a
third of a ticket's in bench/burst.py). The rendered e-mails are the other values past
the threshold. Existing values keep pglz until rewritten; both read the same.

A server built without lz4 keeps pglz (nothing to do: the column works the same).
SQLite stores text as it is: nothing to do there.
"""

from __future__ import annotations

from alembic import op

revision = "0024"
down_revision = "0023"
branch_labels = None
depends_on = None

COLUMNS = (
    ("chamados", "workflow_state"),
    ("outbox_messages", "body_html"),
    ("outbox_messages", "body_text"),
)


def _lz4_available() -> bool:
    found = op.get_bind().exec_driver_sql(
        "SELECT 'lz4' = ANY(enumvals) FROM pg_settings WHERE name = 'default_toast_compression'"
    )
    return bool(found.scalar())


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql" or not _lz4_available():
        return
    for table, column in COLUMNS:
        op.execute(f"ALTER TABLE {table} ALTER COLUMN {column} SET COMPRESSION lz4")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table, column in COLUMNS:
        op.execute(f"ALTER TABLE {table} ALTER COLUMN {column} SET COMPRESSION DEFAULT")
