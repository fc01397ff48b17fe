"""groups revision: a counter every change to groups or their members bumps

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-06 16:10:00.000000

Every staff request read the person's groups with a statement of its own (engine.groups
``of_user``). Each process now keeps a copy of who is in which group
(engine.groups.GroupCache), re-read when this counter moves; the request's
authentication reads the counter along with the person (issue #16: four statements
fewer per instance of a two-task model).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None

REVISIONS = sa.table("revisions", sa.column("name", sa.String), sa.column("value", sa.Integer))


def upgrade() -> None:
    op.bulk_insert(REVISIONS, [{"name": "groups", "value": 0}])


def downgrade() -> None:
    op.execute(REVISIONS.delete().where(REVISIONS.c.name == "groups"))
