"""The Flask application object itself (web.App)."""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any
from unittest import mock

from tests.test_api import build_app


def test_the_coroutine_check_runs_once_per_function_not_per_request(tmp_path: Path) -> None:
    app = build_app(tmp_path)
    client = app.test_client()
    checked: list[Any] = []

    def counting(func: Any) -> bool:
        checked.append(func)
        return inspect.iscoroutinefunction(func)

    with mock.patch("flask.app.iscoroutinefunction", counting):
        assert client.get("/healthz").status_code == 200
        first = len(checked)
        for _ in range(3):
            assert client.get("/healthz").status_code == 200
        again = len(checked)
        for _ in range(2):
            assert client.get("/api/v1/openapi.json").status_code == 200
    # The hooks and the view were checked on the first request, not on the next ones;
    # another route checks only what the first did not meet (its view, its blueprint's
    # hook), once.
    assert first > 0 and again == first
    assert len(checked) == len(set(checked)) > first, checked
    app.extensions["chamados"].unit.db.dispose()


def test_no_view_or_hook_is_a_coroutine(tmp_path: Path) -> None:
    """What the once-per-function answer relies on, and WSGI workers need anyway."""
    app = build_app(tmp_path)
    functions = list(app.view_functions.values())
    for registry in (
        app.before_request_funcs,
        app.after_request_funcs,
        app.teardown_request_funcs,
        app.teardown_appcontext_funcs,
    ):
        for hooks in registry.values() if isinstance(registry, dict) else [registry]:
            functions.extend(hooks)
    assert functions
    assert [f for f in functions if inspect.iscoroutinefunction(f)] == []
    app.extensions["chamados"].unit.db.dispose()
