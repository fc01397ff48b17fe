"""Admin use cases for groups ("Grupos"): who works the tasks of each lane.

A group's members are the CPFs listed in it plus everyone holding one of its
``member_roles`` (engine.groups). Every change is one transaction and one audit row;
a change that changes nothing (a CPF already listed) writes no row.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from engine import groups
from engine.errors import Conflict, ValidationFailed
from engine.models import RoleGrant
from engine.usecases.base import ANALYST_ROLES, Actor, UseCaseBase
from engine.users import ROLE_LABELS, ROLES, parse_cpf
from engine.validators import format_cpf

ADMIN_ROLES = frozenset({"admin"})
_RACE = (
    "Outra pessoa acabou de alterar os grupos ao mesmo tempo; nada foi gravado. "
    "Recarregue a página e tente novamente."
)


@dataclass(frozen=True)
class MemberView:
    """A CPF listed in a group, with the person's name and roles once they logged in."""

    cpf: str
    name: str | None
    roles: frozenset[str]

    @property
    def cpf_formatted(self) -> str:
        return format_cpf(self.cpf)

    @property
    def works_queue(self) -> bool:
        """Whether the person can open the work queue (Analista or Supervisor(a))."""
        return bool(self.roles & ANALYST_ROLES)


@dataclass(frozen=True)
class LaneUse:
    """A lane of a published process whose tasks go to the group."""

    process_id: str
    process_title: str
    lane: str


@dataclass(frozen=True)
class GroupAdminView:
    key: str
    name: str
    description: str
    member_roles: list[str]
    members: list[MemberView]
    lanes: list[LaneUse] = field(default_factory=list)
    version: int = 1  # what the choice of its roles carries back (set_group_roles)

    @property
    def member_role_labels(self) -> list[str]:
        return [ROLE_LABELS.get(role, role) for role in self.member_roles]


@dataclass(frozen=True)
class GroupsPage:
    groups: list[GroupAdminView]
    # How many CPFs hold each platform role (the members a group gets by role).
    role_holders: dict[str, int]


@dataclass(frozen=True)
class GroupChange:
    """What a change did, for the page's message."""

    key: str
    name: str
    changed: bool
    cpf: str | None = None
    roles: list[str] = field(default_factory=list)

    @property
    def cpf_formatted(self) -> str:
        return format_cpf(self.cpf) if self.cpf else ""

    @property
    def role_labels(self) -> list[str]:
        return [ROLE_LABELS.get(role, role) for role in self.roles]


