"""Task forms: JSON Schema + UI schema, loaded, validated and read from posts.

A form is a JSON Schema (Draft 2020-12) plus a react-jsonschema-form style UI schema,
rendered on the server (``web/formview.py``) and validated here with ``jsonschema``.
Schema extensions: ``x-catalog`` (options from an editable catalog, see
:func:`resolve_catalogs`), ``x-lookup`` (integer id chosen by searching), ``x-prefill``
(filled by the caller; ignored here), ``x-attachments`` (list of ``{id, nome, tamanho}``
refs to uploaded files), ``readOnly``; formats ``email``, ``telefone``, ``protocolo``, ``cpf``.

Posted form protocol (what :func:`parse_submission` reads)
-----------------------------------------------------------
Input names, for a field ``f``:

- ``f``                  the value (text, select, radio, checkbox, lookup's chosen id);
- ``f__q``               a lookup's search text;
- ``f__new__<col>``      a table's "new row" inputs;
- ``f__<i>__<col>``      a table's existing rows (hidden inputs; ``i`` is the 0-based row);
- ``f__upload``          a files field's ``<input type=file multiple>`` (read by the web layer).

Field names match ``^[a-z][a-z0-9_]*$`` without ``__``, so these names never collide.

The clicked submit button is ``name="_action"``; its value is one of:

=========================  ==========================================================
``next`` / ``back``        save the step and move to the next / previous step
``save``                   save the step, stay on it
``submit``                 finish the task (the whole form is validated)
``goto:<step_id>``         save the step and open another one (wizard nav, "Alterar")
``add_row:<field>``        validate the table's new row and append it (normalised)
``remove_row:<field>:<i>`` drop row ``i`` of the table
``remove_file:<id>``       drop attachment ``id`` from the step's files field
``upload:<field>``         store the files chosen in ``<field>__upload``, stay
``lookup:<field>``         search ``<field>__q`` and show the matches, stay
=========================  ==========================================================

A missing or malformed ``_action`` (implicit submission, tampering) reads as ``save``: it
never moves the wizard. Uploads should be stored on *every* action, so files chosen before
"Avançar" are not lost. A non-empty new table row is also added on every action; when it
is invalid, :attr:`Submission.errors` holds the message and :attr:`Submission.pending` the
typed text, and the caller should re-render the step instead of moving on.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from jsonschema import Draft202012Validator, FormatChecker
from jsonschema.exceptions import SchemaError, ValidationError

from engine import validators
from engine.catalogs import CatalogOption as CatalogOption  # re-exported for callers
from engine.errors import ProcessDefinitionError

FIELD_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
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
    }
)
NOT_INFORMED = "Não informado"

# ---------------------------------------------------------------- data types


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


# ------------------------------------------------------------- input names


def query_input(field_name: str) -> str:
    return f"{field_name}__q"


def new_row_input(field_name: str, column: str) -> str:
    return f"{field_name}__new__{column}"


def row_input(field_name: str, index: int, column: str) -> str:
    return f"{field_name}__{index}__{column}"


def upload_input(field_name: str) -> str:
    return f"{field_name}__upload"


# ------------------------------------------------------------------ loading


def load_form(forms_dir: Path | str, schema_filename: str, ui_filename: str) -> FormDefinition:
    base = Path(forms_dir)
    texts = []
    for filename in (schema_filename, ui_filename):
        path = base / filename
        if path.resolve().parent != base.resolve() or not path.is_file():
            raise ProcessDefinitionError(f"Formulário {filename}: arquivo não encontrado.")
        texts.append((filename, path.read_text(encoding="utf-8")))
    schema = _parse_json(*texts[0])
    ui = _parse_json(*texts[1])
    return _definition(schema_filename, schema, ui, ui_filename)


def load_form_from_texts(schema_text: str, ui_text: str, name: str) -> FormDefinition:
    schema = _parse_json(name, schema_text)
    ui = _parse_json(f"{name} (UI)", ui_text)
    return _definition(name, schema, ui, f"{name} (UI)")


def _parse_json(filename: str, text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ProcessDefinitionError(
            f"Formulário {filename}: JSON inválido na linha {exc.lineno}, coluna {exc.colno}."
        ) from exc
    if not isinstance(value, dict):
        raise ProcessDefinitionError(f"Formulário {filename}: o conteúdo deve ser um objeto JSON.")
    return value


def _definition(
    name: str, schema: dict[str, Any], ui: dict[str, Any], ui_name: str
) -> FormDefinition:
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as exc:
        where = "/".join(str(p) for p in exc.path) or "raiz"
        raise ProcessDefinitionError(
            f"Formulário {name}: esquema JSON inválido em {where}: {exc.message}"
        ) from exc
    props = schema.get("properties")
    if schema.get("type") != "object" or not isinstance(props, dict) or not props:
        raise ProcessDefinitionError(
            f"Formulário {name}: o esquema deve ser do tipo object e ter properties."
        )
    for field_name, prop in props.items():
        _check_field(name, field_name, prop, ui.get(field_name) or {})
    _check_ui_steps_shape(ui_name, ui.get("ui:steps"))
    form_steps = steps(ui, schema)
    _check_steps(name, ui_name, schema, form_steps)
    return FormDefinition(name=name, schema=schema, ui=ui, steps=tuple(form_steps))


def _check_name(form: str, field_name: str) -> None:
    if not FIELD_NAME.match(field_name) or "__" in field_name:
        raise ProcessDefinitionError(
            f"Formulário {form}: o nome de campo '{field_name}' é inválido; use letras "
            "minúsculas, dígitos e _ (começando por letra, sem '__').",
            element_id=field_name,
        )


def _check_field(form: str, name: str, prop: Any, ui: Mapping[str, Any]) -> None:
    _check_name(form, name)
    if not isinstance(prop, dict):
        raise ProcessDefinitionError(f"Formulário {form}: campo '{name}' inválido.", name)
    widget = ui.get("ui:widget")
    if widget is not None and widget not in WIDGETS:
        raise ProcessDefinitionError(
            f"Formulário {form}: campo '{name}' usa o widget desconhecido '{widget}'.", name
        )
    if "x-catalog" in prop and prop.get("type") != "string":
        raise ProcessDefinitionError(
            f"Formulário {form}: campo '{name}' com x-catalog deve ser do tipo string.", name
        )
    if "x-lookup" in prop and prop.get("type") != "integer":
        raise ProcessDefinitionError(
            f"Formulário {form}: campo '{name}' com x-lookup deve ser do tipo integer.", name
        )
    if widget == "lookup" and "x-lookup" not in prop:
        raise ProcessDefinitionError(
            f"Formulário {form}: campo '{name}' usa o widget lookup sem x-lookup.", name
        )
    if widget == "files" and not prop.get("x-attachments"):
        raise ProcessDefinitionError(
            f"Formulário {form}: campo '{name}' usa o widget files sem x-attachments.", name
        )
    if _is_table(prop):
        for column in prop["items"].get("properties", {}):
            _check_name(form, column)
    elif widget == "table":
        raise ProcessDefinitionError(
            f"Formulário {form}: campo '{name}' usa o widget table mas não é uma lista de "
            "objetos com properties.",
            name,
        )


def _check_ui_steps_shape(ui_name: str, declared: Any) -> None:
    if declared is None:
        return
    ok = isinstance(declared, list) and all(
        isinstance(s, dict)
        and isinstance(s.get("id"), str)
        and isinstance(s.get("fields", []), list)
        and all(isinstance(f, str) for f in s.get("fields", []))
        for s in declared
    )
    if not ok:
        raise ProcessDefinitionError(
            f"Formulário {ui_name}: ui:steps deve ser uma lista de etapas com id (texto) e "
            "fields (lista de nomes de campos)."
        )


def _check_steps(
    form: str, ui_name: str, schema: Mapping[str, Any], form_steps: list[Step]
) -> None:
    props = schema["properties"]
    seen: dict[str, str] = {}
    step_ids: set[str] = set()
    for step in form_steps:
        if not FIELD_NAME.match(step.id) or step.id in step_ids:
            raise ProcessDefinitionError(
                f"Formulário {ui_name}: identificador de etapa '{step.id}' inválido ou repetido.",
                step.id,
            )
        step_ids.add(step.id)
        for name in step.fields:
            if name not in props:
                raise ProcessDefinitionError(
                    f"Formulário {ui_name}: a etapa '{step.id}' cita o campo '{name}', que não "
                    "existe no esquema.",
                    name,
                )
            if name in seen:
                raise ProcessDefinitionError(
                    f"Formulário {ui_name}: o campo '{name}' aparece nas etapas '{seen[name]}' e "
                    f"'{step.id}'.",
                    name,
                )
            seen[name] = step.id
    for name in schema.get("required", []):
        if name not in seen:
            raise ProcessDefinitionError(
                f"Formulário {ui_name}: o campo obrigatório '{name}' não aparece em nenhuma etapa.",
                name,
            )


# -------------------------------------------------------------------- steps


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
    """The id of the step holding the field an error key (``protocolos.1.numero``) names."""
    top = _top_field(error_key)
    for step in form_steps:
        if top in step.fields:
            return step.id
    return None


def steps_with_errors(form_steps: Sequence[Step], errors: Iterable[str]) -> list[str]:
    found = {step_of(form_steps, key) for key in errors}
    return [s.id for s in form_steps if s.id in found]


def _top_field(key: str) -> str:
    return key.split(".", 1)[0].split("__", 1)[0]


# ----------------------------------------------------------------- catalogs


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


# --------------------------------------------------------------- validation

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


def _format_checker() -> FormatChecker:
    checker = FormatChecker()
    for name, normalize in NORMALIZERS.items():
        # Only strings are checked: a wrong type is reported by "type", not by "format".
        checker.checks(name)(lambda v, _n=normalize: not isinstance(v, str) or _n(v) is not None)
    return checker


FORMAT_CHECKER = _format_checker()


def validate(
    schema: Mapping[str, Any], data: Mapping[str, Any], fields: Collection[str] | None = None
) -> dict[str, str]:
    """pt-BR messages keyed by field path (``telefone``, ``protocolos.1.numero``).

    The whole document is validated (conditions may depend on other steps); with ``fields``
    only errors whose top-level field is listed are reported.
    """
    validator = Draft202012Validator(schema, format_checker=FORMAT_CHECKER)
    order = {name: i for i, name in enumerate(schema.get("properties", {}))}
    found: list[tuple[int, int, tuple[Any, ...], str]] = []
    for error in validator.iter_errors(dict(data)):
        # One message per field: the most basic problem first, whatever the schema's key order.
        rank = _RANK.get(str(error.validator), len(_RANK))
        for path, message in _describe(schema, error):
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


# ------------------------------------------------------------ reading posts


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
    raw_action = (form.get(ACTION_FIELD) or [None])[0]
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
    pattern = re.compile(rf"^{re.escape(name)}__(\d{{1,4}})__([a-z][a-z0-9_]*)$")
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


# ----------------------------------------------------------- widgets/labels


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
        return str(declared)
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


# ---------------------------------------------------------------- display


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


# -------------------------------------------------------------------- diff


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
