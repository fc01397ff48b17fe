"""The modeler's properties panel in a real browser, by its visible labels.

A designer creates the model ``Process_1``, imports a SpiffArena-style ``.bpmn`` into the
modeler (``isExecutable="false"``, a lane named for no group, an empty timer, a script
task without a script, a decision without conditions, a manual task without
instructions) and completes it in the panel: switches the process on, gives the
decision a condition and a default flow, the timer a duration (its preview reads
"10 dias"; a value without quotes is refused as one types), the script task its
script, the lane its group, the manual task its instructions (with their preview); an
id with a space is refused with a pt-BR message tied to the field. The live validation
then shows no problem; the draft is saved, published, and a requester runs it to its
end. What the panel wrote is SpiffArena's XML: the draft is checked element by element,
bpmn-moddle (node) reads it without a warning, and the exported folder re-imports with
nothing lost.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from lxml import etree

from engine.designer.folder import choose, read_zip
from tests import spiff_moddle
from tests.browser import browser, select, shot  # noqa: F401 - the fixture is used by name
from tests.test_designer import web_actor
from tests.test_designer_browser import DORA, MARIA, server, signed_in  # noqa: F401

pytestmark = pytest.mark.browser
playwright_api = pytest.importorskip("playwright.sync_api")

MODEL = Path(__file__).parent / "models" / "spiffarena_panel.bpmn"
BPMN = "{http://www.omg.org/spec/BPMN/20100524/MODEL}"
SPIFF = "{http://spiffworkflow.org/bpmn/schema/1.0/core}"


def open_modeler_with_import(page: Any, base: str) -> Any:
    expect = playwright_api.expect
    page.goto(base + "/processos")
    page.get_by_label("Identificador").fill("Process_1")
    page.get_by_label("Nome").fill("Orientação ao solicitante")
    page.get_by_role("button", name="Criar modelo").click()
    page.wait_for_load_state("load")  # the model page's scripts, before leaving it
    page.get_by_role("link", name="Abrir no modelador").click()
    modeler = page.locator("#modeler")
    expect(modeler).to_have_attribute("data-ready", "true", timeout=15000)
    page.locator("#modeler-import").set_input_files(str(MODEL))
    expect(page.locator("#modeler-status")).to_contain_text("Arquivo importado")
    expect(page.locator("g.djs-element[data-element-id='Activity_ler']")).to_be_visible()
    return modeler


def test_a_spiffarena_model_completed_in_the_panel_runs(
    server: tuple[str, Flask],  # noqa: F811
    browser: Any,  # noqa: F811
    tmp_path: Path,
) -> None:
    expect = playwright_api.expect
    base, app = server
    page = signed_in(browser, base, app, DORA, "Dora Projetista", "designer")
    page.set_viewport_size({"width": 1400, "height": 1000})
    open_modeler_with_import(page, base)
    panel = page.locator("#modeler-panel")
    errors = page.locator("#modeler-errors")
    expect(errors).to_contain_text("está marcado como não executável")  # the import's problem

    # The process: switched on through its pool (the participant's process).
    gfx = page.locator("g.djs-element[data-element-id='Participant_1']")
    box = gfx.bounding_box()
    assert box is not None
    gfx.click(position={"x": 12, "y": box["height"] / 2})
    executable = panel.get_by_label("Executável (isExecutable)")
    expect(executable).not_to_be_checked()
    executable.click()  # (check() reads the box before the panel redraws it)
    expect(executable).to_be_checked()
    expect(panel.get_by_label("Identificador do processo (id)")).to_have_value("Process_1")

    # The manual task: an id with a space is refused, in pt-BR, tied to its field.
    select(page, "Activity_ler")
    expect(panel.locator(".bio-properties-panel-header")).to_contain_text("Tarefa manual")
    task_id = panel.get_by_label("Identificador (id)")
    task_id.fill("ler orientacoes")
    message = "O identificador não pode ter espaços"
    expect(panel.locator(".bio-properties-panel-error")).to_contain_text(message)
    expect(task_id).to_have_attribute("aria-invalid", "true")
    described = task_id.get_attribute("aria-describedby") or ""
    assert any(
        message in (page.locator(f"[id='{i}']").text_content() or "") for i in described.split()
    )
    shot(page, "painel-01-id-invalido")
    task_id.fill("Activity_ler")
    expect(task_id).to_have_attribute("aria-invalid", "false")
    # … and its instructions, in markdown, with their preview.
    instructions = panel.get_by_label("Instruções ao usuário (markdown)")
    instructions.fill("## Orientações\n\nLeia **com atenção** e conclua.")
    preview = panel.get_by_role("region", name="Prévia das instruções")
    expect(preview.locator("h2")).to_have_text("Orientações")
    expect(preview.locator("strong")).to_have_text("com atenção")
    shot(page, "painel-02-instrucoes")
    panel.get_by_label("Script antes da tarefa (preScript, Python)").fill("orientado = True")

    # The timer: a value without quotes is refused as one types; the preview reads it.
    select(page, "Event_prazo")
    panel.get_by_label("Tipo de temporizador").select_option(label='Duração (ex.: "P10D", 10 dias)')
    value = panel.get_by_label("Valor do temporizador (expressão Python)")
    value.fill("P10D")
    expect(panel.locator("[data-entry-id='timerValue']")).to_contain_text(
        'Escreva o valor entre aspas: "P10D"'
    )
    expect(value).to_have_attribute("aria-invalid", "true")
    value.fill('"P10D"')
    expect(panel.locator("[data-entry-id='timerValue']")).to_contain_text("Prévia: 10 dias")
    expect(value).to_have_attribute("aria-invalid", "false")
    shot(page, "painel-03-temporizador")

    # The script task's script.
    select(page, "Activity_calc")
    panel.get_by_label("Script (Python)").fill("total = 3")
    panel.get_by_label("Script depois da tarefa (postScript, Python)").fill("dobro = total * 2")

    # The decision: a condition on one branch, the other one the default.
    # (the flow through the element list, the keyboard's way to any element)
    page.get_by_label("Elemento", exact=True).select_option(label="Fluxo: alto (Flow_alto)")
    expect(panel.locator(".bio-properties-panel-header")).to_contain_text("Fluxo")
    panel.get_by_label("Condição (expressão Python)").fill("total > 2")
    select(page, "Gateway_1")
    panel.get_by_label("Fluxo padrão (seguido quando nenhuma condição vale)").select_option(
        "Flow_baixo"
    )
    shot(page, "painel-04-decisao")

    # The lane (a click on its empty top right corner): the requester's. The groups
    # that exist are offered.
    gfx = page.locator("g.djs-element[data-element-id='Lane_1']")
    box = gfx.bounding_box()
    assert box is not None
    gfx.click(position={"x": box["width"] - 30, "y": 15})
    expect(page.get_by_label("Elemento", exact=True)).to_have_value("Lane_1")
    group = panel.get_by_label("Grupo que trabalha nesta raia")
    expect(group).to_have_value("@atual")  # "Pessoas" is no group yet
    expect(group.locator("option", has_text="Equipe técnica")).to_have_count(1)
    group.select_option(label="Solicitante (quem abriu o chamado)")
    expect(panel.get_by_label("Nome", exact=True)).to_have_value("Solicitante")

    # The live validation finds nothing left; saving writes what the panel made.
    expect(errors).to_have_text("Nenhum problema encontrado.", timeout=15000)
    page.get_by_role("button", name="Salvar rascunho").click()
    expect(page.locator("#modeler-status")).to_contain_text("Rascunho salvo")
    expect(page.locator("#modeler-status")).not_to_contain_text("problema")
    assert page.problems == [] and page.csp_violations == []
    shot(page, "painel-05-salvo")

    xml = drafted(app)
    tree = etree.fromstring(xml.encode())
    process = tree.find(f"{BPMN}process")
    assert process is not None and process.get("isExecutable") == "true"
    assert process.get("id") == "Process_1"
    ler = tree.find(f".//{BPMN}manualTask[@id='Activity_ler']")
    assert ler is not None
    assert ler.findtext(f"{BPMN}extensionElements/{SPIFF}instructionsForEndUser") == (
        "## Orientações\n\nLeia **com atenção** e conclua."
    )
    timer = tree.find(f".//{BPMN}boundaryEvent[@id='Event_prazo']/{BPMN}timerEventDefinition")
    assert timer is not None and timer.findtext(f"{BPMN}timeDuration") == '"P10D"'
    assert tree.findtext(f".//{BPMN}scriptTask[@id='Activity_calc']/{BPMN}script") == "total = 3"
    alto = tree.find(f".//{BPMN}sequenceFlow[@id='Flow_alto']")
    assert alto is not None and alto.findtext(f"{BPMN}conditionExpression") == "total > 2"
    gateway = tree.find(f".//{BPMN}exclusiveGateway[@id='Gateway_1']")
    assert gateway is not None and gateway.get("default") == "Flow_baixo"
    lane = tree.find(f".//{BPMN}lane[@id='Lane_1']")
    assert lane is not None and lane.get("name") == "Solicitante"
    ext = f"{BPMN}extensionElements"
    assert ler.findtext(f"{ext}/{SPIFF}preScript") == "orientado = True"
    calc = tree.find(f".//{BPMN}scriptTask[@id='Activity_calc']")
    assert calc is not None and calc.findtext(f"{ext}/{SPIFF}postScript") == "dobro = total * 2"
    # bpmn-moddle (with node) reads what the panel wrote without a warning, typed.
    saved = tmp_path / "Process_1.bpmn"
    saved.write_text(xml, encoding="utf-8")
    (moddle,) = spiff_moddle.read(saved)
    assert moddle.warnings == []
    assert {"spiffworkflow:InstructionsForEndUser", "spiffworkflow:PreScript"} <= set(
        moddle.spiff_types
    )

    # Published from the model's page.
    page.goto(base + "/processos/Process_1")
    page.get_by_role("button", name="Publicar nova versão").click()
    expect(page.locator("main")).to_contain_text("Versão 1")
    expect(page.locator("#publish-error")).to_have_count(0)

    # The exported folder re-imports with nothing lost: the same model, element by element,
    # and deploying it publishes nothing new (identical to version 1).
    dora = web_actor(app, DORA)
    filename, data = app.extensions["chamados"].designer.export_folder(dora, "Process_1")
    folder = read_zip(filename, data)
    chosen, problems = choose(folder)
    assert problems == [] and chosen is not None and chosen.process_id == "Process_1"
    assert spiff_moddle.differences(spiff_moddle.parse(xml), spiff_moddle.parse(chosen.bpmn)) == []
    deployed = app.extensions["chamados"].designer.deploy_folder(folder, actor=dora)
    assert deployed.ok and deployed.unchanged

    # A requester runs it to its end.
    maria = signed_in(browser, base, app, MARIA, "Maria da Silva")
    maria.goto(base + "/servicos")
    card = maria.get_by_role("link", name="Iniciar").and_(
        maria.locator("[aria-describedby='svc-Process_1']")
    )
    card.click()
    maria.get_by_role("button", name="Iniciar").click()
    expect(maria.locator("main")).to_contain_text("Orientações")
    expect(maria.locator("main strong")).to_have_text("com atenção")
    maria.get_by_role("button", name="Concluir").click()
    expect(maria.locator("main")).to_contain_text("Fim com total alto")
    assert maria.problems == [] and maria.csp_violations == []
    shot(maria, "painel-06-solicitante-fim")


def drafted(app: Flask) -> str:
    svc = app.extensions["chamados"]
    with svc.unit.session_factory() as s:
        from engine.designer import drafts

        return drafts.load(s, "Process_1").bpmn_xml


def test_a_model_the_modeler_cannot_read_whole_is_not_saved_from_it(
    server: tuple[str, Flask],  # noqa: F811
    browser: Any,  # noqa: F811
    tmp_path: Path,
) -> None:
    """A spiffworkflow element the descriptor does not type would be dropped by bpmn-moddle:
    the modeler says so and refuses to save, and the draft keeps what it had."""
    expect = playwright_api.expect
    base, app = server
    page = signed_in(browser, base, app, DORA, "Dora Projetista", "designer")
    page.goto(base + "/processos")
    page.get_by_label("Identificador").fill("modelo_novo")
    page.get_by_label("Nome").fill("Modelo com extensão nova")
    page.get_by_role("button", name="Criar modelo").click()
    page.wait_for_load_state("load")  # the model page's scripts, before leaving it
    page.get_by_role("link", name="Abrir no modelador").click()
    expect(page.locator("#modeler")).to_have_attribute("data-ready", "true", timeout=15000)
    before = app_draft(app, "modelo_novo")
    unknown = MODEL.read_text(encoding="utf-8").replace(
        '<bpmn:manualTask id="Activity_ler" name="Ler orientações">',
        '<bpmn:manualTask id="Activity_ler" name="Ler orientações"><bpmn:extensionElements>'
        "<spiffworkflow:somethingNew>x</spiffworkflow:somethingNew></bpmn:extensionElements>",
    )
    path = tmp_path / "novo.bpmn"
    path.write_text(unknown, encoding="utf-8")
    page.locator("#modeler-import").set_input_files(str(path))
    status = page.locator("#modeler-status")
    expect(status).to_contain_text("não reconhece 1 trecho(s)")
    expect(status).to_contain_text("somethingNew")
    page.get_by_role("button", name="Salvar rascunho").click()
    expect(status).to_contain_text("Nada foi salvo")
    assert app_draft(app, "modelo_novo") == before
    assert page.problems == [] and page.csp_violations == []


def app_draft(app: Flask, pid: str) -> tuple[int, str]:
    svc = app.extensions["chamados"]
    with svc.unit.session_factory() as s:
        from engine.designer import drafts

        draft = drafts.load(s, pid)
        return draft.version, draft.bpmn_xml


def test_the_panel_edits_an_element_with_the_keyboard_alone(
    server: tuple[str, Flask],  # noqa: F811
    browser: Any,  # noqa: F811
) -> None:
    """No pointer: the "Elemento" list picks the element, Tab reaches the
    panel's field, the text is typed, Ctrl+S saves the draft."""
    expect = playwright_api.expect
    base, app = server
    page = signed_in(browser, base, app, DORA, "Dora Projetista", "designer")
    page.goto(base + "/processos/chamado/modelador")
    expect(page.locator("#modeler")).to_have_attribute("data-ready", "true", timeout=15000)
    version = app_draft(app, "chamado")[0]
    picker = page.get_by_label("Elemento", exact=True)
    for _ in range(30):  # Tab from the page's start to the list
        page.keyboard.press("Tab")
        if page.evaluate("() => document.activeElement.id") == "modeler-element":
            break
    expect(picker).to_be_focused()
    pick(picker, "contar_rodada")  # by value: type-ahead is timing-sensitive under load
    panel = page.locator("#modeler-panel")
    expect(panel.locator(".bio-properties-panel-header")).to_contain_text("Contar rodada")
    target = panel.get_by_label("Script depois da tarefa (postScript, Python)")
    for _ in range(40):
        page.keyboard.press("Tab")
        if target.evaluate("e => e === document.activeElement"):
            break
    expect(target).to_be_focused()
    page.keyboard.type("ajustes_pedidos = rodadas_ajuste")
    page.keyboard.press("Tab")  # leaving the field commits it
    page.keyboard.press("Control+s")
    expect(page.locator("#modeler-status")).to_contain_text("Rascunho salvo")
    saved_version, xml = app_draft(app, "chamado")
    assert saved_version == version + 1
    assert (
        "<spiffworkflow:postScript>ajustes_pedidos = rodadas_ajuste</spiffworkflow:postScript>"
        in xml
    )
    assert page.problems == [] and page.csp_violations == []


