"""The SpiffArena folder of issue #11's designer story: a drawing whose process
``Process_1`` is marked ``isExecutable="false"``, with every shape already there and none of
its properties set (tests/test_designer_story_browser.py sets them in the modeler's panel),
and its user task's form."""

from __future__ import annotations

SCHEMA = {
    "title": "Pedido",
    "type": "object",
    "required": ["valor"],
    "properties": {"valor": {"type": "integer", "title": "Valor do pedido", "minimum": 0}},
}
UI_SCHEMA = {"valor": {"ui:help": "Em reais, sem centavos."}}
METADATA = {
    "display_name": "Pedido de compra",
    "description": "Pedido conferido quando o valor é alto.",
    "primary_file_name": "pedido.bpmn",
    "primary_process_id": "Process_1",
    "files": [],
}

# As SpiffArena's modeler leaves a drawing before its properties are filled in.
STARTING_BPMN = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
  xmlns:bpmndi="http://www.omg.org/spec/BPMN/20100524/DI"
  xmlns:dc="http://www.omg.org/spec/DD/20100524/DC"
  xmlns:di="http://www.omg.org/spec/DD/20100524/DI"
  xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core"
  id="Definitions_1" targetNamespace="http://bpmn.io/schema/bpmn">
  <bpmn:collaboration id="Collaboration_1">
    <bpmn:participant id="Participant_1" name="Pedido de compra" processRef="Process_1" />
  </bpmn:collaboration>
  <bpmn:process id="Process_1" name="Pedido de compra" isExecutable="false">
    <bpmn:laneSet id="LaneSet_1">
      <bpmn:lane id="Lane_1" name="Pessoas">
        <bpmn:flowNodeRef>StartEvent_1</bpmn:flowNodeRef>
        <bpmn:flowNodeRef>Activity_pedido</bpmn:flowNodeRef>
        <bpmn:flowNodeRef>Activity_faixa</bpmn:flowNodeRef>
        <bpmn:flowNodeRef>Activity_resumo</bpmn:flowNodeRef>
        <bpmn:flowNodeRef>Gateway_1</bpmn:flowNodeRef>
        <bpmn:flowNodeRef>Activity_conferir</bpmn:flowNodeRef>
        <bpmn:flowNodeRef>Event_prazo</bpmn:flowNodeRef>
        <bpmn:flowNodeRef>End_alta</bpmn:flowNodeRef>
        <bpmn:flowNodeRef>End_baixa</bpmn:flowNodeRef>
        <bpmn:flowNodeRef>End_prazo</bpmn:flowNodeRef>
      </bpmn:lane>
    </bpmn:laneSet>
    <bpmn:startEvent id="StartEvent_1">
      <bpmn:outgoing>Flow_1</bpmn:outgoing>
    </bpmn:startEvent>
    <bpmn:userTask id="Activity_pedido" name="Informar pedido">
      <bpmn:extensionElements>
        <spiffworkflow:properties>
          <spiffworkflow:property name="formJsonSchemaFilename" value="pedido-schema.json" />
          <spiffworkflow:property name="formUiSchemaFilename" value="pedido-uischema.json" />
        </spiffworkflow:properties>
      </bpmn:extensionElements>
      <bpmn:incoming>Flow_1</bpmn:incoming>
      <bpmn:outgoing>Flow_2</bpmn:outgoing>
    </bpmn:userTask>
    <bpmn:businessRuleTask id="Activity_faixa" name="Classificar o valor">
      <bpmn:incoming>Flow_2</bpmn:incoming>
      <bpmn:outgoing>Flow_3</bpmn:outgoing>
    </bpmn:businessRuleTask>
    <bpmn:scriptTask id="Activity_resumo" name="Preparar resumo">
      <bpmn:incoming>Flow_3</bpmn:incoming>
      <bpmn:outgoing>Flow_4</bpmn:outgoing>
    </bpmn:scriptTask>
    <bpmn:exclusiveGateway id="Gateway_1" name="Valor alto?">
      <bpmn:incoming>Flow_4</bpmn:incoming>
      <bpmn:outgoing>Flow_alta</bpmn:outgoing>
      <bpmn:outgoing>Flow_baixa</bpmn:outgoing>
    </bpmn:exclusiveGateway>
    <bpmn:manualTask id="Activity_conferir" name="Conferir pedido">
      <bpmn:incoming>Flow_alta</bpmn:incoming>
      <bpmn:outgoing>Flow_5</bpmn:outgoing>
    </bpmn:manualTask>
    <bpmn:boundaryEvent id="Event_prazo" name="Prazo" attachedToRef="Activity_conferir">
      <bpmn:outgoing>Flow_prazo</bpmn:outgoing>
      <bpmn:timerEventDefinition id="TimerEventDefinition_1" />
    </bpmn:boundaryEvent>
    <bpmn:endEvent id="End_alta" name="Pedido conferido">
      <bpmn:incoming>Flow_5</bpmn:incoming>
    </bpmn:endEvent>
    <bpmn:endEvent id="End_baixa" name="Aprovado sem conferência">
      <bpmn:incoming>Flow_baixa</bpmn:incoming>
    </bpmn:endEvent>
    <bpmn:endEvent id="End_prazo" name="Encerrado por prazo">
      <bpmn:incoming>Flow_prazo</bpmn:incoming>
    </bpmn:endEvent>
    <bpmn:sequenceFlow id="Flow_1" sourceRef="StartEvent_1" targetRef="Activity_pedido" />
    <bpmn:sequenceFlow id="Flow_2" sourceRef="Activity_pedido" targetRef="Activity_faixa" />
    <bpmn:sequenceFlow id="Flow_3" sourceRef="Activity_faixa" targetRef="Activity_resumo" />
    <bpmn:sequenceFlow id="Flow_4" sourceRef="Activity_resumo" targetRef="Gateway_1" />
    <bpmn:sequenceFlow id="Flow_alta" name="alta" sourceRef="Gateway_1"
      targetRef="Activity_conferir" />
    <bpmn:sequenceFlow id="Flow_baixa" name="baixa" sourceRef="Gateway_1" targetRef="End_baixa" />
    <bpmn:sequenceFlow id="Flow_5" sourceRef="Activity_conferir" targetRef="End_alta" />
    <bpmn:sequenceFlow id="Flow_prazo" sourceRef="Event_prazo" targetRef="End_prazo" />
  </bpmn:process>
  <bpmndi:BPMNDiagram id="BPMNDiagram_1">
    <bpmndi:BPMNPlane id="BPMNPlane_1" bpmnElement="Collaboration_1">
      <bpmndi:BPMNShape id="Participant_1_di" bpmnElement="Participant_1" isHorizontal="true">
        <dc:Bounds x="100" y="40" width="1000" height="340" />
      </bpmndi:BPMNShape>
      <bpmndi:BPMNShape id="Lane_1_di" bpmnElement="Lane_1" isHorizontal="true">
        <dc:Bounds x="130" y="40" width="970" height="340" />
      </bpmndi:BPMNShape>
      <bpmndi:BPMNShape id="StartEvent_1_di" bpmnElement="StartEvent_1">
        <dc:Bounds x="172" y="182" width="36" height="36" />
      </bpmndi:BPMNShape>
      <bpmndi:BPMNShape id="Activity_pedido_di" bpmnElement="Activity_pedido">
        <dc:Bounds x="250" y="160" width="100" height="80" />
      </bpmndi:BPMNShape>
      <bpmndi:BPMNShape id="Activity_faixa_di" bpmnElement="Activity_faixa">
        <dc:Bounds x="390" y="160" width="100" height="80" />
      </bpmndi:BPMNShape>
      <bpmndi:BPMNShape id="Activity_resumo_di" bpmnElement="Activity_resumo">
        <dc:Bounds x="530" y="160" width="100" height="80" />
      </bpmndi:BPMNShape>
      <bpmndi:BPMNShape id="Gateway_1_di" bpmnElement="Gateway_1" isMarkerVisible="true">
        <dc:Bounds x="675" y="175" width="50" height="50" />
      </bpmndi:BPMNShape>
      <bpmndi:BPMNShape id="Activity_conferir_di" bpmnElement="Activity_conferir">
        <dc:Bounds x="780" y="70" width="100" height="80" />
      </bpmndi:BPMNShape>
      <bpmndi:BPMNShape id="Event_prazo_di" bpmnElement="Event_prazo">
        <dc:Bounds x="812" y="132" width="36" height="36" />
      </bpmndi:BPMNShape>
      <bpmndi:BPMNShape id="End_alta_di" bpmnElement="End_alta">
        <dc:Bounds x="952" y="92" width="36" height="36" />
      </bpmndi:BPMNShape>
      <bpmndi:BPMNShape id="End_prazo_di" bpmnElement="End_prazo">
        <dc:Bounds x="952" y="192" width="36" height="36" />
      </bpmndi:BPMNShape>
      <bpmndi:BPMNShape id="End_baixa_di" bpmnElement="End_baixa">
        <dc:Bounds x="952" y="292" width="36" height="36" />
      </bpmndi:BPMNShape>
      <bpmndi:BPMNEdge id="Flow_1_di" bpmnElement="Flow_1">
        <di:waypoint x="208" y="200" /><di:waypoint x="250" y="200" />
      </bpmndi:BPMNEdge>
      <bpmndi:BPMNEdge id="Flow_2_di" bpmnElement="Flow_2">
        <di:waypoint x="350" y="200" /><di:waypoint x="390" y="200" />
      </bpmndi:BPMNEdge>
      <bpmndi:BPMNEdge id="Flow_3_di" bpmnElement="Flow_3">
        <di:waypoint x="490" y="200" /><di:waypoint x="530" y="200" />
      </bpmndi:BPMNEdge>
      <bpmndi:BPMNEdge id="Flow_4_di" bpmnElement="Flow_4">
        <di:waypoint x="630" y="200" /><di:waypoint x="675" y="200" />
      </bpmndi:BPMNEdge>
      <bpmndi:BPMNEdge id="Flow_alta_di" bpmnElement="Flow_alta">
        <di:waypoint x="700" y="175" /><di:waypoint x="700" y="110" />
        <di:waypoint x="780" y="110" />
      </bpmndi:BPMNEdge>
      <bpmndi:BPMNEdge id="Flow_baixa_di" bpmnElement="Flow_baixa">
        <di:waypoint x="700" y="225" /><di:waypoint x="700" y="310" />
        <di:waypoint x="952" y="310" />
      </bpmndi:BPMNEdge>
      <bpmndi:BPMNEdge id="Flow_5_di" bpmnElement="Flow_5">
        <di:waypoint x="880" y="110" /><di:waypoint x="952" y="110" />
      </bpmndi:BPMNEdge>
      <bpmndi:BPMNEdge id="Flow_prazo_di" bpmnElement="Flow_prazo">
        <di:waypoint x="830" y="168" /><di:waypoint x="830" y="210" />
        <di:waypoint x="952" y="210" />
      </bpmndi:BPMNEdge>
    </bpmndi:BPMNPlane>
  </bpmndi:BPMNDiagram>
</bpmn:definitions>
"""
