"""Groups: who works the tasks of a lane. Data that admins edit, never a setting.

A lane's name is a group, as in SpiffArena: it is matched to a group by key, by name
or by the slug of its name. A lane named like the person who started the instance
("Solicitante", SpiffArena's "process initiator"), or a task outside any lane, belongs
to that person. A lane with no group yet gets one, empty, when its model is deployed;
admins then add members (by CPF, or everyone holding a platform role).

Choosing a group's roles replaces them all: the choice carries the group's ``version``
as the admin's page showed it, and one made on an older version changes nothing
(:class:`~engine.errors.Conflict`). Listing or unlisting a CPF states its own end and
needs none.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import bindparam, delete, select
from sqlalchemy.orm import Session

from engine import revisions
from engine.errors import Conflict, NotFound, ValidationFailed
from engine.models import Group, GroupMember, User
from engine.users import ROLE_LABELS, ROLES, parse_cpf

# The group key of a task that belongs to the person who started its instance.
REQUESTER = "requester"
_INITIATOR_LANES = frozenset(
    {"solicitante", "requerente", "process initiator", "process_initiator", "initiator"}
)
_KEY = re.compile(r"^[a-z0-9][a-z0-9-]{0,49}$")
NAME_MAX = 100
DESCRIPTION_MAX = 2000
STALE_ROLES = (
    "Outra pessoa alterou os membros por papel deste grupo enquanto você os editava; "
    "nada foi gravado."
)


def _slug(text: str) -> str:
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    return re.sub(r"[^a-z0-9]+", "-", plain).strip("-")[:50]


def slug(text: str) -> str:
    return _slug(text) or "grupo"


def is_initiator_lane(lane: str | None) -> bool:
    return lane is None or lane.strip().casefold() in _INITIATOR_LANES


def _match(groups: Iterable[Group], lane: str) -> Group | None:
    wanted = lane.strip().casefold()
    by_slug = slug(lane)
    for group in groups:
        if group.key == lane or group.name.casefold() == wanted or group.key == by_slug:
            return group
    return None


def lane_map_default(lane: str | None) -> str:
    """The group key of a lane before any group is looked up (what a new group gets)."""
    return REQUESTER if is_initiator_lane(lane) else slug(lane or "")


def lane_map(session: Session, lanes: Iterable[str | None]) -> dict[str | None, str]:
    """Each lane's group key; a lane without a group maps to the key it would get."""
    groups = list(session.scalars(select(Group)))
    mapping: dict[str | None, str] = {}
    for lane in lanes:
        if is_initiator_lane(lane):
            mapping[lane] = REQUESTER
        else:
            assert lane is not None
            found = _match(groups, lane)
            mapping[lane] = found.key if found else slug(lane)
    return mapping


def ensure_for_lanes(session: Session, lanes: Iterable[str | None], now: datetime) -> list[str]:
    """Creates, empty, the group of every lane that has none; returns their names."""
    groups = list(session.scalars(select(Group)))
    created = []
    for lane in lanes:
        if is_initiator_lane(lane) or lane is None or _match(groups, lane) is not None:
            continue
        group = Group(
            key=slug(lane), name=lane.strip()[:100], description="", member_roles=[], created_at=now
        )
        session.add(group)
        groups.append(group)
        created.append(group.name)
    if created:
        revisions.bump(session, revisions.GROUPS)
    session.flush()
    return created


# Every group with whether the person is listed in it by CPF: built once (building a
# statement costs about as much as running it, and every staff action runs this one).
_OF_USER = select(
    Group.key,
    Group.member_roles,
    Group.key.in_(
        select(GroupMember.group_key).where(
            GroupMember.cpf
            == select(User.cpf).where(User.id == bindparam("user_id")).scalar_subquery()
        )
    ).label("listed"),
)


