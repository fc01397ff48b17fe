"""Issue #11's designer story, end to end in a real browser, by visible labels.

A designer brings a SpiffArena process-model folder, zipped: ``process_model.json``, a
``.bpmn`` whose process ``Process_1`` is marked ``isExecutable="false"`` (bpmn.io's
default), and the form of its user task. She imports it from the "Processos" page
("Importar pasta"), which makes it a new model's draft with its problems listed; opens
it in the modeler and, in the properties panel, switches the process on (renaming
nothing), gives the gateway's high branch a condition and makes the other its default,
gives the manual task's boundary timer a duration ("P2D", previewed as "2 dias"), the
script task its script, the lane its group (the requester's), the manual task its
instructions, and the business rule task the id of a decision table she then creates in
"Tabelas de decisão" (dmn-js) and edits cell by cell. "Validar" shows no problem; the
draft is saved, and the exported folder holds everything she set. "Executar teste" →
"Testar passo a passo" takes the draft through both branches of the gateway without a
ticket; she publishes; Maria, a requester, runs it to its end through the citizen pages.

Drawing shapes on the bpmn-js canvas by mouse is impractical to script reliably, so the
starting model already has every shape (start → user task with its form → business rule
task → script task → exclusive gateway → a manual task with a timer on one branch, an end
on the other; one lane); the story only SETS their properties, all of them in the panel.
"""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from lxml import etree
from sqlalchemy import select as sql_select

from engine.designer.folder import choose, read_zip
from engine.models import Chamado, ProcessVersion
from tests.a11y import axe_violations, describe
from tests.browser import browser, cell, marked, retype, select, shot  # noqa: F401 - fixture by name
from tests.story_folder import METADATA, SCHEMA, STARTING_BPMN, UI_SCHEMA
from tests.test_designer_browser import DORA, MARIA, server, signed_in  # noqa: F401

pytestmark = pytest.mark.browser
playwright_api = pytest.importorskip("playwright.sync_api")

BPMN = "{http://www.omg.org/spec/BPMN/20100524/MODEL}"
SPIFF = "{http://spiffworkflow.org/bpmn/schema/1.0/core}"
DMN = "{https://www.omg.org/spec/DMN/20191111/MODEL/}"

OUTCOME = "Pedido conferido e aprovado"
INSTRUCTIONS = "## Conferência\n\nConfira **{{ resumo }}** antes de concluir."


def starting_folder(tmp: Path) -> Path:
    """The folder as SpiffArena exports it (one subfolder per model), zipped."""
    path = tmp / "pedido.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("pedido/process_model.json", json.dumps(METADATA))
        archive.writestr("pedido/pedido.bpmn", STARTING_BPMN)
        archive.writestr("pedido/pedido-schema.json", json.dumps(SCHEMA))
        archive.writestr("pedido/pedido-uischema.json", json.dumps(UI_SCHEMA))
    return path


