"""What Enter means in the wizard without JavaScript, and where the focus goes, through the
Flask pages (no browser: runs on SQLite and PostgreSQL). The browser tests in
test_a11y_browser.py press the real keys; this pins the server's side of it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from xml.etree import ElementTree

import pytest
from flask import Flask
from flask.testing import FlaskClient

from engine.service import ACCEPTED_FILE_EXTENSIONS, ACCEPTED_FILE_TYPES
from tests.test_auth import build_app, login
from tests.webform import fill
from web.dev_oidc import run_in_thread

MARIA = "39053344705"


@pytest.fixture(scope="module")
def issuer() -> Iterator[str]:
    base_url, stop = run_in_thread()
    yield base_url
    stop()


@pytest.fixture
def maria(tmp_path: Path, issuer: str) -> Iterator[tuple[FlaskClient, str]]:
    app: Flask = build_app(tmp_path, issuer)
    app.extensions["chamados"].init_database()
    client = app.test_client()
    login(client, MARIA)
    page = client.get("/servicos/chamado").get_data(as_text=True)
    resp = client.post("/servicos/chamado", data=fill(page, {}, containing="/servicos/chamado"))
    yield client, resp.headers["Location"]
    app.extensions["chamados"].unit.db.dispose()


def enter(client: FlaskClient, url: str, values: dict[str, str]) -> tuple[int, str]:
    """Press Enter in a text box: the form goes with its first submit button, "enter"."""
    page = client.get(url).get_data(as_text=True)
    assert re.search(r'class="app-default-action" type="submit" name="_action" value="enter"', page)
    resp = client.post(url, data=fill(page, {"_action": "enter", **values}))
    return resp.status_code, resp.get_data(as_text=True)


def test_enter_in_the_orgao_box_searches_and_stays(maria: tuple[FlaskClient, str]) -> None:
    client, url = maria
    status, body = enter(client, url + "?passo=identificacao", {"orgao__q": "inss"})
    assert status == 200  # not a 422: the step was not validated
    assert "Há " not in body and "Erro:" not in body
    assert "Instituto Nacional do Seguro Social" in body
    assert re.search(r'id="f-orgao-results"[^>]*tabindex="-1" autofocus', body)
    assert 'name="orgao__q_feito" value="inss"' in body  # what was searched, for next Enter


def test_enter_after_the_search_with_an_orgao_picked_goes_on(
    maria: tuple[FlaskClient, str],
) -> None:
    client, url = maria
    values = {"orgao__q": "inss", "orgao__q_feito": "inss", "orgao": "1934"}
    status, body = enter(client, url + "?passo=identificacao", values)
    # "Avançar": the step is validated (other fields are missing) and the summary focused.
    assert status == 422
    assert re.search(r'id="errors-summary" tabindex="-1" autofocus', body)
    assert re.search(r"<title>Erro: Identificação", body)


def test_enter_in_the_protocol_box_adds_the_row_and_stays(maria: tuple[FlaskClient, str]) -> None:
    client, url = maria
    status, body = enter(client, url + "?passo=protocolos", {"protocolos__new__numero": "987654"})
    assert status == 200
    assert '<h2 class="mt-4">Protocolos afetados</h2>' in body
    assert re.search(r'<tr id="f-protocolos-last" tabindex="-1" autofocus>', body)
    assert "987654" in body
    status, body = enter(
        client, url + "?passo=protocolos", {"protocolos__new__numero": "23037.001462/2021-66"}
    )
    assert status == 422  # the row is refused, the step is not validated
    assert (
        "Protocolos afetados</h2>" in body and 'errors-summary" tabindex="-1" autofocus' not in body
    )
    assert re.search(r'id="f-protocolos__new__numero"[^>]*autofocus', body)


def test_one_list_of_accepted_file_types(maria: tuple[FlaskClient, str]) -> None:
    client, url = maria
    body = client.get(url + "?passo=anexos").get_data(as_text=True)
    assert f"Formatos aceitos: {ACCEPTED_FILE_TYPES}." in body
    assert f'accept="{",".join(ACCEPTED_FILE_EXTENSIONS)}"' in body
    for ext in ACCEPTED_FILE_EXTENSIONS:  # the text names every extension accepted
        name = ext.removeprefix(".").upper()
        assert name in ACCEPTED_FILE_TYPES or name == "JPG", name


def test_the_header_shows_the_design_systems_govbr_logo(maria: tuple[FlaskClient, str]) -> None:
    """The gov.br mark is the Design System's logo image (with a text alternative), not typed
    text; the file is served by the app, is a plain SVG (no script, no external reference)."""
    client, _ = maria
    page = client.get("/").get_data(as_text=True)
    logo = re.search(r'<a class="app-brand" href="/"><img src="([^"]+)" alt="([^"]+)"', page)
    assert logo is not None, "o cabeçalho não mostra a imagem do logo gov.br"
    assert logo.group(2) == "gov.br — Chamados, página inicial"
    resp = client.get(logo.group(1))
    assert resp.status_code == 200
    assert resp.mimetype == "image/svg+xml"
    svg = resp.get_data(as_text=True)
    root = ElementTree.fromstring(svg)
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    assert root.get("viewBox") == "0 0 495 178"
    tags = {el.tag.rsplit("}", 1)[-1] for el in root.iter()}
    assert tags == {"svg", "path"}, tags  # no script, image, foreignObject or link
    assert "href" not in svg
