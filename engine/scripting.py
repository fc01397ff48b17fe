"""Scripts and expressions in the Python designers write, sandboxed by RestrictedPython.

SpiffWorkflow runs scripts with ``exec`` and conditions with ``eval`` and full
builtins, and restricting ``__builtins__`` alone is no sandbox. Here every source
goes through one compiler, the same at deploy (engine.model_checks) and at run time
(``RestrictedEnvironment``), so what deploys is exactly what runs:

1. Our own checks, in pt-BR and naming the line: no ``import``, no classes, no
   ``with``/``global``/``yield``/``async``, no name or attribute that starts with
   ``_`` (dunders: ``().__class__``), none of ``open``/``eval``/``exec``/``getattr``...;
   Camunda's ``${…}`` and Zeebe's ``=…`` are told the platform speaks Python.
   Sources are capped in length and their syntax trees in depth.
2. RestrictedPython's policy, which routes every attribute read, subscript, iteration,
   unpacking and attribute/item write through guard functions; ours adds every binary
   operator (``a * b`` becomes ``_binop_("Mult", a, b)``), comparisons of two values
   that are not literals (``_compare_``), f-strings (``_fstring_``), ``*`` unpacking in
   displays and calls (``_unpack_``), slice writes, and a tick at the top of each
   ``while`` round, function call and lambda call.

Budgets, per run (``_Budget``): items iterated, ``while`` rounds and calls (of lambdas,
and of functions that built-ins call back: ``map``, ``filter``, sort keys) together at
most MAX_ITERATIONS; MAX_CPU_SECONDS of the thread's CPU, read every 256 ticks and
whenever built-ins have gone through enough items (``all``, ``sum``, ``sorted``,
``list``, ``x in lista``... charge what they go through, which no tick sees); at most
MAX_MEMORY_BYTES added to the process's resident memory, read with the clock. Every
operator and method that can multiply a value's size (``*``, ``+``, ``**``, ``<<``,
``join``, ``replace``, ``translate``, ``ljust``, ``extend``, ``range``, ``[*a, *a]``,
f-string widths...) checks the size of its result *before* computing it. What C walks
recursively, as deep and as often as a value holds the same list (``str``, ``repr``,
``format``, f-strings, ``json.dumps``, ``print``, ``==``/``<``/``in``, sorting,
a tuple hashed as a key), is measured first within a bound, MAX_SEQUENCE characters
of text or MAX_COMPARED items compared: ``[[0] * 100000] * 100000`` is 800 KB, its text
would be 30 GB. ``print`` output is capped; what a script writes back to task data is
capped per value and in total (engine.limits) and must be storable. A script over a
budget raises LimitExceeded, which engine.runtime turns into a technical incident.

The names SpiffArena offers scripts are here without import: ``datetime`` (both
``datetime.now()`` and ``datetime.datetime.now()`` work), ``timedelta``, ``date``,
``time``, ``decimal``/``Decimal``, ``json``, and the helpers ``get_current_user()``
(the person whose action runs the step; None for a timer), ``get_localtime(dt,
zone)``, and about the running instance ``get_process_initiator_user()``,
``get_last_user_completing_task(process, task)``, ``get_process_info()`` /
``get_toplevel_process_info()``, ``get_frontend_url()`` and ``sanitize_for_md(text)``.
SpiffArena's helpers that reach its own services (secrets, permissions, environment,
task URLs) are not offered: a script that calls one stops on a NameError naming it.
"""

from __future__ import annotations

import ast
import builtins
import contextlib
import contextvars
import copy
import datetime as _dt
import decimal as _decimal
import json as _json
import logging
import operator
import os
import re
import time as _time
import types
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from types import SimpleNamespace
from typing import Any, cast
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from RestrictedPython import (
    RestrictingNodeTransformer,
    compile_restricted_eval,
    compile_restricted_exec,
)
from RestrictedPython.Guards import (
    full_write_guard,
    guarded_iter_unpack_sequence,
    guarded_unpack_sequence,
    safer_getattr_raise,
)
from RestrictedPython.PrintCollector import PrintCollector
from SpiffWorkflow.bpmn.exceptions import WorkflowTaskException
from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine
from SpiffWorkflow.bpmn.script_engine.python_environment import BasePythonScriptEngineEnvironment
from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition
from SpiffWorkflow.task import Task

from engine import connectors, durations, limits

log = logging.getLogger(__name__)

_MAX_SOURCE = 2000
# Syntax-tree depth of one expression. Python's compiler recurses once per level and
# fails with RecursionError near 1000 levels ("1+1+...+1" with 600 terms is 600 deep).
MAX_DEPTH = 50
# What one operator may make: characters of a text or items of a list; bits of an integer.
MAX_SEQUENCE = 100_000
MAX_INT_BITS = 4096
# Items iterated (for, comprehensions), while rounds and function calls in one run.
MAX_ITERATIONS = 100_000
MAX_CPU_SECONDS = 1.0
# Items one comparison, sort or hash may go through, counting a value held many times
# each time: [[0] * 100000] * 100000 == [[0] * 100000] * 100000 is 10**10 steps in C.
MAX_COMPARED = 1_000_000
# Memory a run may add to the process (resident, read every few ms of work).
MAX_MEMORY_BYTES = 128 * 1024 * 1024
MAX_OUTPUT = 10_000  # characters ``print`` may write (kept in the log, not the data)
MAX_FORMAT_WIDTH = 1000  # widths and precisions in f-strings and format()


class ExpressionRejected(ValueError):
    """An expression or script outside the allowed language. ``str()`` is pt-BR."""


class LimitExceeded(ExpressionRejected):
    """A running expression or script went over a budget; nothing was written."""


# --- the person on whose behalf a step runs (get_current_user) --------------------------------

# The person, or how to read them: most steps run no script that asks, so the row is
# read on the first get_current_user() of the step, not before every step.
UserSource = dict[str, Any] | Callable[[], dict[str, Any] | None] | None
_current_user: contextvars.ContextVar[list[UserSource] | None] = contextvars.ContextVar(
    "chamados_script_user", default=None
)


@dataclass(frozen=True)
class InstanceFacts:
    """What SpiffArena's helpers about the running instance answer. The callables read
    the database only when a script asks, as ``get_current_user()`` does."""

    process_id: str
    # None while the first steps of a new instance run: its row is written after them.
    instance_id: int | None
    initiator: Callable[[], dict[str, Any] | None]
    last_completer: Callable[[str], dict[str, Any] | None]
    # The platform's address (APP_BASE_URL), for links in the model's texts.
    frontend_url: str = ""


_current_instance: contextvars.ContextVar[InstanceFacts | None] = contextvars.ContextVar(
    "chamados_script_instance", default=None
)


@contextlib.contextmanager
def acting_as(user: UserSource, instance: InstanceFacts | None = None) -> Iterator[None]:
    """Scripts run inside see ``user`` (or what the callable returns, called once, when
    a script first asks) from ``get_current_user()``, and ``instance`` from the helpers
    about the running instance (``get_process_initiator_user()``...)."""
    token = _current_user.set([user])
    instance_token = _current_instance.set(instance)
    try:
        yield
    finally:
        _current_instance.reset(instance_token)
        _current_user.reset(token)


# --- checks with pt-BR messages ----------------------------------------------------------------

_FORBIDDEN_NAMES = frozenset(
    {
        "open",
        "eval",
        "exec",
        "compile",
        "globals",
        "locals",
        "vars",
        "dir",
        "getattr",
        "setattr",
        "delattr",
        "hasattr",
        "type",
        "object",
        "input",
        "help",
        "breakpoint",
        "memoryview",
        "bytes",
        "bytearray",
        "exit",
        "quit",
        "super",
        "classmethod",
        "staticmethod",
        "property",
        "printed",
    }
)
_REFUSED_STATEMENTS: dict[type[ast.AST], str] = {
    ast.Import: "importações não são permitidas (datetime, timedelta, time, decimal e json "
    "já estão disponíveis)",
    ast.ImportFrom: "importações não são permitidas (datetime, timedelta, time, decimal e "
    "json já estão disponíveis)",
    ast.ClassDef: "classes não são permitidas",
    ast.With: "'with' não é permitido",
    ast.AsyncWith: "'async with' não é permitido",
    ast.AsyncFor: "'async for' não é permitido",
    ast.AsyncFunctionDef: "funções assíncronas não são permitidas",
    ast.Await: "'await' não é permitido",
    ast.Yield: "'yield' não é permitido",
    ast.YieldFrom: "'yield' não é permitido",
    ast.Global: "'global' não é permitido",
    ast.Nonlocal: "'nonlocal' não é permitido",
    ast.MatMult: "o operador @ não é permitido",
}
_NUMBERS = re.compile(r"\d+")


def _depth(tree: ast.AST) -> int:
    deepest, stack = 0, [(tree, 1)]
    while stack and deepest <= MAX_DEPTH:
        node, depth = stack.pop()
        deepest = max(deepest, depth)
        stack.extend((child, depth + 1) for child in ast.iter_child_nodes(node))
    return deepest


