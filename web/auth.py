"""gov.br Login Único (OpenID Connect, authorization code + PKCE) and access control.

Public API for the rest of the web layer:

* ``current_user() -> CurrentUser | None`` (also ``flask.g.user`` and, in templates,
  ``current_user``), loaded once per request.
* ``@login_required`` and ``@role_required(*roles)`` view decorators.
* ``safe_next(target)`` to sanitise a post-login destination.

Sessions live on the server (the facade's ``sessions``, engine.usecases.sessions): after login the
signed Flask cookie carries only the session's random token (and, when it fits, the ID
token for the provider's logout), so "Sair" — or an administrator, or a revoked role —
ends the session for every copy of the cookie. Before login the cookie holds the pending
login (state, nonce, PKCE verifier). Every app process reads the same rows and shares
the SECRET_KEY that signs the cookie.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import wraps
from typing import Any, TypeVar, cast
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from authlib.common.security import generate_token
from authlib.integrations.base_client import OAuthError
from authlib.integrations.flask_client import OAuth
from flask import (
    Blueprint,
    Flask,
    Response,
    abort,
    current_app,
    flash,
    g,
    jsonify,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from joserfc.errors import BadSignatureError
from sqlalchemy.exc import SQLAlchemyError

from engine.errors import DomainError
from engine.service import (
    Identity,
    Principal,
    format_cpf,
    identity_from_claims,
    normalize_cpf,
)
from web.context import is_api_path
from web.context import service as _service

log = logging.getLogger(__name__)

bp = Blueprint("auth", __name__)

CLIENT_NAME = "govbr"
_CLIENT_KEY = "chamados.oidc_client"
_STATE_KEY = "chamados.auth_state"

# Used only when OIDC_ISSUER is not configured: the dev provider (python -m web.dev_oidc).
DEV_ISSUER = "http://127.0.0.1:5001"
DEV_CLIENT_ID = "chamados-dev"
DEV_CLIENT_SECRET = "chamados-dev-secret"

# The cookie's only proof of identity: the server-side session's token.
SESSION_KEY = "sid"
_ID_TOKEN_KEY = "id_token"
_PENDING_KEY = "oidc_pending"
_PENDING_MAX = 3  # logins started in parallel tabs; older ones are dropped
_PENDING_TTL = 600  # seconds a user has to finish logging in at the provider
_METADATA_TTL = 3600  # re-read discovery hourly so provider changes are picked up
_HTTP_TIMEOUT = 10  # seconds; a hung provider must not pin a worker forever
# Browsers cap a cookie at ~4 KB; keep room for the CSRF token and flashed messages.
_SESSION_COOKIE_BUDGET = 3000

# Claims that describe the token itself, not the person: never merged into identity.
_JWT_CLAIMS = {
    "iss",
    "aud",
    "exp",
    "iat",
    "nbf",
    "auth_time",
    "nonce",
    "at_hash",
    "c_hash",
    "azp",
    "jti",
    "acr",
}


@dataclass(frozen=True)
class CurrentUser:
    id: int
    cpf: str
    name: str
    display_name: str
    email: str | None
    roles: frozenset[str]
    # Read with the person on this request: the engine then knows their groups from its
    # copy (engine.groups.GroupCache) without a statement of its own.
    groups_revision: int | None = None

    @classmethod
    def of(cls, principal: Principal) -> CurrentUser:
        return cls(
            id=principal.id,
            cpf=principal.cpf,
            name=principal.name,
            display_name=principal.display_name,
            email=principal.email,
            roles=principal.roles,
            groups_revision=principal.groups_revision,
        )

    @property
    def cpf_formatted(self) -> str:
        return format_cpf(self.cpf)

    def has_role(self, *roles: str) -> bool:
        """True when the user holds any of ``roles`` (admin is not a wildcard)."""
        return bool(self.roles.intersection(roles))


class LoginError(Exception):
    """A login that cannot complete; ``message`` is shown to the person (pt-BR)."""

    def __init__(self, message: str, status: int = 400, title: str = "Não foi possível entrar"):
        super().__init__(message)
        self.message = message
        self.status = status
        self.title = title


_PROVIDER_DOWN = "O gov.br não respondeu. Aguarde alguns instantes e tente entrar novamente."
_PROVIDER_REFUSED = "O gov.br não confirmou a sua identidade. Tente entrar novamente."


# --- setup -----------------------------------------------------------------------------------


@dataclass
class _AuthState:
    """Per-app, per-process bookkeeping (never per-user: that lives in the cookie)."""

    lock: threading.Lock
    bootstrap_done: bool = False
    bootstrap_retry_at: float = 0.0


def init_auth(app: Flask) -> None:
    if not app.config.get("OIDC_ISSUER"):
        # Development default: the provider started by `python -m web.dev_oidc`.
        app.config["OIDC_ISSUER"] = DEV_ISSUER
        app.config["OIDC_CLIENT_ID"] = app.config.get("OIDC_CLIENT_ID") or DEV_CLIENT_ID
        app.config["OIDC_CLIENT_SECRET"] = app.config.get("OIDC_CLIENT_SECRET") or DEV_CLIENT_SECRET
        if not app.testing:
            log.warning(
                "OIDC_ISSUER não configurado: usando o provedor de desenvolvimento %s", DEV_ISSUER
            )
    scopes = (app.config.get("OIDC_SCOPES") or "openid email profile").split()
    if "openid" not in scopes:
        scopes.insert(0, "openid")  # without it there is no ID token, hence no login

    oauth = OAuth(app)
    client = oauth.register(
        name=CLIENT_NAME,
        client_id=app.config["OIDC_CLIENT_ID"],
        client_secret=app.config["OIDC_CLIENT_SECRET"],
        server_metadata_url=_discovery_url(app.config["OIDC_ISSUER"]),
        client_kwargs={
            "scope": " ".join(scopes),
            # gov.br requires PKCE S256 but its discovery may not advertise it: always send it.
            "code_challenge_method": "S256",
            "token_endpoint_auth_method": "client_secret_basic",
            "default_timeout": _HTTP_TIMEOUT,
        },
    )
    app.extensions[_CLIENT_KEY] = client
    app.extensions[_STATE_KEY] = _AuthState(lock=threading.Lock())
    app.register_blueprint(bp)
    app.before_request(_bootstrap_admin_once)
    app.before_request(_load_current_user)
    app.context_processor(lambda: {"current_user": current_user()})


def _discovery_url(issuer: str) -> str:
    return issuer.rstrip("/") + "/.well-known/openid-configuration"


def _client() -> Any:
    return current_app.extensions[_CLIENT_KEY]


# --- per-request user ------------------------------------------------------------------------


def current_user() -> CurrentUser | None:
    """The logged-in person for this request, or None."""
    return cast("CurrentUser | None", g.get("user"))


def signed_in_user() -> CurrentUser:
    """The person of a route behind ``login_required`` or ``role_required``: never None
    there. A route that forgot its guard answers 401 instead of acting as nobody."""
    user = current_user()
    if user is None:
        abort(401)
    return user


def current_session_id() -> int | None:
    """The id of this request's server-side session (None: anonymous, or a token)."""
    return cast("int | None", g.get("session_id"))


