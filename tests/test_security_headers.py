"""Security headers on every response (web.security), and templates the
Content-Security-Policy can live with: no inline script, no event-handler attributes."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from engine.settings import PROJECT_ROOT
from tests.conftest import database_url
from tests.test_api import Api, build_app, person
from tests.test_auth import set_session_user
from web import create_app
from web.security import CONTENT_SECURITY_POLICY

MARIA, ANA, CARLOS, DORA = "39053344705", "11144477735", "52998224725", "12345678909"
TEMPLATES = PROJECT_ROOT / "web" / "templates"


@pytest.fixture
def app(tmp_path: Path) -> Iterator[Flask]:
    app = build_app(tmp_path)
    yield app
    app.extensions["chamados"].unit.db.dispose()


def browser(app: Flask, cpf: str, name: str, *roles: str) -> FlaskClient:
    client = app.test_client()
    set_session_user(app, client, cpf, name, *roles)
    return client


# --- security headers ------------------------------------------------------------------------


def csp_directives(value: str) -> dict[str, list[str]]:
    directives = (d.split() for d in value.split(";") if d.strip())
    return {d[0]: d[1:] for d in directives}


def assert_security_headers(resp: Any, https: bool = False) -> None:
    where = f"{resp.request.method} {resp.request.path} ({resp.status_code})"
    csp = csp_directives(resp.headers.get("Content-Security-Policy", ""))
    assert csp.get("script-src") == ["'self'"], where  # no 'unsafe-inline', no 'unsafe-eval'
    assert csp.get("default-src") == ["'self'"], where
    assert csp.get("frame-ancestors") == ["'none'"], where
    assert csp.get("object-src") == ["'none'"], where
    assert resp.headers.get("X-Frame-Options") == "DENY", where
    assert resp.headers.get("Referrer-Policy") == "same-origin", where
    assert resp.headers.get("X-Content-Type-Options") == "nosniff", where
    if https:
        assert resp.headers.get("Strict-Transport-Security") == "max-age=31536000", where
    else:
        assert "Strict-Transport-Security" not in resp.headers, where


def test_every_kind_of_response_carries_the_security_headers(app: Flask) -> None:
    anonymous = app.test_client()
    maria = browser(app, MARIA, "Maria da Silva")
    carlos = browser(app, CARLOS, "Carlos Admin", "admin")
    dora = browser(app, DORA, "Dora Projetista", "designer")
    api = Api(app.test_client(), person(app, ANA, "Ana Souza", "analyst"))
    responses = [
        anonymous.get("/"),
        anonymous.get("/fila"),  # a redirect to the login
        anonymous.get("/nao/existe"),  # 404 page
        anonymous.get("/static/js/app.js"),
        anonymous.get("/healthz"),
        anonymous.get("/api/v1/chamados"),  # 401 problem
        maria.get("/minhas-solicitacoes"),
        maria.get("/sessoes"),
        maria.get("/admin/papeis"),  # 403 page
        carlos.get("/admin/papeis"),
        carlos.get("/admin/sessoes"),
        dora.get("/processos/chamado/modelador"),  # the bpmn-js modeler
        api.client.get("/api/v1/queue", headers={"Authorization": f"Bearer {api.token}"}),
        maria.post("/sair"),  # CSRF refused: 400 page
    ]
    statuses = {r.status_code for r in responses}
    assert {200, 302, 400, 401, 403, 404} <= statuses
    for resp in responses:
        assert_security_headers(resp)


def test_hsts_only_over_https(tmp_path: Path) -> None:
    plain = build_app(tmp_path / "plain")
    client = plain.test_client()
    assert_security_headers(client.get("/"))
    # Behind a proxy that terminates TLS the request may look like plain HTTP: the
    # configured base address says the site is served over HTTPS.
    assert_security_headers(client.get("/", base_url="https://localhost"), https=True)
    plain.extensions["chamados"].unit.db.dispose()

    secure = create_app(
        {
            "DATABASE_URL": database_url(tmp_path / "secure"),
            "TESTING": True,
            "SECRET_KEY": "x",
            "OIDC_ISSUER": "http://127.0.0.1:9",
            "APP_BASE_URL": "https://chamados.exemplo.gov.br",
            "LOG_JSON": False,
        }
    )
    assert_security_headers(secure.test_client().get("/healthz"), https=True)
    secure.extensions["chamados"].unit.db.dispose()


def test_the_policy_allows_no_inline_script() -> None:
    directives = csp_directives(CONTENT_SECURITY_POLICY)
    assert "'unsafe-inline'" not in directives["script-src"]
    assert "'unsafe-eval'" not in directives["script-src"]


INLINE_SCRIPT = re.compile(r"<script\b(?![^>]*\bsrc=)[^>]*>", re.IGNORECASE)
EVENT_HANDLER = re.compile(r"<[^>]*\son[a-z]+\s*=", re.IGNORECASE)
JS_URL = re.compile(r"""(href|src|action)\s*=\s*["']?\s*javascript:""", re.IGNORECASE)


def test_no_template_has_inline_script_or_event_handlers() -> None:
    """What the policy would block: <script> blocks, on…= attributes, javascript: URLs."""
    templates = sorted(TEMPLATES.rglob("*.html"))
    assert len(templates) > 20
    for path in templates:
        text = path.read_text("utf-8")
        for pattern in (INLINE_SCRIPT, EVENT_HANDLER, JS_URL):
            found = pattern.search(text)
            assert found is None, f"{path.relative_to(PROJECT_ROOT)}: {found and found.group(0)}"


def test_rendered_pages_have_no_inline_script(app: Flask) -> None:
    carlos = browser(app, CARLOS, "Carlos Admin", "admin", "analyst", "designer")
    for path in ("/", "/fila", "/sessoes", "/admin/sessoes", "/processos/chamado/modelador"):
        resp = carlos.get(path)
        assert resp.status_code == 200, path
        html = resp.get_data(as_text=True)
        assert "<script" in html, path  # scripts there are, from files
        assert INLINE_SCRIPT.search(html) is None, path
        assert EVENT_HANDLER.search(html) is None, path
