"""Every request's work is bounded before it starts (issue #13).

Each hole found by hand or by Schemathesis has a test here that failed before the fix:
a 10,000-row table submitted (a minute of quadratic uniqueItems, then a 500), a NUL in
a text field (a 500 when the mail was queued on PostgreSQL), a 900 KB read-only name,
``"a" * 100000000`` in a script (a 200 MB workflow state), expressions deep enough to
crash Python's compiler, a timer of 99,999,999,999,999 days (every start a 500), huge
numbers in URLs and query strings, NaN, deep JSON and oversized bodies.

Nothing here is timed: boundedness is shown by what did *not* run (no row was read,
no memory was allocated), the benchmark bench/bounds.py measures the time.
"""

from __future__ import annotations

import json
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from SpiffWorkflow.bpmn.specs.event_definitions.timer import (
    CycleTimerEventDefinition,
    TimeDateEventDefinition,
)
from sqlalchemy import func, select

from engine import durations, forms, limits, runtime, scripting, specs, validators
from engine.designer.validation import validate_model
from engine.errors import ProcessDefinitionError
from engine.models import Chamado, HumanTask, OutboxMessage
from engine.service import Chamados
from engine.settings import PROJECT_ROOT, Settings
from tests.test_api import MARIA, Api, build_app, check_against_openapi, person
from tests.test_auth import set_session_user
from tests.test_engine_lifecycle import registration
from tests.webform import fill

SETTINGS = Settings.from_env(env={})
REGISTRAR = forms.load_form(
    PROJECT_ROOT / "forms", "registrar-chamado-schema.json", "registrar-chamado-uischema.json"
)
TEN_THOUSAND_ROWS = [{"numero": str(100000 + i)} for i in range(10_000)]


