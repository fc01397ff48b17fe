"""The "Processos" area: drafts, validation, scenarios, publishing, migration, diagrams.

Engine tests drive ``engine.designer.Designer`` on the real ``processes/chamado.bpmn``;
web tests go through the pages and JSON endpoints with the Flask test client.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from engine import scenarios
from engine.designer import Designer, ModelRejected
from engine.designer.publishing import ScenariosFailed
from engine.designer.tickets import Tickets
from engine.designer.views import NewForm
from engine.errors import Conflict, Forbidden, NotFound
from engine.models import AuditEvent, ProcessVersion
from engine.service import ActorRef, Chamados
from engine.settings import PROJECT_ROOT
from tests.conftest import add_person
from tests.test_engine_lifecycle import (
    chamado,
    decide,
    open_task,
    registration,
    submit_registration,
)

DORA = "12345678909"
CHAMADO_BPMN = (PROJECT_ROOT / "processes" / "chamado.bpmn").read_text("utf-8")
TRIAGE_SCHEMA = json.dumps(
    {
        "type": "object",
        "title": "Triar chamado",
        "properties": {
            "prioridade": {
                "type": "string",
                "title": "Prioridade",
                "oneOf": [
                    {"const": "alta", "title": "Alta"},
                    {"const": "normal", "title": "Normal"},
                ],
            }
        },
        "required": ["prioridade"],
    }
)
TRIAGE_UI = json.dumps({"prioridade": {"ui:widget": "radio"}})
TRIAGE_FORMS = NewForm("triar-chamado-schema.json", "triar-chamado-uischema.json", "Triar")


# ------------------------------------------------------------------ model edits


def replace_once(text: str, old: str, new: str) -> str:
    assert text.count(old) == 1, old
    return text.replace(old, new)


def with_triage(xml: str) -> str:
    """The chamado model with a triage step (analyst lane) before the analysis."""
    xml = replace_once(
        xml,
        'sourceRef="registrar_chamado" targetRef="analisar_chamado" />',
        'sourceRef="registrar_chamado" targetRef="triar_chamado" />\n'
        '    <bpmn:sequenceFlow id="Flow_triado" sourceRef="triar_chamado" '
        'targetRef="analisar_chamado" />',
    )
    xml = replace_once(
        xml,
        "<bpmn:incoming>Flow_enviado</bpmn:incoming>",
        "<bpmn:incoming>Flow_triado</bpmn:incoming>",
    )
    xml = replace_once(
        xml,
        "<bpmn:flowNodeRef>analisar_chamado</bpmn:flowNodeRef>",
        "<bpmn:flowNodeRef>triar_chamado</bpmn:flowNodeRef>\n"
        "        <bpmn:flowNodeRef>analisar_chamado</bpmn:flowNodeRef>",
    )
    task = """<bpmn:userTask id="triar_chamado" name="Triar chamado">
      <bpmn:extensionElements>
        <spiffworkflow:properties>
          <spiffworkflow:property name="formJsonSchemaFilename" value="triar-chamado-schema.json" />
          <spiffworkflow:property name="formUiSchemaFilename" value="triar-chamado-uischema.json" />
        </spiffworkflow:properties>
      </bpmn:extensionElements>
      <bpmn:incoming>Flow_enviado</bpmn:incoming>
      <bpmn:outgoing>Flow_triado</bpmn:outgoing>
    </bpmn:userTask>
    <bpmn:exclusiveGateway"""
    xml = replace_once(xml, "<bpmn:exclusiveGateway", task)
    shape = """<bpmndi:BPMNShape id="triar_chamado_di" bpmnElement="triar_chamado">
        <dc:Bounds x="280" y="410" width="100" height="80" />
      </bpmndi:BPMNShape>
      <bpmndi:BPMNShape id="analisar_chamado_di\""""
    return replace_once(xml, '<bpmndi:BPMNShape id="analisar_chamado_di"', shape)


def without_adjustments(xml: str) -> str:
    """The chamado model with no adjustment loop (nor its timer)."""
    for element in (
        "contar_rodada",
        "ajustar_solicitacao",
        "timer_sem_resposta",
        "fim_sem_resposta",
    ):
        xml = re.sub(
            rf'\s*<bpmn:(scriptTask|userTask|boundaryEvent|endEvent) id="{element}".*?</bpmn:\1>',
            "",
            xml,
            count=1,
            flags=re.S,
        )
        xml = xml.replace(f"<bpmn:flowNodeRef>{element}</bpmn:flowNodeRef>", "")
        xml = re.sub(
            rf'\s*<bpmndi:BPMNShape id="{element}_di".*?</bpmndi:BPMNShape>', "", xml, flags=re.S
        )
    for flow in ("Flow_ajuste", "Flow_ajustar", "Flow_reenviado", "Flow_sem_resposta"):
        xml = re.sub(
            rf'\s*<bpmn:sequenceFlow id="{flow}"[^>]*?(/>|>.*?</bpmn:sequenceFlow>)',
            "",
            xml,
            flags=re.S,
        )
        xml = xml.replace(f"<bpmn:outgoing>{flow}</bpmn:outgoing>", "")
        xml = xml.replace(f"<bpmn:incoming>{flow}</bpmn:incoming>", "")
        xml = re.sub(
            rf'\s*<bpmndi:BPMNEdge id="{flow}_di".*?</bpmndi:BPMNEdge>', "", xml, flags=re.S
        )
    return xml


# ------------------------------------------------------------------ fixtures


@pytest.fixture
def designer(svc: Chamados) -> Designer:
    with svc.unit.transaction() as session:
        scenarios.seed(session, svc.settings.processes_dir, svc.clock())
    return svc.designer


