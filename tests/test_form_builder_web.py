"""The form builder through the pages (Flask test client, CSRF on): rows posted as plain
fields, the row buttons, per-row messages, saving, switching to the JSON editor and back,
and uploading form files. SQLite by default, PostgreSQL with TEST_DATABASE_URL."""

from __future__ import annotations

import io
import json
import re
from typing import Any

from flask import Flask
from flask.testing import FlaskClient

from tests.test_designer import DORA, client_for, csrf_of
from tests.test_designer import app as app  # noqa: F401  (the designer's fixtures)

EDITOR = "/processos/chamado/formularios/analisar_chamado"
REGISTRAR = "/processos/chamado/formularios/registrar_chamado"


def dora(app: Flask) -> FlaskClient:  # noqa: F811
    return client_for(app, DORA, "Dora Projetista", "designer")


def inputs(page: str) -> dict[str, str]:
    """The builder form's fields as the browser would post them (text, hidden, checked
    boxes, textareas, selected options): what a designer who changes nothing sends."""
    form = page[
        page.index('id="form-editor"') : page.index("</form>", page.index('id="form-editor"'))
    ]
    found: dict[str, str] = {}
    for tag in re.findall(r"<input[^>]*>", form):
        name = re.search(r'name="([^"]+)"', tag)
        if not name:
            continue
        kind = re.search(r'type="([^"]+)"', tag)
        if kind and kind.group(1) == "checkbox" and " checked" not in tag:
            continue
        value = re.search(r'value="([^"]*)"', tag, re.S)
        found[name.group(1)] = _unescape(value.group(1) if value else "")
    for name, text in re.findall(r'<textarea[^>]*name="([^"]+)"[^>]*>(.*?)</textarea>', form, re.S):
        found[name] = _unescape(text)
    for name, body in re.findall(r'<select[^>]*name="([^"]+)"[^>]*>(.*?)</select>', form, re.S):
        chosen = re.search(r'<option value="([^"]*)" selected', body)
        found[name] = chosen.group(1) if chosen else ""
    return found


def _unescape(text: str) -> str:
    import html

    return html.unescape(text)


def post(client: FlaskClient, url: str, data: dict[str, Any]) -> Any:
    return client.post(url, data={**data, "csrf_token": csrf_of(client)})


def new_model(client: FlaskClient) -> str:
    """A new model (start → "registrar" → end): its form is the one-field template."""
    resp = post(client, "/processos", {"process_id": "formteste", "name": "Teste de formulário"})
    assert resp.status_code == 302
    return "/processos/formteste/formularios/registrar"


def draft_forms(client: FlaskClient, pid: str) -> dict[str, Any]:
    names = [
        n
        for n in client.get(f"/processos/{pid}/rascunho").get_json()["forms"]
        if n.endswith(".json")
    ]
    return {n: json.loads(client.get(f"/processos/{pid}/arquivos/{n}").data) for n in names}


def test_an_untouched_builder_writes_back_the_same_json(app: Flask) -> None:  # noqa: F811
    client = dora(app)
    before = draft_forms(client, "chamado")
    page = client.get(REGISTRAR).get_data(as_text=True)
    # The builder is the default view; what it cannot represent is named, and kept.
    assert 'aria-current="page">Construtor' in page
    notice = page[page.index('id="json-only"') :]
    for name in ("orgao", "objetivo", "protocolos"):
        assert f"<code>{name}</code>" in notice[: notice.index("</ul>")]
    assert "Editado só no JSON" in page
    resp = post(client, REGISTRAR, {**inputs(page), "_action": "to_json"})
    assert resp.status_code == 200
    shown = resp.get_data(as_text=True)
    assert 'aria-current="page">JSON' in shown
    schema = re.search(r'<textarea id="schema-text"[^>]*>(.*?)</textarea>', shown, re.S)
    ui = re.search(r'<textarea id="ui-text"[^>]*>(.*?)</textarea>', shown, re.S)
    assert schema and ui
    import html

    assert json.loads(html.unescape(schema.group(1))) == before["registrar-chamado-schema.json"]
    assert json.loads(html.unescape(ui.group(1))) == before["registrar-chamado-uischema.json"]
    # Back to the builder with what the JSON editor holds: the same rows.
    back = post(client, REGISTRAR, {**inputs(shown), "_action": "to_builder"})
    assert 'aria-current="page">Construtor' in back.get_data(as_text=True)
    assert inputs(back.get_data(as_text=True))["c2-nome"] == "telefone"


