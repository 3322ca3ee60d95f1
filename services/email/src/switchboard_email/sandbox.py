"""The sandbox email templates render in: no code execution, and bounded memory and CPU.

Subjects and bodies come from API callers and database rows, so a template is hostile input:

- Jinja2's immutable sandbox refuses Python internals (`cycler.__init__.__globals__.os`, …),
  refusing at the first unsafe attribute so that the reason names it. String methods are an
  allow-list: `translate`, `expandtabs`, `encode` and the like are refused.
- A value the template builds (`*`, `**`, `+`, `%`, `~`, a list/tuple/dict literal) is at most
  `max_length` characters or items, numbers at most `max_int_bits`; the sizes are checked before
  the operation where it alone could exhaust memory (`'a' * 10**10`, `9**(9**9)`). A filter or a
  call may not grow a value past `max_length` either, except as far as one of its inputs (data
  from the context) already is; `center`, `replace`, `join`, `indent`, `format`, … are estimated
  before they run. Sizes are measured as text, so a list of shared references counts in full.
- Each rendered part (subject, text, HTML), and each block captured by `{% set %}`, a macro or a
  filter block, is at most `max_output` characters.
- A render spends at most `cpu_seconds` of CPU: loop turns, calls, filters and operators count
  steps, and the thread's CPU clock is read every `CHECK_EVERY` steps.

A breach raises jinja2's `SecurityError`, which the renderer turns into a `ValidationFailure`:
the recipient fails with the reason and nothing is retried.
"""

from __future__ import annotations

import functools
import math
import re
import string
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from itertools import chain, islice
from typing import Any

from jinja2 import Template, nodes
from jinja2.compiler import CodeGenerator, Frame
from jinja2.exceptions import SecurityError
from jinja2.runtime import Context, Undefined, markup_join, str_join
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.utils import Namespace, generate_lorem_ipsum

CHECK_EVERY = 1000  # steps between two reads of the CPU clock (a system call, ~2 µs)
_END = object()
# String methods a template may call (`translate`, `expandtabs`, `encode`, … can grow a string
# beyond any estimate, or lead out of text): the rest are refused.
_STR_METHOD_NAMES = """
    capitalize casefold center count endswith find format index isalnum isalpha isascii isdecimal
    isdigit isidentifier islower isnumeric isprintable isspace istitle isupper join ljust lower
    lstrip partition removeprefix removesuffix replace rfind rindex rjust rpartition rsplit rstrip
    split splitlines startswith strip swapcase title upper zfill escape unescape striptags
"""
STR_METHODS = frozenset(_STR_METHOD_NAMES.split())
# Filters that never turn their input into text; every other one may, so its input is measured.
_KEEPS_VALUES_NAMES = """
    abs attr batch count d default dictsort first float groupby int items last length list map
    max min random reject rejectattr reverse round select selectattr slice sort sum unique
"""
KEEPS_VALUES = frozenset(_KEEPS_VALUES_NAMES.split())
PRINTF_SPEC = re.compile(r"%(?:\([^)]*\))?[#0\- +]*(\*|\d+)?(?:\.(\*|\d+))?[hlL]?[a-zA-Z%]")


@dataclass(frozen=True)
class TemplateLimits:
    max_length: int = 100_000  # characters or items of a value a template builds
    max_int_bits: int = 14_000  # about 4,200 digits (Python prints at most 4,300)
    max_output: int = 1024 * 1024  # characters of one rendered part or captured block
    cpu_seconds: float = 1.0  # CPU time of one render (every part of one recipient's mail)


class Budget:
    """One render's CPU allowance, spent in steps."""

    def __init__(self, cpu_seconds: float) -> None:
        self.cpu_seconds = cpu_seconds
        self.deadline = time.thread_time() + cpu_seconds
        self.steps = 0

    def check(self) -> None:
        self.steps = 0
        if time.thread_time() > self.deadline:
            raise SecurityError(f"rendering took more than {self.cpu_seconds:g}s of CPU")


_budget: ContextVar[Budget | None] = ContextVar("template_budget", default=None)


@contextmanager
def render_budget(limits: TemplateLimits) -> Iterator[None]:
    """Everything rendered inside the block shares one CPU allowance."""
    token = _budget.set(Budget(limits.cpu_seconds))
    try:
        yield
    finally:
        _budget.reset(token)


def spend(steps: int = 1) -> None:
    budget = _budget.get()
    if budget is not None:
        budget.steps += steps
        if budget.steps >= CHECK_EVERY:
            budget.check()


