"""Users and role grants. Every function takes an open Session (``principal`` also a
Connection, for the per-request read outside any transaction); the caller owns the
transaction (``Unit.transaction()``, engine.unit), so a failure rolls everything back."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Connection, FromClause, Select, bindparam, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from engine import audit, revisions
from engine.errors import Conflict, ValidationFailed
from engine.identity import Identity
from engine.models import RoleGrant, User, utcnow
from engine.prepared import Prepared
from engine.validators import format_cpf, normalize_cpf

ROLES: tuple[str, ...] = ("analyst", "supervisor", "designer", "admin")
ROLE_LABELS: dict[str, str] = {
    "analyst": "Analista",
    "supervisor": "Supervisor(a)",
    "designer": "Designer de processos",
    "admin": "Administrador(a)",
}

# Separators people type inside a CPF ("390 533 447 05", "390.533.447/05").
_CPF_SEPARATORS_RE = re.compile(r"[\s.\-/]")
# Service accounts (engine.tokens) hold roles under "svc:<slug>"; users.cpf is 40 chars.
SERVICE_PREFIX = "svc:"
_SERVICE_ID_RE = re.compile(r"svc:[a-z0-9](?:[a-z0-9-]{0,34}[a-z0-9])?")


def parse_cpf(raw: str | None) -> str | None:
    """A CPF typed by a person, in any common spelling → 11 digits, or None if invalid."""
    if not isinstance(raw, str):
        return None
    compact = _CPF_SEPARATORS_RE.sub("", raw)
    return normalize_cpf(compact)


def parse_principal(raw: str | None) -> str | None:
    """A CPF (any spelling) → 11 digits; a service account's "svc:<slug>" as it is."""
    if isinstance(raw, str) and _SERVICE_ID_RE.fullmatch(raw.strip().lower()):
        return raw.strip().lower()
    return parse_cpf(raw)


def format_principal(principal: str) -> str:
    """``390.533.447-05`` for a CPF, ``svc:<slug>`` unchanged."""
    return principal if principal.startswith(SERVICE_PREFIX) else format_cpf(principal)


def _require_cpf(raw: str | None, field: str = "cpf") -> str:
    cpf = parse_principal(raw)
    if cpf is None:
        raise ValidationFailed(
            {field: "CPF inválido. Confira os 11 dígitos (ex.: 000.000.000-00)."},
            "CPF inválido.",
        )
    return cpf


def _require_role(role: str | None) -> str:
    key = (role or "").strip().lower()
    if key not in ROLES:
        labels = ", ".join(f"{r} ({ROLE_LABELS[r]})" for r in ROLES)
        raise ValidationFailed(
            {"role": f"Papel inválido. Use um destes: {labels}."}, "Papel inválido."
        )
    return key


# --- users -----------------------------------------------------------------------------------


def get_user_by_cpf(session: Session, cpf: str) -> User | None:
    return session.scalar(select(User).where(User.cpf == cpf))


def upsert_user(session: Session, identity: Identity) -> User:
    """Create the user on first login, refresh what gov.br says on every later one."""
    user = get_user_by_cpf(session, identity.cpf)
    if user is None:
        user = User(cpf=identity.cpf, name=identity.name or format_cpf(identity.cpf))
        try:
            # Savepoint: a concurrent first login of the same CPF may win the insert.
            with session.begin_nested():
                session.add(user)
        except IntegrityError:
            user = get_user_by_cpf(session, identity.cpf)
            if user is None:  # pragma: no cover - the unique row must exist now
                raise
    if identity.name:
        user.name = identity.name
    # A removed social name must disappear at once: showing a stale one would be wrong.
    user.social_name = identity.social_name
    # gov.br omits e-mail/phone while unverified; keep the last verified ones meanwhile.
    if identity.email:
        user.email = identity.email
    if identity.phone:
        user.phone = identity.phone
    if identity.reliability:
        user.reliability = identity.reliability
    user.last_login_at = utcnow()
    session.flush()
    return user


# --- roles -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Principal:
    """A user as every request needs them: who, and which roles, read in one statement."""

    id: int
    cpf: str
    name: str
    social_name: str | None
    email: str | None
    roles: frozenset[str]
    # The groups' revision as this statement read it (engine.groups.GroupCache): the
    # person's groups are then known without a statement of their own.
    groups_revision: int | None = None

    @property
    def display_name(self) -> str:
        return self.social_name or self.name


# Core columns (not ORM attributes): per-request statements skip the ORM's compile
# and object machinery. The user's columns and each granted role (NULL without
# grants), to be narrowed by a WHERE. Grants and users.cpf are both stored normalised
# (parse_principal), so the join on equal strings finds what roles_for() finds.
_USERS = User.__table__.c
_GRANTS = RoleGrant.__table__
PRINCIPAL_COLUMNS = (_USERS.id, _USERS.cpf, _USERS.name, _USERS.social_name, _USERS.email)
_GROUPS_REVISION = revisions.value_of(revisions.GROUPS).label("groups_revision")


def principal_select(
    *extra: ColumnElement[Any],
    via: FromClause | None = None,
    on: ColumnElement[bool] | None = None,
) -> Select[Any]:
    """users LEFT JOIN role_grants, selecting PRINCIPAL_COLUMNS, the role, the groups'
    revision and ``extra``.

    ``via`` (joined to users ``on``) comes first in the FROM, so the planner starts from
    it: api_tokens, found by its hash, for a token's owner.
    """
    users_table = User.__table__
    base = users_table if via is None else via.join(users_table, on)
    return select(*PRINCIPAL_COLUMNS, _GRANTS.c.role, _GROUPS_REVISION, *extra).select_from(
        base.outerjoin(_GRANTS, _GRANTS.c.cpf == _USERS.cpf)
    )


