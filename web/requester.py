"""Requesters: open a chamado, fill the wizard (saved as a draft at every step), follow it."""

from __future__ import annotations

from typing import Any

from flask import (
    Blueprint,
    Response,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)

from engine.errors import ValidationFailed
from engine.service import (
    ATTACHMENT_FIELD,
    REQUESTER_GROUP,
    SATISFACTION_COMMENT_MAX,
    SATISFACTION_SCALE,
    TaskForm,
    content_disposition,
    forms,
    listing,
)
from web import present
from web.auth import login_required, signed_in_user
from web.context import service as svc
from web.formview import build_form_view
from web.params import to_int

bp = Blueprint("requester", __name__)


@bp.get("/")
def home() -> Any:
    return render_template("requester/home.html")


@bp.get("/servicos")
def services() -> Any:
    """Every published service, as its model describes it, with a start button."""
    return render_template("requester/services.html", services=svc().requests.services())


@bp.route("/servicos/<process_id>", methods=["GET", "POST"])
@login_required
def start_service(process_id: str) -> Any:
    service = svc().requests.service(process_id)
    if request.method == "GET":
        # "Problema conhecido": the open incidents of this service (engine.outages).
        notices = svc().outages.notices(signed_in_user(), process_id)
        return render_template("requester/start.html", service=service, notices=notices)
    chamado, task = svc().requests.start_instance(signed_in_user(), process_id)
    if chamado.incident_at is not None:
        # The model failed in its first steps: the page says so (engine.incidents.STARTED).
        return redirect(url_for("requester.tracking", chamado_id=chamado.id))
    if task is None:  # the model starts with no requester task: nothing to fill in
        flash(f"{service.title}: solicitação {chamado.protocolo} aberta.", "success")
        return redirect(url_for("requester.tracking", chamado_id=chamado.id))
    flash(
        f"{service.title}: solicitação {chamado.protocolo} criada. Preencha os dados e envie.",
        "success",
    )
    return redirect(url_for("requester.task", task_id=task.id))


@bp.get("/chamados/novo")
def new_chamado() -> Any:
    """The old address of "Novo chamado": every service now starts from "Serviços"."""
    return redirect(url_for("requester.services"), 301)


# The page's own names for the list parameters (the API's are view, cursor, limit).
_LIST_PARAMS = listing.ParamNames(view="visao", cursor="cursor", limit="por_pagina")


@bp.get("/minhas-solicitacoes")
@login_required
def my_chamados() -> Any:
    args = request.args
    wanted = listing.parse_request(
        listing.CHAMADOS,
        args.get("visao"),
        args.get("cursor"),
        args.get("por_pagina"),
        _LIST_PARAMS,
    )
    page = svc().requests.my_chamados(signed_in_user(), wanted)
    per_page = page.limit if page.limit != listing.DEFAULT_LIMIT else None

    def link(view: str, cursor: str | None = None) -> str:
        return url_for("requester.my_chamados", visao=view, cursor=cursor, por_pagina=per_page)

    return render_template("requester/list.html", page=page, link=link)


@bp.get("/chamados/<int:chamado_id>")
@login_required
def tracking(chamado_id: int) -> Any:
    return render_tracking(chamado_id)


def render_tracking(
    chamado_id: int,
    satisfaction_errors: dict[str, str] | None = None,
    satisfaction_typed: dict[str, Any] | None = None,
    status: int = 200,
) -> Any:
    """The tracking page; a refused satisfaction answer comes back with what was typed."""
    user = signed_in_user()
    view = svc().requests.tracking(user, chamado_id)
    survey = svc().satisfaction.for_tracking(user, chamado_id) if view.closed else None
    return render_template(
        "requester/tracking.html",
        view=view,
        forms_shown=present.sent_forms(view.forms),
        survey=survey,
        now=svc().clock(),
        satisfaction_scale=SATISFACTION_SCALE,
        satisfaction_comment_max=SATISFACTION_COMMENT_MAX,
        satisfaction_errors=satisfaction_errors or {},
        satisfaction_typed=satisfaction_typed,
    ), status


@bp.get("/orgaos/busca")
@login_required
def orgao_search() -> Any:
    field = request.args.get("campo", "")
    query = request.args.get(forms.query_input(field), request.args.get("q", ""))
    results = svc().analysis.search_orgaos(query) if len(query.strip()) >= 2 else []
    return render_template("requester/_lookup_results.html", field=field, results=results, q=query)


