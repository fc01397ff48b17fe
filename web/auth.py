"""gov.br login (OpenID Connect via Authlib). Placeholder until implemented."""

from __future__ import annotations

from flask import Flask


def init_auth(app: Flask) -> None:
    pass
