"""View models for the form macros (``templates/macros/forms.html``).

Everything a template needs is computed here, typed, from the JSON Schema, the UI schema,
the data and the errors; the macros only lay it out. Input names follow the protocol of
:mod:`engine.forms` (``<field>__q``, ``<field>__new__<col>``, ``<field>__<i>__<col>``,
``<field>__upload`` and ``_action`` buttons).

``lookups`` maps a field name (or its ``x-lookup`` name) to an object with
``label_for(value) -> str | None`` and ``search(q) -> list[tuple[value, label]]``.
``search_url`` (every lookup) or ``search_urls`` (per field) is the URL htmx calls as the
user types: it receives ``<field>__q`` and ``campo=<field>`` as query parameters and answers
with the ``lookup_results`` macro (see :func:`build_lookup_view` and :func:`lookup_query`).
``attachments`` (id -> object with ``filename`` and ``size``, e.g. ``Attachment`` rows) makes
the stored files authoritative for names and sizes; refs not in it are not listed.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from engine.service import ACCEPTED_FILE_EXTENSIONS, ACCEPTED_FILE_TYPES, forms

ID_PREFIX = "f-"


@dataclass(frozen=True)
class OptionView:
    value: str
    label: str
    help: str | None = None
    selected: bool = False


@dataclass(frozen=True)
class ColumnView:
    name: str
    label: str
    input_name: str  # the new-row input: <field>__new__<col>
    input_id: str
    placeholder: str | None
    value: str  # text typed in the new-row input, kept after an error
    error: str | None
    required: bool


@dataclass(frozen=True)
class CellView:
    column: str
    input_name: str  # hidden input: <field>__<i>__<col>
    value: str
    display: str


@dataclass(frozen=True)
class RowView:
    index: int
    cells: list[CellView]
    error: str | None
    remove_action: str
    summary: str  # row text for the remove button's accessible name


@dataclass(frozen=True)
class FileView:
    id: Any
    name: str
    size: int | None
    size_text: str
    remove_action: str


@dataclass
class FieldView:
    name: str
    id: str
    label: str
    widget: str
    value: Any  # text for inputs, bool for a checkbox
    display: str
    error: str | None
    required: bool
    readonly: bool
    help: str | None
    placeholder: str | None
    input_type: str = "text"
    max_length: int | None = None
    textarea_rows: int = 4
    options: list[OptionView] = field(default_factory=list)
    # table
    columns: list[ColumnView] = field(default_factory=list)
    rows: list[RowView] = field(default_factory=list)
    new_row_values: dict[str, str] = field(default_factory=dict)
    add_label: str = "Adicionar"
    remove_label: str = "Remover"
    add_action: str = ""
    # files
    files: list[FileView] = field(default_factory=list)
    upload_name: str = ""
    upload_id: str = ""
    upload_error: str | None = None
    upload_action: str = ""
    accept: str | None = None
    accepted_types: str = ""  # the one list the upload's error names too (engine.attachments)
    # lookup
    lookup_label: str | None = None
    lookup_query: str = ""
    lookup_query_name: str = ""
    lookup_query_id: str = ""
    lookup_results: list[OptionView] = field(default_factory=list)
    lookup_searched: bool = False
    lookup_action: str = ""
    search_url: str | None = None
    # After an in-page action, where the page puts the focus when it comes back (the
    # template marks it autofocus): "results", "new" (the new-row input), "row" (the
    # row just added), "table", "files" or "upload" (the file input). "" elsewhere.
    focus: str = ""

    @property
    def help_id(self) -> str:
        return f"{self.id}-help"

    @property
    def error_id(self) -> str:
        return f"{self.id}-error"

    @property
    def described_by(self) -> str:
        ids = [self.help_id] if self.help else []
        return " ".join(ids + ([self.error_id] if self.error else []))

    @property
    def results_id(self) -> str:
        return f"{self.id}-results"


@dataclass(frozen=True)
class SummaryItem:
    href: str
    label: str
    message: str


@dataclass
class FormView:
    fields: list[FieldView]
    errors: dict[str, str]
    summary: list[SummaryItem]

    @property
    def multipart(self) -> bool:
        """True when a files field is shown: the form needs enctype=multipart/form-data."""
        return any(f.widget == "files" and not f.readonly for f in self.fields)

    def __iter__(self) -> Any:
        return iter(self.fields)


@dataclass(frozen=True)
class ReviewItem:
    name: str
    label: str
    display: str
    items: list[str]
    error: str | None


@dataclass(frozen=True)
class ReviewSection:
    id: str
    title: str
    items: list[ReviewItem]
    has_errors: bool


# ------------------------------------------------------------------ builders


def build_form_view(
    schema: Mapping[str, Any],
    ui: Mapping[str, Any],
    data: Mapping[str, Any],
    errors: Mapping[str, str] | None = None,
    fields: Sequence[str] | None = None,
    lookups: Mapping[str, forms.Lookup] | None = None,
    *,
    pending: Mapping[str, str] | None = None,
    queries: Mapping[str, str] | None = None,
    search_url: str | None = None,
    search_urls: Mapping[str, str] | None = None,
    attachments: Mapping[Any, Any] | None = None,
) -> FormView:
    """The view of ``fields`` (default: every field, in step or ``ui:order`` order).

    ``errors`` are :func:`engine.forms.validate` keys plus, from a post, the new-row and
    upload input names (``itens__new__numero``, ``arquivos__upload``); ``pending`` and
    ``queries`` come from :class:`engine.forms.Submission`.
    """
    errors = dict(errors or {})
    names = list(fields) if fields is not None else _default_fields(schema, ui)
    ctx = _Context(
        schema=schema,
        ui=ui,
        data=data,
        errors=errors,
        lookups=lookups or {},
        pending=pending or {},
        queries=queries or {},
        search_url=search_url,
        search_urls=search_urls or {},
        attachments=attachments,
    )
    views = [ctx.field(name) for name in names if name in schema.get("properties", {})]
    return FormView(fields=views, errors=errors, summary=_summary(views, errors))


def build_lookup_view(
    schema: Mapping[str, Any],
    ui: Mapping[str, Any],
    name: str,
    data: Mapping[str, Any],
    query: str,
    lookups: Mapping[str, forms.Lookup],
    search_url: str | None = None,
) -> FieldView:
    """One lookup field searched for ``query``: feed it to the ``lookup_results`` macro."""
    view = build_form_view(
        schema,
        ui,
        data,
        {},
        [name],
        lookups,
        queries={name: query},
        search_urls={name: search_url} if search_url else None,
    )
    return view.fields[0]


def lookup_query(args: Mapping[str, str], name: str) -> str:
    """The search text an htmx lookup request carries (``<field>__q``)."""
    return str(args.get(forms.query_input(name), "")).strip()


def build_review(
    schema: Mapping[str, Any],
    ui: Mapping[str, Any],
    data: Mapping[str, Any],
    lookups: Mapping[str, forms.Lookup] | None = None,
    errors: Mapping[str, str] | None = None,
) -> list[ReviewSection]:
    """Every non-review step with its fields' values, for the review step."""
    errors = errors or {}
    props = schema.get("properties", {})
    sections = []
    for step in forms.steps(ui, schema):
        if step.review:
            continue
        items = []
        for name in step.fields:
            prop = props.get(name, {})
            value = data.get(name)
            lookup = _lookup(lookups or {}, name, prop)
            by_name = {str(prop.get("x-lookup", "")): lookup} if lookup else lookups
            items.append(
                ReviewItem(
                    name=name,
                    label=forms.title_of(schema, name),
                    display=forms.display_value(prop, value, by_name),
                    items=forms.display_items(prop, value, by_name),
                    error=_field_error(errors, name),
                )
            )
        sections.append(ReviewSection(step.id, step.title, items, any(i.error for i in items)))
    return sections


