"""The platform runs any published process: the second shipped service end to end, groups as
data, statuses, mails and messages declared by the model, and no chamado name in the code."""

from __future__ import annotations

import ast
import dataclasses
import io
import json
import re
import tokenize
from pathlib import Path

import pytest
from sqlalchemy import select

from engine import groups
from engine.errors import NotFound
from engine.models import OutboxMessage
from engine.service import ActorRef, Chamados
from tests.conftest import add_person
from tests.test_engine_lifecycle import chamado, open_task

ROOT = Path(__file__).resolve().parent.parent
TECA, NINA = "11144477735", "52998224725"  # equipe técnica / equipe de negócio
SOFIA = "86288366757"


def _people(svc: Chamados) -> tuple[ActorRef, ActorRef, ActorRef, ActorRef]:
    maria = add_person(svc, "39053344705", "Maria da Silva")
    teca = add_person(svc, TECA, "Teca Técnica", "analyst")
    nina = add_person(svc, NINA, "Nina Negócio", "analyst")
    sofia = add_person(svc, SOFIA, "Sofia Supervisora", "supervisor")
    with svc.unit.transaction() as s:
        groups.add_member(s, "equipe-tecnica", TECA, svc.clock())
        groups.add_member(s, "equipe-de-negocio", NINA, svc.clock())
    return maria, teca, nina, sofia


def _work(svc: Chamados, actor: ActorRef, cid: int, group: str, data: dict) -> None:
    task = open_task(svc, cid, group)
    svc.analysis.claim(actor, task.id)
    svc.requests.complete_task(actor, task.id, data, chamado(svc, cid).version)


def test_services_lists_every_published_model(svc: Chamados) -> None:
    listed = {s.process_id: s for s in svc.requests.services()}
    assert set(listed) == {"chamado", "pedido_automacao"}
    assert listed["pedido_automacao"].start_label == "Pedir automação"
    assert "automatizar" in listed["pedido_automacao"].description
    with pytest.raises(NotFound):
        svc.requests.service("nao_existe")


