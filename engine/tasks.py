"""Mirror of a workflow's ready user tasks as ``HumanTask`` rows.

After every step the rows are brought in line with the workflow: new ready
tasks get a row (queued for their lane's group, or assigned to the requester),
rows whose task is no longer ready are cancelled. The queue reads only rows.
"""

from __future__ import annotations

from datetime import datetime

from SpiffWorkflow.bpmn import BpmnWorkflow
from sqlalchemy import select
from sqlalchemy.orm import Session, lazyload

from engine import runtime, status
from engine.models import Chamado, HumanTask
from engine.specs import ProcessBundle

REQUESTER_GROUP = "requester"


def sync(
    session: Session,
    chamado: Chamado,
    wf: BpmnWorkflow,
    bundle: ProcessBundle,
    lane_groups: dict[str, str],
    now: datetime,
) -> tuple[list[HumanTask], list[HumanTask]]:
    """Returns the rows created for newly ready tasks, and every row still open."""
    ready = {str(t.id): t for t in runtime.ready_human_tasks(wf)}
    # Only the rows themselves: the eager joins to the ticket and people are not needed here.
    open_rows = session.scalars(
        select(HumanTask)
        .options(lazyload("*"))
        .where(HumanTask.chamado_id == chamado.id, HumanTask.state == "ready")
    ).all()
    still_open = []
    for row in open_rows:
        if row.state != "ready":
            continue  # completed in this very transaction, not yet flushed
        if row.task_guid not in ready:
            row.state = "cancelled"
            row.completed_at = now
        else:
            still_open.append(row)
    known = {row.task_guid for row in open_rows}
    created = []
    for guid, task in ready.items():
        if guid in known:
            continue
        info = bundle.user_tasks.get(task.task_spec.bpmn_id)
        group = lane_groups.get(task.task_spec.lane or "", "analyst")
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
            created_at=now,
        )
        session.add(row)
        created.append(row)
    chamado.status = status.derive(
        [t.task_spec.bpmn_id for t in ready.values()],
        runtime.end_event(wf, bundle),
        wf.is_completed(),
    )
    if chamado.status in status.CLOSED and chamado.closed_at is None:
        chamado.closed_at = now
    return created, still_open + created
