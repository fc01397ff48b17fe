"""Protocol numbers: unique and sequential per year, even under concurrent creation.

The counter row is bumped with one atomic ``UPDATE ... RETURNING``, which row-locks
on PostgreSQL and runs inside the write lock on SQLite, so two creations never
read the same value.
"""

from __future__ import annotations

from sqlalchemy import bindparam, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from engine.models import ProtocolSequence

_TABLE = ProtocolSequence.__table__
_NEXT = (
    update(_TABLE)
    .where(_TABLE.c.year == bindparam("for_year"))
    .values(last_value=_TABLE.c.last_value + 1)
    .returning(_TABLE.c.last_value)
)
# The year's counter, created by the first ticket of the year; racing creators: one
# inserts, the others do nothing (PostgreSQL makes them wait for it to commit).
_CREATE = {
    name: insert(_TABLE)
    .values(year=bindparam("for_year"), last_value=0)
    .on_conflict_do_nothing(index_elements=["year"])
    for name, insert in (("postgresql", pg_insert), ("sqlite", sqlite_insert))
}


def next_protocolo(session: Session, year: int) -> str:
    connection = session.connection()
    value = connection.execute(_NEXT, {"for_year": year}).scalar()
    if value is None:
        connection.execute(_CREATE[connection.dialect.name], {"for_year": year})
        value = connection.execute(_NEXT, {"for_year": year}).scalar_one()
    return format_protocolo(year, value)


def format_protocolo(year: int, value: int) -> str:
    return f"CH-{year}-{value:06d}"