def error_steps(form_steps: Sequence[forms.Step], errors: Collection[str]) -> list[str]:
    """Ids of the steps holding an error, for ``wizard_nav``."""
    return forms.steps_with_errors(form_steps, errors)


# ------------------------------------------------------------------ internals


def _default_fields(schema: Mapping[str, Any], ui: Mapping[str, Any]) -> list[str]:
    return forms.all_fields(forms.steps(ui, schema))


def _lookup(
    lookups: Mapping[str, forms.Lookup], name: str, prop: Mapping[str, Any]
) -> forms.Lookup | None:
    return lookups.get(name) or lookups.get(str(prop.get("x-lookup", "")))


def _field_error(errors: Mapping[str, str], name: str) -> str | None:
    """The field's own error, else the first error inside it (a table cell)."""
    if name in errors:
        return errors[name]
    nested = [msg for key, msg in errors.items() if key.startswith(f"{name}.")]
    return nested[0] if nested else None


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _summary(views: list[FieldView], errors: Mapping[str, str]) -> list[SummaryItem]:
    items = []
    for view in views:
        for key, message in errors.items():
            if key == view.name or key.startswith((f"{view.name}.", f"{view.name}__")):
                target = _summary_target(view, key)
                items.append(SummaryItem(f"#{target}", view.label, message))
    return items


