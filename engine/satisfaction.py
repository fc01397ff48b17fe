"""Satisfaction: "O atendimento resolveu seu problema?" (Lei 13.460/2017, art. 23).

Every ticket that reaches its end, whatever its process, gets one survey. Its result
e-mail (when the model mails the requester at the end) carries five links, one per
score, through a single-use token: a click records the score without a login; the page
it opens lets the person add a comment within the hour. The tracking page asks the same
question and lets the requester change the answer for ``CHANGE_DAYS`` after giving it.

The token is 256 random bits, in the link only; the database keeps its SHA-256 hash, so
neither a database reader nor someone altering a link can answer for another ticket. One
answer per ticket: the e-mail link and the tracking page write the same row, each with a
conditional UPDATE, so two answers at once leave exactly one trace of who came first and
the link is spent once the page answered.
"""

from __future__ import annotations

import enum
import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from engine.db import rows_changed
from engine.models import SatisfactionSurvey
from engine.prepared import Prepared

SCALE: dict[int, str] = {
    1: "Não resolveu",
    2: "Resolveu pouco",
    3: "Resolveu em parte",
    4: "Resolveu quase tudo",
    5: "Resolveu totalmente",
}
COMMENT_MAX = 1000
CHANGE_DAYS = 7  # the tracking page may change an answer this long after it was given
COMMENT_WINDOW = timedelta(hours=1)  # after a link's click, its page takes a comment
_TOKEN_RE = re.compile(r"[A-Za-z0-9_-]{43}")  # secrets.token_urlsafe(32)

_TABLE = SatisfactionSurvey.__table__
# Run on the driver (engine.prepared): every ticket that ends writes it.
_OPEN = {
    name: Prepared(
        insert(_TABLE)
        .on_conflict_do_nothing(index_elements=["chamado_id"])
        .returning(_TABLE.c.chamado_id),
        column_keys=("chamado_id", "created_at", "token_hash"),
    )
    for name, insert in (("postgresql", pg_insert), ("sqlite", sqlite_insert))
}


class LinkOutcome(enum.Enum):
    RECORDED = "registrada"
    ALREADY_USED = "ja_usado"  # this link was clicked before (or the page answered)
    EXPIRED = "expirado"  # the comment window of the link is over
    INVALID = "invalido"  # no such token: mistyped, altered or never issued


@dataclass(frozen=True)
class Survey:
    chamado_id: int
    rating: int | None
    comment: str | None
    answered_at: datetime | None
    channel: str | None

    def change_until(self) -> datetime | None:
        return self.answered_at + timedelta(days=CHANGE_DAYS) if self.answered_at else None


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def open_survey(session: Session, chamado_id: int, now: datetime) -> str | None:
    """The survey of a ticket that just ended; returns the link's token (None if the
    ticket had one already: an end is reached once, a retried step must not mint two).
    One statement: an INSERT that does nothing when the row exists."""
    token = secrets.token_urlsafe(32)
    inserted = _OPEN[session.get_bind().dialect.name].first(
        session, {"chamado_id": chamado_id, "token_hash": _hash(token), "created_at": now}
    )
    return token if inserted is not None else None


def link_path(token: str) -> str:
    return f"/avaliacao/{token}"


def survey(session: Session, chamado_id: int) -> Survey | None:
    row = session.get(SatisfactionSurvey, chamado_id)
    if row is None:
        return None
    return Survey(row.chamado_id, row.rating, row.comment, row.answered_at, row.channel)


def by_token(session: Session, token: str) -> SatisfactionSurvey | None:
    if not _TOKEN_RE.fullmatch(token or ""):
        return None
    return session.scalar(select(SatisfactionSurvey).where(_TABLE.c.token_hash == _hash(token)))


def answer_by_link(
    session: Session, token: str, rating: int, now: datetime
) -> tuple[LinkOutcome, int | None]:
    """A click on a score in the e-mail: (outcome, the ticket's id when known)."""
    if not _TOKEN_RE.fullmatch(token or ""):
        return LinkOutcome.INVALID, None
    recorded = session.execute(
        update(_TABLE)
        .where(
            _TABLE.c.token_hash == _hash(token),
            _TABLE.c.link_used_at.is_(None),
            _TABLE.c.answered_at.is_(None),
        )
        .values(link_used_at=now, rating=rating, answered_at=now, changed_at=now, channel="email")
        .returning(_TABLE.c.chamado_id)
    ).scalar()
    return _outcome(session, token, recorded, LinkOutcome.ALREADY_USED)


def comment_by_link(
    session: Session, token: str, rating: int, comment: str | None, now: datetime
) -> tuple[LinkOutcome, int | None]:
    """The page a click opened: the score again (it may change) and a comment, within
    ``COMMENT_WINDOW`` of the click and only for an answer that click gave."""
    if not _TOKEN_RE.fullmatch(token or ""):
        return LinkOutcome.INVALID, None
    changed = session.execute(
        update(_TABLE)
        .where(
            _TABLE.c.token_hash == _hash(token),
            _TABLE.c.channel == "email",
            _TABLE.c.link_used_at >= now - COMMENT_WINDOW,
        )
        .values(rating=rating, comment=comment, changed_at=now)
        .returning(_TABLE.c.chamado_id)
    ).scalar()
    return _outcome(session, token, changed, LinkOutcome.EXPIRED)


def _outcome(
    session: Session, token: str, written: int | None, otherwise: LinkOutcome
) -> tuple[LinkOutcome, int | None]:
    """What a link's conditional UPDATE means: it wrote (RECORDED), or the token exists
    and the condition did not hold (``otherwise``), or no such token (INVALID)."""
    if written is not None:
        return LinkOutcome.RECORDED, written
    row = by_token(session, token)
    return (LinkOutcome.INVALID, None) if row is None else (otherwise, row.chamado_id)


def answer_on_page(
    session: Session, chamado_id: int, rating: int, comment: str | None, now: datetime
) -> bool:
    """The tracking page's answer, first or changed within ``CHANGE_DAYS``; False when the
    time to change it is over (nothing is written then). The e-mail link is spent."""
    first = session.execute(
        update(_TABLE)
        .where(_TABLE.c.chamado_id == chamado_id, _TABLE.c.answered_at.is_(None))
        .values(
            rating=rating,
            comment=comment,
            answered_at=now,
            changed_at=now,
            channel="pagina",
            link_used_at=now,
        )
    )
    if rows_changed(first) == 1:
        return True
    changed = session.execute(
        update(_TABLE)
        .where(
            _TABLE.c.chamado_id == chamado_id,
            _TABLE.c.answered_at >= now - timedelta(days=CHANGE_DAYS),
        )
        .values(rating=rating, comment=comment, changed_at=now)
    )
    return rows_changed(changed) == 1


def parse_rating(raw: object) -> int | None:
    """A score as a form or link sends it ("1".."5"), else None."""
    text = str(raw).strip() if raw is not None else ""
    return int(text) if text in {"1", "2", "3", "4", "5"} else None
