"""Admin use cases: roles, catalogs, API tokens and service accounts, the e-mail outbox,
other people's sessions, and (engine.usecases.groups_admin) groups.

The pages behind them are for admins (the web layer checks the role, as the CLI runs
trusted); what each change records and refuses is the rows' modules' (engine.users,
engine.catalogs, engine.tokens, engine.outbox, engine.sessions). One transaction each.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy.orm import Session

from engine import audit, catalogs, groups, outbox, sessions, tokens, users
from engine.designer import publishing
from engine.errors import Forbidden, NeedsConfirmation, ValidationFailed
from engine.models import ApiToken, OutboxMessage, User
from engine.usecases.base import Actor
from engine.usecases.groups_admin import GroupsAdmin


@dataclass(frozen=True)
class RoleChange:
    """What granting or revoking a role did, for the page's or the shell's message."""

    changed: bool
    principal: str  # the CPF formatted (390.533.447-05), or "svc:<slug>"
    role_label: str


@dataclass(frozen=True)
class CatalogSummary:
    name: str
    title: str
    active: int
    retired: int


@dataclass(frozen=True)
class NewToken:
    """A token just created: its plaintext is shown once and never stored."""

    name: str
    token: str
    account: str  # the owner's CPF (or "svc:<slug>")


@dataclass(frozen=True)
class ServiceAccounts:
    accounts: list[User]
    roles: dict[int, list[str]]  # account id -> its roles, sorted
    tokens: dict[int, list[ApiToken]]  # account id -> its tokens, newest first


@dataclass(frozen=True)
class Outbox:
    entries: list[outbox.OutboxEntry]
    counts: dict[str, int]  # by status, every status present


class Admin(GroupsAdmin):
    # ------------------------------------------------------------------ roles

    def role_grants(self) -> list[users.GrantView]:
        with self.reading() as db:
            return users.list_grants(db)

    def grant_role(self, cpf: str, role: str, by_cpf: str | None) -> RoleChange:
        with self.transaction() as db:
            changed = users.grant_role(db, cpf, role, by_cpf)
        return _role_change(changed, cpf, role)

    def revoke_role(self, cpf: str, role: str, by_cpf: str | None) -> RoleChange:
        """Revoke a role (engine.users.revoke_role) and end the person's sessions: their
        next request asks them to log in again."""
        now = self.clock()
        with self.transaction() as db:
            changed = users.revoke_role(db, cpf, role, by_cpf)
            person = users.get_user_by_cpf(db, users.parse_principal(cpf) or cpf)
            if changed and person is not None:
                sessions.end_all(db, person.id, sessions.ROLE_REVOKED, now, self._policy())
        return _role_change(changed, cpf, role)

    def ensure_bootstrap_admin(self, cpf: str) -> bool:
        """BOOTSTRAP_ADMIN_CPF holds the admin role; True when this call granted it."""
        with self.transaction() as db:
            return users.ensure_bootstrap_admin(db, cpf)

    def enrol(self, people: Iterable[tuple[str, Sequence[str], Sequence[str]]]) -> None:
        """(CPF, roles, group keys) for each person, in one transaction (demo data)."""
        with self.transaction() as db:
            for cpf, roles, group_keys in people:
                for role in roles:
                    users.grant_role(db, cpf, role, None)
                for key in group_keys:
                    groups.add_member(db, key, cpf, self.clock())

    # ------------------------------------------------------------------ catalogs

    def catalogs_summary(self) -> list[CatalogSummary]:
        with self.reading() as db:
            found = []
            for name, title in catalogs.EDITABLE.items():
                items = catalogs.options(db, name)
                active = sum(1 for i in items if i.active)
                found.append(CatalogSummary(name, title, active, len(items) - active))
            return found

    def catalog_items(self, catalog: str) -> list[catalogs.EditableItem]:
        """The catalog's items for its page, each with the version its editor carries."""
        with self.reading() as db:
            return catalogs.editable_items(db, catalog)

    def add_catalog_item(
        self, catalog: str, label: str, help_text: str, by_cpf: str | None
    ) -> catalogs.CatalogOption:
        with self.transaction() as db:
            return catalogs.add_item(db, catalog, label, help_text, by_cpf)

    def update_catalog_item(
        self,
        catalog: str,
        code: str,
        label: str,
        help_text: str,
        by_cpf: str | None,
        expected_version: int,
    ) -> tuple[catalogs.CatalogOption, bool]:
        """The item as saved, and whether its label or help changed; Conflict (nothing
        changed) when the item moved past ``expected_version``, the one the page showed."""
        with self.transaction() as db:
            before = next((o for o in catalogs.options(db, catalog) if o.code == code), None)
            option = catalogs.update_item(
                db, catalog, code, label, help_text, by_cpf, expected_version
            )
            same = before is not None and (before.label, before.help) == (option.label, option.help)
            return option, not same

    def set_catalog_item_active(
        self,
        catalog: str,
        code: str,
        active: bool,
        by_cpf: str | None,
        confirmed: bool = False,
    ) -> catalogs.CatalogOption:
        """Retiring an item a published model's scenarios choose would block that model's
        next publication (its scenarios would fail): unless ``confirmed``, nothing changes
        and NeedsConfirmation says which scenarios of which services."""
        with self.transaction() as db:
            if not active and not confirmed:
                broken = self._scenarios_broken_without(db, catalog, code)
                if broken:
                    raise NeedsConfirmation(
                        "Aposentar este item faria falhar cenários de teste de modelos "
                        "publicados: a próxima publicação desses modelos ficaria bloqueada "
                        "até que os cenários sejam corrigidos. Nada foi alterado.",
                        broken,
                    )
            return catalogs.set_active(db, catalog, code, active, by_cpf)

    def _scenarios_broken_without(self, db: Session, catalog: str, code: str) -> list[str]:
        """ "Serviço: cenário" for each scenario of a published model that passes with the
        catalogs as they are and fails with ``code`` retired from ``catalog``."""
        now_catalogs = catalogs.all_catalogs(db)
        active = [o.code for o in now_catalogs.get(catalog, []) if o.active]
        if code not in active or active == [code]:
            return []  # nothing to retire, or the last active item: catalogs refuses it
        without = {
            name: [
                dataclasses.replace(o, active=False) if name == catalog and o.code == code else o
                for o in items
            ]
            for name, items in now_catalogs.items()
        }
        broken = []
        for _process_id, version_id in self._published_versions(db):
            bundle = self.bundle(db, version_id)
            before = publishing.run_scenarios(db, bundle, now_catalogs, self.clock())
            after = publishing.run_scenarios(db, bundle, without, self.clock())
            for was, will in zip(before, after, strict=True):
                if was.passed and not will.passed:
                    broken.append(f"{bundle.policy.title}: {will.name}")
        return broken

    def move_catalog_item(
        self, catalog: str, code: str, direction: str, by_cpf: str | None
    ) -> bool:
        with self.transaction() as db:
            return catalogs.move(db, catalog, code, direction, by_cpf)

    # ------------------------------------------------------------------ API tokens

    def my_tokens(self, user_id: int) -> list[ApiToken]:
        with self.reading() as db:
            return tokens.list_tokens(db, user_id)

    def create_token(self, owner_id: int, name: str, by_user_id: int) -> NewToken:
        """A token for the caller, or (an admin) for a service account."""
        with self.transaction() as db:
            plaintext, row = tokens.create_token(db, owner_id, name, by_user_id, self.clock())
            return NewToken(row.name, plaintext, row.user.cpf)

    def revoke_token(self, token_id: int, by_user_id: int, is_admin: bool) -> ApiToken:
        """The caller's own token, or any if ``is_admin``; someone else's is not found."""
        with self.transaction() as db:
            return tokens.revoke(db, token_id, by_user_id, is_admin=is_admin)

    def create_service_account(
        self, slug: str, name: str, role: str | None, by_cpf: str | None
    ) -> User:
        with self.transaction() as db:
            return tokens.create_service_account(db, slug, name, role, by_cpf)

    def service_accounts(self) -> ServiceAccounts:
        with self.reading() as db:
            accounts = tokens.list_service_accounts(db)
            roles = {a.id: sorted(users.roles_for(db, a.cpf)) for a in accounts}
            by_account: dict[int, list[ApiToken]] = {a.id: [] for a in accounts}
            for row in tokens.list_tokens(db, kind="servico"):
                by_account.setdefault(row.user_id, []).append(row)
        return ServiceAccounts(accounts, roles, by_account)

    # ------------------------------------------------------------------ e-mail outbox

    def outbox(self, status: str | None, limit: int, offset: int) -> Outbox:
        """One page of messages (newest first), and how many there are by status."""
        with self.reading() as db:
            entries = outbox.list_messages(db, status=status, limit=limit, offset=offset)
            return Outbox(entries, outbox.count_by_status(db))

    def outbox_message(self, pk: int) -> OutboxMessage | None:
        with self.reading() as db:
            return outbox.get_message(db, pk)

    def resend_mail(self, pk: int, actor_id: int | None) -> OutboxMessage:
        """A failed message back in the queue, with a fresh set of attempts."""
        with self.transaction() as db:
            return outbox.resend(db, pk, self.clock(), actor_id=actor_id)

    # ------------------------------------------------------------------ sessions

    def end_sessions_of(self, actor: Actor, cpf: str) -> int:
        """An administrator ends every live session of the person with ``cpf``."""
        if "admin" not in actor.roles:
            raise Forbidden("Só administradores encerram sessões de outras pessoas.")
        now = self.clock()
        with self.transaction() as db:
            person = _person(db, cpf)
            count = sessions.end_all(db, person.id, sessions.ADMIN, now, self._policy())
            audit.record(
                db,
                "sessao.encerradas",
                f"Sessões de {users.format_principal(person.cpf)} encerradas "
                f"por administrador(a) ({count})",
                actor_id=actor.id,
                at=now,
                details={"user_id": person.id, "sessions": count},
            )
        return count

    def _policy(self) -> sessions.Policy:
        return sessions.Policy.of(self.settings)


def _role_change(changed: bool, cpf: str, role: str) -> RoleChange:
    shown = users.format_principal(users.parse_principal(cpf) or cpf)
    return RoleChange(changed, shown, users.ROLE_LABELS[role.strip().lower()])


def _person(session: Session, raw_cpf: str) -> User:
    cpf = users.parse_cpf(raw_cpf)
    if cpf is None:
        raise ValidationFailed(
            {"cpf": "CPF inválido. Confira os 11 dígitos (ex.: 000.000.000-00)."},
            "CPF inválido.",
        )
    person = users.get_user_by_cpf(session, cpf)
    if person is None:
        message = "Nenhuma pessoa com este CPF entrou no sistema."
        raise ValidationFailed({"cpf": message}, message)
    return person