NO_POOL = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
  xmlns:bpmndi="http://www.omg.org/spec/BPMN/20100524/DI"
  xmlns:dc="http://www.omg.org/spec/DD/20100524/DC"
  xmlns:di="http://www.omg.org/spec/DD/20100524/DI" id="Definitions_1"
  targetNamespace="http://bpmn.io/schema/bpmn">
  <bpmn:process id="sem_pool" name="Modelo sem pool" isExecutable="true">
    <bpmn:startEvent id="StartEvent_1"><bpmn:outgoing>Flow_1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:endEvent id="EndEvent_1"><bpmn:incoming>Flow_1</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="Flow_1" sourceRef="StartEvent_1" targetRef="EndEvent_1" />
  </bpmn:process>
  <bpmndi:BPMNDiagram id="BPMNDiagram_1">
    <bpmndi:BPMNPlane id="BPMNPlane_1" bpmnElement="sem_pool">
      <bpmndi:BPMNShape id="StartEvent_1_di" bpmnElement="StartEvent_1">
        <dc:Bounds x="180" y="100" width="36" height="36" />
      </bpmndi:BPMNShape>
      <bpmndi:BPMNShape id="EndEvent_1_di" bpmnElement="EndEvent_1">
        <dc:Bounds x="300" y="100" width="36" height="36" />
      </bpmndi:BPMNShape>
      <bpmndi:BPMNEdge id="Flow_1_di" bpmnElement="Flow_1">
        <di:waypoint x="216" y="118" />
        <di:waypoint x="300" y="118" />
      </bpmndi:BPMNEdge>
    </bpmndi:BPMNPlane>
  </bpmndi:BPMNDiagram>
