"""requester lists: indexes in the order of the keyset pages (engine.listing)

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30 09:00:00.000000

"Minhas solicitações", GET /api/v1/chamados and GET /api/v1/tasks page by keyset on
(created_at desc, id desc). Each view gets an index in that order, so a page reads the
page: one per view of the requester's tickets (all; open and closed as partial
indexes on ``closed_at``) and one for a person's ready tasks. The first replaces
ix_chamados_requester_created, which lacked ``id`` (PostgreSQL then sorts the ties).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_COLUMNS = ["requester_id", "created_at", "id"]
_PARTIAL = {
    "ix_chamados_requester_open": "closed_at IS NULL",
    "ix_chamados_requester_closed": "closed_at IS NOT NULL",
}


def upgrade() -> None:
    with op.batch_alter_table("chamados", schema=None) as batch_op:
        batch_op.drop_index("ix_chamados_requester_created")
        batch_op.create_index("ix_chamados_requester_list", _COLUMNS, unique=False)
        for name, where in _PARTIAL.items():
            batch_op.create_index(
                name,
                _COLUMNS,
                unique=False,
                sqlite_where=sa.text(where),
                postgresql_where=sa.text(where),
            )
    with op.batch_alter_table("human_tasks", schema=None) as batch_op:
        batch_op.create_index(
            "ix_human_tasks_assignee",
            ["assignee_id", "state", "created_at", "id"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("human_tasks", schema=None) as batch_op:
        batch_op.drop_index("ix_human_tasks_assignee")
    with op.batch_alter_table("chamados", schema=None) as batch_op:
        for name in _PARTIAL:
            batch_op.drop_index(name)
        batch_op.drop_index("ix_chamados_requester_list")
        batch_op.create_index(
            "ix_chamados_requester_created", ["requester_id", "created_at"], unique=False
        )
