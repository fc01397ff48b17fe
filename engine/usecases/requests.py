"""Requester use cases: open a chamado, fill and send its form, follow it, attach files."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.orm import Session, lazyload

from engine import (
    access_log,
    corewrite,
    forms,
    incidents,
    listing,
    policy,
    runtime,
    specs,
    tasks,
)
from engine.attachments import check_upload
from engine.clock import workflow_time
from engine.errors import Conflict, Forbidden, ModelRuntimeError, NotFound, ValidationFailed
from engine.models import (
    TASK_READY,
    Attachment,
    Chamado,
    HumanTask,
    Submission,
)
from engine.protocol import next_protocolo
from engine.scripting import acting_as
from engine.usecases.base import (
    STAFF_ROLES,
    STALE_CHAMADO,
    Actor,
    ChamadoView,
    MirroredRow,
    TaskForm,
)
from engine.usecases.recording import Recording

_TASKS = HumanTask.__table__
# The draft of a task that is still ready and its holder's (the row is not locked).
_KEEP_DRAFT = (
    update(_TASKS)
    .where(
        _TASKS.c.id == bindparam("task_id"),
        _TASKS.c.state == TASK_READY,
        _TASKS.c.assignee_id == bindparam("holder_id"),
    )
    .values(draft_data=bindparam("draft"))
)
# The same for an admin completing the task on someone's behalf: whoever holds it.
_KEEP_DRAFT_ANY_HOLDER = (
    update(_TASKS)
    .where(_TASKS.c.id == bindparam("task_id"), _TASKS.c.state == TASK_READY)
    .values(draft_data=bindparam("draft"))
)
# Only admins complete a task that is not theirs (audited as such).
ADMIN_ROLES = frozenset({"admin"})


@dataclass(frozen=True)
class ServiceInfo:
    """A process as the "Serviços" page lists it."""

    process_id: str
    title: str
    description: str
    start_label: str


class Requests(Recording):
    def start_chamado(self, actor: Actor, process_id: str) -> Chamado:
        """Start an instance of a deployed process on its latest published version."""
        return self.start_instance(actor, process_id)[0]

    def start_instance(self, actor: Actor, process_id: str) -> tuple[Chamado, HumanTask | None]:
        """Start an instance; returns it with the requester's first task, if it has one.

        If the model fails in its first steps the ticket is created all the same, as it
        was before them, in a technical incident (engine.incidents): ``incident_at`` set,
        no task.
        """
        now = self.clock()
        with self.transaction() as session:
            user, version_id = self._starter(session, actor.id, process_id)
            bundle = self.bundle(session, version_id)
            failure: ModelRuntimeError | None = None
            try:
                who = self._script_user(session, user.id)
                facts = self._instance_facts(session, bundle, None, initiator_id=user.id)
                with workflow_time(self.clock), acting_as(who, facts):
                    wf = runtime.start(bundle)
            except ModelRuntimeError as exc:
                failure, wf = exc, runtime.create(bundle)
            # The status the first step gives it, in the INSERT: the step's rows then
            # leave nothing to write unless they change something else.
            status = tasks.status_of(bundle, wf) if failure is None else None
            chamado = corewrite.insert(
                session,
                Chamado(
                    protocolo=next_protocolo(session, now.year),
                    requester_id=user.id,
                    process_version_id=bundle.version_id,
                    status=status.code if status else "",
                    status_label=status.label if status else None,
                    status_tone=status.tone if status else None,
                    workflow_state=runtime.dump(bundle, wf),
                    email=user.email,
                    created_at=now,
                    updated_at=now,
                ),
            )
            self._audit(
                session,
                chamado,
                actor.id,
                "chamado.criado",
                f"{bundle.policy.title}: {chamado.protocolo} criado",
                now=now,
            )
            if failure is not None:
                action = incidents.PendingAction(incidents.START)
                self._open_incident(session, chamado, bundle, failure, action, actor.id, now)
                corewrite.update(session, chamado)
                return chamado, None
            step = self._after_step(
                session,
                chamado,
                wf,
                bundle,
                now,
                draft=lambda row: self._prefill(bundle, row, user),
                new=True,
            )
            self._announce(session, chamado, bundle, wf, step, now, actor)
            corewrite.update(session, chamado)
            first = next((t for t in step.created if t.group == tasks.REQUESTER_GROUP), None)
            return chamado, first

    def services(self, include_unlisted: bool = False) -> list[ServiceInfo]:
        """The published processes a person can start, as their models describe them.

        ``listed="false"`` keeps a process off the "Serviços" page only: it is started
        from a link of its own (the LGPD erasure request, from "Meus dados").
        """
        with self.reading() as session:
            found = []
            for process_id, version_id in self._published_versions(session):
                declared = self.bundle(session, version_id).policy
                if declared.listed or include_unlisted:
                    found.append(
                        ServiceInfo(
                            process_id,
                            declared.title,
                            declared.description,
                            declared.start_label,
                        )
                    )
            return sorted(found, key=lambda s: s.title.casefold())

    def service(self, process_id: str) -> ServiceInfo:
        found = next(
            (s for s in self.services(include_unlisted=True) if s.process_id == process_id),
            None,
        )
        if found is None:
            raise NotFound("Serviço não encontrado.")
        return found

    def requester_task(self, actor: Actor, chamado_id: int) -> HumanTask | None:
        """The caller's open task on one of their tickets, if any (one indexed query)."""
        with self.reading() as session:
            return session.scalar(
                select(HumanTask)
                .options(lazyload("*"))
                .where(
                    HumanTask.chamado_id == chamado_id,
                    HumanTask.state == TASK_READY,
                    HumanTask.assignee_id == actor.id,
                    HumanTask.group == tasks.REQUESTER_GROUP,
                )
                .limit(1)
            )

    def my_chamados(
        self, actor: Actor, request: listing.ListRequest | None = None
    ) -> listing.Page[tuple[Chamado, HumanTask | None]]:
        """One page of the caller's tickets (open ones unless asked), each with the
        caller's open task on it; a page costs the page, not the caller's history."""
        with self.reading() as session:
            return listing.requester_chamados(
                session, actor.id, request or listing.first_page(listing.CHAMADOS)
            )

    def my_tasks(
        self, actor: Actor, request: listing.ListRequest | None = None
    ) -> listing.Page[HumanTask]:
        """One page of the caller's ready tasks: on their tickets, and analyses they hold."""
        with self.reading() as session:
            return listing.assigned_tasks(
                session,
                actor.id,
                [tasks.REQUESTER_GROUP, *self._groups(session, actor)],
                request or listing.first_page(listing.TASKS),
            )

    def task_form(self, actor: Actor, task_id: int, on_behalf: bool = False) -> TaskForm:
        """The form of the actor's ready task. ``on_behalf``: an admin reads any ready
        task's form, to complete it for its holder (complete_task_on_behalf); the read
        of the ticket's data is recorded like any staff read (engine.access_log)."""
        if on_behalf:
            self._require_roles(actor, ADMIN_ROLES)
        with self.reading() as session:
            if on_behalf:
                task = self._check_ready(session.get(HumanTask, task_id))
                self._record_access(session, actor, task.chamado, access_log.API)
            else:
                task = self._owned_ready_task(session, actor, task_id)
            chamado = task.chamado
            bundle = self.bundle(session, chamado.process_version_id)
            last, revision = self._last_submission_and_revision(
                session, chamado.id, task.form_schema
            )
            schema, ui = self._form(session, bundle, task, last, revision)
            data = copy.deepcopy(task.draft_data or {})
            info = bundle.user_tasks.get(task.task_name)
            instructions = info.instructions if info else None
            element = bundle.policy.element(task.task_name)
            # The instance's data only when the model's rules or texts read it: loading the
            # workflow is the dearest part of showing a form, and most tasks need none.
            wf_data = (
                self._workflow_data(session, chamado, bundle)
                if element.option_rules or instructions
                else {}
            )
            schema = self.offered_options(bundle, task, schema, wf_data)
            form = TaskForm(
                task=task,
                chamado=chamado,
                schema=schema,
                ui=ui,
                data=data,
                step=task.draft_step,
                attachments=self._attachments(session, chamado.id),
                instructions=policy.render(instructions, wf_data),
                request_message=self._request_message(session, task),
                submit_label=element.submit_label
                or (
                    "Enviar"
                    if task.group == tasks.REQUESTER_GROUP and task.form_schema
                    else "Concluir"  # staff decisions; tasks without a form (read, go on)
                ),
            )
            return form

    def save_draft(
        self, actor: Actor, task_id: int, data: dict[str, Any], step: str | None
    ) -> None:
        with self.transaction() as session:
            task = self._owned_ready_task(session, actor, task_id, lock_ticket=True)
            task.draft_data = copy.deepcopy(data)
            task.draft_step = step

    def complete_task_on_behalf(
        self, actor: Actor, task_id: int, data: dict[str, Any], expected_version: int
    ) -> Chamado:
        """An admin completes any ready task — the requester's, a group's, claimed or not —
        as its holder would: the same form checks and the same step, with an audit row
        saying an admin did it on someone's behalf (who held it, which group). For
        integrations and for work nobody can do any more (a group with no members)."""
        self._require_roles(actor, ADMIN_ROLES)
        return self.complete_task(actor, task_id, data, expected_version, on_behalf=True)

    def complete_task(
        self,
        actor: Actor,
        task_id: int,
        data: dict[str, Any],
        expected_version: int,
        on_behalf: bool = False,
    ) -> Chamado:
        """Validate the form on the server, run the task and step the workflow.

        Rows are written with Core statements (engine.corewrite), the ticket last and only
        if its version is still the one the form was opened on.

        If the model fails while the step runs, the completion is not lost: the ticket
        keeps its saved state and goes into a technical incident holding this completion
        (the form's data) for an admin to run again; the task stays open with the data
        sent as its draft, and the ticket is returned with ``incident_at`` set (the caller
        tells the person their data was received: engine.incidents.RECEIVED). A ticket
        already in an incident refuses completions: the pending one would go stale.
        """
        now = self.clock()
        with self.transaction() as session, session.no_autoflush:
            locked = (
                self._lock_any_ready_task(session, task_id)
                if on_behalf
                else self._lock_task(session, actor, task_id)
            )
            task, last = locked.task, locked.last_submission
            holder_id = task.assignee_id
            chamado = task.chamado
            if chamado.version != expected_version:
                raise Conflict(STALE_CHAMADO)
            if chamado.incident_at is not None:
                raise Conflict(incidents.BLOCKED)
            bundle = self.bundle(session, chamado.process_version_id)
            keep = self._kept_values(task, last)
            schema = self._checked_schema(session, bundle, task, locked.catalogs_revision, keep)
            clean = self._keep_schema_fields(schema, data)
            wf = runtime.load(bundle, chamado.workflow_state)
            spiff_task = runtime.ready_task(wf, task.task_guid)
            errors = self._sending_errors(session, bundle, task, schema, clean, spiff_task)
            if errors:
                raise ValidationFailed(errors)
            failure = self._run_completion(
                session, chamado, bundle, wf, spiff_task, clean, actor, now
            )
            if failure is not None:
                self._hold_completion(session, task, data, None if on_behalf else actor)
                self._hold_in_incident(session, chamado, bundle, task, clean, failure, actor, now)
                self._write_chamado(session, chamado, expected_version)
                return chamado
            # The task row is not locked: a release or reassignment since it was read
            # makes this change nothing (an admin's completion on someone's behalf does
            # not depend on who holds it).
            expect: dict[str, Any] = {"state": TASK_READY}
            if not on_behalf:
                expect["assignee_id"] = actor.id
            self._finish_completion(
                session,
                chamado,
                task,
                (clean, schema, last),
                bundle,
                wf,
                actor,
                now,
                expect,
                catalogs_revision=locked.catalogs_revision,
                mirrored=locked.mirrored_after(),
            )
            if on_behalf:
                self._audit_on_behalf(session, chamado, task, holder_id, actor, now)
            self._write_chamado(session, chamado, expected_version)
            return chamado

    def _audit_on_behalf(
        self,
        session: Session,
        chamado: Chamado,
        task: HumanTask,
        holder_id: int | None,
        actor: Actor,
        now: datetime,
    ) -> None:
        """The trace of an admin's completion: whose task it was (the holder, else the
        group's queue), kept with the ticket's staff history."""
        if holder_id is not None:
            holder = self._user(session, holder_id).display_name
            whom = f"em nome de {holder}"
        else:
            whom = f"em nome do grupo {task.group}"
        self._audit(
            session,
            chamado,
            actor.id,
            "task_completed_by_admin",
            f"Tarefa “{task.title}” concluída por administrador(a) {whom}",
            now=now,
            public=False,
            details={
                "task_id": task.id,
                "element": task.task_name,
                "group": task.group,
                "holder_id": holder_id,
            },
        )

    def _sending_errors(
        self,
        session: Session,
        bundle: specs.ProcessBundle,
        task: HumanTask,
        schema: dict[str, Any],
        clean: dict[str, Any],
        spiff_task: Any,
    ) -> dict[str, str]:
        """What keeps a sending from being taken: the schema's messages, then the model's
        own checks on fields the schema let through."""
        errors = forms.validate(schema, clean, ui=bundle.forms.get(task.form_ui_schema or "", {}))
        checks = self._domain_checks(session, bundle, task, schema, clean, spiff_task.data)
        for field, message in checks.items():
            errors.setdefault(field, message)  # the schema's message, if any, comes first
        return errors

    def _run_completion(
        self,
        session: Session,
        chamado: Chamado,
        bundle: specs.ProcessBundle,
        wf: Any,
        spiff_task: Any,
        clean: dict[str, Any],
        actor: Actor,
        now: datetime,
    ) -> ModelRuntimeError | None:
        """Run the task in the workflow, with the model's business deadlines; the model's
        failure comes back (the step did not happen: the deadline it set is undone)."""
        due_before = chamado.analysis_due_at
        deadlines = self._business_deadlines(bundle, chamado, {**spiff_task.data, **clean}, now)
        try:
            who = self._script_user(session, actor.id)
            facts = self._instance_facts(
                session, bundle, chamado, completing=(spiff_task.task_spec.bpmn_id, actor.id)
            )
            with workflow_time(self.clock), acting_as(who, facts):
                runtime.complete(wf, spiff_task, {**clean, **deadlines})
        except ModelRuntimeError as failure:
            chamado.analysis_due_at = due_before
            return failure
        return None

    def _hold_in_incident(
        self,
        session: Session,
        chamado: Chamado,
        bundle: specs.ProcessBundle,
        task: HumanTask,
        clean: dict[str, Any],
        failure: ModelRuntimeError,
        actor: Actor,
        now: datetime,
    ) -> None:
        """The ticket stops in a technical incident holding this completion, for an
        admin's "Tentar novamente"."""
        action = incidents.PendingAction(
            incidents.TASK,
            element=task.task_name,
            title=task.title,
            task_id=task.id,
            actor_id=actor.id,
            data=clean,
        )
        self._open_incident(session, chamado, bundle, failure, action, actor.id, now)

    @staticmethod
    def _hold_completion(
        session: Session, task: HumanTask, data: dict[str, Any], actor: Actor | None
    ) -> None:
        """A completion the model failed to run: the task stays open, what was sent is
        its draft (the person finds their data as they sent it; often it is the draft
        already, hence a plain UPDATE: it matches the row even when nothing changes).
        ``actor`` None: an admin's completion on someone's behalf, whoever holds it."""
        draft = copy.deepcopy(data)
        kept = session.connection().execute(
            _KEEP_DRAFT if actor is not None else _KEEP_DRAFT_ANY_HOLDER,
            {"task_id": task.id, "holder_id": actor.id, "draft": draft}
            if actor is not None
            else {"task_id": task.id, "draft": draft},
        )
        if kept.rowcount != 1:
            raise Conflict(
                "Esta tarefa mudou de responsável enquanto você a preenchia; nada foi "
                "gravado. Recarregue a página."
            )

    def _finish_completion(
        self,
        session: Session,
        chamado: Chamado,
        task: HumanTask,
        sent: tuple[dict[str, Any], dict[str, Any], dict[str, Any] | None],
        bundle: specs.ProcessBundle,
        wf: Any,
        actor: Actor,
        now: datetime,
        expect: dict[str, Any],
        catalogs_revision: int | None = None,
        mirrored: tuple[list[MirroredRow], list[MirroredRow]] | None = None,
    ) -> None:
        """Everything after the workflow ran ``task``, but writing the ticket itself:
        the task row (if it still matches ``expect``), the submission (``sent``: the data,
        the schema it was checked against, the form's previous sending), the rows of the
        next steps, the announcements (``catalogs_revision``: as the step read it;
        ``mirrored``: the ticket's other open rows, when read with the lock)."""
        clean, schema, last = sent
        chamado.workflow_state = runtime.dump(bundle, wf)
        chamado.updated_at = now
        task.state = "completed"
        task.completed_at = now
        task.completed_by_id = actor.id
        if chamado.first_analysis_at is None and task.group != tasks.REQUESTER_GROUP:
            # A staff task completed before anyone claimed it (an admin, an outage's
            # resolution): the team's first analysis, written with the ticket's row.
            chamado.first_analysis_at = now
        task.draft_data = None
        if corewrite.update(session, task, **expect) != 1:
            raise Conflict(
                "Esta tarefa mudou de responsável enquanto você a preenchia; nada foi "
                "gravado. Recarregue a página."
            )
        # A Core insert, already executed: a new task's draft query sees it.
        self._record_submission(session, chamado, task, clean, schema, last, bundle, actor, now)
        draft = self._new_row_draft(session, bundle, chamado, chamado.requester)
        step = self._after_step(
            session, chamado, wf, bundle, now, draft, mirrored=mirrored, completed=task
        )
        self._announce(
            session,
            chamado,
            bundle,
            wf,
            step,
            now,
            actor,
            completed=task,
            catalogs_revision=catalogs_revision,
        )

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
            if view.requester_task is not None:
                # The model's message when that task opened: a public timeline entry,
                # among the events the view has read already (as _request_message).
                opened = view.requester_task.created_at
                said = [e for e in view.events if e.action == "mensagem" and e.at >= opened]
                view.request_message = max(said, key=lambda e: e.id).message if said else None
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
            # A file already sent to analysis stays in the record; it just leaves the draft.
            if not self._submitted(session, task.chamado_id, attachment_id):
                row.removed = True

    @staticmethod
    def _submitted(session: Session, chamado_id: int, attachment_id: int) -> bool:
        """Whether a sending of the ticket's forms carried the file (else it is in a draft)."""
        return any(
            attachment_id in forms.attachment_ids(s.data)
            for s in session.scalars(select(Submission).where(Submission.chamado_id == chamado_id))
        )

    def _staff_may_download(
        self, session: Session, actor: Actor, chamado: Chamado, attachment_id: int
    ) -> bool:
        """Staff read the files a requester sent on a ticket they may read; a file still
        (or only ever) in a draft is the requester's alone. Admins, who complete a
        person's open task on their behalf (complete_task_on_behalf), read its draft's."""
        if not actor.roles & STAFF_ROLES or not self._may_read_ticket(session, actor, chamado):
            return False
        return "admin" in actor.roles or self._submitted(session, chamado.id, attachment_id)

    def attachment(self, actor: Actor, attachment_id: int) -> tuple[Attachment, bytes]:
        with self.reading() as session:
            row = session.get(Attachment, attachment_id)
            if row is None:
                raise NotFound("Anexo não encontrado.")
            chamado = session.get(Chamado, row.chamado_id)
            assert chamado is not None
            if chamado.requester_id != actor.id and not self._staff_may_download(
                session, actor, chamado, row.id
            ):
                raise NotFound("Anexo não encontrado.")
            # Staff downloading a person's file is a read of their data (engine.access_log).
            self._record_access(
                session, actor, chamado, access_log.ATTACHMENT, item=f"anexo:{row.id}"
            )
            return row, row.content
