"""Development OpenID provider that behaves like gov.br's Login Único. NEVER for production.

Run it as its own process (nothing starts it implicitly)::

    python -m web.dev_oidc --port 5001 [--host 127.0.0.1] [--issuer http://127.0.0.1:5001]

It is ``oidc-provider-mock`` (a real Flask/Authlib OpenID provider: discovery, JWKS,
RS256 ID tokens, ``PUT /users/{sub}`` to set claims) with gov.br's shape on top:

* the login page lists the demo people (one button each) and still accepts a typed
  CPF in any spelling; an unknown valid CPF logs in as a generic test person;
* claims as gov.br sends them: ``sub`` = CPF digits, ``preferred_username``,
  ``email_verified``/``phone_number_verified`` as the *strings* "true" in the ID token
  and as booleans in userinfo, ``amr``, ``reliability_info``;
* PKCE S256 and ``nonce`` are mandatory, there is no refresh token;
* any client_id/secret and redirect URI is accepted (the app's development defaults,
  ``chamados-dev`` / ``chamados-dev-secret``, need no registration);
* the issuer is fixed to ``issuer_base_url`` (without a trailing slash) whatever Host
  the request used, so tokens obtained via ``localhost`` and ``127.0.0.1`` agree.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import logging
import threading
import warnings
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

import werkzeug.serving
from flask import Flask, make_response, render_template, request
from jinja2 import ChoiceLoader, DictLoader
from werkzeug.datastructures import ImmutableMultiDict

from engine.service import ROLE_LABELS, format_cpf, parse_cpf

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

log = logging.getLogger(__name__)

# role: a key of engine.users.ROLES to grant when seeding, or None for a plain requester;
# groups: keys of groups (data/groups.json) the person is added to by CPF.
DEMO_PEOPLE: list[dict[str, Any]] = [
    {
        "cpf": "39053344705",
        "name": "Maria da Silva",
        "email": "maria.silva@example.gov.br",
        "phone": "61987650001",
        "role": None,
        "reliability": "silver",
    },
    {
        "cpf": "11144477735",
        "name": "Ana Souza",
        "email": "ana.souza@example.gov.br",
        "phone": "61987650002",
        "role": "analyst",
        "reliability": "gold",
    },
    {
        "cpf": "71460238001",
        "name": "Sofia Supervisora",
        "email": "sofia.supervisora@example.gov.br",
        "phone": "61987650003",
        "role": "supervisor",
        "reliability": "gold",
    },
    {
        "cpf": "52998224725",
        "name": "Carlos Admin",
        "email": "carlos.admin@example.gov.br",
        "phone": "61987650004",
        "role": "admin",
        "reliability": "gold",
    },
    {
        "cpf": "12345678909",
        "name": "Dora Projetista",
        "email": "dora.projetista@example.gov.br",
        "phone": "61987650006",
        "role": "designer",
        "reliability": "silver",
    },
    {
        "cpf": "24681357928",
        "name": "Téo Técnico",
        "email": "teo.tecnico@example.gov.br",
        "phone": "61987650007",
        "role": "analyst",
        "groups": ["equipe-tecnica"],
        "reliability": "gold",
    },
    {
        "cpf": "13579246828",
        "name": "Nina Negócio",
        "email": "nina.negocio@example.gov.br",
        "phone": "61987650008",
        "role": "analyst",
        "groups": ["equipe-de-negocio"],
        "reliability": "gold",
    },
    {
        # gov.br quirks in one person: a social name, and no verified e-mail/phone
        # (gov.br then leaves those claims out).
        "cpf": "85351346893",
        "name": "João Pereira Lima",
        "social_name": "Joana Lima",
        "email": None,
        "phone": None,
        "role": None,
        "reliability": "bronze",
    },
]

_AUTHORIZE = "oidc-provider-mock.authorize"
_TOKEN = "oidc-provider-mock.issue_token"
_USERINFO = "oidc-provider-mock.userinfo"
_FLAGS = ("email_verified", "phone_number_verified")


def govbr_claims(person: dict[str, Any]) -> dict[str, object]:
    """The claims gov.br would release for ``person`` (ID-token spelling: string flags)."""
    level = person.get("reliability") or "bronze"
    claims: dict[str, object] = {
        "name": person["name"],
        "preferred_username": person["cpf"],
        "amr": ["passwd"],
        "reliability_info": {
            "level": level,
            "reliabilities": [{"id": f"demo-{level}", "updatedAt": "2024-01-02T10:00:00Z"}],
        },
    }
    if person.get("social_name"):
        claims["social_name"] = person["social_name"]
    if person.get("email"):
        claims["email"] = person["email"]
        claims["email_verified"] = "true"
    if person.get("phone"):
        claims["phone_number"] = person["phone"]
        claims["phone_number_verified"] = "true"
    return claims


def _typed_person(cpf: str) -> dict[str, Any]:
    """Someone who is not a demo person: bronze level and nothing verified but the CPF."""
    return {"cpf": cpf, "name": f"Pessoa de Teste {format_cpf(cpf)}", "reliability": "bronze"}


# --- the app ---------------------------------------------------------------------------------


def make_provider_app(issuer_base_url: str) -> Flask:
    """A gov.br-like provider whose issuer is ``issuer_base_url`` (trailing slash removed)."""
    # Imported here so merely importing this module (e.g. for DEMO_PEOPLE) costs nothing.
    import authlib.deprecate  # noqa: F401  (installs an "always" filter when imported)

    with warnings.catch_warnings():
        # The mock imports Authlib modules that Authlib itself deprecates: not our concern.
        warnings.simplefilter("ignore", DeprecationWarning)
        import oidc_provider_mock
    from oidc_provider_mock import User
    from oidc_provider_mock._storage import storage
    from werkzeug.debug import DebuggedApplication

    app = oidc_provider_mock.app(
        require_nonce=True,  # gov.br requires nonce
        issue_refresh_token=False,  # gov.br issues none
        user_claims=[User(sub=p["cpf"], claims=govbr_claims(p)) for p in DEMO_PEOPLE],
    )
    # The mock turns on Werkzeug's interactive debugger (a Python console in the browser);
    # that must never be reachable, even on a developer's network.
    if isinstance(app.wsgi_app, DebuggedApplication):
        app.wsgi_app = app.wsgi_app.app
    app.debug = False

    app.jinja_loader = ChoiceLoader([DictLoader(_TEMPLATES), app.jinja_loader])
    people = [_person_view(p) for p in DEMO_PEOPLE]
    by_cpf = {p["cpf"]: p for p in people}
    app.context_processor(
        lambda: {"demo_people": people, "demo_by_cpf": by_cpf, "format_sub": _format_sub}
    )

    pkce = _PkceBook()
    original_authorize = app.view_functions[_AUTHORIZE]

    def authorize() -> Any:
        challenge = request.args.get("code_challenge")
        if request.args.get("code_challenge_method") != "S256" or not challenge:
            # gov.br refuses authorization requests without PKCE S256.
            return render_template(
                "error.html",
                name="invalid_request",
                description="PKCE é obrigatório: envie code_challenge com "
                "code_challenge_method=S256.",
            ), 400
        if request.method == "POST" and request.form.get("action") != "deny":
            sub = request.form.get("sub")
            cpf = parse_cpf(sub)
            if cpf is not None:
                if storage.get_user(cpf) is None:
                    storage.store_user(User(sub=cpf, claims=govbr_claims(_typed_person(cpf))))
                form = request.form.to_dict(flat=False)
                form["sub"] = [cpf]
                # Request.form is a settable cached property: the mock reads the digits.
                request.form = ImmutableMultiDict(form)
        response = make_response(original_authorize())
        code = _code_from_redirect(response.headers.get("Location"))
        if code:
            pkce.remember(code, challenge)
        return response

    app.view_functions[_AUTHORIZE] = authorize

    @app.before_request
    def check_pkce() -> Any:
        if request.endpoint != _TOKEN or request.form.get("grant_type") != "authorization_code":
            return None
        if pkce.verify(request.form.get("code", ""), request.form.get("code_verifier")):
            return None
        return {
            "error": "invalid_grant",
            "error_description": "PKCE: code_verifier ausente ou incorreto.",
        }, 400

    @app.after_request
    def userinfo_booleans(response: Any) -> Any:
        # gov.br: string flags in the ID token, booleans in userinfo.
        if request.endpoint == _USERINFO and response.is_json:
            data = response.get_json()
            for key in _FLAGS:
                if isinstance(data.get(key), str):
                    data[key] = data[key].lower() == "true"
            response.set_data(json.dumps(data))
        return response

    app.wsgi_app = _FixedOrigin(app.wsgi_app, issuer_base_url)
    return app


class _PkceBook:
    """code → code_challenge, so the token endpoint can check the verifier (the mock
    itself ignores PKCE)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._challenges: dict[str, str] = {}

    def remember(self, code: str, challenge: str) -> None:
        with self._lock:
            self._challenges[code] = challenge

    def verify(self, code: str, verifier: str | None) -> bool:
        with self._lock:
            # Popped either way: a code gets one attempt, like the code itself.
            challenge = self._challenges.pop(code, None)
        if challenge is None or not verifier:
            return False
        digest = hashlib.sha256(verifier.encode("ascii", "replace")).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode() == challenge


