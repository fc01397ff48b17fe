"""The LGPD use cases: "Meus dados", who read whose data, retention and anonymisation.

* ``my_data``: the document engine.personal_data builds, for the person asking only.
* ``accesses_for_chamado`` / ``accesses_for_person``: the record engine.access_log keeps
  (admins); the person reads their own through ``my_data``.
* ``retention`` / ``set_retention`` / ``due`` / ``run_retention``: what each process keeps
  and for how long (engine.retention), and the job, also run by hand, that anonymises
  what is past it (engine.anonymization), each instance in a transaction of its own,
  exactly once whatever the number of schedulers.
* ``erasure_services``: the processes through which a person asks for erasure (a model
  whose end event declares ``erasePersonalData``): the platform names none.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine import access_log, anonymization, audit, personal_data, retention, users
from engine.errors import NotFound, ValidationFailed
from engine.models import Chamado, User
from engine.policy import MAX_RETENTION_DAYS
from engine.retention import Due, ProcessRetention
from engine.usecases.base import Actor, UseCaseBase

log = logging.getLogger(__name__)
ADMIN = frozenset({"admin"})


@dataclass(frozen=True)
class ErasureService:
    process_id: str
    title: str
    start_label: str


@dataclass(frozen=True)
class RetentionReport:
    instances: int
    accounts: int


class Privacy(UseCaseBase):
    # --- the person -----------------------------------------------------------------------

    def my_data(self, actor: Actor) -> dict[str, Any]:
        """Everything held about ``actor`` (engine.personal_data), as one JSON document."""
        self.flush_accesses()
        with self.reading() as session:
            return personal_data.build(
                session, actor.id, self.clock(), lambda vid: self.bundle(session, vid)
            )

    def erasure_services(self) -> list[ErasureService]:
        with self.reading() as session:
            found = []
            for process_id, version_id in self._published_versions(session):
                declared = self.bundle(session, version_id).policy
                if any(e.erase_personal_data for e in declared.elements.values()):
                    found.append(ErasureService(process_id, declared.title, declared.start_label))
            return sorted(found, key=lambda s: s.title.casefold())

    # --- who read whose data ---------------------------------------------------------------

    def accesses_for_chamado(
        self, actor: Actor, chamado_id: int | None = None, protocolo: str | None = None
    ) -> tuple[Chamado, list[access_log.AccessView]]:
        self._require_roles(actor, ADMIN)
        self.flush_accesses()
        with self.reading() as session:
            query = select(Chamado)
            if chamado_id is not None:
                query = query.where(Chamado.id == chamado_id)
            else:
                query = query.where(Chamado.protocolo == (protocolo or "").strip().upper())
            chamado = session.scalar(query)
            if chamado is None:
                raise NotFound("Chamado não encontrado.")
            return chamado, access_log.for_chamado(session, chamado.id)

    def accesses_for_person(
        self, actor: Actor, cpf: str
    ) -> tuple[User, list[access_log.AccessView]]:
        self._require_roles(actor, ADMIN)
        parsed = users.parse_cpf(cpf)
        if parsed is None:
            raise ValidationFailed({"cpf": "Informe um CPF válido."})
        self.flush_accesses()
        with self.reading() as session:
            person = session.scalar(select(User).where(User.cpf == parsed))
            if person is None:
                raise NotFound("Nenhuma pessoa com este CPF entrou no sistema.")
            return person, access_log.for_subject(session, person.id)

    # --- retention --------------------------------------------------------------------------

    def retention(self, actor: Actor | None = None) -> list[ProcessRetention]:
        if actor is not None:
            self._require_roles(actor, ADMIN)
        with self.reading() as session:
            return self._retentions(session)

    def _retentions(self, session: Session) -> list[ProcessRetention]:
        chosen = retention.admin_settings(session)
        found = []
        for process_id, version_id in self._published_versions(session):
            declared = self.bundle(session, version_id).policy
            found.append(
                ProcessRetention(
                    process_id, declared.title, declared.retention_days, chosen.get(process_id)
                )
            )
        return sorted(found, key=lambda r: r.title.casefold())

    def set_retention(self, actor: Actor, process_id: str, raw_days: str) -> None:
        """An admin's retention for a process; empty: back to what the model declares."""
        self._require_roles(actor, ADMIN)
        raw = (raw_days or "").strip()
        days: int | None = None
        if raw:
            try:
                days = int(raw)
            except ValueError:
                days = -1
            if not 1 <= days <= MAX_RETENTION_DAYS:
                raise ValidationFailed(
                    {"dias": f"Informe um número de dias entre 1 e {MAX_RETENTION_DAYS}."}
                )
        with self.transaction() as session:
            if process_id not in {pid for pid, _v in self._published_versions(session)}:
                raise NotFound("Processo não encontrado.")
            retention.set_days(session, process_id, days, actor.id, self.clock())
            audit.record(
                session,
                "retencao.definida",
                f"Retenção de {process_id}: "
                + (f"{days} dias" if days is not None else "a declarada no modelo"),
                actor_id=actor.id,
                at=self.clock(),
                details={"processo": process_id, "dias": days},
            )

    def due(self, actor: Actor | None = None) -> list[Due]:
        if actor is not None:
            self._require_roles(actor, ADMIN)
        with self.reading() as session:
            return retention.due(session, self._retentions(session), self.clock())

    def run_retention(self, actor: Actor | None = None) -> RetentionReport:
        """Anonymise every instance and account that is due; ``actor``: an admin's run by
        hand (None: the scheduler). Each one in its own transaction, skipped when another
        run holds or already did it: exactly once across nodes."""
        if actor is not None:
            self._require_roles(actor, ADMIN)
        done = 0
        for item in self.due():
            with self.transaction() as session:
                chamado = retention.lock_due(session, item.chamado_id)
                if chamado is None:
                    continue
                now = self.clock()
                bundle = self.bundle(session, chamado.process_version_id)
                counts = anonymization.anonymize_chamado(
                    session, chamado, bundle, now, self.settings.instance_dir / "mail"
                )
                audit.record(
                    session,
                    "dados.anonimizados",
                    "Dados pessoais anonimizados ("
                    + ("prazo de retenção" if item.reason == "prazo" else "pedido do titular")
                    + (", execução manual)" if actor is not None else ")"),
                    chamado_id=chamado.id,
                    actor_id=actor.id if actor is not None else None,
                    at=now,
                    details={"motivo": item.reason, **counts},
                )
                done += 1
        accounts = 0
        with self.reading() as session:
            account_ids = retention.due_accounts(session, self.clock())
        for user_id in account_ids:
            with self.transaction() as session:
                user = retention.lock_account(session, user_id)
                if user is None or user.id not in retention.due_accounts(session, self.clock()):
                    continue
                anonymization.anonymize_account(session, user)
                audit.record(
                    session,
                    "conta.anonimizada",
                    "Conta sem uso anonimizada (prazo de retenção)",
                    actor_id=actor.id if actor is not None else None,
                    at=self.clock(),
                    details={"user_id": user_id},
                )
                accounts += 1
        if done or accounts:
            log.info("retenção: %s instância(s) e %s conta(s) anonimizadas", done, accounts)
        return RetentionReport(done, accounts)
