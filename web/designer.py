"""The "Processos" area for process designers, and a ticket's diagram.

Pages under ``/processos`` (role designer): models, the bpmn-js modeler, form
editing with a live preview drawn by the requesters' own form macros, scenarios,
publishing and migration. The modeler talks JSON to the endpoints marked
"JSON" (CSRF token in the ``X-CSRFToken`` header). ``/chamados/<id>/diagrama``
serves a ticket's diagram to its requester and staff; ``_diagram.html`` shows it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, cast

from flask import (
    Blueprint,
    Flask,
    Response,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)

from engine.errors import Conflict, DomainError, NotFound, ProcessDefinitionError, ValidationFailed
from engine.service import (
    MAX_BPMN_BYTES,
    MAX_FORM_UPLOAD_BYTES,
    Actor,
    ElementEdits,
    ModelRejected,
    NewForm,
    Problem,
    ScenariosFailed,
    TicketDiagram,
    UnreadablePath,
    content_disposition,
    form_builder,
    forms,
    read_form_upload,
    read_model_zip,
)
from web import form_builder as fb_web
from web.auth import current_user, login_required, role_required
from web.context import service as _svc
from web.formview import build_form_view
from web.markdown import render as render_markdown
from web.params import to_int

bp = Blueprint("designer", __name__)
ROLE = "designer"


def init_designer(app: Flask) -> None:
    app.register_blueprint(bp)
    app.jinja_env.globals["chamado_diagram"] = chamado_diagram


def _user() -> Actor:
    # The views are behind role_required/login_required: there is always a user.
    return cast(Actor, current_user())


def _json_error(exc: DomainError) -> tuple[Response, int]:
    body: dict[str, Any] = {"title": exc.title, "detail": exc.message}
    if isinstance(exc, ModelRejected):
        body["errors"] = [p.as_dict() for p in exc.problems]
    if isinstance(exc, ValidationFailed):
        body["errors"] = [{"element_id": k, "message": v} for k, v in exc.errors.items()]
    return jsonify(body), exc.status


def _version_arg(raw: Any) -> int:
    if isinstance(raw, int) and not isinstance(raw, bool):  # JSON bodies send numbers
        raw = str(raw)
    value = to_int(raw) if isinstance(raw, str) else None
    return -1 if value is None else value  # never matches: the save is refused as stale


# ------------------------------------------------------------------ models


@bp.get("/processos")
@role_required(ROLE)
def index() -> Any:
    return render_template(
        "designer/index.html", models=_svc().designer.models(_user()), errors={}, form={}
    )


@bp.post("/processos")
@role_required(ROLE)
def create() -> Any:
    pid, name = request.form.get("process_id", ""), request.form.get("name", "")
    try:
        _svc().designer.create_model(_user(), pid, name)
    except ValidationFailed as exc:
        page = render_template(
            "designer/index.html",
            models=_svc().designer.models(_user()),
            errors=exc.errors,
            form={"process_id": pid, "name": name},
        )
        return page, 422
    flash("Modelo criado. Edite o diagrama e os formulários, depois publique.", "success")
    return redirect(url_for("designer.model", pid=pid.strip()))


@bp.post("/processos/importar-pasta")
@role_required(ROLE)
def import_folder() -> Any:
    """A SpiffArena process-model folder, zipped, as a new model's draft: saved whatever
    its state (a drawing marked not executable included), its problems on the model's
    page; refused with the reasons on this page when no model can be taken from it."""
    upload = request.files.get("pasta")
    try:
        if upload is None or not upload.filename:
            raise ModelRejected([Problem(None, "Escolha o arquivo .zip da pasta do modelo.")])
        if not upload.filename.lower().endswith(".zip"):
            raise ModelRejected([Problem(None, "A pasta do modelo deve vir num arquivo .zip.")])
        # The request's body limit (web/limits.py: designer pages) refuses a bigger upload
        # first; read_model_zip bounds what the zip inflates to.
        data = upload.stream.read()
        try:
            folder = read_model_zip(upload.filename, data)
        except UnreadablePath as exc:
            raise ModelRejected([Problem(None, str(exc))]) from exc
        draft = _svc().designer.import_folder(_user(), folder)
    except DomainError as exc:
        problems = exc.problems if isinstance(exc, ModelRejected) else [Problem(None, exc.message)]
        page = render_template(
            "designer/index.html",
            models=_svc().designer.models(_user()),
            errors={},
            form={},
            import_problems=problems,
        )
        return page, exc.status
    flash("Pasta importada como rascunho de um novo modelo.", "success")
    _flash_remaining(draft.problems)
    return redirect(url_for("designer.model", pid=draft.process_id))


@bp.get("/processos/<pid>")
@role_required(ROLE)
def model(pid: str) -> Any:
    return _model_page(pid)


def _model_page(pid: str, status: int = 200, **extra: Any) -> Any:
    view = _svc().designer.model(_user(), pid)
    context = {
        "view": view,
        "pid": pid,
        "reports": None,
        "publish_error": None,
        # A refused scenario save: which one (None: a new one), why, what was typed.
        "scenario_failed": None,
        "scenario_stale": None,
        "scenario_form": None,
        "scenario_errors": None,
        **extra,
    }
    return render_template("designer/model.html", **context), status


# ------------------------------------------------------------------ modeler


@bp.get("/processos/<pid>/modelador")
@role_required(ROLE)
def modeler(pid: str) -> Any:
    draft = _svc().designer.draft(_user(), pid)
    return render_template("designer/modeler.html", draft=draft, pid=pid)


@bp.get("/processos/<pid>/rascunho")
@role_required(ROLE)
def draft_json(pid: str) -> Any:
    """JSON: the draft's model, its version (for the save check) and its form files."""
    designer = _svc().designer
    draft = designer.draft(_user(), pid)
    return jsonify(
        process_id=pid,
        name=draft.name,
        xml=draft.bpmn_xml,
        version=draft.version,
        forms=sorted(draft.forms),
        groups=[{"key": key, "name": name} for key, name in designer.lane_groups(_user())],
        # The draft's decision tables (name → DMN XML), for the DMN editor (decisions.js).
        decisions={k: v for k, v in draft.forms.items() if k.lower().endswith(".dmn")},
    )


