"""Groups: who works the tasks of a lane. Data that admins edit, never a setting.

A lane's name is a group, as in SpiffArena: it is matched to a group by key, by name
or by the slug of its name. A lane named like the person who started the instance
("Solicitante", SpiffArena's "process initiator"), or a task outside any lane, belongs
to that person. A lane with no group yet gets one, empty, when its model is deployed;
admins then add members (by CPF, or everyone holding a platform role).
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

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from engine.errors import NotFound, ValidationFailed
from engine.models import Group, GroupMember, User
from engine.users import parse_cpf

# The group key of a task that belongs to the person who started its instance.
REQUESTER = "requester"
_INITIATOR_LANES = frozenset(
    {"solicitante", "requerente", "process initiator", "process_initiator", "initiator"}
)
_KEY = re.compile(r"^[a-z0-9][a-z0-9-]{0,49}$")


def slug(text: str) -> str:
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    return re.sub(r"[^a-z0-9]+", "-", plain).strip("-")[:50] or "grupo"


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
    session.flush()
    return created


def of_user(session: Session, user_id: int, roles: Iterable[str]) -> list[str]:
    """The keys of the groups the person belongs to (by CPF or by one of their roles).

    One statement over the groups table, which holds tens of rows, not people.
    """
    roles = set(roles)
    cpf = select(User.cpf).where(User.id == user_id).scalar_subquery()
    listed = select(GroupMember.group_key).where(GroupMember.cpf == cpf)
    rows = session.execute(
        select(Group.key, Group.member_roles, Group.key.in_(listed).label("listed"))
    ).all()
    return sorted(
        key for key, member_roles, is_listed in rows if is_listed or set(member_roles or ()) & roles
    )


@dataclass(frozen=True)
class GroupView:
    key: str
    name: str
    description: str
    member_roles: list[str]
    members: list[tuple[str, str | None]]  # (cpf, name if they logged in)


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
        GroupView(g.key, g.name, g.description, list(g.member_roles or []), members[g.key])
        for g in groups
    ]


def create(session: Session, name: str, description: str, roles: list[str], now: datetime) -> Group:
    name = name.strip()
    if not 2 <= len(name) <= 100:
        raise ValidationFailed({"nome": "Informe o nome do grupo (de 2 a 100 caracteres)."})
    key = slug(name)
    if not _KEY.match(key):
        raise ValidationFailed({"nome": "Use letras ou números no nome do grupo."})
    if session.get(Group, key) is not None or session.scalar(
        select(Group).where(Group.name == name)
    ):
        raise ValidationFailed({"nome": f"Já existe um grupo chamado {name!r}."})
    group = Group(key=key, name=name, description=description.strip()[:2000], member_roles=roles)
    group.created_at = now
    session.add(group)
    session.flush()
    return group


def _group(session: Session, key: str) -> Group:
    group = session.get(Group, key)
    if group is None:
        raise NotFound("Grupo não encontrado.")
    return group


def set_roles(session: Session, key: str, roles: list[str]) -> None:
    _group(session, key).member_roles = sorted(set(roles))


def add_member(session: Session, key: str, raw_cpf: str, now: datetime) -> str:
    _group(session, key)
    cpf = parse_cpf(raw_cpf)
    if cpf is None:
        raise ValidationFailed({"cpf": "CPF inválido: confira os 11 dígitos."})
    if session.get(GroupMember, (key, cpf)) is None:
        session.add(GroupMember(group_key=key, cpf=cpf, added_at=now))
        session.flush()
    return cpf


def remove_member(session: Session, key: str, cpf: str) -> bool:
    result = session.execute(
        delete(GroupMember).where(GroupMember.group_key == key, GroupMember.cpf == cpf)
    )
    return bool(getattr(result, "rowcount", 0))


def seed(session: Session, path: Path, now: datetime) -> None:
    """Creates the groups of ``data/groups.json`` that do not exist; never edits one."""
    entries: list[dict[str, Any]] = json.loads(path.read_text(encoding="utf-8"))
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
    session.flush()
