"""The form builder: a form's fields as rows, to and from its JSON Schema and UI schema.

The designer edits a form as a list of rows (label, name, kind, required, options, help,
step); :func:`to_rows` reads them from the JSON the form engine runs and :func:`to_json`
writes them back into that same JSON. What the rows cannot say is never dropped: every
row remembers the field it came from (``origin``) and :func:`to_json` starts from that
field's schema and UI entries, overwriting only what the builder manages for the row's
kind. Keys outside the fields (``$schema``, ``additionalProperties``, ``allOf``, review
steps, a step's extra keys) are copied from the base as they are. A field whose kind the
builder cannot represent (a catalog, a search, a table, a hidden field…) keeps its kind
untouched and is listed by :attr:`Rows.json_only`: its label, name, help, required and
step are still editable here; the rest only in the JSON editor.

Pure functions, no database: the web layer reads rows from a post and calls these.
"""

from __future__ import annotations

import copy
import json
import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from engine import limits
from engine.errors import ProcessDefinitionError
from engine.forms.structure import field_order, steps
from engine.forms.types import FIELD_NAME, implied_object

MAX_ROWS = 200  # bounded work: a form longer than this is edited as JSON
MAX_OPTIONS = 500
MAX_TEXT = 5_000  # a label, a help text or a step title
MAX_OPTIONS_TEXT = 50_000

# Kinds of field the builder offers, as (value, label) in the order the select shows them.
# Only what the form renderer (web/formview.py, templates/macros/forms.html) draws: a date
# is the browser's date field; it has no multiple-choice widget, so that is not offered.
KINDS: tuple[tuple[str, str], ...] = (
    ("texto", "Texto curto"),
    ("texto_longo", "Texto longo"),
    ("numero", "Número"),
    ("inteiro", "Número inteiro"),
    ("email", "E-mail"),
    ("telefone", "Telefone"),
    ("cpf", "CPF"),
    ("protocolo", "Protocolo"),
    ("data", "Data"),
    ("lista", "Escolha em lista"),
    ("opcoes", "Escolha em botões de opção"),
    ("sim_nao", "Sim/não (caixa de marcação)"),
    ("arquivos", "Arquivos anexos"),
)
KIND_LABELS = dict(KINDS)
JSON_ONLY = "json"  # the kind of a row the builder cannot represent
CHOICE_KINDS = frozenset({"lista", "opcoes"})
_FORMATS = {
    "email": "email",
    "telefone": "telefone",
    "cpf": "cpf",
    "protocolo": "protocolo",
    "data": "date",
}
_FORMAT_WIDGETS = {"email": "email", "telefone": "tel", "data": "date"}
# Schema and UI keys a kind writes; changing a row's kind removes the old kind's keys.
_MANAGED_SCHEMA = ("type", "format", "oneOf", "enum", "items", "x-attachments")
_MANAGED_UI = ("ui:widget",)
_ATTACHMENT_ITEMS: dict[str, Any] = {
    "type": "object",
    "properties": {
        "id": {"type": "integer"},
        "nome": {"type": "string"},
        "tamanho": {"type": "integer"},
    },
    "required": ["id", "nome"],
}


@dataclass(frozen=True)
class Row:
    """One field as the builder shows it. ``origin`` is the name of the field in the base
    JSON the row was read from ("" for a new row): renaming keeps what the row carried."""

    title: str = ""
    name: str = ""
    kind: str = "texto"
    required: bool = False
    options: str = ""  # one per line: "valor | rótulo | ajuda", or "rótulo"
    help: str = ""
    step: str = ""  # the step's title; "" when the form has no steps
    origin: str = ""


@dataclass
class Rows:
    """A form as rows, with what the builder cannot represent."""

    title: str
    rows: list[Row]
    # Names of the fields whose kind is edited only in the JSON editor, with why.
    json_only: dict[str, str] = field(default_factory=dict)
    # Fields of the JSON that appear in no step (never shown): kept, listed for the designer.
    hidden: list[str] = field(default_factory=list)


