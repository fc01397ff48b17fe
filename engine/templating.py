"""The Jinja sandbox for templates process designers write, bounded in time and size.

Jinja's sandbox keeps a model's e-mails (engine.mail) and texts (engine.policy) away from
Python's internals, but not from the CPU or memory: two nested loops over ``range(100000)``
(each within Jinja's own cap) run for hours, and ``'a' * 200000000`` builds 200 MB. Both
would run inside a citizen's request. Here every render has a CPU budget, spent as loops
turn and calls are made, and every text a template builds (an operator's, a filter's, a
method's result, the output itself) is capped in length, refused *before* it is built
wherever its size can be known in advance. A refusal is a :class:`TemplateLimitError`, a
``TemplateError`` with a pt-BR message: it takes the path every broken template already
takes (the mail fails the action that sent it; a text renders as nothing).
"""

from __future__ import annotations

import functools
import inspect
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, MutableMapping
from types import BuiltinMethodType, FunctionType
from typing import Any, cast

from jinja2 import Template, nodes
from jinja2.compiler import CodeGenerator, Frame
from jinja2.exceptions import TemplateRuntimeError
from jinja2.runtime import Context, markup_join, str_join
from jinja2.sandbox import SandboxedEnvironment
from jinja2.utils import Namespace, generate_lorem_ipsum

# The longest text one render may produce or build, in characters (or items, for a list).
# A shipped e-mail is ~5 KB of HTML and a page text a few hundred characters; mail clients
# clip a message long before 1 MB (Gmail at 102 KB), and task data is itself capped at 1 MB
# (engine.limits), so nothing real comes near it, while a refused text costs little memory.
MAX_TEXT = 1_000_000
MAX_ITEMS = 1_000_000
# Characters and items all of a render's operations may build, kept or not: each result
# is within MAX_TEXT, but a loop appending a new one to a list each turn would otherwise
# fill the memory well within the CPU budget. A shipped e-mail builds a few KB.
MAX_BUILT = 20 * MAX_TEXT
# CPU seconds of the rendering thread per render (a mail's subject and bodies together).
# A shipped e-mail renders in ~0.3 ms and a page text in ~15 µs: thousands of times less,
# yet a worker is held for a second at most, not for hours.
CPU_SECONDS = 1.0
# Jinja's own cap on one ``range``; nested loops are left to the CPU budget.
MAX_RANGE = 100_000
# Integers a template computes (``*``, ``**``): far beyond any number a text shows (a CPF
# has 11 digits), small enough that one multiplication is instant.
MAX_INT_BITS = 4096
# Design-time refusal (check_template): nested loops over constant ranges this long in all
# are a mistake we can name before anyone runs them; the budget catches the rest.
MAX_STATIC_ITERATIONS = 1_000_000
# The clock is a system call (~0.7 µs): read it every so many steps, not at each.
_CHECK_EVERY = 32


def _number(value: int) -> str:
    return f"{value:,}".replace(",", ".")


TOO_SLOW = (
    f"O modelo de texto excedeu o limite de processamento ({CPU_SECONDS:g} s): reveja os "
    "laços (for), as repetições e as chamadas de macros."
)
TOO_LONG = (
    f"O modelo de texto produziria um texto longo demais (mais de {_number(MAX_TEXT)} "
    "caracteres ou itens)."
)
TOO_MUCH = (
    f"O modelo de texto construiria textos demais (mais de {_number(MAX_BUILT)} caracteres "
    "ou itens no total)."
)
TOO_BIG_RANGE = f"range() com mais de {_number(MAX_RANGE)} números no modelo de texto."
TOO_BIG_NUMBER = "O modelo de texto calcularia um número grande demais."
TOO_DEEP = "O modelo de texto chama a si mesmo (macros, include) vezes demais."
VARIABLE_WIDTH = "Largura ou precisão variável (* ou {…} na formatação) não é aceita."


class TemplateLimitError(TemplateRuntimeError):
    """A model's template went past a bound of this module; the message is pt-BR."""


# --- the per-render budget -------------------------------------------------------------


