"""Removing a closed instance's personal data, keeping what the statistics need.

An instance past its retention (engine.retention) keeps its protocol number, dates,
statuses, process and version, órgão, problem type, service name and every answer
chosen from a list (``enum``/``oneOf``, a catalog, a platform look-up), numbers and
yes/no answers: what the dashboards count. Everything else a person typed or uploaded
goes: free-text answers (names, CPF, e-mails, phones, descriptions, observations),
the staff search's text, the satisfaction comment (the score stays), attachments,
drafts, the texts rendered from them into the timeline, the stored e-mails (and their
captured copies on disk), the workflow's own copy of the data.
The instance is then re-pointed to one shared placeholder person, so nothing links it
to whoever asked for it; records of who read it (engine.access_log) hold ids only and stay.

A last pass replaces any text still containing one of the person's identifiers (CPF in
either spelling, names, e-mail, phone) wherever it was copied (a script's variable, a
model's message): the schema tells what to keep, the identifiers what must not remain.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from engine import data_copies, forms, outages, outbox, search, specs
from engine.db import rows_changed
from engine.models import (
    ApiToken,
    Attachment,
    AuditEvent,
    Chamado,
    HumanTask,
    OutageSubscriber,
    OutboxMessage,
    SatisfactionSurvey,
    Submission,
    User,
    UserSession,
)
from engine.validators import format_cpf

REDACTED = "[removido]"
PLACEHOLDER_CPF = "anon:titulares"
PLACEHOLDER_NAME = "Titular anonimizado"
ANONYMOUS_KIND = "anonimo"
# x-instance columns that describe the service, not the person: kept.
_KEPT_INSTANCE = frozenset({"orgao", "categoria", "servico"})
# Audit details that copy a form's data.
_DATA_DETAILS = frozenset({"dados", "alteracoes"})
_DROP = object()
# Identifiers shorter than this are not searched for (a one-letter social name).
_MIN_NEEDLE = 4


def _is_choice(prop: Mapping[str, Any]) -> bool:
    """A field picked from a list, or one that describes the service, not the person."""
    return forms.is_choice(prop) or prop.get("x-instance") in _KEPT_INSTANCE


def redact_answers(schema: Mapping[str, Any], data: Mapping[str, Any]) -> dict[str, Any]:
    """What of a form's data survives anonymisation (see the module's docstring)."""
    props = schema.get("properties") if isinstance(schema, Mapping) else None
    props = props if isinstance(props, Mapping) else {}
    kept: dict[str, Any] = {}
    for name, value in data.items():
        prop = props.get(name)
        if not isinstance(prop, Mapping):
            continue  # unknown to the schema: nothing says it is harmless
        result = _redact_value(prop, value)
        if result is not _DROP:
            kept[name] = result
    return kept


def _redact_value(prop: Mapping[str, Any], value: Any) -> Any:
    if prop.get("x-attachments"):
        return []
    if isinstance(value, bool | int | float) or value is None:
        return value
    if isinstance(value, str):
        return value if _is_choice(prop) else _DROP
    if isinstance(value, list):
        items = prop.get("items")
        items = items if isinstance(items, Mapping) else {}
        out = [_redact_value(items, item) for item in value]
        return [item for item in out if item is not _DROP]
    if isinstance(value, dict):
        return redact_answers(prop, value)
    return _DROP


def free_text_fields(forms: Mapping[str, Any]) -> set[str]:
    """Top-level field names, across a version's forms, whose values are not kept."""
    names: set[str] = set()
    for schema in forms.values():
        props = schema.get("properties") if isinstance(schema, Mapping) else None
        if not isinstance(props, Mapping):
            continue
        for name, prop in props.items():
            if isinstance(prop, Mapping) and (
                prop.get("x-attachments")
                or prop.get("type") in ("string", "array", "object")
                and not _is_choice(prop)
            ):
                names.add(name)
                # A dotted field's value sits nested in task data under its first part.
                names.add(name.split(".", 1)[0])
    return names