@pytest.fixture
def tickets(svc: Chamados) -> Tickets:
    return svc.tickets


@pytest.fixture
def dora(svc: Chamados) -> ActorRef:
    return add_person(svc, DORA, "Dora Projetista", "designer")


def publish_triage(designer: Designer, dora: ActorRef, note: str = "Triagem") -> Any:
    draft = designer.draft(dora, "chamado")
    draft = designer.save_model(
        dora, "chamado", with_triage(draft.bpmn_xml), draft.version, [TRIAGE_FORMS]
    )
    draft = designer.save_form(
        dora,
        "chamado",
        "triar_chamado",
        (TRIAGE_FORMS.schema_file, TRIAGE_FORMS.ui_file),
        (TRIAGE_SCHEMA, TRIAGE_UI),
        draft.version,
    )
    for row in designer.model(dora, "chamado").scenarios:
        steps = list(row.steps)
        steps.insert(1, {"task": "triar_chamado", "data": {"prioridade": "normal"}})
        designer.save_scenario(
            dora, "chamado", row.name, json.dumps(steps), row.expected_end, row.id, row.version
        )
    return designer.publish(dora, "chamado", draft.version, note)


# ------------------------------------------------------------------ engine


def test_shipped_scenarios_cover_every_path_and_pass(designer: Designer, dora: ActorRef) -> None:
    reports = designer.run_scenarios(dora, "chamado")
    assert {r.expected_end for r in reports} >= {"fim_resolvido", "fim_devolvido"}
    assert len(reports) >= 4
    assert all(r.passed for r in reports), [r.as_dict() for r in reports if not r.passed]
    cap = next(r for r in reports if "Limite" in r.name)
    assert [s.element_id for s in cap.steps].count("ajustar_solicitacao") == 5


def test_only_designers(designer: Designer, ana: ActorRef) -> None:
    with pytest.raises(Forbidden):
        designer.models(ana)
    with pytest.raises(Forbidden):
        designer.publish(ana, "chamado", 0, "")


def test_draft_starts_as_the_current_version_and_saves_with_a_version_check(
    designer: Designer, dora: ActorRef
) -> None:
    draft = designer.draft(dora, "chamado")
    assert draft.version == 0 and "registrar_chamado" in draft.bpmn_xml
    assert [m.process_id for m in designer.models(dora)] == [
        "chamado",
        "pedido_automacao",
        "pedido_eliminacao_dados",  # the LGPD erasure request, shipped with the platform
    ]
    renamed = draft.bpmn_xml.replace('name="Analisar chamado"', 'name="Analisar a solicitação"')
    saved = designer.save_model(dora, "chamado", renamed, 0)
    assert saved.version == 1
    assert designer.model(dora, "chamado").pending
    with pytest.raises(Conflict):  # a second editor opened version 0 too
        designer.save_model(dora, "chamado", draft.bpmn_xml, 0)
    assert designer.save_model(dora, "chamado", draft.bpmn_xml, 1).version == 2
    assert not designer.model(dora, "chamado").pending  # back to what is published


def test_publish_new_version_old_ticket_finishes_on_old(
    svc: Chamados, designer: Designer, dora: ActorRef, maria: ActorRef, ana: ActorRef
) -> None:
    before = submit_registration(svc, maria)
    v1 = chamado(svc, before).process_version_id
    version = publish_triage(designer, dora, "Triagem antes da análise")
    assert version.current and version.number == 2 and version.published_by == "Dora Projetista"
    assert version.note == "Triagem antes da análise"
    # A new ticket follows the new version: after registering comes the triage.
    after = submit_registration(svc, maria)
    assert chamado(svc, after).process_version_id == version.id != v1
    triage = open_task(svc, after, "analyst")
    assert triage.task_name == "triar_chamado"
    decide(svc, ana, after, {"prioridade": "alta"})
    decide(svc, ana, after, {"decisao": "resolver", "resposta": "Resolvido na v2."})
    assert chamado(svc, after).status == "resolvido"
    # The ticket started before finishes on the old version, without triage.
    assert open_task(svc, before, "analyst").task_name == "analisar_chamado"
    decide(svc, ana, before, {"decisao": "resolver", "resposta": "Resolvido na v1."})
    old = chamado(svc, before)
    assert old.status == "resolvido" and old.process_version_id == v1
    versions = designer.versions(dora, "chamado")
    assert [(v.number, v.current, v.total) for v in versions] == [(2, True, 1), (1, False, 1)]
    with pytest.raises(Conflict):  # nothing changed since
        designer.publish(dora, "chamado", designer.draft(dora, "chamado").version, "")


def test_versions_are_immutable_records(svc: Chamados, designer: Designer, dora: ActorRef) -> None:
    version = publish_triage(designer, dora)
    with svc.unit.session_factory() as s:
        row = s.get(ProcessVersion, version.id)
        assert row is not None
        assert len(row.content_hash) == 64 and row.published_by == DORA
        assert row.published_at is not None and row.created_by == DORA
        assert set(row.forms) == {
            "registrar-chamado-schema.json",
            "registrar-chamado-uischema.json",
            "analisar-chamado-schema.json",
            "analisar-chamado-uischema.json",
            "triar-chamado-schema.json",
            "triar-chamado-uischema.json",
        } | {name for name in row.forms if name.startswith("mail/")}
        # The model's e-mails travel with it.
        assert "mail/chamado_resolvido.html" in row.forms


