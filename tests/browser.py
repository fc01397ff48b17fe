"""Shared set-up for the browser tests: Debian's Chromium, driven by Playwright."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import werkzeug.serving

from engine import scheduler, users
from engine.mail import MailSettings
from engine.service import Chamados
from tests.conftest import database_url
from tests.smtp_server import SmtpServer
from web.dev_oidc import run_in_thread

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
# This machine has no network but loopback: Chromium's background services stay off.
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def watch_csp(page: Any) -> list[str]:
    """The Content-Security-Policy violations the page reports from now on (Chromium logs
    each as a console error): a blocked script or style would leave a page half working."""
    violations: list[str] = []

    def on_console(message: Any) -> None:
        if message.type == "error" and "Content Security Policy" in message.text:
            violations.append(message.text)

    page.on("console", on_console)
    return violations


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """One headless Chromium per test module (import this fixture where it is used)."""
    playwright_api = pytest.importorskip("playwright.sync_api")
    if not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium não encontrado em {CHROMIUM}: instale o pacote chromium")
    with playwright_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


def shot(page: Any, name: str) -> None:
    """A full-page screenshot into test-artifacts/ (kept by CI for people to look at)."""
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def select(page: Any, element_id: str, **click: Any) -> None:
    """Click an element of the modeler's diagram (the properties panel then shows it)."""
    page.locator(f"g.djs-element[data-element-id='{element_id}']").click(**click)


def marked(page: Any, element_id: str, marker: str) -> bool:
    """Whether a drawn diagram shows ``element_id`` with ``marker`` (app-done, app-current…)."""
    return bool(
        page.locator(f"g.djs-element[data-element-id='{element_id}']").evaluate(
            f"e => e.classList.contains('{marker}')"
        )
    )


def cell(page: Any, label: str) -> Any:
    """A cell of the modeler's decision table, by the label decisions.js gives it."""
    return page.get_by_role("textbox", name=label, exact=True)


def retype(page: Any, target: Any, text: str) -> None:
    """Replace a field's (or a decision table cell's) text with the keyboard, as a person would."""
    target.focus()
    page.keyboard.press("Control+A")
    page.keyboard.type(text)


@dataclass
class Stack:
    """The product as people reach it: the app on a real port, logging in through the
    development OpenID provider over HTTP, its mail going to a real SMTP server."""

    base: str
    svc: Chamados
    smtp: SmtpServer

    def deliver_mail(self) -> None:
        """What the scheduler's outbox job does every few seconds, once, now."""
        scheduler.deliver_mail(self.svc.unit, self.smtp.transport(), MailSettings(), "navegador")


@contextmanager
def live_stack(tmp: Path, roles: dict[str, str]) -> Iterator[Stack]:
    """Start the stack on ``tmp``'s database, ``roles`` (CPF -> role) granted; stop it."""
    from web import create_app

    issuer, stop_provider = run_in_thread()
    smtp = SmtpServer()
    smtp.start()
    server = werkzeug.serving.make_server("127.0.0.1", 0, lambda e, s: [], threaded=True)
    base = f"http://127.0.0.1:{server.server_port}"
    app = create_app(
        {
            "DATABASE_URL": database_url(tmp),
            "SECRET_KEY": f"browser-test-{tmp.name}",
            "OIDC_ISSUER": issuer,
            "OIDC_CLIENT_ID": "chamados-dev",
            "OIDC_CLIENT_SECRET": "chamados-dev-secret",
            "APP_BASE_URL": base,
        }
    )
    svc: Chamados = app.extensions["chamados"]
    svc.init_database()
    with svc.unit.transaction() as s:
        for cpf, role in roles.items():
            users.grant_role(s, cpf, role, None)
    server.app = app
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield Stack(base, svc, smtp)
    finally:
        server.shutdown()
        smtp.stop()
        stop_provider()
        svc.unit.db.dispose()
