"""Loading a form (JSON Schema + UI schema) and checking it can be rendered and run."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

from engine import limits
from engine.catalogs import CatalogOption as CatalogOption  # re-exported for callers
from engine.errors import ProcessDefinitionError
from engine.forms.patterns import declared, refusal
from engine.forms.structure import _is_table, steps
from engine.forms.types import (
    FIELD_NAME,
    FIELD_PATH,
    RJSF_WIDGETS,
    WIDGETS,
    FormDefinition,
    Step,
    implied_object,
)


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
        value = limits.loads(text)
    except limits.JsonRejected as exc:
        raise ProcessDefinitionError(f"Formulário {filename}: {exc.message}") from exc
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
    schema = implied_object(schema)
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as exc:
        where = "/".join(str(p) for p in exc.path) or "raiz"
        raise ProcessDefinitionError(
            f"Formulário {name}: esquema JSON inválido em {where}: {exc.message}"
        ) from exc
    _check_patterns(name, schema)
    try:
        # A schema that refers to itself ({"$ref": "#"} under allOf) recurses forever on
        # any document: refused here rather than on every submission.
        next(iter(Draft202012Validator(schema).iter_errors({})), None)
    except RecursionError as exc:
        raise ProcessDefinitionError(
            f"Formulário {name}: o esquema refere-se a si mesmo sem fim ($ref)."
        ) from exc
    except Exception as exc:  # an unresolvable $ref, say
        raise ProcessDefinitionError(f"Formulário {name}: esquema JSON inválido: {exc}") from exc
    props = schema.get("properties")
    # No properties at all is a form with nothing to fill: its page is the instructions
    # and the button (SpiffArena's forms for "read and continue").
    if schema.get("type") != "object" or not isinstance(props, dict):
        raise ProcessDefinitionError(
            f"Formulário {name}: o esquema deve ser do tipo object e ter properties."
        )
    for field_name, prop in props.items():
        _check_field(name, field_name, prop, ui.get(field_name) or {})
    _check_paths_apart(name, props)
    _check_ui_steps_shape(ui_name, ui.get("ui:steps"))
    form_steps = steps(ui, schema)
    _check_steps(name, ui_name, schema, form_steps)
    return FormDefinition(name=name, schema=schema, ui=ui, steps=tuple(form_steps))


def _check_patterns(form: str, schema: Mapping[str, Any]) -> None:
    """Patterns are matched without backtracking (engine.forms.patterns): one the engine
    cannot take is refused now, not on a requester's sending."""
    for path, pattern in declared(schema):
        reason = refusal(pattern)
        if reason is not None:
            field = path[1] if len(path) > 1 and path[0] == "properties" else None
            raise ProcessDefinitionError(
                f"Formulário {form}: o padrão (pattern) {pattern!r} em {'/'.join(path)} {reason}.",
                element_id=field,
            )


def _check_name(form: str, field_name: str, pattern: re.Pattern[str] = FIELD_NAME) -> None:
    if not pattern.match(field_name) or "__" in field_name:
        dotted = " (ou partes assim separadas por ponto, ex.: fatura.vencimento)"
        raise ProcessDefinitionError(
            f"Formulário {form}: o nome de campo '{field_name}' é inválido; use letras "
            "sem acento, dígitos e _ (começando por letra, sem '__')"
            f"{dotted if pattern is FIELD_PATH else ''}.",
            element_id=field_name,
        )


def _check_paths_apart(form: str, props: Mapping[str, Any]) -> None:
    """A dotted field nests its value under its first parts: no other field may hold a
    value at one of those parts ("fatura" and "fatura.vencimento" would overwrite each
    other in task data)."""
    names = set(props)
    for field_name in props:
        parts = field_name.split(".")
        for end in range(1, len(parts)):
            prefix = ".".join(parts[:end])
            if prefix in names:
                raise ProcessDefinitionError(
                    f"Formulário {form}: os campos '{prefix}' e '{field_name}' ocupam o "
                    f"mesmo lugar nos dados ('{field_name}' fica dentro de '{prefix}'); "
                    "renomeie um deles.",
                    element_id=field_name,
                )


def _check_field(form: str, name: str, prop: Any, ui: Mapping[str, Any]) -> None:
    _check_name(form, name, FIELD_PATH)
    if not isinstance(prop, dict):
        raise ProcessDefinitionError(f"Formulário {form}: campo '{name}' inválido.", name)
    widget = ui.get("ui:widget")
    if widget is not None and widget not in WIDGETS and widget not in RJSF_WIDGETS:
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
