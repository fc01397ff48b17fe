"""A ticket's own diagram: the version it runs on, with its completed and current steps."""

from __future__ import annotations

from dataclasses import dataclass, field

from lxml import etree
from SpiffWorkflow import TaskState
from SpiffWorkflow.bpmn import BpmnWorkflow

from engine import specs
from engine.designer.validation import BPMN_NS
from engine.designer.xmledit import viewer_xml

# Elements a person recognises as steps; gateways, scripts and timers are plumbing (a
# timer that ends a ticket shows as the end event it leads to).
_STEP_TAGS = frozenset(
    {
        "task",
        "userTask",
        "manualTask",
        "startEvent",
        "endEvent",
        "intermediateCatchEvent",
        "intermediateThrowEvent",
    }
)
_CURRENT = TaskState.READY | TaskState.STARTED | TaskState.ERROR


@dataclass(frozen=True)
class DiagramStep:
    element_id: str
    name: str
    current: bool


@dataclass
class TicketDiagram:
    xml: str
    completed: list[str] = field(default_factory=list)
    current: list[str] = field(default_factory=list)
    flows: list[str] = field(default_factory=list)  # sequence flows already taken
    steps: list[DiagramStep] = field(default_factory=list)  # in the order they happened

    def as_dict(self) -> dict[str, object]:
        return {
            "xml": self.xml,
            "completed": self.completed,
            "current": self.current,
            "flows": self.flows,
            "steps": [s.__dict__ for s in self.steps],
        }


def _elements(bpmn: bytes) -> tuple[dict[str, str], dict[tuple[str, str], str]]:
    """Tag (local name) by element id, and flow id by (source, target)."""
    tree = specs.safe_parse_xml(bpmn)
    tags: dict[str, str] = {}
    flows: dict[tuple[str, str], str] = {}
    for node in tree.iter(f"{{{BPMN_NS}}}*"):
        local = etree.QName(node).localname
        if node.get("id"):
            tags[node.get("id", "")] = local
        if local == "sequenceFlow":
            flows[(node.get("sourceRef", ""), node.get("targetRef", ""))] = node.get("id", "")
    return tags, flows


def _bpmn_parent(task: object) -> str | None:
    parent = getattr(task, "parent", None)
    while parent is not None and not parent.task_spec.bpmn_id:
        parent = parent.parent
    return parent.task_spec.bpmn_id if parent is not None else None


def ticket_diagram(bpmn: bytes, wf: BpmnWorkflow) -> TicketDiagram:
    tags, flow_ids = _elements(bpmn)
    diagram = TicketDiagram(xml=viewer_xml(bpmn))
    done: set[str] = set()
    now: set[str] = set()
    taken: set[str] = set()
    ordered = sorted(wf.get_tasks(), key=lambda t: t.last_state_change)
    for task in ordered:
        element = task.task_spec.bpmn_id
        if not element or not task.state & (TaskState.COMPLETED | _CURRENT):
            continue
        is_current = bool(task.state & _CURRENT)
        (now if is_current else done).add(element)
        flow = flow_ids.get((_bpmn_parent(task) or "", element))
        if flow:
            taken.add(flow)
        if tags.get(element) in _STEP_TAGS:
            name = task.task_spec.bpmn_name or element
            diagram.steps.append(DiagramStep(element, name, is_current))
    diagram.completed = sorted(done - now)
    diagram.current = sorted(now)
    diagram.flows = sorted(taken)
    return diagram
