"""Engine and session factory. Sessions are opened by engine.unit, and only there.

Besides the transactions of the use cases, this module offers ``autocommit_read()``:
one idempotent read outside any transaction, for what every request does first
(authentication), retried once on a fresh connection when the pooled one turns out
to be dead.

Stale PostgreSQL connections (server restarted, idle connection dropped by a
firewall, a proxy or ``idle_session_timeout``) are handled without a ``SELECT 1``
on every checkout (``pool_pre_ping``, one extra round trip per transaction):

* connections are recycled after ``POOL_RECYCLE_SECONDS`` and pinged at checkout
  only after ``PING_IDLE_SECONDS`` unused: a connection returned moments ago is
  almost surely alive, and a busy worker never pays for the ping;
* when a statement still meets a dead connection, SQLAlchemy invalidates that
  connection *and every older one in the pool* (its "optimistic" disconnect
  handling), so the next checkouts reconnect. The first read of each authenticated
  request goes through ``autocommit_read()``, which retries once: it absorbs that
  failure, and the request's transaction that follows gets a fresh connection. What
  else meets a dead connection fails once (the web layer answers 503, "try again").
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar, cast, overload

import psycopg
from psycopg import Column
from psycopg.pq import ExecStatus
from psycopg.pq.abc import PGresult
from sqlalchemy import Connection, CursorResult, Engine, Result, create_engine, event, exc
from sqlalchemy.orm import Session, sessionmaker

from engine import prepared

log = logging.getLogger(__name__)

T = TypeVar("T")

# How long a SQLite transaction waits for the write lock before "database is locked".
SQLITE_BUSY_TIMEOUT_MS = 30_000
# PostgreSQL's bound on a wait for a row lock (Settings.lock_timeout_seconds).
LOCK_TIMEOUT_SECONDS = 30
# Below common server-side and proxy lifetimes (PgBouncer's server_lifetime is 3600 s).
POOL_RECYCLE_SECONDS = 1800
# A connection unused for longer is pinged before being handed out.
PING_IDLE_SECONDS = 10.0
# SQLite: a connection with this execution option issues no BEGIN (autocommit_connection).
_NO_BEGIN = "chamados_no_begin"
_IDLE_SINCE = "chamados_idle_since"


def make_engine(url: str, lock_timeout_seconds: int = LOCK_TIMEOUT_SECONDS) -> Engine:
    if url.startswith("sqlite:///"):
        path = url.removeprefix("sqlite:///")
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000})
        _tune_sqlite(engine)
        return engine
    # LIFO: the connection just returned is reused, so a lightly loaded worker keeps
    # one hot connection and the others go idle (then pinged, or recycled).
    connect_args: dict[str, Any] = {}
    if url.startswith("postgresql+psycopg"):
        connect_args["cursor_factory"] = LazyDescriptionCursor
    engine = create_engine(
        url, pool_recycle=POOL_RECYCLE_SECONDS, pool_use_lifo=True, connect_args=connect_args
    )
    _ping_idle_connections(engine)
    if engine.dialect.name == "postgresql":
        _bound_lock_waits(engine, lock_timeout_seconds)
    prepared.carry_writes(engine)
    return engine


def _bound_lock_waits(engine: Engine, seconds: int) -> None:
    """Every connection waits at most ``seconds`` for a lock another transaction holds;
    then PostgreSQL aborts the statement (lock_not_available: is_contention, a 503 that
    says nothing was saved). Without it a request waits as long as the holder does (an
    operator's open transaction, a stuck client), and only the HTTP server's worker
    timeout, where there is one, frees the worker. Set once per new connection (not in
    the connection's startup options, which connection poolers such as PgBouncer
    refuse)."""

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record):  # type: ignore[no-untyped-def]
        cursor = dbapi_conn.cursor()
        cursor.execute(f"SET lock_timeout = '{int(seconds)}s'")
        cursor.close()
        dbapi_conn.commit()


class _ResultColumns(Sequence[Any]):
    """A ``cursor.description`` whose columns are built when first looked at.

    psycopg builds a ``Column`` object per result column on every ``description`` read
    (name decoding, type lookup; ~5 µs each), and SQLAlchemy reads it on every
    execution; but for a statement it ran before (its compiled cache) it only checks
    that rows came back, and takes the column names from what it kept. That was 5.5 %
    of a request's CPU on PostgreSQL (bench/two_tasks.py, cProfile). The columns,
    when asked for, are the driver's own, of the result this description was taken from.
    """

    __slots__ = ("_source", "_columns")

    def __init__(self, source: _ResultSource) -> None:
        self._source = source
        self._columns: list[Column] | None = None

    def __len__(self) -> int:
        return int(self._source.pgresult.nfields)

    @overload
    def __getitem__(self, index: int) -> Any: ...

    @overload
    def __getitem__(self, index: slice) -> Sequence[Any]: ...

    def __getitem__(self, index: int | slice) -> Any:
        if self._columns is None:
            self._columns = [Column(self._source, i) for i in range(len(self))]  # type: ignore[arg-type]
        return self._columns[index]


class _ResultSource:
    """What psycopg's ``Column`` reads from its cursor, kept from one result: the cursor
    may run another statement before the columns are built."""

    __slots__ = ("pgresult", "_encoding", "adapters")

    def __init__(self, cursor: psycopg.Cursor[Any], pgresult: PGresult) -> None:
        self.pgresult = pgresult
        self._encoding = cursor._encoding
        self.adapters = cursor.adapters


_TUPLES = (ExecStatus.TUPLES_OK, ExecStatus.SINGLE_TUPLE, ExecStatus.TUPLES_CHUNK)


class LazyDescriptionCursor(psycopg.Cursor[Any]):
    """psycopg's cursor with a lazily built ``description`` (see _ResultColumns)."""

    __slots__ = ()

    @property
    def description(self) -> Sequence[Any] | None:  # type: ignore[override]
        # The same test as psycopg's own property (BaseCursor.description).
        res = self.pgresult
        if res is not None and (res.nfields or res.status in _TUPLES):
            return _ResultColumns(_ResultSource(self, res))
        return None


def _tune_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record):  # type: ignore[no-untyped-def]
        # The driver's own transaction handling defers BEGIN; we issue
        # BEGIN IMMEDIATE ourselves so concurrent writers queue on the database
        # lock up front instead of failing with "database is locked" on upgrade.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn):  # type: ignore[no-untyped-def]
        if conn.get_execution_options().get(_NO_BEGIN):
            return  # autocommit_connection(): each statement is its own transaction
        # On the driver's cursor (engine.prepared): SQLAlchemy's own execution of this one
        # statement cost as much as the statement, and every write transaction runs it.
        prepared.run_sql(conn, "BEGIN IMMEDIATE")


