"""Scripts in the Python designers write, sandboxed (engine.scripting, RestrictedPython).

What deploys is what runs: the same compiler checks a model at deploy and runs it. The
constructs SpiffArena models use run; files, imports, dunders and the host are refused at
deploy in Portuguese, naming the line; runaway scripts stop as a technical incident.
"""

from __future__ import annotations

import io
from datetime import datetime, timedelta
from typing import Any
from xml.sax.saxutils import escape

import pytest
from flask import Flask
from flask.testing import FlaskClient

from engine import scripting
from engine.designer.validation import validate_model
from tests.model_files import chain, model, script_task
from tests.test_designer import app, csrf_of, dora_web  # noqa: F401 - fixtures
from tests.test_incidents import FIXED, SENT, World, assert_in_incident, loop_model, world  # noqa: F401

# Constructs counted in SpiffArena's public models (issue #10), most frequent first.
SPIFFARENA_SCRIPT = """
vencimento = datetime.now() + timedelta(days=prazo_dias)
pessoa = get_current_user()
nome = pessoa.get("name") if pessoa else "anônimo"
itens.append({"codigo": "X1", "qtd": 2})
del rascunho
primeiro = itens[0]["codigo"]
resumo = {"total": len(itens), "por": nome}
if resumo["total"] > 1:
    faixa = "varios"
else:
    faixa = "um"
mensagem = f"{nome}: {len(itens)} itens até {vencimento:%d/%m/%Y}"
resumo["faixa"] = faixa
for item in itens:
    item["ok"] = item["qtd"] > 0
codigos = [i["codigo"] for i in itens if i["ok"]]
contagem = {c: codigos.count(c) for c in codigos}
try:
    taxa = 10 / zero
except ZeroDivisionError:
    taxa = None
def dobro(x):
    return x * 2
d = dobro(21)
contador = 0
contador += 1
resumo["faixa"] += "!"
hoje = date.today().isoformat()
lido = datetime.strptime("2024-03-01", "%Y-%m-%d")
dinheiro = float(decimal.Decimal("10.25") * 2)
agora = round(time.time()) > 0
texto = json.dumps({"a": 1})
"""


def run(script: str, data: dict[str, Any], user: dict[str, Any] | None = None) -> dict[str, Any]:
    context = dict(data)
    with scripting.acting_as(user):
        scripting.RestrictedEnvironment().execute(script, context)
    return context


def test_the_python_of_spiffarena_models_runs() -> None:
    before = {"prazo_dias": 3, "itens": [{"codigo": "A", "qtd": 1}], "rascunho": "x", "zero": 0}
    shared = before["itens"]
    after = run(SPIFFARENA_SCRIPT, before, {"id": 7, "name": "Ana Souza", "email": None})
    assert "rascunho" not in after
    assert after["nome"] == "Ana Souza" and after["pessoa"]["id"] == 7
    assert after["codigos"] == ["A", "X1"] and after["contagem"] == {"A": 1, "X1": 1}
    assert after["resumo"] == {"total": 2, "por": "Ana Souza", "faixa": "varios!"}
    assert after["mensagem"].startswith("Ana Souza: 2 itens até ")
    assert after["taxa"] is None and after["d"] == 42 and after["contador"] == 1
    assert isinstance(after["vencimento"], datetime)
    assert after["lido"] == datetime(2024, 3, 1) and after["dinheiro"] == 20.5
    assert after["agora"] is True and after["texto"] == '{"a": 1}'
    assert "dobro" not in after and "datetime" not in after  # functions and names stay out
    # Task data is shared by shallow copy with completed tasks: their history is intact.
    assert shared == [{"codigo": "A", "qtd": 1}]


def test_both_spellings_of_datetime_work_and_a_timer_sees_no_user() -> None:
    after = run("a = datetime.datetime(2024, 1, 2)\nb = datetime(2024, 1, 2)", {})
    assert after["a"] == after["b"] == datetime(2024, 1, 2)
    assert run("u = get_current_user()", {})["u"] is None
    assert run("d = timedelta(hours=1) * 2", {})["d"] == timedelta(hours=2)


