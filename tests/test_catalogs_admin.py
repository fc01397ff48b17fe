"""Catalog administration: the engine functions and the /admin/catalogos pages.

An admin adds a "tipo de problema" and the requester's form offers it at once; retiring
it hides it from new tickets while a ticket that used it keeps showing its label and can
still be re-sent.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import create_engine, func, select
from sqlalchemy.orm import Session

from engine import catalogs
from engine.catalogs import (
    EDITABLE,
    add_item,
    move,
    options,
    seed_catalogs,
    set_active,
    slugify,
    update_item,
)
from engine.errors import Conflict, NotFound, ValidationFailed
from engine.models import AuditEvent, Base, CatalogItem, HumanTask, User
from engine.service import ActorRef, Chamados
from tests.test_auth import build_app, set_session_user
from tests.test_engine_lifecycle import chamado, decide, open_task, registration
from tests.webform import fill
from web.catalogs_admin import init_catalogs_admin

SEED_PATH = Path(__file__).resolve().parent.parent / "data" / "catalogs.json"
CARLOS, MARIA, ANA = "52998224725", "39053344705", "11144477735"


# --- engine ----------------------------------------------------------------------------------


@pytest.fixture
def session() -> Iterator[Session]:
    engine = create_engine("sqlite://")
    Base.metadata.create_all(engine)
    with Session(engine) as s:
        seed_catalogs(s, SEED_PATH)
        s.add(User(cpf=CARLOS, name="Carlos Admin"))
        s.commit()
        yield s
    engine.dispose()


def audit_rows(session: Session) -> list[AuditEvent]:
    return list(session.scalars(select(AuditEvent).order_by(AuditEvent.id)))


def codes(session: Session, catalog: str, active_only: bool = False) -> list[str]:
    return [o.code for o in options(session, catalog, active_only=active_only)]


def test_editable_catalogs() -> None:
    assert EDITABLE == {
        "tipo_problema": "Tipo de problema",
        "motivo_devolucao": "Motivo de devolução",
        "objetivo": "Objetivo da solicitação",
    }


def test_slugify() -> None:
    assert slugify("Falha na autenticação do serviço") == "falha_na_autenticacao_do_servico"
    assert slugify("  Lentidão -- (geral)! ") == "lentidao_geral"
    assert slugify("!!!") == "item"
    assert len(slugify("x" * 500)) <= 74


def test_add_item_appends_with_an_audit_row(session: Session) -> None:
    option = add_item(session, "tipo_problema", "  Falha na   autenticação ", " Ajuda \n", CARLOS)
    session.commit()
    assert option == catalogs.CatalogOption(
        "falha_na_autenticacao", "Falha na autenticação", "Ajuda", True
    )
    assert codes(session, "tipo_problema")[-1] == "falha_na_autenticacao"
    assert codes(session, "tipo_problema", active_only=True)[-1] == "falha_na_autenticacao"

    [event] = audit_rows(session)
    carlos = session.scalar(select(User).where(User.cpf == CARLOS))
    assert carlos is not None
    assert event.action == "catalogo.adicionar"
    assert event.chamado_id is None and event.public is False
    assert event.actor_id == carlos.id
    assert "Falha na autenticação" in event.summary and "Tipo de problema" in event.summary
    assert event.details == {
        "catalogo": "tipo_problema",
        "codigo": "falha_na_autenticacao",
        "label": "Falha na autenticação",
        "help": "Ajuda",
        "by_cpf": CARLOS,
    }
    # Empty help is stored as None.
    assert add_item(session, "tipo_problema", "Outro", "   ", None).help is None


def test_codes_are_unique_within_a_catalog(session: Session) -> None:
    # "lentidao" and "erro_api" exist already: a suffix keeps the new codes unique.
    assert add_item(session, "tipo_problema", "Lentidão", None, CARLOS).code == "lentidao_2"
    assert add_item(session, "tipo_problema", "Erro API", None, CARLOS).code == "erro_api_2"
    # A label that only differs in punctuation, case or accents is the same item.
    with pytest.raises(ValidationFailed):
        add_item(session, "tipo_problema", "Erro: api!", None, CARLOS)
    session.commit()
    tipos = codes(session, "tipo_problema")
    assert len(tipos) == len(set(tipos))
    assert {"lentidao_2", "erro_api_2"} <= set(tipos)
    # Codes are unique per catalog only.
    assert add_item(session, "motivo_devolucao", "Erro API", None, CARLOS).code == "erro_api"
    # Even a retired item keeps its code taken.
    set_active(session, "tipo_problema", "lentidao_2", False, CARLOS)
    assert add_item(session, "tipo_problema", "Lentidão total", None, CARLOS).code == (
        "lentidao_total"
    )
    with pytest.raises(ValidationFailed) as exc:
        add_item(session, "tipo_problema", "Lentidao.", None, None)
    assert "reative-o" in exc.value.errors["label"]
    # Truncated long labels that collide get a suffix too.
    long_a = add_item(session, "tipo_problema", "a" * 100 + " um", None, None)
    long_b = add_item(session, "tipo_problema", "a" * 100 + " dois", None, None)
    assert long_b.code == long_a.code + "_2" and len(long_b.code) <= 80


def test_add_item_validation(session: Session) -> None:
    before = codes(session, "tipo_problema")
    with pytest.raises(ValidationFailed) as exc:
        add_item(session, "tipo_problema", "   ", "x" * (catalogs.HELP_MAX + 1), CARLOS)
    assert exc.value.errors["label"] == "Informe o nome do item."
    assert "no máximo" in exc.value.errors["help"]
    with pytest.raises(ValidationFailed) as exc:
        add_item(session, "tipo_problema", "x" * (catalogs.LABEL_MAX + 1), None, CARLOS)
    assert "no máximo" in exc.value.errors["label"]
    # The same label, case and accents aside, is refused.
    with pytest.raises(ValidationFailed) as exc:
        add_item(session, "tipo_problema", "ERRO EM ALGUMA INTEGRACAO", None, CARLOS)
    assert exc.value.errors["label"] == "Já existe um item com este nome neste catálogo."
    # ...and a retired twin is pointed out, to be restored instead.
    set_active(session, "tipo_problema", "outros", False, CARLOS)
    with pytest.raises(ValidationFailed) as exc:
        add_item(session, "tipo_problema", "Outros erros", None, CARLOS)
    assert "reative-o" in exc.value.errors["label"]
    with pytest.raises(NotFound):
        add_item(session, "nao_existe", "Algo", None, CARLOS)
    assert codes(session, "tipo_problema") == before
    assert [e.action for e in audit_rows(session)] == ["catalogo.aposentar"]


def test_update_keeps_the_code(session: Session) -> None:
    option = update_item(
        session, "tipo_problema", "erro_api", "Erro em API externa", "Ajuda nova", CARLOS, 1
    )
    session.commit()
    assert option == catalogs.CatalogOption("erro_api", "Erro em API externa", "Ajuda nova", True)
    assert catalogs.label(session, "tipo_problema", "erro_api") == "Erro em API externa"
    [event] = audit_rows(session)
    assert event.action == "catalogo.editar" and event.public is False
    assert event.chamado_id is None
    assert event.details is not None
    assert event.details["antes"] == {"label": "Erro em alguma API", "help": None}
    assert event.details["depois"] == {"label": "Erro em API externa", "help": "Ajuda nova"}

    # Nothing changed: no audit row. The item's own label in another case is fine.
    update_item(session, "tipo_problema", "erro_api", "Erro em API externa", "Ajuda nova", None, 2)
    assert len(audit_rows(session)) == 1
    update_item(session, "tipo_problema", "erro_api", "Erro em api externa", "Ajuda nova", None, 2)
    assert len(audit_rows(session)) == 2

    with pytest.raises(ValidationFailed) as exc:
        update_item(session, "tipo_problema", "erro_api", "Outros erros", None, CARLOS, 3)
    assert "Já existe" in exc.value.errors["label"]
    with pytest.raises(ValidationFailed):
        update_item(session, "tipo_problema", "erro_api", "", None, CARLOS, 3)
    with pytest.raises(NotFound):
        update_item(session, "tipo_problema", "nada", "Nada", None, CARLOS, 1)


def test_an_edit_made_on_an_older_version_changes_nothing(svc: Chamados) -> None:
    """Two admins open "Erro em alguma API"; the first saves; the second's save, made on
    the version both saw, is refused and writes nothing (no label, no audit row)."""
    admin = svc.admin
    seen = next(i for i in admin.catalog_items("tipo_problema") if i.code == "erro_api")
    admin.update_catalog_item(
        "tipo_problema", "erro_api", "Erro em API externa", "", CARLOS, seen.version
    )
    with pytest.raises(Conflict) as refused:
        admin.update_catalog_item(
            "tipo_problema", "erro_api", "Falha de API", "Ajuda da segunda", CARLOS, seen.version
        )
    assert "alterado por outra pessoa" in refused.value.message
    assert "nada foi gravado" in refused.value.message
    now = next(i for i in admin.catalog_items("tipo_problema") if i.code == "erro_api")
    assert (now.label, now.help, now.version) == ("Erro em API externa", None, seen.version + 1)
    with svc.unit.reading() as s:
        edits = s.scalars(select(AuditEvent).where(AuditEvent.action == "catalogo.editar"))
        assert [e.details["depois"]["label"] for e in edits if e.details] == ["Erro em API externa"]
    # On the current version (the one the refusal showed), the same edit goes through.
    option, changed = admin.update_catalog_item(
        "tipo_problema", "erro_api", "Falha de API", "Ajuda da segunda", CARLOS, now.version
    )
    assert changed and option.label == "Falha de API"


def test_retire_and_restore(session: Session) -> None:
    retired = set_active(session, "motivo_devolucao", "duplicado", False, CARLOS)
    session.commit()
    assert retired.active is False
    assert "duplicado" not in codes(session, "motivo_devolucao", active_only=True)
    assert "duplicado" in codes(session, "motivo_devolucao")
    assert catalogs.label(session, "motivo_devolucao", "duplicado") == "Chamado duplicado"
    # Retiring again changes nothing and writes nothing.
    set_active(session, "motivo_devolucao", "duplicado", False, CARLOS)
    restored = set_active(session, "motivo_devolucao", "duplicado", True, CARLOS)
    assert restored.active is True
    assert [e.action for e in audit_rows(session)] == ["catalogo.aposentar", "catalogo.reativar"]
    assert all(e.chamado_id is None and not e.public for e in audit_rows(session))
    assert audit_rows(session)[0].details == {
        "catalogo": "motivo_devolucao",
        "codigo": "duplicado",
        "label": "Chamado duplicado",
        "active": False,
        "by_cpf": CARLOS,
    }
    with pytest.raises(NotFound):
        set_active(session, "motivo_devolucao", "nada", False, CARLOS)


def test_retiring_the_last_active_item_is_refused(session: Session) -> None:
    # "objetivo" has a single item.
    with pytest.raises(ValidationFailed) as exc:
        set_active(session, "objetivo", "erro", False, CARLOS)
    assert "último item ativo" in exc.value.message
    assert "último item ativo" in exc.value.errors["active"]
    assert codes(session, "objetivo", active_only=True) == ["erro"]

    tipos = codes(session, "tipo_problema")
    for code in tipos[:-1]:
        set_active(session, "tipo_problema", code, False, CARLOS)
    with pytest.raises(ValidationFailed):
        set_active(session, "tipo_problema", tipos[-1], False, CARLOS)
    assert codes(session, "tipo_problema", active_only=True) == [tipos[-1]]
    # With another item restored, the last one may go.
    set_active(session, "tipo_problema", tipos[0], True, CARLOS)
    set_active(session, "tipo_problema", tipos[-1], False, CARLOS)
    assert codes(session, "tipo_problema", active_only=True) == [tipos[0]]
    assert len(audit_rows(session)) == len(tipos) - 1 + 2


def test_move(session: Session) -> None:
    original = codes(session, "tipo_problema")
    assert move(session, "tipo_problema", original[2], "up", CARLOS) is True
    expected = [original[0], original[2], original[1], *original[3:]]
    assert codes(session, "tipo_problema") == expected
    assert move(session, "tipo_problema", original[2], "down") is True
    assert codes(session, "tipo_problema") == original
    # Already at the edge: nothing moves, nothing is written.
    assert move(session, "tipo_problema", original[0], "up", CARLOS) is False
    assert move(session, "tipo_problema", original[-1], "down", CARLOS) is False
    positions = list(
        session.scalars(
            select(CatalogItem.position)
            .where(CatalogItem.catalog == "tipo_problema")
            .order_by(CatalogItem.position)
        )
    )
    assert positions == list(range(len(original)))
    events = audit_rows(session)
    assert [e.action for e in events] == ["catalogo.mover", "catalogo.mover"]
    assert events[0].details is not None
    assert events[0].details["de"] == 3 and events[0].details["para"] == 2
    assert events[0].public is False and events[0].chamado_id is None
    with pytest.raises(ValidationFailed) as exc:
        move(session, "tipo_problema", original[1], "sideways", CARLOS)
    assert "direction" in exc.value.errors
    with pytest.raises(NotFound):
        move(session, "tipo_problema", "nada", "up", CARLOS)
    # Retired items keep their place and can be moved too.
    set_active(session, "tipo_problema", original[1], False, CARLOS)
    assert move(session, "tipo_problema", original[1], "up", CARLOS) is True
    assert codes(session, "tipo_problema")[0] == original[1]


# --- web -------------------------------------------------------------------------------------


@pytest.fixture
def app(tmp_path: Path) -> Iterator[Flask]:
    # No login over OIDC here (set_session_user): the issuer is never contacted.
    app = build_app(tmp_path, "http://127.0.0.1:9")
    init_catalogs_admin(app)
    svc: Chamados = app.extensions["chamados"]
    svc.init_database()
    yield app
    svc.unit.db.dispose()


def text(resp: Any) -> str:
    return resp.get_data(as_text=True)


def shown(resp: Any) -> str:
    """The page as read on screen (entities decoded)."""
    return html.unescape(text(resp))


def csrf_of(page: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert match, "the page has no CSRF token"
    return match.group(1)


def admin_client(app: Flask) -> FlaskClient:
    client = app.test_client()
    set_session_user(app, client, CARLOS, "Carlos Admin", "admin")
    return client


def requester(app: Flask) -> tuple[FlaskClient, ActorRef]:
    client = app.test_client()
    set_session_user(app, client, MARIA, "Maria da Silva")
    with app.extensions["chamados"].unit.transaction() as s:
        user = s.scalar(select(User).where(User.cpf == MARIA))
        assert user is not None
        return client, ActorRef(user.id, frozenset())


def post_action(client: FlaskClient, catalog: str, **data: str) -> Any:
    """Post an action as the catalog's page holds it now: an edit carries the version
    of the item the page shows (unless ``version`` is given)."""
    url = f"/admin/catalogos/{catalog}"
    page = text(client.get(url))
    if data.get("action") == "update" and "version" not in data:
        data["version"] = version_in(page, data["code"])
    return client.post(url, data={"csrf_token": csrf_of(page), **data})


def version_in(page: str, code: str) -> str:
    """The version the editor of item ``code`` carries on this page."""
    row = page.split(f'id="item-{code}"', 1)[1].split("</tr>", 1)[0]
    match = re.search(r'name="version" value="(\d+)"', row)
    assert match, f"the editor of {code} carries no version"
    return match.group(1)


def informacoes_page(app: Flask, client: FlaskClient, actor: ActorRef) -> str:
    """The wizard step with "Tipo de problema" of a brand-new chamado."""
    c = app.extensions["chamados"].requests.start_chamado(actor, "chamado")
    task = open_task(app.extensions["chamados"], c.id)
    resp = client.get(f"/tarefas/{task.id}?passo=informacoes")
    assert resp.status_code == 200
    return text(resp)


def option_tag(page: str, code: str) -> re.Match[str] | None:
    return re.search(rf'<option value="{re.escape(code)}"[^>]*>([^<]*)</option>', page)


def audit_actions(app: Flask) -> list[str]:
    with app.extensions["chamados"].unit.transaction() as s:
        return list(
            s.scalars(
                select(AuditEvent.action)
                .where(AuditEvent.action.like("catalogo.%"))
                .order_by(AuditEvent.id)
            )
        )


def test_pages_are_for_admins_only(app: Flask) -> None:
    anonymous = app.test_client()
    resp = anonymous.get("/admin/catalogos")
    assert resp.status_code == 302 and "/entrar" in resp.headers["Location"]

    maria, _ = requester(app)
    assert maria.get("/admin/catalogos").status_code == 403
    assert maria.get("/admin/catalogos/tipo_problema").status_code == 403
    token = csrf_of(text(maria.get("/minhas-solicitacoes")))
    resp = maria.post(
        "/admin/catalogos/tipo_problema",
        data={"csrf_token": token, "action": "add", "label": "Invasão"},
    )
    assert resp.status_code == 403
    analyst = app.test_client()
    set_session_user(app, analyst, ANA, "Ana Souza", "analyst")
    assert analyst.get("/admin/catalogos/tipo_problema").status_code == 403
    assert audit_actions(app) == []

    admin = admin_client(app)
    page = text(admin.get("/admin/catalogos"))
    for title in EDITABLE.values():
        assert title in page
    assert admin.get("/admin/catalogos/nao_existe").status_code == 404
    page = text(admin.get("/admin/catalogos/motivo_devolucao"))
    assert "Dificuldade com conta gov.br" in page and "e.gov.br/solicitaratendimentogovbr" in page
    assert "Ativo" in page and "conta_govbr" in page


def test_post_without_csrf_is_refused(app: Flask) -> None:
    admin = admin_client(app)
    resp = admin.post(
        "/admin/catalogos/tipo_problema", data={"action": "add", "label": "Sem token"}
    )
    assert resp.status_code == 400 and "CSRF" in text(resp)
    resp = admin.post(
        "/admin/catalogos/tipo_problema",
        data={"action": "retire", "code": "lentidao", "csrf_token": "forjado"},
    )
    assert resp.status_code == 400
    with app.extensions["chamados"].unit.transaction() as s:
        assert "sem_token" not in codes(s, "tipo_problema")
        assert "lentidao" in codes(s, "tipo_problema", active_only=True)
    assert audit_actions(app) == []


def test_every_form_carries_a_csrf_token(app: Flask) -> None:
    admin = admin_client(app)
    page = text(admin.get("/admin/catalogos/tipo_problema"))
    forms = re.findall(r"<form method=\"post\".*?</form>", page, flags=re.S)
    assert len(forms) >= 5 * 4 + 1
    assert all('name="csrf_token"' in f for f in forms)


def test_added_item_is_offered_to_the_requester(app: Flask) -> None:
    admin = admin_client(app)
    resp = post_action(
        admin,
        "tipo_problema",
        action="add",
        label="Falha na autenticação",
        help="Quando o serviço não reconhece o login.",
    )
    assert resp.status_code == 302
    page = shown(admin.get(resp.headers["Location"]))
    assert 'Item "Falha na autenticação" adicionado.' in page
    assert "falha_na_autenticacao" in page
    assert audit_actions(app) == ["catalogo.adicionar"]

    maria, actor = requester(app)
    form = informacoes_page(app, maria, actor)
    tag = option_tag(form, "falha_na_autenticacao")
    assert tag is not None and tag.group(1).strip() == "Falha na autenticação"


def test_refused_changes_keep_what_was_typed(app: Flask) -> None:
    admin = admin_client(app)
    resp = post_action(
        admin, "tipo_problema", action="add", label="  ", help="Ajuda digitada com cuidado"
    )
    assert resp.status_code == 422
    page = text(resp)
    assert "Informe o nome do item." in page
    assert "Ajuda digitada com cuidado</textarea>" in page
    assert 'id="add-label-error"' in page

    resp = post_action(admin, "tipo_problema", action="add", label="Outros Erros", help="Minha")
    page = text(resp)
    assert resp.status_code == 422 and "Já existe um item com este nome" in page
    assert 'value="Outros Erros"' in page and "Minha</textarea>" in page

    # Editing a row: the typed label comes back in that row, its editor open.
    resp = post_action(
        admin,
        "tipo_problema",
        action="update",
        code="erro_api",
        label="Lentidão no acesso ao serviço",
        help="Texto novo",
    )
    page = text(resp)
    assert resp.status_code == 422
    row = page.split('id="item-erro_api"', 1)[1].split("</tr>", 1)[0]
    assert "<details open>" in row
    assert 'value="Lentidão no acesso ao serviço"' in row and "Texto novo</textarea>" in row
    assert 'id="edit-erro_api-label-error"' in row
    with app.extensions["chamados"].unit.transaction() as s:
        assert catalogs.label(s, "tipo_problema", "erro_api") == "Erro em alguma API"
    assert audit_actions(app) == []


def test_two_admins_edit_an_item_the_second_is_told_and_keeps_what_they_typed(
    app: Flask,
) -> None:
    url = "/admin/catalogos/tipo_problema"
    first = admin_client(app)
    second = app.test_client()
    set_session_user(app, second, "86288366757", "Sofia Admin", "admin")
    first_page, second_page = text(first.get(url)), text(second.get(url))
    assert version_in(first_page, "erro_api") == version_in(second_page, "erro_api")

    saved = first.post(
        url,
        data={
            "csrf_token": csrf_of(first_page),
            "action": "update",
            "code": "erro_api",
            "label": "Erro em API externa",
            "help": "",
            "version": version_in(first_page, "erro_api"),
        },
    )
    assert saved.status_code == 302
    refused = second.post(
        url,
        data={
            "csrf_token": csrf_of(second_page),
            "action": "update",
            "code": "erro_api",
            "label": "Falha de API",
            "help": "Ajuda da segunda",
            "version": version_in(second_page, "erro_api"),
        },
    )
    assert refused.status_code == 409
    page = text(refused)
    assert "Outra pessoa alterou este item enquanto você o editava; nada foi gravado." in page
    assert "Agora: nome “Erro em API externa”; ajuda: (nenhuma)." in page
    # What the second admin typed is in the item's editor, open; the row shows the item
    # as it is now, and the editor carries the current version: saving again replaces it.
    row = page.split('id="item-erro_api"', 1)[1].split("</tr>", 1)[0]
    assert "<details open>" in row and "<strong>Erro em API externa</strong>" in row
    assert 'value="Falha de API"' in row and "Ajuda da segunda</textarea>" in row
    current = int(version_in(first_page, "erro_api")) + 1
    assert version_in(page, "erro_api") == str(current)
    with app.extensions["chamados"].unit.transaction() as s:
        assert catalogs.label(s, "tipo_problema", "erro_api") == "Erro em API externa"
    assert audit_actions(app) == ["catalogo.editar"]

    again = second.post(url, data=fill(row, {}, "version"))  # the editor as it came back
    assert again.status_code == 302
    with app.extensions["chamados"].unit.transaction() as s:
        assert catalogs.label(s, "tipo_problema", "erro_api") == "Falha de API"


def test_edit_label_keeps_code(app: Flask) -> None:
    maria, actor = requester(app)
    # The form drawn before the edit (the process's copy of the catalogs read then)...
    tag = option_tag(informacoes_page(app, maria, actor), "erro_api")
    assert tag is not None and tag.group(1).strip() != "Erro em API"
    admin = admin_client(app)
    resp = post_action(
        admin, "tipo_problema", action="update", code="erro_api", label="Erro em API", help=""
    )
    assert resp.status_code == 302 and resp.headers["Location"].endswith("#item-erro_api")
    page = shown(admin.get("/admin/catalogos/tipo_problema"))
    assert 'Item "Erro em API" atualizado.' in page
    # ...and the next one, with the new label.
    tag = option_tag(informacoes_page(app, maria, actor), "erro_api")
    assert tag is not None and tag.group(1).strip() == "Erro em API"
    assert audit_actions(app) == ["catalogo.editar"]


def test_a_relabelled_item_shows_on_tickets_sent_before_at_once(app: Flask) -> None:
    """Ticket pages label answers from the process's copy of the catalogs, read again
    when the catalogs' revision moves: an edit shows on the very next page."""
    svc: Chamados = app.extensions["chamados"]
    maria, actor = requester(app)
    c = svc.requests.start_chamado(actor, "chamado")
    svc.requests.complete_task(
        actor,
        open_task(svc, c.id).id,
        registration(tipo_problema="erro_api"),
        chamado(svc, c.id).version,
    )
    before = text(maria.get(f"/chamados/{c.id}"))  # the copy is read here
    assert "Erro em API" not in before
    admin = admin_client(app)
    resp = post_action(
        admin, "tipo_problema", action="update", code="erro_api", label="Erro em API", help=""
    )
    assert resp.status_code == 302
    assert "Erro em API" in text(maria.get(f"/chamados/{c.id}"))


