"""Outages ("Incidentes"): one failure of a service that many tickets report.

The platform already has *technical* incidents (engine.incidents: a model that failed
while a step ran). An outage is the other kind, the one users read as "Incidente": a
gov.br service is down, hundreds open tickets about it, staff gather them under one
outage and answer them all at once.

An outage is keyed the way its tickets are: a process and the ticket columns that the
process's own forms fill through ``x-instance`` (``orgao``, ``servico``,
``categoria``: engine.forms.annotations). Nothing here knows the chamado: which task
an outage's resolution completes, and with which form values, is what the model says
on that task (``incidentAnswer`` and ``incidentResolution:<field>``, engine.policy),
and the outage's group is that task's lane group.

This module holds what needs no use case: the checks of what staff type, the likely
duplicates of a ticket ranked by text similarity over the staff search's index
(engine.search: FTS5's bm25 on SQLite, ``ts_rank`` over the stored tsvector on
PostgreSQL), and the platform's e-mail to the requesters who joined an outage.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, func, select, text
from sqlalchemy.orm import Session

from engine import limits, outbox, search
from engine.db import rows_changed
from engine.errors import ValidationFailed
from engine.mail import platform_templates
from engine.models import (
    Chamado,
    Outage,
    OutageSubscriber,
    ProcessVersion,
    SearchEntry,
    User,
)

TITLE_MAX = 200
TEXT_MAX = 5000
SERVICO_MAX = 300
CATEGORIA_MAX = 80  # a catalog code (the column holds 80)
# Tickets one request may link (the queue's page holds 20; the duplicates page 50).
MAX_LINKS = 100
# Tickets a "Resolver incidente" request completes itself, each in its own transaction;
# the rest are completed by the scheduler's job, as many per run.
BATCH = 50
# Candidates read for the duplicates of a ticket, and how many are shown.
MAX_CANDIDATES = 300
MAX_DUPLICATES = 50
# Words of a ticket's text its similarity is measured by.
_MAX_WORDS = 24
_MIN_WORD = 4

OPEN, RESOLVING, RESOLVED = "aberto", "resolvendo", "resolvido"
STATE_LABELS = {OPEN: "Aberto", RESOLVING: "Resolvendo", RESOLVED: "Resolvido"}
# What resolving did to each linked ticket (OutageLink.outcome); pt-BR for staff.
OUTCOMES = {
    "resolvido": "Resolvido pelo incidente",
    "aguardando_solicitante": "Não alterado: aguardava ajuste do(a) solicitante",
    "fora_da_analise": "Não alterado: não estava na etapa de análise",
    "ja_encerrado": "Não alterado: já estava encerrado",
    "incidente_tecnico": "Não alterado: parado por incidente técnico",
    "falhou": "Não alterado: o formulário da análise recusou a resposta",
}
MAIL = "incidente_resolvido"
PLATFORM_TEMPLATES = platform_templates(MAIL)


@dataclass(frozen=True)
class Duplicate:
    """A likely duplicate of a ticket: the ticket, its similarity (higher: closer) and
    the outage it is already linked to, if any."""

    chamado: Chamado
    score: float
    outage_id: int | None


def checked(
    title: str, public_text: str, servico: str | None, categoria: str | None
) -> tuple[str, str, str | None, str | None]:
    """What staff typed or chose for an outage, trimmed; ValidationFailed (pt-BR)
    otherwise. The category is a catalog code (the caller checks it is one of the
    process's); here only what no code can be: PostgreSQL refuses a NUL in a text."""
    errors: dict[str, str] = {}
    title, public_text = (title or "").strip(), (public_text or "").strip()
    servico = (servico or "").strip() or None
    categoria = (categoria or "").strip() or None
    if not title:
        errors["titulo"] = "Dê um título ao incidente."
    elif len(title) > TITLE_MAX:
        errors["titulo"] = f"O título pode ter até {TITLE_MAX} caracteres."
    elif problem := limits.forbidden_character(title):
        errors["titulo"] = problem
    if len(public_text) < 5:
        errors["texto_publico"] = (
            "Escreva o texto público (ao menos 5 caracteres): é a resposta que cada "
            "solicitante recebe quando o incidente for resolvido."
        )
    elif len(public_text) > TEXT_MAX:
        errors["texto_publico"] = f"O texto público pode ter até {TEXT_MAX} caracteres."
    elif problem := limits.forbidden_character(public_text, multiline=True):
        errors["texto_publico"] = problem
    if servico is not None:
        if len(servico) > SERVICO_MAX:
            errors["servico"] = f"O serviço pode ter até {SERVICO_MAX} caracteres."
        elif problem := limits.forbidden_character(servico):
            errors["servico"] = problem
    if categoria is not None and (
        len(categoria) > CATEGORIA_MAX or limits.forbidden_character(categoria)
    ):
        errors["categoria"] = "Tipo de problema inválido: escolha um da lista."
    if errors:
        raise ValidationFailed(errors)
    return title, public_text, servico, categoria


def same_service(a: str | None, b: str | None) -> bool:
    """Two free-text service names denote the same service (case, accents and spaces
    aside): "Emissão de CPF" and "emissao  de cpf"."""
    return " ".join(search.fold(a or "").split()) == " ".join(search.fold(b or "").split())


def candidates(
    session: Session,
    chamado: Chamado,
    process_id: str,
    window: timedelta,
) -> Any:
    """Tickets that may report the same failure as ``chamado``: same process, órgão
    and category, sent within ``window`` of it, still open. A query (callers add
    authorization); the service name, free text, is compared by :func:`same_service`."""
    sent = chamado.submitted_at or chamado.created_at
    versions = select(ProcessVersion.id).where(ProcessVersion.process_id == process_id)
    query = select(Chamado).where(
        Chamado.id != chamado.id,
        Chamado.submitted_at.is_not(None),
        Chamado.closed_at.is_(None),
        Chamado.process_version_id.in_(versions),
        Chamado.submitted_at >= sent - window,
        Chamado.submitted_at <= sent + window,
    )
    for column, value in (
        (Chamado.orgao_id, chamado.orgao_id),
        (Chamado.categoria, chamado.categoria),
    ):
        query = query.where(column.is_(None) if value is None else column == value)
    return query.order_by(Chamado.submitted_at.desc(), Chamado.id.desc()).limit(MAX_CANDIDATES)


def _words(body: str, leave_out: Iterable[str]) -> list[str]:
    """The words a ticket's text is compared by: those of what the requester wrote,
    without the protocol, their name and CPF (which every ticket of theirs shares)."""
    skip = {search.fold(w) for w in leave_out}
    found: list[str] = []
    for word in search._WORD_RE.findall(body.lower()):
        folded = search.fold(word)
        if len(folded) < _MIN_WORD or folded in skip or folded in found:
            continue
        found.append(folded)
        if len(found) == _MAX_WORDS:
            break
    return found


def similarity(
    session: Session, chamado: Chamado, requester: tuple[str, str], others: list[int]
) -> dict[int, float]:
    """ticket id → how close its text is to ``chamado``'s (higher: closer; absent: no
    word in common), for the tickets ``others``. ``requester``: name and CPF, left out.

    Bounded: at most ``_MAX_WORDS`` words, against the search entries of ``others``
    only (at most MAX_CANDIDATES tickets)."""
    if not others:
        return {}
    bodies = session.scalars(select(SearchEntry.body).where(SearchEntry.chamado_id == chamado.id))
    leave_out = search.terms(" ".join((chamado.protocolo, *requester)))
    words = _words(" ".join(bodies), [*leave_out, chamado.protocolo.lower()])
    if not words:
        return {}
    if session.get_bind().dialect.name == "postgresql":
        query = text(
            "SELECT chamado_id, max(ts_rank(tsv, to_tsquery('portuguese', :q))) "
            "FROM search_entries WHERE chamado_id IN :ids GROUP BY chamado_id"
        ).bindparams(bindparam("ids", expanding=True))
        rows = session.execute(query, {"q": " | ".join(words), "ids": others})
        return {cid: float(score) for cid, score in rows if score and score > 0}
    # FTS5: bm25 is lower for a closer match; restricted to the others' entries.
    query = text(
        f"SELECT e.chamado_id, bm25({search.SQLITE_FTS_TABLE}) "
        f"FROM {search.SQLITE_FTS_TABLE} JOIN search_entries e ON e.id = "
        f"{search.SQLITE_FTS_TABLE}.rowid WHERE {search.SQLITE_FTS_TABLE} MATCH :q "
        "AND e.chamado_id IN :ids"
    ).bindparams(bindparam("ids", expanding=True))
    match = " OR ".join(f'"{w}"' for w in words)
    scores: dict[int, float] = {}
    for cid, rank in session.execute(query, {"q": match, "ids": others}):
        scores[cid] = max(scores.get(cid, 0.0), -float(rank))
    return scores


def open_for_process(session: Session, process_id: str) -> list[Outage]:
    """The open outages of a process, newest first (the start page's notices)."""
    return list(
        session.scalars(
            select(Outage)
            .where(Outage.process_id == process_id, Outage.state == OPEN)
            .order_by(Outage.id.desc())
            .limit(20)
        )
    )


def notify_subscribers(
    session: Session,
    outage: Outage,
    context: dict[str, Any],
    base_url: str,
    now: datetime,
) -> int:
    """The platform's result e-mail to each requester who joined the outage, once:
    each row is marked by a conditional UPDATE, so a second run sends nothing."""
    table = OutageSubscriber.__table__
    rows = session.execute(
        select(table.c.id, table.c.email, User.name, User.social_name)
        .join(User, User.id == table.c.user_id)
        .where(table.c.outage_id == outage.id, table.c.notified_at.is_(None))
        .order_by(table.c.id)
    ).all()
    sent = 0
    for row_id, email, name, social_name in rows:
        marked = session.execute(
            table.update()
            .where(table.c.id == row_id, table.c.notified_at.is_(None))
            # The address is needed for this one e-mail only (data/lgpd_inventory.json).
            .values(notified_at=now, email=None)
        )
        if rows_changed(marked) != 1 or not email:
            continue
        outbox.enqueue(
            session,
            MAIL,
            email,
            {**context, "nome": social_name or name},
            chamado_id=None,
            base_url=base_url,
            now=now,
            templates=PLATFORM_TEMPLATES,
        )
        sent += 1
    return sent


def subscriber_count(session: Session, outage_id: int) -> int:
    return int(
        session.scalar(select(func.count()).where(OutageSubscriber.outage_id == outage_id)) or 0
    )
