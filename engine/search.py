"""Staff search: one box finds tickets by protocol, CPF, NUP, name or words.

Each requester form a ticket received has one row in ``search_entries`` whose ``body``
is what a person would type to find it: the protocol, the requester's name and CPF,
every text the form sent (with a digits-only copy of numbers such as a NUP, so
"00000.000000/0000-00" and "00000000000000000" both find it), folded to lower case
without accents. A new sending of the same form replaces its row. The body is indexed
by the database's own full-text search: FTS5 on SQLite (an external-content table kept
in step by triggers, migration 0012) and ``to_tsvector('portuguese', body)`` with a GIN
index on PostgreSQL (Portuguese stemming: "integrações" finds "integração").

A query is read in this order: a protocol number (exact, on its unique index); a valid
CPF (the requester's tickets, through their indexed list); else words, every one of
which must appear. Work is bounded: at most ``MAX_TERMS`` words of a query of at most
``MAX_QUERY`` characters, and one page of ``limit`` results.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator
from typing import Any

from sqlalchemy import BindParameter, Select, bindparam, func, literal_column, select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from engine import forms, users
from engine.models import PORTUGUESE, Chamado, SearchEntry, User
from engine.prepared import Prepared

# Each database's own full-text structure, created by migration 0012 and unknown to
# the models: SQLite's FTS5 table (the prefix of its shadow tables too), PostgreSQL's
# generated tsvector column and its GIN index.
SQLITE_FTS_TABLE = "search_fts"
POSTGRESQL_TSV = "tsv"
POSTGRESQL_TSV_INDEX = "ix_search_entries_tsv"
# A word in fewer entries than this is looked up in the full-text index and its tickets
# sorted; a more common one is read from the newest entries until a page is full.
_DIRECT = 2000
MAX_QUERY = 200  # characters a query may have; the API documents it
MAX_TERMS = 8  # words of a query taken into account
MAX_BODY = 20_000  # characters of one form's text kept for search
# A number this long inside a text is worth a digits-only copy (CPF 11, NUP 17).
_MIN_DIGITS = 11
_PROTOCOLO_RE = re.compile(r"ch-\d{4}-\d{6}")
_NUMBER_RE = re.compile(r"\d[\d.\-/ ]{9,}\d")
_WORD_RE = re.compile(r"[^\W_]+")

_TABLE = SearchEntry.__table__
# Run on the driver (engine.prepared): every submitted requester form writes it.
_UPSERT = {
    name: Prepared(
        (
            lambda stmt: stmt.on_conflict_do_update(
                index_elements=["chamado_id", "form"],
                set_={"body": stmt.excluded.body, "updated_at": stmt.excluded.updated_at},
            )
        )(insert(_TABLE)),
        column_keys=("body", "chamado_id", "form", "updated_at"),
    )
    for name, insert in (("postgresql", pg_insert), ("sqlite", sqlite_insert))
}


def fold(value: str) -> str:
    """Lower case without accents, the form both the body and a query are compared in."""
    decomposed = unicodedata.normalize("NFKD", value.replace("\x00", " "))
    return "".join(c for c in decomposed if not unicodedata.combining(c)).lower()


def _texts(value: Any, schema: Any) -> Iterator[str]:
    """Every string a person typed into a form's answers: codes of choices left out
    ("analista_servico" is not a word anyone searches for), lists and nested objects in."""
    if isinstance(schema, dict) and forms.is_choice(schema):
        return
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        properties = schema.get("properties", {}) if isinstance(schema, dict) else {}
        for name, item in value.items():
            yield from _texts(item, properties.get(name, {}))
    elif isinstance(value, list):
        items = schema.get("items", {}) if isinstance(schema, dict) else {}
        for item in value:
            yield from _texts(item, items)


def document(
    protocolo: str, requester_name: str, requester_cpf: str, data: Any, schema: Any
) -> str:
    """The searchable text of one form's answers on a ticket."""
    parts = [protocolo, requester_name, requester_cpf]
    for piece in _texts(data, schema):
        parts.append(piece)
        for number in _NUMBER_RE.findall(piece):
            digits = re.sub(r"\D", "", number)
            if len(digits) >= _MIN_DIGITS:
                parts.append(digits)
    # As typed and without accents: PostgreSQL's stemmer needs the accents
    # ("integrações" → "integr"), a person typing without them needs the folded copy.
    typed = " ".join(parts).replace("\x00", " ").lower()[:MAX_BODY]
    folded = fold(typed)
    return typed if folded == typed else f"{typed}\n{folded}"


