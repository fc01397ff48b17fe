"""Ready answers ("Respostas prontas", supervisors and admins): keep the texts analysts
start from. Every change is one POST (CSRF-protected by the app-wide CSRFProtect)
followed by a redirect; a refused one re-renders the form (422) with what was typed.

An edit carries the version of the answer the page showed (a hidden field): when someone
else saved the answer meanwhile, nothing is written and the form comes back (409) with
what was typed, next to the answer as it is now."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Flask, flash, redirect, render_template, request, url_for

from engine.errors import Conflict, ValidationFailed
from engine.service import (
    READY_ANSWER_BODY_MAX,
    READY_ANSWER_PLACEHOLDERS,
    READY_ANSWER_TITLE_MAX,
    ReadyAnswer,
)
from web.auth import role_required, signed_in_user
from web.context import service as svc
from web.params import to_int

bp = Blueprint("ready_answers", __name__)
_ROLES = ("supervisor", "admin")


def init_ready_answers(app: Flask) -> None:
    if bp.name not in app.blueprints:
        app.register_blueprint(bp)


def _applies(raw: str) -> tuple[str, str | None]:
    """The form's one choice "catalog" or "catalog:code" → (catalog, code or None)."""
    catalog, _, code = raw.partition(":")
    return catalog, code or None


def _page(
    answer_id: int | None,
    values: dict[str, str],
    errors: dict[str, str],
    status: int,
    current: ReadyAnswer | None = None,
) -> Any:
    """The list and the form; ``current``: the answer as someone else saved it while
    this person edited (their save was refused), shown beside what they typed."""
    user = signed_in_user()
    return render_template(
        "ready_answers/index.html",
        answers=svc().ready_answers.list(user),
        catalogs=svc().ready_answers.catalogs(user),
        editing=answer_id,
        values=values,
        errors=errors,
        current=current,
        title_max=READY_ANSWER_TITLE_MAX,
        body_max=READY_ANSWER_BODY_MAX,
        placeholders=READY_ANSWER_PLACEHOLDERS,
    ), status


@bp.get("/respostas-prontas")
@role_required(*_ROLES)
def index() -> Any:
    return _page(None, {}, {}, 200)


@bp.get("/respostas-prontas/<int:answer_id>")
@role_required(*_ROLES)
def edit(answer_id: int) -> Any:
    answer = svc().ready_answers.get(signed_in_user(), answer_id)
    values = {
        "titulo": answer.title,
        "texto": answer.body,
        "aplica": answer.catalog + (f":{answer.code}" if answer.code else ""),
        "version": str(answer.version),
    }
    return _page(answer_id, values, {}, 200)


@bp.post("/respostas-prontas")
@bp.post("/respostas-prontas/<int:answer_id>")
@role_required(*_ROLES)
def save(answer_id: int | None = None) -> Any:
    values = {k: request.form.get(k, "") for k in ("titulo", "texto", "aplica", "version")}
    catalog, code = _applies(values["aplica"])
    user = signed_in_user()
    # A page without the field (older than it) is older than any edit: refused below.
    seen = (to_int(values["version"]) or 0) if answer_id is not None else None
    try:
        svc().ready_answers.save(
            user, answer_id, values["titulo"], values["texto"], catalog, code, seen
        )
    except Conflict:
        assert answer_id is not None  # a new answer conflicts with nothing
        current = svc().ready_answers.get(user, answer_id)
        # What was typed stays; saving it again (now knowingly) replaces the current one.
        return _page(answer_id, {**values, "version": str(current.version)}, {}, 409, current)
    except ValidationFailed as refused:
        errors = dict(refused.errors)
        if "catalogo" in errors or "valor" in errors:
            errors["aplica"] = errors.pop("catalogo", "") or errors.pop("valor", "")
            errors.pop("valor", None)
        return _page(answer_id, values, errors, 422)
    flash("Resposta pronta salva.", "success")
    return redirect(url_for("ready_answers.index"))


@bp.post("/respostas-prontas/<int:answer_id>/situacao")
@role_required(*_ROLES)
def set_active(answer_id: int) -> Any:
    active = request.form.get("ativa") == "1"
    svc().ready_answers.set_active(signed_in_user(), answer_id, active)
    flash(
        "Resposta pronta reativada."
        if active
        else "Resposta pronta retirada: deixa de ser "
        "oferecida; os chamados que a usaram guardam o texto enviado.",
        "success",
    )
    return redirect(url_for("ready_answers.index"))