class _Budget:
    __slots__ = ("deadline", "left", "built")

    def __init__(self) -> None:
        # Set at the first clock reading: the steps before it are few and each is bounded,
        # and a render that never gets there (nearly all) never pays for the system call.
        self.deadline: float | None = None
        self.left = _CHECK_EVERY
        self.built = 0

    def step(self) -> None:
        self.left -= 1
        if self.left:
            return
        self.left = _CHECK_EVERY
        # The thread's CPU, not the wall clock: a busy machine must not fail a template.
        now = time.thread_time()
        if self.deadline is None:
            self.deadline = now + CPU_SECONDS
        elif now > self.deadline:
            # Spent for good: Jinja swallows errors while it folds constants at compile
            # time, so every later step must fail too, not one in _CHECK_EVERY.
            self.left = 1
            raise TemplateLimitError(TOO_SLOW)

    def build(self, size: int) -> None:
        self.built += size
        if self.built > MAX_BUILT:
            raise TemplateLimitError(TOO_MUCH)


class _State(threading.local):
    budget: _Budget | None = None


_state = _State()


def _step() -> None:
    budget = _state.budget
    if budget is not None:
        budget.step()


class _Scope:
    # A class, not @contextmanager: that costs microseconds, a page text takes ~15.
    __slots__ = ("outer",)

    def __enter__(self) -> None:
        self.outer = _state.budget
        if self.outer is None:  # inside another, that one covers this too
            _state.budget = _Budget()

    def __exit__(self, *exc: object) -> None:
        if self.outer is None:
            _state.budget = None


def budget() -> _Scope:
    """``with budget():`` one CPU budget for the renders inside (a mail's subject and
    bodies share one)."""
    return _Scope()


def render(template: Template, data: Mapping[str, Any]) -> str:
    """``template`` over ``data``, within the current budget and the size cap (Jinja joins
    the output with BoundedEnvironment.concat)."""
    try:
        return template.render(data)
    except RecursionError:  # a macro or include calling itself: a bound, not a crash
        raise TemplateLimitError(TOO_DEEP) from None


def text(chunks: Iterable[str]) -> str:
    """The output of a block (``template.blocks[name](context)``), as :func:`render`."""
    try:
        return _joined(chunks)
    except RecursionError:
        raise TemplateLimitError(TOO_DEEP) from None


def _joined(chunks: Iterable[str]) -> str:
    # Chunk by chunk: a loop printing a long text over and over must stop at the limit,
    # not after building it (this loop is most of the cost of bounding a render).
    out: list[str] = []
    append = out.append
    size = 0
    for chunk in chunks:
        size += len(chunk)
        if size > MAX_TEXT:
            raise TemplateLimitError(TOO_LONG)
        append(chunk)
    budget = _state.budget
    if budget is not None:
        budget.build(size)
    return "".join(out)


# --- sizes -----------------------------------------------------------------------------

_DICT_VIEWS: tuple[type, ...] = (type({}.keys()), type({}.values()), type({}.items()))
_CONTAINERS: tuple[type, ...] = (list, tuple, set, frozenset, dict, *_DICT_VIEWS)
# What a value's class makes of its text: its own length (TEXT), its items' (WALK: a
# container's text shows every item), or a few characters (SHORT: a number, a date).
# Looked up by class, once: isinstance() against nine classes costs ~0.4 µs a value.
_TEXT, _WALK, _SHORT = 1, 2, 3
_KINDS: dict[type, int] = {}


def _kind(cls: type) -> int:
    kind = _KINDS.get(cls)
    if kind is None:
        if issubclass(cls, str | bytes):
            kind = _TEXT
        elif issubclass(cls, (*_CONTAINERS, Namespace)):
            kind = _WALK
        else:
            kind = _SHORT
        _KINDS[cls] = kind
    return kind


def text_size(value: Any) -> int:
    """About how many characters ``value`` becomes as text, counted only up to just past
    MAX_TEXT. A list's text repeats every item's: ``[x] * 1000000`` is short as a list
    and a terabyte as text."""
    cls = type(value)
    kind = _KINDS.get(cls) or _kind(cls)
    if kind != _WALK:
        return len(value) if kind == _TEXT else 0
    size = 0
    stack: list[Any] = [value]
    while stack and size <= MAX_TEXT:
        item = stack.pop()
        kind = _kind(type(item))
        if kind == _TEXT:
            size += len(item) + 2
        elif kind == _SHORT:
            size += 2  # counted all the same, so a list holding itself ends
        elif isinstance(item, Namespace):
            stack.append(object.__getattribute__(item, "_Namespace__attrs"))
        elif isinstance(item, dict):
            size += 2
            stack.extend(item.keys())
            stack.extend(item.values())
        else:
            size += 2
            stack.extend(cast(Iterable[Any], item))
    return size