def index(
    session: Session,
    chamado: Chamado,
    form: str,
    requester_name: str,
    requester_cpf: str,
    data: Any,
    schema: Any,
    now: Any,
) -> None:
    """Store (or replace) the searchable text of one form of a ticket: one statement,
    carried with the step's next one on PostgreSQL (engine.prepared's ``execute_later``)."""
    _UPSERT[session.get_bind().dialect.name].execute_later(
        session,
        {
            "chamado_id": chamado.id,
            "form": form[:200],
            "body": document(chamado.protocolo, requester_name, requester_cpf, data, schema),
            "updated_at": now,
        },
    )


def forget(session: Session, chamado_id: int) -> None:
    """Drop a ticket's searchable text (its personal data is being erased)."""
    session.execute(_TABLE.delete().where(_TABLE.c.chamado_id == chamado_id))


def terms(q: str) -> list[str]:
    """The words of a query in lower case, at most MAX_TERMS of them."""
    return _WORD_RE.findall(q[:MAX_QUERY].replace("\x00", " ").lower())[:MAX_TERMS]


def _match_sqlite(words: list[str]) -> Any:
    """The entries FTS5 matches: their ids, from the full-text table."""
    # Each word quoted (FTS5 syntax never reaches the user); the last one as a prefix,
    # so a half-typed word still finds.
    quoted = [f'"{fold(w)}"' for w in words]
    quoted[-1] += "*"
    ids = text(f"SELECT rowid FROM {SQLITE_FTS_TABLE} WHERE {SQLITE_FTS_TABLE} MATCH :match")
    return _TABLE.c.id.in_(ids.bindparams(bindparam("match", " ".join(quoted))))


def _tsquery(words: list[str]) -> Any:
    # Each word as typed or without its accents (the body holds both spellings).
    # The last word is a prefix (a word being typed).
    alternatives = []
    for i, word in enumerate(words):
        suffix = ":*" if i == len(words) - 1 else ""
        spellings = sorted({word, fold(word)})
        alternatives.append("(" + " | ".join(f"{s}{suffix}" for s in spellings) + ")")
    # Written into the statement, not bound: psycopg prepares a statement run five times
    # and PostgreSQL then plans it once for any word, as if every word were as common
    # as any other; for search that generic plan reads every entry of a common word
    # (seconds at a million). The words are letters and digits only (``terms``).
    text_query: BindParameter[str] = bindparam(
        "tsquery", " & ".join(alternatives), literal_execute=True
    )
    return func.to_tsquery(PORTUGUESE, text_query)


def matching(session: Session, q: str) -> Select[Chamado] | None:
    """Tickets matching the query, newest first (callers add authorization and a
    limit); None when the query has nothing to search for.

    Words: on PostgreSQL, the first ``_DIRECT`` matching entries are read (the
    full-text index for a rare word, the table until it has them for a common one);
    fewer means that is all of them, and their tickets are sorted. More means a common
    word: the entries are read newest first until a page is full (a word in a third of
    the tickets fills a page within a hundred entries), each checked against its stored
    tsvector. Deciding here rather than leaving it to the planner matters: it estimates
    an unknown word (a NUP) from the least common frequent word, and walking a million
    entries for a word none has takes seconds. On SQLite FTS5 gives the entries.
    A ticket with several forms may come once per matching form (callers keep the first).
    """
    cleaned = q.strip()[:MAX_QUERY]
    if not cleaned:
        return None
    base = select(Chamado).where(Chamado.submitted_at.is_not(None))
    if _PROTOCOLO_RE.fullmatch(fold(cleaned)):
        return base.where(Chamado.protocolo == cleaned.upper())
    cpf = users.parse_cpf(cleaned)
    if cpf is not None:
        requester = select(User.id).where(User.cpf == cpf).scalar_subquery()
        return base.where(Chamado.requester_id == requester).order_by(
            Chamado.created_at.desc(), Chamado.id.desc()
        )
    words = terms(cleaned)
    digits = re.sub(r"\D", "", cleaned)
    if len(digits) >= _MIN_DIGITS and not re.search(r"[^\d.\-/\s]", cleaned):
        words = [digits]  # a number typed with its punctuation: its digits-only copy
    if not words:
        return None
    if session.get_bind().dialect.name != "postgresql":
        return (
            base.join(_TABLE, _TABLE.c.chamado_id == Chamado.id)
            .where(_match_sqlite(words))
            .order_by(_TABLE.c.chamado_id.desc())
        )
    match = literal_column(f"search_entries.{POSTGRESQL_TSV}").op("@@")(_tsquery(words))
    few = session.scalars(select(_TABLE.c.chamado_id).where(match).limit(_DIRECT)).all()
    if len(few) < _DIRECT:
        return base.where(Chamado.id.in_(set(few))).order_by(Chamado.id.desc())
    return (
        base.join(_TABLE, _TABLE.c.chamado_id == Chamado.id)
        .where(match)
        .order_by(_TABLE.c.chamado_id.desc())
    )
