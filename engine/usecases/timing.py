"""Timers: fire the due ones exactly once, with their effects (SLA, closing)."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from SpiffWorkflow import TaskState
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from engine import (
    incidents,
    notifications,
    runtime,
    specs,
    timers,
)
from engine.clock import workflow_time
from engine.errors import ModelRuntimeError
from engine.models import (
    Chamado,
    WorkflowTimer,
)
from engine.scripting import acting_as
from engine.usecases.recording import Recording


class Timing(Recording):
    def fire_due_timers(self, worker: str, limit: int = 20) -> list[int]:
        """Fire the timers that are due; returns the ids of those that fired."""
        now = self.clock()
        with self.transaction() as session:
            claimed = timers.claim_due(session, now, worker, limit)
        return [timer_id for timer_id in claimed if self.fire_timer(timer_id)]

    def fire_timer(self, timer_id: int) -> bool:
        """Advance one ticket past a due timer, in the same transactional way as a user action.

        A ticket in a technical incident waits (engine.incidents): its timers are not
        claimed, and one claimed just before fires nothing. If the model fails while the
        timer's steps run, the ticket goes into an incident holding this timer.
        """
        now = self.clock()
        with self.transaction() as session:
            chamado_id = session.scalar(
                select(WorkflowTimer.chamado_id).where(WorkflowTimer.id == timer_id)
            )
            if chamado_id is None:
                return False
            # The ticket row first, as every step locks it (engine.usecases.base._LOCK_TASK),
            # then the timer row, read under that lock.
            session.execute(
                select(Chamado.id).where(Chamado.id == chamado_id).with_for_update(key_share=True)
            )
            row = session.get(WorkflowTimer, timer_id, with_for_update={"of": WorkflowTimer})
            if row is None or row.state != "waiting":
                return False  # fired or cancelled meanwhile by someone else
            chamado = row.chamado
            if chamado.incident_at is not None:
                row.lease_until = None  # claimed again once the incident is resolved
                return False
            session.execute(
                update(Chamado).where(Chamado.id == chamado_id).values(version=Chamado.version + 1)
            )
            bundle = self.bundle(session, chamado.process_version_id)
            wf = runtime.load(bundle, chamado.workflow_state)
            try:
                facts = self._instance_facts(session, bundle, chamado)
                with workflow_time(self.clock), acting_as(None, facts):
                    runtime.fire_timers(wf)
            except ModelRuntimeError as failure:
                row.lease_until = None
                action = incidents.PendingAction(
                    incidents.TIMER,
                    element=row.element_id,
                    title=bundle.timer_names.get(row.element_id, row.element_id),
                    timer_id=row.id,
                )
                self._open_incident(session, chamado, bundle, failure, action, None, now)
                return False
            task = wf.get_task_from_id(UUID(row.task_guid))
            if task is None or task.state == TaskState.WAITING:
                row.lease_until = None  # not due by the workflow's own reckoning
                return False
            if task.state != TaskState.COMPLETED:
                row.state = "cancelled"
                return False
            self._timer_fired(session, chamado, row, bundle, wf, now)
            return True

    def _timer_fired(
        self,
        session: Session,
        chamado: Chamado,
        row: WorkflowTimer,
        bundle: specs.ProcessBundle,
        wf: Any,
        now: datetime,
    ) -> None:
        """After the workflow ran the timer of ``row``: rows, the timer's effects, mail."""
        row.state = "fired"
        row.fired_at = now
        chamado.workflow_state = runtime.dump(bundle, wf)
        chamado.updated_at = now
        session.flush()  # the timer row: the sync below reads and writes rows directly
        step = self._after_step(session, chamado, wf, bundle, now)
        self._timer_effects(session, chamado, bundle, wf, row.element_id, now)
        self._announce(session, chamado, bundle, wf, step, now, None)

    def _timer_effects(
        self,
        session: Session,
        chamado: Chamado,
        bundle: specs.ProcessBundle,
        wf: Any,
        element: str,
        now: datetime,
    ) -> None:
        """What the model says a timer does besides moving the workflow (engine.policy)."""
        name = bundle.timer_names.get(element, element)
        declared = bundle.policy.element(element)
        first = not chamado.overdue
        if declared.marks_overdue:
            chamado.overdue = True
            self._audit(
                session,
                chamado,
                None,
                "prazo.vencido",
                f"{name}: prazo vencido",
                now=now,
                public=False,
                details={"temporizador": element},
            )
        else:
            self._audit(
                session,
                chamado,
                None,
                "temporizador",
                declared.timeline or name,
                now=now,
                public=declared.timeline is not None,
                details={"temporizador": element},
            )
        # An overdue flag mails once, however many times its timer fires.
        if declared.mail is not None and (first or not declared.marks_overdue):
            facts = {
                "prazo": chamado.analysis_due_at,
                "analista": notifications.assignee_name(session, chamado.id),
            }
            data = runtime.current_data(wf)
            labels = self._catalog_labels(session, None)
            self._send(session, bundle, declared.mail, chamado, facts, data, now, labels)