</bpmn:definitions>
"""


def test_a_model_without_a_pool_edits_its_process_from_the_list(
    server: tuple[str, Flask],  # noqa: F811
    browser: Any,  # noqa: F811
    tmp_path: Path,
) -> None:
    """Without a pool the process is the diagram's root, listed in "Elemento" (and shown
    when nothing is selected); switching isExecutable off there is saved, then reported."""
    expect = playwright_api.expect
    base, app = server
    page = signed_in(browser, base, app, DORA, "Dora Projetista", "designer")
    page.goto(base + "/processos")
    page.get_by_label("Identificador").fill("sem_pool")
    page.get_by_label("Nome").fill("Modelo sem pool")
    page.get_by_role("button", name="Criar modelo").click()
    page.wait_for_load_state("load")  # the model page's scripts, before leaving it
    page.get_by_role("link", name="Abrir no modelador").click()
    expect(page.locator("#modeler")).to_have_attribute("data-ready", "true", timeout=15000)
    path = tmp_path / "sem_pool.bpmn"
    path.write_text(NO_POOL, encoding="utf-8")
    page.locator("#modeler-import").set_input_files(str(path))
    expect(page.locator("#modeler-status")).to_contain_text("Arquivo importado")
    picker = page.get_by_label("Elemento", exact=True)
    select(page, "StartEvent_1")
    expect(picker).to_have_value("StartEvent_1")
    picker.select_option("sem_pool")
    panel = page.locator("#modeler-panel")
    expect(panel.locator(".bio-properties-panel-header")).to_contain_text("Processo")
    expect(picker).to_have_value("sem_pool")
    executable = panel.get_by_label("Executável (isExecutable)")
    expect(executable).to_be_checked()
    executable.click()  # (uncheck() reads the box before the panel redraws it)
    expect(executable).not_to_be_checked()
    page.get_by_role("button", name="Salvar rascunho").click()
    expect(page.locator("#modeler-status")).to_contain_text("problema(s)")
    expect(page.locator("#modeler-errors")).to_contain_text("está marcado como não executável")
    assert 'isExecutable="false"' in app_draft(app, "sem_pool")[1]
    assert page.problems == [] and page.csp_violations == []


CALLS = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
  xmlns:bpmndi="http://www.omg.org/spec/BPMN/20100524/DI"
  xmlns:dc="http://www.omg.org/spec/DD/20100524/DC"
  xmlns:di="http://www.omg.org/spec/DD/20100524/DI" id="Definitions_1"
  targetNamespace="http://bpmn.io/schema/bpmn">
  <bpmn:process id="com_chamada" name="Com chamada" isExecutable="true">
    <bpmn:startEvent id="StartEvent_1"><bpmn:outgoing>Flow_1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:callActivity id="Call_1" name="Preparar dados">
      <bpmn:incoming>Flow_1</bpmn:incoming><bpmn:outgoing>Flow_2</bpmn:outgoing>
    </bpmn:callActivity>
    <bpmn:businessRuleTask id="Rule_1" name="Classificar">
      <bpmn:incoming>Flow_2</bpmn:incoming><bpmn:outgoing>Flow_3</bpmn:outgoing>
    </bpmn:businessRuleTask>
    <bpmn:endEvent id="EndEvent_1"><bpmn:incoming>Flow_3</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="Flow_1" sourceRef="StartEvent_1" targetRef="Call_1" />
    <bpmn:sequenceFlow id="Flow_2" sourceRef="Call_1" targetRef="Rule_1" />
    <bpmn:sequenceFlow id="Flow_3" sourceRef="Rule_1" targetRef="EndEvent_1" />
  </bpmn:process>
  <bpmn:process id="Preparar" name="Preparar dados" isExecutable="false">
    <bpmn:startEvent id="Sub_start"><bpmn:outgoing>Sub_flow</bpmn:outgoing></bpmn:startEvent>
    <bpmn:endEvent id="Sub_end"><bpmn:incoming>Sub_flow</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="Sub_flow" sourceRef="Sub_start" targetRef="Sub_end" />
  </bpmn:process>
  <bpmndi:BPMNDiagram id="BPMNDiagram_1">
    <bpmndi:BPMNPlane id="BPMNPlane_1" bpmnElement="com_chamada">
      <bpmndi:BPMNShape id="StartEvent_1_di" bpmnElement="StartEvent_1">
        <dc:Bounds x="180" y="100" width="36" height="36" />
      </bpmndi:BPMNShape>
      <bpmndi:BPMNShape id="Call_1_di" bpmnElement="Call_1">
        <dc:Bounds x="260" y="78" width="100" height="80" />
      </bpmndi:BPMNShape>
      <bpmndi:BPMNShape id="Rule_1_di" bpmnElement="Rule_1">
        <dc:Bounds x="410" y="78" width="100" height="80" />
      </bpmndi:BPMNShape>
      <bpmndi:BPMNShape id="EndEvent_1_di" bpmnElement="EndEvent_1">
        <dc:Bounds x="560" y="100" width="36" height="36" />
      </bpmndi:BPMNShape>
      <bpmndi:BPMNEdge id="Flow_1_di" bpmnElement="Flow_1">
        <di:waypoint x="216" y="118" /><di:waypoint x="260" y="118" />
      </bpmndi:BPMNEdge>
      <bpmndi:BPMNEdge id="Flow_2_di" bpmnElement="Flow_2">
        <di:waypoint x="360" y="118" /><di:waypoint x="410" y="118" />
      </bpmndi:BPMNEdge>
      <bpmndi:BPMNEdge id="Flow_3_di" bpmnElement="Flow_3">
        <di:waypoint x="510" y="118" /><di:waypoint x="560" y="118" />
      </bpmndi:BPMNEdge>
    </bpmndi:BPMNPlane>
  </bpmndi:BPMNDiagram>
</bpmn:definitions>
"""