@bp.get("/processos/<pid>/conectores")
@role_required(ROLE)
def connectors(pid: str) -> Any:
    """JSON: the platform's connectors a service task of the model may call (read-only):
    ``{connectors: [{operator, required, optional}]}``."""
    _svc().designer.draft(_user(), pid)  # the model exists (404 otherwise)
    return jsonify(connectors=_svc().designer.connectors(_user()))


def _dmn_arg(body: dict[str, Any]) -> dict[str, Any] | None:
    """The DMN editor's changes, ``{name: xml | null}`` (decisions.js); None if malformed."""
    dmn = body.get("dmn")
    if dmn is None:
        return {}
    return dmn if isinstance(dmn, dict) else None


@bp.post("/processos/<pid>/rascunho")
@role_required(ROLE)
def save_draft(pid: str) -> Any:
    """JSON: ``{xml, version, new_forms?: [{schema, ui, title}], dmn?: {name: xml | null}}``
    → ``{version, forms, errors}``."""
    body = request.get_json(silent=True) or {}
    xml = body.get("xml")
    if not isinstance(xml, str):
        return jsonify(title="Requisição inválida", detail="Envie o XML do modelo."), 400
    new_forms = [
        NewForm(str(f.get("schema", "")), str(f.get("ui", "")), str(f.get("title", "")))
        for f in body.get("new_forms") or []
        if isinstance(f, dict)
    ]
    dmn = _dmn_arg(body)
    if dmn is None:
        return jsonify(title="Requisição inválida", detail="Envie as tabelas de decisão."), 400
    try:
        draft = _svc().designer.save_model(
            _user(), pid, xml, _version_arg(body.get("version")), new_forms, dmn
        )
    except DomainError as exc:
        return _json_error(exc)
    # Saved whatever its state; what keeps it from being published comes back with it.
    return jsonify(
        version=draft.version,
        forms=sorted(draft.forms),
        errors=[p.as_dict() for p in draft.problems],
    )


