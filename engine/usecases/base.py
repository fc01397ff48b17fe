"""What every use case shares: the transaction, the parsed process, guards, reads and audit."""

from __future__ import annotations

import copy
from collections import Counter
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, NamedTuple, Protocol

from sqlalchemy import (
    JSON,
    bindparam,
    exists,
    func,
    literal,
    null,
    select,
    type_coerce,
    union_all,
)
from sqlalchemy.orm import Session, joinedload

from engine import (
    access_log,
    audit,
    business_days,
    catalogs,
    connectors,
    corewrite,
    forms,
    groups,
    messages,
    orgaos,
    outbox,
    rowload,
    runtime,
    sla,
    specs,
    tasks,
    timers,
)
from engine.errors import Conflict, Forbidden, NotFound, TaskNotReady
from engine.models import (
    TASK_READY,
    Attachment,
    AuditEvent,
    Chamado,
    HumanTask,
    ProcessVersion,
    Submission,
    User,
    WorkflowTimer,
)
from engine.prepared import Prepared
from engine.scripting import InstanceFacts
from engine.settings import Settings
from engine.unit import Unit

STALE_CHAMADO = (
    "Este chamado foi alterado por outra ação enquanto você o editava; "
    "nada foi gravado. Recarregue a página para ver a situação atual."
)
ANALYST_ROLES = frozenset({"analyst", "supervisor"})
STAFF_ROLES = frozenset({"analyst", "supervisor", "admin"})
# Staff who read every ticket; an analyst reads the tickets of their groups' queues.
SEE_ALL_ROLES = frozenset({"supervisor", "admin"})


FORM_CACHE_SIZE = 256

# Statements of every step, built once (building one costs about as much as running it).
_SUBMISSIONS = Submission.__table__
# What a form last sent on this ticket (a requester's task is prefilled and diffed with it).
_LAST_SUBMISSION_SELECT = (
    select(_SUBMISSIONS.c.data)
    .where(
        _SUBMISSIONS.c.chamado_id == bindparam("chamado_id"),
        _SUBMISSIONS.c.form_schema == bindparam("form_schema"),
    )
    .order_by(_SUBMISSIONS.c.id.desc())
    .limit(1)
)
# Every sending reads one of these (engine.prepared: on the driver's cursor).
_LAST_SUBMISSION = Prepared(_LAST_SUBMISSION_SELECT)
_LAST_SUBMISSION_AND_REVISION = Prepared(
    select(
        _LAST_SUBMISSION_SELECT.scalar_subquery().label("data"),
        catalogs.REVISION_VALUE.label("catalogs_revision"),
    )
)
# A ticket's timeline (staff) and its public part (the requester), and its open tasks.
_TIMELINE = (
    select(AuditEvent)
    .where(AuditEvent.chamado_id == bindparam("chamado_id"))
    .order_by(AuditEvent.at, AuditEvent.id)
)
_PUBLIC_TIMELINE = _TIMELINE.where(AuditEvent.public.is_(True))
_OPEN_TASKS = (
    select(HumanTask)
    .options(joinedload(HumanTask.assignee))
    .where(HumanTask.chamado_id == bindparam("chamado_id"), HumanTask.state == TASK_READY)
)
# Every form sent on a ticket, oldest first, each row with the catalogs' revision.
_SENT_FORMS = (
    select(Submission, catalogs.REVISION_VALUE.label("catalogs_revision"))
    .where(Submission.chamado_id == bindparam("chamado_id"))
    .order_by(Submission.id)
)
_TASKS, _TIMERS = HumanTask.__table__, WorkflowTimer.__table__
# JSON arrays of rows, per dialect (SQLite's json1, PostgreSQL's json): a ticket's open
# task rows and waiting timer rows come back as one column each of the lock's row.
_JSON_ROWS = {
    "sqlite": lambda *cols: func.json_group_array(func.json_array(*cols)),
    "postgresql": lambda *cols: func.json_agg(func.json_build_array(*cols)),
}


def _rows_of_ticket(dialect: str, table: Any, state: Any, *columns: str) -> Any:
    """``columns`` of the ticket's rows of ``table`` in ``state``, as one JSON array: a
    column of the lock's row, correlated to the locked task's ticket."""
    rows = _JSON_ROWS[dialect]
    found = select(rows(*(table.c[name] for name in columns))).where(
        table.c.chamado_id == _TASKS.c.chamado_id, table.c.state == state
    )
    return type_coerce(found.scalar_subquery(), JSON)


