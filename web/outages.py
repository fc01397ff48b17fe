"""Incidentes (engine.usecases.outages): open one, link tickets from the queue or a
ticket's page, see a ticket's likely duplicates, "Resolver incidente"; and the
requester's side, joining an open one from a service's start page.

Addresses stay clear of the technical incidents' ``/incidentes`` (the queue's
"Incidentes técnicos"): staff pages live under ``/incidentes-de-servico``. Every change
is one POST (CSRF-protected by the app-wide CSRFProtect) followed by a redirect; a
refused form comes back (422) with what was typed. Nothing needs JavaScript: the
queue's checkboxes belong to the linking form through their ``form`` attribute.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Flask, flash, redirect, render_template, request, url_for

from engine.errors import Conflict, ValidationFailed
from engine.service import OUTAGE_MAX_LINKS, OUTAGE_TEXT_MAX, OUTAGE_TITLE_MAX, LinkReport
from web.auth import login_required, role_required, signed_in_user
from web.context import service as svc
from web.params import to_int

bp = Blueprint("outages", __name__)
_STAFF = ("analyst", "supervisor")


def init_outages(app: Flask) -> None:
    if bp.name not in app.blueprints:
        app.register_blueprint(bp)


def _safe_next(default: str) -> str:
    target = request.form.get("next") or ""
    if not target.startswith("/") or target.startswith("//"):
        return default
    return target


def _flash_links(report: LinkReport) -> None:
    if report.linked:
        flash(
            f"{len(report.linked)} chamado(s) vinculado(s) ao incidente: "
            f"{', '.join(report.linked)}.",
            "success",
        )
    if report.refused:
        flash(
            "Não vinculados: " + "; ".join(f"{who} ({why})" for who, why in report.refused) + ".",
            "warning",
        )


@bp.get("/incidentes-de-servico")
@role_required(*_STAFF)
def index() -> Any:
    return render_template("outages/index.html", items=svc().outages.list(signed_in_user()))


def _new_page(values: dict[str, str], errors: dict[str, str], status: int) -> Any:
    user = signed_in_user()
    source = to_int(values.get("chamado"))
    process_id = values.get("processo") or None
    return render_template(
        "outages/new.html",
        values=values,
        errors=errors,
        source=svc().analysis.analysis(user, source) if source else None,
        processes=svc().outages.incident_processes(user),
        orgaos=svc().analysis.queue_orgaos(user),
        categorias=svc().outages.categories(user, process_id)
        if process_id
        else svc().analysis.category_options(),
        title_max=OUTAGE_TITLE_MAX,
        text_max=OUTAGE_TEXT_MAX,
    ), status


@bp.get("/incidentes-de-servico/novo")
@role_required(*_STAFF)
def new() -> Any:
    values = {
        "chamado": request.args.get("chamado", ""),
        "processo": request.args.get("processo", ""),
    }
    return _new_page(values, {}, 200)


@bp.post("/incidentes-de-servico")
@role_required(*_STAFF)
def create() -> Any:
    fields = ("titulo", "texto_publico", "processo", "orgao", "servico", "categoria", "chamado")
    values = {k: request.form.get(k, "") for k in fields}
    source = to_int(values["chamado"])
    try:
        outage_id = svc().outages.create(
            signed_in_user(),
            title=values["titulo"],
            public_text=values["texto_publico"],
            process_id=values["processo"] or None,
            orgao_id=to_int(values["orgao"]),
            servico=values["servico"],
            categoria=values["categoria"] or None,
            from_chamado_id=source,
        )
    except ValidationFailed as refused:
        flash(refused.message, "danger")
        return _new_page(values, refused.errors, 422)
    flash("Incidente aberto." + (" O chamado foi vinculado a ele." if source else ""), "success")
    return redirect(url_for("outages.detail", outage_id=outage_id))


@bp.get("/incidentes-de-servico/<int:outage_id>")
@role_required(*_STAFF)
def detail(outage_id: int) -> Any:
    return _detail_page(outage_id, None, {}, 200)


def _detail_page(
    outage_id: int, values: dict[str, str] | None, errors: dict[str, str], status: int
) -> Any:
    user = signed_in_user()
    view = svc().outages.get(user, outage_id)
    typed = values or {"titulo": view.outage.title, "texto_publico": view.outage.public_text}
    return render_template(
        "outages/detail.html",
        view=view,
        values=typed,
        errors=errors,
        can_resolve="supervisor" in user.roles,
        title_max=OUTAGE_TITLE_MAX,
        text_max=OUTAGE_TEXT_MAX,
    ), status


@bp.post("/incidentes-de-servico/<int:outage_id>/texto")
@role_required(*_STAFF)
def update_text(outage_id: int) -> Any:
    user = signed_in_user()
    values = {k: request.form.get(k, "") for k in ("titulo", "texto_publico")}
    try:
        svc().outages.update_text(
            user,
            outage_id,
            values["titulo"],
            values["texto_publico"],
            to_int(request.form.get("version")) or 0,
        )
    except ValidationFailed as refused:
        flash(refused.message, "danger")
        return _detail_page(outage_id, values, refused.errors, 422)
    except Conflict as refused:
        # What was typed stays on the page, over the incident as it is now.
        flash(refused.message, "warning")
        return _detail_page(outage_id, values, {}, 409)
    flash("Texto do incidente alterado.", "success")
    return redirect(url_for("outages.detail", outage_id=outage_id))


@bp.post("/incidentes-de-servico/<int:outage_id>/vincular")
@role_required(*_STAFF)
def link(outage_id: int) -> Any:
    raw = request.form.getlist("chamado")
    ids = [i for i in (to_int(r) for r in raw[: OUTAGE_MAX_LINKS + 1]) if i is not None]
    back = _safe_next(url_for("outages.detail", outage_id=outage_id))
    try:
        report = svc().outages.link(signed_in_user(), outage_id, ids)
    except ValidationFailed as refused:
        flash(next(iter(refused.errors.values()), refused.message), "danger")
        return redirect(back)
    _flash_links(report)
    return redirect(back)


@bp.post("/fila/vincular")
@role_required(*_STAFF)
def link_from_queue() -> Any:
    """The queue's "Vincular ao incidente": the outage is a field of the form."""
    outage_id = to_int(request.form.get("incidente"))
    back = _safe_next(url_for("analyst.queue"))
    if outage_id is None:
        flash("Escolha o incidente ao qual vincular os chamados selecionados.", "danger")
        return redirect(back)
    return link(outage_id)