class GroupsAdmin(UseCaseBase):
    def groups_page(self, actor: Actor) -> GroupsPage:
        """Every group with its members, and the lanes of published processes using it."""
        self._require_roles(actor, ADMIN_ROLES)
        with self.reading() as session:
            found = groups.list_groups(session)
            cpfs = {cpf for g in found for cpf, _name in g.members}
            roles_of = self._roles_of(session, cpfs)
            lanes = self._lanes_by_group(session)
            holders: dict[str, int] = {
                role: count
                for role, count in session.execute(
                    select(RoleGrant.role, func.count()).group_by(RoleGrant.role)
                )
            }
        return GroupsPage(
            groups=[
                GroupAdminView(
                    key=g.key,
                    name=g.name,
                    description=g.description,
                    member_roles=[r for r in ROLES if r in g.member_roles],
                    members=[
                        MemberView(cpf, name, roles_of.get(cpf, frozenset()))
                        for cpf, name in g.members
                    ],
                    lanes=lanes.get(g.key, []),
                    version=g.version,
                )
                for g in found
            ],
            role_holders={role: holders.get(role, 0) for role in ROLES},
        )

    def create_group(
        self, actor: Actor, name: str, description: str, roles: Iterable[str]
    ) -> GroupChange:
        self._require_roles(actor, ADMIN_ROLES)
        with self._refusing_races(), self.transaction() as session:
            group = groups.create(session, name, description, list(roles), self.clock())
            self._audit(
                session,
                None,
                actor.id,
                "grupo.criado",
                f"Grupo “{group.name}” criado",
                public=False,
                details={
                    "grupo": group.key,
                    "nome": group.name,
                    "descricao": group.description,
                    "papeis": list(group.member_roles),
                },
            )
            return GroupChange(group.key, group.name, True, roles=list(group.member_roles))

    def add_group_member(self, actor: Actor, key: str, raw_cpf: str) -> GroupChange:
        self._require_roles(actor, ADMIN_ROLES)
        with self._refusing_races(), self.transaction() as session:
            group = groups.get(session, key)
            cpf, added = groups.add_member(session, key, raw_cpf, self.clock())
            if added:
                self._audit(
                    session,
                    None,
                    actor.id,
                    "grupo.membro_adicionado",
                    f"CPF {format_cpf(cpf)} adicionado ao grupo “{group.name}”",
                    public=False,
                    details={"grupo": key, "cpf": cpf},
                )
            return GroupChange(key, group.name, added, cpf=cpf)

    def remove_group_member(self, actor: Actor, key: str, raw_cpf: str) -> GroupChange:
        self._require_roles(actor, ADMIN_ROLES)
        with self.transaction() as session:
            group = groups.get(session, key)
            cpf = parse_cpf(raw_cpf)
            if cpf is None:
                raise ValidationFailed({"cpf": "CPF inválido: confira os 11 dígitos."})
            removed = groups.remove_member(session, key, cpf)
            if removed:
                self._audit(
                    session,
                    None,
                    actor.id,
                    "grupo.membro_removido",
                    f"CPF {format_cpf(cpf)} removido do grupo “{group.name}”",
                    public=False,
                    details={"grupo": key, "cpf": cpf},
                )
            return GroupChange(key, group.name, removed, cpf=cpf)

    def set_group_roles(
        self, actor: Actor, key: str, roles: Iterable[str], expected_version: int
    ) -> GroupChange:
        """Everyone holding one of ``roles`` (engine.users.ROLES) becomes a member; chosen
        on ``expected_version`` of the group (the page's): Conflict when it moved since."""
        self._require_roles(actor, ADMIN_ROLES)
        with self.transaction() as session:
            group = groups.get(session, key)
            before = sorted(group.member_roles or [])
            groups.set_roles(session, key, list(roles), expected_version)
            after = list(group.member_roles)
            changed = after != before
            if changed:
                labels = ", ".join(ROLE_LABELS[r] for r in ROLES if r in after) or "nenhum"
                self._audit(
                    session,
                    None,
                    actor.id,
                    "grupo.papeis",
                    f"Membros por papel do grupo “{group.name}”: {labels}",
                    public=False,
                    details={"grupo": key, "antes": before, "depois": after},
                )
            return GroupChange(key, group.name, changed, roles=after)

    @staticmethod
    @contextmanager
    def _refusing_races() -> Iterator[None]:
        """A row inserted by someone else between our check and our insert (the same
        group name or the same member, at once on PostgreSQL): a clear message, not a 500."""
        try:
            yield
        except IntegrityError as exc:
            raise Conflict(_RACE) from exc

    @staticmethod
    def _roles_of(session: Session, cpfs: set[str]) -> dict[str, frozenset[str]]:
        if not cpfs:
            return {}
        found: dict[str, set[str]] = {}
        rows = session.execute(
            select(RoleGrant.cpf, RoleGrant.role).where(RoleGrant.cpf.in_(sorted(cpfs)))
        )
        for cpf, role in rows:
            found.setdefault(cpf, set()).add(role)
        return {cpf: frozenset(roles) for cpf, roles in found.items()}

    def _lanes_by_group(self, session: Session) -> dict[str, list[LaneUse]]:
        """Group key → the lanes that route to it, in the latest published version of
        every process (parsed versions are cached: this reads no BPMN after the first)."""
        lanes: dict[str, list[LaneUse]] = {}
        for process_id, version_id in sorted(self._published_versions(session)):
            bundle = self.bundle(session, version_id)
            for lane, key in bundle.lane_groups.items():
                if lane is None or key == groups.REQUESTER:
                    continue
                lanes.setdefault(key, []).append(LaneUse(process_id, bundle.policy.title, lane))
        return lanes