@dataclass
class Built:
    """The JSON texts written from rows, or the messages per row (``errors[i]``)."""

    schema_text: str = ""
    ui_text: str = ""
    errors: dict[int, dict[str, str]] = field(default_factory=dict)
    form_error: str | None = None
    # Written, but worth a look: a field renamed or removed that the JSON still names.
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors and self.form_error is None


# ------------------------------------------------------------------ JSON → rows


def parse_texts(schema_text: str, ui_text: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The two JSON objects, or ProcessDefinitionError (pt-BR) when one cannot be read."""
    result = []
    for label, text in (("esquema", schema_text), ("UI schema", ui_text or "{}")):
        try:
            value = limits.loads(text)
        except (json.JSONDecodeError, limits.JsonRejected) as exc:
            raise ProcessDefinitionError(
                f"O {label} não é um JSON válido: corrija-o no editor JSON."
            ) from exc
        if not isinstance(value, dict):
            raise ProcessDefinitionError(f"O {label} deve ser um objeto JSON.")
        result.append(value)
    schema = implied_object(result[0])
    if not isinstance(schema.get("properties", {}), dict):
        raise ProcessDefinitionError("As properties do esquema devem ser um objeto JSON.")
    return schema, result[1]


def to_rows(schema_text: str, ui_text: str) -> Rows:
    """The builder's rows of a form; ProcessDefinitionError when the JSON cannot be read."""
    schema, ui = parse_texts(schema_text, ui_text)
    props: dict[str, Any] = schema.get("properties") or {}
    if len(props) > MAX_ROWS:
        raise ProcessDefinitionError(
            f"O formulário tem mais de {MAX_ROWS} campos: edite-o no editor JSON."
        )
    required = set(_names(schema.get("required")))
    step_of: dict[str, str] = {}
    if _declared_steps(ui) is not None:
        for step in steps(ui, schema):
            for name in step.fields if not step.review else ():
                if name in props and name not in step_of:
                    step_of[name] = step.title
        ordered = list(step_of)
    else:
        ordered = [n for n in field_order(ui, schema) if n in props]
    rows: list[Row] = []
    json_only: dict[str, str] = {}
    for name in ordered:
        prop = props[name] if isinstance(props[name], dict) else {}
        declared = ui.get(name)
        field_ui: dict[str, Any] = declared if isinstance(declared, dict) else {}
        kind, why = kind_of(prop, field_ui)
        if kind == JSON_ONLY:
            json_only[name] = why
        help_text = field_ui.get("ui:help") if "ui:help" in field_ui else prop.get("description")
        rows.append(
            Row(
                title=_text(prop.get("title")),
                name=name,
                kind=kind,
                required=name in required,
                options=options_text(prop) if kind in CHOICE_KINDS else "",
                help=_text(help_text),
                step=step_of.get(name, ""),
                origin=name,
            )
        )
    hidden = hidden_fields(schema, ui)
    return Rows(title=_text(schema.get("title")), rows=rows, json_only=json_only, hidden=hidden)


def kind_of(prop: Mapping[str, Any], field_ui: Mapping[str, Any]) -> tuple[str, str]:
    """(kind, "") of a field the builder represents, else (JSON_ONLY, why in pt-BR)."""
    widget = field_ui.get("ui:widget")
    kind = prop.get("type")
    fmt = prop.get("format")
    if prop.get("x-attachments"):
        return ("arquivos", "") if widget in (None, "files") else (JSON_ONLY, "widget próprio")
    for key, why in (
        ("x-catalog", "opções de um catálogo"),
        ("x-lookup", "busca (x-lookup)"),
    ):
        if key in prop:
            return JSON_ONLY, why
    if widget in ("hidden", "lookup", "table", "files"):
        return JSON_ONLY, f"widget {widget}"
    if "oneOf" in prop or "enum" in prop:
        if kind == "string" and _representable_options(prop) and widget in (None, "select"):
            return "lista", ""
        if kind == "string" and _representable_options(prop) and widget == "radio":
            return "opcoes", ""
        return JSON_ONLY, "opções que o construtor não representa"
    if kind == "boolean":
        return ("sim_nao", "") if widget in (None, "checkbox") else (JSON_ONLY, "sim/não em botões")
    if kind in ("number", "integer"):
        ok = widget in (None, "text") and fmt is None
        return ("numero" if kind == "number" else "inteiro", "") if ok else (JSON_ONLY, "formato")
    if kind != "string":
        return JSON_ONLY, "tipo " + (str(kind) if isinstance(kind, str) else "composto")
    if fmt is None:
        if widget == "textarea":
            return "texto_longo", ""
        return ("texto", "") if widget in (None, "text") else (JSON_ONLY, f"widget {widget}")
    for name, value in _FORMATS.items():
        if fmt == value and widget in (None, "text", _FORMAT_WIDGETS.get(name)):
            return name, ""
    return JSON_ONLY, f"formato {fmt}"


def _representable_options(prop: Mapping[str, Any]) -> bool:
    """True when the options survive the builder's lines unchanged."""
    if "oneOf" in prop and "enum" not in prop:
        entries = prop["oneOf"]
        texts = (
            [
                (o.get("const"), o.get("title", o.get("const")), o.get("description", ""))
                for o in entries
                if isinstance(o, dict) and set(o) <= {"const", "title", "description"}
            ]
            if isinstance(entries, list)
            else []
        )
        ok = len(texts) == len(entries) and all(
            all(isinstance(t, str) for t in entry)
            and entry[0]
            and entry[1]
            and _line_safe(str(entry[0]), str(entry[1]), str(entry[2]))
            for entry in texts
        )
        if not ok:
            return False
        values = [e[0] for e in texts]
    elif "enum" in prop and "oneOf" not in prop:
        values = prop["enum"] if isinstance(prop["enum"], list) else []
        if not all(isinstance(v, str) and v and _line_safe(v) for v in values):
            return False
    else:
        return False
    return bool(values) and len(set(values)) == len(values)


def _line_safe(*texts: str) -> bool:
    # An option is a line split at "|": a value with one of these could not come back.
    return all("|" not in t and "\n" not in t and "\r" not in t and t == t.strip() for t in texts)


def options_text(prop: Mapping[str, Any]) -> str:
    """A choice's options as the builder's lines (see :func:`parse_options`)."""
    lines = []
    if "oneOf" in prop:
        for entry in prop["oneOf"]:
            value, label = entry["const"], entry.get("title", entry["const"])
            help_text = entry.get("description")
            if help_text is not None:
                lines.append(f"{value} | {label} | {help_text}")
            elif "title" in entry and option_value(label) == value:
                lines.append(label)
            else:
                lines.append(f"{value} | {label}")
    else:
        lines = [f"{v} | {v}" if option_value(v) != v else v for v in prop["enum"]]
    return "\n".join(lines)


def option_value(label: str) -> str:
    """The value written for an option given only by its label: no accents, lower case,
    words joined by _ ("Pedir complemento" → "pedir_complemento")."""
    ascii_text = unicodedata.normalize("NFKD", label).encode("ascii", "ignore").decode("ascii")
    return re.sub(r"[^a-z0-9]+", "_", ascii_text.lower()).strip("_")


def parse_options(text: str) -> tuple[list[dict[str, str]], str | None]:
    """``[{const, title, description?}]`` of the builder's lines, or a pt-BR message."""
    entries: list[dict[str, str]] = []
    seen: set[str] = set()
    lines = [line.strip() for line in text.replace("\r\n", "\n").split("\n")]
    lines = [line for line in lines if line]
    if len(lines) > MAX_OPTIONS:
        return [], f"Use no máximo {MAX_OPTIONS} opções."
    for number, line in enumerate(lines, start=1):
        parts = [p.strip() for p in line.split("|")]
        if len(parts) > 3:
            return [], f"Linha {number}: use no máximo duas barras (valor | rótulo | ajuda)."
        if len(parts) == 1:
            value, label, help_text = option_value(parts[0]), parts[0], None
            if not value:
                return [], (
                    f"Linha {number}: o rótulo “{parts[0]}” não gera um valor; escreva "
                    "valor | rótulo."
                )
        else:
            value, label = parts[0], parts[1]
            help_text = parts[2] if len(parts) == 3 else None
            if not value or not label:
                return [], f"Linha {number}: informe o valor e o rótulo (valor | rótulo)."
        if value in seen:
            return [], f"A opção de valor “{value}” aparece mais de uma vez."
        seen.add(value)
        entry = {"const": value, "title": label}
        if help_text:
            entry["description"] = help_text
        entries.append(entry)
    if not entries:
        return [], "Informe ao menos uma opção, uma por linha."
    return entries, None


# ------------------------------------------------------------------ rows → JSON


def check_rows(rows: Sequence[Row]) -> dict[int, dict[str, str]]:
    """pt-BR messages per row index and column (``nome``, ``opcoes``, ``tipo``, ``etapa``)."""
    errors: dict[int, dict[str, str]] = {}
    first: dict[str, int] = {}
    uses_steps = any(r.step.strip() for r in rows)
    for i, row in enumerate(rows):
        found: dict[str, str] = {}
        name = row.name.strip()
        if not name:
            found["nome"] = "Informe o nome do campo."
        elif not FIELD_NAME.match(name) or "__" in name:
            found["nome"] = (
                "Nome inválido: use letras sem acento, dígitos e _, começando por uma letra e "
                "sem __ (ex.: nome_completo)."
            )
        elif name in first:
            found["nome"] = f"O nome “{name}” já é o do campo {first[name] + 1}: use outro."
        else:
            first[name] = i
        if row.kind not in KIND_LABELS and row.kind != JSON_ONLY:
            found["tipo"] = "Escolha um tipo da lista."
        elif row.kind == JSON_ONLY and not row.origin:
            found["tipo"] = "Escolha um tipo da lista."
        if row.kind in CHOICE_KINDS:
            _entries, message = parse_options(row.options)
            if message:
                found["opcoes"] = message
        if uses_steps and not row.step.strip():
            found["etapa"] = "Informe a etapa: os outros campos estão em etapas."
        for column, value, limit in (
            ("titulo", row.title, MAX_TEXT),
            ("ajuda", row.help, MAX_TEXT),
            ("etapa", row.step, 200),
            ("opcoes", row.options, MAX_OPTIONS_TEXT),
        ):
            if len(value) > limit and column not in found:
                found[column] = f"Use no máximo {limit} caracteres."
        if found:
            errors[i] = found
    return errors


def to_json(title: str, rows: Sequence[Row], base_schema_text: str, base_ui_text: str) -> Built:
    """The schema and UI texts of ``rows`` over the base JSON (kept where rows say nothing)."""
    if len(rows) > MAX_ROWS:
        return Built(form_error=f"Use no máximo {MAX_ROWS} campos; edite o resto no JSON.")
    if len(title) > MAX_TEXT:
        return Built(form_error=f"O título do formulário passa de {MAX_TEXT} caracteres.")
    errors = check_rows(rows)
    if errors:
        return Built(errors=errors)
    try:
        base_schema, base_ui = parse_texts(base_schema_text, base_ui_text)
    except ProcessDefinitionError:
        base_schema, base_ui = {"type": "object"}, {}
    cleaned = [_clean(r) for r in rows]
    schema, ui = _write(title, cleaned, base_schema, base_ui)
    return Built(
        schema_text=json.dumps(schema, ensure_ascii=False, indent=2),
        ui_text=json.dumps(ui, ensure_ascii=False, indent=2),
        warnings=_dangling(cleaned, base_schema, schema),
    )


def _dangling(
    rows: Sequence[Row], base_schema: Mapping[str, Any], schema: Mapping[str, Any]
) -> list[str]:
    """Fields renamed or removed that the rest of the schema (allOf, if/then,
    dependentRequired…) still names: the builder does not rewrite those rules."""
    gone = [n for n in base_schema.get("properties") or {} if n not in schema["properties"]]
    rules = {k: v for k, v in schema.items() if k not in ("properties", "required", "title")}
    names = _strings(rules)
    renamed = {r.origin: r.name for r in rows if r.origin and r.origin != r.name}
    found = []
    for name in gone:
        if name in names:
            now = f"agora “{renamed[name]}”" if name in renamed else "removido"
            found.append(
                f"O campo “{name}” ({now}) ainda é citado nas regras do esquema (allOf, "
                "if/then…): confira-as no editor JSON."
            )
    return found


def _strings(value: Any) -> set[str]:
    """Every key and string inside a JSON value."""
    found: set[str] = set()
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            found.update(k for k in item if isinstance(k, str))
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, str):
            found.add(item)
    return found


