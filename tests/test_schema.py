"""Migrations build exactly the schema the models describe, on SQLite and PostgreSQL."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from engine import schema, search
from engine.models import Base
from engine.service import Chamados


def test_migrations_match_the_models(svc: Chamados) -> None:
    with svc.unit.db.connect() as connection:
        context = MigrationContext.configure(connection, opts={"include_name": _declared_by_models})
        diff = compare_metadata(context, Base.metadata)
    assert diff == []


def _declared_by_models(name: str | None, type_: str, _parents: object) -> bool:
    # Each database's full-text structure comes from the migration alone (engine.search).
    if type_ == "table" and name and name.startswith(search.SQLITE_FTS_TABLE):
        return False
    return not (
        (type_ == "column" and name == search.POSTGRESQL_TSV)
        or (type_ == "index" and name == search.POSTGRESQL_TSV_INDEX)
    )


def test_database_current_after_upgrade(svc: Chamados) -> None:
    assert schema.current_revision(svc.unit.db) == schema.head_revision()
    assert schema.pending_message(svc.unit.db) is None
    svc.migrate()  # idempotent


def test_behind_database_is_explained(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from sqlalchemy import create_engine

    empty = create_engine(f"sqlite:///{tmp_path / 'empty.sqlite3'}")
    message = schema.pending_message(empty)
    assert message is not None and "chamados db upgrade" in message


def test_large_text_columns_use_lz4_on_postgresql(svc: Chamados) -> None:
    """Migration 0024: a ticket's saved workflow (rewritten every step) and the rendered
    e-mails compress with lz4, not pglz; downgraded, they go back to the default."""
    import pytest
    from sqlalchemy import text

    from tests.conftest import downgrade_schema

    if svc.unit.db.dialect.name != "postgresql":
        pytest.skip("column compression is PostgreSQL's (SQLite stores text as it is)")
    query = text(
        "SELECT attrelid::regclass::text || '.' || attname, attcompression FROM pg_attribute "
        "WHERE (attrelid, attname) IN (('chamados'::regclass, 'workflow_state'), "
        "('outbox_messages'::regclass, 'body_html'), ('outbox_messages'::regclass, 'body_text'))"
    )
    with svc.unit.db.connect() as connection:
        found = dict(connection.execute(query).all())
    assert found == {
        "chamados.workflow_state": "l",
        "outbox_messages.body_html": "l",
        "outbox_messages.body_text": "l",
    }
    downgrade_schema(svc.unit.db, "0023")
    try:
        with svc.unit.db.connect() as connection:
            assert set(dict(connection.execute(query).all()).values()) == {""}
    finally:
        svc.migrate()
