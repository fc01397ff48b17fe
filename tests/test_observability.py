"""Health probes, Prometheus metrics, request ids and JSON logs."""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from flask import Flask
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import create_engine, select

from engine import context
from engine.models import AuditEvent, Base, OutboxMessage, WorkflowTimer
from engine.service import Chamados
from engine.settings import PROJECT_ROOT
from tests.conftest import database_url
from tests.test_api import Api, build_app, person, wire
from web import create_app
from web.observability import (
    REQUEST_ID_HEADER,
    JsonFormatter,
    install_json_logging,
)

MARIA = "39053344705"
METRICS_TOKEN = "segredo-do-prometheus"
SCRAPER = {"Authorization": f"Bearer {METRICS_TOKEN}"}


@pytest.fixture
def app(tmp_path: Path) -> Iterator[Flask]:
    app = build_app(tmp_path)
    app.config["METRICS_TOKEN"] = METRICS_TOKEN
    yield app
    app.extensions["chamados"].unit.db.dispose()


def samples(app: Flask) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    resp = app.test_client().get("/metrics", headers=SCRAPER)
    assert resp.status_code == 200 and resp.mimetype == "text/plain"
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(resp.get_data(as_text=True))
        for s in family.samples
    }


def value(
    found: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str
) -> float:
    return found[(name, frozenset(labels.items()))]


# --- probes ----------------------------------------------------------------------------------


def test_healthz_answers_without_the_database(app: Flask) -> None:
    svc: Chamados = app.extensions["chamados"]
    svc.unit.db = create_engine("sqlite:////nonexistent-dir/chamados.sqlite3")
    resp = app.test_client().get("/healthz")
    assert resp.status_code == 200 and resp.get_json() == {"status": "ok"}


def test_readyz_checks_the_database_and_the_schema(app: Flask) -> None:
    client = app.test_client()
    resp = client.get("/readyz")
    assert resp.status_code == 200
    assert resp.get_json() == {"status": "ok", "checks": {"database": "ok", "migrations": "ok"}}

    svc: Chamados = app.extensions["chamados"]
    reachable = svc.unit.db
    svc.unit.db = create_engine("sqlite:////nonexistent-dir/chamados.sqlite3")
    resp = client.get("/readyz")
    assert resp.status_code == 503
    assert resp.get_json()["checks"]["database"] == "banco de dados inacessível"
    svc.unit.db = reachable


def test_readyz_fails_while_migrations_are_pending(tmp_path: Path) -> None:
    app = create_app(
        {
            "DATABASE_URL": database_url(tmp_path),
            "TESTING": True,
            "SECRET_KEY": "x",
            "OIDC_ISSUER": "http://127.0.0.1:9",
            "LOG_JSON": False,
        }
    )
    wire(app)
    svc: Chamados = app.extensions["chamados"]
    Base.metadata.tables["users"].create(svc.unit.db)  # one table only
    resp = app.test_client().get("/readyz")
    assert resp.status_code == 503
    checks = resp.get_json()["checks"]
    assert checks["database"] == "ok"
    assert checks["migrations"].startswith("banco na versão vazia")
    svc.unit.db.dispose()


# --- metrics ---------------------------------------------------------------------------------


def test_metrics_count_requests_by_endpoint_and_read_gauges_from_the_database(
    app: Flask,
) -> None:
    svc: Chamados = app.extensions["chamados"]
    maria = Api(app.test_client(), person(app, MARIA, "Maria da Silva"))
    chamado_id = maria.post("/processes/chamado/instances", expect=201)["chamado"]["id"]
    maria.get("/chamados")
    maria.get("/chamados")
    app.test_client().get("/nao/existe/123")
    now = svc.clock()
    with svc.unit.transaction() as s:
        s.add(
            WorkflowTimer(
                chamado_id=chamado_id,
                task_guid="00000000-0000-0000-0000-000000000001",
                element_id="prazo",
                due_at=now - timedelta(minutes=5),
            )
        )
        s.add(
            OutboxMessage(
                message_id="<1@chamados>",
                kind="teste",
                to_addr="maria@example.gov.br",
                subject="Olá",
                body_text="Olá",
                body_html="<p>Olá</p>",
                created_at=now - timedelta(minutes=2),
            )
        )

    found = samples(app)
    requests = "chamados_http_requests_total"
    assert value(found, requests, method="GET", endpoint="api.list_chamados", status="200") == 2
    assert value(found, requests, method="POST", endpoint="api.start_instance", status="201") == 1
    assert value(found, requests, method="GET", endpoint="unmatched", status="404") == 1
    assert not any("/nao/existe" in str(labels) for _name, labels in found)  # no raw paths
    latency = "chamados_http_request_duration_seconds_count"
    assert value(found, latency, method="GET", endpoint="api.list_chamados") == 2
    assert value(found, "chamados_tickets", status="rascunho") == 1
    assert value(found, "chamados_queue_size") == 0
    assert value(found, "chamados_queue_claimed") == 0
    assert value(found, "chamados_timers_waiting") == 1
    assert 300 <= value(found, "chamados_timer_lag_seconds") < 400
    assert value(found, "chamados_outbox_backlog") == 1
    assert 120 <= value(found, "chamados_outbox_oldest_age_seconds") < 220
    assert value(found, "chamados_metrics_database_up") == 1


def test_metrics_need_the_configured_bearer_token(app: Flask) -> None:
    client = app.test_client()
    for headers in ({}, {"Authorization": "Bearer errado"}, {"Authorization": "Basic eDp5"}):
        refused = client.get("/metrics", headers=headers)
        assert refused.status_code == 401
        assert refused.headers["WWW-Authenticate"] == 'Bearer realm="metrics"'
        assert "chamados_" not in refused.get_data(as_text=True)
    assert client.get("/metrics", headers=SCRAPER).status_code == 200