def test_move_and_retire_last(app: Flask) -> None:
    admin = admin_client(app)
    resp = post_action(admin, "tipo_problema", action="down", code="erro_integracao")
    assert resp.status_code == 302
    with app.extensions["chamados"].unit.transaction() as s:
        assert codes(s, "tipo_problema")[:2] == ["erro_api", "erro_integracao"]

    resp = post_action(admin, "objetivo", action="retire", code="erro")
    page = text(resp)
    assert resp.status_code == 422
    assert "último item ativo" in page and 'id="item-erro-error"' in page
    with app.extensions["chamados"].unit.transaction() as s:
        assert codes(s, "objetivo", active_only=True) == ["erro"]
    # An unknown action or code changes nothing.
    assert post_action(admin, "objetivo", action="delete", code="erro").status_code == 422
    assert post_action(admin, "objetivo", action="retire", code="nada").status_code == 404
    assert audit_actions(app) == ["catalogo.mover"]


def test_retired_item_leaves_new_forms_but_old_tickets_keep_it(app: Flask) -> None:
    svc: Chamados = app.extensions["chamados"]
    admin = admin_client(app)
    assert (
        post_action(admin, "tipo_problema", action="add", label="Erro de certificado").status_code
        == 302
    )
    code = "erro_de_certificado"

    # Maria sends a ticket using the new type; Ana asks for an adjustment.
    maria, actor = requester(app)
    analyst = app.test_client()
    set_session_user(app, analyst, ANA, "Ana Souza", "analyst")
    with svc.unit.transaction() as s:
        ana_user = s.scalar(select(User).where(User.cpf == ANA))
        assert ana_user is not None
        ana = ActorRef(ana_user.id, frozenset({"analyst"}))
    c = svc.requests.start_chamado(actor, "chamado")
    task = open_task(svc, c.id)
    svc.requests.complete_task(
        actor, task.id, registration(tipo_problema=code), chamado(svc, c.id).version
    )
    decide(svc, ana, c.id, {"decisao": "ajuste", "ajuste_solicitado": "Informe o certificado."})

    # The admin retires the type.
    resp = post_action(admin, "tipo_problema", action="retire", code=code)
    assert resp.status_code == 302
    page = text(admin.get("/admin/catalogos/tipo_problema"))
    assert "Aposentado" in page and "Reativar" in page

    # New tickets no longer offer it.
    assert option_tag(informacoes_page(app, maria, actor), code) is None

    # The old ticket still shows its label...
    tracking = text(maria.get(f"/chamados/{c.id}"))
    assert "Erro de certificado" in tracking
    # ...its adjustment form still has it selected...
    adjust = open_task(svc, c.id)
    assert adjust.group == "requester"
    url = f"/tarefas/{adjust.id}"
    form_page = text(maria.get(url + "?passo=informacoes"))
    tag = option_tag(form_page, code)
    assert tag is not None and "selected" in tag.group(0)
    # ...and it can be re-sent with it.
    resp = maria.post(
        url,
        data=fill(
            form_page,
            {"_action": "goto:revisao", "detalhamento": "O certificado A1 do órgão expirou ontem."},
        ),
    )
    assert resp.status_code == 302
    review = text(maria.get(resp.headers["Location"]))
    assert "Erro de certificado" in review
    resp = maria.post(url, data=fill(review, {"_action": "submit"}))
    assert resp.status_code == 302, text(resp)
    assert chamado(svc, c.id).status == "em_analise"
    assert chamado(svc, c.id).categoria == code
    assert "Erro de certificado" in text(maria.get(f"/chamados/{c.id}"))

    # Restored, it is offered again.
    assert post_action(admin, "tipo_problema", action="restore", code=code).status_code == 302
    assert option_tag(informacoes_page(app, maria, actor), code) is not None
    assert audit_actions(app) == [
        "catalogo.adicionar",
        "catalogo.aposentar",
        "catalogo.reativar",
    ]
    with svc.unit.transaction() as s:
        rows = list(s.scalars(select(AuditEvent).where(AuditEvent.action.like("catalogo.%"))))
        assert all(r.chamado_id is None and r.public is False for r in rows)
        carlos = s.scalar(select(User).where(User.cpf == CARLOS))
        assert carlos is not None and {r.actor_id for r in rows} == {carlos.id}
        assert s.scalar(select(func.count()).select_from(HumanTask)) > 0


