"""HTTP correctness: Allow on 405, integers too large for the database (never a 500),
and a database that refuses connections (503 with Retry-After)."""

from __future__ import annotations

import socket
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import event

from engine.service import Chamados
from tests.conftest import add_person, database_url
from tests.test_api import Api, build_app, person
from tests.test_auth import set_session_user
from tests.test_engine_lifecycle import open_task, registration, submit_registration
from tests.test_security_headers import assert_security_headers
from tests.webform import fill
from web import create_app
from web.auth import SESSION_KEY
from web.params import MAX_INT

MARIA, ANA, CARLOS, DORA = "39053344705", "11144477735", "52998224725", "12345678909"
TOO_BIG = str(2**64)  # above 2**63: no database integer holds it


@pytest.fixture
def app(tmp_path: Path) -> Iterator[Flask]:
    app = build_app(tmp_path)
    yield app
    app.extensions["chamados"].unit.db.dispose()


def browser(app: Flask, cpf: str, name: str, *roles: str) -> FlaskClient:
    client = app.test_client()
    set_session_user(app, client, cpf, name, *roles)
    return client


# --- 405 keeps Allow -------------------------------------------------------------------------


def test_method_not_allowed_says_what_is_allowed(app: Flask) -> None:
    client = app.test_client()
    page = client.get("/sair")
    assert page.status_code == 405
    assert set(page.headers["Allow"].split(", ")) == {"POST", "OPTIONS"}
    assert page.mimetype == "text/html" and "Método não permitido" in page.get_data(as_text=True)

    api = client.delete("/api/v1/chamados")
    assert api.status_code == 405
    assert set(api.headers["Allow"].split(", ")) == {"GET", "HEAD", "OPTIONS"}
    assert api.mimetype == "application/problem+json"
    assert api.get_json()["status"] == 405 and api.get_json()["title"] == "Método não permitido"


# --- integers too large for the database -----------------------------------------------------


@pytest.mark.parametrize("number", [str(MAX_INT + 1), str(2**63), TOO_BIG, "9" * 5000])
def test_oversized_ids_in_paths_are_not_found(app: Flask, number: str) -> None:
    maria = browser(app, MARIA, "Maria da Silva")
    carlos = browser(app, CARLOS, "Carlos Admin", "admin", "analyst", "designer")
    for client, path in (
        (maria, f"/chamados/{number}"),
        (maria, f"/tarefas/{number}"),
        (maria, f"/anexos/{number}"),
        (carlos, f"/analise/{number}"),
        (carlos, f"/admin/emails/{number}"),
        (carlos, f"/chamados/{number}/diagrama"),
        (carlos, f"/processos/chamado/versoes/{number}/exportar"),
    ):
        resp = client.get(path)
        assert resp.status_code == 404, (path, resp.status_code)
    token = person(app, ANA, "Ana Souza", "analyst")
    api = Api(app.test_client(), token)
    api.get(f"/chamados/{number}", expect=404)
    api.get(f"/tasks/{number}", expect=404)
    api.post(f"/tasks/{number}/claim", expect=404)


def test_the_largest_database_integer_reaches_the_database_and_is_not_found(app: Flask) -> None:
    maria = browser(app, MARIA, "Maria da Silva")
    assert maria.get(f"/chamados/{MAX_INT}").status_code == 404
    api = Api(app.test_client(), person(app, ANA, "Ana Souza", "analyst"))
    api.get(f"/chamados/{MAX_INT}", expect=404)
    api.get(f"/tasks/{MAX_INT}", expect=404)
    assert api.get(f"/queue?orgao={MAX_INT}&idade=36500")["total"] == 0


def test_oversized_queue_filters_are_refused_by_name(app: Flask) -> None:
    api = Api(app.test_client(), person(app, ANA, "Ana Souza", "analyst"))
    refused = api.get(f"/queue?orgao={TOO_BIG}&idade={TOO_BIG}&page={TOO_BIG}", expect=422)
    assert set(refused["errors"]) == {"orgao", "idade", "page"}
    assert str(MAX_INT) in refused["errors"]["orgao"]
    unicode_digit = api.get("/queue?orgao=%C2%B2", expect=422)  # "²".isdigit() is True
    assert set(unicode_digit["errors"]) == {"orgao"}

    ana = browser(app, ANA, "Ana Souza", "analyst")
    for query in (f"orgao={TOO_BIG}", f"idade={TOO_BIG}", f"pagina={TOO_BIG}"):
        resp = ana.get(f"/fila?{query}")
        assert resp.status_code == 422, query
        assert "Parâmetros de consulta inválidos" in resp.get_data(as_text=True)
    # What is not a number at all the page ignores, as before; large ages are fine.
    for query in ("orgao=abc", "orgao=%C2%B2", f"idade={MAX_INT}", f"pagina={MAX_INT}"):
        assert ana.get(f"/fila?{query}").status_code == 200, query


def test_other_oversized_numbers_in_queries_and_forms(app: Flask) -> None:
    carlos = browser(app, CARLOS, "Carlos Admin", "admin", "designer")
    assert carlos.get(f"/admin/emails?pagina={TOO_BIG}").status_code == 422
    assert carlos.get("/admin/emails?pagina=abc").status_code == 200
    assert carlos.get(f"/processos/chamado/migracao?para={TOO_BIG}").status_code == 404
    csrf = carlos.get("/_csrf").get_data(as_text=True)
    resp = carlos.post(
        "/conta/tokens", data={"csrf_token": csrf, "action": "revoke", "token_id": TOO_BIG}
    )
    assert resp.status_code == 400