def _too_deep(source: str) -> ExpressionRejected:
    shown = source if len(source) <= 60 else source[:57] + "..."
    return ExpressionRejected(
        f"Expressão aninhada ou encadeada demais em {shown!r}: o limite é {MAX_DEPTH} "
        "níveis; divida o cálculo em linhas de um script."
    )


def _foreign_language(source: str) -> ExpressionRejected | None:
    text = source.strip()
    if text.startswith(("${", "#{")) and text.endswith("}"):
        inner = text[2:-1].strip()
        return ExpressionRejected(
            f"{text!r} é uma expressão do Camunda (JUEL); a plataforma usa Python, como o "
            f"SpiffArena: escreva só {inner!r}, com == para comparar e and/or/not."
        )
    if text.startswith("=") and not text.startswith("=="):
        inner = text[1:].strip()
        return ExpressionRejected(
            f"{text!r} é uma expressão FEEL do Camunda 8 (Zeebe); a plataforma usa Python, "
            f"como o SpiffArena: escreva {inner!r} sem o '=' inicial, com == para comparar."
        )
    return None


def _parse(source: str, mode: str) -> ast.AST:
    """``ast.parse`` whose every failure is ExpressionRejected, depth included."""
    foreign = _foreign_language(source)
    if foreign is not None:
        raise foreign
    try:
        tree = ast.parse(source, mode=mode)
    except SyntaxError as exc:
        if mode == "eval":
            raise ExpressionRejected(f"Expressão inválida {source!r}: erro de sintaxe.") from exc
        raise ExpressionRejected(
            f"Script inválido: erro de sintaxe na linha {exc.lineno}."
        ) from exc
    except (RecursionError, MemoryError) as exc:
        # CPython's parser gives up on very deep nesting with one of these.
        raise _too_deep(source) from exc
    if _depth(tree) > MAX_DEPTH:
        raise _too_deep(source)
    return tree


def _format_spec_problem(spec: ast.AST | None) -> str | None:
    if spec is None:
        return None
    if not isinstance(spec, ast.JoinedStr) or not all(
        isinstance(v, ast.Constant) for v in spec.values
    ):
        return "a formatação de um f-string deve ser fixa (sem {} dentro do ':')"
    text = "".join(str(v.value) for v in spec.values if isinstance(v, ast.Constant))
    if any(int(n) > MAX_FORMAT_WIDTH for n in _NUMBERS.findall(text)):
        return f"larguras e casas decimais de um f-string vão até {MAX_FORMAT_WIDTH}"
    return None


def _check_tree(tree: ast.AST) -> None:
    """Refusals in pt-BR, naming the line, before RestrictedPython's own policy."""
    for node in ast.walk(tree):
        line = getattr(node, "lineno", None)
        where = f"Linha {line}: " if line else ""
        refused = _REFUSED_STATEMENTS.get(type(node))
        if refused:
            raise ExpressionRejected(f"{where}{refused}.")
        name = None
        if isinstance(node, ast.Name):
            name = node.id
        elif isinstance(node, (ast.FunctionDef, ast.arg)):
            name = node.name if isinstance(node, ast.FunctionDef) else node.arg
        elif isinstance(node, ast.ExceptHandler):
            name = node.name
        if name is not None and name.startswith("_"):
            raise ExpressionRejected(f"{where}nome não permitido {name!r} (começa com _).")
        if isinstance(node, ast.Name) and node.id in _FORBIDDEN_NAMES:
            raise ExpressionRejected(f"{where}{node.id!r} não está disponível nos scripts.")
        if isinstance(node, ast.Attribute) and node.attr.startswith("_"):
            raise ExpressionRejected(
                f"{where}o atributo {node.attr!r} não é permitido (começa com _)."
            )
        if isinstance(node, ast.Attribute) and node.attr in ("format", "format_map"):
            # str.format reaches any attribute of its arguments ("{0.__class__}").
            raise ExpressionRejected(f"{where}.{node.attr}() não é permitido; use f-strings.")
        if isinstance(node, ast.FormattedValue):
            problem = _format_spec_problem(node.format_spec)
            if problem:
                raise ExpressionRejected(f"{where}{problem}.")


class _Shape(ast.NodeTransformer):
    """``d["k"] += 1`` → ``d["k"] = d["k"] + 1``: SpiffArena scripts write it, and
    RestrictedPython only guards augmented assignment of plain names."""

    def visit_AugAssign(self, node: ast.AugAssign) -> ast.AST:
        self.generic_visit(node)
        if not isinstance(node.target, ast.Subscript):
            return node
        load = copy.deepcopy(node.target)
        load.ctx = ast.Load()
        value = ast.BinOp(left=load, op=node.op, right=node.value)
        return ast.copy_location(ast.Assign(targets=[node.target], value=value), node)


def _tick_call() -> ast.Expr:
    return ast.Expr(_guard_call("_tick_"))


def _guard_call(name: str, *args: ast.expr) -> ast.Call:
    return ast.Call(ast.Name(name, ast.Load()), list(args), [])


def _hashed(node: ast.expr) -> ast.expr:
    """A dict key or set item: ``_key_(k)``, which measures a tuple (hashing one goes
    through all it holds, ``t = (t, t)`` sixty times is 2**60 steps). Literals are not."""
    if isinstance(node, ast.Constant | ast.Slice):
        return node
    return _guard_call("_key_", node)


def _flat_constant(node: ast.expr) -> bool:
    """A literal whose comparison with anything costs no more than its own (source) size."""
    if isinstance(node, ast.Tuple | ast.List | ast.Set):
        return all(isinstance(e, ast.Constant) for e in node.elts)
    return isinstance(node, ast.Constant)


def _pieces(elements: list[ast.expr]) -> ast.Tuple:
    """``a, *b, c`` as ``((a,), b, (c,))``: what ``_unpack_`` measures before joining."""
    return ast.Tuple(
        [e.value if isinstance(e, ast.Starred) else ast.Tuple([e], ast.Load()) for e in elements],
        ast.Load(),
    )


