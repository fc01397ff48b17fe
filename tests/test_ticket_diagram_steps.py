"""The steps a ticket's diagram lists for its requester: an unnamed element is said as
what it is, never by its id (bpmn.io leaves start events unnamed: "StartEvent_1")."""

from __future__ import annotations

from engine import runtime, specs
from engine.designer.diagram import ticket_diagram
from tests.model_files import chain, model


def test_an_unnamed_start_event_is_listed_as_what_it_is() -> None:
    task = '<bpmn:manualTask id="fazer" name="Fazer a entrega">{flows}</bpmn:manualTask>'
    xml = (
        model(chain(task))
        .replace('id="start"', 'id="StartEvent_1"')
        .replace('sourceRef="start"', 'sourceRef="StartEvent_1"')
    )
    wf = runtime.start(specs.parse_process(xml.encode(), {}))
    steps = [(s.name, s.current) for s in ticket_diagram(xml.encode(), wf).steps]
    assert steps == [("Evento de início", False), ("Fazer a entrega", True)]
