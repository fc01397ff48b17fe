"""Timers: fire the due ones exactly once, with their effects (SLA, closing)."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from SpiffWorkflow import TaskState
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from engine import (
    notifications,
    runtime,
    status,
    timers,
)
from engine.clock import workflow_time
from engine.models import (
    Chamado,
    WorkflowTimer,
)
from engine.usecases.base import (
    UseCaseBase,
)


class Timing(UseCaseBase):
    def fire_due_timers(self, worker: str, limit: int = 20) -> list[int]:
        """Fire the timers that are due; returns the ids of those that fired."""
        now = self.clock()
        with self.transaction() as session:
            claimed = timers.claim_due(session, now, worker, limit)
        return [timer_id for timer_id in claimed if self.fire_timer(timer_id)]

    def fire_timer(self, timer_id: int) -> bool:
        """Advance one ticket past a due timer, in the same transactional way as a user action."""
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
            session.execute(
                update(Chamado).where(Chamado.id == chamado_id).values(version=Chamado.version + 1)
            )
            chamado = row.chamado
            bundle = self.bundle(session, chamado.process_version_id)
            wf = runtime.load(bundle, chamado.workflow_state)
            with workflow_time(self.clock):
                runtime.fire_timers(wf)
            task = wf.get_task_from_id(UUID(row.task_guid))
            if task is None or task.state == TaskState.WAITING:
                row.lease_until = None  # not due by the workflow's own reckoning
                return False
            if task.state != TaskState.COMPLETED:
                row.state = "cancelled"
                return False
            row.state = "fired"
            row.fired_at = now
            chamado.workflow_state = runtime.dump(bundle, wf)
            chamado.updated_at = now
            session.flush()  # the timer row: the sync below reads and writes rows directly
            self._after_step(session, chamado, wf, bundle, now)
            self._timer_effects(session, chamado, row.element_id, now)
            self._audit_outcome(session, chamado, wf, bundle, None, now)
            if chamado.status == "encerrado_sem_resposta":
                notifications.closed_without_answer(
                    session, chamado, self.settings.app_base_url, now
                )
            return True

    def _timer_effects(
        self, session: Session, chamado: Chamado, element: str, now: datetime
    ) -> None:
        name = self.bundle(session, chamado.process_version_id).timer_names.get(element, element)
        if status.TIMER_EFFECTS.get(element) == "sla":
            first = not chamado.overdue
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
            if first:
                self._notify_sla(session, chamado, now)
        else:
            self._audit(
                session,
                chamado,
                None,
                "temporizador",
                name,
                now=now,
                public=False,
                details={"temporizador": element},
            )

    def _notify_sla(self, session: Session, chamado: Chamado, now: datetime) -> None:
        notifications.sla_passed(session, chamado, self.settings.app_base_url, now)
