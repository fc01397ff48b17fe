"""The hot path's fixed statements, compiled once per dialect and run on the driver's cursor.

SQLAlchemy spends tens of microseconds of Python on every execution of a statement it
already compiled and cached: the statement's cache key walked again, an execution context,
the result's metadata. For the one-row reads and writes every request makes (the API token's
owner, a ticket step's INSERTs and UPDATEs) that is several times what SQLite takes to run
them (the token's owner: 50 µs through ``Connection.execute``, 5 µs in the driver; measured
in ``bench/`` notes, README "Desempenho"). A ``Prepared`` statement is compiled once per
dialect; a run binds the parameters through the same type processors SQLAlchemy would use,
executes on the connection's own driver cursor and converts the result columns with the
same result processors, so its rows read exactly as ``Connection.execute``'s would
(``tests/test_prepared.py`` compares them on both databases).

What running a statement means to the rest of the program is kept:

* the connection's transaction begins as SQLAlchemy's would (its ``begin`` event: SQLite's
  ``BEGIN IMMEDIATE``, engine.db), so a ``Prepared`` run inside a unit of work is part of it;
* ``before_cursor_execute`` / ``after_cursor_execute`` are dispatched when anyone listens
  (the statement budget tests count through them);
* a driver error is wrapped as SQLAlchemy wraps it (``IntegrityError``, ``OperationalError``
  …) and a dead connection is invalidated as any statement's would be (engine.db's retry and
  503 answers rely on both).

Given the Engine instead of a connection, a read runs outside any transaction on a pooled
driver connection of its own, without an SQLAlchemy ``Connection`` around it: checking one
out, beginning, rolling back and closing it cost more than the statement (the API token's
owner, read first by every API request: 97 → 47 µs on SQLite). SQLite's connections are in the
driver's autocommit mode already (engine.db issues BEGIN IMMEDIATE itself); PostgreSQL's is
switched to autocommit for the one statement. Errors and events go through a ``Connection``
built over the same pooled connection only when needed (a failure; a listener), so they
read as above.

**Writes carried with the next statement (PostgreSQL).** Every statement there is a round
trip: ~140 µs of a worker's CPU in the driver and the server's own work per message. A step's
audit events, its submission, its searchable text are INSERTs whose result nothing in the step
waits for: ``execute_later`` keeps one on the transaction's connection, and the connection's
next ``Prepared`` statement carries it, as a data-modifying ``WITH`` in front of its own SQL
(``WITH _w0 AS (INSERT …) UPDATE …``: one round trip, the statement's rows and rowcount as
they were). The parts of one statement run in no set order and do not see each other's rows,
so one table's rows never share a statement (their ids keep the order of their calls: the
timeline's), and a statement that
names a carried row's table (or whose tables are not known: text) sends the pending rows first,
on their own; so does every other statement on the connection (SQLAlchemy's
``before_execute``: ORM queries, flushes, Core), a savepoint and the commit. A rollback drops
them, and a connection goes back to the pool holding none. Until sent, a carried row's
failure (a constraint) cannot happen at its own call: it surfaces with the statement that
sends it, which is why only rows nothing checks at the call are written this way (audit,
submissions, timers, the searchable text). SQLite runs them at once: a statement there is a
function call, not a round trip.

Expanding (``IN`` list) and literal-execute parameters (a page's LIMIT) are expanded by
SQLAlchemy's own ``construct_expanded_state`` once per shape (the list's length, the
literal's value) and kept, up to MAX_SHAPES per statement. Python-side column defaults and
lists of tuples are refused when compiling, as is executemany with expanding parameters.

It reads a few of SQLAlchemy's internals (a compiled statement's result columns and bind
processors, a connection's event flag and DBAPI error handler), which is why SQLAlchemy is
pinned to one release in pyproject.toml; ``tests/test_prepared.py`` compares the rows, the
events and the errors with SQLAlchemy's own on both databases, so an upgrade that changes
their meaning fails there.
"""

from __future__ import annotations

import re
from collections import namedtuple
from collections.abc import Callable, Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass, field, replace
from typing import Any

from sqlalchemy import Connection, Engine, Insert, event
from sqlalchemy.engine.interfaces import Dialect
from sqlalchemy.engine.util import TransactionalContext
from sqlalchemy.orm import Session
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.expression import TableClause
from sqlalchemy.sql.visitors import iterate

_Processor = Callable[[Any], Any]