def _refuse_long(value: Any) -> None:
    if text_size(value) > MAX_TEXT:
        raise TemplateLimitError(TOO_LONG)


def _refuse_long_result(value: Any) -> Any:
    """``value``, built by a template's operation: refused past MAX_TEXT, and counted."""
    if isinstance(value, _BUILT):
        size = len(value)
        if size > MAX_TEXT and isinstance(value, str | bytes):
            raise TemplateLimitError(TOO_LONG)
        budget = _state.budget
        if budget is not None:
            budget.build(size)
    return value


def _within(size: int, limit: int = MAX_TEXT) -> None:
    if size > limit:
        raise TemplateLimitError(TOO_LONG)


def _int(value: Any) -> int:
    return value if isinstance(value, int) else 0


# printf-style (``%`` and the ``format`` filter): ``%[(key)][flags][width][.precision]``.
_PRINTF = re.compile(r"%(?:%|(?:\([^)]*\))?[-#0 +]*(\*|\d+)?(?:\.(\*|\d+))?)")
# str.format: a replacement field's spec, after the colon; a nested field is variable.
_FORMAT_SPEC = re.compile(r"\{[^{}]*?:([^{}]*)\}")
_NESTED_SPEC = re.compile(r"\{[^{}]*?:[^{}]*\{")


def _refuse_wide_printf(template: str) -> None:
    for match in _PRINTF.finditer(template):
        for number in match.groups():
            if number == "*":
                raise TemplateLimitError(VARIABLE_WIDTH)
            if number:
                _refuse_wide(number)


def _refuse_wide_format(template: str) -> None:
    if _NESTED_SPEC.search(template):
        raise TemplateLimitError(VARIABLE_WIDTH)
    for spec in _FORMAT_SPEC.findall(template):
        for number in re.findall(r"\d+", spec):
            _refuse_wide(number)


def _refuse_wide(digits: str) -> None:
    # Compared as text first: int() of thousands of digits is itself refused by Python.
    digits = digits.lstrip("0")
    if len(digits) > len(str(MAX_TEXT)) or digits and int(digits) > MAX_TEXT:
        raise TemplateLimitError(TOO_LONG)


def _replaced_size(s: str, old: str, new: str, count: int | None) -> int:
    found = s.count(old) if old else len(s) + 1
    if count is not None and count >= 0:
        found = min(found, count)
    return len(s) + found * max(0, len(new) - len(old))


def _joined_size(items: list[Any], separator: Any) -> int:
    size = len(separator) * max(0, len(items) - 1) if isinstance(separator, str) else 0
    for item in items:
        size += text_size(item)
        if size > MAX_TEXT:
            break
    return size


# --- filters: the built-in ones that can make a text far longer than their input --------
# Each gets the filter's bound arguments before the call, refuses what would be too long,
# and may replace an argument (an iterator it had to read) with what it read.


def _center(a: dict[str, Any]) -> None:
    _within(_int(a["width"]))


def _indent(a: dict[str, Any]) -> None:
    width = a["width"]
    pad = len(width) if isinstance(width, str) else _int(width)
    s = str(a["s"])
    _within(len(s) + (s.count("\n") + 1) * pad)


def _wordwrap(a: dict[str, Any]) -> None:
    # At worst every character ends a line, each followed by the wrap string.
    wrap = a["wrapstring"]
    _within(text_size(a["s"]) * (1 + (len(wrap) if isinstance(wrap, str) else 1)))


def _replace(a: dict[str, Any]) -> None:
    count = a["count"] if isinstance(a["count"], int) else None
    _within(_replaced_size(str(a["s"]), str(a["old"]), str(a["new"]), count))


def _join(a: dict[str, Any]) -> None:
    a["value"] = items = list(a["value"])
    _within(_joined_size(items, a["d"]))


def _format(a: dict[str, Any]) -> None:
    _refuse_wide_printf(str(a["value"]))


def _batch(a: dict[str, Any]) -> None:  # pads the last batch to ``linecount`` items
    _within(_int(a["linecount"]), MAX_RANGE)