def test_a_designer_brings_a_spiffarena_folder_to_a_requesters_end(
    server: tuple[str, Flask],  # noqa: F811
    browser: Any,  # noqa: F811
    tmp_path: Path,
) -> None:
    expect = playwright_api.expect
    base, app = server
    page = signed_in(browser, base, app, DORA, "Dora Projetista", "designer")
    page.set_viewport_size({"width": 1400, "height": 1000})

    # 1. The folder, imported from "Processos": a new model's draft, its problems listed.
    page.goto(base + "/processos")
    # The .bpmn alone is refused with the reason (it is the folder, zipped, that is asked).
    bpmn_only = tmp_path / "pedido.bpmn"
    bpmn_only.write_text(STARTING_BPMN, encoding="utf-8")
    page.get_by_label("Pasta do modelo (.zip)").set_input_files(str(bpmn_only))
    page.get_by_role("button", name="Importar pasta").click()
    expect(page.get_by_role("alert")).to_contain_text("A pasta não foi importada:")
    expect(page.get_by_role("alert")).to_contain_text("deve vir num arquivo .zip")
    found = axe_violations(page)
    assert not found, describe(found)
    page.get_by_label("Pasta do modelo (.zip)").set_input_files(str(starting_folder(tmp_path)))
    page.get_by_role("button", name="Importar pasta").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Pedido de compra")
    expect(page.get_by_role("heading", level=1)).to_contain_text("Process_1")
    expect(page.locator("main")).to_contain_text("Pasta importada")
    expect(page.locator("main")).to_contain_text("pedido-schema.json")  # the form came along
    shot(page, "historia-01-pasta-importada")
    page.wait_for_load_state("load")  # the model page's scripts, before leaving it
    page.get_by_role("link", name="Abrir no modelador").click()
    expect(page.locator("#modeler")).to_have_attribute("data-ready", "true", timeout=15000)
    panel = page.locator("#modeler-panel")
    errors = page.locator("#modeler-errors")
    page.get_by_role("button", name="Validar").click()
    expect(errors).to_contain_text("está marcado como não executável")

    # 2. The process switched on through its pool; its id stays Process_1.
    pool = page.locator("g.djs-element[data-element-id='Participant_1']")
    box = pool.bounding_box()
    assert box is not None
    pool.click(position={"x": 12, "y": box["height"] / 2})
    executable = panel.get_by_label("Executável (isExecutable)")
    expect(executable).not_to_be_checked()
    executable.click()  # (check() reads the box before the panel redraws it)
    expect(executable).to_be_checked()
    expect(panel.get_by_label("Identificador do processo (id)")).to_have_value("Process_1")

    # 3. The gateway: a condition on the high branch (picked in the element list, the
    # keyboard's way to a flow), the other branch its default.
    page.get_by_label("Elemento", exact=True).select_option(label="Fluxo: alta (Flow_alta)")
    panel.get_by_label("Condição (expressão Python)").fill('resultado == "alto"')
    select(page, "Gateway_1")
    panel.get_by_label("Fluxo padrão (seguido quando nenhuma condição vale)").select_option(
        "Flow_baixa"
    )

    # 4. The timer on the manual task, with its preview.
    select(page, "Event_prazo")
    panel.get_by_label("Tipo de temporizador").select_option(label='Duração (ex.: "P10D", 10 dias)')
    panel.get_by_label("Valor do temporizador (expressão Python)").fill('"P2D"')
    expect(panel.locator("[data-entry-id='timerValue']")).to_contain_text("Prévia: 2 dias")
    shot(page, "historia-02-temporizador")

    # 5. The script task's script.
    select(page, "Activity_resumo")
    panel.get_by_label("Script (Python)").fill('resumo = f"R$ {valor}, faixa {resultado}"')

    # 6. The lane's group: the requester's (a click on its empty top right corner).
    lane = page.locator("g.djs-element[data-element-id='Lane_1']")
    box = lane.bounding_box()
    assert box is not None
    lane.click(position={"x": box["width"] - 30, "y": 15})
    expect(page.get_by_label("Elemento", exact=True)).to_have_value("Lane_1")
    panel.get_by_label("Grupo que trabalha nesta raia").select_option(
        label="Solicitante (quem abriu o chamado)"
    )
    expect(panel.get_by_label("Nome", exact=True)).to_have_value("Solicitante")

    # 7. The manual task's instructions, with their preview.
    select(page, "Activity_conferir")
    panel.get_by_label("Instruções ao usuário (markdown)").fill(INSTRUCTIONS)
    preview = panel.get_by_role("region", name="Prévia das instruções")
    expect(preview.locator("h2")).to_have_text("Conferência")

    # 7b. What the requester is told when her ticket ends on the high branch.
    select(page, "End_alta")
    panel.get_by_label("Resultado para o solicitante (outcome)").fill(OUTCOME)

    # 8. The business rule task calls a decision table, created and edited in dmn-js.
    select(page, "Activity_faixa")
    panel.get_by_label("Decisão (id da tabela DMN, calledDecisionId)").fill("faixa_de_valor")
    tables = page.get_by_role("region", name="Tabelas de decisão")
    tables.get_by_label("Identificador da decisão").fill("faixa_de_valor")
    tables.get_by_label("Nome da decisão (opcional)").fill("Faixa de valor")
    tables.get_by_role("button", name="Criar tabela de decisão").click()
    expect(tables.get_by_label("Tabela aberta")).to_have_value("faixa_de_valor.dmn")
    retype(page, cell(page, "Regra 1, entrada Valor"), "< 1000")
    retype(page, cell(page, "Regra 2, entrada Valor"), ">= 1000")
    page.keyboard.press("Tab")
    shot(page, "historia-03-tabela")

    # 9. Validation finds nothing left; the draft is saved.
    page.get_by_role("button", name="Validar").click()
    expect(errors).to_have_text("Nenhum problema encontrado.", timeout=15000)
    expect(tables.get_by_role("list", name="Problemas nas tabelas de decisão")).to_have_text(
        "Nenhum problema nas tabelas de decisão."
    )
    page.get_by_role("button", name="Salvar rascunho").click()
    expect(page.locator("#modeler-status")).to_contain_text("Rascunho salvo")
    expect(page.locator("#modeler-status")).not_to_contain_text("problema")
    assert page.problems == [] and page.csp_violations == []

    # 10. The exported folder (the model page's link) holds what was set, under the
    # names the folder came with.
    page.goto(base + "/processos/Process_1")
    with page.expect_download() as download:
        page.get_by_role("link", name="Exportar pasta do modelo").click()
    exported = Path(download.value.path()).read_bytes()
    # Chromium reports a link that turns into a download as an aborted navigation.
    aborted = f"{base}/processos/Process_1/exportar-pasta: net::ERR_ABORTED"
    page.problems[:] = [p for p in page.problems if p != aborted]
    chosen, problems = choose(read_zip("Process_1.zip", exported))
    assert problems == [] and chosen is not None and chosen.process_id == "Process_1"
    assert_set_in_the_panel(chosen.bpmn, chosen.forms)

    # 11. "Executar teste" → "Testar passo a passo", through both branches.
    page.get_by_role("link", name="Testar passo a passo").click()
    page.get_by_role("button", name="Iniciar teste").click()
    expect(page.get_by_role("heading", name="Tarefa: Informar pedido")).to_be_visible()
    page.get_by_label("Valor do pedido").fill("5000")
    page.get_by_role("button", name="Enviar", exact=True).click()
    expect(page.get_by_role("heading", name="Tarefa: Conferir pedido")).to_be_visible()
    expect(page.locator(".instructions strong")).to_have_text("R$ 5000, faixa alto")
    expect(page.get_by_role("button", name="Disparar temporizador")).to_be_visible()
    page.get_by_role("button", name="Concluir", exact=True).click()
    expect(page.locator("#teste-fim")).to_contain_text("Pedido conferido")
    diagram = page.locator("[data-diagram-url]")
    expect(diagram).to_have_attribute("data-loaded", "true", timeout=15000)
    assert marked(page, "Activity_conferir", "app-done") and marked(page, "End_alta", "app-done")
    assert marked(page, "Flow_alta", "app-flow-done")
    shot(page, "historia-04-teste-ramo-alto")
    page.get_by_role("button", name="Reiniciar teste").click()
    page.get_by_label("Valor do pedido").fill("50")
    page.get_by_role("button", name="Enviar", exact=True).click()
    expect(page.locator("#teste-fim")).to_contain_text("Aprovado sem conferência")
    path = page.get_by_role("list", name="Etapas, na ordem em que aconteceram")
    expect(path).not_to_contain_text("Conferir pedido")
    expect(diagram).to_have_attribute("data-loaded", "true", timeout=15000)
    assert marked(page, "End_baixa", "app-done")
    assert not marked(page, "Activity_conferir", "app-done")
    assert tickets_of(app) == []  # a test run creates no ticket

    # 12. Published from the model's page.
    page.goto(base + "/processos/Process_1")
    page.get_by_role("button", name="Publicar nova versão").click()
    expect(page.locator("main")).to_contain_text("Versão 1")
    expect(page.locator("#publish-error")).to_have_count(0)
    assert page.problems == [] and page.csp_violations == []

    # 13. Maria runs it to its end: her value is high, so she confers it herself.
    maria = signed_in(browser, base, app, MARIA, "Maria da Silva")
    maria.goto(base + "/servicos")
    maria.get_by_role("link", name="Iniciar").and_(
        maria.locator("[aria-describedby='svc-Process_1']")
    ).click()
    maria.get_by_role("button", name="Iniciar").click()
    maria.get_by_role("textbox", name="Valor do pedido").fill("2500")
    maria.get_by_role("button", name="Enviar").click()
    expect(maria.locator("main")).to_contain_text("Conferência")
    expect(maria.locator("main strong")).to_have_text("R$ 2500, faixa alto")
    maria.get_by_role("button", name="Concluir").click()
    expect(maria.locator("main")).to_contain_text("Pedido conferido")
    expect(maria.locator("main")).to_contain_text(OUTCOME)  # her result, as the panel set it
    shot(maria, "historia-05-solicitante-fim")
    assert maria.problems == [] and maria.csp_violations == []
    (closed_at,) = tickets_of(app)
    assert closed_at is not None