def of_user(session: Session, user_id: int, roles: Iterable[str]) -> list[str]:
    """The keys of the groups the person belongs to (by CPF or by one of their roles).

    One statement over the groups table, which holds tens of rows, not people.
    """
    roles = set(roles)
    rows = session.connection().execute(_OF_USER, {"user_id": user_id}).all()
    return sorted(
        key for key, member_roles, is_listed in rows if is_listed or set(member_roles or ()) & roles
    )


# Every group with its member roles and the CPFs listed in it (one row per listed CPF).
_ALL_MEMBERSHIPS = select(Group.key, Group.member_roles, GroupMember.cpf).outerjoin(
    GroupMember, GroupMember.group_key == Group.key
)


@dataclass(frozen=True)
class _Membership:
    roles: frozenset[str]  # everyone holding one of these platform roles
    cpfs: frozenset[str]  # and everyone listed by CPF


class GroupCache:
    """Who is in which group, kept per process and re-read only when the groups'
    revision moved (engine.revisions: every change to groups or members bumps it).

    A request's authentication reads the revision with the person (engine.users
    ``principal_select``), so a staff action knows its groups without a statement of
    its own; what it knows is the groups as they were when the request began, like the
    person's roles. The copy is shared: read-only.
    """

    def __init__(self) -> None:
        self._entry: tuple[int, dict[str, _Membership]] | None = None

    def of(self, session: Session, revision: int, cpf: str, roles: Iterable[str]) -> list[str]:
        """The keys of the groups of the person ``cpf`` holding ``roles`` (as of_user)."""
        entry = self._entry
        if entry is None or entry[0] != revision:
            # Read after the revision: at worst newer than it, and then re-read next time.
            entry = (revision, _memberships(session))
            self._entry = entry
        held = set(roles)
        return sorted(
            key for key, m in entry[1].items() if cpf in m.cpfs or not m.roles.isdisjoint(held)
        )


def _memberships(session: Session) -> dict[str, _Membership]:
    roles: dict[str, frozenset[str]] = {}
    cpfs: dict[str, set[str]] = {}
    for key, member_roles, cpf in session.connection().execute(_ALL_MEMBERSHIPS):
        roles[key] = frozenset(member_roles or ())
        listed = cpfs.setdefault(key, set())
        if cpf is not None:
            listed.add(cpf)
    return {key: _Membership(roles[key], frozenset(cpfs[key])) for key in roles}


@dataclass(frozen=True)
class GroupView:
    key: str
    name: str
    description: str
    member_roles: list[str]
    members: list[tuple[str, str | None]]  # (cpf, name if they logged in)
    version: int  # what a choice of its roles carries back (``set_roles``)


def list_groups(session: Session) -> list[GroupView]:
    groups = list(session.scalars(select(Group).order_by(Group.name)))
    members: dict[str, list[tuple[str, str | None]]] = {g.key: [] for g in groups}
    rows = session.execute(
        select(GroupMember.group_key, GroupMember.cpf, User.name, User.social_name)
        .outerjoin(User, User.cpf == GroupMember.cpf)
        .order_by(GroupMember.cpf)
    ).all()
    for key, cpf, name, social in rows:
        members.setdefault(key, []).append((cpf, social or name))
    return [
        GroupView(
            g.key, g.name, g.description, list(g.member_roles or []), members[g.key], g.version
        )
        for g in groups
    ]


def check_roles(roles: Iterable[str]) -> list[str]:
    """The platform roles whose holders are all members (engine.users.ROLES), sorted."""
    chosen = {str(role).strip() for role in roles} - {""}
    unknown = sorted(chosen - set(ROLES))
    if unknown:
        labels = ", ".join(ROLE_LABELS[r] for r in ROLES)
        raise ValidationFailed(
            {"papeis": f"Papel desconhecido: {', '.join(unknown)}. Escolha entre: {labels}."}
        )
    return sorted(chosen)


