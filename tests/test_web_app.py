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


def test_the_session_signer_is_built_once_per_key_and_a_rotated_key_still_reads(
    tmp_path: Path,
) -> None:
    """web._SessionInterface: Flask built the signing serializer twice per request."""
    from flask import session

    app = build_app(tmp_path)

    @app.get("/_teste/sessao/<valor>")
    def _write(valor: str) -> str:
        session["valor"] = valor
        return "ok"

    @app.get("/_teste/sessao")
    def _read() -> str:
        return str(session.get("valor", "-"))

    client = app.test_client()
    interface = app.session_interface
    built: list[Any] = []
    real = type(interface).__mro__[1].get_signing_serializer  # Flask's own

    def counting(self: Any, flask_app: Any) -> Any:
        built.append(1)
        return real(self, flask_app)

    with mock.patch.object(type(interface).__mro__[1], "get_signing_serializer", counting):
        assert client.get("/_teste/sessao/um").status_code == 200
        for _ in range(3):
            assert client.get("/_teste/sessao").get_data(as_text=True) == "um"
        assert len(built) == 1
        # The key rotates, the old one kept as a fallback: a new signer, and the
        # cookie signed with the old key still reads; once the fallback goes, it does not.
        old = app.secret_key
        app.secret_key = "outra-chave-" + "x" * 40
        app.config["SECRET_KEY_FALLBACKS"] = [old]
        assert client.get("/_teste/sessao").get_data(as_text=True) == "um"
        assert len(built) == 2
        app.config["SECRET_KEY_FALLBACKS"] = []
        assert client.get("/_teste/sessao").get_data(as_text=True) == "-"
        assert len(built) == 3
    app.extensions["chamados"].unit.db.dispose()
