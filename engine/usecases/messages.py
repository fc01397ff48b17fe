"""BPMN messages: from outside (the REST API) and from one instance to others (the
scheduler's ``messages`` job). See engine.messages for how receivers are found.

Each receiving instance is stepped in its own transaction, its ticket row locked first as
every change does, so a message never holds many tickets at once and two deliveries to
one instance run one after the other. An instance that no longer waits for it (it moved
on, or its correlation differs) is passed over; one in a technical incident too (its
steps wait, as its timers do). If the model fails while the message's steps run, the
ticket goes into a technical incident holding the message, and "Tentar novamente"
delivers it again.

A message also starts every published process whose start event catches it, as the
sender (``POST``: the caller; a throw: the throwing instance's requester).
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, or_, select, update
from sqlalchemy.orm import Session

from engine import corewrite, incidents, limits, messages, runtime, specs
from engine.clock import workflow_time
from engine.db import rows_changed
from engine.errors import ModelRuntimeError, NotFound, ValidationFailed
from engine.models import Chamado, MessageWait, QueuedMessage, User
from engine.protocol import next_protocolo
from engine.scripting import InstanceFacts, acting_as, make_script_engine
from engine.usecases.base import Actor
from engine.usecases.recording import Recording

SENDER_ROLES = frozenset({"admin"})
LEASE = timedelta(seconds=60)
_ENGINE = make_script_engine()


@dataclass
class Delivery:
    """Where one message went: the tickets it reached and the ones it started (protocols)."""

    name: str
    delivered: list[str] = field(default_factory=list)
    started: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)  # went into a technical incident

    @property
    def received(self) -> bool:
        return bool(self.delivered or self.started or self.failed)


def check_payload(name: str, payload: Any) -> dict[str, Any]:
    """A message's name and payload as the API receives them, or a pt-BR refusal."""
    errors = {}
    if not name or len(name) > 200 or limits.forbidden_character(name):
        errors["name"] = "Informe o nome da mensagem (até 200 caracteres)."
    if not isinstance(payload, dict):
        errors["payload"] = "O conteúdo da mensagem deve ser um objeto JSON."
    elif len(json.dumps(payload, ensure_ascii=False).encode()) > messages.MAX_PAYLOAD_BYTES:
        errors["payload"] = f"O conteúdo passa de {messages.MAX_PAYLOAD_BYTES // 1024} KB."
    if errors:
        raise ValidationFailed(errors)
    assert isinstance(payload, dict)
    return payload