def _clean(row: Row) -> Row:
    return replace(row, title=row.title.strip(), name=row.name.strip(), step=row.step.strip())


def _write(
    title: str, rows: Sequence[Row], base_schema: dict[str, Any], base_ui: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, Any]]:
    base_props = base_schema.get("properties") or {}
    names = {r.name for r in rows}
    # Fields in no step of the base are not rows (the builder never shows them): kept.
    kept = [n for n in hidden_fields(base_schema, base_ui) if n not in names]
    schema: dict[str, Any] = copy.deepcopy(base_schema)  # its keys, in its order
    if not base_props and "$schema" not in schema:
        schema = {"$schema": "https://json-schema.org/draft/2020-12/schema", **schema}
    _set(schema, "title", title.strip())
    schema["type"] = "object"
    props: dict[str, Any] = {}
    ui: dict[str, Any] = {}
    for key, value in base_ui.items():  # form-wide keys and entries of no field, as they are
        if key.startswith("ui:") or (key not in base_props and key not in names) or key in kept:
            ui[key] = copy.deepcopy(value)
    for row in rows:
        base_prop = base_props.get(row.origin) if row.origin else None
        base_field_ui = base_ui.get(row.origin) if row.origin else None
        prop, field_ui = _field(
            row,
            copy.deepcopy(base_prop) if isinstance(base_prop, dict) else {},
            copy.deepcopy(base_field_ui) if isinstance(base_field_ui, dict) else {},
        )
        if row.kind == JSON_ONLY and base_prop is not None and not isinstance(base_prop, dict):
            prop = copy.deepcopy(base_prop)  # a boolean schema (true/false): as it was
        props[row.name] = prop
        if field_ui:
            ui[row.name] = field_ui
    for name in kept:
        props[name] = copy.deepcopy(base_props[name])
    schema["properties"] = props
    renamed = {r.origin: r.name for r in rows if r.origin}
    wanted = {r.name for r in rows if r.required}
    base_required = _names(base_schema.get("required"))
    required = [renamed[n] for n in base_required if renamed.get(n) in wanted]
    required += [n for n in base_required if n in kept]
    required += [r.name for r in rows if r.required and r.name not in required]
    if required:
        schema["required"] = required
    else:
        schema.pop("required", None)
    _write_layout(ui, rows, base_ui)
    return schema, ui


