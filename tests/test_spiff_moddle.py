"""The modeler's spiffworkflow moddle descriptor reads SpiffArena's extension elements,
typed, and writes them back as SpiffArena writes them.

bpmn-moddle drops, with a warning, an element of a namespace it knows but of a type it
does not: the descriptor must type everything SpiffArena and SpiffWorkflow's parser
write, or saving from the modeler would lose it. Checked with node over the shipped
models and a model holding every extension element, element by element.
"""

from __future__ import annotations

import json
from pathlib import Path

from tests.spiff_moddle import ROOT, differences, parse, read

MODELS = sorted((ROOT / "processes").glob("*.bpmn")) + sorted(
    (ROOT / "tests" / "models").glob("*.bpmn")
)
EVERY_EXTENSION = ROOT / "tests" / "models" / "spiffarena_extensions.bpmn"


def test_every_model_reads_without_warnings_and_writes_back_unchanged() -> None:
    assert len(MODELS) >= 4
    for path, result in zip(MODELS, read(*MODELS), strict=True):
        assert result.warnings == [], path.name
        assert differences(parse(path.read_bytes()), parse(result.xml)) == [], path.name


def test_every_extension_element_is_typed() -> None:
    descriptor = json.loads((ROOT / "assets" / "modeler" / "spiffworkflow.json").read_text())
    element_types = {
        f"spiffworkflow:{t['name']}" for t in descriptor["types"] if "extends" not in t
    }
    (result,) = read(EVERY_EXTENSION)
    assert result.warnings == []
    assert set(result.spiff_types) == element_types  # none left generic, none unused
    written = result.xml
    # As SpiffArena writes them: lower-camel tags, the spiffworkflow prefix.
    for tag in ("instructionsForEndUser", "preScript", "serviceTaskOperator", "unitTest"):
        assert f"<spiffworkflow:{tag}" in written
    assert 'spiffworkflow:scriptsOnInstances="true"' in written


def test_an_unknown_spiffworkflow_element_is_reported(tmp_path: Path) -> None:
    """What the modeler relies on to refuse saving what it would drop (modeler.js)."""
    model = EVERY_EXTENSION.read_text().replace(
        "<spiffworkflow:allowGuest>",
        "<spiffworkflow:somethingNew>x</spiffworkflow:somethingNew><spiffworkflow:allowGuest>",
    )
    path = tmp_path / "novo.bpmn"
    path.write_text(model)
    (result,) = read(path)
    assert any("somethingNew" in w for w in result.warnings)


MESSAGES_LOOPS = ROOT / "tests" / "models" / "spiffarena_messages_loops.bpmn"


def test_messages_correlations_loops_and_connectors_read_and_write_back() -> None:
    """What the panel's new groups edit, as SpiffArena writes it: messages with their
    payload / variable and matching correlation, correlation properties (their retrieval
    expressions as bpmn-moddle writes them, which SpiffWorkflow reads), the correlation
    key, multi-instance loops — their loopDataInputRef / loopDataOutputRef a name of the
    ticket's data, no element's id, kept as the modeler keeps them on import — and a
    connector with its parameters."""
    (result,) = read(MESSAGES_LOOPS)
    assert result.warnings == []
    assert differences(parse(MESSAGES_LOOPS.read_bytes()), parse(result.xml)) == []
    written = parse(result.xml)
    bpmn = "{http://www.omg.org/spec/BPMN/20100524/MODEL}"
    assert written.findtext(f".//{bpmn}loopDataInputRef") == "itens_pedido"
    assert written.findtext(f".//{bpmn}loopDataOutputRef") == "resultados"
    assert {
        "spiffworkflow:MessagePayload",
        "spiffworkflow:MessageVariable",
        "spiffworkflow:ProcessVariableCorrelation",
        "spiffworkflow:ServiceTaskOperator",
        "spiffworkflow:Parameters",
        "spiffworkflow:Parameter",
    } <= set(result.spiff_types)


def test_the_engine_parses_what_the_new_groups_write() -> None:
    """SpiffWorkflow 3.2 (the engine's parser) reads the same file: the loops, the
    message's correlation and the connector as the panel writes them."""
    from SpiffWorkflow.bpmn.specs.mixins.multiinstance_task import MultiInstanceTask
    from SpiffWorkflow.spiff.parser.process import SpiffBpmnParser

    from engine.specs import safe_parse_xml

    (result,) = read(MESSAGES_LOOPS)
    parser = SpiffBpmnParser()
    parser.add_bpmn_xml(safe_parse_xml(result.xml.encode("utf-8")), filename="model.bpmn")
    spec = parser.get_spec("Pedidos")
    loop = spec.task_specs["Script_itens"]
    assert isinstance(loop, MultiInstanceTask)
    assert loop.data_input.bpmn_id == "itens_pedido" and loop.input_item.bpmn_id == "item"
    assert loop.data_output.bpmn_id == "resultados" and loop.condition == 'resultado == "parar"'
    assert spec.task_specs["User_aprovar"].cardinality == "len(aprovadores)"
    catch = spec.task_specs["Event_confirmacao"].event_definition
    assert catch.name == "confirmacao_pedido" and catch.message_var == "confirmacao"
    assert [
        (c.name, c.retrieval_expression, c.correlation_keys) for c in catch.correlation_properties
    ] == [("pedido_id", "pedido_id", ["pedido"])]
    assert [(c.name, c.retrieval_expression) for c in catch.process_correlations] == [
        ("pedido_id", "pedido_id")
    ]
    send = spec.task_specs["Send_aviso"].event_definition
    assert send.expression == '{"pedido": {"id": pedido_id}}'
    service = spec.task_specs["Service_consultar"]
    assert service.operation_name == "http/GetRequestV2" and service.result_variable == "resposta"
    assert set(service.operation_params) == {"url", "headers"}
