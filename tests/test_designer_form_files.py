"""The form editor says which tasks share a form, and its files download from the draft."""

from __future__ import annotations

import json

from flask import Flask

from engine.designer import Designer
from engine.service import ActorRef
from tests.test_designer import DORA, client_for
from tests.test_designer import app as app  # noqa: F401  (fixtures shared with the
from tests.test_designer import designer as designer  # noqa: F401  designer's tests)
from tests.test_designer import dora as dora  # noqa: F401


def test_a_form_shared_by_two_tasks_says_so(designer: Designer, dora: ActorRef) -> None:
    # The chamado's requester fills the same form to register and to adjust.
    registrar = designer.task_form(dora, "chamado", "registrar_chamado")
    assert registrar.shared_with == ("Ajustar solicitação (ajustar_solicitacao)",)
    analisar = designer.task_form(dora, "chamado", "analisar_chamado")
    assert analisar.shared_with == ()


def test_the_editor_shows_it_and_downloads_the_files(app: Flask) -> None:  # noqa: F811
    client = client_for(app, DORA, "Dora Projetista", "designer")
    page = client.get("/processos/chamado/formularios/registrar_chamado").get_data(as_text=True)
    assert "também é o de: Ajustar solicitação (ajustar_solicitacao)" in page
    url = "/processos/chamado/arquivos/registrar-chamado-schema.json"
    assert f'href="{url}"' in page
    resp = client.get(url)
    assert resp.status_code == 200 and resp.mimetype == "application/json"
    assert 'filename="registrar-chamado-schema.json"' in resp.headers["Content-Disposition"]
    assert json.loads(resp.data)["type"] == "object"
    assert client.get("/processos/chamado/arquivos/nao-existe.json").status_code == 404
    analyst = client_for(app, "11144477735", "Ana", "analyst")
    assert analyst.get(url).status_code == 403
