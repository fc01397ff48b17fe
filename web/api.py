"""REST API under /api/v1, described by web/openapi.json (served at /api/v1/openapi.json).

Authentication, in this order:

* ``Authorization: Bearer chm_...`` — an API token (the facade's ``sessions.token_user``);
  the session cookie is then ignored, so such requests need no CSRF token.
* the browser session (loaded by web.auth); mutating requests must then carry the
  page's CSRF token in ``X-CSRFToken``: the blueprint is exempt from Flask-WTF's
  global check and enforces it itself for cookie-authenticated requests only.

Every action goes through the engine's use cases; errors are RFC 9457 problem details
(engine errors are mapped by web.errors).
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

from flask import Blueprint, Flask, Response, current_app, g, jsonify, request, url_for
from flask_wtf.csrf import CSRFError

from engine.errors import DomainError, Forbidden, NotFound, ValidationFailed
from engine.service import (
    DATA_COPY_KEEP_DAYS,
    MAX_AGE_DAYS,
    OUTAGE_MAX_LINKS,
    QUEUE_VIEWS,
    STAFF_ROLES,
    Attachment,
    AuditEvent,
    Chamado,
    ChamadoView,
    CopyState,
    HumanTask,
    MyDataSummary,
    Notice,
    OutageView,
    QueueFilters,
    TaskForm,
    UnreadablePath,
    access_log,
    incidents,
    limits,
    listing,
    read_model_zip,
)
from web import csrf
from web import dashboard as web_dashboard
from web.auth import CurrentUser, current_user
from web.context import service as _service
from web.errors import problem
from web.params import MAX_INT, query_code, query_int
from web.privacy import copy_response

bp = Blueprint("api", __name__, url_prefix="/api/v1")

OPENAPI_PATH = Path(__file__).with_name("openapi.json")
_OPENAPI_KEY = "chamados.openapi"
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_PUBLIC_ENDPOINTS = frozenset({"api.openapi"})
# Bounds of query and body values, as documented in openapi.json: beyond them a value
# names nothing a database row can hold.
_MAX_ID = 2**31 - 1
_MAX_PAGE = 100_000
_MAX_STEP = 50  # a wizard step id (human_tasks.draft_step)
# Any BPMN process id (an XML NCName, as engine.designer.template.PROCESS_ID).
_PROCESS_ID = re.compile(r"[^\W\d][\w.\-]{0,99}")


def init_api(app: Flask) -> None:
    # Loaded and checked once: a broken document fails at start-up, not on a request.
    app.extensions[_OPENAPI_KEY] = json.dumps(json.loads(OPENAPI_PATH.read_text("utf-8")))
    csrf.exempt(bp)
    app.register_blueprint(bp)


def _user() -> CurrentUser:
    return cast(CurrentUser, g.user)


# --- authentication --------------------------------------------------------------------------


def bearer_user(plaintext: str) -> CurrentUser | None:
    """The user behind an API token, with their roles; None if unknown or revoked
    (checked on every request, outside any transaction: engine.usecases.sessions)."""
    principal = _service().sessions.token_user(plaintext)
    return CurrentUser.of(principal) if principal is not None else None


def _unauthorized(detail: str, error: str | None = None) -> tuple[Response, int]:
    response, code = problem(401, "Não autenticado", detail)
    challenge = 'Bearer realm="chamados"' + (f', error="{error}"' if error else "")
    response.headers["WWW-Authenticate"] = challenge
    return response, code


@bp.before_request
def _authenticate() -> Any:
    if request.endpoint in _PUBLIC_ENDPOINTS:
        return None
    header = request.headers.get("Authorization")
    if header is not None:
        scheme, _, credentials = header.strip().partition(" ")
        if scheme.lower() != "bearer" or not credentials.strip():
            return _unauthorized("Use o cabeçalho Authorization: Bearer <token>.")
        user = bearer_user(credentials.strip())
        if user is None:
            return _unauthorized("Token de API inválido ou revogado.", "invalid_token")
        g.user = user  # the token decides, whatever cookie came along
        g.auth_method = "token"
        return None
    if current_user() is None:
        return _unauthorized("Entre com a sua conta gov.br ou envie um token de API.")
    g.auth_method = "session"
    if request.method not in _SAFE_METHODS and current_app.config.get("WTF_CSRF_ENABLED", True):
        try:
            csrf.protect()
        except CSRFError:
            return problem(
                400,
                "Token CSRF inválido",
                "Requisições feitas com a sessão do navegador precisam do cabeçalho "
                "X-CSRFToken com o token da página. Integrações devem usar um token de API.",
            )
    return None


# --- serialisation ---------------------------------------------------------------------------


def iso(value: datetime | None) -> str | None:
    """ISO 8601 in UTC with a "Z"; naive values are UTC already (SQLite drops the zone)."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def incident_json(c: Chamado, staff: bool) -> dict[str, Any] | None:
    """The ticket's technical incident: when and a notice for everyone; for staff also
    the element, the engine's message and the step waiting to run again."""
    if c.incident_at is None:
        return None
    body: dict[str, Any] = {"at": iso(c.incident_at), "notice": incidents.NOTICE}
    if staff:
        action = incidents.PendingAction.from_json(c.incident_action)
        body["element"] = c.incident_element
        body["message"] = c.incident_message
        body["action"] = {
            "kind": action.kind,
            "description": incidents.describe(c.incident_action),
            "element": action.element,
            "task_id": action.task_id,
            "timer_id": action.timer_id,
        }
    return body