@bp.get("/anexos/<int:attachment_id>")
@login_required
def attachment(attachment_id: int) -> Response:
    row, content = svc().requests.attachment(signed_in_user(), attachment_id)
    response = Response(content, mimetype=row.content_type)
    response.headers["Content-Disposition"] = content_disposition(row.filename)
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "private, no-store"
    response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response


# ------------------------------------------------------------------ the wizard


def _step_ids(form: TaskForm) -> list[forms.Step]:
    return forms.steps(form.ui, form.schema)


def _render(
    form: TaskForm,
    step: forms.Step,
    errors: dict[str, str],
    sub: forms.Submission | None = None,
    status_code: int = 200,
    focus: tuple[str, str] | None = None,
) -> Any:
    all_steps = _step_ids(form)
    fields = forms.all_fields(all_steps) if step.review else list(step.fields)
    view = build_form_view(
        form.schema,
        form.ui,
        form.data,
        errors,
        fields,
        lookups=present.lookups(form.schema),
        pending=sub.pending if sub else {},
        queries=sub.queries if sub else {},
        search_url=url_for("requester.orgao_search"),
        attachments={a.id: a for a in form.attachments},
    )
    if focus is not None:
        for fv in view.fields:
            if fv.name == focus[0]:
                fv.focus = focus[1]
    return render_template(
        "requester/wizard.html",
        form=form,
        steps=all_steps,
        step=step,
        view=view,
        errors=errors,
        error_steps=forms.steps_with_errors(all_steps, errors),
        sections=present.sections(form.schema, form.ui, form.data) if step.review else [],
    ), status_code


@bp.route("/tarefas/<int:task_id>", methods=["GET", "POST"])
@login_required
def task(task_id: int) -> Any:
    user = signed_in_user()
    form = svc().requests.task_form(user, task_id)
    if form.task.group != REQUESTER_GROUP:
        return redirect(url_for("analyst.analysis", chamado_id=form.chamado.id))
    if form.chamado.incident_at is not None:
        # Stopped by a technical incident: what was sent waits, nothing can be sent now;
        # the ticket's page says so (engine.incidents.notice_for).
        return redirect(url_for("requester.tracking", chamado_id=form.chamado.id))
    all_steps = _step_ids(form)
    by_id = {s.id: s for s in all_steps}
    if request.method == "GET":
        wanted = request.args.get("passo") or form.step or all_steps[0].id
        return _render(form, by_id.get(wanted, all_steps[0]), {})

    step = by_id.get(request.form.get("_step", ""), all_steps[0])
    fields = [] if step.review else list(step.fields)
    posted = request.form.to_dict(flat=False)
    if posted.get(forms.ACTION_FIELD) == [ENTER]:
        posted[forms.ACTION_FIELD] = [_enter_means(form, step, fields)]
    sub = forms.parse_submission(form.schema, form.ui, fields, posted, form.data)
    form.data = sub.data
    errors = dict(sub.errors)
    errors.update(_store_uploads(form, fields))
    action = sub.action
    if action.kind == "remove_file" and action.index is not None:
        svc().requests.remove_attachment(user, task_id, action.index)
        form.attachments = [a for a in form.attachments if a.id != action.index]

    target = _target_step(action, step, all_steps)
    if action.kind in ("next", "submit"):
        checked = forms.all_fields(all_steps) if action.kind == "submit" else fields
        errors.update(forms.validate(form.schema, form.data, checked))
    # Whatever happens next, what was typed is kept on the server.
    svc().requests.save_draft(user, task_id, form.data, target.id if not errors else step.id)

    focus = _focus_after(action, errors, fields, form)
    if errors:
        if action.kind == "submit":
            first = forms.steps_with_errors(all_steps, errors)
            step = by_id.get(first[0], step) if first else step
        if focus is None:  # a failed step: the error summary takes the focus
            flash("Corrija os campos indicados. Nada do que você digitou foi perdido.", "danger")
        return _render(form, step, errors, sub, 422, focus)
    if action.kind == "submit":
        return _submit(form)
    if action.kind in ("lookup", "add_row", "remove_row", "remove_file", "upload", "save"):
        if action.kind == "save":
            flash("Rascunho salvo.", "success")
        return _render(form, step, {}, sub, focus=focus)
    return redirect(url_for("requester.task", task_id=task_id, passo=target.id))


# The wizard's first submit button (invisible): what Enter in a text box sends without
# JavaScript. The browser cannot tell which box Enter was pressed in, so the server reads
# what is pending in the step (see _enter_means). With JavaScript, app.js clicks the box's
# own button (data-enter-action) and this is never sent from those boxes.
ENTER = "enter"


