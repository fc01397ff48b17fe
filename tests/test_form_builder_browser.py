"""The form builder in a real browser (Playwright + Chromium), by visible labels.

Dora (designer) creates a model, opens its task's form in the builder and, with the
keyboard, adds a text field and a required choice with options in a second step; the
live preview draws them as requesters will see them. She saves, opens the form again,
switches to the JSON editor and finds the same fields there, and the preview agrees.
axe-core finds nothing on the builder, on the builder with messages, nor on the JSON
editor. Screenshots: test-artifacts/construtor-*.png.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from tests.a11y import axe_violations, horizontal_overflow, overflowing_elements
from tests.browser import Stack, live_stack, shot, watch_csp

pytestmark = pytest.mark.browser
playwright_api = pytest.importorskip("playwright.sync_api")
expect = playwright_api.expect

DORA = "12345678909"  # the development provider's designer


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with live_stack(tmp_path_factory.mktemp("construtor-browser"), {DORA: "designer"}) as s:
        yield s


def log_in(browser: Any, base: str, who: str) -> Any:
    context = browser.new_context(locale="pt-BR")
    page = context.new_page()
    page.csp_violations = watch_csp(page)
    page.goto(base + "/")
    page.get_by_role("link", name="Entrar com gov.br").first.click()
    page.locator("button.person", has_text=who).click()
    page.wait_for_url(base + "/**")
    return page


def no_axe_violations(page: Any, state: str) -> None:
    found = axe_violations(page)
    assert found == [], f"{state}: {json.dumps(found, ensure_ascii=False)[:3000]}"


def test_a_form_built_with_the_keyboard_is_saved_and_the_json_agrees(
    stack: Stack, browser: Any
) -> None:
    page = log_in(browser, stack.base, "Dora Projetista")
    page.goto(stack.base + "/processos")
    page.get_by_label("Identificador").fill("pedido_teste")
    page.get_by_label("Nome", exact=True).fill("Pedido de teste")
    page.get_by_role("button", name="Criar modelo").click()
    page.get_by_role("link", name="Editar formulário").first.click()
    expect(page.get_by_role("heading", name="Construtor")).to_have_count(0)
    expect(page.locator('[aria-current="page"]')).to_have_text("Construtor")
    no_axe_violations(page, "construtor")

    # The template's one field is row 1; a text field is added and filled by keyboard.
    page.get_by_role("button", name="Adicionar campo").focus()
    page.keyboard.press("Enter")
    row2 = page.get_by_role("group", name="Campo 2: sem nome")
    expect(row2.get_by_label("Rótulo")).to_be_focused()  # the new row's first input
    page.keyboard.type("Assunto")
    page.keyboard.press("Tab")
    expect(row2.get_by_label("Nome", exact=True)).to_be_focused()
    page.keyboard.type("assunto")
    row2.get_by_label("Tipo").select_option(label="Texto curto")
    row2.get_by_label("Etapa").fill("Dados")
    page.get_by_role("group", name="Campo 1: Descrição").get_by_label("Etapa").fill("Dados")

    # A required choice in a second step, with a mistake first: no options.
    page.get_by_role("button", name="Adicionar campo").click()
    row3 = page.get_by_role("group", name="Campo 3: sem nome")
    row3.get_by_label("Rótulo").fill("Prioridade")
    row3.get_by_label("Nome", exact=True).fill("prioridade")
    row3.get_by_label("Tipo").select_option(label="Escolha em lista")
    row3.get_by_label("Obrigatório").focus()
    page.keyboard.press("Space")
    row3.get_by_label("Etapa").fill("Classificação")
    page.get_by_role("button", name="Pré-visualizar").last.click()
    row3 = page.get_by_role("group", name="Campo 3: Prioridade")
    options = row3.get_by_label("Opções (só para escolhas)")
    expect(options).to_have_accessible_description(
        "Uma por linha: o rótulo (o valor gravado é o rótulo sem acentos, ex.: “Pedir "
        "complemento” grava pedir_complemento) ou “valor | rótulo”, ou ainda “valor | rótulo "
        "| ajuda”. Informe ao menos uma opção, uma por linha."
    )
    expect(row3.get_by_label("Rótulo")).to_have_value("Prioridade")  # nothing lost
    expect(row3.get_by_label("Obrigatório")).to_be_checked()
    no_axe_violations(page, "construtor com erros")
    page.get_by_role("link", name="Campo 3 (Prioridade): Informe ao menos uma opção").click()
    options.fill("Alta\nNormal\nBaixa")

    # The live preview (htmx) draws both steps as the requester will see them. It is a
    # request sent 500 ms after the last keystroke; a loaded machine (the whole suite on
    # two cores) has taken longer than the default 5 s to draw it.
    preview = page.locator("#form-preview")
    expect(preview.get_by_text("Etapa 2: Classificação")).to_be_visible(timeout=20_000)
    expect(preview.get_by_label("Prioridade")).to_be_visible()
    expect(preview.get_by_label("Assunto")).to_be_visible()
    shot(page, "construtor-1-campos")

    # "Subir"/"Descer" move rows; the focus stays on the moved row's button.
    page.get_by_role("button", name="Descer campo 1 (Descrição)").click()
    expect(page.get_by_role("group", name="Campo 2: Descrição")).to_be_visible()
    expect(page.get_by_role("button", name="Descer campo 2 (Descrição)")).to_be_focused()
    page.get_by_role("button", name="Subir campo 2 (Descrição)").click()
    expect(page.get_by_role("group", name="Campo 1: Descrição")).to_be_visible()

    page.get_by_role("button", name="Salvar no rascunho").click()
    expect(
        page.get_by_text("Formulário de “Registrar solicitação” salvo no rascunho.")
    ).to_be_visible()

    # Opened again: the JSON editor shows the same fields, and the preview agrees.
    page.get_by_role("link", name="Editar formulário").first.click()
    expect(
        page.get_by_role("group", name="Campo 3: Prioridade").get_by_label("Etapa")
    ).to_have_value("Classificação")
    page.get_by_role("button", name="Editar o JSON").click()
    expect(page.locator('[aria-current="page"]')).to_have_text("JSON")
    schema = json.loads(page.get_by_label("JSON Schema", exact=True).input_value())
    ui = json.loads(page.get_by_label("UI schema", exact=True).input_value())
    assert list(schema["properties"]) == ["descricao", "assunto", "prioridade"]
    assert schema["properties"]["prioridade"]["oneOf"] == [
        {"const": "alta", "title": "Alta"},
        {"const": "normal", "title": "Normal"},
        {"const": "baixa", "title": "Baixa"},
    ]
    assert schema["required"] == ["descricao", "prioridade"]
    assert [(s["title"], s["fields"]) for s in ui["ui:steps"]] == [
        ("Dados", ["descricao", "assunto"]),
        ("Classificação", ["prioridade"]),
    ]
    preview = page.locator("#form-preview")
    expect(preview.get_by_text("Etapa 2: Classificação")).to_be_visible()
    expect(preview.get_by_role("combobox", name="Prioridade")).to_contain_text("Normal")
    no_axe_violations(page, "editor JSON")
    shot(page, "construtor-2-json")
    assert page.csp_violations == []


def test_the_builder_reflows_at_320_px(stack: Stack, browser: Any) -> None:
    """WCAG 1.4.10 at 320 CSS px: the rows, the JSON editor and the upload fit the width."""
    page = log_in(browser, stack.base, "Dora Projetista")
    page.set_viewport_size({"width": 320, "height": 800})
    for mode in ("", "?modo=json"):
        page.goto(stack.base + "/processos/chamado/formularios/registrar_chamado" + mode)
        expect(page.get_by_role("button", name="Salvar no rascunho")).to_be_visible()
        assert horizontal_overflow(page) == 0, overflowing_elements(page)
