"""Schemathesis over the REST API, in process (WSGI), as a requester and as an analyst.

The document the app serves (GET /api/v1/openapi.json) drives it: every operation gets
examples that fit the document (positive) and examples that break it (negative: wrong
types, values past the documented bounds, missing fields), a bounded number per
operation so the whole run stays well under a minute. Every response must not be a
server error and must be in the document: a documented status code, content type,
headers and body schema. Tickets and tasks exist beforehand (ids 1 to 3 for both roles,
a claimed analysis), so the generated ids also reach real rows, not only 404s.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from flask import Flask
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.test_api import ANA, MARIA, Api, build_app, person, queue_task_id
from tests.test_engine_lifecycle import registration
from web import create_app

pytestmark = pytest.mark.schemathesis

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
EXAMPLES_PER_OPERATION = 40


@pytest.fixture
def seeded(tmp_path: Path) -> Iterator[tuple[Flask, dict[str, str]]]:
    """The app with three tickets: a draft, one in analysis claimed by Ana, one resolved."""
    app = build_app(tmp_path)
    tokens = {
        "requester": person(app, MARIA, "Maria da Silva"),
        "analyst": person(app, ANA, "Ana Souza", "analyst"),
    }
    maria, ana = (Api(app.test_client(), tokens[k]) for k in ("requester", "analyst"))
    for _ in range(3):
        maria.post("/processes/chamado/instances", expect=201)
    for chamado_id in (2, 3):
        task = maria.get(f"/tasks/{chamado_id}")
        maria.post(
            f"/tasks/{chamado_id}/submit", {"data": registration(), "version": task["version"]}
        )
        analysis = queue_task_id(ana, chamado_id)
        ana.post(f"/tasks/{analysis}/claim", expect=204)
    analysis = queue_task_id(ana, 3, view="minhas")
    version = ana.get(f"/tasks/{analysis}")["version"]
    ana.post(
        f"/tasks/{analysis}/submit",
        {"data": {"decisao": "resolver", "resposta": "Corrigido."}, "version": version},
    )
    yield app, tokens
    app.extensions["chamados"].unit.db.dispose()


def _document_app() -> Flask:
    """An app that only serves its OpenAPI document (no database is touched): the schema
    is read at collection time, over WSGI, from GET /api/v1/openapi.json."""
    never_opened = Path(tempfile.gettempdir()) / "chamados-openapi-unused.sqlite3"
    return create_app(
        {
            "DATABASE_URL": f"sqlite:///{never_opened}",
            "TESTING": True,
            "SECRET_KEY": "test-secret",
            "OIDC_ISSUER": "http://127.0.0.1:9",
            "LOG_JSON": False,
        }
    )


schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", _document_app())
schema.config.generation.update(max_examples=EXAMPLES_PER_OPERATION, deterministic=True)
BOUNDED = settings(
    max_examples=EXAMPLES_PER_OPERATION,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)


def call(case: Any, app: Flask, token: str) -> None:
    # The seeded app answers; the document came from an identical one.
    case.call_and_validate(app=app, headers={"Authorization": f"Bearer {token}"}, checks=CHECKS)


@schema.parametrize()
@BOUNDED
def test_as_a_requester(case: Any, seeded: tuple[Flask, dict[str, str]]) -> None:
    call(case, seeded[0], seeded[1]["requester"])


@schema.parametrize()
@BOUNDED
def test_as_an_analyst(case: Any, seeded: tuple[Flask, dict[str, str]]) -> None:
    call(case, seeded[0], seeded[1]["analyst"])
