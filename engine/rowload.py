"""ORM objects built from a Core row, persistent in the session as if a query had loaded them.

The ORM sets up its row processors on every execution of a query (loader paths, strategies,
one processor per entity and column): for the task lock every step takes (task, ticket and
requester in one row) that setup cost more than the statement and its rows together
(~250 of ~320 µs per call on this machine, in process). Here the row comes from an
engine.prepared statement whose columns are labelled per entity (``columns``), and
``detached`` builds each object through its class manager, fills its columns from the
row and hands it to the session as the object of its primary key with nothing pending
(``make_transient_to_detached``, then one ``Session.add`` whose cascade attaches the
objects it leads to: public API). If the session already
holds an object for that key it is returned instead, as a query returns it (a query does not
overwrite what the session holds either).

``columns`` selects every column of the class, or all but the ``omit``ted ones (a list
leaves the ticket's workflow state out, as the ORM's deferred column does); an omitted
column is left unloaded, read from the database if the code ever asks for it, as a
deferred column is. Relationships not given stay unloaded (lazy), as after a query that
did not load them; an outer-joined row that is not there (every column NULL) is None
(``detached_or_none``).
"""

from __future__ import annotations

from functools import cache
from typing import Any, TypeVar, cast

from sqlalchemy import Label, inspect
from sqlalchemy.orm import Mapper, Session, make_transient_to_detached
from sqlalchemy.orm.instrumentation import manager_of_class

from engine.corewrite import mapped_columns

T = TypeVar("T")


@cache
def _identity(cls: type) -> tuple[Mapper[Any], tuple[str, ...]]:
    """A mapped class's mapper and the attribute keys of its primary key, in the key's order."""
    mapper: Mapper[Any] = inspect(cls)
    return mapper, tuple(mapper.get_property_by_column(c).key for c in mapper.primary_key)


def columns(cls: type, prefix: str, omit: tuple[str, ...] = ()) -> list[Label[Any]]:
    """The columns of ``cls``'s table but the ``omit``ted attributes, labelled
    ``<prefix><column>``, for ``detached``."""
    _table, pairs = mapped_columns(cls)
    return [column.label(f"{prefix}{column.name}") for key, column in pairs if key not in omit]


@cache
def _positions(cls: type, prefix: str, fields: tuple[str, ...]) -> tuple[tuple[str, int], ...]:
    """(attribute key, index in the row) of the columns of ``cls`` a row with ``fields``
    carries under ``prefix``."""
    index = {name: i for i, name in enumerate(fields)}
    return tuple(
        (key, index[prefix + column.name])
        for key, column in mapped_columns(cls)[1]
        if prefix + column.name in index
    )


def detached(session: Session, cls: type[T], row: Any, prefix: str, **related: Any) -> T:
    """The object of ``cls`` in ``row`` (columns from ``columns(cls, prefix)``), with the
    many-to-one relationships in ``related`` set; detached and clean, to be attached with
    the others by one ``Session.add`` of the object that leads to them (its cascade), or the
    object the session already holds for that primary key."""
    mapped = cast(type, cls)
    built: Any = manager_of_class(mapped).new_instance()
    values = built.__dict__
    for key, position in _positions(mapped, prefix, row._fields):
        values[key] = row[position]
    mapper, primary_key = _identity(mapped)
    identity = mapper.identity_key_from_primary_key(tuple(values[k] for k in primary_key))
    held = session.identity_map.get(identity)
    if held is not None:
        return cast(T, held)
    values.update(related)  # as loaded: no history, no backref events
    make_transient_to_detached(built)
    return cast(T, built)


def detached_or_none(
    session: Session, cls: type[T], row: Any, prefix: str, **related: Any
) -> T | None:
    """``detached``, or None when the row has no such object (an outer join found none:
    its primary key is NULL)."""
    for name in _primary_names(cast(type, cls)):
        if getattr(row, prefix + name) is not None:
            return detached(session, cls, row, prefix, **related)
    return None


@cache
def _primary_names(cls: type) -> tuple[str, ...]:
    """The column names of a mapped class's primary key."""
    return tuple(column.name for column in _identity(cls)[0].primary_key)