def _load_current_user() -> None:
    g.user = None
    g.session_id = None
    if request.endpoint == "static":
        return
    token = session.get(SESSION_KEY)
    if not token:
        if "user_id" in session:  # a cookie from before server-side sessions
            session.clear()
        return
    # Read on every request (an ended session, a revoked role or a deleted user takes
    # effect at once), but as one statement outside any transaction: no write lock.
    found = _service().sessions.session_user(token) if isinstance(token, str) else None
    if found is None:
        _forget_login()
        if not _is_api() and request.endpoint not in _LEAVING:
            flash("Sua sessão terminou. Entre novamente para continuar.", "info")
        return
    g.user = CurrentUser.of(found.principal)
    g.session_id = found.session_id


# Where a person is leaving anyway: "your session ended" would only repeat it.
_LEAVING = frozenset({"auth.logout", "sessions.log_out_everywhere"})


def _forget_login() -> None:
    """Drop what the cookie holds of a login (keeping its messages and pending logins)."""
    session.pop(SESSION_KEY, None)
    session.pop(_ID_TOKEN_KEY, None)


def _bootstrap_admin_once() -> None:
    """Grant admin to BOOTSTRAP_ADMIN_CPF on the first request of each process."""
    state: _AuthState = current_app.extensions[_STATE_KEY]
    if state.bootstrap_done or time.monotonic() < state.bootstrap_retry_at:
        return
    with state.lock:
        if state.bootstrap_done:
            return
        cpf = _service().settings.bootstrap_admin_cpf
        if not cpf:
            state.bootstrap_done = True
            return
        try:
            if _service().admin.ensure_bootstrap_admin(cpf):
                log.info("Papel admin concedido ao CPF de bootstrap %s", cpf)
            state.bootstrap_done = True
        except DomainError as exc:
            log.error("BOOTSTRAP_ADMIN_CPF inválido (%r): %s", cpf, exc.message)
            state.bootstrap_done = True  # a config error: retrying will not fix it
        except SQLAlchemyError:
            # Usually tables not created yet; try again a little later, not every request.
            log.warning("Não foi possível garantir o administrador inicial", exc_info=True)
            state.bootstrap_retry_at = time.monotonic() + 30


