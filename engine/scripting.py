"""The restricted expression environment for gateway conditions, timers and scripts.

SpiffWorkflow evaluates conditions with ``eval`` and scripts with ``exec`` and
full builtins, and restricting ``__builtins__`` is no sandbox. Here only a
whitelisted AST runs: names, constants, comparisons, boolean and arithmetic
operators, conditional expressions and literal tuples/lists. No calls,
attributes, subscripts, comprehensions, lambdas or dunder names. Scripts may
only be sequences of ``name = <allowed expression>``.

Bounded, so that no model can make one step slow or huge: sources are capped in
length and their syntax trees in depth (deeper ones crash Python's compiler with
RecursionError); every arithmetic operator runs through a guard that checks the
size of its result *before* computing it (``"a" * 100000000``, ``s = s + s``
line after line, ever-growing integers); ``%`` does not format text (its widths
allocate at will); and what a script writes back to task data is capped per
value and in total (engine.limits).
"""

from __future__ import annotations

import ast
import operator
from collections.abc import Callable
from functools import lru_cache
from typing import Any

from SpiffWorkflow.bpmn.exceptions import WorkflowTaskException
from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine
from SpiffWorkflow.bpmn.script_engine.python_environment import BasePythonScriptEngineEnvironment
from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition
from SpiffWorkflow.task import Task

from engine import durations, limits

_ALLOWED_NODES: tuple[type[ast.AST], ...] = (
    ast.Expression,
    ast.BoolOp,
    ast.And,
    ast.Or,
    ast.UnaryOp,
    ast.Not,
    ast.USub,
    ast.UAdd,
    ast.BinOp,
    ast.Add,
    ast.Sub,
    ast.Mult,
    ast.Div,
    ast.FloorDiv,
    ast.Mod,
    ast.Compare,
    ast.Eq,
    ast.NotEq,
    ast.Lt,
    ast.LtE,
    ast.Gt,
    ast.GtE,
    ast.In,
    ast.NotIn,
    ast.Is,
    ast.IsNot,
    ast.IfExp,
    ast.Name,
    ast.Load,
    ast.Constant,
    ast.Tuple,
    ast.List,
)
_ALLOWED_CONSTANTS = (str, int, float, bool, type(None))
_MAX_SOURCE = 2000
# Syntax-tree depth of one expression. Python's compiler recurses once per level and
# fails with RecursionError near 1000 levels ("1+1+...+1" with 600 terms is 600 deep).
MAX_DEPTH = 50
# What one operator may make: characters of a text or items of a list; bits of an integer.
MAX_SEQUENCE = 100_000
MAX_INT_BITS = 4096


class ExpressionRejected(ValueError):
    """An expression or script outside the allowed subset. ``message`` is pt-BR."""


class LimitExceeded(ExpressionRejected):
    """A running expression or script would make a value too big; nothing was computed."""


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


def _parse(source: str, mode: str) -> ast.AST:
    """``ast.parse`` whose every failure is ExpressionRejected, depth included."""
    try:
        tree = ast.parse(source, mode=mode)
    except SyntaxError as exc:
        if mode == "eval":
            raise ExpressionRejected(f"Expressão inválida {source!r}: {exc.msg}.") from exc
        raise ExpressionRejected(f"Script inválido: {exc.msg} (linha {exc.lineno}).") from exc
    except (RecursionError, MemoryError) as exc:
        # CPython's parser gives up on very deep nesting with one of these.
        raise _too_deep(source) from exc
    if _depth(tree) > MAX_DEPTH:
        raise _too_deep(source)
    return tree


def _check_tree(tree: ast.AST, source: str) -> None:
    for node in ast.walk(tree):
        if not isinstance(node, _ALLOWED_NODES):
            raise ExpressionRejected(
                f"Construção não permitida ({type(node).__name__}) em {source!r}: "
                "use apenas nomes de dados, constantes, comparações e operadores."
            )
        if isinstance(node, ast.Name) and node.id.startswith("_"):
            raise ExpressionRejected(f"Nome não permitido {node.id!r} em {source!r}.")
        if isinstance(node, ast.Constant) and not isinstance(node.value, _ALLOWED_CONSTANTS):
            raise ExpressionRejected(f"Constante não permitida em {source!r}.")


# --- guarded operators ------------------------------------------------------------------------


def _too_big(what: str) -> LimitExceeded:
    return LimitExceeded(f"O cálculo geraria {what}; nada foi calculado.")


def _is_int(value: Any) -> bool:
    return isinstance(value, int)  # bool too: True * "a" is a repetition


def _check_ints(a: Any, b: Any, bits: int) -> None:
    if _is_int(a) and _is_int(b) and bits > MAX_INT_BITS:
        raise _too_big(f"um número com mais de {MAX_INT_BITS} bits")


def _add(a: Any, b: Any) -> Any:
    if isinstance(a, str | list | tuple) and type(a) is type(b) and len(a) + len(b) > MAX_SEQUENCE:
        raise _too_big(f"um valor com mais de {MAX_SEQUENCE} caracteres ou itens")
    if _is_int(a) and _is_int(b):
        _check_ints(a, b, max(a.bit_length(), b.bit_length()) + 1)
    return a + b


def _sub(a: Any, b: Any) -> Any:
    if _is_int(a) and _is_int(b):
        _check_ints(a, b, max(a.bit_length(), b.bit_length()) + 1)
    return a - b


