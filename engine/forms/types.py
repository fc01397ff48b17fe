"""Form data types, constants and the names of posted inputs."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Protocol

from engine.catalogs import CatalogOption as CatalogOption  # re-exported for callers

# SpiffArena's forms use camelCase (firstName): any ASCII letter, then letters, digits, _.
FIELD_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
# A form's own field may be a dotted path (SpiffArena's "invoice.dueDate"): its value
# reaches task data nested, {"invoice": {"dueDate": ...}} (engine.runtime.complete).
FIELD_PATH = re.compile(r"^[A-Za-z][A-Za-z0-9_]*(?:\.[A-Za-z][A-Za-z0-9_]*){0,4}$")
ACTION_FIELD = "_action"
WIDGETS = frozenset(
    {
        "text",
        "email",
        "tel",
        "textarea",
        "select",
        "radio",
        "checkbox",
        "lookup",
        "table",
        "files",
        "hidden",
        "date",
    }
)
# react-jsonschema-form's own widgets, as SpiffArena's forms name them, drawn with ours:
# a date picker is the browser's, the rest plain text fields checked by the schema.
RJSF_WIDGETS = {
    "date": "date",
    "alt-date": "date",
    "datetime": "text",
    "alt-datetime": "text",
    "time": "text",
    "updown": "text",
    "range": "text",
    "uri": "text",
    "color": "text",
    "password": "text",
    # SpiffArena's own: suggestions from its data stores, which the platform does not have.
    "typeahead": "text",
}
NOT_INFORMED = "Não informado"


def implied_object(schema: dict[str, Any]) -> dict[str, Any]:
    """``schema`` with ``"type": "object"`` when it has properties and no type, as
    react-jsonschema-form (and so SpiffArena's forms) implies it."""
    if "type" not in schema and isinstance(schema.get("properties"), dict):
        return {**schema, "type": "object"}
    return schema


@dataclass(frozen=True)
class Step:
    id: str
    title: str
    fields: tuple[str, ...]
    review: bool = False


@dataclass(frozen=True)
class FormDefinition:
    name: str
    schema: dict[str, Any]
    ui: dict[str, Any]
    steps: tuple[Step, ...]

    @property
    def field_names(self) -> list[str]:
        return list(self.schema.get("properties", {}))


@dataclass(frozen=True)
class Action:
    """The parsed ``_action`` button (see the module docstring)."""

    kind: str  # next|back|save|submit|goto|add_row|remove_row|remove_file|upload|lookup
    target: str | None = None  # step id (goto) or field name (rows, upload, lookup)
    index: int | None = None  # row index (remove_row) or attachment id (remove_file)


@dataclass
class Submission:
    data: dict[str, Any]
    action: Action
    # Problems found while reading the post (an invalid new table row), keyed by input name.
    errors: dict[str, str] = field(default_factory=dict)
    # Text typed in new-row inputs that must be shown again, keyed by input name.
    pending: dict[str, str] = field(default_factory=dict)
    # Lookup search text per field (``<field>__q``).
    queries: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class FieldChange:
    field: str
    title: str
    old: Any
    new: Any
    old_display: str
    new_display: str
    added: tuple[str, ...] = ()  # arrays: items only in ``new``
    removed: tuple[str, ...] = ()  # arrays: items only in ``old``


class Lookup(Protocol):
    def label_for(self, value: Any) -> str | None: ...

    def search(self, q: str) -> list[tuple[Any, str]]: ...


def query_input(field_name: str) -> str:
    return f"{field_name}__q"


def new_row_input(field_name: str, column: str) -> str:
    return f"{field_name}__new__{column}"


def row_input(field_name: str, index: int, column: str) -> str:
    return f"{field_name}__{index}__{column}"


def upload_input(field_name: str) -> str:
    return f"{field_name}__upload"