def test_pedido_de_automacao_end_to_end(svc: Chamados) -> None:
    maria, teca, nina, sofia = _people(svc)
    c, first = svc.requests.start_instance(maria, "pedido_automacao")
    assert first is not None and first.task_name == "descrever_servico"
    assert chamado(svc, c.id).status_label == "Em preenchimento"
    servico = {
        "orgao": 244,
        "nome_do_servico": "Carteira de pescador",
        "volume_mensal": 1200,
        "descricao": "Hoje o pedido chega por e-mail e é digitado à mão.",
    }
    svc.requests.complete_task(maria, first.id, servico, chamado(svc, c.id).version)
    # Two requester tasks in a row: the second one opens for her, no 500, no uniqueness clash.
    second = open_task(svc, c.id, "requester")
    assert second.task_name == "enviar_documentos"
    svc.requests.complete_task(
        maria,
        second.id,
        {"justificativa": "Volume alto e erros de digitação."},
        chamado(svc, c.id).version,
    )
    row = chamado(svc, c.id)
    assert (row.status_label, row.servico, row.orgao_id) == (
        "Em avaliação",
        "Carteira de pescador",
        244,
    )
    # The parallel review: each group sees only its own task.
    teca_queue = svc.analysis.queue(
        teca, __import__("engine.queue", fromlist=["QueueFilters"]).QueueFilters()
    )
    assert [t.task_name for t in teca_queue.items] == ["parecer_tecnico"]
    with pytest.raises(NotFound):
        svc.analysis.claim(teca, open_task(svc, c.id, "equipe-de-negocio").id)
    _work(svc, nina, c.id, "equipe-de-negocio", {"parecer": "favoravel"})
    _work(svc, teca, c.id, "equipe-tecnica", {"parecer": "favoravel", "comentario": "Só interno."})
    assert chamado(svc, c.id).status_label == "Em aprovação"
    # The supervisor (a member by role) asks for a complement: the requester is told why.
    _work(svc, sofia, c.id, "supervisao", {"decisao": "complemento", "mensagem": "Anexe a norma."})
    row = chamado(svc, c.id)
    assert (row.status, row.adjustment_rounds) == ("aguardando_complemento", 1)
    complement = open_task(svc, c.id, "requester")
    form = svc.requests.task_form(maria, complement.id)
    assert form.request_message == "Anexe a norma."
    assert form.data["justificativa"] == "Volume alto e erros de digitação."  # last sent
    svc.requests.complete_task(maria, complement.id, form.data, chamado(svc, c.id).version)
    _work(
        svc,
        sofia,
        c.id,
        "supervisao",
        {"decisao": "aprovar", "mensagem": "Aprovado: vamos começar."},
    )
    row = chamado(svc, c.id)
    assert (row.status, row.status_label, row.outcome_message) == (
        "aprovado",
        "Aprovado",
        "Aprovado: vamos começar.",
    )
    assert row.closed_at is not None
    view = svc.requests.tracking(maria, c.id)
    assert [f.title for f in view.forms] == ["O serviço a automatizar", "Documentos do pedido"]
    assert all("comentario" not in f.data for f in view.forms)  # staff notes stay internal
    staff = svc.analysis.analysis(sofia, c.id)
    # Both teams sent the same form: two forms, each titled by its task.
    reviews = [f for f in staff.forms if f.form_schema == "parecer-schema.json"]
    assert [(f.title, f.group, f.data.get("comentario")) for f in reviews] == [
        ("Parecer de negócio", "equipe-de-negocio", None),
        ("Parecer técnico", "equipe-tecnica", "Só interno."),
    ]
    assert "Decisão da supervisão" in {f.title for f in staff.forms}
    with svc.unit.session_factory() as s:
        kinds = [m.kind for m in s.scalars(select(OutboxMessage).order_by(OutboxMessage.id))]
    assert kinds == ["pedido_recebido", "pedido_complemento", "pedido_resultado"]


def test_a_lane_without_group_gets_one_and_a_task_without_lane_is_the_requesters(
    svc: Chamados,
) -> None:
    bpmn = (ROOT / "processes" / "pedido_automacao.bpmn").read_text(encoding="utf-8")
    assert groups.lane_map_default(None) == groups.REQUESTER
    assert groups.lane_map_default("process initiator") == groups.REQUESTER
    with svc.unit.transaction() as s:
        created = groups.ensure_for_lanes(
            s, ["Equipe técnica", "Gestores do órgão", None], svc.clock()
        )
        assert created == ["Gestores do órgão"]
        assert groups.lane_map(s, ["Gestores do órgão"]) == {
            "Gestores do órgão": "gestores-do-orgao"
        }
    assert "Equipe técnica" in bpmn


# Words of the platform itself that the chamado's model happens to use too, and why each
# may stay in the code: its own id is the domain word; {id, nome, tamanho} is the
# platform's file reference and numero a protocol row's column; órgão is the platform's
# SIORG look-up (x-lookup, x-instance); telefone a format it validates, like email.
PLATFORM_WORDS = {"chamado", "id", "nome", "tamanho", "numero", "orgao", "telefone"}


def _chamado_names() -> set[str]:
    """Element ids of chamado.bpmn and the field names of its forms."""
    bpmn = (ROOT / "processes" / "chamado.bpmn").read_text(encoding="utf-8")
    names = {i for i in re.findall(r'\bid="([^"]+)"', bpmn) if not i.endswith("_di")}
    for path in (ROOT / "forms").glob("*chamado-schema.json"):
        stack: list[object] = [json.loads(path.read_text(encoding="utf-8"))]
        while stack:
            node = stack.pop()
            if isinstance(node, dict):
                names |= set(node.get("properties", {}))
                stack.extend(node.values())
            elif isinstance(node, list):
                stack.extend(node)
    # Names its scripts give to process variables, besides the form fields.
    for script in re.findall(r"<bpmn:script>(.*?)</bpmn:script>", bpmn, re.S):
        names |= set(re.findall(r"^\s*([a-z_][a-z0-9_]*)\s*=", script, re.M))
    return names - PLATFORM_WORDS


