"""queue: on PostgreSQL the commit-time checks of the task rows look rows up by key

Revision ID: 0029
Revises: 0028
Create Date: 2026-12-07 21:15:00.000000

Migration 0027's triggers run at commit, one per open task row written (and one per
ticket whose filtered columns changed), each finding its rows by key: the ticket by its
id, the task row by its id, a ticket's open rows by ``chamado_id``. PL/pgSQL keeps the
plan of a trigger's statements per connection, made the first times it runs; made while
``human_tasks`` was nearly empty (a new database, or a table whose statistics are older
than its growth), that plan is a sequential scan, and it stays until an ANALYZE of the
table replans it. A transaction that writes many open rows at once (a bulk load, an
operation over many tickets) then read the whole table once per row at its commit:
quadratic — 1.3 s for 2,000 tickets, 14.7 s for 8,000, over 13 minutes for 100,000
(bench/queue_scale.py's load). Both functions now run with ``enable_seqscan = off``:
a plan made on a small table looks rows up by key too (the key lookup is what each
statement wants at any size), and costs nothing measurable per call.
"""

from __future__ import annotations

from alembic import op

revision = "0029"
down_revision = "0028"
branch_labels = None
depends_on = None

FUNCTIONS = ("human_tasks_queue_columns()", "chamados_queue_columns()")


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for function in FUNCTIONS:
        op.execute(f"ALTER FUNCTION {function} SET enable_seqscan = off")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for function in FUNCTIONS:
        op.execute(f"ALTER FUNCTION {function} RESET enable_seqscan")