# --- decorators ------------------------------------------------------------------------------

F = TypeVar("F", bound=Callable[..., Any])


def _is_api() -> bool:
    return request.path == "/api" or is_api_path(request.path)


def _problem(status: int, title: str, detail: str) -> Response:
    resp = jsonify({"type": "about:blank", "title": title, "status": status, "detail": detail})
    resp.status_code = status
    resp.mimetype = "application/problem+json"
    return resp


def _current_path() -> str:
    qs = request.query_string.decode("latin-1")
    return request.path + (f"?{qs}" if qs else "")


def login_required(view: F) -> F:
    """Anonymous → redirect to /entrar?next=<this page>, or a 401 problem under /api/."""

    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if current_user() is None:
            if _is_api():
                return _problem(
                    401, "Não autenticado", "Entre com a sua conta gov.br para continuar."
                )
            return redirect(url_for("auth.login", next=_current_path()))
        return view(*args, **kwargs)

    return cast(F, wrapper)


def role_required(*roles: str) -> Callable[[F], F]:
    """Logged in and holding at least one of ``roles``; otherwise 403 "Acesso negado".

    Admin is not a wildcard: list "admin" explicitly where admins may enter.
    """
    if not roles:
        raise ValueError("role_required needs at least one role")

    def decorator(view: F) -> F:
        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            user = current_user()
            if user is not None and not user.has_role(*roles):
                return forbidden()
            return view(*args, **kwargs)

        return login_required(cast(F, wrapper))

    return decorator


def forbidden(message: str | None = None) -> Any:
    """The 403 answer (page, or problem JSON under /api/)."""
    message = message or "Você não tem permissão para acessar esta página."
    if _is_api():
        return _problem(403, "Acesso negado", message)
    return render_template("auth/forbidden.html", message=message), 403


# --- login -----------------------------------------------------------------------------------

# Our own endpoints are never a sensible place to land after logging in.
_NO_RETURN_PREFIXES = ("/entrar", "/sair", "/auth/")


def safe_next(target: str | None) -> str:
    """Only same-site relative paths ("/x?y"); anything else becomes "/"."""
    if not target or not target.startswith("/") or target.startswith("//"):
        return "/"
    if "\\" in target or any(ord(c) < 32 or ord(c) == 127 for c in target):
        return "/"  # browsers read "/\\evil.com" as "//evil.com"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return "/"
    if parts.path.startswith(_NO_RETURN_PREFIXES):
        return "/"
    return target


def _callback_url() -> str:
    # APP_BASE_URL, not the request's Host: behind a proxy the request may say anything.
    return current_app.config["APP_BASE_URL"].rstrip("/") + url_for("auth.callback")


def _metadata() -> dict[str, Any]:
    """Discovery document (a copy), cached per process for an hour; issuer checked.

    Authlib keeps the document in one dict shared by every request thread; it is only
    ever refreshed in place (never emptied) so a concurrent request cannot see it half
    gone.
    """
    client = _client()
    cached = client.server_metadata
    loaded_at = cached.get("_loaded_at")
    if loaded_at and time.time() - loaded_at > _METADATA_TTL:
        cached.pop("_loaded_at", None)  # next load refetches and updates in place
        cached.pop("jwks", None)  # refetched on demand
    try:
        metadata = dict(client.load_server_metadata())
    except Exception as exc:  # network error, HTTP error, non-JSON body
        cached.pop("_loaded_at", None)
        log.warning("Falha ao ler a configuração OpenID do provedor", exc_info=True)
        raise LoginError(_PROVIDER_DOWN, 502) from exc
    expected = current_app.config["OIDC_ISSUER"]
    # Same issuer modulo a trailing slash (config may be written either way); the ID
    # token's iss is then compared *exactly* with what discovery says.
    if str(metadata.get("issuer", "")).rstrip("/") != expected.rstrip("/"):
        log.error(
            "Issuer da descoberta %r difere do configurado %r", metadata.get("issuer"), expected
        )
        cached.pop("_loaded_at", None)
        raise LoginError(
            "A configuração do gov.br não confere com a deste sistema. Avise a equipe responsável.",
            502,
        )
    # Without this, Authlib would accept any algorithm the JOSE library knows.
    cached.setdefault("id_token_signing_alg_values_supported", ["RS256"])
    metadata.setdefault("id_token_signing_alg_values_supported", ["RS256"])
    return metadata


