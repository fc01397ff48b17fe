"""SpiffArena's tasks as they are: ids as written, tasks without forms, camelCase forms.

A manual task has no form in SpiffArena: the person reads its ``instructionsForEndUser``
(markdown) and continues. Forms are react-jsonschema-form files with camelCase names and
no top-level ``"type"``; a form without ``ui:steps`` is one page.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from xml.sax.saxutils import escape

import pytest
from flask import Flask

from engine.designer import ModelRejected
from engine.service import Chamados
from tests.conftest import MARIA
from tests.model_files import chain, model
from tests.test_incidents import World, logged_in

INSTRUCTIONS = (
    "## Antes de continuar\n\n"
    "Leia **com atenção**, {{ nome_exibido }}:\n\n"
    "- item um\n- [manual](https://www.gov.br/manual)\n\n"
    "<script>alert('x')</script> [mau](javascript:alert(1))"
)
MANUAL = (
    '<bpmn:manualTask id="Activity_ler" name="Ler as orientações">{flows}'
    "<bpmn:extensionElements><spiffworkflow:instructionsForEndUser>"
    f"{escape(INSTRUCTIONS)}</spiffworkflow:instructionsForEndUser>"
    "</bpmn:extensionElements></bpmn:manualTask>"
)
USER_FORM = (
    '<bpmn:userTask id="Activity_dados" name="Seus dados">{flows}'
    "<bpmn:extensionElements><spiffworkflow:properties>"
    '<spiffworkflow:property name="formJsonSchemaFilename" value="dados-schema.json"/>'
    '<spiffworkflow:property name="formUiSchemaFilename" value="dados-uischema.json"/>'
    "</spiffworkflow:properties></bpmn:extensionElements></bpmn:userTask>"
)
# As SpiffArena's form builder writes them: camelCase, no top-level "type".
SCHEMA = {
    "title": "Seus dados",
    "properties": {
        "firstName": {"type": "string", "title": "Nome", "maxLength": 100},
        "ageInYears": {"type": "integer", "title": "Idade", "minimum": 0, "maximum": 150},
    },
    "required": ["firstName"],
}
UI = {"ui:order": ["firstName", "ageInYears"]}
SCRIPT = (
    '<bpmn:scriptTask id="Activity_nome">{flows}'
    '<bpmn:script>nome_exibido = "Maria"</bpmn:script></bpmn:scriptTask>'
)
PID = "Process_1"


def spiffarena_model() -> str:
    return model(chain(SCRIPT, MANUAL, USER_FORM), process_id=PID)


def publish(w: World) -> None:
    w.designer.create_model(w.dora, PID, "Importado do SpiffArena")
    draft = w.designer.draft(w.dora, PID)
    xml = spiffarena_model()
    forms = {"dados-schema.json": json.dumps(SCHEMA), "dados-uischema.json": json.dumps(UI)}
    with w.svc.unit.transaction() as session:  # the form files travel with the model
        from engine.designer import drafts

        drafts.save(
            session, draft, draft.version, None, w.svc.clock(), bpmn_xml=xml, form_texts=forms
        )
    draft = w.designer.draft(w.dora, PID)
    assert w.designer.model(w.dora, PID).problems == []
    w.designer.publish(w.dora, PID, draft.version, "SpiffArena")


def test_process_ids_are_kept_as_written(svc: Chamados) -> None:
    w = World(svc)
    for pid in ("Process_1", "LoopingChild", "_privado", "proc.v2-final"):
        assert w.designer.create_model(w.dora, pid, pid).process_id == pid
    for bad in ("1abc", "a b", "a/b", "x" * 101, "ação:1"):
        with pytest.raises(Exception) as err:
            w.designer.create_model(w.dora, bad, "x")
        assert "Process_1" in str(getattr(err.value, "errors", {}).get("process_id", err.value))


def test_a_manual_task_without_form_and_a_camelcase_form_run_to_the_end(svc: Chamados) -> None:
    w = World(svc)
    publish(w)
    chamado, first = svc.requests.start_instance(w.maria, PID)
    assert first is not None and first.task_name == "Activity_ler"
    form = svc.requests.task_form(w.maria, first.id)
    assert form.submit_label == "Concluir"
    assert "Leia **com atenção**, Maria:" in (form.instructions or "")
    chamado = svc.requests.complete_task(w.maria, first.id, {}, chamado.version)
    second = next(t for t in w.open_tasks(chamado.id))
    assert second.task_name == "Activity_dados"
    with pytest.raises(Exception) as err:  # camelCase fields are validated as declared
        svc.requests.complete_task(w.maria, second.id, {"ageInYears": 200}, chamado.version)
    assert set(err.value.errors) == {"firstName", "ageInYears"}  # type: ignore[attr-defined]
    data = {"firstName": "Maria", "ageInYears": 40}
    chamado = svc.requests.complete_task(w.maria, second.id, data, chamado.version)
    assert w.ticket(chamado.id).closed_at is not None
    with svc.unit.session_factory() as s:
        from engine import runtime
        from engine.models import Chamado

        row = s.get(Chamado, chamado.id)
        assert row is not None
        bundle = svc.unit.bundle(s, row.process_version_id)
        final = runtime.load(bundle, row.workflow_state).last_task.data
    assert final["firstName"] == "Maria" and final["ageInYears"] == 40


def test_a_user_task_naming_only_a_ui_file_is_refused(svc: Chamados) -> None:
    w = World(svc)
    w.designer.create_model(w.dora, PID, "x")
    only_ui = USER_FORM.replace(
        '<spiffworkflow:property name="formJsonSchemaFilename" value="dados-schema.json"/>', ""
    )
    draft = w.designer.draft(w.dora, PID)
    saved = w.designer.save_model(w.dora, PID, model(chain(only_ui), process_id=PID), draft.version)
    assert [p.element_id for p in saved.problems] == ["Activity_dados"]  # saved, listed
    with pytest.raises(ModelRejected) as err:  # and it cannot be published
        w.designer.publish(w.dora, PID, saved.version, "só o UI")
    assert [p.element_id for p in err.value.problems] == ["Activity_dados"]


@pytest.fixture
def app(tmp_path: Path) -> Iterator[Flask]:
    from tests.test_api import build_app

    app = build_app(tmp_path)
    yield app
    app.extensions["chamados"].unit.db.dispose()


def test_the_page_shows_the_instructions_as_safe_markdown_and_concluir(app: Flask) -> None:
    svc: Chamados = app.extensions["chamados"]
    w = World(svc)
    publish(w)
    maria = logged_in(app, MARIA, "Maria da Silva")
    chamado, first = svc.requests.start_instance(w.maria, PID)
    assert first is not None
    page = maria.get(f"/tarefas/{first.id}").get_data(as_text=True)
    assert "<h2>Antes de continuar</h2>" in page
    assert "<strong>com atenção</strong>, Maria:" in page
    assert '<a href="https://www.gov.br/manual" rel="noopener noreferrer nofollow">' in page
    assert "<script>alert" not in page and 'href="javascript:' not in page
    assert "&lt;script&gt;alert" in page  # shown as the text it is
    assert 'value="submit"' in page and "Concluir" in page
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert token
    resp = maria.post(
        f"/tarefas/{first.id}",
        data={
            "csrf_token": token.group(1),
            "version": str(chamado.version),
            "_step": "formulario",
            "_action": "submit",
        },
    )
    assert resp.status_code == 302, resp.get_data(as_text=True)[:2000]
    (task,) = w.open_tasks(chamado.id)
    assert task.task_name == "Activity_dados"
    page = maria.get(f"/tarefas/{task.id}").get_data(as_text=True)
    assert 'name="firstName"' in page and 'name="ageInYears"' in page


def test_a_plain_task_is_a_step_the_requester_concludes(svc: Chamados) -> None:
    w = World(svc)
    plain = '<bpmn:task id="Activity_fazer" name="Fazer a entrega">{flows}</bpmn:task>'
    w.publish("Simples", model(chain(plain), process_id="Simples"), "Tarefa simples")
    chamado, first = svc.requests.start_instance(w.maria, "Simples")
    assert first is not None and first.task_name == "Activity_fazer"
    assert svc.requests.task_form(w.maria, first.id).submit_label == "Concluir"
    chamado = svc.requests.complete_task(w.maria, first.id, {"ignorado": 1}, chamado.version)
    assert w.ticket(chamado.id).closed_at is not None


# SpiffArena's dot notation ("fatura.valor" nests under "fatura") and its script helpers
# about the running instance, as its models call them.
DOTTED_SCHEMA = {
    "title": "Fatura",
    "required": ["fatura.valor", "fatura.vencimento"],
    "properties": {
        "fatura.valor": {"type": "integer", "title": "Valor", "minimum": 1},
        "fatura.vencimento": {"type": "string", "title": "Vencimento", "maxLength": 20},
        "fatura.observacao": {"type": "string", "title": "Observação", "maxLength": 200},
    },
}
DOTTED_TASK = (
    USER_FORM.replace("Activity_dados", "Activity_fatura")
    .replace("dados-schema.json", "fatura-schema.json")
    .replace(
        '<spiffworkflow:property name="formUiSchemaFilename" value="dados-uischema.json"/>', ""
    )
)
HELPERS_SCRIPT = (
    'quem_fatura = get_last_user_completing_task("misc/fatura", "Activity_fatura")["name"]\n'
    'quem_agora = get_last_user_completing_task("misc/fatura", "Activity_conferir")["name"]\n'
    'ninguem = get_last_user_completing_task("misc/fatura", "Activity_nunca")\n'
    'iniciador = get_process_initiator_user()["name"]\n'
    "info = get_process_info()\n"
    "site = get_frontend_url()\n"
    'dobro = fatura["valor"] * 2\n'
    'seguro = sanitize_for_md(fatura["observacao"])'
)
CONFERIR = (
    '<bpmn:manualTask id="Activity_conferir" name="Conferir">{flows}'
    "<bpmn:extensionElements><spiffworkflow:instructionsForEndUser>"
    + escape(
        "Valor: {{ fatura.valor }}; nota: {{ fatura.observacao | sanitize_for_md }} / "
        "{{ sanitize_for_md(fatura.observacao) }}"
    )
    + "</spiffworkflow:instructionsForEndUser>"
    f"<spiffworkflow:postScript>{escape(HELPERS_SCRIPT)}</spiffworkflow:postScript>"
    "</bpmn:extensionElements></bpmn:manualTask>"
)
NEVER = '<bpmn:manualTask id="Activity_nunca" name="Nunca">{flows}</bpmn:manualTask>'


def publish_dotted(
    w: World, schema: dict[str, object] = DOTTED_SCHEMA, pid: str = "Fatura"
) -> list[str]:
    """Saves the draft (problems listed), publishes it if it has none."""
    w.designer.create_model(w.dora, pid, "Fatura com notação de ponto")
    draft = w.designer.draft(w.dora, pid)
    xml = model(chain(DOTTED_TASK, CONFERIR, NEVER), process_id=pid)
    with w.svc.unit.transaction() as session:
        from engine.designer import drafts

        drafts.save(
            session,
            draft,
            draft.version,
            None,
            w.svc.clock(),
            bpmn_xml=xml,
            form_texts={"fatura-schema.json": json.dumps(schema)},
        )
    problems = [p.message for p in w.designer.model(w.dora, pid).problems]
    if not problems:
        draft = w.designer.draft(w.dora, pid)
        w.designer.publish(w.dora, pid, draft.version, "notação de ponto")
    return problems


def test_dotted_fields_nest_their_answers_and_the_instance_helpers_answer(svc: Chamados) -> None:
    w = World(svc)
    assert publish_dotted(w) == []
    chamado, first = svc.requests.start_instance(w.maria, "Fatura")
    assert first is not None and first.task_name == "Activity_fatura"
    with pytest.raises(Exception) as err:  # each dotted field's error under its own name
        svc.requests.complete_task(
            w.maria, first.id, {"fatura.valor": 0, "fatura.observacao": "x" * 201}, chamado.version
        )
    errors = err.value.errors  # type: ignore[attr-defined]
    assert set(errors) == {"fatura.valor", "fatura.vencimento", "fatura.observacao"}
    answers = {
        "fatura.valor": 150,
        "fatura.vencimento": "2026-12-31",
        "fatura.observacao": "a_b *c*",
    }
    chamado = svc.requests.complete_task(w.maria, first.id, answers, chamado.version)
    data = w.workflow_data(chamado.id)
    assert data["fatura"] == {"valor": 150, "vencimento": "2026-12-31", "observacao": "a_b *c*"}
    assert "fatura.valor" not in data
    (second,) = w.open_tasks(chamado.id)
    form = svc.requests.task_form(w.maria, second.id)
    assert form.instructions == r"Valor: 150; nota: a\_b \*c\* / a\_b \*c\*"
    chamado = svc.requests.complete_task(w.maria, second.id, {}, chamado.version)
    data = w.workflow_data(chamado.id)
    assert data["quem_fatura"] == data["quem_agora"] == data["iniciador"] == "Maria da Silva"
    assert data["ninguem"] is None
    assert data["info"] == {"process_instance_id": chamado.id, "process_model_identifier": "Fatura"}
    assert data["dobro"] == 300 and data["seguro"] == r"a\_b \*c\*"
    assert data["site"] == svc.settings.app_base_url


def test_a_dotted_field_cannot_sit_inside_another_field(svc: Chamados) -> None:
    w = World(svc)
    schema = json.loads(json.dumps(DOTTED_SCHEMA))
    schema["properties"]["fatura"] = {"type": "string", "title": "Fatura"}
    problems = publish_dotted(w, schema)
    assert any("'fatura' e 'fatura." in p for p in problems), problems
    schema = json.loads(json.dumps(DOTTED_SCHEMA))
    schema["properties"]["fatura..x"] = {"type": "string"}
    problems = publish_dotted(w, schema, pid="Fatura2")
    assert any("fatura..x" in p and "separadas por ponto" in p for p in problems), problems


def test_a_dotted_fields_page_posts_nested_and_retention_drops_the_whole_object(
    app: Flask,
) -> None:
    from engine.anonymization import free_text_fields

    svc: Chamados = app.extensions["chamados"]
    w = World(svc)
    assert publish_dotted(w) == []
    maria = logged_in(app, MARIA, "Maria da Silva")
    chamado, first = svc.requests.start_instance(w.maria, "Fatura")
    assert first is not None
    page = maria.get(f"/tarefas/{first.id}").get_data(as_text=True)
    assert 'name="fatura.valor"' in page and 'for="f-fatura.valor"' in page
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert token
    resp = maria.post(
        f"/tarefas/{first.id}",
        data={
            "csrf_token": token.group(1),
            "version": str(chamado.version),
            "_step": "formulario",
            "_action": "submit",
            "fatura.valor": "42",
            "fatura.vencimento": "amanhã",
        },
    )
    assert resp.status_code == 302, resp.get_data(as_text=True)[:2000]
    assert w.workflow_data(chamado.id)["fatura"] == {"valor": 42, "vencimento": "amanhã"}
    # The free-text answers nest under "fatura" in task data: retention removes the object.
    assert {"fatura", "fatura.vencimento"} <= free_text_fields({"f": DOTTED_SCHEMA})
