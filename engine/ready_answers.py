"""Ready answers ("Respostas prontas"): supervisors' texts an analyst starts from.

A staff form declares which of its text fields take ready answers and by which catalog
they are keyed: ``"x-ready-answers": "tipo_problema"`` on the chamado's "Resposta ao
solicitante", ``"x-ready-answers": "motivo_devolucao"`` on "Explicação ao solicitante".
Nothing here knows a process:

- when the same form has the catalog's own field (``x-catalog: motivo_devolucao``), every
  answer of that catalog is offered and using one also chooses its value there;
- otherwise the key is the ticket's category (the instance column a form fills through
  ``x-instance: categoria``), and the answers for that value and the catalog's general
  ones (no value) are offered.

Texts hold placeholders filled from the ticket when used: ``{protocolo}``, ``{nome}``
(the requester), ``{servico}``, ``{orgao}``; the analyst edits the result before
sending. What is sent is copied into the ticket, so retiring an answer changes no old
ticket; retired answers stay listed, readable, and can be brought back.

An edit carries the ``version`` of the answer the supervisor opened: when someone else
saved it meanwhile, nothing is written and :class:`~engine.errors.Conflict` says so
(retiring or restoring one does not move it: it writes none of the edited fields).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from engine import audit, catalogs, limits
from engine.db import rows_changed
from engine.errors import Conflict, NotFound, ValidationFailed
from engine.models import Chamado, ReadyAnswer

TITLE_MAX = 120
BODY_MAX = 5000
PLACEHOLDERS = ("protocolo", "nome", "servico", "orgao")
_PLACEHOLDER_RE = re.compile(r"\{([^{}\s]{1,40})\}")
ANNOTATION = "x-ready-answers"
STALE = (
    "Esta resposta pronta foi alterada por outra pessoa enquanto você a editava; "
    "nada foi gravado. Recarregue a página para ver a versão atual."
)
_ANSWERS = ReadyAnswer.__table__


@dataclass(frozen=True)
class Answer:
    id: int
    title: str
    body: str
    catalog: str
    code: str | None
    code_label: str | None  # the catalog value's label (None: every value)
    active: bool
    version: int  # what an edit of it carries back (``save``)


@dataclass(frozen=True)
class Offered:
    """An answer offered for one field of a form, its placeholders filled."""

    id: int
    title: str
    text: str
    code_label: str | None


def _labels(session: Session, catalog: str) -> dict[str, str]:
    return {o.code: o.label for o in catalogs.options(session, catalog)}


def _to_answer(row: ReadyAnswer, labels: dict[str, str]) -> Answer:
    return Answer(
        row.id,
        row.title,
        row.body,
        row.catalog,
        row.code,
        labels.get(row.code, row.code) if row.code else None,
        row.active,
        row.version,
    )


def list_answers(session: Session) -> list[Answer]:
    """Every answer, active ones first, by catalog and title."""
    rows = session.scalars(
        select(ReadyAnswer).order_by(
            ReadyAnswer.active.desc(),
            ReadyAnswer.catalog,
            ReadyAnswer.code.asc().nulls_first(),
            ReadyAnswer.title,
        )
    ).all()
    labels = {c: _labels(session, c) for c in {r.catalog for r in rows}}
    return [_to_answer(r, labels[r.catalog]) for r in rows]


def get_answer(session: Session, answer_id: int) -> Answer:
    row = session.get(ReadyAnswer, answer_id)
    if row is None:
        raise NotFound("Resposta pronta não encontrada.")
    return _to_answer(row, _labels(session, row.catalog))


def _checked(
    session: Session, title: str, body: str, catalog: str, code: str | None
) -> tuple[str, str, str, str | None]:
    errors: dict[str, str] = {}
    title, body, code = title.strip(), body.strip(), (code or "").strip() or None
    if not title:
        errors["titulo"] = "Dê um título à resposta."
    elif len(title) > TITLE_MAX:
        errors["titulo"] = f"O título pode ter até {TITLE_MAX} caracteres."
    elif problem := limits.forbidden_character(title):
        errors["titulo"] = problem
    if not body:
        errors["texto"] = "Escreva o texto da resposta."
    elif len(body) > BODY_MAX:
        errors["texto"] = f"O texto pode ter até {BODY_MAX} caracteres."
    elif problem := limits.forbidden_character(body, multiline=True):
        errors["texto"] = problem
    else:
        unknown = sorted({m for m in _PLACEHOLDER_RE.findall(body) if m not in PLACEHOLDERS})
        if unknown:
            known = ", ".join(f"{{{p}}}" for p in PLACEHOLDERS)
            errors["texto"] = (
                f"Marcador desconhecido: {', '.join('{' + u + '}' for u in unknown)}. Use {known}."
            )
    if catalog not in catalogs.EDITABLE:
        errors["catalogo"] = "Escolha a que lista a resposta se aplica."
    elif code is not None and code not in _labels(session, catalog):
        errors["valor"] = "Escolha um valor da lista (ou “Todos”)."
    if errors:
        raise ValidationFailed(errors)
    return title, body, catalog, code


def save(
    session: Session,
    answer_id: int | None,
    title: str,
    body: str,
    catalog: str,
    code: str | None,
    by_user_id: int,
    now: datetime,
    expected_version: int | None = None,
) -> int:
    """A new answer (``answer_id`` None) or the edit of one, made on ``expected_version``
    (the answer as the supervisor opened it). Returns its id."""
    if answer_id is not None and expected_version is None:
        raise ValueError("an edit carries the version of the answer it was made on")
    title, body, catalog, code = _checked(session, title, body, catalog, code)
    if answer_id is None:
        added = _add(session, title, body, catalog, code, now, by_user_id)
        session.flush()
        answer_id, action = added.id, "resposta_pronta.criada"
    else:
        # One conditional UPDATE: of two supervisors saving the same version, exactly
        # one writes; the other (or one whose page is older) writes nothing.
        changed = session.execute(
            update(_ANSWERS)
            .where(_ANSWERS.c.id == answer_id, _ANSWERS.c.version == expected_version)
            .values(
                title=title,
                body=body,
                catalog=catalog,
                code=code,
                updated_at=now,
                updated_by_id=by_user_id,
                version=_ANSWERS.c.version + 1,
            )
        )
        if rows_changed(changed) != 1:
            if session.get(ReadyAnswer, answer_id) is None:
                raise NotFound("Resposta pronta não encontrada.")
            raise Conflict(STALE)
        action = "resposta_pronta.alterada"
    audit.record(
        session,
        action,
        f"Resposta pronta “{title}”"[:300],
        actor_id=by_user_id,
        at=now,
        public=False,
        details={"id": answer_id, "catalogo": catalog, "valor": code},
    )
    return answer_id


def set_active(
    session: Session, answer_id: int, active: bool, by_user_id: int, now: datetime
) -> None:
    row = session.get(ReadyAnswer, answer_id, with_for_update=True)
    if row is None:
        raise NotFound("Resposta pronta não encontrada.")
    row.active, row.updated_at, row.updated_by_id = active, now, by_user_id
    audit.record(
        session,
        "resposta_pronta.reativada" if active else "resposta_pronta.retirada",
        f"Resposta pronta “{row.title}” {'reativada' if active else 'retirada'}"[:300],
        actor_id=by_user_id,
        at=now,
        public=False,
        details={"id": row.id},
    )


def seed(session: Session, path: Path, now: datetime) -> int:
    """The answers shipped in ``data/ready_answers.json``, on a database that has none
    (a first start): from then on, supervisors own the list. Returns how many."""
    if session.scalar(select(ReadyAnswer.id).limit(1)) is not None or not path.exists():
        return 0
    items = json.loads(path.read_text(encoding="utf-8"))
    for item in items:
        title, body, catalog, code = _checked(
            session, item["title"], item["text"], item["catalog"], item.get("value")
        )
        _add(session, title, body, catalog, code, now, None)
    return len(items)


def _add(
    session: Session,
    title: str,
    body: str,
    catalog: str,
    code: str | None,
    now: datetime,
    by_user_id: int | None,
) -> ReadyAnswer:
    """A new, active answer (already checked) in the session."""
    row = ReadyAnswer(
        title=title,
        body=body,
        catalog=catalog,
        code=code,
        active=True,
        version=1,
        created_at=now,
        updated_at=now,
        updated_by_id=by_user_id,
    )
    session.add(row)
    return row


def _key_field(schema: dict[str, Any], catalog: str) -> str | None:
    """The form's own field holding the catalog's value, if it has one."""
    for name, prop in schema.get("properties", {}).items():
        if isinstance(prop, dict) and prop.get("x-catalog") == catalog:
            return str(name)
    return None


def fill(body: str, values: dict[str, str | None]) -> str:
    """The placeholders replaced by the ticket's values (an absent value: empty)."""
    return _PLACEHOLDER_RE.sub(
        lambda m: (values.get(m.group(1)) or "") if m.group(1) in values else m.group(0), body
    )


