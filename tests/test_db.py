"""engine.db: reads outside transactions, and dead PostgreSQL connections met without
a ping on every checkout (the database is really restarted: its backends killed)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import create_engine, func, select, text, update
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from engine import db
from engine.models import User
from engine.service import Chamados
from engine.settings import Settings
from tests.conftest import (
    TEST_DATABASE_URL,
    add_person,
    assert_transactions_hold,
    database_url,
    writer_holding_the_lock,
)
from tests.test_api import Api, build_app, person
from web import create_app

MARIA = "39053344705"

needs_postgres = pytest.mark.skipif(
    not TEST_DATABASE_URL, reason="dead connections are a PostgreSQL matter (TEST_DATABASE_URL)"
)


@pytest.fixture
def app(tmp_path: Path) -> Iterator[Flask]:
    app = build_app(tmp_path)
    yield app
    app.extensions["chamados"].unit.db.dispose()


def kill_connections(svc: Chamados) -> int:
    """Terminate every server process serving this app's database, as a restart would."""
    name = svc.unit.db.url.database
    admin = create_engine(make_url(TEST_DATABASE_URL), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            killed = conn.execute(
                text(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE datname = :name AND pid <> pg_backend_pid()"
                ),
                {"name": name},
            ).scalar_one()
            for _ in range(50):  # until they are gone
                left = conn.execute(
                    text("SELECT count(*) FROM pg_stat_activity WHERE datname = :name"),
                    {"name": name},
                ).scalar_one()
                if not left:
                    break
                time.sleep(0.05)
    finally:
        admin.dispose()
    return int(killed)


def count_users(svc: Chamados) -> int:
    with svc.unit.transaction() as s:
        return int(s.scalar(select(func.count()).select_from(User)) or 0)


# --- reads outside transactions --------------------------------------------------------------


def test_an_autocommit_read_does_not_wait_for_a_writer(app: Flask) -> None:
    """On SQLite every transaction takes the write lock up front (BEGIN IMMEDIATE), so
    a read in one would queue behind any writer (up to the 30 s busy timeout)."""
    svc: Chamados = app.extensions["chamados"]
    svc.init_database()
    person(app, MARIA, "Maria da Silva")
    with writer_holding_the_lock(svc, update(User).values(name="Maria Escrevendo")):
        started = time.monotonic()
        name = db.autocommit_read(svc.unit.db, lambda c: c.execute(select(User.name)).scalar_one())
        assert time.monotonic() - started < 2
        assert name == "Maria da Silva"  # the writer has not committed


def test_autocommit_connections_run_each_statement_on_its_own(app: Flask) -> None:
    svc: Chamados = app.extensions["chamados"]
    with db.autocommit_connection(svc.unit.db) as conn:
        if svc.unit.db.dialect.name == "sqlite":
            conn.execute(select(1))
            assert not conn.connection.dbapi_connection.in_transaction  # type: ignore[union-attr]
        else:
            first = conn.execute(text("SELECT transaction_timestamp()")).scalar_one()
            time.sleep(0.01)
            second = conn.execute(text("SELECT transaction_timestamp()")).scalar_one()
            assert second > first  # a new transaction per statement
    assert_transactions_hold(svc)  # and the usual transactions still are transactions


# --- dead connections (PostgreSQL) -----------------------------------------------------------


def test_no_ping_on_a_busy_connection(app: Flask) -> None:
    """The cost this replaces: pool_pre_ping's SELECT 1 on every checkout."""
    svc: Chamados = app.extensions["chamados"]
    assert not svc.unit.db.pool._pre_ping  # type: ignore[attr-defined]
    pings: list[object] = []
    original = svc.unit.db.dialect.do_ping
    svc.unit.db.dialect.do_ping = lambda conn: pings.append(conn) or original(conn)  # type: ignore[method-assign]
    try:
        for _ in range(3):
            count_users(svc)
    finally:
        svc.unit.db.dialect.do_ping = original  # type: ignore[method-assign]
    assert pings == []


@needs_postgres
def test_an_api_call_survives_a_database_restart(app: Flask) -> None:
    svc: Chamados = app.extensions["chamados"]
    maria = Api(app.test_client(), person(app, MARIA, "Maria da Silva"))
    maria.get("/chamados")
    assert kill_connections(svc) >= 1
    # The authentication read meets the dead connection, invalidates the pool and
    # retries; the use case that follows gets a fresh connection too.
    started = maria.post("/processes/chamado/instances", expect=201)
    assert started["chamado"]["status"] == "rascunho"
    assert kill_connections(svc) >= 1
    resp = app.test_client().get("/readyz")  # honest: the database is up
    assert resp.status_code == 200, resp.get_json()


@needs_postgres
def test_idle_connections_are_pinged_before_use(
    app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    svc: Chamados = app.extensions["chamados"]
    count_users(svc)
    kill_connections(svc)
    monkeypatch.setattr(db, "PING_IDLE_SECONDS", 0.0)  # every connection counts as idle
    assert count_users(svc) == 0  # the ping found it dead: a new connection served it


@needs_postgres
def test_without_a_ping_a_dead_connection_fails_once_then_the_pool_reconnects(
    app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    svc: Chamados = app.extensions["chamados"]
    monkeypatch.setattr(db, "PING_IDLE_SECONDS", 3600.0)
    count_users(svc)
    kill_connections(svc)
    with pytest.raises(OperationalError) as failed:
        count_users(svc)
    assert db.is_disconnect(failed.value)
    assert count_users(svc) == 0


def production_app(tmp_path: Path) -> Flask:
    """Not TESTING: errors reach the handlers as in production."""
    return create_app(
        {
            "DATABASE_URL": database_url(tmp_path),
            "SECRET_KEY": "x",
            "OIDC_ISSUER": "http://127.0.0.1:9",
            "LOG_JSON": False,
        }
    )


def test_a_connection_lost_mid_request_is_a_503_to_retry(tmp_path: Path) -> None:
    app = production_app(tmp_path)

    @app.get("/api/v1/_lost")
    @app.get("/_lost")
    def lost() -> str:
        raise OperationalError(
            "SELECT 1", {}, Exception("server closed the connection"), connection_invalidated=True
        )

    @app.get("/_broken")
    def broken() -> str:
        raise OperationalError("SELECT 1", {}, Exception("syntax error"))

    client = app.test_client()
    api = client.get("/api/v1/_lost")
    assert api.status_code == 503 and api.headers["Retry-After"] == "1"
    assert api.mimetype == "application/problem+json" and api.get_json()["status"] == 503
    page = client.get("/_lost")
    assert page.status_code == 503 and "Tente novamente" in page.get_data(as_text=True)
    assert client.get("/_broken").status_code == 500  # other database errors stay 500
    app.extensions["chamados"].unit.db.dispose()


@needs_postgres
def test_the_queue_columns_have_extended_statistics(app: Flask) -> None:
    """Migration 0004: without them PostgreSQL misjudges the unclaimed queue by ~20×."""
    svc: Chamados = app.extensions["chamados"]
    with svc.unit.db.connect() as conn:
        kinds = conn.execute(
            text("SELECT stxkind FROM pg_statistic_ext WHERE stxname = 'st_human_tasks_queue'")
        ).scalar_one()
    assert {"m", "f"} <= set(kinds)  # MCV list and functional dependencies


def test_a_token_use_is_not_recorded_while_sqlite_is_busy(app: Flask) -> None:
    """Recording a token's last use is bookkeeping: a read request skips it rather than
    queue behind a writer (a later request records it)."""
    svc: Chamados = app.extensions["chamados"]
    if svc.unit.db.dialect.name != "sqlite":
        pytest.skip("the write lock is SQLite's")
    ran: list[int] = []
    with writer_holding_the_lock(svc, update(User).values(name="Escrevendo")):
        started = time.monotonic()
        assert db.write_if_free(svc.unit.db, lambda conn: ran.append(1)) is None
        assert time.monotonic() - started < 2
    assert ran == []
    drivers: list[Any] = []

    def work(conn: Any) -> str:
        drivers.append(conn.connection.driver_connection)
        return "feito"

    assert db.write_if_free(svc.unit.db, work) == "feito"
    # That connection went back to the pool with the normal busy timeout.
    (timeout,) = drivers[0].execute("PRAGMA busy_timeout").fetchone()
    assert timeout == db.SQLITE_BUSY_TIMEOUT_MS


# --- psycopg's cursor description ------------------------------------------------------------


@needs_postgres
def test_result_columns_are_described_when_looked_at_from_their_own_result(app: Flask) -> None:
    """engine.db.LazyDescriptionCursor: SQLAlchemy gets its column names from the
    description the first time it runs a statement and from its cache after; a
    description read after the cursor ran something else still describes its result."""
    svc: Chamados = app.extensions["chamados"]
    with svc.unit.db.connect() as conn:
        # A textual statement: SQLAlchemy reads every column of the description.
        found = conn.execute(text("SELECT 1 AS um, 'dois'::text AS dois, now() AS tres"))
        assert isinstance(found.cursor, db.LazyDescriptionCursor)
        assert list(found.keys()) == ["um", "dois", "tres"]
        assert found.one()._mapping["dois"] == "dois"
        cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        cursor.execute("SELECT 1 AS primeira, 2::bigint AS segunda")
        described = cursor.description
        cursor.execute("SELECT 'x'::text AS outra")
        assert described is not None and len(described) == 2
        assert [c.name for c in described] == ["primeira", "segunda"]
        assert described[1][0] == "segunda" and described[1].type_code == 20  # int8
        cursor.execute("SET LOCAL statement_timeout = 0")
        assert cursor.description is None  # no rows: as psycopg says
        cursor.close()
    # And through the ORM and the cache, twice: the same rows, named the same.
    for _ in range(2):
        with svc.unit.reading() as session:
            row = session.execute(select(User.id, User.cpf).limit(1)).first()
            assert row is None or row._fields == ("id", "cpf")


def contention_error(svc: Chamados) -> OperationalError:
    """The real error of a transaction that loses to a concurrent one on this database:
    on PostgreSQL two transactions taking two users' rows in opposite orders (a
    deadlock: the server aborts one), on SQLite a write while another transaction holds
    the write lock, with a busy timeout too short to wait it out."""
    import threading

    with svc.unit.transaction() as s:
        first, second = (
            s.scalar(select(User.id).where(User.cpf == cpf)) for cpf in (MARIA, "11144477735")
        )
    if svc.unit.db.dialect.name == "sqlite":
        with writer_holding_the_lock(svc, update(User).values(name="Escrevendo")):
            with svc.unit.db.connect() as conn:
                # On the driver's connection: through SQLAlchemy it would BEGIN first.
                conn.connection.driver_connection.execute("PRAGMA busy_timeout = 50")
                with pytest.raises(OperationalError) as caught:
                    conn.execute(update(User).where(User.id == first).values(name="Outra"))
                    conn.commit()
        return caught.value
    failures: list[OperationalError] = []
    both_hold_one = threading.Barrier(2)

    def take(ids: tuple[int, int]) -> None:
        try:
            with svc.unit.transaction() as s:
                s.execute(update(User).where(User.id == ids[0]).values(name="A"))
                both_hold_one.wait(10)
                s.execute(update(User).where(User.id == ids[1]).values(name="B"))
        except OperationalError as error:
            failures.append(error)

    threads = [threading.Thread(target=take, args=(o,)) for o in ((first, second), (second, first))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert len(failures) == 1, failures  # the server aborted exactly one of the two
    return failures[0]


def test_the_lock_wait_setting_is_read_and_checked() -> None:
    assert Settings.from_env(env={}).lock_timeout_seconds == 30
    env = {"DATABASE_LOCK_TIMEOUT_SECONDS": "5"}
    assert Settings.from_env(env=env).lock_timeout_seconds == 5
    with pytest.raises(ValueError, match="DATABASE_LOCK_TIMEOUT_SECONDS deve ser no mínimo 1"):
        Settings.from_env(env={"DATABASE_LOCK_TIMEOUT_SECONDS": "0"})


@pytest.mark.skipif(
    not TEST_DATABASE_URL, reason="SQLite bounds its write lock's wait with its busy timeout"
)
def test_a_wait_for_a_row_lock_ends_at_the_configured_time(tmp_path: Path) -> None:
    """PostgreSQL: a statement waits for a row another transaction holds at most
    DATABASE_LOCK_TIMEOUT_SECONDS; then its transaction is rolled back as lost to a
    concurrent one (a 503, nothing saved), instead of holding its worker as long as the
    holder holds the row. Every new connection carries it; the default is 30 s."""
    url = database_url(tmp_path)
    default = db.make_engine(url)
    try:
        with default.connect() as conn:
            assert conn.exec_driver_sql("SHOW lock_timeout").scalar() == "30s"
    finally:
        default.dispose()
    settings = Settings.from_env(env={"DATABASE_LOCK_TIMEOUT_SECONDS": "1"}, instance_dir=tmp_path)
    settings = Settings(**{**settings.__dict__, "database_url": url})
    svc = Chamados.from_settings(settings)
    svc.init_database()
    add_person(svc, MARIA, "Maria da Silva")
    mine = update(User).where(User.cpf == MARIA)
    try:
        with svc.unit.transaction() as holder:
            holder.execute(mine.values(name="Quem segura"))
            started = time.monotonic()
            with pytest.raises(OperationalError) as caught:
                with svc.unit.transaction() as waiting:
                    waiting.execute(mine.values(name="Quem espera"))
            waited = time.monotonic() - started
        assert 0.9 <= waited < 10, waited
        assert db.is_contention(caught.value) and not db.is_unavailable(caught.value)
        with svc.unit.session_factory() as s:
            assert s.scalar(select(User.name).where(User.cpf == MARIA)) == "Quem segura"
    finally:
        svc.unit.db.dispose()


def test_a_transaction_lost_to_a_concurrent_one_is_a_503_to_retry(tmp_path: Path) -> None:
    """A deadlock (PostgreSQL) or a write lock that stayed busy (SQLite) rolled the
    request's transaction back: the answer says nothing was saved and to try again,
    not "internal error" (engine.db.is_contention)."""
    app = production_app(tmp_path)
    svc: Chamados = app.extensions["chamados"]
    svc.init_database()
    person(app, MARIA, "Maria da Silva")
    person(app, "11144477735", "João Souza")
    lost = contention_error(svc)
    assert db.is_contention(lost) and not db.is_unavailable(lost)
    assert not db.is_contention(OperationalError("SELECT 1", {}, Exception("syntax error")))

    @app.get("/api/v1/_concurrent")
    @app.get("/_concurrent")
    def concurrent() -> str:
        raise lost

    client = app.test_client()
    api = client.get("/api/v1/_concurrent")
    assert api.status_code == 503 and api.headers["Retry-After"] == "1"
    assert api.mimetype == "application/problem+json"
    assert "nada foi alterado" in api.get_json()["detail"]
    page = client.get("/_concurrent")
    assert page.status_code == 503 and "Tente de novo" in page.get_data(as_text=True)
    svc.unit.db.dispose()
