"""Small BPMN models written the way bpmn.io, Camunda Modeler and SpiffArena write them.

``model(body)`` wraps flow elements in a process ``Process_1`` with the namespaces those
editors declare; tests write only the elements they are about.
"""

from __future__ import annotations

HEAD = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    '<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" '
    'xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core" '
    'id="Definitions_1" targetNamespace="http://bpmn.io/schema/bpmn">\n'
)


def model(body: str, process_id: str = "Process_1", extra: str = "") -> str:
    return (
        f'{HEAD}{extra}<bpmn:process id="{process_id}" isExecutable="true">\n{body}\n'
        "</bpmn:process>\n</bpmn:definitions>\n"
    )


def chain(*elements: str) -> str:
    """Start event → each element (``<tag id=...>...</tag>`` without flows) → end event.

    Each element is written with a ``{flows}`` placeholder where its incoming and
    outgoing flows go.
    """
    ids = ["start"] + [e.split('id="', 1)[1].split('"', 1)[0] for e in elements] + ["end"]
    parts = ['<bpmn:startEvent id="start"><bpmn:outgoing>f0</bpmn:outgoing></bpmn:startEvent>']
    for n, element in enumerate(elements):
        flows = f"<bpmn:incoming>f{n}</bpmn:incoming><bpmn:outgoing>f{n + 1}</bpmn:outgoing>"
        parts.append(element.replace("{flows}", flows))
    last = len(elements)
    parts.append(f'<bpmn:endEvent id="end"><bpmn:incoming>f{last}</bpmn:incoming></bpmn:endEvent>')
    for n in range(len(ids) - 1):
        parts.append(
            f'<bpmn:sequenceFlow id="f{n}" sourceRef="{ids[n]}" targetRef="{ids[n + 1]}"/>'
        )
    return "\n".join(parts)


def script_task(element_id: str, script: str) -> str:
    from xml.sax.saxutils import escape

    return (
        f'<bpmn:scriptTask id="{element_id}" scriptFormat="python">{{flows}}'
        f"<bpmn:script>{escape(script)}</bpmn:script></bpmn:scriptTask>"
    )


def sub_process(element_id: str, *elements: str) -> str:
    inner = chain(*elements)
    # Inner ids must differ from the outer chain's.
    for old in ("start", "end"):
        inner = inner.replace(f'"{old}"', f'"{element_id}_{old}"')
    for n in range(len(elements) + 1):
        inner = inner.replace(f">f{n}<", f">{element_id}_f{n}<").replace(
            f'id="f{n}"', f'id="{element_id}_f{n}"'
        )
    return f'<bpmn:subProcess id="{element_id}">{{flows}}{inner}</bpmn:subProcess>'


# A connector the platform does not have (SpiffArena's Slack connector): refused at deploy.
SERVICE_TASK = (
    '<bpmn:serviceTask id="Activity_http" name="Avisar">{flows}'
    "<bpmn:extensionElements>"
    '<spiffworkflow:serviceTaskOperator id="slack/PostMessage" resultVariable="resposta">'
    "<spiffworkflow:parameters>"
    '<spiffworkflow:parameter id="channel" type="str" value="\'#geral\'"/>'
    "</spiffworkflow:parameters></spiffworkflow:serviceTaskOperator>"
    "</bpmn:extensionElements></bpmn:serviceTask>"
)


def http_task(element_id: str, operator: str, result: str, **params: str) -> str:
    """A service task through the HTTP connector; ``params`` are Python expressions."""
    from xml.sax.saxutils import quoteattr

    rows = "".join(
        f'<spiffworkflow:parameter id="{name}" type="any" value={quoteattr(value)}/>'
        for name, value in params.items()
    )
    return (
        f'<bpmn:serviceTask id="{element_id}" name="Consultar">{{flows}}'
        "<bpmn:extensionElements>"
        f'<spiffworkflow:serviceTaskOperator id="{operator}" resultVariable="{result}">'
        f"<spiffworkflow:parameters>{rows}</spiffworkflow:parameters>"
        "</spiffworkflow:serviceTaskOperator></bpmn:extensionElements></bpmn:serviceTask>"
    )


def end_with_outcome(element_id: str, outcome: str, flow: str) -> str:
    """An end event declaring the outcome the requester is told (spiffworkflow:property)."""
    return (
        f'<bpmn:endEvent id="{element_id}"><bpmn:extensionElements><spiffworkflow:properties>'
        f'<spiffworkflow:property name="outcome" value="{outcome}"/>'
        "</spiffworkflow:properties></bpmn:extensionElements>"
        f"<bpmn:incoming>{flow}</bpmn:incoming></bpmn:endEvent>"
    )
