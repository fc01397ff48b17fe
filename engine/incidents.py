"""Technical incidents: a ticket whose model failed while one of its steps ran.

A step fails inside the workflow engine (engine.runtime raises ModelRuntimeError) when
the model exceeds a budget (automatic steps, a script's size or depth), a script raises
or a gateway has no way out. The request that made the step run is not at fault, so
nothing it sent is lost: the ticket keeps its last saved workflow state, and is marked
— when, on which element, the message, and the step to run again (a
:class:`PendingAction`: the start, a task with the data sent to complete it, or a timer).
Its status is the platform's "Incidente técnico" whatever the model declares; staff
find it in the queue's "Incidentes técnicos"; supervisors and admins get one e-mail.

While the incident lasts the ticket does not move: completing one of its tasks is
refused (the pending step would become stale), its timers wait. An admin's "Tentar
novamente" (engine.usecases.incidents) runs the pending step on the ticket's current
process version — after a designer fixed the model and moved the ticket to it with the
migration tools — and clears the incident when it runs, or keeps it with the new message.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from engine import notifications, outbox, policy
from engine.errors import ModelRuntimeError
from engine.mail import platform_templates
from engine.models import Chamado

START, TASK, TIMER, MESSAGE = "start", "task", "timer", "message"
MAX_MESSAGE = 2000
# Who is told, once per incident: those who can have the model fixed and retry it.
RECIPIENTS = ("papel:supervisor", "papel:admin")
MAIL = "incidente_tecnico"
# The platform's own e-mail (not a model's), extending the same layout as the models'.
PLATFORM_TEMPLATES = platform_templates(MAIL)

# What the person whose step stopped is told (pages and API); pt-BR.
RECEIVED = (
    "Recebemos seus dados; houve um problema técnico e a equipe foi avisada. "
    "Você não precisa enviar de novo: o envio será processado assim que o problema for "
    "resolvido, e você receberá as novidades por e-mail."
)
STARTED = (
    "Sua solicitação foi registrada, mas houve um problema técnico ao iniciá-la e a equipe "
    "foi avisada. Você receberá as novidades por e-mail."
)
NOTICE = (
    "Houve um problema técnico no processamento desta solicitação e a equipe foi avisada. "
    "Nada do que foi enviado se perdeu."
)
BLOCKED = (
    "Este chamado está parado por um problema técnico e a equipe já foi avisada; "
    "nada foi alterado. Os dados já enviados estão guardados."
)


@dataclass(frozen=True)
class PendingAction:
    """The step that failed, as it will be run again.

    ``task``: the task row, its element and title, who completed it and the data sent
    (the form's fields only, as they would have reached the workflow); ``timer``: the
    timer row and its element; ``start``: the instance's first steps; ``message``: a BPMN
    message (its name, payload and correlations in ``data``, engine.usecases.messages).
    """

    kind: str
    element: str | None = None
    title: str | None = None
    task_id: int | None = None
    actor_id: int | None = None
    data: dict[str, Any] | None = None
    timer_id: int | None = None

    def as_json(self) -> dict[str, Any]:
        return {key: value for key, value in asdict(self).items() if value is not None}

    @classmethod
    def from_json(cls, raw: dict[str, Any] | None) -> PendingAction:
        raw = raw or {}
        known = {key: raw[key] for key in cls.__dataclass_fields__ if key in raw}
        return cls(**{"kind": START, **known})


def describe(raw: dict[str, Any] | None) -> str:
    """The pending step in pt-BR, for staff."""
    action = PendingAction.from_json(raw)
    if action.kind == TASK:
        return f"Conclusão da etapa “{action.title or action.element}” (dados recebidos)"
    if action.kind == TIMER:
        return f"Disparo do temporizador “{action.title or action.element}”"
    if action.kind == MESSAGE:
        return f"Recebimento da mensagem “{action.title}”"
    return "Início da solicitação"


def notice_for(raw: dict[str, Any] | None, person_id: int) -> str:
    """What a page tells ``person_id`` about the incident of a ticket they follow."""
    action = PendingAction.from_json(raw)
    if action.kind == TASK and action.actor_id == person_id:
        return RECEIVED
    return STARTED if action.kind == START else NOTICE


def mark(
    chamado: Chamado, failure: ModelRuntimeError, action: PendingAction, now: datetime
) -> bool:
    """Puts the ticket in (or keeps it in) an incident; True when it opens now."""
    opened = chamado.incident_at is None
    if opened:
        chamado.incident_at = now
    chamado.incident_element = (failure.element_id or "")[:100] or None
    chamado.incident_message = failure.message[:MAX_MESSAGE]
    chamado.incident_action = action.as_json()
    chamado.status = policy.INCIDENT.code
    chamado.status_label = policy.INCIDENT.label
    chamado.status_tone = policy.INCIDENT.tone
    chamado.updated_at = now
    return opened


def clear(chamado: Chamado) -> None:
    """Ends the incident; the step that follows derives the status again (engine.tasks)."""
    chamado.incident_at = None
    chamado.incident_element = None
    chamado.incident_message = None
    chamado.incident_action = None


def notify(
    session: Session, chamado: Chamado, process_title: str, base_url: str, now: datetime
) -> int:
    """One e-mail per supervisor and admin, through the outbox; returns how many."""
    addresses = sorted(
        {address for to in RECIPIENTS for address in notifications.recipients(session, chamado, to)}
    )
    context = {
        "protocolo": chamado.protocolo,
        "processo": process_title,
        "elemento": chamado.incident_element,
        "mensagem": chamado.incident_message,
        "desde": chamado.incident_at,
        "acao": describe(chamado.incident_action),
        "analise_url": notifications.staff_path(chamado),
    }
    for address in addresses:
        outbox.enqueue(
            session,
            MAIL,
            address,
            context,
            chamado_id=chamado.id,
            base_url=base_url,
            now=now,
            templates=PLATFORM_TEMPLATES,
        )
    return len(addresses)
