"""A bounded Jinja2 sandbox for tenant-written templates.

Jinja2's ``SandboxedEnvironment`` stops attribute escapes, not resource exhaustion. Templates are
tenant input, rendered inside the consumer and the delivery worker, so rendering is also bounded:

* immutable builtins (no ``list.extend`` doubling), ``range`` at most ``MAX_RANGE`` items, no
  ``lipsum``;
* ``*``, ``**``, ``+``, ``%`` and ``~`` refuse results larger than ``MAX_SIZE`` (checked before the
  big value is built where it could be huge), method calls and filters refuse integer arguments above
  ``MAX_INT_ARG``, size-amplifying calls (``join``, ``replace``, ``format``, ``expandtabs``…) are
  estimated first, and every call's result is size-checked;
* the output is streamed and cut at ``MAX_OUTPUT`` characters;
* rendering stops after ``RENDER_SECONDS`` of CPU time in template code (nested loops, recursion).

Every breach raises :class:`jinja2.exceptions.SecurityError` (a ``TemplateError``)."""

from __future__ import annotations

import functools
import re
import sys
import time
from collections.abc import Callable, Iterator, Sized
from types import FrameType
from typing import Any

from jinja2 import nodes
from jinja2.compiler import CodeGenerator, Frame
from jinja2.exceptions import SecurityError
from jinja2.sandbox import ImmutableSandboxedEnvironment

MAX_SIZE = 200_000
MAX_OUTPUT = 1_000_000
MAX_INT_ARG = 10_000
MAX_RANGE = 10_000
RENDER_SECONDS = 1.0

_PERCENT_SPEC = re.compile(r"%[#0\- +]*(\*|\d{5,})|%[#0\- +]*\d*\.(\*|\d{5,})")
_FORMAT_SPEC = re.compile(r"\{[^{}]*:[^{}]*(\d{5,}|\{)")
_DENIED_METHODS = frozenset({"expandtabs", "format_map", "encode", "translate", "maketrans"})


def _size(value: Any) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value.bit_length() // 8
    if isinstance(value, Sized):
        return len(value)
    return 0


def _bounded(value: Any, what: str = "value") -> Any:
    if _size(value) > MAX_SIZE:
        raise SecurityError(f"template produced a {what} larger than {MAX_SIZE}")
    return value


def _check_int_args(args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    for a in (*args, *kwargs.values()):
        if isinstance(a, int) and not isinstance(a, bool) and abs(a) > MAX_INT_ARG:
            raise SecurityError(f"numeric argument {a} is above {MAX_INT_ARG}")


def _check_format(fmt: Any, spec: re.Pattern[str]) -> None:
    if isinstance(fmt, str) and spec.search(fmt):
        raise SecurityError("format widths/precisions this large are not allowed")


def _estimate(name: str, receiver: Any, args: tuple[Any, ...]) -> None:
    """Refuse calls whose result could be huge before making them."""
    if name == "join":
        if isinstance(receiver, str):  # str.join(items)
            sep, items = receiver, args[0] if args else ()
        else:  # the join filter: (value, sep)
            items, sep = receiver, args[0] if args and isinstance(args[0], str) else ""
        if isinstance(items, Sized) and len(items) * (len(sep) + 1) > MAX_SIZE:
            raise SecurityError("join result would be too large")
    elif name == "replace" and isinstance(receiver, str) and len(args) >= 2:
        old, new = str(args[0]), str(args[1])
        count = receiver.count(old) if old else len(receiver) + 1
        if len(receiver) + count * len(new) > MAX_SIZE:
            raise SecurityError("replace result would be too large")
    elif name in ("indent", "center", "wordwrap") and isinstance(receiver, str):
        widest = max((len(a) for a in args if isinstance(a, str)), default=0)
        if (receiver.count("\n") + 1) * widest > MAX_SIZE:
            raise SecurityError(f"{name} result would be too large")


def _bounded_filter(name: str, func: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(func)  # keeps jinja_pass_arg (pass_context / pass_environment)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        _check_int_args(args, kwargs)
        plain = [a for a in args if not isinstance(a, BoundedEnvironment) and not hasattr(a, "environment")]
        if plain:
            if name == "format":
                _check_format(plain[0], _PERCENT_SPEC)
            _estimate(name, plain[0], tuple(plain[1:]))
        return _bounded(func(*args, **kwargs), f"{name} result")

    return wrapper


def _safe_range(*args: int) -> range:
    rng = range(*args)
    if len(rng) > MAX_RANGE:
        raise SecurityError(f"range is limited to {MAX_RANGE} items")
    return rng


class _BoundedCodeGenerator(CodeGenerator):
    def visit_Concat(self, node: nodes.Concat, frame: Frame) -> None:
        self.write("environment.bounded(")
        super().visit_Concat(node, frame)
        self.write(")")


class BoundedEnvironment(ImmutableSandboxedEnvironment):
    code_generator_class = _BoundedCodeGenerator
    intercepted_binops = frozenset({"*", "**", "+", "%", "//"})

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.globals["range"] = _safe_range
        self.globals.pop("lipsum", None)
        self.filters = {name: _bounded_filter(name, f) for name, f in self.filters.items()}

    def bounded(self, value: Any) -> Any:
        return _bounded(value, "string")

    def call_binop(self, context: Any, operator_: str, left: Any, right: Any) -> Any:
        numbers = isinstance(left, int | float) and isinstance(right, int | float)
        if operator_ == "**" and numbers and abs(right) > 64 and abs(left) > 1:
            raise SecurityError("exponent too large")
        if operator_ == "*":
            for seq, n in ((left, right), (right, left)):
                if isinstance(n, int) and isinstance(seq, str | list | tuple) and n * len(seq) > MAX_SIZE:
                    raise SecurityError(f"repetition larger than {MAX_SIZE}")
            if (
                isinstance(left, int)
                and isinstance(right, int)
                and left.bit_length() + right.bit_length() > 8 * MAX_SIZE
            ):
                raise SecurityError("number too large")
        if operator_ == "%":
            _check_format(left, _PERCENT_SPEC)
        result = super().call_binop(context, operator_, left, right)
        return _bounded(result, "result")

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        name = getattr(__obj, "__name__", "")
        receiver = getattr(getattr(__obj, "__wrapped__", __obj), "__self__", None)
        if name in _DENIED_METHODS:
            raise SecurityError(f"{name}() is not available in templates")
        _check_int_args(args, kwargs)
        if name == "format" and isinstance(receiver, str):
            _check_format(receiver, _FORMAT_SPEC)
        _estimate(name, receiver, args)
        return _bounded(super().call(__context, __obj, *args, **kwargs), f"{name}() result")


def render_bounded(chunks: Callable[[], Iterator[str]]) -> str:
    """Join the template's output chunks under the output and CPU bounds."""
    deadline = time.monotonic() + RENDER_SECONDS

    def tracer(frame: FrameType, event: str, arg: Any) -> Any:
        if time.monotonic() > deadline:
            raise SecurityError(f"template rendering took longer than {RENDER_SECONDS}s")
        return tracer if frame.f_code.co_filename == "<template>" else None

    previous = sys.gettrace()
    sys.settrace(tracer)
    try:
        out: list[str] = []
        total = 0
        for chunk in chunks():
            total += len(chunk)
            if total > MAX_OUTPUT:
                raise SecurityError(f"template output is larger than {MAX_OUTPUT} characters")
            out.append(chunk)
            if time.monotonic() > deadline:
                raise SecurityError(f"template rendering took longer than {RENDER_SECONDS}s")
        return "".join(out)
    finally:
        sys.settrace(previous)