class Messages(Recording):
    def send_message(self, actor: Actor, name: str, payload: Any) -> Delivery:
        """``POST /api/v1/messages/{name}``: to the instances waiting for it, and as the
        start of the published processes that begin with it. Admins (and service
        accounts holding the role) only."""
        self._require_roles(actor, SENDER_ROLES)
        clean = check_payload(name, payload)
        delivery = self._deliver(name, clean, None, actor.id, exclude=None)
        if not delivery.received:
            raise NotFound(
                f"Nenhuma instância espera a mensagem “{name}” e nenhum processo publicado "
                "começa por ela; nada foi feito."
            )
        return delivery

    def deliver_queued(self, worker: str, limit: int = 20) -> int:
        """The scheduler's job: messages thrown by instances for others, exactly once
        (a claimed row is leased; delivery marks it, in its own transaction)."""
        now = self.clock()
        with self.transaction() as session:
            due = list(
                session.scalars(
                    select(QueuedMessage.id)
                    .where(
                        QueuedMessage.state == "pending",
                        or_(QueuedMessage.lease_until.is_(None), QueuedMessage.lease_until < now),
                    )
                    .order_by(QueuedMessage.id)
                    .limit(limit)
                )
            )
            claimed = []
            for message_id in due:
                taken = session.execute(
                    update(QueuedMessage)
                    .where(
                        QueuedMessage.id == message_id,
                        QueuedMessage.state == "pending",
                        or_(QueuedMessage.lease_until.is_(None), QueuedMessage.lease_until < now),
                    )
                    .values(lease_until=now + LEASE)
                )
                if rows_changed(taken) == 1:
                    claimed.append(message_id)
        for message_id in claimed:
            with self.transaction() as session:
                row = session.get(QueuedMessage, message_id)
                assert row is not None
                name, payload, correlations = row.name, row.payload, row.correlations
                sender = row.from_chamado_id
                requester = (
                    session.scalar(select(Chamado.requester_id).where(Chamado.id == sender))
                    if sender is not None
                    else None
                )
            delivery = self._deliver(name, payload, correlations, requester, exclude=sender)
            with self.transaction() as session:
                row = session.get(QueuedMessage, message_id)
                assert row is not None
                row.state = "delivered" if delivery.received else "undelivered"
                row.delivered_to = delivery.delivered + delivery.started + delivery.failed
                # Personal data, needed only to deliver (README "Dados pessoais").
                row.payload, row.correlations = {}, {}
                if sender is not None:  # the sender's timeline tells where it went
                    where = ", ".join(row.delivered_to) if delivery.received else None
                    self._audit(
                        session,
                        sender,
                        None,
                        "mensagem.enviada" if where else "mensagem.nao_entregue",
                        f"Mensagem “{name}” entregue a {where}"
                        if where
                        else f"Mensagem “{name}” não entregue: nenhuma instância a esperava",
                        now=row.delivered_at,
                        public=False,
                        details={"mensagem": name, "destinos": row.delivered_to},
                    )
                row.delivered_at = self.clock()
                row.lease_until = None
        return len(claimed)

    # ------------------------------------------------------------ delivery

    def _deliver(
        self,
        name: str,
        payload: dict[str, Any],
        correlations: dict[str, Any] | None,
        sender_id: int | None,
        exclude: int | None,
    ) -> Delivery:
        delivery = Delivery(name)
        for chamado_id in self._receivers(name, payload, correlations, exclude):
            self._deliver_to(chamado_id, name, payload, correlations, delivery)
        if sender_id is not None:
            self._start_with(name, payload, correlations, sender_id, delivery)
        return delivery

    def _receivers(
        self,
        name: str,
        payload: dict[str, Any],
        correlations: dict[str, Any] | None,
        exclude: int | None,
    ) -> list[int]:
        """The tickets waiting for ``name`` whose correlation may match (by index)."""
        with self.reading() as session:
            versions = session.scalars(
                select(Chamado.process_version_id)
                .join(MessageWait, MessageWait.chamado_id == Chamado.id)
                .where(MessageWait.name == name)
                .distinct()
            ).all()
            keys: set[str] = set(messages.correlation_keys(correlations or {}))
            # A catch with no correlation property takes the message whatever the
            # instance's correlation (SpiffWorkflow's rule): its versions match by name.
            uncorrelated: set[int] = set()
            for version_id in versions:
                for definition in self.bundle(session, version_id).message_catches.get(name, []):
                    if not getattr(definition, "correlation_properties", None):
                        uncorrelated.add(version_id)
                    elif correlations is None:  # from outside: as this model computes it
                        keys.update(messages.correlation_keys(_correlate(definition, payload)))
            match: ColumnElement[bool] = MessageWait.correlation.is_(None)
            if keys:
                match = or_(match, MessageWait.correlation.in_(sorted(keys)))
            if uncorrelated:
                match = or_(match, Chamado.process_version_id.in_(sorted(uncorrelated)))
            query = (
                select(MessageWait.chamado_id)
                .join(Chamado, Chamado.id == MessageWait.chamado_id)
                .where(MessageWait.name == name, match)
                .distinct()
                .order_by(MessageWait.chamado_id)
                .limit(messages.MAX_RECEIVERS + 1)
            )
            found = [i for i in session.scalars(query) if i != exclude]
        if len(found) > messages.MAX_RECEIVERS:
            raise ValidationFailed(
                {
                    "name": f"Mais de {messages.MAX_RECEIVERS} instâncias esperam a mensagem "
                    f"“{name}” com essa correlação: inclua no conteúdo a chave que escolhe a "
                    "instância (a propriedade de correlação do modelo)."
                }
            )
        return found

    def _deliver_to(
        self,
        chamado_id: int,
        name: str,
        payload: dict[str, Any],
        correlations: dict[str, Any] | None,
        delivery: Delivery,
    ) -> None:
        now = self.clock()
        with self.transaction() as session:
            chamado = self._lock_chamado(session, chamado_id)
            if chamado.incident_at is not None or chamado.closed_at is not None:
                return
            bundle = self.bundle(session, chamado.process_version_id)
            wf = runtime.load(bundle, chamado.workflow_state)
            outcome = self._run_message(
                session, chamado, bundle, wf, name, payload, correlations, now
            )
            if outcome is None:
                return  # no longer waits for it here
            (delivery.delivered if outcome else delivery.failed).append(chamado.protocolo)
            self._write_chamado(session, chamado, chamado.version)

    def _run_message(
        self,
        session: Session,
        chamado: Chamado,
        bundle: specs.ProcessBundle,
        wf: Any,
        name: str,
        payload: dict[str, Any],
        correlations: dict[str, Any] | None,
        now: datetime,
    ) -> bool | None:
        """Give ``wf`` the message and record what it did: True it ran, False it failed
        (the ticket is in a technical incident holding it), None it was not caught."""
        if correlations is None:
            correlations = {}
            for definition in bundle.message_catches.get(name, []):
                correlations.update(_correlate(definition, payload))
        try:
            facts = self._instance_facts(session, bundle, chamado)
            caught = self._catch_message(wf, name, payload, correlations, facts)
        except ModelRuntimeError as failure:
            action = incidents.PendingAction(
                incidents.MESSAGE,
                element=failure.element_id,
                title=name,
                data={"name": name, "payload": payload, "correlations": correlations},
            )
            self._open_incident(session, chamado, bundle, failure, action, None, now)
            return False
        if not caught:
            return None
        self._record_message(session, chamado, bundle, wf, name, now)
        return True

    def _catch_message(
        self,
        wf: Any,
        name: str,
        payload: dict[str, Any],
        correlations: dict[str, Any],
        facts: InstanceFacts | None,
    ) -> bool:
        """The engine's part: the message caught and the steps after it (raises
        ModelRuntimeError when the model fails; nothing is written)."""
        event = messages.event(name, copy.deepcopy(payload), correlations)
        with workflow_time(self.clock), acting_as(None, facts):
            return runtime.deliver(wf, event)

    def _record_message(
        self,
        session: Session,
        chamado: Chamado,
        bundle: specs.ProcessBundle,
        wf: Any,
        name: str,
        now: datetime,
    ) -> None:
        chamado.workflow_state = runtime.dump(bundle, wf)
        chamado.updated_at = now
        self._audit(
            session,
            chamado,
            None,
            "mensagem.recebida",
            f"Mensagem “{name}” recebida",
            now=now,
            public=False,
            details={"mensagem": name},
        )
        step = self._after_step(session, chamado, wf, bundle, now)
        self._announce(session, chamado, bundle, wf, step, now, None)

    def _start_with(
        self,
        name: str,
        payload: dict[str, Any],
        correlations: dict[str, Any] | None,
        sender_id: int,
        delivery: Delivery,
    ) -> None:
        """Start each published process whose start event catches ``name``."""
        with self.reading() as session:
            starting = [
                process_id
                for process_id, version_id in self._published_versions(session)
                if name in self.bundle(session, version_id).message_starts
            ]
        for process_id in sorted(starting):
            try:
                self._start_one(process_id, name, payload, correlations, sender_id, delivery)
            except _NotStarted:
                continue  # rolled back: its start event did not take this message

    def _start_one(
        self,
        process_id: str,
        name: str,
        payload: dict[str, Any],
        correlations: dict[str, Any] | None,
        sender_id: int,
        delivery: Delivery,
    ) -> None:
        now = self.clock()
        with self.transaction() as session:
            bundle = self.bundle(session, self._current_version_id(session, process_id))
            requester = session.get(User, sender_id)
            try:
                facts = self._instance_facts(session, bundle, None, initiator_id=sender_id)
                with workflow_time(self.clock), acting_as(None, facts):
                    wf = runtime.start(bundle)  # its message start event now waits
            except ModelRuntimeError:
                raise _NotStarted() from None
            chamado = corewrite.insert(
                session,
                Chamado(
                    protocolo=next_protocolo(session, now.year),
                    requester_id=sender_id,
                    process_version_id=bundle.version_id,
                    status="",
                    workflow_state=runtime.dump(bundle, wf),
                    email=requester.email if requester is not None else None,
                    created_at=now,
                    updated_at=now,
                ),
            )
            self._audit(
                session,
                chamado,
                sender_id,
                "chamado.criado",
                f"{bundle.policy.title}: {chamado.protocolo} criado pela mensagem “{name}”",
                now=now,
            )
            outcome = self._run_message(
                session, chamado, bundle, wf, name, payload, correlations, now
            )
            if outcome is None:
                raise _NotStarted()
            corewrite.update(session, chamado)
            (delivery.started if outcome else delivery.failed).append(chamado.protocolo)


class _NotStarted(Exception):
    """Rolls back an instance its own start event would not start."""


def _correlate(definition: Any, payload: dict[str, Any]) -> dict[str, Any]:
    """The correlations a catching event computes from a payload (in the sandbox)."""
    try:
        return dict(
            definition.calculate_correlations(
                _ENGINE, getattr(definition, "correlation_properties", []), payload
            )
        )
    except Exception:  # a retrieval expression the payload does not satisfy: no key
        return {}
