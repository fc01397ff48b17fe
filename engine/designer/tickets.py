"""Use cases on running tickets: moving them to a newer version, and their diagram."""

from __future__ import annotations

from dataclasses import dataclass

from engine import runtime
from engine.designer import migration
from engine.designer.access import require_designer
from engine.designer.diagram import TicketDiagram, ticket_diagram
from engine.errors import DomainError, NotFound
from engine.models import Chamado, ProcessVersion
from engine.unit import Unit
from engine.usecases.base import STAFF_ROLES, Actor


@dataclass(frozen=True)
class MoveResult:
    chamado_id: int
    protocolo: str
    moved: bool
    message: str


class Tickets:
    def __init__(self, unit: Unit) -> None:
        self.unit = unit

    def migration_plan(self, actor: Actor, pid: str, target_id: int) -> list[migration.TicketCheck]:
        """The dry run: nothing is written."""
        require_designer(actor)
        with self.unit.reading() as session:
            return migration.plan(
                session,
                self.unit.bundle,
                pid,
                target_id,
                self.unit.clock,
            )

    def migrate(
        self, actor: Actor, pid: str, target_id: int, chamado_ids: list[int]
    ) -> list[MoveResult]:
        """Each ticket in its own transaction: one refusal never undoes the others."""
        require_designer(actor)
        results = []
        for chamado_id in chamado_ids:
            try:
                with self.unit.transaction() as session:
                    check = migration.move(
                        session,
                        self.unit.bundle,
                        pid,
                        chamado_id,
                        target_id,
                        actor.id,
                        self.unit.clock,
                    )
                results.append(MoveResult(chamado_id, check.protocolo, True, check.reason))
            except DomainError as exc:
                protocolo = self._protocolo(chamado_id)
                results.append(MoveResult(chamado_id, protocolo, False, exc.message))
        return results

    def _protocolo(self, chamado_id: int) -> str:
        with self.unit.reading() as session:
            row = session.get(Chamado, chamado_id)
            return row.protocolo if row else str(chamado_id)

    def diagram(self, actor: Actor, chamado_id: int) -> TicketDiagram:
        """For the ticket's requester and staff; anyone else gets "not found"."""
        with self.unit.reading() as session:
            chamado = session.get(Chamado, chamado_id)
            if chamado is None or (
                chamado.requester_id != actor.id and not (actor.roles & STAFF_ROLES)
            ):
                raise NotFound("Chamado não encontrado.")
            bundle = self.unit.bundle(session, chamado.process_version_id)
            version = session.get(ProcessVersion, chamado.process_version_id)
            assert version is not None
            wf = runtime.load(bundle, chamado.workflow_state)
            return ticket_diagram(version.bpmn_xml.encode("utf-8"), wf)
