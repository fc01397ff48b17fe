"""Catalog administration (/admin/catalogos): admins edit the lists forms offer.

Add an item, edit its label and help, retire or restore it, move it up or down. Every
change is one POST (CSRF-protected by the app-wide CSRFProtect) followed by a redirect;
a refused change re-renders the page with what was typed and the messages next to the
fields. An item's editor carries the item's version as the page showed it: when another
admin edited the item meanwhile, nothing is written and the page comes back (409) with
what was typed in the item's editor, the item as it is now above it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from flask import (
    Blueprint,
    Flask,
    abort,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)

from engine.errors import Conflict, DomainError, NeedsConfirmation, ValidationFailed
from engine.service import CATALOG_HELP_MAX, CATALOG_LABEL_MAX, EDITABLE_CATALOGS
from web.auth import current_user, role_required
from web.context import service as _service
from web.params import to_int

bp = Blueprint("catalogs_admin", __name__)

ACTIONS = ("add", "update", "retire", "restore", "up", "down")


def init_catalogs_admin(app: Flask) -> None:
    if bp.name not in app.blueprints:  # idempotent: safe to call from tests and the factory
        app.register_blueprint(bp)


@dataclass
class Failure:
    """A refused POST: which form, what was typed, the messages per field."""

    action: str = ""
    code: str = ""
    values: dict[str, str] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    message: str | None = None
    status: int = 200
    # A retirement that would break published models' scenarios: what breaks; the page
    # offers the same retirement with a confirmation.
    consequences: list[str] = field(default_factory=list)
    # An edit made on an older version of the item: the editor then carries the current
    # version (the page shows it), so saving again replaces it knowingly.
    stale: bool = False


@bp.route("/admin/catalogos", methods=["GET", "POST"], endpoint="index")
@role_required("admin")
def index() -> Any:
    if request.method == "POST":
        # The overview has no form of its own; a catalog picked from a form goes to its page.
        catalog = request.form.get("catalog", "")
        if catalog not in EDITABLE_CATALOGS:
            abort(404)
        return redirect(url_for("catalogs_admin.catalog", catalog=catalog))
    summary = _service().admin.catalogs_summary()
    return render_template("catalogs_admin/index.html", summary=summary)


@bp.route("/admin/catalogos/<catalog>", methods=["GET", "POST"], endpoint="catalog")
@role_required("admin")
def catalog_page(catalog: str) -> Any:
    if catalog not in EDITABLE_CATALOGS:
        abort(404)
    failure: Failure | None = None
    status = 200
    if request.method == "POST":
        failure, done = _apply(catalog)
        if failure is None:
            flash(*done)
            anchor = request.form.get("code", "") if request.form.get("action") != "add" else ""
            target = url_for("catalogs_admin.catalog", catalog=catalog)
            return redirect(target + (f"#item-{anchor}" if anchor else ""))
        status = failure.status

    items = _service().admin.catalog_items(catalog)
    active_count = sum(1 for i in items if i.active)
    add_values = {"label": "", "help": ""}
    if failure is not None and failure.action == "add":
        add_values = failure.values
    return (
        render_template(
            "catalogs_admin/catalog.html",
            catalog=catalog,
            title=EDITABLE_CATALOGS[catalog],
            items=items,
            active_count=active_count,
            add_values=add_values,
            failure=failure or Failure(),
            label_max=CATALOG_LABEL_MAX,
            help_max=CATALOG_HELP_MAX,
        ),
        status,
    )


def _apply(catalog: str) -> tuple[Failure | None, tuple[str, str]]:
    """Run the posted action. Returns (None, flash message) or (the failure, unused)."""
    action = request.form.get("action", "")
    code = request.form.get("code", "").strip()
    label = request.form.get("label", "")
    help_text = request.form.get("help", "")
    version = request.form.get("version", "")
    user = current_user()
    by_cpf = user.cpf if user else None
    outcome: tuple[str, str] = ("", "info")
    admin = _service().admin
    try:
        if action == "add":
            option = admin.add_catalog_item(catalog, label, help_text, by_cpf)
            outcome = (f'Item "{option.label}" adicionado.', "success")
        elif action == "update":
            # A page without the field (older than it) is older than any edit: refused.
            option, changed = admin.update_catalog_item(
                catalog, code, label, help_text, by_cpf, to_int(version) or 0
            )
            if changed:
                outcome = (f'Item "{option.label}" atualizado.', "success")
            else:
                outcome = (f'Nada mudou em "{option.label}".', "info")
        elif action in ("retire", "restore"):
            option = admin.set_catalog_item_active(
                catalog,
                code,
                action == "restore",
                by_cpf,
                confirmed=request.form.get("confirmar") == "1",
            )
            if action == "retire":
                outcome = (
                    f'Item "{option.label}" aposentado: não aparece mais em novos '
                    "chamados; os chamados que já o usam continuam mostrando-o.",
                    "success",
                )
            else:
                outcome = (f'Item "{option.label}" reativado.', "success")
        elif action in ("up", "down"):
            moved = admin.move_catalog_item(catalog, code, action, by_cpf)
            outcome = ("Ordem alterada.", "success") if moved else ("Nada mudou.", "info")
        else:
            raise ValidationFailed({}, "Ação desconhecida.")
    except DomainError as exc:
        # Nothing typed is lost: the page comes back with the values and the messages.
        return (
            Failure(
                action=action,
                code=code,
                values={"label": label, "help": help_text, "version": version},
                errors=exc.errors if isinstance(exc, ValidationFailed) else {},
                message=exc.message,
                status=exc.status,
                consequences=exc.consequences if isinstance(exc, NeedsConfirmation) else [],
                stale=action == "update" and isinstance(exc, Conflict),
            ),
            outcome,
        )
    return None, outcome
