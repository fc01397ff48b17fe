"""Ready answers ("Respostas prontas"): supervisors keep texts per problem type and per
return reason; the analysis form offers those of its ticket, fills placeholders, and the
analyst edits before sending; retired answers leave old tickets as they were."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import select

from engine.errors import Conflict, Forbidden, ValidationFailed
from engine.models import AuditEvent, Submission
from engine.service import ActorRef, Chamados
from tests.conftest import add_person
from tests.test_api import build_app
from tests.test_auth import set_session_user
from tests.test_engine_lifecycle import chamado, decide, open_task, submit_registration
from tests.webform import fill

MARIA, ANA, SOFIA = "39053344705", "11144477735", "86288366757"
SCHEMA_NAME = "analisar-chamado-schema.json"
TEXT = "Olá, {nome}. O chamado {protocolo} ({servico}, {orgao}) foi resolvido."


def analysis_schema(svc: Chamados, ana: ActorRef, cid: int) -> dict:  # type: ignore[type-arg]
    task = open_task(svc, cid, "analyst")
    if task.assignee_id is None:
        svc.analysis.claim(ana, task.id)
    return svc.requests.task_form(ana, task.id).schema


def test_offered_by_problem_type_and_by_return_reason_with_placeholders_filled(
    svc: Chamados, maria: ActorRef, ana: ActorRef, sofia: ActorRef
) -> None:
    erro = svc.ready_answers.save(sofia, None, "Erro de API", TEXT, "tipo_problema", "erro_api")
    geral = svc.ready_answers.save(sofia, None, "Geral", "Obrigado, {nome}.", "tipo_problema", None)
    svc.ready_answers.save(sofia, None, "Lentidão", "Texto", "tipo_problema", "lentidao")
    fora = svc.ready_answers.save(
        sofia, None, "Fora do escopo", "Não tratamos {servico}.", "motivo_devolucao", "fora_escopo"
    )
    cid = submit_registration(svc, maria)  # tipo_problema: erro_api
    schema = analysis_schema(svc, ana, cid)
    offered = svc.ready_answers.offered(ana, cid, schema)
    assert [(a.id, a.title) for a in offered["resposta"]] == [
        (geral, "Geral"),
        (erro, "Erro de API"),
    ]
    protocolo = chamado(svc, cid).protocolo
    assert offered["resposta"][1].text == (
        f"Olá, Maria da Silva. O chamado {protocolo} (Aposentadoria por idade, "
        f"{svc.analysis.orgao_label(1934)}) foi resolvido."
    )
    # The return reason is chosen in the same form: every reason's answers are offered.
    assert [a.id for a in offered["justificativa_devolucao"]] == [fora]
    assert offered["justificativa_devolucao"][0].code_label.startswith("Fora do escopo")


def test_using_an_answer_fills_its_field_and_keeps_what_was_typed(
    svc: Chamados, maria: ActorRef, ana: ActorRef, sofia: ActorRef
) -> None:
    fora = svc.ready_answers.save(
        sofia, None, "Fora do escopo", "Não tratamos {servico}.", "motivo_devolucao", "fora_escopo"
    )
    cid = submit_registration(svc, maria)
    schema = analysis_schema(svc, ana, cid)
    typed = {"decisao": "devolver", "nota_interna": "ver com a equipe"}
    used = svc.ready_answers.apply(ana, cid, schema, typed, fora)
    assert used == {
        "decisao": "devolver",
        "nota_interna": "ver com a equipe",
        "justificativa_devolucao": "Não tratamos Aposentadoria por idade.",
        "motivo_devolucao": "fora_escopo",  # the reason the answer is for
    }
    assert svc.ready_answers.apply(ana, cid, schema, typed, 999) == typed  # not offered


def test_retired_answers_are_not_offered_and_old_tickets_keep_their_text(
    svc: Chamados, maria: ActorRef, ana: ActorRef, sofia: ActorRef
) -> None:
    answer = svc.ready_answers.save(sofia, None, "Erro", TEXT, "tipo_problema", "erro_api")
    cid = submit_registration(svc, maria)
    schema = analysis_schema(svc, ana, cid)
    data = svc.ready_answers.apply(ana, cid, schema, {"decisao": "resolver"}, answer)
    data["resposta"] += " Qualquer dúvida, responda."  # edited before sending
    decide(svc, ana, cid, data)
    svc.ready_answers.set_active(sofia, answer, False)
    other = submit_registration(svc, maria)
    assert svc.ready_answers.offered(ana, other, analysis_schema(svc, ana, other)) == {
        "resposta": [],
        "justificativa_devolucao": [],
    }
    with svc.unit.session_factory() as s:
        sent = s.scalars(
            select(Submission).where(
                Submission.chamado_id == cid, Submission.form_schema == SCHEMA_NAME
            )
        ).one()
        audit = s.scalars(
            select(AuditEvent.action).where(AuditEvent.action.like("resposta_pronta.%"))
        ).all()
    assert sent.data["resposta"].endswith("foi resolvido. Qualquer dúvida, responda.")
    assert [a.active for a in svc.ready_answers.list(sofia)] == [False]  # still listed
    assert audit == ["resposta_pronta.criada", "resposta_pronta.retirada"]


def test_an_edit_made_on_an_older_version_changes_nothing(svc: Chamados, sofia: ActorRef) -> None:
    """Two supervisors open the same answer; the first saves; the second's save, made on
    the version both saw, is refused and writes nothing."""
    bruno = add_person(svc, "52998224725", "Bruno Supervisor", "supervisor")
    answer_id = svc.ready_answers.save(sofia, None, "Erro", TEXT, "tipo_problema", "erro_api")
    seen = svc.ready_answers.get(sofia, answer_id)
    assert seen.version == svc.ready_answers.get(bruno, answer_id).version == 1
    svc.ready_answers.save(
        sofia, answer_id, "Erro de API", "Texto da Sofia.", "tipo_problema", "erro_api", 1
    )
    with pytest.raises(Conflict) as refused:
        svc.ready_answers.save(
            bruno, answer_id, "Erro geral", "Texto do Bruno.", "tipo_problema", None, 1
        )
    assert "alterada por outra pessoa" in refused.value.message
    now = svc.ready_answers.get(sofia, answer_id)
    assert (now.title, now.body, now.code, now.version) == (
        "Erro de API",
        "Texto da Sofia.",
        "erro_api",
        2,
    )
    with svc.unit.session_factory() as s:
        actions = s.scalars(
            select(AuditEvent.action).where(AuditEvent.action.like("resposta_pronta.%"))
        ).all()
    assert actions == ["resposta_pronta.criada", "resposta_pronta.alterada"]
    # Retiring it is no edit of its text: the version stays, an open editor still saves.
    svc.ready_answers.set_active(sofia, answer_id, False)
    svc.ready_answers.save(
        bruno, answer_id, "Erro geral", "Texto do Bruno.", "tipo_problema", None, 2
    )
    assert svc.ready_answers.get(sofia, answer_id).version == 3


@pytest.mark.parametrize(
    ("title", "body", "catalog", "code", "field", "message"),
    [
        ("", "x", "tipo_problema", None, "titulo", "Dê um título"),
        ("T", "", "tipo_problema", None, "texto", "Escreva o texto"),
        ("T", "Olá {cliente}", "tipo_problema", None, "texto", "Marcador desconhecido: {cliente}"),
        ("T", "x", "nao_existe", None, "catalogo", "Escolha a que lista"),
        ("T", "x", "tipo_problema", "nao_existe", "valor", "Escolha um valor"),
        ("T" * 121, "x", "tipo_problema", None, "titulo", "até 120 caracteres"),
        ("T", "x" * 5001, "tipo_problema", None, "texto", "até 5000 caracteres"),
        ("T\x00", "x", "tipo_problema", None, "titulo", "caractere de controle"),
    ],
)
def test_what_a_supervisor_may_not_save(
    svc: Chamados,
    sofia: ActorRef,
    title: str,
    body: str,
    catalog: str,
    code: str | None,
    field: str,
    message: str,
) -> None:
    with pytest.raises(ValidationFailed) as refused:
        svc.ready_answers.save(sofia, None, title, body, catalog, code)
    assert message in refused.value.errors[field]
    assert svc.ready_answers.list(sofia) == []


def test_only_supervisors_and_admins_keep_them(
    svc: Chamados, maria: ActorRef, ana: ActorRef
) -> None:
    for who in (maria, ana):
        with pytest.raises(Forbidden):
            svc.ready_answers.save(who, None, "T", "x", "tipo_problema", None)
        with pytest.raises(Forbidden):
            svc.ready_answers.list(who)
    cid = submit_registration(svc, maria)
    with pytest.raises(Forbidden):
        svc.ready_answers.offered(maria, cid, {})


# --- pages ----------------------------------------------------------------------------------


@pytest.fixture
def app(tmp_path: Path) -> Iterator[Flask]:
    app = build_app(tmp_path)
    yield app
    app.extensions["chamados"].unit.db.dispose()


def test_a_supervisor_keeps_answers_on_their_page(app: Flask) -> None:
    client = app.test_client()
    set_session_user(app, client, SOFIA, "Sofia", "supervisor")
    page = client.get("/respostas-prontas").get_data(as_text=True)
    assert "Nenhuma resposta pronta ainda." in page
    refused = client.post(
        "/respostas-prontas",
        data=fill(
            page, {"titulo": "Erro", "texto": "Olá {x}", "aplica": "tipo_problema"}, "titulo"
        ),
    )
    html = refused.get_data(as_text=True)
    assert refused.status_code == 422 and "Marcador desconhecido: {x}" in html
    assert 'value="Erro"' in html and "Olá {x}</textarea>" in html  # nothing typed is lost
    sent = client.post(
        "/respostas-prontas",
        data=fill(
            page,
            {"titulo": "Erro de API", "texto": "Olá, {nome}.", "aplica": "tipo_problema:erro_api"},
            "titulo",
        ),
    )
    assert sent.status_code == 302
    listed = client.get("/respostas-prontas").get_data(as_text=True)
    assert "Erro de API" in listed and "Ativa" in listed
    maria = app.test_client()
    set_session_user(app, maria, MARIA, "Maria")
    assert maria.get("/respostas-prontas").status_code == 403


def test_two_supervisors_edit_an_answer_the_second_is_told_and_keeps_what_they_typed(
    app: Flask,
) -> None:
    svc: Chamados = app.extensions["chamados"]
    sofia = add_person(svc, SOFIA, "Sofia", "supervisor")
    answer_id = svc.ready_answers.save(
        sofia, None, "Erro", "Texto original.", "tipo_problema", "erro_api"
    )
    first, second = app.test_client(), app.test_client()
    set_session_user(app, first, SOFIA, "Sofia", "supervisor")
    set_session_user(app, second, "52998224725", "Bruno", "supervisor")
    url = f"/respostas-prontas/{answer_id}"
    first_page = first.get(url).get_data(as_text=True)
    second_page = second.get(url).get_data(as_text=True)
    assert 'name="version" value="1"' in first_page and 'name="version" value="1"' in second_page

    saved = first.post(
        url, data=fill(first_page, {"titulo": "Erro de API", "texto": "Texto da Sofia."}, "titulo")
    )
    assert saved.status_code == 302
    typed = {"titulo": "Erro geral", "texto": "Texto do Bruno.", "aplica": "tipo_problema"}
    refused = second.post(url, data=fill(second_page, typed, "titulo"))
    html = refused.get_data(as_text=True)
    assert refused.status_code == 409
    assert "Outra pessoa alterou esta resposta enquanto você a editava; nada foi gravado." in html
    # What the second supervisor typed stays in the form...
    assert 'value="Erro geral"' in html and ">Texto do Bruno.</textarea>" in html
    assert '<option value="tipo_problema" selected>' in html
    # ...beside the answer as it is now, whose version the form now carries.
    assert "<dd>Erro de API</dd>" in html and "Texto da Sofia.</dd>" in html
    assert 'name="version" value="2"' in html
    now = svc.ready_answers.get(sofia, answer_id)
    assert (now.title, now.body, now.version) == ("Erro de API", "Texto da Sofia.", 2)

    again = second.post(url, data=fill(html, {}, "titulo"))  # saved knowingly this time
    assert again.status_code == 302
    now = svc.ready_answers.get(sofia, answer_id)
    assert (now.title, now.body, now.code) == ("Erro geral", "Texto do Bruno.", None)


def test_the_analysis_page_offers_and_uses_an_answer_without_sending(app: Flask) -> None:
    svc: Chamados = app.extensions["chamados"]
    sofia = add_person(svc, SOFIA, "Sofia", "supervisor")
    svc.ready_answers.save(sofia, None, "Erro de API", "Olá, {nome}.", "tipo_problema", "erro_api")
    maria = add_person(svc, MARIA, "Maria da Silva")
    cid = submit_registration(svc, maria)
    client = app.test_client()
    set_session_user(app, client, ANA, "Ana", "analyst")
    ana = add_person(svc, ANA, "Ana", "analyst")
    svc.analysis.claim(ana, open_task(svc, cid, "analyst").id)
    page = client.get(f"/analise/{cid}").get_data(as_text=True)
    assert "Respostas prontas" in page and 'form="form-decisao"' in page
    form = fill(
        page, {"decisao": "resolver", "nota_interna": "anotado", "_resposta_pronta": "1"}, "version"
    )
    used = client.post(f"/analise/{cid}", data=form)
    html = used.get_data(as_text=True)
    assert used.status_code == 200 and "Resposta pronta aplicada" in html
    assert "Olá, Maria da Silva.</textarea>" in html and "anotado</textarea>" in html
    assert open_task(svc, cid, "analyst").state == "ready"  # nothing was sent


def test_the_api_lists_creates_and_offers_them(app: Flask) -> None:
    from tests.test_api import Api, person

    svc: Chamados = app.extensions["chamados"]
    sofia = Api(app.test_client(), person(app, SOFIA, "Sofia", "supervisor"))
    created = sofia.call(
        "POST",
        "/ready-answers",
        {
            "title": "Erro de API",
            "text": "Olá, {nome}.",
            "catalog": "tipo_problema",
            "value": "erro_api",
        },
        expect=201,
    )
    assert (created["value"], created["active"], created["version"]) == ("erro_api", True, 1)
    refused = sofia.call(
        "POST", "/ready-answers", {"title": "", "text": "x", "catalog": "tipo_problema"}, expect=422
    )
    assert "Dê um título" in refused["errors"]["title"]
    assert [a["title"] for a in sofia.get("/ready-answers")["items"]] == ["Erro de API"]
    maria_token = person(app, MARIA, "Maria da Silva")
    Api(app.test_client(), maria_token).get("/ready-answers", expect=403)
    maria = add_person(svc, MARIA, "Maria da Silva")
    cid = submit_registration(svc, maria)
    ana = Api(app.test_client(), person(app, ANA, "Ana", "analyst"))
    task = open_task(svc, cid, "analyst")
    ana.call("POST", f"/tasks/{task.id}/claim", expect=204)
    offered = ana.get(f"/tasks/{task.id}/ready-answers")["fields"]
    assert [a["text"] for a in offered["resposta"]] == ["Olá, Maria da Silva."]
    assert offered["justificativa_devolucao"] == []


def test_the_demo_examples_are_valid_and_seeded_once(svc: Chamados, sofia: ActorRef) -> None:
    """data/ready_answers.json passes the same checks as a supervisor's answer."""
    first = svc.ready_answers.seed_examples()
    assert first >= 3
    assert svc.ready_answers.seed_examples() == 0  # supervisors own the list from then on
    answers = svc.ready_answers.list(sofia)
    assert len(answers) == first and all(a.active for a in answers)
    assert {a.catalog for a in answers} == {"tipo_problema", "motivo_devolucao"}
