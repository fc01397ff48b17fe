"""The engine's front door: read this module first.

``Chamados.from_settings(settings)`` builds one unit of work (engine.unit: settings,
database, clock and the per-process caches; the one place that opens a transaction or
a session) and, from it, the use cases, each a named attribute:

=================  ================================  ===========================================
``svc.requests``   engine.usecases.requests          start an instance, services, my lists,
                                                     task forms, drafts, ``complete_task``,
                                                     tracking, attachments
``svc.analysis``   engine.usecases.analysis          the queue, claim / release / reassign,
                                                     the analysis page, look-ups
``svc.timers``     engine.usecases.timing            ``fire_due_timers``, ``fire_timer``
``svc.incidents``  engine.usecases.incidents         ``retry_incident``: an admin runs the
                                                     step a technical incident stopped again
``svc.admin``      engine.usecases.admin             roles, groups, catalogs, API tokens and
                                                     service accounts, the e-mail outbox,
                                                     other people's sessions
``svc.sessions``   engine.usecases.sessions          log in, who is this (session or API
                                                     token), log out
``svc.health``     engine.usecases.health            readiness, schema revisions, gauges
``svc.designer``   engine.designer.service           models, forms, scenarios, publishing
``svc.tickets``    engine.designer.tickets           moving tickets between versions, diagrams
``svc.search``     engine.usecases.search            staff search by protocol, CPF, NUP, words
``svc.satisfaction`` engine.usecases.satisfaction    "O atendimento resolveu seu problema?"
``svc.ready_answers`` engine.usecases.ready_answers  supervisors' answer texts for analysts
``svc.dashboard``  engine.usecases.dashboard         the "Painel" of supervisors and admins
``svc.privacy``    engine.usecases.privacy           LGPD: "Meus dados" and its complete copy,
                                                     who read whose data, retention and
                                                     anonymisation
``svc.outages``    engine.usecases.outages           "Incidentes": one failing service, many
                                                     tickets linked, duplicates, resolved at once
=================  ================================  ===========================================

Each public method runs in one transaction (or reads outside any); a domain error
(engine.errors) rolls it back, so a failed or stale action changes nothing. Every change
to a ticket first bumps its version with a conditional UPDATE: of two concurrent actions
exactly one proceeds and the other gets a :class:`~engine.errors.Conflict`. The steps the
use cases share (guards, reads, audit, what a step records and announces) are
engine.usecases.base and engine.usecases.recording, which they inherit.

The web layer imports this module and engine.errors only: ``__all__`` below is what the use
cases take and return, and the few pure helpers pages need (form reading and rendering,
list paging, input bounds, CPF formatting).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from apscheduler.schedulers.base import BaseScheduler
from sqlalchemy import select
from sqlalchemy.orm import Session

from engine import (
    access_log,
    catalogs,
    connectors,
    dashboard,
    forms,
    groups,
    incidents,
    limits,
    listing,
    orgaos,
    outbox,
    scenarios,
    specs,
    users,
)
from engine.access_log import CHANNELS as ACCESS_CHANNELS
from engine.attachments import ACCEPTED_EXTENSIONS as ACCEPTED_FILE_EXTENSIONS
from engine.attachments import ACCEPTED_TYPES_TEXT as ACCEPTED_FILE_TYPES
from engine.attachments import FIELD as ATTACHMENT_FIELD
from engine.attachments import content_disposition
from engine.business_days import describe as describe_business_time
from engine.catalogs import EDITABLE as EDITABLE_CATALOGS
from engine.catalogs import HELP_MAX as CATALOG_HELP_MAX
from engine.catalogs import LABEL_MAX as CATALOG_LABEL_MAX
from engine.clock import Clock
from engine.context import request_id
from engine.dashboard import Filters as DashboardFilters
from engine.dashboard import Metric as DashboardMetric
from engine.data_copies import KEEP_DAYS as DATA_COPY_KEEP_DAYS
from engine.data_copies import CopyState, Download
from engine.db import is_contention, is_unavailable
from engine.designer import Designer, ModelRejected, Problem, Tickets, form_builder
from engine.designer.diagram import TicketDiagram
from engine.designer.elements import Edits as ElementEdits
from engine.designer.folder import UnreadablePath
from engine.designer.folder import read_path as read_model_path
from engine.designer.folder import read_zip as read_model_zip
from engine.designer.form_upload import MAX_UPLOAD_BYTES as MAX_FORM_UPLOAD_BYTES
from engine.designer.form_upload import read_form_upload
from engine.designer.publishing import ScenariosFailed
from engine.designer.sandbox_runs import SandboxFailed, SandboxPage, SandboxRuns
from engine.designer.views import NewForm
from engine.groups import DESCRIPTION_MAX as GROUP_DESCRIPTION_MAX
from engine.groups import NAME_MAX as GROUP_NAME_MAX
from engine.identity import Identity, identity_from_claims
from engine.mail import MailSettings
from engine.models import Attachment, AuditEvent, Chamado, HumanTask, ProcessVersion
from engine.outages import MAX_LINKS as OUTAGE_MAX_LINKS
from engine.outages import OUTCOMES as OUTAGE_OUTCOMES
from engine.outages import TEXT_MAX as OUTAGE_TEXT_MAX
from engine.outages import TITLE_MAX as OUTAGE_TITLE_MAX
from engine.outages import Duplicate
from engine.personal_data import FORMAT as MY_DATA_FORMAT
from engine.personal_data import Summary as MyDataSummary
from engine.queue import ALL_VIEWS as QUEUE_VIEWS
from engine.queue import INCIDENTS as INCIDENTS_VIEW
from engine.queue import MAX_AGE_DAYS, QueueFilters
from engine.ready_answers import BODY_MAX as READY_ANSWER_BODY_MAX
from engine.ready_answers import PLACEHOLDERS as READY_ANSWER_PLACEHOLDERS
from engine.ready_answers import TITLE_MAX as READY_ANSWER_TITLE_MAX
from engine.ready_answers import Answer as ReadyAnswer
from engine.satisfaction import CHANGE_DAYS as SATISFACTION_CHANGE_DAYS
from engine.satisfaction import COMMENT_MAX as SATISFACTION_COMMENT_MAX
from engine.satisfaction import SCALE as SATISFACTION_SCALE
from engine.satisfaction import LinkOutcome
from engine.scheduler import make_scheduler
from engine.search import MAX_QUERY as MAX_SEARCH_QUERY
from engine.settings import PROJECT_ROOT, Settings
from engine.specs import MAX_BPMN_BYTES
from engine.tasks import REQUESTER_GROUP
from engine.unit import Unit
from engine.usecases.admin import Admin, RoleChange
from engine.usecases.analysis import Analysis
from engine.usecases.base import STAFF_ROLES, Actor, ActorRef, ChamadoView, TaskForm
from engine.usecases.dashboard import Dashboard, Panel
from engine.usecases.groups_admin import GroupChange
from engine.usecases.health import Gauges, Health
from engine.usecases.incidents import Incidents, RetryOutcome
from engine.usecases.messages import Delivery, Messages
from engine.usecases.outages import LinkReport, Notice, Outages, OutageView, ResolveReport
from engine.usecases.privacy import ErasureService, Privacy, RetentionReport
from engine.usecases.ready_answers import ReadyAnswers
from engine.usecases.requests import Requests, ServiceInfo
from engine.usecases.satisfaction import LinkAnswer, Satisfaction
from engine.usecases.search import Search, SearchResult
from engine.usecases.sessions import Sessions
from engine.usecases.timing import Timing
from engine.users import ROLE_LABELS, ROLES, Principal, parse_cpf
from engine.validators import format_cpf, normalize_cpf

__all__ = [
    # The facade.
    "Chamados",
    # SpiffArena process-model folders (chamados models deploy).
    "UnreadablePath",
    "read_model_path",
    "read_model_zip",
    # What its use cases take and return.
    "Actor",
    "ActorRef",
    "Attachment",
    "AuditEvent",
    "Chamado",
    "ChamadoView",
    "CopyState",
    "DATA_COPY_KEEP_DAYS",
    "Download",
    "Duplicate",
    "MY_DATA_FORMAT",
    "MyDataSummary",
    "LinkReport",
    "Notice",
    "OutageView",
    "ResolveReport",
    "DashboardFilters",
    "DashboardMetric",
    "ElementEdits",
    "ErasureService",
    "Gauges",
    "GroupChange",
    "LinkAnswer",
    "LinkOutcome",
    "HumanTask",
    "Identity",
    "MailSettings",
    "ModelRejected",
    "NewForm",
    "Panel",
    "Principal",
    "Problem",
    "QueueFilters",
    "ReadyAnswer",
    "RetentionReport",
    "Delivery",
    "RetryOutcome",
    "RoleChange",
    "SandboxFailed",
    "SandboxPage",
    "ScenariosFailed",
    "SearchResult",
    "ServiceInfo",
    "Settings",
    "TaskForm",
    "TicketDiagram",
    # What pages check input against.
    "ACCEPTED_FILE_EXTENSIONS",
    "ACCEPTED_FILE_TYPES",
    "ATTACHMENT_FIELD",
    "CATALOG_HELP_MAX",
    "CATALOG_LABEL_MAX",
    "EDITABLE_CATALOGS",
    "GROUP_DESCRIPTION_MAX",
    "GROUP_NAME_MAX",
    "INCIDENTS_VIEW",
    "MAX_AGE_DAYS",
    "MAX_BPMN_BYTES",
    "MAX_FORM_UPLOAD_BYTES",
    "MAX_SEARCH_QUERY",
    "OUTAGE_MAX_LINKS",
    "OUTAGE_OUTCOMES",
    "OUTAGE_TEXT_MAX",
    "OUTAGE_TITLE_MAX",
    "READY_ANSWER_BODY_MAX",
    "READY_ANSWER_PLACEHOLDERS",
    "READY_ANSWER_TITLE_MAX",
    "SATISFACTION_CHANGE_DAYS",
    "SATISFACTION_COMMENT_MAX",
    "SATISFACTION_SCALE",
    "PROJECT_ROOT",
    "QUEUE_VIEWS",
    "REQUESTER_GROUP",
    "ROLES",
    "ROLE_LABELS",
    "STAFF_ROLES",
    "ACCESS_CHANNELS",
    # Helpers: form reading and rendering, list paging, input bounds, formatting, the
    # texts of a technical incident.
    "access_log",
    "content_disposition",
    "dashboard",
    "describe_business_time",
    "format_cpf",
    "form_builder",
    "forms",
    "identity_from_claims",
    "incidents",
    "is_contention",
    "is_unavailable",
    "limits",
    "listing",
    "normalize_cpf",
    "parse_cpf",
    "read_form_upload",
    "request_id",
]


def _configure_connectors(settings: Settings) -> None:
    """Service tasks run in the shared script engine: the process's limits are global."""
    connectors.configure(
        connectors.HttpPolicy.from_text(
            settings.connector_http_hosts, float(settings.connector_http_timeout)
        )
    )


