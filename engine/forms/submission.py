"""Reading a posted wizard step: typed values, table rows, the clicked action."""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Collection, Mapping, Sequence
from typing import Any

from engine.catalogs import CatalogOption as CatalogOption  # re-exported for callers
from engine.forms.structure import _top_field, is_readonly, steps, widget_of
from engine.forms.types import ACTION_FIELD, Action, Submission, new_row_input, query_input
from engine.forms.validation import FORMAT_MESSAGES, NORMALIZERS, _plural, validate


def parse_action(
    raw: str | None,
    schema: Mapping[str, Any],
    ui: Mapping[str, Any],
    fields: Collection[str],
    step_ids: Collection[str] = (),
) -> Action:
    """The ``_action`` value as an :class:`Action`; anything unexpected reads as ``save``."""
    save = Action("save")
    if not raw:
        return save
    kind, _, rest = raw.partition(":")
    if kind in {"next", "back", "save", "submit"} and not rest:
        return Action(kind)
    if kind == "goto":
        return Action("goto", target=rest) if rest in step_ids or not step_ids else save
    if kind == "remove_file":
        return Action("remove_file", index=int(rest)) if rest.isdigit() else save
    if kind == "remove_row":
        name, _, index = rest.partition(":")
        ok = name in fields and index.isdigit() and widget_of(schema, ui, name) == "table"
        return Action("remove_row", target=name, index=int(index)) if ok else save
    expected = {"add_row": "table", "upload": "files", "lookup": "lookup"}.get(kind)
    if expected and rest in fields and widget_of(schema, ui, rest) == expected:
        return Action(kind, target=rest)
    return save


def parse_submission(
    schema: Mapping[str, Any],
    ui: Mapping[str, Any],
    fields: Collection[str],
    form: Mapping[str, list[str]],
    current: Mapping[str, Any],
) -> Submission:
    """Typed data of the step's ``fields`` read from ``form``, merged over ``current``."""
    props = schema.get("properties", {})
    posted = form.get(ACTION_FIELD)
    raw_action = posted[0] if posted else None
    step_ids = [s.id for s in steps(ui, schema)]
    action = parse_action(raw_action, schema, ui, fields, step_ids)
    result = Submission(data=copy.deepcopy(dict(current)), action=action)
    for name in fields:
        prop = props.get(name)
        if prop is None or is_readonly(prop, ui.get(name) or {}):
            continue  # readOnly values are never taken from the post
        widget = widget_of(schema, ui, name)
        if widget == "files":
            _read_files(result, name)
        elif widget == "table":
            _read_table(result, name, prop, form)
        else:
            if widget == "lookup":
                query = _last(form, query_input(name)).strip()
                if query:
                    result.queries[name] = query
            _store(result.data, name, _read_scalar(prop, widget, form.get(name, [])))
    return result


def _last(form: Mapping[str, list[str]], key: str) -> str:
    values = form.get(key) or [""]
    return values[-1]


def _store(data: dict[str, Any], name: str, value: Any) -> None:
    if value is None:
        data.pop(name, None)
    else:
        data[name] = value


def _clean(text: str) -> str:
    # Browsers post textarea line breaks as CRLF; maxLength must count them once.
    return text.replace("\r\n", "\n").replace("\r", "\n").strip()


def _read_scalar(prop: Mapping[str, Any], widget: str, values: list[str]) -> Any:
    """Typed value, or None to remove the field. Unconvertible text is kept as typed so
    validation reports it and the user sees what was sent."""
    kind = prop.get("type")
    if kind == "boolean" and widget == "checkbox":
        return bool(values) and values[-1].lower() in ("on", "true", "1", "sim")
    text = _clean(values[-1]) if values else ""
    if text == "":
        return None
    return _convert(prop, text)


