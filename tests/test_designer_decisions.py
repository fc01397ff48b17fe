"""The draft's decision tables (.dmn) as the modeler's DMN editor sends them: saved with
the diagram in one draft version (with their problems, named by decision, rule and
column: a draft is never lost), checked by "Validar" without saving, refused only when
they are not DMN files at all, deleted, exported with the folder and deployed back, and
published to run a requester's ticket through the table. The page itself is driven in a
browser by tests/test_decisions_browser.py.
"""

from __future__ import annotations

import io
import json
import zipfile
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from engine.designer.folder import choose, read_zip
from engine.service import Chamados
from tests.conftest import MARIA, add_person
from tests.model_files import model
from tests.test_designer import DORA, client_for, post_json, web_actor
from tests.test_designer import app as app  # noqa: F401 - the fixture, used by name

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
        '<bpmndi:BPMNDiagram id="Diagram_1" '
        'xmlns:bpmndi="http://www.omg.org/spec/BPMN/20100524/DI" '
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


def drafted(app: Flask) -> None:  # noqa: F811
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


def table(
    decision: str = "faixa_de_valor",
    high: str = '"alto"',
    output: str = "resultado",
    extra: str = "",
) -> str:
    """One decision as dmn-js writes it: valor < 1000 is "baixo", else ``high``."""
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<definitions xmlns="https://www.omg.org/spec/DMN/20191111/MODEL/" id="Definitions_1" name="DRD" namespace="http://camunda.org/schema/1.0/dmn">
  <decision id="{decision}" name="Faixa de valor">
    <decisionTable id="DecisionTable_1">
      <input id="Input_1" label="Valor">
        <inputExpression id="InputExpression_1" typeRef="number">
          <text>valor</text>
        </inputExpression>
      </input>
      <output id="Output_1" label="Resultado" name="{output}" typeRef="string" />
      <rule id="Rule_1">
        <inputEntry id="In_1"><text>&lt; 1000</text></inputEntry>
        <outputEntry id="Out_1"><text>"baixo"</text></outputEntry>
      </rule>
      <rule id="Rule_2">
        <inputEntry id="In_2"><text>&gt;= 1000</text></inputEntry>
        <outputEntry id="Out_2"><text>{high}</text></outputEntry>
      </rule>
    </decisionTable>
  </decision>{extra}