def test_publishing_a_lane_without_group_creates_it_empty_and_says_so(
    svc: Chamados, designer: Designer, dora: ActorRef, maria: ActorRef
) -> None:
    assert publish_triage(designer, dora).created_groups == ()  # every lane has a group
    draft = designer.draft(dora, "chamado")
    renamed = draft.bpmn_xml.replace('name="Analista (CGATE/SGD)"', 'name="Equipe de triagem"')
    draft = designer.save_model(dora, "chamado", renamed, draft.version, [])
    version = designer.publish(dora, "chamado", draft.version, "Nova equipe")
    assert version.created_groups == ("Equipe de triagem",)
    # New tickets queue for the new (empty) group; an admin adds its members.
    after = submit_registration(svc, maria)
    assert open_task(svc, after, "equipe-de-triagem").task_name == "triar_chamado"


def test_failing_scenario_blocks_publish_with_its_report(
    svc: Chamados, designer: Designer, dora: ActorRef
) -> None:
    draft = designer.draft(dora, "chamado")
    draft = designer.save_model(
        dora, "chamado", with_triage(draft.bpmn_xml), draft.version, [TRIAGE_FORMS]
    )
    with pytest.raises(ScenariosFailed) as err:
        designer.publish(dora, "chamado", draft.version, "sem atualizar cenários")
    failed = [r for r in err.value.reports if not r.passed]
    assert failed and "Resolver" in err.value.message
    step = failed[0].steps[-1]
    assert not step.ok and "triar_chamado" in step.message
    with svc.unit.session_factory() as s:
        versions = s.scalars(select(ProcessVersion).where(ProcessVersion.process_id == "chamado"))
        assert len(versions.all()) == 1  # nothing published


def test_scenario_attempting_a_sixth_adjustment_fails(designer: Designer, dora: ActorRef) -> None:
    cap = next(r for r in designer.model(dora, "chamado").scenarios if "Limite" in r.name)
    steps = list(cap.steps)
    steps[-1:] = [
        {"task": "analisar_chamado", "data": {"decisao": "ajuste", "ajuste_solicitado": "Mais um."}}
    ]
    designer.save_scenario(dora, "chamado", "Sexto ajuste", json.dumps(steps), "fim_devolvido")
    report = next(r for r in designer.run_scenarios(dora, "chamado") if r.name == "Sexto ajuste")
    assert not report.passed and report.steps[-1].element_id == "analisar_chamado"


def test_a_scenario_edit_made_on_an_older_version_changes_nothing(
    svc: Chamados, designer: Designer, dora: ActorRef
) -> None:
    """Two designers open the same scenario; the first saves; the second's save, made on
    the version both saw, is refused and writes nothing."""
    other = add_person(svc, "52998224725", "Bruno Projetista", "designer")
    row = next(r for r in designer.model(dora, "chamado").scenarios if r.name == "Resolver")
    steps = json.dumps(row.steps)
    designer.save_scenario(
        dora, "chamado", "Resolver (revisto)", steps, row.expected_end, row.id, row.version
    )
    with pytest.raises(Conflict) as refused:
        designer.save_scenario(
            other,
            "chamado",
            "Resolver de novo",
            '[{"data": {}}]',
            "fim_devolvido",
            row.id,
            row.version,
        )
    assert "alterado por outra pessoa" in refused.value.message
    now = next(r for r in designer.model(dora, "chamado").scenarios if r.id == row.id)
    assert (now.name, now.steps, now.expected_end, now.version) == (
        "Resolver (revisto)",
        row.steps,
        row.expected_end,
        row.version + 1,
    )


# What is not a model at all is refused and nothing is saved; any other problem is
# saved with the draft (a designer's unfinished work is never lost) and blocks publishing.
NOT_A_MODEL = {"malformed", "doctype", "too_big"}


def problems_of(designer: Designer, dora: ActorRef, xml: str) -> list[tuple[str | None, str]]:
    try:
        saved = designer.save_model(dora, "chamado", xml, 0)
    except ModelRejected as err:
        assert designer.draft(dora, "chamado").version == 0  # nothing saved
        return [(p.element_id, p.message) for p in err.problems]
    assert saved.version == 1 and saved.problems  # saved all the same, with its problems
    assert designer.draft(dora, "chamado").bpmn_xml == xml
    with pytest.raises(ModelRejected) as blocked:  # and it cannot be published
        designer.publish(dora, "chamado", saved.version, "com problemas")
    assert [p.message for p in blocked.value.problems] == [p.message for p in saved.problems]
    return [(p.element_id, p.message) for p in saved.problems]


INVALID_MODELS = {
    "malformed": (lambda x: x.replace("</bpmn:process>", ""), None, "XML malformado"),
    "doctype": (
        lambda x: x.replace(
            '<?xml version="1.0" encoding="UTF-8"?>',
            '<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE d [<!ENTITY e "x">]>',
        ),
        None,
        "DOCTYPE",
    ),
    "too_big": (
        lambda x: x.replace(
            "</bpmn:definitions>", "<!--" + "x" * 2_200_000 + "-->\n</bpmn:definitions>"
        ),
        None,
        "limite",
    ),
    "missing_form": (
        lambda x: x.replace('value="analisar-chamado-schema.json"', 'value="nao-existe.json"'),
        "analisar_chamado",
        "nao-existe.json, que não existe",
    ),
    "timer": (lambda x: x.replace('"P10D"', '"PT10D"'), "timer_sem_resposta", "PT10D"),
    "condition": (
        lambda x: x.replace('decisao == "resolver"', "__import__('os').system('id')"),
        "decisao_analise",
        "nome não permitido '__import__'",
    ),
    "script": (
        lambda x: x.replace("rodadas_ajuste = rodadas_ajuste + 1", "import os"),
        "contar_rodada",
        "importações não são permitidas",
    ),
}


