"""Jinja2 filters and globals."""

from __future__ import annotations

from flask import Flask


def init_filters(app: Flask) -> None:
    pass
