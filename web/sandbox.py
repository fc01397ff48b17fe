""" "Executar teste": a designer steps their draft by hand, in plain HTML forms.

Pages under ``/processos/<pid>/teste`` (role designer), each action a POST with the CSRF
token, the run's id and the step it was shown on (a second tab or a double submit changes
nothing: engine.designer.sandbox_runs). A user task's form is drawn by the requesters' own
form macros and checked as a ticket's sending is; what the model would mail is shown,
never sent. ``…/teste/diagrama`` feeds the diagram viewer (static/js/diagram-viewer.js)
the path taken so far.
"""

from __future__ import annotations

from typing import Any, cast

from flask import (
    Blueprint,
    Flask,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)

from engine.errors import Conflict, NotFound, TaskNotReady, ValidationFailed
from engine.service import Actor, ModelRejected, SandboxFailed, SandboxPage, forms
from web.auth import current_user, role_required
from web.context import service as _svc
from web.formview import build_form_view
from web.params import to_int
from web.present import lookups

bp = Blueprint("sandbox", __name__)
ROLE = "designer"


def init_sandbox(app: Flask) -> None:
    app.register_blueprint(bp)


def _user() -> Actor:
    return cast(Actor, current_user())


def _here(pid: str, guid: str | None = None) -> Any:
    return redirect(url_for("sandbox.page", pid=pid, tarefa=guid) + "#teste")


@bp.get("/processos/<pid>/teste")
@role_required(ROLE)
def page(pid: str) -> Any:
    return _page(pid, request.args.get("tarefa"))


def _page(
    pid: str,
    chosen: str | None,
    status: int = 200,
    typed: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    sub: forms.Submission | None = None,
    failure: str | None = None,
    problems: Any = None,
) -> Any:
    user = _user()
    draft = _svc().designer.draft(user, pid)
    run = _svc().sandbox.current(user, pid)
    ready = run.view.ready if run and run.view else []
    task = next((r for r in ready if r.guid == chosen), ready[0] if ready else None)
    form_view, form_steps = None, []
    if run is not None and task is not None and task.guid in run.forms:
        form = run.forms[task.guid]
        form_steps = [s for s in form.steps if not s.review]
        fields = forms.all_fields(form_steps)
        form_view = build_form_view(
            form.schema,
            form.ui,
            typed if typed is not None else task.data,
            errors or {},
            fields,
            lookups(form.schema),
            pending=sub.pending if sub else None,
            queries=sub.queries if sub else None,
            search_url=url_for("requester.orgao_search"),
        )
    return render_template(
        "designer/sandbox.html",
        pid=pid,
        draft=draft,
        run=run,
        task=task,
        form_view=form_view,
        form_steps=form_steps,
        errors=errors or {},
        failure=failure,
        problems=problems,
    ), status


def _run_args() -> tuple[int, int]:
    return to_int(request.form.get("run")) or -1, to_int(request.form.get("passo")) or 0


@bp.post("/processos/<pid>/teste/iniciar")
@role_required(ROLE)
def start(pid: str) -> Any:
    try:
        _svc().sandbox.start(_user(), pid)
    except ModelRejected as exc:
        message = "O rascunho não pode ser executado enquanto tiver estes problemas:"
        return _page(pid, None, 422, failure=message, problems=exc.problems)
    except SandboxFailed as exc:
        return _page(pid, None, 422, failure=exc.message)
    flash("Teste iniciado: nada do que acontecer aqui cria um chamado nem envia e-mails.", "info")
    return _here(pid)


def _act(pid: str, action: Any, guid: str | None = None) -> Any:
    """Runs one action; a stale or refused one changes nothing and says why."""
    try:
        action()
    except SandboxFailed as exc:
        where = f" (elemento {exc.element_id})" if exc.element_id else ""
        return _page(pid, guid, 422, failure=f"{exc.message}{where} O teste ficou como estava.")
    except (Conflict, TaskNotReady, NotFound) as exc:
        flash(exc.message, "warning")
        return _here(pid)
    except ModelRejected as exc:
        return _page(
            pid, guid, 422, failure="O rascunho não pode ser executado.", problems=exc.problems
        )
    return _here(pid)


@bp.post("/processos/<pid>/teste/tarefa")
@role_required(ROLE)
def complete(pid: str) -> Any:
    user = _user()
    run_id, step = _run_args()
    guid = request.form.get("tarefa", "")
    run = _svc().sandbox.current(user, pid)
    form = run.forms.get(guid) if run is not None else None
    data: dict[str, Any] = {}
    sub = None
    if form is not None:
        fields = forms.all_fields([s for s in form.steps if not s.review])
        posted = request.form.to_dict(flat=False)
        sub = forms.parse_submission(form.schema, form.ui, fields, posted, {})
        data = sub.data
        if sub.action.kind in ("upload", "remove_file"):
            # A test keeps no files: nothing of it is stored like a ticket's attachments.
            failure = "No teste, anexos não são enviados: deixe os campos de arquivo vazios."
            return _page(pid, guid, 422, data, {}, sub, failure=failure)
        if sub.action.kind in ("lookup", "add_row", "remove_row") or sub.errors:
            # An in-form action (search an órgão, add a row): the form again, as typed.
            return _page(pid, guid, 422 if sub.errors else 200, data, sub.errors, sub)
    try:
        _svc().sandbox.complete(user, pid, run_id, step, guid, data)
    except ValidationFailed as exc:
        flash("Corrija os campos indicados. Nada do que você digitou foi perdido.", "danger")
        return _page(pid, guid, 422, data, exc.errors, sub)
    except SandboxFailed as exc:
        where = f" (elemento {exc.element_id})" if exc.element_id else ""
        failure = f"{exc.message}{where} O teste ficou como estava."
        return _page(pid, guid, 422, data, {}, sub, failure=failure)
    except (Conflict, TaskNotReady, NotFound) as exc:
        flash(exc.message, "warning")
        return _here(pid)
    flash("Tarefa concluída no teste.", "success")
    return _here(pid)


@bp.post("/processos/<pid>/teste/temporizador")
@role_required(ROLE)
def fire_timer(pid: str) -> Any:
    run_id, step = _run_args()
    element = request.form.get("elemento", "")
    return _act(pid, lambda: _svc().sandbox.fire_timer(_user(), pid, run_id, step, element))


@bp.post("/processos/<pid>/teste/mensagem")
@role_required(ROLE)
def send_message(pid: str) -> Any:
    run_id, step = _run_args()
    name, content = request.form.get("mensagem", ""), request.form.get("conteudo", "")
    try:
        return _act(
            pid, lambda: _svc().sandbox.send_message(_user(), pid, run_id, step, name, content)
        )
    except ValidationFailed as exc:
        return _page(pid, None, 422, errors=exc.errors)


@bp.post("/processos/<pid>/teste/encerrar")
@role_required(ROLE)
def discard(pid: str) -> Any:
    run_id, _step = _run_args()
    _svc().sandbox.discard(_user(), pid, run_id)
    flash("Teste encerrado e descartado.", "info")
    return redirect(url_for("sandbox.page", pid=pid))


@bp.get("/processos/<pid>/teste/diagrama")
@role_required(ROLE)
def diagram(pid: str) -> Any:
    """JSON for the diagram viewer: the draft with the path the test took."""
    run: SandboxPage | None = _svc().sandbox.current(_user(), pid)
    if run is None or run.view is None or run.view.diagram is None:
        return jsonify(title="Não encontrado", detail="Não há teste em andamento."), 404
    response = jsonify(run.view.diagram.as_dict())
    response.headers["Cache-Control"] = "private, no-store"
    return response
