"""Jinja2 filters and globals: pt-BR dates, CPF, sizes, ages, incidents, ``has_endpoint``."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from flask import Flask, current_app

from engine.service import format_cpf, forms, incidents, normalize_cpf
from web import markdown

LOCAL_TZ = ZoneInfo("America/Sao_Paulo")


def _local(value: datetime) -> datetime:
    # Timestamps are stored in UTC; a naive one is UTC too (SQLite drops the zone).
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(LOCAL_TZ)


def datetime_br(value: datetime | None) -> str:
    """``31/12/2024 21:00`` in Brasília time."""
    if value is None:
        return ""
    return _local(value).strftime("%d/%m/%Y %H:%M")


def date_br(value: date | datetime | None) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        value = _local(value)
    return value.strftime("%d/%m/%Y")


def cpf(value: str | None) -> str:
    """``39053344705`` → ``390.533.447-05``; anything else is shown as it is."""
    if not value:
        return ""
    digits = normalize_cpf(str(value))
    return format_cpf(digits) if digits else str(value)


def filesize(value: int | float | None) -> str:
    return forms.format_filesize(value)


def _plural(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


def relative_age(value: datetime | None, now: datetime | None = None) -> str:
    """``há 3 dias``, ``há 2 horas``, ``agora mesmo``."""
    if value is None:
        return ""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    seconds = int(((now or datetime.now(UTC)) - value).total_seconds())
    if seconds < 60:
        return "agora mesmo"
    steps = [
        (3600, 60, "minuto", "minutos"),
        (86400, 3600, "hora", "horas"),
        (30 * 86400, 86400, "dia", "dias"),
        (365 * 86400, 30 * 86400, "mês", "meses"),
    ]
    for limit, unit, one, many in steps:
        if seconds < limit:
            return f"há {_plural(seconds // unit, one, many)}"
    return f"há {_plural(seconds // (365 * 86400), 'ano', 'anos')}"


def has_endpoint(name: str) -> bool:
    """True when a view with this endpoint is registered (menus skip missing modules)."""
    return name in current_app.view_functions


def init_filters(app: Flask) -> None:
    app.jinja_env.filters.update(
        datetime_br=datetime_br,
        date_br=date_br,
        cpf=cpf,
        filesize=filesize,
        relative_age=relative_age,
        incident_action=incidents.describe,
        incident_notice=incidents.notice_for,
        markdown=markdown.render,
    )
    app.jinja_env.globals["has_endpoint"] = has_endpoint
