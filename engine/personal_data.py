""" "Meus dados": everything the platform holds about one person, as one JSON document.

LGPD art. 18 (II, V): the person may know and obtain the data held about them. The
document (format ``chamados.meus-dados/1``, described in README "Dados pessoais (LGPD)")
has the account as gov.br gave it, every instance the person requested with their own
answers (staff-only notes left out) and the names and sizes of their attachments, the
e-mails written to them about those instances, their sessions, the known problems they
follow (engine.outages), and the record of staff
who read their data (engine.access_log). Everything is read by the person's id: nothing
of anyone else's instances can enter it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine import access_log, forms, specs, tasks
from engine.models import (
    Attachment,
    AuditEvent,
    Chamado,
    Outage,
    OutageSubscriber,
    OutboxMessage,
    SatisfactionSurvey,
    Submission,
    User,
    UserSession,
)
from engine.validators import format_cpf

FORMAT = "chamados.meus-dados/1"
# Bounds of one document: a person's history is small, but nothing is unbounded.
MAX_INSTANCES = 1000
MAX_MAILS = 2000


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def build(
    session: Session,
    user_id: int,
    now: datetime,
    bundle_of: Any,
) -> dict[str, Any]:
    """The document for ``user_id``; ``bundle_of(version_id)`` gives a parsed version."""
    user = session.get(User, user_id)
    assert user is not None
    chamados = list(
        session.scalars(
            select(Chamado)
            .where(Chamado.requester_id == user_id)
            .order_by(Chamado.created_at, Chamado.id)
            .limit(MAX_INSTANCES)
        )
    )
    ids = [c.id for c in chamados]
    subs: dict[int, list[Submission]] = {}
    files: dict[int, list[Attachment]] = {}
    timeline: dict[int, list[AuditEvent]] = {}
    mails: list[OutboxMessage] = []
    if ids:
        for sub in session.scalars(
            select(Submission)
            .where(Submission.chamado_id.in_(ids), Submission.group == tasks.REQUESTER_GROUP)
            .order_by(Submission.id)
        ):
            subs.setdefault(sub.chamado_id, []).append(sub)
        for row in session.scalars(
            select(Attachment)
            .where(Attachment.chamado_id.in_(ids), Attachment.uploaded_by_id == user_id)
            .order_by(Attachment.id)
        ):
            files.setdefault(row.chamado_id, []).append(row)
        for event in session.scalars(
            select(AuditEvent)
            .where(AuditEvent.chamado_id.in_(ids), AuditEvent.public.is_(True))
            .order_by(AuditEvent.at, AuditEvent.id)
        ):
            timeline.setdefault(event.chamado_id or 0, []).append(event)
        addresses = {a.lower() for a in [user.email, *(c.email for c in chamados)] if a}
        if addresses:
            mails = list(
                session.scalars(
                    select(OutboxMessage)
                    .where(
                        OutboxMessage.chamado_id.in_(ids),
                        func.lower(OutboxMessage.to_addr).in_(sorted(addresses)),
                    )
                    .order_by(OutboxMessage.created_at, OutboxMessage.id)
                    .limit(MAX_MAILS)
                )
            )
    protocols = {c.id: c.protocolo for c in chamados}
    surveys = {
        row.chamado_id: row
        for row in session.scalars(
            select(SatisfactionSurvey).where(
                SatisfactionSurvey.chamado_id.in_(list(protocols)),
                SatisfactionSurvey.answered_at.is_not(None),
            )
        )
    }
    instances = []
    for chamado in chamados:
        bundle: specs.ProcessBundle = bundle_of(chamado.process_version_id)
        answers = []
        for sub in subs.get(chamado.id, []):
            schema = bundle.forms.get(sub.form_schema or "", {})
            data = forms.without_internal(schema, sub.data)
            props = schema.get("properties") or {}
            answers.append(
                {
                    "formulario": str(schema.get("title") or sub.form_schema or "Formulário"),
                    "enviado_em": _iso(sub.submitted_at),
                    "rodada": sub.round,
                    "dados": data,
                    # Each field's question as the form asked it.
                    "rotulos": {
                        name: str((props.get(name) or {}).get("title") or name) for name in data
                    },
                }
            )
        instances.append(
            {
                "protocolo": chamado.protocolo,
                "processo": bundle.policy.title,
                "situacao": chamado.status_label or chamado.status,
                "criado_em": _iso(chamado.created_at),
                "enviado_em": _iso(chamado.submitted_at),
                "encerrado_em": _iso(chamado.closed_at),
                "email_informado": chamado.email,
                "resultado": chamado.outcome_message,
                "respostas": answers,
                # Their answer to "O atendimento resolveu seu problema?" (engine.satisfaction).
                "avaliacao": {
                    "nota": surveys[chamado.id].rating,
                    "comentario": surveys[chamado.id].comment,
                    "respondida_em": _iso(surveys[chamado.id].answered_at),
                }
                if chamado.id in surveys
                else None,
                "arquivos": [
                    {
                        "nome_do_arquivo": a.filename,
                        "tamanho": a.size,
                        "tipo": a.content_type,
                        "enviado_em": _iso(a.created_at),
                        "removido": a.removed,
                    }
                    for a in files.get(chamado.id, [])
                ],
                "linha_do_tempo": [
                    {"em": _iso(e.at), "evento": e.summary, "mensagem": e.message}
                    for e in timeline.get(chamado.id, [])
                ],
            }
        )
    sessions = session.scalars(
        select(UserSession)
        .where(UserSession.user_id == user_id)
        .order_by(UserSession.created_at.desc())
        .limit(100)
    )
    # Problems the person chose to follow instead of opening an instance (engine.outages).
    followed = session.execute(
        select(OutageSubscriber, Outage)
        .join(Outage, Outage.id == OutageSubscriber.outage_id)
        .where(OutageSubscriber.user_id == user_id)
        .order_by(OutageSubscriber.created_at)
        .limit(MAX_INSTANCES)
    ).all()
    return {
        "formato": FORMAT,
        "gerado_em": _iso(now),
        "conta": {
            "cpf": format_cpf(user.cpf) if user.cpf.isdigit() else user.cpf,
            "nome_civil": user.name,
            "nome_social": user.social_name,
            "email": user.email,
            "telefone": user.phone,
            "nivel_da_conta_govbr": user.reliability,
            "criada_em": _iso(user.created_at),
            "ultimo_acesso_em": _iso(user.last_login_at),
        },
        "solicitacoes": instances,
        "emails": [
            {
                "protocolo": protocols.get(m.chamado_id or 0),
                "para": m.to_addr,
                "assunto": m.subject,
                "situacao": m.status,
                "criado_em": _iso(m.created_at),
                "enviado_em": _iso(m.sent_at),
                "texto": m.body_text,
            }
            for m in mails
        ],
        "sessoes": [
            {
                "iniciada_em": _iso(s.created_at),
                "ultimo_uso": _iso(s.last_seen_at),
                "fim": _iso(s.ended_at),
                "navegador": s.user_agent,
            }
            for s in sessions
        ],
        "problemas_acompanhados": [
            {
                "titulo": o.title,
                "servico": o.servico,
                "desde": _iso(sub.created_at),
                "email": sub.email,
                "avisado_em": _iso(sub.notified_at),
            }
            for sub, o in followed
        ],
        "acessos_por_servidores": [
            {
                "em": _iso(a.at),
                "quem": a.actor_name,
                "canal": a.channel_label,
                "protocolo": a.protocolo,
                "item": a.item,
            }
            for a in access_log.for_subject(session, user_id)
        ],
    }