</definitions>
"""


@pytest.fixture
def dora_web(app: Flask) -> FlaskClient:
    client = client_for(app, DORA, "Dora Projetista", "designer")
    drafted(app)
    return client


def draft_json(client: FlaskClient) -> dict[str, Any]:
    answer = client.get(f"/processos/{PID}/rascunho")
    assert answer.status_code == 200
    return answer.get_json()


def save(client: FlaskClient, dmn: Any, version: int | None = None) -> Any:
    current = draft_json(client)
    body = {"xml": current["xml"], "version": current["version"] if version is None else version}
    return post_json(client, f"/processos/{PID}/rascunho", {**body, "dmn": dmn})


def messages(answer: Any) -> list[str]:
    return [e["message"] for e in answer.get_json()["errors"]]


def test_a_table_saves_with_the_diagram_and_comes_back(dora_web: FlaskClient) -> None:
    before = draft_json(dora_web)
    assert before["decisions"] == {}
    answer = save(dora_web, {"faixa_de_valor.dmn": table()})
    assert answer.status_code == 200, answer.get_json()
    # The rule task's decision now exists: nothing blocks publishing.
    assert answer.get_json()["errors"] == []
    after = draft_json(dora_web)
    assert after["version"] == before["version"] + 1  # one draft version, both saved
    assert after["decisions"] == {"faixa_de_valor.dmn": table()}
    assert "faixa_de_valor.dmn" in after["forms"]
    # The modeler page carries the editor's section and scripts.
    page = dora_web.get(f"/processos/{PID}/modelador").get_data(as_text=True)
    assert 'id="decisions"' in page and "Tabelas de decisão" in page
    assert "vendor/modeler/chamados-dmn.js" in page and "js/decisions.js" in page


def test_a_broken_table_is_saved_with_its_problems_named(dora_web: FlaskClient) -> None:
    broken = table(high="alto demais", output="1resultado")
    answer = save(dora_web, {"faixa_de_valor.dmn": broken})
    assert answer.status_code == 200  # a draft is never lost
    found = messages(answer)
    assert any(
        m.startswith("Tabela de decisão faixa_de_valor, regra 2, Resultado:") for m in found
    ), found
    assert any(
        m.startswith("Tabela de decisão faixa_de_valor, Resultado: o nome da saída (1resultado)")
        for m in found
    ), found
    assert draft_json(dora_web)["decisions"]["faixa_de_valor.dmn"] == broken
    # Two decisions in one file: the engine reads one, the designer is told.
    two = table(extra='<decision id="outra" name="Outra"/>')
    found = messages(save(dora_web, {"faixa_de_valor.dmn": two}))
    assert any("o arquivo tem 2 decisões" in m for m in found), found


def test_validate_checks_the_editor_tables_without_saving(dora_web: FlaskClient) -> None:
    before = draft_json(dora_web)
    url = f"/processos/{PID}/validar"
    missing = post_json(dora_web, url, {"xml": before["xml"]})
    assert any(
        "chama a tabela de decisão 'faixa_de_valor', que não está em nenhum arquivo .dmn" in m
        for m in messages(missing)
    )
    ok = post_json(dora_web, url, {"xml": before["xml"], "dmn": {"faixa_de_valor.dmn": table()}})
    assert ok.status_code == 200 and ok.get_json()["errors"] == []
    # Another decision id than the one the task calls: the task's problem lists what exists.
    other = post_json(
        dora_web, url, {"xml": before["xml"], "dmn": {"outra.dmn": table(decision="outra")}}
    )
    assert any("(há: outra)" in m for m in messages(other)), messages(other)
    broken = post_json(
        dora_web,
        url,
        {"xml": before["xml"], "dmn": {"faixa_de_valor.dmn": table(high="alto demais")}},
    )
    assert any("regra 2, Resultado" in m for m in messages(broken))
    assert draft_json(dora_web)["version"] == before["version"]  # nothing saved


@pytest.mark.parametrize(
    ("dmn", "said"),
    [
        ({"../faixa.dmn": table()}, "Nome de tabela de decisão inválido"),
        ({"faixa.json": table()}, "Nome de tabela de decisão inválido"),
        ({"faixa.dmn": 12}, "faixa.dmn: envie o XML da tabela de decisão."),
        ({"faixa.dmn": "<definitions"}, "faixa.dmn: "),
        (
            {"faixa.dmn": '<!DOCTYPE x [<!ENTITY e "x">]><definitions>&e;</definitions>'},
            "DOCTYPE",
        ),
    ],
)
def test_what_is_not_a_dmn_file_is_refused_and_nothing_saved(
    dora_web: FlaskClient, dmn: dict[str, Any], said: str
) -> None:
    before = draft_json(dora_web)
    answer = save(dora_web, dmn)
    assert answer.status_code == 422
    assert any(said in m for m in messages(answer)), messages(answer)
    # "Validar" says the same without an error page.
    checked = post_json(dora_web, f"/processos/{PID}/validar", {"xml": before["xml"], "dmn": dmn})
    assert checked.status_code == 200 and any(said in m for m in messages(checked))
    assert draft_json(dora_web)["version"] == before["version"]


def test_at_most_fifty_tables(dora_web: FlaskClient) -> None:
    before = draft_json(dora_web)
    many = {f"t{n}.dmn": table(decision=f"t{n}") for n in range(51)}
    answer = save(dora_web, many)
    assert answer.status_code == 422
    assert messages(answer) == ["O modelo pode ter até 50 tabelas de decisão."]
    assert save(dora_web, dict(list(many.items())[:50])).status_code == 200
    one_more = save(dora_web, {"t50.dmn": many["t50.dmn"]})
    assert one_more.status_code == 422
    assert draft_json(dora_web)["version"] == before["version"] + 1


def test_a_malformed_request_is_a_400(dora_web: FlaskClient) -> None:
    answer = save(dora_web, ["faixa.dmn"])
    assert answer.status_code == 400
    assert answer.get_json()["detail"] == "Envie as tabelas de decisão."


def test_a_stale_save_changes_no_table(dora_web: FlaskClient) -> None:
    version = draft_json(dora_web)["version"]
    assert save(dora_web, {"faixa_de_valor.dmn": table()}).status_code == 200
    stale = save(dora_web, {"faixa_de_valor.dmn": table(high='"outro"')}, version=version)
    assert stale.status_code == 409
    assert draft_json(dora_web)["decisions"]["faixa_de_valor.dmn"] == table()


def test_a_deleted_table_leaves_the_draft(dora_web: FlaskClient) -> None:
    save(dora_web, {"faixa_de_valor.dmn": table(), "outra.dmn": table(decision="outra")})
    answer = save(dora_web, {"faixa_de_valor.dmn": None})
    assert answer.status_code == 200
    assert list(draft_json(dora_web)["decisions"]) == ["outra.dmn"]
    assert any("'faixa_de_valor', que não está" in m for m in messages(answer))


def requester_run(svc: Chamados, process_id: str, valor: int) -> str | None:
    maria = add_person(svc, MARIA, "Maria da Silva")
    chamado, task = svc.requests.start_instance(maria, process_id)
    assert task is not None and task.task_name == "Activity_valor"
    chamado = svc.requests.complete_task(maria, task.id, {"valor": valor}, chamado.version)
    assert chamado.closed_at is not None
    return chamado.outcome_message


def test_the_draft_tables_travel_with_the_folder_and_run(app: Flask, dora_web: FlaskClient) -> None:
    svc: Chamados = app.extensions["chamados"]
    dora = web_actor(app, DORA)
    # One table the rule task runs, one not called yet (work in progress).
    save(dora_web, {"faixa_de_valor.dmn": table(), "rascunho.dmn": table(decision="rascunho")})
    filename, data = svc.designer.export_folder(dora, PID)
    names = sorted(zipfile.ZipFile(io.BytesIO(data)).namelist())
    assert names == [
        f"{PID}/{PID}.bpmn",
        f"{PID}/faixa_de_valor.dmn",
        f"{PID}/process_model.json",
        f"{PID}/rascunho.dmn",
        f"{PID}/valor-schema.json",
        f"{PID}/valor-uischema.json",
    ]
    folder = read_zip(filename, data)
    assert folder.dmn_files["faixa_de_valor.dmn"].decode("utf-8") == table()
    chosen, problems = choose(folder)
    assert problems == [] and chosen is not None
    assert chosen.forms["faixa_de_valor.dmn"] == table()  # the version keeps what it runs
    assert "rascunho.dmn" not in chosen.forms
    # Deployed back, it publishes and a requester's ticket goes through the table.
    deployed = svc.designer.deploy_folder(folder, actor=dora)
    assert deployed.ok and deployed.number == 1, deployed.problems
    assert requester_run(svc, PID, 5000) == "Prioridade alta"
    assert requester_run(svc, PID, 10) == "Prioridade baixa"


def test_a_draft_with_its_table_publishes_from_the_page(app: Flask, dora_web: FlaskClient) -> None:
    svc: Chamados = app.extensions["chamados"]
    save(dora_web, {"faixa_de_valor.dmn": table(high='"alto"')})
    version = draft_json(dora_web)["version"]
    published = svc.designer.publish(web_actor(app, DORA), PID, version, "Com a tabela")
    assert published.number == 1
    assert requester_run(svc, PID, 2000) == "Prioridade alta"
