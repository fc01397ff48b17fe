"""What a production server checks before it serves, and says when it refuses.

``chamados serve`` runs these checks once before it starts granian, so a misconfigured
deployment stops at once with the reason and exit status 3 (granian replaces a worker that
dies, which would otherwise retry a hopeless start forever); each worker runs them again as
it loads ``web.wsgi`` (the database may have changed in between).
"""

from __future__ import annotations

import os
import sys
from typing import NoReturn

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
    return app
