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

import json
import os
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from tests.browser import browser, shot  # noqa: F401 - the fixture is used by name
from tests.model_files import model
from tests.test_designer import web_actor
from tests.test_designer_browser import DORA, MARIA, server, signed_in  # noqa: F401

pytestmark = pytest.mark.browser
playwright_api = pytest.importorskip("playwright.sync_api")

DOCS = Path(__file__).resolve().parent.parent / "docs"
PID = "PedidoFaixa"
FORM = {
    "title": "Valor do pedido",
    "properties": {"valor": {"type": "integer", "title": "Valor do pedido", "minimum": 0}},
    "required": ["valor"],
}


def rule_model() -> str:
    """start → the requester's value → the decision → a gateway on its output → two ends."""

    def end(element: str, outcome: str, flow: str) -> str:
        return (
            f'<bpmn:endEvent id="{element}" name="{outcome}"><bpmn:extensionElements>'
            "<spiffworkflow:properties>"
            f'<spiffworkflow:property name="outcome" value="{outcome}"/>'
            "</spiffworkflow:properties></bpmn:extensionElements>"
            f"<bpmn:incoming>{flow}</bpmn:incoming></bpmn:endEvent>"
        )

    body = (
        '<bpmn:startEvent id="start"><bpmn:outgoing>f0</bpmn:outgoing></bpmn:startEvent>'
        '<bpmn:userTask id="Activity_valor" name="Informar o valor">'
        "<bpmn:incoming>f0</bpmn:incoming><bpmn:outgoing>f1</bpmn:outgoing></bpmn:userTask>"
        '<bpmn:businessRuleTask id="Activity_faixa" name="Classificar o valor">'
        "<bpmn:extensionElements><spiffworkflow:calledDecisionId>faixa_de_valor"
        "</spiffworkflow:calledDecisionId></bpmn:extensionElements>"
        "<bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing>"
        "</bpmn:businessRuleTask>"
        '<bpmn:exclusiveGateway id="Gateway_faixa" default="f_baixa">'
        "<bpmn:incoming>f2</bpmn:incoming><bpmn:outgoing>f_alta</bpmn:outgoing>"
        "<bpmn:outgoing>f_baixa</bpmn:outgoing></bpmn:exclusiveGateway>"
        '<bpmn:sequenceFlow id="f0" sourceRef="start" targetRef="Activity_valor"/>'
        '<bpmn:sequenceFlow id="f1" sourceRef="Activity_valor" targetRef="Activity_faixa"/>'
        '<bpmn:sequenceFlow id="f2" sourceRef="Activity_faixa" targetRef="Gateway_faixa"/>'
        '<bpmn:sequenceFlow id="f_alta" sourceRef="Gateway_faixa" targetRef="End_alta">'
        '<bpmn:conditionExpression>resultado == "alto"</bpmn:conditionExpression>'
        "</bpmn:sequenceFlow>"
        '<bpmn:sequenceFlow id="f_baixa" sourceRef="Gateway_faixa" targetRef="End_baixa"/>'
        + end("End_alta", "Prioridade alta", "f_alta")
        + end("End_baixa", "Prioridade baixa", "f_baixa")
    )
    xml = model(body, process_id=PID).replace(
        'isExecutable="true"', 'isExecutable="true" name="Pedido por faixa"'
    )
    return xml.replace("</bpmn:definitions>", diagram() + "</bpmn:definitions>")