def _children(value: Any) -> Iterable[Any] | None:
    if isinstance(value, list | tuple | set | frozenset):
        return value
    if isinstance(value, dict):
        return chain.from_iterable(value.items())
    if isinstance(value, str | bytes | int | float) or value is None:
        return None
    if isinstance(value, Mapping):
        return chain.from_iterable(value.items())
    if isinstance(value, Namespace):
        return chain.from_iterable(value._Namespace__attrs.items())  # type: ignore[attr-defined]
    return None


def _flat_size(value: Any) -> int:
    if isinstance(value, str | bytes):
        return len(value)
    if isinstance(value, bool) or value is None:
        return 5
    if isinstance(value, int):
        return value.bit_length() * 3 // 10 + 1
    return 8


def measure(value: Any, cap: int, indent: int = 0) -> int:
    """About how many characters `value` takes as text (`indent` per level when pretty-printed),
    counting no further than just past `cap`: shared references count in full, yet measuring
    costs at most about `cap` steps."""
    if isinstance(value, str):  # the common case, first
        return len(value)
    children = _children(value)
    if children is None:
        return _flat_size(value)
    total, visited = 2, 0
    pending: list[tuple[Iterator[Any], int]] = [(iter(children), 1)]
    while pending and total <= cap:
        items, depth = pending[-1]
        item = next(items, _END)
        if item is _END:
            pending.pop()
            continue
        visited += 1
        total += _flat_size(item) + 4 + indent * depth  # quotes and separator
        inner = _children(item)
        if inner is not None:
            pending.append((iter(inner), depth + 1))
    spend(visited // 8)
    return total


def _int(value: Any, default: int = 0) -> int:
    return value if isinstance(value, int) else default


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _replaced(text: str, old: Any, new: Any, count: Any = None) -> int:
    if not isinstance(old, str) or not isinstance(new, str):
        return len(text)
    found = len(text) + 1 if old == "" else text.count(old)
    if isinstance(count, int) and count >= 0:
        found = min(found, count)
    return len(text) + found * len(new)


def _joined(cap: int, items: list[Any], separator: Any = "") -> int:
    return sum(measure(item, cap) for item in items) + len(_text(separator)) * len(items)


@functools.lru_cache(maxsize=512)
def _printf_specs(template: str) -> tuple[tuple[int, ...], bool]:
    """The widths and precisions written in a `%` format, and whether a `*` asks for more."""
    groups = [group for match in PRINTF_SPEC.finditer(template) for group in match.groups()]
    return tuple(int(n) for n in groups if n and n != "*"), "*" in groups


def printf_widths(template: str, values: Any) -> list[int]:
    """The widths and precisions a `%` format asks for (`*` takes them from the values)."""
    written, starred = _printf_specs(template)
    return [*written, *(v for v in values if isinstance(v, int) and starred)]


def format_widths(template: str, args: Iterable[Any], kwargs: Mapping[str, Any]) -> list[int]:
    """The widths a `str.format` template asks for (nested `{}` take them from the arguments)."""
    found: list[int] = []
    try:
        specs = [spec or "" for _, _, spec, _ in string.Formatter().parse(template)]
    except ValueError:
        return found  # str.format itself refuses it
    for spec in specs:
        found += [int(n) for n in re.findall(r"\d+", spec)]
        if "{" in spec:
            found += [v for v in chain(args, kwargs.values()) if isinstance(v, int)]
    return found


def _center(cap: int, value: Any, width: Any = 80) -> int:
    return max(_int(width), measure(value, cap))


def _indent(cap: int, s: Any, width: Any = 4, first: Any = False, blank: Any = False) -> int:
    prefix = len(width) if isinstance(width, str) else _int(width)
    return len(_text(s)) + (_text(s).count("\n") + 1) * prefix


def _wordwrap(
    cap: int,
    s: Any,
    width: Any = 79,
    break_long_words: Any = True,
    wrapstring: Any = None,
    break_on_hyphens: Any = True,
) -> int:
    text = _text(s)
    lines = len(text) // max(_int(width, 1), 1) + text.count("\n") + 1
    return len(text) + lines * len(_text(wrapstring) or "\n")


def _replace(cap: int, s: Any, old: Any, new: Any, count: Any = None) -> int:
    return _replaced(_text(s), old, new, count)


def _join(cap: int, value: Any, d: Any = "", attribute: Any = None) -> int:
    return _joined(cap, value, d)


def _tojson(cap: int, value: Any, indent: Any = None) -> int:
    return measure(value, cap, len(indent) if isinstance(indent, str) else _int(indent))


def _pprint(cap: int, value: Any) -> int:
    return measure(value, cap, 1)


def _urlize(
    cap: int,
    value: Any,
    trim_url_limit: Any = None,
    nofollow: Any = False,
    target: Any = None,
    rel: Any = None,
    extra_schemes: Any = None,
) -> int:
    text = _text(value)
    per_link = 40 + len(_text(target)) + len(_text(rel))
    return 2 * len(text) + (text.count(" ") + 1) * per_link


def _format(cap: int, value: Any, *args: Any, **kwargs: Any) -> int:
    values = args or tuple(kwargs.values())
    widths = sum(abs(width) for width in printf_widths(_text(value), values))
    return len(_text(value)) + widths + sum(measure(v, cap) for v in values)


def _batch(cap: int, value: Any, linecount: Any, fill_with: Any = None) -> int:
    return _int(linecount)


def _slice(cap: int, value: Any, slices: Any, fill_with: Any = None) -> int:
    return _int(slices)


# Estimated result sizes of the filters that can grow text far past their inputs.
FILTER_ESTIMATES: dict[str, Callable[..., int]] = {
    "center": _center,
    "format": _format,
    "indent": _indent,
    "wordwrap": _wordwrap,
    "replace": _replace,
    "join": _join,
    "tojson": _tojson,
    "pprint": _pprint,
    "urlize": _urlize,
    "batch": _batch,
    "slice": _slice,
}
# The same for string methods (`text` is the string the method belongs to).
METHOD_ESTIMATES: dict[str, Callable[..., int]] = {
    "center": lambda text, width, *_: _int(width),
    "ljust": lambda text, width, *_: _int(width),
    "rjust": lambda text, width, *_: _int(width),
    "zfill": lambda text, width: _int(width),
    "replace": _replaced,
}


def _is_counted(node: nodes.Node) -> bool:
    return (
        isinstance(node, nodes.Call)
        and isinstance(node.node, nodes.EnvironmentAttribute)
        and node.node.name == "counted"
    )


class BoundedCodeGenerator(CodeGenerator):
    """Jinja2's code generator with the hooks the sandbox needs that it has no option for."""

    def buffer(self, frame: Frame) -> None:
        frame.buffer = self.temporary_identifier()
        self.writeline(f"{frame.buffer} = environment.captured()")

    def visit_For(self, node: nodes.For, frame: Frame) -> None:
        if not _is_counted(node.iter):
            counted = nodes.EnvironmentAttribute("counted", lineno=node.lineno)
            node.iter = nodes.Call(counted, [node.iter], [], None, None, lineno=node.lineno)
        super().visit_For(node, frame)

    def visit_Concat(self, node: nodes.Concat, frame: Frame) -> None:
        autoescape = (
            "context.eval_ctx.autoescape"
            if frame.eval_ctx.volatile
            else repr(bool(frame.eval_ctx.autoescape))
        )
        self.write("environment.concatenated((")
        for part in node.nodes:
            self.visit(part, frame)
            self.write(", ")
        self.write(f"), {autoescape})")

    def _built(self, visit: Callable[[Any, Frame], None], node: nodes.Expr, frame: Frame) -> None:
        self.write("environment.built(")
        visit(node, frame)
        self.write(")")

    def visit_List(self, node: nodes.List, frame: Frame) -> None:
        self._built(super().visit_List, node, frame)

    def visit_Dict(self, node: nodes.Dict, frame: Frame) -> None:
        self._built(super().visit_Dict, node, frame)

    def visit_Tuple(self, node: nodes.Tuple, frame: Frame) -> None:
        if node.ctx != "load":
            return super().visit_Tuple(node, frame)
        self._built(super().visit_Tuple, node, frame)


class CappedBuffer(list[str]):
    """Output captured by `{% set %}`, a macro or a filter block, at most `limit` characters."""

    def __init__(self, limit: int) -> None:
        super().__init__()
        self.limit, self.size = limit, 0

    def _grow(self, size: int) -> None:
        spend(1 + size // 4096)
        self.size += size
        if self.size > self.limit:
            raise SecurityError(
                f"a captured block is too long; the limit is {self.limit} characters"
            )

    def append(self, item: str) -> None:
        self._grow(len(item))
        super().append(item)

    def extend(self, items: Iterable[str]) -> None:
        items = tuple(items)
        self._grow(sum(len(item) for item in items))
        super().extend(items)


class MailSandbox(ImmutableSandboxedEnvironment):
    """The immutable sandbox with the limits of `TemplateLimits` (see the module's docstring)."""

    code_generator_class = BoundedCodeGenerator
    intercepted_binops = frozenset({"*", "**", "+", "%"})

    def __init__(self, limits: TemplateLimits | None = None, **options: Any) -> None:
        self.limits = limits or TemplateLimits()
        super().__init__(finalize=self.emitted, **options)
        self.globals["range"] = self.bounded_range
        self.globals["lipsum"] = self.bounded_lipsum
        self.filters = {name: self._bounded_filter(name, f) for name, f in self.filters.items()}

    # -- attribute access

    def unsafe_undefined(self, obj: Any, attribute: str) -> Undefined:
        """Raise at once (the sandbox returns a lazy undefined there, which a later `|attr()` can
        turn into a bare "no attribute" error): the reason names the refusal."""
        raise SecurityError(
            f"access to attribute {attribute!r} of {type(obj).__name__!r} object is unsafe"
        )

    def is_safe_attribute(self, obj: Any, attr: str, value: Any) -> bool:
        if isinstance(obj, bytes | bytearray):
            return False
        if isinstance(obj, str) and attr not in STR_METHODS:
            return False
        if isinstance(obj, int) and attr == "to_bytes":
            return False
        return super().is_safe_attribute(obj, attr, value)

    # -- sizes

    def refuse_growth(self, size: int, inputs: Iterable[Any], what: str) -> None:
        """`size` may pass `max_length` only as far as the largest of `inputs` already does."""
        limit = self.limits.max_length
        if size <= limit:
            return
        allowed = max((measure(value, self.limits.max_output) for value in inputs), default=0)
        if size > min(max(allowed, limit), self.limits.max_output):
            raise SecurityError(
                f"{what} would make {size} characters or items; the limit is {limit}"
            )

    def check_text(self, value: Any, what: str) -> int:
        """`value` is about to become text: at most `max_output` characters of it."""
        size = measure(value, self.limits.max_output)
        if size > self.limits.max_output:
            raise SecurityError(
                f"{what} would make a text too long; the limit is {self.limits.max_output} characters"
            )
        return size

    def check_result(self, result: Any, inputs: Iterable[Any], what: str) -> Any:
        limit = self.limits.max_length
        size = measure(result, limit)
        if size > limit:
            inputs = list(inputs)
            allowed = max((measure(value, self.limits.max_output) for value in inputs), default=0)
            allowed = min(allowed, self.limits.max_output)
            if allowed <= limit or measure(result, allowed) > allowed:
                raise SecurityError(
                    f"{what} made a value too large; the limit is {limit} characters or items"
                )
        return result

    def check_int(self, bits: float, what: str) -> None:
        if bits > self.limits.max_int_bits:
            raise SecurityError(
                f"{what} would make a number of {bits:.0f} bits; the limit is "
                f"{self.limits.max_int_bits}"
            )

    def check_widths(self, widths: Iterable[int], what: str) -> None:
        for width in widths:
            if abs(width) > self.limits.max_length:
                raise SecurityError(
                    f"{what} asks for a width of {width}; the limit is {self.limits.max_length}"
                )

    def built(self, value: Any) -> Any:
        """A value an operator or literal built: at most `max_length`, inputs regardless."""
        spend()
        if isinstance(value, int):
            self.check_int(value.bit_length(), "an operation")
            return value
        return self.check_result(value, (), "an operation")

    # -- hooks the generated code calls

    def emitted(self, value: Any) -> Any:
        """Every `{{ … }}` before it turns into text."""
        spend(1 + self.check_text(value, "an output") // 4096)
        return value

    def counted(self, iterable: Iterable[Any]) -> Iterator[Any]:
        for item in iterable:
            spend()
            yield item

    def captured(self) -> CappedBuffer:
        return CappedBuffer(self.limits.max_output)

    def concatenated(self, parts: tuple[Any, ...], autoescape: bool) -> str:
        """`a ~ b`: each part is measured before it is turned into text."""
        for part in parts:
            self.check_result(part, (), "'~'")
        joined = markup_join(parts) if autoescape else str_join(parts)
        return self.built(joined)  # type: ignore[no-any-return]

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        spend()
        self._before_binop(operator, left, right)
        return self.built(super().call_binop(context, operator, left, right))

    def _before_binop(self, operator: str, left: Any, right: Any) -> None:
        what = f"'{operator}'"
        if operator == "*":
            if isinstance(left, int) and isinstance(right, int):
                self.check_int(left.bit_length() + right.bit_length(), what)
                return
            seq, times = (left, right) if isinstance(right, int) else (right, left)
            if isinstance(times, int) and times > 1:
                size = measure(seq, self.limits.max_length // times + 1) * times
                self.refuse_growth(size, (), what)
        elif operator == "**" and isinstance(left, int) and isinstance(right, int):
            if right > 0 and abs(left) > 1:
                self.check_int(right * math.log2(abs(left)), what)
        elif operator == "%" and isinstance(left, str):
            values = right if isinstance(right, tuple) else (right,)
            self.check_widths(printf_widths(left, values), what)
            self.check_text(right, what)

    def call(
        __self,  # as jinja2 names it: a template's keyword argument may be called `self`
        __context: Context,
        __obj: Any,
        *args: Any,
        **kwargs: Any,
    ) -> Any:
        spend()
        inputs = __self._before_call(__obj, args, kwargs)
        result = super().call(__context, __obj, *args, **kwargs)
        return __self.check_result(result, inputs, "a call")

    def _before_call(self, obj: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> list[Any]:
        """The call's inputs; a string method that could grow its string is estimated first."""
        target = getattr(obj, "__wrapped__", obj)  # the sandbox's wrapper of str.format
        owner = getattr(target, "__self__", None)
        inputs = [owner, *args, *kwargs.values()]
        if not isinstance(owner, str):
            return inputs
        name = getattr(target, "__name__", "")
        if name in ("format", "format_map"):
            mapping = args[0] if name == "format_map" and args else {}
            values = mapping if isinstance(mapping, Mapping) else {}
            self.check_widths(format_widths(owner, args, {**kwargs, **values}), name)
            for value in chain(args, kwargs.values()):
                self.check_text(value, name)
        elif name == "join" and args:
            items = self.bounded_list(args[0])
            self.refuse_growth(_joined(self.limits.max_output, items, owner), inputs, name)
        elif name in METHOD_ESTIMATES:
            self.refuse_growth(METHOD_ESTIMATES[name](owner, *args, **kwargs), inputs, name)
        return inputs

    def bounded_list(self, items: Any) -> list[Any]:
        """`items` as a list, refused when longer than `max_length` (a generator is consumed)."""
        if isinstance(items, list):
            return items
        listed = list(islice(items, self.limits.max_length + 1))
        if len(listed) > self.limits.max_length:
            raise SecurityError(f"too many items; the limit is {self.limits.max_length}")
        return listed

    def _bounded_filter(self, name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        skip = 1 if getattr(fn, "jinja_pass_arg", None) else 0  # the context/environment first
        estimate = FILTER_ESTIMATES.get(name)
        what = f"the {name!r} filter"

        @functools.wraps(fn)
        def bounded(*args: Any, **kwargs: Any) -> Any:
            spend()
            if name == "join" and len(args) > skip:
                args = (*args[:skip], self.bounded_list(args[skip]), *args[skip + 1 :])
            inputs = [*args[skip:], *kwargs.values()]
            if estimate is not None:
                size = estimate(self.limits.max_output, *args[skip:], **kwargs)
                self.refuse_growth(size, inputs, what)
            elif name not in KEEPS_VALUES and len(args) > skip:
                self.check_text(args[skip], what)
            return self.check_result(fn(*args, **kwargs), inputs, what)

        return bounded

    def bounded_range(self, *args: int) -> range:
        numbers = range(*args)
        if len(numbers) > self.limits.max_length:
            raise SecurityError(
                f"range() of {len(numbers)} items; the limit is {self.limits.max_length}"
            )
        return numbers

    def bounded_lipsum(self, n: int = 5, html: bool = True, min: int = 20, max: int = 100) -> str:
        self.refuse_growth(_int(n) * _int(max) * 12, (), "lipsum()")
        return generate_lorem_ipsum(n, html, min, max)


def render_part(template: Template, context: Mapping[str, Any], part: str, limit: int) -> str:
    """`template` rendered, refused as soon as its output passes `limit` characters."""
    chunks: list[str] = []
    size = 0
    for chunk in template.generate(context):
        size += len(chunk)
        if size > limit:
            raise SecurityError(f"the rendered {part} is too long; the limit is {limit} characters")
        chunks.append(chunk)
    return "".join(chunks)
