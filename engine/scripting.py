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
   operator (``a * b`` becomes ``_binop_("Mult", a, b)``) and a tick at the top of each
   ``while`` round and function call.

Budgets, per run (``_Budget``): items iterated, ``while`` rounds and calls together at
most MAX_ITERATIONS; MAX_CPU_SECONDS of the thread's CPU; every operator and method that
can multiply a value's size (``*``, ``+``, ``**``, ``<<``, ``join``, ``replace``,
``ljust``, ``extend``, ``range``, f-string widths...) checks the size of its result
*before* computing it; ``print`` output is capped; what a script writes back to task
data is capped per value and in total (engine.limits) and must be storable. A script
over a budget raises LimitExceeded, which engine.runtime turns into a technical incident.

The names SpiffArena offers scripts are here without import: ``datetime`` (both
``datetime.now()`` and ``datetime.datetime.now()`` work), ``timedelta``, ``date``,
``time``, ``decimal``/``Decimal``, ``json``, and the helpers ``get_current_user()``
(the person whose action runs the step; None for a timer) and ``get_localtime(dt,
zone)``.
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
import re
import time as _time
from collections.abc import Callable, Iterator
from functools import lru_cache
from types import SimpleNamespace
from typing import Any
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


@contextlib.contextmanager
def acting_as(user: UserSource) -> Iterator[None]:
    """Scripts run inside see ``user`` (or what the callable returns, called once, when
    a script first asks) from ``get_current_user()``."""
    token = _current_user.set([user])
    try:
        yield
    finally:
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
    return ast.Expr(ast.Call(ast.Name("_tick_", ast.Load()), [], []))


class _Policy(RestrictingNodeTransformer):
    """RestrictedPython's policy plus guarded operators and ticks in loops and calls."""

    def visit_BinOp(self, node: ast.BinOp) -> Any:
        node = self.node_contents_visit(node)
        op = ast.Constant(type(node.op).__name__)
        call = ast.Call(ast.Name("_binop_", ast.Load()), [op, node.left, node.right], [])
        return ast.fix_missing_locations(ast.copy_location(call, node))

    def visit_While(self, node: ast.While) -> Any:
        node = self.node_contents_visit(node)
        node.body.insert(0, ast.fix_missing_locations(ast.copy_location(_tick_call(), node)))
        return node

    def visit_FunctionDef(self, node: ast.FunctionDef) -> Any:
        node = super().visit_FunctionDef(node)
        node.body.insert(0, ast.fix_missing_locations(ast.copy_location(_tick_call(), node)))
        return node


_RP_LINE = re.compile(r"Line (\d+)")


def _restricted(tree: ast.AST, mode: str) -> Any:
    tree = ast.fix_missing_locations(_Shape().visit(tree))
    compiler = compile_restricted_exec if mode == "exec" else compile_restricted_eval
    # "<string>": the name SpiffWorkflow looks for in a traceback to tell the script's line.
    result = compiler(tree, "<string>", policy=_Policy)
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


def _add(a: Any, b: Any) -> Any:
    if isinstance(a, str | list | tuple) and isinstance(b, str | list | tuple):
        _check_length(len(a) + len(b))
    if _is_int(a) and _is_int(b):
        _check_bits(max(a.bit_length(), b.bit_length()) + 1)
    return a + b


def _sub(a: Any, b: Any) -> Any:
    if _is_int(a) and _is_int(b):
        _check_bits(max(a.bit_length(), b.bit_length()) + 1)
    return a - b


def _mul(a: Any, b: Any) -> Any:
    for sequence, times in ((a, b), (b, a)):
        if isinstance(sequence, str | list | tuple) and _is_int(times):
            _check_length(len(sequence) * max(times, 0))
    if _is_int(a) and _is_int(b):
        _check_bits(a.bit_length() + b.bit_length())
    return a * b


