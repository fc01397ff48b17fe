"""Group administration: the facade's use cases and the /admin/grupos page.

An admin creates "Gestores do órgão" and lists a CPF in it: that analyst then sees and
claims the tasks of a published model's lane of that name. Listing a CPF in the seeded
"Equipe técnica" puts the Pedido de automação's "Parecer técnico" in that person's
queue; unlisting it takes the task away again.
"""

from __future__ import annotations

import dataclasses
import html
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import event, select

from engine import users
from engine.errors import Conflict, Forbidden, NotFound, ValidationFailed
from engine.models import AuditEvent, Group, GroupMember, HumanTask, User
from engine.queue import QueueFilters
from engine.service import ActorRef, Chamados
from engine.users import Principal
from tests.conftest import add_person
from tests.test_api import ANALYST_LANE, PARECER_SCHEMA, PEDIDO_SCHEMA, TINY_BPMN
from tests.test_auth import build_app, set_session_user
from tests.test_engine_lifecycle import chamado, open_task
from tests.webform import fill

CARLOS, MARIA, ANA, SOFIA = "52998224725", "39053344705", "11144477735", "86288366757"
GESTORES = "Gestores do órgão"


# --- helpers ---------------------------------------------------------------------------------


def audit_rows(svc: Chamados) -> list[AuditEvent]:
    with svc.unit.session_factory() as s:
        return list(
            s.scalars(
                select(AuditEvent).where(AuditEvent.action.like("grupo.%")).order_by(AuditEvent.id)
            )
        )


def members(svc: Chamados, key: str) -> list[str]:
    with svc.unit.session_factory() as s:
        return list(
            s.scalars(
                select(GroupMember.cpf)
                .where(GroupMember.group_key == key)
                .order_by(GroupMember.cpf)
            )
        )


def version_of(svc: Chamados, key: str) -> int:
    with svc.unit.session_factory() as s:
        group = s.get(Group, key)
        assert group is not None
        return group.version


def group_keys(svc: Chamados) -> list[str]:
    with svc.unit.session_factory() as s:
        return list(s.scalars(select(Group.key).order_by(Group.key)))


def start_pedido_review(svc: Chamados, maria: ActorRef) -> int:
    """A Pedido de automação sent by Maria: now at the parallel review of both teams."""
    c, first = svc.requests.start_instance(maria, "pedido_automacao")
    assert first is not None
    servico = {
        "orgao": 244,
        "nome_do_servico": "Carteira de pescador",
        "volume_mensal": 1200,
        "descricao": "Hoje o pedido chega por e-mail e é digitado à mão.",
    }
    svc.requests.complete_task(maria, first.id, servico, chamado(svc, c.id).version)
    second = open_task(svc, c.id, "requester")
    svc.requests.complete_task(
        maria, second.id, {"justificativa": "Volume alto."}, chamado(svc, c.id).version
    )
    return c.id


def deploy_gestores_process(svc: Chamados, tmp_path: Path) -> None:
    """Publishes "Pedido simples", whose evaluation lane is named "Gestores do órgão"."""
    processes, forms = tmp_path / "processes", tmp_path / "forms"
    processes.mkdir()
    forms.mkdir()
    bpmn = TINY_BPMN.replace(f'name="{ANALYST_LANE}"', f'name="{GESTORES}"')
    assert GESTORES in bpmn
    (processes / "pedido_simples.bpmn").write_text(bpmn, encoding="utf-8")
    (forms / "pedido-schema.json").write_text(json.dumps(PEDIDO_SCHEMA), encoding="utf-8")
    (forms / "parecer-schema.json").write_text(json.dumps(PARECER_SCHEMA), encoding="utf-8")
    svc.settings = dataclasses.replace(svc.settings, processes_dir=processes, forms_dir=forms)
    with svc.unit.transaction() as session:
        assert "pedido_simples" in svc.deploy_processes(session)


