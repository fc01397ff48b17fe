"""The form builder's page protocol: rows read from a post, the row buttons, row views.

Rows are posted as plain inputs (it works without JavaScript): ``campos`` is the number of
rows and row ``i`` sends ``c<i>-titulo``, ``c<i>-nome``, ``c<i>-tipo``, ``c<i>-obrigatorio``,
``c<i>-opcoes``, ``c<i>-ajuda``, ``c<i>-etapa`` and the hidden ``c<i>-origem`` (the field's
name in the JSON the row came from). The clicked button is ``_action``: ``add``,
``remove:<i>``, ``up:<i>``, ``down:<i>``, ``preview``, ``save`` or ``to_json``. The JSON
the rows are written over rides along in the hidden ``schema_text`` / ``ui_text``.
The conversion itself is the engine's (``engine.designer.form_builder``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from engine.errors import ProcessDefinitionError
from engine.service import form_builder

Row = form_builder.Row
COLUMNS = ("titulo", "nome", "tipo", "obrigatorio", "opcoes", "ajuda", "etapa", "origem")


def read_rows(form: Mapping[str, str]) -> list[Row]:
    """The posted rows, at most MAX_ROWS (a larger count is cut, never trusted)."""
    raw = form.get("campos", "0")
    count = int(raw) if raw.isascii() and raw.isdigit() and len(raw) < 6 else 0
    rows = []
    for i in range(min(count, form_builder.MAX_ROWS)):
        get = lambda column, i=i: form.get(f"c{i}-{column}", "")  # noqa: E731
        rows.append(
            Row(
                title=get("titulo"),
                name=get("nome"),
                kind=get("tipo"),
                required=get("obrigatorio") == "sim",
                options=get("opcoes"),
                help=get("ajuda"),
                step=get("etapa"),
                origin=get("origem"),
            )
        )
    return rows


@dataclass(frozen=True)
class RowAction:
    kind: str  # add | remove | up | down | preview | save | to_json
    index: int | None = None


def read_action(raw: str | None, count: int) -> RowAction:
    """The clicked button; anything unexpected (or a stale index) reads as ``preview``."""
    kind, _, rest = (raw or "").partition(":")
    if kind in ("add", "preview", "save", "to_json") and not rest:
        return RowAction(kind)
    index = int(rest) if rest.isascii() and rest.isdigit() and len(rest) < 6 else None
    if kind in ("remove", "up", "down") and index is not None and index < count:
        return RowAction(kind, index)
    return RowAction("preview")


def apply_action(rows: list[Row], action: RowAction) -> tuple[list[Row], int | None]:
    """The rows after a row button, and the index of the row to focus (None: none): the
    new row, the moved row (its button again, see :func:`focus_on`), the row that took a
    removed row's place."""
    rows = list(rows)
    i = action.index
    if action.kind == "add" and len(rows) < form_builder.MAX_ROWS:
        # A new row joins the last row's step: the usual case is "one more field here".
        rows.append(Row(step=rows[-1].step if rows else ""))
        return rows, len(rows) - 1
    if i is None:
        return rows, None
    if action.kind == "remove":
        rows.pop(i)
        return rows, min(i, len(rows) - 1) if rows else None
    j = i - 1 if action.kind == "up" else i + 1
    if 0 <= j < len(rows):
        rows[i], rows[j] = rows[j], rows[i]
        return rows, j
    return rows, i


@dataclass(frozen=True)
class RowView:
    """One row as the template draws it: its inputs' ids and its messages."""

    index: int
    row: Row
    errors: dict[str, str] = field(default_factory=dict)
    json_only: str | None = None  # why its kind is edited only in the JSON editor
    focus: str = ""  # what gets the focus after a row button: "titulo", "up" or "down"

    def id(self, column: str) -> str:
        return f"c{self.index}-{column}"

    def error_id(self, column: str) -> str:
        return f"c{self.index}-{column}-erro"

    def described_by(self, column: str, *extra: str) -> str:
        ids = list(extra) + ([self.error_id(column)] if column in self.errors else [])
        return " ".join(ids)

    @property
    def label(self) -> str:
        return self.row.title.strip() or self.row.name.strip() or "sem nome"


def row_views(
    rows: Sequence[Row],
    errors: Mapping[int, Mapping[str, str]],
    json_only: Mapping[str, str],
    focus: int | None = None,
    focus_on: str = "",
) -> list[RowView]:
    return [
        RowView(
            index=i,
            row=row,
            errors=dict(errors.get(i, {})),
            json_only=json_only.get(row.origin) if row.kind == form_builder.JSON_ONLY else None,
            focus=focus_on if i == focus else "",
        )
        for i, row in enumerate(rows)
    ]


def json_only_of(rows: Sequence[Row], base_schema: str, base_ui: str) -> dict[str, str]:
    """Why each JSON-only row's kind cannot be edited here, read from the base JSON."""
    try:
        found = form_builder.to_rows(base_schema, base_ui).json_only
    except ProcessDefinitionError:
        found = {}
    return {r.origin: found.get(r.origin, "") for r in rows if r.kind == form_builder.JSON_ONLY}


def focus_on(action: RowAction) -> str:
    """Which input of the focused row gets the focus after ``action``."""
    return {"up": "up", "down": "down"}.get(action.kind, "titulo")
