"""BPMN timers as indexed rows, and claiming due ones exactly once.

After every step the workflow's waiting timer events are mirrored into
``workflow_timers``; the scheduler polls that index, never the workflows. Several
schedulers may poll one database: on PostgreSQL due rows are claimed with
``FOR UPDATE SKIP LOCKED``, on SQLite with a conditional lease UPDATE. Firing
itself (engine.usecases.timing.Timing.fire_timer) re-checks the row in the ticket's own
transaction, so a timer fires once even if a lease expires mid-way.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from SpiffWorkflow import TaskState
from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.specs.event_definitions.multiple import MultipleEventDefinition
from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition
from sqlalchemy import bindparam, or_, select, update
from sqlalchemy.orm import Session

from engine import corewrite, runtime
from engine.db import rows_changed
from engine.models import Chamado, WorkflowTimer
from engine.prepared import Prepared

LEASE = timedelta(seconds=60)

_TABLE = WorkflowTimer.__table__
# Every step of a ticket with a timer runs these (engine.prepared: on the driver's cursor).
_WAITING_ROWS = Prepared(
    select(_TABLE.c.id, _TABLE.c.task_guid, _TABLE.c.due_at).where(
        _TABLE.c.chamado_id == bindparam("chamado_id"), _TABLE.c.state == "waiting"
    )
)
_CANCEL = Prepared(
    update(_TABLE)
    .where(_TABLE.c.id.in_(bindparam("ids", expanding=True)), _TABLE.c.state == "waiting")
    .values(state="cancelled")
)
_MOVE = Prepared(
    update(_TABLE)
    .where(_TABLE.c.id == bindparam("timer_id"))
    .values(due_at=bindparam("new_due_at"))
)


def _due(value: Any) -> datetime | None:
    if isinstance(value, dict):  # cycle timers keep {"next": iso, ...}
        value = value.get("next")
    if not isinstance(value, str):
        return None
    moment = TimerEventDefinition.parse_time_or_duration(value)
    if not isinstance(moment, datetime):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def waiting(wf: BpmnWorkflow) -> dict[str, tuple[str, datetime]]:
    """guid -> (element id, due time) of every timer the workflow waits on."""
    found = {}
    for task in runtime.all_tasks(wf):
        if task.state != TaskState.WAITING:
            continue
        element = _timer_element(task)
        if element is None:
            continue
        due = _due(task.internal_data.get("event_value"))
        if due is not None:
            found[str(task.id)] = (element, due)
    return found


def _timer_element(task: Any) -> str | None:
    """The timer event a waiting task waits on, if any. An event-based gateway waits
    itself on the events after it (SpiffWorkflow moves their definitions into the
    gateway's, in the order of its outgoing flows), its timer among them."""
    spec = task.task_spec
    definition = getattr(spec, "event_definition", None)
    if isinstance(definition, TimerEventDefinition):
        return str(spec.bpmn_id)
    if isinstance(definition, MultipleEventDefinition):
        for index, inner in enumerate(definition.event_definitions):
            if isinstance(inner, TimerEventDefinition) and index < len(spec.outputs):
                return str(spec.outputs[index].bpmn_id)
    return None


def sync(
    session: Session,
    chamado: Chamado,
    wf: BpmnWorkflow,
    now: datetime,
    new: bool = False,
    rows: Sequence[Any] | None = None,
) -> dict[str, tuple[str, datetime]]:
    """Writes the ticket's timer rows (Core statements); returns what the workflow waits on.

    A row the caller changed itself in this transaction must be written before; a ``new``
    ticket has no rows to read yet; ``rows`` are the waiting rows (id, task_guid, due_at)
    when the caller read them already.
    """
    current = waiting(wf)
    if rows is None:
        rows = [] if new else _WAITING_ROWS.rows(session, {"chamado_id": chamado.id})
    # The task it was attached to finished in time: it will never fire.
    gone = [row.id for row in rows if row.task_guid not in current]
    if gone:
        _CANCEL.execute(session, {"ids": gone})
    for row in rows:
        if row.task_guid in current and current[row.task_guid][1] != row.due_at:
            _MOVE.execute(session, {"timer_id": row.id, "new_due_at": current[row.task_guid][1]})
    known = {row.task_guid for row in rows}
    corewrite.insert_many(
        session,
        _TABLE,
        [
            {
                "chamado_id": chamado.id,
                "task_guid": guid,
                "element_id": element,
                "due_at": due,
                "state": "waiting",
                "created_at": now,
            }
            for guid, (element, due) in current.items()
            if guid not in known
        ],
    )
    return current


def claim_due(session: Session, now: datetime, worker: str, limit: int = 20) -> list[int]:
    """Lease up to ``limit`` due timers for ``worker``; the caller commits.

    Timers of a ticket in a technical incident (engine.incidents) wait for it to be
    resolved: claimed, they would fill every batch and fire nothing.
    """
    due = (
        select(WorkflowTimer.id)
        .join(Chamado, Chamado.id == WorkflowTimer.chamado_id)
        .where(
            WorkflowTimer.state == "waiting",
            WorkflowTimer.due_at <= now,
            or_(WorkflowTimer.lease_until.is_(None), WorkflowTimer.lease_until < now),
            Chamado.incident_at.is_(None),
        )
        .order_by(WorkflowTimer.due_at)
        .limit(limit)
    )
    if session.get_bind().dialect.name == "postgresql":
        ids = list(session.scalars(due.with_for_update(of=WorkflowTimer, skip_locked=True)))
        if ids:
            session.execute(
                update(WorkflowTimer)
                .where(WorkflowTimer.id.in_(ids))
                .values(lease_until=now + LEASE, leased_by=worker)
            )
        return ids
    claimed = []
    for timer_id in session.scalars(due):
        result = session.execute(
            update(WorkflowTimer)
            .where(
                WorkflowTimer.id == timer_id,
                or_(WorkflowTimer.lease_until.is_(None), WorkflowTimer.lease_until < now),
            )
            .values(lease_until=now + LEASE, leased_by=worker)
        )
        if rows_changed(result) == 1:
            claimed.append(timer_id)
    return claimed
