"""Incidentes over HTTP: the staff pages (queue, duplicates, open, link, resolve), the
service's start page notice and joining, the REST API against its OpenAPI document,
CSRF, and who sees what (a requester, an analyst of another group)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import update

from engine.models import User
from engine.service import Chamados
from tests.conftest import add_person
from tests.test_api import Api, build_app, person
from tests.test_auth import set_session_user
from tests.test_engine_lifecycle import chamado, decide
from tests.test_outages import PUBLIC, _deploy_other_team_process, requester, wave
from tests.webform import fill

SOFIA, ANA, MARIA = "86288366757", "11144477735", "39053344705"


@pytest.fixture
def app(tmp_path: Path) -> Iterator[Flask]:
    app = build_app(tmp_path)
    yield app
    app.extensions["chamados"].unit.db.dispose()


def text(resp: object) -> str:
    return resp.get_data(as_text=True)  # type: ignore[attr-defined]


def staff(app: Flask, cpf: str, name: str, *roles: str) -> FlaskClient:
    client = app.test_client()
    set_session_user(app, client, cpf, name, *roles)
    return client


def test_a_supervisor_opens_links_from_the_queue_and_duplicates_and_resolves(app: Flask) -> None:
    svc: Chamados = app.extensions["chamados"]
    ids = wave(svc, 4)
    sofia = staff(app, SOFIA, "Sofia", "supervisor")
    queue = text(sofia.get("/fila?visao=todas"))
    assert "Possíveis duplicados" in queue
    assert 'form="vincular-incidente"' not in queue  # no open incident yet: nothing to link to

    dup = text(sofia.get(f"/fila/chamados/{ids[0]}/duplicados"))
    for other in ids[1:]:
        assert chamado(svc, other).protocolo in dup
    assert "Abrir incidente a partir deste chamado" in dup

    new = text(sofia.get(f"/incidentes-de-servico/novo?chamado={ids[0]}"))
    assert chamado(svc, ids[0]).protocolo in new and "Aposentadoria por idade" in new
    refused = sofia.post(
        "/incidentes-de-servico", data=fill(new, {"titulo": "", "texto_publico": PUBLIC}, "titulo")
    )
    assert refused.status_code == 422
    assert "Dê um título ao incidente." in text(refused) and PUBLIC in text(refused)
    created = sofia.post(
        "/incidentes-de-servico",
        data=fill(new, {"titulo": "CadÚnico fora do ar", "texto_publico": PUBLIC}, "titulo"),
    )
    assert created.status_code == 302
    detail_url = created.headers["Location"]
    oid = int(detail_url.rsplit("/", 1)[1])

    # The queue: checkboxes belong to the linking form; two tickets linked from there.
    queue = text(sofia.get("/fila?visao=todas"))
    assert 'form="vincular-incidente"' in queue and "CadÚnico fora do ar" in queue
    linked = sofia.post(
        "/fila/vincular",
        data=fill(
            queue,
            {"chamado": [str(ids[1]), str(ids[2])], "incidente": str(oid)},
            "incidente",
        ),
    )
    assert linked.status_code == 302
    # The duplicates page: the last one.
    dup = text(sofia.get(f"/fila/chamados/{ids[0]}/duplicados"))
    assert dup.count("já vinculado") == 2
    sofia.post(
        "/fila/vincular",
        data=fill(dup, {"chamado": [str(ids[3])], "incidente": str(oid)}, "incidente"),
    )
    page = text(sofia.get(detail_url))
    assert all(chamado(svc, i).protocolo in page for i in ids)
    assert "Resolver incidente" in page

    # A requester sees the notice on the service's start page and joins.
    maria = staff(app, MARIA, "Maria da Silva")
    start = text(maria.get("/servicos/chamado"))
    assert "Problema conhecido: CadÚnico fora do ar" in start and "Já estamos tratando" in start
    joined = maria.post(
        f"/servicos/chamado/problemas-conhecidos/{oid}/acompanhar",
        data=fill(start, {}, f"/servicos/chamado/problemas-conhecidos/{oid}/acompanhar"),
    )
    assert joined.status_code == 302
    # Logged in without an e-mail address: told why, nothing recorded.
    assert "não tem e-mail cadastrado" in text(maria.get("/servicos/chamado"))
    with svc.unit.transaction() as s:
        s.execute(update(User).where(User.cpf == MARIA).values(email="maria@example.gov.br"))
    maria.post(
        f"/servicos/chamado/problemas-conhecidos/{oid}/acompanhar",
        data=fill(start, {}, f"/servicos/chamado/problemas-conhecidos/{oid}/acompanhar"),
    )
    assert "Você já está acompanhando este problema" in text(maria.get("/servicos/chamado"))

    resolved = sofia.post(
        f"/incidentes-de-servico/{oid}/resolver",
        data=fill(page, {}, f"/incidentes-de-servico/{oid}/resolver"),
        follow_redirects=True,
    )
    body = text(resolved)
    assert "4 chamado(s) resolvido(s) pelo incidente." in body and "Incidente resolvido." in body
    assert all(chamado(svc, i).status == "resolvido" for i in ids)
    # The same form again (a second tab, a double click): told, nothing changes twice.
    again = sofia.post(
        f"/incidentes-de-servico/{oid}/resolver",
        data=fill(page, {}, f"/incidentes-de-servico/{oid}/resolver"),
        follow_redirects=True,
    )
    assert "já foi resolvido" in text(again) and "nada foi alterado" in text(again)
    assert "Problema conhecido" not in text(maria.get("/servicos/chamado"))


def test_a_ticket_mid_adjustment_is_left_and_the_supervisor_is_told(app: Flask) -> None:
    svc: Chamados = app.extensions["chamados"]
    ids = wave(svc, 2)
    ana = add_person(svc, ANA, "Ana", "analyst")
    sofia_ref = add_person(svc, SOFIA, "Sofia", "supervisor")
    oid = svc.outages.create(ana, title="Fora do ar", public_text=PUBLIC, from_chamado_id=ids[0])
    svc.outages.link(ana, oid, [ids[1]])
    decide(svc, ana, ids[1], {"decisao": "ajuste", "ajuste_solicitado": "Mande o print."})
    sofia = staff(app, SOFIA, "Sofia", "supervisor")
    page = text(sofia.get(f"/incidentes-de-servico/{oid}"))
    body = text(
        sofia.post(
            f"/incidentes-de-servico/{oid}/resolver",
            data=fill(page, {}, f"/incidentes-de-servico/{oid}/resolver"),
            follow_redirects=True,
        )
    )
    protocolo = chamado(svc, ids[1]).protocolo
    assert f"Não alterado: aguardava ajuste do(a) solicitante: {protocolo}" in body
    assert chamado(svc, ids[1]).status == "aguardando_ajuste"
    assert svc.outages.get(sofia_ref, oid).links[1].outcome == "aguardando_solicitante"
    # Its analysis page shows the incident's text to answer with when it comes back.
    assert PUBLIC in text(sofia.get(f"/analise/{ids[1]}"))


def test_posts_without_csrf_change_nothing(app: Flask) -> None:
    svc: Chamados = app.extensions["chamados"]
    ids = wave(svc, 1)
    sofia = staff(app, SOFIA, "Sofia", "supervisor")
    resp = sofia.post(
        "/incidentes-de-servico",
        data={"titulo": "T", "texto_publico": PUBLIC, "chamado": str(ids[0])},
    )
    assert resp.status_code == 400
    assert svc.outages.list(add_person(svc, SOFIA, "Sofia", "supervisor")) == []


def test_requesters_and_other_groups_see_nothing(app: Flask, tmp_path: Path) -> None:
    svc: Chamados = app.extensions["chamados"]
    ids = wave(svc, 1)
    _deploy_other_team_process(svc, tmp_path)
    admin = add_person(svc, "11122233396", "Carla Admin", "admin")
    teca_cpf = "71428793860"
    svc.admin.add_group_member(admin, "equipe-tecnica", teca_cpf)
    teca = add_person(svc, teca_cpf, "Teca", "analyst")
    maria_ref = requester(svc, 5)
    ti = svc.requests.start_chamado(maria_ref, "chamado_ti")
    from tests.test_engine_lifecycle import open_task, registration

    svc.requests.complete_task(
        maria_ref, open_task(svc, ti.id).id, registration(), chamado(svc, ti.id).version
    )
    ti_outage = svc.outages.create(teca, title="TI", public_text=PUBLIC, from_chamado_id=ti.id)
    own = svc.outages.create(
        add_person(svc, ANA, "Ana", "analyst"),
        title="Nosso",
        public_text=PUBLIC,
        from_chamado_id=ids[0],
    )
    ana = staff(app, ANA, "Ana", "analyst")
    assert ana.get(f"/incidentes-de-servico/{ti_outage}").status_code == 404
    assert "TI" not in re.sub(r"<[^>]+>", " ", text(ana.get("/incidentes-de-servico"))).split()
    assert ana.get(f"/fila/chamados/{ti.id}/duplicados").status_code == 404
    assert ana.get(f"/incidentes-de-servico/{own}").status_code == 200
    maria = staff(app, MARIA, "Maria")
    for url in (
        "/incidentes-de-servico",
        f"/incidentes-de-servico/{own}",
        "/incidentes-de-servico/novo",
        f"/fila/chamados/{ids[0]}/duplicados",
    ):
        assert maria.get(url).status_code == 403, url
    # Only supervisors resolve, on the page too.
    page = text(ana.get(f"/incidentes-de-servico/{own}"))
    assert "Resolver incidente</button>" not in page
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert token
    refused = ana.post(
        f"/incidentes-de-servico/{own}/resolver",
        data={"csrf_token": token.group(1), "version": "1"},
    )
    assert refused.status_code == 403
    assert chamado(svc, ids[0]).status == "em_analise"


def test_the_api(app: Flask) -> None:
    svc: Chamados = app.extensions["chamados"]
    ids = wave(svc, 3)
    sofia = Api(app.test_client(), person(app, SOFIA, "Sofia", "supervisor"))
    ana = Api(app.test_client(), person(app, ANA, "Ana", "analyst"))
    maria = Api(app.test_client(), person(app, MARIA, "Maria da Silva"))
    dups = ana.get(f"/chamados/{ids[0]}/duplicates")["items"]
    assert {d["chamado"]["id"] for d in dups} == set(ids[1:])
    refused = ana.call("POST", "/outages", {"title": "", "public_text": "x"}, expect=422)
    assert set(refused["errors"]) >= {"title", "public_text"}
    created = ana.call(
        "POST",
        "/outages",
        {"title": "Fora do ar", "public_text": PUBLIC, "from_chamado_id": ids[0]},
        expect=201,
    )
    oid = created["id"]
    assert [link["chamado"]["id"] for link in created["links"]] == [ids[0]]
    linked = ana.call("POST", f"/outages/{oid}/links", {"chamado_ids": ids[1:] + [999999]})
    assert len(linked["linked"]) == 2
    assert linked["refused"] == [{"chamado": "#999999", "reason": "chamado não encontrado"}]
    ana.call("POST", f"/outages/{oid}/links", {"chamado_ids": list(range(101))}, expect=422)
    known = maria.get("/services/chamado/known-problems")["items"]
    assert [k["title"] for k in known] == ["Fora do ar"] and not known[0]["subscribed"]
    assert maria.call("POST", f"/outages/{oid}/subscription")["subscribed"] is True
    patched = ana.call(
        "PUT",
        f"/outages/{oid}/text",
        {
            "title": "Fora do ar",
            "public_text": PUBLIC + " (atualizado)",
            "version": created["version"],
        },
    )
    stale = ana.call(
        "PUT",
        f"/outages/{oid}/text",
        {"title": "X", "public_text": "Velho texto", "version": created["version"]},
        expect=409,
    )
    assert "nada foi feito" in stale["detail"]
    created = patched
    maria.get("/outages", expect=403)
    maria.get(f"/outages/{oid}", expect=403)
    ana.call("POST", f"/outages/{oid}/resolve", {"version": created["version"]}, expect=403)
    done = sofia.call("POST", f"/outages/{oid}/resolve", {"version": created["version"]})
    assert done["state"] == "resolvido" and len(done["done"]["resolvido"]) == 3
    again = sofia.call(
        "POST", f"/outages/{oid}/resolve", {"version": created["version"]}, expect=409
    )
    assert "nada foi alterado" in again["detail"]
    assert sofia.get(f"/outages/{oid}")["pending"] == 0
    assert chamado(svc, ids[0]).outcome_message == PUBLIC + " (atualizado)"


def test_linking_from_the_analysis_page_and_unlinking(app: Flask) -> None:
    svc: Chamados = app.extensions["chamados"]
    ids = wave(svc, 2)
    ana_ref = add_person(svc, ANA, "Ana", "analyst")
    oid = svc.outages.create(
        ana_ref, title="Fora do ar", public_text=PUBLIC, from_chamado_id=ids[0]
    )
    ana = staff(app, ANA, "Ana", "analyst")
    page = text(ana.get(f"/analise/{ids[1]}"))
    assert "Ver possíveis duplicados" in page and "Vincular a este incidente" in page
    linked = ana.post(
        "/fila/vincular",
        data=fill(page, {"incidente": str(oid)}, "incidente"),
        follow_redirects=True,
    )
    assert "1 chamado(s) vinculado(s) ao incidente" in text(linked)
    assert "Este chamado está no incidente" in text(linked) and PUBLIC in text(linked)
    detail = text(ana.get(f"/incidentes-de-servico/{oid}"))
    unlink_url = f"/incidentes-de-servico/{oid}/desvincular/{ids[1]}"
    ana.post(unlink_url, data=fill(detail, {}, unlink_url))
    assert [link.chamado.id for link in svc.outages.get(ana_ref, oid).links] == [ids[0]]
    # Linking a stale selection to nothing chosen: told, nothing linked.
    refused = ana.post(
        "/fila/vincular",
        data={**fill(page, {}, "incidente"), "incidente": ""},
        follow_redirects=True,
    )
    assert "Escolha o incidente" in text(refused)


def test_the_public_text_is_changed_while_open_on_the_version_seen(app: Flask) -> None:
    svc: Chamados = app.extensions["chamados"]
    ids = wave(svc, 1)
    sofia_ref = add_person(svc, SOFIA, "Sofia", "supervisor")
    oid = svc.outages.create(sofia_ref, title="Fora", public_text=PUBLIC, from_chamado_id=ids[0])
    sofia = staff(app, SOFIA, "Sofia", "supervisor")
    url = f"/incidentes-de-servico/{oid}/texto"
    page = text(sofia.get(f"/incidentes-de-servico/{oid}"))
    refused = sofia.post(url, data=fill(page, {"texto_publico": "x"}, url))
    assert refused.status_code == 422 and "ao menos 5 caracteres" in text(refused)
    changed = sofia.post(url, data=fill(page, {"texto_publico": "Voltou às 15h."}, url))
    assert changed.status_code == 302
    assert svc.outages.get(sofia_ref, oid).outage.public_text == "Voltou às 15h."
    # The same (now stale) form again: nothing changes, what was typed is kept.
    stale = sofia.post(url, data=fill(page, {"texto_publico": "Texto velho da aba."}, url))
    assert stale.status_code == 409 and "Texto velho da aba." in text(stale)
    assert svc.outages.get(sofia_ref, oid).outage.public_text == "Voltou às 15h."
    svc.outages.resolve(sofia_ref, oid, svc.outages.get(sofia_ref, oid).outage.version)
    assert chamado(svc, ids[0]).outcome_message == "Voltou às 15h."
