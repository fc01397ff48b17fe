"""The restricted expression environment for gateway conditions, timers and scripts.

SpiffWorkflow evaluates conditions with ``eval`` and scripts with ``exec`` and
full builtins, and restricting ``__builtins__`` is no sandbox. Here only a
whitelisted AST runs: names, constants, comparisons, boolean and arithmetic
operators, conditional expressions and literal tuples/lists. No calls,
attributes, subscripts, comprehensions, lambdas or dunder names. Scripts may
only be sequences of ``name = <allowed expression>``.
"""

from __future__ import annotations

import ast
from functools import lru_cache
from typing import Any

from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine
from SpiffWorkflow.bpmn.script_engine.python_environment import BasePythonScriptEngineEnvironment

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


class ExpressionRejected(ValueError):
    """An expression or script outside the allowed subset. ``message`` is pt-BR."""


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


@lru_cache(maxsize=512)
def compile_expression(source: str) -> Any:
    """Check and compile an expression; cached because every step re-evaluates them."""
    if len(source) > _MAX_SOURCE:
        raise ExpressionRejected("Expressão longa demais.")
    try:
        tree = ast.parse(source.strip(), mode="eval")
    except SyntaxError as exc:
        raise ExpressionRejected(f"Expressão inválida {source!r}: {exc.msg}.") from exc
    _check_tree(tree, source)
    return compile(tree, "<expressão>", "eval")


@lru_cache(maxsize=256)
def compile_script(source: str) -> tuple[tuple[str, Any], ...]:
    """A script is a sequence of ``name = expression`` assignments."""
    if len(source) > _MAX_SOURCE * 5:
        raise ExpressionRejected("Script longo demais.")
    try:
        module = ast.parse(source)
    except SyntaxError as exc:
        raise ExpressionRejected(f"Script inválido: {exc.msg} (linha {exc.lineno}).") from exc
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
        _check_tree(expr, ast.unparse(stmt))
        steps.append((name, compile(ast.fix_missing_locations(expr), "<script>", "eval")))
    return tuple(steps)


_NO_BUILTINS: dict[str, Any] = {"__builtins__": {}}


def evaluate(source: str, context: dict[str, Any]) -> Any:
    """Evaluate an expression of the allowed subset over ``context`` (no builtins)."""
    return eval(compile_expression(source), _NO_BUILTINS, dict(context))  # noqa: S307


class RestrictedEnvironment(BasePythonScriptEngineEnvironment):
    def __init__(self) -> None:
        super().__init__({})

    def evaluate(
        self, expression: str, context: dict[str, Any], external_context: Any = None
    ) -> Any:
        code = compile_expression(expression)
        return eval(code, _NO_BUILTINS, dict(context))  # noqa: S307 - whitelisted AST, no builtins

    def execute(self, script: str, context: dict[str, Any], external_context: Any = None) -> bool:
        for name, code in compile_script(script):
            context[name] = eval(code, _NO_BUILTINS, dict(context))  # noqa: S307
        return True

    def call_service(self, context: Any, **kwargs: Any) -> Any:
        raise ExpressionRejected("Tarefas de serviço não são permitidas.")


def make_script_engine() -> PythonScriptEngine:
    return PythonScriptEngine(environment=RestrictedEnvironment())