def _named_in_code(path: Path, names: set[str]) -> list[str]:
    """Identifiers and string literals that are exactly one of ``names``.

    Prose that happens to use a Portuguese word ("anexos" in a message) is not code
    naming a field; a key, attribute, parameter or literal equal to one is.
    """
    found = []
    source = path.read_text(encoding="utf-8")
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type == tokenize.NAME and tok.string in names:
            found.append(f"{path.relative_to(ROOT)}:{tok.start[0]} {tok.string}")
        elif tok.type == tokenize.STRING:
            try:
                value = ast.literal_eval(tok.string)
            except (ValueError, SyntaxError):
                continue  # an f-string: its parts are NAME tokens above
            if isinstance(value, str) and value in names:
                found.append(f"{path.relative_to(ROOT)}:{tok.start[0]} {value!r}")
    return found


def test_no_chamado_element_or_field_name_in_engine_or_web() -> None:
    names = _chamado_names()
    # The check can fail: these are names the old code used.
    assert {"decisao", "rodadas_ajuste", "analisar_chamado", "tipo_problema"} <= names
    planted = ROOT / "tests" / "_planted_name.py"
    planted.write_text('x = data.get("decisao")\n', encoding="utf-8")
    try:
        assert _named_in_code(planted, names) == ["tests/_planted_name.py:1 'decisao'"]
    finally:
        planted.unlink()
    found = []
    for folder in ("engine", "web"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            if "migrations" not in path.parts:  # history: what the schema was
                found += _named_in_code(path, names)
    assert found == []


def test_a_model_without_lanes_runs_to_its_end_as_the_requesters(
    svc: Chamados, tmp_path: Path
) -> None:
    """No lane at all: every task belongs to the person who started the instance (as in
    SpiffArena), two of them in a row, and the instance reaches its end."""
    from tests.test_api import PARECER_SCHEMA, PEDIDO_SCHEMA, TINY_BPMN

    without_lanes = re.sub(r"\s*<bpmn:laneSet.*?</bpmn:laneSet>", "", TINY_BPMN, flags=re.S)
    assert "lane" not in without_lanes
    processes, forms_dir = tmp_path / "processes", tmp_path / "forms"
    processes.mkdir()
    forms_dir.mkdir()
    (processes / "pedido_simples.bpmn").write_text(without_lanes, encoding="utf-8")
    (forms_dir / "pedido-schema.json").write_text(json.dumps(PEDIDO_SCHEMA), encoding="utf-8")
    (forms_dir / "parecer-schema.json").write_text(json.dumps(PARECER_SCHEMA), encoding="utf-8")
    svc.settings = dataclasses.replace(svc.settings, processes_dir=processes, forms_dir=forms_dir)
    with svc.unit.transaction() as session:
        assert "pedido_simples" in svc.deploy_processes(session)
    maria = add_person(svc, "39053344705", "Maria da Silva")
    c, first = svc.requests.start_instance(maria, "pedido_simples")
    assert first is not None and first.group == groups.REQUESTER
    svc.requests.complete_task(
        maria, first.id, {"descricao": "Um pedido simples."}, chamado(svc, c.id).version
    )
    second = open_task(svc, c.id, groups.REQUESTER)
    assert second.task_name == "avaliar" and second.assignee_id == maria.id
    svc.requests.complete_task(maria, second.id, {"parecer": "Ok"}, chamado(svc, c.id).version)
    done = chamado(svc, c.id)
    assert done.closed_at is not None and done.status == "concluido"
