"""Data for a form from its JSON Schema: what a person filling the form could send.

Deterministic, so a corpus run is the same every time: every property is filled (a
model's gateways read the optional ones too), enums take their first value, strings meet
their format and length, numbers their bounds, arrays their minimum count (at least one).
``required_only`` leaves out what is not required, the second try when a full answer is
refused. Local ``$ref``s (``#/definitions/…``, ``#/$defs/…``) are followed.
"""

from __future__ import annotations

import re
from typing import Any

_FORMATS = {
    "date": "2026-12-01",
    "date-time": "2026-12-01T10:00:00-03:00",
    "time": "10:00:00",
    "email": "pessoa@example.gov.br",
    "uri": "https://www.gov.br/",
    "url": "https://www.gov.br/",
    "uuid": "123e4567-e89b-12d3-a456-426614174000",
}
_MAX_DEPTH = 8


def form_data(schema: dict[str, Any], required_only: bool = False) -> dict[str, Any]:
    value = _value(schema, schema, required_only, 0)
    return value if isinstance(value, dict) else {}


def _resolve(node: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    seen = 0
    while isinstance(node, dict) and isinstance(node.get("$ref"), str) and seen < 10:
        ref = node["$ref"]
        if not ref.startswith("#/"):
            return {}
        target: Any = root
        for part in ref[2:].split("/"):
            target = target.get(part, {}) if isinstance(target, dict) else {}
        node, seen = target, seen + 1
    return node if isinstance(node, dict) else {}


def _type(node: dict[str, Any]) -> str | None:
    kind = node.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), None)
    if kind is None and ("properties" in node or "required" in node):
        return "object"  # SpiffArena's forms often leave the object implied
    return kind if isinstance(kind, str) else None


def _value(node: Any, root: dict[str, Any], required_only: bool, depth: int) -> Any:
    node = _resolve(node, root)
    if depth > _MAX_DEPTH:
        return None
    if "const" in node:
        return node["const"]
    if isinstance(node.get("enum"), list) and node["enum"]:
        return next((v for v in node["enum"] if v is not None), node["enum"][0])
    for key in ("oneOf", "anyOf"):
        options = node.get(key)
        if isinstance(options, list) and options and not node.get("properties"):
            return _value(options[0], root, required_only, depth + 1)
    if "default" in node and node["default"] not in (None, ""):
        return node["default"]
    kind = _type(node)
    if kind == "object":
        props = node.get("properties") or {}
        required = [r for r in node.get("required") or [] if isinstance(r, str)]
        names = required if required_only else [*props, *(r for r in required if r not in props)]
        out: dict[str, Any] = {}
        for name in names:
            value = _value(props.get(name, {"type": "string"}), root, required_only, depth + 1)
            if value is not None:
                out[name] = value
        return out
    if kind == "array":
        items = node.get("items") or {"type": "string"}
        if isinstance(items, list):
            items = items[0] if items else {"type": "string"}
        count = max(1, int(node.get("minItems") or 0))
        if _resolve(items, root).get("enum") and node.get("uniqueItems"):
            return _resolve(items, root)["enum"][:count]
        return [_value(items, root, required_only, depth + 1) for _ in range(count)]
    if kind == "integer":
        return int(_number(node, 1))
    if kind == "number":
        return _number(node, 1.5)
    if kind == "boolean":
        return True
    if kind == "null":
        return None
    return _string(node)


def _number(node: dict[str, Any], fallback: float) -> float:
    low = node.get("minimum", node.get("exclusiveMinimum"))
    high = node.get("maximum", node.get("exclusiveMaximum"))
    value = fallback
    if isinstance(low, int | float):
        value = low + (1 if "exclusiveMinimum" in node and "minimum" not in node else 0)
    if isinstance(high, int | float) and value > high:
        value = high
    return value


def _string(node: dict[str, Any]) -> str:
    text = _FORMATS.get(str(node.get("format")), "Texto de exemplo")
    pattern = node.get("pattern")
    if isinstance(pattern, str):
        for candidate in (text, "12345678909", "123", "abc", "ABC", "a1"):
            try:
                if re.search(pattern, candidate):
                    text = candidate
                    break
            except re.error:
                break
    low, high = node.get("minLength"), node.get("maxLength")
    if isinstance(low, int) and len(text) < low:
        text = text + "x" * (low - len(text))
    if isinstance(high, int) and len(text) > high:
        text = text[: max(high, 1)]
    return text
