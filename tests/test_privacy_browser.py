""" "Meus dados" in a real browser: Maria finds it in the user menu, sees who of the staff
read her ticket, asks for the complete copy, the scheduler's job builds it, she
downloads the JSON, and the file matches what the database holds for her and nothing of
anyone else (Playwright driving Debian's Chromium)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from engine import users
from engine.identity import Identity
from engine.models import Attachment, Chamado, DataAccess, OutboxMessage, User
from engine.service import ActorRef, Chamados
from tests.browser import live_stack, shot, watch_csp
from tests.test_attachments import make_pdf
from tests.test_engine_lifecycle import chamado, open_task, registration

pytestmark = pytest.mark.browser
playwright_api = pytest.importorskip("playwright.sync_api")

MARIA, ANA, JOAO = "39053344705", "11144477735", "85351346893"


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Chamados]]:
    with live_stack(tmp_path_factory.mktemp("privacy-browser"), {ANA: "analyst"}) as stack:
        yield stack.base, stack.svc


def log_in(browser: Any, base: str, who: str) -> Any:
    context = browser.new_context(locale="pt-BR", accept_downloads=True)
    page = context.new_page()
    page.csp_violations = watch_csp(page)
    page.goto(base + "/")
    page.get_by_role("link", name="Entrar com gov.br").first.click()
    page.locator("button.person", has_text=who).click()
    page.wait_for_url(base + "/**")
    return page


def user_id(svc: Chamados, cpf: str) -> int:
    with svc.unit.session_factory() as s:
        found = s.scalar(select(User.id).where(User.cpf == cpf))
        assert found is not None
        return found


def submitted_ticket(svc: Chamados, who: ActorRef, name: str) -> int:
    c = svc.requests.start_chamado(who, "chamado")
    task = open_task(svc, c.id)
    file = svc.requests.add_attachment(who, task.id, f"comprovante {name}.pdf", make_pdf())
    data = registration(solicitante_nome=name, detalhamento=f"Relato de {name}", anexos=[file])
    svc.requests.complete_task(who, task.id, data, chamado(svc, c.id).version)
    return c.id


def test_meus_dados_downloads_what_the_database_holds_for_her(
    servers: tuple[str, Chamados], browser: Any, tmp_path: Path
) -> None:
    expect = playwright_api.expect
    base, svc = servers
    maria = log_in(browser, base, "Maria da Silva")
    maria_id = user_id(svc, MARIA)
    mine = submitted_ticket(svc, ActorRef(maria_id), "Maria da Silva")
    with svc.unit.transaction() as s:
        joao = users.upsert_user(s, Identity(cpf=JOAO, name="João Pereira Lima"))
        joao_ref = ActorRef(joao.id)
    theirs = submitted_ticket(svc, joao_ref, "João Pereira Lima")

    # Ana opens both tickets: Maria's read is hers to see, João's is not.
    ana = log_in(browser, base, "Ana Souza")
    for cid in (mine, theirs):
        ana.goto(f"{base}/analise/{cid}")
        expect(ana.get_by_role("heading", level=1)).to_contain_text(chamado(svc, cid).protocolo)

    maria.reload()
    maria.get_by_role("link", name="Meus dados").click()
    expect(maria.get_by_role("heading", name="Meus dados", level=1)).to_be_visible()
    expect(maria.get_by_role("heading", name="Quem consultou os meus dados")).to_be_visible()
    table = maria.get_by_role("table", name="Consultas mais recentes aos seus dados pela equipe")
    expect(table).to_contain_text("Ana Souza")
    expect(table).to_contain_text("Página de análise do chamado")
    recent = maria.get_by_role("table", name=re.compile("solicitações mais recentes"))
    expect(recent).to_contain_text(chamado(svc, mine).protocolo)
    expect(maria.locator("main")).not_to_contain_text("João")
    expect(maria.locator("main")).to_contain_text("disponível para baixar por 7 dias")
    shot(maria, "lgpd-01-meus-dados")
    # The complete copy: asked for with a plain form (here with JavaScript off), built
    # by the scheduler's job.
    expect(maria.get_by_role("link", name="Baixar meus dados (JSON)")).to_have_count(0)
    no_js = browser.new_context(
        locale="pt-BR", storage_state=maria.context.storage_state(), java_script_enabled=False
    ).new_page()
    no_js.goto(base + "/meus-dados")
    no_js.get_by_role("button", name="Solicitar cópia completa").click()
    expect(no_js.locator("main")).to_contain_text("Pedido registrado.")
    expect(no_js.locator("main")).to_contain_text("Ela está sendo preparada")
    expect(no_js.get_by_role("button", name="Solicitar cópia completa")).to_have_count(0)
    no_js.context.close()
    assert svc.privacy.build_copies("navegador") == 1
    maria.reload()
    expect(maria.locator("main")).to_contain_text("está pronta (1 solicitação(ões)")
    shot(maria, "lgpd-01b-meus-dados-copia-pronta")
    with maria.expect_download() as info:
        maria.get_by_role("link", name="Baixar meus dados (JSON)").click()
    path = tmp_path / "meus-dados.json"
    info.value.save_as(path)
    assert info.value.suggested_filename.startswith("meus-dados-")
    doc = json.loads(path.read_text("utf-8"))

    # What the database holds for her, read independently of the export.
    with svc.unit.session_factory() as s:
        me = s.get(User, maria_id)
        assert me is not None
        tickets = list(s.scalars(select(Chamado).where(Chamado.requester_id == maria_id)))
        files = list(
            s.scalars(select(Attachment).where(Attachment.chamado_id.in_([c.id for c in tickets])))
        )
        mails = list(
            s.scalars(
                select(OutboxMessage).where(OutboxMessage.chamado_id.in_([c.id for c in tickets]))
            )
        )
        reads = list(s.scalars(select(DataAccess).where(DataAccess.subject_id == maria_id)))
    assert doc["conta"]["cpf"] == "390.533.447-05"
    assert doc["conta"]["nome_civil"] == me.name and doc["conta"]["email"] == me.email
    assert [t["protocolo"] for t in doc["solicitacoes"]] == [c.protocolo for c in tickets]
    assert [
        (f["nome_do_arquivo"], f["tamanho"]) for t in doc["solicitacoes"] for f in t["arquivos"]
    ] == [(f.filename, f.size) for f in files]
    answers = doc["solicitacoes"][0]["respostas"][0]["dados"]
    assert answers["detalhamento"] == "Relato de Maria da Silva"
    # Mail to her: to her gov.br address or to the address she gave on the form.
    hers = {me.email, *(c.email for c in tickets)} - {None}
    assert sorted((m["assunto"], m["para"]) for m in doc["emails"]) == sorted(
        (m.subject, m.to_addr) for m in mails if m.to_addr in hers
    )
    assert doc["emails"]  # the receipt of her chamado
    assert len(doc["acessos_por_servidores"]) == len(reads) == 1
    assert doc["acessos_por_servidores"][0]["quem"] == "Ana Souza"
    # Nothing of João: not his protocol, his name, his CPF or his file.
    whole = json.dumps(doc, ensure_ascii=False)
    for other in (chamado(svc, theirs).protocolo, "João", JOAO, "853.513.468-93"):
        assert other not in whole
    # Usable at 320 px: nothing wider than the screen but the tables' own scrolling.
    maria.set_viewport_size({"width": 320, "height": 640})
    maria.reload()
    expect(maria.get_by_role("link", name="Baixar meus dados (JSON)")).to_be_visible()
    wide = maria.evaluate(
        """() => [...document.querySelectorAll('body *')]
              .filter(e => e.getBoundingClientRect().right > window.innerWidth + 1)
              .filter(e => !e.closest('.app-table-scroll'))
              .map(e => e.tagName + '.' + e.className)
              .slice(0, 8)"""
    )
    assert maria.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1"), wide
    shot(maria, "lgpd-02-meus-dados-320px")
    assert maria.csp_violations == [] and ana.csp_violations == []