@dataclass(frozen=True, slots=True)
class _Compiled:
    sql: str
    # Positional drivers (SQLite's qmark): the parameters' names in the order they bind.
    positional: tuple[str, ...] | None
    # Parameters with a value given when the statement was built (literals bound by SQL).
    defaults: Mapping[str, Any]
    # Name the driver sees, by parameter name (PostgreSQL's escaped names), or None.
    escaped: Mapping[str, str] | None
    bind: Mapping[str, _Processor]
    result: tuple[_Processor | None, ...]
    row: type[tuple[Any, ...]] | None
    # An expanding parameter's name and the names its values bind as in this shape's SQL;
    # and the literal-execute parameters, written into the SQL (see _Statement).
    expansion: tuple[tuple[str, tuple[str, ...]], ...] = ()
    literal: tuple[str, ...] = ()

    def parameters(self, given: Mapping[str, Any]) -> Any:
        values = {**self.defaults, **given} if self.defaults else given
        if self.expansion or self.literal:
            values = dict(values)
            for name, expanded in self.expansion:
                values.update(zip(expanded, values.pop(name), strict=True))
            for name in self.literal:
                values.pop(name, None)
        bind = self.bind
        if self.positional is not None:
            return tuple(
                bind[key](values[key]) if key in bind else values[key] for key in self.positional
            )
        escaped = self.escaped or {}
        return {
            escaped.get(key, key): bind[key](value) if key in bind else value
            for key, value in values.items()
        }


# Shapes kept per statement and dialect (a list's groups, a page's size): a handful in use;
# past this many, a new shape is expanded for its run and not kept.
MAX_SHAPES = 64


@dataclass(slots=True)
class _Statement:
    """A statement compiled for one dialect: one SQL text when its shape is fixed, else one
    per shape of its post-compile parameters (an ``IN`` list's length, a literal-execute
    value such as a page's LIMIT), each made once by SQLAlchemy's own expansion
    (``construct_expanded_state``) and kept."""

    # The statement as compiled: the one to run when ``post`` is empty, else the parts
    # every shape shares.
    base: _Compiled
    compiled: Any  # SQLAlchemy's compiled statement, to expand per shape
    # (name, expanding, literal) of each post-compile parameter, in the statement's order.
    post: tuple[tuple[str, bool, bool], ...]
    shapes: dict[tuple[Any, ...], _Compiled] = field(default_factory=dict)

    def for_params(self, params: Mapping[str, Any]) -> _Compiled:
        if not self.post:
            return self.base
        values = {**self.base.defaults, **params}
        shape = tuple(
            (tuple(values[name]) if literal else len(values[name])) if expanding else values[name]
            for name, expanding, literal in self.post
        )
        found = self.shapes.get(shape)
        if found is None:
            found = self._expand(values)
            if len(self.shapes) < MAX_SHAPES:
                self.shapes[shape] = found
        return found

    def _expand(self, values: Mapping[str, Any]) -> _Compiled:
        state = self.compiled.construct_expanded_state(params=dict(values))
        expanding = {name for name, is_expanding, _l in self.post if is_expanding}
        return replace(
            self.base,
            sql=state.statement,
            positional=tuple(state.positiontup) if state.positiontup is not None else None,
            bind={**self.base.bind, **state.processors},
            expansion=tuple(
                (name, tuple(names))
                for name, names in state.parameter_expansion.items()
                if name in expanding
            ),
            literal=tuple(name for name, is_expanding, literal in self.post if literal),
        )


def _compile(
    statement: ClauseElement, dialect: Dialect, column_keys: Sequence[str] | None
) -> _Statement:
    # column_keys: an INSERT's or UPDATE's columns, as SQLAlchemy compiles the statement
    # for the parameters it is executed with (the VALUES / SET clause).
    compiled: Any = statement.compile(
        dialect=dialect, column_keys=list(column_keys) if column_keys is not None else None
    )
    if compiled.insert_prefetch or compiled.update_prefetch:
        raise ValueError("Prepared: valores padrão calculados em Python não são suportados")
    post = tuple(
        (name, bool(param.expanding), bool(param.literal_execute))
        for param, name in compiled.bind_names.items()
        if param in compiled.post_compile_params or param in compiled.literal_execute_params
    )
    if any(compiled.binds[name].type._is_tuple_type for name, expanding, _l in post if expanding):
        raise ValueError("Prepared: listas de tuplas (IN de várias colunas) não são suportadas")
    defaults = {
        name: param.effective_value
        for param, name in compiled.bind_names.items()
        if not param.required
    }
    columns = compiled._result_columns
    result = tuple(entry.type._cached_result_processor(dialect, None) for entry in columns)
    row = namedtuple("Row", [entry.keyname for entry in columns], rename=True) if columns else None
    base = _Compiled(
        sql=compiled.string,
        positional=tuple(compiled.positiontup) if compiled.positional else None,
        defaults=defaults,
        escaped=compiled.escaped_bind_names or None,
        bind=dict(compiled._bind_processors),
        result=result,
        row=row,
    )
    return _Statement(base, compiled, post)