@pytest.mark.parametrize("case", sorted(INVALID_MODELS))
def test_invalid_models_are_saved_or_refused_naming_the_element(
    designer: Designer, dora: ActorRef, case: str
) -> None:
    edit, element, text = INVALID_MODELS[case]
    problems = problems_of(designer, dora, edit(CHAMADO_BPMN))
    assert any(e == element and text in m for e, m in problems), problems


def test_invalid_json_schema_is_refused(designer: Designer, dora: ActorRef) -> None:
    draft = designer.draft(dora, "chamado")
    bad = json.dumps({"type": "object", "properties": {"x": {"type": "texto"}}})
    with pytest.raises(ModelRejected) as err:
        designer.save_form(
            dora,
            "chamado",
            "analisar_chamado",
            ("analisar-chamado-schema.json", "analisar-chamado-uischema.json"),
            (bad, "{}"),
            draft.version,
        )
    assert "esquema JSON inválido" in err.value.problems[0].message
    with pytest.raises(ModelRejected) as err:
        designer.save_form(
            dora, "chamado", "analisar_chamado", ("a.json", "b.json"), ("{", "{}"), 0
        )
    assert "JSON inválido" in err.value.problems[0].message


def test_every_broken_form_is_reported_at_once(designer: Designer, dora: ActorRef) -> None:
    xml = CHAMADO_BPMN.replace('value="analisar-chamado-schema.json"', 'value="a.json"')
    xml = re.sub(
        r'(<bpmn:userTask id="ajustar_solicitacao".*?value=")registrar-chamado-schema.json',
        r"\1b.json",
        xml,
        count=1,
        flags=re.S,
    )
    elements = {e for e, _m in problems_of(designer, dora, xml)}
    assert {"analisar_chamado", "ajustar_solicitacao"} <= elements


def test_new_model_is_valid_and_publishable(
    svc: Chamados, designer: Designer, dora: ActorRef, maria: ActorRef
) -> None:
    draft = designer.create_model(dora, "ouvidoria", "Ouvidoria")
    assert draft.version == 1
    model = designer.model(dora, "ouvidoria")
    assert model.problems == [] and model.end_events == {"fim": "Concluído"}
    with pytest.raises(Exception) as err:
        designer.create_model(dora, "ouvidoria", "De novo")
    assert "Já existe" in str(getattr(err.value, "errors", err.value))
    designer.save_scenario(
        dora,
        "ouvidoria",
        "Registrar",
        json.dumps([{"task": "registrar", "data": {"descricao": "Uma sugestão."}}]),
        "fim",
    )
    version = designer.publish(dora, "ouvidoria", 1, "Primeira versão")
    assert version.number == 1 and version.current
    ticket = svc.requests.start_chamado(maria, "ouvidoria")
    assert open_task(svc, ticket.id).task_name == "registrar"


def test_migration_dry_run_and_move(
    svc: Chamados,
    designer: Designer,
    dora: ActorRef,
    maria: ActorRef,
    ana: ActorRef,
    tickets: Tickets,
) -> None:
    fresh = submit_registration(svc, maria)  # at the analysis, never adjusted
    adjusting = submit_registration(svc, maria)
    decide(svc, ana, adjusting, {"decisao": "ajuste", "ajuste_solicitado": "Detalhe mais."})
    adjusted = submit_registration(svc, maria)
    decide(svc, ana, adjusted, {"decisao": "ajuste", "ajuste_solicitado": "Detalhe mais."})
    task = open_task(svc, adjusted)
    svc.requests.complete_task(maria, task.id, registration(), chamado(svc, adjusted).version)
    closed = submit_registration(svc, maria)
    decide(svc, ana, closed, {"decisao": "resolver", "resposta": "Feito."})
    draft_ticket = svc.requests.start_chamado(maria, "chamado").id  # still a draft

    for row in designer.model(dora, "chamado").scenarios:
        if any(s.get("data", {}).get("decisao") == "ajuste" for s in row.steps):
            designer.delete_scenario(dora, "chamado", row.id)
    draft = designer.draft(dora, "chamado")
    draft = designer.save_model(dora, "chamado", without_adjustments(draft.bpmn_xml), 0)
    v2 = designer.publish(dora, "chamado", draft.version, "Sem ajustes")

    before = chamado(svc, fresh).version
    plan = {c.chamado_id: c for c in tickets.migration_plan(dora, "chamado", v2.id)}
    assert chamado(svc, fresh).version == before  # a dry run changes nothing
    assert set(plan) == {fresh, adjusting, adjusted, draft_ticket}  # closed ones stay
    assert plan[fresh].can_move and plan[draft_ticket].can_move
    assert not plan[adjusting].can_move and "Ajustar solicitação" in plan[adjusting].reason
    assert not plan[adjusted].can_move and "Contar rodada" in plan[adjusted].reason

    results = {r.chamado_id: r for r in tickets.migrate(dora, "chamado", v2.id, [fresh, adjusting])}
    assert results[fresh].moved and not results[adjusting].moved
    assert "Ajustar solicitação" in results[adjusting].message
    assert chamado(svc, fresh).process_version_id == v2.id
    assert chamado(svc, adjusting).process_version_id != v2.id
    with svc.unit.session_factory() as s:
        audit = s.scalars(select(AuditEvent).where(AuditEvent.action == "chamado.migrado")).all()
    assert [(a.chamado_id, a.actor_id, a.public) for a in audit] == [(fresh, dora.id, False)]
    assert audit[0].details["para"] == v2.id
    # The moved ticket finishes on the new version.
    decide(svc, ana, fresh, {"decisao": "devolver", "motivo_devolucao": "fora_escopo"})
    assert chamado(svc, fresh).status == "devolvido"
    # The unmoved one still finishes on its own.
    task = open_task(svc, adjusting)
    svc.requests.complete_task(maria, task.id, registration(), chamado(svc, adjusting).version)
    decide(svc, ana, adjusting, {"decisao": "resolver", "resposta": "Ok, resolvido."})
    assert chamado(svc, adjusting).status == "resolvido"


