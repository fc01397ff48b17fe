"""Bearer tokens for the REST API and the service accounts that hold them.

A token is shown once, when created; only its SHA-256 is stored. Tokens are long
random strings, so a plain (unsalted) hash is enough, and it lets ``authenticate``
find the row with one indexed lookup: the secret is never compared byte by byte in
Python, so there is no timing oracle on it. Every function takes an open Session
(or, for ``authenticate`` and ``touch``, a Connection); the caller owns the
transaction.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, Engine, bindparam, or_, select, update
from sqlalchemy.orm import Session

from engine import audit, limits, users
from engine.db import rows_changed
from engine.errors import Forbidden, NotFound, ValidationFailed
from engine.models import ApiToken, AwareDateTime, User, utcnow
from engine.prepared import Prepared

TOKEN_PREFIX = "chm_"
SERVICE_PREFIX = "svc:"
# last_used_at is informative: writing it on every request would turn each API
# read into a write, so it is refreshed at most this often.
LAST_USED_RESOLUTION = timedelta(minutes=1)
_MAX_TOKEN_LENGTH = 100  # ours are 47 characters; longer input is refused unhashed
_NAME_MAX = 200
# users.cpf is 40 characters: "svc:" + at most 36.
_SLUG_RE = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,34}[a-z0-9])?")


def hash_token(plaintext: str) -> str:
    return hashlib.sha256(plaintext.encode("utf-8")).hexdigest()


def service_cpf(slug: str) -> str:
    """The identifier a service account is stored and granted roles under."""
    return SERVICE_PREFIX + slug


def _clean_name(name: str | None) -> str:
    cleaned = (name or "").strip()
    if not cleaned:
        raise ValidationFailed({"name": "Informe um nome."}, "Informe um nome.")
    if len(cleaned) > _NAME_MAX:
        message = f"Use no máximo {_NAME_MAX} caracteres."
        raise ValidationFailed({"name": message}, message)
    wrong = limits.forbidden_character(cleaned)
    if wrong:  # PostgreSQL refuses a NUL in text: a field message, not a 500
        raise ValidationFailed({"name": wrong}, wrong)
    return cleaned


def _audit(
    session: Session, actor_id: int | None, action: str, summary: str, **details: object
) -> None:
    audit.record(session, action, summary, actor_id=actor_id, details=dict(details))


# --- tokens ----------------------------------------------------------------------------------


def create_token(
    session: Session, user_id: int, name: str, created_by_id: int | None, now: datetime
) -> tuple[str, ApiToken]:
    """A new token for ``user_id``; returns the plaintext (shown once) and the row.

    People create tokens for themselves; only an admin creates them for a service
    account. ``created_by_id`` None means a trusted caller (CLI).
    """
    owner = session.get(User, user_id)
    if owner is None:
        raise NotFound("Conta não encontrada.")
    if created_by_id is not None and created_by_id != user_id:
        creator = session.get(User, created_by_id)
        is_admin = creator is not None and "admin" in users.roles_for(session, creator.cpf)
        if not (is_admin and owner.kind == "servico"):
            raise Forbidden("Você só pode criar tokens para a sua própria conta.")
    secret = secrets.token_urlsafe(32)
    plaintext = TOKEN_PREFIX + secret
    row = ApiToken(
        user_id=owner.id,
        name=_clean_name(name),
        token_hash=hash_token(plaintext),
        prefix=secret[:8],
        created_at=now,
        created_by_id=created_by_id,
    )
    session.add(row)
    session.flush()
    _audit(
        session,
        created_by_id,
        "token.criado",
        f"Token de API “{row.name}” criado para {owner.display_name}",
        token_id=row.id,
        user_id=owner.id,
    )
    return plaintext, row


@dataclass(frozen=True)
class Authenticated:
    """The owner of a live token, with their roles, and when the token was last used."""

    principal: users.Principal
    token_id: int
    last_used_at: datetime | None

    def needs_touch(self, now: datetime) -> bool:
        """Whether ``touch`` should record this use (at most once per resolution)."""
        return self.last_used_at is None or now - self.last_used_at >= LAST_USED_RESOLUTION


_TOKENS = ApiToken.__table__
# One statement per API request: the token (by its unique hash, not revoked), its
# owner and the owner's roles. Built once, run on the driver (engine.prepared).
_LIVE_TOKEN = Prepared(
    users.principal_select(
        _TOKENS.c.id.label("token_id"),
        _TOKENS.c.last_used_at,
        via=_TOKENS,
        on=_TOKENS.c.user_id == User.__table__.c.id,
    ).where(_TOKENS.c.token_hash == bindparam("token_hash"), _TOKENS.c.revoked_at.is_(None))
)
# Conditional: of concurrent requests (any process) in the same minute only one writes.
_TOUCH = (
    update(_TOKENS)
    .where(
        _TOKENS.c.id == bindparam("token_id"),
        or_(
            _TOKENS.c.last_used_at.is_(None),
            _TOKENS.c.last_used_at <= bindparam("stale_before", type_=AwareDateTime()),
        ),
    )
    .values(last_used_at=bindparam("now", type_=AwareDateTime()))
)


def authenticate(conn: Connection | Session | Engine, plaintext: str) -> Authenticated | None:
    """The owner of a live token, or None (unknown, malformed or revoked).

    A read only, of one statement: revocation takes effect on the very next request.
    Given the Engine it runs outside any transaction (engine.unit.Unit.read_prepared).
    """
    if not plaintext.startswith(TOKEN_PREFIX) or len(plaintext) > _MAX_TOKEN_LENGTH:
        return None
    rows = _LIVE_TOKEN.rows(conn, {"token_hash": hash_token(plaintext)})
    owner = users.principal_from_rows(rows)
    if owner is None:
        return None
    return Authenticated(owner, rows[0].token_id, rows[0].last_used_at)


def touch(conn: Connection | Session, token_id: int, now: datetime) -> bool:
    """Record a use of the token at ``now`` unless one was recorded less than
    LAST_USED_RESOLUTION before; True when this call wrote it."""
    result = conn.execute(
        _TOUCH,
        {"token_id": token_id, "stale_before": now - LAST_USED_RESOLUTION, "now": now},
    )
    return bool(rows_changed(result))


def revoke(
    session: Session,
    token_id: int,
    by_user_id: int,
    is_admin: bool,
    now: datetime | None = None,
) -> ApiToken:
    """Revoke a token (its owner or an admin). Revoking twice changes nothing."""
    row = session.get(ApiToken, token_id)
    # Someone else's token is "not found": its existence is not disclosed.
    if row is None or (row.user_id != by_user_id and not is_admin):
        raise NotFound("Token não encontrado.")
    if row.revoked_at is None:
        row.revoked_at = now or utcnow()
        _audit(
            session,
            by_user_id,
            "token.revogado",
            f"Token de API “{row.name}” revogado",
            token_id=row.id,
            user_id=row.user_id,
        )
        session.flush()
    return row


def list_tokens(
    session: Session, user_id: int | None = None, kind: str | None = None
) -> list[ApiToken]:
    """Tokens of one user, or of every user (of one ``kind``), newest first."""
    query = select(ApiToken).join(User, User.id == ApiToken.user_id)
    if user_id is not None:
        query = query.where(ApiToken.user_id == user_id)
    if kind is not None:
        query = query.where(User.kind == kind)
    return list(session.scalars(query.order_by(ApiToken.created_at.desc(), ApiToken.id.desc())))


# --- service accounts ------------------------------------------------------------------------


def create_service_account(
    session: Session,
    slug: str,
    name: str,
    role: str | None = None,
    by_cpf: str | None = None,
) -> User:
    """A user of kind "servico" stored as "svc:<slug>": it never logs in, only uses tokens.

    ``role``, when given, is granted through ``users.grant_role`` like any other.
    """
    slug = (slug or "").strip().lower()
    if not _SLUG_RE.fullmatch(slug):
        message = (
            "Use de 1 a 36 letras minúsculas sem acento, números ou hífens, "
            "começando e terminando com letra ou número (ex.: integracao-inss)."
        )
        raise ValidationFailed({"slug": message}, "Identificador inválido.")
    name = _clean_name(name)
    cpf = service_cpf(slug)
    if users.get_user_by_cpf(session, cpf) is not None:
        message = "Já existe uma conta de serviço com este identificador."
        raise ValidationFailed({"slug": message}, message)
    account = User(cpf=cpf, kind="servico", name=name)
    session.add(account)
    session.flush()
    if role:
        users.grant_role(session, cpf, role, by_cpf)
    creator = users.get_user_by_cpf(session, by_cpf) if by_cpf else None
    _audit(
        session,
        creator.id if creator else None,
        "conta_servico.criada",
        f"Conta de serviço {cpf} criada",
        user_id=account.id,
    )
    return account


def list_service_accounts(session: Session) -> list[User]:
    return list(session.scalars(select(User).where(User.kind == "servico").order_by(User.cpf)))
