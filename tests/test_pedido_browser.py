"""The "Pedido de automação de serviço" end to end in a real browser (Playwright + Chromium).

The second shipped process, driven only through what people see: Maria asks for an
automation from "Serviços" and fills both of her steps; Carlos (admin) lists Ana in
"Equipe técnica" and Nina in "Equipe de negócio" on the "Grupos" page; each claims her
review from "Fila de trabalho" and registers "Favorável"; Sofia (supervisor, a member of
"Supervisão" by role) asks for a complement, Maria re-sends, Sofia approves. Mail goes
through the outbox to a real SMTP server (tests/smtp_server.py), as the scheduler sends it.
Screenshots land in test-artifacts/pedido-*.png.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from email.message import EmailMessage
from typing import Any

import pytest
from sqlalchemy import select

from engine.models import OutboxMessage
from tests.browser import Stack, live_stack, shot, watch_csp

pytestmark = pytest.mark.browser
playwright_api = pytest.importorskip("playwright.sync_api")
expect = playwright_api.expect

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
MARIA_EMAIL = "maria.silva@example.gov.br"  # what the development provider releases for her
ANA, CARLOS, SOFIA = "11144477735", "52998224725", "71460238001"  # demo people
NINA = "862.883.667-57"  # typed on the provider's page: "Pessoa de Teste 862.883.667-57"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    roles = {ANA: "analyst", SOFIA: "supervisor", CARLOS: "admin"}
    with live_stack(tmp_path_factory.mktemp("pedido-browser"), roles) as s:
        yield s


def choose(page: Any, label: str) -> None:
    """Click a radio's label, as people do: the DS hides the native input under it."""
    page.locator("label", has_text=label).first.click()
    expect(page.get_by_role("radio", name=label, exact=True)).to_be_checked()


def log_in(
    browser: Any, base: str, who: str | None = None, cpf: str | None = None, js: bool = True
) -> Any:
    """A new browser (context) that logs in as a demo person, or by typing a CPF."""
    context = browser.new_context(locale="pt-BR", java_script_enabled=js)
    page = context.new_page()
    page.csp_violations = watch_csp(page)
    page.goto(base + "/")
    page.get_by_role("link", name="Entrar com gov.br").first.click()
    if who is not None:
        page.locator("button.person", has_text=who).click()
    else:
        page.get_by_role("textbox", name="CPF").fill(cpf or "")
        page.get_by_role("button", name="Entrar", exact=True).click()
    page.wait_for_url(base + "/**")
    return page


def claim_from_queue(page: Any, protocolo: str, task_title: str) -> None:
    page.get_by_role("link", name="Fila de trabalho").first.click()
    row = page.locator("tr", has_text=protocolo)
    expect(row).to_contain_text(task_title)
    row.get_by_role("button", name="Assumir").click()  # straight to the task's page
    expect(page.get_by_role("heading", name=task_title)).to_be_visible()


def mail_for(stack: Stack, address: str) -> list[tuple[str, EmailMessage]]:
    """(kind, message) of every message the SMTP server received for ``address``."""
    with stack.svc.unit.session_factory() as s:
        kinds = dict(s.execute(select(OutboxMessage.message_id, OutboxMessage.kind)).all())
    return [
        (kinds[str(r.message["Message-ID"])], r.message)
        for r in stack.smtp.handler.received
        if r.rcpt_tos == [address]
    ]


def text_of(message: EmailMessage) -> str:
    body = message.get_body(("plain",))
    assert body is not None
    return str(body.get_content())


