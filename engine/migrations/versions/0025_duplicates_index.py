"""chamados: an index for a ticket's possible duplicates

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-06 22:40:00.000000

The duplicates of a ticket (engine.outages.candidates: the analysis page's "Possíveis
duplicados" and its API) are the open tickets of the same órgão and category sent within
a few days of it. No index held those three columns together: PostgreSQL met
``ix_chamados_orgao_id`` (every ticket of the órgão, ~2,000 at a million) and
``ix_chamados_open_age`` (every open ticket of the week, ~28,000) in a bitmap AND, 1.3 ms
of a 1.5 ms statement and growing with the history (bench/queue_scale.py: the page and the
API call 1.44× at a million against a thousand). ``ix_chamados_open_similar`` (orgao_id,
categoria, submitted_at) over the open, sent tickets answers it as one range scan.
"""

from __future__ import annotations

from alembic import op
from sqlalchemy import text

revision = "0025"
down_revision = "0024"
branch_labels = None
depends_on = None

OPEN_SENT = "closed_at IS NULL AND submitted_at IS NOT NULL"


def upgrade() -> None:
    op.create_index(
        "ix_chamados_open_similar",
        "chamados",
        ["orgao_id", "categoria", "submitted_at"],
        sqlite_where=text(OPEN_SENT),
        postgresql_where=text(OPEN_SENT),
    )


def downgrade() -> None:
    op.drop_index("ix_chamados_open_similar", table_name="chamados")