@pytest.fixture
def count_protocol_checks(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every protocol number the NUP/platform-id validator is asked about."""
    seen: list[str] = []
    original = validators.normalize_protocolo

    def counting(s: str | None) -> str | None:
        seen.append(str(s))
        return original(s)

    monkeypatch.setattr(validators, "normalize_protocolo", counting)
    return seen


# --- form data: sizes first, linear, characters ----------------------------------------------


def test_an_oversized_table_is_refused_before_any_row_is_read(
    count_protocol_checks: list[str],
) -> None:
    errors = forms.validate(REGISTRAR.schema, registration(protocolos=TEN_THOUSAND_ROWS))
    assert errors == {"protocolos": "A tabela aceita no máximo 200 itens."}
    # Neither uniqueItems nor the NUP check ran over the 10,000 rows.
    assert count_protocol_checks == []


def test_sizes_are_checked_with_the_rest_and_each_field_once() -> None:
    data = registration(
        protocolos=TEN_THOUSAND_ROWS, detalhamento="x" * 5001, telefone="123", nome_servico=""
    )
    errors = forms.validate(REGISTRAR.schema, data)
    assert errors == {
        "telefone": "Telefone inválido. Use DDD + número, ex.: (61) 99999-9999.",
        "nome_servico": "Campo obrigatório.",
        "detalhamento": "Informe no máximo 5000 caracteres.",
        "protocolos": "A tabela aceita no máximo 200 itens.",
    }
    # Schema order, as before: the page lists problems top to bottom.
    assert list(errors) == ["telefone", "nome_servico", "detalhamento", "protocolos"]


def test_uniqueness_still_holds_and_is_linear() -> None:
    rows = [{"numero": str(100000 + i)} for i in range(200)]
    assert forms.validate(REGISTRAR.schema, registration(protocolos=rows)) == {}
    duplicated = [*rows[:199], rows[3]]
    assert forms.validate(REGISTRAR.schema, registration(protocolos=duplicated)) == {
        "protocolos": "Há itens repetidos na tabela."
    }
    # JSON Schema equality, as jsonschema's own check: 1 == 1.0, True != 1.
    schema = {"type": "object", "properties": {"v": {"type": "array", "uniqueItems": True}}}
    assert forms.validate(schema, {"v": [1, 1.0]}) == {"v": "Há itens repetidos na tabela."}
    assert forms.validate(schema, {"v": [1, True, {"a": [1]}, {"a": [1.0]}]}) == {
        "v": "Há itens repetidos na tabela."
    }
    assert forms.validate(schema, {"v": [1, True, {"a": 1}, {"a": "1"}]}) == {}


def test_fields_without_limits_get_the_default_caps() -> None:
    schema = {
        "type": "object",
        "properties": {
            "texto": {"type": "string"},
            "lista": {"type": "array", "items": {"type": "string"}},
        },
    }
    ok = {"texto": "x" * limits.DEFAULT_MAX_LENGTH, "lista": ["a"] * limits.DEFAULT_MAX_ITEMS}
    assert forms.validate(schema, ok) == {}
    too_much = {
        "texto": "x" * (limits.DEFAULT_MAX_LENGTH + 1),
        "lista": ["a"] * (limits.DEFAULT_MAX_ITEMS + 1),
    }
    assert forms.validate(schema, too_much) == {
        "texto": "Informe no máximo 10000 caracteres.",
        "lista": "A tabela aceita no máximo 500 itens.",
    }
    # Inside arrays too (a table column, an attachment's name).
    nested = {"lista": ["x" * (limits.DEFAULT_MAX_LENGTH + 1)]}
    assert forms.validate(schema, nested) == {"lista.0": "Informe no máximo 10000 caracteres."}


def test_control_characters_are_refused_with_a_field_message() -> None:
    data = registration(nome_servico="Aposentadoria\x00", detalhamento="Linha 1\r\nLinha 2\tfim.")
    errors = forms.validate(REGISTRAR.schema, data, ui=REGISTRAR.ui)
    assert set(errors) == {"nome_servico"}
    assert "caractere de controle" in errors["nome_servico"]
    assert "U+0000" in errors["nome_servico"]
    # A line break is fine in a text area (detalhamento), not in a one-line field.
    errors = forms.validate(REGISTRAR.schema, registration(nome_servico="A\nB"), ui=REGISTRAR.ui)
    assert errors == {"nome_servico": limits.ONE_LINE}
    # Without the UI schema the widgets are unknown: line breaks pass, controls do not.
    assert forms.validate(REGISTRAR.schema, registration(nome_servico="A\nB")) == {}
    for bad in ("\x1b[31m", "\x7f", "\x85", "\ud800"):
        errors = forms.validate(REGISTRAR.schema, registration(detalhamento="x" * 20 + bad))
        assert list(errors) == ["detalhamento"], repr(bad)
    row = {"numero": "123\x00"}
    errors = forms.validate(REGISTRAR.schema, registration(protocolos=[row]))
    assert list(errors) == ["protocolos.0.numero"]


def test_deep_data_is_refused_without_recursion() -> None:
    deep: Any = "x"
    for _ in range(5000):
        deep = [deep]
    errors = forms.validate(REGISTRAR.schema, registration(observacoes=deep))
    assert errors == {"observacoes": "Valor aninhado demais."}


# --- the API ---------------------------------------------------------------------------------


@pytest.fixture
def app(tmp_path: Path) -> Iterator[Flask]:
    app = build_app(tmp_path)
    yield app
    app.extensions["chamados"].unit.db.dispose()


@pytest.fixture
def maria(app: Flask) -> Api:
    return Api(app.test_client(), person(app, MARIA, "Maria da Silva"))


def started(maria: Api) -> tuple[int, int]:
    task_id = maria.post("/processes/chamado/instances", expect=201)["task"]["id"]
    return task_id, maria.get(f"/tasks/{task_id}")["version"]


def count(app: Flask, model: Any) -> int:
    svc: Chamados = app.extensions["chamados"]
    with svc.unit.session_factory() as s:
        return int(s.scalar(select(func.count()).select_from(model)) or 0)


def test_a_ten_thousand_row_submit_is_a_field_message_and_the_draft_survives(
    app: Flask, maria: Api, count_protocol_checks: list[str]
) -> None:
    task_id, version = started(maria)
    draft = registration(detalhamento="Rascunho que a Maria já tinha digitado antes.")
    maria.put(f"/tasks/{task_id}/draft", {"data": draft, "step": "protocolos"}, expect=204)

    body = {"data": registration(protocolos=TEN_THOUSAND_ROWS), "version": version}
    assert len(json.dumps(body)) > 200_000  # the ~220 KB of the report
    refused = maria.post(f"/tasks/{task_id}/submit", body, expect=422)
    assert refused["errors"] == {"protocolos": "A tabela aceita no máximo 200 itens."}
    assert count_protocol_checks == []

    form = maria.get(f"/tasks/{task_id}")
    assert form["data"] == draft and form["step"] == "protocolos"
    assert form["version"] == version and form["chamado"]["status"] == "rascunho"


def test_a_draft_keeps_invalid_text_but_not_unbounded_lists(app: Flask, maria: Api) -> None:
    task_id, _version = started(maria)
    # Over maxLength is kept (the requester trims it later); 10,000 rows are not: every
    # page of the wizard would draw them.
    kept = {"detalhamento": "x" * 6000, "protocolos": TEN_THOUSAND_ROWS[: limits.MAX_DRAFT_ITEMS]}
    maria.put(f"/tasks/{task_id}/draft", {"data": kept}, expect=204)
    refused = maria.put(
        f"/tasks/{task_id}/draft", {"data": {"protocolos": TEN_THOUSAND_ROWS}}, expect=422
    )
    assert refused["errors"] == {
        "data.protocolos": "Um rascunho guarda no máximo 1000 itens por lista."
    }
    assert maria.get(f"/tasks/{task_id}")["data"] == kept


def test_a_nul_in_a_text_field_is_a_field_message_and_no_mail_is_queued(
    app: Flask, maria: Api
) -> None:
    task_id, version = started(maria)
    data = registration(
        nome_servico="Serv\x00iço", detalhamento="Erro ao consultar\x00 o protocolo."
    )
    refused = maria.post(f"/tasks/{task_id}/submit", {"data": data, "version": version}, expect=422)
    assert set(refused["errors"]) == {"nome_servico", "detalhamento"}
    assert all("U+0000" in m for m in refused["errors"].values())
    assert count(app, OutboxMessage) == 0
    # A line break in the one-line service name too; the text area keeps its lines.
    data = registration(nome_servico="Linha\nOutra", detalhamento="Primeira linha.\nSegunda linha.")
    refused = maria.post(f"/tasks/{task_id}/submit", {"data": data, "version": version}, expect=422)
    assert set(refused["errors"]) == {"nome_servico"}
    data = registration(detalhamento="Primeira linha.\r\nSegunda linha.\tCom tabulação.")
    maria.post(f"/tasks/{task_id}/submit", {"data": data, "version": version})
    assert count(app, OutboxMessage) == 1


def test_a_900_kb_name_is_refused(app: Flask, maria: Api) -> None:
    task_id, version = started(maria)
    # solicitante_nome is read-only and declares no maxLength: the default cap applies.
    data = registration(solicitante_nome="N" * 900_000)
    body = {"data": data, "version": version}
    resp = maria.client.post(
        f"/api/v1/tasks/{task_id}/submit",
        data=json.dumps(body),
        headers={"Authorization": f"Bearer {maria.token}", "Content-Type": "application/json"},
    )
    # 900 KB is past the body limit of the operation: refused before it is even read.
    assert resp.status_code == 413 and resp.mimetype == "application/problem+json"
    assert "256 KB" in resp.get_json()["detail"]
    check_against_openapi(resp)
    data = registration(solicitante_nome="N" * (limits.DEFAULT_MAX_LENGTH + 1))
    refused = maria.post(f"/tasks/{task_id}/submit", {"data": data, "version": version}, expect=422)
    assert refused["errors"] == {"solicitante_nome": "Informe no máximo 10000 caracteres."}
    assert count(app, Chamado) == 1 and maria.get(f"/tasks/{task_id}")["version"] == version


def test_request_shapes_that_were_500s(app: Flask, maria: Api) -> None:
    task_id, _version = started(maria)
    big = 2**31
    for path in (f"/tasks/{big}", f"/chamados/{big}", f"/tasks/{10**20}"):
        maria.get(path, expect=404)
    maria.post(f"/tasks/{big}/claim", expect=404)
    maria.post("/processes/a\x00b/instances", expect=404)
    maria.post(f"/processes/{'p' * 200}/instances", expect=404)
    refused = maria.put(f"/tasks/{task_id}/draft", {"data": {}, "step": "x" * 51}, expect=422)
    assert set(refused["errors"]) == {"step"}
    maria.put(f"/tasks/{task_id}/draft", {"data": {}, "step": "x\x00"}, expect=422)

    headers = {"Authorization": f"Bearer {maria.token}", "Content-Type": "application/json"}
    for raw, detail in (
        ('{"data": {"nome_servico": NaN}}', "NaN"),
        ('{"data": {"x": Infinity}}', "Infinity"),
        ('{"data": ' + "[" * 5000 + "]" * 5000 + "}", "níveis"),
        ('{"data": {"a": ' + "[" * 40 + "]" * 40 + "}}", "níveis"),
        ("{", "JSON válido"),
        (b"\xff\xfe", "JSON válido"),
    ):
        resp = maria.client.put(f"/api/v1/tasks/{task_id}/draft", data=raw, headers=headers)
        assert resp.status_code == 400, raw
        assert detail in resp.get_json()["detail"]
        check_against_openapi(resp)


def test_queue_parameters_beyond_any_row_are_named(app: Flask) -> None:
    ana = Api(app.test_client(), person(app, "11144477735", "Ana Souza", "analyst"))
    refused = ana.get(
        f"/queue?orgao={2**31}&page={10**20}&idade={10**9}&categoria=a%00b", expect=422
    )
    assert set(refused["errors"]) == {"orgao", "page", "idade", "categoria"}
    assert ana.get(f"/queue?orgao={2**31 - 1}&idade=36500&categoria=x")["items"] == []


def test_an_oversized_body_is_413_in_portuguese(app: Flask, maria: Api) -> None:
    task_id, version = started(maria)
    headers = {"Authorization": f"Bearer {maria.token}", "Content-Type": "application/json"}
    padding = "x" * 300_000
    for method, path in (("POST", f"/tasks/{task_id}/submit"), ("PUT", f"/tasks/{task_id}/draft")):
        body = json.dumps({"data": {"observacoes": padding}, "version": version})
        resp = maria.client.open(f"/api/v1{path}", method=method, data=body, headers=headers)
        assert resp.status_code == 413 and resp.mimetype == "application/problem+json"
        assert resp.get_json()["detail"].startswith("O corpo da requisição passa do limite")
        check_against_openapi(resp)
    # Operations without a body take a few KB at most.
    resp = maria.client.post(f"/api/v1/tasks/{task_id}/claim", data="x" * 20_000, headers=headers)
    assert resp.status_code == 413
    assert maria.get(f"/tasks/{task_id}")["data"]["solicitante_nome"] == "Maria da Silva"


# --- the wizard page -------------------------------------------------------------------------


def wizard(app: Flask) -> tuple[FlaskClient, str]:
    client = app.test_client()
    set_session_user(app, client, MARIA, "Maria da Silva")
    token = client.get("/_csrf").get_data(as_text=True)
    resp = client.post("/servicos/chamado", data={"csrf_token": token})
    assert resp.status_code == 302, resp.get_data(as_text=True)
    return client, resp.headers["Location"]


def draft_of(app: Flask) -> dict[str, Any] | None:
    svc: Chamados = app.extensions["chamados"]
    with svc.unit.session_factory() as s:
        return s.scalars(select(HumanTask.draft_data)).one()


def test_the_wizard_keeps_an_oversized_table_as_typed_with_a_field_message(app: Flask) -> None:
    client, url = wizard(app)
    page = client.get(url + "?passo=protocolos").get_data(as_text=True)
    rows = {f"protocolos__{i}__numero": str(100000 + i) for i in range(300)}
    resp = client.post(
        url,
        data=fill(page, {"_action": "next", **rows}),
        content_type="multipart/form-data",
    )
    assert resp.status_code == 422
    assert "A tabela aceita no máximo 200 itens." in resp.get_data(as_text=True)
    saved = draft_of(app)
    assert saved is not None and len(saved["protocolos"]) == 300  # nothing typed was lost


def test_the_wizard_refuses_a_ten_thousand_row_post_and_keeps_the_draft(app: Flask) -> None:
    client, url = wizard(app)
    page = client.get(url).get_data(as_text=True)
    client.post(url, data=fill(page, {"_action": "save", "nome_servico": "Aposentadoria"}))
    before = draft_of(app)
    assert before is not None and before["nome_servico"] == "Aposentadoria"

    page = client.get(url + "?passo=protocolos").get_data(as_text=True)
    rows = {f"protocolos__{i}__numero": str(100000 + i) for i in range(10_000)}
    for content_type in ("multipart/form-data", "application/x-www-form-urlencoded"):
        resp = client.post(
            url, data=fill(page, {"_action": "next", **rows}), content_type=content_type
        )
        assert resp.status_code == 413
        body = resp.get_data(as_text=True)
        assert "Nada deste envio foi gravado" in body and "rascunho" in body
    assert draft_of(app) == before


# --- scripts, expressions, models ------------------------------------------------------------

BPMN_NS = (
    'xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" '
    'xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core"'
)


def model(script: str = "x = 1", timer: str | None = None, condition: str | None = None) -> bytes:
    """start → script → gateway (condition) → user task (optional boundary timer) → end."""
    boundary = (
        f'<bpmn:boundaryEvent id="prazo" attachedToRef="pedir"><bpmn:outgoing>ft</bpmn:outgoing>'
        f"<bpmn:timerEventDefinition><bpmn:timeDuration>{timer}</bpmn:timeDuration>"
        "</bpmn:timerEventDefinition></bpmn:boundaryEvent>"
        '<bpmn:endEvent id="fim_prazo"><bpmn:incoming>ft</bpmn:incoming></bpmn:endEvent>'
        '<bpmn:sequenceFlow id="ft" sourceRef="prazo" targetRef="fim_prazo" />'
        if timer
        else ""
    )
    cond = condition or "True"
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions {BPMN_NS} id="d" targetNamespace="x">
  <bpmn:process id="limites" isExecutable="true">
    <bpmn:laneSet id="ls"><bpmn:lane id="l" name="Solicitante">
      <bpmn:flowNodeRef>pedir</bpmn:flowNodeRef></bpmn:lane></bpmn:laneSet>
    <bpmn:startEvent id="inicio"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:scriptTask id="calcular"><bpmn:incoming>f1</bpmn:incoming>
      <bpmn:outgoing>f2</bpmn:outgoing><bpmn:script>{script}</bpmn:script></bpmn:scriptTask>
    <bpmn:exclusiveGateway id="decidir" default="f4"><bpmn:incoming>f2</bpmn:incoming>
      <bpmn:outgoing>f3</bpmn:outgoing><bpmn:outgoing>f4</bpmn:outgoing></bpmn:exclusiveGateway>
    <bpmn:userTask id="pedir"><bpmn:extensionElements><spiffworkflow:properties>
      <spiffworkflow:property name="formJsonSchemaFilename" value="f.json" />
      </spiffworkflow:properties></bpmn:extensionElements>
      <bpmn:incoming>f3</bpmn:incoming><bpmn:incoming>f4</bpmn:incoming>
      <bpmn:outgoing>f5</bpmn:outgoing></bpmn:userTask>
    {boundary}
    <bpmn:endEvent id="fim"><bpmn:incoming>f5</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="inicio" targetRef="calcular" />
    <bpmn:sequenceFlow id="f2" sourceRef="calcular" targetRef="decidir" />
    <bpmn:sequenceFlow id="f3" sourceRef="decidir" targetRef="pedir">
      <bpmn:conditionExpression>{cond}</bpmn:conditionExpression></bpmn:sequenceFlow>
    <bpmn:sequenceFlow id="f4" sourceRef="decidir" targetRef="pedir" />
    <bpmn:sequenceFlow id="f5" sourceRef="pedir" targetRef="fim" />
  </bpmn:process>
</bpmn:definitions>""".encode()


FORM = {"f.json": json.dumps({"type": "object", "properties": {"a": {"type": "string"}}})}


def deploy(bpmn: bytes) -> specs.ProcessBundle:
    return specs.parse_process(bpmn, FORM)


def test_a_huge_repetition_in_a_script_is_refused_before_it_allocates() -> None:
    bundle = deploy(model("texto = 'a' * 100000000"))  # deploys: it is only run at start
    tracemalloc.start()
    try:
        with pytest.raises(ProcessDefinitionError) as err:
            runtime.start(bundle)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert err.value.element_id == "calcular"
    assert "nada foi calculado" in err.value.message
    assert peak < 5_000_000  # the 100 MB text was never made


@pytest.mark.parametrize(
    "script",
    [
        "s = 'ab'\n" + "s = s + s\n" * 20,  # doubling: 2 MB after 20 lines
        "n = 99999999999\n" + "n = n * n\n" * 10,  # an integer of 35,000 bits
        "l = [1, 2, 3] * 50000",
        "t = (0,) * 10 * 10 * 10 * 10 * 10 * 10",
        "f = '%099999999d' % 1",
        "x = 'abc'\n" + "x = [x, x, x, x]\n" * 12,  # 16 million references as JSON
    ],
)
def test_scripts_cannot_make_huge_values(script: str) -> None:
    env = scripting.RestrictedEnvironment()
    context: dict[str, Any] = {"antes": 1}
    with pytest.raises(scripting.LimitExceeded):
        env.execute(script, context)
    assert context == {"antes": 1}  # a failing script writes nothing back


def test_a_condition_cannot_allocate_either() -> None:
    env = scripting.RestrictedEnvironment()
    with pytest.raises(scripting.LimitExceeded):
        env.evaluate("'x' * 1500000000 == texto", {"texto": ""})
    assert env.evaluate("'ab' * 3 + texto", {"texto": "!"}) == "ababab!"
    assert env.evaluate("7 % 3 + 10 // 4 - 1.5 * 2", {}) == 0.0


def test_the_task_data_a_script_writes_back_is_capped() -> None:
    env = scripting.RestrictedEnvironment()
    big = "y" * 60_000  # under the per-value cap
    script = "\n".join(f"v{i} = texto + ''" for i in range(20))  # 20 × 60 KB = 1.2 MB
    context: dict[str, Any] = {"texto": big}
    with pytest.raises(scripting.LimitExceeded, match="1024 KB"):
        env.execute(script, context)
    assert list(context) == ["texto"]


@pytest.mark.parametrize(
    "source",
    [
        "-" * 1990 + "1",
        "+".join(["1"] * 999),
        "not " * 490 + "x",
        "[" * 150 + "]" * 150,
    ],
)
def test_deep_expressions_are_refused_not_crashed(source: str) -> None:
    with pytest.raises(scripting.ExpressionRejected, match="aninhada ou encadeada demais"):
        scripting.compile_expression(source)


def test_deep_expressions_in_a_model_name_their_element() -> None:
    for bpmn, element in (
        (model(condition="-" * 1990 + "1 == 1"), "decidir"),
        (model(script="a = " + "+".join(["1"] * 4990)), "calcular"),
        (model(script="a = " + "-" * 9990 + "1"), "calcular"),
    ):
        with pytest.raises(ProcessDefinitionError) as err:
            deploy(bpmn)
        assert err.value.element_id == element
        assert "aninhada ou encadeada demais" in err.value.message


def test_a_model_with_too_many_elements_is_refused() -> None:
    chain = "".join(
        f'<bpmn:scriptTask id="t{i}"><bpmn:script>x = {i}</bpmn:script></bpmn:scriptTask>'
        for i in range(specs.MAX_FLOW_NODES)
    )
    bpmn = model().replace(b"</bpmn:process>", chain.encode() + b"</bpmn:process>")
    with pytest.raises(ProcessDefinitionError, match="o limite é 200"):
        deploy(bpmn)


def test_a_runaway_script_loop_stops_naming_the_element() -> None:
    loop = model(script="n = n + 1 if n else 1", condition="n &lt; 100000").replace(
        b'targetRef="pedir">', b'targetRef="calcular">'
    )
    bundle = deploy(loop)
    with pytest.raises(ProcessDefinitionError, match="passos automáticos") as err:
        runtime.start(bundle, {"n": 0})
    assert err.value.element_id in {"calcular", "decidir"}


def test_deep_or_recursive_form_files_are_refused_with_a_message() -> None:
    deep = "[" * 100_000 + "]" * 100_000
    with pytest.raises(ProcessDefinitionError, match="aninhamento"):
        forms.load_form_from_texts(deep, "{}", "f.json")
    with pytest.raises(ProcessDefinitionError, match="aninhamento"):
        specs.parse_process(model(), {"f.json": deep})
    problems = validate_model(model(), {"f.json": deep}).problems
    assert any("aninhamento" in p.message for p in problems)
    recursive = json.dumps(
        {"type": "object", "properties": {"a": {"type": "string"}}, "allOf": [{"$ref": "#"}]}
    )
    with pytest.raises(ProcessDefinitionError, match="refere-se a si mesmo"):
        forms.load_form_from_texts(recursive, "{}", "f.json")


# --- timers ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ('"P99999999999999D"', "5 anos"),
        ('"P99999999999Y"', "5 anos"),  # SpiffWorkflow would loop month by month
        ('"P6Y"', "5 anos"),
        ('"PT99999999999H"', "5 anos"),
        ('"PT10D"', "não é uma duração ISO 8601 válida"),
        ("42", "texto ISO 8601"),
    ],
)
def test_timer_durations_out_of_bounds_are_refused_at_deploy(value: str, message: str) -> None:
    with pytest.raises(ProcessDefinitionError) as err:
        deploy(model(timer=value))
    assert err.value.element_id == "prazo"
    assert message in err.value.message