def chamado_json(c: Chamado, staff: bool = False) -> dict[str, Any]:
    return {
        "id": c.id,
        "protocolo": c.protocolo,
        "status": c.status,
        "status_label": c.status_label or c.status,
        "status_tone": c.status_tone,
        "version": c.version,
        "process_version_id": c.process_version_id,
        "requester_id": c.requester_id,
        "servico": c.servico,
        "orgao_id": c.orgao_id,
        "orgao": _service().analysis.chamado_orgao(c),
        "categoria": c.categoria,
        "adjustment_rounds": c.adjustment_rounds,
        "outcome_message": c.outcome_message,
        "created_at": iso(c.created_at),
        "submitted_at": iso(c.submitted_at),
        "updated_at": iso(c.updated_at),
        "closed_at": iso(c.closed_at),
        "incident": incident_json(c, staff),
    }


def task_json(t: HumanTask) -> dict[str, Any]:
    return {
        "id": t.id,
        "chamado_id": t.chamado_id,
        "name": t.task_name,
        "title": t.title,
        "lane": t.lane,
        "group": t.group,
        "state": t.state,
        "assignee_id": t.assignee_id,
        "created_at": iso(t.created_at),
        "claimed_at": iso(t.claimed_at),
        "completed_at": iso(t.completed_at),
    }


def _task_with_chamado(t: HumanTask, staff: bool = False) -> dict[str, Any]:
    return {"task": task_json(t), "chamado": chamado_json(t.chamado, staff)}


def attachment_json(a: Attachment) -> dict[str, Any]:
    return {
        "id": a.id,
        "filename": a.filename,
        "content_type": a.content_type,
        "size": a.size,
        "created_at": iso(a.created_at),
    }


def event_json(e: AuditEvent, staff: bool) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": e.id,
        "at": iso(e.at),
        "action": e.action,
        "summary": e.summary,
        "message": e.message,
        "public": e.public,
    }
    if staff:  # who did what, and the raw details, are for staff only (as on the pages)
        body["actor"] = {"id": e.actor.id, "name": e.actor.display_name} if e.actor else None
        body["details"] = e.details
    return body


def task_form_json(form: TaskForm) -> dict[str, Any]:
    return {
        "task": task_json(form.task),
        "chamado": chamado_json(form.chamado),
        "schema": form.schema,
        "ui_schema": form.ui,
        "data": form.data,
        "step": form.step,
        "version": form.chamado.version,
        "attachments": [attachment_json(a) for a in form.attachments],
        "request_message": form.request_message,
        "instructions": form.instructions,
        "submit_label": form.submit_label,
    }