def test_a_call_activity_and_a_decision_id_in_the_panel(
    server: tuple[str, Flask],  # noqa: F811
    browser: Any,  # noqa: F811
    tmp_path: Path,
) -> None:
    """A call activity picks a process of the same file; a business rule task gets its
    decision id as SpiffArena writes it — and the live validation still says the platform
    does not run decision tables yet."""
    expect = playwright_api.expect
    base, app = server
    page = signed_in(browser, base, app, DORA, "Dora Projetista", "designer")
    page.goto(base + "/processos")
    page.get_by_label("Identificador").fill("com_chamada")
    page.get_by_label("Nome").fill("Com chamada")
    page.get_by_role("button", name="Criar modelo").click()
    page.wait_for_load_state("load")
    page.get_by_role("link", name="Abrir no modelador").click()
    expect(page.locator("#modeler")).to_have_attribute("data-ready", "true", timeout=15000)
    path = tmp_path / "com_chamada.bpmn"
    path.write_text(CALLS, encoding="utf-8")
    page.locator("#modeler-import").set_input_files(str(path))
    expect(page.locator("#modeler-status")).to_contain_text("Arquivo importado")
    panel = page.locator("#modeler-panel")
    select(page, "Call_1")
    called = panel.get_by_label("Processo chamado (do mesmo arquivo)")
    expect(called.locator("option")).to_have_text(
        ["(escolha um processo)", "Preparar dados (Preparar)"]
    )
    called.select_option("Preparar")
    select(page, "Rule_1")
    panel.get_by_label("Decisão (id da tabela DMN, calledDecisionId)").fill("classificar_pedido")
    select(page, "Call_1")  # leaves the field: committed
    expect(page.locator("#modeler-errors")).to_contain_text("Rule_1", timeout=15000)
    page.get_by_role("button", name="Salvar rascunho").click()
    expect(page.locator("#modeler-status")).to_contain_text("Rascunho salvo")
    xml = app_draft(app, "com_chamada")[1]
    tree = etree.fromstring(xml.encode())
    call = tree.find(f".//{BPMN}callActivity[@id='Call_1']")
    assert call is not None and call.get("calledElement") == "Preparar"
    assert (
        tree.findtext(
            f".//{BPMN}businessRuleTask[@id='Rule_1']/{BPMN}extensionElements/{SPIFF}calledDecisionId"
        )
        == "classificar_pedido"
    )
    assert page.problems == [] and page.csp_violations == []


