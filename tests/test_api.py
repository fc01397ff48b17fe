"""The REST API: the whole chamado over /api/v1 with bearer tokens, every response
checked against the OpenAPI document the app serves."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from flask_wtf.csrf import generate_csrf
from openapi_core import Config, OpenAPI
from openapi_core.contrib.werkzeug import WerkzeugOpenAPIRequest, WerkzeugOpenAPIResponse
from openapi_spec_validator import validate as validate_spec
from sqlalchemy import Engine, event, func, select

from engine import tokens, users
from engine.identity import Identity
from engine.models import ApiToken, Chamado
from engine.service import Chamados
from tests.conftest import database_url
from tests.test_auth import set_session_user
from tests.test_engine_lifecycle import registration
from web import create_app
from web.api import OPENAPI_PATH, init_api
from web.observability import init_observability
from web.tokens import init_tokens

MARIA, ANA, BRUNO, JOAO = "39053344705", "11144477735", "52998224725", "85351346893"
ANALYST_LANE = "Analista (CGATE/SGD)"


def wire(app: Flask) -> Flask:
    """Register this module's blueprints unless create_app already does."""
    if "observability" not in app.blueprints:
        init_observability(app)
    if "api" not in app.blueprints:
        init_api(app)
    if "tokens" not in app.blueprints:
        init_tokens(app)
    return app


def build_app(tmp_path: Path) -> Flask:
    app = create_app(
        {
            "DATABASE_URL": database_url(tmp_path),
            "TESTING": True,
            "SECRET_KEY": "test-secret",
            "OIDC_ISSUER": "http://127.0.0.1:9",  # never contacted: logins are set directly
            "LOG_JSON": False,
        }
    )
    wire(app)

    @app.get("/_csrf")
    def csrf_probe() -> str:
        return generate_csrf()

    app.extensions["chamados"].init_database()
    return app


@pytest.fixture
def app(tmp_path: Path) -> Iterator[Flask]:
    app = build_app(tmp_path)
    yield app
    app.extensions["chamados"].unit.db.dispose()


def person(app: Flask, cpf: str, name: str, *roles: str) -> str:
    """A person with roles and an API token; returns the token's plaintext."""
    svc: Chamados = app.extensions["chamados"]
    with svc.unit.transaction() as s:
        user = users.upsert_user(s, Identity(cpf=cpf, name=name, email=f"{cpf}@example.gov.br"))
        for role in roles:
            users.grant_role(s, cpf, role, None)
        plaintext, _row = tokens.create_token(s, user.id, "testes", user.id, svc.clock())
    return plaintext


# --- OpenAPI-checked client ------------------------------------------------------------------

_SPEC = json.loads(OPENAPI_PATH.read_text("utf-8"))
# openapi-core parses application/json only; problem details are JSON too.
_OPENAPI = OpenAPI.from_dict(
    _SPEC, config=Config(extra_media_type_deserializers={"application/problem+json": json.loads})
)


class _SentRequest(WerkzeugOpenAPIRequest):
    """The request as sent: its body stream was consumed by the app already, and only
    the operation (method and path) matters to find the response's schema."""

    @property
    def body(self) -> bytes | None:
        return None


def check_against_openapi(resp: Any) -> None:
    """The response matches the documented schema of its operation and status."""
    _OPENAPI.validate_response(_SentRequest(resp.request), WerkzeugOpenAPIResponse(resp))


class Api:
    def __init__(self, client: FlaskClient, token: str | None = None) -> None:
        self.client = client
        self.token = token

    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        expect: int = 200,
        headers: dict[str, str] | None = None,
    ) -> Any:
        sent = dict(headers or {})
        if self.token:
            sent["Authorization"] = f"Bearer {self.token}"
        resp = self.client.open(f"/api/v1{path}", method=method, json=body, headers=sent)
        assert resp.status_code == expect, resp.get_data(as_text=True)
        check_against_openapi(resp)
        if expect >= 400:
            assert resp.mimetype == "application/problem+json"
        return resp.get_json() if resp.data else None

    def get(self, path: str, **kw: Any) -> Any:
        return self.call("GET", path, **kw)

    def post(self, path: str, body: Any = None, **kw: Any) -> Any:
        return self.call("POST", path, body, **kw)

    def put(self, path: str, body: Any = None, **kw: Any) -> Any:
        return self.call("PUT", path, body, **kw)