def chamado_view_json(view: ChamadoView, staff: bool) -> dict[str, Any]:
    open_tasks = view.open_tasks if staff else [t for t in [view.requester_task] if t]
    body: dict[str, Any] = {
        "chamado": chamado_json(view.chamado, staff),
        "process_title": view.process_title,
        "forms": [
            {
                "title": f.title,
                "group": f.group,
                "form_schema": f.form_schema,
                "schema": f.schema,
                "ui_schema": f.ui,
                "data": f.data,
            }
            for f in view.forms
        ],
        "events": [event_json(e, staff) for e in view.events],
        "attachments": [attachment_json(a) for a in view.attachments],
        "open_tasks": [task_json(t) for t in open_tasks],
        "request_message": view.request_message,
    }
    if staff:
        body["changes"] = [
            {
                "field": c.field,
                "title": c.title,
                "old": c.old,
                "new": c.new,
                "old_display": c.old_display,
                "new_display": c.new_display,
            }
            for c in view.changes
        ]
    return body


# --- request parsing -------------------------------------------------------------------------


def _json_body() -> dict[str, Any]:
    """The request's JSON object. Its size was capped before reading (web.limits: 413);
    nesting and NaN are refused while parsing, so nothing after it recurses deeply."""
    if not request.is_json:
        raise DomainError("Envie um objeto JSON com Content-Type: application/json.")
    try:
        body = limits.loads(request.get_data())
    except limits.JsonRejected as exc:
        raise DomainError(exc.message) from exc
    except ValueError as exc:  # malformed JSON or text that is not UTF-8
        raise DomainError("O corpo não é um JSON válido.") from exc
    if not isinstance(body, dict):
        raise DomainError("Envie um objeto JSON com Content-Type: application/json.")
    return body


def _data_field(body: dict[str, Any], errors: dict[str, str]) -> dict[str, Any]:
    data = body.get("data")
    if not isinstance(data, dict):
        errors["data"] = "Informe os dados do formulário como um objeto JSON."
        return {}
    return data


def _int_param(
    name: str, errors: dict[str, str], minimum: int = 0, maximum: int = _MAX_ID
) -> int | None:
    try:
        return query_int(name, minimum, maximum)
    except ValidationFailed as exc:
        errors.update(exc.errors)
        return None


def _code_param(name: str, errors: dict[str, str]) -> str | None:
    try:
        return query_code(name)
    except ValidationFailed as exc:
        errors.update(exc.errors)
        return None


def _queue_filters() -> QueueFilters:
    errors: dict[str, str] = {}
    view = request.args.get("view") or "disponiveis"
    if view not in QUEUE_VIEWS:
        errors["view"] = f"Use um destes valores: {', '.join(QUEUE_VIEWS)}."
    situacao = request.args.get("situacao") or None
    if situacao not in (None, "novo", "reenviado"):
        errors["situacao"] = "Use novo ou reenviado."
    filters = QueueFilters(
        view=view,
        orgao_id=_int_param("orgao", errors, 1),
        categoria=_code_param("categoria", errors),
        process_id=_code_param("processo", errors),
        group=_code_param("grupo", errors),
        situacao=situacao,
        min_age_days=_int_param("idade", errors, 0, MAX_AGE_DAYS),
        page=_int_param("page", errors, 1, _MAX_PAGE) or 1,
    )
    if errors:
        raise ValidationFailed(errors, "Parâmetros de consulta inválidos.")
    return filters


def _list_request(kind: str) -> listing.ListRequest:
    args = request.args
    view = args.get("view") if len(listing.VIEWS[kind]) > 1 else None
    return listing.parse_request(kind, view, args.get("cursor"), args.get("limit"))


def _paging(page: listing.Page[Any], kind: str, endpoint: str) -> dict[str, Any]:
    """Where the page is, and links to its neighbours (None at either end)."""
    view = page.view if len(listing.VIEWS[kind]) > 1 else None

    def link(cursor: str | None) -> str | None:
        if cursor is None:
            return None
        return url_for(endpoint, view=view, cursor=cursor, limit=page.limit)

    return {
        "limit": page.limit,
        "next_cursor": page.next_cursor,
        "prev_cursor": page.prev_cursor,
        "links": {"next": link(page.next_cursor), "prev": link(page.prev_cursor)},
        **({"view": view} if view else {}),
    }


