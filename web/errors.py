"""Maps engine errors to pages and, under /api, to RFC 9457 problem details."""

from __future__ import annotations

from flask import Flask, Response, jsonify, render_template, request
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

from engine.errors import DomainError, ValidationFailed
from engine.service import is_contention, is_unavailable
from web.context import is_api_path

HTTP_TITLES = {
    400: "Requisição inválida",
    401: "Entre com sua conta gov.br",
    403: "Acesso negado",
    404: "Página não encontrada",
    405: "Método não permitido",
    413: "Arquivo grande demais",
    500: "Erro interno",
    503: "Serviço indisponível",
}
HTTP_MESSAGES = {
    404: "O endereço não existe ou você não tem acesso a ele.",
    413: "O envio ultrapassa o tamanho máximo permitido.",
    500: "Ocorreu um erro inesperado. Nada foi perdido do que já estava salvo; tente novamente.",
    503: "O banco de dados não está respondendo. Tente novamente em instantes.",
}


def _wants_json() -> bool:
    return is_api_path(request.path)


def problem(status: int, title: str, detail: str, **extra: object) -> tuple[Response, int]:
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail, **extra}
    response = jsonify(body)
    response.mimetype = "application/problem+json"
    return response, status


def page(status: int, title: str, message: str) -> tuple[str, int]:
    return render_template("error.html", status=status, title=title, message=message), status


# A transaction that lost to a concurrent one (engine.db.is_contention): rolled back whole.
CONCURRENT_MESSAGE = (
    "Outra ação sobre os mesmos dados aconteceu ao mesmo tempo e esta não foi gravada "
    "(nada foi alterado). Tente de novo."
)


def _try_again(message: str) -> tuple[Response | str, int, dict[str, str]]:
    title = HTTP_TITLES[503]
    body, status = problem(503, title, message) if _wants_json() else page(503, title, message)
    return body, status, {"Retry-After": "1"}


def init_errors(app: Flask) -> None:
    @app.errorhandler(DomainError)
    def domain_error(exc: DomainError):  # type: ignore[no-untyped-def]
        if _wants_json():
            extra = {"errors": exc.errors} if isinstance(exc, ValidationFailed) else {}
            return problem(exc.status, exc.title, exc.message, **extra)
        return page(exc.status, exc.title, exc.message)

    @app.errorhandler(CSRFError)
    def csrf_error(exc: CSRFError):  # type: ignore[no-untyped-def]
        message = (
            "O formulário expirou ou não veio desta página (proteção CSRF). "
            "Nada foi alterado: volte, recarregue a página e tente novamente."
        )
        if _wants_json():
            return problem(400, "Token CSRF inválido", message)
        return page(400, "Formulário inválido", message)

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):  # type: ignore[no-untyped-def]
        status = exc.code or 500
        original = getattr(exc, "original_exception", None)
        if status == 500 and is_unavailable(original):
            # The database refused the connection, or it died under this request
            # (database restarted); the pool reconnects on a later one: say so instead
            # of "internal error".
            return _try_again(HTTP_MESSAGES[503])
        if status == 500 and is_contention(original):
            # A deadlock or a lock that stayed busy: the database rolled this request's
            # transaction back; the same request again will find the way free.
            return _try_again(CONCURRENT_MESSAGE)
        title = HTTP_TITLES.get(status, exc.name)
        message = HTTP_MESSAGES.get(status, exc.description or title)
        body, status = (
            problem(status, title, message) if _wants_json() else page(status, title, message)
        )
        # What the exception says besides its body: Allow on a 405 (RFC 9110 requires
        # it), WWW-Authenticate on a 401, Retry-After on a 503...
        return body, status, _headers_of(exc)


def _headers_of(exc: HTTPException) -> dict[str, str]:
    return {k: v for k, v in exc.get_headers() if k.lower() != "content-type"}