def _code_from_redirect(location: str | None) -> str | None:
    if not location:
        return None
    codes = parse_qs(urlsplit(location).query).get("code")
    return codes[0] if codes else None


class _FixedOrigin:
    """Pins scheme and host to the issuer's, so discovery, endpoint URLs and the ID
    token's ``iss`` never depend on the Host header of a particular request."""

    def __init__(self, app: WSGIApplication, base_url: str) -> None:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"issuer_base_url must be an absolute http(s) URL: {base_url!r}")
        if parts.path not in ("", "/"):
            raise ValueError("issuer_base_url with a path is not supported")
        self.app = app
        self.scheme = parts.scheme
        self.netloc = parts.netloc

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        environ["wsgi.url_scheme"] = self.scheme
        environ["HTTP_HOST"] = self.netloc
        return self.app(environ, start_response)


def _format_sub(sub: str) -> str:
    cpf = parse_cpf(sub)
    return format_cpf(cpf) if cpf else sub


def _person_view(person: dict[str, Any]) -> dict[str, Any]:
    role = person.get("role")
    return {
        **person,
        "cpf_formatted": format_cpf(person["cpf"]),
        "display_name": person.get("social_name") or person["name"],
        "role_label": ROLE_LABELS.get(role, role) if role else "Solicitante (cidadão)",
    }