def _enter_means(form: TaskForm, step: forms.Step, fields: list[str]) -> str:
    """Enter in the step: search what was typed in a lookup's box and not searched yet (or
    searched with nothing picked), add the row typed in a table's new-row boxes; otherwise
    go on, as "Avançar" (on the review: save). Neither a search nor a new row validates or
    leaves the step."""
    if step.review:
        return "save"
    posted = request.form
    for name in fields:
        widget = forms.widget_of(form.schema, form.ui, name)
        if widget == "lookup":
            query = posted.get(forms.query_input(name), "").strip()
            searched = posted.get(f"{forms.query_input(name)}_feito", "").strip()
            if query and (query != searched or not posted.get(name)):
                return f"lookup:{name}"
        elif widget == "table":
            prefix = forms.new_row_input(name, "")
            if any(v.strip() for k, v in posted.items(multi=True) if k.startswith(prefix)):
                return f"add_row:{name}"
    return "next"


def _focus_after(
    action: forms.Action, errors: dict[str, str], fields: list[str], form: TaskForm
) -> tuple[str, str] | None:
    """Where the focus goes when the page comes back after an in-page action: the results
    of a search, the row just added (or its box, when the row was refused), the table after
    a removal, the file list (or the file box, when a file was refused). None: a step that
    failed (the error summary takes it) or an action that leaves the step."""
    name = action.target or ""
    if action.kind == "lookup":
        return name, "results"
    if action.kind == "add_row":
        refused = any(k.startswith(forms.new_row_input(name, "")) for k in errors)
        return name, "new" if refused else "row"
    if action.kind == "remove_row":
        return name, "table"
    if action.kind in ("upload", "remove_file"):
        props = form.schema.get("properties", {})
        files = [n for n in fields if props.get(n, {}).get("x-attachments")]
        target = name or (files[0] if files else "")
        return (target, "upload" if target in errors else "files") if target else None
    return None


def _target_step(action: forms.Action, step: forms.Step, all_steps: list[forms.Step]) -> forms.Step:
    ids = [s.id for s in all_steps]
    here = ids.index(step.id)
    if action.kind == "next":
        return all_steps[min(here + 1, len(ids) - 1)]
    if action.kind == "back":
        return all_steps[max(here - 1, 0)]
    if action.kind == "goto" and action.target in ids:
        return all_steps[ids.index(action.target)]
    return step


def _store_uploads(form: TaskForm, fields: list[str]) -> dict[str, str]:
    errors: dict[str, str] = {}
    props = form.schema.get("properties", {})
    for name in fields:
        if not props.get(name, {}).get("x-attachments"):
            continue
        refs = list(form.data.get(name, []))
        for upload in request.files.getlist(forms.upload_input(name)):
            if not upload or not upload.filename:
                continue
            try:
                ref = svc().requests.add_attachment(
                    signed_in_user(), form.task.id, upload.filename, upload.read()
                )
            except ValidationFailed as exc:
                errors[name] = exc.errors.get(ATTACHMENT_FIELD, exc.message)
                continue
            refs.append(ref)
        if refs:
            form.data[name] = refs
    if any(form.data.get(n) for n in fields if props.get(n, {}).get("x-attachments")):
        form.attachments = svc().requests.task_form(signed_in_user(), form.task.id).attachments
    return errors


def _submit(form: TaskForm) -> Any:
    try:
        chamado = svc().requests.complete_task(
            signed_in_user(), form.task.id, form.data, to_int(request.form.get("version")) or 0
        )
    except ValidationFailed as exc:
        all_steps = _step_ids(form)
        first = forms.steps_with_errors(all_steps, exc.errors)
        step = next((s for s in all_steps if first and s.id == first[0]), all_steps[-1])
        flash(exc.message, "danger")
        return _render(form, step, exc.errors, None, 422)
    if chamado.incident_at is not None:
        # Received, not processed: the ticket's page says so (engine.incidents.RECEIVED).
        return redirect(url_for("requester.tracking", chamado_id=chamado.id))
    following = svc().requests.requester_task(signed_in_user(), chamado.id)
    if following is not None:  # the model has another step for her in a row: go on to it
        flash(
            f"{chamado.protocolo}: “{form.task.title}” concluído. "
            f"Próxima etapa: “{following.title}”.",
            "success",
        )
        return redirect(url_for("requester.task", task_id=following.id))
    flash(
        f"{chamado.protocolo}: etapa “{form.task.title}” enviada. "
        "Você receberá as novidades no seu e-mail e pode acompanhar tudo aqui.",
        "success",
    )
    return redirect(url_for("requester.tracking", chamado_id=chamado.id))