def test_codes_with_control_characters_are_refused_by_name(app: Flask) -> None:
    """PostgreSQL refuses a NUL in any text parameter (a 500 there): a filter's or an
    outage's code with a control character is refused by name, on both databases."""
    api = Api(app.test_client(), person(app, ANA, "Ana Souza", "analyst"))
    for name in ("processo", "grupo", "categoria"):
        refused = api.get(f"/queue?{name}=a%00b", expect=422)
        assert set(refused["errors"]) == {name}
    ana = browser(app, ANA, "Ana Souza", "analyst")
    for query in ("processo=%00", "grupo=x%00", "categoria=%01", "grupo=" + "g" * 81):
        resp = ana.get(f"/fila?{query}")
        assert resp.status_code == 422, query
        assert "Parâmetros de consulta inválidos" in resp.get_data(as_text=True)
    assert ana.get("/fila?processo=chamado&grupo=analyst").status_code == 200

    outage = {"title": "Falha", "public_text": "O serviço voltou.", "process_id": "chamado"}
    for categoria in ("\u0000", "erro\u0001api", "nao_existe", "x" * 81):
        refused = api.post("/outages", {**outage, "categoria": categoria}, expect=422)
        assert set(refused["errors"]) == {"categoria"}, categoria
    assert api.post("/outages", {**outage, "categoria": "erro_api"}, expect=201)["id"]


def test_a_version_that_is_not_a_number_is_a_stale_page_not_a_500(app: Flask) -> None:
    """The pages' forms carry the version of the ticket they showed; one altered into
    something that is not a number is as stale as an old one: 409, nothing sent."""
    svc: Chamados = app.extensions["chamados"]
    maria = add_person(svc, MARIA, "Maria da Silva")
    ana = add_person(svc, ANA, "Ana Souza", "analyst")

    # The analyst's decision.
    cid = submit_registration(svc, maria)
    svc.analysis.claim(ana, open_task(svc, cid, "analyst").id)
    analyst = browser(app, ANA, "Ana Souza", "analyst")
    page = analyst.get(f"/analise/{cid}").get_data(as_text=True)
    decided = {"decisao": "resolver", "resposta": "Corrigido na integração.", "version": "abc"}
    resp = analyst.post(f"/analise/{cid}", data=fill(page, decided, "version"))
    assert resp.status_code == 409
    assert open_task(svc, cid, "analyst").state == "ready"  # nothing was sent

    # The requester's sending, from the review step of a complete draft.
    started = svc.requests.start_chamado(maria, "chamado")
    task = open_task(svc, started.id, "requester")
    svc.requests.save_draft(maria, task.id, registration(), "revisao")
    requester = browser(app, MARIA, "Maria da Silva")
    page = requester.get(f"/tarefas/{task.id}?passo=revisao").get_data(as_text=True)
    resp = requester.post(
        f"/tarefas/{task.id}", data=fill(page, {"_action": "submit", "version": "x1"})
    )
    assert resp.status_code == 409
    assert open_task(svc, started.id, "requester").state == "ready"


# --- a database that refuses connections -----------------------------------------------------


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def production_like_app(database: str) -> Flask:
    # Not TESTING: errors reach the handlers as in production.
    return create_app(
        {
            "DATABASE_URL": database,
            "SECRET_KEY": "x",
            "OIDC_ISSUER": "http://127.0.0.1:9",
            "LOG_JSON": False,
        }
    )


def assert_unavailable(app: Flask) -> None:
    page = app.test_client()
    with page.session_transaction() as sess:
        sess[SESSION_KEY] = "o-token-de-uma-sessao"  # authentication must read the database
    resp = page.get("/minhas-solicitacoes")
    assert resp.status_code == 503 and resp.headers["Retry-After"] == "1"
    assert resp.mimetype == "text/html" and "Tente novamente" in resp.get_data(as_text=True)

    api = app.test_client().get("/api/v1/chamados", headers={"Authorization": "Bearer chm_x"})
    assert api.status_code == 503 and api.headers["Retry-After"] == "1"
    assert api.mimetype == "application/problem+json"
    body = api.get_json()
    assert body["status"] == 503 and body["title"] == "Serviço indisponível"
    assert "banco de dados" in body["detail"]
    assert_security_headers(api)


def test_postgresql_refusing_connections_is_a_503_to_retry() -> None:
    app = production_like_app(
        f"postgresql+psycopg://chamados:chamados@127.0.0.1:{closed_port()}/chamados"
    )
    assert_unavailable(app)
    app.extensions["chamados"].unit.db.dispose()


def test_a_connect_that_fails_is_a_503_to_retry(tmp_path: Path) -> None:
    app = production_like_app(database_url(tmp_path))
    svc: Chamados = app.extensions["chamados"]

    @event.listens_for(svc.unit.db, "do_connect")
    def refuse(*_args: Any) -> None:
        if svc.unit.db.dialect.name == "sqlite":
            raise sqlite3.OperationalError("unable to open database file")
        import psycopg

        raise psycopg.OperationalError("connection failed: Connection refused")

    svc.unit.db.dispose()  # connections already open would not ask
    assert_unavailable(app)
    svc.unit.db.dispose()