def test_without_a_metrics_token_there_are_no_metrics(app: Flask) -> None:
    app.config["METRICS_TOKEN"] = ""
    client = app.test_client()
    assert client.get("/metrics").status_code == 404
    assert client.get("/metrics", headers={"Authorization": "Bearer "}).status_code == 404


def test_metrics_survive_an_unreachable_database(
    app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    svc: Chamados = app.extensions["chamados"]
    # The gauges read outside any transaction, on the unit's engine.
    monkeypatch.setattr(svc.unit, "db", create_engine("sqlite:////nonexistent-dir/x.sqlite3"))
    found = samples(app)
    assert value(found, "chamados_metrics_database_up") == 0
    assert not any(name == "chamados_tickets" for name, _labels in found)


def test_metrics_in_multiprocess_mode(tmp_path: Path) -> None:
    """With PROMETHEUS_MULTIPROC_DIR (several server workers) counters live in shared files."""
    metrics_dir = tmp_path / "prom"
    metrics_dir.mkdir()
    script = textwrap.dedent(
        f"""
        from tests.test_api import wire
        from web import create_app

        app = create_app({{
            "DATABASE_URL": "sqlite:///{tmp_path / "mp.sqlite3"}",
            "TESTING": True, "SECRET_KEY": "x", "OIDC_ISSUER": "http://127.0.0.1:9",
            "LOG_JSON": False, "METRICS_TOKEN": "{METRICS_TOKEN}",
        }})
        wire(app)
        client = app.test_client()
        client.get("/healthz")
        print(client.get("/metrics", headers={SCRAPER!r}).get_data(as_text=True))
        """
    )
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir)}
    done = subprocess.run(
        [sys.executable, "-c", script],
        env=env,
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert any(metrics_dir.iterdir())  # the worker wrote its counters to the shared directory
    found = {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(done.stdout)
        for s in family.samples
    }
    healthz = {"method": "GET", "endpoint": "observability.healthz", "status": "200"}
    assert value(found, "chamados_http_requests_total", **healthz) == 1
    assert "chamados_metrics_database_up" in done.stdout


# --- request ids and logs --------------------------------------------------------------------


def test_a_sane_request_id_is_kept_and_reaches_the_audit_rows(app: Flask) -> None:
    maria = Api(app.test_client(), person(app, MARIA, "Maria da Silva"))
    resp = maria.client.post(
        "/api/v1/processes/chamado/instances",
        headers={"Authorization": f"Bearer {maria.token}", REQUEST_ID_HEADER: "req-42.abc:1"},
    )
    assert resp.status_code == 201
    assert resp.headers[REQUEST_ID_HEADER] == "req-42.abc:1"
    svc: Chamados = app.extensions["chamados"]
    with svc.unit.session_factory() as s:
        event = s.scalars(select(AuditEvent).where(AuditEvent.action == "chamado.criado")).one()
        assert event.request_id == "req-42.abc:1"
    assert context.request_id.get() is None  # reset after the request


@pytest.mark.parametrize("incoming", ["", "a" * 65, "tem espaço", "x\ty", "<script>", "ção"])
def test_an_insane_request_id_is_replaced(app: Flask, incoming: str) -> None:
    resp = app.test_client().get("/healthz", headers={REQUEST_ID_HEADER: incoming})
    echoed = resp.headers[REQUEST_ID_HEADER]
    assert echoed != incoming and len(echoed) == 32 and int(echoed, 16) >= 0


def test_every_request_logs_one_json_line(app: Flask, caplog: pytest.LogCaptureFixture) -> None:
    maria = Api(app.test_client(), person(app, MARIA, "Maria da Silva"))
    with caplog.at_level(logging.INFO, logger="chamados.request"):
        resp = maria.client.get(
            "/api/v1/chamados",
            headers={"Authorization": f"Bearer {maria.token}", REQUEST_ID_HEADER: "abc-123"},
        )
    record = next(r for r in caplog.records if r.name == "chamados.request")
    line = json.loads(JsonFormatter().format(record))
    assert line["level"] == "INFO" and line["ts"].endswith("Z")
    assert line["msg"] == "GET /api/v1/chamados 200"
    assert line["request_id"] == "abc-123" == resp.headers[REQUEST_ID_HEADER]
    assert (line["method"], line["path"], line["status"]) == ("GET", "/api/v1/chamados", 200)
    assert isinstance(line["duration_ms"], float)
    assert isinstance(line["user_id"], int)


def test_the_json_handler_stamps_other_loggers_with_the_request_id(app: Flask) -> None:
    root = logging.getLogger()
    before = list(root.handlers)
    stream = io.StringIO()
    handler = install_json_logging()
    assert install_json_logging() is handler  # installed once per process
    original = handler.setStream(stream)  # type: ignore[attr-defined]

    @app.get("/_log")
    def log_something() -> str:
        logging.getLogger("engine.example").warning("algo aconteceu")
        return "ok"

    try:
        app.test_client().get("/_log", headers={REQUEST_ID_HEADER: "trace-1"})
    finally:
        handler.setStream(original)  # type: ignore[attr-defined]
        if handler not in before:  # leave the process's logging as the test found it
            root.removeHandler(handler)
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    warning = next(line for line in lines if line["logger"] == "engine.example")
    assert warning == {
        "ts": warning["ts"],
        "level": "WARNING",
        "logger": "engine.example",
        "msg": "algo aconteceu",
        "request_id": "trace-1",
    }
