"""Login sessions: "Sessões" for everyone (and "Sair de todos os dispositivos"), and the
administrators' page, where a person's sessions are ended (the facade's ``sessions`` and
``admin``)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Flask, flash, redirect, render_template, request, url_for

from engine.errors import ValidationFailed
from web.auth import (
    current_session_id,
    log_out_of_browser,
    login_required,
    role_required,
    signed_in_user,
)
from web.context import service

bp = Blueprint("sessions", __name__)


def init_sessions(app: Flask) -> None:
    app.register_blueprint(bp)


@bp.get("/sessoes")
@login_required
def mine() -> Any:
    svc = service()
    return render_template(
        "sessions/mine.html",
        rows=svc.sessions.live_sessions(signed_in_user().id),
        current_id=current_session_id(),
        policy=svc.sessions.session_policy,
        now=svc.clock(),
    )


@bp.post("/sessoes/sair-de-todos")
@login_required
def log_out_everywhere() -> Any:
    service().sessions.log_out_everywhere(signed_in_user().id)
    return log_out_of_browser(
        "Você saiu de todos os dispositivos: quem tinha acesso à sua conta em outro "
        "navegador precisará entrar novamente."
    )


@bp.route("/admin/sessoes", methods=["GET", "POST"])
@role_required("admin")
def admin() -> Any:
    svc = service()
    cpf, errors, message, status = "", {}, None, 200
    if request.method == "POST":
        cpf = request.form.get("cpf", "").strip()
        try:
            count = svc.admin.end_sessions_of(signed_in_user(), cpf)
        except ValidationFailed as exc:
            errors, message, status = exc.errors, exc.message, exc.status
        else:
            if count:
                flash(
                    f"{count} sessão(ões) encerrada(s): a pessoa precisará entrar novamente.",
                    "success",
                )
            else:
                flash("Esta pessoa não tinha sessões ativas.", "info")
            # Post/redirect/get: reloading the page does not repeat the action.
            return redirect(url_for("sessions.admin"))
    return render_template(
        "sessions/admin.html",
        rows=svc.sessions.live_sessions(),
        cpf=cpf,
        errors=errors,
        message=message,
        current_id=current_session_id(),
        now=svc.clock(),
    ), status
