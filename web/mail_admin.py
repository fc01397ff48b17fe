"""Admin pages for outgoing e-mail (/admin/emails): the outbox, one message, resend.

In capture mode (no SMTP_HOST) this is also where a new user reads the mail the product
"sent": nothing leaves the machine, every message is listed here and kept as an .eml file.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from flask import (
    Blueprint,
    Flask,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)

from engine.errors import DomainError
from engine.service import MailSettings
from web.auth import current_user, role_required
from web.context import service as _service
from web.params import MAX_INT, query_int

bp = Blueprint("mail_admin", __name__)

PAGE_SIZE = 50
_SETTINGS_KEY = "chamados.mail_settings"
# URL value (pt-BR) -> stored status.
FILTERS = {"pendentes": "pending", "enviadas": "sent", "falhas": "failed"}
STATUS_LABELS = {"pending": "Pendente", "sent": "Enviada", "failed": "Falhou"}
STATUS_TONES = {"pending": "bg-warning", "sent": "bg-success", "failed": "bg-danger"}


def init_mail_admin(app: Flask, settings: MailSettings | None = None) -> None:
    """Register the pages; ``settings`` defaults to the environment (capture dir in instance/)."""
    if settings is None:
        settings = MailSettings.from_env(os.environ, instance_dir=Path(app.instance_path))
    app.extensions[_SETTINGS_KEY] = settings
    if bp.name not in app.blueprints:  # a second call only replaces the settings
        app.register_blueprint(bp)


def _page_context() -> dict[str, Any]:
    return {
        "mail": current_app.extensions[_SETTINGS_KEY],
        "status_labels": STATUS_LABELS,
        "status_tones": STATUS_TONES,
        # A kind is the model's template name: shown as written (its subject says the rest).
        "kind_labels": {},
    }


@bp.get("/admin/emails", endpoint="list")
@role_required("admin")
def list_messages() -> Any:
    chosen = request.args.get("situacao", "")
    status = FILTERS.get(chosen)
    page = query_int("pagina", 1, MAX_INT // PAGE_SIZE, lenient=True) or 1
    found = _service().admin.outbox(status, limit=PAGE_SIZE + 1, offset=(page - 1) * PAGE_SIZE)
    return render_template(
        "mail_admin/list.html",
        entries=found.entries[:PAGE_SIZE],
        has_next=len(found.entries) > PAGE_SIZE,
        page=page,
        chosen=chosen if status else "",
        filters=FILTERS,
        counts=found.counts,
        **_page_context(),
    )


@bp.get("/admin/emails/<int:pk>", endpoint="view")
@role_required("admin")
def view_message(pk: int) -> Any:
    message = _service().admin.outbox_message(pk)
    if message is None:
        abort(404)
    return render_template(
        "mail_admin/view.html", m=message, preview=_preview(message.body_html), **_page_context()
    )


def _preview(body_html: str) -> str:
    """The stored HTML with its links opening in a new tab (the frame is sandboxed).

    The <base> goes inside <head>: before the doctype it would throw the page into quirks mode.
    """
    base = '<base target="_blank">'
    if "<head>" in body_html:
        return body_html.replace("<head>", "<head>" + base, 1)
    return base + body_html


@bp.post("/admin/emails/<int:pk>/reenviar", endpoint="resend")
@role_required("admin")
def resend_message(pk: int) -> Any:
    user = current_user()
    try:
        to_addr = _service().admin.resend_mail(pk, actor_id=user.id if user else None).to_addr
    except DomainError as exc:
        flash(exc.message, "danger")
    else:
        flash(
            f"A mensagem para {to_addr} voltou para a fila e será enviada na próxima rodada.",
            "success",
        )
    # Post/redirect/get: reloading the page does not resend again.
    return redirect(url_for("mail_admin.view", pk=pk))
