"""The "Elementos" form: names, conditions and default flows edited without the canvas
(the modeler's keyboard path, and a way without JavaScript)."""

from __future__ import annotations

import pytest
from flask import Flask
from lxml import etree

from engine import specs
from engine.designer import Designer, ModelRejected
from engine.designer.elements import Edits
from engine.errors import ValidationFailed
from engine.service import ActorRef
from tests.test_designer import DORA, client_for
from tests.test_designer import app as app  # noqa: F401  (fixtures shared with the
from tests.test_designer import designer as designer  # noqa: F401  designer's tests)
from tests.test_designer import dora as dora  # noqa: F401
from tests.webform import fill

BPMN = "{http://www.omg.org/spec/BPMN/20100524/MODEL}"


def _tree(designer: Designer, dora: ActorRef) -> etree._Element:
    return specs.safe_parse_xml(designer.draft(dora, "chamado").bpmn_xml.encode())


def test_the_form_lists_names_and_each_decision_with_its_conditions(
    designer: Designer, dora: ActorRef
) -> None:
    _draft, found = designer.elements(dora, "chamado")
    names = {n.id: (n.kind_label, n.name, n.has_form) for n in found.nodes}
    assert names["registrar_chamado"] == ("Tarefa de usuário", "Registrar chamado", True)
    assert names["decisao_analise"][0] == "Decisão exclusiva"
    ((gateway, flows),) = [d for d in found.decisions if d[0].id == "decisao_analise"]
    assert {f.id: f.condition for f in flows} == {
        "Flow_ajuste": 'decisao == "ajuste" and rodadas_ajuste < max_rodadas_ajuste',
        "Flow_resolver": 'decisao == "resolver"',
        "Flow_devolver": 'decisao == "devolver"',
    }
    assert not any(f.is_default for f in flows)


def test_edits_are_saved_and_nothing_else_in_the_model_changes(
    designer: Designer, dora: ActorRef
) -> None:
    before = _tree(designer, dora)
    draft = designer.draft(dora, "chamado")
    designer.save_elements(
        dora,
        "chamado",
        draft.version,
        Edits(
            names={"registrar_chamado": "Abrir chamado", "inexistente": "x"},
            conditions={"Flow_resolver": 'decisao == "resolver" and True', "Flow_devolver": ""},
            defaults={"decisao_analise": "Flow_devolver"},
        ),
    )
    after = _tree(designer, dora)
    by_id = {n.get("id"): n for n in after.iter() if isinstance(n.tag, str) and n.get("id")}
    assert by_id["registrar_chamado"].get("name") == "Abrir chamado"
    assert by_id["decisao_analise"].get("default") == "Flow_devolver"
    assert by_id["Flow_resolver"].findtext(f"{BPMN}conditionExpression") == (
        'decisao == "resolver" and True'
    )
    assert by_id["Flow_devolver"].find(f"{BPMN}conditionExpression") is None  # the default

    # Everything else is as it was: the same elements, extensions and diagram (but the
    # default flow's condition, removed).
    def shape(tree: etree._Element) -> list[tuple[str, str | None]]:
        return [
            (str(n.tag), n.get("id"))
            for n in tree.iter()
            if isinstance(n.tag, str) and n.tag != f"{BPMN}conditionExpression"
        ]

    assert shape(after) == shape(before)
    props = "{http://spiffworkflow.org/bpmn/schema/1.0/core}property"
    assert [dict(p.attrib) for p in after.iter(props)] == [
        dict(p.attrib) for p in before.iter(props)
    ]
    assert len(list(after.iter(props))) > 10
    # The result is a model the platform runs.
    assert designer.validate(dora, "chamado", designer.draft(dora, "chamado").bpmn_xml) == []


def test_an_invalid_result_is_saved_with_its_problem_and_blocks_publishing(
    designer: Designer, dora: ActorRef
) -> None:
    """Drafts are never lost: a condition that does not parse is saved, named on its
    decision, and publishing is what refuses it."""
    draft = designer.draft(dora, "chamado")
    saved = designer.save_elements(
        dora, "chamado", draft.version, Edits(conditions={"Flow_resolver": "decisao =="})
    )
    # On the decision, naming where the flow goes and what is wrong.
    ((problem),) = saved.problems
    assert problem.element_id == "decisao_analise"
    assert "fim_resolvido" in problem.message and "erro de sintaxe" in problem.message
    assert "decisao ==" in designer.draft(dora, "chamado").bpmn_xml
    with pytest.raises(ModelRejected):
        designer.publish(dora, "chamado", saved.version, "não publica")
    with pytest.raises(ValidationFailed) as bounded:  # past its bounds: nothing saved
        designer.save_elements(
            dora, "chamado", saved.version, Edits(names={"registrar_chamado": "x" * 201})
        )
    assert "200 caracteres" in bounded.value.errors["nome-registrar_chamado"]
    assert designer.draft(dora, "chamado").version == saved.version


def test_the_page_saves_with_the_keyboard_and_keeps_what_was_typed(app: Flask) -> None:
    client = client_for(app, DORA, "Dora Projetista", "designer")
    url = "/processos/chamado/elementos"
    page = client.get(url).get_data(as_text=True)
    assert 'for="condicao-Flow_resolver"' in page and "Caminho padrão (sem condição)" in page
    long_name = "x" * 201
    refused = client.post(url, data=fill(page, {"nome-registrar_chamado": long_name}, "version"))
    html = refused.get_data(as_text=True)
    assert refused.status_code == 422 and "<title>Erro: Nomes e condições" in html
    assert "O nome pode ter até 200 caracteres." in html and f'value="{long_name}"' in html
    # A condition that does not parse is saved all the same: unfinished work is never lost.
    broken = {"condicao-Flow_resolver": "decisao =="}
    assert client.post(url, data=fill(page, broken, "version")).status_code == 302
    page = client.get(url).get_data(as_text=True)
    assert "O rascunho tem 1 problema(s): corrija-os antes de publicar" in page
    assert "decisao_analise</code>:" in page and ">decisao ==</textarea>" in page
    fixed = {
        "nome-registrar_chamado": "Abrir chamado",
        "condicao-Flow_resolver": 'decisao == "resolver"',
    }
    assert client.post(url, data=fill(page, fixed, "version")).status_code == 302
    html = client.get(url).get_data(as_text=True)
    assert 'value="Abrir chamado"' in html and "O rascunho tem problemas" not in html
    stale = client.post(url, data=fill(page, {"nome-inicio": "Outro"}, "version"))
    assert stale.status_code == 302  # the page's version is old: nothing saved, it says so
    assert "Outro" not in client.get(url).get_data(as_text=True)
    analyst = client_for(app, "11144477735", "Ana", "analyst")
    assert analyst.get(url).status_code == 403
