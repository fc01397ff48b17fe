"""The engine facade of the running app, for the blueprints and helpers of web/."""

from __future__ import annotations

from typing import cast

from flask import current_app

from engine.service import Chamados


def service() -> Chamados:
    """The app's engine.service.Chamados (one per process, set up by create_app)."""
    return cast(Chamados, current_app.extensions["chamados"])


def is_api_path(path: str) -> bool:
    """Whether ``path`` is under the REST API (web.api's blueprint, /api/v1)."""
    return path.startswith("/api/")
