"""The ``chamados`` command: development server, database set-up, roles."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from typing import Any

import click

DEV_OIDC_PORT = 5001
DEV_CLIENT_ID = "chamados-dev"
DEV_CLIENT_SECRET = "chamados-dev-secret"


@click.group()
def main() -> None:
    """Chamados da Plataforma de Automação de serviços."""


@main.command("init-db")
def init_db() -> None:
    """Cria as tabelas, implanta os processos e carrega órgãos e catálogos."""
    from web import create_app

    app = create_app()
    app.extensions["chamados"].init_database()
    click.echo("Banco de dados pronto.")


@main.group("db")
def db() -> None:
    """Versões do esquema do banco (Alembic)."""


@db.command("upgrade")
def db_upgrade() -> None:
    """Aplica as migrações pendentes."""
    from web import create_app

    create_app().extensions["chamados"].migrate()
    click.echo("Banco de dados atualizado.")


@db.command("current")
def db_current() -> None:
    """Mostra a versão do banco e a esperada pelo código."""
    from web import create_app

    current, head = create_app().extensions["chamados"].health.revisions()
    click.echo(f"banco: {current}; código: {head}")


def _wait_for(url: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError as exc:
            if time.monotonic() > deadline:
                raise click.ClickException(
                    f"O provedor de identidade não respondeu em {url}."
                ) from exc
            time.sleep(0.2)


@main.command("dev")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True)
def dev(host: str, port: int) -> None:
    """Inicia o produto nos padrões embutidos.

    SQLite, provedor OpenID local e pessoas de demonstração.
    """
    provider = None
    os.environ.setdefault("APP_BASE_URL", f"http://{host}:{port}")
    if not os.environ.get("OIDC_ISSUER"):
        issuer = f"http://127.0.0.1:{DEV_OIDC_PORT}"
        provider = subprocess.Popen(
            [sys.executable, "-m", "web.dev_oidc", "--port", str(DEV_OIDC_PORT)]
        )
        os.environ.update(
            OIDC_ISSUER=issuer,
            OIDC_CLIENT_ID=DEV_CLIENT_ID,
            OIDC_CLIENT_SECRET=DEV_CLIENT_SECRET,
        )
        _wait_for(issuer + "/.well-known/openid-configuration")
    try:
        from engine.service import format_cpf
        from web import create_app
        from web.demo import seed_demo

        app = create_app()
        svc = app.extensions["chamados"]
        svc.init_database()
        people = seed_demo(svc) if provider else []
        scheduler = build_scheduler(app)
        scheduler.start()
        click.echo("")
        click.echo(f"Chamados em {os.environ['APP_BASE_URL']}")
        if provider:
            click.echo(f"Provedor OpenID de desenvolvimento em {os.environ['OIDC_ISSUER']}")
            click.echo("Clique em 'Entrar com gov.br' e escolha uma pessoa de demonstração:")
            for person in people:
                cpf = format_cpf(person["cpf"])
                click.echo(f"  - {person['name']} (CPF {cpf}): {person['role_label']}")
        click.echo("")
        app.run(host=host, port=port, threaded=True, use_reloader=False)
        scheduler.shutdown(wait=False)
    finally:
        if provider:
            provider.terminate()
            provider.wait(timeout=10)


@main.command("serve", context_settings={"ignore_unknown_options": True})
@click.option("--bind", default="127.0.0.1:8000", show_default=True, help="HOST:PORTA")
@click.option("--workers", default=2, show_default=True, help="Processos (um por núcleo).")
@click.option(
    "--threads", default=1, show_default=True, help="Requisições ao mesmo tempo por processo."
)
@click.argument("granian_args", nargs=-1, type=click.UNPROCESSED)
def serve(bind: str, workers: int, threads: int, granian_args: tuple[str, ...]) -> None:
    """Serve em produção com granian (configuração só pelo ambiente)."""
    command = granian_command(bind, workers, threads, granian_args)
    from web.startup import production_app

    # Refused here, once, with the reason (exit 3): not by every worker, again and again.
    production_app().extensions["chamados"].close()
    os.execv(sys.executable, command)


def granian_command(
    bind: str, workers: int, threads: int = 1, extra: tuple[str, ...] = ()
) -> list[str]:
    """The granian command line ``chamados serve`` runs (argv, ``python -m granian …``).

    granian, not gunicorn: its HTTP handling is Rust, so a request costs the worker about a
    third of gunicorn's sync worker's CPU outside the app (118–140 against 343–365 µs on a
    bare WSGI app), and a slow client's headers are read without holding the app's thread
    (the README's "Desempenho" has the side-by-side runs). What gunicorn gave and granian
    needs asked for: a dead worker is replaced (``--respawn-failed-workers``) and a stop
    waits for the requests in flight at most 30 s (``--workers-kill-timeout``); gunicorn's
    per-request worker timeout has no counterpart, so the waits that could hold a worker
    are bounded in the app (``DATABASE_LOCK_TIMEOUT_SECONDS``, SQLite's busy timeout, the
    HTTP connector's timeout, the script sandbox's limits).
    """
    host, _, port = bind.rpartition(":")
    if not host or not port.isdigit():
        raise click.BadParameter(
            f"use HOST:PORTA (ex.: 0.0.0.0:8000), não {bind!r}", param_hint="--bind"
        )
    return [
        sys.executable,
        "-m",
        "granian",
        "--interface",
        "wsgi",
        "web.wsgi:app",
        "--host",
        host.strip("[]"),
        "--port",
        port,
        "--workers",
        str(workers),
        # One request at a time per thread, as many threads as asked (1: a worker is one
        # request at a time, what the benchmarks measured; the GIL makes more threads pay
        # only while a request waits on the database).
        "--blocking-threads",
        str(threads),
        # HTTP/1.1 only, no websockets: the app speaks plain WSGI behind a proxy.
        "--http",
        "1",
        "--no-ws",
        "--respawn-failed-workers",
        "--workers-kill-timeout",
        "30",
        # No access log (granian's default): every request already writes one JSON line on
        # the "chamados.request" logger (method, path, status, duration, request id, user).
        *extra,
    ]


def build_scheduler(app: Any, blocking: bool = False) -> Any:
    interval = float(os.environ.get("CHAMADOS_SCHEDULER_INTERVAL", "5"))
    return app.extensions["chamados"].scheduler(blocking=blocking, interval_seconds=interval)


@main.command("scheduler")
def scheduler_command() -> None:
    """Roda os temporizadores e a entrega de e-mails como um processo próprio."""
    from web import create_app

    app = create_app()
    click.echo("Agendador iniciado (temporizadores BPMN e e-mails). Ctrl+C para parar.")
    build_scheduler(app, blocking=True).start()


def _mount_roles() -> None:
    try:
        from web.cli_roles import role
    except ImportError:  # pragma: no cover - module written alongside
        return
    main.add_command(role)


_mount_roles()


def _mount_models() -> None:
    from web.cli_models import models

    main.add_command(models)


_mount_models()


if __name__ == "__main__":
    main()
