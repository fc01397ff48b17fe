"""Migrations build exactly the schema the models describe, on SQLite and PostgreSQL."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from engine import schema, search
from engine.models import QUEUE_FILTER_COLUMNS, QUEUE_FILTER_EQUALITIES, Base
from engine.service import Chamados


def test_migrations_match_the_models(svc: Chamados) -> None:
    sqlite = svc.unit.db.dialect.name == "sqlite"

    def compared(_object: object, name: str | None, type_: str, *_rest: object) -> bool:
        # SQLite's queue filter indexes hold the other filters after their key (0026):
        # checked on their own below, on both sides.
        return not (sqlite and type_ == "index" and name in _SQLITE_FILTER_INDEXES)

    with svc.unit.db.connect() as connection:
        opts = {"include_name": _declared_by_models, "include_object": compared}
        context = MigrationContext.configure(connection, opts=opts)
        diff = compare_metadata(context, Base.metadata)
    assert diff == []


_SQLITE_FILTER_INDEXES = {f"ix_human_tasks_by_{c}" for c in ("orgao_id", "categoria", "process_id")}


def test_sqlite_queue_filter_indexes_hold_the_other_filters(svc: Chamados) -> None:
    """Migration 0026: SQLite has no INCLUDE; the órgão's, the type's and the service's
    index of open rows are the models' key followed by the other filters' columns (what
    PostgreSQL INCLUDEs); the ``resent`` one keeps the models' key."""
    import pytest
    from sqlalchemy import inspect

    if svc.unit.db.dialect.name != "sqlite":
        pytest.skip("PostgreSQL INCLUDEs them (compared with the models above)")
    found = {i["name"]: i for i in inspect(svc.unit.db).get_indexes("human_tasks")}
    for column in QUEUE_FILTER_EQUALITIES:
        index = found[f"ix_human_tasks_by_{column}"]
        key = ["group", column, "created_at", "assignee_id", "state"]
        others = [c for c in QUEUE_FILTER_COLUMNS if c != column and column != "resent"]
        assert index["column_names"] == key + others
        assert "state = 'ready'" in str(index["dialect_options"]["sqlite_where"])


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


def test_every_timestamp_is_time_zone_aware_as_stored_and_as_read(svc: Chamados) -> None:
    """models.AwareDateTime does nothing per value on PostgreSQL, trusting the driver's
    aware datetimes: that holds only while every timestamp column is a timestamptz. On
    both databases a timestamp reads back aware, in UTC's instant."""
    from datetime import UTC, datetime

    from sqlalchemy import select, text

    from engine import audit
    from engine.models import AuditEvent

    if svc.unit.db.dialect.name == "postgresql":
        naive = text(
            "SELECT table_name || '.' || column_name FROM information_schema.columns "
            "WHERE table_schema = current_schema() "
            "AND data_type = 'timestamp without time zone'"
        )
        with svc.unit.db.connect() as connection:
            assert connection.execute(naive).scalars().all() == []
    at = datetime(2026, 12, 7, 8, 30, 15, 123456, tzinfo=UTC)
    with svc.unit.transaction() as s:
        audit.record(s, "teste.fuso", "Teste", at=at)
    with svc.unit.reading() as s:
        read = s.scalar(select(AuditEvent.at).where(AuditEvent.action == "teste.fuso"))
    assert read == at and read is not None and read.utcoffset() is not None


def test_edit_versions_start_at_1_and_go_away_keeping_the_rows(svc: Chamados) -> None:
    """Migration 0030: the rows people edit (ready answers, catalog items, groups,
    scenarios) get a ``version``, 1 for the rows already there; downgraded, the column
    goes and every row stays (a group's listed members too)."""
    from sqlalchemy import inspect, text

    from tests.conftest import downgrade_schema

    tables = ("ready_answers", "catalog_items", "groups", "scenarios")
    db = svc.unit.db
    with db.begin() as connection:
        connection.execute(
            text("INSERT INTO group_members (group_key, cpf, added_at) VALUES (:g, :c, :at)"),
            {"g": "equipe-tecnica", "c": "11144477735", "at": "2026-12-08 10:00:00+00:00"},
        )
    downgrade_schema(db, "0029")
    try:
        for table in tables:
            assert "version" not in {c["name"] for c in inspect(db).get_columns(table)}, table
        with db.begin() as connection:
            assert connection.execute(text("SELECT count(*) FROM group_members")).scalar() == 1
            connection.execute(
                text(
                    "INSERT INTO ready_answers (title, body, catalog, code, active, created_at,"
                    " updated_at) VALUES ('T', 'Texto', 'tipo_problema', NULL, :yes, :at, :at)"
                ),
                {"yes": True, "at": "2026-12-08 10:00:00+00:00"},
            )
            connection.execute(
                text(
                    "INSERT INTO scenarios (process_id, name, steps, expected_end, updated_at)"
                    " VALUES ('chamado', 'C', '[]', 'fim', :at)"
                ),
                {"at": "2026-12-08 10:00:00+00:00"},
            )
    finally:
        svc.migrate()
    with db.connect() as connection:
        for table in tables:
            found = connection.execute(text(f"SELECT DISTINCT version FROM {table}")).scalars()
            assert list(found) == [1], table
        assert connection.execute(text("SELECT count(*) FROM group_members")).scalar() == 1
