"""SQLAlchemy 2 typed models.

Workflow state lives in ``Chamado.workflow_state`` (serialized without the
process spec); everything the queue, the tracking page or the audit needs is a
row of its own so those pages never load a workflow.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
    UniqueConstraint,
    false,
    literal_column,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, deferred, mapped_column, relationship
from sqlalchemy.sql.elements import ColumnClause
from sqlalchemy.types import TypeDecorator


def utcnow() -> datetime:
    return datetime.now(UTC)


class AwareDateTime(TypeDecorator[datetime]):
    """Timezone-aware timestamps on SQLite too (it stores naive text)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime")
        return value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value

    def result_processor(self, dialect: Any, coltype: Any) -> Any:
        # PostgreSQL's timestamptz (every timestamp column: tests/test_schema.py) comes
        # back aware from the driver: no per-value call (a row of the task lock has 16).
        if dialect.name == "postgresql":
            return self.impl_instance.result_processor(dialect, coltype)
        return super().result_processor(dialect, coltype)


intpk = Annotated[int, mapped_column(primary_key=True)]
timestamp = Annotated[datetime, mapped_column(AwareDateTime(), default=utcnow)]


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSON, list[Any]: JSON}
    # Every model here maps one Table (DeclarativeBase says FromClause, which would also
    # allow a join): Core statements are built on ``Model.__table__`` (engine.corewrite).
    if TYPE_CHECKING:
        __table__: ClassVar[Table]


class User(Base):
    __tablename__ = "users"

    id: Mapped[intpk]
    # 11 digits for people; "svc:<slug>" for service accounts (API only, never OIDC).
    cpf: Mapped[str] = mapped_column(String(40), unique=True)
    kind: Mapped[str] = mapped_column(String(10), default="pessoa")  # pessoa | servico
    name: Mapped[str] = mapped_column(String(200))
    social_name: Mapped[str | None] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(254))
    phone: Mapped[str | None] = mapped_column(String(20))
    reliability: Mapped[str | None] = mapped_column(String(20))
    created_at: Mapped[timestamp]
    last_login_at: Mapped[datetime | None] = mapped_column(AwareDateTime())
    # The person asked to erase what is not needed any more and an admin agreed
    # (engine.retention): their instances closed before it are due for anonymisation.
    erasure_requested_at: Mapped[datetime | None] = mapped_column(AwareDateTime())

    @property
    def display_name(self) -> str:
        return self.social_name or self.name


class RoleGrant(Base):
    """Roles are granted by CPF so they can be given before the first login."""

    __tablename__ = "role_grants"
    __table_args__ = (UniqueConstraint("cpf", "role"),)

    id: Mapped[intpk]
    cpf: Mapped[str] = mapped_column(String(40), index=True)
    role: Mapped[str] = mapped_column(String(20))
    granted_by: Mapped[str | None] = mapped_column(String(40))
    granted_at: Mapped[timestamp]


class Orgao(Base):
    __tablename__ = "orgaos"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)  # SIORG code
    sigla: Mapped[str] = mapped_column(String(40), index=True)
    name: Mapped[str] = mapped_column(String(300))
    # Lower-case, accent-free "sigla name" for portable LIKE searches.
    search_text: Mapped[str] = mapped_column(String(400))
    classification: Mapped[str | None] = mapped_column(String(100))


class CatalogItem(Base):
    """An editable list (tipo de problema, motivo de devolução, ...)."""

    __tablename__ = "catalog_items"
    __table_args__ = (UniqueConstraint("catalog", "code"),)

    id: Mapped[intpk]
    catalog: Mapped[str] = mapped_column(String(50), index=True)
    code: Mapped[str] = mapped_column(String(80))
    label: Mapped[str] = mapped_column(String(300))
    help: Mapped[str | None] = mapped_column(Text)
    position: Mapped[int] = mapped_column(Integer, default=0)
    active: Mapped[bool] = mapped_column(default=True)
    # Optimistic lock of the label and help (engine.catalogs.update_item): an edit made
    # on an older one changes nothing.
    version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")


class ProcessVersion(Base):
    __tablename__ = "process_versions"
    __table_args__ = (UniqueConstraint("process_id", "content_hash"),)

    id: Mapped[intpk]
    process_id: Mapped[str] = mapped_column(String(100), index=True)
    content_hash: Mapped[str] = mapped_column(String(64))
    bpmn_xml: Mapped[str] = deferred(mapped_column(Text))
    # Forms referenced by the model, frozen with it: {filename: json text}.
    forms: Mapped[dict[str, Any]] = deferred(mapped_column(JSON))
    created_at: Mapped[timestamp]
    created_by: Mapped[str | None] = mapped_column(String(40))
    note: Mapped[str | None] = mapped_column(Text)
    # New tickets start on the latest published version of their process.
    published_at: Mapped[datetime | None] = mapped_column(AwareDateTime(), index=True)
    published_by: Mapped[str | None] = mapped_column(String(40))