def offered(
    session: Session, chamado: Chamado, schema: dict[str, Any], values: dict[str, str | None]
) -> dict[str, list[Offered]]:
    """field name → the active answers it offers for this ticket, filled."""
    result: dict[str, list[Offered]] = {}
    for name, prop in schema.get("properties", {}).items():
        catalog = prop.get(ANNOTATION) if isinstance(prop, dict) else None
        if not isinstance(catalog, str):
            continue
        query = select(ReadyAnswer).where(
            ReadyAnswer.catalog == catalog, ReadyAnswer.active.is_(True)
        )
        if _key_field(schema, catalog) is None:
            query = query.where(
                (ReadyAnswer.code.is_(None)) | (ReadyAnswer.code == chamado.categoria)
            )
        labels = _labels(session, catalog)
        rows = session.scalars(
            query.order_by(ReadyAnswer.code.asc().nulls_first(), ReadyAnswer.title)
        ).all()
        result[str(name)] = [
            Offered(
                r.id,
                r.title,
                fill(r.body, values),
                labels.get(r.code, r.code) if r.code else None,
            )
            for r in rows
        ]
    return result


def apply(
    session: Session,
    chamado: Chamado,
    schema: dict[str, Any],
    data: dict[str, Any],
    answer_id: int,
    values: dict[str, str | None],
) -> dict[str, Any]:
    """The form's data with the answer used: its field filled and, when the form holds
    the catalog's own field, that value chosen. An answer this form does not offer for
    this ticket changes nothing (a stale or hand-made link)."""
    for name, answers in offered(session, chamado, schema, values).items():
        for answer in answers:
            if answer.id != answer_id:
                continue
            row = session.get(ReadyAnswer, answer_id)
            assert row is not None
            changed = {**data, name: answer.text}
            key = _key_field(schema, row.catalog)
            if key is not None and row.code is not None:
                changed[key] = row.code
            return changed
    return data
