"""A ticket's own diagram: the version it runs on, with its completed and current steps."""

from __future__ import annotations

from dataclasses import dataclass, field

from lxml import etree
from SpiffWorkflow import TaskState
from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.task import Task

from engine import model_checks, specs
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
    interrupted: bool = False  # reached, then cut short by an interrupting boundary event


@dataclass
class TicketDiagram:
    xml: str
    completed: list[str] = field(default_factory=list)
    current: list[str] = field(default_factory=list)
    flows: list[str] = field(default_factory=list)  # sequence flows already taken
    steps: list[DiagramStep] = field(default_factory=list)  # in the order they happened
    # Steps reached and then cut short by an interrupting boundary event (a timer that
    # closed the ticket): part of the path taken, though never completed.
    interrupted: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        return {
            "xml": self.xml,
            "completed": self.completed,
            "current": self.current,
            "interrupted": self.interrupted,
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


def _interrupted(task: Task) -> bool:
    """A cancelled activity whose interrupting boundary event fired: it was running (the
    event is armed only while it is), so the path went through it."""
    if task.state != TaskState.CANCELLED or task.parent is None:
        return False
    return any(
        other is not task
        and other.state == TaskState.COMPLETED
        and getattr(other.task_spec, "cancel_activity", False)
        for other in task.parent.children
    )


def ticket_diagram(bpmn: bytes, wf: BpmnWorkflow) -> TicketDiagram:
    tags, flow_ids = _elements(bpmn)
    diagram = TicketDiagram(xml=viewer_xml(bpmn))
    done: set[str] = set()
    now: set[str] = set()
    cut: set[str] = set()
    taken: set[str] = set()
    ordered = sorted(wf.get_tasks(), key=lambda t: t.last_state_change)
    for task in ordered:
        element = task.task_spec.bpmn_id
        is_cut = bool(element) and _interrupted(task)
        if not element or not (task.state & (TaskState.COMPLETED | _CURRENT) or is_cut):
            continue
        is_current = bool(task.state & _CURRENT)
        (now if is_current else cut if is_cut else done).add(element)
        flow = flow_ids.get((_bpmn_parent(task) or "", element))
        if flow:
            taken.add(flow)
        if tags.get(element) in _STEP_TAGS:
            # An unnamed element is said as what it is ("Evento de início"), not its id.
            kind = model_checks.ELEMENT_KINDS.get(tags[element], "etapa")
            name = task.task_spec.bpmn_name or kind[:1].upper() + kind[1:]
            diagram.steps.append(DiagramStep(element, name, is_current, is_cut))
    diagram.completed = sorted(done - now)
    diagram.current = sorted(now)
    diagram.interrupted = sorted(cut - done - now)
    diagram.flows = sorted(taken)
    return diagram