def hidden_fields(schema: Mapping[str, Any], ui: Mapping[str, Any]) -> list[str]:
    """Fields of the schema in no step (only when the UI declares steps)."""
    props = schema.get("properties") or {}
    if _declared_steps(ui) is None or not isinstance(props, dict):
        return []
    shown = {n for s in steps(ui, schema) if not s.review for n in s.fields}
    return [n for n in props if n not in shown]


def _field(
    row: Row, prop: dict[str, Any], field_ui: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, Any]]:
    base_kind = kind_of(prop, field_ui)[0] if prop else None
    if row.kind != JSON_ONLY and row.kind != base_kind:
        for key in _MANAGED_SCHEMA:
            prop.pop(key, None)
        for key in _MANAGED_UI:
            field_ui.pop(key, None)
        _apply_kind(row.kind, prop, field_ui)
    if row.kind in CHOICE_KINDS:
        entries, _message = parse_options(row.options)
        plain = all(e["const"] == e["title"] and len(e) == 2 for e in entries)
        use_enum = "enum" in prop and plain
        prop.pop("oneOf", None)
        prop.pop("enum", None)
        if use_enum:
            prop["enum"] = [e["const"] for e in entries]
        else:
            prop["oneOf"] = entries
    _set(prop, "title", row.title)
    help_text = row.help.strip()
    if "ui:help" in field_ui or ("description" not in prop and not help_text):
        _set(field_ui, "ui:help", help_text)
    else:
        _set(prop, "description", help_text)
    return prop, field_ui


