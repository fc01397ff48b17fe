"""Mirror of a workflow's ready user tasks as ``HumanTask`` rows.

After every step the rows are brought in line with the workflow: new ready
tasks get a row (queued for their lane's group, or assigned to the requester),
rows whose task is no longer ready are cancelled. The queue reads only rows.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from SpiffWorkflow.bpmn import BpmnWorkflow
from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session

from engine import corewrite, groups, policy, runtime
from engine.models import ALWAYS_LATE, TASK_READY, Chamado, HumanTask
from engine.prepared import Prepared
from engine.specs import ProcessBundle

REQUESTER_GROUP = groups.REQUESTER

_TABLE = HumanTask.__table__
# Every step runs these (engine.prepared: on the driver's cursor).
_OPEN_ROWS = Prepared(
    select(_TABLE.c.id, _TABLE.c.task_guid, _TABLE.c.group).where(
        _TABLE.c.chamado_id == bindparam("chamado_id"), _TABLE.c.state == TASK_READY
    )
)
_CANCEL = Prepared(
    update(_TABLE)
    .where(_TABLE.c.id.in_(bindparam("ids", expanding=True)), _TABLE.c.state == TASK_READY)
    .values(state="cancelled", completed_at=bindparam("now"))
)


def sync(
    session: Session,
    chamado: Chamado,
    wf: BpmnWorkflow,
    bundle: ProcessBundle,
    now: datetime,
    draft: Callable[[HumanTask], dict[str, Any] | None] | None = None,
    new: bool = False,
    rows: Sequence[Any] | None = None,
    completed_group: str | None = None,
) -> tuple[list[HumanTask], set[str]]:
    """Writes the rows; returns those created, and the groups of every task still open.

    ``draft`` gives a new row its initial draft (a prefilled form); ``new`` says the
    ticket was just created, so it has no rows to read yet; ``rows`` are the open rows
    (id, task_guid, group) when the caller read them already; ``completed_group``: the
    group whose task this step completed, if any (a new adjustment round when the
    instance comes back from a group to its requester). The rows are written
    with Core statements (engine.corewrite): the caller must have written any change of
    its own to this ticket's task rows before. The ticket's status is set on ``chamado``,
    for the caller to write.
    """
    ready = {str(t.id): t for t in runtime.ready_human_tasks(wf)}
    if rows is not None:
        open_rows = list(rows)
    elif new:
        open_rows = []
    else:
        open_rows = _OPEN_ROWS.rows(session, {"chamado_id": chamado.id})
    gone = [row.id for row in open_rows if row.task_guid not in ready]
    if gone:
        _CANCEL.execute(session, {"ids": gone, "now": now})
    open_groups = {row.group for row in open_rows if row.task_guid in ready}
    known = {row.task_guid for row in open_rows}
    opening = [
        (guid, task, bundle.group_of(task.task_spec.lane))
        for guid, task in ready.items()
        if guid not in known
    ]
    if (
        completed_group is not None
        and completed_group != REQUESTER_GROUP
        and any(group == REQUESTER_GROUP for _guid, _task, group in opening)
    ):
        # Back from a group to its requester: a new adjustment round, counted before the
        # rows are written so that each carries it ("resent") and none is written twice.
        chamado.adjustment_rounds += 1
    created = []
    for guid, task, group in opening:
        info = bundle.user_tasks.get(task.task_spec.bpmn_id)
        row = HumanTask(
            chamado_id=chamado.id,
            task_guid=guid,
            task_name=task.task_spec.bpmn_id,
            title=info.title if info else task.task_spec.bpmn_name or task.task_spec.bpmn_id,
            lane=task.task_spec.lane,
            group=group,
            state="ready",
            assignee_id=chamado.requester_id if group == REQUESTER_GROUP else None,
            form_schema=info.form_schema if info else None,
            form_ui_schema=info.form_ui_schema if info else None,
            draft_data=None,
            created_at=now,
            # The ticket's columns the queue filters on (the database keeps them in
            # step; given here, as the step leaves the ticket, PostgreSQL's commit-time
            # trigger has nothing to write, see engine.models.HumanTask).
            orgao_id=chamado.orgao_id,
            categoria=chamado.categoria,
            process_id=bundle.process_id,
            resent=chamado.adjustment_rounds > 0,
            late_from=ALWAYS_LATE if chamado.overdue else chamado.analysis_due_at,
        )
        if draft is not None:
            row.draft_data = draft(row)
        corewrite.insert(session, row)
        created.append(row)
        open_groups.add(group)
    completed = wf.is_completed()
    found = status_of(bundle, wf, list(ready.values()))
    if chamado.incident_at is not None:
        # Rows synced while a step waits for a retry (a designer moved the ticket to a
        # new version): the ticket stays in its incident until the step runs.
        found = policy.INCIDENT
    chamado.status, chamado.status_label, chamado.status_tone = (
        found.code,
        found.label,
        found.tone,
    )
    if completed and chamado.closed_at is None:
        chamado.closed_at = now
    return created, open_groups


def status_of(
    bundle: ProcessBundle, wf: BpmnWorkflow, ready: list[Any] | None = None
) -> policy.Status:
    """The status the model gives the instance where ``wf`` stands (``ready``: its ready
    human tasks, when the caller has them)."""
    if ready is None:
        ready = runtime.ready_human_tasks(wf)
    completed = wf.is_completed()
    return derive_status(
        bundle,
        [t.task_spec.bpmn_id for t in ready],
        runtime.end_event(wf, bundle) if completed else None,
        completed,
    )


def derive_status(
    bundle: ProcessBundle, ready_elements: list[str], end: str | None, completed: bool
) -> policy.Status:
    """The status the model gives where the instance stands: its end event once finished,
    else the first open task that declares one; the platform's own otherwise."""
    if completed:
        declared = bundle.policy.element(end).status
        return declared or policy.FINISHED
    for element in ready_elements:
        declared = bundle.policy.element(element).status
        if declared is not None:
            return declared
    return policy.IN_PROGRESS
