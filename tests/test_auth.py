"""gov.br login against a real OpenID provider over HTTP (web.dev_oidc on a thread).

The Flask test client plays the browser on the app's side; ``requests`` plays it on
the provider's side; the app itself talks to the provider over real HTTP (discovery,
JWKS, token, userinfo).
"""

from __future__ import annotations

import re
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import pytest
import requests
import werkzeug.serving
from click.testing import CliRunner
from flask import Flask, g, jsonify
from flask.testing import FlaskClient
from flask_wtf.csrf import generate_csrf
from sqlalchemy import select

from engine.identity import Identity
from engine.models import AuditEvent, RoleGrant, User, UserSession
from engine.users import grant_role, roles_for
from tests.conftest import database_url
from web import auth as auth_module
from web import create_app
from web.auth import (
    CLIENT_NAME,
    SESSION_KEY,
    current_user,
    login_required,
    role_required,
    safe_next,
)
from web.cli_roles import role as role_cli
from web.dev_oidc import make_provider_app, run_in_thread

MARIA = "39053344705"
ANA = "11144477735"
CARLOS = "52998224725"
APP_BASE = "http://localhost"

# Authlib's server side (inside oidc-provider-mock) uses APIs it has deprecated.
pytestmark = [
    pytest.mark.filterwarnings("ignore::DeprecationWarning:authlib.*"),
]


@pytest.fixture(scope="module")
def issuer() -> Iterator[str]:
    base_url, stop = run_in_thread()
    yield base_url
    stop()


def build_app(tmp_path: Path, issuer: str, **config: Any) -> Flask:
    app = create_app(
        {
            "DATABASE_URL": database_url(tmp_path),
            "TESTING": True,
            "SECRET_KEY": "test-secret",
            "OIDC_ISSUER": issuer,
            "OIDC_CLIENT_ID": "chamados-test",
            "OIDC_CLIENT_SECRET": "chamados-test-secret",
            "OIDC_SCOPES": "openid email profile phone govbr_confiabilidades",
            "OIDC_LOGOUT_URL": "",
            "APP_BASE_URL": APP_BASE,
            **config,
        }
    )
    app.extensions["chamados"].migrate()

    # Probes for what other pages will do with the auth API.
    @app.get("/_whoami")
    def whoami() -> Any:
        user = current_user()
        assert user is g.user
        if user is None:
            return jsonify(None)
        return jsonify(
            id=user.id,
            cpf=user.cpf,
            name=user.name,
            display_name=user.display_name,
            email=user.email,
            roles=sorted(user.roles),
        )

    @app.get("/_csrf")
    def csrf() -> str:
        return generate_csrf()

    @app.get("/_private")
    @login_required
    def private() -> str:
        return "privado"

    @app.get("/api/_private")
    @login_required
    def api_private() -> str:
        return "privado"

    @app.get("/_analysts")
    @role_required("analyst", "supervisor")
    def analysts() -> str:
        return "fila"

    @app.get("/api/_analysts")
    @role_required("analyst")
    def api_analysts() -> str:
        return "fila"

    return app


@pytest.fixture
def app(tmp_path: Path, issuer: str) -> Flask:
    return build_app(tmp_path, issuer)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def start_login(client: FlaskClient, next_url: str | None = None) -> str:
    path = "/entrar" + (f"?next={quote(next_url)}" if next_url else "")
    resp = client.get(path)
    assert resp.status_code == 302, resp.get_data(as_text=True)
    return resp.headers["Location"]


def provider_login(authorize_url: str, cpf: str) -> str:
    """At the provider: open the login page, press the person's button (or type the
    CPF); returns the redirect back to the app."""
    page = requests.get(authorize_url, timeout=5)
    assert page.status_code == 200
    resp = requests.post(authorize_url, data={"sub": cpf}, allow_redirects=False, timeout=5)
    assert resp.status_code == 302, resp.text
    return resp.headers["Location"]


def follow_back(client: FlaskClient, location: str) -> Any:
    parts = urlsplit(location)
    assert f"{parts.scheme}://{parts.netloc}" == APP_BASE
    return client.get(f"{parts.path}?{parts.query}")


def login(client: FlaskClient, cpf: str, next_url: str | None = None) -> Any:
    return follow_back(client, provider_login(start_login(client, next_url), cpf))


def whoami(client: FlaskClient) -> dict[str, Any] | None:
    return client.get("/_whoami").get_json()