@bp.post("/incidentes-de-servico/<int:outage_id>/desvincular/<int:chamado_id>")
@role_required(*_STAFF)
def unlink(outage_id: int, chamado_id: int) -> Any:
    svc().outages.unlink(signed_in_user(), outage_id, chamado_id)
    flash("Chamado desvinculado do incidente.", "info")
    return redirect(url_for("outages.detail", outage_id=outage_id))


@bp.post("/incidentes-de-servico/<int:outage_id>/resolver")
@role_required("supervisor")
def resolve(outage_id: int) -> Any:
    version = to_int(request.form.get("version")) or 0
    try:
        report = svc().outages.resolve(signed_in_user(), outage_id, version)
    except Conflict as refused:
        flash(refused.message, "warning")
        return redirect(url_for("outages.detail", outage_id=outage_id))
    flash(report.message, "success" if report.state == "resolvido" else "info")
    return redirect(url_for("outages.detail", outage_id=outage_id))


@bp.get("/fila/chamados/<int:chamado_id>/duplicados")
@role_required(*_STAFF)
def duplicates(chamado_id: int) -> Any:
    user = signed_in_user()
    source, found = svc().outages.duplicates(user, chamado_id)
    process_id = svc().outages.process_of_chamado(user, chamado_id)
    return render_template(
        "outages/duplicates.html",
        source=source,
        found=found,
        linked=svc().outages.of_chamado(user, chamado_id),
        open_outages=svc().outages.open_outages(user, process_id),
        window_hours=svc().settings.duplicate_window_hours,
        orgao=svc().analysis.chamado_orgao(source),
    )


# ---------------------------------------------------------------------- requesters


@bp.post("/servicos/<process_id>/problemas-conhecidos/<int:outage_id>/acompanhar")
@login_required
def subscribe(process_id: str, outage_id: int) -> Any:
    back = url_for("requester.start_service", process_id=process_id)
    try:
        notice = svc().outages.subscribe(signed_in_user(), outage_id)
    except ValidationFailed as refused:
        flash(next(iter(refused.errors.values()), refused.message), "danger")
        return redirect(back)
    except Conflict as refused:
        flash(refused.message, "warning")
        return redirect(back)
    flash(
        f"Pronto: avisaremos você por e-mail quando “{notice.title}” for resolvido. "
        "Não é preciso abrir uma solicitação sobre este problema.",
        "success",
    )
    return redirect(back)
