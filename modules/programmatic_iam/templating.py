"""User-supplied jinja2 templates: sandboxed, strict about unknown variables, bounded, errors as problems."""

from __future__ import annotations

from collections.abc import Callable, ItemsView, Iterable, Iterator, KeysView, Mapping, ValuesView
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
import functools
from functools import lru_cache
import math
import os
from pathlib import Path
import re
from string import Formatter
import sys
import threading
import time
from types import BuiltinMethodType, MethodType
from typing import Any

import jinja2
from jinja2 import meta, nodes
from jinja2.compiler import CodeGenerator, Frame, optimizeconst
from jinja2.exceptions import SecurityError
from jinja2.loaders import split_template_path
from jinja2.runtime import LoopContext, markup_join, str_join
from jinja2.sandbox import SandboxedEnvironment, SandboxedEscapeFormatter, SandboxedFormatter
from jinja2.utils import Namespace, generate_lorem_ipsum
from markupsafe import Markup

from .errors import Problem, did_you_mean, show
from .files import MAX_POLICY_BYTES, RefusedError, read_text

if sys.platform != "win32":
    import resource

# What a template may do. A name, a description or a state key is a few dozen characters and a policy
# document at most 20 x 6,144 (the managed policies a user may have), so these are far above what any of
# them needs and far below what would exhaust the machine. Each render is bounded on its own; a command
# renders a few templates per environment.
MAX_TEXT = 1_000_000  # characters in any text a template builds or writes
MAX_ITEMS = 100_000  # items in any list or mapping it builds (jinja2's own bound on range())
MAX_INT_BITS = 100_000  # bits of any integer it computes (about 30,000 digits)
MAX_STEPS = 200_000  # loop rounds, calls, filters and loaded partials in one render
MAX_BUILT = 20_000_000  # characters and items built in one render, counted as they are built
TIME_LIMIT = 1.0  # seconds of one render
# The backstop for whatever the counts above miss: while a template renders, the process may map only this
# much more memory (where the system enforces RLIMIT_AS: Linux), so an allocation past it fails at once.
MEMORY_HEADROOM = 512 * 1024 * 1024

LIMITS = (
    f"texts of up to {MAX_TEXT:,} characters, lists of up to {MAX_ITEMS:,} items, integers of up to "
    f"{MAX_INT_BITS:,} bits, {MAX_BUILT:,} characters and items built in all, {MAX_STEPS:,} loop rounds, "
    f"calls and filters, {TIME_LIMIT:g} second and {MEMORY_HEADROOM // 2**20} MiB of memory"
)


class TemplateLimitError(SecurityError):
    """A template went past one of the limits above; the message says which."""


@dataclass(slots=True)
class _Budget:
    """What one render has used so far, checked at every loop round, call, filter and built value."""

    deadline: float
    steps: int = 0
    built: int = 0
    exceeded: str = ""

    def charge(self, steps: int, built: int) -> None:
        self.steps += steps
        self.built += built
        if not self.exceeded:
            if self.steps > MAX_STEPS:
                self.exceeded = f"it loops, calls and filters more than {MAX_STEPS:,} times"
            elif self.built > MAX_BUILT:
                self.exceeded = f"it builds more than {MAX_BUILT:,} characters and items in all"
            elif time.monotonic() > self.deadline:
                self.exceeded = f"it runs longer than {TIME_LIMIT:g} second"
        # Once exceeded, every later charge fails too, so nothing a template calls can swallow the first.
        if self.exceeded:
            raise TemplateLimitError(self.exceeded)


_BUDGET: ContextVar[_Budget | None] = ContextVar("template_budget", default=None)


def _charge(steps: int = 0, built: int = 0) -> None:
    budget = _BUDGET.get()
    if budget is not None:
        budget.charge(steps, built)


def _refuse_text(length: int) -> None:
    if length > MAX_TEXT:
        raise TemplateLimitError(f"it would build a text of {length:,} characters (at most {MAX_TEXT:,})")


def _refuse_items(count: int) -> None:
    if count > MAX_ITEMS:
        raise TemplateLimitError(f"it would build a list of {count:,} items (at most {MAX_ITEMS:,})")


def _refuse_bits(bits: int) -> None:
    if bits > MAX_INT_BITS:
        raise TemplateLimitError(f"it would compute an integer of {bits:,} bits (at most {MAX_INT_BITS:,})")


@dataclass(frozen=True, slots=True)
class _Measure:
    """The written-out size of a value, and what indenting it line by line could multiply it by."""

    size: int
    nodes: int = 1
    depth: int = 0
    longest: int = 0


_SEQUENCES = (list, tuple, set, frozenset, KeysView, ValuesView, ItemsView)
_TEXTS = (str, bytes, bytearray)