# --- running it ------------------------------------------------------------------------------


class _QuietHandler(werkzeug.serving.WSGIRequestHandler):
    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass


def run_in_thread(port: int = 0, host: str = "127.0.0.1") -> tuple[str, Callable[[], None]]:
    """Serve the provider on a background thread (for tests). Returns (issuer, stop)."""
    placeholder: Callable[..., Any] = lambda environ, start_response: []  # noqa: E731
    server = werkzeug.serving.make_server(
        host, port, placeholder, threaded=True, request_handler=_QuietHandler
    )
    base_url = f"http://{host}:{server.server_port}"
    # The port is only known once bound; the issuer embeds it, so build the app now.
    server.app = make_provider_app(base_url)
    thread = threading.Thread(
        target=server.serve_forever,
        kwargs={"poll_interval": 0.05},
        name=f"dev-oidc-{server.server_port}",
        daemon=True,
    )
    thread.start()

    def stop() -> None:
        server.shutdown()
        server.server_close()
        thread.join(5)

    return base_url, stop


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m web.dev_oidc",
        description="Provedor OpenID de desenvolvimento no formato do gov.br "
        "(não use em produção).",
    )
    parser.add_argument("--port", type=int, default=5001, help="porta (padrão: 5001)")
    parser.add_argument("--host", default="127.0.0.1", help="endereço (padrão: 127.0.0.1)")
    parser.add_argument("--issuer", help="issuer público (padrão: http://HOST:PORTA)")
    args = parser.parse_args(argv)
    shown_host = "127.0.0.1" if args.host in ("0.0.0.0", "::") else args.host
    issuer = (args.issuer or f"http://{shown_host}:{args.port}").rstrip("/")
    app = make_provider_app(issuer)
    print(f"Provedor OpenID de DESENVOLVIMENTO em {issuer} (qualquer client_id/segredo vale)")
    for p in DEMO_PEOPLE:
        print(f"  {format_cpf(p['cpf'])}  {p['name']:<20}  {_person_view(p)['role_label']}")
    werkzeug.serving.run_simple(
        args.host, args.port, app, threaded=True, use_reloader=False, use_debugger=False
    )


