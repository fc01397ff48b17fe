"""The whole story in a real browser (Playwright driving Debian's Chromium).

Both servers run for real on loopback: the development OpenID provider and the
app. Maria and Ana use separate browser contexts, as two people on two machines.
Screenshots of each page land in test-artifacts/ for people to look at.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.browser import live_stack, shot, watch_csp

pytestmark = pytest.mark.browser
playwright_api = pytest.importorskip("playwright.sync_api")

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with live_stack(tmp_path_factory.mktemp("browser"), {"11144477735": "analyst"}) as stack:
        yield stack.base


def choose(page: object, label: str) -> None:
    """Click a radio's or checkbox's label, as people do: the DS styles the label and
    hides the native input under it."""
    page.locator("label", has_text=label).first.click()  # type: ignore[attr-defined]
    playwright_api.expect(page.get_by_label(label).first).to_be_checked()  # type: ignore[attr-defined]


def log_in(browser: object, base: str, who: str) -> object:
    context = browser.new_context(locale="pt-BR")  # type: ignore[attr-defined]
    page = context.new_page()
    page.csp_violations = watch_csp(page)  # type: ignore[attr-defined]
    page.goto(base + "/")
    page.get_by_role("link", name="Entrar com gov.br").first.click()
    shot(page, "00-provedor")
    page.locator("button.person", has_text=who).click()
    page.wait_for_url(base + "/**")
    return page


def test_the_whole_story_in_a_browser(servers: str, browser: object) -> None:
    expect = playwright_api.expect
    base = servers
    maria = log_in(browser, base, "Maria da Silva")
    expect(maria.locator("header")).to_contain_text("Maria da Silva")
    shot(maria, "01-inicio")
    maria.get_by_role("link", name="Serviços").first.click()
    maria.get_by_role("link", name="Abrir chamado").click()
    expect(maria.locator("main")).to_contain_text("solicitaratendimentogovbr")
    maria.get_by_role("button", name="Abrir chamado").click()

    # 1. Identificação — the órgão looked up as one types (htmx).
    expect(maria.get_by_label("Nome do(a) Solicitante")).to_have_value("Maria da Silva")
    maria.get_by_label("Telefone").fill("(61) 99999-8888")
    maria.get_by_label("E-mail Institucional").fill("maria@inss.gov.br")
    maria.get_by_role("searchbox").fill("inss")
    choose(maria, "INSS — Instituto Nacional do Seguro Social")
    maria.get_by_label("Nome do Serviço").fill("Aposentadoria por idade")
    maria.get_by_label("Objetivo da solicitação").select_option("erro")
    shot(maria, "02-identificacao")
    maria.get_by_role("button", name="Avançar").click()
    # Forgot to confirm: the message appears next to the field, nothing typed is lost.
    expect(maria.locator("main")).to_contain_text("Marque esta confirmação")
    expect(maria.get_by_label("Nome do Serviço")).to_have_value("Aposentadoria por idade")
    choose(maria, "Confirmo que os dados")
    maria.get_by_role("button", name="Avançar").click()

    # 2. Dados do Solicitante.
    choose(maria, "Analista do Serviço")
    maria.get_by_role("button", name="Avançar").click()
    # 3. Informações do chamado.
    maria.get_by_label("Tipo de Problema").select_option(label="Erro em alguma API")
    choose(maria, "Alguns protocolos")
    maria.get_by_label("Detalhamento do chamado").fill(
        "A API de consulta devolve erro 500 para protocolos antigos."
    )
    maria.get_by_role("button", name="Voltar").click()  # back and forth keeps everything
    expect(maria.get_by_label("Analista do Serviço")).to_be_checked()
    maria.get_by_role("button", name="Avançar").click()
    expect(maria.get_by_label("Detalhamento do chamado")).to_have_value(
        "A API de consulta devolve erro 500 para protocolos antigos."
    )
    maria.get_by_role("button", name="Avançar").click()
    # 4. Protocolos afetados.
    maria.get_by_label("Número do protocolo").fill("23037.001462/2021-66")
    maria.get_by_role("button", name="Adicionar Dados na Tabela +").click()
    expect(maria.locator("main")).to_contain_text("Protocolo inválido")
    maria.get_by_label("Número do protocolo").fill("23037.001462/2021-65")
    maria.get_by_role("button", name="Adicionar Dados na Tabela +").click()
    maria.get_by_label("Número do protocolo").fill("987654")
    maria.get_by_role("button", name="Adicionar Dados na Tabela +").click()
    expect(maria.locator("table")).to_contain_text("987654")
    shot(maria, "03-protocolos")
    maria.get_by_role("button", name="Avançar").click()
    # 5. Anexos e Observações.
    maria.locator("input[type=file]").set_input_files(
        files=[{"name": "tela-do-erro.pdf", "mimeType": "application/pdf", "buffer": PDF}]
    )
    maria.get_by_role("textbox", name="Observações").fill("Ocorre desde a última atualização.")
    maria.get_by_role("button", name="Avançar").click()
    # 6. Revisão.
    main = maria.locator("main")
    expect(main).to_contain_text("INSS")
    expect(main).to_contain_text("tela-do-erro.pdf")
    expect(main).to_contain_text("Atraso no atendimento")
    shot(maria, "04-revisao")
    maria.get_by_role("button", name="Enviar para Análise").click()
    expect(maria.locator("#status")).to_have_text("Em análise")
    protocolo = maria.locator("h1").inner_text().split()[-1]

    # Ana claims it from the queue and asks for an adjustment.
    ana = log_in(browser, base, "Ana Souza")
    ana.get_by_role("link", name="Fila de trabalho").first.click()
    row = ana.locator("tr", has_text=protocolo)
    shot(ana, "05-fila")
    row.get_by_role("button", name="Assumir").click()  # straight to the analysis page
    expect(ana.locator("main")).to_contain_text("23037.001462/2021-65")
    choose(ana, "Solicitar ajuste")
    ana.get_by_label("O que precisa ser ajustado").fill("Informe a mensagem de erro completa.")
    ana.get_by_label("Nota interna").fill("Parece o conector antigo.")
    shot(ana, "06-analise")
    ana.get_by_role("button", name="Registrar análise").click()

    # Maria adjusts: the request is shown above her previous answers.
    maria.reload()
    expect(maria.locator("main")).to_contain_text("Informe a mensagem de erro completa.")
    expect(maria.locator("main")).not_to_contain_text("conector antigo")
    maria.get_by_role("link", name="Ajustar solicitação").click()
    maria.get_by_role("button", name="Etapa 3 de 6: Informações do chamado").click()
    maria.get_by_label("Detalhamento do chamado").fill(
        "Erro 500: NullPointerException em ConsultaProtocolo."
    )
    maria.get_by_role("button", name="Etapa 6 de 6: Revisão").click()
    shot(maria, "07-ajuste")
    maria.get_by_role("button", name="Reenviar para Análise").click()
    expect(maria.locator("#status")).to_have_text("Em análise")

    # Ana sees what changed and resolves.
    ana.get_by_role("link", name="Fila de trabalho").first.click()
    ana.locator("tr", has_text=protocolo).get_by_role("button", name="Assumir").click()
    expect(ana.locator(".changes-card")).to_contain_text("NullPointerException")
    choose(ana, "Resolver")
    ana.get_by_label("Resposta ao solicitante").fill("Corrigimos o conector; reprocesse.")
    ana.get_by_role("button", name="Registrar análise").click()

    # Maria sees the result.
    maria.reload()
    expect(maria.locator("#status")).to_have_text("Resolvido")
    expect(maria.locator(".outcome")).to_contain_text("Corrigimos o conector")
    shot(maria, "08-resultado")

    # Logout goes through the provider's logout.
    maria.get_by_role("button", name="Sair").click()
    assert maria.url.startswith(base.rsplit(":", 1)[0])
    # Every page worked under the Content-Security-Policy (no inline script to block).
    assert maria.csp_violations == [] and ana.csp_violations == []  # type: ignore[attr-defined]
