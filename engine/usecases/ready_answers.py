"""Ready answers (engine.ready_answers): supervisors keep them, analysts use them."""

from __future__ import annotations

import builtins
from typing import Any

from sqlalchemy.orm import Session, joinedload

from engine import catalogs, ready_answers
from engine.errors import NotFound
from engine.models import Chamado
from engine.ready_answers import Answer, Offered
from engine.usecases.base import STAFF_ROLES, Actor, UseCaseBase

_KEEPERS = frozenset({"supervisor", "admin"})


class ReadyAnswers(UseCaseBase):
    def list(self, actor: Actor) -> list[Answer]:
        self._require_roles(actor, _KEEPERS)
        with self.reading() as session:
            return ready_answers.list_answers(session)

    def get(self, actor: Actor, answer_id: int) -> Answer:
        self._require_roles(actor, _KEEPERS)
        with self.reading() as session:
            return ready_answers.get_answer(session, answer_id)

    def catalogs(
        self, actor: Actor
    ) -> dict[str, tuple[str, builtins.list[catalogs.CatalogOption]]]:
        """catalog → (its title, its values) for the keeper's form."""
        self._require_roles(actor, _KEEPERS)
        with self.reading() as session:
            return {
                name: (title, catalogs.options(session, name))
                for name, title in catalogs.EDITABLE.items()
            }

    def save(
        self,
        actor: Actor,
        answer_id: int | None,
        title: str,
        body: str,
        catalog: str,
        code: str | None,
        expected_version: int | None = None,
    ) -> int:
        """A new answer (``answer_id`` None), or the edit of one made on
        ``expected_version`` (required then): Conflict when it moved since."""
        self._require_roles(actor, _KEEPERS)
        with self.transaction() as session:
            return ready_answers.save(
                session,
                answer_id,
                title,
                body,
                catalog,
                code,
                actor.id,
                self.clock(),
                expected_version,
            )

    def set_active(self, actor: Actor, answer_id: int, active: bool) -> None:
        self._require_roles(actor, _KEEPERS)
        with self.transaction() as session:
            ready_answers.set_active(session, answer_id, active, actor.id, self.clock())

    def seed_examples(self) -> int:
        """The example answers in ``data/ready_answers.json`` on a database that has none
        (``make run``'s demo; a deployment starts with an empty list)."""
        with self.transaction() as session:
            return ready_answers.seed(
                session, self.settings.data_dir / "ready_answers.json", self.clock()
            )

    def offered(
        self, actor: Actor, chamado_id: int, schema: dict[str, Any]
    ) -> dict[str, builtins.list[Offered]]:
        """field → the answers the analysis form offers for this ticket, filled in."""
        self._require_roles(actor, STAFF_ROLES)
        with self.reading() as session:
            chamado = self._chamado(session, actor, chamado_id)
            return ready_answers.offered(session, chamado, schema, self._values(session, chamado))

    def apply(
        self,
        actor: Actor,
        chamado_id: int,
        schema: dict[str, Any],
        data: dict[str, Any],
        answer_id: int,
    ) -> dict[str, Any]:
        self._require_roles(actor, STAFF_ROLES)
        with self.reading() as session:
            chamado = self._chamado(session, actor, chamado_id)
            values = self._values(session, chamado)
            return ready_answers.apply(session, chamado, schema, data, answer_id, values)

    def _chamado(self, session: Session, actor: Actor, chamado_id: int) -> Chamado:
        """The ticket whose values fill the answers in (its protocol, the requester's
        name): one the actor may read (engine.usecases.base._may_read_ticket)."""
        chamado = session.get(Chamado, chamado_id, options=[joinedload(Chamado.requester)])
        if chamado is None or not self._may_read_ticket(session, actor, chamado):
            raise NotFound("Chamado não encontrado.")
        return chamado

    def _values(self, session: Session, chamado: Chamado) -> dict[str, str | None]:
        return {
            "protocolo": chamado.protocolo,
            "nome": chamado.requester.display_name,
            "servico": chamado.servico,
            "orgao": self.orgao_labels.label(session, chamado.orgao_id)
            if chamado.orgao_id
            else None,
        }