# --- templates (pt-BR; override the mock's English ones) -------------------------------------

_BASE = """<!doctype html>
<html lang="pt-BR">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{% block title %}gov.br (desenvolvimento){% endblock %}</title>
<style>
  body { font-family: Rawline, Raleway, sans-serif; margin: 0; color: #333; background: #f8f8f8; }
  header { background: #1351b4; color: #fff; padding: .8rem 1.5rem; }
  header strong { font-size: 1.3rem; }
  .warning { background: #ffcd07; color: #333; padding: .5rem 1.5rem; font-weight: 600; }
  main { max-width: 44rem; margin: 1.5rem auto; background: #fff; padding: 1.5rem 2rem;
         border-radius: 6px; box-shadow: 0 1px 4px rgba(0,0,0,.15); }
  h1 { font-size: 1.5rem; margin-top: 0; }
  h2 { font-size: 1.1rem; margin-top: 1.5rem; }
  button { font: inherit; cursor: pointer; border-radius: 100em; padding: .5rem 1.5rem;
           border: 1px solid #1351b4; background: #fff; color: #1351b4; }
  button.primary { background: #1351b4; color: #fff; }
  .people { display: grid; gap: .5rem; }
  .person { width: 100%; text-align: left; border-radius: 6px; display: flex;
            justify-content: space-between; gap: 1rem; }
  .person small { color: #555; }
  input[type=text] { font: inherit; padding: .5rem; border: 1px solid #888; border-radius: 4px;
                     width: 14rem; }
  .error { color: #e52207; }
  code { background: #eee; padding: 0 .2rem; word-break: break-all; }
  .muted { color: #666; font-size: .9rem; }
</style>
</head>
<body>
<header><strong>gov.br</strong> &nbsp;Login Único (simulado)</header>
<div class="warning">Provedor de DESENVOLVIMENTO — não é o gov.br verdadeiro.
  Nenhuma senha é pedida.</div>
<main>{% block content %}{{ content }}{% endblock %}</main>
</body>
</html>
"""

