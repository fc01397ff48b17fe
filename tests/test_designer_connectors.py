"""The modeler's list of connectors: GET /processos/<pid>/conectores, read by the
properties panel's "Conector" group (assets/modeler/spiff_groups.js)."""

from __future__ import annotations

from flask import Flask
from flask.testing import FlaskClient

from engine import connectors
from tests.test_designer import app, client_for, dora_web  # noqa: F401 - fixtures


def test_the_platforms_connectors_with_their_parameters(
    app: Flask,  # noqa: F811
    dora_web: FlaskClient,  # noqa: F811
) -> None:
    resp = dora_web.get("/processos/chamado/conectores")
    assert resp.status_code == 200
    listed = resp.get_json()["connectors"]
    assert [c["operator"] for c in listed] == sorted(connectors.REGISTRY)
    mail = next(c for c in listed if c["operator"] == "smtp/SendEmail")
    assert mail["required"] == ["email_to", "email_subject", "email_body"]
    assert "smtp_host" in mail["optional"]
    get = next(c for c in listed if c["operator"] == "http/GetRequestV2")
    assert get["required"] == ["url"] and "headers" in get["optional"]
    assert "data" not in get["optional"]  # a GET sends no body


def test_only_designers_read_them_and_only_for_a_model(
    app: Flask,  # noqa: F811
    dora_web: FlaskClient,  # noqa: F811
) -> None:
    assert app.test_client().get("/processos/chamado/conectores").status_code == 302  # login
    analyst = client_for(app, "11144477735", "Ana Souza", "analyst")
    assert analyst.get("/processos/chamado/conectores").status_code == 403
    assert dora_web.get("/processos/nao_existe/conectores").status_code == 404