def test_rows_are_added_moved_and_removed_without_javascript(app: Flask) -> None:  # noqa: F811
    client = dora(app)
    url = new_model(client)
    page = client.get(url).get_data(as_text=True)
    data = inputs(page)
    assert data["campos"] == "1" and data["c0-nome"] == "descricao"
    added = post(client, url, {**data, "c0-titulo": "Descrição longa", "_action": "add"})
    body = added.get_data(as_text=True)
    assert added.status_code == 200
    data = inputs(body)
    assert data["campos"] == "2" and data["c0-titulo"] == "Descrição longa"  # kept
    assert re.search(r'<input id="c1-titulo"[^>]*autofocus', body)  # the new row's label
    assert 'for="c1-nome">Nome</label>' in body  # labels tied to the inputs
    data.update({"c1-titulo": "Prioridade", "c1-nome": "prioridade", "c1-tipo": "opcoes"})
    data["c1-opcoes"] = "Alta\nNormal"
    moved = post(client, url, {**data, "_action": "up:1"})
    data = inputs(moved.get_data(as_text=True))
    assert (data["c0-nome"], data["c1-nome"]) == ("prioridade", "descricao")
    assert data["c0-opcoes"] == "Alta\nNormal"
    assert re.search(r'value="down:0"[^>]*autofocus', moved.get_data(as_text=True))
    down = post(client, url, {**data, "_action": "down:0"})
    data = inputs(down.get_data(as_text=True))
    assert (data["c0-nome"], data["c1-nome"]) == ("descricao", "prioridade")
    removed = post(client, url, {**data, "_action": "remove:0"})
    data = inputs(removed.get_data(as_text=True))
    assert data["campos"] == "1" and data["c0-nome"] == "prioridade"
    # The live preview follows the rows (htmx posts the builder form as it is).
    preview = post(client, f"{url}/previa", {**data})
    assert 'type="radio"' in preview.get_data(as_text=True)
    assert "Prioridade" in preview.get_data(as_text=True)


def test_bad_rows_get_a_message_each_and_nothing_typed_is_lost(app: Flask) -> None:  # noqa: F811
    client = dora(app)
    url = new_model(client)
    data = inputs(client.get(url).get_data(as_text=True))
    data.update(
        {
            "campos": "4",
            "c1-titulo": "Nome de novo",
            "c1-nome": "descricao",
            "c1-tipo": "texto",
            "c2-titulo": "Inválido",
            "c2-nome": "2ºcampo",
            "c2-tipo": "texto",
            "c3-titulo": "Cor",
            "c3-nome": "cor",
            "c3-tipo": "lista",
            "c3-opcoes": "",
            "c3-ajuda": "Escolha a cor preferida",
        }
    )
    resp = post(client, url, {**data, "_action": "save"})
    body = resp.get_data(as_text=True)
    assert resp.status_code == 422
    assert "O nome “descricao” já é o do campo 1" in body
    assert "Nome inválido" in body
    assert "Informe ao menos uma opção" in body
    # Each message is tied to its field, and listed at the top with a link to it.
    assert re.search(r'id="c3-opcoes"[^>]*aria-describedby="opcoes-ajuda-3 c3-opcoes-erro"', body)
    assert 'id="c3-opcoes-erro"' in body and 'href="#c3-opcoes"' in body
    assert re.search(r'id="c2-nome"[^>]*aria-invalid="true" aria-describedby="c2-nome-erro"', body)
    kept = inputs(body)
    assert kept["c2-nome"] == "2ºcampo" and kept["c3-ajuda"] == "Escolha a cor preferida"
    assert kept["c3-tipo"] == "lista"
    # Nothing was saved.
    saved = draft_forms(client, "formteste")
    assert list(saved["formteste-schema.json"]["properties"]) == ["descricao"]


