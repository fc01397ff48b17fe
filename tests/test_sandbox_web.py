""" "Executar teste" over HTTP: plain forms with CSRF, the path on the diagram's JSON,
the scenarios' paths on the model page, and who may use it."""

from __future__ import annotations

import re

from flask import Flask
from flask.testing import FlaskClient

from tests.test_designer import DORA, app, client_for, csrf_of, dora_web, post_form, web_actor
from tests.test_sandbox import make_pedido, real_rows

__all__ = ["app", "dora_web"]  # fixtures


def hidden(page: str, name: str) -> str:
    match = re.search(rf'name="{name}" value="([^"]*)"', page)
    assert match, f"{name} not in the page"
    return match.group(1)


def run_fields(page: str) -> dict[str, str]:
    return {"run": hidden(page, "run"), "passo": hidden(page, "passo")}


def test_model_page_runs_the_scenarios_and_shows_each_path(
    app: Flask, dora_web: FlaskClient
) -> None:
    model = dora_web.get("/processos/chamado").get_data(as_text=True)
    assert "Executar teste com os cenários" in model and "/processos/chamado/teste" in model
    page = post_form(dora_web, "/processos/chamado/cenarios/executar", {})
    text = page.get_data(as_text=True)
    assert page.status_code == 200 and "Resultado dos cenários" in text
    assert "Caminho percorrido: Chamado aberto (inicio)" in text
    assert "Decisão da análise (decisao_analise) → Resolvido (fim_resolvido)" in text


def test_step_through_a_gateway_and_a_timer_in_plain_forms(
    app: Flask, dora_web: FlaskClient
) -> None:
    svc = app.extensions["chamados"]
    make_pedido(svc, web_actor(app, DORA))
    before = real_rows(svc)
    url = "/processos/pedido_teste/teste"
    assert "Iniciar teste" in dora_web.get(url).get_data(as_text=True)
    # Without the CSRF token nothing starts.
    assert dora_web.post(url + "/iniciar").status_code == 400
    assert post_form(dora_web, url + "/iniciar", {}).status_code == 302
    page = dora_web.get(url).get_data(as_text=True)
    assert "Tarefa: Informar pedido" in page and 'for="f-valor"' in page
    fields = {**run_fields(page), "tarefa": hidden(page, "tarefa"), "_action": "submit"}
    # The form refuses as in production and keeps what was typed.
    refused = post_form(dora_web, url + "/tarefa", {**fields, "valor": "-3", "descricao": "ab"})
    text = refused.get_data(as_text=True)
    assert refused.status_code == 422 and "Há 2 problemas no formulário" in text
    assert 'value="-3"' in text
    done = post_form(dora_web, url + "/tarefa", {**fields, "valor": "500", "descricao": "Notebook"})
    assert done.status_code == 302
    page = dora_web.get(url).get_data(as_text=True)
    assert "Tarefa: Aprovar pedido" in page and "<strong>500</strong>" in page
    assert "Disparar temporizador" in page and "Aguardar" not in page
    diagram = dora_web.get(url + "/diagrama").get_json()
    assert diagram["current"] == ["aprovar"] and "valor_alto" in diagram["completed"]
    assert "Flow_alto" in diagram["flows"] and "Flow_baixo" not in diagram["flows"]
    assert "definitions" in diagram["xml"]
    # The same step posted again (a double submit) changes nothing and says so.
    again = post_form(dora_web, url + "/tarefa", {**fields, "valor": "500", "descricao": "X1"})
    assert again.status_code == 302
    assert "avançou ou foi reiniciado" in dora_web.get(url).get_data(as_text=True)
    fired = post_form(
        dora_web, url + "/temporizador", {**run_fields(page), "elemento": "prazo_aprovacao"}
    )
    assert fired.status_code == 302
    page = dora_web.get(url).get_data(as_text=True)
    assert "O processo terminou em <strong>Expirado</strong>" in page
    diagram = dora_web.get(url + "/diagrama").get_json()
    completed = set(diagram["completed"])
    assert {"informar", "valor_alto", "prazo_aprovacao", "fim_expirado"} <= completed
    assert "aprovar" not in completed  # cancelled by the interrupting timer, though reached:
    assert diagram["interrupted"] == ["aprovar"] and "Flow_alto" in diagram["flows"]
    assert "Aprovar pedido — interrompida" in page
    assert "Flow_expirou" in diagram["flows"]
    assert real_rows(svc) == before
    # Discarded, the diagram is gone.
    assert post_form(dora_web, url + "/encerrar", run_fields(page)).status_code == 302
    assert dora_web.get(url + "/diagrama").status_code == 404


