"""A form's structure: wizard steps, widgets and labels, catalog options."""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from engine.catalogs import CatalogOption as CatalogOption  # re-exported for callers
from engine.errors import ProcessDefinitionError
from engine.forms.types import RJSF_WIDGETS, Step


def steps(ui: Mapping[str, Any], schema: Mapping[str, Any] | None = None) -> list[Step]:
    """The wizard's steps; a form without ``ui:steps`` is a single step."""
    declared = ui.get("ui:steps")
    if declared:
        return [
            Step(
                id=str(s.get("id", "")),
                title=str(s.get("title") or s.get("id", "")),
                fields=tuple(s.get("fields", ())),
                review=bool(s.get("review", False)),
            )
            for s in declared
        ]
    title = str((schema or {}).get("title") or "Formulário")
    return [Step(id="formulario", title=title, fields=tuple(field_order(ui, schema)))]


def field_order(ui: Mapping[str, Any], schema: Mapping[str, Any] | None) -> list[str]:
    """Fields in ``ui:order`` (with RJSF's ``*`` for "the rest"), else schema order."""
    names = list((schema or {}).get("properties", {}))
    order = list(ui.get("ui:order") or [])
    if not order:
        return names
    if "*" not in order:
        order.append("*")
    listed = [n for n in order if n != "*"]
    rest = [n for n in names if n not in listed]
    result: list[str] = []
    for n in order:
        result.extend(rest if n == "*" else [n])
    return [n for n in result if not names or n in names]


def all_fields(form_steps: Iterable[Step]) -> list[str]:
    return [name for step in form_steps for name in step.fields]


def step_of(form_steps: Iterable[Step], error_key: str) -> str | None:
    """The id of the step holding the field an error key (``itens.1.numero``) names."""
    form_steps = list(form_steps)
    top = _top_field(error_key, all_fields(form_steps))
    for step in form_steps:
        if top in step.fields:
            return step.id
    return None


def steps_with_errors(form_steps: Sequence[Step], errors: Iterable[str]) -> list[str]:
    found = {step_of(form_steps, key) for key in errors}
    return [s.id for s in form_steps if s.id in found]


def _top_field(key: str, names: Iterable[str] = ()) -> str:
    """The top-level field an error or input key names: ``itens.1.numero`` and
    ``itens__new__numero`` name ``itens``. A dotted field (SpiffArena's dot notation,
    ``fatura.vencimento``) is one field: ``names`` tells it from a path into a table."""
    for name in names:
        if "." in name and (key == name or key.startswith((name + ".", name + "__"))):
            return name
    return key.split(".", 1)[0].split("__", 1)[0]


def _is_table(prop: Mapping[str, Any]) -> bool:
    items = prop.get("items")
    return (
        prop.get("type") == "array"
        and not prop.get("x-attachments")
        and isinstance(items, dict)
        and items.get("type") == "object"
        and isinstance(items.get("properties"), dict)
    )


def widget_of(schema: Mapping[str, Any], ui: Mapping[str, Any], name: str) -> str:
    """The widget a field is drawn with: ``ui:widget``, else inferred from the schema."""
    prop = schema.get("properties", {}).get(name, {})
    declared = (ui.get(name) or {}).get("ui:widget")
    if declared:
        return RJSF_WIDGETS.get(str(declared), str(declared))
    if prop.get("x-attachments"):
        return "files"
    if _is_table(prop):
        return "table"
    if "x-lookup" in prop:
        return "lookup"
    if prop.get("type") == "boolean":
        return "checkbox"
    if options_of(prop) or "x-catalog" in prop:
        return "select"
    return {"email": "email", "telefone": "tel"}.get(str(prop.get("format")), "text")


def is_readonly(prop: Mapping[str, Any], field_ui: Mapping[str, Any]) -> bool:
    return bool(prop.get("readOnly") or field_ui.get("ui:readonly"))


def title_of(schema: Mapping[str, Any], name: str) -> str:
    return str(schema.get("properties", {}).get(name, {}).get("title") or name)


def catalog_fields(schema: Mapping[str, Any]) -> list[tuple[str, str]]:
    """``(field, catalog)`` of each top-level property whose options come from a catalog."""
    return [
        (name, prop["x-catalog"])
        for name, prop in schema.get("properties", {}).items()
        if isinstance(prop, dict) and prop.get("x-catalog") is not None
    ]


def resolve_catalogs(
    schema: Mapping[str, Any],
    catalogs: Mapping[str, Sequence[CatalogOption]],
    keep: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """A copy of ``schema`` where each ``x-catalog`` property lists its options in ``oneOf``.

    Active options, plus a retired one when it is the current value in ``keep`` so an old
    ticket stays readable and valid. ``keep`` must hold data already accepted (a previous
    submission), never the draft being edited: that would let a post revive a retired code.
    """
    resolved = copy.deepcopy(dict(schema))
    keep = keep or {}
    for name, prop in resolved.get("properties", {}).items():
        catalog = prop.get("x-catalog") if isinstance(prop, dict) else None
        if catalog is None:
            continue
        if catalog not in catalogs:
            raise ProcessDefinitionError(
                f"Catálogo '{catalog}' do campo '{name}' não existe.", element_id=name
            )
        current = keep.get(name)
        options = [o for o in catalogs[catalog] if o.active or o.code == current]
        prop.pop("enum", None)
        prop["oneOf"] = [_catalog_entry(o) for o in options]
    return resolved


def _catalog_entry(option: CatalogOption) -> dict[str, Any]:
    entry: dict[str, Any] = {"const": option.code, "title": option.label}
    if option.help:
        entry["description"] = option.help
    if not option.active:
        entry["deprecated"] = True
    return entry


def options_of(prop: Mapping[str, Any]) -> list[tuple[Any, str, str | None]]:
    """``(value, title, help)`` of an enum given as ``oneOf: [{const, title}]`` or ``enum``."""
    if "oneOf" in prop and all(isinstance(o, dict) and "const" in o for o in prop["oneOf"]):
        return [
            (o["const"], str(o.get("title", o["const"])), o.get("description"))
            for o in prop["oneOf"]
        ]
    if "enum" in prop:
        return [(v, str(v), None) for v in prop["enum"]]
    return []