class Prepared:
    """A statement run without SQLAlchemy's per-execution work (see the module's note)."""

    __slots__ = ("statement", "column_keys", "_by_dialect", "tables", "_may_wait")

    def __init__(self, statement: ClauseElement, column_keys: Sequence[str] | None = None) -> None:
        self.statement = statement
        self.column_keys = column_keys
        self._by_dialect: dict[str, _Statement] = {}
        # The tables it reads or writes (subqueries included); None when unknown (text).
        found = {e.name for e in iterate(statement) if isinstance(e, TableClause)}
        self.tables: frozenset[str] | None = frozenset(found) or None
        # execute_later: an INSERT with nothing to answer, on known tables.
        self._may_wait = isinstance(statement, Insert) and not statement._returning and bool(found)

    def _for(self, dialect: Dialect) -> _Statement:
        found = self._by_dialect.get(dialect.name)
        if found is None:
            found = _compile(self.statement, dialect, self.column_keys)
            self._by_dialect[dialect.name] = found
        return found

    def rows(self, conn: Connection | Session | Engine, params: Mapping[str, Any]) -> list[Any]:
        """The result rows (named tuples, columns by their labels). Given the Engine: the
        statement alone, outside any transaction (a read; see the module's note)."""
        if isinstance(conn, Engine):
            return _read_outside(self, conn, params)
        rows, _count = _run(self, _connection(conn), params, many=False)
        return rows

    def first(self, conn: Connection | Session | Engine, params: Mapping[str, Any]) -> Any | None:
        rows = self.rows(conn, params)
        return rows[0] if rows else None

    def execute(self, conn: Connection | Session, params: Mapping[str, Any]) -> int:
        """Runs a write; the number of rows it changed."""
        _rows, count = _run(self, _connection(conn), params, many=False)
        return count

    def execute_many(self, conn: Connection | Session, params: Sequence[Mapping[str, Any]]) -> None:
        """Runs a write once per parameter set, in one driver call (executemany)."""
        if params:
            _run(self, _connection(conn), params, many=True)

    def execute_later(self, conn: Connection | Session, params: Mapping[str, Any]) -> None:
        """Runs an INSERT whose outcome nothing checks at the call: on PostgreSQL with the
        transaction's next statement (the module's note), on SQLite now."""
        connection = _connection(conn)
        if (
            connection.dialect.name != "postgresql"
            # Outside a transaction (engine.db.autocommit_connection) nothing would send it.
            or connection.get_execution_options().get("isolation_level") == "AUTOCOMMIT"
        ):
            self.execute(connection, params)
            return
        if not self._may_wait or self.tables is None:
            raise ValueError("Prepared.execute_later: só um INSERT sem RETURNING")
        compiled = self._for(connection.dialect).for_params(params)
        _ready(connection)
        pooled = connection._dbapi_connection
        assert pooled is not None  # _ready began a transaction on it
        pending = pooled.info.get(_PENDING)
        if pending and _shares_a_table(self.tables, pending):
            # The parts of one statement run in no set order (PostgreSQL runs a WITH's last
            # first): rows of one table would take their ids, the timeline's order, out of
            # the order of their calls. The earlier go first.
            send_pending(connection)
            pending = None
        if pending is None:
            pending = pooled.info[_PENDING] = []
        pending.append(_Carried(compiled.sql, compiled.parameters(params), self.tables))


def _connection(conn: Connection | Session) -> Connection:
    return conn.connection() if isinstance(conn, Session) else conn


def _ready(conn: Connection) -> None:
    """What ``Connection._execute_context`` checks before a statement: a transaction that
    failed must be rolled back first (PendingRollbackError), a closed one is not used, and
    without a transaction one autobegins (the ``begin`` event: SQLite's BEGIN IMMEDIATE)."""
    trans, nested = conn._transaction, conn._nested_transaction
    if (trans is not None and not trans.is_active) or (nested is not None and not nested.is_active):
        conn._invalid_transaction()
    elif conn._trans_context_manager:
        TransactionalContext._trans_ctx_check(conn)
    if conn._transaction is None:
        conn._autobegin()


