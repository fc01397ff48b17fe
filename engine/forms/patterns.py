"""A form's regular expressions (``pattern``, ``patternProperties``), matched in linear time.

Python's ``re`` backtracks: a pattern as ordinary as ``^([A-Za-z]+ ?)+$`` takes a second on
25 typed characters and hours on 40, well within any ``maxLength``. jsonschema matches
patterns with ``re`` and runs whenever a sending is invalid, so a requester could tie a
worker up with one form field. Every place jsonschema would match a form's pattern against
data (keywords ``pattern``, ``patternProperties``, ``additionalProperties``,
``unevaluatedProperties``) is replaced here by Rust's ``regex`` crate, through jsonschema-rs
(already the fast answer of :mod:`engine.forms.validation`): a finite automaton, whose time
is linear in the text whatever the pattern.

That engine has no lookaround nor backreferences (they are what needs backtracking), and
reads ECMA-262, the syntax JSON Schema prescribes. A pattern it cannot take is refused when
the form is checked (:func:`refusal`); one that still reaches validation (a form published
before that check) matches nothing, so its field is refused rather than checked slowly.

ECMA-262's ``\\d`` and ``\\w`` are ASCII, Python's take every script's digits and letters
("João" is ``^\\w+$``): those escapes are rewritten as Unicode classes first, so a form
accepts what it accepted when ``re`` matched its patterns.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import jsonschema_rs
from jsonschema.exceptions import ValidationError

# The regex crate alone (no fancy-regex): no backtracking at all. Also given to the fast
# answer's validator, so the two never disagree on a pattern.
LINEAR = jsonschema_rs.RegexOptions()

# Python's \d is Unicode category Nd, its \w "alphanumeric or underscore" (letters and
# numbers of any script). Inside a character class \w is spelled without brackets; \W has
# no spelling there (a complement inside a class) and stays ASCII, as ECMA-262 reads it.
_OUTSIDE_CLASS = {"d": r"\p{Nd}", "D": r"\P{Nd}", "w": r"[\p{L}\p{N}_]", "W": r"[^\p{L}\p{N}_]"}
_INSIDE_CLASS = {"d": r"\p{Nd}", "D": r"\P{Nd}", "w": r"\p{L}\p{N}_"}


def unicode_classes(pattern: str) -> str:
    """``pattern`` with ``\\d \\D \\w \\W`` read as Python reads them, in ECMA-262."""
    out: list[str] = []
    in_class = False
    i = 0
    while i < len(pattern):
        char = pattern[i]
        if char == "\\" and i + 1 < len(pattern):
            escaped = pattern[i + 1]
            table = _INSIDE_CLASS if in_class else _OUTSIDE_CLASS
            out.append(table.get(escaped, char + escaped))
            i += 2
            continue
        out.append(char)
        i += 1
        if in_class:
            in_class = char != "]"
        elif char == "[":
            in_class = True
            if pattern.startswith("^", i):
                out.append("^")
                i += 1
    return "".join(out)


@functools.lru_cache(maxsize=1024)
def _matcher(pattern: str) -> Callable[[str], bool] | None:
    # Compiled once per pattern: a form's patterns are few and reused on every sending.
    try:
        validator = jsonschema_rs.Draft202012Validator(
            {"pattern": unicode_classes(pattern)}, pattern_options=LINEAR
        )
    except ValueError:  # lookaround, backreference, not ECMA-262, too big for the crate
        return None
    return validator.is_valid


def search(pattern: str, text: str) -> bool:
    """``pattern`` matches somewhere in ``text`` (as ``re.search``), in linear time.

    False for a pattern the linear engine cannot take: such a field is refused, never
    matched with a backtracking engine.
    """
    matcher = _matcher(pattern) if isinstance(pattern, str) else None
    return matcher is not None and matcher(text)


def refusal(pattern: str) -> str | None:
    """Why a form may not declare ``pattern`` (pt-BR, for the designer), or None."""
    if _matcher(pattern) is not None:
        return None
    try:
        # fancy-regex (jsonschema-rs's default) takes lookaround and backreferences.
        jsonschema_rs.Draft202012Validator({"pattern": unicode_classes(pattern)})
    except ValueError:
        return (
            "não é aceito: escreva-o na sintaxe de expressões regulares do JSON Schema "
            "(ECMA-262, a do JavaScript)"
        )
    return (
        "usa lookahead, lookbehind ou referência a grupo (como \\1), recursos que podem "
        "deixar a verificação das respostas lenta demais; reescreva-o sem eles"
    )


# Maps of name (or pattern) to subschema; any other key of a schema is a keyword.
_SCHEMA_MAPS = frozenset(
    {"properties", "patternProperties", "$defs", "definitions", "dependentSchemas"}
)
# Keywords whose values are data, not schemas: a "pattern" there is no pattern.
_DATA = frozenset({"const", "enum", "default", "examples"})


def declared(schema: Mapping[str, Any]) -> Iterator[tuple[tuple[str, ...], str]]:
    """Every pattern of a schema, with its place (``properties``, ``cpf``, ``pattern``)."""
    stack: list[tuple[Any, tuple[str, ...]]] = [(schema, ())]
    while stack:
        node, path = stack.pop()
        if isinstance(node, list):
            stack.extend((item, (*path, str(i))) for i, item in enumerate(node))
            continue
        if not isinstance(node, Mapping):
            continue
        for key, value in node.items():
            if not isinstance(key, str) or key in _DATA or key.startswith("x-"):
                continue
            if key == "pattern" and isinstance(value, str):
                yield (*path, key), value
            elif key in _SCHEMA_MAPS and isinstance(value, Mapping):
                if key == "patternProperties":
                    yield from (((*path, key, p), p) for p in value if isinstance(p, str))
                stack.extend((sub, (*path, key, str(name))) for name, sub in value.items())
            elif isinstance(value, Mapping | list):
                stack.append((value, (*path, key)))


# jsonschema's keywords that match patterns, as jsonschema 4.26 writes them but with
# search() for re.search.


def _pattern(validator: Any, patrn: Any, instance: Any, schema: Any) -> Iterator[ValidationError]:
    if validator.is_type(instance, "string") and not search(patrn, instance):
        yield ValidationError(f"{instance!r} does not match {patrn!r}")


def _pattern_properties(
    validator: Any, patterns: Any, instance: Any, schema: Any
) -> Iterator[ValidationError]:
    if not validator.is_type(instance, "object"):
        return
    for patrn, subschema in patterns.items():
        for key, value in instance.items():
            if search(patrn, key):
                yield from validator.descend(value, subschema, path=key, schema_path=patrn)


def _additional(instance: Mapping[str, Any], schema: Mapping[str, Any]) -> list[str]:
    properties = schema.get("properties", {})
    patterns = list(schema.get("patternProperties", {}))
    return [
        key
        for key in instance
        if key not in properties and not any(search(p, key) for p in patterns)
    ]


def _additional_properties(
    validator: Any, extra: Any, instance: Any, schema: Any
) -> Iterator[ValidationError]:
    if not validator.is_type(instance, "object"):
        return
    extras = set(_additional(instance, schema))
    if validator.is_type(extra, "object"):
        for key in extras:
            yield from validator.descend(instance[key], extra, path=key)
    elif not extra and extras:
        # The message is never shown (engine.forms.validation words its own): plain.
        yield ValidationError(f"Additional properties are not allowed: {sorted(extras)!r}")


def _is_valid(errors: Iterator[ValidationError]) -> bool:
    return next(errors, None) is None


def _evaluated_keys(validator: Any, instance: Any, schema: Any) -> list[str]:
    # jsonschema._utils.find_evaluated_property_keys_by_schema, with search().
    if validator.is_type(schema, "boolean"):
        return []
    keys: list[str] = []
    for keyword in ("$ref", "$dynamicRef"):
        ref = schema.get(keyword)
        if ref is not None:
            resolved = validator._resolver.lookup(ref)
            keys += _evaluated_keys(
                validator.evolve(schema=resolved.contents, _resolver=resolved.resolver),
                instance,
                resolved.contents,
            )
    properties = schema.get("properties")
    if validator.is_type(properties, "object"):
        keys += properties.keys() & instance.keys()
    for keyword in ("additionalProperties", "unevaluatedProperties"):
        subschema = schema.get(keyword)
        if subschema is not None:
            keys += (
                key
                for key, value in instance.items()
                if _is_valid(validator.descend(value, subschema))
            )
    for patrn in schema.get("patternProperties", {}):
        keys += (key for key in instance if search(patrn, key))
    for key, subschema in schema.get("dependentSchemas", {}).items():
        if key in instance:
            keys += _evaluated_keys(validator, instance, subschema)
    for keyword in ("allOf", "oneOf", "anyOf"):
        for subschema in schema.get(keyword, []):
            if _is_valid(validator.descend(instance, subschema)):
                keys += _evaluated_keys(validator, instance, subschema)
    if "if" in schema:
        if validator.evolve(schema=schema["if"]).is_valid(instance):
            keys += _evaluated_keys(validator, instance, schema["if"])
            if "then" in schema:
                keys += _evaluated_keys(validator, instance, schema["then"])
        elif "else" in schema:
            keys += _evaluated_keys(validator, instance, schema["else"])
    return keys


def _unevaluated_properties(
    validator: Any, unevaluated: Any, instance: Any, schema: Any
) -> Iterator[ValidationError]:
    if not validator.is_type(instance, "object"):
        return
    evaluated = set(_evaluated_keys(validator, instance, schema))
    wrong = [
        key
        for key in instance
        if key not in evaluated
        and not _is_valid(validator.descend(instance[key], unevaluated, path=key))
    ]
    if wrong:
        yield ValidationError(f"Unevaluated properties are not allowed: {sorted(wrong)!r}")


KEYWORDS: dict[str, Callable[..., Iterator[ValidationError]]] = {
    "pattern": _pattern,
    "patternProperties": _pattern_properties,
    "additionalProperties": _additional_properties,
    "unevaluatedProperties": _unevaluated_properties,
}

# "format": "regex" (the value is itself a pattern): jsonschema compiles it with re, which
# recurses once per parenthesis (RecursionError on a few thousand); jsonschema-rs, which
# answers first, parses it in Rust. Its verdict serves both.
_REGEX_FORMAT = jsonschema_rs.Draft202012Validator({"format": "regex"}, validate_formats=True)


def is_regex(value: Any) -> bool:
    return not isinstance(value, str) or bool(_REGEX_FORMAT.is_valid(value))
