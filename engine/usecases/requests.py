"""Requester use cases: open a chamado, fill and send its form, follow it, attach files."""

from __future__ import annotations

import copy
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import lazyload

from engine import (
    corewrite,
    forms,
    runtime,
    tasks,
)
from engine.attachments import check_upload
from engine.clock import workflow_time
from engine.errors import Conflict, Forbidden, NotFound, ValidationFailed
from engine.models import (
    Attachment,
    Chamado,
    HumanTask,
    Submission,
)
from engine.protocol import next_protocolo
from engine.usecases.base import (
    MAIN_PROCESS,
    STAFF_ROLES,
    STALE_CHAMADO,
    Actor,
    ChamadoView,
    TaskForm,
    UseCaseBase,
)


class Requests(UseCaseBase):
    def start_chamado(self, actor: Actor, process_id: str = MAIN_PROCESS) -> Chamado:
        """Start an instance of a deployed process on its latest published version."""
        return self.start_instance(actor, process_id)[0]

    def start_instance(
        self, actor: Actor, process_id: str = MAIN_PROCESS
    ) -> tuple[Chamado, HumanTask | None]:
        """Start an instance; returns it with the requester's first task, if it has one."""
        now = self.clock()
        with self.transaction() as session:
            user = self._user(session, actor.id)
            bundle = self.bundle(session, self._current_version_id(session, process_id))
            with workflow_time(self.clock):
                wf = runtime.start(bundle)
            chamado = corewrite.insert(
                session,
                Chamado(
                    protocolo=next_protocolo(session, now.year),
                    requester_id=user.id,
                    process_version_id=bundle.version_id,
                    status="rascunho",
                    workflow_state=runtime.dump(bundle, wf),
                    email=user.email,
                    created_at=now,
                    updated_at=now,
                ),
            )
            step = self._after_step(
                session,
                chamado,
                wf,
                bundle,
                now,
                draft=lambda row: self._prefill(bundle, row, user),
                new=True,
            )
            corewrite.update(session, chamado)
            self._audit(
                session,
                chamado,
                actor.id,
                "chamado.criado",
                f"Chamado {chamado.protocolo} criado",
                now=now,
            )
            first = next((t for t in step.created if t.group == tasks.REQUESTER_GROUP), None)
            return chamado, first

    def requester_task(self, actor: Actor, chamado_id: int) -> HumanTask | None:
        """The caller's open task on one of their tickets, if any (one indexed query)."""
        with self.reading() as session:
            return session.scalar(
                select(HumanTask)
                .options(lazyload("*"))
                .where(
                    HumanTask.chamado_id == chamado_id,
                    HumanTask.state == "ready",
                    HumanTask.assignee_id == actor.id,
                    HumanTask.group == tasks.REQUESTER_GROUP,
                )
                .limit(1)
            )

    def my_chamados(self, actor: Actor) -> list[tuple[Chamado, HumanTask | None]]:
        with self.reading() as session:
            rows = session.scalars(
                select(Chamado)
                .where(Chamado.requester_id == actor.id)
                .order_by(Chamado.created_at.desc(), Chamado.id.desc())
            ).all()
            open_tasks = {
                t.chamado_id: t
                for t in session.scalars(
                    select(HumanTask).where(
                        HumanTask.chamado_id.in_([c.id for c in rows]),
                        HumanTask.state == "ready",
                        HumanTask.assignee_id == actor.id,
                        HumanTask.group == tasks.REQUESTER_GROUP,
                    )
                )
            }
            return [(c, open_tasks.get(c.id)) for c in rows]

    def task_form(self, actor: Actor, task_id: int) -> TaskForm:
        with self.reading() as session:
            task = self._owned_ready_task(session, actor, task_id)
            chamado = task.chamado
            bundle = self.bundle(session, chamado.process_version_id)
            last = self._last_submission_data(session, chamado.id)
            schema, ui = self._form(session, bundle, task, last)
            data = copy.deepcopy(task.draft_data or {})
            form = TaskForm(
                task=task,
                chamado=chamado,
                schema=schema,
                ui=ui,
                data=data,
                step=task.draft_step,
                attachments=self._attachments(session, chamado.id),
            )
            if task.group == tasks.REQUESTER_GROUP and chamado.adjustment_rounds:
                form.adjustment_request = self._last_public_message(session, chamado.id, "ajuste")
            if task.group != tasks.REQUESTER_GROUP:
                wf_data = self._workflow_data(session, chamado, bundle)
                form.data = data
                form.adjustments_left = self._adjustments_left(wf_data)
            return form

    def save_draft(
        self, actor: Actor, task_id: int, data: dict[str, Any], step: str | None
    ) -> None:
        with self.transaction() as session:
            task = self._owned_ready_task(session, actor, task_id, lock_ticket=True)
            task.draft_data = copy.deepcopy(data)
            task.draft_step = step

    def complete_task(
        self, actor: Actor, task_id: int, data: dict[str, Any], expected_version: int
    ) -> Chamado:
        """Validate the form on the server, run the task and step the workflow.

        Rows are written with Core statements (engine.corewrite), the ticket last and only
        if its version is still the one the form was opened on.
        """
        now = self.clock()
        with self.transaction() as session, session.no_autoflush:
            locked = self._lock_task(session, actor, task_id)
            task, last = locked.task, locked.last_submission
            chamado = task.chamado
            if chamado.version != expected_version:
                raise Conflict(STALE_CHAMADO)
            bundle = self.bundle(session, chamado.process_version_id)
            requester_step = task.group == tasks.REQUESTER_GROUP
            keep = self._kept_values(task, last)
            schema = self._checked_schema(session, bundle, task, locked.catalogs_revision, keep)
            clean = self._keep_schema_fields(schema, data)
            wf = runtime.load(bundle, chamado.workflow_state)
            spiff_task = runtime.ready_task(wf, task.task_guid)
            errors = forms.validate(
                schema, clean, ui=bundle.forms.get(task.form_ui_schema or "", {})
            )
            for field, message in self._domain_checks(session, clean, spiff_task.data).items():
                errors.setdefault(field, message)  # the schema's message, if any, comes first
            if errors:
                raise ValidationFailed(errors)
            if requester_step:
                clean.update(self._analysis_deadline(chamado, spiff_task.data, now))
            with workflow_time(self.clock):
                runtime.complete(wf, spiff_task, clean)
            chamado.workflow_state = runtime.dump(bundle, wf)
            chamado.updated_at = now
            task.state = "completed"
            task.completed_at = now
            task.completed_by_id = actor.id
            task.draft_data = None
            # The task row is not locked: a release or reassignment since it was read
            # makes this change nothing.
            if corewrite.update(session, task, state="ready", assignee_id=actor.id) != 1:
                raise Conflict(
                    "Esta tarefa mudou de responsável enquanto você a preenchia; nada foi "
                    "gravado. Recarregue a página."
                )
            if requester_step:
                self._record_submission(session, chamado, clean, schema, keep, actor, now)
            else:
                self._record_decision(session, chamado, task, clean, actor, now)

            def draft(row: HumanTask) -> dict[str, Any] | None:
                # A new adjustment round starts from what was last sent.
                if row.group != tasks.REQUESTER_GROUP:
                    return None
                return copy.deepcopy(last)

            step = self._after_step(session, chamado, wf, bundle, now, draft)
            self._audit_outcome(session, chamado, wf, bundle, actor, now)
            self._mail_after_task(session, chamado, task, clean, step, now)
            self._write_chamado(session, chamado, expected_version)
            return chamado

    def tracking(self, actor: Actor, chamado_id: int) -> ChamadoView:
        with self.reading() as session:
            chamado = session.get(Chamado, chamado_id)
            # Another person's ticket is "not found": its existence is not disclosed.
            if chamado is None or chamado.requester_id != actor.id:
                raise NotFound("Chamado não encontrado.")
            view = self._view(session, chamado, public_only=True)
            view.requester_task = next(
                (t for t in view.open_tasks if t.group == tasks.REQUESTER_GROUP), None
            )
            if view.requester_task and chamado.adjustment_rounds:
                view.adjustment_request = self._last_public_message(session, chamado.id, "ajuste")
            return view

    def add_attachment(
        self, actor: Actor, task_id: int, filename: str, content: bytes
    ) -> dict[str, Any]:
        with self.transaction() as session:
            task = self._owned_ready_task(session, actor, task_id, lock_ticket=True)
            if task.group != tasks.REQUESTER_GROUP:
                raise Forbidden("Anexos são enviados pelo(a) solicitante.")
            used = session.scalar(
                select(func.coalesce(func.sum(Attachment.size), 0)).where(
                    Attachment.chamado_id == task.chamado_id, Attachment.removed.is_(False)
                )
            )
            detected = check_upload(
                filename,
                content,
                int(used or 0),
                self.settings.attachment_max_bytes,
                self.settings.attachments_per_chamado_max_bytes,
            )
            row = Attachment(
                chamado_id=task.chamado_id,
                uploaded_by_id=actor.id,
                filename=detected.safe_filename,
                content_type=detected.content_type,
                size=detected.size,
                sha256=detected.sha256,
                content=content,
                created_at=self.clock(),
            )
            session.add(row)
            session.flush()
            return {"id": row.id, "nome": row.filename, "tamanho": row.size}

    def remove_attachment(self, actor: Actor, task_id: int, attachment_id: int) -> None:
        with self.transaction() as session:
            task = self._owned_ready_task(session, actor, task_id, lock_ticket=True)
            row = session.get(Attachment, attachment_id)
            if row is None or row.chamado_id != task.chamado_id:
                raise NotFound("Anexo não encontrado.")
            submitted = any(
                any(a.get("id") == attachment_id for a in s.data.get("anexos", []))
                for s in session.scalars(
                    select(Submission).where(Submission.chamado_id == task.chamado_id)
                )
            )
            # A file already sent to analysis stays in the record; it just leaves the draft.
            if not submitted:
                row.removed = True

    def attachment(self, actor: Actor, attachment_id: int) -> tuple[Attachment, bytes]:
        with self.reading() as session:
            row = session.get(Attachment, attachment_id)
            if row is None:
                raise NotFound("Anexo não encontrado.")
            chamado = session.get(Chamado, row.chamado_id)
            assert chamado is not None
            if chamado.requester_id != actor.id and not (actor.roles & STAFF_ROLES):
                raise NotFound("Anexo não encontrado.")
            return row, row.content
