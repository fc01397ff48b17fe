"""Showing values read-only, and what changed between two submissions."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from engine import validators
from engine.catalogs import CatalogOption as CatalogOption  # re-exported for callers
from engine.forms.structure import options_of, title_of
from engine.forms.types import NOT_INFORMED, FieldChange, Lookup


def format_filesize(size: int | float | None) -> str:
    """pt-BR size: ``820 bytes``, ``12 KB``, ``1,2 MB``."""
    if size is None:
        return ""
    n = float(size)
    if n < 1024:
        return f"{int(n)} {'byte' if int(n) == 1 else 'bytes'}"
    for unit in ("KB", "MB", "GB"):
        n /= 1024
        if n < 1024 or unit == "GB":
            text = f"{n:.1f}" if n < 10 else f"{n:.0f}"
            return f"{text.replace('.', ',').removesuffix(',0')} {unit}"
    return ""  # unreachable


def _lookup_for(
    prop: Mapping[str, Any], lookups: Mapping[str, Lookup] | None, name: str | None = None
) -> Lookup | None:
    if not lookups or "x-lookup" not in prop:
        return None
    return lookups.get(name or "") or lookups.get(str(prop["x-lookup"]))


def display_items(
    prop: Mapping[str, Any], value: Any, lookups: Mapping[str, Lookup] | None = None
) -> list[str]:
    """One text per array item (table rows, attachments); ``[]`` for empty/non-arrays."""
    if not isinstance(value, list):
        return []
    if prop.get("x-attachments"):
        return [_attachment_text(v) for v in value]
    item = prop.get("items", {})
    columns = list(item.get("properties", {}))
    texts = []
    for v in value:
        if isinstance(v, dict):
            cells = [
                display_value(item["properties"][c], v[c], lookups)
                for c in columns
                if v.get(c) not in (None, "")
            ]
            texts.append(" / ".join(cells))
        else:
            texts.append(display_value(item, v, lookups))
    return texts


def _attachment_text(ref: Any) -> str:
    if not isinstance(ref, dict):
        return str(ref)
    size = format_filesize(ref.get("tamanho"))
    return f"{ref.get('nome', '')} ({size})" if size else str(ref.get("nome", ""))


def display_value(
    prop: Mapping[str, Any],
    value: Any,
    lookups: Mapping[str, Lookup] | None = None,
    name: str | None = None,
) -> str:
    """Human text of a value for review pages and analysis (pt-BR).

    ``lookups`` is keyed by ``x-lookup`` name (``"orgaos"``); pass the field's ``name`` to
    also find a lookup keyed by field name.
    """
    if value is None or value == "" or value == []:
        return NOT_INFORMED
    if isinstance(value, bool):
        return "Sim" if value else "Não"
    if isinstance(value, list):
        return "; ".join(display_items(prop, value, lookups))
    for option_value, title, _help in options_of(prop):
        if option_value == value:
            return title
    if "x-lookup" in prop:
        lookup = _lookup_for(prop, lookups, name)
        return (lookup.label_for(value) if lookup else None) or f"Código {value}"
    if prop.get("format") == "cpf":
        digits = validators.normalize_cpf(str(value))
        return validators.format_cpf(digits) if digits else str(value)
    return str(value)


def diff(
    old: Mapping[str, Any],
    new: Mapping[str, Any],
    schema: Mapping[str, Any],
    lookups: Mapping[str, Lookup] | None = None,
) -> list[FieldChange]:
    """Field-by-field changes, in schema order; arrays compared as a whole."""
    props = schema.get("properties", {})
    names = list(props) + [k for k in {**old, **new} if k not in props]
    changes = []
    for name in names:
        before, after = old.get(name), new.get(name)
        if _canon(before) == _canon(after):
            continue
        prop = props.get(name, {})
        added: tuple[str, ...] = ()
        removed: tuple[str, ...] = ()
        if isinstance(before, list) or isinstance(after, list):
            added, removed = _array_delta(prop, before or [], after or [], lookups)
        changes.append(
            FieldChange(
                field=name,
                title=title_of(schema, name),
                old=before,
                new=after,
                old_display=display_value(prop, before, lookups),
                new_display=display_value(prop, after, lookups),
                added=added,
                removed=removed,
            )
        )
    return changes


def _canon(value: Any) -> str:
    return json.dumps(value if value not in ("", []) else None, sort_keys=True, default=str)


def _array_delta(
    prop: Mapping[str, Any],
    before: list[Any],
    after: list[Any],
    lookups: Mapping[str, Lookup] | None,
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    old_keys = {_canon(v) for v in before}
    new_keys = {_canon(v) for v in after}
    added = [v for v in after if _canon(v) not in old_keys]
    removed = [v for v in before if _canon(v) not in new_keys]
    return tuple(display_items(prop, added, lookups)), tuple(display_items(prop, removed, lookups))