def _measure(value: Any) -> _Measure:
    """How long ``value`` is written out (as str() writes lists and mappings), without writing it.

    Fails, as StrictUndefined does, when an undefined value hides inside a list or mapping, and refuses a
    value too long to write; the walk stops there, so it never costs more than the text it stands for.
    """
    if isinstance(value, str):
        return _Measure(len(value), longest=len(value))
    size = nodes = depth = longest = 0
    level: list[Any] = [value]
    while level:  # one nesting level at a time
        nodes += len(level)
        inside: list[Any] = []
        for item in level:
            kind = type(item)
            if kind is str:
                length = len(item)
                size += length + 4  # quotes and separator
                if length > longest:
                    longest = length
            elif kind is list or kind is tuple or kind is dict:
                size += 2 + 4 * len(item)
                if size > MAX_TEXT:
                    _refuse_text(size)
                inside.extend(item)
                if kind is dict:
                    inside.extend(item.values())
            elif kind is int or kind is bool:
                size += item.bit_length() // 3 + 2
            elif isinstance(item, _TEXTS):
                size += len(item) + 4
                longest = max(longest, len(item))
            elif isinstance(item, Mapping):
                size += 2 + 4 * len(item)
                if size > MAX_TEXT:
                    _refuse_text(size)
                inside.extend(item.keys())
                inside.extend(item.values())
            elif isinstance(item, _SEQUENCES):
                size += 2 + 4 * len(item)
                if size > MAX_TEXT:
                    _refuse_text(size)
                inside.extend(item)
            elif isinstance(item, jinja2.Undefined):
                item._fail_with_undefined_error()
            elif isinstance(item, Namespace):
                inside.append(getattr(item, "_Namespace__attrs", {}))
            elif isinstance(item, MethodType | _Rounds):  # <bound method Markup.center of Markup('...')>
                size += 40
                inside.append(item.__self__ if isinstance(item, MethodType) else item.iterable)
            else:
                size += 80  # a float, None, or an object that writes itself as a short <...>
        _refuse_text(size)
        level = inside
        depth += 1
    return _Measure(size, nodes, depth - 1, longest)


def _text_size(value: Any) -> int:
    return len(value) if isinstance(value, str) else _measure(value).size


def _checked(value: Any) -> Any:
    """A value a template built: within the limits and counted; an iterator counts its rounds as it goes."""
    if isinstance(value, str | bytes | bytearray):
        _refuse_text(len(value))
        _charge(built=len(value))
    elif isinstance(value, list | tuple | dict | set | frozenset):
        _refuse_items(len(value))
        _charge(built=len(value))
    elif isinstance(value, int):
        _refuse_bits(value.bit_length())
    elif isinstance(value, Iterator) and not isinstance(value, _Rounds):
        return _Rounds(value)
    return value


class _Rounds:
    """An iterable that counts each round against the render's budget (loops, filters' generators)."""

    __slots__ = ("_iterable", "_iterator", "_strict", "_weight")

    def __init__(self, iterable: Iterable[Any], weight: int = 0, *, strict: bool = False) -> None:
        self._iterable = iterable
        self._iterator = iter(iterable)
        self._weight = weight
        self._strict = strict

    def __iter__(self) -> _Rounds:
        return self

    def __next__(self) -> Any:
        item = next(self._iterator)
        _charge(steps=1, built=self._weight)
        if self._strict and isinstance(item, jinja2.Undefined):
            item._fail_with_undefined_error()
        return item

    def __len__(self) -> int:
        # loop.length and loop.last use len() where the iterable has one (a TypeError otherwise, as before).
        return len(self._iterable)  # type: ignore[arg-type]

    def __bool__(self) -> bool:
        return True

    @property
    def iterable(self) -> Iterable[Any]:
        """What is iterated."""
        return self._iterable

    def __repr__(self) -> str:
        return repr(self._iterable)


def _materialized(iterable: Any) -> list[Any] | None:
    """The items of a one-pass iterable, each counted as a round; ``None`` for what has a size of its own."""
    if isinstance(iterable, Iterator):
        items = []
        for item in _Rounds(iterable):
            items.append(item)
            _refuse_items(len(items))
        return items
    return None


def _joined_size(items: Iterable[Any], separator: Any) -> int:
    """How long joining ``items`` with ``separator`` writes, refused as soon as that is over the limit."""
    gap = _text_size(separator)
    if isinstance(items, str):
        size = len(items) + gap * max(len(items) - 1, 0)
    else:
        size = -gap
        for item in items:
            size += _text_size(item) + gap
            _refuse_text(size)
    _refuse_text(size)
    return size


# A %-conversion: %(key)s, flags, width and precision (either may be *), and the conversion character.
_PERCENT_CONVERSION = re.compile(r"%(?:\([^)]*\))?[#0\- +]*(\*|[0-9]+)?(?:\.(\*|[0-9]*))?[hlL]?(.)", re.DOTALL)


