"""Group administration (/admin/grupos): who works the tasks of each lane.

Create a group, list or unlist people by CPF, choose the platform roles whose holders
are all members. Every change is one POST (CSRF-protected by the app-wide CSRFProtect)
to the engine's facade followed by a redirect; a refused change re-renders the page
(422) with what was typed and the messages next to the fields. Choosing a group's roles
carries the group's version as the page showed it: when another admin chose them
meanwhile, nothing is written and the page comes back (409) with the boxes as this admin
ticked them, next to the roles as they are now.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from flask import Blueprint, Flask, flash, redirect, render_template, request, url_for

from engine.errors import Conflict, DomainError, ValidationFailed
from engine.service import (
    GROUP_DESCRIPTION_MAX,
    GROUP_NAME_MAX,
    ROLE_LABELS,
    ROLES,
    GroupChange,
)
from web.auth import role_required, signed_in_user
from web.context import service as _service
from web.params import to_int

bp = Blueprint("groups_admin", __name__)


def init_groups_admin(app: Flask) -> None:
    if bp.name not in app.blueprints:  # idempotent: safe to call from tests and the factory
        app.register_blueprint(bp)


@dataclass
class Failure:
    """A refused POST: which form (action and group), what was typed, the messages."""

    action: str = ""
    key: str = ""
    values: dict[str, Any] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    message: str | None = None
    # Roles chosen on an older version of the group: the form then carries the current
    # version (the page shows the current roles), so saving again applies them knowingly.
    stale: bool = False

    def summary(self) -> list[tuple[str, str, str]]:
        """(field label, link to the field, message) for the page's error summary."""
        where = {
            ("create", "nome"): ("Nome do grupo", "novo-nome"),
            ("create", "descricao"): ("Descrição", "novo-descricao"),
            ("create", "papeis"): ("Membros por papel", "novo-papeis"),
            ("add_member", "cpf"): ("CPF do novo membro", f"grupo-{self.key}-cpf"),
            ("set_roles", "papeis"): ("Membros por papel", f"grupo-{self.key}-papeis"),
            ("remove_member", "cpf"): ("Membros por CPF", f"grupo-{self.key}-membros"),
        }
        found = []
        for name, message in self.errors.items():
            label, anchor = where.get((self.action, name), (name, f"grupo-{self.key}"))
            found.append((label, f"#{anchor}", message))
        return found

    def error(self, action: str, key: str, name: str) -> str | None:
        """The message of field ``name`` of the form ``action`` of group ``key``, if any."""
        if (self.action, self.key) != (action, key):
            return None
        return self.errors.get(name)


@bp.get("/admin/grupos", endpoint="index")
@role_required("admin")
def index() -> Any:
    return _page(Failure(), 200)


@bp.post("/admin/grupos", endpoint="create")
@role_required("admin")
def create() -> Any:
    name = request.form.get("nome", "")
    description = request.form.get("descricao", "")
    roles = request.form.getlist("papeis")
    try:
        done = _service().admin.create_group(signed_in_user(), name, description, roles)
    except ValidationFailed as exc:
        values = {"nome": name, "descricao": description, "papeis": roles}
        return _refused(exc, Failure("create", "", values))
    flash(f"Grupo “{done.name}” criado. Adicione os seus membros abaixo.", "success")
    return _back(done)


@bp.post("/admin/grupos/<key>/membros", endpoint="add_member")
@role_required("admin")
def add_member(key: str) -> Any:
    cpf = request.form.get("cpf", "")
    try:
        done = _service().admin.add_group_member(signed_in_user(), key, cpf)
    except ValidationFailed as exc:
        return _refused(exc, Failure("add_member", key, {"cpf": cpf}))
    if done.changed:
        flash(f"CPF {done.cpf_formatted} adicionado ao grupo “{done.name}”.", "success")
    else:
        flash(f"O CPF {done.cpf_formatted} já era membro do grupo “{done.name}”.", "info")
    return _back(done)


@bp.post("/admin/grupos/<key>/membros/remover", endpoint="remove_member")
@role_required("admin")
def remove_member(key: str) -> Any:
    try:
        cpf = request.form.get("cpf", "")
        done = _service().admin.remove_group_member(signed_in_user(), key, cpf)
    except ValidationFailed as exc:
        return _refused(exc, Failure("remove_member", key))
    if done.changed:
        flash(f"CPF {done.cpf_formatted} removido do grupo “{done.name}”.", "success")
    else:
        flash(f"O CPF {done.cpf_formatted} não era membro do grupo “{done.name}”.", "info")
    return _back(done)


@bp.post("/admin/grupos/<key>/papeis", endpoint="set_roles")
@role_required("admin")
def set_roles(key: str) -> Any:
    roles = request.form.getlist("papeis")
    version = request.form.get("version", "")
    values = {"papeis": roles, "version": version}
    try:
        # A page without the field (older than it) is older than any choice: refused.
        done = _service().admin.set_group_roles(signed_in_user(), key, roles, to_int(version) or 0)
    except Conflict as exc:
        return _refused(exc, Failure("set_roles", key, values, stale=True))
    except ValidationFailed as exc:
        return _refused(exc, Failure("set_roles", key, values))
    if not done.changed:
        flash(f"Nada mudou nos membros por papel do grupo “{done.name}”.", "info")
    elif len(done.roles) == 1:
        flash(f"Grupo “{done.name}”: quem tem o papel {done.role_labels[0]} é membro.", "success")
    elif done.roles:
        labels = _join(done.role_labels)
        flash(f"Grupo “{done.name}”: quem tem um dos papéis {labels} é membro.", "success")
    else:
        flash(f"Grupo “{done.name}”: nenhum papel dá mais acesso; só os CPFs listados.", "success")
    return _back(done)


def _join(words: list[str]) -> str:
    """Joins labels in Portuguese: A; A e B; A, B e C."""
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " e " + words[-1]


def _back(done: GroupChange) -> Any:
    # Post/redirect/get: reloading the page does not repeat the action.
    return redirect(url_for("groups_admin.index") + f"#grupo-{done.key}")


def _refused(exc: DomainError, failure: Failure) -> Any:
    # Nothing typed is lost: the page comes back with the values and the messages.
    failure.errors = exc.errors if isinstance(exc, ValidationFailed) else {}
    failure.message = exc.message
    return _page(failure, exc.status)


def _page(failure: Failure, status: int) -> Any:
    page = _service().admin.groups_page(signed_in_user())
    return (
        render_template(
            "groups_admin/index.html",
            page=page,
            failure=failure,
            role_choices=ROLES,
            role_labels=ROLE_LABELS,
            name_max=GROUP_NAME_MAX,
            description_max=GROUP_DESCRIPTION_MAX,
        ),
        status,
    )