@dataclass(frozen=True)
class Needles:
    """The person's identifiers, searched for in every text that remains."""

    pattern: re.Pattern[str] | None

    @classmethod
    def of(cls, values: Iterable[str | None]) -> Needles:
        found: set[str] = set()
        for value in values:
            if not value or not isinstance(value, str):
                continue
            value = value.strip()
            if len(value) < _MIN_NEEDLE:
                continue
            found.add(value)
            digits = re.sub(r"\D", "", value)
            if len(digits) == 11 and digits == value:
                found.add(format_cpf(digits))
        if not found:
            return cls(None)
        ordered = sorted(found, key=len, reverse=True)
        return cls(re.compile("|".join(re.escape(v) for v in ordered), re.IGNORECASE))

    def scrub(self, value: Any) -> Any:
        """``value`` with every text holding an identifier replaced (lists, dicts walked)."""
        if isinstance(value, str):
            return REDACTED if self.pattern is not None and self.pattern.search(value) else value
        if isinstance(value, list):
            return [self.scrub(v) for v in value]
        if isinstance(value, dict):
            return {k: self.scrub(v) for k, v in value.items()}
        return value


def _redact_state(state: str | None, fields: set[str], needles: Needles) -> str | None:
    """The serialized workflow with the free-text fields removed from every data dict."""
    if not state:
        return state
    try:
        tree = json.loads(state)
    except ValueError:
        return None  # not ours to read: a closed instance can do without it

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            return {k: walk(v) for k, v in node.items() if k not in fields}
        if isinstance(node, list):
            return [walk(v) for v in node]
        return needles.scrub(node)

    return json.dumps(walk(tree), separators=(",", ":"))


def placeholder_id(session: Session) -> int:
    """The shared person anonymised instances are re-pointed to (created once)."""
    found = session.scalar(select(User.id).where(User.cpf == PLACEHOLDER_CPF))
    if found is not None:
        return found
    row = User(cpf=PLACEHOLDER_CPF, kind=ANONYMOUS_KIND, name=PLACEHOLDER_NAME)
    session.add(row)
    session.flush()
    return row.id


def person_needles(user: User, extra: Iterable[str | None] = ()) -> Needles:
    return Needles.of([user.cpf, user.name, user.social_name, user.email, user.phone, *extra])


def _blank_mail(mail: OutboxMessage, capture_dir: Path | None) -> None:
    """An e-mail to the person, emptied: address, bodies, the server's error (which may
    cite the address) and the captured copy; its subject is the caller's to scrub."""
    if capture_dir is not None:
        outbox.captured_path(capture_dir, mail.message_id).unlink(missing_ok=True)
    mail.to_addr = ""
    mail.body_text = ""
    mail.body_html = ""
    mail.last_error = None
    if mail.status == "pending":
        # Nobody is left to write to; the message is kept as a row for the counts.
        mail.status = "failed"
        mail.last_error = "Dados pessoais anonimizados antes do envio."


