"""The development provider: gov.br-shaped, real OIDC over HTTP, safe to run locally."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import requests
from werkzeug.debug import DebuggedApplication

from engine.users import ROLES
from engine.validators import normalize_cpf
from web.dev_oidc import DEMO_PEOPLE, make_provider_app, run_in_thread

pytestmark = [
    pytest.mark.filterwarnings("ignore::DeprecationWarning:authlib.*"),
]

REDIRECT = "http://localhost/auth/callback"
VERIFIER = "v" * 64


def challenge(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


@pytest.fixture(scope="module")
def issuer() -> Iterator[str]:
    base_url, stop = run_in_thread()
    yield base_url
    stop()


@pytest.fixture(scope="module")
def discovery(issuer: str) -> dict[str, Any]:
    resp = requests.get(issuer + "/.well-known/openid-configuration", timeout=5)
    resp.raise_for_status()
    return dict(resp.json())


def authorize_url(discovery: dict[str, Any], **overrides: str) -> str:
    params = {
        "client_id": "chamados-dev",
        "redirect_uri": REDIRECT,
        "response_type": "code",
        "scope": "openid email profile phone govbr_confiabilidades",
        "state": "estado",
        "nonce": "nonce-123",
        "code_challenge": challenge(VERIFIER),
        "code_challenge_method": "S256",
        **overrides,
    }
    params = {k: v for k, v in params.items() if v}
    return discovery["authorization_endpoint"] + "?" + urlencode(params)


def get_code(discovery: dict[str, Any], sub: str, **overrides: str) -> str:
    resp = requests.post(
        authorize_url(discovery, **overrides), data={"sub": sub}, allow_redirects=False, timeout=5
    )
    assert resp.status_code == 302, resp.text
    query = parse_qs(urlsplit(resp.headers["Location"]).query)
    assert query["state"] == ["estado"]
    return query["code"][0]


def exchange(
    discovery: dict[str, Any],
    code: str,
    verifier: str | None = VERIFIER,
) -> requests.Response:
    data = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT}
    if verifier:
        data["code_verifier"] = verifier
    return requests.post(
        discovery["token_endpoint"],
        data=data,
        auth=("chamados-dev", "chamados-dev-secret"),
        timeout=5,
    )


def jwt_payload(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    return dict(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))))


def login(discovery: dict[str, Any], sub: str) -> dict[str, Any]:
    resp = exchange(discovery, get_code(discovery, sub))
    assert resp.status_code == 200, resp.text
    return dict(resp.json())


def test_demo_people_are_valid_and_complete() -> None:
    cpfs = [p["cpf"] for p in DEMO_PEOPLE]
    assert len(set(cpfs)) == len(cpfs)
    for person in DEMO_PEOPLE:
        assert normalize_cpf(person["cpf"]) == person["cpf"]
        assert {"cpf", "name", "email", "phone", "role"} <= person.keys()
        assert person["role"] is None or person["role"] in ROLES
    by_name = {p["name"]: p for p in DEMO_PEOPLE}
    assert by_name["Maria da Silva"]["cpf"] == "39053344705"
    assert by_name["Maria da Silva"]["email"] == "maria.silva@example.gov.br"
    assert by_name["Ana Souza"]["cpf"] == "11144477735"
    assert by_name["Ana Souza"]["role"] == "analyst"
    assert by_name["Carlos Admin"]["role"] == "admin"
    assert by_name["Sofia Supervisora"]["role"] == "supervisor"


def test_discovery(issuer: str, discovery: dict[str, Any]) -> None:
    assert discovery["issuer"] == issuer
    assert discovery["jwks_uri"].startswith(issuer)
    assert discovery["end_session_endpoint"] == issuer + "/oauth2/end_session"
    keys = requests.get(discovery["jwks_uri"], timeout=5).json()["keys"]
    assert keys and keys[0]["kty"] == "RSA"


def test_issuer_fixed_whatever_the_host(issuer: str) -> None:
    via_localhost = issuer.replace("127.0.0.1", "localhost")
    doc = requests.get(via_localhost + "/.well-known/openid-configuration", timeout=5).json()
    assert doc["issuer"] == issuer
    assert doc["token_endpoint"].startswith(issuer)


def test_login_page_lists_demo_people(discovery: dict[str, Any]) -> None:
    page = requests.get(authorize_url(discovery), timeout=5)
    assert page.status_code == 200
    html = page.text
    assert 'lang="pt-BR"' in html
    for person in DEMO_PEOPLE:
        assert re.search(rf'<button[^>]*name="sub" value="{person["cpf"]}"', html)
    assert "Maria da Silva" in html and "390.533.447-05" in html
    assert "Analista" in html and "Administrador(a)" in html
    assert 'name="sub" placeholder="000.000.000-00"' in html  # typing a CPF still works
    assert 'value="deny"' in html
    assert "cdn.jsdelivr.net" not in html  # no CDN is reachable here


def test_gov_br_shaped_claims(discovery: dict[str, Any]) -> None:
    tokens = login(discovery, "39053344705")
    assert "refresh_token" not in tokens  # gov.br issues none
    claims = jwt_payload(tokens["id_token"])
    assert claims["sub"] == "39053344705"
    assert claims["nonce"] == "nonce-123"
    assert claims["aud"] in ("chamados-dev", ["chamados-dev"])
    assert claims["name"] == "Maria da Silva"
    assert claims["preferred_username"] == "39053344705"
    assert claims["email"] == "maria.silva@example.gov.br"
    assert claims["email_verified"] == "true"  # a string in the ID token
    assert claims["phone_number_verified"] == "true"
    assert claims["amr"] == ["passwd"]
    assert claims["reliability_info"]["level"] == "silver"

    info = requests.get(
        discovery["userinfo_endpoint"],
        timeout=5,
        headers={"Authorization": f"Bearer {tokens['access_token']}"},
    ).json()
    assert info["sub"] == "39053344705"
    assert info["email_verified"] is True  # booleans in userinfo
    assert info["phone_number_verified"] is True


def test_social_name_person_without_verified_email(discovery: dict[str, Any]) -> None:
    claims = jwt_payload(login(discovery, "85351346893")["id_token"])
    assert claims["social_name"] == "Joana Lima"
    assert "email" not in claims and "email_verified" not in claims


def test_typed_cpf_any_spelling(discovery: dict[str, Any]) -> None:
    claims = jwt_payload(login(discovery, "111.444.777-35")["id_token"])
    assert claims["sub"] == "11144477735"
    assert claims["name"] == "Ana Souza"


def test_unknown_valid_cpf_is_a_test_person(discovery: dict[str, Any]) -> None:
    claims = jwt_payload(login(discovery, "987.654.321-00")["id_token"])
    assert claims["sub"] == "98765432100"
    assert claims["name"] == "Pessoa de Teste 987.654.321-00"
    assert claims["reliability_info"]["level"] == "bronze"
    assert "email" not in claims


def test_pkce_is_mandatory(discovery: dict[str, Any]) -> None:
    no_pkce = requests.get(
        authorize_url(discovery, code_challenge="", code_challenge_method=""), timeout=5
    )
    assert no_pkce.status_code == 400 and "PKCE" in no_pkce.text
    plain = requests.get(authorize_url(discovery, code_challenge_method="plain"), timeout=5)
    assert plain.status_code == 400

    wrong = exchange(discovery, get_code(discovery, "39053344705"), verifier="w" * 64)
    assert wrong.status_code == 400 and wrong.json()["error"] == "invalid_grant"
    missing = exchange(discovery, get_code(discovery, "39053344705"), verifier=None)
    assert missing.status_code == 400


def test_nonce_is_mandatory(discovery: dict[str, Any]) -> None:
    resp = requests.post(
        authorize_url(discovery, nonce=""),
        data={"sub": "39053344705"},
        allow_redirects=False,
        timeout=5,
    )
    location = resp.headers.get("Location", "")
    assert "code=" not in location


def test_claims_can_be_set_over_http(issuer: str, discovery: dict[str, Any]) -> None:
    resp = requests.put(
        f"{issuer}/users/12345678909",
        json={"name": "Outra Pessoa", "social_name": "Outra"},
        timeout=5,
    )
    assert resp.status_code == 204
    claims = jwt_payload(login(discovery, "12345678909")["id_token"])
    assert claims["name"] == "Outra Pessoa" and claims["social_name"] == "Outra"


def test_logout_page_returns_to_app(discovery: dict[str, Any]) -> None:
    page = requests.get(
        discovery["end_session_endpoint"],
        timeout=5,
        params={"post_logout_redirect_uri": "http://localhost/"},
    )
    assert page.status_code == 200 and "Sair" in page.text
    assert 'value="http://localhost/"' in page.text


def test_no_interactive_debugger() -> None:
    app = make_provider_app("http://127.0.0.1:5999")
    assert app.debug is False
    wsgi = app.wsgi_app
    while hasattr(wsgi, "app"):
        assert not isinstance(wsgi, DebuggedApplication)
        wsgi = wsgi.app
    assert not isinstance(wsgi, DebuggedApplication)


def test_issuer_base_url_validated() -> None:
    with pytest.raises(ValueError):
        make_provider_app("127.0.0.1:5001")
