"""LGPD pages: "Meus dados" for everyone logged in — the simplified view at once, the
request for the complete copy and its download once the scheduler built it (LGPD art.
19) — and the admins' "Privacidade (LGPD)": retention per process, what is due and a run
by hand, and who read whose data, per ticket and per person (the facade's ``privacy``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import Blueprint, Flask, Response, flash, redirect, render_template, request, url_for

from engine.errors import Conflict, NotFound, ValidationFailed
from engine.service import ACCESS_CHANNELS, DATA_COPY_KEEP_DAYS, MY_DATA_FORMAT, Download
from web.auth import login_required, role_required, signed_in_user
from web.context import service
from web.filters import datetime_br

bp = Blueprint("privacy", __name__)


def init_privacy(app: Flask) -> None:
    app.register_blueprint(bp)


@bp.app_template_filter("iso_br")
def iso_br(value: str | None) -> str:
    """An ISO timestamp of the "Meus dados" document as pages show dates."""
    if not value:
        return ""
    try:
        return datetime_br(datetime.fromisoformat(value))
    except ValueError:
        return value


@bp.get("/meus-dados")
@login_required
def my_data() -> Any:
    svc = service()
    return render_template(
        "privacy/mine.html",
        view=svc.privacy.my_data(signed_in_user()),
        erasure=svc.privacy.erasure_services(),
        keep_days=DATA_COPY_KEEP_DAYS,
        data_format=MY_DATA_FORMAT,
    )


@bp.post("/meus-dados/copia")
@login_required
def request_copy() -> Any:
    try:
        service().privacy.request_copy(signed_in_user())
    except Conflict as exc:
        flash(exc.message, "info")
    else:
        flash(
            "Pedido registrado. Vamos preparar a cópia completa dos seus dados e avisar por "
            "e-mail quando estiver pronta para baixar aqui.",
            "success",
        )
    return redirect(url_for("privacy.my_data", _anchor="copia"))


@bp.get("/meus-dados.json")
@login_required
def my_data_download() -> Response:
    try:
        found = service().privacy.my_copy(signed_in_user())
    except NotFound as exc:
        flash(exc.message, "info")
        return redirect(url_for("privacy.my_data", _anchor="copia"))  # type: ignore[return-value]
    return copy_response(found)


def copy_response(found: Download) -> Response:
    """The stored copy as a download: its gzip bytes as they are to a client that takes
    gzip (the browser saves the JSON), else the JSON decompressed piece by piece."""
    gzipped = request.accept_encodings["gzip"] > 0
    if gzipped:
        response = Response(found.gzipped, mimetype="application/json")
        response.headers["Content-Encoding"] = "gzip"
    else:
        response = Response(found.json_chunks(), mimetype="application/json")
        response.headers["Content-Length"] = str(found.size)
    response.headers["Vary"] = "Accept-Encoding"
    response.headers["Content-Disposition"] = (
        f'attachment; filename="meus-dados-{found.filename_day}.json"'
    )
    response.headers["Cache-Control"] = "private, no-store"
    return response


@bp.get("/admin/privacidade")
@role_required("admin")
def admin() -> Any:
    svc, user = service(), signed_in_user()
    protocolo = request.args.get("protocolo", "").strip()[:40]
    cpf = request.args.get("cpf", "").strip()[:20]
    ticket = person = None
    accesses: list[Any] | None = None
    errors: dict[str, str] = {}
    status = 200
    try:
        if protocolo:
            ticket, accesses = svc.privacy.accesses_for_chamado(user, protocolo=protocolo)
        elif cpf:
            person, accesses = svc.privacy.accesses_for_person(user, cpf)
    except ValidationFailed as exc:
        errors, status = exc.errors, exc.status
    except NotFound as exc:
        errors = {"protocolo" if protocolo else "cpf": exc.message}
        status = 404
    return render_template(
        "privacy/admin.html",
        retention=svc.privacy.retention(user),
        due=svc.privacy.due(user),
        protocolo=protocolo,
        cpf=cpf,
        ticket=ticket,
        person=person,
        accesses=accesses,
        errors=errors,
        channels=ACCESS_CHANNELS,
    ), status


@bp.post("/admin/privacidade/retencao/<process_id>")
@role_required("admin")
def set_retention(process_id: str) -> Any:
    try:
        service().privacy.set_retention(
            signed_in_user(), process_id[:100], request.form.get("dias", "")
        )
    except ValidationFailed as exc:
        flash(exc.errors.get("dias", exc.message), "danger")
    else:
        flash("Prazo de retenção gravado.", "success")
    return redirect(url_for("privacy.admin"))


@bp.post("/admin/privacidade/anonimizar")
@role_required("admin")
def run_now() -> Any:
    report = service().privacy.run_retention(signed_in_user())
    if report.instances or report.accounts:
        flash(
            f"{report.instances} solicitação(ões) e {report.accounts} conta(s) anonimizada(s).",
            "success",
        )
    else:
        flash("Nada a anonimizar agora.", "info")
    return redirect(url_for("privacy.admin"))