def test_sane_timers_deploy_and_start() -> None:
    for value in ('"P10D"', '"PT4H"', '"P5Y"', '"P1Y2M3DT4H"', "prazo_texto"):
        bundle = deploy(model(timer=value, script="prazo_texto = 'P2D'"))
        wf = runtime.start(bundle)
        assert runtime.ready_human_tasks(wf)


def test_repetitions_and_dates_have_bounds_too() -> None:
    cycle = CycleTimerEventDefinition("c", "x")
    date = TimeDateEventDefinition("d", "x")
    for ok in ("R3/P1D", "R1000/PT1H", "R2/2026-12-01T09:00:00+00:00/P1D"):
        durations.check(cycle, ok)
    for bad, message in (
        ("R/PT1S", "quantas vezes"),
        ("R1001/P1D", "quantas vezes"),
        ("R5/PT30M", "pelo menos 1 hora"),
        ("R5/P99999999999Y", "5 anos"),
        ("R5/xyz", "não é uma data ISO 8601"),
    ):
        with pytest.raises(durations.TimerValueRejected, match=message):
            durations.check(cycle, bad)
    durations.check(date, "2026-12-01T09:00:00-03:00")
    with pytest.raises(durations.TimerValueRejected, match="é uma duração"):
        durations.check(date, "P10D")