@bp.post("/processos/<pid>/validar")
@role_required(ROLE)
def validate(pid: str) -> Any:
    """JSON: ``{xml, dmn?}`` → ``{errors: [{element_id, message}]}`` (nothing is saved)."""
    body = request.get_json(silent=True) or {}
    xml = body.get("xml")
    if not isinstance(xml, str):
        return jsonify(title="Requisição inválida", detail="Envie o XML do modelo."), 400
    dmn = _dmn_arg(body)
    if dmn is None:
        return jsonify(title="Requisição inválida", detail="Envie as tabelas de decisão."), 400
    try:
        problems = _svc().designer.validate(_user(), pid, xml, dmn)
    except ModelRejected as exc:  # a table that is not DMN at all: said the same way
        problems = exc.problems
    return jsonify(errors=[p.as_dict() for p in problems])


# Bounds of what the panel's previews read: a timer expression rides with the model it
# belongs to (up to the model's own limit); instructions are a task's text.
MAX_INSTRUCTIONS = 20_000


@bp.post("/processos/<pid>/previa-temporizador")
@role_required(ROLE)
def timer_preview(pid: str) -> Any:
    """JSON: ``{kind, expression, xml?}`` → ``{preview, error}``: what a timer's value
    means in pt-BR ("10 dias", "dois dias úteis …") or why it cannot be armed."""
    body = request.get_json(silent=True) or {}
    kind, expression, xml = body.get("kind"), body.get("expression"), body.get("xml", "")
    if not (isinstance(kind, str) and isinstance(expression, str) and isinstance(xml, str)):
        return jsonify(title="Requisição inválida", detail="Envie kind, expression e xml."), 400
    if len(xml.encode("utf-8")) > MAX_BPMN_BYTES:
        xml = ""  # the preview of a constant needs no model; a huge one is not read
    answer = _svc().designer.timer_preview(_user(), kind, expression, xml)
    return jsonify(answer.as_dict())


@bp.post("/processos/<pid>/previa-instrucoes")
@role_required(ROLE)
def instructions_preview(pid: str) -> Any:
    """JSON: ``{text}`` → ``{html}``: a task's instructions as requesters will see them
    (markdown, cleaned), before the Jinja over the ticket's data."""
    _svc().designer.draft(_user(), pid)  # the model exists (404 otherwise)
    body = request.get_json(silent=True) or {}
    text = body.get("text")
    if not isinstance(text, str):
        return jsonify(title="Requisição inválida", detail="Envie o texto."), 400
    if len(text) > MAX_INSTRUCTIONS:
        detail = f"As instruções passam de {MAX_INSTRUCTIONS} caracteres."
        return jsonify(title="Texto longo demais", detail=detail), 413
    return jsonify(html=str(render_markdown(text)))