def queue_titles(svc: Chamados, actor: ActorRef) -> list[str]:
    return [t.title for t in svc.analysis.queue(actor, QueueFilters()).items]


# --- engine: the facade's use cases ----------------------------------------------------------


@pytest.fixture
def carlos(svc: Chamados) -> ActorRef:
    return add_person(svc, CARLOS, "Carlos Admin", "admin")


def test_only_admins_manage_groups(svc: Chamados, ana: ActorRef) -> None:
    designer = add_person(svc, "12345678909", "Dora Projetista", "designer")
    for actor in (ana, designer):
        with pytest.raises(Forbidden):
            svc.admin.groups_page(actor)
        with pytest.raises(Forbidden):
            svc.admin.create_group(actor, GESTORES, "", [])
        with pytest.raises(Forbidden):
            svc.admin.add_group_member(actor, "equipe-tecnica", ANA)
        with pytest.raises(Forbidden):
            svc.admin.remove_group_member(actor, "equipe-tecnica", ANA)
        with pytest.raises(Forbidden):
            svc.admin.set_group_roles(actor, "equipe-tecnica", ["analyst"], 1)
    assert "gestores-do-orgao" not in group_keys(svc)
    assert members(svc, "equipe-tecnica") == []
    assert audit_rows(svc) == []


def test_create_add_remove_and_roles_are_audited(svc: Chamados, carlos: ActorRef) -> None:
    created = svc.admin.create_group(
        carlos, f"  {GESTORES} ", " Aprovam os pedidos. ", ["supervisor"]
    )
    assert (created.key, created.name, created.roles) == (
        "gestores-do-orgao",
        GESTORES,
        ["supervisor"],
    )

    added = svc.admin.add_group_member(carlos, "gestores-do-orgao", "390.533.447-05")
    assert (added.cpf, added.cpf_formatted, added.changed) == (MARIA, "390.533.447-05", True)
    again = svc.admin.add_group_member(carlos, "gestores-do-orgao", "39053344705")
    assert again.changed is False  # already listed: nothing changes, nothing audited
    assert members(svc, "gestores-do-orgao") == [MARIA]

    roles = svc.admin.set_group_roles(carlos, "gestores-do-orgao", ["analyst", "supervisor"], 1)
    assert roles.changed and roles.roles == ["analyst", "supervisor"]
    same = svc.admin.set_group_roles(carlos, "gestores-do-orgao", ["supervisor", "analyst"], 2)
    assert same.changed is False
    assert version_of(svc, "gestores-do-orgao") == 2  # nothing written, nothing moved

    removed = svc.admin.remove_group_member(carlos, "gestores-do-orgao", "390.533.447-05")
    assert removed.changed is True and members(svc, "gestores-do-orgao") == []
    assert svc.admin.remove_group_member(carlos, "gestores-do-orgao", MARIA).changed is False

    rows = audit_rows(svc)
    assert [r.action for r in rows] == [
        "grupo.criado",
        "grupo.membro_adicionado",
        "grupo.papeis",
        "grupo.membro_removido",
    ]
    assert all(r.actor_id == carlos.id and r.chamado_id is None and not r.public for r in rows)
    assert rows[0].details == {
        "grupo": "gestores-do-orgao",
        "nome": GESTORES,
        "descricao": "Aprovam os pedidos.",
        "papeis": ["supervisor"],
    }
    assert rows[0].summary == f"Grupo “{GESTORES}” criado"
    assert rows[1].details == {"grupo": "gestores-do-orgao", "cpf": MARIA}
    assert rows[1].summary == f"CPF 390.533.447-05 adicionado ao grupo “{GESTORES}”"
    assert rows[2].details == {
        "grupo": "gestores-do-orgao",
        "antes": ["supervisor"],
        "depois": ["analyst", "supervisor"],
    }
    assert rows[3].summary == f"CPF 390.533.447-05 removido do grupo “{GESTORES}”"


