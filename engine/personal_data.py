""" "Meus dados": what the platform holds about one person, in two forms (LGPD art. 19).

* :func:`summary` — the simplified answer, given at once (art. 19, I): the account as
  gov.br gave it, counts of what is held, the latest instances and the latest reads by
  staff. Its cost does not grow with the person's history: every list is a page read
  along an index and every count stops at ``COUNT_CAP`` (engine.queue), as the lists of
  "Minhas solicitações" do.
* :func:`write` — the complete declaration (art. 19, II), built by the scheduler
  (engine.data_copies, engine.usecases.privacy) as one JSON document, format
  ``chamados.meus-dados/1`` (README "Dados pessoais (LGPD)"): the account, every instance
  the person requested with their own answers (staff-only notes left out), their
  satisfaction answer, the names and sizes of their attachments and the public
  timeline; the e-mails written to them about those instances; their sessions; the known
  problems they follow (engine.outages); and the record of staff who read their data
  (engine.access_log). Nothing is capped: every part is read in keyset pages of
  ``chunk`` rows, each in a read of its own, and written out as it is read, so memory
  and each database read stay bounded whatever the history.

Everything is read by the person's id: nothing of anyone else's instances can enter it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import (
    Integer,
    Select,
    bindparam,
    func,
    literal,
    literal_column,
    or_,
    select,
    tuple_,
)
from sqlalchemy.orm import Session

from engine import access_log, forms, listing, specs, tasks
from engine.data_copies import CopyState
from engine.models import (
    Attachment,
    AuditEvent,
    Chamado,
    DataAccess,
    Outage,
    OutageSubscriber,
    OutboxMessage,
    SatisfactionSurvey,
    Submission,
    User,
    UserSession,
)
from engine.queue import COUNT_CAP
from engine.validators import format_cpf

FORMAT = "chamados.meus-dados/1"
# Rows per read of the complete copy (instances, e-mails, sessions, records).
CHUNK = 200
# What the simplified view lists of each kind: the most recent ones.
RECENT = 10
# Addresses a person gave on their forms, looked for in the e-mails (bounded).
MAX_ADDRESSES = 1000

Reading = Callable[[], AbstractContextManager[Session]]


class Sink(Protocol):
    """Where the document goes (a gzip stream, a buffer)."""

    def write(self, data: bytes, /) -> int: ...


BundleOf = Callable[[Session, int], specs.ProcessBundle]


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def account(user: User) -> dict[str, Any]:
    return {
        "cpf": format_cpf(user.cpf) if user.cpf.isdigit() else user.cpf,
        "nome_civil": user.name,
        "nome_social": user.social_name,
        "email": user.email,
        "telefone": user.phone,
        "nivel_da_conta_govbr": user.reliability,
        "criada_em": _iso(user.created_at),
        "ultimo_acesso_em": _iso(user.last_login_at),
    }


# --- the simplified view (art. 19, I) -----------------------------------------------------------


@dataclass(frozen=True)
class RecentInstance:
    id: int
    protocolo: str
    processo: str
    situacao: str
    tone: str | None
    criado_em: datetime
    encerrado_em: datetime | None
    emails: int  # written to the person about it (their address or the form's)


@dataclass(frozen=True)
class Summary:
    generated_at: datetime
    account: dict[str, Any]
    # Each counted up to count_cap: a value equal to it means "at least this many".
    counts: dict[str, int]
    count_cap: int
    recent: list[RecentInstance]
    accesses: list[access_log.AccessView]
    copy: CopyState | None


_OWNER = "_owner"
_EMAIL = "_email"
_CAP = "_cap"


def _capped(query: Select[Any]) -> Any:
    """``count(*)`` of at most COUNT_CAP rows of ``query``: the database stops there."""
    capped = query.limit(bindparam(_CAP, type_=Integer(), literal_execute=True)).subquery()
    return select(func.count()).select_from(capped).scalar_subquery()


# Every count of the view in one statement, built once; each walks an index by the
# person's id and stops at the cap. (E-mails are counted per listed instance below: a
# count of all of them would walk every instance of a person who has few.)
_COUNTS = select(
    _capped(select(literal_column("1")).where(UserSession.user_id == bindparam(_OWNER))).label(
        "sessoes"
    ),
    _capped(select(literal_column("1")).where(DataAccess.subject_id == bindparam(_OWNER))).label(
        "acessos"
    ),
    _capped(select(literal_column("1")).where(OutageSubscriber.user_id == bindparam(_OWNER))).label(
        "problemas_acompanhados"
    ),
)


# The e-mails written to the person about each listed instance (by ticket).
_MAILS_OF = (
    select(OutboxMessage.chamado_id, func.count())
    .join(Chamado, Chamado.id == OutboxMessage.chamado_id)
    .where(
        OutboxMessage.chamado_id.in_(bindparam("_ids", expanding=True)),
        or_(
            func.lower(OutboxMessage.to_addr) == func.lower(Chamado.email),
            func.lower(OutboxMessage.to_addr) == bindparam(_EMAIL),
        ),
    )
    .group_by(OutboxMessage.chamado_id)
)


def summary(
    session: Session,
    user: User,
    now: datetime,
    bundle_of: BundleOf,
    copy: CopyState | None,
    recent: int = RECENT,
) -> Summary:
    """The simplified view: the same few indexed reads whatever the person's history."""
    page = listing.requester_chamados(
        session, user.id, listing.ListRequest(listing.CHAMADOS, "todos", limit=recent)
    )
    found = session.execute(_COUNTS, {_OWNER: user.id, _CAP: COUNT_CAP}).one()
    mails: dict[int, int] = {}
    if page.items:
        ids = [c.id for c, _task in page.items]
        rows = session.execute(_MAILS_OF, {"_ids": ids, _EMAIL: (user.email or "").lower()})
        mails = {cid: int(n) for cid, n in rows if cid is not None}
    counts = {
        "solicitacoes_abertas": page.counts["abertos"],
        "solicitacoes_encerradas": page.counts["encerrados"],
        "sessoes": int(found.sessoes),
        "acessos_por_servidores": int(found.acessos),
        "problemas_acompanhados": int(found.problemas_acompanhados),
    }
    instances = [
        RecentInstance(
            id=c.id,
            protocolo=c.protocolo,
            processo=bundle_of(session, c.process_version_id).policy.title,
            situacao=c.status_label or c.status,
            tone=c.status_tone,
            criado_em=c.created_at,
            encerrado_em=c.closed_at,
            emails=mails.get(c.id, 0),
        )
        for c, _task in page.items
    ]
    return Summary(
        generated_at=now,
        account=account(user),
        counts=counts,
        count_cap=COUNT_CAP,
        recent=instances,
        accesses=access_log.for_subject(session, user.id, limit=recent),
        copy=copy,
    )


