"""Service tasks through the HTTP connector (engine.connectors), against a real HTTP server
on 127.0.0.1: the call runs inside the step, its result lands in the task's data; a host
not allowed, a private address not listed, a timeout, an error status or an oversized
answer become a technical incident naming the connector, never a silent stop; an unknown
operator or a missing parameter is refused at deploy, on the element.
"""

from __future__ import annotations

import dataclasses
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from engine import connectors
from engine.models import Chamado, OutboxMessage
from engine.outbox import drain
from engine.service import Chamados
from tests.conftest import MARIA, add_person
from tests.model_files import chain, http_task, model, script_task
from tests.smtp_server import SmtpServer

SEEN: list[dict[str, Any]] = []


class Handler(BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def _answer(self, status: int, body: bytes, kind: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            try:
                self.wfile.write(body)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the connector gave up first (timeout, size limit): what is tested

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        SEEN.append(
            {
                "method": self.command,
                "path": self.path,
                "auth": self.headers.get("Authorization"),
                "body": json.loads(body) if body else None,
            }
        )
        if self.path.startswith("/lento"):
            time.sleep(3)
            self._answer(200, b"{}")
        elif self.path.startswith("/gotejando"):
            # Headers at once, then a byte every 0.3 s: each read is quick, the whole slow.
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", "20")
            self.end_headers()
            try:
                for _ in range(20):
                    self.wfile.write(b" ")
                    self.wfile.flush()
                    time.sleep(0.3)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the connector hung up at its deadline: what is tested
        elif self.path.startswith("/erro"):
            self._answer(503, b'{"erro": "fora do ar"}')
        elif self.path.startswith("/grande"):
            self._answer(200, b'"' + b"x" * (300 * 1024) + b'"')
        elif self.path.startswith("/texto"):
            self._answer(200, "situação: ok".encode(), "text/plain; charset=utf-8")
        else:
            self._answer(200, json.dumps({"situacao": "regular", "eco": SEEN[-1]}).encode())

    do_GET = do_POST = do_PUT = do_HEAD = _handle


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_port}"
    httpd.shutdown()


@pytest.fixture
def app(tmp_path: Path) -> Iterator[Flask]:
    from tests.test_api import build_app

    app = build_app(tmp_path)
    svc: Chamados = app.extensions["chamados"]
    svc.settings = dataclasses.replace(
        svc.settings, connector_http_hosts="127.0.0.1", connector_http_timeout=1
    )
    SEEN.clear()
    yield app
    svc.unit.db.dispose()
    connectors.configure(connectors.HttpPolicy())


def run(app: Flask, xml: str) -> Chamado:
    """Publish ``xml`` as process Consulta (through the CLI path) and start it."""
    from click.testing import CliRunner

    from web.cli import main

    path = Path(app.instance_path) / "consulta.bpmn"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(xml)
    with app.app_context():
        result = CliRunner().invoke(main, ["models", "deploy", str(path)])
    assert result.exit_code == 0, result.output
    svc: Chamados = app.extensions["chamados"]
    maria = add_person(svc, MARIA, "Maria da Silva")
    chamado, _task = svc.requests.start_instance(maria, "Consulta")
    return chamado


def test_a_get_and_a_post_run_and_their_answers_land_in_the_data(app: Flask, server: str) -> None:
    xml = model(
        chain(
            script_task("Script_cpf", 'cpf = "39053344705"'),
            http_task(
                "Service_get",
                "http/GetRequestV2",
                "consulta",
                url=f"'{server}/situacao'",
                params='{"cpf": cpf}',
                basic_auth_username="'plataforma'",
                basic_auth_password="'segredo'",
            ),
            http_task(
                "Service_post",
                "http/PostRequestV2",
                "registro",
                url=f"'{server}/registros'",
                data='{"cpf": cpf, "situacao": consulta["body"]["situacao"]}',
            ),
            script_task("Script_fim", 'resultado = registro["http_status"]'),
        ),
        process_id="Consulta",
    )
    chamado = run(app, xml)
    assert chamado.closed_at is not None, chamado.incident_message
    assert [(r["method"], r["path"]) for r in SEEN] == [
        ("GET", "/situacao?cpf=39053344705"),
        ("POST", "/registros"),
    ]
    assert SEEN[0]["auth"] == "Basic cGxhdGFmb3JtYTpzZWdyZWRv"
    assert SEEN[1]["body"] == {"cpf": "39053344705", "situacao": "regular"}


def incident_of(app: Flask, xml: str) -> str:
    chamado = run(app, xml)
    assert chamado.closed_at is None and chamado.incident_at is not None
    assert chamado.incident_element == "Service_x"
    return chamado.incident_message or ""


def one_call(url: str, operator: str = "http/GetRequestV2") -> str:
    return model(chain(http_task("Service_x", operator, "r", url=url)), process_id="Consulta")


def test_a_host_not_allowed_is_an_incident_and_nothing_is_sent(app: Flask, server: str) -> None:
    message = incident_of(app, one_call("'http://localhost:1/x'"))
    assert "o servidor localhost não está na lista de servidores permitidos" in message
    assert "Service_x" in message and "http/GetRequestV2" in message
    assert SEEN == []


def test_a_private_address_needs_its_own_entry(app: Flask, server: str) -> None:
    svc: Chamados = app.extensions["chamados"]
    svc.settings = dataclasses.replace(svc.settings, connector_http_hosts="localhost")
    message = incident_of(app, one_call(f"'{server.replace('127.0.0.1', 'localhost')}/x'"))
    assert "endereço de rede interna" in message and SEEN == []


def test_timeouts_error_statuses_and_big_answers_are_incidents(app: Flask, server: str) -> None:
    assert "sem resposta em 1 s" in incident_of(app, one_call(f"'{server}/lento'"))
    assert "respondeu 503" in incident_of(app, one_call(f"'{server}/erro'"))
    assert "passa de 256 KB" in incident_of(app, one_call(f"'{server}/grande'"))


def test_the_timeout_bounds_the_whole_call_not_each_read(app: Flask, server: str) -> None:
    """A server that answers a byte every 0.3 s never lets one read wait 1 s; the call
    still ends at its 1 s, not after the 6 s the answer takes."""
    started = time.monotonic()
    assert "sem resposta em 1 s" in incident_of(app, one_call(f"'{server}/gotejando'"))
    assert time.monotonic() - started < 4


def test_a_header_with_a_line_break_is_the_connectors_error(app: Flask, server: str) -> None:
    xml = model(
        chain(
            http_task(
                "Service_x",
                "http/GetRequestV2",
                "r",
                url=f"'{server}/x'",
                headers="{'X-A': 'a\\r\\nb'}",
            )
        ),
        process_id="Consulta",
    )
    assert "um cabeçalho ou o endereço tem caracteres inválidos" in incident_of(app, xml)


def test_a_text_answer_is_kept_as_text(app: Flask, server: str) -> None:
    xml = model(
        chain(
            http_task("Service_x", "http/GetRequest", "r", url=f"'{server}/texto'"),
            script_task(
                "Script_ok", 'assert r["body"] == "situação: ok" and r["mimetype"] == "text/plain"'
            ),
        ),
        process_id="Consulta",
    )
    chamado = run(app, xml)
    assert chamado.closed_at is not None, chamado.incident_message


def test_deploy_refuses_unknown_operators_missing_and_unknown_parameters(app: Flask) -> None:
    from click.testing import CliRunner

    from web.cli import main

    xml = model(
        chain(
            http_task("Service_sem_url", "http/GetRequestV2", "r", headers="{}"),
            http_task("Service_mau", "http/GetRequestV2", "r", url="'x'", arquivo="'y'"),
            http_task("Service_expr", "http/GetRequestV2", "r", url="__import__('os')"),
        ),
        process_id="Consulta",
    )
    path = Path(app.instance_path) / "mau.bpmn"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(xml)
    with app.app_context():
        result = CliRunner().invoke(main, ["models", "deploy", str(path)])
    assert result.exit_code == 1, result.output
    lines = result.output.strip().splitlines()[1:]
    assert lines[0] == (
        "Service_sem_url: Tarefa de serviço: o conector http/GetRequestV2 precisa do parâmetro url."
    )
    assert lines[1] == (
        "Service_mau: Tarefa de serviço: o conector http/GetRequestV2 não tem o parâmetro arquivo."
    )
    assert lines[2].startswith("Service_expr: Parâmetro url do conector:")
    assert len(lines) == 3


def test_the_policy_matches_names_suffixes_and_networks() -> None:
    import ipaddress

    policy = connectors.HttpPolicy.from_text(" api.exemplo.gov.br, *.serpro.gov.br ; 10.1.0.0/16")
    assert policy.allows_host("API.exemplo.gov.br") and policy.allows_host("x.serpro.gov.br")
    assert not policy.allows_host("serpro.gov.br") and not policy.allows_host("exemplo.gov.br")
    assert policy.allows_host("10.1.2.3") and not policy.allows_host("10.2.0.1")
    assert policy.allows_address(ipaddress.ip_address("200.152.38.1"))
    assert policy.allows_address(ipaddress.ip_address("10.1.9.9"))
    for private in ("10.9.0.1", "127.0.0.1", "169.254.169.254", "192.168.0.1", "::1"):
        assert not policy.allows_address(ipaddress.ip_address(private)), private


def mail_task(element_id: str = "Service_mail", **params: str) -> str:
    return http_task(element_id, "smtp/SendEmail", "aviso", **params)


def test_an_email_task_goes_through_the_outbox_to_the_smtp_server(app: Flask) -> None:
    svc: Chamados = app.extensions["chamados"]
    xml = model(
        chain(
            script_task("Script_dados", 'numero = 42; destino = "gestor@orgao.gov.br"'),
            mail_task(
                email_to="destino + ', copia@orgao.gov.br'",
                email_subject='f"Pedido {numero} recebido"',
                email_body='f"O pedido {numero} chegou.\\nAtenciosamente."',
                email_from="'ignorado@spiff.local'",
                smtp_host="'10.0.0.1'",
            ),
        ),
        process_id="Consulta",
    )
    chamado = run(app, xml)
    assert chamado.closed_at is not None, chamado.incident_message
    smtp = SmtpServer()
    smtp.start()
    try:
        report = drain(svc.unit.transaction, smtp.transport(), svc.clock, "w1")
    finally:
        smtp.stop()
    assert report.sent == 2
    got = {tuple(r.rcpt_tos): r.message for r in smtp.handler.received}
    assert set(got) == {("gestor@orgao.gov.br",), ("copia@orgao.gov.br",)}
    message = got[("gestor@orgao.gov.br",)]
    assert message["Subject"] == "Pedido 42 recebido"
    text = message.get_body(preferencelist=("plain",))
    assert text is not None
    content = text.get_content().replace("\r\n", "\n").strip()
    assert content == "O pedido 42 chegou.\nAtenciosamente."
    assert "10.0.0.1" not in str(smtp.handler.received[0].peer)  # the platform's relay


def test_a_failed_step_sends_no_mail_and_a_bad_address_is_an_incident(app: Flask) -> None:
    svc: Chamados = app.extensions["chamados"]
    xml = model(
        chain(
            mail_task(email_to="'a@orgao.gov.br'", email_subject="'Oi'", email_body="'x'"),
            script_task("Script_falha", "1 / 0"),
        ),
        process_id="Consulta",
    )
    chamado = run(app, xml)
    assert chamado.incident_element == "Script_falha"
    bad = model(
        chain(
            mail_task("Service_x", email_to="'sem-arroba'", email_subject="'Oi'", email_body="'x'")
        ),
        process_id="Consulta",
    )
    message = incident_of(app, bad)
    assert "o conector smtp/SendEmail falhou: email_to não é um endereço de e-mail" in message
    injected = model(
        chain(
            mail_task(
                "Service_x",
                email_to="'a@orgao.gov.br'",
                email_subject="'Oi\\nBcc: todos@orgao.gov.br'",
                email_body="'x'",
            )
        ),
        process_id="Consulta",
    )
    assert "email_subject deve ser uma linha" in incident_of(app, injected)
    with svc.unit.session_factory() as s:
        assert s.query(OutboxMessage).filter_by(kind="conector").count() == 0
