"""Deploy-time checks of models brought from other editors: no crash, every element named.

Issue #10: a service task crashed the import with HTTP 500 (``'ServiceTask' object has no
attribute 'script'``); scripts, timers and expressions inside sub-processes were never
checked; the parser's English text and XML dumps reached the designer.
"""

from __future__ import annotations

import io
import re

import pytest
from flask import Flask
from flask.testing import FlaskClient

from engine.designer.validation import validate_model
from tests.model_files import SERVICE_TASK, chain, model, script_task, sub_process
from tests.test_designer import app, csrf_of, dora_web  # noqa: F401 - fixtures

RAW_LIBRARY_TEXT = re.compile(r"<Element |0x[0-9a-f]{6,}|Traceback|object has no attribute")


def problems(xml: str) -> list[tuple[str | None, str]]:
    result = validate_model(xml.encode(), {})
    assert result.bundle is None
    found = [(p.element_id, p.message) for p in result.problems]
    for _element, message in found:
        assert not RAW_LIBRARY_TEXT.search(message), message
    return found


def test_a_valid_model_from_bpmn_io_deploys_as_written() -> None:
    xml = model(chain(script_task("Activity_calc", "total = 1 + 2")))
    result = validate_model(xml.encode(), {})
    assert result.problems == [] and result.bundle is not None
    assert result.bundle.process_id == "Process_1"


def test_service_task_is_refused_on_its_element_not_a_crash() -> None:
    found = problems(model(chain(SERVICE_TASK)))
    assert found == [
        (
            "Activity_http",
            "Tarefa de serviço: o conector 'slack/PostMessage' não existe na plataforma (há: "
            "http/DeleteRequestV2, http/GetRequestV2, http/HeadRequestV2, http/PatchRequestV2, "
            "http/PostRequestV2, http/PutRequestV2, smtp/SendEmail; e os http/ sem V2).",
        )
    ]


def test_every_problem_is_reported_at_once_including_inside_sub_processes() -> None:
    timer_in_sub = (
        '<bpmn:intermediateCatchEvent id="Timer_sub">{flows}'
        "<bpmn:timerEventDefinition><bpmn:timeDuration>PT15M</bpmn:timeDuration>"
        "</bpmn:timerEventDefinition></bpmn:intermediateCatchEvent>"
    )
    nested = sub_process(
        "Sub_outer",
        script_task("Script_sub", "x = open('/etc/passwd')"),
        sub_process("Sub_inner", script_task("Script_deep", "y = ().__class__")),
        timer_in_sub,
    )
    found = problems(model(chain(SERVICE_TASK, nested)))
    elements = [e for e, _m in found]
    assert elements == ["Activity_http", "Script_sub", "Script_deep", "Timer_sub"], found
    timer_message = dict(found)["Timer_sub"]
    assert '"PT15M"' in timer_message and "entre aspas" in timer_message


@pytest.mark.parametrize(
    ("element", "expected"),
    [
        (
            '<bpmn:businessRuleTask id="Rule_1">{flows}</bpmn:businessRuleTask>',
            "Tarefa de regra de negócio sem a tabela de decisão",
        ),
        ('<bpmn:receiveTask id="Receive_1">{flows}</bpmn:receiveTask>', "não indica a mensagem"),
        (
            '<bpmn:intermediateCatchEvent id="Catch_msg">{flows}'
            "<bpmn:messageEventDefinition/></bpmn:intermediateCatchEvent>",
            "não indica a mensagem",
        ),
        (
            '<bpmn:callActivity id="Call_1" calledElement="OutroProcesso">{flows}'
            "</bpmn:callActivity>",
            "'OutroProcesso', que não está em nenhum arquivo",
        ),
        (
            '<bpmn:adHocSubProcess id="AdHoc_1">{flows}</bpmn:adHocSubProcess>',
            "ad hoc",
        ),
    ],
)
def test_unsupported_elements_are_refused_with_a_portuguese_message(
    element: str, expected: str
) -> None:
    element_id = element.split('id="', 1)[1].split('"', 1)[0]
    found = problems(model(chain(element)))
    assert [e for e, _m in found] == [element_id], found
    assert expected in found[0][1]