# The ticket (its workflow state included) and its requester in a lock's row, which
# _ticket builds into objects (engine.rowload): both locks below select them.
_TICKET_COLUMNS = (*rowload.columns(Chamado, "c_"), *rowload.columns(User, "u_"))


def _ticket(session: Session, row: Any) -> Chamado:
    """The ticket of a lock's row, its requester attached (not yet added to ``session``)."""
    requester = rowload.detached(session, User, row, "u_")
    return rowload.detached(session, Chamado, row, "c_", requester=requester)


def _lock_task_statement(dialect: str) -> Prepared:
    """The task about to run, its ticket (state, requester), and in the same round trip
    what the step reads next: the catalogs' revision, the last submitted form, and the
    ticket's open task rows and waiting timer rows (what the step's mirroring compares
    the workflow with: engine.tasks.sync, engine.timers.sync).

    A Core statement on the driver (engine.prepared) whose columns engine.rowload turns into
    the three ORM objects: the ORM's own loading of them cost most of the call."""
    # An alias: the outer query selects from human_tasks too (the same name inside would
    # be the outer row's, and match every ticket's tasks).
    others = _TASKS.alias("open_tasks_of_ticket")
    chamados, users_ = Chamado.__table__, User.__table__
    return Prepared(
        select(
            *rowload.columns(HumanTask, "t_"),
            *_TICKET_COLUMNS,
            catalogs.REVISION_VALUE.label("catalogs_revision"),
            select(_SUBMISSIONS.c.data)
            .where(
                _SUBMISSIONS.c.chamado_id == _TASKS.c.chamado_id,
                _SUBMISSIONS.c.form_schema == _TASKS.c.form_schema,
            )
            .order_by(_SUBMISSIONS.c.id.desc())
            .limit(1)
            .scalar_subquery()
            .label("last_submission"),
            _rows_of_ticket(dialect, others, TASK_READY, "id", "task_guid", "group").label(
                "open_tasks"
            ),
            _rows_of_ticket(dialect, _TIMERS, "waiting", "id", "task_guid", "due_at").label(
                "waiting_timers"
            ),
        )
        .select_from(
            _TASKS.join(chamados, chamados.c.id == _TASKS.c.chamado_id).join(
                users_, users_.c.id == chamados.c.requester_id
            )
        )
        .where(_TASKS.c.id == bindparam("task_id"))
        # Lock order, on every path that changes a ticket: the ticket row first (here in
        # the first statement), then its task and timer rows. NO KEY UPDATE: rows that
        # merely reference the ticket (an audit row of a concurrent claim) are not held up.
        .with_for_update(of=chamados, key_share=True)
    )


_LOCK_TASK = {dialect: _lock_task_statement(dialect) for dialect in _JSON_ROWS}


class MirroredRow(NamedTuple):
    """An open task row (``group``) or a waiting timer row (``due_at``) of a ticket, as
    engine.tasks.sync and engine.timers.sync compare them with the workflow."""

    id: int
    task_guid: str
    group: str | None = None
    due_at: datetime | None = None


def _json_rows(value: Any) -> list[Any]:
    # No row: PostgreSQL's json_agg gives NULL, SQLite's json_group_array "[]".
    return list(value or ())


def _as_utc(text: str) -> datetime:
    """A timestamp as the JSON functions wrote it (SQLite: the stored naive UTC text;
    PostgreSQL: ISO 8601 with the session's offset), as the column type reads it."""
    found = datetime.fromisoformat(text)
    return found if found.tzinfo is not None else found.replace(tzinfo=UTC)


_VERSIONS = ProcessVersion.__table__
# The latest published version: what a new instance starts on.
_CURRENT_VERSION = select(func.max(_VERSIONS.c.id)).where(
    _VERSIONS.c.process_id == bindparam("process_id"), _VERSIONS.c.published_at.is_not(None)
)
# A start reads the person and the process's current version: one statement, built once
# and run on the driver (engine.rowload builds the User).
_STARTER = Prepared(
    select(
        *rowload.columns(User, "u_"), _CURRENT_VERSION.scalar_subquery().label("version_id")
    ).where(User.__table__.c.id == bindparam("user_id"))
)
# The open task rows and waiting timer rows of a ticket, in one round trip (timers first:
# a union's column types are its first select's, and due_at needs its own), for the steps
# that did not read them with their lock (_LOCK_TASK does).
_MIRRORED_ROWS = union_all(
    select(
        literal("timer").label("kind"),
        _TIMERS.c.id,
        _TIMERS.c.task_guid,
        _TIMERS.c.due_at,
        null().label("group"),
    ).where(_TIMERS.c.chamado_id == bindparam("chamado_id"), _TIMERS.c.state == "waiting"),
    select(literal("task"), _TASKS.c.id, _TASKS.c.task_guid, null(), _TASKS.c.group).where(
        _TASKS.c.chamado_id == bindparam("chamado_id"), _TASKS.c.state == TASK_READY
    ),
)