@bp.route("/processos/<pid>/elementos", methods=["GET", "POST"])
@role_required(ROLE)
def elements(pid: str) -> Any:
    """The model's names, conditions and default flows as one form: the modeler's
    keyboard path, and a way without JavaScript. A refused save keeps what was typed."""
    designer = _svc().designer
    problems: list[Problem] = []
    errors: dict[str, str] = {}
    typed: dict[str, str] | None = None
    status = 200
    if request.method == "POST":
        form = request.form
        edits = ElementEdits(
            names={k[5:]: v for k, v in form.items() if k.startswith("nome-")},
            conditions={k[9:]: v for k, v in form.items() if k.startswith("condicao-")},
            defaults={k[7:]: v for k, v in form.items() if k.startswith("padrao-")},
        )
        try:
            saved = designer.save_elements(_user(), pid, _version_arg(form.get("version")), edits)
        except ValidationFailed as exc:
            errors, typed, status = exc.errors, dict(form), 422
        except ModelRejected as exc:
            problems, typed, status = exc.problems, dict(form), 422
        except Conflict as exc:
            flash(exc.message, "warning")
            return redirect(url_for("designer.elements", pid=pid))
        else:
            flash("Elementos salvos no rascunho.", "success")
            _flash_remaining(saved.problems)
            return redirect(url_for("designer.elements", pid=pid))
    draft, found = designer.elements(_user(), pid)
    if not problems:  # what keeps the draft as it is from being published
        problems = designer.validate(_user(), pid, draft.bpmn_xml)
    return render_template(
        "designer/elements.html",
        pid=pid,
        draft=draft,
        elements=found,
        problems=problems,
        errors=errors,
        typed=typed,
    ), status


def _flash_remaining(problems: Any) -> None:
    """A draft saved with problems: saved all the same, and what blocks publishing."""
    if problems:
        flash(
            f"O rascunho tem {len(problems)} problema(s): corrija-os antes de publicar "
            "(a lista está na página do modelo).",
            "warning",
        )


def _read_upload() -> bytes:
    upload = request.files.get("arquivo")
    if upload is None or not upload.filename:
        raise ModelRejected([Problem(None, "Escolha um arquivo .bpmn.")])
    if not upload.filename.lower().endswith((".bpmn", ".xml")):
        raise ModelRejected([Problem(None, "O arquivo deve ter a extensão .bpmn.")])
    # Read one byte past the limit: enough to refuse without holding a huge upload.
    data = upload.stream.read(MAX_BPMN_BYTES + 1)
    if len(data) > MAX_BPMN_BYTES:
        raise ModelRejected(
            [Problem(None, f"O arquivo passa do limite de {MAX_BPMN_BYTES // 1024 // 1024} MB.")]
        )
    return data


def _wants_json() -> bool:
    return request.accept_mimetypes.best == "application/json"


@bp.post("/processos/<pid>/importar")
@role_required(ROLE)
def import_bpmn(pid: str) -> Any:
    """An uploaded .bpmn: JSON ``{xml, errors}`` for the modeler; without JS it is saved."""
    designer = _svc().designer
    try:
        imported = designer.import_model(_user(), pid, _read_upload())
        if _wants_json():
            return jsonify(xml=imported.xml, errors=[p.as_dict() for p in imported.problems])
        version = _version_arg(request.form.get("version"))
        saved = designer.save_model(_user(), pid, imported.xml, version)
    except DomainError as exc:
        if _wants_json():
            return _json_error(exc)
        problems = exc.problems if isinstance(exc, ModelRejected) else [Problem(None, exc.message)]
        return _model_page(pid, exc.status, import_problems=problems)
    flash("Arquivo importado e salvo no rascunho.", "success")
    _flash_remaining(saved.problems)
    return redirect(url_for("designer.model", pid=pid))


def _download(filename: str, data: bytes) -> Response:
    response = Response(data, mimetype="application/xml")
    response.headers["Content-Disposition"] = content_disposition(filename)
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


@bp.get("/processos/<pid>/exportar")
@role_required(ROLE)
def export_draft(pid: str) -> Any:
    return _download(*_svc().designer.export(_user(), pid))


@bp.get("/processos/<pid>/exportar-pasta")
@role_required(ROLE)
def export_folder(pid: str) -> Any:
    """The draft as SpiffArena's process-model folder, zipped."""
    filename, data = _svc().designer.export_folder(_user(), pid)
    response = Response(data, mimetype="application/zip")
    response.headers["Content-Disposition"] = content_disposition(filename)
    return response