def create(session: Session, name: str, description: str, roles: list[str], now: datetime) -> Group:
    """A new group; every problem with what was typed is reported at once."""
    name = " ".join(name.split())
    description = description.strip()
    key = _slug(name)
    errors: dict[str, str] = {}
    if not 2 <= len(name) <= NAME_MAX:
        errors["nome"] = f"Informe o nome do grupo (de 2 a {NAME_MAX} caracteres)."
    elif not key or not _KEY.match(key):
        errors["nome"] = "Use letras ou números no nome do grupo."
    elif key == REQUESTER or is_initiator_lane(name):
        errors["nome"] = (
            "Este nome indica quem abriu a solicitação (a raia do solicitante) "
            "e não pode ser um grupo: escolha outro."
        )
    elif existing := session.get(Group, key) or session.scalar(
        select(Group).where(Group.name == name)
    ):
        errors["nome"] = f"Já existe o grupo “{existing.name}”: escolha outro nome."
    if len(description) > DESCRIPTION_MAX:
        errors["descricao"] = f"Use no máximo {DESCRIPTION_MAX} caracteres na descrição."
    try:
        roles = check_roles(roles)
    except ValidationFailed as exc:
        errors.update(exc.errors)
    if errors:
        raise ValidationFailed(errors)
    group = Group(key=key, name=name, description=description, member_roles=roles, version=1)
    group.created_at = now
    session.add(group)
    revisions.bump(session, revisions.GROUPS)
    session.flush()
    return group


def get(session: Session, key: str) -> Group:
    """The group ``key``; NotFound if there is none."""
    group = session.get(Group, key)
    if group is None:
        raise NotFound("Grupo não encontrado.")
    return group


def set_roles(session: Session, key: str, roles: list[str], expected_version: int) -> None:
    """The group's roles become ``roles``, chosen on ``expected_version`` of the group:
    Conflict (nothing written) when someone else chose them since."""
    chosen = check_roles(roles)
    # The row locked, then compared (PostgreSQL: a second admin's choice waits for the
    # first's commit and reads its version; SQLite's writers queue anyway): of two admins
    # choosing on the same version exactly one writes, and a choice that equals the
    # current roles is told apart from a stale one.
    group = session.get(Group, key, with_for_update=True, populate_existing=True)
    if group is None:
        raise NotFound("Grupo não encontrado.")
    if group.version != expected_version:
        raise Conflict(STALE_ROLES)
    if chosen == sorted(group.member_roles or []):
        return  # nothing to write
    group.member_roles = chosen
    group.version += 1
    revisions.bump(session, revisions.GROUPS)


def add_member(session: Session, key: str, raw_cpf: str, now: datetime) -> tuple[str, bool]:
    """Lists the CPF (any spelling) in the group; (its 11 digits, whether it was added)."""
    get(session, key)
    cpf = parse_cpf(raw_cpf)
    if cpf is None:
        raise ValidationFailed({"cpf": "CPF inválido: confira os 11 dígitos."})
    if session.get(GroupMember, (key, cpf)) is not None:
        return cpf, False
    session.add(GroupMember(group_key=key, cpf=cpf, added_at=now))
    revisions.bump(session, revisions.GROUPS)
    session.flush()
    return cpf, True


def remove_member(session: Session, key: str, cpf: str) -> bool:
    result = session.execute(
        delete(GroupMember).where(GroupMember.group_key == key, GroupMember.cpf == cpf)
    )
    removed = bool(getattr(result, "rowcount", 0))
    if removed:
        revisions.bump(session, revisions.GROUPS)
    return removed


def seed(session: Session, path: Path, now: datetime) -> None:
    """Creates the groups of ``data/groups.json`` that do not exist; never edits one."""
    entries: list[dict[str, Any]] = json.loads(path.read_text(encoding="utf-8"))
    created = False
    for entry in entries:
        if session.get(Group, entry["key"]) is None:
            group = Group(
                key=entry["key"],
                name=entry["name"],
                description=entry.get("description", ""),
                member_roles=entry.get("member_roles", []),
                created_at=now,
            )
            session.add(group)
            created = True
    if created:
        revisions.bump(session, revisions.GROUPS)
    session.flush()