def _save_pending(state: str, data: dict[str, Any]) -> None:
    now = time.time()
    pending = {
        k: v
        for k, v in session.get(_PENDING_KEY, {}).items()
        if isinstance(v, dict) and v.get("exp", 0) > now
    }
    pending[state] = {**data, "exp": now + _PENDING_TTL}
    # Keep the newest few only: the cookie must stay small.
    newest = sorted(pending.items(), key=lambda kv: kv[1]["exp"])[-_PENDING_MAX:]
    session[_PENDING_KEY] = dict(newest)


def _pop_pending(state: str | None) -> dict[str, Any] | None:
    pending = dict(session.get(_PENDING_KEY, {}))
    data = pending.pop(state, None) if state else None
    if pending:
        session[_PENDING_KEY] = pending
    else:
        session.pop(_PENDING_KEY, None)
    if not isinstance(data, dict) or data.get("exp", 0) < time.time():
        return None
    return data


def _error_page(error: LoginError) -> tuple[str, int]:
    return (
        render_template("auth/login_error.html", title=error.title, message=error.message),
        error.status,
    )


@bp.get("/entrar")
def login() -> Any:
    next_url = safe_next(request.args.get("next"))
    if current_user() is not None:
        return redirect(next_url)
    try:
        _metadata()
        nonce = generate_token(24)
        rv = _client().create_authorization_url(_callback_url(), nonce=nonce)
    except LoginError as exc:
        return _error_page(exc)
    _save_pending(
        rv["state"],
        {
            "nonce": nonce,
            "code_verifier": rv["code_verifier"],
            "next": next_url,
        },
    )
    return redirect(rv["url"])


@bp.get("/auth/callback")
def callback() -> Any:
    try:
        identity, id_token, next_url = _complete_login()
    except LoginError as exc:
        return _error_page(exc)
    previous = session.get(SESSION_KEY)
    # A new server-side session, never the one the browser carried (which is ended):
    # a token planted in a browser before the login is worth nothing after it.
    _user, token = _service().sessions.log_in(
        identity,
        request.headers.get("User-Agent"),
        replaces=previous if isinstance(previous, str) else None,
    )
    # A fresh cookie: nothing from before the login (pending states, old CSRF) survives.
    session.clear()
    session[SESSION_KEY] = token
    if id_token:
        session[_ID_TOKEN_KEY] = id_token
        if not _session_fits():
            del session[_ID_TOKEN_KEY]  # logout will still work, just without id_token_hint
    return redirect(next_url)


def _complete_login() -> tuple[Identity, str | None, str]:
    args = request.args
    pending = _pop_pending(args.get("state"))
    error = args.get("error")
    if error:
        log.info("Login recusado pelo provedor: %s (%s)", error, args.get("error_description"))
        if error == "access_denied":
            raise LoginError(
                "A entrada com gov.br foi cancelada. Você pode tentar novamente.",
                400,
                "Entrada cancelada",
            )
        raise LoginError(_PROVIDER_REFUSED, 400)
    if pending is None:
        raise LoginError(
            "Esta tentativa de entrada expirou ou não foi iniciada aqui. Tente entrar novamente.",
            400,
        )
    code = args.get("code")
    if not code:
        raise LoginError(_PROVIDER_REFUSED, 400)

    metadata = _metadata()
    client = _client()
    try:
        token = client.fetch_access_token(
            redirect_uri=_callback_url(), code=code, code_verifier=pending["code_verifier"]
        )
    except Exception as exc:  # OAuthError from the provider, network errors, bad JSON
        log.warning("Falha na troca do código por tokens", exc_info=True)
        if isinstance(exc, OAuthError):  # the provider answered with an OAuth error
            raise LoginError(_PROVIDER_REFUSED, 400) from exc
        raise LoginError(_PROVIDER_DOWN, 502) from exc
    if "id_token" not in token:
        log.warning("Resposta do token sem id_token")
        raise LoginError(_PROVIDER_REFUSED, 400)

    claims = _verify_id_token(token, pending["nonce"], metadata)
    claims.update(_userinfo(token, claims, metadata))
    try:
        identity = identity_from_claims(claims)
    except ValueError as exc:
        raise LoginError(str(exc), 403) from exc
    return identity, cast("str | None", token.get("id_token")), pending.get("next") or "/"