def _ping_idle_connections(engine: Engine) -> None:
    dialect = engine.dialect

    @event.listens_for(engine.pool, "connect")
    def _on_connect(_dbapi_conn, record):  # type: ignore[no-untyped-def]
        record.info[_IDLE_SINCE] = None  # brand new: nothing to check

    @event.listens_for(engine.pool, "checkin")
    def _on_checkin(_dbapi_conn, record):  # type: ignore[no-untyped-def]
        if record is not None:
            record.info[_IDLE_SINCE] = time.monotonic()

    @event.listens_for(engine.pool, "checkout")
    def _on_checkout(dbapi_conn, record, _proxy):  # type: ignore[no-untyped-def]
        since = record.info.get(_IDLE_SINCE)
        if since is None or time.monotonic() - since < PING_IDLE_SECONDS:
            return
        try:
            dialect.do_ping(dbapi_conn)
        except dialect.loaded_dbapi.Error as error:
            # The pool discards this connection and checks out (or opens) another.
            raise exc.DisconnectionError(f"conexão ociosa morta: {error}") from error


@contextmanager
def autocommit_connection(engine: Engine) -> Iterator[Connection]:
    """A connection whose statements run outside any explicit transaction.

    Only for single-statement reads (one statement is consistent on its own): no
    BEGIN/COMMIT round trips on PostgreSQL and, on SQLite, no BEGIN IMMEDIATE, which
    would queue a mere read behind every writer.
    """
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            conn.execution_options(**{_NO_BEGIN: True})
        else:
            conn.execution_options(isolation_level="AUTOCOMMIT")
        yield conn


