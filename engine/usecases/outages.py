"""Outages ("Incidentes", engine.outages): open one, link tickets, resolve them all.

Who does what:

- Analysts and supervisors open an outage for a process whose model declares how an
  outage resolves its analysis task (``incidentAnswer``, engine.policy). The outage
  belongs to that task's lane group: an analyst sees and changes only the outages of
  their groups, and links only tickets their groups worked (the staff search's rule);
  supervisors see every one. Requesters and admins who do not work the queue see none.
- Only supervisors press "Resolver incidente": it answers every linked ticket at once.
- Any person logged in sees the open outages of a service on its start page and may
  join one instead of opening a ticket (they need an e-mail address to be told).

Resolving, exactly once and in bounded work. "Resolver" is first one conditional
UPDATE of the outage (``aberto`` → ``resolvendo``, on the version the supervisor saw):
of two supervisors pressing at once exactly one wins, the other is told and changes
nothing. Then each linked ticket is completed in a transaction of its own — never one
transaction for hundreds of tickets: the ticket row is locked first (the lock order
of every change), its link is re-read and must still have no outcome, the open task
the model names is completed through the ticket's own BPMN path with the values the
model declares and the outage's public text as the answer (the form is validated like
any sending; the model's end event mails the requester its normal result through the
outbox), and the link's outcome is set by a conditional UPDATE. The request completes
up to ``BATCH`` tickets itself; the scheduler's ``outages`` job completes the rest,
``BATCH`` per run, so hundreds of tickets never hold a request for minutes. When no
link is left without an outcome the outage becomes ``resolvido`` (one conditional
UPDATE) and each requester who joined it gets the platform's e-mail, once.

A ticket that is not at the declared task is left as it is, with the reason as its
link's outcome, shown to the supervisor: waiting for the requester's adjustment (the
requester has the ticket: answering it now would discard what they are changing; it
comes back to the queue when they send it, and its page shows the outage's text), no
longer open, or stopped in a technical incident.
"""

from __future__ import annotations

import builtins
import logging
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import exists, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, joinedload

from engine import catalogs, outages, runtime, specs, tasks
from engine.db import rows_changed
from engine.errors import Conflict, Forbidden, NotFound, ValidationFailed
from engine.models import TASK_READY, Chamado, HumanTask, Outage, OutageLink, OutageSubscriber, User
from engine.outages import Duplicate
from engine.usecases.base import ANALYST_ROLES, Actor, ActorRef
from engine.usecases.requests import Requests

log = logging.getLogger(__name__)

_RESOLVERS = frozenset({"supervisor"})
_LINKS = OutageLink.__table__
_OUTAGES = Outage.__table__
STALE_OUTAGE = (
    "Este incidente foi alterado por outra pessoa enquanto você o via; nada foi feito. "
    "Recarregue a página."
)


@dataclass(frozen=True)
class LinkView:
    chamado: Chamado
    outcome: str | None
    outcome_label: str | None
    note: str | None


@dataclass
class OutageView:
    outage: Outage
    state_label: str
    process_title: str
    orgao: str | None
    categoria: str | None
    links: list[LinkView] = field(default_factory=list)
    subscribers: int = 0
    pending: int = 0  # links without an outcome

    @property
    def is_open(self) -> bool:
        return self.outage.state == outages.OPEN


@dataclass(frozen=True)
class LinkReport:
    linked: list[str]
    refused: list[tuple[str, str]]  # (protocol or id, why), pt-BR


@dataclass(frozen=True)
class ResolveReport:
    """What "Resolver incidente" did (so far): the outage's state, the protocols each
    outcome applied to in this run, and how many tickets are still to be done."""

    state: str
    done: dict[str, list[str]]
    pending: int

    @property
    def message(self) -> str:
        parts = []
        resolved = self.done.get("resolvido", [])
        if resolved:
            parts.append(f"{len(resolved)} chamado(s) resolvido(s) pelo incidente.")
        for outcome, protocols in self.done.items():
            if outcome != "resolvido" and protocols:
                parts.append(
                    f"{outages.OUTCOMES[outcome]}: {', '.join(protocols)} "
                    f"({len(protocols)} chamado(s))."
                )
        if self.pending:
            parts.append(
                f"Faltam {self.pending} chamado(s): eles são resolvidos em segundo plano, "
                "em lotes; acompanhe nesta página."
            )
        elif self.state == outages.RESOLVED:
            parts.append("Incidente resolvido.")
        return " ".join(parts) or "Nenhum chamado vinculado precisou ser alterado."


