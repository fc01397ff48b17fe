"""Flask layer: turns HTTP requests into engine use cases and results into pages."""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any

from flask import Flask, Request
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface
from flask_wtf.csrf import CSRFProtect
from itsdangerous import URLSafeTimedSerializer

from engine.service import PROJECT_ROOT, Chamados, MailSettings, Settings
from web import limits
from web.context import is_api_path
from web.params import BoundedIntConverter

csrf = CSRFProtect()

# Functions Flask may meet once per request (after_this_request closures) are not kept
# beyond this many: the check then runs as Flask runs it.
_SYNC_CACHE_MAX = 4096


class App(Flask):
    """Flask, with each view's and hook's "is it a coroutine?" answered once per function.

    Flask asks it (``inspect.iscoroutinefunction``) for every before/after/teardown hook
    and the view of every request: about 1 % of a worker's CPU in bench/two_tasks.py.
    The answer of a function never changes.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._ensured: dict[Callable[..., Any], Callable[..., Any]] = {}

    def ensure_sync(self, func: Callable[..., Any]) -> Callable[..., Any]:
        try:
            return self._ensured[func]
        except KeyError:
            ensured = super().ensure_sync(func)
            if len(self._ensured) < _SYNC_CACHE_MAX:
                self._ensured[func] = ensured
            return ensured
        except TypeError:  # an unhashable callable
            return super().ensure_sync(func)


class _SessionInterface(SecureCookieSessionInterface):
    """Flask's signed-cookie session, its signing serializer built once per set of keys.

    Flask builds one on every request, twice (reading the cookie and saving it): a few
    percent of a bare request's CPU. It holds only the keys and settings, so one serves
    every request while the keys stay the same; a changed key (tests set one) builds
    another.
    """

    _built: tuple[tuple[Any, ...], URLSafeTimedSerializer | None] | None = None

    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        # A REST call with a token is stateless: the token decides who calls (web.api),
        # so the cookie that may come along is neither read nor written, and the answer
        # neither sets a cookie nor varies by one. Saves the cookie's work on every call.
        if "Authorization" in request.headers and is_api_path(request.path):
            return self.make_null_session(app)
        return super().open_session(app, request)

    def get_signing_serializer(self, app: Flask) -> URLSafeTimedSerializer | None:
        keys = (app.secret_key, *(app.config.get("SECRET_KEY_FALLBACKS") or ()))
        built = self._built
        if built is None or built[0] != keys:
            built = self._built = (keys, super().get_signing_serializer(app))
        return built[1]


def _secret_key(instance: Path) -> str:
    """SECRET_KEY from the environment; on a laptop, one generated and kept in instance/.

    Several app processes must share it (sessions are signed cookies), so it is
    never generated per process.
    """
    if os.environ.get("SECRET_KEY"):
        return os.environ["SECRET_KEY"]
    path = instance / "secret_key"
    if not path.exists():
        instance.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_hex(32))
        path.chmod(0o600)
    return path.read_text().strip()


def create_app(test_config: dict[str, Any] | None = None) -> Flask:
    instance = Path(os.environ.get("INSTANCE_DIR", PROJECT_ROOT / "instance"))
    app = App(__name__, instance_path=str(instance.resolve()))
    app.session_interface = _SessionInterface()
    # Before any route is added: every <int:…> is bounded to what the database compares.
    app.url_map.converters["int"] = BoundedIntConverter
    env = os.environ
    app.config.update(
        DATABASE_URL=env.get("DATABASE_URL") or "",
        APP_BASE_URL=env.get("APP_BASE_URL", "http://127.0.0.1:5000"),
        OIDC_ISSUER=env.get("OIDC_ISSUER", ""),
        OIDC_CLIENT_ID=env.get("OIDC_CLIENT_ID", ""),
        OIDC_CLIENT_SECRET=env.get("OIDC_CLIENT_SECRET", ""),
        OIDC_SCOPES=env.get("OIDC_SCOPES", "openid email profile phone"),
        OIDC_LOGOUT_URL=env.get("OIDC_LOGOUT_URL", ""),
        BOOTSTRAP_ADMIN_CPF=env.get("BOOTSTRAP_ADMIN_CPF", ""),
        METRICS_TOKEN=env.get("METRICS_TOKEN", ""),
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=env.get("APP_BASE_URL", "").startswith("https://"),
        WTF_CSRF_TIME_LIMIT=None,
        # A working day; gov.br issues no refresh token, so a new login follows.
        PERMANENT_SESSION_LIFETIME=12 * 3600,
        # Pages that upload files; every other endpoint has a smaller limit (web.limits).
        MAX_CONTENT_LENGTH=40 * 1024 * 1024,
        MAX_FORM_MEMORY_SIZE=limits.DEFAULT_FORM_FIELD,
    )
    if test_config:
        app.config.update(test_config)
    if not app.config.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = _secret_key(instance)

    settings = Settings.from_env(instance_dir=instance)
    overrides: dict[str, Any] = {}
    if app.config["DATABASE_URL"]:
        overrides["database_url"] = app.config["DATABASE_URL"]
    if app.config["APP_BASE_URL"]:
        overrides["app_base_url"] = app.config["APP_BASE_URL"]
    if app.config["BOOTSTRAP_ADMIN_CPF"]:
        overrides["bootstrap_admin_cpf"] = app.config["BOOTSTRAP_ADMIN_CPF"]
    if overrides:
        settings = Settings(**{**settings.__dict__, **overrides})
    app.extensions["chamados"] = Chamados.from_settings(settings)

    limits.init_limits(app)  # before any route and before CSRFProtect's hook
    csrf.init_app(app)

    from web import (
        api,
        auth,
        errors,
        filters,
        observability,
        security,
        sessions,
        static_assets,
        tokens,
        views,
    )
    from web.mail_admin import init_mail_admin

    security.init_security(app)
    static_assets.init_static_assets(app)
    auth.init_auth(app)
    errors.init_errors(app)
    filters.init_filters(app)
    views.init_views(app)
    init_mail_admin(app, MailSettings.from_env(instance_dir=settings.instance_dir))
    observability.init_observability(app)
    api.init_api(app)
    tokens.init_tokens(app)
    sessions.init_sessions(app)
    return app
