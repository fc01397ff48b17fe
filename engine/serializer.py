"""Workflow state serialization without the embedded process spec.

SpiffWorkflow's default converter stores the whole spec in every saved
instance and rebuilds it on every load. The spec is already parsed once per
process version (engine.specs), so each version gets a serializer bound to its
spec that stores only the instance.
"""

from __future__ import annotations

from copy import copy
from typing import Any
from uuid import UUID

from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.serializer import BpmnWorkflowSerializer
from SpiffWorkflow.bpmn.serializer.default.workflow import (
    BpmnWorkflowConverter,
    TaskConverter,
    WorkflowConverter,
)
from SpiffWorkflow.bpmn.specs import BpmnProcessSpec
from SpiffWorkflow.bpmn.specs.mixins.events.event_types import CatchingEvent
from SpiffWorkflow.spiff.serializer.config import SPIFF_CONFIG
from SpiffWorkflow.task import Task, TaskState


class _Id(UUID):
    """A task id read from a saved state, which keeps the text it was read from.

    A save writes every id three or four times (as its task's key and own id, in its
    parent's children, as its children's parent), and ``UUID.__str__`` formats the
    number anew each time: about a sixth of a save's time went there. Equal to, and hashing
    as, the plain UUID of the same value; copies are the object itself (it cannot
    change) and a pickle is a plain UUID.
    """

    __slots__ = ("_text",)
    _text: str

    def __str__(self) -> str:
        return self._text

    def __repr__(self) -> str:
        return f"UUID('{self._text}')"

    def __copy__(self) -> _Id:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> _Id:
        return self

    def __reduce__(self) -> tuple[type[UUID], tuple[str]]:
        return UUID, (self._text,)


class _Ids(dict[str, UUID]):
    """Task ids of one load, each parsed once: a task's id is written as its own, in its
    parent's children and as its children's parent, and SpiffWorkflow parses every
    occurrence. One UUID object per id is also what a workflow built in memory holds
    (and a dict lookup by the same object skips UUID's Python-level ``__eq__``)."""

    def __missing__(self, key: str) -> UUID:
        value = self[key] = _Id(key)
        # SpiffWorkflow writes the canonical form; anything else UUID accepted is
        # written back canonical, as a plain UUID would be.
        canonical = len(key) == 36 and key[8] == key[13] == key[18] == key[23] == "-"
        object.__setattr__(value, "_text", key.lower() if canonical else UUID.__str__(value))
        return value


class _TaskConverter(TaskConverter):
    """SpiffWorkflow's own TaskConverter.from_dict (3.2.0), line for line, but for the ids
    (``ids``: the load's _Ids) and the parent's data copied by a comprehension where
    ``DeepMerge.merge({}, data)`` walked it (into an empty dict: every key is new, so each
    dict, list or set value is shallow-copied and the rest assigned, as here)."""

    def from_dict(self, dct: dict[str, Any], workflow: Any, ids: _Ids | None = None) -> Task:
        if ids is None:
            ids = _Ids()
        task_spec = workflow.spec.task_specs.get(dct["task_spec"])
        task = self.target_class(workflow, task_spec, state=dct["state"], id=ids[dct["id"]])
        parent_id = dct["parent"]
        task._parent = ids[parent_id] if parent_id is not None else None
        task._children = [ids[child] for child in dct["children"]]
        task.last_state_change = dct["last_state_change"]
        task.triggered = dct["triggered"]
        internal = dct["internal_data"]
        task.internal_data = self.registry.restore(internal) if internal else {}
        if isinstance(task_spec, CatchingEvent) and task.has_state(TaskState.WAITING):
            task.workflow.top_workflow.event_manager.add_task(task)
        delta = dct.get("delta")
        parent = task.parent
        if delta and parent is not None:
            data = {
                key: copy(value) if isinstance(value, dict | list | set) else value
                for key, value in parent.data.items()
            }
            data.update(self.registry.restore(delta.get("updates", {})))
            for key in delta.get("deletions", {}):
                if key in data:
                    del data[key]
        else:
            data = self.registry.restore(dct["data"])
        task.data = data
        return task


def bound_serializer(
    spec: BpmnProcessSpec, subprocess_specs: dict[str, BpmnProcessSpec]
) -> BpmnWorkflowSerializer:
    class SpecRefWorkflowConverter(BpmnWorkflowConverter):
        def to_dict(self, workflow: BpmnWorkflow) -> dict[str, Any]:
            dct = WorkflowConverter.to_dict(self, workflow)
            dct["subprocesses"] = self.mapping_to_dict(workflow.subprocesses)
            dct["bpmn_events"] = self.registry.convert(workflow.bpmn_events)
            return dct

        def from_dict(self, dct: dict[str, Any]) -> BpmnWorkflow:
            dct.pop("spec", None)
            dct.pop("subprocess_specs", None)
            workflow = self.target_class(spec, subprocess_specs, deserializing=True)
            ids = _Ids()
            restore = self.registry.restore
            workflow.tasks = {
                ids[key]: restore(value, workflow=workflow, ids=ids)
                for key, value in dct["tasks"].items()
            }
            workflow.task_tree = workflow.tasks.get(ids[dct["root"]])
            self.set_default_attributes(workflow, dct)
            self.subprocesses_from_dict(dct["subprocesses"], workflow)
            workflow.bpmn_events = self.registry.restore(dct.pop("bpmn_events", []))
            return workflow

    config = dict(SPIFF_CONFIG)
    config[BpmnWorkflow] = SpecRefWorkflowConverter
    config[Task] = _TaskConverter
    registry = BpmnWorkflowSerializer.configure(config)
    # The registry converts by exact class: an id kept in task data saves as a UUID.
    registry.typenames[_Id] = registry.typenames[UUID]
    return BpmnWorkflowSerializer(registry)
