"""API tokens pages: a person's own tokens (/conta/tokens) and, for admins, service
accounts and their tokens (/admin/contas-de-servico).

A new token's plaintext is rendered once in the answer to the POST that created it,
never flashed: flashed messages travel in the (signed, not encrypted) session cookie.
"""

from __future__ import annotations

from typing import Any

from flask import (
    Blueprint,
    Flask,
    abort,
    flash,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)

from engine.errors import ValidationFailed
from engine.service import ROLE_LABELS, ROLES
from web.auth import login_required, role_required, signed_in_user
from web.context import service as _service
from web.params import to_int

bp = Blueprint("tokens", __name__)


def init_tokens(app: Flask) -> None:
    app.register_blueprint(bp)


def _form_int(name: str) -> int:
    value = to_int(request.form.get(name))
    if value is None:
        abort(400)
    return value


def _render(template: str, status: int, created: dict[str, str] | None, **context: Any) -> Any:
    response = make_response(render_template(template, created=created, **context), status)
    if created:
        response.headers["Cache-Control"] = "no-store"  # the plaintext must not be cached
    return response


def _revoke_posted_token(is_admin: bool, back: str) -> Any:
    """Revokes the form's ``token_id`` (the caller's own, or any if ``is_admin``)."""
    row = _service().admin.revoke_token(
        _form_int("token_id"), signed_in_user().id, is_admin=is_admin
    )
    flash(f"Token “{row.name}” revogado: ele não funciona mais.", "success")
    return redirect(url_for(back))


@bp.route("/conta/tokens", methods=["GET", "POST"])
@login_required
def my_tokens() -> Any:
    admin, user = _service().admin, signed_in_user()
    created: dict[str, str] | None = None
    errors: dict[str, str] = {}
    message: str | None = None
    name = ""
    status = 200
    if request.method == "POST":
        action = request.form.get("action")
        if action == "revoke":
            return _revoke_posted_token(is_admin=False, back="tokens.my_tokens")
        if action != "create":
            abort(400)
        name = request.form.get("name", "")
        try:
            new = admin.create_token(user.id, name, user.id)
            created = {"name": new.name, "token": new.token}
            name = ""
        except ValidationFailed as exc:
            errors, status, message = exc.errors, exc.status, exc.message
    rows = admin.my_tokens(user.id)
    return _render(
        "tokens/my_tokens.html",
        status,
        created,
        rows=rows,
        errors=errors,
        message=message,
        name=name,
    )


@bp.route("/admin/contas-de-servico", methods=["GET", "POST"])
@role_required("admin")
def service_accounts() -> Any:
    admin, user = _service().admin, signed_in_user()
    created: dict[str, str] | None = None
    errors: dict[str, str] = {}
    message: str | None = None
    form = {"slug": "", "name": "", "role": "", "token_name": "", "account_id": ""}
    status = 200
    if request.method == "POST":
        action = request.form.get("action")
        if action == "revoke":
            return _revoke_posted_token(is_admin=True, back="tokens.service_accounts")
        try:
            if action == "create_account":
                form.update({k: request.form.get(k, "") for k in ("slug", "name", "role")})
                account = admin.create_service_account(
                    form["slug"], form["name"], form["role"] or None, user.cpf
                )
                flash(f"Conta de serviço {account.cpf} criada. Crie um token para ela.", "success")
                return redirect(url_for("tokens.service_accounts"))
            if action != "create_token":
                abort(400)
            form.update(
                token_name=request.form.get("name", ""),
                account_id=request.form.get("account_id", ""),
            )
            new = admin.create_token(_form_int("account_id"), form["token_name"], user.id)
            created = {"name": new.name, "token": new.token, "account": new.account}
            form.update(token_name="", account_id="")
        except ValidationFailed as exc:
            errors, status, message = exc.errors, exc.status, exc.message
    found = admin.service_accounts()
    return _render(
        "tokens/service_accounts.html",
        status,
        created,
        accounts=found.accounts,
        roles=found.roles,
        by_account=found.tokens,
        errors=errors,
        message=message,
        form=form,
        role_choices=ROLES,
        role_labels=ROLE_LABELS,
    )
