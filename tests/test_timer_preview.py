"""The properties panel's previews: a timer's expression read back in pt-BR (or why it
cannot be armed, with the deploy's own bounds), a task's instructions as requesters see
them, and the groups a lane can be given — as the engine and the endpoints answer them."""

from __future__ import annotations

import re

import pytest
from flask import Flask
from flask.testing import FlaskClient

from engine.settings import PROJECT_ROOT
from engine.timer_preview import business_days_text, duration_text, preview
from tests.test_designer import app as app  # noqa: F401  (fixtures shared with the
from tests.test_designer import client_for, post_json
from tests.test_designer import dora_web as dora_web  # noqa: F401  designer's tests)

CHAMADO = (PROJECT_ROOT / "processes" / "chamado.bpmn").read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("kind", "expression", "expected"),
    [
        ("timeDuration", '"P10D"', "10 dias"),
        ("timeDuration", '"PT4H"', "4 horas"),
        ("timeDuration", '"P1DT2H30M"', "1 dia, 2 horas e 30 minutos"),
        ("timeDuration", "'P1W'", "1 semana"),
        ("timeDate", '"2026-12-01T09:00:00-03:00"', "em 01/12/2026 às 09:00 (horário de Brasília)"),
        ("timeDate", '"2026-12-01T12:00:00Z"', "em 01/12/2026 às 09:00 (horário de Brasília)"),
        ("timeCycle", '"R3/P1D"', "3 vezes, a cada 1 dia"),
        (
            "timeDuration",
            "prazo",
            "o valor do dado “prazo” do chamado quando o temporizador é armado",
        ),
        (
            "timeDuration",
            "prazo * 2",
            "calculado com os dados do chamado quando o temporizador é armado",
        ),
    ],
)
def test_a_valid_value_reads_in_portuguese(kind: str, expression: str, expected: str) -> None:
    assert preview(kind, expression) == preview(kind, f"  {expression} ")
    answer = preview(kind, expression)
    assert (answer.preview, answer.error) == (expected, None)


def test_the_chamado_deadline_reads_as_two_business_days() -> None:
    """businessDeadline:prazo_analise names prazo_analise_dias_uteis, which a script sets."""
    answer = preview("timeDate", "prazo_analise", CHAMADO)
    assert answer.error is None
    assert answer.preview == (
        "dois dias úteis a partir do início da etapa (businessDeadline:prazo_analise do processo)"
    )
    # Without the model it is only a name.
    assert preview("timeDate", "prazo_analise").preview == (
        "o valor do dado “prazo_analise” do chamado quando o temporizador é armado"
    )


@pytest.mark.parametrize(
    ("kind", "expression", "message"),
    [
        ("timeDuration", "P10D", 'Escreva o valor entre aspas: "P10D"'),
        ("timeCycle", "R3/P1D", 'Escreva o valor entre aspas: "R3/P1D"'),
        ("timeDuration", '"P99999Y"', "passa do limite de 5 anos"),
        ("timeDuration", '"dez dias"', "não é uma duração ISO 8601 válida"),
        ("timeDate", '"P1D"', "é uma duração, mas este temporizador espera uma data"),
        ("timeCycle", '"R/P1D"', "deve dizer quantas vezes se repete"),
        ("timeCycle", '"R3/PT1M"', "intervalo de pelo menos 1 hora"),
        ("timeDuration", "abc(", "Expressão Python inválida"),
        ("timeDuration", "", "Informe o valor do temporizador"),
        ("timeSomething", '"P1D"', "Escolha o tipo de temporizador"),
        ("timeDuration", '"P' + "1" * 600 + 'D"', "passa de 500 caracteres"),
    ],
)
def test_a_value_that_cannot_be_armed_says_why(kind: str, expression: str, message: str) -> None:
    answer = preview(kind, expression)
    assert answer.preview is None
    assert answer.error is not None and message in answer.error


def test_words_for_business_days_and_units() -> None:
    assert business_days_text(1) == "um dia útil"
    assert business_days_text(2) == "dois dias úteis"
    assert business_days_text(15) == "15 dias úteis"
    assert duration_text({"months": 1, "days": 1.5}) == "1 mês e 1,5 dias"


def test_the_endpoints_answer_designers_only(app: Flask, dora_web: FlaskClient) -> None:  # noqa: F811
    answer = post_json(
        dora_web,
        "/processos/chamado/previa-temporizador",
        {"kind": "timeDuration", "expression": '"P10D"'},
    )
    assert answer.status_code == 200 and answer.get_json() == {"preview": "10 dias", "error": None}
    answer = post_json(
        dora_web,
        "/processos/chamado/previa-temporizador",
        {"kind": "timeDate", "expression": "prazo_analise", "xml": CHAMADO},
    )
    assert answer.get_json()["preview"].startswith("dois dias úteis")
    refused = post_json(
        dora_web,
        "/processos/chamado/previa-temporizador",
        {"kind": "timeDuration", "expression": "P10D"},
    )
    assert refused.status_code == 200 and "entre aspas" in refused.get_json()["error"]
    bad = post_json(
        dora_web, "/processos/chamado/previa-temporizador", {"kind": 1, "expression": []}
    )
    assert bad.status_code == 400 and bad.get_json()["title"] == "Requisição inválida"

    html = post_json(
        dora_web,
        "/processos/chamado/previa-instrucoes",
        {"text": "# Título\n\n**Leia** <script>alert(1)</script> [x](javascript:alert(1))"},
    )
    body = html.get_json()["html"]
    assert html.status_code == 200 and "<h2>Título</h2>" in body and "<strong>Leia</strong>" in body
    assert "<script" not in body and "&lt;script&gt;" in body  # shown as text, never run
    assert "href" not in body  # the javascript: link is not a link
    long = post_json(dora_web, "/processos/chamado/previa-instrucoes", {"text": "x" * 20_001})
    assert long.status_code == 413
    missing = post_json(dora_web, "/processos/nao-existe/previa-instrucoes", {"text": "x"})
    assert missing.status_code == 404

    # Groups for lanes come with the draft.
    groups = dora_web.get("/processos/chamado/rascunho").get_json()["groups"]
    assert {"key": "equipe-tecnica", "name": "Equipe técnica"} in groups
    assert all(g["key"] != "requester" for g in groups)

    analyst = client_for(app, "11144477735", "Ana Souza", "analyst")
    page = analyst.get("/").get_data(as_text=True)
    token = re.search(r'<meta name="csrf-token" content="([^"]+)"', page)
    assert token
    for url in ("/processos/chamado/previa-temporizador", "/processos/chamado/previa-instrucoes"):
        body = {"kind": "timeDuration", "expression": '"P1D"', "text": "x"}
        denied = analyst.post(url, json=body, headers={"X-CSRFToken": token.group(1)})
        assert denied.status_code == 403
    # Without the CSRF token nothing is answered.
    assert dora_web.post(
        "/processos/chamado/previa-instrucoes", json={"text": "x"}
    ).status_code in (
        400,
        403,
    )