class ProcessDraft(Base):
    """A designer's work in progress on a process model (one per process id)."""

    __tablename__ = "process_drafts"

    id: Mapped[intpk]
    process_id: Mapped[str] = mapped_column(String(100), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    bpmn_xml: Mapped[str] = deferred(mapped_column(Text))
    forms: Mapped[dict[str, Any]] = deferred(mapped_column(JSON))
    version: Mapped[int] = mapped_column(Integer, default=1)
    updated_at: Mapped[timestamp]
    updated_by: Mapped[str | None] = mapped_column(String(40))


class Scenario(Base):
    """A designer's scenario: form input for each user task in order, expected end event."""

    __tablename__ = "scenarios"
    __table_args__ = (UniqueConstraint("process_id", "name"),)

    id: Mapped[intpk]
    process_id: Mapped[str] = mapped_column(String(100), index=True)
    name: Mapped[str] = mapped_column(String(200))
    steps: Mapped[list[Any]] = mapped_column(JSON)
    expected_end: Mapped[str] = mapped_column(String(100))
    # Optimistic lock (engine.scenarios.save): an edit made on an older one changes nothing.
    version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    updated_at: Mapped[timestamp]


class SandboxRun(Base):
    """A designer's test run of a draft ("Executar teste", engine.designer.sandbox_runs):
    the workflow in memory between requests, never a ticket. One per designer per model;
    it expires when left idle and belongs to the draft revision it started on."""

    __tablename__ = "sandbox_runs"
    __table_args__ = (UniqueConstraint("process_id", "owner_id"),)

    id: Mapped[intpk]
    process_id: Mapped[str] = mapped_column(String(100))
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    draft_version: Mapped[int]
    steps: Mapped[int] = mapped_column(default=0)  # actions taken: the run's version too
    workflow_state: Mapped[str] = mapped_column(Text)
    mails: Mapped[list[Any]] = mapped_column(JSON, default=list)
    started_at: Mapped[timestamp]
    expires_at: Mapped[datetime] = mapped_column(AwareDateTime(), index=True)


class Revision(Base):
    """A counter every change to shared reference data bumps (e.g. the catalogs), so each
    process keeps a copy of that data and re-reads it only when the counter moved."""

    __tablename__ = "revisions"

    name: Mapped[str] = mapped_column(String(50), primary_key=True)
    value: Mapped[int] = mapped_column(Integer, default=0)


class Group(Base):
    """A group of people who work the tasks of a lane (engine.groups)."""

    __tablename__ = "groups"

    key: Mapped[str] = mapped_column(String(50), primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    # Everyone holding one of these platform roles is a member, besides those listed.
    member_roles: Mapped[list[Any]] = mapped_column(JSON, default=list)
    # Optimistic lock of ``member_roles`` (engine.groups.set_roles): a choice made on an
    # older one changes nothing. Members listed by CPF are rows of their own.
    version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    created_at: Mapped[timestamp]


class GroupMember(Base):
    """A member by CPF, so a person can be added before their first login."""

    __tablename__ = "group_members"

    group_key: Mapped[str] = mapped_column(
        ForeignKey("groups.key", ondelete="CASCADE"), primary_key=True
    )
    cpf: Mapped[str] = mapped_column(String(11), primary_key=True, index=True)
    added_at: Mapped[timestamp]


class ProtocolSequence(Base):
    __tablename__ = "protocol_sequences"

    year: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    last_value: Mapped[int] = mapped_column(Integer, default=0)


class Chamado(Base):
    __tablename__ = "chamados"
    __table_args__ = (
        # A requester's list, newest first, paged by keyset (engine.listing): one index
        # per view, each in the list's order, so a page reads the page and no more.
        Index("ix_chamados_requester_list", "requester_id", "created_at", "id"),
        Index(
            "ix_chamados_requester_open",
            "requester_id",
            "created_at",
            "id",
            sqlite_where=text("closed_at IS NULL"),
            postgresql_where=text("closed_at IS NULL"),
        ),
        Index(
            "ix_chamados_requester_closed",
            "requester_id",
            "created_at",
            "id",
            sqlite_where=text("closed_at IS NOT NULL"),
            postgresql_where=text("closed_at IS NOT NULL"),
        ),
        # The queue's "Incidentes técnicos", oldest first: only tickets in an incident.
        Index(
            "ix_chamados_incidents",
            "incident_at",
            "id",
            sqlite_where=text("incident_at IS NOT NULL"),
            postgresql_where=text("incident_at IS NOT NULL"),
        ),
        # The Painel (engine.dashboard) reads each figure by the period of one time:
        # sent, closed, and the open tickets by the time they were sent (migration 0016).
        Index(
            "ix_chamados_submitted",
            "submitted_at",
            sqlite_where=text("submitted_at IS NOT NULL"),
            postgresql_where=text("submitted_at IS NOT NULL"),
        ),
        Index(
            "ix_chamados_closed",
            "closed_at",
            sqlite_where=text("closed_at IS NOT NULL"),
            postgresql_where=text("closed_at IS NOT NULL"),
        ),
        Index(
            "ix_chamados_open_age",
            "submitted_at",
            sqlite_where=text("closed_at IS NULL AND submitted_at IS NOT NULL"),
            postgresql_where=text("closed_at IS NULL AND submitted_at IS NOT NULL"),
        ),
        # Possible duplicates of a ticket (engine.outages.candidates): the open ones of
        # its órgão and category sent within days of it, a range read of this index
        # alone. The other indexes met on submitted_at and orgao_id (a bitmap AND of
        # ~28,000 and ~2,000 rows at a million tickets; migration 0025).
        Index(
            "ix_chamados_open_similar",
            "orgao_id",
            "categoria",
            "submitted_at",
            sqlite_where=text("closed_at IS NULL AND submitted_at IS NOT NULL"),
            postgresql_where=text("closed_at IS NULL AND submitted_at IS NOT NULL"),
        ),
        # The retention job: closed tickets still holding personal data, oldest first.
        Index(
            "ix_chamados_retention",
            "closed_at",
            "id",
            sqlite_where=text("closed_at IS NOT NULL AND anonymized_at IS NULL"),
            postgresql_where=text("closed_at IS NOT NULL AND anonymized_at IS NULL"),
        ),
    )

    id: Mapped[intpk]
    protocolo: Mapped[str] = mapped_column(String(20), unique=True)
    requester_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    process_version_id: Mapped[int] = mapped_column(ForeignKey("process_versions.id"))
    status: Mapped[str] = mapped_column(String(30), index=True)
    # Optimistic lock: every change bumps it; a stale form carries the old one.
    version: Mapped[int] = mapped_column(Integer, default=1)
    workflow_state: Mapped[str] = deferred(mapped_column(Text))
    # Denormalised from the submitted form for the queue's filters and lists.
    # Which form field fills each one is the form's own ``x-instance`` annotation.
    orgao_id: Mapped[int | None] = mapped_column(ForeignKey("orgaos.id"), index=True)
    categoria: Mapped[str | None] = mapped_column(String(80), index=True)
    servico: Mapped[str | None] = mapped_column(String(300))
    email: Mapped[str | None] = mapped_column(String(254))
    # The status as its model labels it (engine.policy), copied so lists need no model.
    status_label: Mapped[str | None] = mapped_column(String(80))
    status_tone: Mapped[str | None] = mapped_column(String(20))
    adjustment_rounds: Mapped[int] = mapped_column(Integer, default=0)
    outcome_message: Mapped[str | None] = mapped_column(Text)
    # SLA clock of the analysis: time with the analysts only, never while the
    # requester is adjusting. ``analysis_started_at`` is set while the clock runs.
    analysis_seconds: Mapped[int] = mapped_column(Integer, default=0)
    analysis_started_at: Mapped[datetime | None] = mapped_column(AwareDateTime())
    analysis_due_at: Mapped[datetime | None] = mapped_column(AwareDateTime(), index=True)
    overdue: Mapped[bool] = mapped_column(default=False, index=True)
    created_at: Mapped[timestamp]
    submitted_at: Mapped[datetime | None] = mapped_column(AwareDateTime())
    updated_at: Mapped[timestamp]
    closed_at: Mapped[datetime | None] = mapped_column(AwareDateTime())
    # When the team first took the ticket up: the first claim of a staff task, or the
    # completion of one nobody had claimed (engine.dashboard's "time to the first
    # analysis"). Written once, by the claim (usecases/analysis.py) or the completion
    # (usecases/requests.py ``_finish_completion``); a release does not move it.
    first_analysis_at: Mapped[datetime | None] = mapped_column(AwareDateTime())
    # A technical incident (engine.incidents): the model failed while a step ran; the
    # ticket keeps its last saved workflow state and the step waits, described in
    # ``incident_action``, for an admin to run it again. All null when there is none.
    incident_at: Mapped[datetime | None] = mapped_column(AwareDateTime())
    incident_element: Mapped[str | None] = mapped_column(String(100))
    incident_message: Mapped[str | None] = mapped_column(Text)
    incident_action: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    # Personal data removed past its retention (engine.anonymization): the protocol,
    # dates, statuses, process, órgão and problem type stay for the statistics.
    anonymized_at: Mapped[datetime | None] = mapped_column(AwareDateTime())

    # Loaded on demand; pages that show them ask for them (joinedload) in their query.
    requester: Mapped[User] = relationship()
    orgao: Mapped[Orgao | None] = relationship()
    process_version: Mapped[ProcessVersion] = relationship()


# The ticket's columns copied onto its open task rows for the queue's filters (HumanTask).
QUEUE_FILTER_COLUMNS = ("orgao_id", "categoria", "process_id", "resent", "late_from")
QUEUE_FILTER_EQUALITIES = ("orgao_id", "categoria", "process_id", "resent")  # indexed
# A task's ``late_from`` once a timer flagged its ticket overdue: earlier than any "now"
# (migration 0022's triggers write the same instant).
ALWAYS_LATE = datetime(1970, 1, 1, tzinfo=UTC)
# "Open task" in a query's SQL text, never as a bound value: the queue's partial indexes
# hold open rows only (``WHERE state = 'ready'``, migration 0022), and a bound value there
# costs on both databases. SQLite re-plans such a statement on every execution (a value
# could decide whether the index applies: ~100 µs for the task's lock, ten times its
# run); PostgreSQL's generic plan of a prepared statement cannot use the index at all.
# tests/test_partial_index_binds.py fails on any statement that binds it.
TASK_READY = literal_column("'ready'", String())


class HumanTask(Base):
    """A user task of a workflow, mirrored as a row for the queue."""

    __tablename__ = "human_tasks"
    __table_args__ = (
        # The queue's views; on PostgreSQL with the due date, so the "atrasados" filter
        # (a range, no index of its own: the oldest tasks are the late ones) reads the
        # index alone (migrations 0020, 0022; engine.queue; SQLite keeps the keys only).
        Index(
            "ix_human_tasks_queue",
            "group",
            "state",
            "assignee_id",
            "created_at",
            postgresql_include=["chamado_id", "late_from"],
        ),
        # "Todas em aberto": every open task of a group, oldest first, without a sort.
        Index(
            "ix_human_tasks_open",
            "group",
            "state",
            "created_at",
            postgresql_include=["chamado_id", "late_from"],
        ),
        # One ticket's tasks: by state, or of the staff's groups (the access checks,
        # ``chamado_id = ? AND "group" IN (…)``; migration 0020).
        Index("ix_human_tasks_chamado", "chamado_id", "group", "state"),
        # A person's own ready tasks, newest first, paged by keyset (engine.listing).
        Index("ix_human_tasks_assignee", "assignee_id", "state", "created_at", "id"),
        # The queue's filters on the ticket's columns, answered from the task rows alone
        # (migration 0022, engine.queue): one index per filter that is an equality, in
        # the queue's order (oldest first), so a count or a page walks only the matching
        # open tasks. On PostgreSQL each also holds the other filters (INCLUDE), so a
        # combination (órgão + atrasados) is still read from the index alone. Only open
        # rows (a tenth of them at a million tickets), so closing a task writes none;
        # "state" held all the same, last: PostgreSQL 15 reads the heap for a column of
        # the conditions an index lacks, even one its predicate settles (and drops that
        # condition from the scan's bounds: second in the key, it left the filter's
        # column unbounded, 10 ms a walk); SQLite's planner then sees a covering index.
        # SQLite has no INCLUDE: there migration 0026 puts the other filters after the key
        # of the órgão's, the type's and the service's indexes, so SQLite's planner picks
        # them over ``resent``'s (tests/test_schema.py checks those keys on their own).
        *(
            Index(
                f"ix_human_tasks_by_{column}",
                "group",
                column,
                "created_at",
                "assignee_id",
                "state",
                postgresql_include=[c for c in QUEUE_FILTER_COLUMNS if c != column],
                postgresql_where=text("state = 'ready'"),
                sqlite_where=text("state = 'ready'"),
            )
            for column in QUEUE_FILTER_EQUALITIES
        ),
    )

    id: Mapped[intpk]
    chamado_id: Mapped[int] = mapped_column(ForeignKey("chamados.id"))
    task_guid: Mapped[str] = mapped_column(String(36), unique=True)
    task_name: Mapped[str] = mapped_column(String(100))  # BPMN element id
    title: Mapped[str] = mapped_column(String(200))
    lane: Mapped[str | None] = mapped_column(String(100))
    group: Mapped[str] = mapped_column(String(50))
    state: Mapped[str] = mapped_column(String(20), default="ready")  # ready|completed|cancelled
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    form_schema: Mapped[str | None] = mapped_column(String(200))
    form_ui_schema: Mapped[str | None] = mapped_column(String(200))
    # Server-side draft of a form in progress; never part of the workflow state.
    draft_data: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    draft_step: Mapped[str | None] = mapped_column(String(50))
    created_at: Mapped[timestamp]
    claimed_at: Mapped[datetime | None] = mapped_column(AwareDateTime())
    completed_at: Mapped[datetime | None] = mapped_column(AwareDateTime())
    completed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    # The ticket's columns the queue filters on, copied onto its open task rows so every
    # filter is answered from an index of this table (engine.queue, migration 0022). The
    # database keeps them: a trigger fills them when an open row is inserted and copies
    # every change of the ticket's columns to its open rows (engine.tasks gives them too,
    # as the step leaves the ticket). On PostgreSQL both triggers run at commit and write
    # only a row whose copies differ (migration 0027), so the step writes each row once.
    # On SQLite the insert trigger fills only a row given none, and the ticket's trigger
    # rewrites only the open rows whose copies differ (migration 0028): a row is written
    # once there too. Rows no longer open keep what they had when they closed; nothing
    # reads them there.
    orgao_id: Mapped[int | None] = mapped_column(Integer)  # chamados.orgao_id
    categoria: Mapped[str | None] = mapped_column(String(80))  # chamados.categoria
    process_id: Mapped[str | None] = mapped_column(String(100))  # the ticket's service
    # "reenviado"; no Python default: a row written without it (an older schema's test,
    # a script) takes the database's, and the insert trigger fills it.
    resent: Mapped[bool] = mapped_column(server_default=false())
    # From when the queue counts the task late ("atrasado"): the ticket's analysis due
    # date, or the beginning of time once a timer flagged the ticket overdue
    # (ALWAYS_LATE).
    late_from: Mapped[datetime | None] = mapped_column(AwareDateTime())

    chamado: Mapped[Chamado] = relationship(lazy="joined")
    assignee: Mapped[User | None] = relationship(foreign_keys=[assignee_id])


class Submission(Base):
    """What a completed task's form sent: shown on the ticket, diffed on a new round."""

    __tablename__ = "submissions"

    id: Mapped[intpk]
    chamado_id: Mapped[int] = mapped_column(ForeignKey("chamados.id"), index=True)
    # The instance's rounds back to the requester when it was sent (0: the first).
    round: Mapped[int] = mapped_column(Integer)
    task_name: Mapped[str | None] = mapped_column(String(100))  # BPMN element id
    form_schema: Mapped[str | None] = mapped_column(String(200))
    group: Mapped[str | None] = mapped_column(String(50))  # the task's group
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
    submitted_at: Mapped[timestamp]


# The text-search configuration of PostgreSQL's searchable text (engine.search).
PORTUGUESE: ColumnClause[Any] = literal_column("'portuguese'::regconfig")


class SearchEntry(Base):
    """What staff search finds a ticket by: one row per requester form (engine.search).

    Each database adds its own full-text structure, which the models cannot declare
    (migration 0012): PostgreSQL a generated ``tsv`` column with its GIN index, SQLite
    the FTS5 table ``search_fts``."""

    __tablename__ = "search_entries"
    __table_args__ = (UniqueConstraint("chamado_id", "form", name="uq_search_entries_form"),)

    id: Mapped[intpk]
    chamado_id: Mapped[int] = mapped_column(ForeignKey("chamados.id"), index=True)
    form: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[timestamp]


class ReadyAnswer(Base):
    """A supervisor's answer text, offered on the analysis form (engine.ready_answers).

    Keyed by a catalog value (a problem type, a return reason) or by none (general);
    retired rather than deleted. The text an analyst sends is copied into the ticket,
    so an old ticket never depends on this row."""

    __tablename__ = "ready_answers"

    id: Mapped[intpk]
    title: Mapped[str] = mapped_column(String(120))
    body: Mapped[str] = mapped_column(Text)
    catalog: Mapped[str] = mapped_column(String(80))
    code: Mapped[str | None] = mapped_column(String(80))  # None: every value of the catalog
    active: Mapped[bool] = mapped_column(default=True)
    # Optimistic lock of the text and its key (engine.ready_answers.save): an edit made
    # on an older one changes nothing.
    version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    created_at: Mapped[timestamp]
    updated_at: Mapped[timestamp]
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))