# --- the complete copy (art. 19, II) ------------------------------------------------------------


class _Document:
    """Writes the document as ``json.dumps(doc, indent=2)`` would, one part at a time."""

    def __init__(self, out: Sink) -> None:
        self._out = out
        self._keys = 0
        self._items = 0
        self.size = 0

    def _write(self, text: str) -> None:
        data = text.encode("utf-8")
        self.size += len(data)
        self._out.write(data)

    @staticmethod
    def _dump(value: Any, level: int) -> str:
        return json.dumps(value, ensure_ascii=False, indent=2).replace("\n", "\n" + "  " * level)

    def _key(self, name: str) -> None:
        self._write(("{\n" if self._keys == 0 else ",\n") + f"  {json.dumps(name)}: ")
        self._keys += 1

    def value(self, name: str, value: Any) -> None:
        self._key(name)
        self._write(self._dump(value, 1))

    def open_list(self, name: str) -> None:
        self._key(name)
        self._write("[")
        self._items = 0

    def items(self, values: Iterable[Any]) -> None:
        for value in values:
            self._write(("," if self._items else "") + "\n    " + self._dump(value, 2))
            self._items += 1

    def close_list(self) -> None:
        self._write("\n  ]" if self._items else "]")

    def close(self) -> None:
        self._write("\n}\n")


