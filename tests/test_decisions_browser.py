"""Decision tables in the modeler page, in a real browser, by their visible labels.

A designer's draft has a business rule task calling ``faixa_de_valor``, which no table
has yet (the draft lists that problem). In the modeler's "Tabelas de decisão" section
she creates the table (dmn-js's editor, pt-BR), edits a rule's cells with the keyboard,
adds and deletes a rule, sees a broken entry named by decision, rule and column next to
the editor, fixes it; "Validar" then finds no problem and "Salvar rascunho" saves the
table with the diagram. The model is published and a requester runs it through the
table to the end the table chose. ``CHAMADOS_DOCS_SCREENSHOTS=1`` also writes the
README's picture of the editor (docs/decisoes.png).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from tests.a11y import axe_violations, describe
from tests.browser import browser, cell, retype, shot  # noqa: F401 - the fixture is used by name
from tests.test_designer import web_actor
from tests.test_designer_browser import DORA, MARIA, server, signed_in  # noqa: F401
from tests.test_designer_decisions import PID, drafted

pytestmark = pytest.mark.browser
playwright_api = pytest.importorskip("playwright.sync_api")

DOCS = Path(__file__).resolve().parent.parent / "docs"


def test_a_decision_table_made_in_the_modeler_runs(
    server: tuple[str, Flask],  # noqa: F811
    browser: Any,  # noqa: F811
) -> None:
    expect = playwright_api.expect
    base, app = server
    page = signed_in(browser, base, app, DORA, "Dora Projetista", "designer")
    drafted(app)
    page.set_viewport_size({"width": 1400, "height": 1100})
    page.goto(f"{base}/processos/{PID}/modelador")
    expect(page.locator("#modeler")).to_have_attribute("data-ready", "true", timeout=15000)
    section = page.get_by_role("region", name="Tabelas de decisão")
    problems = section.get_by_role("list", name="Problemas nas tabelas de decisão")
    expect(section.get_by_label("Tabela aberta")).to_contain_text("nenhuma tabela de decisão")

    # The draft's problem, shown beside the tables too once validated.
    page.get_by_role("button", name="Validar").click()
    expect(problems).to_contain_text("'faixa_de_valor', que não está em nenhum arquivo .dmn")

    # A wrong id is refused by the form, in pt-BR, tied to the field.
    section.get_by_label("Identificador da decisão").fill("faixa de valor")
    section.get_by_role("button", name="Criar tabela de decisão").click()
    expect(section.get_by_label("Identificador da decisão")).to_have_attribute(
        "aria-invalid", "true"
    )
    expect(section.locator("#decisions-new-id-erro")).to_contain_text("Identificador inválido")

    # Created with the keyboard: type, Enter.
    section.get_by_label("Identificador da decisão").fill("faixa_de_valor")
    section.get_by_label("Nome da decisão (opcional)").fill("Faixa de valor")
    section.get_by_label("Nome da decisão (opcional)").press("Enter")
    expect(section.get_by_label("Tabela aberta")).to_have_value("faixa_de_valor.dmn")
    editor = section.locator("#decisions-editor")
    expect(editor.get_by_text("Política de acerto:")).to_be_visible()  # dmn-js, in pt-BR
    expect(editor).to_contain_text("Quando")
    expect(cell(page, "Regra 1, entrada Valor")).to_have_text("< 100")

    # A rule edited with the keyboard: the limit and the answer.
    retype(page, cell(page, "Regra 1, entrada Valor"), "< 1000")
    retype(page, cell(page, "Regra 1, saída Resultado"), '"baixo"')
    retype(page, cell(page, "Regra 2, entrada Valor"), ">= 1000")
    page.keyboard.press("Tab")  # on to the next cell, as in any form
    expect(cell(page, "Regra 2, saída Resultado")).to_be_focused()
    # A rule added from the toolbar and deleted again (the focus on one of its cells).
    section.get_by_role("button", name="Acrescentar regra").click()
    expect(cell(page, "Regra 3, entrada Valor")).to_be_focused()
    section.get_by_role("button", name="Excluir a regra em foco").click()
    expect(cell(page, "Regra 3, entrada Valor")).to_have_count(0)
    # A column's label, through its header's edit button, by the keyboard.
    section.get_by_role("button", name="Editar a entrada").focus()
    page.keyboard.press("Enter")
    retype(page, page.get_by_role("textbox", name="Rótulo da entrada"), "Valor do pedido")
    page.keyboard.press("Escape")
    expect(cell(page, "Regra 1, entrada Valor do pedido")).to_have_text("< 1000")

    # A broken entry: named by decision, rule and column, next to the editor.
    retype(page, cell(page, "Regra 2, saída Resultado"), "alto demais")
    page.get_by_role("button", name="Validar").click()
    expect(problems).to_contain_text("Tabela de decisão faixa_de_valor, regra 2, Resultado:")
    shot(page, "decisoes-01-problema")
    found = axe_violations(page)  # the editor open, a problem listed next to it
    assert not found, describe(found)
    retype(page, cell(page, "Regra 2, saída Resultado"), '"alto"')
    page.get_by_role("button", name="Validar").click()
    expect(problems).to_have_text("Nenhum problema nas tabelas de decisão.")
    expect(page.locator("#modeler-errors")).to_have_text("Nenhum problema encontrado.")

    # A second table, created and deleted again (after a confirmation) before saving.
    section.get_by_label("Identificador da decisão").fill("outra_decisao")
    section.get_by_role("button", name="Criar tabela de decisão").click()
    expect(section.get_by_label("Tabela aberta")).to_have_value("outra_decisao.dmn")
    page.once("dialog", lambda dialog: dialog.accept())
    section.get_by_role("button", name="Excluir a tabela").click()
    expect(section.get_by_label("Tabela aberta")).to_have_value("faixa_de_valor.dmn")
    expect(section.get_by_label("Tabela aberta").locator("option")).to_have_count(1)

    page.get_by_role("button", name="Salvar rascunho").click()
    expect(page.locator("#modeler-status")).to_contain_text("Rascunho salvo")
    expect(section.get_by_label("Tabela aberta")).not_to_contain_text("não salva")
    expect(section.get_by_role("status")).to_have_text("Tabela salva com o rascunho.")
    svc = app.extensions["chamados"]
    draft = svc.designer.draft(web_actor(app, DORA), PID)
    table = draft.forms["faixa_de_valor.dmn"]
    assert "&lt; 1000" in table and "&gt;= 1000" in table and '"alto"' in table
    assert 'label="Valor do pedido"' in table
    assert sorted(n for n in draft.forms if n.endswith(".dmn")) == ["faixa_de_valor.dmn"]
    assert draft.problems == ()
    if os.environ.get("CHAMADOS_DOCS_SCREENSHOTS") == "1":  # the README's picture
        DOCS.mkdir(exist_ok=True)
        section.scroll_into_view_if_needed()
        section.screenshot(path=str(DOCS / "decisoes.png"))
    shot(page, "decisoes-02-salva")
    assert page.problems == [] and page.csp_violations == []

    # Reloaded: the table comes back from the draft.
    page.reload()
    expect(page.locator("#modeler")).to_have_attribute("data-ready", "true", timeout=15000)
    expect(cell(page, "Regra 1, entrada Valor do pedido")).to_have_text("< 1000")
    expect(section.get_by_label("Tabela aberta")).not_to_contain_text("não salva")
    expect(page.locator("#modeler-status")).not_to_contain_text("não salvas")

    # At 320 px (WCAG 1.4.10) the section fits; the table scrolls inside its own box.
    page.set_viewport_size({"width": 320, "height": 740})
    sticking_out = page.evaluate(
        """() => [...document.querySelectorAll('#decisions *')]
          .filter(e => !e.closest('#decisions-editor') || e.id === 'decisions-editor')
          .filter(e => e.getBoundingClientRect().right > window.innerWidth + 0.5)
          .map(e => e.tagName + '#' + e.id + '.' + e.className)"""
    )
    assert sticking_out == []
    page.set_viewport_size({"width": 1400, "height": 1100})

    # Published from the model's page; a requester's value goes through the table.
    page.goto(f"{base}/processos/{PID}")
    page.get_by_role("button", name="Publicar nova versão").click()
    expect(page.locator("main")).to_contain_text("Versão 1")
    expect(page.locator("#publish-error")).to_have_count(0)
    maria = signed_in(browser, base, app, MARIA, "Maria da Silva")
    maria.goto(base + "/servicos")
    maria.get_by_role("link", name="Iniciar").and_(
        maria.locator(f"[aria-describedby='svc-{PID}']")
    ).click()
    maria.get_by_role("button", name="Iniciar").click()
    maria.get_by_role("textbox", name="Valor do pedido").fill("5000")
    maria.get_by_role("button", name="Enviar").click()
    expect(maria.locator("main")).to_contain_text("Prioridade alta")
    assert maria.problems == [] and maria.csp_violations == []