def test_bad_input_is_refused_in_portuguese(svc: Chamados, carlos: ActorRef) -> None:
    before = group_keys(svc)
    with pytest.raises(ValidationFailed) as exc:
        svc.admin.create_group(carlos, " ", "x" * 2001, ["chefe"])
    assert exc.value.errors == {
        "nome": "Informe o nome do grupo (de 2 a 100 caracteres).",
        "descricao": "Use no máximo 2000 caracteres na descrição.",
        "papeis": "Papel desconhecido: chefe. Escolha entre: Analista, Supervisor(a), "
        "Designer de processos, Administrador(a).",
    }
    for name, message in (
        ("Equipe Tecnica", "Já existe o grupo “Equipe técnica”: escolha outro nome."),
        ("!!!", "Use letras ou números no nome do grupo."),
        ("Solicitante", "Este nome indica quem abriu a solicitação"),
        ("Requester", "Este nome indica quem abriu a solicitação"),
    ):
        with pytest.raises(ValidationFailed) as exc:
            svc.admin.create_group(carlos, name, "", [])
        assert exc.value.errors["nome"].startswith(message), name
    with pytest.raises(ValidationFailed) as exc:
        svc.admin.add_group_member(carlos, "equipe-tecnica", "123.456.789-00")
    assert exc.value.errors == {"cpf": "CPF inválido: confira os 11 dígitos."}
    with pytest.raises(ValidationFailed) as exc:
        svc.admin.set_group_roles(carlos, "equipe-tecnica", ["analyst", "root"], 1)
    assert "Papel desconhecido: root" in exc.value.errors["papeis"]
    with pytest.raises(ValidationFailed):
        svc.admin.remove_group_member(carlos, "equipe-tecnica", "abc")
    for call in (
        lambda: svc.admin.add_group_member(carlos, "nao-existe", MARIA),
        lambda: svc.admin.remove_group_member(carlos, "nao-existe", MARIA),
        lambda: svc.admin.set_group_roles(carlos, "nao-existe", [], 1),
    ):
        with pytest.raises(NotFound):
            call()
    assert group_keys(svc) == before
    assert members(svc, "equipe-tecnica") == []
    with svc.unit.session_factory() as s:
        group = s.get(Group, "equipe-tecnica")
        assert group is not None and group.member_roles == []
    assert audit_rows(svc) == []


def test_roles_chosen_on_an_older_version_change_nothing(svc: Chamados, carlos: ActorRef) -> None:
    """Two admins open the groups page; the first makes every analyst a member of the
    business team; the second, on the version both saw, picks supervisors: refused."""
    seen = next(g for g in svc.admin.groups_page(carlos).groups if g.key == "equipe-de-negocio")
    svc.admin.set_group_roles(carlos, "equipe-de-negocio", ["analyst"], seen.version)
    with pytest.raises(Conflict) as refused:
        svc.admin.set_group_roles(carlos, "equipe-de-negocio", ["supervisor"], seen.version)
    assert "nada foi gravado" in refused.value.message
    now = next(g for g in svc.admin.groups_page(carlos).groups if g.key == "equipe-de-negocio")
    assert (now.member_roles, now.version) == (["analyst"], seen.version + 1)
    assert [r.details for r in audit_rows(svc)] == [
        {"grupo": "equipe-de-negocio", "antes": [], "depois": ["analyst"]}
    ]


def test_listing_a_cpf_routes_the_lanes_tasks_to_that_person(
    svc: Chamados, carlos: ActorRef, maria: ActorRef, ana: ActorRef
) -> None:
    cid = start_pedido_review(svc, maria)
    assert queue_titles(svc, ana) == []

    svc.admin.add_group_member(carlos, "equipe-tecnica", "111.444.777-35")
    assert queue_titles(svc, ana) == ["Parecer técnico"]  # not the business team's
    svc.admin.remove_group_member(carlos, "equipe-tecnica", ANA)
    assert queue_titles(svc, ana) == []
    with pytest.raises(NotFound):
        svc.analysis.claim(ana, open_task(svc, cid, "equipe-tecnica").id)

    # By role: every analyst is then a member of the business team.
    svc.admin.set_group_roles(carlos, "equipe-de-negocio", ["analyst"], 1)
    assert queue_titles(svc, ana) == ["Parecer de negócio"]
    svc.analysis.claim(ana, open_task(svc, cid, "equipe-de-negocio").id)


