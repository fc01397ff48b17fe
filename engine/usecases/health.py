"""What operators ask of the database: is it ready, is its schema current, and the
business figures Prometheus scrapes (tickets by status, queue, timers, outbox).

Every answer is read outside any transaction (no write lock taken by a probe or a
scrape) and survives a database that is down: the web layer turns it into 503 or a
``database_up`` of 0 (web.observability).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, func, select
from sqlalchemy.exc import SQLAlchemyError

from engine import schema, tasks
from engine.db import retry_once_on_disconnect
from engine.models import TASK_READY, Chamado, HumanTask, OutboxMessage, WorkflowTimer
from engine.usecases.base import UseCaseBase

log = logging.getLogger(__name__)


def _migrations_current(conn: Connection) -> str | None:
    current = MigrationContext.configure(conn).get_current_revision()
    head = schema.head_revision()
    if current != head:
        return f"banco na versão {current or 'vazia'}, código espera {head}"
    return None


# name -> check(connection) returning None when fine, else a pt-BR description.
READINESS_CHECKS: dict[str, Callable[[Connection], str | None]] = {
    "migrations": _migrations_current
}


@dataclass(frozen=True)
class Gauges:
    """The database's figures at one moment (ages in seconds, 0 when nothing waits)."""

    tickets_by_status: dict[str, int]
    queue_total: int
    queue_claimed: int
    timers_waiting: int
    timer_lag_seconds: float
    outbox_pending: int
    outbox_oldest_age_seconds: float


class Health(UseCaseBase):
    def readiness(self) -> tuple[bool, dict[str, str]]:
        """Whether the app can serve: the database answers and every check passes."""

        def run_checks(conn: Connection) -> dict[str, str]:
            checks = {"database": "ok"}
            for name, check in READINESS_CHECKS.items():
                checks[name] = check(conn) or "ok"
            return checks

        try:
            # A pooled connection that died (database restarted) says nothing about the
            # database now: the answer comes from a fresh connection.
            checks = self.unit.read_one(run_checks)
        except SQLAlchemyError:
            log.warning("Banco de dados indisponível para /readyz", exc_info=True)
            checks = {"database": "banco de dados inacessível"}
        return all(v == "ok" for v in checks.values()), checks

    def revisions(self) -> tuple[str | None, str | None]:
        """(the database's schema revision, the code's)."""
        return self.unit.schema_revision(), schema.head_revision()

    def pending_migrations(self) -> str | None:
        """A pt-BR explanation when the database is behind the code, else None."""
        return schema.pending_text(*self.revisions())

    def gauges(self) -> Gauges | None:
        """The figures, or None (logged) when the database cannot be read."""
        try:
            return retry_once_on_disconnect(self._read_gauges)
        except SQLAlchemyError:
            log.warning("Métricas do banco indisponíveis", exc_info=True)
            return None

    def _read_gauges(self) -> Gauges:
        now = self.clock()
        with self.reading() as session:
            by_status: dict[str, int] = {}
            for code, count in session.execute(
                select(Chamado.status, func.count()).group_by(Chamado.status)
            ):
                by_status[code] = count
            queue_total, queue_claimed = session.execute(
                select(func.count(), func.count(HumanTask.assignee_id)).where(
                    HumanTask.state == TASK_READY, HumanTask.group != tasks.REQUESTER_GROUP
                )
            ).one()
            timers_waiting, earliest_due = session.execute(
                select(func.count(), func.min(WorkflowTimer.due_at)).where(
                    WorkflowTimer.state == "waiting"
                )
            ).one()
            outbox_pending, oldest_pending = session.execute(
                select(func.count(), func.min(OutboxMessage.created_at)).where(
                    OutboxMessage.status == "pending"
                )
            ).one()
        return Gauges(
            tickets_by_status=by_status,
            queue_total=queue_total,
            queue_claimed=queue_claimed,
            timers_waiting=timers_waiting,
            timer_lag_seconds=_age(now, earliest_due),
            outbox_pending=outbox_pending,
            outbox_oldest_age_seconds=_age(now, oldest_pending),
        )


def _age(now: datetime, since: datetime | None) -> float:
    if since is None:
        return 0.0
    if since.tzinfo is None:
        since = since.replace(tzinfo=UTC)
    return max(0.0, (now - since).total_seconds())