def tickets_of(app: Flask) -> list[Any]:
    """When each ticket of Process_1 closed (None while open)."""
    with app.extensions["chamados"].unit.reading() as s:
        query = (
            sql_select(Chamado.closed_at)
            .join(ProcessVersion, ProcessVersion.id == Chamado.process_version_id)
            .where(ProcessVersion.process_id == "Process_1")
        )
        return list(s.scalars(query))


def assert_set_in_the_panel(bpmn: bytes, files: dict[str, str]) -> None:
    """Everything the story set, in SpiffArena's XML; nothing renamed."""
    tree = etree.parse(io.BytesIO(bpmn)).getroot()
    (process,) = tree.findall(f"{BPMN}process")
    assert (process.get("id"), process.get("isExecutable")) == ("Process_1", "true")
    ext = f"{BPMN}extensionElements"
    flow = tree.find(f".//{BPMN}sequenceFlow[@id='Flow_alta']")
    assert flow is not None and flow.findtext(f"{BPMN}conditionExpression") == 'resultado == "alto"'
    gateway = tree.find(f".//{BPMN}exclusiveGateway[@id='Gateway_1']")
    assert gateway is not None and gateway.get("default") == "Flow_baixa"
    timer = tree.find(f".//{BPMN}boundaryEvent[@id='Event_prazo']/{BPMN}timerEventDefinition")
    assert timer is not None and timer.findtext(f"{BPMN}timeDuration") == '"P2D"'
    script = tree.findtext(f".//{BPMN}scriptTask[@id='Activity_resumo']/{BPMN}script")
    assert script == 'resumo = f"R$ {valor}, faixa {resultado}"'
    lane = tree.find(f".//{BPMN}lane[@id='Lane_1']")
    assert lane is not None and lane.get("name") == "Solicitante"
    manual = tree.find(f".//{BPMN}manualTask[@id='Activity_conferir']")
    assert manual is not None
    assert manual.findtext(f"{ext}/{SPIFF}instructionsForEndUser") == INSTRUCTIONS
    outcome = tree.find(f".//{BPMN}endEvent[@id='End_alta']//{SPIFF}property[@name='outcome']")
    assert outcome is not None and outcome.get("value") == OUTCOME
    rule = tree.find(f".//{BPMN}businessRuleTask[@id='Activity_faixa']")
    assert rule is not None and rule.findtext(f"{ext}/{SPIFF}calledDecisionId") == "faixa_de_valor"
    ids = {n.get("id") for n in tree.iter() if n.get("id")}
    assert {"Activity_pedido", "Activity_faixa", "Activity_resumo", "Activity_conferir"} <= ids
    # The form came through untouched; the decision table has the edited rules.
    assert json.loads(files["pedido-schema.json"]) == SCHEMA
    table = etree.fromstring(files["faixa_de_valor.dmn"].encode())
    entries = [t.text for t in table.iter(f"{DMN}text")]
    assert entries[:1] == ["valor"] and "< 1000" in entries and ">= 1000" in entries
