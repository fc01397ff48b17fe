"""The model's elements as a form: names, gateway conditions and default flows.

The "Elementos" page is the modeler's keyboard path (and a way without JavaScript): every
step, event and gateway of the draft with its name, every flow leaving a decision with its
condition and which one is the default, edited as fields of one form. The edit is done
on the XML (parsed with ``specs.safe_parse_xml``), so everything else in the model —
extensions SpiffArena or Camunda wrote, the diagram — is kept as it was; the result is
saved like the modeler's (validated, with every problem named on its element).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from lxml import etree

from engine import limits, specs
from engine.designer.validation import BPMN_NS
from engine.errors import ValidationFailed

NAME_MAX = 200
CONDITION_MAX = 2000
_XSI = "http://www.w3.org/2001/XMLSchema-instance"
_DECISIONS = ("exclusiveGateway", "inclusiveGateway")
# The kinds of flow node shown, in pt-BR, as the palette of a modeler names them.
KINDS = {
    "startEvent": "Evento de início",
    "endEvent": "Evento de fim",
    "intermediateCatchEvent": "Evento intermediário",
    "intermediateThrowEvent": "Evento intermediário",
    "boundaryEvent": "Evento de borda",
    "userTask": "Tarefa de usuário",
    "manualTask": "Tarefa manual",
    "scriptTask": "Tarefa de script",
    "serviceTask": "Tarefa de serviço",
    "businessRuleTask": "Tarefa de regra de negócio",
    "task": "Tarefa",
    "sendTask": "Tarefa de envio",
    "receiveTask": "Tarefa de recebimento",
    "callActivity": "Atividade de chamada",
    "subProcess": "Subprocesso",
    "exclusiveGateway": "Decisão exclusiva",
    "inclusiveGateway": "Decisão inclusiva",
    "parallelGateway": "Paralelo",
    "eventBasedGateway": "Decisão por evento",
}


@dataclass(frozen=True)
class Node:
    id: str
    kind: str  # the BPMN local name
    kind_label: str
    name: str
    has_form: bool  # a user or manual task: its form is edited on its own page


@dataclass(frozen=True)
class Flow:
    id: str
    name: str
    gateway_id: str
    source: str  # the gateway's name (or id)
    target: str  # where the flow goes: name (or id)
    condition: str
    is_default: bool


@dataclass(frozen=True)
class Elements:
    nodes: list[Node]
    decisions: list[tuple[Node, list[Flow]]]  # each decision gateway and its flows


@dataclass
class Edits:
    names: dict[str, str] = field(default_factory=dict)  # element id → name
    conditions: dict[str, str] = field(default_factory=dict)  # flow id → condition
    defaults: dict[str, str] = field(default_factory=dict)  # gateway id → flow id or ""


def _local(node: etree._Element) -> str:
    return etree.QName(node).localname


def _label(node: etree._Element | None) -> str:
    if node is None:
        return "?"
    return node.get("name") or node.get("id") or "?"


def read(bpmn: bytes) -> Elements:
    tree = specs.safe_parse_xml(bpmn)
    by_id = {n.get("id"): n for n in tree.iter() if isinstance(n.tag, str) and n.get("id")}
    nodes: list[Node] = []
    decisions: list[tuple[Node, list[Flow]]] = []
    for element in tree.iter():
        if not isinstance(element.tag, str) or etree.QName(element).namespace != BPMN_NS:
            continue
        kind = _local(element)
        if kind not in KINDS or not element.get("id"):
            continue
        node = Node(
            element.get("id", ""),
            kind,
            KINDS[kind],
            element.get("name") or "",
            kind in ("userTask", "manualTask"),
        )
        nodes.append(node)
        if kind in _DECISIONS:
            flows = []
            for flow in tree.iter(f"{{{BPMN_NS}}}sequenceFlow"):
                if flow.get("sourceRef") != node.id:
                    continue
                expression = flow.find(f"{{{BPMN_NS}}}conditionExpression")
                flows.append(
                    Flow(
                        flow.get("id", ""),
                        flow.get("name") or "",
                        node.id,
                        _label(element),
                        _label(by_id.get(flow.get("targetRef"))),
                        (expression.text or "").strip() if expression is not None else "",
                        element.get("default") == flow.get("id"),
                    )
                )
            decisions.append((node, flows))
    return Elements(nodes, decisions)


def _check(edits: Edits) -> None:
    errors: dict[str, str] = {}
    for element_id, name in edits.names.items():
        if len(name) > NAME_MAX:
            errors[f"nome-{element_id}"] = f"O nome pode ter até {NAME_MAX} caracteres."
        elif problem := limits.forbidden_character(name):
            errors[f"nome-{element_id}"] = problem
    for flow_id, condition in edits.conditions.items():
        if len(condition) > CONDITION_MAX:
            errors[f"condicao-{flow_id}"] = f"A condição pode ter até {CONDITION_MAX} caracteres."
        elif problem := limits.forbidden_character(condition, multiline=True):
            errors[f"condicao-{flow_id}"] = problem
    if errors:
        raise ValidationFailed(errors)


def apply(bpmn: bytes, edits: Edits) -> str:
    """The model with the edits made; ids the model does not have are ignored (a stale
    page is caught by the draft's version, not here)."""
    _check(edits)
    tree = specs.safe_parse_xml(bpmn)
    elements = {
        n.get("id"): n
        for n in tree.iter()
        if isinstance(n.tag, str) and etree.QName(n).namespace == BPMN_NS and n.get("id")
    }
    for element_id, name in edits.names.items():
        element = elements.get(element_id)
        if element is None or _local(element) not in KINDS:
            continue
        if name.strip():
            element.set("name", name.strip())
        elif "name" in element.attrib:
            del element.attrib["name"]
    for gateway_id, flow_id in edits.defaults.items():
        gateway = elements.get(gateway_id)
        if gateway is None or _local(gateway) not in _DECISIONS:
            continue
        flow = elements.get(flow_id) if flow_id else None
        if flow is not None and flow.get("sourceRef") == gateway_id:
            gateway.set("default", flow_id)
        elif "default" in gateway.attrib:
            del gateway.attrib["default"]
    defaults = {g.get("default") for g in elements.values() if g.get("default")}
    for flow_id, condition in edits.conditions.items():
        flow = elements.get(flow_id)
        if flow is None or _local(flow) != "sequenceFlow":
            continue
        source = elements.get(flow.get("sourceRef"))
        if source is None or _local(source) not in _DECISIONS:
            continue
        expression = flow.find(f"{{{BPMN_NS}}}conditionExpression")
        text = condition.strip()
        if not text or flow_id in defaults:  # a default flow has no condition
            if expression is not None:
                flow.remove(expression)
            continue
        if expression is None:
            expression = etree.Element(f"{{{BPMN_NS}}}conditionExpression")
            expression.set(f"{{{_XSI}}}type", "bpmn:tFormalExpression")
            # conditionExpression comes after documentation, extensions and refs.
            flow.append(expression)
        expression.text = text
    return etree.tostring(tree, xml_declaration=True, encoding="UTF-8").decode("utf-8")