ESCAPES = {
    "file": ("x = open('/etc/passwd').read()", "'open' não está disponível"),
    "import": ("import os", "importações não são permitidas"),
    "from_import": ("from os import system", "importações não são permitidas"),
    "dunder_import": ("x = __import__('os')", "nome não permitido '__import__'"),
    "class_escape": (
        "x = ().__class__.__base__.__subclasses__()",
        "atributo '__subclasses__' não é permitido",
    ),
    "dunder_attr": ("x = get_current_user.__globals__", "atributo '__globals__'"),
    "getattr": ("x = getattr((), '__class__')", "'getattr' não está disponível"),
    "format_escape": ("x = '{0.__class__}'.format(1)", ".format() não é permitido"),
    "eval": ("x = eval('1')", "'eval' não está disponível"),
    "class": ("class A:\n    pass", "classes não são permitidas"),
    "with": ("with x:\n    pass", "'with' não é permitido"),
    "global": ("def f():\n    global y\n    y = 1", "'global' não é permitido"),
    "private_name": ("_x = 1", "nome não permitido '_x'"),
    "frame": ("g = (i for i in [1])\nx = g.gi_frame", "construção não permitida"),
}


@pytest.mark.parametrize("case", sorted(ESCAPES))
def test_escapes_are_refused_at_deploy_naming_the_line(case: str) -> None:
    source, message = ESCAPES[case]
    with pytest.raises(scripting.ExpressionRejected) as err:
        scripting.compile_script(source)
    assert message in str(err.value)
    assert str(err.value).startswith("Linha ")
    # The model names the element, in Portuguese.
    result = validate_model(model(chain(script_task("Script_mau", source))).encode(), {})
    assert [p.element_id for p in result.problems] == ["Script_mau"]


@pytest.mark.parametrize(
    ("source", "words"),
    [
        ("${aprovado}", "expressão do Camunda (JUEL); a plataforma usa Python"),
        ("#{valor > 10}", "expressão do Camunda (JUEL)"),
        ("= valor > 10", "FEEL do Camunda 8 (Zeebe); a plataforma usa Python"),
    ],
)
def test_camunda_and_zeebe_expressions_are_told_the_platform_speaks_python(
    source: str, words: str
) -> None:
    with pytest.raises(scripting.ExpressionRejected, match=r".*") as err:
        scripting.compile_expression(source)
    assert words in str(err.value)
    gateway = (
        '<bpmn:exclusiveGateway id="Gateway_1" default="f_default">{flows}</bpmn:exclusiveGateway>'
    )
    xml = model(chain(gateway)).replace(
        '<bpmn:sequenceFlow id="f1" sourceRef="Gateway_1" targetRef="end"/>',
        '<bpmn:sequenceFlow id="f1" sourceRef="Gateway_1" targetRef="end">'
        f"<bpmn:conditionExpression>{escape(source)}</bpmn:conditionExpression>"
        "</bpmn:sequenceFlow>"
        '<bpmn:sequenceFlow id="f_default" sourceRef="Gateway_1" targetRef="end"/>',
    )
    xml = xml.replace(
        "<bpmn:outgoing>f1</bpmn:outgoing></bpmn:exclusiveGateway>",
        "<bpmn:outgoing>f1</bpmn:outgoing><bpmn:outgoing>f_default</bpmn:outgoing>"
        "</bpmn:exclusiveGateway>",
    )
    problems = validate_model(xml.encode(), {}).problems
    assert [p.element_id for p in problems] == ["Gateway_1"], problems
    assert words in problems[0].message


