"""Read-only presentation of submitted form data (review, tracking, analysis pages)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import current_app

from engine import forms


@dataclass(frozen=True)
class Lookup:
    """Adapts the órgão search to the form lookups protocol."""

    def label_for(self, value: Any) -> str | None:
        return current_app.extensions["chamados"].orgao_label(value)

    def search(self, q: str) -> list[tuple[int, str]]:
        return current_app.extensions["chamados"].search_orgaos(q) if q.strip() else []


def lookups(schema: dict[str, Any]) -> dict[str, Lookup]:
    return {
        name: Lookup()
        for name, prop in schema.get("properties", {}).items()
        if prop.get("x-lookup") == "orgaos"
    }


@dataclass(frozen=True)
class Row:
    name: str
    label: str
    value: str


@dataclass(frozen=True)
class Section:
    id: str
    title: str
    rows: list[Row]


def sections(schema: dict[str, Any], ui: dict[str, Any], data: dict[str, Any]) -> list[Section]:
    props = schema.get("properties", {})
    found = lookups(schema)
    result = []
    for step in forms.steps(ui) if ui else []:
        rows = []
        for name in step.fields:
            prop = props.get(name, {})
            if prop.get("x-attachments") or name == "confirmo_dados":
                continue
            rows.append(
                Row(name, prop.get("title", name), forms.display_value(prop, data.get(name), found))
            )
        if rows:
            result.append(Section(step.id, step.title, rows))
    return result