def diagram() -> str:
    """Where bpmn-js draws each element (it shows nothing of a model without it)."""
    shapes = {
        "start": (100, 160, 36, 36),
        "Activity_valor": (180, 138, 100, 80),
        "Activity_faixa": (330, 138, 100, 80),
        "Gateway_faixa": (480, 153, 50, 50),
        "End_alta": (600, 60, 36, 36),
        "End_baixa": (600, 250, 36, 36),
    }
    edges = {
        "f0": [(136, 178), (180, 178)],
        "f1": [(280, 178), (330, 178)],
        "f2": [(430, 178), (480, 178)],
        "f_alta": [(505, 153), (505, 78), (600, 78)],
        "f_baixa": [(505, 203), (505, 268), (600, 268)],
    }
    parts = [
        '<bpmndi:BPMNDiagram id="Diagram_1" xmlns:bpmndi="http://www.omg.org/spec/BPMN/20100524/DI" '
        'xmlns:dc="http://www.omg.org/spec/DD/20100524/DC" '
        'xmlns:di="http://www.omg.org/spec/DD/20100524/DI">'
        f'<bpmndi:BPMNPlane id="Plane_1" bpmnElement="{PID}">'
    ]
    for element, (x, y, w, h) in shapes.items():
        parts.append(
            f'<bpmndi:BPMNShape id="{element}_di" bpmnElement="{element}">'
            f'<dc:Bounds x="{x}" y="{y}" width="{w}" height="{h}"/></bpmndi:BPMNShape>'
        )
    for element, points in edges.items():
        waypoints = "".join(f'<di:waypoint x="{x}" y="{y}"/>' for x, y in points)
        parts.append(
            f'<bpmndi:BPMNEdge id="{element}_di" bpmnElement="{element}">{waypoints}'
            "</bpmndi:BPMNEdge>"
        )
    parts.append("</bpmndi:BPMNPlane></bpmndi:BPMNDiagram>")
    return "".join(parts)


def drafted(app: Flask) -> None:
    """The model as a designer left it: the rule task calls a table that is not there."""
    svc = app.extensions["chamados"]
    dora = web_actor(app, DORA)
    draft = svc.designer.create_model(dora, PID, "Pedido por faixa")
    draft = svc.designer.save_model(dora, PID, rule_model(), draft.version)
    assert any("faixa_de_valor" in p.message for p in draft.problems)  # saved all the same
    svc.designer.save_form(
        dora,
        PID,
        "Activity_valor",
        ("valor-schema.json", "valor-uischema.json"),
        (json.dumps(FORM), "{}"),
        draft.version,
    )


def cell(page: Any, label: str) -> Any:
    """A cell of the decision table, by the label decisions.js gives it."""
    return page.get_by_role("textbox", name=label, exact=True)


def retype(page: Any, target: Any, text: str) -> None:
    """Replace a cell's text with the keyboard, as a person would."""
    target.focus()
    page.keyboard.press("Control+A")
    page.keyboard.type(text)


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
    # A rule added from the toolbar and deleted again (the focus on one of its cells).
    section.get_by_role("button", name="Acrescentar regra").click()
    expect(cell(page, "Regra 3, entrada Valor")).to_be_focused()
    section.get_by_role("button", name="Excluir a regra em foco").click()
    expect(cell(page, "Regra 3, entrada Valor")).to_have_count(0)

    # A broken entry: named by decision, rule and column, next to the editor.
    retype(page, cell(page, "Regra 2, saída Resultado"), "alto demais")
    page.get_by_role("button", name="Validar").click()
    expect(problems).to_contain_text("Tabela de decisão faixa_de_valor, regra 2, Resultado:")
    shot(page, "decisoes-01-problema")
    retype(page, cell(page, "Regra 2, saída Resultado"), '"alto"')
    page.get_by_role("button", name="Validar").click()
    expect(problems).to_have_text("Nenhum problema nas tabelas de decisão.")
    expect(page.locator("#modeler-errors")).to_have_text("Nenhum problema encontrado.")

    page.get_by_role("button", name="Salvar rascunho").click()
    expect(page.locator("#modeler-status")).to_contain_text("Rascunho salvo")
    expect(section.get_by_label("Tabela aberta")).not_to_contain_text("não salva")
    svc = app.extensions["chamados"]
    draft = svc.designer.draft(web_actor(app, DORA), PID)
    table = draft.forms["faixa_de_valor.dmn"]
    assert "&lt; 1000" in table and "&gt;= 1000" in table and '"alto"' in table
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
    expect(cell(page, "Regra 1, entrada Valor")).to_have_text("< 1000")

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