def _run(prepared: Prepared, conn: Connection, params: Any, many: bool) -> tuple[list[Any], int]:
    statement = prepared._for(conn.dialect)
    if many and statement.post:
        raise ValueError("Prepared: executemany com parâmetros expansíveis não é suportado")
    compiled = statement.for_params(params[0] if many else params)
    _ready(conn)
    args: Any = (
        [compiled.parameters(one) for one in params] if many else compiled.parameters(params)
    )
    sql = compiled.sql
    pooled = conn._dbapi_connection
    if pooled is not None and (pending := pooled.info.get(_PENDING)):
        del pooled.info[_PENDING]
        tables = prepared.tables
        if many or tables is None or _shares_a_table(tables, pending):
            _send(conn, pending)  # it could read or write what they write: they go first
        else:
            sql, args = _carrying(pending, sql, args)
    fetched, count = _execute(conn, sql, args, many)
    return _rows(compiled, fetched), count


# --- writes carried with the next statement (PostgreSQL; the module's note) ------------------

_PENDING = "chamados.prepared.pending"
# A driver parameter (pyformat), not an escaped percent sign.
_PARAMETER = re.compile(r"(?<!%)%\(([^)]+)\)s")
# Texts built from pending INSERTs and a statement: the same few combinations recur.
_CARRYING: dict[tuple[tuple[str, ...], str], str] = {}
_MAX_CARRYING = 256


@dataclass(frozen=True, slots=True)
class _Carried:
    sql: str
    args: dict[str, Any]
    tables: frozenset[str]


def _shares_a_table(tables: frozenset[str], pending: list[_Carried]) -> bool:
    return any(not tables.isdisjoint(c.tables) for c in pending)


def _carrying(pending: list[_Carried], sql: str, args: dict[str, Any]) -> tuple[str, Any]:
    """``sql`` with the pending INSERTs in front (``WITH _w0 AS (…), …``) and their
    parameters, renamed apart, beside its own."""
    key = (tuple(c.sql for c in pending), sql)
    text = _CARRYING.get(key)
    if text is None:
        parts = ", ".join(f"_w{i} AS ({_renamed(c.sql, i)})" for i, c in enumerate(pending))
        head, _sep, rest = sql.lstrip().partition(" ")
        # A statement with a WITH of its own takes them first in its list.
        text = f"WITH {parts}, {rest}" if head.upper() == "WITH" else f"WITH {parts} {sql}"
        if len(_CARRYING) >= _MAX_CARRYING:
            _CARRYING.clear()
        _CARRYING[key] = text
    merged = dict(args)
    for i, c in enumerate(pending):
        for name, value in c.args.items():
            merged[f"_w{i}_{name}"] = value
    return text, merged


def _renamed(sql: str, i: int) -> str:
    """The parameters of the ``i``-th carried INSERT, renamed apart from the others'."""
    return _PARAMETER.sub(lambda m: f"%(_w{i}_{m.group(1)})s", sql)


def _send(conn: Connection, pending: list[_Carried]) -> None:
    """The pending INSERTs as one statement: the last carries the others."""
    last = pending[-1]
    if len(pending) == 1:
        _execute(conn, last.sql, last.args, False)
    else:
        _execute(conn, *_carrying(pending[:-1], last.sql, last.args), False)


def send_pending(conn: Connection) -> None:
    """Sends what ``execute_later`` left on the connection (before any other statement,
    a savepoint and the commit)."""
    pooled = conn._dbapi_connection
    if pooled is not None and pooled.info.get(_PENDING):
        _send(conn, pooled.info.pop(_PENDING))


def carry_writes(engine: Engine) -> None:
    """What keeps carried writes in order on ``engine`` (PostgreSQL's; engine.db)."""

    def drop(conn: Connection, *_args: Any) -> None:
        pooled = conn._dbapi_connection
        if pooled is not None:
            pooled.info.pop(_PENDING, None)

    def send(conn: Connection, *_args: Any) -> None:
        send_pending(conn)

    event.listen(engine, "before_execute", send)
    event.listen(engine, "savepoint", send)
    event.listen(engine, "commit", send)
    # Rows written since the savepoint, which was sent clean, go with it.
    event.listen(engine, "rollback_savepoint", drop)
    event.listen(engine, "rollback", drop)

    def returned(_dbapi_conn: Any, record: Any) -> None:
        if record is not None:  # a transaction that ended without commit or rollback
            record.info.pop(_PENDING, None)

    event.listen(engine.pool, "checkin", returned)


def _rows(compiled: _Compiled, fetched: list[Any]) -> list[Any]:
    if not fetched:
        return []
    row, processors = compiled.row, compiled.result
    assert row is not None
    if not any(processors):
        return [row(*r) for r in fetched]
    return [
        row(*[p(v) if p is not None else v for p, v in zip(processors, r, strict=True)])
        for r in fetched
    ]


