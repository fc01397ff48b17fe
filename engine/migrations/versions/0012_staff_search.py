"""staff search: a searchable text per requester form of each ticket

Revision ID: 0012
Revises: 0010
Create Date: 2026-12-06 07:10:00.000000

``search_entries`` holds, for each form a requester sent on a ticket, the text staff
search finds it by (engine.search). PostgreSQL keeps ``to_tsvector('portuguese', body)``
in a generated column with a GIN index (stored, so reading entries newest first checks
a word without parsing the text again); SQLite an FTS5 table over the same rows
(external content, kept in step by triggers). Tickets sent before this revision are
indexed here from their last sending of each form.
"""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0010"
branch_labels = None
depends_on = None

_SQLITE_FTS = [
    "CREATE VIRTUAL TABLE search_fts USING fts5("
    "body, content='search_entries', content_rowid='id', "
    "tokenize='unicode61 remove_diacritics 2')",
    "CREATE TRIGGER search_entries_ai AFTER INSERT ON search_entries BEGIN "
    "INSERT INTO search_fts(rowid, body) VALUES (new.id, new.body); END",
    "CREATE TRIGGER search_entries_ad AFTER DELETE ON search_entries BEGIN "
    "INSERT INTO search_fts(search_fts, rowid, body) VALUES ('delete', old.id, old.body); END",
    "CREATE TRIGGER search_entries_au AFTER UPDATE ON search_entries BEGIN "
    "INSERT INTO search_fts(search_fts, rowid, body) VALUES ('delete', old.id, old.body); "
    "INSERT INTO search_fts(rowid, body) VALUES (new.id, new.body); END",
]


def upgrade() -> None:
    op.create_table(
        "search_entries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("chamado_id", sa.Integer(), nullable=False),
        sa.Column("form", sa.String(length=200), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["chamado_id"], ["chamados.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("chamado_id", "form", name="uq_search_entries_form"),
    )
    op.create_index("ix_search_entries_chamado_id", "search_entries", ["chamado_id"])
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        op.execute(
            "ALTER TABLE search_entries ADD COLUMN tsv tsvector "
            "GENERATED ALWAYS AS (to_tsvector('portuguese'::regconfig, body)) STORED"
        )
        op.execute("CREATE INDEX ix_search_entries_tsv ON search_entries USING gin (tsv)")
    else:
        for statement in _SQLITE_FTS:
            op.execute(statement)
    _backfill(bind)


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


def _backfill(bind: Any) -> None:
    from engine.search import document  # the same text the application writes

    rows = bind.execute(
        sa.text(
            "SELECT s.chamado_id, s.form_schema, s.data, s.submitted_at, c.protocolo, "
            "c.process_version_id, u.name, u.social_name, u.cpf FROM submissions s "
            "JOIN chamados c ON c.id = s.chamado_id JOIN users u ON u.id = c.requester_id "
            "WHERE s.\"group\" = 'requester' ORDER BY s.id"
        )
    ).all()
    forms: dict[int, dict[str, Any]] = {}
    latest: dict[tuple[int, str], dict[str, Any]] = {}
    for row in rows:
        if row.process_version_id not in forms:
            stored = bind.execute(
                sa.text("SELECT forms FROM process_versions WHERE id = :id"),
                {"id": row.process_version_id},
            ).scalar()
            forms[row.process_version_id] = _json(stored) or {}
        text = forms[row.process_version_id].get(row.form_schema or "")
        schema = _json(text) if text else {}
        name = " ".join(filter(None, (row.name, row.social_name)))
        latest[(row.chamado_id, row.form_schema or "")] = {
            "chamado_id": row.chamado_id,
            "form": (row.form_schema or "")[:200],
            "body": document(row.protocolo, name, row.cpf, _json(row.data), schema),
            "updated_at": row.submitted_at,
        }
    if latest:
        table = sa.table(
            "search_entries",
            sa.column("chamado_id"),
            sa.column("form"),
            sa.column("body"),
            sa.column("updated_at"),
        )
        bind.execute(table.insert(), list(latest.values()))


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP INDEX ix_search_entries_tsv")
        op.execute("ALTER TABLE search_entries DROP COLUMN tsv")
    else:
        for name in ("search_entries_au", "search_entries_ad", "search_entries_ai"):
            op.execute(f"DROP TRIGGER {name}")
        op.execute("DROP TABLE search_fts")
    op.drop_index("ix_search_entries_chamado_id", table_name="search_entries")
    op.drop_table("search_entries")
