"""Use cases on running tickets: moving them to a newer version, and their diagram."""

from __future__ import annotations

from dataclasses import dataclass

from engine import runtime
from engine.designer import migration
from engine.designer.access import require_designer
from engine.designer.diagram import TicketDiagram, ticket_diagram
from engine.errors import DomainError, NotFound
from engine.models import Chamado, ProcessVersion
from engine.service import STAFF_ROLES, Actor, Chamados


@dataclass(frozen=True)
class MoveResult:
    chamado_id: int
    protocolo: str
    moved: bool
    message: str


class Tickets:
    def __init__(self, svc: Chamados) -> None:
        self.svc = svc

    def migration_plan(self, actor: Actor, pid: str, target_id: int) -> list[migration.TicketCheck]:
        """The dry run: nothing is written."""
        require_designer(actor)
        with self.svc.session_factory() as session:
            return migration.plan(
                session,
                self.svc.bundle,
                pid,
                target_id,
                self.svc.clock,
            )

    def migrate(
        self, actor: Actor, pid: str, target_id: int, chamado_ids: list[int]
    ) -> list[MoveResult]:
        """Each ticket in its own transaction: one refusal never undoes the others."""
        require_designer(actor)
        results = []
        for chamado_id in chamado_ids:
            try:
                with self.svc.transaction() as session:
                    check = migration.move(
                        session,
                        self.svc.bundle,
                        pid,
                        chamado_id,
                        target_id,
                        actor.id,
                        self.svc.clock,
                    )
                results.append(MoveResult(chamado_id, check.protocolo, True, check.reason))
            except DomainError as exc:
                protocolo = self._protocolo(chamado_id)
                results.append(MoveResult(chamado_id, protocolo, False, exc.message))
        return results

    def _protocolo(self, chamado_id: int) -> str:
        with self.svc.session_factory() as session:
            row = session.get(Chamado, chamado_id)
            return row.protocolo if row else str(chamado_id)

    def diagram(self, actor: Actor, chamado_id: int) -> TicketDiagram:
        """For the ticket's requester and staff; anyone else gets "not found"."""
        with self.svc.session_factory() as session:
            chamado = session.get(Chamado, chamado_id)
            if chamado is None or (
                chamado.requester_id != actor.id and not (actor.roles & STAFF_ROLES)
            ):
                raise NotFound("Chamado não encontrado.")
            bundle = self.svc.bundle(session, chamado.process_version_id)
            version = session.get(ProcessVersion, chamado.process_version_id)
            assert version is not None
            wf = runtime.load(bundle, chamado.workflow_state)
            return ticket_diagram(version.bpmn_xml.encode("utf-8"), wf)