class _Policy(RestrictingNodeTransformer):
    """RestrictedPython's policy plus guarded operators, comparisons, f-strings and
    unpacking, and ticks in loops, functions and lambdas."""

    def _placed(self, new: ast.AST, old: ast.AST) -> Any:
        return ast.fix_missing_locations(ast.copy_location(new, old))

    def visit_BinOp(self, node: ast.BinOp) -> Any:
        node = self.node_contents_visit(node)
        op = ast.Constant(type(node.op).__name__)
        return self._placed(_guard_call("_binop_", op, node.left, node.right), node)

    def visit_While(self, node: ast.While) -> Any:
        node = self.node_contents_visit(node)
        node.body.insert(0, self._placed(_tick_call(), node))
        return node

    def visit_FunctionDef(self, node: ast.FunctionDef) -> Any:
        visited = cast(ast.FunctionDef, super().visit_FunctionDef(node))
        visited.body.insert(0, self._placed(_tick_call(), node))
        return visited

    def visit_Lambda(self, node: ast.Lambda) -> Any:
        # ``lambda n: body`` → ``lambda n: _tick_() or body`` (the tick returns None): a
        # lambda calling itself is counted and timed as a def is.
        visited = cast(ast.Lambda, super().visit_Lambda(node))
        visited.body = ast.BoolOp(ast.Or(), [_guard_call("_tick_"), visited.body])
        return self._placed(visited, node)

    def visit_Compare(self, node: ast.Compare) -> Any:
        # ``==``, ``<`` and ``in`` walk containers in C, as deep and as often as a value
        # shares them: ``a == b`` becomes ``_compare_("Eq", a, b)``, which measures first.
        # A literal operand bounds the work by itself, so conditions such as
        # ``decisao == "aprovar"`` stay plain Python.
        node = self.node_contents_visit(node)
        if all(isinstance(op, ast.Is | ast.IsNot) for op in node.ops):
            return node
        if len(node.ops) == 1:
            left, right = node.left, node.comparators[0]
            if _flat_constant(left) or _flat_constant(right):
                return node
            op = ast.Constant(type(node.ops[0]).__name__)
            return self._placed(_guard_call("_compare_", op, left, right), node)
        # A chain (``a < b < c``) keeps its short-circuit: each operand is measured alone.
        node.left = _guard_call("_compared_", node.left)
        node.comparators = [_guard_call("_compared_", c) for c in node.comparators]
        return self._placed(node, node)

    def visit_JoinedStr(self, node: ast.JoinedStr) -> Any:
        # f"{a}-{b!r:>10}" → _fstring_(((a, -1, ""), "-", (b, 114, ">10"))): every value is
        # measured before it becomes text, and the whole is capped as it grows. Format
        # specs are constants (checked before, _format_spec_problem).
        pieces: list[ast.expr] = []
        for part in node.values:
            if isinstance(part, ast.FormattedValue):
                spec = part.format_spec
                text = "".join(
                    str(v.value)
                    for v in (spec.values if isinstance(spec, ast.JoinedStr) else [])
                    if isinstance(v, ast.Constant)
                )
                value = self.visit(part.value)
                pieces.append(
                    ast.Tuple(
                        [value, ast.Constant(part.conversion), ast.Constant(text)], ast.Load()
                    )
                )
            else:
                pieces.append(part)
        return self._placed(_guard_call("_fstring_", ast.Tuple(pieces, ast.Load())), node)

    def _display(self, node: ast.List | ast.Tuple | ast.Set, kind: str) -> Any:
        # ``[*a, *a]`` doubles a list with no operator: ``_unpack_`` adds up the sizes
        # before it builds.
        node = self.node_contents_visit(node)
        loading = not isinstance(node, ast.List | ast.Tuple) or isinstance(node.ctx, ast.Load)
        if not loading or not any(isinstance(e, ast.Starred) for e in node.elts):
            return node
        return self._placed(_guard_call("_unpack_", ast.Constant(kind), _pieces(node.elts)), node)

    def visit_List(self, node: ast.List) -> Any:
        return self._display(node, "list")

    def visit_Tuple(self, node: ast.Tuple) -> Any:
        return self._display(node, "tuple")

    def visit_Set(self, node: ast.Set) -> Any:
        visited = self._display(node, "set")
        if isinstance(visited, ast.Set):
            visited.elts = [_hashed(e) for e in visited.elts]
        return self._placed(visited, node)

    def visit_Dict(self, node: ast.Dict) -> Any:
        # ``{**d}`` copies d: charged, as dict(d) is (its keys are hashed already).
        node = self.node_contents_visit(node)
        node.values = [
            _guard_call("_charged_", v) if k is None else v
            for k, v in zip(node.keys, node.values, strict=True)
        ]
        node.keys = [None if k is None else _hashed(k) for k in node.keys]
        return self._placed(node, node)

    def visit_DictComp(self, node: ast.DictComp) -> Any:
        node = cast(ast.DictComp, super().visit_DictComp(node))
        node.key = _hashed(node.key)
        return self._placed(node, node)

    def visit_SetComp(self, node: ast.SetComp) -> Any:
        node = cast(ast.SetComp, super().visit_SetComp(node))
        node.elt = _hashed(node.elt)
        return self._placed(node, node)

    def visit_Call(self, node: ast.Call) -> Any:
        node = cast(ast.Call, super().visit_Call(node))
        # RestrictedPython sends ``f(*a, *b)`` to ``_apply_(f, *a, *b)``; the arguments
        # are measured as a display's are: ``_apply_(f, *_unpack_("tuple", (a, b)))``.
        if (
            isinstance(node.func, ast.Name)
            and node.func.id == "_apply_"
            and any(isinstance(a, ast.Starred) for a in node.args[1:])
        ):
            unpacked = _guard_call("_unpack_", ast.Constant("tuple"), _pieces(node.args[1:]))
            node.args = [node.args[0], ast.Starred(unpacked, ast.Load())]
            return self._placed(node, node)
        return node

    def visit_Subscript(self, node: ast.Subscript) -> Any:
        visited = super().visit_Subscript(node)  # a _getitem_ call when read
        # ``l[:0] = l`` grows a list as ``extend`` does: a slice written goes through
        # ``_write_slice_``, which measures it; item writes keep RestrictedPython's guard.
        if (
            isinstance(visited, ast.Subscript)
            and isinstance(visited.slice, ast.Slice)
            and isinstance(visited.value, ast.Call)
            and isinstance(visited.value.func, ast.Name)
            and visited.value.func.id == "_write_"
        ):
            visited.value.func.id = "_write_slice_"
        elif isinstance(visited, ast.Subscript):  # d[k] = v, del d[k]: k is hashed
            visited.slice = _hashed(visited.slice)
            self._placed(visited, node)
        return visited


_RP_LINE = re.compile(r"Line (\d+)")
# The file name of compiled scripts: the name SpiffWorkflow looks for in a traceback to
# tell the script's line; a function with it is the script's own.
_SOURCE_NAME = "<string>"


def _restricted(tree: ast.AST, mode: str) -> Any:
    tree = cast(ast.Module | ast.Expression, ast.fix_missing_locations(_Shape().visit(tree)))
    compiler = compile_restricted_exec if mode == "exec" else compile_restricted_eval
    result = compiler(tree, _SOURCE_NAME, policy=_Policy)
    if result.errors:
        # Whatever our checks let through and RestrictedPython refuses: its text is
        # English, so only the line is kept.
        match = _RP_LINE.search(result.errors[0])
        where = f"Linha {match.group(1)}: " if match else ""
        raise ExpressionRejected(f"{where}construção não permitida nos scripts da plataforma.")
    return result.code


@lru_cache(maxsize=512)
def compile_expression(source: str) -> Any:
    """Check and compile a condition or timer expression; cached (re-evaluated often)."""
    if len(source) > _MAX_SOURCE:
        raise ExpressionRejected("Expressão longa demais.")
    tree = _parse(source.strip(), "eval")
    _check_tree(tree)
    return _restricted(tree, "eval")


@lru_cache(maxsize=256)
def compile_script(source: str) -> Any:
    """Check and compile a script (script task, pre- and post-script)."""
    if len(source) > _MAX_SOURCE * 5:
        raise ExpressionRejected("Script longo demais.")
    tree = _parse(source, "exec")
    _check_tree(tree)
    return _restricted(tree, "exec")


# --- guarded operations ------------------------------------------------------------------------


def _too_big(what: str) -> LimitExceeded:
    return LimitExceeded(f"O cálculo geraria {what}; nada foi calculado.")


_SEQUENCE_TOO_BIG = f"um valor com mais de {MAX_SEQUENCE} caracteres ou itens"


def _is_int(value: Any) -> bool:
    return isinstance(value, int)  # bool too: True * "a" is a repetition


def _check_bits(bits: int) -> None:
    if bits > MAX_INT_BITS:
        raise _too_big(f"um número com mais de {MAX_INT_BITS} bits")


def _check_length(length: int) -> None:
    if length > MAX_SEQUENCE:
        raise _too_big(_SEQUENCE_TOO_BIG)


def _built(length: int) -> None:
    """A value of ``length`` items or characters about to be made: within MAX_SEQUENCE,
    and charged to the run (what it allocates is watched at the clock's reads)."""
    _check_length(length)
    _budget().charge(length)


# What ``*`` and ``+`` can repeat; bytes come from literals (b"...") and ``str.encode``.
_REPEATABLE = str | bytes | list | tuple


def _add(a: Any, b: Any) -> Any:
    if isinstance(a, _REPEATABLE) and isinstance(b, _REPEATABLE):
        _built(len(a) + len(b))
    if _is_int(a) and _is_int(b):
        _check_bits(max(a.bit_length(), b.bit_length()) + 1)
    return a + b


def _sub(a: Any, b: Any) -> Any:
    if _is_int(a) and _is_int(b):
        _check_bits(max(a.bit_length(), b.bit_length()) + 1)
    return a - b


def _mul(a: Any, b: Any) -> Any:
    for sequence, times in ((a, b), (b, a)):
        if isinstance(sequence, _REPEATABLE) and _is_int(times):
            _built(len(sequence) * max(times, 0))
    if _is_int(a) and _is_int(b):
        _check_bits(a.bit_length() + b.bit_length())
    return a * b


def _pow(a: Any, b: Any, modulo: Any = None) -> Any:
    if modulo is None and _is_int(a) and _is_int(b) and b > 0:
        _check_bits(max(a.bit_length(), 1) * b)
    if modulo is not None and _is_int(a) and _is_int(b) and _is_int(modulo):
        # Bounded by the modulus, but each of b's bits squares numbers that big.
        _check_bits(max(a.bit_length(), b.bit_length(), modulo.bit_length()))
    if isinstance(a, _decimal.Decimal) or isinstance(b, _decimal.Decimal):
        if abs(_decimal.Decimal(b)) > MAX_INT_BITS:
            raise _too_big("uma potência de expoente grande demais")
    return pow(a, b) if modulo is None else pow(a, b, modulo)


def _lshift(a: Any, b: Any) -> Any:
    if _is_int(a) and _is_int(b):
        _check_bits(a.bit_length() + max(b, 0))
    return a << b


def _mod(a: Any, b: Any) -> Any:
    if isinstance(a, str | bytes):
        raise LimitExceeded("O operador % não formata textos aqui; use f-strings.")
    return a % b


_BINOPS: dict[str, Callable[[Any, Any], Any]] = {
    "Add": _add,
    "Sub": _sub,
    "Mult": _mul,
    "Pow": _pow,
    "LShift": _lshift,
    "Mod": _mod,
    # Never bigger than their operands, whose size the others bound.
    "Div": lambda a, b: a / b,
    "FloorDiv": lambda a, b: a // b,
    "RShift": lambda a, b: a >> b,
    "BitAnd": lambda a, b: a & b,
    "BitOr": lambda a, b: a | b,  # dict | dict: bounded by its operands
    "BitXor": lambda a, b: a ^ b,
}
_INPLACE = {
    "+=": "Add",
    "-=": "Sub",
    "*=": "Mult",
    "/=": "Div",
    "//=": "FloorDiv",
    "%=": "Mod",
    "**=": "Pow",
    "<<=": "LShift",
    ">>=": "RShift",
    "&=": "BitAnd",
    "|=": "BitOr",
    "^=": "BitXor",
}