def test_migrated_draft_ticket_follows_the_new_step(
    svc: Chamados,
    designer: Designer,
    dora: ActorRef,
    maria: ActorRef,
    ana: ActorRef,
    tickets: Tickets,
) -> None:
    started = svc.requests.start_chamado(maria, "chamado").id
    v2 = publish_triage(designer, dora)
    (result,) = tickets.migrate(dora, "chamado", v2.id, [started])
    assert result.moved, result.message
    task = open_task(svc, started)
    svc.requests.complete_task(maria, task.id, registration(), chamado(svc, started).version)
    assert open_task(svc, started, "analyst").task_name == "triar_chamado"
    with pytest.raises(NotFound):  # already on the target: nothing to move
        tickets.migration_plan(dora, "chamado", 99999)


def test_ticket_diagram_for_requester_and_staff_only(
    svc: Chamados, designer: Designer, maria: ActorRef, ana: ActorRef, tickets: Tickets
) -> None:
    cid = submit_registration(svc, maria)
    decide(svc, ana, cid, {"decisao": "ajuste", "ajuste_solicitado": "Detalhe mais."})
    diagram = tickets.diagram(maria, cid)
    assert diagram.current == ["ajustar_solicitacao"]
    assert {"inicio", "registrar_chamado", "analisar_chamado"} <= set(diagram.completed)
    assert {"Flow_enviado", "Flow_ajuste"} <= set(diagram.flows)
    assert [s.name for s in diagram.steps][:3] == [
        "Chamado aberto",
        "Registrar chamado",
        "Analisar chamado",
    ]
    assert diagram.steps[-1].current and diagram.steps[-1].name == "Ajustar solicitação"
    # No code or internal notes reach the browser.
    assert "rodadas_ajuste" not in diagram.xml and "conditionExpression" not in diagram.xml
    assert tickets.diagram(ana, cid).current == ["ajustar_solicitacao"]
    stranger = add_person(svc, "74682489070", "João")
    with pytest.raises(NotFound):
        tickets.diagram(stranger, cid)


# ------------------------------------------------------------------ web


@pytest.fixture
def app(tmp_path: Path) -> Iterator[Flask]:
    from tests.conftest import database_url
    from web import create_app
    from web.designer import init_designer

    app = create_app(
        {
            "DATABASE_URL": database_url(tmp_path),
            "TESTING": True,
            "SECRET_KEY": "test-secret",
            "OIDC_ISSUER": "http://127.0.0.1:9",  # never contacted: sessions are set directly
            "APP_BASE_URL": "http://localhost",
        }
    )
    if "designer" not in app.blueprints:  # until the app factory registers it
        init_designer(app)
    svc = app.extensions["chamados"]
    svc.init_database()
    with svc.unit.transaction() as session:
        scenarios.seed(session, svc.settings.processes_dir, svc.clock())
    yield app
    svc.unit.db.dispose()


def client_for(app: Flask, cpf: str, name: str, *roles: str) -> FlaskClient:
    from tests.test_auth import set_session_user

    client = app.test_client()
    set_session_user(app, client, cpf, name, *roles)
    return client


def web_actor(app: Flask, cpf: str) -> ActorRef:
    from engine import users

    with app.extensions["chamados"].unit.session_factory() as s:
        user = users.get_user_by_cpf(s, cpf)
        assert user is not None
        return ActorRef(user.id, frozenset(users.roles_for(s, cpf)))


def csrf_of(client: FlaskClient) -> str:
    page = client.get("/processos").get_data(as_text=True)
    match = re.search(r'<meta name="csrf-token" content="([^"]+)"', page)
    assert match, page[:500]
    return match.group(1)


def post_json(client: FlaskClient, url: str, body: dict[str, Any]) -> Any:
    return client.post(url, json=body, headers={"X-CSRFToken": csrf_of(client)})


def post_form(client: FlaskClient, url: str, data: dict[str, Any]) -> Any:
    return client.post(url, data={"csrf_token": csrf_of(client), **data})


@pytest.fixture
def dora_web(app: Flask) -> FlaskClient:
    return client_for(app, DORA, "Dora Projetista", "designer")


def test_pages_need_the_designer_role(app: Flask, dora_web: FlaskClient) -> None:
    assert app.test_client().get("/processos").status_code == 302  # to the login
    analyst = client_for(app, "11144477735", "Ana Souza", "analyst")
    assert analyst.get("/processos").status_code == 403
    assert analyst.get("/processos/chamado/rascunho").status_code == 403
    page = dora_web.get("/processos").get_data(as_text=True)
    assert "Chamado da Plataforma de Automação" in page and "Versão 1" in page
    model = dora_web.get("/processos/chamado").get_data(as_text=True)
    assert "Resolver" in model and "Limite de ajustes" in model  # the shipped scenarios
    assert "Editar formulário" in model and "registrar-chamado-schema.json" in model
    modeler = dora_web.get("/processos/chamado/modelador").get_data(as_text=True)
    assert "vendor/modeler/chamados-modeler.js" in modeler and "js/modeler.js" in modeler
    assert 'data-save-url="/processos/chamado/rascunho"' in modeler