def _pow(a: Any, b: Any, modulo: Any = None) -> Any:
    if modulo is None and _is_int(a) and _is_int(b) and b > 0:
        _check_bits(max(a.bit_length(), 1) * b)
    if isinstance(a, _decimal.Decimal) or isinstance(b, _decimal.Decimal):
        if abs(_decimal.Decimal(b)) > MAX_INT_BITS:
            raise _too_big("uma potência de expoente grande demais")
    return pow(a, b) if modulo is None else pow(a, b, modulo)


def _lshift(a: Any, b: Any) -> Any:
    if _is_int(a) and _is_int(b):
        _check_bits(a.bit_length() + max(b, 0))
    return a << b


def _mod(a: Any, b: Any) -> Any:
    if isinstance(a, str):
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
    return _BINOPS[op](a, b)


def _checked_width(width: Any) -> None:
    if _is_int(width) and width > MAX_SEQUENCE:
        raise _too_big(_SEQUENCE_TOO_BIG)


def _str_method(text: str, name: str, method: Callable[..., Any]) -> Callable[..., Any]:
    """Wraps the ``str`` methods that can make a text much bigger than itself."""

    def guarded(*args: Any, **kwargs: Any) -> Any:
        if name in ("ljust", "rjust", "center", "zfill") and args:
            _checked_width(args[0])
        elif name == "expandtabs":
            size = args[0] if args else kwargs.get("tabsize", 8)
            _check_length(len(text) * max(size if _is_int(size) else 8, 1))
        elif name == "join" and args:
            items = list(args[0])
            _check_length(
                sum(len(i) if isinstance(i, str) else 0 for i in items) + len(text) * len(items)
            )
            return method(items)
        elif name == "replace" and len(args) >= 2:
            old, new = args[0], args[1]
            if isinstance(old, str) and isinstance(new, str):
                count = len(text) + 1 if old == "" else text.count(old)
                _check_length(len(text) + count * max(len(new) - len(old), 0))
        return method(*args, **kwargs)

    return guarded


def _list_extend(target: list[Any], method: Callable[..., Any]) -> Callable[..., Any]:
    def guarded(items: Any) -> None:
        items = list(items)
        _check_length(len(target) + len(items))
        method(items)

    return guarded


_STR_AMPLIFIERS = frozenset({"ljust", "rjust", "center", "zfill", "expandtabs", "join", "replace"})


def _range(*args: int) -> range:
    made = range(*args)
    _check_length(len(made))
    return made


def _int(value: Any = 0, *args: Any) -> int:
    if isinstance(value, _decimal.Decimal) and value.is_finite() and value.adjusted() > 1233:
        raise _too_big(f"um número com mais de {MAX_INT_BITS} bits")
    return int(value, *args)


def _sum(values: Any, start: Any = 0) -> Any:
    if not isinstance(start, int | float | _decimal.Decimal):
        raise LimitExceeded("sum() soma apenas números aqui.")
    total = start
    for value in values:
        total = _add(total, value)
    return total


def _format(value: Any, spec: str = "") -> str:
    if any(int(n) > MAX_FORMAT_WIDTH for n in _NUMBERS.findall(str(spec))):
        raise _too_big(f"uma formatação com largura acima de {MAX_FORMAT_WIDTH}")
    return format(value, spec)


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
    if callable(holder[0]):
        holder[0] = holder[0]()  # read once per step, on the first call
    user = holder[0]
    return dict(user) if user else None


def _json_loads(text: str) -> Any:
    try:
        return limits.loads(text)
    except limits.JsonRejected as exc:
        raise ExpressionRejected(exc.message) from exc


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
    "json": SimpleNamespace(dumps=_json.dumps, loads=_json_loads),
    "get_current_user": _get_current_user,
    "get_localtime": _get_localtime,
}