def _width(digits: str) -> int:
    """A width or precision written in a format (one too long to read is refused as it stands)."""
    if len(digits) > 15:
        raise TemplateLimitError(f"it would pad a field to a width of {len(digits):,} digits (at most {MAX_TEXT:,})")
    width = int(digits)
    if width > MAX_TEXT:
        raise TemplateLimitError(f"it would pad a field to {width:,} characters (at most {MAX_TEXT:,})")
    return width


def _percent_size(template: str | bytes, values: Any) -> int:
    """How long ``template % values`` can be: the literal text, every value written out, every width."""
    text = template.decode("latin-1") if isinstance(template, bytes) else str(template)
    size = len(text) + _text_size(values)
    starred = False
    for width, precision, _ in _PERCENT_CONVERSION.findall(text):
        size += 320  # the longest a number written with %f can be (1e308), less its precision
        for number in (width, precision):
            if number == "*":
                starred = True
            elif number:
                size += _width(number)
        _refuse_text(size)
    if starred:  # a * takes its width or precision from the values: count every integer among them
        candidates = values if isinstance(values, tuple) else (values,)
        size += sum(abs(value) for value in candidates if isinstance(value, int))
    _refuse_text(size)
    return size


def _format_spec_size(spec: str) -> int:
    """The widest a format() field with ``spec`` pads to (its width plus its precision)."""
    return sum(_width(number) for number in re.findall(r"[0-9]+", spec))


def _as_text(value: Any) -> str:
    """``str(value)``, once its written size is known to be within the limits."""
    _text_size(value)
    return str(value)


class _BoundedFormatting(Formatter):
    """str.format() and format_map() whose fields are written within the limits, together."""

    _written = 0

    def vformat(self, format_string: str, args: Any, kwargs: Any) -> str:
        self._written = len(format_string)
        return super().vformat(format_string, args, kwargs)

    def convert_field(self, value: Any, conversion: str | None) -> Any:
        if conversion is not None:
            _text_size(value)
        return super().convert_field(value, conversion)

    def format_field(self, value: Any, format_spec: str) -> Any:
        self._written += _text_size(value) + _format_spec_size(format_spec)
        _refuse_text(self._written)
        written = super().format_field(value, format_spec)
        _charge(built=len(written))
        return written


class _BoundedFormatter(_BoundedFormatting, SandboxedFormatter):
    pass


class _BoundedEscapeFormatter(_BoundedFormatting, SandboxedEscapeFormatter):
    pass


def _length(value: Any) -> int:
    try:
        return len(value)
    except TypeError:
        return 0


def _argument(args: tuple[Any, ...], kwargs: dict[str, Any], position: int, name: str, default: Any) -> Any:
    return args[position] if len(args) > position else kwargs.get(name, default)


