"""Shared fixtures: a service on a fresh database, people with roles."""

from __future__ import annotations

import io
import json
import logging
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from sqlalchemy import Engine, Executable, select, text

from engine import schema, users
from engine.identity import Identity
from engine.service import ActorRef, Chamados
from engine.settings import Settings
from tests.logscan import personal_data_lines
from tests.smtp_server import SmtpServer

# The browser tests' shared fixture (one Chromium per module) lives with their set-up.
pytest_plugins = ("tests.browser",)


@pytest.fixture(scope="session", autouse=True)
def no_personal_data_in_the_logs() -> Iterator[io.StringIO]:
    """The whole run logs through the app's own handler (web.observability, with its
    LGPD mask), into a buffer; at the end no CPF or e-mail address may be in it."""
    from web.observability import install_json_logging

    buffer = io.StringIO()
    handler = install_json_logging(stream=buffer)
    yield buffer
    logging.getLogger().removeHandler(handler)
    leaks = personal_data_lines(buffer.getvalue())
    if leaks:
        pytest.fail(f"{len(leaks)} linha(s) de log com CPF ou e-mail, a primeira: {leaks[0][:300]}")


# Tests run on SQLite by default; TEST_DATABASE_URL points the suite at PostgreSQL.
TEST_DATABASE_URL = os.environ.get("TEST_DATABASE_URL", "")

MARIA = "39053344705"
ANA = "11144477735"
BRUNO = "52998224725"
SOFIA = "86288366757"


def make_identity(cpf: str, name: str, email: str) -> Identity:
    return Identity(
        cpf=cpf,
        name=name,
        social_name=None,
        email=email,
        email_verified=True,
        phone=None,
        phone_verified=None,
        reliability="bronze",
        amr=("passwd",),
    )


def database_url(tmp_path: Path) -> str:
    if TEST_DATABASE_URL:
        from tests.pg import fresh_database

        return fresh_database(TEST_DATABASE_URL)
    return f"sqlite:///{tmp_path / 'test.sqlite3'}"


@pytest.fixture
def svc(tmp_path: Path) -> Iterator[Chamados]:
    settings = Settings.from_env(env={}, instance_dir=tmp_path)
    settings = Settings(**{**settings.__dict__, "database_url": database_url(tmp_path)})
    service = Chamados.from_settings(settings)
    service.init_database()
    yield service
    service.unit.db.dispose()


def downgrade_schema(db: Engine, revision: str) -> None:
    """Take the database back to ``revision`` (a migration's test: then
    ``schema.upgrade(db)`` brings it to the head again), in one transaction as
    engine.schema.upgrade runs."""
    config = schema.alembic_config(db)
    with db.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, revision)
    assert schema.current_revision(db) == revision


def full_copy(svc: Chamados, person: ActorRef) -> dict[str, Any]:
    """The complete copy of "Meus dados" of ``person``, as the person gets it: asked for,
    built by the scheduler's job, downloaded (engine.usecases.privacy). Several in a row:
    the once-a-day limit of a new copy is lifted (tests/test_data_copies.py checks it)."""
    svc.privacy.copy_interval = timedelta(0)
    svc.privacy.request_copy(person)
    assert svc.privacy.build_copies("test") >= 1
    found = svc.privacy.my_copy(person)
    doc: dict[str, Any] = json.loads(b"".join(found.json_chunks()))
    return doc


def add_person(svc: Chamados, cpf: str, name: str, *roles: str) -> ActorRef:
    with svc.unit.transaction() as session:
        user = users.upsert_user(session, make_identity(cpf, name, f"{cpf}@example.gov.br"))
        for role in roles:
            users.grant_role(session, cpf, role, None)
        return ActorRef(user.id, frozenset(roles))


@pytest.fixture
def maria(svc: Chamados) -> ActorRef:
    return add_person(svc, MARIA, "Maria da Silva")


@pytest.fixture
def ana(svc: Chamados) -> ActorRef:
    return add_person(svc, ANA, "Ana Souza", "analyst")


@pytest.fixture
def bruno(svc: Chamados) -> ActorRef:
    return add_person(svc, BRUNO, "Bruno Lima", "analyst")


@pytest.fixture
def sofia(svc: Chamados) -> ActorRef:
    return add_person(svc, SOFIA, "Sofia Supervisora", "supervisor")


class FakeClock:
    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kwargs: float) -> None:
        self.now += timedelta(**kwargs)


# Friday 27 Nov 2026, 18:00 in Brasília.
FRIDAY_EVENING = datetime(2026, 11, 27, 21, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(FRIDAY_EVENING)


@pytest.fixture
def tsvc(tmp_path: Path, clock: FakeClock) -> Iterator[Chamados]:
    settings = Settings.from_env(env={}, instance_dir=tmp_path)
    settings = Settings(**{**settings.__dict__, "database_url": database_url(tmp_path)})
    service = Chamados.from_settings(settings, clock=clock)
    service.init_database()
    yield service
    service.unit.db.dispose()


@pytest.fixture
def people(tsvc: Chamados) -> tuple[ActorRef, ActorRef]:
    return add_person(tsvc, MARIA, "Maria da Silva"), add_person(tsvc, ANA, "Ana", "analyst")


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    """A real SMTP server on 127.0.0.1 that keeps every message it accepts."""
    server = SmtpServer()
    server.start()
    yield server
    server.stop()


def assert_transactions_hold(svc: Chamados) -> None:
    """A unit of work is one transaction (its statements see one snapshot on PostgreSQL,
    SQLite's driver is inside one): what a read outside transactions must not leave
    changed on the pooled connection it used."""
    with svc.unit.transaction() as s:
        if svc.unit.db.dialect.name == "sqlite":
            s.execute(select(1))
            assert s.connection().connection.dbapi_connection.in_transaction  # type: ignore[union-attr]
        else:
            first = s.execute(text("SELECT transaction_timestamp()")).scalar_one()
            time.sleep(0.01)
            assert s.execute(text("SELECT transaction_timestamp()")).scalar_one() == first


@contextmanager
def writer_holding_the_lock(svc: Chamados, statement: Executable) -> Iterator[None]:
    """Another thread runs ``statement`` in a transaction and keeps it open meanwhile:
    on SQLite it holds the write lock (BEGIN IMMEDIATE) until the block ends."""
    writing, done = threading.Event(), threading.Event()

    def writer() -> None:
        with svc.unit.transaction() as s:
            s.execute(statement)
            writing.set()
            done.wait(20)

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        assert writing.wait(10)
        yield
    finally:
        done.set()
        thread.join()