MESSAGES_MODEL = Path(__file__).parent / "models" / "spiffarena_messages_panel.bpmn"
DOCS = Path(__file__).resolve().parent.parent / "docs"


def axe_clean(page: Any, state: str) -> None:
    from tests.a11y import axe_violations, describe

    found = axe_violations(page)
    assert not found, f"{state}:\n{describe(found)}"


def test_messages_multi_instance_and_a_connector_set_in_the_panel_run(
    server: tuple[str, Flask],  # noqa: F811
    browser: Any,  # noqa: F811
    tmp_path: Path,
) -> None:
    """A SpiffArena-style model completed in the panel, by its labels: the catch event gets
    a new message, the variable its content lands in and a correlation (its retrieval
    expression, its key, the value this instance expects); the script task runs three
    times (a cardinality refused as "3 vezes" as one types), gathering each instance's
    item; the service task calls the platform's e-mail connector with its parameters.
    axe passes with each group open (errors shown too). What was saved is SpiffArena's
    XML (bpmn-moddle reads it without a warning; the exported folder re-imports
    unchanged); it is published, and run: a message for another order is not delivered,
    the one for this order is, and the instance runs its three instances and its e-mail."""
    from tests.test_api import person
    from tests.test_messages import post, reload, start

    expect = playwright_api.expect
    base, app = server
    svc = app.extensions["chamados"]
    page = signed_in(browser, base, app, DORA, "Dora Projetista", "designer")
    page.set_viewport_size({"width": 1400, "height": 1000})
    page.goto(base + "/processos")
    page.get_by_label("Identificador").fill("Pedido_confirmado")
    page.get_by_label("Nome").fill("Confirmação de pedido")
    page.get_by_role("button", name="Criar modelo").click()
    page.wait_for_load_state("load")
    page.get_by_role("link", name="Abrir no modelador").click()
    expect(page.locator("#modeler")).to_have_attribute("data-ready", "true", timeout=15000)
    page.locator("#modeler-import").set_input_files(str(MESSAGES_MODEL))
    expect(page.locator("#modeler-status")).to_contain_text("Arquivo importado")
    panel = page.locator("#modeler-panel")

    # The catch event: a new message, named; its content's variable (a bad name refused).
    select(page, "Event_confirmacao")
    expect(panel.locator(".bio-properties-panel-header")).to_contain_text(
        "Evento intermediário: receber mensagem"
    )
    message = panel.get_by_label("Mensagem", exact=True)
    expect(message).to_have_value("")
    panel.get_by_role("button", name="Criar mensagem").click()
    name = panel.get_by_label("Nome da mensagem")
    expect(name).to_have_value("mensagem_1")
    name.fill("confirmacao_pedido")
    variable = panel.get_by_label("Variável que recebe o conteúdo (messageVariable)")
    variable.fill("confirmação do pedido")
    expect(variable).to_have_attribute("aria-invalid", "true")
    expect(panel.locator("[data-entry-id='messageVariable']")).to_contain_text(
        "Use um nome de variável Python"
    )
    variable.fill("confirmacao")
    expect(variable).to_have_attribute("aria-invalid", "false")
    # … and its correlation: the order's number, read from the message and from the data.
    panel.get_by_role("button", name="Acrescentar propriedade de correlação").click()
    prop = panel.get_by_label("Propriedade de correlação 1 (id)")
    expect(prop).to_have_value("correlacao_1")
    expression = panel.get_by_label(
        "Expressão da propriedade 1 sobre o conteúdo da mensagem (Python)"
    )
    expect(expression).to_have_attribute("aria-invalid", "true")  # still empty
    axe_clean(page, "mensagem e correlação, com erro")
    prop.fill("pedido_id")
    expression = panel.get_by_label(
        "Expressão da propriedade 1 sobre o conteúdo da mensagem (Python)"
    )
    expression.fill("pedido_id")
    panel.get_by_label("Chave de correlação da propriedade 1").fill("pedido")
    panel.get_by_label("Valor esperado da propriedade 1 nesta instância (expressão Python)").fill(
        "pedido_id"
    )
    expect(expression).to_have_attribute("aria-invalid", "false")
    shot(page, "painel-07-mensagem-correlacao")
    axe_clean(page, "mensagem e correlação")

    # The script task, three times in a row: "3 vezes" is no expression.
    picker = page.get_by_label("Elemento", exact=True)  # (the event's context pad covers it)
    picker.select_option("Activity_quadrados")
    panel.get_by_label("Múltiplas instâncias", exact=True).select_option(
        label="Sequenciais (uma depois da outra)"
    )
    cardinality = panel.get_by_label("Número de instâncias (loopCardinality, expressão Python)")
    expect(cardinality).to_have_attribute("aria-invalid", "true")  # neither it nor a collection
    cardinality.fill("3 vezes")
    expect(panel.locator("[data-entry-id='loopCardinality']")).to_contain_text(
        "Não é uma expressão Python"
    )
    expect(cardinality).to_have_attribute("aria-invalid", "true")
    axe_clean(page, "múltiplas instâncias, com erro")
    cardinality.fill("3")
    expect(cardinality).to_have_attribute("aria-invalid", "false")
    panel.get_by_label("Item de entrada (inputDataItem)").fill("indice")
    panel.get_by_label("Coleção de saída (loopDataOutputRef)").fill("quadrados")
    panel.get_by_label("Item de saída (outputDataItem)").fill("quadrado")
    shot(page, "painel-08-multiplas-instancias")
    axe_clean(page, "múltiplas instâncias")

    # The service task: the e-mail connector, its parameters, its result variable.
    picker.select_option("Activity_avisar")
    connector = panel.get_by_label("Conector", exact=True)
    expect(connector.locator("option", has_text="smtp/SendEmail")).to_have_count(1)
    connector.select_option("smtp/SendEmail")
    to = panel.get_by_label("Parâmetro email_to (obrigatório), expressão Python")
    expect(to).to_have_attribute("aria-invalid", "true")  # required, still empty
    axe_clean(page, "conector, com erro")
    to.fill('"maria@example.gov.br"')
    panel.get_by_label("Parâmetro email_subject (obrigatório), expressão Python").fill(
        '"Pedido confirmado"'
    )
    panel.get_by_label("Parâmetro email_body (obrigatório), expressão Python").fill(
        'f"Quadrados: {quadrados}"'
    )
    panel.get_by_label("Variável do resultado (resultVariable)").fill("aviso")
    expect(to).to_have_attribute("aria-invalid", "false")
    shot(page, "painel-09-conector")
    axe_clean(page, "conector")

    errors = page.locator("#modeler-errors")
    expect(errors).to_have_text("Nenhum problema encontrado.", timeout=15000)
    page.get_by_role("button", name="Salvar rascunho").click()
    expect(page.locator("#modeler-status")).to_contain_text("Rascunho salvo")
    expect(page.locator("#modeler-status")).not_to_contain_text("problema")
    assert page.problems == [] and page.csp_violations == []

    xml = app_draft(app, "Pedido_confirmado")[1]
    tree = etree.fromstring(xml.encode())
    ext = f"{BPMN}extensionElements"
    (msg,) = tree.findall(f"{BPMN}message")
    assert msg.get("name") == "confirmacao_pedido"
    definition = tree.find(
        f".//{BPMN}intermediateCatchEvent[@id='Event_confirmacao']/{BPMN}messageEventDefinition"
    )
    assert definition is not None and definition.get("messageRef") == msg.get("id")
    assert definition.findtext(f"{ext}/{SPIFF}messageVariable") == "confirmacao"
    match = definition.find(f"{ext}/{SPIFF}processVariableCorrelation")
    assert match is not None
    assert match.findtext(f"{SPIFF}propertyId") == "pedido_id"
    assert match.findtext(f"{SPIFF}expression") == "pedido_id"
    prop_node = tree.find(f"{BPMN}correlationProperty[@id='pedido_id']")
    assert prop_node is not None and prop_node.get("name") == "pedido_id"
    retrieval = prop_node.find(f"{BPMN}correlationPropertyRetrievalExpression")
    assert retrieval is not None and retrieval.get("messageRef") == msg.get("id")
    assert retrieval.findtext(f"{BPMN}formalExpression") == "pedido_id"
    key = tree.find(f"{BPMN}collaboration/{BPMN}correlationKey")
    assert key is not None and key.get("name") == "pedido"
    assert key.findtext(f"{BPMN}correlationPropertyRef") == "pedido_id"
    loop = tree.find(
        f".//{BPMN}scriptTask[@id='Activity_quadrados']/{BPMN}multiInstanceLoopCharacteristics"
    )
    assert loop is not None and loop.get("isSequential") == "true"
    assert loop.findtext(f"{BPMN}loopCardinality") == "3"
    assert loop.findtext(f"{BPMN}loopDataOutputRef") == "quadrados"
    item = loop.find(f"{BPMN}inputDataItem")
    assert item is not None and (item.get("id"), item.get("name")) == ("indice", "indice")
    item = loop.find(f"{BPMN}outputDataItem")
    assert item is not None and item.get("name") == "quadrado"
    assert loop.find(f"{BPMN}loopDataInputRef") is None
    operator = tree.find(
        f".//{BPMN}serviceTask[@id='Activity_avisar']/{ext}/{SPIFF}serviceTaskOperator"
    )
    assert operator is not None
    assert (operator.get("id"), operator.get("resultVariable")) == ("smtp/SendEmail", "aviso")
    params = {p.get("id"): p.get("value") for p in operator.iter(f"{SPIFF}parameter")}
    assert params == {
        "email_to": '"maria@example.gov.br"',
        "email_subject": '"Pedido confirmado"',
        "email_body": 'f"Quadrados: {quadrados}"',
    }
    saved = tmp_path / "Pedido_confirmado.bpmn"
    saved.write_text(xml, encoding="utf-8")
    (moddle,) = spiff_moddle.read(saved)
    assert moddle.warnings == []
    assert {
        "spiffworkflow:MessageVariable",
        "spiffworkflow:ProcessVariableCorrelation",
        "spiffworkflow:ServiceTaskOperator",
        "spiffworkflow:Parameter",
    } <= set(moddle.spiff_types)

    # Published; the exported folder re-imports with nothing lost.
    page.goto(base + "/processos/Pedido_confirmado")
    page.get_by_role("button", name="Publicar nova versão").click()
    expect(page.locator("main")).to_contain_text("Versão 1")
    expect(page.locator("#publish-error")).to_have_count(0)
    dora = web_actor(app, DORA)
    filename, data = svc.designer.export_folder(dora, "Pedido_confirmado")
    chosen, problems = choose(read_zip(filename, data))
    assert problems == [] and chosen is not None
    assert spiff_moddle.differences(spiff_moddle.parse(xml), spiff_moddle.parse(chosen.bpmn)) == []

    # Run: the instance waits for the confirmation of its own order only.
    chamado = start(svc, "Pedido_confirmado")
    admin = person(app, "11144477735", "Ana Admin", "admin")
    other = post(app, admin, "confirmacao_pedido", {"payload": {"pedido_id": 8}})
    assert other.status_code == 404, other.get_json()
    own = post(app, admin, "confirmacao_pedido", {"payload": {"pedido_id": 7, "ok": True}})
    assert own.status_code == 200, own.get_json()
    assert own.get_json()["delivered"] == [chamado.protocolo]
    maria = web_actor(app, MARIA)
    task = svc.requests.requester_task(maria, chamado.id)
    assert task is not None
    data = instance_data(svc, chamado.id)
    assert data["confirmacao"] == {"pedido_id": 7, "ok": True}
    assert data["quadrados"] == [0, 1, 4]  # three instances, one after the other
    assert data["aviso"] == {"enfileirado": 1}  # the e-mail joined the outbox
    form = svc.requests.task_form(maria, task.id)
    assert "Quadrados: [0, 1, 4]" in (form.instructions or "")
    svc.requests.complete_task(maria, task.id, {}, reload(svc, chamado.id).version)
    assert reload(svc, chamado.id).closed_at is not None


