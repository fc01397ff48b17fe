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

from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from lxml import etree

from engine.designer.folder import choose, read_zip
from tests import spiff_moddle
from tests.browser import browser, shot  # noqa: F401 - the fixture is used by name
from tests.test_designer import web_actor
from tests.test_designer_browser import DORA, MARIA, server, signed_in  # noqa: F401

pytestmark = pytest.mark.browser
playwright_api = pytest.importorskip("playwright.sync_api")

MODEL = Path(__file__).parent / "models" / "spiffarena_panel.bpmn"
BPMN = "{http://www.omg.org/spec/BPMN/20100524/MODEL}"
SPIFF = "{http://spiffworkflow.org/bpmn/schema/1.0/core}"


def select(page: Any, element_id: str, **click: Any) -> None:
    """Click an element of the diagram (the panel then shows it)."""
    page.locator(f"g.djs-element[data-element-id='{element_id}']").click(**click)


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
    expect(errors).to_contain_text("não tem processo executável")  # the import's problem

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
    """No pointer: the "Elemento" list picks the element (type-ahead), Tab reaches the
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
    page.keyboard.type("Tarefa de script: Contar")  # type-ahead picks "Contar rodada de ajuste"
    expect(picker).to_have_value("contar_rodada")
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
    expect(page.locator("#modeler-errors")).to_contain_text("não tem processo executável")
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
