"""What a production server checks before it serves, and says when it refuses.

``chamados serve`` runs these checks once before it starts granian, so a misconfigured
deployment stops at once with the reason and exit status 3 (granian replaces a worker that
dies, which would otherwise retry a hopeless start forever); each worker runs them again as
it loads ``web.wsgi`` (the database may have changed in between).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Mapping
from typing import Any, NoReturn

from flask import Flask

from web import create_app

REFUSED = 3  # the exit status of a server that must not serve (gunicorn's "failed to boot")

NO_IDENTITY_PROVIDER = (
    "OIDC_ISSUER não configurado: em produção a aplicação usa o Login Único gov.br "
    "(ex.: https://sso.acesso.gov.br/); o provedor de desenvolvimento é só para `make run`."
)


def refuse(reason: str) -> NoReturn:
    sys.stderr.write(reason + "\n")
    raise SystemExit(REFUSED)


def production_app() -> Flask:
    """The app a production worker serves; exits with the reason when it must not serve:
    no OpenID provider configured, or a database behind the code."""
    if not os.environ.get("OIDC_ISSUER"):
        refuse(NO_IDENTITY_PROVIDER)
    app = create_app()
    problem = app.extensions["chamados"].health.pending_migrations()
    if problem:
        refuse(problem)
    app.wsgi_app = WithoutProcessEnvironment(app.wsgi_app, os.environ)  # type: ignore[method-assign]
    return app


# What the server takes from the request itself (PEP 3333): never removed, even when a
# variable of the same name and value happens to be in the process environment.
REQUEST_KEYS = frozenset(
    {
        "REQUEST_METHOD",
        "SCRIPT_NAME",
        "PATH_INFO",
        "QUERY_STRING",
        "CONTENT_TYPE",
        "CONTENT_LENGTH",
        "SERVER_NAME",
        "SERVER_PORT",
        "SERVER_PROTOCOL",
        "REMOTE_ADDR",
    }
)


class WithoutProcessEnvironment:
    """Takes the process's environment variables back out of each request's WSGI environ.

    granian builds every request's environ on a copy of ``os.environ`` (as wsgiref does), so
    without this ``DATABASE_URL`` with its password, ``SECRET_KEY`` and the OpenID and SMTP
    secrets ride along in every request, one error report away from a log; and a variable
    named like a header (``HTTP_X_REQUEST_ID``, ``HTTP_AUTHORIZATION``) reads as a header
    the client never sent. A key is removed when it still holds the process's value (a
    header the client did send has its own value and stays).
    """

    def __init__(self, app: Any, process_environment: Mapping[str, str]) -> None:
        self.app = app
        self.variables = tuple(
            (key, value) for key, value in process_environment.items() if key not in REQUEST_KEYS
        )

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        for key, value in self.variables:
            if environ.get(key) == value:
                del environ[key]
        return self.app(environ, start_response)