# --- endpoints -------------------------------------------------------------------------------


@bp.get("/openapi.json")
def openapi() -> Response:
    return Response(current_app.extensions[_OPENAPI_KEY], mimetype="application/json")


@bp.post("/processes/<process_id>/instances")
def start_instance(process_id: str) -> Any:
    if not _PROCESS_ID.fullmatch(process_id):
        # Not an id any process can have (and a NUL PostgreSQL would refuse in a query).
        raise NotFound(f"O processo {process_id[:100]!r} não está implantado.")
    svc, user = _service(), _user()
    # The use case hands back the requester's first task: no second read for it.
    chamado, first = svc.requests.start_instance(user, process_id)
    body: dict[str, Any] = {
        "chamado": chamado_json(chamado),
        "task": task_json(first) if first else None,
    }
    if chamado.incident_at is not None:
        body["message"] = incidents.STARTED
    location = url_for("api.get_chamado", chamado_id=chamado.id)
    return jsonify(body), 201, {"Location": location}


@bp.get("/services")
def list_services() -> Any:
    _user()
    return jsonify(
        items=[
            {
                "process_id": s.process_id,
                "title": s.title,
                "description": s.description,
                "start_label": s.start_label,
            }
            for s in _service().requests.services()
        ]
    )


@bp.get("/tasks")
def list_tasks() -> Any:
    """The caller's ready tasks, a page at a time: on their tickets, analyses they hold."""
    page = _service().requests.my_tasks(_user(), _list_request(listing.TASKS))
    return jsonify(
        items=[_task_with_chamado(t) for t in page.items],
        **_paging(page, listing.TASKS, "api.list_tasks"),
    )


@bp.get("/queue")
def queue() -> Any:
    result = _service().analysis.queue(_user(), _queue_filters())
    items = [_task_with_chamado(t, staff=True) for t in result.items]
    items += [{"task": None, "chamado": chamado_json(c, staff=True)} for c in result.incidents]
    return jsonify(
        items=items,
        total=result.total,
        page=result.page,
        pages=result.pages,
        counts=result.counts,
        count_cap=result.count_cap,
    )


@bp.get("/dashboard")
def dashboard_panel() -> Any:
    """The Painel's figures (supervisors and admins), filtered as the page is."""
    user = _user()
    filters = _service().dashboard.filters(user, web_dashboard.filter_args())
    return jsonify(web_dashboard.panel_json(_service().dashboard.panel(user, filters)))


@bp.get("/search")
def search() -> Any:
    result = _service().search.tickets(_user(), request.args.get("q", ""))
    items = [
        {"chamado": chamado_json(c, staff=True), "requester_name": c.requester.display_name}
        for c in result.items
    ]
    return jsonify(query=result.query, items=items, more=result.more)


@bp.get("/tasks/<int:task_id>")
def get_task(task_id: int) -> Any:
    # ?as_admin=true: an admin reads any ready task's form, to complete it on its
    # holder's behalf (POST …/complete-as-admin).
    as_admin = request.args.get("as_admin", "").lower() in ("true", "1")
    return jsonify(
        task_form_json(_service().requests.task_form(_user(), task_id, on_behalf=as_admin))
    )


@bp.put("/tasks/<int:task_id>/draft")
def save_draft(task_id: int) -> Any:
    body = _json_body()
    errors: dict[str, str] = {}
    data = _data_field(body, errors)
    step = body.get("step")
    if step is not None and (
        not isinstance(step, str) or len(step) > _MAX_STEP or limits.forbidden_character(step)
    ):
        errors["step"] = f"Informe o passo como texto de até {_MAX_STEP} caracteres."
    errors.update({f"data.{k}": v for k, v in limits.draft_problems(data).items()})
    if errors:
        raise ValidationFailed(errors)
    _service().requests.save_draft(_user(), task_id, data, step)
    return "", 204