@bp.get("/processos/<pid>/arquivos/<filename>")
@role_required(ROLE)
def form_file(pid: str, filename: str) -> Any:
    """One of the draft's form files, as a download."""
    data = _svc().designer.form_file(_user(), pid, filename)
    response = Response(data, mimetype="application/json")
    response.headers["Content-Disposition"] = content_disposition(filename)
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


@bp.get("/processos/<pid>/versoes/<int:version_id>/exportar")
@role_required(ROLE)
def export_version(pid: str, version_id: int) -> Any:
    return _download(*_svc().designer.export(_user(), pid, version_id))


# ------------------------------------------------------------------ forms


def _preview(schema_text: str, ui_text: str) -> tuple[list[Any], str | None]:
    """(steps with their FormViews, error) drawn exactly as requesters will see them."""
    try:
        definition = forms.load_form_from_texts(schema_text, ui_text or "{}", "formulário")
        schema = forms.resolve_catalogs(definition.schema, _svc().designer.form_options(_user()))
    except ProcessDefinitionError as exc:
        return [], exc.message
    steps = [
        (step, build_form_view(schema, definition.ui, {}, {}, list(step.fields)))
        for step in definition.steps
        if not step.review
    ]
    return steps, None


BUILDER = "construtor"
NOT_PREVIEWED = (
    "A pré-visualização volta quando os campos estiverem corretos: confira o nome, o tipo e "
    "as opções de cada campo."
)


@dataclass
class _Editor:
    """The form editor's state for one request: texts, mode, rows and their messages."""

    values: dict[str, str]
    mode: str = BUILDER  # "construtor" (rows) or "json" (the two texts)
    title: str = ""
    rows: list[form_builder.Row] | None = None
    row_errors: dict[int, dict[str, str]] = field(default_factory=dict)
    focus: int | None = None
    focus_on: str = ""
    problems: list[Problem] = field(default_factory=list)
    upload_errors: dict[str, str] = field(default_factory=dict)
    notice: str | None = None
    preview_texts: tuple[str, str] | None = None  # None: the values' texts
    preview_error: str | None = None
    status: int = 200
    warnings: list[str] = field(default_factory=list)


def _editor_values(edit: Any) -> dict[str, str]:
    return {
        "schema_file": edit.schema_file,
        "ui_file": edit.ui_file,
        "schema_text": edit.schema_text,
        "ui_text": edit.ui_text,
        "version": str(edit.draft_version),
    }


@bp.route("/processos/<pid>/formularios/<task_id>", methods=["GET", "POST"])
@role_required(ROLE)
def form_editor(pid: str, task_id: str) -> Any:
    """A task's form: the builder (rows, the default) or the JSON editor (``modo=json``),
    with the live preview. Both post here; nothing typed is lost on an error."""
    designer = _svc().designer
    edit = designer.task_form(_user(), pid, task_id)
    state = _Editor(values=_editor_values(edit))
    state.mode = "json" if request.args.get("modo") == "json" else BUILDER
    status = 200
    if request.method == "POST":
        form = request.form
        state.values.update({k: form.get(k, "") for k in state.values})
        state.mode = BUILDER if form.get("modo") == BUILDER else "json"
        if state.mode == BUILDER:
            action = _builder_post(state, form)
        else:
            action = form.get("_action", "preview")
            if action == "to_builder":
                state.mode = BUILDER
            action = "save" if action == "save" else "preview"
        if action == "save" and not state.row_errors:
            saved = _save_form(designer, pid, task_id, state)
            if saved is not None:
                flash(f"Formulário de “{edit.task.name}” salvo no rascunho.", "success")
                for warning in state.warnings:
                    flash(warning, "warning")
                _flash_remaining(saved.problems)
                return redirect(url_for("designer.model", pid=pid))
        if state.row_errors or state.problems:
            status = state.status if state.status != 200 else 422
    return _editor_page(pid, edit, state, status)


