"""The "Pedido de automação de serviço" end to end over the REST API alone.

The same story as tests/test_pedido_browser.py, by bearer tokens: Maria finds the
service, starts it and sends both of her steps; the technical and business teams each
find their own review in the queue (filtered by group and process), claim it and decide
in parallel; the supervisor asks for a complement, Maria re-sends, the supervisor
approves. Every response is checked against the OpenAPI document; the e-mails are the
model's three, in the outbox, for her.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from engine.models import OutboxMessage
from engine.service import Chamados
from tests.conftest import add_person
from tests.test_api import Api, build_app, person

MARIA, TECA, NINA, SOFIA = "39053344705", "11144477735", "52998224725", "86288366757"
CARLOS = "12345678909"  # the admin who lists the analysts in their teams
MARIA_EMAIL = f"{MARIA}@example.gov.br"

SERVICO = {
    "orgao": 244,
    "nome_do_servico": "Carteira de pescador",
    "volume_mensal": 1200,
    "descricao": "Hoje o pedido chega por e-mail e é digitado à mão.",
}


@pytest.fixture
def app(tmp_path: Path) -> Iterator[Flask]:
    app = build_app(tmp_path)
    yield app
    app.extensions["chamados"].unit.db.dispose()


@pytest.fixture
def people(app: Flask) -> dict[str, Api]:
    svc: Chamados = app.extensions["chamados"]
    found = {
        "maria": Api(app.test_client(), person(app, MARIA, "Maria da Silva")),
        "teca": Api(app.test_client(), person(app, TECA, "Teca Técnica", "analyst")),
        "nina": Api(app.test_client(), person(app, NINA, "Nina Negócio", "analyst")),
        "sofia": Api(app.test_client(), person(app, SOFIA, "Sofia Supervisora", "supervisor")),
    }
    # The API has no group administration: the admin's use case, as the "Grupos" page.
    carlos = add_person(svc, CARLOS, "Carlos Admin", "admin")
    svc.admin.add_group_member(carlos, "equipe-tecnica", TECA)
    svc.admin.add_group_member(carlos, "equipe-de-negocio", NINA)
    return found


def my_task(api: Api, cid: int) -> dict[str, Any]:
    """The caller's only ready task on the instance (GET /tasks)."""
    mine = [i["task"] for i in api.get("/tasks")["items"] if i["chamado"]["id"] == cid]
    assert len(mine) == 1, mine
    return mine[0]


def queue_ids(api: Api, query: str) -> list[tuple[int, str]]:
    return [(i["chamado"]["id"], i["task"]["name"]) for i in api.get(f"/queue?{query}")["items"]]


def claim_from_queue(api: Api, cid: int, query: str) -> dict[str, Any]:
    """Finds the instance's task in the queue (with ``query``'s filters), claims it, and
    returns its form."""
    items = api.get(f"/queue?view=disponiveis&{query}")["items"]
    task = next(i["task"] for i in items if i["chamado"]["id"] == cid)
    api.post(f"/tasks/{task['id']}/claim", expect=204)
    return api.get(f"/tasks/{task['id']}")


def submit(api: Api, form: dict[str, Any], data: dict[str, Any], **kw: Any) -> Any:
    body = {"data": data, "version": form["version"]}
    return api.post(f"/tasks/{form['task']['id']}/submit", body, **kw)


def outbox(app: Flask) -> list[OutboxMessage]:
    svc: Chamados = app.extensions["chamados"]
    with svc.unit.session_factory() as s:
        return list(s.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))