@bp.get("/tasks/<int:task_id>/ready-answers")
def task_ready_answers(task_id: int) -> Any:
    """The ready answers a staff task's form offers for its ticket, filled in."""
    form = _service().requests.task_form(_user(), task_id)
    offered = _service().ready_answers.offered(_user(), form.chamado.id, form.schema)
    return jsonify(
        fields={
            field: [
                {"id": a.id, "title": a.title, "text": a.text, "value_label": a.code_label}
                for a in answers
            ]
            for field, answers in offered.items()
        }
    )


def ready_answer_json(a: Any) -> dict[str, Any]:
    return {
        "id": a.id,
        "title": a.title,
        "text": a.body,
        "catalog": a.catalog,
        "value": a.code,
        "value_label": a.code_label,
        "active": a.active,
        "version": a.version,
    }


@bp.get("/ready-answers")
def list_ready_answers() -> Any:
    return jsonify(items=[ready_answer_json(a) for a in _service().ready_answers.list(_user())])


@bp.post("/ready-answers")
def create_ready_answer() -> Any:
    body = _json_body()
    errors: dict[str, str] = {}
    values: dict[str, str | None] = {}
    for name in ("title", "text", "catalog", "value"):
        raw = body.get(name)
        if raw is not None and not isinstance(raw, str):
            errors[name] = "Informe um texto."
        values[name] = raw
    if errors:
        raise ValidationFailed(errors)
    fields = {"titulo": "title", "texto": "text", "catalogo": "catalog", "valor": "value"}
    user = _user()
    try:
        answer_id = _service().ready_answers.save(
            user,
            None,
            values["title"] or "",
            values["text"] or "",
            values["catalog"] or "",
            values["value"],
        )
    except ValidationFailed as refused:
        raise ValidationFailed(
            {fields.get(k, k): v for k, v in refused.errors.items()}, refused.message
        ) from None
    return jsonify(ready_answer_json(_service().ready_answers.get(user, answer_id))), 201


def _completion_body() -> tuple[dict[str, Any], int]:
    """The form's data and the ticket's version a completion was made on."""
    body = _json_body()
    errors: dict[str, str] = {}
    data = _data_field(body, errors)
    version = body.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or not 0 <= version <= MAX_INT:
        errors["version"] = "Informe a versão do chamado lida com a tarefa (número inteiro)."
    if errors:
        raise ValidationFailed(errors)
    return data, cast(int, version)


@bp.post("/tasks/<int:task_id>/submit")
def submit_task(task_id: int) -> Any:
    data, version = _completion_body()
    chamado = _service().requests.complete_task(_user(), task_id, data, version)
    return _completed(chamado)


@bp.post("/tasks/<int:task_id>/complete-as-admin")
def complete_task_as_admin(task_id: int) -> Any:
    """An admin completes any ready task on its holder's behalf (audited as such)."""
    user = _user()
    if "admin" not in user.roles:  # checked again by the use case; before reading
        raise Forbidden("Apenas administradores concluem tarefas em nome de outra pessoa.")
    data, version = _completion_body()
    chamado = _service().requests.complete_task_on_behalf(user, task_id, data, version)
    return _completed(chamado)


def _completed(chamado: Chamado) -> Any:
    if chamado.incident_at is not None:
        # Received, not yet processed: the step waits in a technical incident.
        return jsonify(chamado=chamado_json(chamado), message=incidents.RECEIVED), 202
    return jsonify(chamado=chamado_json(chamado))


def _version_field(body: dict[str, Any], errors: dict[str, str]) -> int:
    version = body.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or not 0 <= version <= MAX_INT:
        errors["version"] = "Informe a versão do chamado lida com ele (número inteiro)."
        return 0
    return version


@bp.post("/chamados/<int:chamado_id>/retry")
def retry_incident(chamado_id: int) -> Any:
    """An admin runs a ticket's pending step again, after a technical incident."""
    errors: dict[str, str] = {}
    version = _version_field(_json_body(), errors)
    if errors:
        raise ValidationFailed(errors)
    outcome = _service().incidents.retry_incident(_user(), chamado_id, version)
    return jsonify(
        chamado=chamado_json(outcome.chamado, staff=True),
        resolved=outcome.resolved,
        message=outcome.message,
    )