# Keys of a kind the row left behind: kept, they would make the schema lie or fail to load.
_STRING_ONLY = ("minLength", "maxLength", "pattern")
_NUMBER_ONLY = ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf")
_ARRAY_ONLY = ("minItems", "maxItems", "uniqueItems")


def _apply_kind(kind: str, prop: dict[str, Any], field_ui: dict[str, Any]) -> None:
    if kind == "numero":
        prop["type"] = "number"
    elif kind == "inteiro":
        prop["type"] = "integer"
    elif kind == "sim_nao":
        prop["type"] = "boolean"
    elif kind == "arquivos":
        prop["type"] = "array"
        prop["items"] = copy.deepcopy(_ATTACHMENT_ITEMS)
        prop["x-attachments"] = True
        field_ui["ui:widget"] = "files"
    else:
        prop["type"] = "string"
        if kind in _FORMATS:
            prop["format"] = _FORMATS[kind]
        widget = {
            "texto_longo": "textarea",
            "opcoes": "radio",
            "lista": "select",
            "data": "date",
        }.get(kind)
        if widget:
            field_ui["ui:widget"] = widget
    dropped = {
        "string": _NUMBER_ONLY + _ARRAY_ONLY,
        "number": _STRING_ONLY + _ARRAY_ONLY,
        "integer": _STRING_ONLY + _ARRAY_ONLY,
        "boolean": _STRING_ONLY + _NUMBER_ONLY + _ARRAY_ONLY,
        "array": _STRING_ONLY + _NUMBER_ONLY,
    }[prop["type"]]
    for key in dropped:
        prop.pop(key, None)
    if kind != "sim_nao":
        prop.pop("const", None)
    options = field_ui.get("ui:options")
    if kind != "texto_longo" and isinstance(options, dict):
        options.pop("rows", None)
        if not options:
            field_ui.pop("ui:options")


