"""Incidentes end to end in a real browser (Playwright + Chromium), by visible labels.

A service fails: 20 people open chamados about it (through the use cases, to keep the
test fast). Sofia (supervisor) opens "Fila de trabalho", follows "Possíveis duplicados"
of the first one and sees the other 19, opens an incident from it and links the 19 from
that page. Maria, about to open a chamado, meets the notice "Problema conhecido … Já
estamos tratando" on the service's start page and follows it instead. Sofia presses
"Resolver incidente": all 20 chamados are answered through their own model, and once
the outbox is delivered to a real SMTP server (tests/smtp_server.py), 21 result e-mails
have arrived, one for each person, none twice. A second "Resolver incidente" from a
page opened before the first (another tab) changes nothing and says so. (Two presses at
the very same instant: tests/test_outages.py, with two threads.)
Screenshots: test-artifacts/incidente-*.png.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select

from engine.models import OutboxMessage
from tests.browser import Stack, live_stack, shot, watch_csp
from tests.test_engine_lifecycle import chamado
from tests.test_outages import requester_cpf, wave

pytestmark = pytest.mark.browser
playwright_api = pytest.importorskip("playwright.sync_api")
expect = playwright_api.expect

SOFIA = "71460238001"  # the demo supervisor
MARIA_EMAIL = "maria.silva@example.gov.br"  # what the development provider releases for her
PUBLIC = "A integração com o CadÚnico voltou a funcionar às 14h. Pode tentar de novo."


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with live_stack(tmp_path_factory.mktemp("incidente-browser"), {SOFIA: "supervisor"}) as s:
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


def test_twenty_chamados_one_incident_twenty_one_mails(stack: Stack, browser: Any) -> None:
    base, svc = stack.base, stack.svc
    ids = wave(svc, 20)
    protocols = [chamado(svc, i).protocolo for i in ids]
    stack.deliver_mail()  # the receipts of the 20 chamados go first
    received_before = len(stack.smtp.handler.received)

    sofia = log_in(browser, base, "Sofia Supervisora")
    sofia.get_by_role("link", name="Fila de trabalho").first.click()
    first_row = sofia.locator("tr", has_text=protocols[0])
    first_row.get_by_role("link", name=f"Possíveis duplicados de {protocols[0]}").click()
    expect(
        sofia.get_by_role("heading", name=f"Possíveis duplicados de {protocols[0]}")
    ).to_be_visible()
    table = sofia.get_by_role("region", name=re.compile("possível\\(is\\) duplicado"))
    expect(table.get_by_role("caption")).to_contain_text("19 possível(is) duplicado(s)")
    for protocolo in protocols[1:]:
        expect(table).to_contain_text(protocolo)
    shot(sofia, "incidente-1-duplicados")
    duplicates_url = sofia.url

    sofia.get_by_role("link", name="Abrir incidente a partir deste chamado").click()
    sofia.get_by_label("Título").fill("CadÚnico fora do ar")
    sofia.get_by_label("Texto público").fill(PUBLIC)
    sofia.get_by_role("button", name="Abrir incidente").click()
    expect(sofia.get_by_text("Incidente aberto. O chamado foi vinculado a ele.")).to_be_visible()
    expect(
        sofia.get_by_role("heading", name=re.compile("Incidente: CadÚnico fora do ar"))
    ).to_be_visible()

    sofia.goto(duplicates_url)
    for protocolo in protocols[1:]:
        sofia.get_by_text(f"Selecionar {protocolo}", exact=True).click()
        expect(sofia.get_by_label(f"Selecionar {protocolo}")).to_be_checked()
    sofia.get_by_label("Incidente").select_option(label="CadÚnico fora do ar")
    sofia.get_by_role("button", name="Vincular selecionados ao incidente").click()
    expect(sofia.get_by_text("19 chamado(s) vinculado(s) ao incidente")).to_be_visible()
    expect(sofia.get_by_text("já vinculado")).to_have_count(19)

    # Maria was about to open a chamado: the service's page tells her it is known.
    maria = log_in(browser, base, "Maria da Silva")
    maria.get_by_role("link", name="Serviços").first.click()
    maria.get_by_role("link", name="Abrir chamado").first.click()
    notice = maria.get_by_role("region", name="Problema conhecido: CadÚnico fora do ar")
    expect(notice).to_contain_text("Já estamos tratando")
    expect(notice).to_contain_text(PUBLIC)
    shot(maria, "incidente-2-aviso")
    notice.get_by_role("button", name="Acompanhar este problema").click()
    expect(maria.get_by_text("avisaremos você por e-mail quando")).to_be_visible()
    expect(maria.get_by_text("Você já está acompanhando este problema")).to_be_visible()

    # Two tabs on the incident's page; "Resolver incidente" in the first, then the second.
    sofia.get_by_role("link", name="Incidentes").first.click()
    sofia.get_by_role("link", name="CadÚnico fora do ar").click()
    linked = sofia.get_by_role("region", name=re.compile("chamado\\(s\\) vinculado"))
    expect(linked.get_by_role("caption")).to_contain_text("20 chamado(s) vinculado(s)")
    expect(sofia.locator("main")).to_contain_text("Pessoas acompanhando (sem chamado)")
    other_tab = sofia.context.new_page()
    other_tab.goto(sofia.url)
    shot(sofia, "incidente-3-antes")
    sofia.get_by_role("button", name="Resolver incidente").click()
    expect(sofia.get_by_text("20 chamado(s) resolvido(s) pelo incidente.")).to_be_visible()
    expect(sofia.get_by_text("Incidente resolvido.")).to_be_visible()
    expect(sofia.get_by_text("Resolvido pelo incidente")).to_have_count(20)
    shot(sofia, "incidente-4-resolvido")
    other_tab.get_by_role("button", name="Resolver incidente").click()
    expect(
        other_tab.get_by_text(re.compile("já foi resolvido.*nada foi alterado de novo"))
    ).to_be_visible()
    assert all(chamado(svc, i).status == "resolvido" for i in ids)
    assert all(chamado(svc, i).outcome_message == PUBLIC for i in ids)

    stack.deliver_mail()
    stack.deliver_mail()  # a second run sends nothing again
    with svc.unit.session_factory() as s:
        kinds = dict(s.execute(select(OutboxMessage.message_id, OutboxMessage.kind)).all())
    results = [
        r
        for r in stack.smtp.handler.received[received_before:]
        if kinds[str(r.message["Message-ID"])] in ("chamado_resolvido", "incidente_resolvido")
    ]
    assert len(results) == 21
    recipients = Counter(tuple(r.rcpt_tos) for r in results)
    expected = {(f"{requester_cpf(n)}@example.gov.br",) for n in range(20)} | {(MARIA_EMAIL,)}
    assert set(recipients) == expected and set(recipients.values()) == {1}
    assert len({str(r.message["Message-ID"]) for r in results}) == 21
    for r in results:
        body = r.message.get_body(("plain",))
        assert body is not None and PUBLIC in str(body.get_content())
    assert sofia.csp_violations == [] and maria.csp_violations == []
