"""A form's patterns never backtrack: no typed value can make their matching run long.

Python's ``re`` (which jsonschema used for ``pattern`` whenever a sending was invalid) takes
exponential time on patterns like ``^([A-Za-z]+ ?)+$``: 0.1 s on 20 typed characters, 1.35 s
on 24, doubling with each one more. The lengths below would take it hours or more; with
engine.forms.patterns they are answered in milliseconds, with the same message as a
harmless mismatch. Ordinary patterns (CPF, phone, NUP, names) accept and refuse what
``re`` did: checked against the validator as it was, on values where ``re`` is quick.
"""

from __future__ import annotations

import json
import re
import time
from typing import Any
from unittest import mock

import pytest
from jsonschema import Draft202012Validator
from jsonschema import validators as jsonschema_validators

from engine import forms
from engine.errors import ProcessDefinitionError
from engine.forms import patterns, validation

# Far under what the old code took (hours), far over what the new one takes (ms).
QUICK = 2.0

# (pattern, value): the old code's time grows 2x (1.6x for a|aa) per character from
# 0.1-0.3 s at 20-22 characters, so these would have run for hours to centuries.
EVIL = [
    ("^([A-Za-z]+ ?)+$", "a" * 40 + "!"),
    ("^(a+)+$", "a" * 40 + "!"),
    ("^(a|aa)+$", "a" * 80 + "!"),
    ("^(\\w+\\s?)*$", "a" * 40 + "!"),
    ("^([A-Za-z0-9]+[ .-]?)+[A-Za-z0-9]$", "a" * 40 + "!"),
]

# The validator as it was: jsonschema's own pattern keywords, on Python's re.
_OLD = jsonschema_validators.extend(Draft202012Validator, {"uniqueItems": validation._unique_items})


def _field(pattern: str, **more: Any) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {"n": {"type": "string", "maxLength": 200, "pattern": pattern, **more}},
    }


def _timed(schema: dict[str, Any], data: dict[str, Any], **kw: Any) -> dict[str, str]:
    start = time.perf_counter()
    errors = forms.validate(schema, data, **kw)
    assert time.perf_counter() - start < QUICK
    return errors


def _old_validate(schema: dict[str, Any], data: dict[str, Any]) -> dict[str, str]:
    with mock.patch.object(validation, "_Validator", _OLD):
        return forms.validate(schema, data)


@pytest.mark.parametrize(("pattern", "value"), EVIL)
def test_an_evil_pattern_is_answered_quickly_with_the_usual_message(
    pattern: str, value: str
) -> None:
    schema = _field(pattern)
    # What the pattern keyword has always said on a mismatch (this one is quick with re).
    usual = _old_validate(schema, {"n": "!"})
    assert usual == {"n": "Formato inválido."}
    assert _timed(schema, {"n": value}) == usual
    assert _timed(schema, {"n": value}, ui={}) == usual


@pytest.mark.parametrize(("pattern", "value"), EVIL)
def test_the_evil_value_still_matches_when_it_should(pattern: str, value: str) -> None:
    assert _timed(_field(pattern), {"n": value[:-1]}) == {}


def test_an_evil_pattern_in_every_row_of_a_table() -> None:
    pattern, value = EVIL[0]
    schema = {
        "type": "object",
        "properties": {
            "itens": {
                "type": "array",
                "maxItems": 50,
                "items": {
                    "type": "object",
                    "properties": {"nome": {"type": "string", "pattern": pattern}},
                },
            }
        },
    }
    errors = _timed(schema, {"itens": [{"nome": value}] * 50})
    assert errors == {f"itens.{i}.nome": "Formato inválido." for i in range(50)}


def test_a_long_value_against_an_evil_pattern_stays_linear() -> None:
    schema = _field("^([A-Za-z]+ ?)+$", maxLength=10_000)
    assert _timed(schema, {"n": "a" * 9_999 + "!"}) == {"n": "Formato inválido."}


EVIL_KEY = "a" * 40 + "!"


def test_pattern_properties_match_keys_quickly() -> None:
    schema = {
        "type": "object",
        "properties": {
            "n": {
                "type": "object",
                "patternProperties": {"^(a+)+$": {"type": "integer"}},
                "additionalProperties": False,
            }
        },
    }
    assert _timed(schema, {"n": {EVIL_KEY: 1}}) == {f"n.{EVIL_KEY}": "Campo não reconhecido."}
    # A key that matches is checked by its subschema, as before.
    data = {"n": {"aaa": "x", "b": 1}}
    assert _timed(schema, data) == _old_validate(schema, data)
    assert set(_timed(schema, data)) == {"n.aaa", "n.b"}


def test_unevaluated_properties_match_keys_quickly() -> None:
    schema = {
        "type": "object",
        "properties": {
            "n": {
                "type": "object",
                "patternProperties": {"^(a+)+$": {"type": "integer"}},
                "unevaluatedProperties": False,
            }
        },
    }
    assert _timed(schema, {"n": {EVIL_KEY: 1}}) == {"n": "Valor inválido."}
    for data in ({"n": {"aaa": 1}}, {"n": {"aaa": 1, "b": 2}}):
        assert _timed(schema, data) == _old_validate(schema, data)


def test_a_regex_typed_by_the_requester_never_crashes_the_check() -> None:
    # jsonschema's "regex" format compiled it with re: RecursionError past ~1,000 groups.
    schema = {
        "type": "object",
        "properties": {
            "expr": {"type": "string", "format": "regex"},
            "nome": {"type": "string"},
        },
        "required": ["nome"],
    }
    nested = "(" * 3_000 + ")" * 3_000
    assert _timed(schema, {"expr": nested}) == {"nome": "Campo obrigatório."}
    assert _timed(schema, {"expr": "a(", "nome": "x"}) == {"expr": "Formato inválido."}
    assert _timed(schema, {"expr": "^\\d{3}$", "nome": "x"}) == {}


