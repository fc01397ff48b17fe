"""A model folder's other files run with it: call activities to processes in other .bpmn
files of the folder, and business rule tasks with the folder's DMN decision tables
(engine.specs.used_files, engine.decisions), deployed with ``chamados models deploy``
and driven to the end; what they cannot run is refused on the element at deploy.
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from flask import Flask

from engine import users
from engine.models import Chamado, HumanTask, ProcessVersion
from engine.service import ActorRef, Chamados
from tests.conftest import MARIA, add_person
from tests.model_files import chain, end_with_outcome, model
from web.cli import main

FORM = {
    "title": "Valor do pedido",
    "properties": {"valor": {"type": "integer", "title": "Valor", "minimum": 0}},
    "required": ["valor"],
}
USER_TASK = (
    '<bpmn:userTask id="Activity_valor" name="Informar o valor">{flows}'
    "<bpmn:extensionElements><spiffworkflow:properties>"
    '<spiffworkflow:property name="formJsonSchemaFilename" value="valor-schema.json"/>'
    "</spiffworkflow:properties></bpmn:extensionElements></bpmn:userTask>"
)
CALL = (
    '<bpmn:callActivity id="Call_valor" calledElement="InformarValor">{flows}</bpmn:callActivity>'
)


def rule_task(decision: str = "faixa_de_valor") -> str:
    return (
        '<bpmn:businessRuleTask id="Activity_faixa" name="Classificar">{flows}'
        "<bpmn:extensionElements><spiffworkflow:calledDecisionId>"
        f"{decision}</spiffworkflow:calledDecisionId></bpmn:extensionElements>"
        "</bpmn:businessRuleTask>"
    )


def decision_table(
    decision: str = "faixa_de_valor",
    low: str = '"baixa"',
    entry: str = "&lt; 1000",
    namespace: str = "https://www.omg.org/spec/DMN/20191111/MODEL/",
) -> str:
    """One decision, as SpiffArena's DMN editor (dmn-js) writes it."""
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<definitions xmlns="{namespace}" id="Definitions_faixa" name="DRD" namespace="http://camunda.org/schema/1.0/dmn">
  <decision id="{decision}" name="Faixa de valor">
    <decisionTable id="DecisionTable_1" hitPolicy="UNIQUE">
      <input id="Input_1" label="Valor">
        <inputExpression id="InputExpression_1" typeRef="integer">
          <text>valor</text>
        </inputExpression>
      </input>
      <output id="Output_1" label="Faixa" name="faixa" typeRef="string" />
      <rule id="Rule_baixa">
        <inputEntry id="In_1"><text>{entry}</text></inputEntry>
        <outputEntry id="Out_1"><text>{low}</text></outputEntry>
      </rule>
      <rule id="Rule_alta">
        <inputEntry id="In_2"><text>&gt;= 1000</text></inputEntry>
        <outputEntry id="Out_2"><text>"alta"</text></outputEntry>
      </rule>
    </decisionTable>
  </decision>
</definitions>
"""


def ends() -> str:
    """After the decision: a gateway on its output, one end event per answer."""

    return (
        '<bpmn:exclusiveGateway id="Gateway_faixa" default="f_baixa">'
        "<bpmn:incoming>f2</bpmn:incoming><bpmn:outgoing>f_alta</bpmn:outgoing>"
        "<bpmn:outgoing>f_baixa</bpmn:outgoing></bpmn:exclusiveGateway>"
        '<bpmn:sequenceFlow id="f_alta" sourceRef="Gateway_faixa" targetRef="End_alta">'
        '<bpmn:conditionExpression>faixa == "alta"</bpmn:conditionExpression>'
        "</bpmn:sequenceFlow>"
        '<bpmn:sequenceFlow id="f_baixa" sourceRef="Gateway_faixa" targetRef="End_baixa"/>'
        + end_with_outcome("End_alta", "Prioridade alta", "f_alta")
        + end_with_outcome("End_baixa", "Prioridade baixa", "f_baixa")
    )


def parent_model() -> str:
    """start → call the other file's process → the decision → gateway → two ends."""
    body = chain(CALL, rule_task())
    # chain() ends at "end"; send the rule task's outgoing flow to the gateway instead.
    body = body.replace(
        '<bpmn:endEvent id="end"><bpmn:incoming>f2</bpmn:incoming></bpmn:endEvent>', ""
    )
    body = body.replace('targetRef="end"', 'targetRef="Gateway_faixa"')
    return model(body + ends(), process_id="PedidoCompra")