def test_multi_instance_and_conditional_expressions_are_checked() -> None:
    multi = (
        '<bpmn:scriptTask id="Multi_1">{flows}'
        "<bpmn:multiInstanceLoopCharacteristics>"
        "<bpmn:loopCardinality>__import__('os')</bpmn:loopCardinality>"
        "</bpmn:multiInstanceLoopCharacteristics>"
        "<bpmn:script>a = 1</bpmn:script></bpmn:scriptTask>"
    )
    conditional = (
        '<bpmn:intermediateCatchEvent id="Cond_1">{flows}'
        "<bpmn:conditionalEventDefinition><bpmn:condition>${pronto}</bpmn:condition>"
        "</bpmn:conditionalEventDefinition></bpmn:intermediateCatchEvent>"
    )
    found = problems(model(chain(multi, conditional)))
    assert [e for e, _m in found] == ["Multi_1", "Cond_1"], found


def test_parser_errors_become_portuguese_on_the_element() -> None:
    # A sub-process with no start event: SpiffWorkflow's parser refuses it in English.
    broken = '<bpmn:subProcess id="Sub_empty">{flows}</bpmn:subProcess>'
    found = problems(model(chain(broken)))
    assert [e for e, _m in found] == ["Sub_empty"], found
    assert found[0][1].startswith("Subprocesso Sub_empty:")


def test_parser_errors_on_flows_and_definitions_name_them_in_portuguese() -> None:
    """The parser's tags are said as a designer says them ("Fluxo", not "Sequenceflow")."""
    from engine.model_checks import parser_problem

    class Raised(Exception):
        id = "Flow_alto"
        tag = "bpmn:sequenceFlow"
        msg = "Invalid default flow"

    assert parser_problem(Raised()) == ("Flow_alto", "Fluxo Flow_alto: o fluxo padrão é inválido.")


def test_malformed_xml_names_line_without_library_text() -> None:
    found = problems(model(chain()).replace("</bpmn:process>", ""))
    assert found[0][0] is None and found[0][1].startswith("XML malformado (linha ")


def test_web_import_of_a_service_task_answers_with_the_problem_not_a_500(
    app: Flask,  # noqa: F811
    dora_web: FlaskClient,  # noqa: F811
) -> None:
    xml = model(chain(SERVICE_TASK), process_id="chamado")
    resp = dora_web.post(
        "/processos/chamado/importar",
        data={"csrf_token": csrf_of(dora_web), "arquivo": (io.BytesIO(xml.encode()), "m.bpmn")},
        headers={"Accept": "application/json"},
        content_type="multipart/form-data",
    )
    assert resp.status_code == 200, resp.get_data(as_text=True)[:500]
    errors = resp.get_json()["errors"]
    assert errors[0]["element_id"] == "Activity_http"
    # Without JavaScript: saved all the same (work is never lost); the model's page shows
    # the problem that blocks publishing.
    resp = dora_web.post(
        "/processos/chamado/importar",
        data={
            "csrf_token": csrf_of(dora_web),
            "version": "0",
            "arquivo": (io.BytesIO(xml.encode()), "m.bpmn"),
        },
        content_type="multipart/form-data",
    )
    assert resp.status_code == 302
    page = dora_web.get("/processos/chamado").get_data(as_text=True)
    assert "O rascunho tem 1 problema(s)" in page
    assert "Activity_http" in page and "slack/PostMessage" in page
    assert not RAW_LIBRARY_TEXT.search(page)


def test_a_drawing_not_marked_executable_is_checked_whole() -> None:
    """bpmn.io's default is isExecutable="false": the designer is told once, on the process,
    and everything else left to fix is listed with it (it was hidden until switched on)."""
    xml = model(chain(script_task("Script_1", "x = open('/etc/passwd')"))).replace(
        'isExecutable="true"', 'isExecutable="false"'
    )
    found = validate_model(xml.encode(), {})
    assert [p.element_id for p in found.problems] == ["Process_1", "Script_1"]
    assert "marcado como não executável" in found.problems[0].message
    assert found.bundle is None
