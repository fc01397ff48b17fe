"""Analysts: the work queue, claiming, and the analysis page with its decision form."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for

from engine.errors import Conflict, ValidationFailed
from engine.service import (
    INCIDENTS_VIEW,
    MAX_SEARCH_QUERY,
    OUTAGE_MAX_LINKS,
    QUEUE_VIEWS,
    QueueFilters,
    describe_business_time,
    forms,
    incidents,
)
from web import present
from web.auth import role_required, signed_in_user
from web.context import service as svc
from web.formview import build_form_view
from web.params import query_code, query_int, to_int

bp = Blueprint("analyst", __name__)

STALE_DECISION = (
    "Enquanto você preenchia, esta solicitação mudou (veja o histórico) e nada foi gravado. "
    "O que você preencheu continua abaixo: confira e registre de novo."
)


def _int_arg(name: str) -> int | None:
    return query_int(name, lenient=True)


_QUEUE_ROLES = ("analyst", "supervisor")


@bp.get("/fila")
@role_required("analyst", "supervisor", "admin")
def queue() -> Any:
    user = signed_in_user()
    # Admins who do not work the queue see only its incidents view (they retry them).
    works_queue = user.has_role(*_QUEUE_ROLES)
    views = QUEUE_VIEWS if works_queue else (INCIDENTS_VIEW,)
    view = request.args.get("visao", views[0])
    filters = QueueFilters(
        view=view if view in views else views[0],
        orgao_id=_int_arg("orgao"),
        categoria=query_code("categoria"),
        process_id=query_code("processo"),
        group=query_code("grupo"),
        situacao=request.args.get("situacao") or None,
        min_age_days=_int_arg("idade"),
        page=_int_arg("pagina") or 1,
    )
    result = svc().analysis.queue(user, filters)
    return render_template(
        "analyst/queue.html",
        result=result,
        filters=filters,
        views=views,
        incidents_view=filters.view == INCIDENTS_VIEW,
        can_retry=user.has_role("admin"),
        categorias=svc().analysis.category_options(),
        services=svc().requests.services(),
        my_groups=svc().analysis.my_groups(user),
        orgaos=svc().analysis.queue_orgaos(user),
        analysis_time=lambda c: describe_business_time(svc().analysis.analysis_clock(c)),
        analysts=svc().analysis.analysts() if "supervisor" in user.roles else [],
        open_outages=svc().outages.open_outages(user) if works_queue else [],
        max_links=OUTAGE_MAX_LINKS,
        now=svc().clock(),
    )


@bp.get("/busca")
@role_required(*_QUEUE_ROLES)
def search() -> Any:
    """Staff search: a GET form, so a search is a link that can be shared or bookmarked."""
    q = request.args.get("q", "")
    result, error = None, None
    if "q" in request.args:
        try:
            result = svc().search.tickets(signed_in_user(), q)
        except ValidationFailed as refused:
            error = refused.errors.get("q", refused.message)
    status = 422 if error else 200
    return render_template(
        "analyst/search.html", q=q, result=result, error=error, max_query=MAX_SEARCH_QUERY
    ), status


@bp.get("/incidentes")
@role_required("analyst", "supervisor", "admin")
def incidents_tab() -> Any:
    """The menu's way to the queue's "Incidentes técnicos"."""
    return redirect(url_for("analyst.queue", visao=INCIDENTS_VIEW))


@bp.post("/analise/<int:chamado_id>/tentar-novamente")
@role_required("admin")
def retry_incident(chamado_id: int) -> Any:
    """Runs the pending step of a ticket in a technical incident again."""
    version = to_int(request.form.get("version")) or 0
    outcome = svc().incidents.retry_incident(signed_in_user(), chamado_id, version)
    flash(outcome.message, "success" if outcome.resolved else "danger")
    return redirect(url_for("analyst.analysis", chamado_id=chamado_id))


def _back_to_queue() -> Any:
    target = request.form.get("next") or ""
    if not target.startswith("/") or target.startswith("//"):
        target = url_for("analyst.queue")
    return redirect(target)


@bp.post("/fila/tarefas/<int:task_id>/assumir")
@role_required("analyst", "supervisor")
def claim(task_id: int) -> Any:
    svc().analysis.claim(signed_in_user(), task_id)
    flash("Tarefa assumida. Ela está agora em “Minhas tarefas”.", "success")
    chamado_id = request.form.get("chamado_id", "")
    if chamado_id.isdigit():
        return redirect(url_for("analyst.analysis", chamado_id=int(chamado_id)))
    return _back_to_queue()


@bp.post("/fila/tarefas/<int:task_id>/liberar")
@role_required("analyst", "supervisor")
def release(task_id: int) -> Any:
    svc().analysis.release(signed_in_user(), task_id)
    flash("Tarefa liberada: voltou para a fila.", "info")
    return _back_to_queue()


@bp.post("/fila/tarefas/<int:task_id>/reatribuir")
@role_required("supervisor")
def reassign(task_id: int) -> Any:
    svc().analysis.reassign(signed_in_user(), task_id, request.form.get("cpf", ""))
    flash("Tarefa reatribuída.", "success")
    return _back_to_queue()


@bp.route("/analise/<int:chamado_id>", methods=["GET", "POST"])
@role_required("analyst", "supervisor", "admin")
def analysis(chamado_id: int) -> Any:
    user = signed_in_user()
    view = svc().analysis.analysis(user, chamado_id)
    task = view.analysis_task
    form = None
    errors: dict[str, str] = {}
    # While the ticket is in a technical incident nothing can be completed on it.
    if task is not None and task.assignee_id == user.id and view.chamado.incident_at is None:
        form = svc().requests.task_form(user, task.id)
        if request.method == "POST":
            fields = forms.field_order(form.ui, form.schema)
            data = forms.parse_submission(
                form.schema, form.ui, fields, request.form.to_dict(flat=False), {}
            ).data
            ready = to_int(request.form.get("_resposta_pronta"))
            if ready is not None:
                # "Usar": the form again with the answer in its field, everything else
                # as typed; nothing is sent until the analyst presses the main button.
                form.data = svc().ready_answers.apply(user, chamado_id, form.schema, data, ready)
                return _analysis_page(view, task, form, {}, 200, used_answer=ready)
            try:
                chamado = svc().requests.complete_task(
                    user, task.id, data, to_int(request.form.get("version")) or 0
                )
            except ValidationFailed as exc:
                errors = exc.errors
                form.data = data
                flash(exc.message, "danger")
            except Conflict as exc:
                # The ticket moved while the page was open (the other team's review on a
                # parallel branch, a timer): if the task is still hers, keep what she chose
                # and show the ticket as it is now, to confirm; otherwise the 409 page.
                view = svc().analysis.analysis(user, chamado_id)
                if view.chamado.incident_at is not None:  # stopped meanwhile: it says why
                    flash(exc.message, "warning")
                    return redirect(url_for("analyst.analysis", chamado_id=chamado_id))
                if view.analysis_task is None or view.analysis_task.id != task.id:
                    raise
                if view.analysis_task.assignee_id != user.id:
                    raise
                form.data = data
                flash(STALE_DECISION, "warning")
                return _analysis_page(view, view.analysis_task, form, {}, 409)
            else:
                if chamado.incident_at is not None:
                    flash(incidents.RECEIVED, "warning")
                    return redirect(url_for("analyst.analysis", chamado_id=chamado_id))
                flash(f"Tarefa “{task.title}” concluída.", "success")
                return redirect(url_for("analyst.queue", visao="minhas"))
    return _analysis_page(view, task, form, errors, 422 if errors else 200)


def _analysis_page(
    view: Any,
    task: Any,
    form: Any,
    errors: dict[str, str],
    status: int,
    used_answer: int | None = None,
) -> Any:
    user = signed_in_user()
    offered = svc().ready_answers.offered(user, view.chamado.id, form.schema) if form else {}
    outage, open_outages = None, []
    if user.has_role(*_QUEUE_ROLES) and view.chamado.submitted_at is not None:
        outage = svc().outages.of_chamado(user, view.chamado.id)
        if outage is None and view.chamado.closed_at is None:
            process_id = svc().outages.process_of_chamado(user, view.chamado.id)
            open_outages = svc().outages.open_outages(user, process_id)
    return render_template(
        "analyst/analysis.html",
        outage=outage,
        open_outages=open_outages,
        works_queue=user.has_role(*_QUEUE_ROLES),
        ready_answers={field: answers for field, answers in offered.items() if answers},
        used_answer=used_answer,
        view=view,
        task=task,
        form=form,
        form_view=build_form_view(form.schema, form.ui, form.data, errors) if form else None,
        errors=errors,
        forms_shown=present.sent_forms(view.forms),
        analysis_time=describe_business_time(svc().analysis.analysis_clock(view.chamado)),
        can_retry=signed_in_user().has_role("admin"),
        now=svc().clock(),
    ), status