def _convert(prop: Mapping[str, Any], text: str) -> Any:
    kind = prop.get("type")
    if kind == "integer" and re.fullmatch(r"-?\d{1,18}", text):
        return int(text)
    if kind == "number":
        try:
            return float(text.replace(",", "."))
        except ValueError:
            return text
    if kind == "boolean":
        return {"true": True, "false": False}.get(text.lower(), text)
    normalize = NORMALIZERS.get(str(prop.get("format")))
    if kind == "string" and normalize:
        return normalize(text) or text
    return text


def _read_files(result: Submission, name: str) -> None:
    # Refs come only from server-side data: a post must not point at someone else's file.
    if result.action.kind != "remove_file":
        return
    refs = result.data.get(name) or []
    kept = [r for r in refs if not (isinstance(r, dict) and r.get("id") == result.action.index)]
    _store(result.data, name, kept or None)


def _read_table(
    result: Submission, name: str, prop: Mapping[str, Any], form: Mapping[str, list[str]]
) -> None:
    item = prop.get("items", {})
    columns = list(item.get("properties", {}))
    rows = _posted_rows(name, item, columns, form)
    action = result.action
    if action.kind == "remove_row" and action.target == name and action.index is not None:
        if 0 <= action.index < len(rows):
            rows.pop(action.index)
    typed = {c: _clean(_last(form, new_row_input(name, c))) for c in columns}
    if (action.kind == "add_row" and action.target == name) or any(typed.values()):
        row, errors = check_new_row(name, prop, typed, rows)
        if errors:
            result.errors.update(errors)
            result.pending.update({new_row_input(name, c): v for c, v in typed.items() if v})
        else:
            rows.append(row)
    _store(result.data, name, rows or None)


def _posted_rows(
    name: str, item: Mapping[str, Any], columns: list[str], form: Mapping[str, list[str]]
) -> list[dict[str, Any]]:
    pattern = re.compile(rf"^{re.escape(name)}__(\d{{1,4}})__([A-Za-z][A-Za-z0-9_]*)$")
    by_index: dict[int, dict[str, Any]] = {}
    for key, values in form.items():
        match = pattern.match(key)
        if not match or match.group(2) not in columns:
            continue
        text = _clean(values[-1]) if values else ""
        if text:
            column_schema = item["properties"][match.group(2)]
            by_index.setdefault(int(match.group(1)), {})[match.group(2)] = _convert(
                column_schema, text
            )
    return [by_index[i] for i in sorted(by_index) if by_index[i]]


def check_new_row(
    name: str, prop: Mapping[str, Any], typed: Mapping[str, str], rows: Sequence[Mapping[str, Any]]
) -> tuple[dict[str, Any], dict[str, str]]:
    """Validate a table's new row: ``(normalised row, errors keyed by new-row input name)``."""
    item = prop.get("items", {})
    columns = list(item.get("properties", {}))
    row: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for column in columns:
        column_schema = item["properties"][column]
        text = typed.get(column, "")
        if not text:
            if column in item.get("required", []):
                errors[new_row_input(name, column)] = "Campo obrigatório."
            continue
        fmt = column_schema.get("format")
        normalize = NORMALIZERS.get(str(fmt))
        if normalize and normalize(text) is None:
            errors[new_row_input(name, column)] = FORMAT_MESSAGES[str(fmt)]
            continue
        row[column] = _convert(column_schema, text)
    if errors:
        return row, errors
    for key, message in validate(item, row).items():
        errors.setdefault(new_row_input(name, _top_field(key) or columns[0]), message)
    first = new_row_input(name, columns[0]) if columns else name
    if not errors and any(_same(row, existing) for existing in rows):
        is_protocol = columns and item["properties"][columns[0]].get("format") == "protocolo"
        errors[first] = (
            "Este protocolo já está na tabela." if is_protocol else "Esta linha já está na tabela."
        )
    limit = prop.get("maxItems")
    if not errors and limit is not None and len(rows) >= limit:
        errors[first] = f"A tabela aceita no máximo {_plural(limit, 'item', 'itens')}."
    return row, errors


def _same(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    return json.dumps(a, sort_keys=True) == json.dumps(dict(b), sort_keys=True)
