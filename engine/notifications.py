"""Which e-mail a change of a ticket causes, written to the outbox in its transaction."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine import catalogs, outbox, users
from engine.models import Chamado, HumanTask, User


def tracking_path(chamado: Chamado) -> str:
    return f"/chamados/{chamado.id}"


def _name(chamado: Chamado) -> str:
    return chamado.requester.display_name if chamado.requester else ""


def _send(
    session: Session,
    kind: str,
    to: str | None,
    chamado: Chamado,
    base_url: str,
    now: datetime,
    **context: Any,
) -> None:
    outbox.enqueue(
        session,
        kind,
        to,
        {"protocolo": chamado.protocolo, **context},
        chamado_id=chamado.id,
        base_url=base_url,
        now=now,
    )


def registered(
    session: Session,
    chamado: Chamado,
    data: dict[str, Any],
    orgao: str | None,
    base_url: str,
    now: datetime,
) -> None:
    """The receipt of a first submission; ``orgao`` is the chosen órgão's label."""
    _send(
        session,
        "chamado_registrado",
        chamado.email,
        chamado,
        base_url,
        now,
        nome=_name(chamado),
        tracking_url=tracking_path(chamado),
        servico=data.get("nome_servico"),
        orgao=orgao,
    )


def adjustment_requested(
    session: Session,
    chamado: Chamado,
    request: str | None,
    task: HumanTask | None,
    deadline: datetime | None,
    base_url: str,
    now: datetime,
) -> None:
    """``deadline``: when the requester's adjustment task times out, if it does."""
    _send(
        session,
        "ajuste_solicitado",
        chamado.email,
        chamado,
        base_url,
        now,
        nome=_name(chamado),
        ajuste_solicitado=request,
        prazo=deadline if task is not None else None,
        ajuste_url=f"/tarefas/{task.id}" if task else tracking_path(chamado),
    )


def resolved(
    session: Session, chamado: Chamado, answer: str | None, base_url: str, now: datetime
) -> None:
    _send(
        session,
        "chamado_resolvido",
        chamado.email,
        chamado,
        base_url,
        now,
        nome=_name(chamado),
        resposta=answer,
        tracking_url=tracking_path(chamado),
    )


def returned(
    session: Session,
    chamado: Chamado,
    reason_code: str | None,
    explanation: str | None,
    base_url: str,
    now: datetime,
) -> None:
    option = next(
        (o for o in catalogs.options(session, "motivo_devolucao") if o.code == reason_code), None
    )
    _send(
        session,
        "chamado_devolvido",
        chamado.email,
        chamado,
        base_url,
        now,
        nome=_name(chamado),
        motivo=option.label if option else reason_code,
        motivo_help=option.help if option else None,
        explicacao=explanation,
        tracking_url=tracking_path(chamado),
    )


def closed_without_answer(session: Session, chamado: Chamado, base_url: str, now: datetime) -> None:
    _send(
        session,
        "encerrado_sem_resposta",
        chamado.email,
        chamado,
        base_url,
        now,
        nome=_name(chamado),
        tracking_url=tracking_path(chamado),
    )


def sla_passed(session: Session, chamado: Chamado, base_url: str, now: datetime) -> None:
    analyst = session.scalar(
        select(User)
        .join(HumanTask, HumanTask.assignee_id == User.id)
        .where(
            HumanTask.chamado_id == chamado.id,
            HumanTask.state == "ready",
            HumanTask.group != "requester",
        )
    )
    cpfs = {g.cpf for g in users.list_grants(session, ["supervisor"])}
    for supervisor in session.scalars(select(User).where(User.cpf.in_(cpfs))):
        _send(
            session,
            "sla_vencido",
            supervisor.email,
            chamado,
            base_url,
            now,
            analista=analyst.display_name if analyst else None,
            prazo=chamado.analysis_due_at,
            analysis_url=f"/analise/{chamado.id}",
        )