# A ticket by id, locked (the first lock of the steps that start from the ticket, not
# from one of its tasks: a retry after an incident, a message, an outage's step), with its
# state and requester; on the driver, its row built into objects by rowload as the task
# lock's is.
_LOCK_CHAMADO = Prepared(
    select(*_TICKET_COLUMNS)
    .select_from(
        Chamado.__table__.join(
            User.__table__, User.__table__.c.id == Chamado.__table__.c.requester_id
        )
    )
    .where(Chamado.__table__.c.id == bindparam("chamado_id"))
    .with_for_update(of=Chamado.__table__, key_share=True)
)


_LOCK_TICKET_OF_TASK = (
    select(Chamado.id)
    .where(
        Chamado.id
        == select(HumanTask.chamado_id)
        .where(HumanTask.id == bindparam("task_id"))
        .scalar_subquery()
    )
    .with_for_update(key_share=True)
)


@dataclass
class Locked:
    """A task about to run, with what its step reads along with it."""

    task: HumanTask
    catalogs_revision: int | None
    # What this task's form last sent on the ticket (None before), a private copy.
    last_submission: dict[str, Any] | None
    # The ticket's open task rows (this one included) and waiting timer rows as the lock
    # found them: the step's mirroring needs no read of its own (the lock keeps them).
    open_tasks: list[MirroredRow] = field(default_factory=list)
    waiting_timers: list[MirroredRow] = field(default_factory=list)

    def mirrored_after(self) -> tuple[list[MirroredRow], list[MirroredRow]]:
        """The rows as the step's mirroring must see them once this task completed
        (its own row is no longer open)."""
        return [r for r in self.open_tasks if r.id != self.task.id], self.waiting_timers


class Actor(Protocol):
    """Who acts: the web's signed-in person, a token's account, an ActorRef. Read-only
    members, so that classes exposing them as properties match too."""

    @property
    def id(self) -> int: ...

    @property
    def roles(self) -> frozenset[str]: ...


@dataclass(frozen=True)
class ActorRef:
    """An actor for callers without a web session (CLI, scheduler, tests, benchmarks)."""

    id: int
    roles: frozenset[str] = frozenset()


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
    # The model's instructions for this task, rendered over the instance data.
    instructions: str | None = None
    # What was asked of the requester when this task opened (the model's ``message``).
    request_message: str | None = None
    submit_label: str = "Enviar"


@dataclass
class Step:
    """What bringing the rows in line with the workflow did."""

    created: list[HumanTask]
    # guid -> (element id, due time) of every timer the workflow now waits on
    timers: dict[str, tuple[str, datetime]]


@dataclass
class ShownForm:
    """One form as last sent on a ticket, with the schema it was sent with."""

    title: str
    group: str | None
    form_schema: str | None
    schema: dict[str, Any]
    ui: dict[str, Any]
    data: dict[str, Any]


@dataclass
class ChamadoView:
    chamado: Chamado
    process_title: str
    forms: list[ShownForm]
    events: list[AuditEvent]
    attachments: list[Attachment]
    open_tasks: list[HumanTask]
    changes: list[Any] = field(default_factory=list)
    # The open group task the viewer can work (staff), or the requester's own task.
    analysis_task: HumanTask | None = None
    requester_task: HumanTask | None = None
    request_message: str | None = None

    @property
    def closed(self) -> bool:
        return self.chamado.closed_at is not None