def test_message_and_a_broken_payload(app: Flask, dora_web: FlaskClient) -> None:
    make_pedido(app.extensions["chamados"], web_actor(app, DORA))
    url = "/processos/pedido_teste/teste"
    post_form(dora_web, url + "/iniciar", {})
    page = dora_web.get(url).get_data(as_text=True)
    fields = {**run_fields(page), "tarefa": hidden(page, "tarefa"), "_action": "submit"}
    post_form(dora_web, url + "/tarefa", {**fields, "valor": "500", "descricao": "Notebook"})
    page = dora_web.get(url).get_data(as_text=True)
    post_form(dora_web, url + "/tarefa", {**run_fields(page), "tarefa": hidden(page, "tarefa")})
    page = dora_web.get(url).get_data(as_text=True)
    assert "aguarda a mensagem <code>confirmacao_pedido</code>" in page
    message = {**run_fields(page), "mensagem": "confirmacao_pedido"}
    bad = post_form(dora_web, url + "/mensagem", {**message, "conteudo": "{x"})
    assert bad.status_code == 422 and "JSON inválido" in bad.get_data(as_text=True)
    assert "{x" in bad.get_data(as_text=True)  # kept as typed
    ok = post_form(dora_web, url + "/mensagem", {**message, "conteudo": '{"ok": true}'})
    assert ok.status_code == 302
    page = dora_web.get(url).get_data(as_text=True)
    assert "O processo terminou em <strong>Aprovado</strong>" in page


def test_only_designers_reach_the_test(app: Flask, dora_web: FlaskClient) -> None:
    analyst = client_for(app, "11144477735", "Ana Souza", "analyst")
    assert analyst.get("/processos/chamado/teste").status_code == 403
    token = csrf_of(analyst)  # their own valid token: the role is what refuses
    started = analyst.post("/processos/chamado/teste/iniciar", data={"csrf_token": token})
    assert started.status_code == 403
    assert dora_web.get("/processos/nao_existe/teste").status_code == 404
    # Another designer sees no run of Dora's, and cannot act on hers.
    post_form(dora_web, "/processos/chamado/teste/iniciar", {})
    dora_page = dora_web.get("/processos/chamado/teste").get_data(as_text=True)
    outro = client_for(app, "52998224725", "Outro Projetista", "designer")
    assert "Iniciar teste" in outro.get("/processos/chamado/teste").get_data(as_text=True)
    assert outro.get("/processos/chamado/teste/diagrama").status_code == 404
    post_form(outro, "/processos/chamado/teste/encerrar", run_fields(dora_page))
    assert "Tarefa: Registrar chamado" in dora_web.get("/processos/chamado/teste").get_data(
        as_text=True
    )


def test_a_draft_that_cannot_run_says_why_and_starts_nothing(
    app: Flask, dora_web: FlaskClient
) -> None:
    from tests.test_sandbox import PEDIDO_XML

    svc = app.extensions["chamados"]
    make_pedido(svc, web_actor(app, DORA))
    actor = web_actor(app, DORA)
    draft = svc.designer.draft(actor, "pedido_teste")
    broken = PEDIDO_XML.replace(' default="Flow_baixo"', "")  # a branch with no condition
    assert svc.designer.save_model(actor, "pedido_teste", broken, draft.version).problems
    refused = post_form(dora_web, "/processos/pedido_teste/teste/iniciar", {})
    text = refused.get_data(as_text=True)
    assert refused.status_code == 422
    assert "O rascunho não pode ser executado enquanto tiver estes problemas" in text
    assert "<code>valor_alto</code>" in text or "<code>Flow_baixo</code>" in text
    assert svc.sandbox.current(actor, "pedido_teste") is None
