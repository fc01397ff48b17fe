"""Migrations build exactly the schema the models describe, on SQLite and PostgreSQL."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from engine import schema, search
from engine.models import Base
from engine.service import Chamados


def test_migrations_match_the_models(svc: Chamados) -> None:
    with svc.unit.db.connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"include_name": _declared_by_models}
        )
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