def csrf_token(client: FlaskClient) -> str:
    return client.get("/_csrf").get_data(as_text=True)


def set_session_user(app: Flask, client: FlaskClient, cpf: str, name: str, *roles: str) -> str:
    """Log in without the provider, for pages whose subject is not the login itself:
    a server-side session as the login callback opens, its token in the cookie.
    Returns the token."""
    svc = app.extensions["chamados"]
    with svc.unit.transaction() as s:
        for r in roles:
            grant_role(s, cpf, r, None)
    _user, token = svc.sessions.log_in(Identity(cpf=cpf, name=name), "pytest")
    with client.session_transaction() as sess:
        sess.clear()
        sess[SESSION_KEY] = token
    return token


# --- the login flow --------------------------------------------------------------------------


def test_full_login_over_http(app: Flask, client: FlaskClient, issuer: str) -> None:
    assert whoami(client) is None
    resp = login(client, MARIA, next_url="/meus-chamados?pagina=2")
    assert resp.status_code == 302
    assert resp.headers["Location"] == "/meus-chamados?pagina=2"

    me = whoami(client)
    assert me is not None
    assert me["cpf"] == MARIA
    assert me["name"] == "Maria da Silva"
    assert me["email"] == "maria.silva@example.gov.br"
    assert me["roles"] == []

    with client.session_transaction() as sess:
        # Only the server-side session's token and the ID token (it fits) are in the cookie.
        assert set(sess) == {SESSION_KEY, "id_token"}
        assert MARIA not in str(dict(sess))
    with app.extensions["chamados"].unit.transaction() as s:
        user = s.scalar(select(User).where(User.cpf == MARIA))
        assert user is not None
        assert user.phone == "61987650001"
        assert user.reliability == "silver"
        assert user.last_login_at is not None


def test_userinfo_is_merged(
    app: Flask, client: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    oidc = app.extensions["authlib.integrations.flask_client"].create_client(CLIENT_NAME)
    seen: list[dict[str, Any]] = []
    original = oidc.userinfo

    def spy(**kwargs: Any) -> Any:
        info = original(**kwargs)
        seen.append(dict(info))
        return info

    monkeypatch.setattr(oidc, "userinfo", spy)
    login(client, MARIA)
    assert len(seen) == 1
    assert seen[0]["sub"] == MARIA
    assert seen[0]["email_verified"] is True  # booleans in userinfo, strings in the ID token
    me = whoami(client)
    assert me is not None and me["email"] == "maria.silva@example.gov.br"


def test_id_token_skipped_when_cookie_would_be_too_big(
    client: FlaskClient, issuer: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(auth_module, "_SESSION_COOKIE_BUDGET", 200)
    login(client, MARIA)
    with client.session_transaction() as sess:
        assert set(sess) == {SESSION_KEY}
    resp = client.post("/sair", data={"csrf_token": csrf_token(client)})
    q = parse_qs(urlsplit(resp.headers["Location"]).query)
    assert "id_token_hint" not in q
    assert q["post_logout_redirect_uri"] == [APP_BASE + "/"]


def test_authorize_request_has_pkce_state_nonce(client: FlaskClient, issuer: str) -> None:
    url = start_login(client)
    parts = urlsplit(url)
    assert url.startswith(issuer + "/oauth2/authorize?")
    q = {k: v[0] for k, v in parse_qs(parts.query).items()}
    assert q["code_challenge_method"] == "S256"
    assert len(q["code_challenge"]) >= 43
    assert q["state"] and q["nonce"]
    assert q["client_id"] == "chamados-test"
    assert q["redirect_uri"] == APP_BASE + "/auth/callback"
    assert q["response_type"] == "code"
    assert q["scope"].split()[0] == "openid"


def test_typed_formatted_cpf_logs_in(client: FlaskClient) -> None:
    login(client, "111.444.777-35")
    me = whoami(client)
    assert me is not None and me["cpf"] == ANA


def test_social_name_and_missing_email(client: FlaskClient) -> None:
    login(client, "85351346893")
    me = whoami(client)
    assert me is not None
    assert me["display_name"] == "Joana Lima"
    assert me["name"] == "João Pereira Lima"
    assert me["email"] is None


def test_next_must_be_a_local_path(client: FlaskClient) -> None:
    resp = login(client, MARIA, next_url="https://evil.example/x")
    assert resp.headers["Location"] == "/"


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("/chamados/1?x=1", "/chamados/1?x=1"),
        (None, "/"),
        ("", "/"),
        ("//evil.example", "/"),
        ("/\\evil.example", "/"),
        ("https://evil.example/", "/"),
        ("javascript:alert(1)", "/"),
        ("chamados", "/"),
        ("/entrar?next=/x", "/"),
        ("/x\r\nSet-Cookie: a=b", "/"),
    ],
)
def test_safe_next(target: str | None, expected: str) -> None:
    assert safe_next(target) == expected