# One driver cursor per driver connection, kept in the pooled connection's ``info`` (which
# SQLAlchemy empties when the connection is closed or invalidated): a new psycopg cursor
# cost 13 µs of the statement's ~100. Every statement fetches all its rows before the
# next one runs, and a connection serves one thread at a time, so one cursor is enough.
_CURSOR = "chamados.prepared.cursor"


def _cursor(pooled: Any) -> Any:
    info = pooled.info
    cursor = info.get(_CURSOR)
    if cursor is None:
        cursor = info[_CURSOR] = pooled.cursor()
    return cursor


def _forget_cursor(pooled: Any) -> None:
    """After a failed statement the cursor may be closed (SQLAlchemy closes it) or in any
    state: the next statement gets a new one."""
    with suppress(Exception):
        cursor = pooled.info.pop(_CURSOR, None)
        if cursor is not None:
            cursor.close()


def _autocommit(pooled: Any, on: bool) -> None:
    pooled.driver_connection.autocommit = on


def _read_outside(prepared: Prepared, engine: Engine, params: Mapping[str, Any]) -> list[Any]:
    """A read on a pooled driver connection, outside any transaction (the module's note)."""
    compiled = prepared._for(engine.dialect).for_params(params)
    args = compiled.parameters(params)
    try:
        pooled = engine.raw_connection()  # the pool's checkout (engine.db pings an idle one)
    except engine.dialect.loaded_dbapi.Error as error:
        # Wrapped as Connection() wraps it (no statement: engine.db.is_unavailable).
        Connection._handle_dbapi_exception_noconnection(error, engine.dialect, engine)
    wrapper: Connection | None = None
    # PostgreSQL's driver would BEGIN before the statement; SQLite's never does (engine.db).
    switch = engine.dialect.name == "postgresql"
    cursor = None
    try:
        if switch:
            _autocommit(pooled, True)
        if _cursor_listened(engine):
            # Someone listens (the tests' statement counts): through a Connection over the
            # same pooled connection, which dispatches and wraps errors (_execute).
            wrapper = Connection(engine, connection=pooled)
            fetched, _count = _execute(wrapper, compiled.sql, args, False)
        else:
            cursor = _cursor(pooled)
            cursor.execute(compiled.sql, args)
            fetched = list(cursor.fetchall()) if cursor.description is not None else []
        if switch:
            _autocommit(pooled, False)
    except BaseException as error:
        _forget_cursor(pooled)
        if switch:
            # Back to transactions before the pool may hand it out again (when alive).
            with suppress(Exception):
                _autocommit(pooled, False)
        if wrapper is None:  # else _execute wrapped it already
            # Wrapped, and a dead connection invalidated with every older one, as
            # SQLAlchemy does for any statement (engine.db.retry_once_on_disconnect).
            wrapper = Connection(engine, connection=pooled)
            wrapper._handle_dbapi_exception(error, compiled.sql, args, cursor, None)
        raise
    finally:
        if wrapper is None:
            pooled.close()
        else:
            wrapper.close()
    return _rows(compiled, fetched)


def run_sql(conn: Connection, sql: str) -> None:
    """A statement without parameters or rows, on the connection as it stands: no autobegin
    (engine.db runs SQLite's BEGIN IMMEDIATE with it, from inside the ``begin`` event)."""
    send_pending(conn)
    _execute(conn, sql, (), False)


def _cursor_listened(engine: Engine) -> bool:
    """Whether anyone listens to the engine's cursor events (the statement counts of tests
    and bench/). Not SQLAlchemy's own flag: any event (engine.db's) sets it for every run."""
    dispatch = engine.dispatch
    return bool(dispatch.before_cursor_execute) or bool(dispatch.after_cursor_execute)


def _execute(conn: Connection, sql: str, args: Any, many: bool) -> tuple[list[Any], int]:
    """The driver's rows (none for a write) and rowcount; errors as SQLAlchemy's."""
    cursor = None
    pooled = conn.connection
    try:
        cursor = _cursor(pooled)
        listened = _cursor_listened(conn.engine)
        if listened:
            conn.dispatch.before_cursor_execute(conn, cursor, sql, args, None, many)
        if many:
            cursor.executemany(sql, args)
        else:
            cursor.execute(sql, args)
        if listened:
            conn.dispatch.after_cursor_execute(conn, cursor, sql, args, None, many)
        fetched = list(cursor.fetchall()) if not many and cursor.description is not None else []
        return fetched, cursor.rowcount
    except BaseException as error:  # wrapped (and the connection invalidated) as SQLAlchemy does
        _forget_cursor(pooled)
        conn._handle_dbapi_exception(error, sql, args, cursor, None)
