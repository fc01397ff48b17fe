"""Registers the page blueprints."""

from __future__ import annotations

from flask import Flask


def init_views(app: Flask) -> None:
    pass
