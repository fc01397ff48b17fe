"""The whole story through the Flask pages, with the login done over real OIDC.

Maria registers a ticket through the six wizard steps, Ana claims and asks for an
adjustment, Maria adjusts, Ana resolves and Maria sees the answer.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from engine import users
from tests.test_auth import build_app, login
from tests.webform import fill, form_fields
from web.dev_oidc import run_in_thread

MARIA, ANA, JOAO = "39053344705", "11144477735", "85351346893"
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


@pytest.fixture(scope="module")
def issuer() -> Iterator[str]:
    base_url, stop = run_in_thread()
    yield base_url
    stop()


@pytest.fixture
def app(tmp_path: Path, issuer: str) -> Flask:
    app = build_app(tmp_path, issuer)
    svc = app.extensions["chamados"]
    svc.init_database()
    with svc.unit.transaction() as s:
        users.grant_role(s, ANA, "analyst", None)
    return app


def person(app: Flask, cpf: str) -> FlaskClient:
    client = app.test_client()
    login(client, cpf)
    return client


def text(resp: Any) -> str:
    return resp.get_data(as_text=True)


def post_step(client: FlaskClient, url: str, values: dict[str, Any], **files: Any) -> Any:
    page = text(client.get(url))
    data: dict[str, Any] = fill(page, values)
    for name, content in files.items():
        data[name] = content
    return client.post(url, data=data, content_type="multipart/form-data")


def registration_steps(client: FlaskClient, task_url: str) -> None:
    # Step 1: missing fields are refused in Portuguese, and what was typed stays.
    resp = post_step(
        client, task_url, {"_action": "next", "nome_servico": "Aposentadoria", "telefone": "123"}
    )
    body = text(resp)
    assert resp.status_code == 422
    assert "Campo obrigatório." in body and "Telefone inválido" in body
    assert 'value="Aposentadoria"' in body
    assert "Maria da Silva" in body  # prefilled from gov.br, read-only
    # The órgão lookup without JavaScript: search, then pick.
    resp = client.post(task_url, data=fill(body, {"_action": "lookup:orgao", "orgao__q": "inss"}))
    assert "Instituto Nacional do Seguro Social" in text(resp)
    resp = client.post(
        task_url,
        data=fill(
            text(resp),
            {
                "_action": "next",
                "orgao": "1934",
                "telefone": "61999998888",
                "email_institucional": "maria@inss.gov.br",
                "objetivo": "erro",
                "confirmo_dados": "on",
            },
        ),
    )
    assert resp.status_code == 302 and resp.headers["Location"].endswith("passo=solicitante")
    # Step 2 and 3.
    resp = post_step(
        client,
        task_url + "?passo=solicitante",
        {"_action": "next", "tipo_solicitante": "analista_servico"},
    )
    assert resp.status_code == 302
    resp = post_step(
        client,
        task_url + "?passo=informacoes",
        {
            "_action": "next",
            "tipo_problema": "erro_api",
            "alcance_defeito": "alguns_protocolos",
            "detalhamento": "A API de consulta devolve erro 500 para protocolos antigos.",
        },
    )
    assert resp.status_code == 302
    # Step 4: the protocol table, one row at a time.
    url4 = task_url + "?passo=protocolos"
    resp = post_step(
        client,
        url4,
        {"_action": "add_row:protocolos", "protocolos__new__numero": "23037.001462/2021-66"},
    )
    assert "Protocolo inválido" in text(resp)
    assert "23037.001462/2021-66" in text(resp)  # kept to be corrected
    resp = post_step(
        client,
        url4,
        {"_action": "add_row:protocolos", "protocolos__new__numero": "23037001462202165"},
    )
    assert "23037.001462/2021-65" in text(resp)
    resp = client.post(
        task_url,
        data=fill(
            text(resp),
            {"_action": "add_row:protocolos", "protocolos__new__numero": "23037.001462/2021-65"},
        ),
    )
    assert "já está na tabela" in text(resp)
    resp = client.post(
        task_url,
        data=fill(
            text(resp), {"_action": "add_row:protocolos", "protocolos__new__numero": "987654"}
        ),
    )
    assert "987654" in text(resp)
    resp = client.post(
        task_url, data=fill(text(resp), {"_action": "next", "protocolos__new__numero": ""})
    )
    assert resp.status_code == 302
    # Step 5: attachments are checked by content.
    url5 = task_url + "?passo=anexos"
    resp = post_step(
        client,
        url5,
        {"_action": "upload:anexos"},
        anexos__upload=(io.BytesIO(b"<html><script>x</script></html>"), "erro.txt"),
    )
    assert resp.status_code == 422 and "erro.txt" in text(resp)
    resp = post_step(
        client,
        url5,
        {"_action": "upload:anexos"},
        anexos__upload=(io.BytesIO(PDF), "tela-do-erro.pdf"),
    )
    assert "tela-do-erro.pdf" in text(resp)
    resp = client.post(
        task_url,
        data=fill(
            text(resp), {"_action": "next", "observacoes": "Ocorre desde a última atualização."}
        ),
    )
    assert resp.status_code == 302 and resp.headers["Location"].endswith("passo=revisao")


def test_the_whole_story(app: Flask) -> None:
    maria = person(app, MARIA)
    page = text(maria.get("/servicos/chamado"))
    assert "e.gov.br/solicitaratendimentogovbr" in page and "Atraso no atendimento" in page
    resp = maria.post("/servicos/chamado", data=fill(page, {}, containing="/servicos/chamado"))
    task_url = resp.headers["Location"]
    assert re.fullmatch(r"/tarefas/\d+", task_url)
    listing = text(maria.get("/minhas-solicitacoes"))
    protocolo = re.search(r"CH-\d{4}-\d{6}", listing).group(0)  # type: ignore[union-attr]
    assert "Rascunho" in listing

    registration_steps(maria, task_url)
    review = text(maria.get(task_url + "?passo=revisao"))
    assert "INSS" in review and "987654" in review and "tela-do-erro.pdf" in review
    assert "solicitaratendimentogovbr" in review
    resp = maria.post(task_url, data=fill(review, {"_action": "submit"}))
    assert resp.status_code == 302
    tracking_url = resp.headers["Location"]
    assert "Em análise" in text(maria.get(tracking_url))

    # Ana claims from the queue and asks for an adjustment.
    ana = person(app, ANA)
    queue = text(ana.get("/fila"))
    assert protocolo in queue
    claim = re.search(r'action="(/fila/tarefas/\d+/assumir)"', queue).group(1)  # type: ignore[union-attr]
    resp = ana.post(claim, data=fill(queue, {}, containing="next"))
    assert resp.status_code == 302
    chamado_id = tracking_url.rsplit("/", 1)[1]
    analysis_url = f"/analise/{chamado_id}"
    page = text(ana.get(analysis_url))
    assert "Aposentadoria" in page and "23037.001462/2021-65" in page
    resp = ana.post(analysis_url, data=fill(page, {"decisao": "ajuste"}, containing="decisao"))
    assert resp.status_code == 422 and "Campo obrigatório." in text(resp)
    resp = ana.post(
        analysis_url,
        data=fill(
            text(resp),
            {
                "decisao": "ajuste",
                "ajuste_solicitado": "Informe a mensagem de erro completa.",
                "nota_interna": "Parece o conector antigo.",
            },
            containing="decisao",
        ),
    )
    assert resp.status_code == 302

    # Maria sees the request above a prefilled form, adjusts and re-sends.
    page = text(maria.get(tracking_url))
    assert "Informe a mensagem de erro completa." in page
    assert "Parece o conector antigo." not in page  # internal note
    adjust_url = re.search(r'href="(/tarefas/\d+)"', page).group(1)  # type: ignore[union-attr]
    form_page = text(maria.get(adjust_url + "?passo=informacoes"))
    assert "Informe a mensagem de erro completa." in form_page
    assert "A API de consulta devolve erro 500" in form_page
    resp = maria.post(
        adjust_url,
        data=fill(
            form_page,
            {
                "_action": "goto:revisao",
                "detalhamento": "Erro 500: NullPointerException em ConsultaProtocolo.",
            },
        ),
    )
    review = text(maria.get(resp.headers["Location"]))
    resp = maria.post(adjust_url, data=fill(review, {"_action": "submit"}))
    assert resp.status_code == 302

    # Ana sees what changed, field by field, and resolves.
    queue = text(ana.get("/fila"))
    claim = re.search(r'action="(/fila/tarefas/\d+/assumir)"', queue).group(1)  # type: ignore[union-attr]
    ana.post(claim, data=fill(queue, {}, containing="next"))
    page = text(ana.get(analysis_url))
    assert "O que o solicitante alterou" in page and "NullPointerException" in page
    resp = ana.post(
        analysis_url,
        data=fill(
            page,
            {
                "decisao": "resolver",
                "resposta": "Corrigimos o conector; reprocesse os protocolos.",
            },
            containing="decisao",
        ),
    )
    assert resp.status_code == 302

    page = text(maria.get(tracking_url))
    assert "Resolvido" in page and "Corrigimos o conector" in page
    pdf_link = re.search(r'href="(/anexos/\d+)"', page).group(1)  # type: ignore[union-attr]
    download = maria.get(pdf_link)
    assert download.data == PDF and "attachment" in download.headers["Content-Disposition"]

    # Someone else: the ticket and its file do not exist for them.
    joao = person(app, JOAO)
    assert joao.get(tracking_url).status_code == 404
    assert joao.get(pdf_link).status_code == 404
    assert joao.get(adjust_url).status_code == 404
    assert joao.get("/fila").status_code == 403


def test_post_without_csrf_is_refused_and_changes_nothing(app: Flask) -> None:
    maria = person(app, MARIA)
    resp = maria.post("/servicos/chamado", data={})
    assert resp.status_code == 400
    assert "CSRF" in text(resp)
    assert "CH-" not in text(maria.get("/minhas-solicitacoes"))


def test_draft_survives_a_new_browser(app: Flask) -> None:
    maria = person(app, MARIA)
    page = text(maria.get("/servicos/chamado"))
    task_url = maria.post(
        "/servicos/chamado", data=fill(page, {}, containing="/servicos/chamado")
    ).headers["Location"]
    post_step(maria, task_url, {"_action": "next", "nome_servico": "Carteira de pesca"})
    other_browser = person(app, MARIA)
    resumed = text(other_browser.get(task_url))
    assert 'value="Carteira de pesca"' in resumed


def test_stale_submit_changes_nothing(app: Flask) -> None:
    maria = person(app, MARIA)
    page = text(maria.get("/servicos/chamado"))
    task_url = maria.post(
        "/servicos/chamado", data=fill(page, {}, containing="/servicos/chamado")
    ).headers["Location"]
    registration_steps(maria, task_url)
    review = text(maria.get(task_url + "?passo=revisao"))
    first = maria.post(task_url, data=fill(review, {"_action": "submit"}))
    assert first.status_code == 302
    again = maria.post(task_url, data=fill(review, {"_action": "submit"}))
    assert again.status_code == 409
    assert "nada foi alterado" in text(again)
    assert form_fields(review)  # the page had a real form