def test_the_page_shows_members_roles_and_the_lanes_using_each_group(
    svc: Chamados, carlos: ActorRef, ana: ActorRef
) -> None:
    svc.admin.add_group_member(carlos, "equipe-tecnica", ANA)
    svc.admin.add_group_member(carlos, "equipe-tecnica", MARIA)  # no analyst role
    svc.admin.add_group_member(carlos, "equipe-tecnica", "853.513.468-93")  # never logged in
    page = svc.admin.groups_page(carlos)
    by_key = {g.key: g for g in page.groups}
    tecnica = by_key["equipe-tecnica"]
    assert [(m.cpf_formatted, m.name, m.works_queue) for m in tecnica.members] == [
        ("111.444.777-35", "Ana Souza", True),
        ("390.533.447-05", None, False),
        ("853.513.468-93", None, False),
    ]
    assert [(u.process_id, u.lane) for u in tecnica.lanes] == [
        ("pedido_automacao", "Equipe técnica")
    ]
    assert {(u.process_id, u.lane) for u in by_key["analyst"].lanes} == {
        ("chamado", "Analista (CGATE/SGD)")
    }
    assert by_key["supervisao"].member_role_labels == ["Supervisor(a)"]
    assert page.role_holders["analyst"] == 1 and page.role_holders["admin"] == 1


# --- web: /admin/grupos ----------------------------------------------------------------------


@pytest.fixture
def app(tmp_path: Path) -> Iterator[Flask]:
    # No login over OIDC here (set_session_user): the issuer is never contacted.
    app = build_app(tmp_path, "http://127.0.0.1:9")
    svc: Chamados = app.extensions["chamados"]
    svc.init_database()
    yield app
    svc.unit.db.dispose()


def service(app: Flask) -> Chamados:
    return app.extensions["chamados"]


def text(resp: Any) -> str:
    return resp.get_data(as_text=True)


def shown(resp: Any) -> str:
    """The page as read on screen (entities decoded)."""
    return html.unescape(text(resp))