def test_a_user_tasks_groups_and_the_readme_screenshot(
    server: tuple[str, Flask],  # noqa: F811
    browser: Any,  # noqa: F811
) -> None:
    """The chamado's first user task shows its groups (form and instructions, scripts,
    multi-instance), axe-clean with the multi-instance group open. The picture goes to
    test-artifacts/; with CHAMADOS_DOCS_SCREENSHOTS=1 also to docs/modelador-painel.png,
    the README's."""
    expect = playwright_api.expect
    base, app = server
    page = signed_in(browser, base, app, DORA, "Dora Projetista", "designer")
    page.set_viewport_size({"width": 1400, "height": 1100})
    page.goto(base + "/processos/chamado/modelador")
    expect(page.locator("#modeler")).to_have_attribute("data-ready", "true", timeout=15000)
    page.get_by_label("Elemento", exact=True).select_option("registrar_chamado")
    panel = page.locator("#modeler-panel")
    for title in (
        "Geral",
        "Formulário e instruções",
        "Scripts antes e depois",
        "Múltiplas instâncias",
    ):
        expect(
            panel.locator(".bio-properties-panel-group-header-title", has_text=title)
        ).to_be_visible()
    expect(panel.get_by_label("Múltiplas instâncias", exact=True)).to_have_value("")
    axe_clean(page, "tarefa de usuário com os seus grupos")
    shot(page, "painel-10-tarefa-de-usuario")
    if os.environ.get("CHAMADOS_DOCS_SCREENSHOTS") == "1":  # the README's picture
        DOCS.mkdir(exist_ok=True)
        # The panel scrolls in its column: down to its last group, the form's group above.
        panel.locator("[data-group-id='group-app-multi-instance']").evaluate(
            "g => g.scrollIntoView({block: 'end'})"
        )
        page.locator("#modeler").screenshot(path=str(DOCS / "modelador-painel.png"))
    assert page.problems == [] and page.csp_violations == []