def test_already_logged_in_skips_provider(client: FlaskClient) -> None:
    login(client, MARIA)
    resp = client.get("/entrar?next=/x")
    assert resp.status_code == 302 and resp.headers["Location"] == "/x"


def test_tampered_state_refused(client: FlaskClient) -> None:
    back = provider_login(start_login(client), MARIA)
    tampered = re.sub(r"state=[^&]+", "state=forjado", back)
    resp = follow_back(client, tampered)
    assert resp.status_code == 400
    assert "Tente entrar novamente" in resp.get_data(as_text=True)
    assert whoami(client) is None


def test_callback_cannot_be_replayed(client: FlaskClient) -> None:
    back = provider_login(start_login(client), MARIA)
    assert follow_back(client, back).status_code == 302
    client.post("/sair", data={"csrf_token": csrf_token(client)})
    resp = follow_back(client, back)
    assert resp.status_code == 400
    assert whoami(client) is None


def test_callback_in_another_browser_refused(app: Flask, client: FlaskClient) -> None:
    back = provider_login(start_login(client), MARIA)
    other = app.test_client()  # no pending login in this cookie jar
    assert follow_back(other, back).status_code == 400
    assert whoami(other) is None


def test_nonce_is_checked(client: FlaskClient) -> None:
    back = provider_login(start_login(client), MARIA)
    with client.session_transaction() as sess:
        pending = sess["oidc_pending"]
        for data in pending.values():
            data["nonce"] = "outro-nonce"
        sess["oidc_pending"] = pending
    resp = follow_back(client, back)
    assert resp.status_code == 400
    assert "não confirmou a sua identidade" in resp.get_data(as_text=True)
    assert whoami(client) is None


def test_pkce_verifier_is_checked_by_provider(client: FlaskClient) -> None:
    back = provider_login(start_login(client), MARIA)
    with client.session_transaction() as sess:
        pending = sess["oidc_pending"]
        for data in pending.values():
            data["code_verifier"] = "x" * 50
        sess["oidc_pending"] = pending
    resp = follow_back(client, back)
    assert resp.status_code == 400
    assert whoami(client) is None


def test_id_token_issuer_compared_exactly(app: Flask, client: FlaskClient, issuer: str) -> None:
    url = start_login(client)  # discovery loaded and cached
    oidc = app.extensions["authlib.integrations.flask_client"].create_client(CLIENT_NAME)
    # gov.br's issuer has a trailing slash; a token whose iss lacks it must be refused.
    oidc.server_metadata["issuer"] = issuer + "/"
    resp = follow_back(client, provider_login(url, MARIA))
    assert resp.status_code == 400
    assert whoami(client) is None