@dataclass(frozen=True)
class Notice:
    """An open outage as a service's start page shows it to a requester."""

    id: int
    title: str
    public_text: str
    orgao: str | None
    servico: str | None
    categoria: str | None
    subscribed: bool


class Outages(Requests):
    """Completing a linked ticket is a staff completion (Requests' steps), hence the base."""

    # ------------------------------------------------------------------ who sees what

    def _visible(self, session: Session, actor: Actor, outage: Outage) -> bool:
        return "supervisor" in actor.roles or outage.group in self._groups(session, actor)

    def _outage(self, session: Session, actor: Actor, outage_id: int) -> Outage:
        self._require_roles(actor, ANALYST_ROLES)
        outage = session.get(Outage, outage_id)
        # Another group's outage is "not found": its existence is not disclosed.
        if outage is None or not self._visible(session, actor, outage):
            raise NotFound("Incidente não encontrado.")
        return outage

    # ------------------------------------------------------------------ the process side

    def _process_of(self, session: Session, chamado: Chamado) -> str:
        return self.bundle(session, chamado.process_version_id).process_id

    def _current_bundle(self, session: Session, process_id: str) -> specs.ProcessBundle:
        return self.bundle(session, self._current_version_id(session, process_id))

    @staticmethod
    def _incident_group(bundle: specs.ProcessBundle) -> str | None:
        """The lane group of the task the model lets an outage resolve, if any."""
        for element_id in bundle.policy.incident_tasks:
            info = bundle.user_tasks.get(element_id)
            if info is not None:
                return bundle.group_of(info.lane)
        return None

    def incident_processes(self, actor: Actor) -> list[tuple[str, str]]:
        """(process id, title) of the published processes whose model says how an outage
        resolves them, and whose group the actor works (supervisors: all)."""
        self._require_roles(actor, ANALYST_ROLES)
        with self.reading() as session:
            mine = set(self._groups(session, actor))
            found = []
            for process_id, version_id in self._published_versions(session):
                bundle = self.bundle(session, version_id)
                group = self._incident_group(bundle)
                if group and ("supervisor" in actor.roles or group in mine):
                    found.append((process_id, bundle.policy.title))
            return sorted(found, key=lambda p: p[1].casefold())

    def _categoria_label(
        self, session: Session, bundle: specs.ProcessBundle, code: str | None
    ) -> str | None:
        """A category code as its process's forms label it (their ``x-catalog``)."""
        if code is None:
            return None
        for schema in bundle.forms.values():
            for prop in (schema.get("properties") or {}).values():
                if isinstance(prop, dict) and prop.get("x-instance") == "categoria":
                    catalog = prop.get("x-catalog")
                    if catalog:
                        for option in catalogs.options(session, catalog):
                            if option.code == code:
                                return option.label
        return code

    def categories(self, actor: Actor, process_id: str) -> list[catalogs.CatalogOption]:
        """The category choices of a process (the creation form)."""
        self._require_roles(actor, ANALYST_ROLES)
        with self.reading() as session:
            return self._category_options(session, self._current_bundle(session, process_id))

    @staticmethod
    def _category_options(
        session: Session, bundle: specs.ProcessBundle
    ) -> builtins.list[catalogs.CatalogOption]:
        """The items of the catalogs the process's forms fill its category from (retired
        ones included: an outage may be about tickets sent before a value retired)."""
        names = []
        for schema in bundle.forms.values():
            for prop in (schema.get("properties") or {}).values():
                if isinstance(prop, dict) and prop.get("x-instance") == "categoria":
                    if prop.get("x-catalog") and prop["x-catalog"] not in names:
                        names.append(prop["x-catalog"])
        return [o for name in names for o in catalogs.options(session, name)]

    # ------------------------------------------------------------------ open, list, read

    def create(
        self,
        actor: Actor,
        *,
        title: str,
        public_text: str,
        process_id: str | None = None,
        orgao_id: int | None = None,
        servico: str | None = None,
        categoria: str | None = None,
        from_chamado_id: int | None = None,
    ) -> int:
        """Open an outage. From a ticket (``from_chamado_id``) its process, órgão, service
        and category are the ticket's, and the ticket is linked at once."""
        self._require_roles(actor, ANALYST_ROLES)
        title, public_text, servico, categoria = outages.checked(
            title, public_text, servico, categoria
        )
        now = self.clock()
        with self.transaction() as session:
            source = None
            if from_chamado_id is not None:
                source = session.get(Chamado, from_chamado_id)
                if source is None or not self._may_read_ticket(session, actor, source):
                    raise NotFound("Chamado não encontrado.")
                process_id = self._process_of(session, source)
                orgao_id, servico, categoria = source.orgao_id, source.servico, source.categoria
            if not process_id:
                raise ValidationFailed({"processo": "Escolha o processo dos chamados afetados."})
            try:
                bundle = self._current_bundle(session, process_id)
            except NotFound:
                raise ValidationFailed({"processo": "Processo não encontrado."}) from None
            group = self._incident_group(bundle)
            if group is None:
                raise ValidationFailed(
                    {
                        "processo": "O modelo deste processo não diz como um incidente resolve "
                        "os seus chamados (propriedade incidentAnswer na tarefa de análise)."
                    }
                )
            if "supervisor" not in actor.roles and group not in self._groups(session, actor):
                raise Forbidden("Você não atende os chamados deste processo.")
            if orgao_id is not None and not self.orgao_labels.label(session, orgao_id):
                raise ValidationFailed({"orgao": "Órgão não encontrado: escolha um da lista."})
            if source is None and categoria is not None:
                known = self._category_options(session, bundle)
                # A process whose forms take the category as free text has no list.
                if known and categoria not in {o.code for o in known}:
                    raise ValidationFailed(
                        {"categoria": "Tipo de problema não encontrado: escolha um da lista."}
                    )
            outage = Outage(
                process_id=process_id,
                group=group,
                title=title,
                public_text=public_text,
                orgao_id=orgao_id,
                servico=servico,
                categoria=categoria or None,
                state=outages.OPEN,
                version=1,
                created_at=now,
                created_by_id=actor.id,
            )
            session.add(outage)
            session.flush()
            self._audit(
                session,
                None,
                actor.id,
                "incidente_servico.aberto",
                f"Incidente “{title}” aberto"[:300],
                now=now,
                public=False,
                details={"incidente": outage.id, "processo": process_id},
            )
            if source is not None:
                self._link_rows(session, actor, outage, [source.id], now)
            return outage.id

    def list(self, actor: Actor, only_open: bool = False) -> list[OutageView]:
        """The outages the actor may see: open ones first, newest first (at most 200)."""
        self._require_roles(actor, ANALYST_ROLES)
        with self.reading() as session:
            query = select(Outage)
            if only_open:
                query = query.where(Outage.state == outages.OPEN)
            if "supervisor" not in actor.roles:
                query = query.where(Outage.group.in_(self._groups(session, actor)))
            rows = session.scalars(
                query.order_by((Outage.state == outages.RESOLVED), Outage.id.desc()).limit(200)
            ).all()
            counts = dict(
                session.execute(
                    select(OutageLink.outage_id, func.count())
                    .where(OutageLink.outage_id.in_([r.id for r in rows]))
                    .group_by(OutageLink.outage_id)
                ).all()
            )
            views = [self._summary(session, r) for r in rows]
            for view in views:
                view.pending = int(counts.get(view.outage.id, 0))  # here: linked tickets
            return views

    def _summary(self, session: Session, outage: Outage) -> OutageView:
        try:
            bundle: specs.ProcessBundle | None = self._current_bundle(session, outage.process_id)
        except NotFound:
            bundle = None
        return OutageView(
            outage=outage,
            state_label=outages.STATE_LABELS.get(outage.state, outage.state),
            process_title=bundle.policy.title if bundle else outage.process_id,
            orgao=self.orgao_labels.label(session, outage.orgao_id) if outage.orgao_id else None,
            categoria=self._categoria_label(session, bundle, outage.categoria)
            if bundle
            else outage.categoria,
        )

    def get(self, actor: Actor, outage_id: int) -> OutageView:
        """An outage with its linked tickets (what an analyst of its group may see)."""
        with self.reading() as session:
            outage = self._outage(session, actor, outage_id)
            view = self._summary(session, outage)
            rows = session.execute(
                select(OutageLink, Chamado)
                .join(Chamado, Chamado.id == OutageLink.chamado_id)
                .where(OutageLink.outage_id == outage.id)
                .order_by(OutageLink.id)
            ).all()
            view.links = [
                LinkView(
                    c,
                    link.outcome,
                    outages.OUTCOMES.get(link.outcome or "", None),
                    link.outcome_note,
                )
                for link, c in rows
            ]
            view.pending = sum(1 for link in view.links if link.outcome is None)
            view.subscribers = outages.subscriber_count(session, outage.id)
            return view

    def open_outages(
        self, actor: Actor, process_id: str | None = None
    ) -> builtins.list[OutageView]:
        """The open outages the actor may link tickets to (the queue's and a ticket's
        "Vincular ao incidente"), of one process if given."""
        return [
            v
            for v in self.list(actor, only_open=True)
            if (process_id is None or v.outage.process_id == process_id)
        ]

    def of_chamado(self, actor: Actor, chamado_id: int) -> OutageView | None:
        """The outage a ticket is linked to, if the actor may see it."""
        self._require_roles(actor, ANALYST_ROLES)
        with self.reading() as session:
            outage_id = session.scalar(
                select(OutageLink.outage_id).where(OutageLink.chamado_id == chamado_id)
            )
            if outage_id is None:
                return None
            outage = session.get(Outage, outage_id)
            if outage is None or not self._visible(session, actor, outage):
                return None
            return self._summary(session, outage)

    def process_of_chamado(self, actor: Actor, chamado_id: int) -> str:
        self._require_roles(actor, ANALYST_ROLES)
        with self.reading() as session:
            chamado = session.get(Chamado, chamado_id)
            if chamado is None or not self._may_read_ticket(session, actor, chamado):
                raise NotFound("Chamado não encontrado.")
            return self._process_of(session, chamado)

    def update_text(
        self, actor: Actor, outage_id: int, title: str, public_text: str, expected_version: int
    ) -> None:
        """Change the title and public text of an open outage (what the notice shows and
        what the resolution answers), on the version the person saw."""
        title, public_text, _, _ = outages.checked(title, public_text, None, None)
        now = self.clock()
        with self.transaction() as session:
            outage = self._outage(session, actor, outage_id)
            changed = session.execute(
                update(_OUTAGES)
                .where(
                    _OUTAGES.c.id == outage_id,
                    _OUTAGES.c.state == outages.OPEN,
                    _OUTAGES.c.version == expected_version,
                )
                .values(title=title, public_text=public_text, version=_OUTAGES.c.version + 1)
            )
            if rows_changed(changed) != 1:
                if outage.state != outages.OPEN:
                    raise Conflict("Este incidente não está mais aberto; nada foi alterado.")
                raise Conflict(STALE_OUTAGE)
            self._audit(
                session,
                None,
                actor.id,
                "incidente_servico.texto_alterado",
                f"Texto do incidente “{title}” alterado"[:300],
                now=now,
                public=False,
                details={"incidente": outage_id},
            )

    # ------------------------------------------------------------------ linking

    def link(self, actor: Actor, outage_id: int, chamado_ids: builtins.list[int]) -> LinkReport:
        """Link tickets (at most MAX_LINKS per call) to an open outage; each refusal is
        reported with its reason, the others are linked."""
        if len(chamado_ids) > outages.MAX_LINKS:
            raise ValidationFailed(
                {"chamados": f"Vincule até {outages.MAX_LINKS} chamados de cada vez."}
            )
        if not chamado_ids:
            raise ValidationFailed({"chamados": "Selecione ao menos um chamado."})
        now = self.clock()
        with self.transaction() as session:
            outage = self._outage(session, actor, outage_id)
            # Shared lock: "Resolver" (an UPDATE of this row) waits for these links, or
            # they see it resolving and are refused.
            session.refresh(outage, with_for_update={"read": True})
            if outage.state != outages.OPEN:
                raise Conflict("Este incidente não está mais aberto; nada foi vinculado.")
            return self._link_rows(session, actor, outage, chamado_ids, now)

    def _link_rows(
        self,
        session: Session,
        actor: Actor,
        outage: Outage,
        chamado_ids: builtins.list[int],
        now: datetime,
    ) -> LinkReport:
        linked: list[str] = []
        refused: list[tuple[str, str]] = []
        ids = list(dict.fromkeys(chamado_ids))
        found = {c.id: c for c in session.scalars(select(Chamado).where(Chamado.id.in_(ids))).all()}
        taken = dict(
            session.execute(
                select(OutageLink.chamado_id, OutageLink.outage_id).where(
                    OutageLink.chamado_id.in_(ids)
                )
            ).all()
        )
        # What an analyst's groups worked, in one statement (the staff search's rule).
        visible = set(found)
        if "supervisor" not in actor.roles:
            visible = set(
                session.scalars(
                    select(HumanTask.chamado_id).where(
                        HumanTask.chamado_id.in_(ids),
                        HumanTask.group.in_(self._groups(session, actor)),
                    )
                )
            )
        for cid in ids:
            chamado = found.get(cid)
            if chamado is None or cid not in visible:
                refused.append((f"#{cid}", "chamado não encontrado"))
                continue
            if self._process_of(session, chamado) != outage.process_id:
                refused.append((chamado.protocolo, "é de outro processo"))
            elif chamado.submitted_at is None:
                refused.append((chamado.protocolo, "ainda é um rascunho"))
            elif chamado.closed_at is not None:
                refused.append((chamado.protocolo, "já está encerrado"))
            elif cid in taken:
                same = taken[cid] == outage.id
                refused.append(
                    (
                        chamado.protocolo,
                        "já está neste incidente" if same else "já está em outro incidente",
                    )
                )
            else:
                try:
                    with session.begin_nested():
                        session.execute(
                            _LINKS.insert().values(
                                outage_id=outage.id,
                                chamado_id=cid,
                                linked_at=now,
                                linked_by_id=actor.id,
                            )
                        )
                except IntegrityError:  # linked by someone else meanwhile
                    refused.append((chamado.protocolo, "já está em outro incidente"))
                    continue
                self._audit(
                    session,
                    chamado,
                    actor.id,
                    "incidente_servico.vinculado",
                    f"Vinculado ao incidente “{outage.title}”"[:300],
                    now=now,
                    public=False,
                    details={"incidente": outage.id},
                )
                linked.append(chamado.protocolo)
        return LinkReport(linked, refused)

    def unlink(self, actor: Actor, outage_id: int, chamado_id: int) -> None:
        now = self.clock()
        with self.transaction() as session:
            outage = self._outage(session, actor, outage_id)
            if outage.state != outages.OPEN:
                raise Conflict("Este incidente não está mais aberto; nada foi alterado.")
            removed = session.execute(
                _LINKS.delete().where(
                    _LINKS.c.outage_id == outage.id,
                    _LINKS.c.chamado_id == chamado_id,
                    _LINKS.c.outcome.is_(None),
                )
            )
            if rows_changed(removed) != 1:
                raise NotFound("Este chamado não está vinculado a este incidente.")
            self._audit(
                session,
                chamado_id,
                actor.id,
                "incidente_servico.desvinculado",
                f"Desvinculado do incidente “{outage.title}”"[:300],
                now=now,
                public=False,
                details={"incidente": outage.id},
            )

    # ------------------------------------------------------------------ duplicates

    def duplicates(self, actor: Actor, chamado_id: int) -> tuple[Chamado, builtins.list[Duplicate]]:
        """A ticket and its likely duplicates: same process, órgão, service and category,
        sent within the configured window, ranked by text similarity (engine.outages)."""
        self._require_roles(actor, ANALYST_ROLES)
        window = timedelta(hours=self.settings.duplicate_window_hours)
        with self.reading() as session:
            chamado = session.get(
                Chamado,
                chamado_id,
                options=[joinedload(Chamado.requester), joinedload(Chamado.orgao)],
            )
            if chamado is None or not self._may_read_ticket(session, actor, chamado):
                raise NotFound("Chamado não encontrado.")
            query = outages.candidates(session, chamado, self._process_of(session, chamado), window)
            if "supervisor" not in actor.roles:
                mine = self._groups(session, actor)
                query = query.where(
                    exists().where(HumanTask.chamado_id == Chamado.id, HumanTask.group.in_(mine))
                )
            query = query.options(joinedload(Chamado.orgao))
            found = [
                c
                for c in session.scalars(query).unique()
                if outages.same_service(c.servico, chamado.servico)
            ]
            requester = chamado.requester
            scores = outages.similarity(
                session, chamado, (requester.name, requester.cpf), [c.id for c in found]
            )
            links = dict(
                session.execute(
                    select(OutageLink.chamado_id, OutageLink.outage_id).where(
                        OutageLink.chamado_id.in_([c.id for c in found] or [0])
                    )
                ).all()
            )
            ranked = sorted(
                found,
                key=lambda c: (
                    -scores.get(c.id, 0.0),
                    -(c.submitted_at or c.created_at).timestamp(),
                ),
            )
            return chamado, [
                Duplicate(c, scores.get(c.id, 0.0), links.get(c.id))
                for c in ranked[: outages.MAX_DUPLICATES]
            ]

    # ------------------------------------------------------------------ resolving

    def resolve(self, actor: Actor, outage_id: int, expected_version: int) -> ResolveReport:
        """ "Resolver incidente": see the module docstring."""
        self._require_roles(actor, _RESOLVERS)
        now = self.clock()
        with self.transaction() as session:
            outage = self._outage(session, actor, outage_id)
            started = session.execute(
                update(_OUTAGES)
                .where(
                    _OUTAGES.c.id == outage_id,
                    _OUTAGES.c.state == outages.OPEN,
                    _OUTAGES.c.version == expected_version,
                )
                .values(
                    state=outages.RESOLVING,
                    version=_OUTAGES.c.version + 1,
                    resolve_started_at=now,
                    resolved_by_id=actor.id,
                )
            )
            if rows_changed(started) != 1:
                state = session.scalar(select(Outage.state).where(Outage.id == outage_id))
                if state != outages.OPEN:
                    raise Conflict(
                        "Este incidente já foi resolvido (ou está sendo resolvido) por outra "
                        "pessoa; nada foi alterado de novo."
                    )
                raise Conflict(STALE_OUTAGE)
            self._audit(
                session,
                None,
                actor.id,
                "incidente_servico.resolucao_iniciada",
                f"Resolução do incidente “{outage.title}” iniciada"[:300],
                now=now,
                public=False,
                details={"incidente": outage_id},
            )
        return self.work_resolution(outage_id, outages.BATCH)

    def continue_resolutions(self, batch: int = outages.BATCH) -> int:
        """The scheduler's job: the next tickets of every outage being resolved."""
        with self.reading() as session:
            ids = list(
                session.scalars(
                    select(Outage.id).where(Outage.state == outages.RESOLVING).order_by(Outage.id)
                )
            )
        done = 0
        for outage_id in ids:
            report = self.work_resolution(outage_id, batch)
            done += sum(len(v) for v in report.done.values())
        return done

    def work_resolution(self, outage_id: int, batch: int) -> ResolveReport:
        """Complete up to ``batch`` linked tickets of an outage being resolved, each in a
        transaction of its own, and end the outage when none is left."""
        with self.reading() as session:
            outage = session.get(Outage, outage_id)
            if outage is None:
                raise NotFound("Incidente não encontrado.")
            state, text, resolver = outage.state, outage.public_text, outage.resolved_by_id
            pending = session.execute(
                select(OutageLink.id, OutageLink.chamado_id)
                .where(OutageLink.outage_id == outage_id, OutageLink.outcome.is_(None))
                .order_by(OutageLink.id)
                .limit(batch)
            ).all()
        done: dict[str, list[str]] = defaultdict(list)
        if state != outages.RESOLVING:
            return ResolveReport(state, {}, 0)
        actor = ActorRef(resolver or 0, frozenset(_RESOLVERS))
        for link_id, chamado_id in pending:
            try:
                result = self._resolve_ticket(outage_id, link_id, chamado_id, text, actor)
            except Conflict:
                continue  # done by another worker meanwhile: nothing twice
            if result is not None:
                done[result[0]].append(result[1])
        state, left = self._finish_if_done(outage_id)
        return ResolveReport(state, dict(done), left)

    def _resolve_ticket(
        self, outage_id: int, link_id: int, chamado_id: int, text: str, actor: Actor
    ) -> tuple[str, str] | None:
        """One linked ticket, in its own transaction: (outcome, protocol), or None when
        another worker already did it."""
        now = self.clock()
        with self.transaction() as session, session.no_autoflush:
            chamado = self._lock_chamado(session, chamado_id)  # the lock order: ticket first
            if session.scalar(select(OutageLink.outcome).where(OutageLink.id == link_id)):
                return None
            outcome, note = self._answer(session, chamado, outage_id, text, actor, now)
            marked = session.execute(
                update(_LINKS)
                .where(_LINKS.c.id == link_id, _LINKS.c.outcome.is_(None))
                .values(outcome=outcome, outcome_note=note, done_at=now)
            )
            if rows_changed(marked) != 1:
                raise Conflict("Já processado.")  # rolls back whatever this run did
            return outcome, chamado.protocolo

    def _answer(
        self,
        session: Session,
        chamado: Chamado,
        outage_id: int,
        text: str,
        actor: Actor,
        now: datetime,
    ) -> tuple[str, str | None]:
        if chamado.closed_at is not None:
            return "ja_encerrado", None
        if chamado.incident_at is not None:
            return "incidente_tecnico", None
        bundle = self.bundle(session, chamado.process_version_id)
        declared = bundle.policy.incident_tasks
        open_tasks = session.scalars(
            select(HumanTask).where(
                HumanTask.chamado_id == chamado.id, HumanTask.state == TASK_READY
            )
        ).all()
        task = next((t for t in open_tasks if t.task_name in declared), None)
        if task is None:
            if any(t.group == tasks.REQUESTER_GROUP for t in open_tasks):
                return "aguardando_solicitante", None
            return "fora_da_analise", None
        element = declared[task.task_name]
        assert element.incident_answer is not None
        data: dict[str, Any] = {**dict(element.incident_values), element.incident_answer: text}
        last, revision = self._last_submission_and_revision(session, chamado.id, task.form_schema)
        schema = self._form(session, bundle, task, last, revision)[0]
        clean = self._keep_schema_fields(schema, data)
        wf = runtime.load(bundle, chamado.workflow_state)
        spiff_task = runtime.ready_task(wf, task.task_guid)
        errors = self._sending_errors(session, bundle, task, schema, clean, spiff_task)
        if errors:
            return "falhou", "; ".join(f"{k}: {v}" for k, v in errors.items())[:2000]
        expected = chamado.version
        failure = self._run_completion(session, chamado, bundle, wf, spiff_task, clean, actor, now)
        if failure is not None:
            # As an analyst's sending would: the ticket stops in a technical incident
            # holding this completion for an admin's "Tentar novamente".
            self._hold_in_incident(session, chamado, bundle, task, clean, failure, actor, now)
            self._write_chamado(session, chamado, expected)
            return "incidente_tecnico", failure.message[:2000]
        self._audit(
            session,
            chamado,
            actor.id,
            "incidente_servico.chamado_resolvido",
            f"{task.title}: concluída pela resolução de um incidente"[:300],
            now=now,
            public=False,
            details={"incidente": outage_id, "tarefa": task.task_name},
        )
        # Whoever holds the task: the outage answers it (an analyst's open form then
        # finds it done and changes nothing).
        self._finish_completion(
            session,
            chamado,
            task,
            (clean, schema, last),
            bundle,
            wf,
            actor,
            now,
            {"state": TASK_READY},
        )
        self._write_chamado(session, chamado, expected)
        return "resolvido", None

    def _finish_if_done(self, outage_id: int) -> tuple[str, int]:
        """Ends the outage when no link is left without an outcome: (state, left)."""
        now = self.clock()
        with self.transaction() as session:
            left = int(
                session.scalar(
                    select(func.count()).where(
                        OutageLink.outage_id == outage_id, OutageLink.outcome.is_(None)
                    )
                )
                or 0
            )
            if left:
                return outages.RESOLVING, left
            ended = session.execute(
                update(_OUTAGES)
                .where(_OUTAGES.c.id == outage_id, _OUTAGES.c.state == outages.RESOLVING)
                .values(state=outages.RESOLVED, resolved_at=now, version=_OUTAGES.c.version + 1)
            )
            outage = session.get(Outage, outage_id)
            assert outage is not None
            if rows_changed(ended) != 1:
                return outage.state, 0
            session.refresh(outage)
            view = self._summary(session, outage)
            sent = outages.notify_subscribers(
                session,
                outage,
                {
                    "titulo": outage.title,
                    "texto": outage.public_text,
                    "servico": outage.servico,
                    "orgao": view.orgao,
                    "processo": view.process_title,
                    "servico_url": f"/servicos/{outage.process_id}",
                },
                self.settings.app_base_url,
                now,
            )
            self._audit(
                session,
                None,
                outage.resolved_by_id,
                "incidente_servico.resolvido",
                f"Incidente “{outage.title}” resolvido"[:300],
                now=now,
                public=False,
                details={"incidente": outage_id, "avisados": sent},
            )
            return outages.RESOLVED, 0

    # ------------------------------------------------------------------ requesters

    def notices(self, actor: Actor | None, process_id: str) -> builtins.list[Notice]:
        """The open outages of a service, for its start page ("Problema conhecido")."""
        with self.reading() as session:
            rows = outages.open_for_process(session, process_id)
            if not rows:
                return []
            mine: set[int] = set()
            if actor is not None:
                mine = set(
                    session.scalars(
                        select(OutageSubscriber.outage_id).where(
                            OutageSubscriber.user_id == actor.id,
                            OutageSubscriber.outage_id.in_([r.id for r in rows]),
                        )
                    )
                )
            found = []
            for row in rows:
                view = self._summary(session, row)
                found.append(
                    Notice(
                        row.id,
                        row.title,
                        row.public_text,
                        view.orgao,
                        row.servico,
                        view.categoria,
                        row.id in mine,
                    )
                )
            return found

    def subscribe(self, actor: Actor, outage_id: int) -> Notice:
        """A person joins an open outage instead of opening a ticket: they get the
        platform's e-mail when it is resolved. Joining twice changes nothing."""
        now = self.clock()
        with self.transaction() as session:
            outage = session.get(Outage, outage_id)
            if outage is None:
                raise NotFound("Problema conhecido não encontrado.")
            if outage.state != outages.OPEN:
                raise Conflict(
                    "Este problema já foi resolvido; se ele continua para você, abra uma "
                    "solicitação."
                )
            user = session.get(User, actor.id)
            if user is None:
                raise Forbidden("Sessão inválida: entre novamente.")
            if not user.email:
                raise ValidationFailed(
                    {
                        "email": "Sua conta gov.br não tem e-mail cadastrado, e é por e-mail que "
                        "avisamos quando o problema for resolvido. Cadastre um e-mail no "
                        "gov.br ou abra uma solicitação."
                    }
                )
            already = session.scalar(
                select(OutageSubscriber.id).where(
                    OutageSubscriber.outage_id == outage_id, OutageSubscriber.user_id == actor.id
                )
            )
            if already is None:
                try:
                    with session.begin_nested():
                        session.add(
                            OutageSubscriber(
                                outage_id=outage_id,
                                user_id=actor.id,
                                email=user.email,
                                created_at=now,
                            )
                        )
                        session.flush()
                except IntegrityError:
                    pass  # the same person's other tab, at once: joined once
                else:
                    self._audit(
                        session,
                        None,
                        actor.id,
                        "incidente_servico.acompanhado",
                        f"Passou a acompanhar o incidente “{outage.title}”"[:300],
                        now=now,
                        public=False,
                        details={"incidente": outage_id},
                    )
            view = self._summary(session, outage)
            return Notice(
                outage.id,
                outage.title,
                outage.public_text,
                view.orgao,
                outage.servico,
                view.categoria,
                True,
            )
