"""Use cases: the one place that opens transactions.

Each public method runs in one transaction; a domain error rolls it back so a
failed or stale action changes nothing. Every change to a ticket first bumps
its version with a conditional UPDATE, so of two concurrent actions exactly one
proceeds and the other gets a :class:`Conflict`.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol
from uuid import UUID

from SpiffWorkflow import TaskState
from sqlalchemy import Engine, func, select, update
from sqlalchemy.orm import Session, sessionmaker

from engine import (
    business_days,
    catalogs,
    context,
    forms,
    notifications,
    orgaos,
    runtime,
    scenarios,
    schema,
    sla,
    specs,
    status,
    tasks,
    timers,
    users,
)
from engine.attachments import check_upload
from engine.clock import workflow_time
from engine.db import make_engine, make_session_factory
from engine.errors import Conflict, Forbidden, NotFound, TaskNotReady, ValidationFailed
from engine.models import (
    Attachment,
    AuditEvent,
    Chamado,
    HumanTask,
    ProcessVersion,
    Submission,
    User,
    WorkflowTimer,
)
from engine.protocol import next_protocolo
from engine.queue import QueueFilters, QueuePage, list_queue, orgaos_in_queue
from engine.settings import Settings

MAIN_PROCESS = "chamado"
ANALYST_ROLES = frozenset({"analyst", "supervisor"})
STAFF_ROLES = frozenset({"analyst", "supervisor", "admin"})


class Actor(Protocol):
    id: int
    roles: frozenset[str]


@dataclass(frozen=True)
class ActorRef:
    """An actor for callers without a web session (CLI, scheduler, tests, benchmarks)."""

    id: int
    roles: frozenset[str] = frozenset()


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class TaskForm:
    """Everything a page needs to render and post a task's form."""

    task: HumanTask
    chamado: Chamado
    schema: dict[str, Any]
    ui: dict[str, Any]
    data: dict[str, Any]
    step: str | None
    attachments: list[Attachment]
    adjustment_request: str | None = None
    adjustments_left: int | None = None


@dataclass
class ChamadoView:
    chamado: Chamado
    data: dict[str, Any]
    schema: dict[str, Any]
    ui: dict[str, Any]
    events: list[AuditEvent]
    attachments: list[Attachment]
    open_tasks: list[HumanTask]
    changes: list[Any] = field(default_factory=list)
    analysis_task: HumanTask | None = None
    requester_task: HumanTask | None = None
    adjustment_request: str | None = None


