"""The Painel over HTTP: the page (charts, tables, the GET form), the CSV exports and
GET /api/v1/dashboard, with who may see them and bad filters."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask

from engine import groups
from engine.service import Chamados
from tests import dashboard_data
from tests.conftest import FakeClock
from tests.dashboard_data import ANA, MARIA, Known
from tests.test_api import Api, build_app, person
from tests.test_auth import set_session_user

ADMIN, SOFIA = "52998224725", "71460238001"
PERIOD = "de=2026-11-27&ate=2026-12-02"


@pytest.fixture
def app(tmp_path: Path) -> Iterator[Flask]:
    app = build_app(tmp_path)
    yield app
    app.extensions["chamados"].unit.db.dispose()


@pytest.fixture
def known(app: Flask) -> Known:
    svc: Chamados = app.extensions["chamados"]
    clock = FakeClock(dashboard_data.START)
    svc.clock = clock
    return dashboard_data.build(svc, clock)


def test_the_page_draws_each_figure_with_its_table_and_csv(app: Flask, known: Known) -> None:
    client = app.test_client()
    set_session_user(app, client, SOFIA, "Sofia Supervisora", "supervisor")
    assert 'href="/painel"' in client.get("/fila").get_data(as_text=True)  # in the menu
    resp = client.get(f"/painel?{PERIOD}")
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200
    assert "Período: 27/11/2026 a 02/12/2026, por dia." in html
    # Charts are SVG drawn by the server, each described and followed by its table.
    assert html.count('<svg viewBox="0 0 640') == 10  # every figure but the times
    assert 'aria-label="Gráfico de colunas: Chamados abertos por dia.' in html
    assert "<title>27/11/2026: 2</title>" in html
    assert '<caption id="abertos-tabela">Tabela: Chamados abertos por dia</caption>' in html
    assert '<th scope="row">27/11/2026</th><td>2</td>' in html
    assert '<th scope="row">Até o resultado</th><td>3 h</td><td>12 h 30 min</td><td>3</td>' in html
    assert '<th scope="row">5 — Resolveu totalmente</th><td>1</td>' in html
    assert "<dt>Com comentário</dt><dd>2</dd>" in html
    assert "<dt>Média</dt><dd>3,00</dd>" in html
    assert (
        'href="/painel/satisfacao.csv?de=2026-11-27&amp;ate=2026-12-02&amp;agrupamento=dia"' in html
    )
    # The form keeps the filters and offers the period's órgãos and services.
    assert 'name="de" type="date" value="2026-11-27"' in html
    assert '<option value="244">MEC — Ministério da Educação</option>' in html
    assert "<option>Pensão por morte</option>" in html
    filtered = client.get(f"/painel?{PERIOD}&agrupamento=semana&orgao=1934")
    page = filtered.get_data(as_text=True)
    assert '<th scope="row">Semana de 23/11/2026</th><td>2</td>' in page
    assert '<option value="1934" selected>' in page


def test_csv_exports_are_the_tables(app: Flask, known: Known) -> None:
    client = app.test_client()
    set_session_user(app, client, ADMIN, "Carlos Admin", "admin")
    resp = client.get(f"/painel/tempos.csv?{PERIOD}")
    assert resp.status_code == 200
    assert resp.mimetype == "text/csv"
    assert (
        resp.headers["Content-Disposition"]
        == 'attachment; filename="painel-tempos-2026-11-27-a-2026-12-02.csv"'
    )
    body = resp.get_data(as_text=True)
    assert body.startswith("\ufeff")
    assert list(csv.reader(io.StringIO(body[1:]))) == [
        ["Medida", "Mediana (p50) (horas)", "p90 (horas)", "Chamados"],
        ["Até a primeira análise", "1.00", "4.00", "3"],
        ["Até o resultado", "3.00", "12.50", "3"],
    ]
    weeks = client.get(f"/painel/abertos.csv?{PERIOD}&agrupamento=semana").get_data(as_text=True)
    assert list(csv.reader(io.StringIO(weeks[1:]))) == [
        ["Semana", "Chamados abertos"],
        ["Semana de 23/11/2026", "3"],
        ["Semana de 30/11/2026", "1"],
    ]
    orgaos = client.get(f"/painel/por_orgao.csv?{PERIOD}&servico=Pensão por morte")
    assert list(csv.reader(io.StringIO(orgaos.get_data(as_text=True)[1:]))) == [
        ["Órgão", "Chamados abertos"],
        ["INSS — Instituto Nacional do Seguro Social", "1"],
    ]
    assert client.get(f"/painel/nada.csv?{PERIOD}").status_code == 404
    assert client.get("/painel/abertos.csv?de=ontem").status_code == 422


def test_who_may_see_the_page_and_the_exports(app: Flask, known: Known) -> None:
    for cpf, name, roles in ((MARIA, "Maria da Silva", ()), (ANA, "Ana Souza", ("analyst",))):
        client = app.test_client()
        set_session_user(app, client, cpf, name, *roles)
        resp = client.get("/painel")
        assert resp.status_code == 403
        assert "O painel é para supervisores e administradores." in resp.get_data(as_text=True)
        assert client.get(f"/painel/abertos.csv?{PERIOD}").status_code == 403
        assert 'href="/painel"' not in client.get("/").get_data(as_text=True)
    anonymous = app.test_client().get("/painel")
    assert anonymous.status_code in (302, 401)
    # A supervisor of other groups only sees none of the chamado's tickets.
    svc: Chamados = app.extensions["chamados"]
    with svc.unit.transaction() as s:
        groups.set_roles(s, "analyst", ["analyst"], groups.get(s, "analyst").version)
    client = app.test_client()
    set_session_user(app, client, SOFIA, "Sofia Supervisora", "supervisor")
    html = client.get(f"/painel?{PERIOD}").get_data(as_text=True)
    assert '<th scope="row">27/11/2026</th><td>0</td>' in html
    assert "Pensão por morte" not in html and "MEC" not in html
    csv_text = client.get(f"/painel/por_servico.csv?{PERIOD}").get_data(as_text=True)
    assert csv_text == "\ufeffServiço,Chamados abertos\r\n"


def test_bad_filters_come_back_named_with_what_was_typed(app: Flask, known: Known) -> None:
    client = app.test_client()
    set_session_user(app, client, ADMIN, "Carlos Admin", "admin")
    resp = client.get("/painel?de=2026-12-02&ate=2026-11-01&servico=<b>x</b>&agrupamento=ano")
    html = resp.get_data(as_text=True)
    assert resp.status_code == 422
    assert "<title>Erro: Painel" in html
    assert "A data final deve ser igual ou posterior à data inicial." in html
    assert "Agrupe por dia ou por semana." in html
    assert 'name="de" type="date" value="2026-12-02"' in html
    assert "<option selected>&lt;b&gt;x&lt;/b&gt;</option>" in html
    assert "<b>x</b>" not in html


def test_the_api_gives_the_figures_to_whom_the_page_does(app: Flask, known: Known) -> None:
    admin = Api(app.test_client(), person(app, ADMIN, "Carlos Admin", "admin"))
    body = admin.get(f"/dashboard?{PERIOD}&agrupamento=semana")
    assert body["filters"] == {
        "de": "2026-11-27",
        "ate": "2026-12-02",
        "agrupamento": "semana",
        "orgao": None,
        "servico": None,
        "processo": None,
    }
    assert body["all_processes"] is True
    metrics = {m["key"]: m for m in body["metrics"]}
    assert list(metrics) == [
        "abertos",
        "por_orgao",
        "por_servico",
        "por_tipo",
        "por_processo",
        "em_aberto",
        "tempos",
        "prazos_vencidos",
        "ajustes",
        "incidentes",
        "satisfacao",
    ]
    assert metrics["abertos"]["rows"] == [["Semana de 23/11/2026", 3], ["Semana de 30/11/2026", 1]]
    assert metrics["tempos"]["columns"][1] == {"title": "Mediana (p50)", "kind": "seconds"}
    assert metrics["tempos"]["rows"][1] == ["Até o resultado", 10800.0, 45000.0, 3]
    assert metrics["satisfacao"]["summary"][1] == {"label": "Média", "value": "3,00"}
    assert {"id": 244, "label": "MEC — Ministério da Educação"} in body["choices"]["orgaos"]
    bad = admin.get("/dashboard?de=2026-13-01&orgao=abc", expect=422)
    assert set(bad["errors"]) == {"de", "orgao"}
    assert "AAAA-MM-DD" in bad["errors"]["de"]
    too_long = admin.get("/dashboard?de=2025-01-01&ate=2026-12-02", expect=422)
    assert too_long["errors"] == {"ate": "O período pode ter até 366 dias."}
    analyst = Api(app.test_client(), person(app, ANA, "Ana Souza", "analyst"))
    refused = analyst.get("/dashboard", expect=403)
    assert "supervisores e administradores" in refused["detail"]
    Api(app.test_client(), person(app, MARIA, "Maria da Silva")).get("/dashboard", expect=403)
    Api(app.test_client()).get("/dashboard", expect=401)


def test_a_service_name_that_looks_like_a_formula_is_not_one_in_the_csv(
    app: Flask, known: Known
) -> None:
    svc: Chamados = app.extensions["chamados"]
    dashboard_data._submit(svc, known.maria, nome_servico="=HYPERLINK(1)")
    client = app.test_client()
    set_session_user(app, client, ADMIN, "Carlos Admin", "admin")
    body = client.get(f"/painel/por_servico.csv?{PERIOD}").get_data(as_text=True)
    assert list(csv.reader(io.StringIO(body[1:])))[1:] == [
        ["Aposentadoria por idade", "3"],
        ["'=HYPERLINK(1)", "1"],
        ["Pensão por morte", "1"],
    ]
