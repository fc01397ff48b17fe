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
from engine.prepared import Prepared

_TABLE = ProtocolSequence.__table__
# Run on the driver (engine.prepared), as every start runs it.
_NEXT = Prepared(
    update(_TABLE)
    .where(_TABLE.c.year == bindparam("for_year"))
    .values(last_value=_TABLE.c.last_value + 1)
    .returning(_TABLE.c.last_value)
)
# The year's counter, created by the first ticket of the year; racing creators: one
# inserts, the others do nothing (PostgreSQL makes them wait for it to commit).
_CREATE = {
    name: Prepared(
        insert(_TABLE)
        .values(year=bindparam("for_year"), last_value=0)
        .on_conflict_do_nothing(index_elements=["year"])
    )
    for name, insert in (("postgresql", pg_insert), ("sqlite", sqlite_insert))
}


def next_protocolo(session: Session, year: int) -> str:
    bumped = _NEXT.first(session, {"for_year": year})
    if bumped is None:
        _CREATE[session.get_bind().dialect.name].execute(session, {"for_year": year})
        bumped = _NEXT.first(session, {"for_year": year})
        assert bumped is not None  # the row exists now, created here or by a racing creator
    return format_protocolo(year, bumped.last_value)


def format_protocolo(year: int, value: int) -> str:
    return f"CH-{year}-{value:06d}"
