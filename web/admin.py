"""Administration pages. For now: who holds which role (/admin/papeis)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Flask, flash, redirect, render_template, request, url_for

from engine.errors import DomainError, ValidationFailed
from engine.service import ROLE_LABELS, ROLES, RoleChange
from web.auth import current_user, role_required
from web.context import service as _service

bp = Blueprint("admin", __name__)


def init_admin(app: Flask) -> None:
    app.register_blueprint(bp)


@bp.route("/admin/papeis", methods=["GET", "POST"], endpoint="roles")
@role_required("admin")
def roles() -> Any:
    form = {"cpf": "", "role": ""}
    errors: dict[str, str] = {}
    message: str | None = None
    status = 200

    if request.method == "POST":
        action = request.form.get("action", "")
        cpf = request.form.get("cpf", "").strip()
        role = request.form.get("role", "").strip()
        actor = current_user()
        by_cpf = actor.cpf if actor else None
        try:
            if action == "grant":
                change = _service().admin.grant_role(cpf, role, by_cpf)
            elif action == "revoke":
                # Revoking also ends the person's sessions.
                change = _service().admin.revoke_role(cpf, role, by_cpf)
            else:
                raise ValidationFailed({}, "Ação desconhecida.")
        except ValidationFailed as exc:
            errors = exc.errors
            message = exc.message
            status = exc.status
            if action == "grant":
                form = {"cpf": cpf, "role": role}  # nothing typed is lost
        except DomainError as exc:
            message = exc.message
            status = exc.status
        else:
            flash(_outcome(action, change), "success" if change.changed else "info")
            # Post/redirect/get: reloading the page does not repeat the action.
            return redirect(url_for("admin.roles"))

    grants = _service().admin.role_grants()
    return (
        render_template(
            "admin/roles.html",
            grants=grants,
            form=form,
            errors=errors,
            message=message,
            role_choices=ROLES,
            role_labels=ROLE_LABELS,
        ),
        status,
    )


def _outcome(action: str, change: RoleChange) -> str:
    shown, label = change.principal, change.role_label
    if action == "grant":
        if change.changed:
            return f"Papel {label} concedido ao CPF {shown}."
        return f"O CPF {shown} já tinha o papel {label}."
    if change.changed:
        return f"Papel {label} revogado do CPF {shown}."
    return f"O CPF {shown} não tinha o papel {label}."