def _builder_post(state: _Editor, form: Any) -> str:
    """Reads the rows and runs the clicked button; returns "save" or "preview"."""
    rows = fb_web.read_rows(form)
    state.title = form.get("form_title", "")
    action = fb_web.read_action(form.get("_action"), len(rows))
    rows, state.focus = fb_web.apply_action(rows, action)
    state.focus_on = fb_web.focus_on(action)
    state.rows = rows
    built = form_builder.to_json(
        state.title, rows, state.values["schema_text"], state.values["ui_text"]
    )
    if action.kind in ("add", "remove", "up", "down"):
        # A row button is no time for messages (a new row is empty); the preview follows.
        if built.ok:
            state.preview_texts = (built.schema_text, built.ui_text)
        else:
            state.preview_error = NOT_PREVIEWED
        return "preview"
    if not built.ok:
        state.row_errors = built.errors
        if built.form_error:
            state.problems = [Problem(None, built.form_error)]
        state.preview_error = NOT_PREVIEWED
        return "preview"
    # The JSON written becomes the base: rows are read back from it (names are now origins).
    state.values["schema_text"], state.values["ui_text"] = built.schema_text, built.ui_text
    state.warnings = built.warnings
    state.rows = None
    if action.kind == "to_json":
        state.mode = "json"
    return "save" if action.kind == "save" else "preview"


def _save_form(designer: Any, pid: str, task_id: str, state: _Editor) -> Any:
    values = state.values
    try:
        return designer.save_form(
            _user(),
            pid,
            task_id,
            (values["schema_file"], values["ui_file"]),
            (values["schema_text"], values["ui_text"]),
            _version_arg(values["version"]),
        )
    except (ModelRejected, Conflict) as exc:
        state.status = exc.status
        state.problems = (
            exc.problems if isinstance(exc, ModelRejected) else [Problem(None, exc.message)]
        )
    return None


def _editor_page(pid: str, edit: Any, state: _Editor, status: int) -> Any:
    values = state.values
    json_only: dict[str, str] = {}
    hidden: list[str] = []
    if state.mode == BUILDER and state.rows is None:
        try:
            read = form_builder.to_rows(values["schema_text"], values["ui_text"])
        except ProcessDefinitionError as exc:
            state.mode = "json"
            state.notice = f"O construtor não abre este formulário: {exc.message}"
        else:
            state.rows, state.title = read.rows, read.title
            json_only, hidden = read.json_only, read.hidden
    elif state.rows is not None:
        json_only = fb_web.json_only_of(state.rows, values["schema_text"], values["ui_text"])
        base = _parsed(values["schema_text"], values["ui_text"])
        hidden = form_builder.hidden_fields(*base) if base else []
    if state.preview_error:
        steps: list[Any] = []
        preview_error: str | None = state.preview_error
    else:
        steps, preview_error = _preview(
            *(state.preview_texts or (values["schema_text"], values["ui_text"]))
        )
    rows = fb_web.row_views(
        state.rows or [], state.row_errors, json_only, state.focus, state.focus_on
    )
    page = render_template(
        "designer/form_editor.html",
        pid=pid,
        edit=edit,
        values=values,
        mode=state.mode,
        form_title=state.title,
        rows=rows,
        json_only=json_only,
        hidden_fields=hidden,
        kinds=form_builder.KINDS,
        step_titles=list(dict.fromkeys(r.row.step for r in rows if r.row.step.strip())),
        problems=state.problems,
        upload_errors=state.upload_errors,
        notice=state.notice,
        warnings=state.warnings,
        steps=steps,
        preview_error=preview_error,
        max_upload_kb=MAX_FORM_UPLOAD_BYTES // 1024,
    )
    return page, status