RUNAWAYS = {
    "while": ("while True:\n    pass", "repetições"),
    "nested_comprehension": (
        "x = [i for i in range(100000) for j in range(100000)]",
        "repetições",
    ),
    "recursion": ("def f(n):\n    return f(n + 1)\nf(0)", "umas dentro das outras"),
    "fanout": (
        "def f(n):\n    return 0 if n == 0 else f(n - 1) + f(n - 1)\nx = f(60)",
        "interrompido",
    ),
    "repeat": ("x = 'a' * 10 ** 9", "nada foi calculado"),
    "power": ("x = 7 ** 10 ** 7", "bits"),
    "shift": ("x = 1 << 10 ** 9", "bits"),
    "join": ("x = '-'.join(['a' * 100000] * 100000)", "nada foi calculado"),
    "ljust": ("x = 'a'.ljust(10 ** 9)", "nada foi calculado"),
    "replace": ("x = ('a' * 100000).replace('a', 'a' * 100000)", "nada foi calculado"),
    "extend": ("l = [1]\nfor i in range(40):\n    l.extend(l)", "nada foi calculado"),
    "inplace_list": ("l = [1]\nfor i in range(40):\n    l += l", "nada foi calculado"),
    "range": ("x = list(range(10 ** 9))", "nada foi calculado"),
    "sum_lists": ("x = sum([[1] * 1000] * 100000, [])", "apenas números"),
    "decimal_int": ("x = int(decimal.Decimal('1e999999'))", "bits"),
}


@pytest.mark.parametrize("case", sorted(RUNAWAYS))
def test_runaway_scripts_are_stopped_and_write_nothing(case: str) -> None:
    source, words = RUNAWAYS[case]
    scripting.compile_script(source)  # valid Python the sandbox accepts: bounded when run
    context = {"antes": 1}
    with pytest.raises(scripting.LimitExceeded) as err:
        scripting.RestrictedEnvironment().execute(source, context)
    assert words in str(err.value)
    assert context == {"antes": 1}