def test_web_change_publish_new_ticket_follows_old_finishes(
    app: Flask, dora_web: FlaskClient
) -> None:
    svc: Chamados = app.extensions["chamados"]
    maria = add_person(svc, "39053344705", "Maria da Silva")
    ana = add_person(svc, "11144477735", "Ana Souza", "analyst")
    before = submit_registration(svc, maria)

    draft = dora_web.get("/processos/chamado/rascunho").get_json()
    assert draft["version"] == 0 and "analisar-chamado-schema.json" in draft["forms"]
    new_forms = [{"schema": TRIAGE_FORMS.schema_file, "ui": TRIAGE_FORMS.ui_file, "title": "Triar"}]
    resp = post_json(
        dora_web,
        "/processos/chamado/rascunho",
        {"xml": with_triage(draft["xml"]), "version": 0, "new_forms": new_forms},
    )
    assert resp.status_code == 200, resp.get_json()
    assert resp.get_json()["version"] == 1
    # The triage form, edited in the browser (the page shows the live preview).
    editor = dora_web.get("/processos/chamado/formularios/triar_chamado").get_data(as_text=True)
    assert "Descrição" in editor  # the starting template, drawn by the form macros
    resp = post_form(
        dora_web,
        "/processos/chamado/formularios/triar_chamado",
        {
            "_action": "save",
            "version": "1",
            "schema_file": TRIAGE_FORMS.schema_file,
            "ui_file": TRIAGE_FORMS.ui_file,
            "schema_text": TRIAGE_SCHEMA,
            "ui_text": TRIAGE_UI,
        },
    )
    assert resp.status_code == 302
    # The scenarios learn the new step.
    designer = svc.designer
    for row in designer.model(web_actor(app, DORA), "chamado").scenarios:
        steps = list(row.steps)
        steps.insert(1, {"task": "triar_chamado", "data": {"prioridade": "normal"}})
        resp = post_form(
            dora_web,
            "/processos/chamado/cenarios",
            {
                "scenario_id": str(row.id),
                "version": str(row.version),
                "name": row.name,
                "expected_end": row.expected_end,
                "steps": json.dumps(steps),
            },
        )
        assert resp.status_code == 302
    resp = post_form(
        dora_web, "/processos/chamado/publicar", {"version": "2", "note": "Triagem antes"}
    )
    assert resp.status_code == 302, resp.get_data(as_text=True)[-3000:]
    page = dora_web.get("/processos/chamado").get_data(as_text=True)
    assert "Versão 2 publicada" in page and "Triagem antes" in page

    after = submit_registration(svc, maria)
    assert open_task(svc, after, "analyst").task_name == "triar_chamado"
    decide(svc, ana, after, {"prioridade": "alta"})
    decide(svc, ana, after, {"decisao": "resolver", "resposta": "Resolvido na v2."})
    decide(svc, ana, before, {"decisao": "resolver", "resposta": "Resolvido na v1."})
    assert chamado(svc, before).status == chamado(svc, after).status == "resolvido"
    assert chamado(svc, before).process_version_id != chamado(svc, after).process_version_id


@pytest.mark.parametrize("case", sorted(INVALID_MODELS))
def test_web_names_each_problem_of_an_invalid_model(
    app: Flask, dora_web: FlaskClient, case: str
) -> None:
    edit, element, text = INVALID_MODELS[case]
    resp = post_json(
        dora_web, "/processos/chamado/rascunho", {"xml": edit(CHAMADO_BPMN), "version": 0}
    )
    errors = resp.get_json()["errors"]
    assert any(e["element_id"] == element and text in e["message"] for e in errors), errors
    check = post_json(dora_web, "/processos/chamado/validar", {"xml": edit(CHAMADO_BPMN)})
    assert check.status_code == 200 and check.get_json()["errors"]
    saved = dora_web.get("/processos/chamado/rascunho").get_json()["version"]
    if case in NOT_A_MODEL:
        assert resp.status_code == 422 and saved == 0  # nothing saved
    else:
        assert resp.status_code == 200 and saved == 1  # saved, with what blocks publishing


def test_web_invalid_form_schema_is_refused(app: Flask, dora_web: FlaskClient) -> None:
    bad = json.dumps({"type": "object", "properties": {"x": {"type": "texto"}}})
    resp = post_form(
        dora_web,
        "/processos/chamado/formularios/analisar_chamado",
        {
            "_action": "save",
            "version": "0",
            "schema_file": "analisar-chamado-schema.json",
            "ui_file": "analisar-chamado-uischema.json",
            "schema_text": bad,
            "ui_text": "{}",
        },
    )
    body = resp.get_data(as_text=True)
    assert resp.status_code == 422 and "esquema JSON inválido" in body
    preview = post_form(
        dora_web,
        "/processos/chamado/formularios/analisar_chamado/previa",
        {"schema_text": bad, "ui_text": "{}"},
    ).get_data(as_text=True)
    assert "esquema JSON inválido" in preview
    good = post_form(
        dora_web,
        "/processos/chamado/formularios/analisar_chamado/previa",
        {"schema_text": TRIAGE_SCHEMA, "ui_text": TRIAGE_UI},
    ).get_data(as_text=True)
    assert "Prioridade" in good and 'type="radio"' in good and "inert" in good


def test_web_stale_save_is_refused(app: Flask, dora_web: FlaskClient) -> None:
    xml = dora_web.get("/processos/chamado/rascunho").get_json()["xml"]
    assert (
        post_json(dora_web, "/processos/chamado/rascunho", {"xml": xml, "version": 0}).status_code
        == 200
    )
    stale = post_json(dora_web, "/processos/chamado/rascunho", {"xml": xml, "version": 0})
    assert stale.status_code == 409 and "outra pessoa" in stale.get_json()["detail"]