def _summary_target(view: FieldView, key: str) -> str:
    if key.startswith(f"{view.name}__new__") and view.columns:
        return next((c.input_id for c in view.columns if c.input_name == key), view.id)
    if key == forms.upload_input(view.name):
        return view.upload_id
    if view.widget == "lookup":
        return view.lookup_query_id
    if view.widget == "radio" and view.options:
        return f"{view.id}-1"
    return view.id


@dataclass
class _Context:
    schema: Mapping[str, Any]
    ui: Mapping[str, Any]
    data: Mapping[str, Any]
    errors: Mapping[str, str]
    lookups: Mapping[str, forms.Lookup]
    pending: Mapping[str, str]
    queries: Mapping[str, str]
    search_url: str | None
    search_urls: Mapping[str, str]
    attachments: Mapping[Any, Any] | None

    def field(self, name: str) -> FieldView:
        prop = self.schema["properties"][name]
        field_ui = self.ui.get(name) or {}
        options = field_ui.get("ui:options") or {}
        value = self.data.get(name)
        readonly = forms.is_readonly(prop, field_ui)
        widget = forms.widget_of(self.schema, self.ui, name)
        lookup = _lookup(self.lookups, name, prop)
        view = FieldView(
            name=name,
            id=f"{ID_PREFIX}{name}",
            label=forms.title_of(self.schema, name),
            widget=widget,
            value=bool(value) if widget == "checkbox" else _text(value),
            display=forms.display_value(
                prop, value, {str(prop.get("x-lookup")): lookup} if lookup else None
            ),
            error=self.errors.get(name),
            required=name in self.schema.get("required", []),
            readonly=readonly,
            help=field_ui.get("ui:help") or prop.get("description"),
            placeholder=field_ui.get("ui:placeholder"),
            input_type={"email": "email", "tel": "tel", "date": "date"}.get(widget, "text"),
            max_length=prop.get("maxLength"),
            textarea_rows=int(options.get("rows", 4)),
        )
        fill = {
            "select": self._options,
            "radio": self._options,
            "table": self._table,
            "files": self._files,
            "lookup": self._lookup_field,
        }.get(widget)
        if fill and not (readonly and widget in ("table", "files")):
            fill(view, prop, field_ui, value, lookup)
        return view

    def _options(
        self,
        view: FieldView,
        prop: Mapping[str, Any],
        _ui: Mapping[str, Any],
        value: Any,
        _lookup: forms.Lookup | None,
    ) -> None:
        choices = forms.options_of(prop)
        if not choices and prop.get("type") == "boolean":
            choices = [(True, "Sim", None), (False, "Não", None)]
        view.options = [
            OptionView(_text(v), label, help, value is not None and _text(v) == _text(value))
            for v, label, help in choices
        ]

    def _table(
        self,
        view: FieldView,
        prop: Mapping[str, Any],
        field_ui: Mapping[str, Any],
        value: Any,
        _lookup: forms.Lookup | None,
    ) -> None:
        name = view.name
        item = prop.get("items", {})
        columns_ui = field_ui.get("items") or {}
        options = field_ui.get("ui:options") or {}
        view.add_label = str(options.get("addLabel", "Adicionar"))
        view.remove_label = str(options.get("removeLabel", "Remover"))
        view.add_action = f"add_row:{name}"
        for column, column_schema in item.get("properties", {}).items():
            input_name = forms.new_row_input(name, column)
            typed = self.pending.get(input_name, "")
            view.new_row_values[column] = typed
            view.columns.append(
                ColumnView(
                    name=column,
                    label=str(column_schema.get("title") or column),
                    input_name=input_name,
                    input_id=f"{ID_PREFIX}{input_name}",
                    placeholder=(columns_ui.get(column) or {}).get("ui:placeholder"),
                    value=typed,
                    error=self.errors.get(input_name),
                    required=column in item.get("required", []),
                )
            )
        rows = value if isinstance(value, list) else []
        for index, row in enumerate(rows):
            row = row if isinstance(row, dict) else {}
            cells = [
                CellView(
                    c.name,
                    forms.row_input(name, index, c.name),
                    _text(row.get(c.name)),
                    forms.display_value(item["properties"][c.name], row.get(c.name)),
                )
                for c in view.columns
            ]
            row_errors = [
                msg
                for key, msg in self.errors.items()
                if key == f"{name}.{index}" or key.startswith(f"{name}.{index}.")
            ]
            view.rows.append(
                RowView(
                    index=index,
                    cells=cells,
                    error=row_errors[0] if row_errors else None,
                    remove_action=f"remove_row:{name}:{index}",
                    summary=" / ".join(c.display for c in cells),
                )
            )

    def _files(
        self,
        view: FieldView,
        _prop: Mapping[str, Any],
        field_ui: Mapping[str, Any],
        value: Any,
        _lookup: forms.Lookup | None,
    ) -> None:
        refs = value if isinstance(value, list) else []
        for ref in refs:
            if not isinstance(ref, dict):
                continue
            name, size = str(ref.get("nome", "")), ref.get("tamanho")
            if self.attachments is not None:
                stored = self.attachments.get(ref.get("id"))
                if stored is None:
                    continue  # removed on the server: never offer a dangling ref
                name, size = str(stored.filename), stored.size
            view.files.append(
                FileView(
                    id=ref.get("id"),
                    name=name,
                    size=size if isinstance(size, int) else None,
                    size_text=forms.format_filesize(size) if isinstance(size, int) else "",
                    remove_action=f"remove_file:{ref.get('id')}",
                )
            )
        view.upload_name = forms.upload_input(view.name)
        view.upload_id = f"{ID_PREFIX}{view.upload_name}"
        view.upload_error = self.errors.get(view.upload_name)
        view.upload_action = f"upload:{view.name}"
        view.accept = (field_ui.get("ui:options") or {}).get("accept") or ",".join(
            ACCEPTED_FILE_EXTENSIONS
        )
        view.accepted_types = ACCEPTED_FILE_TYPES

    def _lookup_field(
        self,
        view: FieldView,
        _prop: Mapping[str, Any],
        _ui: Mapping[str, Any],
        value: Any,
        lookup: forms.Lookup | None,
    ) -> None:
        name = view.name
        view.lookup_query_name = forms.query_input(name)
        view.lookup_query_id = f"{ID_PREFIX}{view.lookup_query_name}"
        view.lookup_action = f"lookup:{name}"
        view.search_url = self.search_urls.get(name) or self.search_url
        if value not in (None, ""):
            label = lookup.label_for(value) if lookup else None
            view.lookup_label = label or f"Código {value}"
        query = self.queries.get(name, "").strip()
        view.lookup_query = query
        if query and lookup is not None:
            view.lookup_searched = True
            view.lookup_results = [
                OptionView(_text(v), label)
                for v, label in lookup.search(query)
                if _text(v) != _text(value)
            ]