def principal_from_rows(rows: Sequence[Any]) -> Principal | None:
    """The Principal of rows from principal_select() (one per role), or None."""
    if not rows:
        return None
    first = rows[0]
    return Principal(
        id=first.id,
        cpf=first.cpf,
        name=first.name,
        social_name=first.social_name,
        email=first.email,
        roles=frozenset(row.role for row in rows if row.role is not None),
        groups_revision=first.groups_revision,
    )


# Built once, run on the driver (engine.prepared): every signed-in page reads it.
_PRINCIPAL_BY_ID = Prepared(principal_select().where(_USERS.id == bindparam("user_id")))


def principal(conn: Connection | Session, user_id: int) -> Principal | None:
    """The user ``user_id`` with their roles, in one statement; None if there is none."""
    return principal_from_rows(_PRINCIPAL_BY_ID.rows(conn, {"user_id": user_id}))


def roles_for(session: Session, cpf: str) -> set[str]:
    normalized = parse_principal(cpf)
    if normalized is None:
        return set()
    return set(session.scalars(select(RoleGrant.role).where(RoleGrant.cpf == normalized)))


def _audit(
    session: Session, action: str, summary: str, cpf: str, role: str, by_cpf: str | None
) -> None:
    actor = get_user_by_cpf(session, by_cpf) if by_cpf else None
    details: dict[str, str] = {"cpf": cpf, "role": role}
    if by_cpf:
        # Kept even when the actor has no user row yet (e.g. an admin granted by CPF).
        details["by_cpf"] = by_cpf
    audit.record(session, action, summary, actor_id=actor.id if actor else None, details=details)


def grant_role(session: Session, cpf: str, role: str, by_cpf: str | None) -> bool:
    """Grant ``role`` to ``cpf`` (any spelling). Returns False when it was already granted."""
    cpf = _require_cpf(cpf)
    role = _require_role(role)
    by = parse_cpf(by_cpf) if by_cpf else None
    exists = session.scalar(
        select(RoleGrant.id).where(RoleGrant.cpf == cpf, RoleGrant.role == role)
    )
    if exists is not None:
        return False
    try:
        with session.begin_nested():
            session.add(RoleGrant(cpf=cpf, role=role, granted_by=by))
    except IntegrityError:
        return False  # granted concurrently: the outcome is the same
    _audit(
        session,
        "role.grant",
        f"Papel {ROLE_LABELS[role]} concedido a {format_principal(cpf)}",
        cpf,
        role,
        by,
    )
    session.flush()
    return True


def revoke_role(session: Session, cpf: str, role: str, by_cpf: str | None) -> bool:
    """Revoke ``role`` from ``cpf``. Returns False when it was not granted.

    Refuses to remove the last administrator: nobody could grant roles afterwards
    (short of the CLI or BOOTSTRAP_ADMIN_CPF).
    """
    cpf = _require_cpf(cpf)
    role = _require_role(role)
    by = parse_cpf(by_cpf) if by_cpf else None
    grant = session.scalar(select(RoleGrant).where(RoleGrant.cpf == cpf, RoleGrant.role == role))
    if grant is None:
        return False
    if role == "admin":
        admins = session.scalar(
            select(func.count()).select_from(RoleGrant).where(RoleGrant.role == "admin")
        )
        if (admins or 0) <= 1:
            raise Conflict(
                "Não é possível revogar o último administrador. "
                "Conceda o papel a outra pessoa antes."
            )
    session.delete(grant)
    _audit(
        session,
        "role.revoke",
        f"Papel {ROLE_LABELS[role]} revogado de {format_principal(cpf)}",
        cpf,
        role,
        by,
    )
    session.flush()
    return True


def ensure_bootstrap_admin(session: Session, cpf: str | None) -> bool:
    """Make sure the configured bootstrap CPF is an admin. No-op without one."""
    if not cpf or not cpf.strip():
        return False
    return grant_role(session, cpf, "admin", None)


@dataclass(frozen=True)
class GrantView:
    cpf: str
    role: str
    role_label: str
    name: str | None  # display name of the user, when they have logged in already
    granted_by: str | None
    granted_at: datetime

    @property
    def cpf_formatted(self) -> str:
        return format_principal(self.cpf)


def list_grants(session: Session, roles: Iterable[str] | None = None) -> list[GrantView]:
    """Every grant with the holder's name when known, ordered by CPF then role order."""
    stmt = select(RoleGrant, User).outerjoin(User, User.cpf == RoleGrant.cpf)
    if roles is not None:
        stmt = stmt.where(RoleGrant.role.in_(list(roles)))
    rows = session.execute(stmt).all()
    order = {r: i for i, r in enumerate(ROLES)}
    views = [
        GrantView(
            cpf=grant.cpf,
            role=grant.role,
            role_label=ROLE_LABELS.get(grant.role, grant.role),
            name=user.display_name if user else None,
            granted_by=grant.granted_by,
            granted_at=grant.granted_at,
        )
        for grant, user in rows
    ]
    views.sort(key=lambda v: (v.cpf, order.get(v.role, len(order))))
    return views