def _binop(op: str, a: Any, b: Any) -> Any:
    if type(a) in _CONTAINERS:  # set | set, dict | dict: as big as both
        _budget().charge(len(a) + _len_of(b))
    return _BINOPS[op](a, b)


def _checked_width(width: Any) -> None:
    if _is_int(width) and width > MAX_SEQUENCE:
        raise _too_big(_SEQUENCE_TOO_BIG)


def _longest_replacement(table: Any) -> int:
    """The longest text ``str.translate`` may put in place of one character."""
    values = table.values() if isinstance(table, dict) else table
    if not isinstance(values, list | tuple | type({}.values())):
        return 1
    return max([len(v) for v in values if isinstance(v, str)], default=1)


def _text_method(text: str | bytes, name: str, method: Callable[..., Any]) -> Callable[..., Any]:
    """Wraps the ``str`` and ``bytes`` methods that can make a text much bigger than itself."""

    def guarded(*args: Any, **kwargs: Any) -> Any:
        if name in ("ljust", "rjust", "center", "zfill") and args:
            _checked_width(args[0])
        elif name == "expandtabs":
            size = args[0] if args else kwargs.get("tabsize", 8)
            _built(len(text) * max(size if _is_int(size) else 8, 1))
        elif name == "join" and args:
            items = list(args[0])
            _budget().charge(len(items))
            _built(
                sum(len(i) if isinstance(i, str | bytes) else 0 for i in items)
                + len(text) * len(items)
            )
            return method(items)
        elif name == "replace" and len(args) >= 2:
            old, new = args[0], args[1]
            if isinstance(old, str | bytes) and isinstance(new, str | bytes):
                count = len(text) + 1 if not old else text.count(old)  # type: ignore[arg-type]
                _built(len(text) + count * max(len(new) - len(old), 0))
        elif name == "translate" and args:
            _built(len(text) * max(_longest_replacement(args[0]), 1))
        result = method(*args, **kwargs)
        if name in _TEXT_CONVERSIONS:
            # At most a few times their input, but each other's input: unchecked,
            # ``s.encode("unicode_escape").decode()`` in a loop doubles every round.
            _check_length(len(result))
        return result

    return guarded


def _list_extend(target: list[Any], method: Callable[..., Any]) -> Callable[..., Any]:
    def guarded(items: Any) -> None:
        items = list(items)
        _built(len(target) + len(items))
        method(items)

    return guarded


_TEXT_CONVERSIONS = frozenset({"encode", "decode", "hex"})
_TEXT_AMPLIFIERS = frozenset(
    {"ljust", "rjust", "center", "zfill", "expandtabs", "join", "replace", "translate"}
    | _TEXT_CONVERSIONS
)


def _range(*args: int) -> range:
    made = range(*args)
    _check_length(len(made))
    return made


# Decimal digits of a MAX_INT_BITS-bit integer.
_MAX_INT_DIGITS = MAX_INT_BITS * 3 // 10 + 1


def _check_decimal_int(value: _decimal.Decimal, ratio: bool = False) -> None:
    """A Decimal is 1E+999999999 in a few bytes; as an integer (``int``, ``round``) or a
    fraction (``as_integer_ratio``) it is that many digits."""
    if value.is_finite():
        digits = value.adjusted()
        if ratio:
            digits = max(digits, -cast(int, value.as_tuple().exponent))
        if digits > _MAX_INT_DIGITS:
            raise _too_big(f"um número com mais de {MAX_INT_BITS} bits")


def _int(value: Any = 0, *args: Any) -> int:
    if isinstance(value, _decimal.Decimal):
        _check_decimal_int(value)
    made = int(value, *args)
    _check_bits(made.bit_length())  # int("9" * 4300): Python's own cap is 14,000 bits
    return made


def _int_result(method: Callable[..., Any]) -> Callable[..., Any]:
    """``int.from_bytes``: 8 bits per byte, past what the operators accept."""

    def guarded(*args: Any, **kwargs: Any) -> Any:
        made = method(*args, **kwargs)
        _check_bits(made.bit_length())
        return made

    return guarded