@pytest.fixture
def people(app: Flask) -> dict[str, Api]:
    return {
        "maria": Api(app.test_client(), person(app, MARIA, "Maria da Silva")),
        "ana": Api(app.test_client(), person(app, ANA, "Ana Souza", "analyst")),
        "bruno": Api(app.test_client(), person(app, BRUNO, "Bruno Lima", "analyst")),
        "joao": Api(app.test_client(), person(app, JOAO, "João Pereira")),
    }


def queue_task_id(api: Api, chamado_id: int, view: str = "disponiveis") -> int:
    page = api.get(f"/queue?view={view}")
    return next(i["task"]["id"] for i in page["items"] if i["chamado"]["id"] == chamado_id)


# --- the lifecycle ---------------------------------------------------------------------------


def test_the_whole_story_over_the_api(people: dict[str, Api]) -> None:
    maria, ana, bruno, joao = (people[k] for k in ("maria", "ana", "bruno", "joao"))

    started = maria.post("/processes/chamado/instances", expect=201)
    chamado = started["chamado"]
    cid, task_id = chamado["id"], started["task"]["id"]
    assert chamado["protocolo"].startswith("CH-") and chamado["status"] == "rascunho"
    assert chamado["created_at"].endswith("Z")
    assert [i["task"]["id"] for i in maria.get("/tasks")["items"]] == [task_id]

    form = maria.get(f"/tasks/{task_id}")
    assert "nome_servico" in form["schema"]["properties"]
    assert form["ui_schema"] and form["data"]["solicitante_nome"] == "Maria da Silva"
    maria.put(
        f"/tasks/{task_id}/draft", {"data": {"nome_servico": "Aposent"}, "step": "x"}, expect=204
    )
    form = maria.get(f"/tasks/{task_id}")
    assert form["data"] == {"nome_servico": "Aposent"} and form["step"] == "x"

    # Missing and invalid fields are named; nothing moves.
    refused = maria.post(
        f"/tasks/{task_id}/submit",
        {"data": registration(telefone="123", nome_servico=None), "version": form["version"]},
        expect=422,
    )
    assert {"telefone", "nome_servico"} <= set(refused["errors"])
    assert refused["status"] == 422 and refused["detail"]

    sent = maria.post(
        f"/tasks/{task_id}/submit", {"data": registration(), "version": form["version"]}
    )
    assert sent["chamado"]["status"] == "em_analise"
    assert sent["chamado"]["orgao"].startswith("INSS")
    assert sent["chamado"]["version"] == form["version"] + 1
    assert maria.get("/tasks")["items"] == []
    # The task is done: submitting it again changes nothing.
    again = maria.post(
        f"/tasks/{task_id}/submit",
        {"data": registration(), "version": form["version"] + 1},
        expect=409,
    )
    assert "nada foi alterado" in again["detail"]

    # Ana claims it; Bruno is too late; Ana asks for an adjustment.
    analysis_id = queue_task_id(ana, cid)
    ana.post(f"/tasks/{analysis_id}/claim", expect=204)
    bruno.post(f"/tasks/{analysis_id}/claim", expect=409)
    assert [i["task"]["id"] for i in ana.get("/tasks")["items"]] == [analysis_id]
    form = ana.get(f"/tasks/{analysis_id}")
    assert form["instructions"] == "Pedidos de ajuste restantes: 5."
    refused = ana.post(
        f"/tasks/{analysis_id}/submit",
        {"data": {"decisao": "ajuste"}, "version": form["version"]},
        expect=422,
    )
    assert "ajuste_solicitado" in refused["errors"]
    decided = ana.post(
        f"/tasks/{analysis_id}/submit",
        {
            "data": {
                "decisao": "ajuste",
                "ajuste_solicitado": "Informe a mensagem de erro completa.",
                "nota_interna": "Parece o conector antigo.",
            },
            "version": form["version"],
        },
    )
    assert decided["chamado"]["status"] == "aguardando_ajuste"

    # Maria sees the public history only, and adjusts.
    view = maria.get(f"/chamados/{cid}")
    assert view["request_message"] == "Informe a mensagem de erro completa."
    assert all(e["public"] for e in view["events"])
    assert all("actor" not in e and "details" not in e for e in view["events"])
    assert "Parece o conector antigo." not in json.dumps(view)
    adjust = view["open_tasks"][0]
    assert adjust["group"] == "requester"
    form = maria.get(f"/tasks/{adjust['id']}")
    assert form["request_message"] == "Informe a mensagem de erro completa."
    changed = {**form["data"], "detalhamento": "Erro 500: NullPointerException na consulta."}
    stale = maria.post(
        f"/tasks/{adjust['id']}/submit",
        {"data": changed, "version": form["version"] - 1},
        expect=409,
    )
    assert stale["title"] == "Conflito"
    maria.post(f"/tasks/{adjust['id']}/submit", {"data": changed, "version": form["version"]})

    # Ana sees what changed and the internal history, releases, claims again, resolves.
    analysis_id = queue_task_id(ana, cid)
    ana.post(f"/tasks/{analysis_id}/claim", expect=204)
    staff_view = ana.get(f"/chamados/{cid}")
    assert [c["field"] for c in staff_view["changes"]] == ["detalhamento"]
    assert any(not e["public"] for e in staff_view["events"])
    assert any(e["actor"] and e["actor"]["name"] == "Ana Souza" for e in staff_view["events"])
    ana.post(f"/tasks/{analysis_id}/release", expect=204)
    ana.post(f"/tasks/{analysis_id}/release", expect=409)
    ana.post(f"/tasks/{analysis_id}/claim", expect=204)
    form = ana.get(f"/tasks/{analysis_id}")
    done = ana.post(
        f"/tasks/{analysis_id}/submit",
        {
            "data": {"decisao": "resolver", "resposta": "Corrigimos o conector."},
            "version": form["version"],
        },
    )
    assert done["chamado"]["status"] == "resolvido" and done["chamado"]["closed_at"]

    assert maria.get("/chamados")["items"] == []  # open ones by default; it is closed now
    mine = maria.get("/chamados?view=encerrados")["items"]
    assert [(i["chamado"]["id"], i["chamado"]["status"], i["open_task"]) for i in mine] == [
        (cid, "resolvido", None)
    ]
    assert mine[0]["chamado"]["outcome_message"] == "Corrigimos o conector."

    # Someone else: the ticket and its tasks do not exist; the queue is not theirs.
    joao.get(f"/chamados/{cid}", expect=404)
    joao.get(f"/tasks/{task_id}", expect=404)
    joao.get("/queue", expect=403)
    assert joao.get("/chamados")["items"] == []