def test_a_timer_value_from_task_data_is_checked_when_armed() -> None:
    # The name is a constant-free expression: it passes deploy, its value comes at run time.
    # Before, SpiffWorkflow walked a trillion months here: the start never returned.
    bundle = deploy(model(timer="prazo_texto", script="prazo_texto = 'P99999999999Y'"))
    with pytest.raises(ProcessDefinitionError, match="5 anos") as err:
        runtime.start(bundle)
    assert err.value.element_id == "prazo"


# --- names typed by staff --------------------------------------------------------------------


def test_names_with_a_nul_are_field_messages_on_every_database(svc: Chamados) -> None:
    # PostgreSQL refuses a NUL in text, even in the query looking for a twin: these were
    # 500s there, whatever SQLite accepted.
    from engine import catalogs, tokens
    from engine.errors import ValidationFailed
    from tests.conftest import add_person

    dora = add_person(svc, "12345678909", "Dora Projetista", "designer")
    checks = (
        (lambda s: tokens.create_token(s, dora.id, "meu\x00token", dora.id, svc.clock()), "name"),
        (lambda s: catalogs.add_item(s, "tipo_problema", "Erro\x00", None, None), "label"),
        (lambda s: catalogs.add_item(s, "tipo_problema", "Novo", "Ajuda\x00", None), "help"),
    )
    for action, field in checks:
        with pytest.raises(ValidationFailed) as err, svc.unit.transaction() as session:
            action(session)
        assert "U+0000" in err.value.errors[field]
    designer = svc.designer
    with pytest.raises(ValidationFailed) as err:
        designer.create_model(dora, "processo_novo", "Nome\x00")
    assert "U+0000" in err.value.errors["name"]
    with pytest.raises(ValidationFailed) as err:
        designer.save_scenario(dora, "chamado", "Cenário\x00", "[]", "fim_resolvido")
    assert "U+0000" in err.value.errors["name"]
