"""LGPD over HTTP: "Meus dados" (page, download, API), who read whose data through the
analysis page, the API and attachment downloads, and the admins' "Privacidade (LGPD)"."""

from __future__ import annotations

import gzip
import html
import json
import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from engine.models import Attachment, Chamado, DataAccess, DataCopy, User
from engine.service import ActorRef, Chamados
from tests.test_api import Api, build_app, person
from tests.test_attachments import make_pdf
from tests.test_auth import set_session_user
from tests.test_engine_lifecycle import chamado, decide, open_task, registration

JOAO, MARIA, ANA, CARLOS = "85351346893", "39053344705", "11144477735", "52998224725"


@pytest.fixture
def app(tmp_path: Path) -> Iterator[Flask]:
    app = build_app(tmp_path)
    yield app
    app.extensions["chamados"].unit.db.dispose()


def svc_of(app: Flask) -> Chamados:
    return app.extensions["chamados"]


def actor(app: Flask, cpf: str, *roles: str) -> ActorRef:
    with svc_of(app).unit.session_factory() as s:
        user = s.scalar(select(User).where(User.cpf == cpf))
        assert user is not None
        return ActorRef(user.id, frozenset(roles))


def page_client(app: Flask, cpf: str, name: str, *roles: str) -> FlaskClient:
    client = app.test_client()
    set_session_user(app, client, cpf, name, *roles)
    return client


def shown(resp: Any) -> str:
    return html.unescape(resp.get_data(as_text=True))


