"""A SpiffArena process-model folder, zipped, imported from the "Processos" page as a new
model's draft ("Importar pasta"): a drawing marked ``isExecutable="false"`` comes in with
its forms and decision tables, saved with its problems to finish in the modeler; what is
no model at all, an existing model's id, a file that is not a zip, or no file, is refused
on the page with the reason and nothing is created. The whole story, in a browser, is
tests/test_designer_story_browser.py."""

from __future__ import annotations

import io
import json
import zipfile

import pytest
from flask import Flask
from flask.testing import FlaskClient

from engine.designer import ModelRejected
from engine.designer.folder import read_zip
from engine.errors import Conflict, Forbidden
from engine.service import Chamados
from tests.story_folder import METADATA, SCHEMA, STARTING_BPMN, UI_SCHEMA
from tests.test_designer import DORA, client_for, csrf_of, web_actor
from tests.test_designer import app as app  # noqa: F401 - the fixture, used by name

TABLE = """<?xml version="1.0" encoding="UTF-8"?>
<definitions xmlns="https://www.omg.org/spec/DMN/20191111/MODEL/" id="D" name="t"
  namespace="http://camunda.org/schema/1.0/dmn"><decision id="tabela" name="Tabela">
  <decisionTable id="T"><input id="I" label="Valor"><inputExpression id="E" typeRef="number">
  <text>valor</text></inputExpression></input>
  <output id="O" label="R" name="resultado" typeRef="string" />
  <rule id="R1"><inputEntry id="IE"><text>-</text></inputEntry>
  <outputEntry id="OE"><text>"x"</text></outputEntry></rule></decisionTable></decision>
</definitions>
"""


def zipped(files: dict[str, str]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, text in files.items():
            archive.writestr(f"pedido/{name}", text)
    return buffer.getvalue()


def folder_files() -> dict[str, str]:
    return {
        "process_model.json": json.dumps(METADATA),
        "pedido.bpmn": STARTING_BPMN,
        "pedido-schema.json": json.dumps(SCHEMA),
        "pedido-uischema.json": json.dumps(UI_SCHEMA),
        "tabela.dmn": TABLE,
    }


def upload(client: FlaskClient, data: bytes, filename: str = "pedido.zip") -> object:
    return client.post(
        "/processos/importar-pasta",
        data={"csrf_token": csrf_of(client), "pasta": (io.BytesIO(data), filename)},
        content_type="multipart/form-data",
    )


def test_a_not_executable_folder_becomes_a_draft_with_its_files(app: Flask) -> None:  # noqa: F811
    svc: Chamados = app.extensions["chamados"]
    dora = client_for(app, DORA, "Dora Projetista", "designer")
    resp = upload(dora, zipped(folder_files()))
    assert resp.status_code == 302, resp.get_data(as_text=True)[:2000]
    assert resp.headers["Location"].endswith("/processos/Process_1")
    page = dora.get("/processos/Process_1").get_data(as_text=True)
    assert "Pasta importada como rascunho" in page
    assert "está marcado como não executável" in page  # to switch on in the modeler's panel
    # and what else is left to do is listed already, not only once it is switched on
    assert "Tarefa de regra de negócio sem a tabela de decisão" in page
    # A task without a form is valid (instructions and "Concluir"): not drawn as an error.
    assert "sem formulário: mostra as instruções e “Concluir”" in page
    assert "bg-danger" not in page
    draft = svc.designer.draft(web_actor(app, DORA), "Process_1")
    assert draft.name == "Pedido de compra" and draft.version == 1
    assert draft.bpmn_xml == STARTING_BPMN  # nothing renamed or rewritten
    assert json.loads(draft.forms["pedido-schema.json"]) == SCHEMA
    assert json.loads(draft.forms["pedido-uischema.json"]) == UI_SCHEMA
    assert draft.forms["tabela.dmn"] == TABLE  # a table no task calls yet comes too
    # The same folder again: the model exists, its draft is kept.
    again = upload(dora, zipped(folder_files()))
    assert again.status_code == 409
    assert "Já existe um modelo com o identificador Process_1" in again.get_data(as_text=True)
    assert svc.designer.draft(web_actor(app, DORA), "Process_1").version == 1


@pytest.mark.parametrize(
    ("data", "filename", "message"),
    [
        (b"", "", "Escolha o arquivo .zip da pasta do modelo."),
        (b"<x/>", "pedido.bpmn", "A pasta do modelo deve vir num arquivo .zip."),
        (b"not a zip", "pedido.zip", "o arquivo não é um zip válido."),
        (zipped({"pedido-schema.json": "{}"}), "p.zip", "nenhum arquivo .bpmn encontrado."),
        (
            zipped({"a.bpmn": STARTING_BPMN, "b.bpmn": STARTING_BPMN}),
            "p.zip",
            "O arquivo principal não foi indicado",
        ),
        (
            zipped({"p.bpmn": STARTING_BPMN.replace('id="Process_1"', 'id="1 processo"')}),
            "p.zip",
            "Id de processo inválido",
        ),
    ],
)
def test_what_is_no_model_is_refused_on_the_page(
    app: Flask,  # noqa: F811
    data: bytes,
    filename: str,
    message: str,
) -> None:
    svc: Chamados = app.extensions["chamados"]
    dora = client_for(app, DORA, "Dora Projetista", "designer")
    before = [m.process_id for m in svc.designer.models(web_actor(app, DORA))]
    resp = upload(dora, data, filename)
    body = resp.get_data(as_text=True)
    assert resp.status_code == 422, body[:2000]
    assert "A pasta não foi importada:" in body and message in body
    assert [m.process_id for m in svc.designer.models(web_actor(app, DORA))] == before


def test_only_designers_import(app: Flask) -> None:  # noqa: F811
    svc: Chamados = app.extensions["chamados"]
    analyst = client_for(app, "11144477735", "Ana Souza", "analyst")
    assert upload(analyst, zipped(folder_files())).status_code == 403
    with pytest.raises(Forbidden):
        svc.designer.import_folder(
            web_actor(app, "11144477735"), read_zip("p.zip", zipped(folder_files()))
        )


def test_the_engine_refuses_a_folder_without_any_process(app: Flask) -> None:  # noqa: F811
    svc: Chamados = app.extensions["chamados"]
    client_for(app, DORA, "Dora Projetista", "designer")  # Dora exists
    only_messages = STARTING_BPMN.split("<bpmn:process")[0] + "</bpmn:definitions>"
    with pytest.raises(ModelRejected) as refused:
        svc.designer.import_folder(
            web_actor(app, DORA), read_zip("p.zip", zipped({"p.bpmn": only_messages}))
        )
    assert "não tem nenhum processo" in refused.value.problems[0].message
    svc.designer.import_folder(web_actor(app, DORA), read_zip("p.zip", zipped(folder_files())))
    with pytest.raises(Conflict):
        svc.designer.import_folder(web_actor(app, DORA), read_zip("p.zip", zipped(folder_files())))
