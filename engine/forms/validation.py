"""Server-side validation with jsonschema, with a pt-BR message per field.

Most sendings are valid. jsonschema-rs (the same JSON Schema 2020-12, in Rust) answers
"valid or not" several times faster than jsonschema, so it answers first; only when it
finds a problem does jsonschema run, for the per-error paths and keywords our messages
are made of. A schema it cannot compile is left to jsonschema alone. Both match the form's
patterns in linear time (:mod:`engine.forms.patterns`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any

import jsonschema_rs
from jsonschema import Draft202012Validator, FormatChecker
from jsonschema import validators as jsonschema_validators
from jsonschema.exceptions import ValidationError

from engine import validators
from engine.catalogs import CatalogOption as CatalogOption  # re-exported for callers
from engine.forms import bounds, patterns
from engine.forms.structure import _top_field, options_of
from engine.identity_cache import IdentityCache

_EMAIL = re.compile(
    r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
    r"@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}$"
)


def is_valid_email(value: str) -> bool:
    return len(value) <= 254 and bool(_EMAIL.match(value))


# Normalisers per format: canonical text, or None when the value is invalid.
NORMALIZERS: dict[str, Callable[[str], str | None]] = {
    "telefone": lambda s: validators.normalize_phone(s),
    "protocolo": lambda s: validators.normalize_protocolo(s),
    "cpf": lambda s: validators.normalize_cpf(s),
    "email": lambda s: s if is_valid_email(s) else None,
}

FORMAT_MESSAGES = {
    "email": "E-mail inválido. Use o formato nome@dominio.gov.br.",
    "telefone": "Telefone inválido. Use DDD + número, ex.: (61) 99999-9999.",
    "protocolo": (
        "Protocolo inválido: informe o número da Plataforma (somente dígitos) ou um NUP "
        "válido (00000.000000/0000-00)."
    ),
    "cpf": "CPF inválido. Confira os 11 dígitos, ex.: 000.000.000-00.",
}


# Each format's check, for jsonschema and jsonschema-rs alike. Only strings are checked: a
# wrong type is reported by "type", not by "format" (jsonschema-rs passes strings only).
def _format_check(normalize: Callable[[str], str | None]) -> Callable[[Any], bool]:
    return lambda value: not isinstance(value, str) or normalize(value) is not None


_FORMAT_CHECKS = {name: _format_check(normalize) for name, normalize in NORMALIZERS.items()}


def _format_checker() -> FormatChecker:
    checker = FormatChecker()
    for name, check in _FORMAT_CHECKS.items():
        checker.checks(name)(check)
    checker.checks("regex")(patterns.is_regex)
    return checker


FORMAT_CHECKER = _format_checker()


def _no_retrieval(uri: str) -> Any:
    # As jsonschema here (no retrieval configured): a remote $ref is never fetched.
    raise ValueError(f"referência externa não permitida: {uri}")


# Per schema object (resolved schemas are shared and read-only: engine.usecases.base),
# compiled once; None when it cannot compile.
_FAST: IdentityCache[Any] = IdentityCache(256)


def _fast_validator(schema: Mapping[str, Any]) -> Any:
    return _FAST.get(schema, lambda: _compile_fast(schema))


def _compile_fast(schema: Mapping[str, Any]) -> Any:
    try:
        return jsonschema_rs.Draft202012Validator(
            dict(schema),
            formats=_FORMAT_CHECKS,
            validate_formats=True,
            retriever=_no_retrieval,
            # Never backtracking, as the matching jsonschema does (engine.forms.patterns).
            pattern_options=patterns.LINEAR,
        )
    except Exception:  # noqa: BLE001 - whatever it refuses, jsonschema still answers
        return None


def _surely_valid(schema: Mapping[str, Any], data: Mapping[str, Any]) -> bool:
    """jsonschema-rs found nothing wrong (False: it did, or it could not say)."""
    validator = _fast_validator(schema)
    if validator is None:
        return False
    try:
        return bool(validator.is_valid(data))
    except Exception:  # noqa: BLE001 - a value it cannot take (not JSON): jsonschema says
        return False


def _canonical(value: Any) -> Any:
    """A hashable key equal for values JSON Schema calls equal (1 == 1.0, True != 1)."""
    if isinstance(value, bool) or value is None:
        return ("b", value)
    if isinstance(value, int | float):
        return ("n", int(value) if isinstance(value, float) and value.is_integer() else value)
    if isinstance(value, str):
        return ("s", value)
    if isinstance(value, Mapping):
        return ("o", frozenset((k, _canonical(v)) for k, v in value.items()))
    if isinstance(value, list | tuple):
        return ("a", tuple(_canonical(v) for v in value))
    return ("?", repr(value))


def _unique_items(validator: Any, unique: Any, instance: Any, schema: Any) -> Any:
    # jsonschema compares every pair of objects (quadratic); hashing canonical keys is
    # linear. Depth is already bounded by engine.forms.bounds.
    if not unique or not validator.is_type(instance, "array"):
        return
    seen: set[Any] = set()
    for item in instance:
        key = _canonical(item)
        if key in seen:
            yield ValidationError(f"{instance!r} has non-unique elements")
            return
        seen.add(key)


# Patterns are matched in linear time (engine.forms.patterns), never with re.
_Validator = jsonschema_validators.extend(
    Draft202012Validator, {"uniqueItems": _unique_items, **patterns.KEYWORDS}
)


def multiline_fields(ui: Mapping[str, Any]) -> frozenset[str]:
    """Fields drawn as text areas: the only ones where line breaks and tabs are allowed."""
    return frozenset(
        name
        for name, field_ui in ui.items()
        if isinstance(field_ui, Mapping) and field_ui.get("ui:widget") == "textarea"
    )


def validate(
    schema: Mapping[str, Any],
    data: Mapping[str, Any],
    fields: Collection[str] | None = None,
    ui: Mapping[str, Any] | None = None,
) -> dict[str, str]:
    """pt-BR messages keyed by field path (``email``, ``itens.1.numero``).

    The whole document is validated (conditions may depend on other steps); with ``fields``
    only errors whose top-level field is listed are reported. Sizes and characters are
    checked first (:mod:`engine.forms.bounds`); a field that fails them is left out of
    the rest, so no other keyword ever runs over an oversized value. With ``ui``, line
    breaks are refused outside text areas.
    """
    order = {name: i for i, name in enumerate(schema.get("properties", {}))}
    found: list[tuple[int, int, tuple[Any, ...], str]] = []
    oversized = bounds.check(schema, data, multiline_fields(ui) if ui is not None else None)
    for key, message in oversized.items():
        top = _top_field(key, order)
        path = (top, *key[len(top) + 1 :].split(".")) if key != top else (top,)
        found.append((order.get(top, len(order)), -1, path, message))
    skipped = {_top_field(key, order) for key in oversized}
    if not oversized and _surely_valid(schema, data):
        return {}
    checked = {k: v for k, v in data.items() if k not in skipped}
    for error in _Validator(schema, format_checker=FORMAT_CHECKER).iter_errors(checked):
        # One message per field: the most basic problem first, whatever the schema's key order.
        rank = _RANK.get(str(error.validator), len(_RANK))
        for path, message in _describe(schema, error):
            if path and str(path[0]) in skipped:
                continue  # its size or characters were reported already
            position = order.get(str(path[0]), len(order)) if path else -1
            found.append((position, rank, path, message))
    found.sort(key=lambda item: (item[0], item[1]))
    errors: dict[str, str] = {}
    for _position, _rank, path, message in found:
        if fields is not None and (not path or path[0] not in fields):
            continue
        errors.setdefault(".".join(str(p) for p in path), message)
    return errors


_RANK = {
    name: i
    for i, name in enumerate(
        ["required", "type", "const", "enum", "oneOf", "minLength", "maxLength", "format"]
    )
}


def _describe(root: Mapping[str, Any], error: ValidationError) -> list[tuple[tuple[Any, ...], str]]:
    path = tuple(error.absolute_path)
    if error.validator == "required":
        instance = error.instance if isinstance(error.instance, dict) else {}
        missing = [p for p in error.validator_value if p not in instance]
        return [(path + (p,), _required_message(_subschema(root, path + (p,)))) for p in missing]
    if error.validator == "additionalProperties":
        extra = [k for k in error.instance if k not in error.schema.get("properties", {})]
        return [(path + (k,), "Campo não reconhecido.") for k in extra]
    return [(path, _message(error, _subschema(root, path)))]


def _required_message(prop: Mapping[str, Any]) -> str:
    if prop.get("const") is True:
        return "Marque esta confirmação para continuar."
    return "Campo obrigatório."


def _plural(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


def _message(error: ValidationError, prop: Mapping[str, Any]) -> str:
    kind, value = error.validator, error.validator_value
    attachments = bool(prop.get("x-attachments"))
    simple: dict[str, Callable[[], str]] = {
        "minLength": lambda: f"Informe pelo menos {_plural(value, 'caractere', 'caracteres')}.",
        "maxLength": lambda: f"Informe no máximo {_plural(value, 'caractere', 'caracteres')}.",
        "minItems": lambda: (
            f"Anexe pelo menos {_plural(value, 'arquivo', 'arquivos')}."
            if attachments
            else f"Adicione pelo menos {_plural(value, 'item', 'itens')}."
        ),
        "maxItems": lambda: (
            f"Anexe no máximo {_plural(value, 'arquivo', 'arquivos')}."
            if attachments
            else f"A tabela aceita no máximo {_plural(value, 'item', 'itens')}."
        ),
        "uniqueItems": lambda: "Há itens repetidos na tabela.",
        "enum": lambda: "Escolha uma das opções.",
        "minimum": lambda: f"Informe um valor maior ou igual a {value}.",
        "maximum": lambda: f"Informe um valor menor ou igual a {value}.",
        "exclusiveMinimum": lambda: f"Informe um valor maior que {value}.",
        "exclusiveMaximum": lambda: f"Informe um valor menor que {value}.",
        "pattern": lambda: "Formato inválido.",
        "format": lambda: FORMAT_MESSAGES.get(value, "Formato inválido."),
        "type": lambda: _type_message(value, prop),
        "const": lambda: (
            "Marque esta confirmação para continuar." if value is True else "Valor inválido."
        ),
        "oneOf": lambda: (
            "Escolha uma das opções." if options_of(error.schema) else "Valor inválido."
        ),
        "anyOf": lambda: "Valor inválido.",
    }
    make = simple.get(str(kind))
    return make() if make else "Valor inválido."


def _type_message(expected: Any, prop: Mapping[str, Any]) -> str:
    if "x-lookup" in prop:
        return "Escolha um item da lista de resultados da busca."
    names = {expected} if isinstance(expected, str) else set(expected)
    if "integer" in names:
        return "Informe um número inteiro."
    if "number" in names:
        return "Informe um número."
    if "string" in names:
        return "Informe um texto."
    if "boolean" in names:
        return "Escolha Sim ou Não."
    return "Valor inválido."


def _subschema(root: Mapping[str, Any], path: Sequence[Any]) -> Mapping[str, Any]:
    """The property schema at a data path, following properties/items only."""
    node: Mapping[str, Any] = root
    for part in path:
        if isinstance(part, int):
            node = node.get("items", {}) if isinstance(node.get("items"), dict) else {}
        else:
            node = node.get("properties", {}).get(part, {})
    return node
