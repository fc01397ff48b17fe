"""Revision counters of shared reference data that admins edit (catalogs, groups).

Each process keeps a copy of such data and re-reads it only when its counter moved:
every change bumps the counter in the change's own transaction, and a reader gets the
committed counter along with a statement it runs anyway (the step's locking query, the
request's authentication), so no copy outlives the data it was read from by more than
that statement.
"""

from __future__ import annotations

from sqlalchemy import ScalarSelect, select, update
from sqlalchemy.orm import Session

from engine.models import Revision

CATALOGS = "catalogs"
GROUPS = "groups"

_REVISIONS = Revision.__table__


def value_of(name: str) -> ScalarSelect[int]:
    """The counter ``name`` as a scalar subquery, for a caller's statement to select."""
    return select(_REVISIONS.c.value).where(_REVISIONS.c.name == name).scalar_subquery()


def bump(session: Session, name: str) -> None:
    """Tell every process its copy of ``name``'s data is out of date (at commit)."""
    bumped = session.connection().execute(
        update(_REVISIONS).where(_REVISIONS.c.name == name).values(value=_REVISIONS.c.value + 1)
    )
    if bumped.rowcount == 0:
        session.add(Revision(name=name, value=1))  # a database made before the row's migration
        session.flush()
