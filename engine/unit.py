"""The unit of work: what every use case of one process shares, and the one place that
opens a database transaction or session.

A :class:`Unit` holds the settings, the database engine and its session factory, the
clock, and the per-process caches (parsed process versions, órgão labels, resolved form
schemas, catalogs; engine.specs, engine.orgaos, engine.catalogs: each safe to lose).
Use cases (engine.usecases, engine.designer) are built from one unit and open their
sessions only through it: ``transaction()`` for a change, ``reading()`` for a read
outside any transaction, ``read_one()`` / ``read_prepared()`` / ``write_if_free()`` for the
one-statement bookkeeping of every request. Functions elsewhere take an open Session or Connection;
the caller owns it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine
from sqlalchemy.orm import Session, sessionmaker

from engine import access_log, catalogs, groups, orgaos, schema, specs
from engine.clock import Clock, utcnow
from engine.db import (
    autocommit_connection,
    autocommit_read,
    make_engine,
    make_session_factory,
    retry_once_on_disconnect,
    write_if_free,
)
from engine.errors import NotFound
from engine.models import ProcessVersion
from engine.settings import Settings

T = TypeVar("T")


@dataclass
class Unit:
    """One per process, shared by every request and job (and every use-case object)."""

    settings: Settings
    db: Engine
    session_factory: sessionmaker[Session]
    # Read at every use: tests replace it after construction (the facade's ``clock``).
    clock: Clock = utcnow
    spec_cache: specs.SpecCache = field(default_factory=specs.SpecCache)
    orgao_labels: orgaos.LabelCache = field(default_factory=orgaos.LabelCache)
    form_cache: dict[Any, dict[str, Any]] = field(default_factory=dict)
    catalog_cache: catalogs.CatalogCache = field(default_factory=catalogs.CatalogCache)
    group_cache: groups.GroupCache = field(default_factory=groups.GroupCache)
    # Records of staff reads waiting for SQLite's write lock (engine.access_log).
    access_buffer: access_log.Buffer = field(default_factory=access_log.Buffer)

    @classmethod
    def from_settings(cls, settings: Settings, clock: Callable[[], datetime] | None = None) -> Unit:
        db = make_engine(settings.database_url, settings.lock_timeout_seconds)
        return cls(settings, db, make_session_factory(db), clock or utcnow)

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """One transaction: committed when the block ends, rolled back on any error."""
        with self.session_factory() as session, session.begin():
            yield session

    @contextmanager
    def reading(self) -> Iterator[Session]:
        """A session for a use case that only reads: outside any transaction.

        No write lock to wait for on SQLite (its transactions all BEGIN IMMEDIATE) and
        no BEGIN/ROLLBACK round trips on PostgreSQL. Each statement sees what was
        committed when it ran; the pages built from several statements tolerate that
        (a ticket that moves between two of them shows up on the next load).
        """
        with (
            autocommit_connection(self.db) as connection,
            Session(bind=connection, expire_on_commit=False) as session,
        ):
            yield session

    def read_one(self, query: Callable[[Connection], T]) -> T:
        """``query(connection)``, one idempotent statement outside any transaction, retried
        once on a fresh connection when the pooled one was dead (engine.db.autocommit_read)."""
        return autocommit_read(self.db, query)

    def read_prepared(self, query: Callable[[Engine], T]) -> T:
        """``query(engine)``: an idempotent read of one engine.prepared statement given the
        Engine (``Prepared.rows(engine, …)``: a pooled driver connection, outside any
        transaction, no SQLAlchemy Connection around it), retried once on a fresh
        connection when the pooled one was dead. Every request's authentication."""
        return retry_once_on_disconnect(lambda: query(self.db))

    def write_if_free(self, work: Callable[[Connection], T]) -> T | None:
        """``work(connection)`` in a transaction of its own, or None while SQLite's write
        lock is busy: bookkeeping a request may leave to a later one (engine.db)."""
        return write_if_free(self.db, work)

    @contextmanager
    def listening(self, channel: str) -> Iterator[Any]:
        """A PostgreSQL connection of its own, outside the pool, that ``LISTEN``s on
        ``channel``: it waits for notifications as long as its holder runs (engine.mailer)."""
        import psycopg

        conninfo = self.db.url.set(drivername="postgresql").render_as_string(hide_password=False)
        with psycopg.connect(conninfo, autocommit=True) as connection:
            connection.execute(f"LISTEN {channel}")
            yield connection

    def bundle(self, session: Session, version_id: int) -> specs.ProcessBundle:
        """A process version, parsed once per process (the spec cache's read-through)."""
        cached = self.spec_cache.get(version_id)
        if cached is not None:
            return cached
        row = session.get(ProcessVersion, version_id)
        if row is None:
            raise NotFound("Versão de processo não encontrada.")
        bundle = specs.parse_process(
            row.bpmn_xml.encode("utf-8"), dict(row.forms), row.id, process_id=row.process_id
        )
        # Lanes resolved against the groups as they are now; a group's key never changes.
        bundle.lane_groups.update(groups.lane_map(session, list(bundle.lane_groups)))
        return self.spec_cache.put(bundle)

    def migrate(self) -> None:
        """Bring the schema to the code's revision (Alembic, in a transaction of its own)."""
        schema.upgrade(self.db)

    def schema_revision(self) -> str | None:
        """The database's schema revision (None: an empty database)."""
        return schema.current_revision(self.db)

    def dispose(self) -> None:
        """Close the pooled connections (tests and benchmarks build many units)."""
        self.db.dispose()
