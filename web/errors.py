"""Maps engine errors to pages (and, under /api, to RFC 9457 problem details)."""

from __future__ import annotations

from flask import Flask


def init_errors(app: Flask) -> None:
    pass
