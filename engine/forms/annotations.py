"""What a form's own annotations tell the platform about its fields.

* ``x-instance``: the ticket column a field fills (``orgao``, ``servico``, ``categoria``,
  ``email``), for the queue's filters and the lists; any form of any process may.
* ``x-internal``: a note for staff only, recorded privately and never shown to the
  requester.
* ``x-attachments``: a list of uploaded files (``{id, nome, tamanho}``).
* ``x-lookup``: an id chosen by searching a platform list (``orgaos``).
* ``x-ready-answers``: a staff text field that offers the supervisors' ready answers
  keyed by the named catalog (engine.ready_answers).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# x-instance value -> the Chamado attribute it fills.
INSTANCE_COLUMNS = {
    "orgao": "orgao_id",
    "servico": "servico",
    "categoria": "categoria",
    "email": "email",
}
_LIMITS = {"servico": 300, "categoria": 80, "email": 254}


def _props(schema: Mapping[str, Any]) -> Mapping[str, Any]:
    props = schema.get("properties", {})
    return props if isinstance(props, Mapping) else {}


def is_choice(prop: Mapping[str, Any]) -> bool:
    """A field whose value is picked from a list the platform or the model defines (its
    value is a code: the label is what people read)."""
    return bool(
        prop.get("enum")
        or prop.get("oneOf")
        or prop.get("anyOf")
        or prop.get("const") is not None
        or prop.get("x-catalog")
        or prop.get("x-lookup")
    )


def instance_values(schema: Mapping[str, Any], data: Mapping[str, Any]) -> dict[str, Any]:
    """Ticket attribute -> value, for the fields annotated ``x-instance`` that were sent."""
    found: dict[str, Any] = {}
    for name, prop in _props(schema).items():
        target = INSTANCE_COLUMNS.get(str(prop.get("x-instance", "")))
        if target is None or name not in data:
            continue
        value = data[name]
        limit = _LIMITS.get(str(prop.get("x-instance")))
        if limit and isinstance(value, str):
            value = value[:limit]
        found[target] = value
    return found


def internal_fields(schema: Mapping[str, Any]) -> list[str]:
    return [n for n, p in _props(schema).items() if p.get("x-internal") is True]


def without_internal(schema: Mapping[str, Any], data: Mapping[str, Any]) -> dict[str, Any]:
    hidden = set(internal_fields(schema))
    return {k: v for k, v in data.items() if k not in hidden}


def attachment_fields(schema: Mapping[str, Any]) -> list[str]:
    return [n for n, p in _props(schema).items() if p.get("x-attachments")]


def attachment_ids(data: Mapping[str, Any]) -> set[Any]:
    """Ids of every file reference in sent data (lists of ``{id, nome, …}``)."""
    ids = set()
    for value in data.values():
        if isinstance(value, list):
            ids |= {item.get("id") for item in value if isinstance(item, dict) and "nome" in item}
    return ids


def lookup_fields(schema: Mapping[str, Any], source: str) -> list[str]:
    return [n for n, p in _props(schema).items() if p.get("x-lookup") == source]