class MessageWait(Base):
    """A BPMN message an instance waits for (engine.messages): mirrored after each step of
    a model that catches messages, so a delivery finds its instances without loading any.

    One row per correlation key the instance holds (``correlation``: the key and its
    values as canonical JSON), or one with none while it holds none (it catches any)."""

    __tablename__ = "message_waits"
    __table_args__ = (Index("ix_message_waits_name", "name", "correlation"),)

    id: Mapped[intpk]
    chamado_id: Mapped[int] = mapped_column(ForeignKey("chamados.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    correlation: Mapped[str | None] = mapped_column(String(500))


class QueuedMessage(Base):
    """A message thrown by one instance for others (engine.messages), saved with the
    throwing step and delivered by the scheduler's ``messages`` job, exactly once."""

    __tablename__ = "message_queue"
    __table_args__ = (Index("ix_message_queue_due", "state", "lease_until"),)

    id: Mapped[intpk]
    name: Mapped[str] = mapped_column(String(200))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    correlations: Mapped[dict[str, Any]] = mapped_column(JSON)
    from_chamado_id: Mapped[int | None] = mapped_column(ForeignKey("chamados.id"))
    # pending, delivered (to ``delivered_to``: ticket ids), undelivered (no receiver)
    state: Mapped[str] = mapped_column(String(20), default="pending")
    delivered_to: Mapped[list[Any] | None] = mapped_column(JSON)
    lease_until: Mapped[datetime | None] = mapped_column(AwareDateTime())
    created_at: Mapped[timestamp]
    delivered_at: Mapped[datetime | None] = mapped_column(AwareDateTime())


class SatisfactionSurvey(Base):
    """ "O atendimento resolveu seu problema?": one per closed ticket (engine.satisfaction).

    Opened when the ticket reaches its end; the result e-mail carries a single-use link
    whose token is kept only as its SHA-256 hash."""

    __tablename__ = "satisfaction_surveys"
    __table_args__ = (
        # The Painel's answers of a period (engine.dashboard, migration 0016).
        Index(
            "ix_satisfaction_answered",
            "answered_at",
            sqlite_where=text("answered_at IS NOT NULL"),
            postgresql_where=text("answered_at IS NOT NULL"),
        ),
    )

    chamado_id: Mapped[int] = mapped_column(ForeignKey("chamados.id"), primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[timestamp]
    link_used_at: Mapped[datetime | None] = mapped_column(AwareDateTime())
    rating: Mapped[int | None] = mapped_column(Integer)  # 1 (não resolveu) … 5
    comment: Mapped[str | None] = mapped_column(Text)
    answered_at: Mapped[datetime | None] = mapped_column(AwareDateTime())  # the first answer
    changed_at: Mapped[datetime | None] = mapped_column(AwareDateTime())
    channel: Mapped[str | None] = mapped_column(String(10))  # email | pagina


class AuditEvent(Base):
    """Every action on a ticket. ``public`` rows form the requester's timeline."""

    __tablename__ = "audit_events"
    __table_args__ = (Index("ix_audit_chamado_at", "chamado_id", "at"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    chamado_id: Mapped[int | None] = mapped_column(ForeignKey("chamados.id"))
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    at: Mapped[timestamp]
    action: Mapped[str] = mapped_column(String(50))
    summary: Mapped[str] = mapped_column(String(300))
    public: Mapped[bool] = mapped_column(default=True)
    message: Mapped[str | None] = mapped_column(Text)  # text shown to the requester
    details: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    request_id: Mapped[str | None] = mapped_column(String(64))

    actor: Mapped[User | None] = relationship(lazy="joined")


class Attachment(Base):
    __tablename__ = "attachments"

    id: Mapped[intpk]
    chamado_id: Mapped[int] = mapped_column(ForeignKey("chamados.id"), index=True)
    uploaded_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    # In the database so every app host sees it; deferred so lists stay light.
    content: Mapped[bytes] = deferred(mapped_column(LargeBinary))
    created_at: Mapped[timestamp]
    # Detached when the requester removes it from a draft; kept for the audit trail.
    removed: Mapped[bool] = mapped_column(default=False)


class WorkflowTimer(Base):
    """A timer a workflow is waiting on, as an indexed row the scheduler polls."""

    __tablename__ = "workflow_timers"
    __table_args__ = (Index("ix_workflow_timers_due", "state", "due_at"),)

    id: Mapped[intpk]
    chamado_id: Mapped[int] = mapped_column(ForeignKey("chamados.id"), index=True)
    task_guid: Mapped[str] = mapped_column(String(36), unique=True)
    element_id: Mapped[str] = mapped_column(String(100))
    due_at: Mapped[datetime] = mapped_column(AwareDateTime())
    state: Mapped[str] = mapped_column(String(20), default="waiting")  # waiting|fired|cancelled
    # Lease for SQLite (no SKIP LOCKED): a scheduler owns the row until lease_until.
    lease_until: Mapped[datetime | None] = mapped_column(AwareDateTime())
    leased_by: Mapped[str | None] = mapped_column(String(100))
    fired_at: Mapped[datetime | None] = mapped_column(AwareDateTime())
    created_at: Mapped[timestamp]

    chamado: Mapped[Chamado] = relationship(lazy="joined")


class OutboxMessage(Base):
    """An e-mail written in the same transaction as the change that causes it."""

    __tablename__ = "outbox_messages"
    __table_args__ = (Index("ix_outbox_due", "status", "next_attempt_at"),)

    id: Mapped[intpk]
    message_id: Mapped[str] = mapped_column(String(200), unique=True)  # stable Message-ID
    kind: Mapped[str] = mapped_column(String(50))
    chamado_id: Mapped[int | None] = mapped_column(ForeignKey("chamados.id"), index=True)
    to_addr: Mapped[str] = mapped_column(String(254))
    # The recipient's domain, lower case: delivery backs off per domain (MailDomainHold).
    to_domain: Mapped[str | None] = mapped_column(String(254))
    subject: Mapped[str] = mapped_column(String(300))
    body_text: Mapped[str] = mapped_column(Text)
    body_html: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20), default="pending")  # pending|sent|failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(AwareDateTime(), default=utcnow)
    lease_until: Mapped[datetime | None] = mapped_column(AwareDateTime())
    leased_by: Mapped[str | None] = mapped_column(String(100))
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[timestamp]
    sent_at: Mapped[datetime | None] = mapped_column(AwareDateTime())


class MailDomainHold(Base):
    """A recipient domain the relay refused for now (4xx): its mail waits until ``until``.

    One bad domain must not use up the attempts, nor the time, of everyone else's mail
    (engine.outbox). A delivery to the domain that succeeds deletes the row.
    """

    __tablename__ = "mail_domain_holds"

    domain: Mapped[str] = mapped_column(String(254), primary_key=True)
    until: Mapped[datetime] = mapped_column(AwareDateTime())
    failures: Mapped[int] = mapped_column(Integer, default=1)
    last_error: Mapped[str | None] = mapped_column(Text)


class ApiToken(Base):
    """A bearer token for the REST API, stored hashed; revocable."""

    __tablename__ = "api_tokens"

    id: Mapped[intpk]
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))  # shown in lists to tell tokens apart
    created_at: Mapped[timestamp]
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    last_used_at: Mapped[datetime | None] = mapped_column(AwareDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(AwareDateTime())

    user: Mapped[User] = relationship(foreign_keys=[user_id], lazy="joined")


class UserSession(Base):
    """One login (engine.sessions): the browser's cookie carries only a random token,
    whose SHA-256 is stored here; a row whose ``ended_at`` is set no longer logs anyone in.
    """

    __tablename__ = "user_sessions"
    __table_args__ = (
        # Live sessions (ended_at IS NULL) by recent activity: the admin's list.
        Index("ix_user_sessions_live", "ended_at", "last_seen_at"),
    )

    id: Mapped[intpk]
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(AwareDateTime())
    last_seen_at: Mapped[datetime] = mapped_column(AwareDateTime())
    ended_at: Mapped[datetime | None] = mapped_column(AwareDateTime())
    # engine.sessions.END_REASONS
    end_reason: Mapped[str | None] = mapped_column(String(20))
    user_agent: Mapped[str | None] = mapped_column(String(200))

    user: Mapped[User] = relationship(lazy="joined")


class DataAccess(Base):
    """A member of staff read a person's data (engine.access_log): who, when, what.

    One INSERT per read, ids only (no personal text), so the record itself survives the
    anonymisation of the ticket it is about.
    """

    __tablename__ = "data_access_records"
    __table_args__ = (
        Index("ix_data_access_chamado", "chamado_id", "at"),
        Index("ix_data_access_subject", "subject_id", "at"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    at: Mapped[datetime] = mapped_column(AwareDateTime())
    actor_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    # The person whose data was read (the ticket's requester at that moment).
    subject_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    chamado_id: Mapped[int | None] = mapped_column(ForeignKey("chamados.id"))
    channel: Mapped[str] = mapped_column(String(20))  # engine.access_log.CHANNELS
    item: Mapped[str | None] = mapped_column(String(100))  # e.g. "anexo:12"
    request_id: Mapped[str | None] = mapped_column(String(64))


class RetentionSetting(Base):
    """An admin's retention for a process, over what its model declares (engine.retention)."""

    __tablename__ = "retention_settings"

    process_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    days: Mapped[int] = mapped_column(Integer)
    updated_at: Mapped[timestamp]
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))


class Outage(Base):
    """An "Incidente": one failure of a service that many tickets report (engine.outages).

    Keyed, like the tickets it gathers, by a process and the ticket columns its forms
    fill (``x-instance``: órgão, serviço, categoria); worked by one staff group.
    ``state``: aberto → resolvendo (the tickets are being completed, in batches) →
    resolvido. Every change bumps ``version``; "Resolver" is a conditional UPDATE on it.
    """

    __tablename__ = "outages"
    __table_args__ = (Index("ix_outages_process_state", "process_id", "state"),)

    id: Mapped[intpk]
    process_id: Mapped[str] = mapped_column(String(100))
    group: Mapped[str] = mapped_column(String(50))
    title: Mapped[str] = mapped_column(String(200))
    public_text: Mapped[str] = mapped_column(Text)
    orgao_id: Mapped[int | None] = mapped_column(ForeignKey("orgaos.id"))
    servico: Mapped[str | None] = mapped_column(String(300))
    categoria: Mapped[str | None] = mapped_column(String(80))
    state: Mapped[str] = mapped_column(String(20), default="aberto")
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[timestamp]
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    resolve_started_at: Mapped[datetime | None] = mapped_column(AwareDateTime())
    resolved_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    resolved_at: Mapped[datetime | None] = mapped_column(AwareDateTime())


class OutageLink(Base):
    """A ticket gathered into an outage (at most one outage per ticket). ``outcome`` is
    set exactly once, by the resolution (engine.outages.OUTCOMES)."""

    __tablename__ = "outage_links"
    __table_args__ = (
        UniqueConstraint("chamado_id", name="uq_outage_links_chamado"),
        Index("ix_outage_links_pending", "outage_id", "outcome"),
    )

    id: Mapped[intpk]
    outage_id: Mapped[int] = mapped_column(ForeignKey("outages.id"))
    chamado_id: Mapped[int] = mapped_column(ForeignKey("chamados.id"))
    linked_at: Mapped[timestamp]
    linked_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    outcome: Mapped[str | None] = mapped_column(String(30))
    outcome_note: Mapped[str | None] = mapped_column(Text)
    done_at: Mapped[datetime | None] = mapped_column(AwareDateTime())

    chamado: Mapped[Chamado] = relationship()


class OutageSubscriber(Base):
    """A requester who joined an open outage instead of opening a ticket: they get the
    platform's result e-mail when it is resolved (``notified_at``: sent, once)."""

    __tablename__ = "outage_subscribers"
    __table_args__ = (UniqueConstraint("outage_id", "user_id", name="uq_outage_subscribers"),)

    id: Mapped[intpk]
    outage_id: Mapped[int] = mapped_column(ForeignKey("outages.id"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    email: Mapped[str | None] = mapped_column(String(254))
    created_at: Mapped[timestamp]
    notified_at: Mapped[datetime | None] = mapped_column(AwareDateTime())


class DataCopy(Base):
    """A person's request for the complete copy of their data (LGPD art. 19, II) and,
    once the scheduler built it, the copy itself (engine.data_copies).

    The copy is in the database, as attachments are, because app processes and schedulers
    run on any host (README "Production"): a file on the builder's disk would not be on
    the host that serves the download. It is gzip-compressed JSON (format
    ``chamados.meus-dados/1``), deleted when it expires, when a newer copy is ready and
    when the person's data is anonymised.
    """

    __tablename__ = "data_copies"
    __table_args__ = (
        # One pending request per person: a second INSERT fails whatever the race.
        Index(
            "uq_data_copies_pending",
            "user_id",
            unique=True,
            sqlite_where=text("status = 'pending'"),
            postgresql_where=text("status = 'pending'"),
        ),
        # The person's latest request (the page), and the job's pending ones, oldest first.
        Index("ix_data_copies_user", "user_id", "requested_at"),
        Index(
            "ix_data_copies_due",
            "requested_at",
            "id",
            sqlite_where=text("status = 'pending'"),
            postgresql_where=text("status = 'pending'"),
        ),
        Index("ix_data_copies_expires", "expires_at"),
    )

    id: Mapped[intpk]
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    status: Mapped[str] = mapped_column(String(20), default="pending")  # pending|ready|failed
    requested_at: Mapped[datetime] = mapped_column(AwareDateTime())
    # Claimed by one scheduler at a time (engine.data_copies.claim), renewed while it builds.
    lease_until: Mapped[datetime | None] = mapped_column(AwareDateTime())
    leased_by: Mapped[str | None] = mapped_column(String(100))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    ready_at: Mapped[datetime | None] = mapped_column(AwareDateTime())
    expires_at: Mapped[datetime | None] = mapped_column(AwareDateTime())
    # gzip of the JSON document; null until ready.
    content: Mapped[bytes | None] = deferred(mapped_column(LargeBinary))
    size: Mapped[int | None] = mapped_column(Integer)  # bytes of the JSON, uncompressed
    instances: Mapped[int | None] = mapped_column(Integer)
    # Why building failed, for the logs and admins (an exception's class, no personal data).
    error: Mapped[str | None] = mapped_column(String(300))