_BUILTINS: dict[str, Any] = dict(
    {
        **{
            name: getattr(builtins, name)
            for name in (
                "abs",
                "all",
                "any",
                "bool",
                "chr",
                "dict",
                "divmod",
                "enumerate",
                "filter",
                "float",
                "frozenset",
                "isinstance",
                "len",
                "list",
                "map",
                "max",
                "min",
                "ord",
                "repr",
                "reversed",
                "round",
                "set",
                "sorted",
                "str",
                "tuple",
                "zip",
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
        "int": _int,
        "sum": _sum,
        "pow": _pow,
        "format": _format,
    }
)
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
        "__builtins__",
        "__name__",
        "__metaclass__",
    }
)


class _Budget:
    """The guards of one run, sharing its iteration, CPU and output budgets."""

    def __init__(self) -> None:
        self.iterations = 0
        self.deadline = _time.thread_time() + MAX_CPU_SECONDS
        self.output = 0

    def tick(self) -> None:
        self.iterations += 1
        if self.iterations > MAX_ITERATIONS:
            raise LimitExceeded(
                f"O script passou de {MAX_ITERATIONS} repetições (laços, itens percorridos "
                "e chamadas de função); foi interrompido e nada foi gravado."
            )
        if not self.iterations & 255 and _time.thread_time() > self.deadline:
            raise LimitExceeded(
                f"O script passou de {MAX_CPU_SECONDS:g} s de processamento; foi "
                "interrompido e nada foi gravado."
            )

    def getiter(self, iterable: Any) -> Iterator[Any]:
        for item in iter(iterable):
            self.tick()
            yield item

    def getitem(self, obj: Any, index: Any) -> Any:
        return obj[index]

    def getattr(self, obj: Any, name: str) -> Any:
        self.tick()
        value = safer_getattr_raise(obj, name)
        if isinstance(obj, str) and name in _STR_AMPLIFIERS:
            return _str_method(obj, name, value)
        if isinstance(obj, list) and name == "extend":
            return _list_extend(obj, value)
        return value

    def apply(self, func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        self.tick()
        return func(*args, **kwargs)

    def inplace(self, op: str, a: Any, b: Any) -> Any:
        if isinstance(a, list) and op == "+=":
            _check_length(len(a) + len(list(b)))
            a += b
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

        return Collector(_getattr_)

    def namespace(self) -> dict[str, Any]:
        return {
            "__builtins__": _BUILTINS,
            "__name__": "script",
            "__metaclass__": type,
            "_binop_": _binop,
            "_tick_": self.tick,
            "_getattr_": self.getattr,
            "_getitem_": self.getitem,
            "_getiter_": self.getiter,
            "_iter_unpack_sequence_": guarded_iter_unpack_sequence,
            "_unpack_sequence_": guarded_unpack_sequence,
            "_write_": full_write_guard,
            "_inplacevar_": self.inplace,
            "_apply_": self.apply,
            "_print_": self.printer,
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
    return eval(code, _scope(_Budget(), context, None))  # noqa: S307 - restricted


class RestrictedEnvironment(BasePythonScriptEngineEnvironment):
    def __init__(self) -> None:
        super().__init__({})

    def evaluate(
        self, expression: str, context: dict[str, Any], external_context: Any = None
    ) -> Any:
        code = compile_expression(expression)
        scope = _scope(_Budget(), context, external_context)
        return eval(code, scope)  # noqa: S307 - RestrictedPython, guarded

    def execute(self, script: str, context: dict[str, Any], external_context: Any = None) -> bool:
        code = compile_script(script)
        budget = _Budget()
        base = budget.namespace()
        base.update(external_context or {})
        # A deep copy: task data is shared by shallow copy with completed tasks, whose
        # history a script's ``lista.append(x)`` would otherwise rewrite.
        scope = {**base, **copy.deepcopy(context)}
        try:
            exec(code, scope)  # noqa: S102 - RestrictedPython, guarded
        except RecursionError as exc:
            raise LimitExceeded("O script chamou funções umas dentro das outras demais.") from exc
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