def _write_layout(ui: dict[str, Any], rows: Sequence[Row], base_ui: Mapping[str, Any]) -> None:
    """``ui:steps`` when rows name steps (ids and extra keys kept by title), else
    ``ui:order`` when the base had an order or steps."""
    ui.pop("ui:steps", None)
    ui.pop("ui:order", None)
    base_steps = [s for s in _declared_steps(base_ui) or [] if isinstance(s, dict)]
    if not any(r.step for r in rows):
        if "ui:order" in base_ui or base_steps:
            ui["ui:order"] = [r.name for r in rows]
        return
    by_title = {str(s.get("title") or s.get("id")): s for s in base_steps if not s.get("review")}
    grouped: dict[str, list[str]] = {}
    for row in rows:
        grouped.setdefault(row.step, []).append(row.name)
    used: set[str] = set()
    written: list[dict[str, Any]] = []
    for step_title, fields in grouped.items():
        base = by_title.get(step_title)
        if base is not None and str(base.get("id")) not in used:
            step = copy.deepcopy(base)
            if "title" in step or step_title != step.get("id"):
                step["title"] = step_title
            step["fields"] = fields
        else:
            step = {"id": _step_id(step_title, used), "title": step_title, "fields": fields}
        used.add(str(step["id"]))
        written.append(step)
    # Review steps have no fields: kept, after the others.
    for review in (copy.deepcopy(s) for s in base_steps if s.get("review")):
        if str(review.get("id")) in used:
            review["id"] = _step_id(str(review.get("id")), used)
        used.add(str(review["id"]))
        written.append(review)
    ui["ui:steps"] = written


def _step_id(title: str, used: set[str]) -> str:
    stem = option_value(title) or "etapa"
    if not stem[0].isalpha():
        stem = f"etapa_{stem}"
    stem = re.sub(r"_+", "_", stem)[:60]
    candidate, n = stem, 2
    while candidate in used:
        candidate, n = f"{stem}_{n}", n + 1
    return candidate


def _declared_steps(ui: Mapping[str, Any]) -> list[Any] | None:
    declared = ui.get("ui:steps")
    return declared if isinstance(declared, list) and declared else None


def _names(value: Any) -> list[str]:
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []


def _set(target: dict[str, Any], key: str, value: str) -> None:
    if value:
        target[key] = value
    else:
        target.pop(key, None)


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ("" if value is None else str(value))