@bp.post("/tasks/<int:task_id>/claim")
def claim_task(task_id: int) -> Any:
    _service().analysis.claim(_user(), task_id)
    return "", 204


@bp.post("/models")
def deploy_models() -> Any:
    """A designer deploys a SpiffArena process-model folder sent as a zip."""
    user = _user()
    if "designer" not in user.roles:  # checked again by the use case; before reading
        raise Forbidden("Apenas designers de processos implantam modelos.")
    if request.mimetype not in ("application/zip", "application/octet-stream"):
        raise DomainError("Envie a pasta do modelo como um zip, com Content-Type: application/zip.")
    try:
        folder = read_model_zip("modelo.zip", request.get_data(cache=False))
    except UnreadablePath as exc:
        raise DomainError(str(exc).removeprefix("modelo.zip: ")) from exc
    note = (request.args.get("nota") or "")[:2000]
    if limits.forbidden_character(note, multiline=True):
        raise DomainError("A nota contém um caractere de controle inválido; nada foi implantado.")
    result = _service().designer.deploy_folder(folder, note, actor=user)
    if not result.ok:
        first = result.problems[0].message
        more = len(result.problems) - 1
        return problem(
            422,
            "Modelo de processo inválido",
            first if not more else f"{first} (e mais {more} problema(s))",
            problems=[p.as_dict() for p in result.problems],
            notes=result.notes,
        )
    body = {
        "process_id": result.process_id,
        "version": result.number,
        "unchanged": result.unchanged,
        "created_groups": result.created_groups,
        "notes": result.notes,
    }
    return jsonify(body), 200 if result.unchanged else 201


@bp.post("/messages/<name>")
def send_message(name: str) -> Any:
    """A BPMN message from outside: to the instances waiting for it (correlated by the
    payload, as each model defines), and the start of processes that begin with it."""
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise DomainError('Envie um objeto JSON: {"payload": {...}}.')
    delivery = _service().messages.send_message(_user(), name, body.get("payload", {}))
    return jsonify(
        name=delivery.name,
        delivered=delivery.delivered,
        started=delivery.started,
        failed=delivery.failed,
    )


@bp.post("/tasks/<int:task_id>/release")
def release_task(task_id: int) -> Any:
    _service().analysis.release(_user(), task_id)
    return "", 204


@bp.get("/chamados")
def list_chamados() -> Any:
    """The caller's tickets, a page at a time: open ones unless another view is asked."""
    page = _service().requests.my_chamados(_user(), _list_request(listing.CHAMADOS))
    return jsonify(
        items=[
            {"chamado": chamado_json(c), "open_task": task_json(t) if t else None}
            for c, t in page.items
        ],
        counts=page.counts,
        count_cap=page.count_cap,
        **_paging(page, listing.CHAMADOS, "api.list_chamados"),
    )


@bp.get("/chamados/<int:chamado_id>")
def get_chamado(chamado_id: int) -> Any:
    svc, user = _service(), _user()
    staff = bool(user.roles & STAFF_ROLES)
    view = (
        svc.analysis.analysis(user, chamado_id, channel=access_log.API)
        if staff
        else svc.requests.tracking(user, chamado_id)
    )
    return jsonify(chamado_view_json(view, staff))


# --- LGPD --------------------------------------------------------------------------------------


def copy_state_json(copy: CopyState | None) -> dict[str, Any] | None:
    if copy is None:
        return None
    return {
        "status": copy.status,
        "requested_at": iso(copy.requested_at),
        "ready_at": iso(copy.ready_at),
        "expires_at": iso(copy.expires_at),
        "bytes": copy.size,
        "instances": copy.instances,
        "download_url": url_for("api.my_data_copy") if copy.status == "ready" else None,
        "next_request_at": iso(copy.next_request_at),
    }