def _verify_id_token(
    token: Mapping[str, Any], nonce: str, metadata: Mapping[str, Any]
) -> dict[str, Any]:
    """Signature (JWKS), iss == discovery issuer exactly, aud == our client_id, nonce, exp."""
    client = _client()
    options = {
        "iss": {"essential": True, "values": [metadata["issuer"]]},
        "aud": {"essential": True, "values": [client.client_id]},
    }
    for attempt in (1, 2):
        try:
            info = client.parse_id_token(token, nonce=nonce, claims_options=options)
            return {k: v for k, v in dict(info).items() if k not in _JWT_CLAIMS}
        except BadSignatureError as exc:
            if attempt == 2:
                log.warning("Assinatura do ID token inválida", exc_info=True)
                raise LoginError(_PROVIDER_REFUSED, 400) from exc
            # Keys may have rotated (tokens without "kid" give no other hint): refetch once.
            client.server_metadata.pop("jwks", None)
        except Exception as exc:  # invalid iss/aud/nonce/exp, malformed token, JWKS down
            log.warning("ID token recusado", exc_info=True)
            raise LoginError(_PROVIDER_REFUSED, 400) from exc
    raise AssertionError("unreachable")  # pragma: no cover


def _userinfo(
    token: Mapping[str, Any], id_claims: Mapping[str, Any], metadata: Mapping[str, Any]
) -> dict[str, Any]:
    """Userinfo claims for the same subject, or {} (the ID token alone is enough)."""
    if not metadata.get("userinfo_endpoint"):
        return {}
    try:
        info = dict(_client().userinfo(token=token))
    except Exception:
        log.warning("Falha ao consultar userinfo; seguindo com o ID token", exc_info=True)
        return {}
    if _same_subject(info.get("sub"), id_claims.get("sub")):
        return info
    log.warning("userinfo de outro sujeito ignorado")
    return {}


def _same_subject(a: Any, b: Any) -> bool:
    if not isinstance(a, str) or not isinstance(b, str):
        return False
    return a == b or (normalize_cpf(a) is not None and normalize_cpf(a) == normalize_cpf(b))


def _session_fits() -> bool:
    serializer = current_app.session_interface.get_signing_serializer(current_app)  # type: ignore[attr-defined]
    if serializer is None:
        return False
    return len(serializer.dumps(dict(session))) <= _SESSION_COOKIE_BUDGET


# --- logout ----------------------------------------------------------------------------------


@bp.post("/sair")
def logout() -> Any:
    return log_out_of_browser("Você saiu do sistema.")


def log_out_of_browser(message: str) -> Any:
    """Clear this browser's cookie, say ``message`` and go through the provider's logout.

    The server-side session must have been ended already, except this one: it is ended
    here, so a copy of the cookie is worth nothing from now on.
    """
    token = session.get(SESSION_KEY)
    id_token = session.get(_ID_TOKEN_KEY)
    if isinstance(token, str):
        _service().sessions.log_out(token)
    session.clear()
    flash(message, "info")
    return redirect(_provider_logout_url(id_token) or "/")


def _provider_logout_url(id_token: str | None) -> str | None:
    """OIDC_LOGOUT_URL, else discovery's end_session_endpoint, else None (just go home)."""
    base = current_app.config.get("OIDC_LOGOUT_URL") or ""
    if not base:
        try:
            base = str(_metadata().get("end_session_endpoint") or "")
        except LoginError:
            base = ""  # provider down: leaving our app must still work
    if not base:
        return None
    params = {"post_logout_redirect_uri": current_app.config["APP_BASE_URL"].rstrip("/") + "/"}
    if id_token:
        params["id_token_hint"] = id_token
    return _add_query(base, params)


def _add_query(url: str, params: Mapping[str, str]) -> str:
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k not in params]
    query.extend(params.items())
    return urlunsplit(parts._replace(query=urlencode(query)))
