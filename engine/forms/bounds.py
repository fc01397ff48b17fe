"""Sizes and characters of form data, checked before any other validation keyword.

jsonschema walks a document keyword by keyword in the schema's order, so ``uniqueItems``
(quadratic), formats (CPF, NUP) or conditions can run over an array of ten thousand rows
before ``maxItems`` says it has too many. This pass goes first: one walk over the data,
``len()`` of every string and array against the schema's ``maxLength``/``maxItems`` (or the
defaults of :mod:`engine.limits` when the form declares none), the nesting depth, and the
characters of strings that are within their size. Its cost is linear in the data, and the
data it lets through is small enough for everything else.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from engine import limits


def _plural(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


def _declared(node: Mapping[str, Any], key: str, default: int) -> int:
    value = node.get(key)
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    return default


def _items_schema(node: Mapping[str, Any]) -> Mapping[str, Any]:
    items = node.get("items")
    return items if isinstance(items, Mapping) else {}


def _property_schema(node: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    props = node.get("properties")
    sub = props.get(key) if isinstance(props, Mapping) else None
    return sub if isinstance(sub, Mapping) else {}


def check(
    schema: Mapping[str, Any],
    data: Mapping[str, Any],
    multiline: Collection[str] | None = None,
) -> dict[str, str]:
    """pt-BR messages keyed by field path, like :func:`engine.forms.validate`.

    ``multiline``: the top-level fields where tab and line breaks are allowed (text
    areas); None allows them in every field (the caller does not know the widgets).
    """
    errors: dict[str, str] = {}
    stack: list[tuple[Mapping[str, Any], Any, tuple[Any, ...]]] = [(schema, data, ())]
    while stack:
        node, value, path = stack.pop()
        key = ".".join(str(p) for p in path)
        if len(path) > limits.MAX_JSON_DEPTH:
            # Named by its field: a key 33 levels long helps nobody.
            errors.setdefault(str(path[0]), "Valor aninhado demais.")
            continue
        if isinstance(value, str):
            limit = _declared(node, "maxLength", limits.DEFAULT_MAX_LENGTH)
            if len(value) > limit:
                errors[key] = f"Informe no máximo {_plural(limit, 'caractere', 'caracteres')}."
                continue
            top = str(path[0]) if path else ""
            wrong = limits.forbidden_character(
                value, multiline=multiline is None or (len(path) == 1 and top in multiline)
            )
            if wrong:
                errors[key] = wrong
        elif isinstance(value, list | tuple):
            limit = _declared(node, "maxItems", limits.DEFAULT_MAX_ITEMS)
            if len(value) > limit:
                errors[key] = (
                    f"Anexe no máximo {_plural(limit, 'arquivo', 'arquivos')}."
                    if node.get("x-attachments")
                    else f"A tabela aceita no máximo {_plural(limit, 'item', 'itens')}."
                )
                continue
            items = _items_schema(node)
            stack.extend((items, item, (*path, i)) for i, item in enumerate(value))
        elif isinstance(value, Mapping):
            # Top-level keys are the form's fields (callers drop the others); a nested
            # object (a table row) has at most as many keys as items an array may have.
            if path and len(value) > limits.DEFAULT_MAX_ITEMS:
                errors[key] = "Valor inválido: campos demais."
                continue
            stack.extend(
                (_property_schema(node, str(k)), v, (*path, k))
                for k, v in value.items()
                if isinstance(k, str)
            )
        elif not limits.finite(value):
            errors[key] = "Informe um número."
    return errors