def autocommit_read(engine: Engine, query: Callable[[Connection], T]) -> T:
    """``query(connection)`` on an autocommit connection, retried once when the pooled
    connection was dead. ``query`` must be an idempotent read of one statement."""

    def attempt() -> T:
        with autocommit_connection(engine) as conn:
            return query(conn)

    return retry_once_on_disconnect(attempt)


def retry_once_on_disconnect(work: Callable[[], T]) -> T:
    """``work()``, run once more if it met a dead pooled connection: the failure has
    invalidated that connection and every older one, so the second run connects
    afresh. Only for idempotent reads (a write may have reached the server)."""
    try:
        return work()
    except exc.DBAPIError as error:
        if not error.connection_invalidated:
            raise
        log.warning("Conexão com o banco perdida; repetindo a leitura em uma nova conexão")
    return work()


def write_if_free(
    engine: Engine, work: Callable[[Connection], T], wait_seconds: float = 0.1
) -> T | None:
    """``work(connection)`` in a transaction of its own, or None when SQLite's write lock
    is not free within ``wait_seconds``: for bookkeeping a read request may skip (a
    token's last use) rather than queue behind a writer. On PostgreSQL it just runs."""
    if engine.dialect.name != "sqlite":
        with engine.begin() as conn:
            return work(conn)
    with engine.connect() as conn:
        # Set on the driver's connection: through SQLAlchemy it would BEGIN first.
        driver = conn.connection.driver_connection
        assert driver is not None
        driver.execute(f"PRAGMA busy_timeout = {int(wait_seconds * 1000)}")
        try:
            with conn.begin():
                return work(conn)
        except exc.OperationalError as error:
            if "locked" not in str(error.orig):
                raise
            log.info("Banco ocupado: anotação adiada (%s)", error.orig)
            return None
        finally:
            driver.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")


def is_disconnect(error: BaseException | None) -> bool:
    """True for the error of a statement that met a dead database connection."""
    return isinstance(error, exc.DBAPIError) and bool(error.connection_invalidated)


def is_unavailable(error: BaseException | None) -> bool:
    """True when the database could not serve at all, so trying again later is the answer:
    a dead pooled connection, a new connection refused (server down or restarting, too
    many clients: the driver's error comes with no statement) or no pooled connection
    free in time."""
    if is_disconnect(error) or isinstance(error, exc.TimeoutError):
        return True
    return isinstance(error, exc.OperationalError) and error.statement is None


# PostgreSQL's answers to two transactions that got in each other's way: it rolled this
# one back whole, and the same request run again succeeds (deadlock_detected,
# serialization_failure, lock_not_available).
_CONTENTION_SQLSTATES = frozenset({"40P01", "40001", "55P03"})


def is_contention(error: BaseException | None) -> bool:
    """True when the statement lost to a concurrent transaction and nothing of its
    transaction was kept: a PostgreSQL deadlock or serialization failure, or SQLite's
    write lock still held when its busy timeout ran out. Trying again is the answer.

    A deadlock needs two transactions taking the same rows in opposite orders; every
    path that changes a ticket locks the ticket first (the first claim of a task too:
    tests/test_first_analysis.py), but a supervisor's reassignment locks the task first,
    and no ordering survives every future change: this is the net under it."""
    if not isinstance(error, exc.DBAPIError) or error.connection_invalidated:
        return False
    original = error.orig
    if isinstance(original, psycopg.Error):
        return original.sqlstate in _CONTENTION_SQLSTATES
    return isinstance(error, exc.OperationalError) and "locked" in str(original)


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


def rows_changed(result: Result[Any]) -> int:
    """How many rows an UPDATE or DELETE changed: the guard of every "exactly once" here
    (a concurrent action changed 0 rows). Executing DML gives a CursorResult; SQLAlchemy
    types ``execute`` as the general Result."""
    return cast(CursorResult[Any], result).rowcount