def csrf_of(page: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert match, "the page has no CSRF token"
    return match.group(1)


def client_for(app: Flask, cpf: str, name: str, *roles: str) -> FlaskClient:
    client = app.test_client()
    set_session_user(app, client, cpf, name, *roles)
    return client


def actor_of(app: Flask, cpf: str, *roles: str) -> ActorRef:
    with service(app).unit.session_factory() as s:
        user = s.scalar(select(User).where(User.cpf == cpf))
        assert user is not None
        return ActorRef(user.id, frozenset(roles))


def post(client: FlaskClient, url: str, **data: Any) -> Any:
    """Post as the page holds it now: a choice of roles carries the group's version the
    page shows (unless ``version`` is given)."""
    page = text(client.get("/admin/grupos"))
    roles_of = re.fullmatch(r"/admin/grupos/([^/]+)/papeis", url)
    if roles_of and "version" not in data:
        data["version"] = roles_version(page, roles_of.group(1))
    return client.post(url, data={"csrf_token": csrf_of(page), **data})


def roles_version(page: str, key: str) -> str:
    """The version the roles form of group ``key`` carries on this page."""
    match = re.search(
        rf'action="/admin/grupos/{re.escape(key)}/papeis".*?name="version" value="(\d+)"',
        page,
        flags=re.S,
    )
    assert match, f"the roles form of {key} carries no version"
    return match.group(1)


def section(page: str, key: str) -> str:
    match = re.search(rf'<section [^>]*id="grupo-{key}".*?</section>', page, flags=re.S)
    assert match, f"no section for {key}"
    return match.group(0)


def input_tag(page: str, input_id: str) -> str:
    match = re.search(rf'<input id="{re.escape(input_id)}"[^>]*>', page, flags=re.S)
    assert match, input_id
    return match.group(0)


def test_admins_group_works_the_lane_of_its_name(app: Flask, tmp_path: Path) -> None:
    svc = service(app)
    admin = client_for(app, CARLOS, "Carlos Admin", "admin")
    page = text(admin.get("/admin/grupos"))
    assert 'href="/admin/grupos"' in page and ">Grupos<" in page  # the menu entry
    assert "Equipe técnica" in page and "equipe-tecnica" in page

    resp = post(admin, "/admin/grupos", nome=GESTORES, descricao="Aprovam os pedidos do órgão.")
    assert resp.status_code == 302
    assert resp.headers["Location"].endswith("/admin/grupos#grupo-gestores-do-orgao")
    page = shown(admin.get(resp.headers["Location"]))
    assert f"Grupo “{GESTORES}” criado." in page
    assert "Aprovam os pedidos do órgão." in section(page, "gestores-do-orgao")

    resp = post(admin, "/admin/grupos/gestores-do-orgao/membros", cpf="111 444 777 35")
    assert resp.status_code == 302
    page = shown(admin.get(resp.headers["Location"]))
    assert f"CPF 111.444.777-35 adicionado ao grupo “{GESTORES}”." in page
    gestores = section(page, "gestores-do-orgao")
    assert "111.444.777-35" in gestores and "Ainda não entrou no sistema" in gestores

    # The person logs in (with the analyst role): the page shows their name.
    ana = client_for(app, ANA, "Ana Souza", "analyst")
    sofia = client_for(app, SOFIA, "Sofia Souza", "analyst")  # an analyst, not listed
    gestores = section(shown(admin.get("/admin/grupos")), "gestores-do-orgao")
    assert "Ana Souza" in gestores and "Ainda não entrou" not in gestores
    assert "Nenhum processo publicado" in gestores

    # A model with a lane of that name is published; a requester sends a request.
    deploy_gestores_process(svc, tmp_path)
    assert group_keys(svc).count("gestores-do-orgao") == 1  # no second, empty group
    add_person(svc, MARIA, "Maria da Silva")
    maria = actor_of(app, MARIA)
    c, first = svc.requests.start_instance(maria, "pedido_simples")
    assert first is not None
    svc.requests.complete_task(
        maria, first.id, {"descricao": "Acesso ao painel."}, chamado(svc, c.id).version
    )
    task = open_task(svc, c.id)
    assert task.group == "gestores-do-orgao"

    queue = text(ana.get("/fila"))
    assert c.protocolo in queue and "Avaliar o pedido" in queue
    sofia_queue = text(sofia.get("/fila"))
    assert c.protocolo not in sofia_queue
    claim = f"/fila/tarefas/{task.id}/assumir"
    assert f'action="{claim}"' in queue
    refused = sofia.post(claim, data={"csrf_token": csrf_of(sofia_queue)})
    assert refused.status_code == 404
    resp = ana.post(claim, data={"csrf_token": csrf_of(queue), "chamado_id": str(c.id)})
    assert resp.status_code == 302
    ana_id = actor_of(app, ANA).id
    with svc.unit.session_factory() as s:
        claimed = s.get(HumanTask, task.id)
        assert claimed is not None and claimed.assignee_id == ana_id

    gestores = section(shown(admin.get("/admin/grupos")), "gestores-do-orgao")
    assert f"Pedido simples: raia “{GESTORES}”" in gestores

    carlos = actor_of(app, CARLOS)
    assert [(r.action, r.actor_id, r.details) for r in audit_rows(svc)] == [
        (
            "grupo.criado",
            carlos.id,
            {
                "grupo": "gestores-do-orgao",
                "nome": GESTORES,
                "descricao": "Aprovam os pedidos do órgão.",
                "papeis": [],
            },
        ),
        ("grupo.membro_adicionado", carlos.id, {"grupo": "gestores-do-orgao", "cpf": ANA}),
    ]


def test_listing_and_unlisting_a_cpf_in_equipe_tecnica(app: Flask) -> None:
    svc = service(app)
    admin = client_for(app, CARLOS, "Carlos Admin", "admin")
    ana = client_for(app, ANA, "Ana Souza", "analyst")
    add_person(svc, MARIA, "Maria da Silva")
    start_pedido_review(svc, actor_of(app, MARIA))
    assert "Parecer técnico" not in text(ana.get("/fila"))

    resp = post(admin, "/admin/grupos/equipe-tecnica/membros", cpf="111.444.777-35")
    assert resp.status_code == 302
    queue = text(ana.get("/fila"))
    assert "Parecer técnico" in queue and "Parecer de negócio" not in queue

    resp = post(admin, "/admin/grupos/equipe-tecnica/membros/remover", cpf=ANA)
    assert resp.status_code == 302
    assert "Parecer técnico" not in text(ana.get("/fila"))
    page = shown(admin.get(resp.headers["Location"]))
    assert "CPF 111.444.777-35 removido do grupo “Equipe técnica”." in page
    assert "Nenhum CPF listado." in section(page, "equipe-tecnica")

    # Membership by role, from the same page: every analyst reviews for the business team.
    resp = post(admin, "/admin/grupos/equipe-de-negocio/papeis", papeis=["analyst"])
    assert resp.status_code == 302
    page = shown(admin.get(resp.headers["Location"]))
    assert "Grupo “Equipe de negócio”: quem tem o papel Analista é membro." in page
    assert "checked" in input_tag(page, "grupo-equipe-de-negocio-papel-analyst")
    assert "Parecer de negócio" in text(ana.get("/fila"))

    assert [r.action for r in audit_rows(svc)] == [
        "grupo.membro_adicionado",
        "grupo.membro_removido",
        "grupo.papeis",
    ]


def test_non_admins_get_403(app: Flask) -> None:
    anonymous = app.test_client()
    resp = anonymous.get("/admin/grupos")
    assert resp.status_code == 302 and "/entrar" in resp.headers["Location"]

    ana = client_for(app, ANA, "Ana Souza", "analyst", "supervisor", "designer")
    assert ana.get("/admin/grupos").status_code == 403
    assert ">Grupos<" not in text(ana.get("/fila"))
    token = csrf_of(text(ana.get("/fila")))
    for url, data in (
        ("/admin/grupos", {"nome": GESTORES}),
        ("/admin/grupos/equipe-tecnica/membros", {"cpf": ANA}),
        ("/admin/grupos/equipe-tecnica/membros/remover", {"cpf": ANA}),
        ("/admin/grupos/equipe-tecnica/papeis", {"papeis": "analyst"}),
    ):
        resp = ana.post(url, data={"csrf_token": token, **data})
        assert resp.status_code == 403, url
    svc = service(app)
    assert "gestores-do-orgao" not in group_keys(svc)
    assert members(svc, "equipe-tecnica") == []
    assert audit_rows(svc) == []


def test_post_without_csrf_changes_nothing(app: Flask) -> None:
    svc = service(app)
    admin = client_for(app, CARLOS, "Carlos Admin", "admin")
    assert post(admin, "/admin/grupos/equipe-de-negocio/membros", cpf=MARIA).status_code == 302
    audited = len(audit_rows(svc))
    for url, data in (
        ("/admin/grupos", {"nome": GESTORES}),
        ("/admin/grupos/equipe-tecnica/membros", {"cpf": ANA}),
        ("/admin/grupos/equipe-de-negocio/membros/remover", {"cpf": MARIA}),
        ("/admin/grupos/equipe-tecnica/papeis", {"papeis": "analyst"}),
    ):
        resp = admin.post(url, data=data)
        assert resp.status_code == 400 and "CSRF" in text(resp), url
        resp = admin.post(url, data={"csrf_token": "forjado", **data})
        assert resp.status_code == 400, url
    assert "gestores-do-orgao" not in group_keys(svc)
    assert members(svc, "equipe-tecnica") == [] and members(svc, "equipe-de-negocio") == [MARIA]
    with svc.unit.session_factory() as s:
        group = s.get(Group, "equipe-tecnica")
        assert group is not None and group.member_roles == []
    assert len(audit_rows(svc)) == audited


def test_every_form_carries_a_csrf_token(app: Flask) -> None:
    admin = client_for(app, CARLOS, "Carlos Admin", "admin")
    assert post(admin, "/admin/grupos/equipe-tecnica/membros", cpf=ANA).status_code == 302
    page = text(admin.get("/admin/grupos"))
    forms = re.findall(r"<form method=\"post\".*?</form>", page, flags=re.S)
    # Per group: roles and add member (4 seeded groups), one remove, create, and logout.
    assert len(forms) >= 4 * 2 + 1 + 1
    assert all('name="csrf_token"' in f for f in forms)
    # Every visible input is tied to a label.
    ids = re.findall(r'<input id="([^"]+)"', page)
    assert ids and all(f'for="{i}"' in page for i in ids)


def test_invalid_cpf_is_refused_with_the_typed_value_kept(app: Flask) -> None:
    svc = service(app)
    admin = client_for(app, CARLOS, "Carlos Admin", "admin")
    resp = post(admin, "/admin/grupos/equipe-tecnica/membros", cpf="123.456.789-00")
    assert resp.status_code == 422
    page = shown(resp)
    assert "CPF inválido: confira os 11 dígitos." in page
    assert '<a href="#grupo-equipe-tecnica-cpf">CPF do novo membro</a>' in page
    tag = input_tag(page, "grupo-equipe-tecnica-cpf")
    assert 'value="123.456.789-00"' in tag and 'aria-invalid="true"' in tag
    assert 'value=""' in input_tag(page, "grupo-equipe-de-negocio-cpf")  # only that form
    assert members(svc, "equipe-tecnica") == []
    assert audit_rows(svc) == []

    assert post(admin, "/admin/grupos/nao-existe/membros", cpf=ANA).status_code == 404


def test_refused_group_keeps_what_was_typed(app: Flask) -> None:
    svc = service(app)
    admin = client_for(app, CARLOS, "Carlos Admin", "admin")
    resp = post(
        admin,
        "/admin/grupos",
        nome="Equipe Técnica",
        descricao="Outra <equipe>",
        papeis=["supervisor"],
    )
    assert resp.status_code == 422
    page = text(resp)
    assert "Já existe o grupo “Equipe técnica”: escolha outro nome." in html.unescape(page)
    assert 'value="Equipe Técnica"' in input_tag(page, "novo-nome")
    assert ">Outra &lt;equipe&gt;</textarea>" in page
    assert 'value="supervisor" checked' in input_tag(page, "novo-papel-supervisor")
    assert "checked" not in input_tag(page, "novo-papel-analyst")

    resp = post(admin, "/admin/grupos/equipe-tecnica/papeis", papeis=["analyst", "root"])
    assert resp.status_code == 422
    page = shown(resp)
    assert "Papel desconhecido: root." in page
    assert "checked" in input_tag(page, "grupo-equipe-tecnica-papel-analyst")
    assert "checked" not in input_tag(page, "grupo-equipe-de-negocio-papel-analyst")
    assert audit_rows(svc) == []


def test_two_admins_choose_roles_the_second_is_told_and_keeps_their_choice(app: Flask) -> None:
    svc = service(app)
    first = client_for(app, CARLOS, "Carlos Admin", "admin")
    second = client_for(app, SOFIA, "Sofia Admin", "admin")
    first_page, second_page = text(first.get("/admin/grupos")), text(second.get("/admin/grupos"))
    url = "/admin/grupos/equipe-de-negocio/papeis"

    chosen = first.post(
        url,
        data={
            "csrf_token": csrf_of(first_page),
            "papeis": ["analyst"],
            "version": roles_version(first_page, "equipe-de-negocio"),
        },
    )
    assert chosen.status_code == 302
    refused = second.post(
        url,
        data={
            "csrf_token": csrf_of(second_page),
            "papeis": ["supervisor", "designer"],
            "version": roles_version(second_page, "equipe-de-negocio"),
        },
    )
    assert refused.status_code == 409
    page = shown(refused)
    assert "Nada foi alterado." in page and "nada foi gravado" in page
    group = section(page, "equipe-de-negocio")
    assert "Escolha atual: Analista." in group
    # The second admin's boxes stay as they ticked them; the form now carries the current
    # version (the choice shown above), so saving again applies it knowingly.
    assert "checked" in input_tag(group, "grupo-equipe-de-negocio-papel-supervisor")
    assert "checked" in input_tag(group, "grupo-equipe-de-negocio-papel-designer")
    assert "checked" not in input_tag(group, "grupo-equipe-de-negocio-papel-analyst")
    assert roles_version(page, "equipe-de-negocio") == str(version_of(svc, "equipe-de-negocio"))
    with svc.unit.session_factory() as s:
        found = s.get(Group, "equipe-de-negocio")
        assert found is not None and found.member_roles == ["analyst"]
    assert [r.action for r in audit_rows(svc)] == ["grupo.papeis"]

    again = second.post(url, data=fill(group, {}, "papeis"))
    assert again.status_code == 302
    with svc.unit.session_factory() as s:
        found = s.get(Group, "equipe-de-negocio")
        assert found is not None and found.member_roles == ["designer", "supervisor"]


def test_signed_in_staff_see_group_changes_made_in_another_process_at_once(
    svc: Chamados, carlos: ActorRef, maria: ActorRef, ana: ActorRef
) -> None:
    """A request knows the person's groups from its process's copy (GroupCache), checked
    against the groups' revision its authentication read: edits made through another
    process apply to the very next request, and an unchanged revision costs no statement."""
    other = Chamados.from_settings(svc.settings)  # another worker, with its own copy

    def signed_in(actor: ActorRef) -> Principal:
        # What each request's authentication reads: person, roles, the groups' revision.
        found = other.unit.read_one(lambda conn: users.principal(conn, actor.id))
        assert found is not None and found.groups_revision is not None
        return found

    try:
        cid = start_pedido_review(svc, maria)
        assert queue_titles(other, signed_in(ana)) == []
        svc.admin.add_group_member(carlos, "equipe-tecnica", "111.444.777-35")
        assert queue_titles(other, signed_in(ana)) == ["Parecer técnico"]
        svc.admin.remove_group_member(carlos, "equipe-tecnica", ANA)
        assert queue_titles(other, signed_in(ana)) == []
        with pytest.raises(NotFound):
            other.analysis.claim(signed_in(ana), open_task(svc, cid, "equipe-tecnica").id)
        svc.admin.set_group_roles(carlos, "equipe-de-negocio", ["analyst"], 1)
        assert queue_titles(other, signed_in(ana)) == ["Parecer de negócio"]

        statements: list[str] = []
        db = other.unit.db
        listener = lambda *args: statements.append(args[2])  # noqa: E731
        event.listen(db, "before_cursor_execute", listener)
        try:
            other.requests.my_tasks(signed_in(ana))  # authentication, the page
            assert not any("group_members" in s for s in statements), statements
            statements.clear()
            other.requests.my_tasks(ana)  # no revision (scheduler, CLI): one statement more
            assert any("group_members" in s for s in statements), statements
        finally:
            event.remove(db, "before_cursor_execute", listener)
    finally:
        other.unit.db.dispose()
