"""Bounds on the work one request can ask of the engine, checked before the work starts.

Every check here costs at most a pass over input whose size is already capped (by the
request body limit or by an earlier check), so a refusal is as cheap as the input is small:

* form data: sizes (``maxLength``, ``maxItems``, or the defaults below when a form declares
  none) and characters, checked by :mod:`engine.forms.bounds` before any other keyword;
* JSON documents (request bodies, form files, draft data): nesting depth, non-finite numbers;
* expressions and scripts: length and AST depth (:mod:`engine.scripting`);
* values scripts compute: their serialized size (:func:`json_size_within`).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from typing import Any

# A string field that declares no maxLength accepts at most this many characters, and an
# array that declares no maxItems at most this many items: a form designer who forgets a
# limit must not let one request carry megabytes into task data, mail and the database.
DEFAULT_MAX_LENGTH = 10_000
DEFAULT_MAX_ITEMS = 500

# Objects and arrays nested deeper than this are refused in posted data and form files:
# every recursive walk of them (jsonschema, deepcopy, json) then stays far from Python's
# recursion limit. A table row is at depth 3 (data → array → row → value).
MAX_JSON_DEPTH = 32

# Lists in a saved draft: the wizard posts at most ~1,000 fields, so only an API client can
# send more, and the table step draws every row of the draft (10,000 rows: ~300 ms).
MAX_DRAFT_ITEMS = 1000

# A script may hand back to task data values whose JSON is at most this big, each; the
# whole task data written back after a script at most MAX_TASK_DATA_BYTES.
MAX_SCRIPT_VALUE_BYTES = 64 * 1024
MAX_TASK_DATA_BYTES = 1024 * 1024

# C0 controls (but \t \n \r), DEL, C1 controls, and lone surrogates (which no UTF-8
# database or mail can store): never useful in a form field.
_FORBIDDEN = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")
_LINE_BREAKS = re.compile(r"[\t\n\r]")
ONE_LINE = "Este campo tem uma só linha: remova quebras de linha e tabulações."


class JsonRejected(ValueError):
    """A JSON document outside the bounds; ``message`` is pt-BR."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def forbidden_character(text: str, multiline: bool = False) -> str | None:
    """A pt-BR message when ``text`` has a control character, else None.

    Tab and line breaks are allowed in multi-line fields only.
    """
    match = _FORBIDDEN.search(text)
    if match is None and not multiline:
        match = _LINE_BREAKS.search(text)
    if match is None:
        return None
    char = match.group()
    if char in "\t\n\r":
        return ONE_LINE
    return (
        f"O texto contém um caractere de controle inválido (U+{ord(char):04X}, posição "
        f"{match.start() + 1}); apague-o e digite de novo."
    )


def json_depth(value: Any, limit: int = MAX_JSON_DEPTH) -> int:
    """Nesting depth of ``value`` (a scalar is 0), counted without recursion; stops past
    ``limit`` (the result is then ``limit + 1``)."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, Mapping):
            children: Any = node.values()
        elif isinstance(node, list | tuple):
            children = node
        else:
            continue
        depth += 1
        if depth > limit:
            return depth
        deepest = max(deepest, depth)
        stack.extend((child, depth) for child in children)
    return deepest


def _refuse_constant(name: str) -> Any:
    raise JsonRejected(f"O JSON contém {name}, que não é um número válido.")


def loads(text: str | bytes, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """``json.loads`` that refuses NaN/Infinity and documents nested deeper than
    ``max_depth`` with :class:`JsonRejected` (never RecursionError); a malformed
    document still raises ``json.JSONDecodeError``."""
    try:
        value = json.loads(text, parse_constant=_refuse_constant)
    except RecursionError as exc:
        raise JsonRejected(f"O JSON passa de {max_depth} níveis de aninhamento.") from exc
    if json_depth(value, max_depth) > max_depth:
        raise JsonRejected(f"O JSON passa de {max_depth} níveis de aninhamento.")
    return value


def draft_problems(data: Mapping[str, Any]) -> dict[str, str]:
    """pt-BR messages, by top-level field, for lists too long to keep in a draft.

    A draft keeps what was typed even when it is invalid (a text over its maxLength is
    kept so it can be trimmed), but not without bound: every later page draws it.
    """
    problems: dict[str, str] = {}
    for name, value in data.items():
        stack = [value]
        while stack:
            node = stack.pop()
            if isinstance(node, Mapping):
                stack.extend(node.values())
            elif isinstance(node, list | tuple):
                if len(node) > MAX_DRAFT_ITEMS:
                    problems[str(name)] = (
                        f"Um rascunho guarda no máximo {MAX_DRAFT_ITEMS} itens por lista."
                    )
                    break
                stack.extend(node)
    return problems


def finite(value: Any) -> bool:
    return not isinstance(value, float) or math.isfinite(value)


def json_size_within(value: Any, limit: int) -> bool:
    """Whether ``value`` serialized as JSON is at most ``limit`` bytes (about: strings are
    counted by character, a few bytes per scalar).

    Walks without recursion and stops as soon as the budget is spent, so a value whose
    JSON would be huge (a list holding the same list many times) costs no more than
    ``limit`` steps, unlike ``json.dumps``.
    """
    budget = limit
    stack = [value]
    while stack:
        node = stack.pop()
        if isinstance(node, str):
            budget -= len(node) + 2
        elif isinstance(node, Mapping):
            budget -= 2
            for key, child in node.items():
                budget -= len(str(key)) + 4
                stack.append(child)
        elif isinstance(node, list | tuple):
            budget -= 2 + len(node)
            stack.extend(node)
        elif isinstance(node, int) and not isinstance(node, bool):
            # bit_length, not str(): converting a huge int to text is itself quadratic.
            budget -= node.bit_length() // 3 + 1
        else:
            budget -= 8
        if budget < 0:
            return False
    return True