def _check_text_method(
    owner: str | bytes | bytearray, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> tuple[Any, ...]:
    """Refuse a str or bytes method whose result would be too long; returns the arguments to call it with."""
    length = len(owner)
    if name in ("center", "ljust", "rjust", "zfill"):
        width = _argument(args, kwargs, 0, "width", 0)
        if isinstance(width, int):
            _refuse_text(width)
    elif name == "expandtabs":
        tabsize = _argument(args, kwargs, 0, "tabsize", 8)
        if isinstance(tabsize, int):
            tabs = owner.count("\t" if isinstance(owner, str) else b"\t")  # type: ignore[arg-type]
            _refuse_text(length + tabs * tabsize)
    elif name == "replace" and len(args) >= 2 and all(isinstance(arg, _TEXTS) for arg in args[:2]):
        old, new = args[0], args[1]
        try:
            found = owner.count(old) if old else length + 1
        except TypeError:  # bytes and str mixed: replace() says so itself
            found = 0
        count = _argument(args, kwargs, 2, "count", -1)
        if isinstance(count, int) and count >= 0:
            found = min(found, count)
        _refuse_text(length + found * max(len(new) - len(old), 0))
    elif name == "join" and args:
        items = _materialized(args[0])
        if items is not None:
            args = (items, *args[1:])
        _joined_size(args[0], owner)
    elif name == "translate" and args and isinstance(args[0], Mapping):
        longest = max((len(value) for value in args[0].values() if isinstance(value, str | bytes)), default=1)
        _refuse_text(length * max(longest, 1))
    return args


def _check_call(function: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, ...]:
    """Refuse a method or global whose result would be too large; returns the arguments to call it with."""
    owner = getattr(function, "__self__", None)
    name = getattr(function, "__name__", "")
    if isinstance(owner, str | bytes | bytearray):
        return _check_text_method(owner, name, args, kwargs)
    if isinstance(owner, list | set | dict) and name in ("append", "insert", "add", "setdefault"):
        _refuse_items(len(owner) + 1)
    elif isinstance(owner, list | set | dict) and name in ("extend", "update"):
        if args:
            items = _materialized(args[0])
            args = (items, *args[1:]) if items is not None else args
        _refuse_items(len(owner) + len(kwargs) + sum(_length(arg) for arg in args))
    elif isinstance(owner, int) and name == "to_bytes":
        length = args[0] if args else kwargs.get("length", 1)
        if isinstance(length, int):
            _refuse_text(length)
    elif function is generate_lorem_ipsum:
        values = dict(zip(("n", "html", "min", "max"), args, strict=False)) | kwargs
        paragraphs, words = values.get("n", 5), values.get("max", 100)
        if isinstance(paragraphs, int) and isinstance(words, int):
            _refuse_text(paragraphs * words * 16)  # a word and its space are at most 16 characters
    return args


# Filters that build more than they are given, each with what it can build from its arguments. Each check
# has the filter's own parameters; when they do not bind, the filter itself reports the mistake. A check
# may return the value to filter instead (a one-pass iterable, read once here and counted).
def _center(value: Any, width: Any = 80) -> None:
    if isinstance(width, int):
        _refuse_text(max(_text_size(value), width))


def _indent(s: Any, width: Any = 4, first: Any = False, blank: Any = False) -> None:
    if isinstance(width, int):
        _refuse_text(width)
        width = " " * width
    text = _as_text(s)
    _refuse_text(len(text) + (text.count("\n") + 1) * _text_size(width))


def _format(value: Any, *args: Any, **kwargs: Any) -> None:
    _percent_size(_as_text(value), kwargs or args)


def _join(value: Any, d: Any = "", attribute: Any = None) -> list[Any] | None:
    items = _materialized(value)
    _joined_size(value if items is None else items, d)
    return items


def _replace(s: Any, old: Any, new: Any, count: Any = None) -> None:
    text, old, new = _as_text(s), _as_text(old), _as_text(new)
    found = text.count(old) if old else len(text) + 1
    if isinstance(count, int) and count >= 0:
        found = min(found, count)
    _refuse_text(len(text) + found * max(len(new) - len(old), 0))


def _batch(value: Any, linecount: Any, fill_with: Any = None) -> None:
    if isinstance(linecount, int):
        _refuse_items(linecount)


def _slice(value: Any, slices: Any, fill_with: Any = None) -> None:
    if isinstance(slices, int):
        _refuse_items(slices)


def _sum(iterable: Any, attribute: Any = None, start: Any = 0) -> list[Any] | None:
    if not isinstance(start, list | tuple):
        return None
    items = _materialized(iterable)
    added = [_length(item) for item in (iterable if items is None else items)]
    # Adding lists copies the sum so far each time: refuse what would copy more than a render may build.
    _refuse_items(len(start) + sum(added))
    if len(added) * (len(start) + sum(added)) > MAX_BUILT:
        raise TemplateLimitError(f"it would add up {len(added):,} lists, copying more than {MAX_BUILT:,} items")
    return items


def _tojson(value: Any, indent: Any = None) -> None:
    measure = _measure(value)
    step = indent if isinstance(indent, int) else _length(indent)
    _refuse_text(measure.size + measure.nodes * measure.depth * max(step, 0))  # each item on its line, indented


def _pprint(value: Any) -> None:
    measure = _measure(value)
    # pprint indents a nested item under its key, so a line can start as far in as the longest key.
    _refuse_text(measure.size + measure.nodes * measure.depth * (measure.longest + 4))


def _wordwrap(
    s: Any, width: Any = 79, break_long_words: Any = True, wrapstring: Any = None, break_on_hyphens: Any = True
) -> None:
    if isinstance(s, str) and isinstance(width, int):
        lines = len(s) // max(width, 1) + s.count("\n") + 1
        _refuse_text(len(s) + lines * _text_size(wrapstring or "\n"))


def _urlize(
    value: Any,
    trim_url_limit: Any = None,
    nofollow: Any = False,
    target: Any = None,
    rel: Any = None,
    extra_schemes: Any = None,
) -> None:
    link = 40 + _text_size(target or "") + _text_size(rel or "")  # <a href="..." rel="..." target="...">...</a>
    _refuse_text(_text_size(value) * link)


_FILTER_CHECKS: dict[str, Callable[..., list[Any] | None]] = {
    "batch": _batch,
    "center": _center,
    "format": _format,
    "indent": _indent,
    "join": _join,
    "pprint": _pprint,
    "replace": _replace,
    "slice": _slice,
    "sum": _sum,
    "tojson": _tojson,
    "urlize": _urlize,
    "wordwrap": _wordwrap,
}
# Filters that write their value out as text: a list holding an undefined value, or too long to write, fails.
_WRITING_FILTERS = frozenset(
    {"capitalize", "e", "escape", "forceescape", "lower", "safe", "string", "striptags", "title", "trim"}
    | {"truncate", "upper", "urlencode", "wordcount", "xmlattr"}
)


def _bounded_filter(name: str, function: Callable[..., Any]) -> Callable[..., Any]:
    """``function`` (a jinja2 filter) counted, checked before it runs, its result checked after."""
    check = _FILTER_CHECKS.get(name)
    writes = name in _WRITING_FILTERS
    skip = 0 if getattr(function, "jinja_pass_arg", None) is None else 1  # the context jinja2 passes first
    strict = name == "map"  # map(attribute=...) yields undefined values where others fail on them

    @functools.wraps(function)
    def bounded(*args: Any, **kwargs: Any) -> Any:
        _charge(steps=1)
        if len(args) > skip:
            if writes:
                _text_size(args[skip])
            if check is not None:
                try:
                    replaced = check(*args[skip:], **kwargs)
                except TypeError as error:
                    if error.__traceback__ is not None and error.__traceback__.tb_next is not None:
                        raise  # from inside the check (an item of the value), as the filter would
                    replaced = None  # arguments the filter does not take: it says so itself
                if replaced is not None:
                    args = (*args[:skip], replaced, *args[skip + 1 :])
        result = function(*args, **kwargs)
        if strict and isinstance(result, Iterator):
            return _Rounds(result, strict=True)
        return _checked(result)

    return bounded


def _written(value: Any) -> Any:
    """What ``{{ }}`` writes (the environment's finalize): within the limits, nothing undefined inside."""
    _charge(built=_text_size(value))
    return value


def _joined(parts: tuple[Any, ...], join: Callable[[Iterable[Any]], str]) -> str:
    """``~``: the parts' written sizes are checked before any is written."""
    size = 0
    for part in parts:
        size += len(part) if type(part) is str else _text_size(part)
    _refuse_text(size)
    _charge(built=size)
    return join(parts)


_JINJA_KEYWORDS = frozenset(["_loop_vars", "_block_vars"])
# What a loop iterates, in the code generated for it (templates cannot name environment attributes).
_LOOP_ROUNDS = nodes.EnvironmentAttribute("loop_rounds")


class _BoundedCodeGenerator(CodeGenerator):
    """jinja2's code generator, with every loop counting its rounds and every ``~`` checking its size."""

    def visit_Template(self, node: nodes.Template, frame: Frame | None = None) -> None:  # noqa: N802
        # A loaded partial counts its literal text as it is loaded (a loop may load it many times).
        sizes = getattr(self.environment, "literal_sizes", None)
        if sizes is not None:
            sizes[self.name] = sum(len(data.data) for data in node.find_all(nodes.TemplateData))
        super().visit_Template(node, frame)

    def visit_For(self, node: nodes.For, frame: Frame) -> None:  # noqa: N802 (jinja2's name)
        # Each round also counts the text the loop's body writes literally, which no other check sees.
        weight = sum(len(data.data) for data in node.find_all(nodes.TemplateData))
        rounds = nodes.Call(_LOOP_ROUNDS, [node.iter, nodes.Const(weight)], [], None, None, lineno=node.iter.lineno)
        counted = nodes.For(node.target, rounds, node.body, node.else_, node.test, node.recursive, lineno=node.lineno)
        super().visit_For(counted, frame)

    def visit_Call(self, node: nodes.Call, frame: Frame, forward_caller: bool = False) -> None:  # noqa: N802
        if node.node is _LOOP_ROUNDS:  # ours, not the template's: called directly, not through the sandbox
            self.write("environment.loop_rounds(")
            self.visit(node.args[0], frame)
            self.write(f", {node.args[1].as_const()!r})")
        else:
            super().visit_Call(node, frame, forward_caller=forward_caller)

    @optimizeconst
    def visit_Concat(self, node: nodes.Concat, frame: Frame) -> None:  # noqa: N802
        if frame.eval_ctx.volatile:
            join = "(environment.joined_markup if context.eval_ctx.volatile else environment.joined_text)"
        elif frame.eval_ctx.autoescape:
            join = "environment.joined_markup"
        else:
            join = "environment.joined_text"
        self.write(f"{join}((")
        for part in node.nodes:
            self.visit(part, frame)
            self.write(", ")
        self.write("))")


class _BoundedSandbox(SandboxedEnvironment):
    """jinja2's sandbox (which bounds ``range``), with everything a template can build or repeat bounded.

    Every operation that builds checks the size of what it would build before building it (``*``, ``**``,
    ``+``, ``%``, ``~``, format widths, string and list methods, filters), and every loop round, call, filter
    and loaded partial counts against the render's budget of steps, built characters and time.
    """

    code_generator_class = _BoundedCodeGenerator
    intercepted_binops = frozenset(["*", "**", "+", "%"])

    def __init__(self, **options: Any) -> None:
        super().__init__(finalize=_written, **options)
        self.filters = {name: _bounded_filter(name, function) for name, function in self.filters.items()}
        # The literal text of each loaded template, by name, as the code generator found it.
        self.literal_sizes: dict[str | None, int] = {}

    def loop_rounds(self, iterable: Iterable[Any], weight: int) -> _Rounds:
        """What a ``{% for %}`` loop iterates: each round counted, with the text the body writes literally."""
        return _Rounds(iterable, weight)

    def joined_text(self, parts: tuple[Any, ...]) -> str:
        """``~`` outside autoescaping."""
        return _joined(parts, str_join)

    def joined_markup(self, parts: tuple[Any, ...]) -> str:
        """``~`` inside ``{% autoescape true %}``."""
        return _joined(parts, markup_join)

    def call_binop(self, context: jinja2.runtime.Context, operator: str, left: Any, right: Any) -> Any:
        if operator == "*":
            for sequence, count in ((left, right), (right, left)):
                if isinstance(sequence, str | bytes) and isinstance(count, int):
                    _refuse_text(len(sequence) * count)
                elif isinstance(sequence, list | tuple) and isinstance(count, int):
                    _refuse_items(len(sequence) * count)
            if isinstance(left, int) and isinstance(right, int):
                _refuse_bits(left.bit_length() + right.bit_length())
        elif operator == "**":
            if isinstance(left, int) and isinstance(right, int) and right > 0 and abs(left) > 1:
                _refuse_bits(int(min(right, 10**15) * math.log2(abs(left))) + 1)
        elif operator == "+":
            if isinstance(left, str | bytes) and isinstance(right, str | bytes):
                _refuse_text(len(left) + len(right))
            elif isinstance(left, list | tuple) and isinstance(right, list | tuple):
                _refuse_items(len(left) + len(right))
        elif operator == "%" and isinstance(left, str | bytes):
            _percent_size(left, right)
        return _checked(super().call_binop(context, operator, left, right))

    def call(self, context: jinja2.runtime.Context, function: Any, /, *args: Any, **kwargs: Any) -> Any:
        _charge(steps=1)
        if isinstance(function, LoopContext) and args:  # loop(children) in a recursive loop
            args = (_Rounds(args[0]), *args[1:])
        else:
            # jinja2 passes its own _loop_vars and _block_vars along with the template's keyword arguments.
            given = {key: value for key, value in kwargs.items() if key not in _JINJA_KEYWORDS} if kwargs else kwargs
            args = _check_call(function, args, given)
        return _checked(super().call(context, function, *args, **kwargs))

    def getattr(self, obj: Any, attribute: str) -> Any:
        _charge()  # the clock: sort(attribute=...) and groupby() look attributes up item by item, in one filter
        return super().getattr(obj, attribute)

    def getitem(self, obj: Any, argument: Any) -> Any:
        _charge()
        return super().getitem(obj, argument)

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        """str.format and format_map, as jinja2's sandbox runs them, with their fields bounded."""
        if not isinstance(value, MethodType | BuiltinMethodType) or value.__name__ not in ("format", "format_map"):
            return None
        text = value.__self__
        if not isinstance(text, str):
            return None
        formatter: SandboxedFormatter
        if isinstance(text, Markup):
            formatter = _BoundedEscapeFormatter(self, escape=text.escape)
        else:
            formatter = _BoundedFormatter(self)
        is_format_map = value.__name__ == "format_map"

        def bounded(*args: Any, **kwargs: Any) -> str:
            if is_format_map:
                if kwargs:
                    raise TypeError("format_map() takes no keyword arguments")
                if len(args) != 1:
                    raise TypeError(f"format_map() takes exactly one argument ({len(args)} given)")
                kwargs, args = args[0], ()
            return type(text)(formatter.vformat(text, args, kwargs))

        return functools.update_wrapper(bounded, value)

    def get_template(self, *args: Any, **kwargs: Any) -> jinja2.Template:
        """``{% include %}``, ``{% import %}`` and ``{% extends %}``: each load counted, with its literal text."""
        _charge(steps=1)
        template = super().get_template(*args, **kwargs)
        _charge(built=self.literal_sizes.get(template.name, 0))
        return template

    def select_template(self, *args: Any, **kwargs: Any) -> jinja2.Template:
        """``{% include [a, b] %}``: counted as :meth:`get_template` is."""
        _charge(steps=1)
        template = super().select_template(*args, **kwargs)
        _charge(built=self.literal_sizes.get(template.name, 0))
        return template


def _refuse_undefined(value: Any) -> Any:
    """``tojson``'s fallback: an unknown variable fails as one, not as "not JSON serializable"."""
    if isinstance(value, jinja2.Undefined):
        value._fail_with_undefined_error()
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def _strict(environment: SandboxedEnvironment) -> SandboxedEnvironment:
    environment.policies["json.dumps_kwargs"] = {"sort_keys": True, "default": _refuse_undefined}
    return environment


_OTHER_WORK: list[str] = []
"""What else this process is doing while templates render (see :func:`other_work_running`)."""
_OTHER_WORK_LOCK = threading.Lock()


@contextmanager
def other_work_running(what: str) -> Iterator[None]:
    """While the body runs, renders leave the address space uncapped.

    For work in another thread that needs memory or starts processes, such as synth loading the engine (Node
    reserves gigabytes of address space) while the configuration renders: the cap would hold for it too.
    """
    with _OTHER_WORK_LOCK:
        _OTHER_WORK.append(what)
    try:
        yield
    finally:
        with _OTHER_WORK_LOCK:
            _OTHER_WORK.remove(what)


@contextmanager
def _address_space_cap() -> Iterator[None]:
    """While a template renders, the process may map at most MEMORY_HEADROOM more (where RLIMIT_AS holds)."""
    previous = _lower_address_space_limit()
    try:
        yield
    finally:
        if previous is not None and sys.platform != "win32":
            resource.setrlimit(resource.RLIMIT_AS, previous)


def _lower_address_space_limit() -> tuple[int, int] | None:
    """Lower the soft RLIMIT_AS to what is mapped now plus the headroom; the limit it had, or ``None``.

    Not while :func:`other_work_running`: the limit holds for the whole process and for every process started
    under it. The counted limits bound a render either way.
    """
    if sys.platform == "win32" or _OTHER_WORK:
        return None
    try:
        statm = os.open("/proc/self/statm", os.O_RDONLY)  # Linux; elsewhere the counted limits bound a render
        try:
            mapped = int(os.read(statm, 256).split()[0]) * resource.getpagesize()
        finally:
            os.close(statm)
        soft, hard = resource.getrlimit(resource.RLIMIT_AS)
        cap = mapped + MEMORY_HEADROOM
        if hard != resource.RLIM_INFINITY:
            cap = min(cap, hard)
        if soft != resource.RLIM_INFINITY and soft <= cap:
            return None
        resource.setrlimit(resource.RLIMIT_AS, (cap, hard))
    except (OSError, ValueError):
        return None
    return soft, hard


@lru_cache(maxsize=1)
def sandbox() -> SandboxedEnvironment:
    """The one environment every user template runs in: no attribute tricks, no unknown variables."""
    return _strict(
        _BoundedSandbox(
            undefined=jinja2.StrictUndefined,
            autoescape=False,
            keep_trailing_newline=False,
            # A template is one self-contained text: {% include %}, {% import %} and {% extends %} find nothing.
            loader=jinja2.DictLoader({}),
        )
    )


class _RootedLoader(jinja2.BaseLoader):
    """Partials for ``{% include %}`` and ``{% import %}``, from a few folders and nothing outside them.

    jinja2's own FileSystemLoader refuses ``..`` but follows symbolic links out of its folders; this one
    resolves every candidate and refuses what lands outside its root.
    """

    def __init__(self, roots: tuple[Path, ...]) -> None:
        self.roots = roots

    def get_source(self, environment: jinja2.Environment, template: str) -> tuple[str, str, Callable[[], bool]]:
        pieces = split_template_path(template)  # raises TemplateNotFound for "..", as FileSystemLoader does
        for root in self.roots:
            candidate = root.joinpath(*pieces)
            try:
                source = read_text(candidate, limit=MAX_POLICY_BYTES, inside=root)
            except RefusedError as refused:
                if refused.reason in ("missing", "outside", "not-a-file"):
                    continue  # not a partial of this folder
                raise jinja2.TemplateError(f"the partial {candidate} {refused.why}") from None
            return source, str(candidate.resolve()), lambda: True
        raise jinja2.TemplateNotFound(template)


@lru_cache(maxsize=8)
def _sandbox_with_partials(roots: tuple[Path, ...]) -> SandboxedEnvironment:
    return _strict(
        _BoundedSandbox(
            undefined=jinja2.StrictUndefined,
            autoescape=False,
            keep_trailing_newline=False,
            loader=_RootedLoader(roots),
        )
    )


# Every stack of a fleet asks this of the same few templates: parsing each once took the blueprint of 600 stacks
# from 0.58 s to 0.32 s.
@lru_cache(maxsize=512)
def variables_used(source: str) -> frozenset[str]:
    """The variables a template reads (assumes it parses; :func:`render` reports when it does not)."""
    try:
        parsed = sandbox().parse(source)
    except jinja2.TemplateSyntaxError:
        return frozenset()
    # meta.find_undeclared_variables() hides names of jinja2 globals, and `namespace` is one of them.
    return frozenset(node.name for node in parsed.find_all(nodes.Name) if node.ctx == "load")


def includes_templates(source: str) -> bool:
    """Whether a template loads another (``include``, ``import``, ``from ... import``, ``extends``); ``True``
    when it does not parse, so that a caller never takes a broken template for a self-contained one."""
    try:
        parsed = sandbox().parse(source)
    except jinja2.TemplateSyntaxError:
        return True
    return any(True for _ in parsed.find_all((nodes.Include, nodes.Import, nodes.FromImport, nodes.Extends)))


# Templates are parsed and compiled once per process: every environment renders the same naming templates,
# and compiling them again took 15 ms per environment (docs/performance.md). A failure is not cached.
@lru_cache(maxsize=512)
def _undeclared(source: str, partials: tuple[Path, ...]) -> frozenset[str]:
    """The variables (and unknown filters and tests) ``source`` uses; raises its syntax error."""
    environment = _sandbox_with_partials(partials) if partials else sandbox()
    return frozenset(meta.find_undeclared_variables(environment.parse(source)))


@lru_cache(maxsize=512)
def _compiled(source: str, partials: tuple[Path, ...]) -> jinja2.Template:
    environment = _sandbox_with_partials(partials) if partials else sandbox()
    return environment.from_string(source)


def render(
    source: str, variables: Mapping[str, Any], *, where: str, partials: tuple[Path, ...] = ()
) -> tuple[str | None, list[Problem]]:
    """Render ``source`` with exactly ``variables``; return the text, or ``None`` and the problems.

    ``partials``: folders whose templates ``{% include %}`` and ``{% import %}`` may load (none by default).
    Whatever the template does, the render ends within the limits (:data:`LIMITS`) or is a problem.
    """
    budget = _BUDGET.set(_Budget(deadline=time.monotonic() + TIME_LIMIT))
    try:
        with _address_space_cap():
            return _render(source, variables, where=where, partials=partials)
    finally:
        _BUDGET.reset(budget)


def _render(
    source: str, variables: Mapping[str, Any], *, where: str, partials: tuple[Path, ...]
) -> tuple[str | None, list[Problem]]:
    try:
        undeclared = _undeclared(source, partials)
    except jinja2.TemplateSyntaxError as error:
        return None, [
            Problem(
                where=where,
                given=show(source),
                why=f"is not a valid jinja2 template ({error.message}, line {error.lineno})",
                fix="fix the template syntax",
            )
        ]
    unknown = sorted(undeclared - set(variables))
    if unknown:
        return None, [
            Problem(
                where=where,
                given=show(source),
                why=f"uses the unknown variable {name!r}{did_you_mean(name, variables, casefold=False)}",
                fix=f"use only {', '.join(sorted(variables))}",
            )
            for name in unknown
        ]
    try:
        return _written_out(_compiled(source, partials), variables), []
    except TemplateLimitError as error:
        return None, [_over_the_limits(source, where, f"{_template_line(error)}: {error}")]
    except MemoryError:
        detail = f": it needs more than {MEMORY_HEADROOM // 2**20} MiB of memory"
        return None, [_over_the_limits(source, where, detail)]
    except jinja2.TemplateNotFound as error:
        if not partials:
            why = (
                f"loads the template {error.name!r} ({{% include %}}, {{% import %}} or {{% extends %}}), "
                "but templates cannot load other templates"
            )
            fix = "write the text of that template in place"
        else:
            folders = " and ".join(str(root) for root in partials)
            why = f"loads the template {error.name!r}, which is not a file under {folders}"
            fix = "name a partial by its path relative to one of those folders; nothing else can be loaded"
        return None, [Problem(where=where, given=show(source), why=why, fix=fix)]
    except jinja2.TemplateSyntaxError as error:  # in a partial: the template itself was parsed above
        return None, [
            Problem(
                where=f"{where}: {error.filename or error.name}",
                given="",
                why=f"is not a valid jinja2 template ({error.message}, line {error.lineno})",
                fix="fix the partial's syntax",
            )
        ]
    except Exception as error:  # user template code can raise anything: it is a problem to report, not a crash
        place = _template_line(error)
        return None, [
            Problem(
                where=where,
                given=show(source),
                why=f"failed to render{place} ({type(error).__name__}: {error})",
                fix="fix the template; it runs in a sandbox and sees only " + ", ".join(sorted(variables)),
            )
        ]


def _written_out(template: jinja2.Template, variables: Mapping[str, Any]) -> str:
    """``template.render(**variables)``, stopped as soon as the text is longer than a template may write."""
    parts = []
    length = 0
    for part in template.generate(**variables):
        length += len(part)
        if length > MAX_TEXT:
            raise TemplateLimitError(f"it writes more than {MAX_TEXT:,} characters")
        parts.append(part)
    return "".join(parts)


def _over_the_limits(source: str, where: str, detail: str) -> Problem:
    return Problem(
        where=where,
        given=show(source),
        why=f"exceeds the template limits{detail}",
        fix=f"make the template do less; one render may use {LIMITS}",
    )


def _template_line(error: BaseException) -> str:
    """`` at line N`` (and the partial's file) of the template frame where ``error`` was raised, if any."""
    found = ""
    trace = error.__traceback__
    while trace is not None:
        filename = trace.tb_frame.f_code.co_filename
        if filename == "<template>":
            found = f" at line {trace.tb_lineno}"
        elif filename.endswith(".j2"):
            found = f" at line {trace.tb_lineno} of {filename}"
        trace = trace.tb_next
    return found
