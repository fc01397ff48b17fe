"""The layers hold: web/ goes through the facade, engine/ opens sessions in one place and
its modules import one another without a cycle (read from the source, not run)."""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

from engine.settings import PROJECT_ROOT

ENGINE = PROJECT_ROOT / "engine"
WEB = PROJECT_ROOT / "web"
# The front door and the errors it raises: all web/ may import of engine/.
WEB_MAY_IMPORT = {"engine.service", "engine.errors"}
# What opens a transaction, a session or a connection. engine.db and engine.schema
# define such primitives over an Engine; engine.unit is the one place that calls them.
OPENERS = {
    "Session",
    "sessionmaker",
    "session_factory",
    "begin",
    "connect",
    "autocommit_connection",
    "autocommit_read",
    "write_if_free",
    "make_engine",
    "make_session_factory",
    "upgrade",
    "current_revision",
    "pending_message",
}
MAY_OPEN = {"engine/unit.py", "engine/db.py", "engine/schema.py"}
# Members of the unit of work that only engine/ reaches.
UNIT_MEMBERS = {"unit", "transaction", "reading", "session_factory", "read_one", "write_if_free"}


def _sources(root: Path) -> Iterator[Path]:
    for path in sorted(root.rglob("*.py")):
        if "migrations" not in path.relative_to(PROJECT_ROOT).parts:
            yield path


def _module(path: Path) -> str:
    parts = list(path.relative_to(PROJECT_ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _runtime_nodes(tree: ast.AST) -> Iterator[ast.AST]:
    """Every node except those under ``if TYPE_CHECKING:`` (never imported at run time)."""
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and getattr(node.test, "id", "") == "TYPE_CHECKING":
            skipped |= {id(n) for n in ast.walk(node)}
    yield from (n for n in ast.walk(tree) if id(n) not in skipped)


def _imports(path: Path) -> Iterator[tuple[int, str, list[str]]]:
    """(line, module, names) of every import, function-local ones included."""
    for node in _runtime_nodes(ast.parse(path.read_text("utf-8"))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name, []
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.lineno, node.module, [a.name for a in node.names]


def _where(path: Path, line: int) -> str:
    return f"{path.relative_to(PROJECT_ROOT)}:{line}"


def test_web_imports_only_the_facade_and_the_errors() -> None:
    found = []
    for path in _sources(WEB):
        for line, module, names in _imports(path):
            if module == "engine":
                wanted = {f"engine.{name}" for name in names}
            elif module.startswith("engine."):
                wanted = {module}
            else:
                continue
            found += [f"{_where(path, line)} {m}" for m in sorted(wanted - WEB_MAY_IMPORT)]
    assert found == [], "web/ imports only engine.service and engine.errors from engine/"


def test_web_never_opens_a_session() -> None:
    found = []
    for path in _sources(WEB):
        tree = ast.parse(path.read_text("utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and node.attr in UNIT_MEMBERS:
                found.append(f"{_where(path, node.lineno)} .{node.attr}")
        for line, module, _names in _imports(path):
            if module.startswith("sqlalchemy") and module != "sqlalchemy.exc":
                found.append(f"{_where(path, line)} {module}")
    assert found == []


def _is_unit(node: ast.expr) -> bool:
    """``unit`` or ``<anything>.unit``."""
    return getattr(node, "id", None) == "unit" or getattr(node, "attr", None) == "unit"


def test_only_the_unit_opens_transactions_and_sessions() -> None:
    found = []
    for path in _sources(ENGINE):
        if str(path.relative_to(PROJECT_ROOT)) in MAY_OPEN:
            continue
        for node in _runtime_nodes(ast.parse(path.read_text("utf-8"))):
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            if isinstance(func, ast.Attribute) and _is_unit(func.value):
                continue  # asking the unit is the way
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if name in OPENERS:
                found.append(f"{_where(path, node.lineno)} {name}()")
    assert found == []


def _engine_graph() -> dict[str, set[str]]:
    modules = {_module(p): p for p in _sources(ENGINE)}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        deps = set()
        for _line, module, names in _imports(path):
            if not module.startswith("engine"):
                continue
            for imported in names or [""]:
                full = f"{module}.{imported}" if imported else module
                deps.add(full if full in modules else module)
        graph[name] = {d for d in deps if d in modules and d != name}
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str]:
    """One import cycle, as the chain of modules, or []."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str]:
        state[node] = 1
        path.append(node)
        for dep in sorted(graph[node]):
            if state.get(dep) == 1:
                return path[path.index(dep) :] + [dep]
            if dep not in state and (found := visit(dep)):
                return found
        path.pop()
        state[node] = 2
        return []

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return []


def test_engine_modules_import_without_a_cycle() -> None:
    graph = _engine_graph()
    assert "engine.service" in graph and graph["engine.unit"]
    assert _cycle(graph) == []
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]  # the check works


def test_engine_modules_import_in_any_order() -> None:
    """Each module imported first, in a fresh interpreter, in both orders."""
    names = sorted(_engine_graph())
    for order in (names, names[::-1]):
        script = f"import importlib\nfor name in {order!r}:\n    importlib.import_module(name)\n"
        done = subprocess.run(
            [sys.executable, "-c", script],
            cwd=PROJECT_ROOT,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr[-2000:]