def anonymize_chamado(
    session: Session,
    chamado: Chamado,
    bundle: specs.ProcessBundle,
    now: datetime,
    capture_dir: Path | None,
) -> dict[str, int]:
    """Remove ``chamado``'s personal data (the caller holds its row locked, closed and not
    yet anonymised). Returns what was touched, for the audit row."""
    requester = session.get(User, chamado.requester_id)
    assert requester is not None
    subs = list(session.scalars(select(Submission).where(Submission.chamado_id == chamado.id)))
    typed: list[str] = []
    for sub in subs:
        # What the form said about the person: a contact, or what was prefilled from their
        # account and maybe edited (a name typed differently from gov.br's).
        schema = bundle.forms.get(sub.form_schema or "", {})
        for name, value in sub.data.items():
            prop = (schema.get("properties") or {}).get(name, {})
            if (
                isinstance(value, str)
                and not _is_choice(prop)
                and (
                    prop.get("format") in ("email", "telefone")
                    or str(prop.get("x-prefill", "")).startswith("user.")
                )
            ):
                typed.append(value)
    needles = person_needles(requester, [chamado.email, *typed])
    for sub in subs:
        schema = bundle.forms.get(sub.form_schema or "", {})
        sub.data = needles.scrub(redact_answers(schema, sub.data))
    fields = free_text_fields(bundle.forms)
    anon = placeholder_id(session)
    session.execute(
        update(HumanTask)
        .where(HumanTask.chamado_id == chamado.id)
        .values(draft_data=None, draft_step=None)
    )
    for column in (HumanTask.assignee_id, HumanTask.completed_by_id):
        session.execute(
            update(HumanTask)
            .where(HumanTask.chamado_id == chamado.id, column == requester.id)
            .values({column.key: anon})
        )
    events = list(session.scalars(select(AuditEvent).where(AuditEvent.chamado_id == chamado.id)))
    for event in events:
        event.message = None
        event.summary = needles.scrub(event.summary)
        if event.details:
            details = {k: v for k, v in event.details.items() if k not in _DATA_DETAILS}
            event.details = needles.scrub(details) or None
        if event.actor_id == requester.id:
            event.actor_id = anon
    attachments = rows_changed(
        session.execute(delete(Attachment).where(Attachment.chamado_id == chamado.id))
    )
    # What staff search found it by (names, CPF, texts) goes; the satisfaction score
    # stays for the statistics, its free-text comment does not.
    search.forget(session, chamado.id)
    session.execute(
        update(SatisfactionSurvey)
        .where(SatisfactionSurvey.chamado_id == chamado.id)
        .values(comment=None)
    )
    mails = list(
        session.scalars(select(OutboxMessage).where(OutboxMessage.chamado_id == chamado.id))
    )
    for mail in mails:
        _blank_mail(mail, capture_dir)
        mail.subject = needles.scrub(mail.subject)
    state = session.scalar(select(Chamado.workflow_state).where(Chamado.id == chamado.id))
    chamado.workflow_state = _redact_state(state, fields, needles) or ""
    chamado.email = None
    chamado.outcome_message = None
    chamado.incident_action = None
    chamado.incident_message = needles.scrub(chamado.incident_message)
    chamado.servico = needles.scrub(chamado.servico)
    # A complete copy of "Meus dados" holds this instance's data too.
    data_copies.forget(session, requester.id)
    chamado.requester_id = anon
    chamado.anonymized_at = now
    chamado.version += 1
    session.flush()
    return {
        "formularios": len(subs),
        "arquivos": int(attachments or 0),
        "emails": len(mails),
        "eventos": len(events),
    }


_MAILS_ABOUT_THE_PERSON = (data_copies.MAIL, outages.MAIL)


def anonymize_account(session: Session, user: User, capture_dir: Path | None = None) -> None:
    """The account itself, once nothing needs it (engine.retention decides when).

    A later login with the same CPF creates a new account: gov.br tells it all again.
    """
    data_copies.forget(session, user.id)
    if user.email:
        # The platform's e-mails about no instance ("your copy is ready", "the problem you
        # followed is solved"): found by kind and address.
        for mail in session.scalars(
            select(OutboxMessage).where(
                OutboxMessage.chamado_id.is_(None),
                OutboxMessage.kind.in_(_MAILS_ABOUT_THE_PERSON),
                func.lower(OutboxMessage.to_addr) == user.email.lower(),
            )
        ):
            _blank_mail(mail, capture_dir)
    user.cpf = f"anon:{user.id}"
    user.kind = ANONYMOUS_KIND
    user.name = PLACEHOLDER_NAME
    user.social_name = None
    user.email = None
    user.phone = None
    user.reliability = None
    session.execute(delete(UserSession).where(UserSession.user_id == user.id))
    session.execute(delete(ApiToken).where(ApiToken.user_id == user.id))
    # The address kept to tell them a known problem was solved (engine.outages).
    session.execute(
        update(OutageSubscriber).where(OutageSubscriber.user_id == user.id).values(email=None)
    )
    session.flush()