def _slice(a: dict[str, Any]) -> None:  # loops ``slices`` times in Python
    _within(_int(a["slices"]), MAX_RANGE)


def _sum(a: dict[str, Any]) -> None:
    # Summing lists copies the growing result once per part: parts × length elements.
    if isinstance(a["start"], int | float) or a["attribute"] is not None:
        return
    a["iterable"] = parts = list(a["iterable"])
    length = sum(len(p) for p in parts if isinstance(p, list | tuple | str))
    _within(len(parts) * length, 10 * MAX_ITEMS)


_FILTER_CHECKS: dict[str, Callable[[dict[str, Any]], None]] = {
    "center": _center,
    "indent": _indent,
    "wordwrap": _wordwrap,
    "replace": _replace,
    "join": _join,
    "format": _format,
    "batch": _batch,
    "slice": _slice,
    "sum": _sum,
}
# Filters that do not turn their arguments into text: their inputs need no size check.
_STRUCTURAL = frozenset(
    "abs attr batch bool count d default dictsort first float groupby int items last length "
    "list map max min random reject rejectattr reverse round select selectattr slice sort sum "
    "unique".split()
)


def _bounded_filter(name: str, func: Callable[..., Any]) -> Callable[..., Any]:
    check = _FILTER_CHECKS.get(name)
    # The signature is the plain function's (inspect follows __wrapped__); Jinja's async
    # variant of one that takes no context still gets the eval context first, and drops it.
    signature = inspect.signature(func) if check is not None else None
    extra = int(
        getattr(func, "jinja_pass_arg", None) is not None
        and getattr(inspect.unwrap(func), "jinja_pass_arg", None) is None
    )
    sized = name not in _STRUCTURAL

    # functools.wraps keeps ``jinja_pass_arg``: the filter still gets its context.
    @functools.wraps(func)
    def bounded(*args: Any, **kwargs: Any) -> Any:
        _step()
        if sized:
            for arg in (*args, *kwargs.values()):
                _refuse_long(arg)
        if signature is not None and check is not None:
            bound = signature.bind(*args[extra:], **kwargs)
            bound.apply_defaults()
            check(bound.arguments)
            args, kwargs = (*args[:extra], *bound.args), bound.kwargs
        return _refuse_long_result(func(*args, **kwargs))

    return bounded


# --- methods of str and of containers, called from a template ---------------------------


def _refuse_long_method(owner: Any, name: str, args: tuple[Any, ...], kw: dict[str, Any]) -> Any:
    """Checks a call of ``owner.name``; returns the arguments to call it with."""
    first = args[0] if args else None
    if isinstance(owner, str | bytes):
        for arg in (*args, *kw.values()):
            _refuse_long(arg)
        if name in ("center", "ljust", "rjust", "zfill"):
            _within(_int(first if args else kw.get("width")))
        elif name == "expandtabs":
            tab = _int(first if args else kw.get("tabsize", 8))
            tabs = owner.count("\t") if isinstance(owner, str) else owner.count(b"\t")
            _within(len(owner) + tabs * tab)
        elif name == "replace" and len(args) >= 2 and isinstance(owner, str):
            raw = args[2] if len(args) > 2 else kw.get("count")
            count = raw if isinstance(raw, int) else None
            _within(_replaced_size(owner, str(args[0]), str(args[1]), count))
        elif name == "join" and args:
            items = list(args[0])
            _within(_joined_size(items, owner if isinstance(owner, str) else ""))
            args = (items, *args[1:])
        elif name == "translate" and isinstance(first, dict):
            longest = max((text_size(v) for v in first.values()), default=1)
            _within(len(owner) * max(1, longest))
    elif name in ("extend", "update") and isinstance(owner, list | dict | set):
        if isinstance(first, list | tuple | dict | set | frozenset | str):
            _within(len(owner) + len(first), MAX_ITEMS)
    return args


def _lipsum(n: int = 5, html: bool = True, min: int = 20, max: int = 100) -> str:
    # Jinja's placeholder text loops n × max times in Python: keep it a placeholder.
    if _int(n) > 100 or _int(min) > 1000 or _int(max) > 1000:
        raise TemplateLimitError(TOO_LONG)
    return generate_lorem_ipsum(n, html, min, max)


