"""A form file (JSON Schema or UI schema) uploaded by a designer: read, bounded, checked.

The upload only fills the form editor (nothing is saved until the designer saves), so
this reads the bytes as the editor's text: UTF-8, at most MAX_FORM_BYTES, one JSON object.
Whether the pair loads as a form is the editor's preview and save's business.
"""

from __future__ import annotations

import json

from engine import limits
from engine.designer.validation import MAX_FORM_BYTES
from engine.errors import ValidationFailed

MAX_UPLOAD_BYTES = MAX_FORM_BYTES


def read_form_upload(field: str, filename: str, data: bytes) -> str:
    """The uploaded file's text; ValidationFailed ``{field: message}`` in pt-BR otherwise.
    ``data`` may hold one byte past the limit (what the caller read to know it is over)."""

    def refuse(message: str) -> ValidationFailed:
        return ValidationFailed({field: f"{filename}: {message}"})

    if not filename.lower().endswith(".json"):
        raise refuse("o arquivo deve ter a extensão .json.")
    if len(data) > MAX_UPLOAD_BYTES:
        raise refuse(f"passa do limite de {MAX_UPLOAD_BYTES // 1024} KB.")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise refuse("o arquivo não está em UTF-8.") from exc
    try:
        value = limits.loads(text)
    except limits.JsonRejected as exc:
        raise refuse(exc.message) from exc
    except json.JSONDecodeError as exc:
        raise refuse(f"JSON inválido na linha {exc.lineno}, coluna {exc.colno}.") from exc
    if not isinstance(value, dict):
        raise refuse("o conteúdo deve ser um objeto JSON ({ … }).")
    return text