class Chamados:
    """One per process, shared by every request and job: named use cases over one unit."""

    def __init__(self, unit: Unit) -> None:
        self.unit = unit
        _configure_connectors(unit.settings)
        self.requests = Requests(unit)
        self.analysis = Analysis(unit)
        self.timers = Timing(unit)
        self.incidents = Incidents(unit)
        self.admin = Admin(unit)
        self.sessions = Sessions(unit)
        self.health = Health(unit)
        self.designer = Designer(unit)
        self.tickets = Tickets(unit)
        self.sandbox = SandboxRuns(unit)  # "Executar teste": a draft stepped by hand
        self.search = Search(unit)
        self.satisfaction = Satisfaction(unit)
        self.ready_answers = ReadyAnswers(unit)
        self.privacy = Privacy(unit)
        self.outages = Outages(unit)
        self.messages = Messages(unit)
        self.dashboard = Dashboard(unit)

    @classmethod
    def from_settings(cls, settings: Settings, clock: Clock | None = None) -> Chamados:
        return cls(Unit.from_settings(settings, clock))

    @property
    def settings(self) -> Settings:
        return self.unit.settings

    @settings.setter
    def settings(self, settings: Settings) -> None:
        # Tests point a running facade at other processes/ or shorter timeouts.
        self.unit.settings = settings
        _configure_connectors(settings)

    @property
    def clock(self) -> Clock:
        """The time every use case reads; replacing it (tests) replaces it for all."""
        return self.unit.clock

    @clock.setter
    def clock(self, clock: Clock) -> None:
        self.unit.clock = clock

    def init_database(self, load_reference_data: bool = True) -> None:
        """Migrate the schema, deploy processes/ and seed catalogs and órgãos (idempotent)."""
        self.migrate()
        settings = self.settings
        with self.unit.transaction() as session:
            groups.seed(session, settings.data_dir / "groups.json", self.clock())
            self.deploy_processes(session)
            scenarios.seed(session, settings.processes_dir, self.clock())
            if load_reference_data:
                catalogs.seed_catalogs(session, settings.data_dir / "catalogs.json")
                orgaos.load_orgaos(session, settings.data_dir / "orgaos_federais_siorg.csv")
            if settings.bootstrap_admin_cpf:
                users.ensure_bootstrap_admin(session, settings.bootstrap_admin_cpf)

    def migrate(self) -> None:
        self.unit.migrate()

    def close(self) -> None:
        """Close the pooled database connections (a process about to run another program)."""
        self.unit.dispose()

    def deploy_processes(self, session: Session) -> dict[str, int]:
        """Store a new version for every model in processes/ whose content changed."""
        deployed = {}
        found = specs.read_process_dir(self.settings.processes_dir, self.settings.forms_dir)
        for _stem, (bpmn, form_texts) in found.items():
            bundle = specs.parse_process(bpmn, form_texts)
            groups.ensure_for_lanes(session, list(bundle.lane_groups), self.clock())
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

    def scheduler(
        self,
        *,
        blocking: bool = False,
        interval_seconds: float = 5.0,
        extra_jobs: dict[str, Callable[[], Any]] | None = None,
    ) -> BaseScheduler:
        """The jobs that fire due timers, deliver the outbox, deliver the messages instances
        threw for others, go on resolving incidents, build the complete copies of "Meus
        dados" and delete them when they expire, and anonymise what is past its retention
        (engine.scheduler)."""
        worker = outbox.default_worker_id()
        jobs = {
            "messages": lambda: self.messages.deliver_queued(worker),
            # Incidents being resolved: their next batch of tickets (engine.usecases.outages).
            "outages": self.outages.continue_resolutions,
            # "Meus dados": complete copies asked for, built and expired (LGPD art. 19, II).
            "data_copies": lambda: self.privacy.build_copies(worker),
            **(extra_jobs or {}),
        }
        return make_scheduler(
            self.timers,
            self.unit,
            privacy=self.privacy,
            blocking=blocking,
            interval_seconds=interval_seconds,
            extra_jobs=jobs,
        )