def write(
    out: Sink,
    reading: Reading,
    user_id: int,
    now: datetime,
    bundle_of: BundleOf,
    *,
    chunk: int = CHUNK,
    between: Callable[[], None] = lambda: None,
) -> tuple[int, int]:
    """The complete document for ``user_id`` into ``out`` (UTF-8 JSON); ``between()``
    runs after each read (the builder renews its claim there). Returns (bytes written,
    instances)."""
    doc = _Document(out)
    with reading() as session:
        user = session.get(User, user_id)
        assert user is not None
        own_email = (user.email or "").lower()
        doc.value("formato", FORMAT)
        doc.value("gerado_em", _iso(now))
        doc.value("conta", account(user))
        # The addresses the person gave on their forms (their mails went there too).
        addresses = {own_email} | set(
            session.scalars(
                select(func.lower(Chamado.email))
                .distinct()
                .where(Chamado.requester_id == user_id, Chamado.email.is_not(None))
                .limit(MAX_ADDRESSES)
            )
        )
    addresses.discard("")

    doc.open_list("solicitacoes")
    instances = 0
    after: tuple[datetime, int] | None = None
    while True:
        with reading() as session:
            rows = _instances_page(session, user_id, after, chunk)
            if rows:
                doc.items(_instances(session, user_id, rows, bundle_of))
        between()
        instances += len(rows)
        if len(rows) < chunk:
            break
        after = (rows[-1].created_at, rows[-1].id)
    doc.close_list()

    doc.open_list("emails")
    after = None
    while True:
        with reading() as session:
            keys = _instance_keys(session, user_id, after, chunk)
            if keys and addresses:
                doc.items(_mails(session, [k[1] for k in keys], addresses))
        between()
        if len(keys) < chunk:
            break
        after = keys[-1]
    doc.close_list()

    doc.open_list("sessoes")
    before: int | None = None
    while True:
        with reading() as session:
            query = select(UserSession).where(UserSession.user_id == user_id)
            if before is not None:
                query = query.where(UserSession.id < before)
            sessions = list(session.scalars(query.order_by(UserSession.id.desc()).limit(chunk)))
            doc.items(
                {
                    "iniciada_em": _iso(s.created_at),
                    "ultimo_uso": _iso(s.last_seen_at),
                    "fim": _iso(s.ended_at),
                    "navegador": s.user_agent,
                }
                for s in sessions
            )
        between()
        if len(sessions) < chunk:
            break
        before = sessions[-1].id
    doc.close_list()

    doc.open_list("problemas_acompanhados")
    last = 0
    while True:
        with reading() as session:
            followed = session.execute(
                select(OutageSubscriber, Outage)
                .join(Outage, Outage.id == OutageSubscriber.outage_id)
                .where(OutageSubscriber.user_id == user_id, OutageSubscriber.id > last)
                .order_by(OutageSubscriber.id)
                .limit(chunk)
            ).all()
            doc.items(
                {
                    "titulo": o.title,
                    "servico": o.servico,
                    "desde": _iso(sub.created_at),
                    "email": sub.email,
                    "avisado_em": _iso(sub.notified_at),
                }
                for sub, o in followed
            )
        between()
        if len(followed) < chunk:
            break
        last = followed[-1][0].id
    doc.close_list()

    doc.open_list("acessos_por_servidores")
    older: tuple[datetime, int] | None = None
    while True:
        with reading() as session:
            reads = access_log.subject_page(session, user_id, older, chunk)
            doc.items(
                {
                    "em": _iso(a.at),
                    "quem": a.actor_name,
                    "canal": a.channel_label,
                    "protocolo": a.protocolo,
                    "item": a.item,
                }
                for a in reads
            )
        between()
        if len(reads) < chunk:
            break
        older = (reads[-1].at, reads[-1].id)
    doc.close_list()
    doc.close()
    return doc.size, instances


def _after(key: tuple[datetime, int]) -> Any:
    at, ident = key
    return tuple_(Chamado.created_at, Chamado.id) > tuple_(
        literal(at, Chamado.created_at.type), literal(ident, Integer())
    )


def _instances_page(
    session: Session, user_id: int, after: tuple[datetime, int] | None, chunk: int
) -> list[Chamado]:
    """The person's next ``chunk`` instances, oldest first (ix_chamados_requester_list)."""
    query = select(Chamado).where(Chamado.requester_id == user_id)
    if after is not None:
        query = query.where(_after(after))
    return list(session.scalars(query.order_by(Chamado.created_at, Chamado.id).limit(chunk)))


def _instance_keys(
    session: Session, user_id: int, after: tuple[datetime, int] | None, chunk: int
) -> list[tuple[datetime, int]]:
    query = select(Chamado.created_at, Chamado.id).where(Chamado.requester_id == user_id)
    if after is not None:
        query = query.where(_after(after))
    rows = session.execute(query.order_by(Chamado.created_at, Chamado.id).limit(chunk))
    return [(r.created_at, r.id) for r in rows]


def _mails(session: Session, ids: list[int], addresses: set[str]) -> list[dict[str, Any]]:
    """The e-mails about these instances written to the person (their gov.br address or
    one they gave on a form), by instance and then by date."""
    protocols = dict(
        session.execute(select(Chamado.id, Chamado.protocolo).where(Chamado.id.in_(ids))).all()
    )
    order = {cid: n for n, cid in enumerate(ids)}
    mails = sorted(
        session.scalars(
            select(OutboxMessage).where(
                OutboxMessage.chamado_id.in_(ids),
                func.lower(OutboxMessage.to_addr).in_(sorted(addresses)),
            )
        ),
        key=lambda m: (order.get(m.chamado_id or 0, 0), m.created_at, m.id),
    )
    return [
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
    ]


def _instances(
    session: Session, user_id: int, chamados: list[Chamado], bundle_of: BundleOf
) -> list[dict[str, Any]]:
    """Each instance of one page with the person's answers, files and timeline."""
    ids = [c.id for c in chamados]
    subs: dict[int, list[Submission]] = {}
    files: dict[int, list[Attachment]] = {}
    timeline: dict[int, list[AuditEvent]] = {}
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
    surveys = {
        row.chamado_id: row
        for row in session.scalars(
            select(SatisfactionSurvey).where(
                SatisfactionSurvey.chamado_id.in_(ids),
                SatisfactionSurvey.answered_at.is_not(None),
            )
        )
    }
    instances = []
    for chamado in chamados:
        bundle = bundle_of(session, chamado.process_version_id)
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
        survey = surveys.get(chamado.id)
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
                    "nota": survey.rating,
                    "comentario": survey.comment,
                    "respondida_em": _iso(survey.answered_at),
                }
                if survey is not None
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
    return instances
