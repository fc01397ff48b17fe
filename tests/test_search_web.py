"""Staff search through the page ("Buscar chamados") and the API (GET /api/v1/search)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask

from engine.service import Chamados
from tests.conftest import add_person
from tests.test_api import Api, build_app, person
from tests.test_auth import set_session_user
from tests.test_engine_lifecycle import chamado, submit_registration

MARIA, ANA = "39053344705", "11144477735"


@pytest.fixture
def app(tmp_path: Path) -> Iterator[Flask]:
    app = build_app(tmp_path)
    yield app
    app.extensions["chamados"].unit.db.dispose()


def _ticket(app: Flask, **overrides: str) -> tuple[int, str]:
    svc: Chamados = app.extensions["chamados"]
    maria = add_person(svc, MARIA, "Maria da Silva")
    cid = submit_registration(svc, maria, **overrides)
    return cid, chamado(svc, cid).protocolo


def test_the_api_finds_by_protocol_and_words(app: Flask) -> None:
    cid, protocolo = _ticket(app)
    ana = Api(app.test_client(), person(app, ANA, "Ana Souza", "analyst"))
    found = ana.get(f"/search?q={protocolo}")
    assert [(i["chamado"]["id"], i["requester_name"]) for i in found["items"]] == [
        (cid, "Maria da Silva")
    ]
    assert found["more"] is False and found["query"] == protocolo
    assert [i["chamado"]["id"] for i in ana.get("/search?q=protocolos+antigos")["items"]] == [cid]
    assert ana.get("/search?q=nada+disso")["items"] == []


def test_the_api_refuses_what_it_cannot_search_and_who_may_not(app: Flask) -> None:
    _ticket(app)
    ana = Api(app.test_client(), person(app, ANA, "Ana Souza", "analyst"))
    empty = ana.get("/search?q=", expect=422)
    assert "protocolo, CPF, NUP" in empty["errors"]["q"]
    assert "200 caracteres" in ana.get("/search?q=" + "x" * 201, expect=422)["errors"]["q"]
    assert ana.get("/search", expect=422)["errors"]["q"]
    maria = Api(app.test_client(), person(app, MARIA, "Maria da Silva"))
    maria.get("/search?q=aposentadoria", expect=403)
    Api(app.test_client()).get("/search?q=aposentadoria", expect=401)


def test_the_page_lists_what_it_finds_with_links_to_the_analysis(app: Flask) -> None:
    cid, protocolo = _ticket(app, detalhamento="Erro <script>alert(1)</script> na consulta.")
    client = app.test_client()
    set_session_user(app, client, ANA, "Ana Souza", "analyst")
    page = client.get("/fila")
    assert 'href="/busca"' in page.get_data(as_text=True)  # in the menu
    resp = client.get("/busca?q=consulta")
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200
    assert f'href="/analise/{cid}">{protocolo}</a>' in html
    assert "1 chamado(s) encontrado(s) para “consulta”" in html
    assert "<script>alert" not in html  # nothing of a ticket's text is echoed raw
    echoed = client.get("/busca?q=%3Cb%3Eoi%3C/b%3E").get_data(as_text=True)
    assert "<b>oi</b>" not in echoed and "&lt;b&gt;oi&lt;/b&gt;" in echoed
    none = client.get("/busca?q=zebra").get_data(as_text=True)
    assert "Nenhum chamado encontrado para “zebra”" in none


def test_the_page_says_what_to_type_and_keeps_it(app: Flask) -> None:
    client = app.test_client()
    set_session_user(app, client, ANA, "Ana Souza", "analyst")
    first = client.get("/busca")
    assert first.status_code == 200 and "Nenhum chamado" not in first.get_data(as_text=True)
    resp = client.get("/busca?q=%21%21%21")
    html = resp.get_data(as_text=True)
    assert resp.status_code == 422
    assert "<title>Erro: Buscar chamados" in html
    assert "Digite um protocolo, CPF, NUP, nome ou palavras da descrição." in html
    assert 'value="!!!"' in html  # what was typed stays in the box


def test_a_requester_has_no_search_page(app: Flask) -> None:
    client = app.test_client()
    set_session_user(app, client, MARIA, "Maria da Silva")
    assert client.get("/busca?q=x").status_code == 403
    assert 'href="/busca"' not in client.get("/").get_data(as_text=True)
