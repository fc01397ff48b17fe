"""Login sessions kept on the server: logging out ends them for real.

Each login is a ``user_sessions`` row; the browser's cookie carries only a random token,
of which the row keeps the SHA-256 (like API tokens, engine.tokens: long random strings,
so a plain hash is enough and the row is found by one indexed lookup). A copied cookie
stops working as soon as its row is ended: by "Sair", by "Sair de todos os
dispositivos", by an administrator, when one of the person's roles is revoked, or by a
new login in the same browser. A session also lapses after ``Policy.idle`` without a
request and ``Policy.lifetime`` after the login, whatever the activity.

Every request reads its session with ``lookup``: one Core statement (the row by its hash,
its user and the user's roles) that the caller runs outside any transaction
(engine.unit.Unit.read_one). ``last_seen_at`` is written at most once per
LAST_SEEN_RESOLUTION, so the idle timeout is honoured to within that resolution.

Functions take an open Connection or Session; the caller owns the transaction. The use
cases are engine.usecases.sessions (logins, the per-request check, logging out) and
engine.usecases.admin (an administrator ends a person's sessions; revoking a role does).
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, Connection, Engine, bindparam, insert, select, update
from sqlalchemy.orm import Session

from engine import users
from engine.db import rows_changed
from engine.models import AwareDateTime, User, UserSession
from engine.prepared import Prepared
from engine.settings import Settings

# How often last_seen_at is written (so, the idle timeout's resolution): writing it on
# every request would turn every page view into a write.
LAST_SEEN_RESOLUTION = timedelta(minutes=1)
USER_AGENT_MAX = 200
_TOKEN_BYTES = 32  # 43 characters once encoded
_MAX_TOKEN_LENGTH = 100  # longer input is refused unhashed

# Why a session ended (user_sessions.end_reason) and how the pages say it.
LOGOUT = "logout"
LOGOUT_ALL = "logout_all"
ADMIN = "admin"
ROLE_REVOKED = "role_revoked"
RELOGIN = "relogin"
IDLE = "idle"
EXPIRED = "expired"
END_REASONS: dict[str, str] = {
    LOGOUT: "Saiu",
    LOGOUT_ALL: "Saiu de todos os dispositivos",
    ADMIN: "Encerrada por administrador(a)",
    ROLE_REVOKED: "Papel revogado",
    RELOGIN: "Nova entrada no mesmo navegador",
    IDLE: "Inatividade",
    EXPIRED: "Duração máxima atingida",
}


def hash_token(plaintext: str) -> str:
    return hashlib.sha256(plaintext.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Policy:
    """How long a session lives without requests (``idle``) and at most (``lifetime``)."""

    idle: timedelta
    lifetime: timedelta

    @classmethod
    def of(cls, settings: Settings) -> Policy:
        return cls(
            idle=timedelta(minutes=settings.session_idle_minutes),
            lifetime=timedelta(hours=settings.session_max_hours),
        )

    def lapse(self, created_at: datetime, last_seen_at: datetime, now: datetime) -> str | None:
        """EXPIRED or IDLE when a session so timed has lapsed at ``now``, else None."""
        if now - created_at >= self.lifetime:
            return EXPIRED
        if now - last_seen_at >= self.idle:
            return IDLE
        return None


@dataclass(frozen=True)
class Live:
    """A session found by its token and not ended, with its person and their roles."""

    principal: users.Principal
    session_id: int
    created_at: datetime
    last_seen_at: datetime

    def needs_touch(self, now: datetime) -> bool:
        """Whether ``touch`` should record this request (at most once per resolution)."""
        return now - self.last_seen_at >= LAST_SEEN_RESOLUTION


_SESSIONS = UserSession.__table__
_USERS = User.__table__
# One statement per request: the session (by its unique hash, not ended), its person and
# the person's roles. Built once and run on the driver (engine.prepared): every page reads it.
_LIVE_SESSION = Prepared(
    users.principal_select(
        _SESSIONS.c.id.label("session_id"),
        _SESSIONS.c.created_at.label("session_created_at"),
        _SESSIONS.c.last_seen_at,
        via=_SESSIONS,
        on=_SESSIONS.c.user_id == _USERS.c.id,
    ).where(_SESSIONS.c.token_hash == bindparam("token_hash"), _SESSIONS.c.ended_at.is_(None))
)
_NOW = bindparam("now", type_=AwareDateTime())
# Conditional: of concurrent requests (any process) in the same minute only one writes.
_TOUCH = (
    update(_SESSIONS)
    .where(
        _SESSIONS.c.id == bindparam("session_id"),
        _SESSIONS.c.ended_at.is_(None),
        _SESSIONS.c.last_seen_at <= bindparam("stale_before", type_=AwareDateTime()),
    )
    .values(last_seen_at=_NOW)
)
_END_BY_ID = (
    update(_SESSIONS)
    .where(_SESSIONS.c.id == bindparam("session_id"), _SESSIONS.c.ended_at.is_(None))
    .values(ended_at=_NOW, end_reason=bindparam("reason"))
)
_END_BY_HASH = (
    update(_SESSIONS)
    .where(_SESSIONS.c.token_hash == bindparam("hash"), _SESSIONS.c.ended_at.is_(None))
    .values(ended_at=_NOW, end_reason=bindparam("reason"))
)


def _plausible(token: str) -> bool:
    return 0 < len(token) <= _MAX_TOKEN_LENGTH


def start(conn: Connection | Session, user_id: int, user_agent: str | None, now: datetime) -> str:
    """A new session for ``user_id``; returns the token for the cookie (never stored)."""
    token = secrets.token_urlsafe(_TOKEN_BYTES)
    agent = " ".join((user_agent or "").split())[:USER_AGENT_MAX] or None
    conn.execute(
        insert(_SESSIONS).values(
            token_hash=hash_token(token),
            user_id=user_id,
            created_at=now,
            last_seen_at=now,
            user_agent=agent,
        )
    )
    return token


def lookup(conn: Connection | Session | Engine, token: str) -> Live | None:
    """The session of ``token`` if it was not ended, with its person; else None.

    A read only, of one statement: whether it has lapsed is the caller's question
    (Policy.lapse), so the answer can be recorded. Given the Engine it runs outside any
    transaction (engine.unit.Unit.read_prepared).
    """
    if not _plausible(token):
        return None
    rows = _LIVE_SESSION.rows(conn, {"token_hash": hash_token(token)})
    principal = users.principal_from_rows(rows)
    if principal is None:
        return None
    first = rows[0]
    return Live(principal, first.session_id, first.session_created_at, first.last_seen_at)


def touch(conn: Connection | Session, session_id: int, now: datetime) -> bool:
    """Record a request at ``now`` unless one was recorded less than LAST_SEEN_RESOLUTION
    before; True when this call wrote it."""
    params = {"session_id": session_id, "stale_before": now - LAST_SEEN_RESOLUTION, "now": now}
    return bool(rows_changed(conn.execute(_TOUCH, params)))


def end_by_id(conn: Connection | Session, session_id: int, reason: str, now: datetime) -> bool:
    """End one session; False when it had ended already."""
    params = {"session_id": session_id, "reason": reason, "now": now}
    return bool(rows_changed(conn.execute(_END_BY_ID, params)))


def end(conn: Connection | Session, token: str, reason: str, now: datetime) -> bool:
    """End the session of ``token``; False when there is none or it had ended already."""
    if not _plausible(token):
        return False
    params = {"hash": hash_token(token), "reason": reason, "now": now}
    return bool(rows_changed(conn.execute(_END_BY_HASH, params)))


def _live(now: datetime, policy: Policy) -> list[ColumnElement[bool]]:
    return [
        _SESSIONS.c.ended_at.is_(None),
        _SESSIONS.c.last_seen_at > now - policy.idle,
        _SESSIONS.c.created_at > now - policy.lifetime,
    ]


def end_all(session: Session, user_id: int, reason: str, now: datetime, policy: Policy) -> int:
    """End every live session of ``user_id``; returns how many were live."""
    stmt = (
        update(_SESSIONS)
        .where(_SESSIONS.c.user_id == user_id, *_live(now, policy))
        .values(ended_at=now, end_reason=reason)
    )
    return int(rows_changed(session.execute(stmt)))


def live_sessions(
    session: Session, now: datetime, policy: Policy, user_id: int | None = None, limit: int = 200
) -> list[UserSession]:
    """Live sessions (of one person, or of everyone), most recently active first."""
    stmt = select(UserSession).where(*_live(now, policy))
    if user_id is not None:
        stmt = stmt.where(UserSession.user_id == user_id)
    stmt = stmt.order_by(UserSession.last_seen_at.desc(), UserSession.id.desc()).limit(limit)
    return list(session.scalars(stmt))