def test_retiring_an_item_published_scenarios_choose_asks_for_confirmation(app: Flask) -> None:
    """Retiring "Erro de API", which the chamado's scenarios send, would block the model's
    next publication: the admin is told which scenarios before anything changes."""
    admin = admin_client(app)
    refused = post_action(admin, "tipo_problema", action="retire", code="erro_api")
    page = shown(refused)
    assert refused.status_code == 409
    assert "faria falhar cenários de teste de modelos publicados" in page
    assert "Nada foi alterado." in page and "Aposentar mesmo assim" in page
    broken = re.findall(r"<li>(Chamado[^<]*)</li>", page)
    assert broken, page  # "<service>: <scenario>" for each scenario that would fail
    items = {
        o.code: o.active for o in app.extensions["chamados"].admin.catalog_items("tipo_problema")
    }
    assert items["erro_api"] is True  # nothing changed
    confirmed = post_action(admin, "tipo_problema", action="retire", code="erro_api", confirmar="1")
    assert confirmed.status_code == 302
    items = {
        o.code: o.active for o in app.extensions["chamados"].admin.catalog_items("tipo_problema")
    }
    assert items["erro_api"] is False
    # An item no scenario uses is retired at once.
    assert post_action(admin, "tipo_problema", action="retire", code="lentidao").status_code == 302