def test_a_built_form_is_saved_as_json_schema_and_ui_schema(app: Flask) -> None:  # noqa: F811
    client = dora(app)
    url = new_model(client)
    data = inputs(client.get(url).get_data(as_text=True))
    data.update(
        {
            "form_title": "Pedido",
            "campos": "3",
            "c0-etapa": "Dados",
            "c1-titulo": "Prioridade",
            "c1-nome": "prioridade",
            "c1-tipo": "lista",
            "c1-obrigatorio": "sim",
            "c1-opcoes": "Alta\nurgente | Muito urgente | Em até 1 dia",
            "c1-etapa": "Dados",
            "c2-titulo": "Contato",
            "c2-nome": "contato",
            "c2-tipo": "email",
            "c2-ajuda": "Para avisos",
            "c2-etapa": "Contato",
        }
    )
    resp = post(client, url, {**data, "_action": "save"})
    assert resp.status_code == 302, resp.get_data(as_text=True)[:2000]
    saved = draft_forms(client, "formteste")
    schema, ui = saved["formteste-schema.json"], saved["formteste-uischema.json"]
    assert schema["title"] == "Pedido"
    assert schema["properties"]["prioridade"] == {
        "type": "string",
        "title": "Prioridade",
        "oneOf": [
            {"const": "alta", "title": "Alta"},
            {"const": "urgente", "title": "Muito urgente", "description": "Em até 1 dia"},
        ],
    }
    assert schema["properties"]["contato"] == {
        "type": "string",
        "title": "Contato",
        "format": "email",
        "description": "Para avisos",
    }
    # The template's field kept what the builder does not show (its lengths).
    assert schema["properties"]["descricao"]["minLength"] == 5
    assert schema["required"] == ["descricao", "prioridade"]
    assert schema["additionalProperties"] is False
    assert ui["prioridade"] == {"ui:widget": "select"}
    assert ui["ui:steps"] == [
        {"id": "dados", "title": "Dados", "fields": ["descricao", "prioridade"]},
        {"id": "contato", "title": "Contato", "fields": ["contato"]},
    ]
    # The editor opens it again as the same rows.
    again = inputs(client.get(url).get_data(as_text=True))
    assert again["c1-opcoes"] == "Alta\nurgente | Muito urgente | Em até 1 dia"
    assert again["c2-etapa"] == "Contato" and again["c1-obrigatorio"] == "sim"


def test_a_stale_builder_save_changes_nothing(app: Flask) -> None:  # noqa: F811
    client = dora(app)
    url = new_model(client)
    data = inputs(client.get(url).get_data(as_text=True))
    assert (
        post(client, url, {**data, "c0-titulo": "Primeira", "_action": "save"}).status_code == 302
    )
    stale = post(client, url, {**data, "c0-titulo": "Segunda", "_action": "save"})
    assert stale.status_code == 409
    assert 'value="Segunda"' in stale.get_data(as_text=True)  # what was typed stays
    schema = draft_forms(client, "formteste")["formteste-schema.json"]
    assert schema["properties"]["descricao"]["title"] == "Primeira"