def my_data_json(view: MyDataSummary) -> dict[str, Any]:
    return {
        "generated_at": iso(view.generated_at),
        "account": view.account,
        "counts": view.counts,
        "count_cap": view.count_cap,
        "recent_instances": [
            {
                "id": r.id,
                "protocolo": r.protocolo,
                "process_title": r.processo,
                "status_label": r.situacao,
                "created_at": iso(r.criado_em),
                "closed_at": iso(r.encerrado_em),
                "emails": r.emails,
            }
            for r in view.recent
        ],
        "recent_accesses": [
            {"at": iso(a.at), "actor": a.actor_name, "channel": a.channel, "protocolo": a.protocolo}
            for a in view.accesses
        ],
        "copy": copy_state_json(view.copy),
        "copy_keep_days": DATA_COPY_KEEP_DAYS,
    }


@bp.get("/me/data")
def my_data() -> Any:
    """ "Meus dados" at once, simplified (LGPD art. 19, I): the account, counts, the latest
    instances and staff reads, and the state of the complete copy."""
    return jsonify(my_data_json(_service().privacy.my_data(_user())))


@bp.post("/me/data/copy")
def request_my_data_copy() -> Any:
    """Ask for the complete copy (LGPD art. 19, II); 409 while one is being prepared or
    the ready one is less than a day old."""
    svc, user = _service(), _user()
    svc.privacy.request_copy(user)
    return jsonify(copy_state_json(svc.privacy.copy_state(user))), 202


@bp.get("/me/data/copy")
def my_data_copy() -> Response:
    """The caller's complete copy once ready: the ``chamados.meus-dados/1`` document."""
    return copy_response(_service().privacy.my_copy(_user()))


@bp.get("/chamados/<int:chamado_id>/accesses")
def chamado_accesses(chamado_id: int) -> Any:
    """Who on the staff read this ticket's personal data (admins)."""
    chamado, rows = _service().privacy.accesses_for_chamado(_user(), chamado_id=chamado_id)
    return jsonify(
        protocolo=chamado.protocolo,
        items=[
            {
                "at": row.at.isoformat(),
                "actor": row.actor_name,
                "channel": row.channel,
                "item": row.item,
            }
            for row in rows
        ],
    )


# --- incidents ("Incidentes": outages of a service, engine.usecases.outages) ---------------


def outage_json(view: OutageView) -> dict[str, Any]:
    o = view.outage
    return {
        "id": o.id,
        "title": o.title,
        "public_text": o.public_text,
        "state": o.state,
        "state_label": view.state_label,
        "version": o.version,
        "process_id": o.process_id,
        "process_title": view.process_title,
        "group": o.group,
        "orgao_id": o.orgao_id,
        "orgao": view.orgao,
        "servico": o.servico,
        "categoria": o.categoria,
        "categoria_label": view.categoria,
        "created_at": iso(o.created_at),
        "resolved_at": iso(o.resolved_at),
    }


def _outage_detail_json(view: OutageView) -> dict[str, Any]:
    return {
        **outage_json(view),
        "subscribers": view.subscribers,
        "pending": view.pending,
        "links": [
            {
                "chamado": chamado_json(link.chamado, staff=True),
                "outcome": link.outcome,
                "outcome_label": link.outcome_label,
                "note": link.note,
            }
            for link in view.links
        ],
    }


def _notice_json(n: Notice) -> dict[str, Any]:
    return {
        "id": n.id,
        "title": n.title,
        "public_text": n.public_text,
        "orgao": n.orgao,
        "servico": n.servico,
        "categoria": n.categoria,
        "subscribed": n.subscribed,
    }


def _optional(body: dict[str, Any], name: str, kind: type, errors: dict[str, str]) -> Any:
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, kind) or isinstance(value, bool):
        errors[name] = "Informe um número inteiro." if kind is int else "Informe um texto."
        return None
    if isinstance(value, int) and not 0 <= value <= MAX_INT:
        errors[name] = "Número fora do intervalo."
        return None
    return value


@bp.get("/outages")
def list_outages() -> Any:
    return jsonify(items=[outage_json(v) for v in _service().outages.list(_user())])