def csrf_of(page: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found
    return found.group(1)


def ticket(app: Flask, who: ActorRef, name: str) -> tuple[int, int]:
    """A submitted chamado with an attachment; (chamado id, attachment id)."""
    svc = svc_of(app)
    c = svc.requests.start_chamado(who, "chamado")
    task = open_task(svc, c.id)
    file = svc.requests.add_attachment(who, task.id, f"doc-{name}.pdf", make_pdf())
    data = registration(solicitante_nome=name, detalhamento=f"Texto de {name}", anexos=[file])
    svc.requests.complete_task(who, task.id, data, chamado(svc, c.id).version)
    return c.id, file["id"]


def records(app: Flask) -> list[tuple[int, str]]:
    with svc_of(app).unit.session_factory() as s:
        return [(r.actor_id, r.channel) for r in s.scalars(select(DataAccess))]


def test_reads_by_staff_are_recorded_on_every_channel_and_own_reads_are_not(app: Flask) -> None:
    joao_api = Api(app.test_client(), person(app, JOAO, "João Pereira Lima"))
    ana_api = Api(app.test_client(), person(app, ANA, "Ana Souza", "analyst"))
    joao, ana = actor(app, JOAO), actor(app, ANA, "analyst")
    cid, file_id = ticket(app, joao, "João Pereira Lima")
    # The person, by page, API and download: nothing recorded.
    joao_page = page_client(app, JOAO, "João Pereira Lima")
    assert joao_page.get(f"/chamados/{cid}").status_code == 200
    joao_api.get(f"/chamados/{cid}")
    assert joao_page.get(f"/anexos/{file_id}").status_code == 200
    assert records(app) == []
    # Staff: one row per read, each with its channel.
    ana_page = page_client(app, ANA, "Ana Souza", "analyst")
    assert ana_page.get(f"/analise/{cid}").status_code == 200
    assert records(app) == [(ana.id, "pagina")]
    ana_api.get(f"/chamados/{cid}")
    assert records(app)[-1] == (ana.id, "api")
    assert ana_page.get(f"/anexos/{file_id}").status_code == 200
    assert records(app)[-1] == (ana.id, "anexo") and len(records(app)) == 3
    # The person sees them under "Meus dados", page and API.
    page = shown(joao_page.get("/meus-dados"))
    assert "Quem consultou os meus dados" in page
    assert page.count("Ana Souza") == 3 and "Download de anexo" in page
    mine = joao_api.get("/me/data")
    assert [a["actor"] for a in mine["recent_accesses"]] == ["Ana Souza"] * 3
    assert mine["counts"]["acessos_por_servidores"] == 3
    # Admins per ticket (API and page) and per person; analysts may not.
    carlos_api = Api(app.test_client(), person(app, CARLOS, "Carlos Admin", "admin"))
    body = carlos_api.get(f"/chamados/{cid}/accesses")
    assert [i["channel"] for i in body["items"]] == ["anexo", "api", "pagina"]
    ana_api.get(f"/chamados/{cid}/accesses", expect=403)
    carlos_api.get("/chamados/999999/accesses", expect=404)
    carlos_page = page_client(app, CARLOS, "Carlos Admin", "admin")
    protocolo = chamado(svc_of(app), cid).protocolo
    analysis = shown(carlos_page.get(f"/analise/{cid}"))
    assert f'href="/admin/privacidade?protocolo={protocolo}"' in analysis
    assert "Quem consultou os dados deste chamado" not in shown(ana_page.get(f"/analise/{cid}"))
    by_ticket = shown(carlos_page.get(f"/admin/privacidade?protocolo={protocolo}"))
    assert f"Acessos ao chamado {protocolo}" in by_ticket and by_ticket.count("Ana Souza") == 4
    assert by_ticket.count("Carlos Admin") == 2  # his page read, and the header's name
    by_person = shown(carlos_page.get("/admin/privacidade?cpf=853.513.468-93"))
    assert "Acessos aos dados de João Pereira Lima" in by_person
    bad = carlos_page.get("/admin/privacidade?cpf=123")
    assert bad.status_code == 422 and "Informe um CPF válido." in shown(bad)
    assert carlos_page.get("/admin/privacidade?protocolo=CH-1999-000001").status_code == 404
    assert ana_page.get("/admin/privacidade").status_code == 403


def copies(app: Flask) -> list[tuple[int, str]]:
    with svc_of(app).unit.session_factory() as s:
        return [(c.user_id, c.status) for c in s.scalars(select(DataCopy).order_by(DataCopy.id))]


def test_my_data_shows_only_mine_in_the_page_the_copy_and_the_api(app: Flask) -> None:
    joao_api = Api(app.test_client(), person(app, JOAO, "João Pereira Lima"))
    maria_api = Api(app.test_client(), person(app, MARIA, "Maria da Silva"))
    joao, maria = actor(app, JOAO), actor(app, MARIA)
    mine, _ = ticket(app, joao, "João Pereira Lima")
    hers, _ = ticket(app, maria, "Maria da Silva")
    svc = svc_of(app)
    client = page_client(app, JOAO, "João Pereira Lima")
    home = shown(client.get("/minhas-solicitacoes"))
    assert 'href="/meus-dados"' in home  # in the user menu, on every page
    page = shown(client.get("/meus-dados"))
    # The simplified view: account, counts, the latest instances (with their links).
    assert "853.513.468-93" in page and f'href="/chamados/{mine}"' in page
    assert chamado(svc, mine).protocolo in page
    assert chamado(svc, hers).protocolo not in page and "Maria" not in page
    assert 'href="/minhas-solicitacoes?visao=todos"' in page
    assert "disponível para baixar por 7 dias e depois é apagada" in page
    assert "Baixar meus dados (JSON)" not in page  # no copy yet
    # No copy yet: the download says so, on the page.
    resp = client.get("/meus-dados.json")
    assert resp.status_code == 302 and resp.headers["Location"].endswith("/meus-dados#copia")
    assert "Não há cópia completa dos seus dados pronta" in shown(client.get("/meus-dados"))
    # Asking: a form with CSRF, no JavaScript needed.
    assert client.post("/meus-dados/copia").status_code == 400
    assert copies(app) == []
    token = csrf_of(page)
    resp = client.post("/meus-dados/copia", data={"csrf_token": token})
    assert resp.status_code == 302
    page = shown(client.get("/meus-dados"))
    assert "Pedido registrado." in page and "Ela está sendo preparada" in page
    assert "Solicitar cópia completa" not in page
    # A second request while the first is pending changes nothing, and says so.
    client.post("/meus-dados/copia", data={"csrf_token": token})
    assert "Você já pediu a cópia completa dos seus dados" in shown(client.get("/meus-dados"))
    problem = joao_api.post("/me/data/copy", expect=409)
    assert "ainda está sendo preparada" in problem["detail"]
    assert copies(app) == [(joao.id, "pending")]
    summary = joao_api.get("/me/data")  # checked against web/openapi.json
    assert summary["copy"]["status"] == "pending" and summary["copy"]["download_url"] is None
    assert [r["protocolo"] for r in summary["recent_instances"]] == [chamado(svc, mine).protocolo]
    assert summary["counts"]["solicitacoes_abertas"] == 1 and summary["copy_keep_days"] == 7
    # The scheduler's job builds it; the page offers it until it expires.
    assert svc.privacy.build_copies("teste") == 1
    page = shown(client.get("/meus-dados"))
    assert "Baixar meus dados (JSON)" in page and "Ela pode ser baixada até" in page
    download = client.get("/meus-dados.json")
    assert download.status_code == 200 and download.mimetype == "application/json"
    assert download.headers["Content-Disposition"].startswith('attachment; filename="meus-dados-')
    assert download.headers["Cache-Control"] == "private, no-store"
    doc = json.loads(download.get_data(as_text=True))
    assert doc["formato"] == "chamados.meus-dados/1"
    assert doc["conta"]["cpf"] == "853.513.468-93"
    assert [s["protocolo"] for s in doc["solicitacoes"]] == [chamado(svc, mine).protocolo]
    assert "Maria" not in json.dumps(doc, ensure_ascii=False)
    # To a client that takes gzip, the stored bytes as they are.
    packed = client.get("/meus-dados.json", headers={"Accept-Encoding": "gzip"})
    assert packed.headers["Content-Encoding"] == "gzip"
    assert json.loads(gzip.decompress(packed.get_data())) == doc
    api_doc = joao_api.get("/me/data/copy")  # checked against the MyData schema
    assert api_doc == doc
    assert joao_api.get("/me/data")["copy"]["download_url"] == "/api/v1/me/data/copy"
    # A new copy once a day: the page says from when instead of offering the button,
    # and a request before that changes nothing (the form, the API).
    assert "Uma cópia nova pode ser pedida uma vez por dia: a partir de" in page
    assert "Solicitar uma cópia nova" not in page
    client.post("/meus-dados/copia", data={"csrf_token": token})
    assert "feita há menos de 24 horas" in shown(client.get("/meus-dados"))
    problem = joao_api.post("/me/data/copy", expect=409)
    assert "Uma cópia nova pode ser pedida a partir de" in problem["detail"]
    assert joao_api.get("/me/data")["copy"]["next_request_at"] is not None
    assert copies(app) == [(joao.id, "ready")]
    # Only the person downloads their copy: Maria has none, and gets none of his.
    maria_page = page_client(app, MARIA, "Maria da Silva")
    assert maria_page.get("/meus-dados.json").status_code == 302
    maria_api.get("/me/data/copy", expect=404)
    assert maria_api.get("/me/data")["copy"] is None
    asked = maria_api.post("/me/data/copy", expect=202)  # through the API
    assert asked["status"] == "pending" and asked["download_url"] is None
    assert copies(app)[-1] == (maria.id, "pending")
    assert app.test_client().get("/meus-dados").status_code == 302  # login first
    assert app.test_client().get("/meus-dados.json").status_code == 302
    assert app.test_client().get("/api/v1/me/data/copy").status_code == 401
    # The erasure request: offered here, started from its own page, not under "Serviços".
    assert 'href="/servicos/pedido_eliminacao_dados"' in page
    start = shown(client.get("/servicos/pedido_eliminacao_dados"))
    assert "Pedir a eliminação dos meus dados" in start
    assert "pedido_eliminacao_dados" not in shown(client.get("/servicos"))


def test_admin_sees_what_is_due_and_runs_it_by_hand_with_csrf(app: Flask) -> None:
    person(app, JOAO, "João Pereira Lima")
    person(app, ANA, "Ana Souza", "analyst")
    joao, ana = actor(app, JOAO), actor(app, ANA, "analyst")
    svc = svc_of(app)
    cid, _ = ticket(app, joao, "João Pereira Lima")
    decide(svc, ana, cid, {"decisao": "resolver", "resposta": "Pronto."})
    carlos = page_client(app, CARLOS, "Carlos Admin", "admin")
    page = shown(carlos.get("/admin/privacidade"))
    assert "Chamado da Plataforma de Automação" in page and "1825 dias" in page
    assert "Nenhuma solicitação passou do prazo de retenção." in page
    # An admin shortens the chamado's retention; the ticket closed 40 days ago is due.
    with svc.unit.transaction() as s:
        row = s.get(Chamado, cid)
        assert row is not None and row.closed_at is not None
        row.closed_at = row.closed_at - timedelta(days=40)
    token = csrf_of(page)
    resp = carlos.post(
        "/admin/privacidade/retencao/chamado", data={"dias": "abc", "csrf_token": token}
    )
    assert resp.status_code == 302
    assert "Informe um número de dias entre 1 e 3650." in shown(carlos.get("/admin/privacidade"))
    carlos.post("/admin/privacidade/retencao/chamado", data={"dias": "30", "csrf_token": token})
    page = shown(carlos.get("/admin/privacidade"))
    protocolo = chamado(svc, cid).protocolo
    assert "Prazo de retenção gravado." in page and protocolo in page
    # Without the CSRF token nothing runs.
    assert carlos.post("/admin/privacidade/anonimizar").status_code == 400
    assert chamado(svc, cid).anonymized_at is None
    resp = carlos.post("/admin/privacidade/anonimizar", data={"csrf_token": token})
    assert resp.status_code == 302
    assert "1 solicitação(ões)" in shown(carlos.get("/admin/privacidade"))
    assert chamado(svc, cid).anonymized_at is not None
    with svc.unit.session_factory() as s:
        assert s.scalar(select(Attachment.id).where(Attachment.chamado_id == cid)) is None
    analysis = shown(carlos.get(f"/analise/{cid}"))
    assert "Dados pessoais anonimizados em" in analysis and "Titular anonimizado" in analysis
    assert "João" not in analysis and protocolo in analysis
