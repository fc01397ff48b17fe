"""Integers and codes from URLs and forms, bounded once: what the database can compare.

A path like ``/chamados/99999999999999999999`` or ``?orgao=99999999999999999999`` used
to reach the database as an integer too large for its columns (PostgreSQL: "integer out
of range"; SQLite, above 2**63: OverflowError, outside its DB-API errors) and answer
500. Every ``<int:…>`` in a route goes through :class:`BoundedIntConverter` (installed
as the app's ``int`` converter by create_app), so such a path does not match: 404.
Query parameters and form fields go through :func:`to_int` / :func:`query_int`: a number
out of range is refused by name (422). Codes (a catalog value, a process or group key)
go through :func:`query_code`: PostgreSQL refuses a NUL byte in any text parameter, so
such a filter would otherwise be a 500 there too.
"""

from __future__ import annotations

from typing import Any

from flask import request
from werkzeug.routing import IntegerConverter, Map, ValidationError

from engine.errors import ValidationFailed
from engine.service import limits

# The largest value of an INTEGER column on PostgreSQL (every id and version the tables
# hold): SQLAlchemy binds such parameters as ::INTEGER, so a larger one is a DataError
# there, and above 2**63 an OverflowError on SQLite. Every integer from a request is at
# most this.
MAX_INT = 2**31 - 1
_MAX_DIGITS = len(str(MAX_INT))
MAX_CODE = 80  # a catalog code (tipo_problema), a process id, a group key


class BoundedIntConverter(IntegerConverter):
    """Werkzeug's ``int`` converter with MAX_INT as the default maximum (Werkzeug's own
    has none); a string of more digits than MAX_INT has is refused without converting."""

    def __init__(
        self,
        map: Map,
        fixed_digits: int = 0,
        min: int | None = None,
        max: int | None = None,
        signed: bool = False,
    ) -> None:
        super().__init__(map, fixed_digits, min, MAX_INT if max is None else max, signed)

    def to_python(self, value: str) -> Any:
        if len(value.lstrip("-")) > _MAX_DIGITS:
            raise ValidationError()
        return super().to_python(value)


def to_int(raw: str | None, minimum: int = 0, maximum: int = MAX_INT) -> int | None:
    """``raw`` as an integer when it is one: ASCII digits (``"²".isdigit()`` is true, and
    ``int("²")`` fails) within ``[minimum, maximum]``; otherwise None."""
    text = (raw or "").strip()
    if not text or len(text) > _MAX_DIGITS or not (text.isascii() and text.isdigit()):
        return None
    value = int(text)
    return value if minimum <= value <= maximum else None


def query_int(
    name: str, minimum: int = 0, maximum: int = MAX_INT, *, lenient: bool = False
) -> int | None:
    """The integer query parameter ``name``, or None when absent or blank.

    Anything else raises ValidationFailed naming the parameter (the API answers 422 with
    it, a page an error page), except that with ``lenient`` a value that is not a number
    at all counts as absent: pages ignore a garbled filter, as their forms never send one.
    A number out of range is refused either way.
    """
    raw = request.args.get(name, "").strip()
    if not raw:
        return None
    value = to_int(raw, minimum, maximum)
    if value is not None:
        return value
    if lenient and not (raw.isascii() and raw.isdigit()):
        return None
    raise ValidationFailed(
        {name: f"Informe um número inteiro de {minimum} a {maximum}."},
        "Parâmetros de consulta inválidos.",
    )


def query_code(name: str) -> str | None:
    """The code query parameter ``name`` (a catalog value, a process id, a group key), or
    None when absent or blank; one too long or with a control character is refused by
    name (ValidationFailed: the API answers 422 with it, a page an error page)."""
    raw = request.args.get(name) or None
    if raw is not None and (len(raw) > MAX_CODE or limits.forbidden_character(raw)):
        raise ValidationFailed(
            {name: f"Informe um código de até {MAX_CODE} caracteres, sem controles."},
            "Parâmetros de consulta inválidos.",
        )
    return raw
