"""Row writes of the hot path as single Core statements, outside the ORM's unit of work.

A ticket step writes a handful of rows. Through the unit of work each costs about five
times a Core statement (change tracking, dependency sort, per-row flush bookkeeping; see
bench/engine_overhead.py). The ORM objects stay the model the code reads and builds:
``insert`` writes a new object's row, ``update`` writes the attributes changed in Python,
and afterwards both objects count as clean, so the session never flushes them again.

Only for rows whose writer owns them completely within the step: nothing else in the
session may hold pending changes to the same row.
"""

from __future__ import annotations

from functools import cache
from typing import Any, TypeVar, cast

from sqlalchemy import ColumnElement, Insert, Table, Update, bindparam, inspect
from sqlalchemy.orm import Mapper, Session
from sqlalchemy.orm.attributes import PASSIVE_NO_INITIALIZE, set_committed_value

from engine.prepared import Prepared

T = TypeVar("T")


@cache
def mapped_columns(cls: type) -> tuple[Table, tuple[tuple[str, Any], ...]]:
    """(table, ((attribute key, column), ...)) of a mapped class (engine.rowload too)."""
    mapper: Mapper[Any] = inspect(cls)
    pairs = tuple((prop.key, prop.columns[0]) for prop in mapper.column_attrs)
    return cast(Table, mapper.local_table), pairs


# Statements per table and set of columns, run on the driver (engine.prepared): a step
# writes its rows with these, and SQLAlchemy's own execution cost more than SQLite's.
@cache
def _insert(table: Table, columns: tuple[str, ...], returning_pk: bool) -> Prepared:
    """INSERT of ``columns`` (sorted names), returning the primary key when not given."""
    statement: Insert = table.insert()
    if returning_pk:
        (pk,) = table.primary_key.columns.values()
        statement = statement.returning(pk)
    return Prepared(statement, column_keys=columns)


@cache
def _update(
    table: Table,
    columns: tuple[str, ...],
    conditions: tuple[tuple[str, ColumnElement[Any] | None], ...],
) -> Prepared:
    """UPDATE of ``columns`` by primary key (and ``column = :_w_column`` conditions, or
    ``column = <SQL>`` for an expected value given as SQL, like models.TASK_READY)."""
    (pk,) = table.primary_key.columns.values()
    where = [pk == bindparam("_pk")]
    where += [
        table.c[name] == (bindparam(f"_w_{name}") if sql is None else sql)
        for name, sql in conditions
    ]
    statement: Update = table.update().where(*where)
    return Prepared(statement, column_keys=columns)


def insert(session: Session, obj: T) -> T:
    """INSERT ``obj`` (a new, never-added object); fills its defaults and primary key.

    The object stays transient (outside any session: its relationships are not loaded)
    and counts as holding its row: a later ``update`` writes only what changes after.
    """
    cls: type = type(obj)
    table, pairs = mapped_columns(cls)
    state = obj.__dict__
    values: dict[str, Any] = {}
    for key, column in pairs:
        if key not in state:
            default = column.default
            if default is None:
                continue
            # The object must read what the row holds, so defaults are applied here.
            value = default.arg(None) if default.is_callable else default.arg
            set_committed_value(obj, key, value)
        values[column.name] = state[key]
    (pk,) = table.primary_key.columns.values()
    returning_pk = pk.name not in values
    prepared = _insert(table, tuple(sorted(values)), returning_pk)
    if returning_pk:
        (inserted,) = prepared.rows(session, values)
        set_committed_value(obj, pk.key, inserted[0])
    else:
        prepared.execute(session, values)
    for key, column in pairs:
        if column.name in values:
            set_committed_value(obj, key, values[column.name])
    return obj


def insert_many(session: Session, table: Table, rows: list[dict[str, Any]]) -> None:
    """Plain rows nothing checks at the call (audit, submissions, timers): one executemany;
    a single row rides with the step's next statement on PostgreSQL (engine.prepared's
    ``execute_later``). Every row has the same columns (the first row's are the statement's)."""
    if not rows:
        return
    statement = _insert(table, tuple(sorted(rows[0])), False)
    if len(rows) == 1:
        # The usual single row (an audit event, a submission). Not executemany: psycopg runs
        # it in pipeline mode, whose setup cost more than the row (190 against 130 µs of CPU).
        statement.execute_later(session, rows[0])
    else:
        statement.execute_many(session, rows)


def update(session: Session, obj: Any, **expect: Any) -> int:
    """UPDATE the attributes of ``obj`` assigned since it was loaded; returns the rowcount.

    ``expect`` adds ``column == value`` conditions (an expected version; a value given as
    a SQL expression is written into the statement, not bound); when the row
    no longer matches them nothing is written and the object keeps its pending changes
    for the caller to discard. Once written, the object leaves the session: it holds
    exactly its row, and the session's flush has nothing left to look at.
    """
    cls: type = type(obj)
    table, pairs = mapped_columns(cls)
    instance = inspect(obj)
    keys = [key for key, _c in pairs]
    assigned = set(keys) - instance.unmodified_intersection(keys)
    # Assigned the value it already had (a status derived again): nothing to write. (The
    # state's own history, not ``instance.attrs``: that builds a view of every attribute.)
    changed = {
        key for key in assigned if instance.get_history(key, PASSIVE_NO_INITIALIZE).has_changes()
    }
    if not changed:
        if expect:  # the conditions would go unchecked: a caller's mistake
            raise ValueError("corewrite.update: nothing to write, so nothing checks `expect`")
        return 1
    params = {column.name: instance.dict[key] for key, column in pairs if key in changed}
    (pk,) = table.primary_key.columns.values()
    params["_pk"] = instance.dict[pk.key]
    conditions: list[tuple[str, ColumnElement[Any] | None]] = []
    for name in sorted(expect):
        value = expect[name]
        if isinstance(value, ColumnElement):
            conditions.append((name, value))
        else:
            conditions.append((name, None))
            params[f"_w_{name}"] = value
    columns = tuple(sorted(column.name for key, column in pairs if key in changed))
    rowcount = _update(table, columns, tuple(conditions)).execute(session, params)
    if rowcount == 1:
        for key in changed:
            set_committed_value(obj, key, instance.dict[key])
        if instance.session is session:
            session.expunge(obj)
    return rowcount