def test_cpu_budget_stops_work_no_other_budget_catches(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(scripting, "MAX_ITERATIONS", 10**9)
    monkeypatch.setattr(scripting, "MAX_CPU_SECONDS", 0.05)
    with pytest.raises(scripting.LimitExceeded, match="s de processamento"):
        scripting.RestrictedEnvironment().execute("while True:\n    pass", {})


def test_print_output_is_capped_and_kept_out_of_the_data(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level("INFO", logger="engine.scripting")
    after = run("for i in range(5000):\n    print('x' * 100)\nfeito = True", {})
    assert after == {"i": 4999, "feito": True}  # no "printed", no "_print"
    (logged,) = [r.getMessage() for r in caplog.records if r.name == "engine.scripting"]
    assert "xxxx" in logged and len(logged) <= scripting.MAX_OUTPUT + 100


def test_values_the_workflow_cannot_save_are_refused() -> None:
    with pytest.raises(scripting.ExpressionRejected, match="Decimal"):
        run("x = decimal.Decimal('1.5')", {})
    with pytest.raises(scripting.ExpressionRejected, match="não pode ser guardado"):
        run("x = {1: 'a'}", {})


def test_a_runaway_script_in_a_published_model_is_a_technical_incident(
    world: World,  # noqa: F811
) -> None:
    w = world
    w.publish("laco", loop_model("laco", "task", script="while True:\n    n = n + 1"), "Laço")
    chamado, first = w.svc.requests.start_instance(w.maria, "laco")
    assert first is not None
    w.svc.requests.complete_task(w.maria, first.id, SENT, chamado.version)
    assert_in_incident(w, chamado.id, {"contar"}, "repetições")


def test_a_published_spiffarena_script_runs_as_the_person_who_acted(
    world: World,  # noqa: F811
) -> None:
    w = world
    script = "n = n + 1\nquem = get_current_user()['name']\nem = datetime.now().year"
    w.publish("laco", loop_model("laco", "task", FIXED, script=escape(script)), "Script")
    chamado, first = w.svc.requests.start_instance(w.maria, "laco")
    assert first is not None
    w.svc.requests.complete_task(w.maria, first.id, SENT, chamado.version)
    data = w.workflow_data(chamado.id)
    assert data["quem"] == "Maria da Silva" and data["n"] == int(FIXED)
    assert w.ticket(chamado.id).incident_at is None


def test_xxe_in_an_uploaded_model_is_refused_and_reads_no_file(
    app: Flask,  # noqa: F811
    dora_web: FlaskClient,  # noqa: F811
) -> None:
    evil = (
        '<?xml version="1.0"?><!DOCTYPE d [<!ENTITY xxe SYSTEM "file:///etc/hostname">]>'
        + model(chain(script_task("Script_1", "a = 1")))
        .split("?>", 1)[1]
        .replace('id="Process_1"', 'id="chamado" name="&xxe;"')
    )
    resp = dora_web.post(
        "/processos/chamado/importar",
        data={"csrf_token": csrf_of(dora_web), "arquivo": (io.BytesIO(evil.encode()), "x.bpmn")},
        headers={"Accept": "application/json"},
        content_type="multipart/form-data",
    )
    assert resp.status_code == 422
    body = resp.get_data(as_text=True)
    assert "DOCTYPE" in body or "XML malformado" in body  # lxml refuses either way
    hostname = open("/etc/hostname").read().strip()  # noqa: SIM115 - the secret the attack wants
    assert hostname not in body


def test_deploy_and_run_agree() -> None:
    """Every source the deploy check accepts runs without a compile-time refusal, and
    every refused one is refused by the runtime too (one compiler for both)."""
    sources = [SPIFFARENA_SCRIPT, *[s for s, _w in ESCAPES.values()]]
    for source in sources:
        try:
            scripting.compile_script(source)
            accepted = True
        except scripting.ExpressionRejected:
            accepted = False
        env = scripting.RestrictedEnvironment()
        context = {"prazo_dias": 1, "itens": [], "rascunho": 1, "zero": 0}
        try:
            env.execute(source, context)
            refused_at_run = False
        except scripting.ExpressionRejected as exc:
            refused_at_run = not isinstance(exc, scripting.LimitExceeded)
        except Exception:  # noqa: BLE001 - a guard stopped it while running
            refused_at_run = False
        assert accepted != refused_at_run, source


def test_a_failing_script_is_reported_in_portuguese_with_its_line_and_python_error() -> None:
    from engine import runtime, specs
    from engine.errors import ModelRuntimeError

    xml = model(chain(script_task("Script_1", "a = 1\nb = dados['falta']")))
    bundle = specs.parse_process(xml.encode(), {})
    with pytest.raises(ModelRuntimeError) as err:
        runtime.start(bundle, {"dados": {}})
    assert err.value.element_id == "Script_1"
    assert err.value.message == (
        "O processo não pôde continuar no elemento Script_1: o script ou a expressão falhou "
        "na linha 2 com KeyError: 'falta'. Avise a equipe responsável pelo modelo."
    )


def test_an_unknown_name_is_explained_in_portuguese() -> None:
    # A helper of SpiffArena's own backend that reaches its services is not offered.
    from engine import runtime, specs
    from engine.errors import ModelRuntimeError

    xml = model(chain(script_task("Script_1", "x = get_secret('b')")))
    bundle = specs.parse_process(xml.encode(), {})
    with pytest.raises(ModelRuntimeError) as err:
        runtime.start(bundle, {})
    assert err.value.message == (
        "O processo não pôde continuar no elemento Script_1: o script ou a expressão falhou "
        "na linha 1 com NameError: o nome 'get_secret' não existe nos "
        "dados da instância nem entre as funções oferecidas aos scripts. Avise a equipe "
        "responsável pelo modelo."
    )


def test_a_gateway_no_flow_leaves_is_reported_in_portuguese() -> None:
    from engine import runtime, specs
    from engine.errors import ModelRuntimeError

    gateway = '<bpmn:exclusiveGateway id="Gateway_1">{flows}</bpmn:exclusiveGateway>'
    xml = model(chain(gateway)).replace(
        '<bpmn:sequenceFlow id="f1" sourceRef="Gateway_1" targetRef="end"/>',
        '<bpmn:sequenceFlow id="f1" sourceRef="Gateway_1" targetRef="end">'
        "<bpmn:conditionExpression>1 == 2</bpmn:conditionExpression></bpmn:sequenceFlow>",
    )
    bundle = specs.parse_process(xml.encode(), {})
    with pytest.raises(ModelRuntimeError) as err:
        runtime.start(bundle)
    assert err.value.element_id == "Gateway_1"
    assert "nenhuma condição de saída do gateway valeu" in err.value.message
    assert "No conditions" not in err.value.message
