"""Technical incidents (engine.incidents): an admin's "Tentar novamente".

A step that fails inside the workflow engine opens the incident (Recording._open_incident,
engine.usecases.recording) in the transaction of the step itself, which holds the ticket
row (locked first, as every change does): the failed step's in-memory workflow is thrown
away, the ticket keeps its saved state.

The retry runs the pending step as it would have run — the start, the completion with
the data that was sent, by the person who sent it, or the timer — on the ticket's
current process version (a start: on the process's latest published version, since
nothing happened on the ticket yet). It takes the same locks in the same order and
checks the version the admin saw, so of two admins pressing at once exactly one runs
it and the other is told it was done. Success clears the incident and goes on as the
step would have (rows, statuses, e-mails); a new failure keeps the incident with the
new message, in the same transaction.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from SpiffWorkflow import TaskState
from sqlalchemy import select
from sqlalchemy.orm import Session

from engine import incidents, runtime
from engine.clock import workflow_time
from engine.errors import Conflict, ModelRuntimeError
from engine.models import TASK_READY, Chamado, HumanTask, ProcessVersion, WorkflowTimer
from engine.scripting import acting_as
from engine.usecases.base import STALE_CHAMADO, Actor, ActorRef
from engine.usecases.messages import Messages
from engine.usecases.requests import Requests
from engine.usecases.timing import Timing

log = logging.getLogger(__name__)

ADMIN_ROLES = frozenset({"admin"})


@dataclass(frozen=True)
class RetryOutcome:
    """What "Tentar novamente" did: ``resolved`` or not, and a pt-BR ``message``."""

    chamado: Chamado
    resolved: bool
    message: str


class Incidents(Requests, Timing, Messages):
    """The "Tentar novamente" retry runs the pending step as the use case that failed
    would have (a start or a completion of Requests, a timer of Timing), so it inherits
    both; opening an incident is a step's record (Recording._open_incident)."""

    def retry_incident(self, actor: Actor, chamado_id: int, expected_version: int) -> RetryOutcome:
        """Runs the ticket's pending step again (admins only); see the module docstring."""
        self._require_roles(actor, ADMIN_ROLES)
        now = self.clock()
        with self.transaction() as session, session.no_autoflush:
            chamado = self._lock_chamado(session, chamado_id)
            if chamado.incident_at is None:
                raise Conflict(
                    "Este chamado não está em incidente técnico (outra pessoa pode ter acabado "
                    "de tentar de novo); nada foi feito."
                )
            if chamado.version != expected_version:
                raise Conflict(STALE_CHAMADO)
            action = incidents.PendingAction.from_json(chamado.incident_action)
            try:
                if action.kind == incidents.TASK:
                    self._retry_task(session, chamado, action, actor.id, now)
                elif action.kind == incidents.TIMER:
                    self._retry_timer(session, chamado, action, actor.id, now)
                elif action.kind == incidents.MESSAGE:
                    self._retry_message(session, chamado, action, actor.id, now)
                else:
                    self._retry_start(session, chamado, action, actor.id, now)
            except ModelRuntimeError as failure:
                bundle = self.bundle(session, chamado.process_version_id)
                self._open_incident(session, chamado, bundle, failure, action, actor.id, now)
                self._write_chamado(session, chamado, expected_version)
                return RetryOutcome(
                    chamado,
                    False,
                    f"A nova tentativa também falhou: {failure.message} "
                    "O chamado continua em incidente técnico.",
                )
            self._write_chamado(session, chamado, expected_version)
            return RetryOutcome(
                chamado, True, "Nova tentativa concluída: o chamado seguiu no processo."
            )

    # ------------------------------------------------------------ the pending steps
    # Each runs the engine before writing anything, so a new failure leaves nothing
    # half-written (ModelRuntimeError goes back to retry_incident); once it ran, the
    # incident ends first, so the timeline tells it before what the step did.

    def _resolve(
        self,
        session: Session,
        chamado: Chamado,
        action: incidents.PendingAction,
        admin_id: int,
        now: datetime,
        version_id: int,
    ) -> None:
        """Ends the incident, with the step that ran and the process version it ran on."""
        self._audit(
            session,
            chamado,
            admin_id,
            "incidente.resolvido",
            "Problema técnico resolvido: o processamento continuou",
            now=now,
            details={
                "acao": incidents.describe(action.as_json()),
                "elemento": chamado.incident_element,
                "mensagem": chamado.incident_message,
                "versao": version_id,
            },
        )
        incidents.clear(chamado)

    def _retry_task(
        self,
        session: Session,
        chamado: Chamado,
        action: incidents.PendingAction,
        admin_id: int,
        now: datetime,
    ) -> None:
        task = self._pending_task(session, chamado, action)
        bundle = self.bundle(session, chamado.process_version_id)
        last, revision = self._last_submission_and_revision(session, chamado.id, task.form_schema)
        schema = self._form(session, bundle, task, last, revision)[0]
        # The form's fields of the version the ticket is on now (a designer may have
        # moved it): only declared fields ever reach the workflow.
        clean = self._keep_schema_fields(schema, action.data or {})
        wf = runtime.load(bundle, chamado.workflow_state)
        spiff_task = runtime.ready_task(wf, task.task_guid)
        due_before = chamado.analysis_due_at
        deadlines = self._business_deadlines(bundle, chamado, {**spiff_task.data, **clean}, now)
        try:
            who = self._script_user(session, action.actor_id)
            facts = self._instance_facts(
                session,
                bundle,
                chamado,
                completing=(spiff_task.task_spec.bpmn_id, action.actor_id),
            )
            with workflow_time(self.clock), acting_as(who, facts):
                runtime.complete(wf, spiff_task, {**clean, **deadlines})
        except ModelRuntimeError:
            chamado.analysis_due_at = due_before
            raise
        self._resolve(session, chamado, action, admin_id, now, bundle.version_id)
        # Completed by who sent it, whoever holds the task now.
        by = ActorRef(action.actor_id or task.assignee_id or chamado.requester_id)
        self._finish_completion(
            session,
            chamado,
            task,
            (clean, schema, last),
            bundle,
            wf,
            by,
            now,
            {"state": TASK_READY},
        )

    @staticmethod
    def _pending_task(
        session: Session, chamado: Chamado, action: incidents.PendingAction
    ) -> HumanTask:
        task = session.get(HumanTask, action.task_id) if action.task_id else None
        if task is None or task.chamado_id != chamado.id or task.state != "ready":
            task = session.scalar(
                select(HumanTask)
                .where(
                    HumanTask.chamado_id == chamado.id,
                    HumanTask.state == TASK_READY,
                    HumanTask.task_name == action.element,
                )
                .limit(1)
            )
        if task is None:
            raise Conflict(
                f"A etapa “{action.title or action.element}” não está mais aberta neste "
                "chamado: não há envio pendente para processar; nada foi feito."
            )
        return task

    def _retry_timer(
        self,
        session: Session,
        chamado: Chamado,
        action: incidents.PendingAction,
        admin_id: int,
        now: datetime,
    ) -> None:
        bundle = self.bundle(session, chamado.process_version_id)
        wf = runtime.load(bundle, chamado.workflow_state)
        facts = self._instance_facts(session, bundle, chamado)
        with workflow_time(self.clock), acting_as(None, facts):
            runtime.fire_timers(wf)
        self._resolve(session, chamado, action, admin_id, now, bundle.version_id)
        row = (
            session.get(WorkflowTimer, action.timer_id, with_for_update={"of": WorkflowTimer})
            if action.timer_id
            else None
        )
        task = wf.get_task_from_id(UUID(row.task_guid)) if row is not None else None
        # Fired now. A designer's move may have cancelled the row (the timer, due, was
        # made ready by the move and so no longer waits): it fired all the same.
        fired = task is not None and task.state == TaskState.COMPLETED
        if row is not None and row.state != "fired" and fired:
            self._timer_fired(session, chamado, row, bundle, wf, now)
            return
        if row is not None and row.state == "waiting":
            row.lease_until = None  # not due by the workflow's reckoning: the scheduler's
        chamado.workflow_state = runtime.dump(bundle, wf)
        chamado.updated_at = now
        session.flush()
        step = self._after_step(session, chamado, wf, bundle, now)
        self._announce(session, chamado, bundle, wf, step, now, None)

    def _retry_message(
        self,
        session: Session,
        chamado: Chamado,
        action: incidents.PendingAction,
        admin_id: int,
        now: datetime,
    ) -> None:
        data = action.data or {}
        bundle = self.bundle(session, chamado.process_version_id)
        wf = runtime.load(bundle, chamado.workflow_state)
        name = str(data.get("name", ""))
        payload, correlations = data.get("payload") or {}, data.get("correlations") or {}
        facts = self._instance_facts(session, bundle, chamado)
        caught = self._catch_message(wf, name, payload, correlations, facts)
        self._resolve(session, chamado, action, admin_id, now, bundle.version_id)
        if caught:  # else the workflow no longer waits for it: the ticket stays as it is
            self._record_message(session, chamado, bundle, wf, name, now)

    def _retry_start(
        self,
        session: Session,
        chamado: Chamado,
        action: incidents.PendingAction,
        admin_id: int,
        now: datetime,
    ) -> None:
        process_id = session.scalar(
            select(ProcessVersion.process_id).where(ProcessVersion.id == chamado.process_version_id)
        )
        assert process_id is not None
        bundle = self.bundle(session, self._current_version_id(session, process_id))
        who = self._script_user(session, chamado.requester_id)
        facts = self._instance_facts(session, bundle, chamado)
        with workflow_time(self.clock), acting_as(who, facts):
            wf = runtime.start(bundle)
        self._resolve(session, chamado, action, admin_id, now, bundle.version_id)
        requester = chamado.requester
        chamado.process_version_id = bundle.version_id
        chamado.workflow_state = runtime.dump(bundle, wf)
        chamado.updated_at = now
        step = self._after_step(
            session,
            chamado,
            wf,
            bundle,
            now,
            draft=lambda row: self._prefill(bundle, row, requester),
        )
        self._announce(session, chamado, bundle, wf, step, now, ActorRef(chamado.requester_id))