def test_pedido_de_automacao_over_the_api(app: Flask, people: dict[str, Api]) -> None:
    maria, teca, nina, sofia = (people[k] for k in ("maria", "teca", "nina", "sofia"))

    # --- Maria finds the service and starts it.
    services = {s["process_id"]: s for s in maria.get("/services")["items"]}
    pedido = services["pedido_automacao"]
    assert (pedido["title"], pedido["start_label"]) == (
        "Pedido de automação de serviço",
        "Pedir automação",
    )
    assert "automatizar" in pedido["description"]
    started = maria.post("/processes/pedido_automacao/instances", expect=201)
    cid, protocolo = started["chamado"]["id"], started["chamado"]["protocolo"]
    assert (started["chamado"]["status"], started["chamado"]["status_label"]) == (
        "em_preenchimento",
        "Em preenchimento",
    )
    assert (started["task"]["name"], started["task"]["title"]) == (
        "descrever_servico",
        "Descrever o serviço",
    )

    # Step 1, "O serviço a automatizar": refused fields are named; nothing moves.
    form = maria.get(f"/tasks/{started['task']['id']}")
    assert form["schema"]["title"] == "O serviço a automatizar"
    assert form["submit_label"] == "Avançar para os documentos"
    refused = submit(maria, form, {**SERVICO, "volume_mensal": 0, "descricao": "?"}, expect=422)
    assert set(refused["errors"]) == {"volume_mensal", "descricao"}
    sent = submit(maria, form, SERVICO)["chamado"]
    assert (sent["status"], sent["servico"], sent["orgao_id"]) == (
        "em_preenchimento",
        "Carteira de pescador",
        244,
    )
    assert outbox(app) == []  # nothing sent for review yet: no receipt

    # Step 2, "Documentos do pedido": her next task, right away.
    docs = my_task(maria, cid)
    assert (docs["name"], docs["group"]) == ("enviar_documentos", "requester")
    assert [t["id"] for t in maria.get(f"/chamados/{cid}")["open_tasks"]] == [docs["id"]]
    form = maria.get(f"/tasks/{docs['id']}")
    assert form["schema"]["title"] == "Documentos do pedido"
    assert form["submit_label"] == "Enviar pedido"
    sent = submit(maria, form, {"justificativa": "Volume alto e erros de digitação."})
    assert (sent["chamado"]["status"], sent["chamado"]["status_label"]) == (
        "em_avaliacao",
        "Em avaliação",
    )
    assert maria.get("/tasks")["items"] == []

    # --- The queue: each team sees its own review, filtered by group and by process.
    assert queue_ids(teca, "processo=pedido_automacao") == [(cid, "parecer_tecnico")]
    assert queue_ids(teca, "grupo=equipe-tecnica&processo=pedido_automacao") == [
        (cid, "parecer_tecnico")
    ]
    assert queue_ids(teca, "grupo=equipe-de-negocio") == []  # not her team
    assert queue_ids(teca, "processo=chamado") == []
    assert queue_ids(nina, "grupo=equipe-de-negocio") == [(cid, "parecer_negocio")]
    assert queue_ids(sofia, "grupo=supervisao") == []  # nothing to approve yet

    # Both claim, then decide: the reviews run side by side.
    tecnica = claim_from_queue(teca, cid, "grupo=equipe-tecnica")
    negocio = claim_from_queue(nina, cid, "grupo=equipe-de-negocio&processo=pedido_automacao")
    assert (tecnica["task"]["title"], negocio["task"]["title"]) == (
        "Parecer técnico",
        "Parecer de negócio",
    )
    assert tecnica["submit_label"] == "Registrar parecer"
    teca.post(f"/tasks/{negocio['task']['id']}/claim", expect=404)  # another team's task
    refused = submit(nina, negocio, {"parecer": "talvez"}, expect=422)
    assert set(refused["errors"]) == {"parecer"}
    submit(nina, negocio, {"parecer": "favoravel", "comentario": "Volume justifica."})
    # Teca read her form before Nina's review moved the instance: the documented 409,
    # nothing written; she reads the task again and sends the same decision.
    stale = submit(teca, tecnica, {"parecer": "favoravel"}, expect=409)
    assert "nada foi gravado" in stale["detail"]
    tecnica = teca.get(f"/tasks/{tecnica['task']['id']}")
    decided = submit(teca, tecnica, {"parecer": "favoravel", "comentario": "API simples."})
    assert decided["chamado"]["status_label"] == "Em aprovação"
    assert queue_ids(teca, "") == [] and queue_ids(nina, "") == []

    # --- The supervisor (a member of "Supervisão" by role) sees both reviews and asks
    # for a complement.
    approval = claim_from_queue(sofia, cid, "grupo=supervisao&processo=pedido_automacao")
    assert approval["task"]["name"] == "aprovar_pedido"
    assert approval["submit_label"] == "Registrar decisão"
    staff_view = sofia.get(f"/chamados/{cid}")
    reviews = [f for f in staff_view["forms"] if f["form_schema"] == "parecer-schema.json"]
    assert [(f["title"], f["group"], f["data"]) for f in reviews] == [
        (
            "Parecer de negócio",
            "equipe-de-negocio",
            {"parecer": "favoravel", "comentario": "Volume justifica."},
        ),
        (
            "Parecer técnico",
            "equipe-tecnica",
            {"parecer": "favoravel", "comentario": "API simples."},
        ),
    ]
    refused = submit(sofia, approval, {"decisao": "complemento"}, expect=422)
    assert set(refused["errors"]) == {"mensagem"}
    asked = submit(
        sofia, approval, {"decisao": "complemento", "mensagem": "Anexe a norma do serviço."}
    )["chamado"]
    assert (asked["status"], asked["status_label"], asked["adjustment_rounds"]) == (
        "aguardando_complemento",
        "Aguardando complemento",
        1,
    )

    # --- Maria reads the request, finds her last answers in the form, and re-sends.
    view = maria.get(f"/chamados/{cid}")
    assert view["request_message"] == "Anexe a norma do serviço."
    assert [f["title"] for f in view["forms"]] == [
        "O serviço a automatizar",
        "Documentos do pedido",
    ]
    assert "Volume justifica." not in json.dumps(view)  # the teams' notes are staff-only
    assert "API simples." not in json.dumps(view)
    assert all(e["public"] and "actor" not in e for e in view["events"])
    complement = view["open_tasks"][0]
    assert (complement["name"], complement["title"]) == (
        "complementar_pedido",
        "Complementar o pedido",
    )
    form = maria.get(f"/tasks/{complement['id']}")
    assert form["request_message"] == "Anexe a norma do serviço."
    assert form["data"] == {"justificativa": "Volume alto e erros de digitação."}
    assert form["submit_label"] == "Enviar complemento"
    resent = submit(
        maria, form, {"justificativa": "Volume alto e erros de digitação. Norma: Portaria 12/2024."}
    )
    assert resent["chamado"]["status"] == "em_aprovacao"

    # --- The supervisor sees what changed and approves.
    approval = claim_from_queue(sofia, cid, "grupo=supervisao")
    changes = sofia.get(f"/chamados/{cid}")["changes"]
    assert [(c["field"], c["new"]) for c in changes] == [
        ("justificativa", "Volume alto e erros de digitação. Norma: Portaria 12/2024.")
    ]
    done = submit(
        sofia, approval, {"decisao": "aprovar", "mensagem": "Aprovado: vamos começar em março."}
    )["chamado"]
    assert (done["status"], done["status_label"], done["outcome_message"]) == (
        "aprovado",
        "Aprovado",
        "Aprovado: vamos começar em março.",
    )
    assert done["closed_at"]

    # --- Maria's view of the end: closed, approved, the message and a named entry.
    assert maria.get("/chamados")["items"] == []  # open ones by default
    closed = maria.get("/chamados?view=encerrados")["items"]
    assert [(i["chamado"]["id"], i["chamado"]["status"], i["open_task"]) for i in closed] == [
        (cid, "aprovado", None)
    ]
    final = maria.get(f"/chamados/{cid}")
    assert final["chamado"]["outcome_message"] == "Aprovado: vamos começar em março."
    assert final["open_tasks"] == [] and final["request_message"] is None
    summaries = [e["summary"] for e in final["events"]]
    assert summaries[-1] == "Pedido aprovado"
    assert "Complemento pedido pela supervisão" in summaries
    assert "Complemento enviado" in summaries

    # --- Her e-mails: the model's three, in the outbox, and nobody else's.
    mail = outbox(app)
    assert [(m.kind, m.to_addr, m.chamado_id) for m in mail] == [
        ("pedido_recebido", MARIA_EMAIL, cid),
        ("pedido_complemento", MARIA_EMAIL, cid),
        ("pedido_resultado", MARIA_EMAIL, cid),
    ]
    received, complement_mail, result = mail
    assert received.subject == f"Pedido de automação {protocolo} recebido"
    assert "Carteira de pescador" in received.body_text
    assert complement_mail.subject == f"Pedido {protocolo}: complemento solicitado"
    assert "Anexe a norma do serviço." in complement_mail.body_text
    assert f"/tarefas/{complement['id']}" in complement_mail.body_text
    assert result.subject == f"Pedido {protocolo}: Aprovado"
    assert "Aprovado: vamos começar em março." in result.body_text
    assert f"/chamados/{cid}" in result.body_text
