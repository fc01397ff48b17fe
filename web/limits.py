"""Request size limits per endpoint, bounded JSON, bounded URL integers, and the 413 answer.

Every request's body is capped before anything reads it: Flask's ``MAX_CONTENT_LENGTH``
(40 MB) is for the pages that upload files only; every other endpoint gets a smaller
limit here, set before any other ``before_request`` hook (CSRF reads the form). The
figures are documented in the README (Limites).
"""

from __future__ import annotations

from typing import Any

from flask import Flask, Response, request
from flask.json.provider import DefaultJSONProvider
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.routing import IntegerConverter

from engine.service import MAX_BPMN_BYTES, limits
from web.context import is_api_path

KB = 1024
MB = 1024 * KB
# Pages and API calls without uploads: a whole wizard step is a few KB.
DEFAULT_BODY = 256 * KB
# Form fields other than files, each (the longest default text is 10,000 characters,
# up to 40 KB in UTF-8; designers' form files are up to 256 KB and get more below).
DEFAULT_FORM_FIELD = 128 * KB
# API form data: the chamado's largest valid form is ~50 KB of JSON.
API_FORM_BODY = 256 * KB
# API calls that take no body.
API_EMPTY_BODY = 16 * KB
# Designers send models (up to 2 MB of BPMN) and form files (up to 256 KB each).
DESIGNER_BODY = 4 * MB
DESIGNER_FORM_FIELD = 1 * MB

# Endpoints that receive files as multipart/form-data: Flask's MAX_CONTENT_LENGTH applies.
UPLOAD_ENDPOINTS = frozenset({"requester.task"})
BODY_LIMITS = {
    "api.save_draft": API_FORM_BODY,
    "api.submit_task": API_FORM_BODY,
    "designer.import_bpmn": MAX_BPMN_BYTES + 64 * KB,
    "api.deploy_models": DESIGNER_BODY,  # a zipped SpiffArena folder
    "designer.import_folder": DESIGNER_BODY,  # the same, from the Processos page
}
# Database ids are 32-bit: a larger number in a URL names nothing (404), instead of
# failing in the database driver.
MAX_ID = 2**31 - 1


class BoundedIntegerConverter(IntegerConverter):
    """``<int:...>`` with an upper bound: a bigger number does not match the route."""

    def __init__(self, map: Any, *args: Any, **kwargs: Any) -> None:  # noqa: A002 - werkzeug
        kwargs.setdefault("max", MAX_ID)
        super().__init__(map, *args, **kwargs)


class BoundedJSONProvider(DefaultJSONProvider):
    """Request JSON refused (as malformed: 400) when nested deeper than
    engine.limits.MAX_JSON_DEPTH or holding NaN/Infinity, never a RecursionError."""

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        return limits.loads(s)


def body_limit(endpoint: str | None, mimetype: str) -> int | None:
    """The body limit of a request; None defers to MAX_CONTENT_LENGTH (uploads)."""
    if endpoint in UPLOAD_ENDPOINTS and mimetype == "multipart/form-data":
        return None
    if endpoint in BODY_LIMITS:
        return BODY_LIMITS[endpoint]
    if endpoint and endpoint.startswith("designer."):
        return DESIGNER_BODY
    if endpoint and endpoint.startswith("api."):
        return API_EMPTY_BODY
    return DEFAULT_BODY


def _describe(size: int) -> str:
    return f"{size // MB} MB" if size >= MB and size % MB == 0 else f"{size // KB} KB"


def init_limits(app: Flask) -> None:
    """Call first in the app factory: before any route (the converter) and before
    CSRFProtect (whose hook reads the form)."""
    app.url_map.converters["int"] = BoundedIntegerConverter
    app.json = BoundedJSONProvider(app)

    @app.before_request
    def _limit_body() -> None:
        limit = body_limit(request.endpoint, request.mimetype)
        if limit is not None:
            request.max_content_length = limit
        # A declared size past the limit is refused now, even where the view never
        # reads the body; an undeclared one is cut when read (Werkzeug's limited stream).
        if (request.content_length or 0) > (request.max_content_length or float("inf")):
            raise RequestEntityTooLarge()
        if request.endpoint and request.endpoint.startswith("designer."):
            request.max_form_memory_size = DESIGNER_FORM_FIELD

    app.register_error_handler(RequestEntityTooLarge, _too_large)


def _too_large(exc: RequestEntityTooLarge) -> Any:
    from web.errors import page, problem  # web.errors imports the app's other layers

    limit = request.max_content_length
    size = f" de {_describe(limit)}" if limit else ""
    if is_api_path(request.path):
        response: tuple[Response, int] = problem(
            413,
            "Requisição grande demais",
            f"O corpo da requisição passa do limite{size} desta operação; nada foi gravado.",
        )
        return response
    return page(
        413,
        "Envio grande demais",
        f"O que foi enviado passa do limite{size} desta página (ou um campo passa do "
        f"limite de {_describe(request.max_form_memory_size or DEFAULT_FORM_FIELD)}, ou "
        "há campos demais). Nada deste envio foi gravado; o que já estava salvo no "
        "rascunho continua lá. Volte, reduza o texto ou os arquivos e tente de novo.",
    )