def folder(base: Path, **dmn: str) -> Path:
    path = base / "pedido-de-compra"
    path.mkdir()
    (path / "process_model.json").write_text(
        json.dumps(
            {
                "display_name": "Pedido de compra",
                "description": "Chama outro arquivo e decide por uma tabela",
                "primary_file_name": "pedido.bpmn",
                "primary_process_id": "PedidoCompra",
            }
        )
    )
    (path / "pedido.bpmn").write_text(parent_model())
    (path / "valor.bpmn").write_text(model(chain(USER_TASK), process_id="InformarValor"))
    (path / "valor-schema.json").write_text(json.dumps(FORM))
    (path / "faixa.dmn").write_text(decision_table(**dmn))
    # Neither called nor run: not kept with the version.
    (path / "rascunho.bpmn").write_text(model(chain(), process_id="Rascunho"))
    (path / "outra.dmn").write_text(decision_table(decision="outra_decisao"))
    return path


@pytest.fixture
def app(tmp_path: Path) -> Iterator[Flask]:
    from tests.test_api import build_app

    app = build_app(tmp_path)
    yield app
    app.extensions["chamados"].unit.db.dispose()


def deploy(app: Flask, path: Path) -> Result:
    with app.app_context():
        return CliRunner().invoke(main, ["models", "deploy", str(path)])


def run_to_end(svc: Chamados, valor: int) -> Chamado:
    maria = add_person(svc, MARIA, "Maria da Silva")
    chamado, task = svc.requests.start_instance(maria, "PedidoCompra")
    assert task is not None and task.task_name == "Activity_valor"  # inside the called file
    chamado = svc.requests.complete_task(maria, task.id, {"valor": valor}, chamado.version)
    with svc.unit.session_factory() as s:
        assert s.query(HumanTask).filter_by(chamado_id=chamado.id, state="ready").count() == 0
    return chamado


def test_a_call_to_another_file_and_a_decision_table_run_to_the_end(
    app: Flask, tmp_path: Path
) -> None:
    result = deploy(app, folder(tmp_path))
    assert result.exit_code == 0, result.output
    svc: Chamados = app.extensions["chamados"]
    with svc.unit.session_factory() as s:
        version = s.query(ProcessVersion).filter_by(process_id="PedidoCompra").one()
        # The version keeps what runs, and nothing else of the folder.
        assert sorted(version.forms) == ["faixa.dmn", "valor-schema.json", "valor.bpmn"]
    high = run_to_end(svc, 5000)
    low = run_to_end(svc, 10)
    assert high.closed_at is not None and high.outcome_message == "Prioridade alta"
    assert low.closed_at is not None and low.outcome_message == "Prioridade baixa"


def test_the_exported_folder_carries_the_called_file_and_the_table_back(
    app: Flask, tmp_path: Path
) -> None:
    from tests.test_api import person

    assert deploy(app, folder(tmp_path)).exit_code == 0
    svc: Chamados = app.extensions["chamados"]
    token = person(app, "12345678909", "Dora Projetista", "designer")
    with svc.unit.session_factory() as s:
        dora = users.get_user_by_cpf(s, "12345678909")
        assert dora is not None
        actor = ActorRef(dora.id, frozenset({"designer"}))
    filename, data = svc.designer.export_folder(actor, "PedidoCompra")
    names = sorted(zipfile.ZipFile(io.BytesIO(data)).namelist())
    assert names == [
        "PedidoCompra/PedidoCompra.bpmn",
        "PedidoCompra/faixa.dmn",
        "PedidoCompra/process_model.json",
        "PedidoCompra/valor-schema.json",
        "PedidoCompra/valor.bpmn",
    ]
    # Sent back through the API it is the same version: nothing lost on the way.
    resp = app.test_client().post(
        "/api/v1/models",
        data=data,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/zip"},
    )
    assert resp.status_code == 200 and resp.get_json()["unchanged"] is True, resp.get_json()


