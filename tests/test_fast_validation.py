"""engine.forms.validation's fast answer (jsonschema-rs) never changes a verdict.

jsonschema-rs answers first and, when it finds nothing wrong, jsonschema does not run:
so whatever it calls valid must be valid for jsonschema too, or a sending the platform
used to refuse would be taken. Checked on every form of forms/ and of the public corpus
(catalogs resolved as the server resolves them), on generated sendings near a valid
one, by comparing ``validate`` with and without the fast answer.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine import forms
from engine.forms import validation
from engine.settings import PROJECT_ROOT
from tests.test_forms import NUP, seed_catalogs, valid_chamado

SCHEMAS = sorted(
    path
    for path in [
        *(PROJECT_ROOT / "forms").glob("*-schema.json"),
        *(PROJECT_ROOT / "corpus").rglob("*schema.json"),
    ]
    if "uischema" not in path.name and "ui_schema" not in path.name
)

# A valid sending of some forms, for the mutations to start near validity.
VALID: dict[str, dict[str, Any]] = {
    "registrar-chamado-schema.json": valid_chamado(),
    "analisar-chamado-schema.json": {"decisao": "resolver", "resposta": "Corrigido."},
}

TRICKY = [
    "",
    " ",
    "123",
    "123\n",  # Python's "$" matches before a final newline; Rust's does not
    "١٢٣",  # Arabic-Indic digits: \\d in Python's re
    "maria@inss.gov.br",
    "maria@",
    "(61) 99999-9999",
    "6199",
    "390.533.447-05",
    "111.111.111-11",
    NUP,
    "23037.001462/2021-66",
    "x" * 300,
    "<b>oi</b>",
    "2026-12-31",
    "31/12/2026",
    "1.0",
    "true",
    "erro",
    "resolver",
    "ajuste",
]

SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 10**6),
    st.floats(allow_nan=False, allow_infinity=False, width=32),
    st.sampled_from(TRICKY),
    st.text(max_size=12),
)
VALUES = st.one_of(
    SCALARS,
    st.lists(
        st.one_of(
            SCALARS,
            st.fixed_dictionaries({"numero": st.sampled_from([NUP, "123456", "", "abc", 5])}),
            st.fixed_dictionaries(
                {"id": st.integers(-1, 3), "nome": st.sampled_from(["a.png", ""])},
                optional={"tamanho": st.integers(-1, 10**9)},
            ),
        ),
        max_size=3,
    ),
    st.dictionaries(st.text(max_size=4), SCALARS, max_size=2),
)
DELETE = object()


def _known_values(schema: dict[str, Any]) -> list[Any]:
    """Values some property of ``schema`` accepts (enums, consts, list items' own)."""
    found: list[Any] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("enum"), list):
                found.extend(node["enum"])
            if "const" in node:
                found.append(node["const"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(schema)
    return found or [None]


def _schema(path: Path) -> dict[str, Any]:
    raw = json.loads(path.read_text(encoding="utf-8"))
    return forms.resolve_catalogs(raw, seed_catalogs())


@contextmanager
def _without_fast_answer() -> Iterator[None]:
    with mock.patch.object(validation, "_surely_valid", lambda _schema, _data: False):
        yield


def _both(schema: dict[str, Any], data: dict[str, Any]) -> tuple[dict[str, str], dict[str, str]]:
    fast = validation.validate(schema, data)
    with _without_fast_answer():
        reference = validation.validate(schema, data)
    return fast, reference


@pytest.mark.parametrize("path", SCHEMAS, ids=lambda p: p.parent.name + "/" + p.name)
def test_fast_answer_agrees_with_jsonschema_on_generated_sendings(path: Path) -> None:
    schema = _schema(path)
    assert validation._fast_validator(schema) is not None, "jsonschema-rs compila o formulário"
    base = VALID.get(path.name, {})
    keys = [*schema.get("properties", {}), "campo_estranho"]
    known = _known_values(schema)
    mutation = st.tuples(
        st.sampled_from(keys),
        st.one_of(st.just(DELETE), VALUES, st.sampled_from(known)),
    )

    @settings(
        max_examples=150,
        deadline=None,
        derandomize=True,
        suppress_health_check=[HealthCheck.too_slow],
    )
    @given(st.lists(mutation, max_size=4))
    def check(changes: list[tuple[str, Any]]) -> None:
        data = json.loads(json.dumps(base))
        for key, value in changes:
            if value is DELETE:
                data.pop(key, None)
            else:
                data[key] = value
        fast, reference = _both(schema, data)
        assert fast == reference

    check()


def test_a_valid_sending_never_reaches_jsonschema() -> None:
    schema = _schema(PROJECT_ROOT / "forms" / "registrar-chamado-schema.json")
    with mock.patch.object(
        validation._Validator, "iter_errors", side_effect=AssertionError("jsonschema rodou")
    ):
        assert validation.validate(schema, valid_chamado()) == {}


def test_an_invalid_sending_gets_jsonschemas_messages() -> None:
    schema = _schema(PROJECT_ROOT / "forms" / "registrar-chamado-schema.json")
    errors = validation.validate(schema, {**valid_chamado(), "telefone": "6199"})
    assert errors == {"telefone": validation.FORMAT_MESSAGES["telefone"]}


@pytest.mark.parametrize(
    ("field", "value"),
    [
        # Python's re: "$" matches before a final newline, \d matches other scripts' digits.
        ({"type": "string", "pattern": "^\\d+$"}, "123\n"),
        ({"type": "string", "pattern": "^\\d+$"}, "١٢٣"),
        ({"type": "integer"}, 1.0),
        ({"type": "string", "format": "cpf"}, "1"),
        ({"type": "string", "format": "date"}, "2026-02-30"),
        ({"type": "array", "uniqueItems": True}, [1, 1.0]),
    ],
)
def test_where_the_two_libraries_could_differ_jsonschema_decides(
    field: dict[str, Any], value: Any
) -> None:
    schema = {"type": "object", "properties": {"n": field}}
    fast, reference = _both(schema, {"n": value})
    assert fast == reference


def test_a_schema_jsonschema_rs_cannot_compile_is_left_to_jsonschema() -> None:
    # A remote reference is never fetched (nor by jsonschema, which has no retrieval set up).
    schema = {"type": "object", "properties": {"n": {"$ref": "https://example.invalid/s.json"}}}
    assert validation._fast_validator(schema) is None
    assert not validation._surely_valid(schema, {"n": 1})
