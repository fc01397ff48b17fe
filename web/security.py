"""Security headers on every response (pages, API, static files, errors).

* ``Content-Security-Policy``: scripts only from this app's own files, never inline (no
  ``<script>`` blocks or ``on…=`` attributes in the templates; tests/test_http_hardening.py
  checks), no ``eval``, no plugins, and no framing (``frame-ancestors 'none'``, with
  ``X-Frame-Options: DENY`` for older browsers). Styles may be inline: the gov.br design
  system, htmx (its indicator styles) and bpmn-js set style attributes from script.
* ``Referrer-Policy: same-origin``: addresses of this app (ticket ids, search terms) are
  not sent to other sites, such as the gov.br logout.
* ``X-Content-Type-Options: nosniff``.
* ``Strict-Transport-Security`` only over HTTPS (the request, or APP_BASE_URL when a
  proxy terminates TLS): sent over plain HTTP it would be ignored, or worse, stick to a
  development host.

Headers a view sets itself are kept (``setdefault``).
"""

from __future__ import annotations

from flask import Flask, Response, current_app, request

CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data:",
        "font-src 'self' data:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'self'",
        "frame-ancestors 'none'",
    )
)
HSTS = "max-age=31536000"
_HEADERS = (
    ("Content-Security-Policy", CONTENT_SECURITY_POLICY),
    ("X-Frame-Options", "DENY"),
    ("Referrer-Policy", "same-origin"),
    ("X-Content-Type-Options", "nosniff"),
)
_HTTPS_KEY = "chamados.https"


def _add_headers(response: Response) -> Response:
    headers = response.headers
    # One look at the names already set (a view's own win), not one per header.
    present = {name.lower() for name in headers.keys()}
    for name, value in _HEADERS:
        if name.lower() not in present:
            headers.add(name, value)
    if current_app.extensions[_HTTPS_KEY] or request.is_secure:
        headers.setdefault("Strict-Transport-Security", HSTS)
    return response


def init_security(app: Flask) -> None:
    app.extensions[_HTTPS_KEY] = str(app.config.get("APP_BASE_URL", "")).startswith("https://")
    app.after_request(_add_headers)