# Patterns a designer writes (none of forms/ declares one: they use format cpf, telefone,
# protocolo), each with values it accepts and refuses.
ORDINARY = [
    "^\\d{3}\\.\\d{3}\\.\\d{3}-\\d{2}$",
    "^\\d{11}$",
    "^\\(\\d{2}\\) \\d{4,5}-\\d{4}$",
    "^\\d{5}\\.\\d{6}/\\d{4}-\\d{2}$",
    "^\\d{5}-?\\d{3}$",
    "^[A-Za-zÀ-ÿ ]+$",
    "^[\\w\\s.'-]+$",
    "^\\w+(\\s\\w+)*$",
    "^[A-Z]{2}$",
    "^(?:[01]\\d|2[0-3]):[0-5]\\d$",
    "^[^<>]*$",
    "^\\S+@\\S+\\.\\S+$",
    "(?i)^(sim|não)$",
    "\\bção\\b",
    "^\\D+$",
    "[0-9]",
]
VALUES = [
    "390.533.447-05",
    "39053344705",
    "390.533.447-0",
    "(61) 99999-9999",
    "(61) 3333-4444",
    "61 99999-9999",
    "23037.001462/2021-66",
    "23037001462202166",
    "70040-010",
    "70040010",
    "João da Silva",
    "Maria d'Ávila-Souza",
    "José_2",
    "DF",
    "df",
    "23:59",
    "24:00",
    "<b>oi</b>",
    "maria@inss.gov.br",
    "NÃO",
    "Sim",
    " ação ",
    "١٢٣",  # Arabic-Indic digits: re's \d takes them, and still does
    "abc",
    "",
]


@pytest.mark.parametrize("pattern", ORDINARY)
def test_ordinary_patterns_accept_and_refuse_as_before(pattern: str) -> None:
    schema = _field(pattern)
    for value in VALUES:
        assert forms.validate(schema, {"n": value}) == _old_validate(schema, {"n": value}), value


@pytest.mark.parametrize(
    ("pattern", "accepted", "refused"),
    [
        ("^\\d{3}\\.\\d{3}\\.\\d{3}-\\d{2}$", "390.533.447-05", "39053344705"),
        ("^\\(\\d{2}\\) \\d{4,5}-\\d{4}$", "(61) 99999-9999", "6199999999"),
        ("^\\d{5}\\.\\d{6}/\\d{4}-\\d{2}$", "23037.001462/2021-66", "23037.001462/2021"),
        ("^[\\w\\s]+$", "João da Conceição", "João <b>"),
    ],
)
def test_ordinary_patterns_by_example(pattern: str, accepted: str, refused: str) -> None:
    schema = _field(pattern)
    assert forms.validate(schema, {"n": accepted}) == {}
    assert forms.validate(schema, {"n": refused}) == {"n": "Formato inválido."}


def test_python_and_ecma_word_and_digit_classes_agree_on_latin_text() -> None:
    for code in range(0x20, 0x250):
        char = chr(code)
        for escape in ("\\w", "\\W", "\\d", "\\D", "[\\w]", "[x\\d]"):
            assert patterns.search(f"^{escape}$", char) == bool(re.fullmatch(escape, char)), (
                escape,
                char,
            )


def _definition(pattern: str) -> forms.FormDefinition:
    return forms.load_form_from_texts(json.dumps(_field(pattern)), "{}", "f.json")


def test_the_designer_may_write_an_ordinary_or_even_an_evil_pattern() -> None:
    # Evil for re, harmless now: refusing it would refuse ordinary-looking patterns.
    _definition("^([A-Za-z]+ ?)+$")
    _definition("^\\d{3}\\.\\d{3}\\.\\d{3}-\\d{2}$")


@pytest.mark.parametrize(
    ("pattern", "reason"),
    [
        ("^(?=.*\\d).{8,}$", "lookahead"),
        ("^(?!000)\\d{3}$", "lookahead"),
        ("^(a+)\\1$", "referência a grupo"),
        ("^\\d+\\Z", "ECMA-262"),
    ],
)
def test_a_pattern_that_needs_backtracking_is_refused_at_design_time(
    pattern: str, reason: str
) -> None:
    with pytest.raises(ProcessDefinitionError) as caught:
        _definition(pattern)
    assert reason in caught.value.message
    assert "properties/n/pattern" in caught.value.message
    assert caught.value.element_id == "n"


def test_patterns_are_found_wherever_the_schema_declares_them() -> None:
    schema = {
        "type": "object",
        "properties": {
            "default": {"type": "string", "pattern": "^a$"},  # a field named like a keyword
            "itens": {
                "type": "array",
                "items": {"properties": {"c": {"pattern": "^b$"}}},
                "default": [{"pattern": "not a schema"}],
            },
            "o": {"type": "object", "patternProperties": {"^k": {"pattern": "^v$"}}},
        },
        "allOf": [{"if": {"properties": {"x": {"pattern": "^c$"}}}}],
        "x-extra": {"pattern": "ignored"},
    }
    found = sorted(p for _path, p in patterns.declared(schema))
    assert found == ["^a$", "^b$", "^c$", "^k", "^v$"]


def test_a_form_published_before_the_check_is_refused_quickly_never_backtracked() -> None:
    # Lookahead cannot run in linear time: the field is refused, not matched slowly.
    schema = _field("^(?=(a|aa)+$)", maxLength=10_000)
    assert validation._fast_validator(schema) is None
    assert _timed(schema, {"n": "a" * 9_999 + "!"}) == {"n": "Formato inválido."}
    assert _timed(schema, {"n": "aaa"}) == {"n": "Formato inválido."}
