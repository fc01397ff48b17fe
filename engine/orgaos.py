"""Federal órgãos (SIORG): loading the CSV and the accent-insensitive lookup.

The search is written in plain ``LIKE`` over ``Orgao.search_text`` (lower-case,
accent-free) so it behaves the same on SQLite and PostgreSQL without ``ILIKE``
or the ``unaccent`` extension.
"""

from __future__ import annotations

import csv
import re
import unicodedata
from pathlib import Path

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from engine.models import Orgao

_NON_ALNUM_RE = re.compile(r"[^a-z0-9]+")
_SIORG_ID_RE = re.compile(r"/(\d+)/?$")

# Column sizes of engine.models.Orgao; the CSV fits, but a future release might not.
_SIGLA_MAX = 40
_NAME_MAX = 300
_SEARCH_TEXT_MAX = 400
_CLASSIFICATION_MAX = 100


def fold(text: str) -> str:
    """Lower-case, accent-free words separated by single spaces.

    ``"Advocacia-Geral da União"`` → ``"advocacia geral da uniao"``. Punctuation becomes
    a word break, which also means a folded query never contains LIKE wildcards.
    """
    decomposed = unicodedata.normalize("NFKD", text)
    stripped = "".join(c for c in decomposed if not unicodedata.combining(c))
    return _NON_ALNUM_RE.sub(" ", stripped.lower()).strip()


def _siorg_id(source_url: str) -> int:
    m = _SIORG_ID_RE.search(source_url.strip())
    if not m:
        raise ValueError(f"source_url without a SIORG code: {source_url!r}")
    return int(m.group(1))


def _search_text(sigla: str, name: str, other_names: str) -> str:
    return " ".join(p for p in (fold(sigla), fold(name), fold(other_names)) if p)[:_SEARCH_TEXT_MAX]


def load_orgaos(session: Session, csv_path: str | Path) -> int:
    """Insert or update every órgão of the SIORG CSV; returns the number of rows read.

    Idempotent: the SIORG code (numeric tail of ``source_url``) is the key, so loading
    the same or a newer file twice leaves one row per órgão. Rows missing from the file
    are kept, because chamados may reference them. Flushes; the caller commits.
    """
    # newline="" lets the csv module handle the quoted multi-line address fields.
    with open(csv_path, encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))

    existing = {o.id: o for o in session.scalars(select(Orgao))}
    seen: set[int] = set()
    for row in rows:
        orgao_id = _siorg_id(row["source_url"])
        if orgao_id in seen:
            raise ValueError(f"SIORG code {orgao_id} appears twice in {csv_path}")
        seen.add(orgao_id)
        sigla = row["abbreviation"].strip()[:_SIGLA_MAX]
        name = " ".join(row["name"].split())[:_NAME_MAX]
        classification = row.get("classification", "").strip()[:_CLASSIFICATION_MAX] or None
        search_text = _search_text(sigla, name, row.get("other_names") or "")

        orgao = existing.get(orgao_id)
        if orgao is None:
            orgao = Orgao(id=orgao_id)
            session.add(orgao)
        orgao.sigla = sigla
        orgao.name = name
        orgao.classification = classification
        orgao.search_text = search_text
    session.flush()
    return len(rows)


def search_orgaos(session: Session, q: str, limit: int = 20) -> list[Orgao]:
    """Órgãos matching every word of ``q`` at the start of a word of the sigla or name.

    Case and accents are ignored ("saude" finds "Ministério da Saúde", "minist saude"
    too). Ranking: exact sigla first, then sigla starting with the query, then the rest
    by shorter name (the ministry before the bodies whose long names mention it).
    An empty query returns nothing.
    """
    words = fold(q).split()
    if not words or limit <= 0:
        return []
    conditions = [
        # Word-start match: at the beginning of search_text or right after a space.
        or_(Orgao.search_text.like(f"{w}%"), Orgao.search_text.like(f"% {w}%"))
        for w in words
    ]
    candidates = session.scalars(
        select(Orgao)
        .where(and_(*conditions))
        .order_by(func.length(Orgao.name), Orgao.name, Orgao.id)
    ).all()

    # Ranking by sigla needs the folded sigla ("TELEBRÁS" = "telebras"), which portable
    # SQL cannot compute; the matches are a subset of a few hundred rows, so rank here.
    folded_query = " ".join(words)
    compact_query = folded_query.replace(" ", "")

    def tier(orgao: Orgao) -> int:
        sigla = fold(orgao.sigla)
        compact_sigla = sigla.replace(" ", "")
        if sigla == folded_query or compact_sigla == compact_query:
            return 0
        if sigla.startswith(folded_query) or compact_sigla.startswith(compact_query):
            return 1
        return 2

    ranked = sorted(candidates, key=tier)  # stable: keeps the SQL order inside a tier
    return ranked[:limit]


def get_orgao(session: Session, id: int) -> Orgao | None:
    """The órgão with this SIORG code, or None."""
    return session.get(Orgao, id)


def display(sigla: str, name: str) -> str:
    """How an órgão is shown everywhere: "INSS — Instituto Nacional do Seguro Social"."""
    return f"{sigla} — {name}"


class LabelCache:
    """Labels of órgãos by SIORG code, kept per process (one per unit of work, engine.unit).

    Órgãos are reference data: loading the SIORG file adds or renames rows and never
    deletes one, so a label once read stays valid until the process restarts (a renamed
    órgão shows its old label until then). Only found codes are kept: a miss always asks
    the database, so an órgão loaded after this process started is found.
    """

    def __init__(self) -> None:
        self._labels: dict[int, str] = {}

    def label(self, session: Session, orgao_id: int) -> str | None:
        found = self._labels.get(orgao_id)
        if found is None:
            row = session.execute(
                select(Orgao.sigla, Orgao.name).where(Orgao.id == orgao_id)
            ).first()
            if row is None:
                return None
            found = self._labels[orgao_id] = display(row.sigla, row.name)
        return found

    def cached(self, orgao_id: int) -> str | None:
        """The label if this process already read it; never touches the database."""
        return self._labels.get(orgao_id)


class Labels:
    """The forms' lookup protocol over one session (labels in diffs, reviews, lookups)."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def label_for(self, value: object) -> str | None:
        try:
            orgao = get_orgao(self._session, int(str(value)))
        except (TypeError, ValueError):
            return None
        return display(orgao.sigla, orgao.name) if orgao else None

    def search(self, q: str, limit: int = 20) -> list[tuple[int, str]]:
        found = search_orgaos(self._session, q, limit)
        return [(o.id, display(o.sigla, o.name)) for o in found]