def _parsed(schema_text: str, ui_text: str) -> tuple[dict[str, Any], dict[str, Any]] | None:
    try:
        return form_builder.parse_texts(schema_text, ui_text)
    except ProcessDefinitionError:
        return None


@bp.post("/processos/<pid>/formularios/<task_id>/arquivos")
@role_required(ROLE)
def form_upload(pid: str, task_id: str) -> Any:
    """Form files uploaded into the JSON editor: read and checked, shown, not saved (the
    designer sees the preview and saves, as with any edit)."""
    designer = _svc().designer
    edit = designer.task_form(_user(), pid, task_id)
    state = _Editor(values=_editor_values(edit), mode="json")
    state.values["version"] = request.form.get("version", state.values["version"])
    read_any = False
    for field_name, key in (("arquivo_esquema", "schema_text"), ("arquivo_ui", "ui_text")):
        upload = request.files.get(field_name)
        if upload is None or not upload.filename:
            continue
        data = upload.stream.read(MAX_FORM_UPLOAD_BYTES + 1)
        try:
            state.values[key] = read_form_upload(field_name, upload.filename, data)
        except ValidationFailed as exc:
            state.upload_errors.update(exc.errors)
        else:
            read_any = True
    if not read_any and not state.upload_errors:
        state.upload_errors["arquivo_esquema"] = "Escolha ao menos um arquivo .json."
    if state.upload_errors:
        return _editor_page(pid, edit, state, 422)
    state.notice = (
        "Arquivos lidos: confira a pré-visualização e clique em “Salvar no rascunho” "
        "para guardá-los (nada foi salvo ainda)."
    )
    return _editor_page(pid, edit, state, 200)


@bp.post("/processos/<pid>/formularios/<task_id>/previa")
@role_required(ROLE)
def form_preview(pid: str, task_id: str) -> Any:
    """HTML fragment for htmx: the live preview of the texts, or of the builder's rows."""
    form = request.form
    schema_text, ui_text = form.get("schema_text", ""), form.get("ui_text", "")
    if form.get("modo") == BUILDER:
        rows = fb_web.read_rows(form)
        built = form_builder.to_json(form.get("form_title", ""), rows, schema_text, ui_text)
        if not built.ok:
            return render_template(
                "designer/_form_preview.html", steps=[], preview_error=NOT_PREVIEWED
            )
        schema_text, ui_text = built.schema_text, built.ui_text
    steps, error = _preview(schema_text, ui_text)
    return render_template("designer/_form_preview.html", steps=steps, preview_error=error)


# ------------------------------------------------------------------ scenarios


@bp.post("/processos/<pid>/cenarios")
@role_required(ROLE)
def save_scenario(pid: str) -> Any:
    """Create a scenario, or edit one on the version its editor showed (a hidden field):
    a refused save comes back with what was typed in the editor it came from."""
    scenario_id = to_int(request.form.get("scenario_id", "")) or None
    # A page without the field (older than it) is older than any edit: refused.
    seen = (to_int(request.form.get("version", "")) or 0) if scenario_id else None
    typed = request.form.to_dict()
    try:
        _svc().designer.save_scenario(
            _user(),
            pid,
            request.form.get("name", ""),
            request.form.get("steps", ""),
            request.form.get("expected_end", ""),
            scenario_id,
            seen,
        )
    except Conflict as exc:
        # The editor comes back with what was typed, beside the scenario as it is now
        # (and its current version: saving again replaces it knowingly).
        return _model_page(
            pid,
            409,
            scenario_failed=scenario_id,
            scenario_stale=exc.message,
            scenario_form=typed,
            scenario_errors={},
        )
    except ValidationFailed as exc:
        return _model_page(
            pid, 422, scenario_failed=scenario_id, scenario_errors=exc.errors, scenario_form=typed
        )
    flash("Cenário salvo.", "success")
    return redirect(url_for("designer.model", pid=pid) + "#cenarios")


