"""Migrations build exactly the schema the models describe, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from engine import schema, search
from engine.models import Base
from engine.service import Chamados


# Alembic cannot reflect SQLite's expression indexes; the full-text index is PostgreSQL's.
@pytest.mark.filterwarnings("ignore:autogenerate skipping metadata-specified expression")
def test_migrations_match_the_models(svc: Chamados) -> None:
    with svc.unit.db.connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"include_name": _declared_by_models}
        )
        diff = compare_metadata(context, Base.metadata)
    assert diff == []


def _declared_by_models(name: str | None, type_: str, _parents: object) -> bool:
    # SQLite's full-text table and its shadow tables come from the migration alone.
    return not (type_ == "table" and name and name.startswith(search.SQLITE_FTS_TABLE))


def test_database_current_after_upgrade(svc: Chamados) -> None:
    assert schema.current_revision(svc.unit.db) == schema.head_revision()
    assert schema.pending_message(svc.unit.db) is None
    svc.migrate()  # idempotent


def test_behind_database_is_explained(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from sqlalchemy import create_engine

    empty = create_engine(f"sqlite:///{tmp_path / 'empty.sqlite3'}")
    message = schema.pending_message(empty)
    assert message is not None and "chamados db upgrade" in message
