"""technical incidents: a ticket whose model failed while a step ran

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07 09:00:00.000000

When a step fails inside the workflow engine (a budget of steps or of a script, a
script that raises, a gateway no flow leaves) the ticket keeps its last saved state and
is marked: when, on which element, the message, and the step to run again
(engine.incidents). The queue's "Incidentes técnicos" reads them through a partial
index, in its order, that holds only tickets in an incident.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

_WHERE = "incident_at IS NOT NULL"


def upgrade() -> None:
    with op.batch_alter_table("chamados", schema=None) as batch_op:
        batch_op.add_column(sa.Column("incident_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("incident_element", sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column("incident_message", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("incident_action", sa.JSON(), nullable=True))
        batch_op.create_index(
            "ix_chamados_incidents",
            ["incident_at", "id"],
            unique=False,
            sqlite_where=sa.text(_WHERE),
            postgresql_where=sa.text(_WHERE),
        )


def downgrade() -> None:
    with op.batch_alter_table("chamados", schema=None) as batch_op:
        batch_op.drop_index("ix_chamados_incidents")
        batch_op.drop_column("incident_action")
        batch_op.drop_column("incident_message")
        batch_op.drop_column("incident_element")
        batch_op.drop_column("incident_at")