def _range(*args: int) -> range:
    numbers = range(*args)
    try:
        too_big = len(numbers) > MAX_RANGE
    except OverflowError:  # longer than sys.maxsize
        too_big = True
    if too_big:
        raise TemplateLimitError(TOO_BIG_RANGE)
    return numbers


# --- the environment -------------------------------------------------------------------


# A filter no template can name (a space): wrapped around every loop's iterable.
_STEPPING = "passo a passo"


class _CodeGenerator(CodeGenerator):
    def visit_Template(self, node: nodes.Template, frame: Frame | None = None) -> None:
        # Every loop turn is a step: a loop's body may have no call, filter or output.
        for loop in list(node.find_all(nodes.For)):
            if not (isinstance(loop.iter, nodes.Filter) and loop.iter.name == _STEPPING):
                loop.iter = nodes.Filter(
                    loop.iter,
                    _STEPPING,
                    [],
                    [],
                    None,
                    None,
                    lineno=loop.iter.lineno,
                    environment=self.environment,
                )
        super().visit_Template(node, frame)

    def visit_Getitem(self, node: nodes.Getitem, frame: Frame) -> None:
        if not isinstance(node.arg, nodes.Slice):
            super().visit_Getitem(node, frame)
            return
        # Jinja writes slices as plain Python: through the environment, like other items.
        self.write("environment.sliced(")
        self.visit(node.node, frame)
        self.write(", slice(")
        for i, bound in enumerate((node.arg.start, node.arg.stop, node.arg.step)):
            self.write(", " if i else "")
            if bound is None:
                self.write("None")
            else:
                self.visit(bound, frame)
        self.write("))")

    def visit_Concat(self, node: nodes.Concat, frame: Frame) -> None:
        # ``~`` turns each part into text: sized before, a list's text being its items'.
        if frame.eval_ctx.volatile:
            markup = "context.eval_ctx.autoescape"
        else:
            markup = "True" if frame.eval_ctx.autoescape else "False"
        self.write("environment.joined_parts((")
        for part in node.nodes:
            self.visit(part, frame)
            self.write(", ")
        self.write(f"), {markup})")


class BoundedEnvironment(SandboxedEnvironment):
    """Jinja's sandbox, bounded. Render with :func:`render` (:func:`text` for a block)
    inside ``with budget():``, where CPU time is counted; size checks hold everywhere.
    Filters added after construction are the platform's own, trusted: not wrapped."""

    code_generator_class = _CodeGenerator
    # Only these: intercepting costs a method call per operation.
    intercepted_binops = frozenset(["*", "**", "+", "%"])

    def __init__(self, *args: Any, none_as_empty: bool = False, **kwargs: Any) -> None:
        """``none_as_empty``: ``{{ None }}`` prints nothing rather than "None" (in the one
        ``finalize`` every printed value goes through: a second would cost a call each)."""
        if "finalize" in kwargs:
            raise TypeError("BoundedEnvironment finalizes by itself: use none_as_empty")
        empty = "" if none_as_empty else None

        def finalize(value: Any) -> Any:
            cls = type(value)
            if cls is str:
                return value
            if value is None:
                return empty
            # ``{{ a_list }}`` prints every item's text: sized before str() builds it.
            if (_KINDS.get(cls) or _kind(cls)) == _WALK and text_size(value) > MAX_TEXT:
                raise TemplateLimitError(TOO_LONG)
            return value

        super().__init__(*args, finalize=finalize, **kwargs)
        self.filters = {name: _bounded_filter(name, f) for name, f in self.filters.items()}
        self.filters[_STEPPING] = _stepping
        self.globals["range"] = _range
        self.globals["lipsum"] = _lipsum

    def joined_parts(self, parts: tuple[Any, ...], markup: bool) -> str:
        _within(sum(text_size(part) for part in parts))
        return _refuse_long_result(markup_join(parts) if markup else str_join(parts))

    def sliced(self, value: Any, part: slice) -> Any:
        # ``x[::-1]`` copies: counted like any other text a template builds.
        return _refuse_long_result(value[part])

    def concat(self, chunks: Iterable[str]) -> str:
        # Block assignments, macro bodies and caller() join their output through here.
        return _joined(chunks)

    def get_template(
        self,
        name: str | Template,
        parent: str | None = None,
        globals: MutableMapping[str, Any] | None = None,  # Jinja's own parameter name
    ) -> Template:
        _step()  # an include or import, possibly of itself
        return super().get_template(name, parent, globals)

    def call(
        __self,  # noqa: N805 - the sandbox's own convention: no clash with keyword arguments
        __context: Context,
        __obj: Any,
        *args: Any,
        **kwargs: Any,
    ) -> Any:
        _step()
        # Type checks, not getattr: a missing attribute costs an exception, every call.
        if isinstance(__obj, BuiltinMethodType):  # a method of a str, a list, a dict...
            args = _refuse_long_method(__obj.__self__, __obj.__name__, args, kwargs)
        elif isinstance(__obj, FunctionType) and "__wrapped__" in __obj.__dict__:
            # The sandbox hands str.format out wrapped, the bound method underneath.
            template = getattr(__obj.__dict__["__wrapped__"], "__self__", None)
            if isinstance(template, str):
                _refuse_wide_format(template)
                for arg in (*args, *kwargs.values()):
                    _refuse_long(arg)
        return _refuse_long_result(super().call(__context, __obj, *args, **kwargs))

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        _step()
        if operator == "*":
            _refuse_long_product(left, right)
            _refuse_long_product(right, left)
        elif operator == "**":
            if isinstance(left, int) and isinstance(right, int) and abs(left) > 1 and right > 0:
                if right * left.bit_length() > MAX_INT_BITS:
                    raise TemplateLimitError(TOO_BIG_NUMBER)
        elif operator == "+":
            if isinstance(left, _SEQUENCES) and isinstance(right, _SEQUENCES):
                _within(len(left) + len(right))
        elif operator == "%" and isinstance(left, str):
            _refuse_wide_printf(left)
            _refuse_long(right)
        return _refuse_long_result(super().call_binop(context, operator, left, right))


