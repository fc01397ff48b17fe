"""The LGPD use cases: "Meus dados", who read whose data, retention and anonymisation.

* ``my_data``: "Meus dados" at once, simplified (LGPD art. 19, I; engine.personal_data
  ``summary``), for the person asking only; ``request_copy`` / ``build_copies`` /
  ``my_copy``: the complete declaration (art. 19, II), asked for by the person, built by
  the scheduler in bounded reads, stored for ``data_copies.KEEP_DAYS`` days and announced
  by e-mail (engine.data_copies).
* ``accesses_for_chamado`` / ``accesses_for_person``: the record engine.access_log keeps
  (admins); the person reads their own under "Meus dados".
* ``retention`` / ``set_retention`` / ``due`` / ``run_retention``: what each process keeps
  and for how long (engine.retention), and the job, also run by hand, that anonymises
  what is past it (engine.anonymization), each instance in a transaction of its own,
  exactly once whatever the number of schedulers.
* ``erasure_services``: the processes through which a person asks for erasure (a model
  whose end event declares ``erasePersonalData``): the platform names none.
"""

from __future__ import annotations

import gzip
import io
import logging
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine import (
    access_log,
    anonymization,
    audit,
    data_copies,
    outbox,
    personal_data,
    retention,
    users,
)
from engine.errors import NotFound, ValidationFailed
from engine.mail import platform_templates
from engine.models import Chamado, DataCopy, User
from engine.policy import MAX_RETENTION_DAYS
from engine.retention import Due, ProcessRetention
from engine.usecases.base import Actor, UseCaseBase

log = logging.getLogger(__name__)
ADMIN = frozenset({"admin"})
COPY_MAIL = data_copies.MAIL
# The platform's own e-mail (not a model's), extending the same layout as the models'.
PLATFORM_TEMPLATES = platform_templates(COPY_MAIL)
NO_COPY = (
    "Não há cópia completa dos seus dados pronta para baixar. Peça uma em “Meus dados”; "
    "avisaremos por e-mail quando estiver pronta."
)


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

    # Rows per read of the complete copy (tests make it small to cross many pages).
    copy_chunk: int = personal_data.CHUNK
    # Requests built per run of the job; the next run takes the rest.
    copies_per_run: int = 5
    # A new copy at most this often (engine.data_copies.REQUEST_INTERVAL).
    copy_interval: timedelta = data_copies.REQUEST_INTERVAL

    def my_data(self, actor: Actor) -> personal_data.Summary:
        """The simplified view of what is held about ``actor``: at once, and as cheap for
        a long history as for a short one (engine.personal_data ``summary``)."""
        self.flush_accesses()
        now = self.clock()
        with self.reading() as session:
            user = session.get(User, actor.id)
            if user is None:
                raise NotFound("Pessoa não encontrada.")
            copy = data_copies.latest(session, actor.id, now, self.copy_interval)
            return personal_data.summary(session, user, now, self.bundle, copy)

    def request_copy(self, actor: Actor) -> None:
        """Ask for the complete copy; Conflict (nothing changed) while one is pending."""
        # Read records a busy SQLite left buffered in this process go in before the copy.
        self.flush_accesses()
        now = self.clock()
        data_copies.request(self.transaction, actor.id, now, self.copy_interval)
        log.info("cópia completa dos dados pedida (pessoa %s)", actor.id)

    def copy_state(self, actor: Actor) -> data_copies.CopyState | None:
        """The caller's latest request of the complete copy that has not expired."""
        with self.reading() as session:
            return data_copies.latest(session, actor.id, self.clock(), self.copy_interval)

    def my_copy(self, actor: Actor) -> data_copies.Download:
        """The caller's own ready copy; NotFound when there is none (or it expired)."""
        with self.reading() as session:
            found = data_copies.download(session, actor.id, self.clock())
        if found is None:
            raise NotFound(NO_COPY)
        return found

    def build_copies(self, worker: str) -> int:
        """The scheduler's job: delete expired copies, then build pending requests, each
        claimed by one scheduler (engine.data_copies). Returns how many were built."""
        self.flush_accesses()
        with self.reading() as session:
            expired = data_copies.any_expired(session, self.clock())
        if expired:
            gone = data_copies.expire(self.transaction, self.clock())
            log.info("cópias de dados expiradas apagadas: %s", gone)
        built = 0
        for _ in range(self.copies_per_run):
            with self.reading() as session:
                if not data_copies.any_pending(session, self.clock()):
                    break
            claimed = data_copies.claim(self.transaction, self.clock(), worker)
            if claimed is None:
                break
            if self._build_copy(claimed, worker):
                built += 1
        return built

    def _build_copy(self, claimed: data_copies.Claimed, worker: str) -> bool:
        if claimed.attempts > data_copies.MAX_ATTEMPTS:
            data_copies.fail(
                self.transaction, claimed, worker, self.clock(), "tentativas esgotadas"
            )
            return False
        started = self.clock()
        buffer = io.BytesIO()

        def renew() -> None:
            data_copies.renew(self.transaction, claimed, worker, self.clock())

        try:
            # mtime=0: the same data gives the same bytes.
            with gzip.GzipFile(fileobj=buffer, mode="wb", mtime=0) as out:
                size, instances = personal_data.write(
                    out,
                    self.reading,
                    claimed.user_id,
                    started,
                    self.bundle,
                    chunk=self.copy_chunk,
                    between=renew,
                )
        except data_copies.LeaseLost:
            log.warning("cópia de dados %s: outro processo assumiu o pedido", claimed.id)
            return False
        except Exception as exc:  # recorded on the request and retried, never lost
            log.exception("cópia de dados %s: falhou ao gerar", claimed.id)
            data_copies.fail(self.transaction, claimed, worker, self.clock(), type(exc).__name__)
            return False
        with self.transaction() as session:
            now = self.clock()
            expires = data_copies.store(
                session, claimed, worker, now, buffer.getvalue(), size, instances
            )
            if expires is None:
                return False
            user = session.get(User, claimed.user_id)
            assert user is not None
            requested = session.scalar(
                select(DataCopy.requested_at).where(DataCopy.id == claimed.id)
            )
            outbox.enqueue(
                session,
                COPY_MAIL,
                user.email,
                {
                    "nome": user.social_name or user.name,
                    "pedido_em": requested,
                    "expira_em": expires,
                    "solicitacoes": instances,
                    "meus_dados_url": "/meus-dados",
                },
                chamado_id=None,
                base_url=self.settings.app_base_url,
                now=now,
                templates=PLATFORM_TEMPLATES,
            )
            audit.record(
                session,
                "dados.copia_gerada",
                "Cópia completa dos dados pessoais gerada para o titular",
                at=now,
                details={"user_id": user.id, "solicitacoes": instances, "bytes": size},
            )
        log.info("cópia de dados %s pronta: %s instância(s), %s bytes", claimed.id, instances, size)
        return True

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
                anonymization.anonymize_account(session, user, self.settings.instance_dir / "mail")
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
