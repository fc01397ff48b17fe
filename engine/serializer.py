"""Workflow state serialization without the embedded process spec.

SpiffWorkflow's default converter stores the whole spec in every saved
instance and rebuilds it on every load. The spec is already parsed once per
process version (engine.specs), so each version gets a serializer bound to its
spec that stores only the instance.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.serializer import BpmnWorkflowSerializer
from SpiffWorkflow.bpmn.serializer.default.workflow import (
    BpmnWorkflowConverter,
    WorkflowConverter,
)
from SpiffWorkflow.bpmn.specs import BpmnProcessSpec
from SpiffWorkflow.spiff.serializer.config import SPIFF_CONFIG


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
            workflow.tasks = self.mapping_from_dict(dct["tasks"], UUID, workflow=workflow)
            workflow.task_tree = workflow.tasks.get(UUID(dct["root"]))
            self.set_default_attributes(workflow, dct)
            self.subprocesses_from_dict(dct["subprocesses"], workflow)
            workflow.bpmn_events = self.registry.restore(dct.pop("bpmn_events", []))
            return workflow

    config = dict(SPIFF_CONFIG)
    config[BpmnWorkflow] = SpecRefWorkflowConverter
    return BpmnWorkflowSerializer(BpmnWorkflowSerializer.configure(config))