def test_queue_filters_and_their_validation(people: dict[str, Api]) -> None:
    maria, ana = people["maria"], people["ana"]
    cid = maria.post("/processes/chamado/instances", expect=201)["chamado"]["id"]
    task_id = maria.get("/tasks")["items"][0]["task"]["id"]
    version = maria.get(f"/tasks/{task_id}")["version"]
    maria.post(f"/tasks/{task_id}/submit", {"data": registration(), "version": version})

    page = ana.get("/queue?view=disponiveis&orgao=1934&categoria=erro_api&situacao=novo")
    assert [i["chamado"]["id"] for i in page["items"]] == [cid]
    assert page["counts"] == {"disponiveis": 1, "minhas": 0, "todas": 1, "incidentes": 0}
    assert ana.get("/queue?situacao=reenviado")["total"] == 0
    assert ana.get("/queue?idade=3")["total"] == 0
    refused = ana.get("/queue?view=tudo&page=0&orgao=x", expect=422)
    assert set(refused["errors"]) == {"view", "page", "orgao"}


# --- authentication and request shape --------------------------------------------------------


def test_without_credentials_or_with_a_bad_token_the_answer_is_401(app: Flask) -> None:
    client = app.test_client()
    for headers in ({}, {"Authorization": "Bearer chm_nope"}, {"Authorization": "Basic eDp5"}):
        resp = client.get("/api/v1/tasks", headers=headers)
        assert resp.status_code == 401
        assert resp.mimetype == "application/problem+json"
        assert resp.headers["WWW-Authenticate"].startswith("Bearer")
        check_against_openapi(resp)
    assert (
        'error="invalid_token"'
        in client.get("/api/v1/tasks", headers={"Authorization": "Bearer chm_nope"}).headers[
            "WWW-Authenticate"
        ]
    )
    assert client.post("/api/v1/processes/chamado/instances").status_code == 401