def _round(number: Any, ndigits: Any = None) -> Any:
    if ndigits is None:
        if isinstance(number, _decimal.Decimal):
            _check_decimal_int(number)
        return round(number)
    if _is_int(number) and _is_int(ndigits) and ndigits < 0:
        # round(5, -10**9) computes 10**(10**9) first; a digit is about 3.32 bits.
        _check_bits(-ndigits * 10 // 3)
    return round(number, ndigits)


def _decimal_width(value: _decimal.Decimal) -> int:
    """Characters of ``format(value, "f")``: all its digits and zeros written out."""
    if not value.is_finite():
        return 3
    return max(value.adjusted(), 0) + max(-cast(int, value.as_tuple().exponent), 0) + 2


def _sum(values: Any, start: Any = 0) -> Any:
    if not isinstance(start, int | float | _decimal.Decimal):
        raise LimitExceeded("sum() soma apenas números aqui.")
    _budget().charge(_len_of(values))
    total = start
    for value in values:
        total = _add(total, value)
    return total


def _format(value: Any, spec: str = "") -> str:
    if any(int(n) > MAX_FORMAT_WIDTH for n in _NUMBERS.findall(str(spec))):
        raise _too_big(f"uma formatação com largura acima de {MAX_FORMAT_WIDTH}")
    return _budget().formatted(value, spec)


# --- what values cost to compare, hash and show -----------------------------------------------

_VIEWS: tuple[type, ...] = (type({}.keys()), type({}.values()), type({}.items()))
# What holds other values: comparing, hashing or showing one goes through all it holds,
# as many times as it holds the same value ([[0] * 100000] * 100000 is 800 KB).
_CONTAINERS = frozenset({list, tuple, set, frozenset, dict, *_VIEWS})
# Looked up by hash: ``x in d`` compares x with a few keys, not with every item.
_HASHED = frozenset({dict, set, frozenset, _VIEWS[0]})
# Compared, hashed and shown at the cost of their own size in memory.
_ATOMS = frozenset(
    {
        int,
        float,
        bool,
        type(None),
        _decimal.Decimal,
        _dt.datetime,
        _dt.date,
        _dt.time,
        _dt.timedelta,
        _dt.timezone,
    }
)
_FLAT = _ATOMS | {str, bytes, range}
_SIZED = frozenset({str, bytes, range, *_CONTAINERS})
# Short whatever they hold: str() and repr() need no measuring (a Decimal is written
# 1E+999999999; ints are capped, and so are their digits).
_SHORT_TEXT = _ATOMS | {range}
_COMPARISONS: dict[str, Callable[[Any, Any], Any]] = {
    "Eq": operator.eq,
    "NotEq": operator.ne,
    "Lt": operator.lt,
    "LtE": operator.le,
    "Gt": operator.gt,
    "GtE": operator.ge,
}
_COMPARISON_TOO_BIG = f"uma comparação ou busca que percorre mais de {MAX_COMPARED} itens"
# Methods of containers that cost the same whatever their size.
_CHEAP_METHODS = frozenset(
    {"append", "add", "discard", "get", "setdefault", "pop", "popitem", "keys", "values", "items"}
)
# Methods of dicts and sets that hash what they are given: one key, or every item.
_KEY_METHODS = frozenset({"get", "setdefault", "pop", "add", "discard", "remove"})
_KEYED_METHODS = _KEY_METHODS | {
    "update",
    "union",
    "intersection",
    "difference",
    "symmetric_difference",
    "intersection_update",
    "difference_update",
    "symmetric_difference_update",
    "issubset",
    "issuperset",
    "isdisjoint",
}
_UNBOUND = (types.MethodDescriptorType, types.WrapperDescriptorType)
_MISSING: Any = object()
# zip over more lists than this reads them first, to bound rows times columns.
_ZIP_WIDTH = 16


def _len_of(value: Any) -> int:
    return len(value) if type(value) in _SIZED else 0


def _flat_weight(items: Any, text: bool) -> int | None:
    """What the items of one container weigh when none holds others, in one pass in C
    over their types (None: some do, the caller goes through them one by one)."""
    kinds = set(map(type, items))
    if not kinds <= _FLAT:
        return None
    if kinds <= _ATOMS and not (text and int in kinds):
        return 0  # their separators are counted with the container
    if kinds == {str} or kinds == {bytes}:
        chars = sum(map(len, items))
        return chars if text else chars // 64  # a comparison goes 64 bytes at a time
    if text and kinds <= {int, bool}:
        return sum(map(int.bit_length, items)) // 3
    return None


# The budget of the script running in this context, for the built-ins below (shared by
# every run, unlike the guards each run gets in its namespace).
_running: contextvars.ContextVar[_Budget | None] = contextvars.ContextVar(
    "chamados_script_budget", default=None
)


def _budget() -> _Budget:
    # Outside a run (a lazy value read after its script ended) a fresh budget applies.
    return _running.get() or _Budget()


# Built-ins that go through what they are given in C: each measures, ticks or charges
# what no tick of the script would see (all(map(all, [range(10**5)] * 10**5)) is 10**10
# steps inside one call).


def _all(iterable: Any) -> bool:
    _budget().charge(_len_of(iterable))
    return all(iterable)


def _any(iterable: Any) -> bool:
    _budget().charge(_len_of(iterable))
    return any(iterable)


def _map(function: Any, *iterables: Any) -> Iterator[Any]:
    return map(_budget().counted(function), *iterables)


def _filter(function: Any, iterable: Any) -> Iterator[Any]:
    return filter(None if function is None else _budget().counted(function), iterable)


def _zip(*iterables: Any, strict: bool = False) -> Iterator[tuple[Any, ...]]:
    if len(iterables) > _ZIP_WIDTH:
        # zip(*[l] * 100000) makes rows as long as the list of lists: rows times columns.
        parts = [p if type(p) in _SIZED else list(p) for p in iterables]
        _built(len(parts) * min(len(p) for p in parts))
        iterables = tuple(parts)
    return zip(*iterables, strict=strict)


def _sorted(iterable: Any, /, *, key: Any = None, reverse: bool = False) -> list[Any]:
    return _budget().sort_items(iterable, key, reverse)


def _min(*args: Any, key: Any = None, default: Any = _MISSING) -> Any:
    return _budget().extreme(min, args, key, default)


def _max(*args: Any, key: Any = None, default: Any = _MISSING) -> Any:
    return _budget().extreme(max, args, key, default)


def _list(iterable: Any = ()) -> list[Any]:
    _budget().charge(_len_of(iterable))
    return list(iterable)


def _tuple(iterable: Any = ()) -> tuple[Any, ...]:
    _budget().charge(_len_of(iterable))
    return tuple(iterable)


def _set(iterable: Any = ()) -> set[Any]:
    return set(_budget().hashable(iterable))


def _frozenset(iterable: Any = ()) -> frozenset[Any]:
    return frozenset(_budget().hashable(iterable))


def _dict(*args: Any, **kwargs: Any) -> dict[Any, Any]:
    if args:
        args = (_budget().hashable(args[0]), *args[1:])
    return dict(*args, **kwargs)


def _str(*args: Any, **kwargs: Any) -> str:
    if len(args) == 1 and not kwargs:
        value = args[0]
        kind = type(value)
        if kind is str:
            return value
        if kind in _SHORT_TEXT:
            return str(value)
        return _budget().text(str, value)
    return str(*args, **kwargs)  # str(), or bytes decoded: no longer than the bytes


def _repr(value: Any) -> str:
    if type(value) in _SHORT_TEXT:
        return repr(value)
    return _budget().text(repr, value)


class _ScriptType(type):
    """A built-in type as scripts see it: calling it goes through its guard (``str(x)``
    measures x first); ``isinstance``, its methods (``str.upper``, ``dict.fromkeys``)
    and its name are the real type's."""

    _real: type
    _make: Callable[..., Any]

    def __call__(cls, *args: Any, **kwargs: Any) -> Any:
        return cls._make(*args, **kwargs)

    def __instancecheck__(cls, instance: Any) -> bool:
        return isinstance(instance, cls._real)

    def __subclasscheck__(cls, subclass: type) -> bool:
        return issubclass(subclass, cls._real)

    def __getattr__(cls, name: str) -> Any:
        return getattr(cls._real, name)

    def __repr__(cls) -> str:
        return repr(cls._real)


def _script_type(real: type, make: Callable[..., Any]) -> _ScriptType:
    return _ScriptType(real.__name__, (), {"_real": real, "_make": staticmethod(make)})


class _DateTimeName:
    """``datetime`` as SpiffArena scripts use it: the class (``datetime.now()``,
    ``datetime(2024, 1, 31)``) and the module (``datetime.datetime.now()``,
    ``datetime.timedelta``)."""

    datetime = _dt.datetime
    date = _dt.date
    time = _dt.time
    timedelta = _dt.timedelta
    timezone = _dt.timezone
    MINYEAR = _dt.MINYEAR
    MAXYEAR = _dt.MAXYEAR

    def __call__(self, *args: Any, **kwargs: Any) -> _dt.datetime:
        return _dt.datetime(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(_dt.datetime, name)


_INTERNAL_IMPORTS = frozenset({"time", "_strptime"})


def _internal_import(name: str, *args: Any, **kwargs: Any) -> Any:
    """``date.today()`` and ``datetime.strptime`` import ``time`` / ``_strptime`` through
    the builtins of the calling code. Scripts cannot name ``__import__`` (names starting
    with ``_`` are refused) nor write ``import``: only those C functions reach this."""
    if name not in _INTERNAL_IMPORTS:
        raise ImportError(f"Importação não permitida: {name}")
    return builtins.__import__(name, *args, **kwargs)


def _get_localtime(moment: _dt.datetime, zone: str = "America/Sao_Paulo") -> _dt.datetime:
    try:
        return moment.astimezone(ZoneInfo(str(zone)))
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ExpressionRejected(f"Fuso horário desconhecido: {zone!r}.") from exc


def _get_current_user() -> dict[str, Any] | None:
    holder = _current_user.get()
    if holder is None:
        return None
    source = holder[0]
    if callable(source):
        source = holder[0] = source()  # read once per step, on the first call
    return dict(source) if source else None


def _get_process_initiator_user() -> dict[str, Any] | None:
    instance = _current_instance.get()
    return instance.initiator() if instance else None


def _get_last_user_completing_task(*args: Any, **kwargs: Any) -> dict[str, Any] | None:
    """SpiffArena's ``get_last_user_completing_task(process, task)``: the person who last
    completed the task ``task`` (its BPMN id) of this instance. The process argument
    names a model in SpiffArena's tree; an instance here runs one model, so only the task
    counts."""
    task = kwargs.get("task_bpmn_identifier", args[1] if len(args) > 1 else None)
    if not isinstance(task, str):
        raise ExpressionRejected(
            "get_last_user_completing_task recebe o processo e o id da tarefa, ex.: "
            'get_last_user_completing_task("meu_processo", "aprovar").'
        )
    instance = _current_instance.get()
    return instance.last_completer(task) if instance else None


def _get_frontend_url() -> str | None:
    instance = _current_instance.get()
    return instance.frontend_url if instance else None


def _get_process_info() -> dict[str, Any]:
    instance = _current_instance.get()
    return {
        "process_instance_id": instance.instance_id if instance else None,
        "process_model_identifier": instance.process_id if instance else None,
    }


_MARKDOWN_SPECIAL = re.compile(r"([_*\[\]()~`#+\-=|{}!])")


def sanitize_for_md(value: Any) -> str:
    """SpiffArena's ``sanitize_for_md``: a value shown inside markdown as the text it is
    (its markdown characters escaped, its line breaks removed). Also a filter of the
    model's texts (engine.policy)."""
    text = "" if value is None else str(value)
    return _MARKDOWN_SPECIAL.sub(r"\\\1", text).replace("\n", "").replace("\r", "")


def _json_loads(text: str) -> Any:
    _budget().charge(_len_of(text))
    try:
        return limits.loads(text)
    except limits.JsonRejected as exc:
        raise ExpressionRejected(exc.message) from exc


def _json_width(value: Any) -> int:
    if isinstance(value, str):
        return len(value)
    return value if _is_int(value) else 0


def _json_dumps(
    obj: Any,
    *,
    skipkeys: bool = False,
    ensure_ascii: bool = True,
    check_circular: bool = True,
    allow_nan: bool = True,
    indent: Any = None,
    separators: Any = None,
    default: Any = None,
    sort_keys: bool = False,
) -> str:
    """``json.dumps``, refused before it writes past MAX_SEQUENCE characters."""
    budget = _budget()
    flags: dict[str, Any] = {
        "skipkeys": skipkeys,
        "ensure_ascii": ensure_ascii,
        "check_circular": check_circular,
        "allow_nan": allow_nan,
        "sort_keys": sort_keys,
    }
    if indent is None and separators is None and default is None:
        # Python's C encoder, in one go: the value is measured before, the text after.
        budget.sized_text(obj)
        text = _json.dumps(obj, **flags)
        _check_length(len(text))
        return text
    # Indentation (times the depth), separators and what ``default`` returns are not in
    # the measure: the text is written piece by piece and counted as it grows.
    separators = None if separators is None else tuple(separators)
    if max([_json_width(indent), *map(_json_width, separators or ())]) > MAX_FORMAT_WIDTH:
        raise _too_big(f"uma formatação com largura acima de {MAX_FORMAT_WIDTH}")
    encoder = _json.JSONEncoder(
        indent=indent,
        separators=separators,
        default=None if default is None else budget.counted(default),
        **flags,
    )
    size, chunks = 0, []
    for chunk in encoder.iterencode(obj):
        size += len(chunk)
        if size > MAX_SEQUENCE:
            raise _too_big(_SEQUENCE_TOO_BIG)
        chunks.append(chunk)
    budget.charge(len(chunks))
    return "".join(chunks)


_STANDARD_NAMES: dict[str, Any] = {
    "datetime": _DateTimeName(),
    "timedelta": _dt.timedelta,
    "date": _dt.date,
    "timezone": _dt.timezone,
    "time": SimpleNamespace(
        time=_time.time,
        strftime=_time.strftime,
        strptime=_time.strptime,
        gmtime=_time.gmtime,
        localtime=_time.localtime,
        mktime=_time.mktime,
    ),
    "decimal": SimpleNamespace(
        Decimal=_decimal.Decimal,
        ROUND_HALF_UP=_decimal.ROUND_HALF_UP,
        ROUND_HALF_EVEN=_decimal.ROUND_HALF_EVEN,
        ROUND_DOWN=_decimal.ROUND_DOWN,
        ROUND_UP=_decimal.ROUND_UP,
        InvalidOperation=_decimal.InvalidOperation,
    ),
    "Decimal": _decimal.Decimal,
    "json": SimpleNamespace(dumps=_json_dumps, loads=_json_loads),
    "get_current_user": _get_current_user,
    "get_localtime": _get_localtime,
    "get_process_initiator_user": _get_process_initiator_user,
    "get_last_user_completing_task": _get_last_user_completing_task,
    "get_process_info": _get_process_info,
    "get_frontend_url": _get_frontend_url,
    "get_toplevel_process_info": _get_process_info,
    "sanitize_for_md": sanitize_for_md,
}

_BUILTINS: dict[str, Any] = {
    **{
        name: getattr(builtins, name)
        for name in (
            "abs",
            "bool",
            "chr",
            "divmod",
            "enumerate",
            "float",
            "isinstance",
            "len",
            "ord",
            "reversed",
            "ArithmeticError",
            "AttributeError",
            "Exception",
            "IndexError",
            "KeyError",
            "LookupError",
            "NameError",
            "RuntimeError",
            "TypeError",
            "ValueError",
            "ZeroDivisionError",
        )
    },
    "__import__": _internal_import,
    "None": None,
    "True": True,
    "False": False,
    "range": _range,
    "sum": _sum,
    "pow": _pow,
    "format": _format,
    "round": _round,
    "repr": _repr,
    "all": _all,
    "any": _any,
    "map": _map,
    "filter": _filter,
    "zip": _zip,
    "sorted": _sorted,
    "min": _min,
    "max": _max,
    # Types, so that isinstance(x, str) and str.upper still work.
    "int": _script_type(int, _int),
    "str": _script_type(str, _str),
    "list": _script_type(list, _list),
    "tuple": _script_type(tuple, _tuple),
    "set": _script_type(set, _set),
    "frozenset": _script_type(frozenset, _frozenset),
    "dict": _script_type(dict, _dict),
}
_GUARD_NAMES = frozenset(
    {
        "_binop_",
        "_tick_",
        "_getattr_",
        "_getitem_",
        "_getiter_",
        "_iter_unpack_sequence_",
        "_unpack_sequence_",
        "_write_",
        "_inplacevar_",
        "_apply_",
        "_print_",
        "_print",
        "_compare_",
        "_compared_",
        "_fstring_",
        "_unpack_",
        "_charged_",
        "_key_",
        "_write_slice_",
        "__builtins__",
        "__name__",
        "__metaclass__",
    }
)


class _SliceWrites:
    """``l[a:b] = v`` on a list: v's size is checked as ``extend``'s is."""

    __slots__ = ("_target",)

    def __init__(self, target: list[Any]) -> None:
        self._target = target

    def __setitem__(self, index: Any, value: Any) -> None:
        items = value if type(value) in _SIZED else list(value)
        _built(len(self._target) + len(items))
        self._target[index] = items

    def __delitem__(self, index: Any) -> None:
        del self._target[index]


def _write_slice(obj: Any) -> Any:
    return _SliceWrites(obj) if type(obj) is list else full_write_guard(obj)


# Items of work done in C between two reads of the CPU clock (a read costs about 1 µs,
# 65,536 items a few ms).
_CLOCK_WORK = 1 << 16
_PAGE_SIZE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def _resident_bytes() -> int:
    """The process's resident memory (0 where /proc is missing: no check there). The
    process's, not the script's: other threads count too, hence a generous cap."""
    try:
        with open("/proc/self/statm", "rb") as statm:
            return int(statm.read().split()[1]) * _PAGE_SIZE
    except (OSError, ValueError, IndexError):
        return 0


# FormattedValue.conversion: f"{x!r}", f"{x!s}", f"{x!a}".
_REPR, _STR, _ASCII = ord("r"), ord("s"), ord("a")


class _Budget:
    """The guards of one run, sharing its iteration, CPU and output budgets.

    Python code ticks (loops, calls, attribute reads); work done inside built-ins, which
    no tick sees, is charged by how many items it goes through and the CPU clock read
    once enough has added up. What C walks recursively (text of a value, comparisons,
    hashes) is measured first, within a bound, and refused past it.
    """

    def __init__(self) -> None:
        self.iterations = 0
        self.deadline = _time.thread_time() + MAX_CPU_SECONDS
        self.output = 0
        self.work = 0
        self.checkpoints = 0
        self.memory_base: int | None = None

    def _over_time(self) -> LimitExceeded:
        return LimitExceeded(
            f"O script passou de {MAX_CPU_SECONDS:g} s de processamento; foi "
            "interrompido e nada foi gravado."
        )

    def tick(self) -> None:
        self.iterations += 1
        if self.iterations > MAX_ITERATIONS:
            raise LimitExceeded(
                f"O script passou de {MAX_ITERATIONS} repetições (laços, itens percorridos "
                "e chamadas de função); foi interrompido e nada foi gravado."
            )
        if not self.iterations & 255:
            self.checkpoint()

    def charge(self, items: int) -> None:
        """Work about to be done in C over ``items`` items: counted for the clock only
        (``x in lista`` in a loop is no repetition of the script's, but takes time)."""
        self.work += items
        if self.work > _CLOCK_WORK:
            self.work = 0
            self.checkpoint()

    def checkpoint(self) -> None:
        """Every 256 ticks or _CLOCK_WORK items of work: the CPU clock, and one time in
        four the memory the process holds. Each value is capped, not their number: a
        loop appending 100,000-item lists held 500 MB within its second of CPU."""
        if _time.thread_time() > self.deadline:
            raise self._over_time()
        self.checkpoints += 1
        if self.checkpoints & 3 != 1:
            return
        resident = _resident_bytes()
        if self.memory_base is None or resident < self.memory_base:
            # The first read is the base: reading at every run's start would cost every
            # short script (most) a system call; what came before is at most one
            # checkpoint's worth.
            self.memory_base = resident
        elif resident - self.memory_base > MAX_MEMORY_BYTES:
            raise _too_big(f"valores que ocupam mais de {MAX_MEMORY_BYTES >> 20} MB de memória")

    def counted(self, function: Any) -> Callable[..., Any]:
        """``function`` as C calls it back (map, filter, sort keys, json's default): a
        tick a call, unless it is the script's own (a def or lambda ticks itself)."""
        code = getattr(function, "__code__", None)
        if code is not None and code.co_filename == _SOURCE_NAME:
            return cast(Callable[..., Any], function)
        tick = self.tick

        def call(*args: Any) -> Any:
            tick()
            return function(*args)

        return call

    # -- measuring what C would walk

    def measure(self, value: Any, limit: int, text: bool) -> int:
        """How much ``value`` weighs (``text``: about how many characters its repr has;
        otherwise how many items a comparison or a hash goes through), counting a value
        held many times each time, as repr and == do. Stops once past ``limit``."""
        total = visited = 0
        stack = [value]
        while stack and total <= limit:
            node = stack.pop()
            kind = type(node)
            visited += 1
            if kind is str or kind is bytes:
                total += len(node) + 2 if text else 1 + len(node) // 64
            elif kind is int:
                total += node.bit_length() // 3 + 1 if text else 1
            elif kind in _CONTAINERS:
                size = len(node)
                total += 2 + (size * (4 if kind is dict else 2) if text else size)
                for part in (node.keys(), node.values()) if kind is dict else (node,):
                    # A few items are quicker to go through one by one than to sort out.
                    weight = None if size < 16 else _flat_weight(part, text)
                    visited += size
                    if weight is None:
                        stack.extend(part)
                    else:
                        total += weight
            elif text and isinstance(node, BaseException):
                stack.extend(node.args)
            else:
                total += 1
            if visited > _CLOCK_WORK:  # a long walk meets the clock as it goes
                self.charge(visited)
                visited = 0
        self.charge(visited)
        return total

    def sized_text(self, value: Any) -> None:
        if type(value) not in _SHORT_TEXT and (
            self.measure(value, MAX_SEQUENCE, text=True) > MAX_SEQUENCE
        ):
            raise _too_big(_SEQUENCE_TOO_BIG)

    def text(self, convert: Callable[..., str], value: Any, *args: Any) -> str:
        """``convert(value)`` (str, repr, format...), measured before and checked after
        (the measure is about: escapes, dates and floats may write more)."""
        if convert is str and type(value) is str:
            return value
        self.sized_text(value)
        made = convert(value, *args)
        _check_length(len(made))
        return made

    def formatted(self, value: Any, spec: str) -> str:
        kind = type(value)
        if kind is str and not spec:
            return value
        if kind is _decimal.Decimal:
            # Written out in full by "f" and "%": Decimal("1E+999999999") has 10**9 digits.
            if str(spec)[-1:] in ("f", "F", "%") and _decimal_width(value) > MAX_SEQUENCE:
                raise _too_big(_SEQUENCE_TOO_BIG)
        elif kind in _SHORT_TEXT:
            return format(value, spec)  # widths are capped where the spec is written
        return self.text(format, value, spec)

    def fstring(self, pieces: tuple[Any, ...]) -> str:
        """An f-string: its constant parts and ``(value, conversion, spec)`` for each
        ``{}``, joined once the whole is known to fit."""
        parts: list[str] = []
        size = 0
        for piece in pieces:
            if type(piece) is tuple:
                value, conversion, spec = piece
                if conversion == _REPR:
                    value = self.text(repr, value)
                elif conversion == _STR:
                    value = self.text(str, value)
                elif conversion == _ASCII:
                    value = self.text(ascii, value)
                piece = self.formatted(value, spec)
            size += len(piece)
            if size > MAX_SEQUENCE:
                raise _too_big(_SEQUENCE_TOO_BIG)
            parts.append(piece)
        return "".join(parts)

    def compared(self, value: Any) -> Any:
        if type(value) in _CONTAINERS and (
            self.measure(value, MAX_COMPARED, text=False) > MAX_COMPARED
        ):
            raise _too_big(_COMPARISON_TOO_BIG)
        return value

    def compare(self, op: str, a: Any, b: Any) -> Any:
        """``a op b``; costs at most what the smaller side holds, or for ``in`` what the
        value looked for holds (a dict, a set) or what the list holds."""
        if op == "In" or op == "NotIn":
            kind = type(b)
            if kind in _HASHED:
                self.compared(a)
            elif kind in _CONTAINERS:
                self.scanned(a, b)
            found = a in b
            return found if op == "In" else not found
        if (
            type(a) in _CONTAINERS
            and type(b) in _CONTAINERS
            and self.measure(a, MAX_COMPARED, text=False) > MAX_COMPARED
            and self.measure(b, MAX_COMPARED, text=False) > MAX_COMPARED
        ):
            raise _too_big(_COMPARISON_TOO_BIG)
        return _COMPARISONS[op](a, b)

    def scanned(self, wanted: Any, items: Any) -> None:
        """``wanted in items``, ``items.count(wanted)``: each item is compared with
        ``wanted``, a number at once, a text at most its length (64 bytes a step),
        anything else as deep as both go (then ``items`` is measured)."""
        kind = type(wanted)
        if kind in _ATOMS:
            steps = len(items)
        elif kind is str or kind is bytes:
            steps = len(items) * (1 + len(wanted) // 64)
        else:
            steps = MAX_COMPARED + 1
        if steps > MAX_COMPARED:
            self.compared(items)
        else:
            self.charge(steps)

    def hashable(self, iterable: Any) -> Any:
        """What set(), frozenset() and dict() are given, measured: hashing a tuple goes
        through all it holds. A dict or a set keeps its hashes and is not measured."""
        kind = type(iterable)
        if kind in _HASHED:
            self.charge(len(iterable))
            return iterable
        items = iterable if kind in _SIZED else list(iterable)
        self.charge(len(items))
        return self.compared(items)

    def keys(self, items: list[Any], key: Any) -> list[Any]:
        return self.compared(list(map(self.counted(key), items)))

    def sort_items(self, iterable: Any, key: Any, reverse: bool) -> list[Any]:
        items = list(iterable)
        self.charge(len(items) * len(items).bit_length())
        if key is None:
            self.compared(items)
            items.sort(reverse=reverse)
            return items
        # The keys are computed here (each call counted) and measured before C compares them.
        keys = self.keys(items, key)
        order = sorted(range(len(items)), key=keys.__getitem__, reverse=reverse)
        return [items[i] for i in order]

    def extreme(
        self, pick: Callable[..., Any], args: tuple[Any, ...], key: Any, default: Any
    ) -> Any:
        items = list(args[0]) if len(args) == 1 else list(args)
        if not items and default is not _MISSING:
            return default
        if key is None:
            return pick(self.compared(items))
        keys = self.keys(items, key)
        return items[pick(range(len(items)), key=keys.__getitem__)]

    def unpack(self, kind: str, pieces: tuple[Any, ...]) -> Any:
        """``[*a, b, *c]`` (and tuples, sets, call arguments), the sizes added up before
        the result is built."""
        parts, size = [], 0
        for piece in pieces:
            part = piece if type(piece) in _SIZED else list(piece)
            size += len(part)
            _check_length(size)
            parts.append(part)
        self.charge(size)
        merged: list[Any] = []
        for part in parts:
            merged.extend(part)
        if kind == "tuple":
            return tuple(merged)
        if kind == "set":
            return set(self.compared(merged))
        return merged

    # -- RestrictedPython's guards

    def getiter(self, iterable: Any) -> Iterator[Any]:
        for item in iter(iterable):
            self.tick()
            yield item

    def getitem(self, obj: Any, index: Any) -> Any:
        kind = type(index)
        if kind is slice:
            self.charge(_len_of(obj))
        elif kind is tuple:
            self.compared(index)  # a dict key: hashed
        return obj[index]

    def getattr(self, obj: Any, name: str) -> Any:
        self.tick()
        value = safer_getattr_raise(obj, name)
        kind = type(obj)
        if kind is str or kind is bytes:
            self.charge(len(obj))
            if name in _TEXT_AMPLIFIERS:
                return _text_method(obj, name, value)
        elif kind is list or kind is tuple:
            if name in ("count", "index", "remove"):
                return self._scan(obj, value)
            if kind is list and name == "sort":
                return self._sort(obj)
            if kind is list and name == "extend":
                return _list_extend(obj, value)
            if name not in _CHEAP_METHODS:
                self.charge(len(obj))
        elif kind in _CONTAINERS:
            if kind in _HASHED and name in _KEYED_METHODS:
                return self._keyed(value, name in _KEY_METHODS)
            if name not in _CHEAP_METHODS:
                self.charge(len(obj))
        elif kind is _ScriptType and isinstance(value, _UNBOUND):
            # str.upper(s), str.join(sep, items): as s.upper(), sep.join(items).
            return self._unbound(cast(_ScriptType, obj)._real, name, value)
        elif kind is _decimal.Decimal and name == "as_integer_ratio":
            _check_decimal_int(obj, ratio=True)
        if name == "from_bytes":
            return _int_result(value)
        if name == "fromkeys":
            return self._from_keys(value)
        return value

    def _from_keys(self, method: Any) -> Callable[..., Any]:
        def guarded(iterable: Any, *args: Any) -> Any:
            return method(self.hashable(iterable), *args)

        return guarded

    def _scan(self, items: list[Any] | tuple[Any, ...], method: Any) -> Callable[..., Any]:
        def guarded(*args: Any, **kwargs: Any) -> Any:
            self.scanned(args[0] if args else None, items)
            return method(*args, **kwargs)

        return guarded

    def _keyed(self, method: Any, one_key: bool) -> Callable[..., Any]:
        """d.get(k), s.add(k) (one key, hashed) or s.update(items), s.union(...) (each
        item hashed): keys are measured as dict() and set() measure theirs."""

        def guarded(*args: Any, **kwargs: Any) -> Any:
            if one_key:
                if args:
                    _key(args[0])
            else:
                args = tuple(self.hashable(a) for a in args)
            return method(*args, **kwargs)

        return guarded

    def _sort(self, items: list[Any]) -> Callable[..., None]:
        def guarded(*, key: Any = None, reverse: bool = False) -> None:
            items[:] = self.sort_items(items, key, reverse)

        return guarded

    def _unbound(self, real: type, name: str, method: Any) -> Callable[..., Any]:
        def call(target: Any, *args: Any, **kwargs: Any) -> Any:
            if isinstance(target, real):
                return self.getattr(target, name)(*args, **kwargs)
            return method(target, *args, **kwargs)

        return call

    def apply(self, func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        self.tick()
        return func(*args, **kwargs)

    def inplace(self, op: str, a: Any, b: Any) -> Any:
        if isinstance(a, list) and op == "+=":
            items = list(b)
            _built(len(a) + len(items))
            a += items
            return a
        return _BINOPS[_INPLACE[op]](a, b)

    def printer(self, _getattr_: Any = None) -> PrintCollector:
        budget = self

        class Collector(PrintCollector):
            def write(self, text: str) -> None:
                room = MAX_OUTPUT - budget.output
                if room > 0:
                    self.txt.append(text[:room])
                    budget.output += min(len(text), room)

            def _call_print(self, *objects: Any, **kwargs: Any) -> None:
                # print() makes each value's text whole before the cap trims it.
                for value in objects:
                    budget.sized_text(value)
                budget.charge(len(objects))
                super()._call_print(*objects, **kwargs)

        return Collector(_getattr_)

    def namespace(self) -> dict[str, Any]:
        return {
            **_SHARED_NAMES,
            "_tick_": self.tick,
            "_getattr_": self.getattr,
            "_getitem_": self.getitem,
            "_getiter_": self.getiter,
            "_inplacevar_": self.inplace,
            "_apply_": self.apply,
            "_print_": self.printer,
        }

    def run(self, code: Any, scope: dict[str, Any], mode: str) -> Any:
        """Runs ``code`` with this budget current (the built-ins find it)."""
        token = _running.set(self)
        try:
            if mode == "eval":
                return eval(code, scope)  # noqa: S307 - RestrictedPython, guarded
            exec(code, scope)  # noqa: S102 - RestrictedPython, guarded
            return None
        except RecursionError as exc:
            raise LimitExceeded("O script chamou funções umas dentro das outras demais.") from exc
        except MemoryError as exc:  # what a measure missed: still the script's fault
            raise _too_big(_SEQUENCE_TOO_BIG) from exc
        finally:
            _running.reset(token)


# Guards of the policy's own (_Policy) that need no state of the run in hand: the budget
# is looked up when they are called, not bound for every run.


def _compare(op: str, a: Any, b: Any) -> Any:
    if op in _COMPARISONS and (type(a) not in _CONTAINERS or type(b) not in _CONTAINERS):
        return _COMPARISONS[op](a, b)  # a number, a text, a date on one side: no walk
    return _budget().compare(op, a, b)


def _compared(value: Any) -> Any:
    return _budget().compared(value)


def _fstring(pieces: tuple[Any, ...]) -> str:
    return _budget().fstring(pieces)


def _unpack(kind: str, pieces: tuple[Any, ...]) -> Any:
    return _budget().unpack(kind, pieces)


def _charged(value: Any) -> Any:
    _budget().charge(_len_of(value))
    return value


def _key(value: Any) -> Any:
    if type(value) is tuple:
        _budget().compared(value)
    return value


# What every run's namespace starts from (the guards bound to its budget are added).
_SHARED_NAMES: dict[str, Any] = {
    "__builtins__": _BUILTINS,
    "__name__": "script",
    "__metaclass__": type,
    "_binop_": _binop,
    "_iter_unpack_sequence_": guarded_iter_unpack_sequence,
    "_unpack_sequence_": guarded_unpack_sequence,
    "_write_": full_write_guard,
    "_write_slice_": _write_slice,
    "_compare_": _compare,
    "_compared_": _compared,
    "_fstring_": _fstring,
    "_unpack_": _unpack,
    "_charged_": _charged,
    "_key_": _key,
    **_STANDARD_NAMES,
}


# --- what a script may write back --------------------------------------------------------------

_SCALARS = (str, int, float, bool, type(None), _dt.datetime, _dt.timedelta)


def _unstorable(value: Any) -> str | None:
    """The type name of the first value the workflow's serializer cannot save, if any."""
    stack = [value]
    while stack:
        node = stack.pop()
        if isinstance(node, _SCALARS):
            continue
        if isinstance(node, dict):
            if not all(isinstance(k, str) for k in node):
                return "dicionário com chaves que não são texto"
            stack.extend(node.values())
        elif isinstance(node, list | tuple):
            stack.extend(node)
        else:
            return type(node).__name__
    return None


def _check_written(name: str, value: Any) -> None:
    if not limits.json_size_within(value, limits.MAX_SCRIPT_VALUE_BYTES):
        raise LimitExceeded(
            f"O valor calculado para {name!r} passa de "
            f"{limits.MAX_SCRIPT_VALUE_BYTES // 1024} KB; nada foi gravado."
        )
    if limits.json_depth(value) > limits.MAX_JSON_DEPTH:
        raise LimitExceeded(
            f"O valor calculado para {name!r} passa de {limits.MAX_JSON_DEPTH} níveis de "
            "listas aninhadas; nada foi gravado."
        )
    kind = _unstorable(value)
    if kind is not None:
        raise ExpressionRejected(
            f"O valor calculado para {name!r} ({kind}) não pode ser guardado nos dados da "
            "tarefa: use texto, número, lista, dicionário, datetime ou timedelta; nada foi "
            "gravado."
        )


def _scope(budget: _Budget, context: dict[str, Any], external: Any) -> dict[str, Any]:
    scope = budget.namespace()
    scope.update(external or {})
    scope.update(context)
    return scope


def evaluate(source: str, context: dict[str, Any]) -> Any:
    """Evaluate an expression over ``context`` (its keys are copied, not its values:
    conditions run at every step and on pages, and read data rather than change it)."""
    code = compile_expression(source)
    budget = _Budget()
    return budget.run(code, _scope(budget, context, None), "eval")


class RestrictedEnvironment(BasePythonScriptEngineEnvironment):
    def __init__(self) -> None:
        super().__init__({})

    def evaluate(
        self, expression: str, context: dict[str, Any], external_context: Any = None
    ) -> Any:
        code = compile_expression(expression)
        budget = _Budget()
        return budget.run(code, _scope(budget, context, external_context), "eval")

    def execute(self, script: str, context: dict[str, Any], external_context: Any = None) -> bool:
        code = compile_script(script)
        budget = _Budget()
        base = budget.namespace()
        base.update(external_context or {})
        # A deep copy: task data is shared by shallow copy with completed tasks, whose
        # history a script's ``lista.append(x)`` would otherwise rewrite.
        scope = {**base, **copy.deepcopy(context)}
        budget.run(code, scope, "exec")
        printed = scope.get("_print")
        if isinstance(printed, PrintCollector) and printed.txt:
            log.info("script output: %s", printed()[:MAX_OUTPUT])
        result = {
            name: value
            for name, value in scope.items()
            if name not in _GUARD_NAMES
            and not (name in base and base[name] is value)
            and not callable(value)
            and not isinstance(value, SimpleNamespace | _DateTimeName)
        }
        for name, value in result.items():
            if name not in context or context[name] is not value:
                _check_written(name, value)
        # Written back only when every line ran and the whole stays within the cap: a
        # failing script leaves the task data as it was.
        if not limits.json_size_within(result, limits.MAX_TASK_DATA_BYTES):
            raise LimitExceeded(
                f"Os dados da tarefa passariam de {limits.MAX_TASK_DATA_BYTES // 1024} KB "
                "depois deste script; nada foi gravado."
            )
        context.clear()
        context.update(result)
        return True

    def call_service(self, context: Any, **kwargs: Any) -> Any:
        # Never reached: BoundedScriptEngine.call_service sends service tasks to
        # engine.connectors (SpiffWorkflow's own call_service has no task to report).
        raise ExpressionRejected("Tarefa de serviço sem conector.")


class BoundedScriptEngine(PythonScriptEngine):
    """Checks the value of a timer's expression before SpiffWorkflow arms the timer.

    A constant is checked at deploy; a name (``prazo``) gets its value from task data,
    possibly from a form, so an unbounded duration would otherwise reach SpiffWorkflow's
    month-by-month arithmetic (or overflow ``timedelta``) here.
    """

    def evaluate(self, task: Task, expression: str, external_context: Any = None) -> Any:
        value = super().evaluate(task, expression, external_context)
        definition = getattr(task.task_spec, "event_definition", None)
        if isinstance(definition, TimerEventDefinition) and expression == definition.expression:
            try:
                durations.check(definition, value)
            except durations.TimerValueRejected as exc:
                refused = LimitExceeded(f"Temporizador com valor inválido: {exc.message}.")
                raise WorkflowTaskException(str(refused), task=task, exception=refused) from (
                    refused
                )
        return value

    def call_service(
        self,
        task: Task,
        operation_name: str = "",
        operation_params: dict[str, dict[str, Any]] | None = None,
        **kwargs: Any,
    ) -> str:
        """A service task's call, through the platform's connectors (engine.connectors).

        The parameters arrive evaluated in the sandbox; the result goes back as JSON, which
        SpiffWorkflow decodes into the task's result variable (so only plain data lands)."""
        params = {name: p.get("value") for name, p in (operation_params or {}).items()}
        try:
            result = connectors.call(operation_name, params, task.workflow.top_workflow)
        except connectors.ConnectorFailed as exc:
            raise WorkflowTaskException(
                f"o conector {operation_name} falhou: {exc}", task=task, exception=exc
            ) from exc
        return _json.dumps(result)


def make_script_engine() -> PythonScriptEngine:
    return BoundedScriptEngine(environment=RestrictedEnvironment())