@dataclass
class Chamados:
    settings: Settings
    db: Engine
    session_factory: sessionmaker[Session]
    clock: Callable[[], datetime] = _utcnow
    spec_cache: specs.SpecCache = field(default_factory=specs.SpecCache)
    _bootstrapped: threading.Event = field(default_factory=threading.Event)

    @classmethod
    def from_settings(
        cls, settings: Settings, clock: Callable[[], datetime] | None = None
    ) -> Chamados:
        db = make_engine(settings.database_url)
        return cls(
            settings=settings,
            db=db,
            session_factory=make_session_factory(db),
            clock=clock or _utcnow,
        )

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        with self.session_factory() as session, session.begin():
            yield session

    # ----------------------------------------------------------------- set-up

    def init_database(self, load_reference_data: bool = True) -> None:
        """Migrate the schema, deploy processes/ and seed catalogs and órgãos (idempotent)."""
        self.migrate()
        with self.transaction() as session:
            self.deploy_processes(session)
            scenarios.seed(session, self.settings.processes_dir, self.clock())
            if load_reference_data:
                catalogs.seed_catalogs(session, self.settings.data_dir / "catalogs.json")
                orgaos.load_orgaos(session, self.settings.data_dir / "orgaos_federais_siorg.csv")
            if self.settings.bootstrap_admin_cpf:
                users.ensure_bootstrap_admin(session, self.settings.bootstrap_admin_cpf)

    def migrate(self) -> None:
        schema.upgrade(self.db)

    def deploy_processes(self, session: Session) -> dict[str, int]:
        """Store a new version for every model in processes/ whose content changed."""
        deployed = {}
        found = specs.read_process_dir(self.settings.processes_dir, self.settings.forms_dir)
        for _stem, (bpmn, form_texts) in found.items():
            bundle = specs.parse_process(bpmn, form_texts, self.settings.lane_groups)
            row = session.scalar(
                select(ProcessVersion).where(
                    ProcessVersion.process_id == bundle.process_id,
                    ProcessVersion.content_hash == bundle.content_hash,
                )
            )
            if row is None:
                row = ProcessVersion(
                    process_id=bundle.process_id,
                    content_hash=bundle.content_hash,
                    bpmn_xml=bpmn.decode("utf-8"),
                    forms=form_texts,
                    note="Implantado a partir de processes/",
                    created_at=self.clock(),
                    published_at=self.clock(),
                )
                session.add(row)
                session.flush()
            deployed[bundle.process_id] = row.id
        return deployed

    def bundle(self, session: Session, version_id: int) -> specs.ProcessBundle:
        cached = self.spec_cache.get(version_id)
        if cached is not None:
            return cached
        row = session.get(ProcessVersion, version_id)
        if row is None:
            raise NotFound("Versão de processo não encontrada.")
        bundle = specs.parse_process(
            row.bpmn_xml.encode("utf-8"), dict(row.forms), self.settings.lane_groups, row.id
        )
        return self.spec_cache.put(bundle)

    def _current_version_id(self, session: Session, process_id: str) -> int:
        version_id = session.scalar(
            select(func.max(ProcessVersion.id)).where(
                ProcessVersion.process_id == process_id, ProcessVersion.published_at.is_not(None)
            )
        )
        if version_id is None:
            raise NotFound(f"O processo {process_id!r} não está implantado.")
        return version_id

    # ------------------------------------------------------------ requester

    def start_chamado(self, actor: Actor, process_id: str = MAIN_PROCESS) -> Chamado:
        """Start an instance of a deployed process on its latest published version."""
        now = self.clock()
        with self.transaction() as session:
            user = self._user(session, actor.id)
            bundle = self.bundle(session, self._current_version_id(session, process_id))
            with workflow_time(self.clock):
                wf = runtime.start(bundle)
            chamado = Chamado(
                protocolo=next_protocolo(session, now.year),
                requester_id=user.id,
                process_version_id=bundle.version_id,
                status="rascunho",
                workflow_state=runtime.dump(bundle, wf),
                email=user.email,
                created_at=now,
                updated_at=now,
            )
            session.add(chamado)
            session.flush()
            created = self._after_step(session, chamado, wf, bundle, now)
            for row in created:
                row.draft_data = self._prefill(bundle, row, user)
            self._audit(
                session,
                chamado,
                actor.id,
                "chamado.criado",
                f"Chamado {chamado.protocolo} criado",
                now=now,
            )
            return chamado

    def my_chamados(self, actor: Actor) -> list[tuple[Chamado, HumanTask | None]]:
        with self.session_factory() as session:
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
        with self.session_factory() as session:
            task = self._owned_ready_task(session, actor, task_id)
            chamado = task.chamado
            bundle = self.bundle(session, chamado.process_version_id)
            schema, ui = self._form(session, bundle, task)
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
                form.data = {**self._analysis_defaults(), **data}
                form.adjustments_left = self._adjustments_left(wf_data)
            return form

    def save_draft(
        self, actor: Actor, task_id: int, data: dict[str, Any], step: str | None
    ) -> None:
        with self.transaction() as session:
            task = self._owned_ready_task(session, actor, task_id)
            task.draft_data = copy.deepcopy(data)
            task.draft_step = step

    def complete_task(
        self, actor: Actor, task_id: int, data: dict[str, Any], expected_version: int
    ) -> Chamado:
        """Validate the form on the server, run the task and step the workflow."""
        now = self.clock()
        with self.transaction() as session:
            task = self._owned_ready_task(session, actor, task_id, for_update=True)
            chamado = task.chamado
            self._bump_version(session, chamado, expected_version)
            bundle = self.bundle(session, chamado.process_version_id)
            schema, _ui = self._form(session, bundle, task)
            clean = self._keep_schema_fields(schema, data)
            wf = runtime.load(bundle, chamado.workflow_state)
            spiff_task = runtime.ready_task(wf, task.task_guid)
            errors = forms.validate(schema, clean)
            errors.update(self._domain_checks(session, clean, spiff_task.data))
            if errors:
                raise ValidationFailed(errors)
            if task.group == tasks.REQUESTER_GROUP:
                clean.update(self._analysis_deadline(chamado, spiff_task.data, now))
            with workflow_time(self.clock):
                runtime.complete(wf, spiff_task, clean)
            chamado.workflow_state = runtime.dump(bundle, wf)
            chamado.updated_at = now
            task.state = "completed"
            task.completed_at = now
            task.completed_by_id = actor.id
            task.draft_data = None
            if task.group == tasks.REQUESTER_GROUP:
                self._record_submission(session, chamado, clean, schema, actor, now)
            else:
                self._record_decision(session, chamado, task, clean, actor, now)
            created = self._after_step(session, chamado, wf, bundle, now)
            for row in created:
                if row.group == tasks.REQUESTER_GROUP:
                    row.draft_data = self._last_submission_data(session, chamado.id)
            self._audit_outcome(session, chamado, wf, bundle, actor, now)
            self._mail_after_task(session, chamado, task, clean, created, now)
            return chamado

    def _mail_after_task(
        self,
        session: Session,
        chamado: Chamado,
        task: HumanTask,
        data: dict[str, Any],
        created: list[HumanTask],
        now: datetime,
    ) -> None:
        base = self.settings.app_base_url
        if task.group == tasks.REQUESTER_GROUP:
            if chamado.adjustment_rounds == 0:  # the first submission: the receipt
                notifications.registered(session, chamado, data, base, now)
            return
        decision = data.get("decisao")
        if decision == "ajuste":
            adjust = next((t for t in created if t.group == tasks.REQUESTER_GROUP), None)
            notifications.adjustment_requested(
                session, chamado, data.get("ajuste_solicitado"), adjust, base, now
            )
        elif decision == "resolver":
            notifications.resolved(session, chamado, data.get("resposta"), base, now)
        elif decision == "devolver":
            notifications.returned(
                session, chamado, data.get("motivo_devolucao"),
                data.get("justificativa_devolucao"), base, now,
            )

    def tracking(self, actor: Actor, chamado_id: int) -> ChamadoView:
        with self.session_factory() as session:
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

    # ------------------------------------------------------------ attachments

    def add_attachment(
        self, actor: Actor, task_id: int, filename: str, content: bytes
    ) -> dict[str, Any]:
        with self.transaction() as session:
            task = self._owned_ready_task(session, actor, task_id)
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
            task = self._owned_ready_task(session, actor, task_id)
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
        with self.session_factory() as session:
            row = session.get(Attachment, attachment_id)
            if row is None:
                raise NotFound("Anexo não encontrado.")
            chamado = session.get(Chamado, row.chamado_id)
            assert chamado is not None
            if chamado.requester_id != actor.id and not (actor.roles & STAFF_ROLES):
                raise NotFound("Anexo não encontrado.")
            return row, row.content

    # --------------------------------------------------------------- analysts

    def claim(self, actor: Actor, task_id: int) -> None:
        self._require_roles(actor, ANALYST_ROLES)
        with self.transaction() as session:
            result = session.execute(
                update(HumanTask)
                .where(
                    HumanTask.id == task_id,
                    HumanTask.state == "ready",
                    HumanTask.assignee_id.is_(None),
                    HumanTask.group.in_(self._groups(actor)),
                )
                .values(assignee_id=actor.id, claimed_at=self.clock())
            )
            if result.rowcount != 1:
                task = session.get(HumanTask, task_id)
                if task is None or task.group not in self._groups(actor):
                    raise NotFound("Tarefa não encontrada.")
                if task.state != "ready":
                    raise TaskNotReady("Esta tarefa não está mais disponível.")
                raise Conflict("Esta tarefa já foi assumida por outra pessoa.")
            task = session.get(HumanTask, task_id)
            assert task is not None
            self._audit(
                session,
                task.chamado,
                actor.id,
                "tarefa.assumida",
                f"{task.title}: assumida",
                public=False,
            )

    def release(self, actor: Actor, task_id: int) -> None:
        with self.transaction() as session:
            result = session.execute(
                update(HumanTask)
                .where(
                    HumanTask.id == task_id,
                    HumanTask.state == "ready",
                    HumanTask.assignee_id == actor.id,
                    HumanTask.group != tasks.REQUESTER_GROUP,
                )
                .values(assignee_id=None, claimed_at=None)
            )
            if result.rowcount != 1:
                raise Conflict("Você não é responsável por esta tarefa; nada foi alterado.")
            task = session.get(HumanTask, task_id)
            assert task is not None
            self._audit(
                session,
                task.chamado,
                actor.id,
                "tarefa.liberada",
                f"{task.title}: liberada",
                public=False,
            )

    def reassign(self, actor: Actor, task_id: int, to_cpf: str) -> None:
        self._require_roles(actor, frozenset({"supervisor"}))
        with self.transaction() as session:
            target = session.scalar(select(User).where(User.cpf == to_cpf))
            if target is None or not (users.roles_for(session, target.cpf) & ANALYST_ROLES):
                raise ValidationFailed({"analista": "Escolha um(a) analista cadastrado(a)."})
            task = session.get(HumanTask, task_id, with_for_update={"of": HumanTask})
            if task is None or task.group == tasks.REQUESTER_GROUP:
                raise NotFound("Tarefa não encontrada.")
            if task.state != "ready":
                raise TaskNotReady("Esta tarefa não está mais disponível.")
            task.assignee_id = target.id
            task.claimed_at = self.clock()
            self._audit(
                session,
                task.chamado,
                actor.id,
                "tarefa.reatribuida",
                f"{task.title}: atribuída a {target.display_name}",
                public=False,
                details={"para": target.cpf},
            )

    def queue(self, actor: Actor, filters: QueueFilters) -> QueuePage:
        self._require_roles(actor, ANALYST_ROLES)
        with self.session_factory() as session:
            return list_queue(
                session,
                self._groups(actor),
                actor.id,
                filters,
                self.clock(),
                self.settings.queue_page_size,
            )

    def queue_orgaos(self, actor: Actor) -> list[tuple[int, str]]:
        self._require_roles(actor, ANALYST_ROLES)
        with self.session_factory() as session:
            return orgaos_in_queue(session, self._groups(actor))

    def analysts(self) -> list[User]:
        with self.session_factory() as session:
            cpfs = {g.cpf for g in users.list_grants(session, ANALYST_ROLES)}
            return list(session.scalars(select(User).where(User.cpf.in_(cpfs)).order_by(User.name)))

    def analysis(self, actor: Actor, chamado_id: int) -> ChamadoView:
        self._require_roles(actor, STAFF_ROLES)
        with self.session_factory() as session:
            chamado = session.get(Chamado, chamado_id)
            if chamado is None:
                raise NotFound("Chamado não encontrado.")
            view = self._view(session, chamado, public_only=False)
            subs = session.scalars(
                select(Submission)
                .where(Submission.chamado_id == chamado.id)
                .order_by(Submission.round.desc())
                .limit(2)
            ).all()
            if len(subs) == 2:
                labels = {"orgaos": orgaos.Labels(session)}
                view.changes = forms.diff(subs[1].data, subs[0].data, view.schema, labels)
            view.analysis_task = next(
                (t for t in view.open_tasks if t.group != tasks.REQUESTER_GROUP), None
            )
            return view

    # ---------------------------------------------------------------- lookups

    def search_orgaos(self, q: str, limit: int = 15) -> list[tuple[int, str]]:
        with self.session_factory() as session:
            return [
                (o.id, f"{o.sigla} — {o.name}") for o in orgaos.search_orgaos(session, q, limit)
            ]

    def orgao_label(self, orgao_id: Any) -> str | None:
        try:
            key = int(orgao_id)
        except (TypeError, ValueError):
            return None
        with self.session_factory() as session:
            o = orgaos.get_orgao(session, key)
            return f"{o.sigla} — {o.name}" if o else None

    def catalog(self, name: str) -> list[catalogs.CatalogOption]:
        with self.session_factory() as session:
            return catalogs.options(session, name)

    # ------------------------------------------------------------------ timers

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
            row = session.get(WorkflowTimer, timer_id, with_for_update={"of": WorkflowTimer})
            if row is None or row.state != "waiting":
                return False  # fired or cancelled meanwhile by someone else
            chamado = row.chamado
            session.execute(
                update(Chamado).where(Chamado.id == chamado.id).values(version=Chamado.version + 1)
            )
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

    def _analysis_deadline(
        self, chamado: Chamado, wf_data: dict[str, Any], now: datetime
    ) -> dict[str, Any]:
        """Time waiting for the requester never counts: the budget less the time spent."""
        due = sla.analysis_deadline(wf_data, chamado.analysis_seconds, now)
        if due is None:
            return {}
        chamado.analysis_due_at = due
        return {"prazo_analise": due.isoformat()}

    def _after_step(
        self,
        session: Session,
        chamado: Chamado,
        wf: Any,
        bundle: specs.ProcessBundle,
        now: datetime,
    ) -> list[HumanTask]:
        """Bring task rows, timer rows and the SLA clock in line with the workflow."""
        created = tasks.sync(session, chamado, wf, bundle, self.settings.lane_groups, now)
        timers.sync(session, chamado, wf, now)
        session.flush()
        analysing = session.scalar(
            select(func.count())
            .select_from(HumanTask)
            .where(
                HumanTask.chamado_id == chamado.id,
                HumanTask.state == "ready",
                HumanTask.group != tasks.REQUESTER_GROUP,
            )
        )
        if analysing and chamado.analysis_started_at is None:
            chamado.analysis_started_at = now
        elif not analysing and chamado.analysis_started_at is not None:
            chamado.analysis_seconds += business_days.business_seconds(
                chamado.analysis_started_at, now
            )
            chamado.analysis_started_at = None
        return created

    def analysis_clock(self, chamado: Chamado) -> int:
        """Business seconds the analysis has taken so far, waiting for the requester excluded."""
        running = chamado.analysis_started_at
        extra = business_days.business_seconds(running, self.clock()) if running else 0
        return chamado.analysis_seconds + extra

    # ---------------------------------------------------------------- helpers

    def _user(self, session: Session, user_id: int) -> User:
        user = session.get(User, user_id)
        if user is None:
            raise Forbidden("Sessão inválida: entre novamente.")
        return user

    @staticmethod
    def _groups(actor: Actor) -> list[str]:
        return ["analyst"] if actor.roles & ANALYST_ROLES else []

    @staticmethod
    def _require_roles(actor: Actor, roles: frozenset[str]) -> None:
        if not (actor.roles & roles):
            raise Forbidden("Você não tem permissão para esta ação.")

    def _owned_ready_task(
        self, session: Session, actor: Actor, task_id: int, for_update: bool = False
    ) -> HumanTask:
        # FOR UPDATE OF the task row only: PostgreSQL refuses to lock the nullable
        # side of the eager outer joins.
        lock = {"of": HumanTask} if for_update else None
        task = session.get(HumanTask, task_id, with_for_update=lock)
        if task is None:
            raise NotFound("Tarefa não encontrada.")
        if task.group == tasks.REQUESTER_GROUP:
            if task.assignee_id != actor.id:
                raise NotFound("Tarefa não encontrada.")
        elif task.group not in self._groups(actor):
            raise NotFound("Tarefa não encontrada.")
        if task.state != "ready":
            raise TaskNotReady(
                "Esta tarefa já foi concluída ou não está mais disponível; nada foi alterado."
            )
        if task.assignee_id != actor.id:
            raise Conflict("Assuma a tarefa antes de trabalhar nela.")
        return task

    def _bump_version(self, session: Session, chamado: Chamado, expected: int) -> None:
        result = session.execute(
            update(Chamado)
            .where(Chamado.id == chamado.id, Chamado.version == expected)
            .values(version=Chamado.version + 1)
        )
        if result.rowcount != 1:
            raise Conflict(
                "Este chamado foi alterado por outra ação enquanto você o editava; "
                "nada foi gravado. Recarregue a página para ver a situação atual."
            )
        session.refresh(chamado, ["version"])

    def _form(
        self, session: Session, bundle: specs.ProcessBundle, task: HumanTask
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        schema = bundle.forms.get(task.form_schema or "", {})
        ui = bundle.forms.get(task.form_ui_schema or "", {})
        # A retired catalog value stays valid only where the ticket already had it:
        # the last submitted data, never what a post claims.
        keep = self._last_submission_data(session, task.chamado_id) or {}
        resolved = forms.resolve_catalogs(schema, catalogs.all_catalogs(session), keep)
        return resolved, ui

    @staticmethod
    def _keep_schema_fields(schema: dict[str, Any], data: dict[str, Any]) -> dict[str, Any]:
        # Only declared fields reach task data: a posted key could otherwise shadow
        # process variables such as rodadas_ajuste.
        props = schema.get("properties", {})
        return {k: copy.deepcopy(v) for k, v in data.items() if k in props}

    def _domain_checks(
        self, session: Session, data: dict[str, Any], wf_data: dict[str, Any]
    ) -> dict[str, str]:
        errors = {}
        if "orgao" in data and data["orgao"] is not None:
            if orgaos.get_orgao(session, int(data["orgao"])) is None:
                errors["orgao"] = "Órgão não encontrado: escolha um órgão da lista."
        if data.get("decisao") == "ajuste" and self._adjustments_left(wf_data) == 0:
            errors["decisao"] = (
                "O limite de pedidos de ajuste deste chamado foi atingido: "
                "resolva ou devolva o chamado."
            )
        return errors

    @staticmethod
    def _adjustments_left(wf_data: dict[str, Any]) -> int | None:
        if "max_rodadas_ajuste" not in wf_data:
            return None
        return max(0, int(wf_data["max_rodadas_ajuste"]) - int(wf_data.get("rodadas_ajuste", 0)))

    @staticmethod
    def _analysis_defaults() -> dict[str, Any]:
        return {}

    def _workflow_data(
        self, session: Session, chamado: Chamado, bundle: specs.ProcessBundle
    ) -> dict[str, Any]:
        state = session.scalar(select(Chamado.workflow_state).where(Chamado.id == chamado.id))
        return runtime.current_data(runtime.load(bundle, state or ""))

    @staticmethod
    def _prefill(bundle: specs.ProcessBundle, task: HumanTask, user: User) -> dict[str, Any]:
        schema = bundle.forms.get(task.form_schema or "", {})
        sources = {"user.display_name": user.display_name, "user.email": user.email}
        data = {}
        for name, prop in schema.get("properties", {}).items():
            value = sources.get(prop.get("x-prefill", ""))
            if value:
                data[name] = value
        return data

    def _record_submission(
        self,
        session: Session,
        chamado: Chamado,
        data: dict[str, Any],
        schema: dict[str, Any],
        actor: Actor,
        now: datetime,
    ) -> None:
        previous = self._last_submission_data(session, chamado.id)
        round_no = (
            session.scalar(
                select(func.count())
                .select_from(Submission)
                .where(Submission.chamado_id == chamado.id)
            )
            or 0
        )
        session.add(Submission(chamado_id=chamado.id, round=round_no, data=data, submitted_at=now))
        chamado.orgao_id = data.get("orgao")
        chamado.tipo_problema = data.get("tipo_problema")
        chamado.servico = data.get("nome_servico")
        chamado.email = data.get("solicitante_email") or chamado.email
        if chamado.submitted_at is None:
            chamado.submitted_at = now
        if previous is None:
            self._audit(
                session,
                chamado,
                actor.id,
                "chamado.enviado",
                "Enviado para análise",
                now=now,
                details={"dados": data},
            )
        else:
            changes = [
                {"campo": c.field, "titulo": c.title, "antes": c.old, "depois": c.new}
                for c in forms.diff(previous, data, schema)
            ]
            self._audit(
                session,
                chamado,
                actor.id,
                "chamado.ajustado",
                "Solicitação ajustada e reenviada para análise",
                now=now,
                details={"alteracoes": changes},
            )

    def _record_decision(
        self,
        session: Session,
        chamado: Chamado,
        task: HumanTask,
        data: dict[str, Any],
        actor: Actor,
        now: datetime,
    ) -> None:
        decision = data.get("decisao")
        if decision == "ajuste":
            chamado.adjustment_rounds += 1
            self._audit(
                session,
                chamado,
                actor.id,
                "ajuste",
                "Ajuste solicitado pelo analista",
                now=now,
                message=data.get("ajuste_solicitado"),
                details={"decisao": decision},
            )
        elif decision == "resolver":
            chamado.outcome_message = data.get("resposta")
        elif decision == "devolver":
            reason = catalogs.label(session, "motivo_devolucao", data.get("motivo_devolucao", ""))
            parts = [p for p in (reason, data.get("justificativa_devolucao")) if p]
            chamado.outcome_message = "\n\n".join(parts)
        if data.get("nota_interna"):
            self._audit(
                session,
                chamado,
                actor.id,
                "nota_interna",
                "Nota interna",
                now=now,
                public=False,
                message=data["nota_interna"],
            )

    def _audit_outcome(
        self,
        session: Session,
        chamado: Chamado,
        wf: Any,
        bundle: specs.ProcessBundle,
        actor: Actor | None,
        now: datetime,
    ) -> None:
        end = runtime.end_event(wf, bundle)
        if end is None:
            return
        name = bundle.end_events[end]
        self._audit(
            session,
            chamado,
            actor.id if actor else None,
            f"chamado.{chamado.status}",
            f"Chamado {name.lower()}",
            now=now,
            message=chamado.outcome_message,
            details={"fim": end},
        )

    def _last_submission_data(self, session: Session, chamado_id: int) -> dict[str, Any] | None:
        data = session.scalar(
            select(Submission.data)
            .where(Submission.chamado_id == chamado_id)
            .order_by(Submission.round.desc())
            .limit(1)
        )
        return copy.deepcopy(data) if data is not None else None

    def _last_public_message(self, session: Session, chamado_id: int, action: str) -> str | None:
        return session.scalar(
            select(AuditEvent.message)
            .where(AuditEvent.chamado_id == chamado_id, AuditEvent.action == action)
            .order_by(AuditEvent.id.desc())
            .limit(1)
        )

    def _attachments(self, session: Session, chamado_id: int) -> list[Attachment]:
        return list(
            session.scalars(
                select(Attachment)
                .where(Attachment.chamado_id == chamado_id, Attachment.removed.is_(False))
                .order_by(Attachment.id)
            )
        )

    def _view(self, session: Session, chamado: Chamado, public_only: bool) -> ChamadoView:
        bundle = self.bundle(session, chamado.process_version_id)
        data = self._last_submission_data(session, chamado.id) or {}
        registrar = bundle.user_tasks.get("registrar_chamado")
        schema_name = registrar.form_schema if registrar else None
        ui_name = registrar.form_ui_schema if registrar else None
        schema = forms.resolve_catalogs(
            bundle.forms.get(schema_name or "", {}), catalogs.all_catalogs(session), data
        )
        events_q = select(AuditEvent).where(AuditEvent.chamado_id == chamado.id)
        if public_only:
            events_q = events_q.where(AuditEvent.public.is_(True))
        events = list(session.scalars(events_q.order_by(AuditEvent.at, AuditEvent.id)))
        referenced = {a.get("id") for a in data.get("anexos", [])}
        attachments = [a for a in self._attachments(session, chamado.id) if a.id in referenced]
        open_tasks = list(
            session.scalars(
                select(HumanTask).where(
                    HumanTask.chamado_id == chamado.id, HumanTask.state == "ready"
                )
            )
        )
        return ChamadoView(
            chamado=chamado,
            data=data,
            schema=schema,
            ui=bundle.forms.get(ui_name or "", {}),
            events=events,
            attachments=attachments,
            open_tasks=open_tasks,
        )

    def _audit(
        self,
        session: Session,
        chamado: Chamado | None,
        actor_id: int | None,
        action: str,
        summary: str,
        *,
        now: datetime | None = None,
        public: bool = True,
        message: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        session.add(
            AuditEvent(
                chamado_id=chamado.id if chamado else None,
                actor_id=actor_id,
                at=now or self.clock(),
                action=action,
                summary=summary,
                public=public,
                message=message,
                details=details,
                request_id=context.request_id.get(),
            )
        )