_AUTHORIZATION_FORM = """{% extends "_base.html" %}
{% block title %}Entrar com gov.br (desenvolvimento){% endblock %}
{% block content %}
<h1>Entrar com gov.br</h1>
<p class="muted">Sistema solicitante: <code>{{ client_id }}</code></p>

<h2 id="heading-people">Escolha uma pessoa de demonstração</h2>
<form method="post" aria-labelledby="heading-people" class="people">
{% for sub in predefined_users %}{% set p = demo_by_cpf.get(sub) %}
  <button class="person" type="submit" name="sub" value="{{ sub }}" data-cpf="{{ sub }}">
    {% if p %}<span><strong>{{ p.display_name }}</strong>
      {%- if p.social_name %} <small>(nome civil: {{ p.name }})</small>{% endif %}
      <br><small>CPF {{ p.cpf_formatted }}</small></span>
    <small>{{ p.role_label }}</small>{% else %}<span>CPF {{ format_sub(sub) }}</span>{% endif %}
  </button>
{% endfor %}
</form>

<h2 id="heading-cpf">Ou digite um CPF</h2>
<form method="post" aria-labelledby="heading-cpf">
  <label for="sub">CPF</label>
  <input type="text" id="sub" name="sub" placeholder="000.000.000-00" inputmode="numeric" required
    {% if sub_missing %}aria-invalid="true" aria-describedby="sub-missing"{% endif %}>
  <button class="primary" type="submit">Entrar</button>
  {% if sub_missing %}<p class="error" id="sub-missing">Informe o CPF.</p>{% endif %}
  <p class="muted">Um CPF válido que não está na lista entra como “Pessoa de Teste”,
    nível bronze, sem e-mail verificado.</p>
</form>

{% if recent_subjects %}
<h2 id="heading-recent">Entradas recentes</h2>
<form method="post" aria-labelledby="heading-recent">
{% for subject in recent_subjects %}
  <button type="submit" name="sub" value="{{ subject }}">{{ format_sub(subject) }}</button>
{% endfor %}
</form>
{% endif %}

<h2>Não quer entrar?</h2>
<form method="post">
  <button type="submit" name="action" value="deny">Cancelar e voltar</button>
</form>
<p class="muted">Depois de entrar você volta para <code>{{ redirect_uri }}</code>.</p>
{% endblock %}
"""

_INDEX = """{% extends "_base.html" %}
{% block content %}
<h1>Provedor OpenID de desenvolvimento</h1>
<p>Imita o Login Único do gov.br para desenvolvimento e testes. A descoberta fica em
<code>/.well-known/openid-configuration</code>; qualquer <code>client_id</code> e segredo
são aceitos.</p>
<h2>Pessoas de demonstração</h2>
<ul>
{% for p in demo_people %}
  <li>{{ p.display_name }} — CPF {{ p.cpf_formatted }} — {{ p.role_label }}</li>
{% endfor %}</ul>
{% endblock %}
"""

_END_SESSION_FORM = """{% extends "_base.html" %}
{% block title %}Sair do gov.br (desenvolvimento){% endblock %}
{% block content %}
<h1>Sair do gov.br</h1>
<form method="post" action="{{ end_session_confirm_url }}">
  {% if redirect_uri %}
  <input type="hidden" name="redirect_uri" value="{{ redirect_uri }}">
  {% endif %}
  <button class="primary" type="submit">Sair</button>
</form>
{% if redirect_uri %}
<p class="muted">Depois você volta para <code>{{ redirect_uri }}</code>.</p>
{% endif %}
{% if not id_token_hint %}
<p class="muted">(Sem <code>id_token_hint</code> nesta chamada.)</p>
{% endif %}
{% endblock %}
"""

_END_SESSION_CONFIRM = """{% extends "_base.html" %}
{% block content %}<h1>Sair do gov.br</h1><p>Sessão encerrada.</p>{% endblock %}
"""

_ERROR = """{% extends "_base.html" %}
{% block title %}Erro (desenvolvimento){% endblock %}
{% block content %}
<h1>Não foi possível continuar</h1>
<p class="error"><code>{{ name }}</code></p>
<p>{{ description }}</p>
{% endblock %}
"""

_TEMPLATES = {
    "_base.html": _BASE,
    "authorization_form.html": _AUTHORIZATION_FORM,
    "index.html": _INDEX,
    "end_session_form.html": _END_SESSION_FORM,
    "end_session_confirm.html": _END_SESSION_CONFIRM,
    "error.html": _ERROR,
}


if __name__ == "__main__":
    main()
