"""The production entry point refuses to start when it would not work as users expect."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from bench.common import children  # a server's workers, as the benchmarks read them
from tests import procs
from web import cli, startup

ROOT = Path(__file__).resolve().parent.parent


def environment(tmp_path: Path, **env: str) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("OIDC_", "DATABASE_URL"))}
    return {**base, "INSTANCE_DIR": str(tmp_path), "SECRET_KEY": "x", **env}


def run(tmp_path: Path, args: list[str], **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args],
        cwd=ROOT,
        env=environment(tmp_path, **env),
        capture_output=True,
        text=True,
        timeout=120,
    )


# Both ways a production server starts: a worker loading the WSGI module, and ``chamados
# serve`` (which checks once before it starts granian, whose workers would otherwise be
# replaced, fail again and be replaced forever).
ENTRY_POINTS = {
    "worker": ["-c", "import web.wsgi"],
    "serve": ["-m", "web.cli", "serve", "--bind", "127.0.0.1:9", "--workers", "1"],
}


@pytest.mark.parametrize("entry", ENTRY_POINTS)
def test_refuses_without_an_openid_provider(tmp_path: Path, entry: str) -> None:
    result = run(tmp_path, ENTRY_POINTS[entry], DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}")
    assert result.returncode == 3
    assert "OIDC_ISSUER não configurado" in result.stderr


@pytest.mark.parametrize("entry", ENTRY_POINTS)
def test_refuses_a_database_behind_the_code(tmp_path: Path, entry: str) -> None:
    result = run(
        tmp_path,
        ENTRY_POINTS[entry],
        DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}",
        OIDC_ISSUER="https://sso.staging.acesso.gov.br/",
    )
    assert result.returncode == 3
    assert "chamados db upgrade" in result.stderr
    assert "granian" not in result.stderr  # refused before any server started


def test_a_started_worker_keeps_its_start_up_objects_out_of_the_collector(tmp_path: Path) -> None:
    env = {
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "OIDC_ISSUER": "https://sso.staging.acesso.gov.br/",
    }
    upgraded = run(tmp_path, ["-m", "web.cli", "db", "upgrade"], **env)
    assert upgraded.returncode == 0, upgraded.stderr
    frozen = run(tmp_path, ["-c", "import gc, web.wsgi; print(gc.get_freeze_count())"], **env)
    assert frozen.returncode == 0, frozen.stderr
    # The app and every module frozen (tens of thousands of objects), not a handful.
    assert int(frozen.stdout.split()[-1]) > 50_000


# --- ``chamados serve``: the production server, as operators run it ------------------------


def test_serve_refuses_a_bind_without_a_port() -> None:
    result = CliRunner().invoke(cli.main, ["serve", "--bind", "0.0.0.0"])
    assert result.exit_code == 2
    assert "use HOST:PORTA" in result.output


def test_serve_runs_granian_on_the_wsgi_app_with_what_operators_pass() -> None:
    argv = cli.granian_command("[::]:8000", 4, 2, ("--workers-lifetime", "3600"))

    def option(name: str) -> str:
        return argv[argv.index(name) + 1]

    assert argv[:3] == [sys.executable, "-m", "granian"] and "web.wsgi:app" in argv
    assert option("--interface") == "wsgi"
    assert (option("--host"), option("--port")) == ("::", "8000")
    assert (option("--workers"), option("--blocking-threads")) == ("4", "2")
    assert "--respawn-failed-workers" in argv
    assert argv[-2:] == ["--workers-lifetime", "3600"]  # the operator's own, last


def test_serve_answers_refuses_a_body_too_large_unread_replaces_a_dead_worker_and_stops(
    tmp_path: Path,
) -> None:
    """The real server on a real port: no process environment variable read as a request
    header; the app's JSON request log and no second access line; clients slow to send
    their headers hold no worker; a body over the limit refused from its headers, before a
    byte more of it arrives (the server hands the request to the app without buffering the
    body); a worker killed is replaced; SIGTERM stops the server and its workers."""
    env = {
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "OIDC_ISSUER": "http://127.0.0.1:9/",
    }
    upgraded = run(tmp_path, ["-m", "web.cli", "db", "upgrade"], **env)
    assert upgraded.returncode == 0, upgraded.stderr
    port = procs.free_port()
    base = f"http://127.0.0.1:{port}"
    args = [
        sys.executable,
        "-m",
        "web.cli",
        "serve",
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        "2",
    ]
    # A variable named like a header: granian puts the process environment in every
    # request's environ; the app must not read it as the client's X-Request-ID.
    server_env = environment(tmp_path, APP_BASE_URL=base, HTTP_X_REQUEST_ID="do-ambiente", **env)
    server = procs.start("serve", args, server_env, tmp_path, ROOT)
    try:
        procs.wait_http(server, f"{base}/readyz", 60)
        # Both workers booted (the app answers through either one), so that a worker killed
        # below is one that had started, whose replacement logs the third start.
        procs.wait_until(
            lambda: (
                len(children(server.pid)) == 2 and server.output(10**6).count("Started worker") == 2
            ),
            60,
            "two workers started",
            diagnose=server.describe,
        )

        with urllib.request.urlopen(f"{base}/servicos", timeout=10) as resp:
            assert resp.status == 200
            assert resp.headers["X-Request-ID"] != "do-ambiente"
        sent = urllib.request.Request(f"{base}/healthz", headers={"X-Request-ID": "do-cliente"})
        with urllib.request.urlopen(sent, timeout=10) as resp:
            assert resp.headers["X-Request-ID"] == "do-cliente"
        procs.wait_until(lambda: '"path": "/servicos"' in server.output(10**6), 10, "its log line")
        logged = [line for line in server.output(10**6).splitlines() if "/servicos" in line]
        assert len(logged) == 1  # the app's JSON line, no access log line beside it

        # Clients that never finish their headers (more of them than workers) hold none.
        slow = [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(3)]
        for sock in slow:
            sock.sendall(b"GET /servicos HTTP/1.1\r\nHost: x\r\n")
        with urllib.request.urlopen(f"{base}/healthz", timeout=5) as resp:
            assert resp.status == 200
        for sock in slow:
            sock.close()

        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sock.sendall(
                b"POST /api/v1/processes/chamado/instances HTTP/1.1\r\nHost: x\r\n"
                b"Content-Type: application/json\r\nContent-Length: 200000000\r\n\r\n{"
            )
            assert sock.recv(200).startswith(b"HTTP/1.1 413 ")

        victim = min(children(server.pid))
        os.kill(victim, signal.SIGKILL)
        procs.wait_until(
            lambda: (
                len(set(children(server.pid)) - {victim}) == 2
                and server.output(10**6).count("Started worker") == 3
            ),
            60,
            "a new worker started in the dead one's place",
            diagnose=server.describe,
        )
        for _ in range(4):  # both workers answer (no request meets the dead one)
            with urllib.request.urlopen(f"{base}/healthz", timeout=10) as resp:
                assert resp.status == 200

        workers = children(server.pid)
        server.popen.send_signal(signal.SIGTERM)
        assert server.popen.wait(timeout=40) == 0
        procs.wait_until(
            lambda: not any(Path(f"/proc/{pid}").exists() for pid in workers), 10, "no worker left"
        )
    finally:
        server.stop()


def test_the_process_environment_is_taken_out_of_each_request() -> None:
    seen: dict[str, Any] = {}

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        seen.update(environ)
        return []

    process = {
        "SECRET_KEY": "s",
        "DATABASE_URL": "postgresql://u:p@db/x",
        "HTTP_HOST": "env",
        "HTTP_AUTHORIZATION": "Bearer env",
        "PATH_INFO": "/",  # a variable named like one the request defines
    }
    wrapped = startup.WithoutProcessEnvironment(app, process)
    wrapped(
        {
            **process,
            "HTTP_HOST": "chamados.gov.br",  # the client's own Host header
            "REQUEST_METHOD": "GET",
        },
        None,
    )
    assert seen == {"HTTP_HOST": "chamados.gov.br", "PATH_INFO": "/", "REQUEST_METHOD": "GET"}