def _mul(a: Any, b: Any) -> Any:
    for sequence, times in ((a, b), (b, a)):
        if isinstance(sequence, str | list | tuple) and _is_int(times):
            if len(sequence) * max(times, 0) > MAX_SEQUENCE:
                raise _too_big(f"um valor com mais de {MAX_SEQUENCE} caracteres ou itens")
    if _is_int(a) and _is_int(b):
        _check_ints(a, b, a.bit_length() + b.bit_length())
    return a * b


def _mod(a: Any, b: Any) -> Any:
    if isinstance(a, str):
        raise LimitExceeded("O operador % não formata textos aqui; use + para juntar textos.")
    return a % b


_GUARDS: dict[type[ast.operator], tuple[str, Callable[[Any, Any], Any]]] = {
    ast.Add: ("__add", _add),
    ast.Sub: ("__sub", _sub),
    ast.Mult: ("__mul", _mul),
    ast.Mod: ("__mod", _mod),
    # Quotients are never bigger than their operands, whose size the others bound.
    ast.Div: ("__div", operator.truediv),
    ast.FloorDiv: ("__floordiv", operator.floordiv),
}
# Evaluation globals: no builtins, the guards under names no data key or script can
# use (names starting with "_" are refused in sources).
_GLOBALS: dict[str, Any] = {"__builtins__": {}, **{n: f for n, f in _GUARDS.values()}}


class _Guard(ast.NodeTransformer):
    """``a * b`` → ``__mul(a, b)``: every operator through its guard (and no constant
    folding by the compiler, which would compute ``"a" * 10**8`` ahead of time)."""

    def visit_BinOp(self, node: ast.BinOp) -> ast.AST:
        self.generic_visit(node)
        name = _GUARDS[type(node.op)][0]
        call = ast.Call(ast.Name(name, ast.Load()), [node.left, node.right], [])
        return ast.copy_location(call, node)


def _compile(tree: ast.Expression, filename: str) -> Any:
    guarded = ast.fix_missing_locations(_Guard().visit(tree))
    return compile(guarded, filename, "eval")


@lru_cache(maxsize=512)
def compile_expression(source: str) -> Any:
    """Check and compile an expression; cached because every step re-evaluates them."""
    if len(source) > _MAX_SOURCE:
        raise ExpressionRejected("Expressão longa demais.")
    tree = _parse(source.strip(), "eval")
    _check_tree(tree, source)
    assert isinstance(tree, ast.Expression)
    return _compile(tree, "<expressão>")


@lru_cache(maxsize=256)
def compile_script(source: str) -> tuple[tuple[str, Any], ...]:
    """A script is a sequence of ``name = expression`` assignments."""
    if len(source) > _MAX_SOURCE * 5:
        raise ExpressionRejected("Script longo demais.")
    module = _parse(source, "exec")
    assert isinstance(module, ast.Module)
    steps: list[tuple[str, Any]] = []
    for stmt in module.body:
        if isinstance(stmt, ast.Pass):
            continue
        if not (
            isinstance(stmt, ast.Assign)
            and len(stmt.targets) == 1
            and isinstance(stmt.targets[0], ast.Name)
        ):
            raise ExpressionRejected(
                f"Linha {stmt.lineno}: scripts só podem conter atribuições 'nome = expressão'."
            )
        name = stmt.targets[0].id
        if name.startswith("_"):
            raise ExpressionRejected(f"Linha {stmt.lineno}: nome não permitido {name!r}.")
        expr = ast.Expression(body=stmt.value)
        _check_tree(expr, ast.unparse(stmt))  # depth checked by _parse: unparse is safe
        steps.append((name, _compile(expr, "<script>")))
    return tuple(steps)


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


def evaluate(source: str, context: dict[str, Any]) -> Any:
    """Evaluate an expression of the allowed subset over ``context`` (no builtins)."""
    return eval(compile_expression(source), _GLOBALS, dict(context))  # noqa: S307 - whitelisted AST, guarded


class RestrictedEnvironment(BasePythonScriptEngineEnvironment):
    def __init__(self) -> None:
        super().__init__({})

    def evaluate(
        self, expression: str, context: dict[str, Any], external_context: Any = None
    ) -> Any:
        code = compile_expression(expression)
        return eval(code, _GLOBALS, dict(context))  # noqa: S307 - whitelisted AST, no builtins

    def execute(self, script: str, context: dict[str, Any], external_context: Any = None) -> bool:
        steps = compile_script(script)
        values: dict[str, Any] = {}
        for name, code in steps:
            value = eval(code, _GLOBALS, {**context, **values})  # noqa: S307
            _check_written(name, value)
            values[name] = value
        # Written back only when every line ran and the whole stays within the cap: a
        # failing script leaves the task data as it was.
        if not limits.json_size_within({**context, **values}, limits.MAX_TASK_DATA_BYTES):
            raise LimitExceeded(
                f"Os dados da tarefa passariam de {limits.MAX_TASK_DATA_BYTES // 1024} KB "
                "depois deste script; nada foi gravado."
            )
        context.update(values)
        return True

    def call_service(self, context: Any, **kwargs: Any) -> Any:
        raise ExpressionRejected("Tarefas de serviço não são permitidas.")


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


def make_script_engine() -> PythonScriptEngine:
    return BoundedScriptEngine(environment=RestrictedEnvironment())
