""" "Executar teste" in a real browser, by visible labels: a designer steps a small draft
(a form, an exclusive gateway on its value, a manual task, a message) through its high
branch and sees the path highlighted on the diagram; no ticket is created."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import func, select

from engine import users
from engine.models import Chamado, OutboxMessage
from engine.service import ActorRef
from tests.browser import Stack, live_stack, marked, shot, watch_csp
from tests.test_sandbox import make_pedido

pytestmark = pytest.mark.browser
playwright_api = pytest.importorskip("playwright.sync_api")

DORA = "12345678909"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with live_stack(tmp_path_factory.mktemp("sandbox-browser"), {DORA: "designer"}) as found:
        yield found


def log_in(browser: Any, base: str, who: str) -> Any:
    page = browser.new_context(locale="pt-BR").new_page()
    page.csp_violations = watch_csp(page)
    page.goto(base + "/")
    page.get_by_role("link", name="Entrar com gov.br").first.click()
    page.locator("button.person", has_text=who).click()
    page.wait_for_url(base + "/**")
    return page


def ensure_pedido(stack: Stack) -> None:
    """The small model's draft, made once per module (Dora has logged in: she exists)."""
    with stack.svc.unit.session_factory() as s:
        user = users.get_user_by_cpf(s, DORA)
        assert user is not None
        actor = ActorRef(user.id, frozenset({"designer"}))
    if not any(m.process_id == "pedido_teste" for m in stack.svc.designer.models(actor)):
        make_pedido(stack.svc, actor)


def test_step_a_draft_through_its_high_branch(stack: Stack, browser: Any) -> None:
    expect = playwright_api.expect
    dora = log_in(browser, stack.base, "Dora Projetista")
    ensure_pedido(stack)

    dora.goto(stack.base + "/processos/pedido_teste")
    dora.get_by_role("link", name="Testar passo a passo").click()
    dora.get_by_role("button", name="Iniciar teste").click()
    expect(dora.get_by_role("heading", name="Tarefa: Informar pedido")).to_be_visible()
    # A refused form, as in production, keeps what was typed.
    dora.get_by_label("Valor do pedido").fill("-1")
    dora.get_by_role("button", name="Enviar", exact=True).click()
    expect(dora.locator("#errors-summary")).to_be_visible()
    expect(dora.get_by_label("Valor do pedido")).to_have_value("-1")
    dora.get_by_label("Valor do pedido").fill("500")
    dora.get_by_label("Descrição").fill("Notebook")
    dora.get_by_role("button", name="Enviar", exact=True).click()

    # The gateway followed the data: the high branch, drawn as the path so far.
    expect(dora.get_by_role("heading", name="Tarefa: Aprovar pedido")).to_be_visible()
    expect(dora.locator(".instructions strong")).to_have_text("500")
    section = dora.locator("[data-diagram-url]")
    expect(section).to_have_attribute("data-loaded", "true", timeout=15000)
    assert marked(dora, "informar", "app-done") and marked(dora, "valor_alto", "app-done")
    assert marked(dora, "aprovar", "app-current")
    assert marked(dora, "Flow_alto", "app-flow-done")
    assert not marked(dora, "Flow_baixo", "app-flow-done")
    path = dora.get_by_role("list", name="Etapas, na ordem em que aconteceram")
    expect(path).to_contain_text("Aprovar pedido — etapa atual")
    expect(dora.get_by_role("button", name="Disparar temporizador")).to_be_visible()
    shot(dora, "teste-01-caminho-alto")

    dora.get_by_role("button", name="Concluir", exact=True).click()
    dora.get_by_label("Conteúdo da mensagem (JSON, opcional)").fill('{"ok": true}')
    dora.get_by_role("button", name="Enviar mensagem").click()
    expect(dora.get_by_role("status").filter(has_text="O processo terminou em")).to_contain_text(
        "Aprovado"
    )
    expect(section).to_have_attribute("data-loaded", "true", timeout=15000)
    assert marked(dora, "fim_aprovado", "app-done")
    shot(dora, "teste-02-fim")
    assert dora.csp_violations == []
    with stack.svc.unit.reading() as s:
        assert s.scalar(select(func.count()).select_from(Chamado)) == 0
        assert s.scalar(select(func.count()).select_from(OutboxMessage)) == 0


def test_without_javascript_the_low_branch_and_its_path_as_text(stack: Stack, browser: Any) -> None:
    expect = playwright_api.expect
    signed = log_in(browser, stack.base, "Dora Projetista")
    context = browser.new_context(locale="pt-BR", java_script_enabled=False)
    context.add_cookies(signed.context.cookies())
    ensure_pedido(stack)
    dora = context.new_page()
    dora.goto(stack.base + "/processos/pedido_teste/teste")
    dora.get_by_role("button", name=re.compile("^(Iniciar|Reiniciar) teste$")).click()
    dora.get_by_label("Valor do pedido").fill("50")
    dora.get_by_label("Descrição").fill("Canetas")
    dora.get_by_label("Descrição").press("Enter")  # the form's default action: send
    expect(dora.locator("#teste-fim")).to_contain_text("Concluído sem aprovação")
    path = dora.get_by_role("list", name="Etapas, na ordem em que aconteceram")
    expect(path).to_contain_text("Informar pedido — concluída")
    expect(path).to_contain_text("Concluído sem aprovação — concluída")
    expect(path).not_to_contain_text("Aprovar pedido")
    shot(dora, "teste-03-sem-javascript")
    context.close()