@bp.post("/processos/<pid>/cenarios/<int:scenario_id>/excluir")
@role_required(ROLE)
def delete_scenario(pid: str, scenario_id: int) -> Any:
    _svc().designer.delete_scenario(_user(), pid, scenario_id)
    flash("Cenário excluído.", "info")
    return redirect(url_for("designer.model", pid=pid) + "#cenarios")


@bp.post("/processos/<pid>/cenarios/executar")
@role_required(ROLE)
def run_scenarios(pid: str) -> Any:
    try:
        reports = _svc().designer.run_scenarios(_user(), pid)
    except ModelRejected as exc:
        return _model_page(pid, exc.status, publish_error=exc.message)
    return _model_page(pid, reports=reports)


# ------------------------------------------------------------------ publishing


@bp.post("/processos/<pid>/publicar")
@role_required(ROLE)
def publish(pid: str) -> Any:
    try:
        version = _svc().designer.publish(
            _user(),
            pid,
            _version_arg(request.form.get("version")),
            request.form.get("note", ""),
        )
    except ScenariosFailed as exc:
        return _model_page(pid, exc.status, reports=exc.reports, publish_error=exc.message)
    except (ModelRejected, Conflict) as exc:
        return _model_page(pid, exc.status, publish_error=exc.message)
    flash(
        f"Versão {version.number} publicada: novos chamados já seguem esta versão; "
        "os em andamento continuam na versão em que começaram.",
        "success",
    )
    if version.created_groups:
        flash(
            "Grupos criados para as raias do modelo: "
            + ", ".join(version.created_groups)
            + ". Estão vazios: um(a) administrador(a) inclui os membros em “Grupos”.",
            "warning",
        )
    return redirect(url_for("designer.model", pid=pid))


# ------------------------------------------------------------------ migration


@bp.get("/processos/<pid>/migracao")
@role_required(ROLE)
def migration_plan(pid: str) -> Any:
    target = to_int(request.args.get("para"))
    if target is None:
        raise NotFound("Escolha a versão de destino.")
    checks = _svc().tickets.migration_plan(_user(), pid, target)
    return render_template(
        "designer/migration.html", pid=pid, target=target, checks=checks, results=None
    )


@bp.post("/processos/<pid>/migracao")
@role_required(ROLE)
def migrate(pid: str) -> Any:
    target = to_int(request.form.get("para"))
    if target is None:
        raise NotFound("Escolha a versão de destino.")
    ids = [i for i in map(to_int, request.form.getlist("chamado")) if i is not None]
    results = _svc().tickets.migrate(_user(), pid, target, ids) if ids else []
    if not ids:
        flash("Marque ao menos um chamado para migrar.", "warning")
    moved = sum(r.moved for r in results)
    if results:
        tone = "success" if moved else "warning"
        flash(f"{moved} de {len(results)} chamado(s) migrado(s).", tone)
    checks = _svc().tickets.migration_plan(_user(), pid, target)
    page = render_template(
        "designer/migration.html", pid=pid, target=target, checks=checks, results=results
    )
    return page


# ------------------------------------------------------------------ a ticket's diagram


@bp.get("/chamados/<int:chamado_id>/diagrama")
@login_required
def ticket_diagram(chamado_id: int) -> Any:
    """JSON for the diagram viewer; "not found" for anyone but the requester and staff."""
    try:
        diagram = _svc().tickets.diagram(_user(), chamado_id)
    except NotFound as exc:
        return jsonify(title=exc.title, detail=exc.message), 404
    response = jsonify(diagram.as_dict())
    response.headers["Cache-Control"] = "private, no-store"
    return response


def chamado_diagram(chamado_id: int) -> TicketDiagram | None:
    """For ``_diagram.html``: the steps as text (works without JavaScript), or None."""
    user = current_user()
    if user is None:
        return None
    try:
        return _svc().tickets.diagram(cast(Actor, user), chamado_id)
    except DomainError:
        return None
