"""The bpmn-js modeler in a real browser (Playwright driving Debian's Chromium).

A designer opens the modeler, renames a task and saves; adds a user task, sees the
validation error drawn on the diagram, creates its form from the side panel and
saves again. The draft on the server changes accordingly, extensions intact. Then the
ticket diagram viewer draws a ticket's steps. The session cookie is set directly:
the login itself is tested elsewhere.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
import werkzeug.serving
from flask import Flask, render_template_string

from engine import scenarios
from engine.service import ActorRef, Chamados
from tests.browser import shot, watch_csp
from tests.conftest import database_url
from tests.test_auth import set_session_user
from tests.test_engine_lifecycle import submit_registration

pytestmark = pytest.mark.browser
playwright_api = pytest.importorskip("playwright.sync_api")

DORA = "12345678909"
MARIA = "39053344705"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Flask]]:
    from web import create_app
    from web.designer import init_designer

    tmp = tmp_path_factory.mktemp("designer-browser")
    srv = werkzeug.serving.make_server("127.0.0.1", 0, lambda e, s: [], threaded=True)
    base = f"http://127.0.0.1:{srv.server_port}"
    app = create_app(
        {
            "DATABASE_URL": database_url(tmp),
            "SECRET_KEY": "designer-browser-test",
            "OIDC_ISSUER": "http://127.0.0.1:9",  # never contacted: the cookie is set directly
            "APP_BASE_URL": base,
        }
    )
    if "designer" not in app.blueprints:
        init_designer(app)
    # A page that includes the ticket diagram partial, as the analysis and tracking pages do.
    app.add_url_rule(
        "/_diagrama/<int:cid>",
        "test_diagram",
        lambda cid: render_template_string(
            '{% extends "base.html" %}{% block content %}'
            '{% with chamado_id=cid %}{% include "_diagram.html" %}{% endwith %}'
            "{% endblock %}",
            cid=cid,
        ),
    )
    svc = app.extensions["chamados"]
    svc.init_database()
    with svc.unit.transaction() as session:
        scenarios.seed(session, svc.settings.processes_dir, svc.clock())
    srv.app = app
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield base, app
    srv.shutdown()
    svc.unit.db.dispose()


def signed_in(browser: Any, base: str, app: Flask, cpf: str, name: str, *roles: str) -> Any:
    client = app.test_client()
    set_session_user(app, client, cpf, name, *roles)
    cookie = client.get_cookie("session")
    assert cookie is not None
    context = browser.new_context(locale="pt-BR")
    context.add_cookies([{"name": "session", "value": cookie.value, "url": base}])
    page = context.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda exc: problems.append(str(exc)))
    page.on(
        "requestfailed",
        lambda req: problems.append(f"{req.url}: {req.failure}"),
    )
    page.problems = problems
    # Violations of the Content-Security-Policy count as problems too.
    page.csp_violations = watch_csp(page)
    return page


def draft_of(app: Flask) -> Any:
    svc: Chamados = app.extensions["chamados"]
    with svc.unit.session_factory() as s:
        from engine.designer import drafts

        return drafts.load(s, "chamado")


def test_modeler_edits_and_saves(server: tuple[str, Flask], browser: Any) -> None:
    expect = playwright_api.expect
    base, app = server
    page = signed_in(browser, base, app, DORA, "Dora Projetista", "designer")
    page.goto(base + "/processos/chamado/modelador")
    modeler = page.locator("#modeler")
    expect(modeler).to_have_attribute("data-ready", "true", timeout=15000)
    expect(page.locator(".djs-element[data-element-id='analisar_chamado']")).to_be_visible()
    assert page.locator(".bjs-powered-by").count() == 1  # bpmn.io's mark stays, per its license

    # 1. Rename a task through the bpmn-js API, then save with the toolbar.
    page.evaluate(
        """() => {
          const m = window.chamadosModeler
          const task = m.get('elementRegistry').get('analisar_chamado')
          m.get('modeling').updateLabel(task, 'Analisar no navegador')
        }"""
    )
    expect(page.locator("#modeler-status")).to_contain_text("Alterações não salvas")
    page.get_by_role("button", name="Salvar rascunho").click()
    expect(page.locator("#modeler-status")).to_contain_text("Rascunho salvo")
    expect(modeler).to_have_attribute("data-version", "1")
    draft = draft_of(app)
    assert draft.version == 1
    assert 'name="Analisar no navegador"' in draft.bpmn_xml
    # bpmn-js kept what it does not know: SpiffArena's form properties, scripts, timers.
    assert 'value="analisar-chamado-schema.json"' in draft.bpmn_xml
    assert "rodadas_ajuste = rodadas_ajuste + 1" in draft.bpmn_xml
    assert '"P10D"' in draft.bpmn_xml
    assert "Informe os dados do erro encontrado" in draft.bpmn_xml  # instructionsForEndUser
    shot(page, "designer-01-salvo")

    # 2. A new user task linked to a UI file but no schema: the error is drawn on the
    # diagram. (A user task without any form is valid: SpiffArena's "read and continue".)
    page.evaluate(
        """() => {
          const m = window.chamadosModeler
          const registry = m.get('elementRegistry')
          const lane = registry.get('Lane_analista')
          const bo = m.get('bpmnFactory').create('bpmn:UserTask', {id: 'revisar_chamado'})
          const shape = m.get('elementFactory').createShape(
            {type: 'bpmn:UserTask', businessObject: bo})
          m.get('modeling').createShape(shape, {x: 760, y: 520}, lane)
          m.get('modeling').updateLabel(registry.get('revisar_chamado'), 'Revisar chamado')
          m.get('selection').select(registry.get('revisar_chamado'))
        }"""
    )
    panel = page.locator("#modeler-panel")
    panel.get_by_label("UI do formulário (UI schema)").select_option(
        "analisar-chamado-uischema.json"
    )
    # Validated as one edits: the problem shows without pressing "Validar".
    errors = page.locator("#modeler-errors")
    expect(errors).to_contain_text("revisar_chamado", timeout=10000)
    page.get_by_role("button", name="Validar").click()
    expect(errors).to_contain_text("revisar_chamado")
    expect(errors).to_contain_text("indica só o UI do formulário")
    expect(page.locator(".djs-overlay .app-error-badge")).to_have_count(1)
    expect(
        page.locator(".djs-element.app-invalid[data-element-id='revisar_chamado']")
    ).to_have_count(1)
    shot(page, "designer-02-erro-no-diagrama")
    # Saved all the same (unfinished work is never lost), with what blocks publishing.
    page.get_by_role("button", name="Salvar rascunho").click()
    expect(page.locator("#modeler-status")).to_contain_text("com 1 problema(s)")
    expect(errors).to_contain_text("revisar_chamado")
    assert draft_of(app).version == 2

    # 3. The properties panel creates its form; the draft is valid again.
    expect(panel.get_by_label("Nome", exact=True)).to_have_value("Revisar chamado")
    page.get_by_role("button", name="Criar formulário para esta tarefa").click()
    expect(panel.get_by_label("Esquema do formulário (JSON Schema)")).to_have_value(
        "revisar_chamado-schema.json"
    )
    page.get_by_role("button", name="Salvar rascunho").click()
    expect(page.locator("#modeler-status")).to_contain_text("Rascunho salvo")
    expect(page.locator("#modeler-status")).not_to_contain_text("problema")
    expect(modeler).to_have_attribute("data-version", "3")
    draft = draft_of(app)
    assert 'id="revisar_chamado"' in draft.bpmn_xml
    assert 'value="revisar_chamado-schema.json"' in draft.bpmn_xml
    assert {"revisar_chamado-schema.json", "revisar_chamado-uischema.json"} <= set(draft.forms)
    assert page.problems == [] and page.csp_violations == []
    shot(page, "designer-03-tarefa-nova")


def test_form_editor_live_preview(server: tuple[str, Flask], browser: Any) -> None:
    expect = playwright_api.expect
    base, app = server
    page = signed_in(browser, base, app, DORA, "Dora Projetista", "designer")
    page.goto(base + "/processos/chamado/formularios/analisar_chamado?modo=json")
    preview = page.locator("#form-preview")
    expect(preview).to_contain_text("Resposta ao solicitante")
    schema = page.locator("#schema-text")
    schema.fill(schema.input_value().replace("Resposta ao solicitante", "Resposta final"))
    expect(preview).to_contain_text("Resposta final")  # htmx redrew it with the form macros
    assert page.csp_violations == []
    shot(page, "designer-04-previa")


def test_ticket_diagram_viewer(server: tuple[str, Flask], browser: Any) -> None:
    expect = playwright_api.expect
    base, app = server
    svc: Chamados = app.extensions["chamados"]
    page = signed_in(browser, base, app, MARIA, "Maria da Silva")
    with svc.unit.session_factory() as s:
        from engine.users import get_user_by_cpf

        user = get_user_by_cpf(s, MARIA)
        assert user is not None
        maria = ActorRef(user.id)
    cid = submit_registration(svc, maria)
    assert svc.tickets.diagram(maria, cid).current == ["analisar_chamado"]
    page.goto(f"{base}/_diagrama/{cid}")
    section = page.locator(".app-diagram")
    expect(section).to_have_attribute("data-loaded", "true", timeout=15000)
    expect(
        page.locator(".djs-element.app-current[data-element-id='analisar_chamado']")
    ).to_have_count(1)
    expect(
        page.locator(".djs-element.app-done[data-element-id='registrar_chamado']")
    ).to_have_count(1)
    expect(page.locator(".app-diagram-steps")).to_contain_text("Analisar chamado — etapa atual")
    assert page.problems == [] and page.csp_violations == []
    shot(page, "designer-05-diagrama-do-chamado")