@bp.post("/outages")
def create_outage() -> Any:
    body = _json_body()
    errors: dict[str, str] = {}
    values = {
        "title": _optional(body, "title", str, errors),
        "public_text": _optional(body, "public_text", str, errors),
        "process_id": _optional(body, "process_id", str, errors),
        "servico": _optional(body, "servico", str, errors),
        "categoria": _optional(body, "categoria", str, errors),
        "orgao_id": _optional(body, "orgao_id", int, errors),
        "from_chamado_id": _optional(body, "from_chamado_id", int, errors),
    }
    if errors:
        raise ValidationFailed(errors)
    names = {
        "titulo": "title",
        "texto_publico": "public_text",
        "processo": "process_id",
        "orgao": "orgao_id",
        "servico": "servico",
        "categoria": "categoria",
    }
    user = _user()
    try:
        outage_id = _service().outages.create(
            user,
            title=values["title"] or "",
            public_text=values["public_text"] or "",
            process_id=values["process_id"],
            orgao_id=values["orgao_id"],
            servico=values["servico"],
            categoria=values["categoria"],
            from_chamado_id=values["from_chamado_id"],
        )
    except ValidationFailed as refused:
        raise ValidationFailed(
            {names.get(k, k): v for k, v in refused.errors.items()}, refused.message
        ) from None
    return jsonify(_outage_detail_json(_service().outages.get(user, outage_id))), 201


@bp.get("/outages/<int:outage_id>")
def get_outage(outage_id: int) -> Any:
    return jsonify(_outage_detail_json(_service().outages.get(_user(), outage_id)))


@bp.put("/outages/<int:outage_id>/text")
def update_outage(outage_id: int) -> Any:
    """The title and public text of an open incident, on the version read."""
    body = _json_body()
    errors: dict[str, str] = {}
    title = _optional(body, "title", str, errors)
    public_text = _optional(body, "public_text", str, errors)
    version = _version_field(body, errors)
    if errors:
        raise ValidationFailed(errors)
    user = _user()
    try:
        _service().outages.update_text(user, outage_id, title or "", public_text or "", version)
    except ValidationFailed as refused:
        names = {"titulo": "title", "texto_publico": "public_text"}
        raise ValidationFailed(
            {names.get(k, k): v for k, v in refused.errors.items()}, refused.message
        ) from None
    return jsonify(_outage_detail_json(_service().outages.get(user, outage_id)))


@bp.post("/outages/<int:outage_id>/links")
def link_outage(outage_id: int) -> Any:
    body = _json_body()
    ids = body.get("chamado_ids")
    if (
        not isinstance(ids, list)
        or len(ids) > OUTAGE_MAX_LINKS
        or not all(
            isinstance(i, int) and not isinstance(i, bool) and 0 <= i <= MAX_INT for i in ids
        )
    ):
        raise ValidationFailed(
            {"chamado_ids": f"Informe uma lista de até {OUTAGE_MAX_LINKS} ids de chamados."}
        )
    report = _service().outages.link(_user(), outage_id, ids)
    return jsonify(
        linked=report.linked,
        refused=[{"chamado": who, "reason": why} for who, why in report.refused],
    )


@bp.post("/outages/<int:outage_id>/resolve")
def resolve_outage(outage_id: int) -> Any:
    errors: dict[str, str] = {}
    version = _version_field(_json_body(), errors)
    if errors:
        raise ValidationFailed({"version": "Informe a versão do incidente lida (número inteiro)."})
    report = _service().outages.resolve(_user(), outage_id, version)
    return jsonify(
        state=report.state, done=report.done, pending=report.pending, message=report.message
    )


@bp.get("/chamados/<int:chamado_id>/duplicates")
def chamado_duplicates(chamado_id: int) -> Any:
    _source, found = _service().outages.duplicates(_user(), chamado_id)
    return jsonify(
        items=[
            {
                "chamado": chamado_json(d.chamado, staff=True),
                "score": d.score,
                "outage_id": d.outage_id,
            }
            for d in found
        ]
    )


@bp.get("/services/<process_id>/known-problems")
def known_problems(process_id: str) -> Any:
    _service().requests.service(process_id)  # 404 for an unknown service
    return jsonify(items=[_notice_json(n) for n in _service().outages.notices(_user(), process_id)])


@bp.post("/outages/<int:outage_id>/subscription")
def subscribe_outage(outage_id: int) -> Any:
    return jsonify(_notice_json(_service().outages.subscribe(_user(), outage_id)))