def test_a_revoked_token_is_refused(app: Flask, people: dict[str, Api]) -> None:
    maria = people["maria"]
    maria.get("/chamados")
    svc: Chamados = app.extensions["chamados"]
    with svc.unit.transaction() as s:
        row = tokens.list_tokens(s, users.get_user_by_cpf(s, MARIA).id)[0]  # type: ignore[union-attr]
        tokens.revoke(s, row.id, row.user_id, is_admin=False)
    maria.get("/chamados", expect=401)


@contextmanager
def sql_seen(engine: Engine) -> Iterator[dict[str, Any]]:
    """The statements (whitespace folded) and commits issued on ``engine`` meanwhile."""
    seen: dict[str, Any] = {"statements": [], "commits": 0}

    def on_execute(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen["statements"].append(" ".join(statement.split()))

    def on_commit(_conn: Any) -> None:
        seen["commits"] += 1

    event.listen(engine, "before_cursor_execute", on_execute)
    event.listen(engine, "commit", on_commit)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", on_execute)
        event.remove(engine, "commit", on_commit)


def test_a_call_authenticates_with_one_read_and_records_the_use_once_a_minute(
    app: Flask, people: dict[str, Api]
) -> None:
    svc: Chamados = app.extensions["chamados"]
    now = [svc.clock()]
    svc.clock = lambda: now[0]
    maria = people["maria"]
    with svc.unit.session_factory() as s:
        maria_id = users.get_user_by_cpf(s, MARIA).id  # type: ignore[union-attr]

    def call() -> dict[str, Any]:
        with sql_seen(svc.unit.db) as seen:
            maria.get("/chamados")
        seen["tokens"] = [st.split()[0] for st in seen["statements"] if "api_tokens" in st]
        return seen

    def last_used() -> Any:
        with svc.unit.session_factory() as s:
            return s.scalar(select(ApiToken.last_used_at).where(ApiToken.user_id == maria_id))

    assert call()["tokens"] == ["SELECT", "UPDATE"]  # never used: recorded
    first_use = now[0]
    assert last_used() == first_use

    now[0] += timedelta(seconds=30)
    seen = call()
    # The token, its owner and the roles in one SELECT, issued first (on SQLite no
    # BEGIN IMMEDIATE before it) and committing nothing: a read request stays a read.
    assert seen["tokens"] == ["SELECT"]
    assert seen["statements"][0].startswith("SELECT") and "api_tokens" in seen["statements"][0]
    assert seen["commits"] == 0
    assert last_used() == first_use

    now[0] += timedelta(seconds=31)
    assert call()["tokens"] == ["SELECT", "UPDATE"]  # a minute later: recorded again
    assert last_used() == now[0]


def test_role_changes_apply_on_the_next_call(app: Flask, people: dict[str, Api]) -> None:
    svc: Chamados = app.extensions["chamados"]
    maria = people["maria"]
    maria.get("/queue", expect=403)
    with svc.unit.transaction() as s:
        users.grant_role(s, MARIA, "analyst", None)
    assert maria.get("/queue")["items"] == []
    with svc.unit.transaction() as s:
        users.revoke_role(s, MARIA, "analyst", None)
    maria.get("/queue", expect=403)


def test_cookie_sessions_need_the_csrf_header_to_change_anything(app: Flask) -> None:
    browser = app.test_client()
    set_session_user(app, browser, MARIA, "Maria da Silva")
    api = Api(browser)
    assert api.get("/chamados")["items"] == []  # reading needs no CSRF token
    refused = api.post("/processes/chamado/instances", expect=400)
    assert "X-CSRFToken" in refused["detail"]
    svc: Chamados = app.extensions["chamados"]
    with svc.unit.session_factory() as s:
        assert s.scalar(select(func.count()).select_from(Chamado)) == 0
    token = browser.get("/_csrf").get_data(as_text=True)
    api.post("/processes/chamado/instances", expect=201, headers={"X-CSRFToken": token})
    api.post("/processes/chamado/instances", expect=400, headers={"X-CSRFToken": "forged"})


def test_a_bearer_token_wins_over_a_cookie_and_needs_no_csrf(app: Flask) -> None:
    browser = app.test_client()
    set_session_user(app, browser, JOAO, "João Pereira")
    maria = Api(browser, person(app, MARIA, "Maria da Silva"))
    started = maria.post("/processes/chamado/instances", expect=201)
    svc: Chamados = app.extensions["chamados"]
    with svc.unit.session_factory() as s:
        chamado = s.get(Chamado, started["chamado"]["id"])
        assert chamado is not None and chamado.requester.cpf == MARIA
    # Stateless: the cookie that came along is neither read nor rewritten, and the answer
    # does not vary by it (web._SessionInterface); the same cookie alone still signs in.
    resp = browser.get("/api/v1/chamados", headers={"Authorization": f"Bearer {maria.token}"})
    assert resp.status_code == 200 and len(resp.get_json()["items"]) == 1  # Maria's
    assert "Set-Cookie" not in resp.headers and "Cookie" not in resp.headers.get("Vary", "")
    as_joao = browser.get("/api/v1/chamados")
    assert as_joao.status_code == 200 and as_joao.get_json()["items"] == []
    assert "Cookie" in as_joao.headers.get("Vary", "")


def test_bodies_are_checked_before_the_engine_sees_them(people: dict[str, Api]) -> None:
    maria = people["maria"]
    task_id = maria.post("/processes/chamado/instances", expect=201)["task"]["id"]
    resp = maria.client.post(
        f"/api/v1/tasks/{task_id}/submit",
        data="not json",
        headers={"Authorization": f"Bearer {maria.token}", "Content-Type": "application/json"},
    )
    assert resp.status_code == 400
    check_against_openapi(resp)
    refused = maria.post(f"/tasks/{task_id}/submit", {"data": [], "version": "1"}, expect=422)
    assert set(refused["errors"]) == {"data", "version"}
    refused = maria.put(f"/tasks/{task_id}/draft", {"data": {}, "step": 3}, expect=422)
    assert set(refused["errors"]) == {"step"}
    maria.get("/tasks/999999", expect=404)
    maria.post("/processes/nao-existe/instances", expect=404)


def test_the_openapi_document_is_served_and_valid(app: Flask) -> None:
    resp = app.test_client().get("/api/v1/openapi.json")
    assert resp.status_code == 200
    document = resp.get_json()
    validate_spec(document)
    assert document == _SPEC
    # Every route of the blueprint is documented.
    documented = {
        (method.upper(), "/api/v1" + path)
        for path, item in document["paths"].items()
        for method in item
        if method != "parameters"
    }
    served = {
        (method, rule.rule.replace("<int:", "<").replace("<", "{").replace(">", "}"))
        for rule in app.url_map.iter_rules()
        if rule.endpoint.startswith("api.")
        for method in rule.methods or ()
        if method not in ("HEAD", "OPTIONS")
    }
    assert served == documented


# --- any deployed process --------------------------------------------------------------------

TINY_BPMN = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core"
    id="Definitions_pedido" targetNamespace="http://bpmn.io/schema/bpmn">
  <bpmn:collaboration id="Collaboration_pedido">
    <bpmn:participant id="Participant_pedido" name="Pedido simples" processRef="pedido_simples" />
  </bpmn:collaboration>
  <bpmn:process id="pedido_simples" name="Pedido simples" isExecutable="true">
    <bpmn:laneSet id="LaneSet_pedido">
      <bpmn:lane id="Lane_solicitante" name="Solicitante">
        <bpmn:flowNodeRef>inicio</bpmn:flowNodeRef>
        <bpmn:flowNodeRef>pedir</bpmn:flowNodeRef>
      </bpmn:lane>
      <bpmn:lane id="Lane_analista" name="{analyst_lane}">
        <bpmn:flowNodeRef>avaliar</bpmn:flowNodeRef>
        <bpmn:flowNodeRef>fim</bpmn:flowNodeRef>
      </bpmn:lane>
    </bpmn:laneSet>
    <bpmn:startEvent id="inicio"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:userTask id="pedir" name="Fazer o pedido">
      <bpmn:extensionElements>
        <spiffworkflow:properties>
          <spiffworkflow:property name="formJsonSchemaFilename" value="pedido-schema.json" />
        </spiffworkflow:properties>
      </bpmn:extensionElements>
      <bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing>
    </bpmn:userTask>
    <bpmn:userTask id="avaliar" name="Avaliar o pedido">
      <bpmn:extensionElements>
        <spiffworkflow:properties>
          <spiffworkflow:property name="formJsonSchemaFilename" value="parecer-schema.json" />
        </spiffworkflow:properties>
      </bpmn:extensionElements>
      <bpmn:incoming>f2</bpmn:incoming><bpmn:outgoing>f3</bpmn:outgoing>
    </bpmn:userTask>
    <bpmn:endEvent id="fim" name="Pedido avaliado"><bpmn:incoming>f3</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="inicio" targetRef="pedir" />
    <bpmn:sequenceFlow id="f2" sourceRef="pedir" targetRef="avaliar" />
    <bpmn:sequenceFlow id="f3" sourceRef="avaliar" targetRef="fim" />
  </bpmn:process>
</bpmn:definitions>
""".replace("{analyst_lane}", ANALYST_LANE)

PEDIDO_SCHEMA = {
    "type": "object",
    "title": "Pedido",
    "properties": {"descricao": {"type": "string", "title": "Descrição", "minLength": 5}},
    "required": ["descricao"],
}
PARECER_SCHEMA = {
    "type": "object",
    "title": "Parecer",
    "properties": {"parecer": {"type": "string", "title": "Parecer", "minLength": 2}},
    "required": ["parecer"],
}


def deploy_tiny_process(app: Flask, tmp_path: Path) -> None:
    processes, forms = tmp_path / "processes", tmp_path / "forms"
    processes.mkdir()
    forms.mkdir()
    (processes / "pedido_simples.bpmn").write_text(TINY_BPMN, encoding="utf-8")
    (forms / "pedido-schema.json").write_text(json.dumps(PEDIDO_SCHEMA), encoding="utf-8")
    (forms / "parecer-schema.json").write_text(json.dumps(PARECER_SCHEMA), encoding="utf-8")
    svc: Chamados = app.extensions["chamados"]
    svc.settings = dataclasses.replace(svc.settings, processes_dir=processes, forms_dir=forms)
    with svc.unit.transaction() as session:
        assert "pedido_simples" in svc.deploy_processes(session)


def test_another_deployed_process_start_to_end(
    app: Flask, people: dict[str, Api], tmp_path: Path
) -> None:
    deploy_tiny_process(app, tmp_path)
    maria, ana = people["maria"], people["ana"]

    started = maria.post("/processes/pedido_simples/instances", expect=201)
    cid, task = started["chamado"]["id"], started["task"]
    assert task["name"] == "pedir" and task["title"] == "Fazer o pedido"
    form = maria.get(f"/tasks/{task['id']}")
    assert form["schema"]["properties"] == PEDIDO_SCHEMA["properties"]
    refused = maria.post(
        f"/tasks/{task['id']}/submit",
        {"data": {"descricao": "x"}, "version": form["version"]},
        expect=422,
    )
    assert set(refused["errors"]) == {"descricao"}
    maria.post(
        f"/tasks/{task['id']}/submit",
        {"data": {"descricao": "Preciso de acesso ao painel."}, "version": form["version"]},
    )

    analysis_id = queue_task_id(ana, cid)
    ana.post(f"/tasks/{analysis_id}/claim", expect=204)
    form = ana.get(f"/tasks/{analysis_id}")
    assert form["task"]["name"] == "avaliar" and "parecer" in form["schema"]["properties"]
    done = ana.post(
        f"/tasks/{analysis_id}/submit",
        {"data": {"parecer": "Concedido."}, "version": form["version"]},
    )
    assert done["chamado"]["status"] == "concluido" and done["chamado"]["closed_at"]
    history = maria.get(f"/chamados/{cid}")
    assert history["chamado"]["status_label"] == "Concluído"
    assert history["events"][-1]["summary"] == "Pedido avaliado"  # the end event's own name