def test_form_files_are_uploaded_into_the_editor_checked_and_bounded(app: Flask) -> None:  # noqa: F811
    client = dora(app)
    url = new_model(client)
    token = csrf_of(client)
    version = inputs(client.get(url).get_data(as_text=True))["version"]
    schema = {
        "type": "object",
        "title": "Enviado",
        "properties": {"nome": {"type": "string", "title": "Nome enviado"}},
    }

    def upload(files: dict[str, tuple[bytes, str]]) -> Any:
        data: dict[str, Any] = {"csrf_token": token, "version": version}
        data.update({k: (io.BytesIO(v), n) for k, (v, n) in files.items()})
        return client.post(f"{url}/arquivos", data=data, content_type="multipart/form-data")

    resp = upload({"arquivo_esquema": (json.dumps(schema).encode(), "enviado.json")})
    body = resp.get_data(as_text=True)
    assert resp.status_code == 200 and "nada foi salvo ainda" in body
    assert "Nome enviado" in body  # in the JSON editor and drawn by the preview
    assert 'aria-current="page">JSON' in body
    # Not saved until the designer saves.
    assert "nome" not in draft_forms(client, "formteste")["formteste-schema.json"]["properties"]
    shown = inputs(body)
    assert post(client, url, {**shown, "_action": "save"}).status_code == 302
    assert "nome" in draft_forms(client, "formteste")["formteste-schema.json"]["properties"]
    # Refused, with a message tied to the file input.
    bad = upload({"arquivo_ui": (b"{nope", "ui.json")})
    text = bad.get_data(as_text=True)
    assert bad.status_code == 422 and "JSON inválido na linha 1" in text
    assert re.search(r'id="arquivo_ui"[^>]*aria-describedby="upload-help arquivo_ui-erro"', text)
    big = upload({"arquivo_esquema": (b"{" + b" " * (300 * 1024) + b"}", "grande.json")})
    assert big.status_code == 422 and "passa do limite de 256 KB" in big.get_data(as_text=True)
    assert upload({"arquivo_esquema": (b"[]", "lista.json")}).status_code == 422
    assert upload({"arquivo_esquema": (b"{}", "x.txt")}).status_code == 422
    assert upload({}).status_code == 422
    analyst = client_for(app, "11144477735", "Ana", "analyst")
    assert analyst.post(f"{url}/arquivos", data={"csrf_token": token}).status_code in (
        400,
        403,
    )


def test_the_builder_needs_the_csrf_token(app: Flask) -> None:  # noqa: F811
    client = dora(app)
    data = inputs(client.get(REGISTRAR).get_data(as_text=True))
    data.pop("csrf_token")
    assert client.post(REGISTRAR, data={**data, "_action": "save"}).status_code == 400


def test_a_rename_the_rules_still_name_is_pointed_out_on_the_page(app: Flask) -> None:  # noqa: F811
    client = dora(app)
    data = inputs(client.get(EDITOR).get_data(as_text=True))
    assert data["c1-nome"] == "resposta"
    resp = post(client, EDITOR, {**data, "c1-nome": "resposta_final", "_action": "preview"})
    body = resp.get_data(as_text=True)
    assert resp.status_code == 200
    assert "O campo “resposta” (agora “resposta_final”) ainda é citado" in body
    # The catalog field is kept, and named as edited only in the JSON editor.
    assert "<code>motivo_devolucao</code>: opções de um catálogo" in body


def test_tampered_row_posts_are_read_safely(app: Flask) -> None:  # noqa: F811
    client = dora(app)
    data = inputs(client.get(REGISTRAR).get_data(as_text=True))
    for change in (
        {"campos": "²", "_action": "preview"},
        {"campos": "99999999999", "_action": "preview"},
        {"_action": "remove:²"},
        {"_action": "up:999"},
        {"_action": "down:-1"},
        {"c0-tipo": "json", "c0-origem": "", "_action": "save"},
        {"schema_text": "{", "_action": "preview"},
    ):
        resp = post(client, REGISTRAR, {**data, **change})
        assert resp.status_code in (200, 422), change
    # A stale index changes nothing: every row is still there, in order.
    resp = post(client, REGISTRAR, {**data, "_action": "up:999"})
    assert inputs(resp.get_data(as_text=True))["campos"] == data["campos"]
