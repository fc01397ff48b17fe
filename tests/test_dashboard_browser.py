"""The Painel in Chromium, by visible labels: a supervisor reads four weeks of demo-like
tickets (tests/dashboard_data.demo, run through the real engine), filters by week and by
órgão without JavaScript, and downloads a CSV. The page's screenshot goes to
test-artifacts/painel.png; with CHAMADOS_DOCS_SCREENSHOTS=1 also to docs/painel.png, the
README's picture."""

from __future__ import annotations

import csv
import io
import os
import re
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import werkzeug.serving

from engine.identity import Identity
from engine.service import Chamados
from tests import dashboard_data
from tests.browser import browser, shot, watch_csp  # noqa: F401 - fixture
from tests.conftest import FakeClock, database_url
from web.auth import SESSION_KEY

pytestmark = pytest.mark.browser
playwright_api = pytest.importorskip("playwright.sync_api")
expect = playwright_api.expect

SOFIA = "71460238001"
DOCS = Path(__file__).resolve().parent.parent / "docs"
PERIOD = "de=2026-11-07&ate=2026-12-04"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Any]]:
    from web import create_app

    tmp = tmp_path_factory.mktemp("painel")
    srv = werkzeug.serving.make_server("127.0.0.1", 0, lambda e, s: [], threaded=True)
    base = f"http://127.0.0.1:{srv.server_port}"
    app = create_app(
        {
            "DATABASE_URL": database_url(tmp),
            "SECRET_KEY": "painel-browser-test",
            "OIDC_ISSUER": "http://127.0.0.1:9",
            "APP_BASE_URL": base,
        }
    )
    svc: Chamados = app.extensions["chamados"]
    svc.init_database()
    clock = FakeClock(dashboard_data.DEMO_END)
    svc.clock = clock
    dashboard_data.demo(svc, clock)
    srv.app = app
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield base, app
    srv.shutdown()
    svc.unit.db.dispose()


def _sofia(site: tuple[str, Any], browser: Any, js: bool = True) -> Any:  # noqa: F811
    base, app = site
    svc: Chamados = app.extensions["chamados"]
    from engine import users

    with svc.unit.transaction() as s:
        users.grant_role(s, SOFIA, "supervisor", None)
    _user, token = svc.sessions.log_in(Identity(cpf=SOFIA, name="Sofia Supervisora"), "pytest")
    client = app.test_client()
    with client.session_transaction() as sess:
        sess[SESSION_KEY] = token
    cookie = client.get_cookie("session")
    assert cookie is not None
    context = browser.new_context(
        locale="pt-BR",
        java_script_enabled=js,
        viewport={"width": 1200, "height": 900},
        accept_downloads=True,
    )
    context.add_cookies([{"name": "session", "value": cookie.value, "url": base}])
    page = context.new_page()
    page.csp_violations = watch_csp(page)
    return page


def test_a_supervisor_reads_the_panel_and_its_screenshot(site: Any, browser: Any) -> None:  # noqa: F811
    base, _app = site
    page = _sofia(site, browser)
    page.goto(f"{base}/")
    assert page.locator('a[href="/painel"]').count() >= 1  # in the menu
    page.goto(f"{base}/painel?{PERIOD}")
    for heading in (
        "Chamados abertos por dia",
        "Abertos por órgão",
        "Em aberto por idade",
        "Tempo até a primeira análise e até o resultado",
        "Prazos de análise vencidos",
        "Rodadas de ajuste",
        "Satisfação: “O atendimento resolveu seu problema?”",
    ):
        expect(page.get_by_role("heading", level=2, name=heading)).to_be_visible()
    chart = page.get_by_role(
        "img", name=re.compile("^Gráfico de colunas: Chamados abertos por dia")
    )
    expect(chart).to_be_visible()
    box = chart.bounding_box()
    assert box is not None and box["height"] > 100  # drawn, not an empty box
    total = page.locator("#abertos dd").first.inner_text()
    assert int(total) == 70
    if os.environ.get("CHAMADOS_DOCS_SCREENSHOTS") == "1":  # the README's picture
        DOCS.mkdir(exist_ok=True)
        page.set_viewport_size({"width": 1280, "height": 1560})
        page.screenshot(path=str(DOCS / "painel.png"), full_page=False)
    page.get_by_text("Ver a tabela: Chamados abertos por dia").click()  # a <details>
    table = page.get_by_role("table", name="Tabela: Chamados abertos por dia")
    expect(table.get_by_role("row")).to_have_count(29)  # a header and 28 days
    assert page.csp_violations == []
    shot(page, "painel")
    # The CSV of a table, downloaded as a person would.
    with page.expect_download() as info:
        page.get_by_role("link", name="Baixar CSV — Satisfação").click()
    download = info.value
    assert download.suggested_filename == "painel-satisfacao-2026-11-07-a-2026-12-04.csv"
    rows = list(csv.reader(io.StringIO(Path(download.path()).read_text("utf-8-sig"))))
    assert rows[0] == ["Resposta", "Respostas"] and len(rows) == 6
    page.context.close()


def test_the_filters_work_without_javascript(site: Any, browser: Any) -> None:  # noqa: F811
    base, _app = site
    page = _sofia(site, browser, js=False)
    page.goto(f"{base}/painel?{PERIOD}")
    page.get_by_label("Agrupar por", exact=True).select_option("semana")
    page.get_by_label("Órgão", exact=True).select_option(label="MEC — Ministério da Educação")
    page.get_by_role("button", name="Aplicar filtros").click()
    expect(page.get_by_role("heading", level=2, name="Chamados abertos por semana")).to_be_visible()
    assert "agrupamento=semana" in page.url and "orgao=244" in page.url
    expect(page.get_by_label("Órgão", exact=True)).to_have_value("244")
    page.get_by_text("Ver a tabela: Abertos por órgão").click()
    orgaos = page.get_by_role("table", name="Tabela: Abertos por órgão")
    expect(orgaos.get_by_role("row")).to_have_count(2)  # only MEC's tickets now
    expect(orgaos).to_contain_text("MEC — Ministério da Educação")
    # A bad period comes back named, the dates kept.
    page.get_by_label("De", exact=True).fill("2026-12-04")
    page.get_by_label("Até", exact=True).fill("2026-11-01")
    page.get_by_role("button", name="Aplicar filtros").click()
    expect(page).to_have_title(re.compile("^Erro: Painel"))
    expect(page.get_by_role("alert").first).to_contain_text(
        "A data final deve ser igual ou posterior à data inicial."
    )
    expect(page.get_by_label("De", exact=True)).to_have_value("2026-12-04")
    page.context.close()