def test_discovery_issuer_mismatch_refused(tmp_path: Path) -> None:
    # A provider that claims to be someone else than the issuer we configured.
    server = werkzeug.serving.make_server(
        "127.0.0.1", 0, make_provider_app("http://outro-emissor.example"), threaded=True
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        app = build_app(tmp_path, f"http://127.0.0.1:{server.server_port}")
        resp = app.test_client().get("/entrar")
        assert resp.status_code == 502
        assert "não confere" in resp.get_data(as_text=True)
    finally:
        server.shutdown()
        server.server_close()


def test_provider_down_is_a_clear_page(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    app = build_app(tmp_path, f"http://127.0.0.1:{port}")
    resp = app.test_client().get("/entrar")
    assert resp.status_code == 502
    body = resp.get_data(as_text=True)
    assert "O gov.br não respondeu" in body
    assert "Traceback" not in body


def test_access_denied_at_provider(client: FlaskClient) -> None:
    url = start_login(client)
    resp = requests.post(url, data={"action": "deny"}, allow_redirects=False, timeout=5)
    assert "error=access_denied" in resp.headers["Location"]
    page = follow_back(client, resp.headers["Location"])
    assert page.status_code == 400
    assert "cancelada" in page.get_data(as_text=True)
    assert whoami(client) is None


def test_account_without_cpf_refused(client: FlaskClient, issuer: str) -> None:
    requests.put(f"{issuer}/users/sem-cpf", json={"name": "Sem CPF"}, timeout=5).raise_for_status()
    resp = follow_back(client, provider_login(start_login(client), "sem-cpf"))
    assert resp.status_code == 403
    assert "CPF válido" in resp.get_data(as_text=True)
    assert whoami(client) is None


def test_claims_set_on_provider_are_used(client: FlaskClient, issuer: str) -> None:
    cpf = "12345678909"
    requests.put(
        f"{issuer}/users/{cpf}",
        json={
            "name": "Pessoa Configurada",
            "email": "p@example.gov.br",
            "email_verified": "false",
        },
        timeout=5,
    ).raise_for_status()
    login(client, cpf)
    me = whoami(client)
    assert me is not None and me["name"] == "Pessoa Configurada"
    assert me["email"] is None  # explicitly unverified: dropped


# --- logout ----------------------------------------------------------------------------------


def test_logout_goes_through_provider(client: FlaskClient, issuer: str) -> None:
    login(client, MARIA)
    with client.session_transaction() as sess:
        id_token = sess["id_token"]
    resp = client.post("/sair", data={"csrf_token": csrf_token(client)})
    assert resp.status_code == 302
    location = resp.headers["Location"]
    assert location.startswith(issuer + "/oauth2/end_session?")
    q = {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}
    assert q["post_logout_redirect_uri"] == APP_BASE + "/"
    assert q["id_token_hint"] == id_token
    assert whoami(client) is None
    with client.session_transaction() as sess:
        assert SESSION_KEY not in sess and "id_token" not in sess

    # The provider's logout page sends the browser back to the app.
    page = requests.get(location, timeout=5)
    assert page.status_code == 200
    confirm = requests.post(
        f"{issuer}/oauth2/end_session/confirm",
        data={"redirect_uri": q["post_logout_redirect_uri"]},
        allow_redirects=False,
        timeout=5,
    )
    assert confirm.headers["Location"] == APP_BASE + "/"


def test_each_login_opens_a_new_server_session(app: Flask, client: FlaskClient) -> None:
    login(client, MARIA)
    with client.session_transaction() as sess:
        first = sess.pop(SESSION_KEY)  # anonymous for a moment: /entrar skips logged-in people
    authorize = start_login(client)
    with client.session_transaction() as sess:
        sess[SESSION_KEY] = first  # the browser still carries it when the login completes
    follow_back(client, provider_login(authorize, ANA))
    with client.session_transaction() as sess:
        second = sess[SESSION_KEY]
    assert second != first
    me = whoami(client)
    assert me is not None and me["cpf"] == ANA
    svc = app.extensions["chamados"]
    assert svc.sessions.session_user(first) is None  # ended, not merely forgotten by this cookie
    with svc.unit.session_factory() as s:
        reasons = [r.end_reason for r in s.scalars(select(UserSession).order_by(UserSession.id))]
    assert reasons == ["relogin", None]


def test_logout_url_override(tmp_path: Path, issuer: str) -> None:
    app = build_app(
        tmp_path, issuer, OIDC_LOGOUT_URL="https://sso.staging.acesso.gov.br/logout?x=1"
    )
    client = app.test_client()
    login(client, MARIA)
    resp = client.post("/sair", data={"csrf_token": csrf_token(client)})
    location = resp.headers["Location"]
    assert location.startswith("https://sso.staging.acesso.gov.br/logout?")
    q = parse_qs(urlsplit(location).query)
    assert q["x"] == ["1"]
    assert q["post_logout_redirect_uri"] == [APP_BASE + "/"]
    assert "id_token_hint" in q


def test_logout_when_provider_down_just_goes_home(app: Flask, client: FlaskClient) -> None:
    set_session_user(app, client, MARIA, "Maria")
    # Point discovery at a closed port: logging out of the app must still work.
    oidc = app.extensions["authlib.integrations.flask_client"].create_client(CLIENT_NAME)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        oidc._server_metadata_url = f"http://127.0.0.1:{sock.getsockname()[1]}/x"
    oidc.server_metadata.clear()
    resp = client.post("/sair", data={"csrf_token": csrf_token(client)})
    assert resp.status_code == 302 and resp.headers["Location"] == "/"
    assert whoami(client) is None


def test_logout_requires_csrf(app: Flask, client: FlaskClient) -> None:
    set_session_user(app, client, MARIA, "Maria")
    resp = client.post("/sair")
    assert resp.status_code == 400
    assert whoami(client) is not None
    assert client.get("/sair").status_code == 405


# --- access control --------------------------------------------------------------------------


def test_login_required(app: Flask, client: FlaskClient) -> None:
    resp = client.get("/_private?a=1&b=2")
    assert resp.status_code == 302
    assert resp.headers["Location"] == "/entrar?next=/_private?a%3D1%26b%3D2"
    api = client.get("/api/_private")
    assert api.status_code == 401
    assert api.mimetype == "application/problem+json"
    assert api.get_json()["title"] == "Não autenticado"
    set_session_user(app, client, MARIA, "Maria")
    assert client.get("/_private").get_data(as_text=True) == "privado"


def test_role_required(app: Flask, client: FlaskClient) -> None:
    assert client.get("/_analysts").status_code == 302  # anonymous: log in first
    set_session_user(app, client, MARIA, "Maria")
    resp = client.get("/_analysts")
    assert resp.status_code == 403
    assert "Acesso negado" in resp.get_data(as_text=True)
    api = client.get("/api/_analysts")
    assert api.status_code == 403 and api.mimetype == "application/problem+json"
    # Roles are read on every request: a grant takes effect on the next page.
    with app.extensions["chamados"].unit.transaction() as s:
        grant_role(s, MARIA, "supervisor", None)
    assert client.get("/_analysts").status_code == 200


def test_admin_is_not_a_wildcard(app: Flask, client: FlaskClient) -> None:
    set_session_user(app, client, CARLOS, "Carlos", "admin")
    assert client.get("/_analysts").status_code == 403


def test_stale_cookie_after_database_reset(app: Flask, client: FlaskClient) -> None:
    with client.session_transaction() as sess:
        sess[SESSION_KEY] = "um-token-que-este-banco-nunca-viu"
    assert whoami(client) is None
    with client.session_transaction() as sess:
        assert SESSION_KEY not in sess


def test_a_cookie_from_before_server_side_sessions_is_no_login(
    app: Flask, client: FlaskClient
) -> None:
    set_session_user(app, client, MARIA, "Maria")
    me = whoami(client)
    assert me is not None
    user_id = me["id"]
    with client.session_transaction() as sess:
        sess.clear()
        sess["user_id"] = user_id  # what a signed cookie used to be enough for
        sess["cpf"] = MARIA
    assert whoami(client) is None
    with client.session_transaction() as sess:
        assert "user_id" not in sess


def test_bootstrap_admin_on_first_request(tmp_path: Path, issuer: str) -> None:
    app = build_app(tmp_path, issuer, BOOTSTRAP_ADMIN_CPF="529.982.247-25")
    client = app.test_client()
    login(client, CARLOS)
    me = whoami(client)
    assert me is not None and me["roles"] == ["admin"]
    assert client.get("/admin/papeis").status_code == 200


# --- admin page ------------------------------------------------------------------------------


def page_csrf(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "no CSRF token on the page"
    return match.group(1)


def test_admin_page_requires_admin(app: Flask, client: FlaskClient) -> None:
    assert client.get("/admin/papeis").status_code == 302
    set_session_user(app, client, ANA, "Ana", "analyst", "supervisor")
    assert client.get("/admin/papeis").status_code == 403
    assert (
        client.post(
            "/admin/papeis",
            data={
                "csrf_token": csrf_token(client),
                "action": "grant",
                "cpf": ANA,
                "role": "admin",
            },
        ).status_code
        == 403
    )
    with app.extensions["chamados"].unit.transaction() as s:
        assert roles_for(s, ANA) == {"analyst", "supervisor"}


def test_admin_grants_and_revokes(app: Flask, client: FlaskClient) -> None:
    set_session_user(app, client, CARLOS, "Carlos Admin", "admin")
    page = client.get("/admin/papeis")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "529.982.247-25" in html and "Administrador(a)" in html
    token = page_csrf(html)

    resp = client.post(
        "/admin/papeis",
        data={
            "csrf_token": token,
            "action": "grant",
            "cpf": "111 444 777-35",
            "role": "analyst",
        },
    )
    assert resp.status_code == 302 and resp.headers["Location"] == "/admin/papeis"
    html = client.get("/admin/papeis").get_data(as_text=True)
    assert "111.444.777-35" in html and "Analista" in html
    with app.extensions["chamados"].unit.transaction() as s:
        assert roles_for(s, ANA) == {"analyst"}
        grant = s.scalar(select(RoleGrant).where(RoleGrant.cpf == ANA))
        assert grant is not None and grant.granted_by == CARLOS

    resp = client.post(
        "/admin/papeis",
        data={
            "csrf_token": token,
            "action": "revoke",
            "cpf": ANA,
            "role": "analyst",
        },
    )
    assert resp.status_code == 302
    with app.extensions["chamados"].unit.transaction() as s:
        assert roles_for(s, ANA) == set()
        actions = [e.action for e in s.scalars(select(AuditEvent).order_by(AuditEvent.id))]
        assert actions[-2:] == ["role.grant", "role.revoke"]


def test_admin_form_errors_keep_input(app: Flask, client: FlaskClient) -> None:
    set_session_user(app, client, CARLOS, "Carlos Admin", "admin")
    token = page_csrf(client.get("/admin/papeis").get_data(as_text=True))
    resp = client.post(
        "/admin/papeis",
        data={
            "csrf_token": token,
            "action": "grant",
            "cpf": "123.456.789-00",
            "role": "designer",
        },
    )
    assert resp.status_code == 422
    html = resp.get_data(as_text=True)
    assert "CPF inválido" in html
    assert 'value="123.456.789-00"' in html
    assert re.search(r'<option value="designer"\s+selected>', html)

    resp = client.post(
        "/admin/papeis",
        data={
            "csrf_token": token,
            "action": "grant",
            "cpf": ANA,
            "role": "",
        },
    )
    assert resp.status_code == 422
    assert "Papel inválido" in resp.get_data(as_text=True)


def test_admin_cannot_revoke_last_admin(app: Flask, client: FlaskClient) -> None:
    set_session_user(app, client, CARLOS, "Carlos Admin", "admin")
    token = page_csrf(client.get("/admin/papeis").get_data(as_text=True))
    resp = client.post(
        "/admin/papeis",
        data={
            "csrf_token": token,
            "action": "revoke",
            "cpf": CARLOS,
            "role": "admin",
        },
    )
    assert resp.status_code == 409
    assert "último administrador" in resp.get_data(as_text=True)


def test_admin_post_without_csrf_refused(app: Flask, client: FlaskClient) -> None:
    set_session_user(app, client, CARLOS, "Carlos Admin", "admin")
    resp = client.post("/admin/papeis", data={"action": "grant", "cpf": ANA, "role": "analyst"})
    assert resp.status_code == 400
    with app.extensions["chamados"].unit.transaction() as s:
        assert roles_for(s, ANA) == set()


# --- CLI -------------------------------------------------------------------------------------


def run_cli(app: Flask, *args: str) -> Any:
    with app.app_context():
        return CliRunner().invoke(role_cli, list(args))


def test_cli_grant_list_revoke(app: Flask) -> None:
    result = run_cli(app, "grant", "111.444.777-35", "analyst")
    assert result.exit_code == 0, result.output
    assert "Papel Analista concedido ao CPF 111.444.777-35" in result.output
    again = run_cli(app, "grant", ANA, "analyst")
    assert again.exit_code == 0 and "já tinha" in again.output

    listed = run_cli(app, "list")
    assert listed.exit_code == 0 and "111.444.777-35" in listed.output

    revoked = run_cli(app, "revoke", ANA, "analyst")
    assert revoked.exit_code == 0 and "revogado" in revoked.output
    with app.extensions["chamados"].unit.transaction() as s:
        assert roles_for(s, ANA) == set()
    assert "Nenhum papel" in run_cli(app, "list").output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("grant", "123", "analyst"), "CPF inválido"),
        (("grant", ANA, "chefe"), "Papel inválido"),
        (("revoke", "111.111.111-11", "admin"), "CPF inválido"),
    ],
)
def test_cli_bad_input(app: Flask, args: tuple[str, ...], message: str) -> None:
    result = run_cli(app, *args)
    assert result.exit_code != 0
    assert message in result.output


def test_cli_without_app_context_builds_the_app(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATABASE_URL", database_url(tmp_path))
    monkeypatch.setenv("INSTANCE_DIR", str(tmp_path / "instance"))
    app = create_app({"TESTING": True})
    app.extensions["chamados"].migrate()
    result = CliRunner().invoke(role_cli, ["grant", CARLOS, "admin"])
    assert result.exit_code == 0, result.output
    with app.extensions["chamados"].unit.transaction() as s:
        assert roles_for(s, CARLOS) == {"admin"}