def refused(app: Flask, path: Path) -> list[str]:
    result = deploy(app, path)
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    return result.output.strip().splitlines()[1:]


def test_a_missing_decision_is_refused_on_the_business_rule_task(
    app: Flask, tmp_path: Path
) -> None:
    path = folder(tmp_path)
    (path / "faixa.dmn").unlink()
    lines = refused(app, path)
    assert lines == [
        "Activity_faixa: A tarefa de regra de negócio chama a tabela de decisão "
        "'faixa_de_valor', que não está em nenhum arquivo .dmn do modelo."
    ]


def test_a_table_entry_the_sandbox_refuses_is_named_with_its_rule(
    app: Flask, tmp_path: Path
) -> None:
    lines = refused(app, folder(tmp_path, low='__import__("os").getcwd()'))
    assert len(lines) == 1
    assert lines[0].startswith("faixa_de_valor: Tabela de decisão faixa_de_valor, regra 1, Faixa:")


def test_an_entry_that_does_not_parse_is_named_too(app: Flask, tmp_path: Path) -> None:
    lines = refused(app, folder(tmp_path, entry="&lt; &lt; 3"))
    assert len(lines) == 1
    assert lines[0].startswith("faixa_de_valor: Tabela de decisão faixa_de_valor, regra 1, Valor:")


def test_a_dmn_file_with_a_doctype_is_refused_and_never_read(app: Flask, tmp_path: Path) -> None:
    path = folder(tmp_path)
    evil = decision_table().replace(
        "<definitions",
        '<!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd">]>\n<definitions',
        1,
    )
    (path / "faixa.dmn").write_text(evil.replace('"baixa"', "&x;"))
    lines = refused(app, path)
    assert "faixa.dmn: faixa.dmn: Arquivos XML com DOCTYPE ou entidades não são aceitos." in lines
    assert not any("root:" in line for line in lines)


def test_two_decisions_in_one_file_are_refused_on_the_file(app: Flask, tmp_path: Path) -> None:
    path = folder(tmp_path)
    table = decision_table()
    second = table[table.index("  <decision") : table.index("</definitions>")].replace(
        'id="faixa_de_valor"', 'id="segunda"'
    )
    (path / "faixa.dmn").write_text(table.replace("</definitions>", second + "</definitions>"))
    lines = refused(app, path)
    assert len(lines) == 1  # nothing about the task that calls it: the file is the problem
    assert lines[0].endswith(
        "pedido-de-compra: faixa.dmn: o arquivo tem 2 decisões; cada arquivo .dmn deve ter "
        "exatamente uma decisão com uma tabela."
    )


def test_older_dmn_versions_run_too(app: Flask, tmp_path: Path) -> None:
    """Camunda Modeler 4 writes DMN 1.2, older tools 1.1: same tables, other namespace."""
    path = folder(tmp_path, namespace="http://www.omg.org/spec/DMN/20180521/MODEL/")
    assert deploy(app, path).exit_code == 0
    assert run_to_end(app.extensions["chamados"], 1000).outcome_message == "Prioridade alta"


def test_a_call_to_a_process_no_file_has_is_refused(app: Flask, tmp_path: Path) -> None:
    path = folder(tmp_path)
    (path / "valor.bpmn").unlink()
    lines = refused(app, path)
    assert lines[0] == (
        "Call_valor: Atividade de chamada ao processo 'InformarValor', que não está em "
        "nenhum arquivo do modelo."
    )
