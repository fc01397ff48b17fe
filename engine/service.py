"""The engine's facade: the use cases (engine.usecases), the one place that opens transactions.

Each public method runs in one transaction; a domain error rolls it back so a
failed or stale action changes nothing. Every change to a ticket first bumps
its version with a conditional UPDATE, so of two concurrent actions exactly one
proceeds and the other gets a :class:`Conflict`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from engine import catalogs, groups, orgaos, scenarios, schema, specs, users
from engine.db import make_engine, make_session_factory
from engine.models import ProcessVersion
from engine.sessions import SessionUseCases
from engine.settings import Settings
from engine.usecases.analysis import Analysis
from engine.usecases.base import (  # noqa: F401 - the public names of the facade
    ANALYST_ROLES,
    STAFF_ROLES,
    Actor,
    ActorRef,
    ChamadoView,
    TaskForm,
    UseCaseBase,
)
from engine.usecases.groups_admin import GroupsAdmin
from engine.usecases.incidents import Incidents, RetryOutcome  # noqa: F401 - public
from engine.usecases.recording import Recording
from engine.usecases.requests import Requests
from engine.usecases.timing import Timing


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class Chamados(
    Requests, Analysis, Timing, Incidents, Recording, GroupsAdmin, SessionUseCases, UseCaseBase
):
    """The engine's facade: one object per process, shared by every request and job."""

    settings: Settings
    db: Engine
    session_factory: sessionmaker[Session]
    clock: Callable[[], datetime] = _utcnow
    spec_cache: specs.SpecCache = field(default_factory=specs.SpecCache)
    orgao_labels: orgaos.LabelCache = field(default_factory=orgaos.LabelCache)
    form_cache: dict[Any, dict[str, Any]] = field(default_factory=dict)
    catalog_cache: catalogs.CatalogCache = field(default_factory=catalogs.CatalogCache)

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

    def init_database(self, load_reference_data: bool = True) -> None:
        """Migrate the schema, deploy processes/ and seed catalogs and órgãos (idempotent)."""
        self.migrate()
        with self.transaction() as session:
            groups.seed(session, self.settings.data_dir / "groups.json", self.clock())
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