def scenario_editor(page: str, scenario_id: int) -> str:
    """The edit form of scenario ``scenario_id`` on the model's page."""
    marker = f'name="scenario_id" value="{scenario_id}"'
    found = [f for f in page.split("<form")[1:] if marker in f.split("</form>", 1)[0]]
    assert len(found) == 1, f"no editor for scenario {scenario_id}"
    return "<form" + found[0].split("</form>", 1)[0] + "</form>"


def test_web_two_designers_edit_a_scenario_the_second_is_told_and_keeps_what_they_typed(
    app: Flask, dora_web: FlaskClient
) -> None:
    from tests.webform import fill

    svc: Chamados = app.extensions["chamados"]
    bruno = client_for(app, "52998224725", "Bruno Projetista", "designer")
    row = next(
        r
        for r in svc.designer.model(web_actor(app, DORA), "chamado").scenarios
        if r.name == "Resolver"
    )
    dora_page = dora_web.get("/processos/chamado").get_data(as_text=True)
    bruno_page = bruno.get("/processos/chamado").get_data(as_text=True)
    dora_form, bruno_form = scenario_editor(dora_page, row.id), scenario_editor(bruno_page, row.id)
    assert f'name="version" value="{row.version}"' in bruno_form

    saved = dora_web.post(
        "/processos/chamado/cenarios",
        data=fill(dora_form, {"name": "Resolver (Dora)"}, "scenario_id"),
    )
    assert saved.status_code == 302
    typed = {"name": "Resolver (Bruno)", "steps": '[{"data": {}}]'}
    refused = bruno.post("/processos/chamado/cenarios", data=fill(bruno_form, typed, "scenario_id"))
    page = refused.get_data(as_text=True)
    assert refused.status_code == 409
    shown = html.unescape(page)
    assert "Este cenário foi alterado por outra pessoa enquanto você o editava" in shown
    assert "Versão atual: “Resolver (Dora)”" in shown
    # What Bruno typed is in that scenario's editor, open, now on the current version; the
    # new scenario's form stays empty.
    editor = scenario_editor(page, row.id)
    assert 'value="Resolver (Bruno)"' in editor
    assert '>[{"data": {}}]</textarea>' in html.unescape(editor)
    assert f'name="version" value="{row.version + 1}"' in editor
    assert '<details class="app-edit-scenario" open>' in page
    assert 'value="Resolver (Bruno)"' not in page.split('class="app-new-scenario"', 1)[1]
    now = next(
        r for r in svc.designer.model(web_actor(app, DORA), "chamado").scenarios if r.id == row.id
    )
    assert (now.name, now.steps) == ("Resolver (Dora)", row.steps)

    again = bruno.post("/processos/chamado/cenarios", data=fill(editor, {}, "scenario_id"))
    assert again.status_code == 302
    now = next(
        r for r in svc.designer.model(web_actor(app, DORA), "chamado").scenarios if r.id == row.id
    )
    assert (now.name, now.steps) == ("Resolver (Bruno)", [{"data": {}}])

    # A refused edit (a field's problem) comes back in its own editor too, on the version
    # it was typed on: not in the new scenario's form.
    editor = scenario_editor(bruno.get("/processos/chamado").get_data(as_text=True), row.id)
    invalid = bruno.post(
        "/processos/chamado/cenarios", data=fill(editor, {"name": " "}, "scenario_id")
    )
    page = invalid.get_data(as_text=True)
    assert invalid.status_code == 422 and "Informe um nome" in html.unescape(page)
    editor = scenario_editor(page, row.id)
    assert f'name="version" value="{row.version + 2}"' in editor and "Informe um nome" in editor


def test_web_failing_scenario_blocks_publish(app: Flask, dora_web: FlaskClient) -> None:
    xml = dora_web.get("/processos/chamado/rascunho").get_json()["xml"]
    new_forms = [{"schema": TRIAGE_FORMS.schema_file, "ui": TRIAGE_FORMS.ui_file, "title": "T"}]
    resp = post_json(
        dora_web,
        "/processos/chamado/rascunho",
        {"xml": with_triage(xml), "version": 0, "new_forms": new_forms},
    )
    assert resp.status_code == 200
    resp = post_form(dora_web, "/processos/chamado/publicar", {"version": "1", "note": "x"})
    body = resp.get_data(as_text=True)
    assert resp.status_code == 422
    assert "Publicação bloqueada" in body and "Falhou" in body
    assert "Esperava a tarefa analisar_chamado, mas a pronta é triar_chamado" in body
    versions = dora_web.get("/processos/chamado").get_data(as_text=True)
    assert "Versão 2" not in versions


