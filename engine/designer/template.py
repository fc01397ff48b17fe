"""The starting point of a new process model: start → one user task → end.

The task sits in the requester's lane and links to a one-field form, so the
model is valid (and publishable) as soon as it is created.
"""

from __future__ import annotations

import json
import re
from xml.sax.saxutils import quoteattr

# A process id is kept as its editor wrote it (bpmn.io: Process_1, SpiffArena: LoopingChild):
# any XML NCName — a letter or _, then letters, digits, _, - and . — up to the column's 100.
PROCESS_ID = re.compile(r"^[^\W\d][\w.\-]{0,99}$")
PROCESS_ID_RULE = (
    "Use de 1 a 100 letras, dígitos, _, - ou . começando por uma letra ou _ (um id de "
    "processo BPMN, como Process_1)."
)


def form_files(process_id: str) -> tuple[str, str]:
    """Form file names for a new model: file names allow fewer characters than ids."""
    stem = re.sub(r"[^A-Za-z0-9._-]", "-", process_id).lstrip("._-")[:80] or "processo"
    return f"{stem}-schema.json", f"{stem}-uischema.json"


def new_form_texts(title: str) -> tuple[str, str]:
    schema = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": title,
        "type": "object",
        "properties": {
            "descricao": {"type": "string", "title": "Descrição", "minLength": 5, "maxLength": 5000}
        },
        "required": ["descricao"],
        "additionalProperties": False,
    }
    ui = {"descricao": {"ui:widget": "textarea", "ui:help": "Descreva a solicitação."}}
    return json.dumps(schema, ensure_ascii=False, indent=2), json.dumps(
        ui, ensure_ascii=False, indent=2
    )


def new_model(process_id: str, name: str, lane: str) -> tuple[str, dict[str, str]]:
    """BPMN text and form files of a new model named ``name``."""
    schema_file, ui_file = form_files(process_id)
    schema_text, ui_text = new_form_texts(name)
    xml = _TEMPLATE.format(
        pid=process_id,
        name=quoteattr(name),
        lane=quoteattr(lane),
        schema=quoteattr(schema_file),
        ui=quoteattr(ui_file),
    )
    return xml, {schema_file: schema_text, ui_file: ui_text}


_TEMPLATE = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
                  xmlns:bpmndi="http://www.omg.org/spec/BPMN/20100524/DI"
                  xmlns:dc="http://www.omg.org/spec/DD/20100524/DC"
                  xmlns:di="http://www.omg.org/spec/DD/20100524/DI"
                  xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core"
                  id="Definitions_{pid}" targetNamespace="http://bpmn.io/schema/bpmn"
                  exporter="chamados" exporterVersion="1.0">
  <bpmn:collaboration id="Collaboration_{pid}">
    <bpmn:participant id="Participant_{pid}" name={name} processRef="{pid}" />
  </bpmn:collaboration>
  <bpmn:process id="{pid}" name={name} isExecutable="true">
    <bpmn:laneSet id="LaneSet_{pid}">
      <bpmn:lane id="Lane_requester" name={lane}>
        <bpmn:flowNodeRef>start</bpmn:flowNodeRef>
        <bpmn:flowNodeRef>registrar</bpmn:flowNodeRef>
        <bpmn:flowNodeRef>fim</bpmn:flowNodeRef>
      </bpmn:lane>
    </bpmn:laneSet>
    <bpmn:startEvent id="start" name="Início">
      <bpmn:outgoing>Flow_start</bpmn:outgoing>
    </bpmn:startEvent>
    <bpmn:userTask id="registrar" name="Registrar solicitação">
      <bpmn:extensionElements>
        <spiffworkflow:properties>
          <spiffworkflow:property name="formJsonSchemaFilename" value={schema} />
          <spiffworkflow:property name="formUiSchemaFilename" value={ui} />
        </spiffworkflow:properties>
      </bpmn:extensionElements>
      <bpmn:incoming>Flow_start</bpmn:incoming>
      <bpmn:outgoing>Flow_fim</bpmn:outgoing>
    </bpmn:userTask>
    <bpmn:endEvent id="fim" name="Concluído">
      <bpmn:incoming>Flow_fim</bpmn:incoming>
    </bpmn:endEvent>
    <bpmn:sequenceFlow id="Flow_start" sourceRef="start" targetRef="registrar" />
    <bpmn:sequenceFlow id="Flow_fim" sourceRef="registrar" targetRef="fim" />
  </bpmn:process>
  <bpmndi:BPMNDiagram id="BPMNDiagram_{pid}">
    <bpmndi:BPMNPlane id="BPMNPlane_{pid}" bpmnElement="Collaboration_{pid}">
      <bpmndi:BPMNShape id="Participant_{pid}_di" bpmnElement="Participant_{pid}"
                        isHorizontal="true">
        <dc:Bounds x="160" y="80" width="600" height="250" />
      </bpmndi:BPMNShape>
      <bpmndi:BPMNShape id="Lane_requester_di" bpmnElement="Lane_requester" isHorizontal="true">
        <dc:Bounds x="190" y="80" width="570" height="250" />
      </bpmndi:BPMNShape>
      <bpmndi:BPMNShape id="start_di" bpmnElement="start">
        <dc:Bounds x="242" y="187" width="36" height="36" />
      </bpmndi:BPMNShape>
      <bpmndi:BPMNShape id="registrar_di" bpmnElement="registrar">
        <dc:Bounds x="360" y="165" width="100" height="80" />
      </bpmndi:BPMNShape>
      <bpmndi:BPMNShape id="fim_di" bpmnElement="fim">
        <dc:Bounds x="552" y="187" width="36" height="36" />
      </bpmndi:BPMNShape>
      <bpmndi:BPMNEdge id="Flow_start_di" bpmnElement="Flow_start">
        <di:waypoint x="278" y="205" /><di:waypoint x="360" y="205" />
      </bpmndi:BPMNEdge>
      <bpmndi:BPMNEdge id="Flow_fim_di" bpmnElement="Flow_fim">
        <di:waypoint x="460" y="205" /><di:waypoint x="552" y="205" />
      </bpmndi:BPMNEdge>
    </bpmndi:BPMNPlane>
  </bpmndi:BPMNDiagram>
</bpmn:definitions>
"""