_SEQUENCES = (str, bytes, list, tuple)
_BUILT = (str, bytes, list, tuple, dict, set)


def _refuse_long_product(seq: Any, times: Any) -> None:
    if not isinstance(times, int):
        return
    if isinstance(seq, _SEQUENCES):
        _within(len(seq) * times)
    elif isinstance(seq, int) and seq.bit_length() + times.bit_length() > MAX_INT_BITS:
        raise TemplateLimitError(TOO_BIG_NUMBER)


def _stepping(iterable: Iterable[Any]) -> Iterable[Any]:
    # Outside a budget (a constant folded at compile time, a bare render) as it is.
    budget = _state.budget
    return iterable if budget is None else _steps(iterable, budget)


def _steps(iterable: Iterable[Any], budget: _Budget) -> Iterator[Any]:
    for item in iterable:
        budget.step()
        yield item


# --- design time -----------------------------------------------------------------------


def loop_problem(template: nodes.Template) -> str | None:
    """A pt-BR refusal for loops over constant ranges nested past MAX_STATIC_ITERATIONS
    in all (``check_template``: the designer hears of it before anyone runs it)."""
    worst = _iterations(template, 1)
    if worst > MAX_STATIC_ITERATIONS:
        return (
            f"laços aninhados repetiriam {_number(worst)} vezes (o máximo é "
            f"{_number(MAX_STATIC_ITERATIONS)})"
        )
    return None


def _iterations(node: nodes.Node, outer: int) -> int:
    """The most times any statement under ``node`` runs, ``node`` running ``outer`` times."""
    if isinstance(node, nodes.For):
        inner = outer * _range_length(node.iter)
        body = (_iterations(part, inner) for part in node.body)
        return max([inner, *body, *(_iterations(part, outer) for part in node.else_)])
    return max([outer, *(_iterations(child, outer) for child in node.iter_child_nodes())])


def _range_length(node: nodes.Node) -> int:
    """The length of ``range(<numbers>)``; 1 for anything else (not known before run)."""
    if not (
        isinstance(node, nodes.Call)
        and isinstance(node.node, nodes.Name)
        and node.node.name == "range"
        and not node.kwargs
    ):
        return 1
    numbers = [arg.value for arg in node.args if isinstance(arg, nodes.Const)]
    if len(numbers) != len(node.args) or not all(type(n) is int for n in numbers):
        return 1
    try:
        return max(1, len(range(*numbers)))
    except (TypeError, ValueError, OverflowError):
        return 1
