"""An admin completes any ready task through the API, on its holder's behalf, audited.

`GET /api/v1/tasks/{id}?as_admin=true` shows an admin any ready task's form;
`POST /api/v1/tasks/{id}/complete-as-admin` completes it with the same checks as its
holder's submit. Nobody else may (403), and the ticket's staff history says an admin did it
for whom (the requester, or the group whose queue held it).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import select

from engine.models import AuditEvent
from engine.service import Chamados
from tests.conftest import ANA, MARIA
from tests.test_api import Api, build_app, deploy_tiny_process, person

CARLOS = "52998224725"


@pytest.fixture
def app(tmp_path: Path) -> Iterator[Flask]:
    app = build_app(tmp_path)
    yield app
    app.extensions["chamados"].unit.db.dispose()


def on_behalf_rows(app: Flask, chamado_id: int) -> list[AuditEvent]:
    svc: Chamados = app.extensions["chamados"]
    with svc.unit.session_factory() as s:
        return list(
            s.scalars(
                select(AuditEvent)
                .where(
                    AuditEvent.chamado_id == chamado_id,
                    AuditEvent.action == "task_completed_by_admin",
                )
                .order_by(AuditEvent.id)
            )
        )


def test_an_admin_completes_the_requesters_and_a_groups_task_audited(
    app: Flask, tmp_path: Path
) -> None:
    deploy_tiny_process(app, tmp_path)
    maria = Api(app.test_client(), person(app, MARIA, "Maria da Silva"))
    ana = Api(app.test_client(), person(app, ANA, "Ana Souza", "analyst"))
    carlos = Api(app.test_client(), person(app, CARLOS, "Carlos Admin", "admin"))

    started = maria.post("/processes/pedido_simples/instances", expect=201)
    cid, task_id = started["chamado"]["id"], started["task"]["id"]

    # Nobody but an admin: not the analyst, not the requester herself.
    body = {"data": {"descricao": "Pedido feito pelo admin."}, "version": 1}
    ana.get(f"/tasks/{task_id}?as_admin=true", expect=403)
    ana.post(f"/tasks/{task_id}/complete-as-admin", body, expect=403)
    maria.post(f"/tasks/{task_id}/complete-as-admin", body, expect=403)
    # Without ?as_admin the admin is refused like anyone else's task.
    carlos.get(f"/tasks/{task_id}", expect=404)

    form = carlos.get(f"/tasks/{task_id}?as_admin=true")
    assert form["task"]["name"] == "pedir" and "descricao" in form["schema"]["properties"]
    # The form's own checks hold for the admin too; a stale version changes nothing.
    bad = {"data": {"descricao": "x"}, "version": form["version"]}
    assert set(carlos.post(f"/tasks/{task_id}/complete-as-admin", bad, expect=422)["errors"]) == {
        "descricao"
    }
    stale = {**body, "version": form["version"] + 5}
    carlos.post(f"/tasks/{task_id}/complete-as-admin", stale, expect=409)
    assert on_behalf_rows(app, cid) == []

    done = carlos.post(f"/tasks/{task_id}/complete-as-admin", {**body, "version": form["version"]})
    assert done["chamado"]["status"] != "concluido"
    # Done once: the same task again is refused, nothing changes.
    again = {**body, "version": done["chamado"]["version"]}
    carlos.post(f"/tasks/{task_id}/complete-as-admin", again, expect=409)

    # The analysis, unclaimed in the group's queue: the admin completes it too.
    view = carlos.get(f"/chamados/{cid}")
    (analysis,) = view["open_tasks"]
    assert analysis["assignee_id"] is None
    form = carlos.get(f"/tasks/{analysis['id']}?as_admin=true")
    finished = carlos.post(
        f"/tasks/{analysis['id']}/complete-as-admin",
        {"data": {"parecer": "Concedido."}, "version": form["version"]},
    )
    assert finished["chamado"]["status"] == "concluido" and finished["chamado"]["closed_at"]

    first, second = on_behalf_rows(app, cid)
    assert (
        first.summary
        == "Tarefa “Fazer o pedido” concluída por administrador(a) em nome de Maria da Silva"
    )
    assert first.details is not None and first.details["element"] == "pedir"
    assert second.summary.startswith(
        "Tarefa “Avaliar o pedido” concluída por administrador(a) em nome do grupo"
    )
    assert not first.public and not second.public
    admin_id = first.actor_id
    assert admin_id is not None and second.actor_id == admin_id
    # The requester's timeline does not show the admin's internal trace …
    assert all("administrador" not in e["summary"] for e in maria.get(f"/chamados/{cid}")["events"])
    # … the staff history does.
    staff = [e["summary"] for e in carlos.get(f"/chamados/{cid}")["events"]]
    assert first.summary in staff and second.summary in staff