def test_web_import_and_export(app: Flask, dora_web: FlaskClient) -> None:
    import io

    token = csrf_of(dora_web)
    data = CHAMADO_BPMN.replace('name="Analisar chamado"', 'name="Analisar (importado)"')
    resp = dora_web.post(
        "/processos/chamado/importar",
        data={"csrf_token": token, "arquivo": (io.BytesIO(data.encode()), "novo.bpmn")},
        headers={"Accept": "application/json"},
        content_type="multipart/form-data",
    )
    assert resp.status_code == 200 and resp.get_json()["errors"] == []
    assert "Analisar (importado)" in resp.get_json()["xml"]
    assert dora_web.get("/processos/chamado/rascunho").get_json()["version"] == 0  # not saved
    evil = '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><x>&e;</x>'
    resp = dora_web.post(
        "/processos/chamado/importar",
        data={"csrf_token": token, "arquivo": (io.BytesIO(evil.encode()), "mau.bpmn")},
        headers={"Accept": "application/json"},
        content_type="multipart/form-data",
    )
    assert resp.status_code == 422 and "root:" not in resp.get_data(as_text=True)
    big = b"<x>" + b" " * (2 * 1024 * 1024) + b"</x>"
    resp = dora_web.post(
        "/processos/chamado/importar",
        data={"csrf_token": token, "arquivo": (io.BytesIO(big), "grande.bpmn")},
        headers={"Accept": "application/json"},
        content_type="multipart/form-data",
    )
    assert resp.status_code == 422 and "limite" in resp.get_json()["detail"]
    # Without JavaScript the page's form saves at once.
    resp = dora_web.post(
        "/processos/chamado/importar",
        data={
            "csrf_token": token,
            "version": "0",
            "arquivo": (io.BytesIO(data.encode()), "n.bpmn"),
        },
        content_type="multipart/form-data",
    )
    assert resp.status_code == 302
    export = dora_web.get("/processos/chamado/exportar")
    assert export.headers["Content-Disposition"] == (
        "attachment; filename=\"chamado.bpmn\"; filename*=UTF-8''chamado.bpmn"
    )
    assert b"Analisar (importado)" in export.data
    version_export = dora_web.get("/processos/chamado/versoes/1/exportar")
    assert b'name="Analisar chamado"' in version_export.data


def test_web_migration_dry_run_and_move(app: Flask, dora_web: FlaskClient) -> None:
    svc: Chamados = app.extensions["chamados"]
    maria = add_person(svc, "39053344705", "Maria da Silva")
    ana = add_person(svc, "11144477735", "Ana Souza", "analyst")
    fresh = submit_registration(svc, maria)
    adjusting = submit_registration(svc, maria)
    decide(svc, ana, adjusting, {"decisao": "ajuste", "ajuste_solicitado": "Detalhe mais."})
    designer = svc.designer
    dora = web_actor(app, DORA)
    for row in designer.model(dora, "chamado").scenarios:
        if any(s.get("data", {}).get("decisao") == "ajuste" for s in row.steps):
            post_form(dora_web, f"/processos/chamado/cenarios/{row.id}/excluir", {})
    xml = dora_web.get("/processos/chamado/rascunho").get_json()["xml"]
    resp = post_json(
        dora_web, "/processos/chamado/rascunho", {"xml": without_adjustments(xml), "version": 0}
    )
    assert resp.status_code == 200, resp.get_json()
    resp = post_form(dora_web, "/processos/chamado/publicar", {"version": "1", "note": "v2"})
    assert resp.status_code == 302, resp.get_data(as_text=True)[-2000:]
    v2 = designer.versions(dora, "chamado")[0].id
    model = dora_web.get("/processos/chamado").get_data(as_text=True)
    assert f"/processos/chamado/migracao?para={v2}" in model

    plan = dora_web.get(f"/processos/chamado/migracao?para={v2}").get_data(as_text=True)
    fresh_p, adjusting_p = chamado(svc, fresh).protocolo, chamado(svc, adjusting).protocolo
    assert fresh_p in plan and adjusting_p in plan
    assert "Ajustar solicitação" in plan  # why the adjusting one cannot move
    assert f'name="chamado" value="{fresh}"' in plan
    assert f'name="chamado" value="{adjusting}"' not in plan
    resp = post_form(
        dora_web, "/processos/chamado/migracao", {"para": str(v2), "chamado": [str(fresh)]}
    )
    body = resp.get_data(as_text=True)
    assert resp.status_code == 200 and "Migrado" in body and fresh_p in body
    assert chamado(svc, fresh).process_version_id == v2
    with svc.unit.session_factory() as s:
        actions = s.scalars(select(AuditEvent.action).where(AuditEvent.chamado_id == fresh)).all()
    assert "chamado.migrado" in actions


def test_web_ticket_diagram(app: Flask) -> None:
    from flask import render_template_string

    svc: Chamados = app.extensions["chamados"]
    maria_web = client_for(app, "39053344705", "Maria da Silva")
    maria = web_actor(app, "39053344705")
    cid = submit_registration(svc, maria)
    data = maria_web.get(f"/chamados/{cid}/diagrama").get_json()
    assert data["current"] == ["analisar_chamado"] and "registrar_chamado" in data["completed"]
    assert "<bpmn:script>" not in data["xml"]
    analyst = client_for(app, "11144477735", "Ana Souza", "analyst")
    assert analyst.get(f"/chamados/{cid}/diagrama").status_code == 200
    stranger = client_for(app, "74682489070", "João")
    assert stranger.get(f"/chamados/{cid}/diagrama").status_code == 404
    assert stranger.get("/chamados/999999/diagrama").status_code == 404
    assert app.test_client().get(f"/chamados/{cid}/diagrama").status_code == 302

    # The partial the analysis and tracking pages include: steps as text, then the viewer.
    with app.test_request_context("/"):
        from flask import g

        from web.auth import CurrentUser

        g.user = CurrentUser(maria.id, "39053344705", "Maria", "Maria", None, frozenset())
        html = render_template_string(
            '{% with chamado_id=cid %}{% include "_diagram.html" %}{% endwith %}', cid=cid
        )
        assert "Etapas da solicitação" in html and "Registrar chamado — concluída" in html
        assert 'aria-current="step"' in html and "Analisar chamado — etapa atual" in html
        assert f'data-diagram-url="/chamados/{cid}/diagrama"' in html
        assert "bpmn-navigated-viewer.production.min.js" in html
        g.user = CurrentUser(999, "74682489070", "João", "João", None, frozenset())
        assert "Etapas da solicitação" not in render_template_string(
            '{% with chamado_id=cid %}{% include "_diagram.html" %}{% endwith %}', cid=cid
        )