def tab_to(page: Any, target: Any, limit: int = 60) -> None:
    """Tab (forwards) until ``target`` has the focus."""
    for _ in range(limit):
        if target.evaluate("e => e === document.activeElement"):
            return
        page.keyboard.press("Tab")
    playwright_api.expect(target).to_be_focused()


def pick(select: Any, value: str) -> None:
    """A native select focused and set, as a keyboard user's arrows would leave it."""
    select.focus()
    select.select_option(value)
    playwright_api.expect(select).to_have_value(value)


def test_the_new_groups_work_from_the_keyboard(
    server: tuple[str, Flask],  # noqa: F811
    browser: Any,  # noqa: F811
) -> None:
    """No pointer: from the "Elemento" list, Tab reaches "Criar mensagem" (Enter creates
    it), the message's name, "Acrescentar propriedade de correlação" and its fields, a
    task's multi-instance choice and a service task's connector; Ctrl+S saves."""
    expect = playwright_api.expect
    base, app = server
    page = signed_in(browser, base, app, DORA, "Dora Projetista", "designer")
    page.goto(base + "/processos")
    page.get_by_label("Identificador").fill("Pedido_teclado")
    page.get_by_label("Nome").fill("Pedido pelo teclado")
    page.get_by_role("button", name="Criar modelo").click()
    page.wait_for_load_state("load")
    page.get_by_role("link", name="Abrir no modelador").click()
    expect(page.locator("#modeler")).to_have_attribute("data-ready", "true", timeout=15000)
    page.locator("#modeler-import").set_input_files(str(MESSAGES_MODEL))
    expect(page.locator("#modeler-status")).to_contain_text("Arquivo importado")
    panel = page.locator("#modeler-panel")
    picker = page.get_by_label("Elemento", exact=True)
    # The native selects are chosen by value, not by type-ahead: on a loaded machine the
    # pause between typed letters outlasts the browser's type-ahead and picks another.
    pick(picker, "Event_confirmacao")
    create = panel.get_by_role("button", name="Criar mensagem")
    tab_to(page, create)
    page.keyboard.press("Enter")
    name = panel.get_by_label("Nome da mensagem")
    tab_to(page, name)
    page.keyboard.press("Control+a")
    page.keyboard.type("pelo_teclado")
    add = panel.get_by_role("button", name="Acrescentar propriedade de correlação")
    tab_to(page, add)
    page.keyboard.press("Enter")
    expression = panel.get_by_label(
        "Expressão da propriedade 1 sobre o conteúdo da mensagem (Python)"
    )
    tab_to(page, expression)
    page.keyboard.type("numero")
    page.keyboard.press("Tab")  # leaving the field commits it
    pick(picker, "Activity_quadrados")
    kind = panel.get_by_label("Múltiplas instâncias", exact=True)
    tab_to(page, kind)
    page.keyboard.press("ArrowDown")  # "Paralelas"
    expect(kind).to_have_value("parallel")
    cardinality = panel.get_by_label("Número de instâncias (loopCardinality, expressão Python)")
    tab_to(page, cardinality)
    page.keyboard.type("2")
    page.keyboard.press("Tab")
    pick(picker, "Activity_avisar")
    connector = panel.get_by_label("Conector", exact=True)
    tab_to(page, connector)
    pick(connector, "smtp/SendEmail")
    tab_to(page, panel.get_by_label("Parâmetro email_to (obrigatório), expressão Python"))
    page.keyboard.type('"a@example.gov.br"')
    page.keyboard.press("Tab")
    page.keyboard.press("Control+s")
    expect(page.locator("#modeler-status")).to_contain_text("Rascunho salvo")
    tree = etree.fromstring(app_draft(app, "Pedido_teclado")[1].encode())
    (msg,) = tree.findall(f"{BPMN}message")
    assert msg.get("name") == "pelo_teclado"
    retrieval = tree.find(f"{BPMN}correlationProperty/{BPMN}correlationPropertyRetrievalExpression")
    assert retrieval is not None and retrieval.get("messageRef") == msg.get("id")
    assert retrieval.findtext(f"{BPMN}formalExpression") == "numero"
    loop = tree.find(f".//{BPMN}multiInstanceLoopCharacteristics")
    assert loop is not None and loop.get("isSequential") is None  # parallel: the default
    assert loop.findtext(f"{BPMN}loopCardinality") == "2"
    param = tree.find(f".//{SPIFF}serviceTaskOperator[@id='smtp/SendEmail']//{SPIFF}parameter")
    assert param is not None and (param.get("id"), param.get("value")) == (
        "email_to",
        '"a@example.gov.br"',
    )
    assert page.problems == [] and page.csp_violations == []


