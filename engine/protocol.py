"""Protocol numbers: unique and sequential per year, even under concurrent creation.

The counter row is bumped with one atomic ``UPDATE ... RETURNING``, which row-locks
on PostgreSQL and runs inside the write lock on SQLite, so two creations never
read the same value.
"""

from __future__ import annotations

from sqlalchemy import update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from engine.models import ProtocolSequence


def next_protocolo(session: Session, year: int) -> str:
    dialect = session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    session.execute(
        insert(ProtocolSequence)
        .values(year=year, last_value=0)
        .on_conflict_do_nothing(index_elements=["year"])
    )
    value = session.execute(
        update(ProtocolSequence)
        .where(ProtocolSequence.year == year)
        .values(last_value=ProtocolSequence.last_value + 1)
        .returning(ProtocolSequence.last_value)
    ).scalar_one()
    return format_protocolo(year, value)


def format_protocolo(year: int, value: int) -> str:
    return f"CH-{year}-{value:06d}"
