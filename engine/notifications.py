"""The e-mails a model declares (engine.policy), written to the outbox in the step's transaction.

Who receives one is the model's ``mailTo``: the requester, a group's members, or the
holders of a platform role. What it says is the model's own template, rendered over the
instance's data and the platform's facts about the instance (protocol, links, deadline).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine import catalogs, groups, outbox, policy, users
from engine.models import TASK_READY, Chamado, Group, GroupMember, HumanTask, User
from engine.specs import ProcessBundle


def tracking_path(chamado: Chamado) -> str:
    return f"/chamados/{chamado.id}"


def staff_path(chamado: Chamado) -> str:
    return f"/analise/{chamado.id}"


def recipients(session: Session, chamado: Chamado, to: str) -> list[str]:
    if to == policy.REQUESTER:
        return [chamado.email] if chamado.email else []
    kind, _sep, name = to.partition(":")
    if kind == "papel":
        cpfs = {g.cpf for g in users.list_grants(session, [name])}
    else:
        group = session.get(Group, name)
        if group is None:
            return []
        cpfs = set(session.scalars(select(GroupMember.cpf).where(GroupMember.group_key == name)))
        if group.member_roles:
            cpfs |= {g.cpf for g in users.list_grants(session, group.member_roles)}
    if not cpfs:
        return []
    found = session.scalars(select(User.email).where(User.cpf.in_(cpfs), User.email.is_not(None)))
    return sorted({email for email in found if email})


def send(
    session: Session,
    bundle: ProcessBundle,
    mail: policy.Mail,
    chamado: Chamado,
    facts: dict[str, Any],
    data: dict[str, Any],
    base_url: str,
    now: datetime,
    labels: catalogs.Labels,
) -> int:
    """Queue ``mail`` to its recipients; returns how many were queued.

    ``data`` is the instance's data (the template's own names); ``facts`` what the
    platform knows (links, deadline, message), which win over a data name alike.
    """
    addresses = recipients(session, chamado, mail.to)
    if not addresses:
        return 0
    requester = chamado.requester
    context = {
        **{k: v for k, v in data.items() if isinstance(k, str) and not k.startswith("_")},
        "protocolo": chamado.protocolo,
        "nome": requester.display_name if requester and mail.to == policy.REQUESTER else None,
        "processo": bundle.policy.title,
        "situacao": chamado.status_label,
        "servico": chamado.servico,
        "resultado": chamado.outcome_message,
        "tracking_url": tracking_path(chamado),
        "analise_url": staff_path(chamado),
        "tarefa_url": None,
        "prazo": None,
        "mensagem": None,
        "orgao": None,
        "analista": None,
        **facts,
    }
    for address in addresses:
        outbox.enqueue(
            session,
            mail.template,
            address,
            context,
            chamado_id=chamado.id,
            base_url=base_url,
            now=now,
            templates=bundle.mail_templates,
            catalogs=labels,
        )
    return len(addresses)


def assignee_name(session: Session, chamado_id: int) -> str | None:
    """Who holds the instance's open group task, if anyone (for staff e-mails)."""
    user = session.scalar(
        select(User)
        .join(HumanTask, HumanTask.assignee_id == User.id)
        .where(
            HumanTask.chamado_id == chamado_id,
            HumanTask.state == TASK_READY,
            HumanTask.group != groups.REQUESTER,
        )
        .limit(1)
    )
    return user.display_name if user else None