def instance_data(svc: Any, chamado_id: int) -> dict[str, Any]:
    from engine import runtime
    from engine.models import Chamado

    with svc.unit.session_factory() as s:
        row = s.get(Chamado, chamado_id)
        assert row is not None
        bundle = svc.unit.bundle(s, row.process_version_id)
        return runtime.current_data(runtime.load(bundle, row.workflow_state))


def test_a_data_object_reference_in_the_panel(
    server: tuple[str, Flask],  # noqa: F811
    browser: Any,  # noqa: F811
) -> None:
    """A data object reference shows one of its process's data objects, chosen in the
    panel; the object's id (the data's name) is renamed there, checked as one types."""
    expect = playwright_api.expect
    base, app = server
    page = signed_in(browser, base, app, DORA, "Dora Projetista", "designer")
    page.goto(base + "/processos")
    page.get_by_label("Identificador").fill("com_dados")
    page.get_by_label("Nome").fill("Com dados")
    page.get_by_role("button", name="Criar modelo").click()
    page.wait_for_load_state("load")
    page.get_by_role("link", name="Abrir no modelador").click()
    expect(page.locator("#modeler")).to_have_attribute("data-ready", "true", timeout=15000)
    path = Path(app.instance_path) / "com_dados.bpmn"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(DATA_OBJECTS, encoding="utf-8")
    page.locator("#modeler-import").set_input_files(str(path))
    expect(page.locator("#modeler-status")).to_contain_text("Arquivo importado")
    panel = page.locator("#modeler-panel")
    select(page, "DataRef_1")
    shown = panel.get_by_label("Objeto de dados mostrado")
    expect(shown).to_have_value("itens")
    shown.select_option("totais")
    expect(panel.get_by_label("Nome", exact=True)).to_have_value("Totais")
    ident = panel.get_by_label("Identificador do objeto de dados (o nome do dado no chamado)")
    ident.fill("itens")
    expect(ident).to_have_attribute("aria-invalid", "true")  # the other object's id
    ident.fill("totais-do-pedido")
    expect(panel.locator("[data-entry-id='dataObjectId']")).to_contain_text(
        "Use um nome de variável Python"
    )
    axe_clean(page, "objeto de dados, com erro")
    ident.fill("totais_pedido")
    expect(ident).to_have_attribute("aria-invalid", "false")
    page.get_by_role("button", name="Salvar rascunho").click()
    expect(page.locator("#modeler-status")).to_contain_text("Rascunho salvo")
    tree = etree.fromstring(app_draft(app, "com_dados")[1].encode())
    ref = tree.find(f".//{BPMN}dataObjectReference[@id='DataRef_1']")
    assert ref is not None and ref.get("dataObjectRef") == "totais_pedido"
    assert ref.get("name") == "Totais"
    ids = {d.get("id") for d in tree.iter(f"{BPMN}dataObject")}
    assert ids == {"itens", "totais_pedido"}
    assert page.problems == [] and page.csp_violations == []


DATA_OBJECTS = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
  xmlns:bpmndi="http://www.omg.org/spec/BPMN/20100524/DI"
  xmlns:dc="http://www.omg.org/spec/DD/20100524/DC"
  xmlns:di="http://www.omg.org/spec/DD/20100524/DI" id="Definitions_1"
  targetNamespace="http://bpmn.io/schema/bpmn">
  <bpmn:process id="com_dados" name="Com dados" isExecutable="true">
    <bpmn:startEvent id="StartEvent_1"><bpmn:outgoing>Flow_1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:endEvent id="EndEvent_1"><bpmn:incoming>Flow_1</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="Flow_1" sourceRef="StartEvent_1" targetRef="EndEvent_1" />
    <bpmn:dataObject id="itens" name="Itens" />
    <bpmn:dataObject id="totais" name="Totais" />
    <bpmn:dataObjectReference id="DataRef_1" name="Itens" dataObjectRef="itens" />
  </bpmn:process>
  <bpmndi:BPMNDiagram id="BPMNDiagram_1">
    <bpmndi:BPMNPlane id="BPMNPlane_1" bpmnElement="com_dados">
      <bpmndi:BPMNShape id="StartEvent_1_di" bpmnElement="StartEvent_1">
        <dc:Bounds x="180" y="100" width="36" height="36" />
      </bpmndi:BPMNShape>
      <bpmndi:BPMNShape id="EndEvent_1_di" bpmnElement="EndEvent_1">
        <dc:Bounds x="400" y="100" width="36" height="36" />
      </bpmndi:BPMNShape>
      <bpmndi:BPMNShape id="DataRef_1_di" bpmnElement="DataRef_1">
        <dc:Bounds x="290" y="200" width="36" height="50" />
      </bpmndi:BPMNShape>
      <bpmndi:BPMNEdge id="Flow_1_di" bpmnElement="Flow_1">
        <di:waypoint x="216" y="118" /><di:waypoint x="400" y="118" />
      </bpmndi:BPMNEdge>
    </bpmndi:BPMNPlane>
  </bpmndi:BPMNDiagram>
</bpmn:definitions>
"""