class UseCaseBase:
    """What every use case is built from: one unit of work (engine.unit), shared.

    The unit's settings, clock and caches read as attributes of the use case, and its
    transactions open through it: the class bodies read ``self.clock()``,
    ``self.transaction()``, ``self.bundle(...)``.
    """

    def __init__(self, unit: Unit) -> None:
        self.unit = unit

    @property
    def settings(self) -> Settings:
        return self.unit.settings

    @property
    def clock(self) -> Callable[[], datetime]:
        return self.unit.clock

    @property
    def spec_cache(self) -> specs.SpecCache:
        return self.unit.spec_cache

    @property
    def orgao_labels(self) -> orgaos.LabelCache:
        return self.unit.orgao_labels

    @property
    def form_cache(self) -> dict[Any, dict[str, Any]]:
        return self.unit.form_cache

    @property
    def catalog_cache(self) -> catalogs.CatalogCache:
        return self.unit.catalog_cache

    def transaction(self) -> AbstractContextManager[Session]:
        return self.unit.transaction()

    def reading(self) -> AbstractContextManager[Session]:
        return self.unit.reading()

    def bundle(self, session: Session, version_id: int) -> specs.ProcessBundle:
        return self.unit.bundle(session, version_id)

    @staticmethod
    def _published_versions(session: Session) -> list[tuple[str, int]]:
        """(process id, its latest published version id) for every published process."""
        latest = (
            select(ProcessVersion.process_id, func.max(ProcessVersion.id))
            .where(ProcessVersion.published_at.is_not(None))
            .group_by(ProcessVersion.process_id)
        )
        return [(pid, vid) for pid, vid in session.execute(latest)]

    def _current_version_id(self, session: Session, process_id: str) -> int:
        version_id = (
            session.connection().execute(_CURRENT_VERSION, {"process_id": process_id}).scalar()
        )
        if version_id is None:
            raise NotFound(f"O processo {process_id!r} não está implantado.")
        return version_id

    def _starter(self, session: Session, user_id: int, process_id: str) -> tuple[User, int]:
        """Who starts an instance and the version they start, in one round trip."""
        row = _STARTER.first(session, {"user_id": user_id, "process_id": process_id})
        if row is None:
            raise Forbidden("Sessão inválida: entre novamente.")
        if row.version_id is None:
            raise NotFound(f"O processo {process_id!r} não está implantado.")
        user = rowload.detached(session, User, row, "u_")
        session.add(user)
        return user, row.version_id

    def _script_user(
        self, session: Session, user_id: int | None
    ) -> Callable[[], dict[str, Any] | None]:
        """Who scripts see as ``get_current_user()`` (engine.scripting): no CPF. Read
        only if a script asks (one statement a step would otherwise always pay)."""

        def read() -> dict[str, Any] | None:
            user = session.get(User, user_id) if user_id is not None else None
            if user is None:
                return None
            return {"id": user.id, "name": user.display_name, "email": user.email}

        return read

    def _instance_facts(
        self,
        session: Session,
        bundle: specs.ProcessBundle,
        chamado: Chamado | None,
        *,
        initiator_id: int | None = None,
        completing: tuple[str, int | None] | None = None,
    ) -> InstanceFacts:
        """What scripts learn of the instance they run in (engine.scripting's helpers
        ``get_process_initiator_user()``, ``get_last_user_completing_task()``...), read
        only if a script asks. ``completing``: the task being completed now and by whom
        (its row is marked completed after the step runs)."""
        chamado_id = chamado.id if chamado is not None else None
        starter = chamado.requester_id if chamado is not None else initiator_id

        def last_completer(task_name: str) -> dict[str, Any] | None:
            if completing is not None and completing[0] == task_name:
                return self._script_user(session, completing[1])()
            if chamado_id is None:
                return None
            user_id = session.scalar(
                select(HumanTask.completed_by_id)
                .where(
                    HumanTask.chamado_id == chamado_id,
                    HumanTask.task_name == task_name,
                    HumanTask.completed_by_id.is_not(None),
                )
                .order_by(HumanTask.completed_at.desc(), HumanTask.id.desc())
                .limit(1)
            )
            return self._script_user(session, user_id)() if user_id is not None else None

        return InstanceFacts(
            process_id=bundle.process_id,
            instance_id=chamado_id,
            initiator=self._script_user(session, starter),
            last_completer=last_completer,
            frontend_url=self.settings.app_base_url,
        )

    def _user(self, session: Session, user_id: int) -> User:
        user = session.get(User, user_id)
        if user is None:
            raise Forbidden("Sessão inválida: entre novamente.")
        return user

    def _groups(self, session: Session, actor: Actor) -> list[str]:
        """The groups whose queues the actor works (engine.groups: by CPF or by role).

        A signed-in person's request read the groups' revision with them (their CPF and
        roles too): the process's copy of the groups answers. Other callers (scheduler,
        CLI) carry neither, and one statement does.
        """
        revision: int | None = getattr(actor, "groups_revision", None)
        cpf: str | None = getattr(actor, "cpf", None)
        if revision is None or cpf is None:
            return groups.of_user(session, actor.id, actor.roles)
        return self.unit.group_cache.of(session, revision, cpf, actor.roles)

    def _may_read_ticket(self, session: Session, actor: Actor, chamado: Chamado) -> bool:
        """Whether ``actor`` may read a ticket's data as staff do (the analysis page and
        its API view, its files, the ready answers filled in with it, an incident opened
        from it): its own requester; supervisors and admins, every ticket; anyone else, a
        ticket that has or had a task in one of their groups — what their queue, the
        search and the duplicates show them — or that stopped in a technical incident
        (the queue's incidents tab lists those to all staff). Callers answer "not found"
        otherwise, so a ticket's existence is not disclosed either."""
        if actor.id == chamado.requester_id or actor.roles & SEE_ALL_ROLES:
            return True
        if chamado.incident_at is not None and actor.roles & STAFF_ROLES:
            return True
        mine = self._groups(session, actor)
        return bool(mine) and bool(
            session.scalar(
                select(
                    exists().where(HumanTask.chamado_id == chamado.id, HumanTask.group.in_(mine))
                )
            )
        )

    @staticmethod
    def _require_roles(actor: Actor, roles: frozenset[str]) -> None:
        if not (actor.roles & roles):
            raise Forbidden("Você não tem permissão para esta ação.")

    def _owned_ready_task(
        self, session: Session, actor: Actor, task_id: int, lock_ticket: bool = False
    ) -> HumanTask:
        """The actor's ready task, with its ticket, to read or to edit its draft.

        ``lock_ticket``: the ticket row is locked first (the lock order of every change),
        so the task is read after any step that was running on it has committed.
        """
        if lock_ticket:
            self._lock_ticket_of_task(session, task_id)
        task = session.get(HumanTask, task_id)
        return self._check_owned_ready(session, actor, task)

    @staticmethod
    def _lock_ticket_of_task(session: Session, task_id: int) -> None:
        """Lock the ticket of a task (if the task exists) before touching the task: the
        lock order of every change, so a change that starts from a task waits for a step
        holding the ticket instead of holding the task that step is about to change."""
        session.execute(_LOCK_TICKET_OF_TASK, {"task_id": task_id})

    @staticmethod
    def _lock_chamado(session: Session, chamado_id: int) -> Chamado:
        """The ticket, its row locked first (the lock order of every change)."""
        row = _LOCK_CHAMADO.first(session, {"chamado_id": chamado_id})
        if row is None:
            raise NotFound("Chamado não encontrado.")
        chamado = _ticket(session, row)
        session.add(chamado)  # with its requester (the relationship's cascade)
        return chamado

    def _lock_task(self, session: Session, actor: Actor, task_id: int) -> Locked:
        """The actor's ready task about to run, with its ticket (state and requester).

        The ticket row is locked (PostgreSQL; SQLite's write lock covers it all); its version
        is then checked in Python and written at the end, and the task row is written only
        if it still is ready and the actor's (see complete_task).
        """
        task, row = self._lock_task_row(session, task_id)
        return self._locked(self._check_owned_ready(session, actor, task), row)

    def _lock_any_ready_task(self, session: Session, task_id: int) -> Locked:
        """The same for an admin completing someone else's task (the caller checked the
        role): any ready task, whoever holds it."""
        task, row = self._lock_task_row(session, task_id)
        return self._locked(self._check_ready(task), row)

    @staticmethod
    def _lock_task_row(session: Session, task_id: int) -> tuple[HumanTask | None, Any]:
        """The locked task (its ticket and requester attached) and the lock's row."""
        row = _LOCK_TASK[session.get_bind().dialect.name].first(session, {"task_id": task_id})
        if row is None:
            return None, None
        task = rowload.detached(session, HumanTask, row, "t_", chamado=_ticket(session, row))
        session.add(task)  # with its ticket and requester (the relationships' cascade)
        return task, row

    @staticmethod
    def _locked(task: HumanTask, row: Any) -> Locked:
        last = row.last_submission
        return Locked(
            task,
            row.catalogs_revision,
            copy.deepcopy(last) if last is not None else None,
            [MirroredRow(i, guid, group) for i, guid, group in _json_rows(row.open_tasks)],
            [
                MirroredRow(i, guid, due_at=_as_utc(due))
                for i, guid, due in _json_rows(row.waiting_timers)
            ],
        )

    @staticmethod
    def _check_ready(task: HumanTask | None) -> HumanTask:
        """The task exists and still waits for someone, whoever holds it."""
        if task is None:
            raise NotFound("Tarefa não encontrada.")
        if task.state != "ready":
            raise TaskNotReady(
                "Esta tarefa já foi concluída ou não está mais disponível; nada foi alterado."
            )
        return task

    def _check_owned_ready(
        self, session: Session, actor: Actor, task: HumanTask | None
    ) -> HumanTask:
        if task is None:
            raise NotFound("Tarefa não encontrada.")
        if task.group == tasks.REQUESTER_GROUP:
            if task.assignee_id != actor.id:
                raise NotFound("Tarefa não encontrada.")
        elif task.group not in self._groups(session, actor):
            raise NotFound("Tarefa não encontrada.")
        if task.state != "ready":
            raise TaskNotReady(
                "Esta tarefa já foi concluída ou não está mais disponível; nada foi alterado."
            )
        if task.assignee_id != actor.id:
            raise Conflict("Assuma a tarefa antes de trabalhar nela.")
        return task

    def _write_chamado(self, session: Session, chamado: Chamado, expected: int) -> None:
        """Writes the ticket's changed columns and its next version, if still ``expected``."""
        chamado.version = expected + 1
        if corewrite.update(session, chamado, version=expected) != 1:
            raise Conflict(STALE_CHAMADO)

    def _form(
        self,
        session: Session,
        bundle: specs.ProcessBundle,
        task: HumanTask,
        last_submission: dict[str, Any] | None,
        catalogs_revision: int | None = None,
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        schema = bundle.forms.get(task.form_schema or "", {})
        ui = bundle.forms.get(task.form_ui_schema or "", {})
        keep = self._kept_values(task, last_submission)
        options = self.catalog_cache.get(session, catalogs_revision)
        resolved = forms.resolve_catalogs(schema, options, keep or {})
        return resolved, ui

    @staticmethod
    def _kept_values(
        task: HumanTask, last_submission: dict[str, Any] | None
    ) -> dict[str, Any] | None:
        """Data whose retired catalog values stay valid in ``task``'s form.

        Only what the ticket already had, never what a post claims: the requester's last
        submitted form, for the requester's own form (the form shown and the form checked
        follow this same rule).
        """
        return last_submission if task.group == tasks.REQUESTER_GROUP else None

    def _checked_schema(
        self,
        session: Session,
        bundle: specs.ProcessBundle,
        task: HumanTask,
        catalogs_revision: int | None,
        keep: dict[str, Any] | None,
    ) -> dict[str, Any]:
        """The task's schema with its catalogs, as the server validates a post against it.

        ``keep``: already accepted data whose retired catalog values stay valid. Shared
        between requests and read-only: resolved once per form version, catalogs revision
        and kept values (resolving deep-copies the whole schema).
        """
        schema = bundle.forms.get(task.form_schema or "", {})
        fields = forms.catalog_fields(schema)
        if not fields:
            return schema
        all_options = self.catalog_cache.get(session, catalogs_revision)
        keep = keep or {}
        key = (
            bundle.version_id,
            task.form_schema,
            # Without a revision (never after migration 0003) the contents are the key.
            catalogs_revision
            if catalogs_revision is not None
            else tuple((c, tuple(all_options.get(c, ()))) for _n, c in fields),
            tuple(repr(keep.get(name)) for name, _c in fields),
        )
        resolved = self.form_cache.get(key)
        if resolved is None:
            resolved = forms.resolve_catalogs(schema, all_options, keep)
            if len(self.form_cache) >= FORM_CACHE_SIZE:
                self.form_cache.clear()  # catalogs were edited many times: start over
            self.form_cache[key] = resolved
        return resolved

    @staticmethod
    def _keep_schema_fields(schema: dict[str, Any], data: dict[str, Any]) -> dict[str, Any]:
        # Only declared fields reach task data: a posted key could otherwise shadow
        # the process's own variables (a counter, a cap).
        props = schema.get("properties", {})
        return {k: copy.deepcopy(v) for k, v in data.items() if k in props}

    def _audit(
        self,
        session: Session,
        chamado: Chamado | int | None,
        actor_id: int | None,
        action: str,
        summary: str,
        *,
        now: datetime | None = None,
        public: bool = True,
        message: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        """One audit row (a Core INSERT); ``chamado`` is the ticket or its id, if any."""
        audit.record(
            session,
            action,
            summary,
            chamado_id=chamado.id if isinstance(chamado, Chamado) else chamado,
            actor_id=actor_id,
            at=now or self.clock(),
            public=public,
            message=message,
            details=details,
        )

    def _record_access(
        self,
        session: Session,
        actor: Actor,
        chamado: Chamado,
        channel: str,
        item: str | None = None,
    ) -> None:
        """A member of staff read ``chamado``'s personal data (engine.access_log): one
        INSERT, none for the requester's own reads, never waiting behind a writer."""
        found = access_log.row(
            actor_id=actor.id,
            subject_id=chamado.requester_id,
            chamado_id=chamado.id,
            channel=channel,
            at=self.clock(),
            item=item,
        )
        if found is None:
            return
        if self.unit.db.dialect.name != "sqlite":
            access_log.write(session.connection(), [found])  # autocommit: no BEGIN
            return
        self.flush_accesses([found])

    def flush_accesses(self, extra: list[dict[str, Any]] | None = None) -> int:
        """Write the buffered read records (and ``extra``) if SQLite's lock is free;
        what could not be written stays buffered. Returns how many were written."""
        rows = self.unit.access_buffer.take() + list(extra or [])
        if not rows:
            return 0
        written = self.unit.write_if_free(lambda conn: access_log.write(conn, rows))
        if written is None:
            self.unit.access_buffer.put_back(rows)
            return 0
        return written

    def _last_submission_data(
        self, session: Session, chamado_id: int, form_schema: str | None
    ) -> dict[str, Any] | None:
        row = _LAST_SUBMISSION.first(
            session, {"chamado_id": chamado_id, "form_schema": form_schema}
        )
        # The JSON column's value is parsed anew at every read: the caller's to change.
        return row.data if row is not None else None

    def _last_submission_and_revision(
        self, session: Session, chamado_id: int, form_schema: str | None
    ) -> tuple[dict[str, Any] | None, int | None]:
        """The form's last submitted data, as above, and the catalogs' revision (for the
        process's copy of the catalogs) in the same statement."""
        (row,) = _LAST_SUBMISSION_AND_REVISION.rows(
            session, {"chamado_id": chamado_id, "form_schema": form_schema}
        )
        return row.data, row.catalogs_revision

    def _attachments(self, session: Session, chamado_id: int) -> list[Attachment]:
        return list(
            session.scalars(
                select(Attachment)
                .where(Attachment.chamado_id == chamado_id, Attachment.removed.is_(False))
                .order_by(Attachment.id)
            )
        )

    def _view(self, session: Session, chamado: Chamado, public_only: bool) -> ChamadoView:
        """A ticket as a page shows it: the forms last sent, timeline, files, open tasks.

        ``public_only``: the requester's view: their own forms and the public timeline;
        staff see every form the instance's tasks sent.
        """
        bundle = self.bundle(session, chamado.process_version_id)
        # The forms sent, and with them the catalogs' revision: the process's copy of the
        # catalogs labels the answers (re-read only when an admin changed a catalog).
        sent = session.execute(_SENT_FORMS, {"chamado_id": chamado.id}).all()
        revision = sent[0].catalogs_revision if sent else None
        all_catalogs = self.catalog_cache.get(session, revision) if sent else {}
        # A form by group: a re-sending replaces the last one, but two groups sending the
        # same form (parallel reviews) are two forms, each titled by its task.
        latest: dict[tuple[str | None, str | None], Submission] = {}
        for row in (found.Submission for found in sent):
            if public_only and row.group != tasks.REQUESTER_GROUP:
                continue
            key = (row.form_schema, row.group)
            latest.pop(key, None)  # keep the order of the last sending
            latest[key] = row
        shared = Counter(schema for schema, _group in latest)
        shown = []
        referenced: set[Any] = set()
        for row in latest.values():
            raw = bundle.forms.get(row.form_schema or "", {})
            schema = forms.resolve_catalogs(raw, all_catalogs, row.data)
            ui = bundle.ui_for(row.form_schema)
            data = row.data
            if public_only:
                data = forms.without_internal(schema, data)
            info = bundle.user_tasks.get(row.task_name or "")
            if shared[row.form_schema] > 1 and info is not None:
                title = info.title
            else:
                title = str(raw.get("title") or (info.title if info else "Formulário"))
            shown.append(ShownForm(title, row.group, row.form_schema, schema, ui, data))
            for name in forms.attachment_fields(schema):
                referenced |= {a.get("id") for a in data.get(name) or [] if isinstance(a, dict)}
        timeline = _PUBLIC_TIMELINE if public_only else _TIMELINE
        events = list(session.scalars(timeline, {"chamado_id": chamado.id}))
        # Only the files the forms shown reference: none referenced, nothing to read.
        attachments = (
            [a for a in self._attachments(session, chamado.id) if a.id in referenced]
            if referenced
            else []
        )
        open_tasks = list(session.scalars(_OPEN_TASKS, {"chamado_id": chamado.id}))
        return ChamadoView(
            chamado=chamado,
            process_title=bundle.policy.title,
            forms=shown,
            events=events,
            attachments=attachments,
            open_tasks=open_tasks,
        )

    def _request_message(self, session: Session, task: HumanTask) -> str | None:
        """What the model said when ``task`` opened (its ``message``), if anything."""
        return session.scalar(
            select(AuditEvent.message)
            .where(
                AuditEvent.chamado_id == task.chamado_id,
                AuditEvent.action == "mensagem",
                AuditEvent.at >= task.created_at,
            )
            .order_by(AuditEvent.id.desc())
            .limit(1)
        )

    def _workflow_data(
        self, session: Session, chamado: Chamado, bundle: specs.ProcessBundle
    ) -> dict[str, Any]:
        state = session.scalar(select(Chamado.workflow_state).where(Chamado.id == chamado.id))
        return runtime.current_data(runtime.load(bundle, state or ""))

    def _after_step(
        self,
        session: Session,
        chamado: Chamado,
        wf: Any,
        bundle: specs.ProcessBundle,
        now: datetime,
        draft: Callable[[HumanTask], dict[str, Any] | None] | None = None,
        new: bool = False,
        mirrored: tuple[list[MirroredRow], list[MirroredRow]] | None = None,
        completed: HumanTask | None = None,
    ) -> Step:
        """Bring task rows, timer rows and the SLA clock in line with the workflow.

        Writes task and timer rows; the ticket's own changes are left on ``chamado``.
        ``mirrored``: the open task rows and waiting timer rows when the caller has them
        (read with the lock: Locked.mirrored_after), else they are read here.
        ``completed``: the task this step completed (engine.tasks counts the rounds).
        """
        task_rows: list[Any] = []
        timer_rows: list[Any] = []
        if mirrored is not None:
            task_rows, timer_rows = list(mirrored[0]), list(mirrored[1])
        elif not new:
            for row in session.connection().execute(_MIRRORED_ROWS, {"chamado_id": chamado.id}):
                (timer_rows if row.kind == "timer" else task_rows).append(row)
        created, open_groups = tasks.sync(
            session,
            chamado,
            wf,
            bundle,
            now,
            draft,
            new,
            task_rows,
            completed_group=completed.group if completed is not None else None,
        )
        waiting = timers.sync(session, chamado, wf, now, new, timer_rows)
        # Messages: what the instance now waits for (models that catch any), and what it
        # threw for other instances, saved with the step (engine.messages).
        if bundle.message_catches:
            messages.sync(session, chamado, wf, new)
        messages.queue_thrown(session, chamado, wf, now)
        # Mail the model's service tasks asked for (smtp/SendEmail): saved with the step.
        for mail in connectors.take_mail(wf):
            for address in mail.to:
                outbox.enqueue_rendered(
                    session,
                    "conector",
                    address,
                    mail.subject,
                    mail.body,
                    None,
                    chamado_id=chamado.id,
                    now=now,
                )
        # The service clock runs while a group has the instance, never while it waits for
        # the requester: a model's business deadlines count only that time.
        analysing = any(group != tasks.REQUESTER_GROUP for group in open_groups)
        if analysing and chamado.analysis_started_at is None:
            chamado.analysis_started_at = now
        elif not analysing and chamado.analysis_started_at is not None:
            chamado.analysis_seconds += business_days.business_seconds(
                chamado.analysis_started_at, now
            )
            chamado.analysis_started_at = None
        return Step(created, waiting)

    def _business_deadlines(
        self, bundle: specs.ProcessBundle, chamado: Chamado, wf_data: dict[str, Any], now: datetime
    ) -> dict[str, Any]:
        """The model's business deadlines for the step about to run (engine.sla)."""
        found = sla.business_deadlines(bundle.policy, wf_data, chamado.analysis_seconds, now)
        if found:
            chamado.analysis_due_at = min(found.values())
        return {variable: due.isoformat() for variable, due in found.items()}

    def analysis_clock(self, chamado: Chamado) -> int:
        """Business seconds the analysis has taken so far, waiting for the requester excluded."""
        running = chamado.analysis_started_at
        extra = business_days.business_seconds(running, self.clock()) if running else 0
        return chamado.analysis_seconds + extra
