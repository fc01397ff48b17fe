"""The admin's e-mail pages: list, one message (HTML shown sandboxed), resend with CSRF."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from markupsafe import escape
from sqlalchemy import select

from engine import outbox
from engine.identity import Identity
from engine.mail import MailSettings
from engine.models import OutboxMessage
from engine.service import ActorRef
from engine.users import upsert_user
from tests.conftest import database_url
from tests.test_auth import set_session_user
from tests.test_mail import CASES, TEMPLATES
from web import create_app
from web.mail_admin import init_mail_admin

CARLOS, ANA, MARIA = "52998224725", "11144477735", "39053344705"
T0 = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
BASE = "http://localhost"


def build(tmp_path: Path, settings: MailSettings) -> Flask:
    app = create_app(
        {
            "DATABASE_URL": database_url(tmp_path),
            "TESTING": True,
            "SECRET_KEY": "test-secret",
            "OIDC_ISSUER": "http://127.0.0.1:9",  # never contacted: logins are set directly
            "APP_BASE_URL": BASE,
        }
    )
    init_mail_admin(app, settings)
    app.extensions["chamados"].init_database(load_reference_data=False)
    return app


@pytest.fixture
def app(tmp_path: Path) -> Iterator[Flask]:
    app = build(tmp_path, MailSettings.from_env({}, instance_dir=tmp_path))
    yield app
    app.extensions["chamados"].unit.db.dispose()


@pytest.fixture
def admin(app: Flask) -> FlaskClient:
    client = app.test_client()
    set_session_user(app, client, CARLOS, "Carlos Admin", "admin")
    return client


def new_chamado(app: Flask) -> tuple[int, str]:
    svc = app.extensions["chamados"]
    with svc.unit.transaction() as s:
        user_id = upsert_user(s, Identity(cpf=MARIA, name="Maria da Silva")).id
    chamado = svc.requests.start_chamado(ActorRef(user_id), "chamado")
    return chamado.id, chamado.protocolo


def add_message(
    app: Flask, status: str = "pending", chamado_id: int | None = None, **fields: Any
) -> int:
    """A stored message; ``fields`` override columns (e.g. a hostile body_html)."""
    with app.extensions["chamados"].unit.transaction() as s:
        context, _subject, _expected = CASES["chamado_resolvido"]
        row = outbox.enqueue(
            s,
            "chamado_resolvido",
            "maria@example.gov.br",
            context,
            chamado_id=chamado_id,
            base_url=BASE,
            now=T0,
            templates=TEMPLATES,
        )
        assert row is not None
        row = s.get(OutboxMessage, row.id)  # enqueue writes the row; edit it through the ORM
        assert row is not None
        row.status = status
        if status == "failed":
            row.attempts = 6
            row.last_error = "ConnectionRefusedError: [Errno 111] Connection refused"
        for name, value in fields.items():
            setattr(row, name, value)
        s.flush()
        return row.id


def csrf_from(page: str) -> str:
    match = re.search(r'<meta name="csrf-token" content="([^"]+)"', page)
    assert match, "página sem token CSRF"
    return match.group(1)


def row(app: Flask, pk: int) -> OutboxMessage:
    with app.extensions["chamados"].unit.session_factory() as s:
        found = s.scalar(select(OutboxMessage).where(OutboxMessage.id == pk))
        assert found is not None
        return found


def text(resp: Any) -> str:
    return resp.get_data(as_text=True)


def test_list_newest_first_with_filters(app: Flask, admin: FlaskClient) -> None:
    chamado_id, protocolo = new_chamado(app)
    sent = add_message(app, "sent", chamado_id, subject="Primeira", created_at=T0)
    failed = add_message(app, "failed", subject="Segunda", created_at=T0.replace(hour=13))
    page = text(admin.get("/admin/emails"))
    assert page.index("Segunda") < page.index("Primeira")
    assert "Modo de captura" in page and ".eml" in page and "SMTP_HOST" in page
    assert "Connection refused" in page and "Falhou" in page and "Enviada" in page
    assert f'href="/admin/emails/{sent}"' in page and f'href="/admin/emails/{failed}"' in page
    assert protocolo in page
    assert "Todas (2)" in page and "Com falha (1)" in page

    only_failed = text(admin.get("/admin/emails?situacao=falhas"))
    assert "Segunda" in only_failed and "Primeira" not in only_failed
    assert "Nenhuma mensagem" in text(admin.get("/admin/emails?situacao=pendentes"))
    # An unknown filter shows everything rather than failing.
    assert "Primeira" in text(admin.get("/admin/emails?situacao=xyz"))


def test_smtp_mode_says_where_mail_goes(tmp_path: Path) -> None:
    app = build(tmp_path, MailSettings(smtp_host="smtp.example.gov.br", smtp_port=587))
    client = app.test_client()
    set_session_user(app, client, CARLOS, "Carlos Admin", "admin")
    page = text(client.get("/admin/emails"))
    app.extensions["chamados"].unit.db.dispose()
    assert "smtp.example.gov.br:587" in page and "Modo de captura" not in page


def test_view_shows_both_bodies_and_never_runs_the_html(app: Flask, admin: FlaskClient) -> None:
    hostile = '<p>Olá</p><script>alert("xss")</script><img src=x onerror=alert(1)>'
    pk = add_message(app, "sent", body_html=hostile, body_text="Texto <b>puro</b>")
    resp = admin.get(f"/admin/emails/{pk}")
    assert resp.status_code == 200
    page = text(resp)
    m = row(app, pk)
    assert m.subject in page and str(escape(m.message_id)) in page
    assert "maria@example.gov.br" in page
    # The HTML is an attribute of a sandboxed frame without scripts: escaped, inert.
    iframe = re.search(r"<iframe[^>]*>", page, re.S)
    assert iframe is not None
    tag = iframe.group(0)
    assert 'sandbox="allow-popups allow-popups-to-escape-sandbox"' in tag
    assert "allow-scripts" not in tag and "allow-same-origin" not in tag
    assert "&lt;script&gt;alert(&#34;xss&#34;)&lt;/script&gt;" in tag
    assert "<script>alert" not in page and "<img src=x" not in page
    assert 'srcdoc="&lt;base target=&#34;_blank&#34;&gt;&lt;p&gt;Olá' in tag
    assert "Texto &lt;b&gt;puro&lt;/b&gt;" in page
    assert "Reenviar" not in page  # only failed messages are resent
    # A full document keeps its doctype first; the <base> goes inside <head>.
    full = add_message(app, "sent")
    preview = text(admin.get(f"/admin/emails/{full}"))
    assert 'srcdoc="&lt;!DOCTYPE html&gt;' in preview
    assert "&lt;head&gt;&lt;base target=&#34;_blank&#34;&gt;" in preview
    assert admin.get("/admin/emails/999999").status_code == 404


def test_resend_failed_message_with_csrf(app: Flask, admin: FlaskClient) -> None:
    pk = add_message(app, "failed")
    page = text(admin.get(f"/admin/emails/{pk}"))
    assert "Reenviar" in page and "Connection refused" in page
    resp = admin.post(f"/admin/emails/{pk}/reenviar", data={"csrf_token": csrf_from(page)})
    assert resp.status_code == 302 and resp.headers["Location"] == f"/admin/emails/{pk}"
    m = row(app, pk)
    assert (m.status, m.attempts) == ("pending", 0)
    after = text(admin.get(resp.headers["Location"]))
    assert "voltou para a fila" in after and "Pendente" in after

    # Not failed any more: a second resend changes nothing and says why.
    resp = admin.post(
        f"/admin/emails/{pk}/reenviar", data={"csrf_token": csrf_from(after)}, follow_redirects=True
    )
    assert "Só mensagens com falha podem ser reenviadas" in text(resp)
    assert row(app, pk).status == "pending"


def test_resend_without_csrf_is_refused(app: Flask, admin: FlaskClient) -> None:
    pk = add_message(app, "failed")
    resp = admin.post(f"/admin/emails/{pk}/reenviar")
    assert resp.status_code == 400
    assert row(app, pk).status == "failed"
    assert admin.get(f"/admin/emails/{pk}/reenviar").status_code == 405


def test_only_admins(app: Flask) -> None:
    pk = add_message(app, "failed")
    anonymous = app.test_client()
    resp = anonymous.get("/admin/emails")
    assert resp.status_code == 302 and resp.headers["Location"].startswith("/entrar")

    analyst = app.test_client()
    set_session_user(app, analyst, ANA, "Ana Souza", "analyst", "supervisor")
    refused = analyst.get("/admin/emails")
    assert refused.status_code == 403
    assert analyst.get(f"/admin/emails/{pk}").status_code == 403
    # A valid CSRF token does not make an analyst an admin.
    token = csrf_from(text(refused))
    resp = analyst.post(f"/admin/emails/{pk}/reenviar", data={"csrf_token": token})
    assert resp.status_code == 403
    assert row(app, pk).status == "failed"

    requester = app.test_client()
    set_session_user(app, requester, MARIA, "Maria da Silva")
    assert requester.get("/admin/emails").status_code == 403