def test_pedido_de_automacao_in_a_browser(stack: Stack, browser: Any) -> None:
    base = stack.base

    # --- Maria asks for an automation: "Serviços" → "Pedir automação". Her browser runs
    # no JavaScript: a citizen's whole part works with plain forms and links.
    maria = log_in(browser, base, "Maria da Silva", js=False)
    maria.get_by_role("link", name="Serviços").first.click()
    expect(maria.get_by_role("heading", name="Pedido de automação de serviço")).to_be_visible()
    shot(maria, "pedido-01-servicos")
    maria.get_by_role("link", name="Pedir automação").click()
    expect(maria.locator("h1")).to_have_text("Pedido de automação de serviço")
    maria.get_by_role("button", name="Pedir automação").click()

    # Step 1: "O serviço a automatizar"; the órgão is looked up with the "Buscar" button
    # (the page comes back with the matches, nothing typed lost).
    expect(maria.get_by_role("heading", name="O serviço a automatizar")).to_be_visible()
    maria.get_by_label("Nome do serviço").fill("Aposentadoria por idade rural")
    maria.get_by_role("searchbox", name="Buscar (Órgão responsável)").fill("inss")
    maria.get_by_role("button", name="Buscar", exact=True).click()
    expect(maria.get_by_label("Nome do serviço")).to_have_value("Aposentadoria por idade rural")
    choose(maria, "INSS — Instituto Nacional do Seguro Social")
    maria.get_by_label("Solicitações por mês (estimativa)").fill("1200")
    maria.get_by_label("Como o serviço funciona hoje").fill(
        "Hoje o pedido chega por e-mail e é digitado à mão no sistema."
    )
    shot(maria, "pedido-02-servico")
    maria.get_by_role("button", name="Avançar para os documentos").click()

    # Step 2: "Documentos do pedido": the justification and a PDF.
    # Straight on to her second step, as its button promised.
    expect(maria.get_by_role("status").first).to_contain_text(
        "“Descrever o serviço” concluído. Próxima etapa: “Enviar documentos”."
    )
    expect(maria.get_by_role("heading", name="Documentos do pedido")).to_be_visible()
    expect(maria.locator("h1")).to_contain_text("Enviar documentos")
    protocolo = maria.locator("h1 small").inner_text().removeprefix("Protocolo ").strip()
    assert re.fullmatch(r"CH-\d{4}-\d{6}", protocolo), protocolo
    maria.get_by_label("Selecionar arquivos").set_input_files(
        files=[{"name": "fluxo-atual.pdf", "mimeType": "application/pdf", "buffer": PDF}]
    )
    maria.get_by_role("button", name="Anexar arquivos").click()
    expect(maria.get_by_role("list", name="Arquivos anexados")).to_contain_text("fluxo-atual.pdf")
    maria.get_by_label("Por que automatizar este serviço").fill(
        "Volume alto e muitos erros de digitação."
    )
    shot(maria, "pedido-03-documentos")
    maria.get_by_role("button", name="Enviar pedido").click()
    expect(maria.locator("#status")).to_have_text("Em avaliação")
    tracking_url = maria.url
    shot(maria, "pedido-04-enviado")

    stack.deliver_mail()
    assert [k for k, _m in mail_for(stack, MARIA_EMAIL)] == ["pedido_recebido"]

    # --- Carlos (admin) grants Nina the Analista role and lists both analysts in their teams.
    carlos = log_in(browser, base, "Carlos Admin")
    carlos.get_by_role("link", name="Papéis").first.click()
    carlos.get_by_role("textbox", name="CPF").fill(NINA)
    carlos.get_by_label("Papel", exact=True).select_option(label="Analista")
    carlos.get_by_role("button", name="Conceder").click()
    expect(carlos.locator("table")).to_contain_text(NINA)
    carlos.get_by_role("link", name="Grupos").first.click()
    for team, cpf in (("Equipe técnica", "111.444.777-35"), ("Equipe de negócio", NINA)):
        carlos.get_by_label(f"CPF do novo membro de “{team}”").fill(cpf)
        carlos.get_by_role("button", name=f"Adicionar a “{team}”").click()
        expect(carlos.locator("main")).to_contain_text(f"CPF {cpf} adicionado ao grupo “{team}”.")
    tecnica = carlos.get_by_role("region", name="Equipe técnica")
    expect(tecnica).to_contain_text("111.444.777-35")
    expect(tecnica).to_contain_text("Pedido de automação de serviço: raia “Equipe técnica”")
    expect(carlos.get_by_role("region", name="Supervisão")).to_contain_text("Supervisor(a)")
    shot(carlos, "pedido-05-grupos")

    # --- The two reviews, in parallel: each analyst sees only her team's task.
    ana = log_in(browser, base, "Ana Souza")
    nina = log_in(browser, base, cpf=NINA)
    ana.get_by_role("link", name="Fila de trabalho").first.click()
    nina.get_by_role("link", name="Fila de trabalho").first.click()
    expect(ana.locator("tr", has_text=protocolo)).to_contain_text("Parecer técnico")
    expect(ana.locator("main")).not_to_contain_text("Parecer de negócio")
    expect(nina.locator("tr", has_text=protocolo)).to_contain_text("Parecer de negócio")
    expect(nina.locator("main")).not_to_contain_text("Parecer técnico")
    shot(ana, "pedido-06-fila-tecnica")
    # Both claim before either decides: the reviews run side by side.
    claim_from_queue(ana, protocolo, "Parecer técnico")
    claim_from_queue(nina, protocolo, "Parecer de negócio")
    expect(ana.locator("main")).to_contain_text("Aposentadoria por idade rural")
    expect(ana.locator("main")).to_contain_text("fluxo-atual.pdf")
    choose(ana, "Favorável")
    ana.get_by_label("Comentário para a supervisão").fill("Integração simples via API do INSS.")
    shot(ana, "pedido-07-parecer-tecnico-preenchido")
    # Nina decides with the keyboard only: Space picks the option, Tab moves on, Enter sends.
    nina.get_by_role("radio", name="Favorável", exact=True).focus()
    nina.keyboard.press("Space")
    expect(nina.get_by_role("radio", name="Favorável", exact=True)).to_be_checked()
    nina.keyboard.press("Tab")
    expect(nina.get_by_label("Comentário para a supervisão")).to_be_focused()
    nina.keyboard.type("Volume justifica a automação.")
    nina.keyboard.press("Tab")
    expect(nina.get_by_role("button", name="Registrar parecer")).to_be_focused()
    nina.keyboard.press("Enter")
    expect(nina.locator("main")).to_contain_text("concluída.")
    # Ana's page was opened before Nina's review moved the ticket: nothing she chose is
    # lost; the page now shows the other review in the history, and she confirms.
    ana.get_by_role("button", name="Registrar parecer").click()
    expect(ana.get_by_role("alert").first).to_contain_text("esta solicitação mudou")
    expect(ana.locator("main")).to_contain_text("Parecer de negócio registrado")
    shot(ana, "pedido-07-parecer-confirmar")
    expect(ana.get_by_role("radio", name="Favorável", exact=True)).to_be_checked()
    expect(ana.get_by_label("Comentário para a supervisão")).to_have_value(
        "Integração simples via API do INSS."
    )
    ana.get_by_role("button", name="Registrar parecer").click()
    expect(ana.locator("main")).to_contain_text("concluída.")

    maria.reload()
    expect(maria.locator("#status")).to_have_text("Em aprovação")

    # --- Sofia (supervisor; "Supervisão" counts everyone with that role) asks for more.
    sofia = log_in(browser, base, "Sofia Supervisora")
    claim_from_queue(sofia, protocolo, "Aprovar o pedido")
    # Both reviews are on her page, each under its own title.
    for title, comment in (
        ("Parecer técnico", "Integração simples via API do INSS."),
        ("Parecer de negócio", "Volume justifica a automação."),
    ):
        review = sofia.locator("section.sent-form").filter(
            has=sofia.get_by_role("heading", name=title, exact=True)
        )
        expect(review).to_contain_text("Favorável")
        expect(review).to_contain_text(comment)
    choose(sofia, "Pedir complemento")
    sofia.get_by_label("Mensagem ao órgão solicitante").fill(
        "Anexe a portaria que regulamenta o serviço."
    )
    shot(sofia, "pedido-08-aprovacao")
    sofia.get_by_role("button", name="Registrar decisão").click()
    expect(sofia.locator("main")).to_contain_text("concluída.")

    # --- Maria reads the request on her tracking page and on her form, and re-sends.
    maria.reload()
    expect(maria.locator("#status")).to_have_text("Aguardando complemento")
    expect(maria.locator("main")).to_contain_text("Anexe a portaria que regulamenta o serviço.")
    expect(maria.locator("main")).not_to_contain_text("Integração simples")  # staff-only
    shot(maria, "pedido-09-complemento-pedido")
    maria.get_by_role("link", name="Complementar o pedido").click()
    expect(maria.locator("#pedido-ajuste")).to_contain_text(
        "Anexe a portaria que regulamenta o serviço."
    )
    expect(maria.get_by_label("Por que automatizar este serviço")).to_have_value(
        "Volume alto e muitos erros de digitação."
    )
    complement_url = maria.url
    maria.get_by_label("Selecionar arquivos").set_input_files(
        files=[{"name": "portaria.pdf", "mimeType": "application/pdf", "buffer": PDF}]
    )
    maria.get_by_role("button", name="Anexar arquivos").click()
    expect(maria.get_by_role("list", name="Arquivos anexados")).to_contain_text("portaria.pdf")
    shot(maria, "pedido-10-complemento")
    maria.get_by_role("button", name="Enviar complemento").click()
    expect(maria.locator("#status")).to_have_text("Em aprovação")

    # --- Sofia approves.
    claim_from_queue(sofia, protocolo, "Aprovar o pedido")
    expect(sofia.locator("main")).to_contain_text("portaria.pdf")
    choose(sofia, "Aprovar")
    sofia.get_by_label("Mensagem ao órgão solicitante").fill(
        "Pedido aprovado: a equipe entra em contato para começar."
    )
    sofia.get_by_role("button", name="Registrar decisão").click()
    expect(sofia.locator("main")).to_contain_text("concluída.")

    # --- Maria sees the result.
    maria.goto(tracking_url)
    expect(maria.locator("#status")).to_have_text("Aprovado")
    expect(maria.locator(".outcome")).to_contain_text(
        "Pedido aprovado: a equipe entra em contato para começar."
    )
    timeline = maria.locator("ol.timeline")
    expect(timeline).to_contain_text("Complemento enviado")
    expect(timeline.locator("li").last).to_contain_text("Pedido aprovado")
    expect(maria.locator("main")).not_to_contain_text("Chamado aprovado")
    shot(maria, "pedido-11-aprovado")

    # --- Her mail: exactly the model's three messages, each pointing back to her pages.
    stack.deliver_mail()
    mail = mail_for(stack, MARIA_EMAIL)
    assert [k for k, _m in mail] == ["pedido_recebido", "pedido_complemento", "pedido_resultado"]
    assert len(stack.smtp.handler.received) == 3  # nobody else was mailed
    received, complement, result = (m for _k, m in mail)
    assert received["Subject"] == f"Pedido de automação {protocolo} recebido"
    assert "Aposentadoria por idade rural" in text_of(received)
    assert tracking_url in text_of(received)
    assert complement["Subject"] == f"Pedido {protocolo}: complemento solicitado"
    assert "Anexe a portaria que regulamenta o serviço." in text_of(complement)
    assert complement_url.split("?")[0] in text_of(complement)
    assert result["Subject"] == f"Pedido {protocolo}: Aprovado"
    assert "Pedido aprovado: a equipe entra em contato" in text_of(result)
    assert tracking_url in text_of(result)

    # Every page worked under the Content-Security-Policy.
    for page in (carlos, ana, nina, sofia):
        assert page.csp_violations == []
