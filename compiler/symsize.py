"""Sizes Python reads while a reference trace runs: `SymSize` ints and `SymFloat`s that guard.

During the reference trace of a dynamic-shape compile (`compiler/dynamic.py`), `Tensor.shape`,
`size()`, `len()` and `numel()` return `SymSize` ints for dims that differ between the traces.
A `SymSize` behaves as the int it is, and also carries a Python expression (`expr`) that computes
it from the call's arguments, so every number Python derives from it is accounted for:

- **Symbolic** (the graph serves every size): `+ - *`, `-n`, `~n`, `n ** k` (k >= 0), `n << k`
  of sizes and ints build a new `SymSize`; `n / m` and arithmetic with floats build a `SymFloat`.
  The graph gets such a number as a recorded attribute or shape, and the unification of the
  traces (`fit_size`) decides whether it is `c * s_i [* s_j]` or stays static.
- **Guarded** (the graph serves only sizes that give the same outcome): a comparison records
  `(expr < 64) is True`, like dynamo's SymInt guards; `bool(n)` records `(expr != 0)`.
- **Pinned** (the graph serves only sizes that give the same derived value): the result of an
  operation that is not a polynomial (`//`, `%`, `>>`, `&`, `|`, `^`, `abs`, `divmod`, `k ** n`,
  `int()`/`math.floor`/`ceil`/`trunc`/`round` of a `SymFloat`) records the guard
  `(expr) == value` and is returned as a plain number: two traces cannot tell `n // 64` from a
  constant when it is 0 in both, but the guard sends a size with another `n // 64` to a
  recompile. `int(n)` and `float(n)` called from user code pin too, as CPython copies their
  results to exact ints/floats (tracking would be lost there); called from dyngraph's own code
  they do not (the value then only flows into an op, where unification sees it).

Not interceptable (documented in docs/compiler.md): a size that passes through numpy or another C
library that reads the int's value directly (`np.prod(x.shape) // 64`, `np.floor(n / 64)`,
`math.log2(n)`), or through `str()`/`format()`. Such numbers become constants of the graph when
they agree in both traces; the third verification trace (`SizeCheck`) runs at a size above both
traced sizes plus 64 so small integer divisions change, and catches what it can.
"""

from __future__ import annotations

import contextlib
import math
import operator
import os
import re
import sys

from .ir import Sym, SymExpr, Value

__all__ = ["SymSize", "SymFloat", "track_sizes", "size_namespace"]

_RECORD: list = []      # stack of guard lists while a reference trace runs
_LIBRARY = os.path.dirname(os.path.dirname(os.path.abspath(__import__("dyngraph").__file__)))
_LIBRARY = tuple(os.path.join(_LIBRARY, d) + os.sep for d in ("dyngraph", "compiler", "runtime"))


def size_namespace() -> dict:
    """Names that size guard expressions use besides the call's arguments."""
    return {"_math": math}


def _from_library(depth: int) -> bool:
    """Whether the frame `depth` levels above the caller belongs to dyngraph itself."""
    return sys._getframe(depth + 1).f_code.co_filename.startswith(_LIBRARY)


_ARG_SIZE = re.compile(r"\ba\[(\d+)\]\._data\.shape\[(\d+)\]")
_KW_SIZE = re.compile(r"\bkw\[(['\"])(\w+)\1\]\._data\.shape\[(\d+)\]")


def _record(expr: str, text: str) -> None:
    if _RECORD:
        text = _KW_SIZE.sub(r"\2.shape[\3]", _ARG_SIZE.sub(r"args[\1].shape[\2]", text))
        _RECORD[-1].append((expr, text))


def _operand(o):
    """(plain value, expression) of an arithmetic operand, or None when it is not a number."""
    if isinstance(o, (SymSize, SymFloat)):
        return o._v, o.expr
    if isinstance(o, bool):
        return None
    if isinstance(o, int):
        return int(o), repr(int(o))
    if isinstance(o, float):
        return (float(o), repr(float(o))) if math.isfinite(o) else None
    return None


def _pin(expr: str, value):
    """Guard that `expr` still gives `value` and return the plain value (see the docstring)."""
    _record(f"({expr}) == {value!r}", f"size-derived value {expr} == {value!r}")
    return value


def _derived(expr: str, value):
    """A non-polynomial result (called by a dunder method): pinned when the user's code asked
    for it, tracked but unpinned when dyngraph's own code did (its results go into ops, where
    the unification of the traces and the third trace check them)."""
    return _make(value, expr) if _from_library(2) else _pin(expr, value)


def _make(value, expr: str):
    """A tracked number for a polynomial result: SymSize for ints, SymFloat for floats."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return SymSize(value, expr)
    if isinstance(value, float) and math.isfinite(value):
        return SymFloat(value, expr)
    return value


class _Tracked:
    """What SymSize and SymFloat share: arithmetic that tracks, pins or guards."""

    _POLY: frozenset = frozenset()      # operator symbols whose result stays symbolic

    def _binary(self, other, op, sym: str, reverse: bool = False):
        o = _operand(other)
        if o is None:       # a tensor, an array, ...: its own rules apply to the plain value
            return op(other, self._v) if reverse else op(self._v, other)
        (ov, oe) = o
        lhs, rhs = ((ov, oe), (self._v, self.expr)) if reverse else ((self._v, self.expr),
                                                                      (ov, oe))
        value = op(lhs[0], rhs[0])
        expr = f"({lhs[1]} {sym} {rhs[1]})"
        if isinstance(value, tuple):        # divmod
            exprs = (f"({lhs[1]} // {rhs[1]})", f"({lhs[1]} % {rhs[1]})")
        if self._polynomial(sym, lhs[0], rhs[0], reverse) or _from_library(2):
            # (dyngraph's own code, e.g. the -1 of a view, is trusted: what it derives goes
            # into ops, where the unification and the third trace check it)
            if isinstance(value, tuple):
                return tuple(_make(v, e) for e, v in zip(exprs, value))
            return _make(value, expr)
        if isinstance(value, tuple):
            return tuple(_pin(e, v) for e, v in zip(exprs, value))
        return _pin(expr, value)

    def _polynomial(self, sym, a, b, reverse) -> bool:
        if sym in ("+", "-", "*", "/"):
            return True
        if sym == "**":     # n ** k with an int k >= 0 (or a float result): not k ** n
            return not reverse and isinstance(b, (int, float)) and not isinstance(b, bool) \
                and (isinstance(b, float) or b >= 0)
        if sym == "<<":
            return not reverse and isinstance(b, int) and 0 <= b < 64
        return False

    def _compare(self, other, op, sym):
        result = op(self._v, other._v if isinstance(other, _Tracked) else other)
        if _from_library(2):
            # dyngraph's own shape checks: they raise or pick ops, and a different op sequence
            # is caught when the traces are unified
            return result
        o = _operand(other)
        if o is not None and o[1] != self.expr:
            _record(f"({self.expr} {sym} {o[1]}) is {bool(result)}",
                    f"size check ({self.expr} {sym} {o[1]}) is {bool(result)}")
        return result

    def __bool__(self):
        result = self._v != 0
        if not _from_library(1):
            _record(f"({self.expr} != 0) is {result}", f"size check ({self.expr} != 0) is {result}")
        return result

    def __add__(self, o): return self._binary(o, operator.add, "+")                # noqa: E704
    def __radd__(self, o): return self._binary(o, operator.add, "+", True)         # noqa: E704
    def __sub__(self, o): return self._binary(o, operator.sub, "-")                # noqa: E704
    def __rsub__(self, o): return self._binary(o, operator.sub, "-", True)         # noqa: E704
    def __mul__(self, o): return self._binary(o, operator.mul, "*")                # noqa: E704
    def __rmul__(self, o): return self._binary(o, operator.mul, "*", True)         # noqa: E704
    def __truediv__(self, o): return self._binary(o, operator.truediv, "/")        # noqa: E704
    def __rtruediv__(self, o): return self._binary(o, operator.truediv, "/", True)  # noqa: E704
    def __floordiv__(self, o): return self._binary(o, operator.floordiv, "//")     # noqa: E704
    def __rfloordiv__(self, o): return self._binary(o, operator.floordiv, "//", True)  # noqa
    def __mod__(self, o): return self._binary(o, operator.mod, "%")                # noqa: E704
    def __rmod__(self, o): return self._binary(o, operator.mod, "%", True)         # noqa: E704
    def __divmod__(self, o): return self._binary(o, divmod, "divmod")              # noqa: E704
    def __rdivmod__(self, o): return self._binary(o, divmod, "divmod", True)       # noqa: E704
    def __rpow__(self, o): return self._binary(o, operator.pow, "**", True)        # noqa: E704
    def __pow__(self, o, mod=None):
        if mod is not None:
            return _pin(f"pow({self.expr}, {o!r}, {mod!r})", pow(self._v, o, mod))
        return self._binary(o, operator.pow, "**")

    def __abs__(self): return _derived(f"abs({self.expr})", abs(self._v))              # noqa: E704
    def __neg__(self): return _make(-self._v, f"(-{self.expr})")                  # noqa: E704
    def __pos__(self): return self                                                 # noqa: E704
    def __eq__(self, o): return self._compare(o, operator.eq, "==")                # noqa: E704
    def __ne__(self, o): return self._compare(o, operator.ne, "!=")                # noqa: E704
    def __lt__(self, o): return self._compare(o, operator.lt, "<")                 # noqa: E704
    def __le__(self, o): return self._compare(o, operator.le, "<=")                # noqa: E704
    def __gt__(self, o): return self._compare(o, operator.gt, ">")                 # noqa: E704
    def __ge__(self, o): return self._compare(o, operator.ge, ">=")                # noqa: E704


class SymSize(_Tracked, int):
    """An int read from a symbolic dim while tracing (see the module docstring)."""

    def __new__(cls, value: int, expr: str):
        obj = int.__new__(cls, value)
        obj._v = int(value) if type(value) is int else int.__int__(value)
        obj.expr = expr
        return obj

    def __lshift__(self, o): return self._binary(o, operator.lshift, "<<")         # noqa: E704
    def __rlshift__(self, o): return self._binary(o, operator.lshift, "<<", True)  # noqa: E704
    def __rshift__(self, o): return self._binary(o, operator.rshift, ">>")         # noqa: E704
    def __rrshift__(self, o): return self._binary(o, operator.rshift, ">>", True)  # noqa: E704
    def __and__(self, o): return self._binary(o, operator.and_, "&")               # noqa: E704
    def __rand__(self, o): return self._binary(o, operator.and_, "&", True)        # noqa: E704
    def __or__(self, o): return self._binary(o, operator.or_, "|")                 # noqa: E704
    def __ror__(self, o): return self._binary(o, operator.or_, "|", True)          # noqa: E704
    def __xor__(self, o): return self._binary(o, operator.xor, "^")                # noqa: E704
    def __rxor__(self, o): return self._binary(o, operator.xor, "^", True)         # noqa: E704
    def __invert__(self): return SymSize(~self._v, f"(~{self.expr})")              # noqa: E704
    def __floor__(self): return self                                               # noqa: E704
    def __ceil__(self): return self                                                # noqa: E704
    def __trunc__(self): return self                                               # noqa: E704

    def __round__(self, ndigits=None):
        if ndigits is None or ndigits >= 0:
            return self
        return _derived(f"round({self.expr}, {ndigits!r})", round(self._v, ndigits))

    def __int__(self):
        # int() gives an exact int (CPython copies the result): from user code, pin the value
        return self._v if _from_library(1) else _pin(self.expr, self._v)

    def __float__(self):
        return float(self._v) if _from_library(1) else float(_pin(self.expr, self._v))

    __hash__ = int.__hash__


class SymFloat(_Tracked, float):
    """A float computed from sizes while tracing (`n / 64`); conversions to int pin it."""

    def __new__(cls, value: float, expr: str):
        obj = float.__new__(cls, value)
        obj._v = float.__float__(value)
        obj.expr = expr
        return obj

    def __int__(self): return _derived(f"int({self.expr})", int(self._v))          # noqa: E704
    def __trunc__(self): return _derived(f"_math.trunc({self.expr})", math.trunc(self._v))  # noqa
    def __floor__(self): return _derived(f"_math.floor({self.expr})", math.floor(self._v))  # noqa
    def __ceil__(self): return _derived(f"_math.ceil({self.expr})", math.ceil(self._v))  # noqa

    def __round__(self, ndigits=None):
        return _derived(f"round({self.expr}, {ndigits!r})", round(self._v, ndigits))

    def __float__(self):
        return self._v if _from_library(1) else _pin(self.expr, self._v)

    __hash__ = float.__hash__


def _size_expr(e, plan) -> str:
    if isinstance(e, Sym):
        return plan["exprs"][e.name]
    return "(" + " * ".join([str(e.coeff)] + [plan["exprs"][n] for n in e.syms]) + (
        f" + {e.offset}" if e.offset else "") + ")"


@contextlib.contextmanager
def track_sizes(tracer, reference, plan):
    """While tracing against `reference` (a TraceResult), sizes Python reads are `SymSize`s;
    their guards (comparisons, pinned values) go to `tracer.size_guards`."""
    from dyngraph._tensor import Size, Tensor

    from .dynamic import Specialize, fit_size
    ref_inputs = {s.expr: v for s, v in zip(reference.input_sources, reference.graph.inputs)}
    ref_nodes = reference.graph.nodes
    index: dict = {}
    syms = plan["syms"]

    def ref_shape(v: Value):
        if v.node is None:
            for s, w in zip(tracer.input_sources, tracer.graph.inputs):
                if w is v:
                    r = ref_inputs.get(s.expr)
                    return r.shape if r is not None else None
            return None
        i = index.get(v.id)
        if i is None:
            index.update({n.out.id: k for k, n in enumerate(tracer.graph.nodes)})
            i = index.get(v.id)
        if i is None or i >= len(ref_nodes) or ref_nodes[i].op != v.node.op:
            return None
        return ref_nodes[i].out.shape

    def dims(t):
        shape = t._data.shape
        e = tracer.env.get(id(t._data))
        if e is not None:
            ref = ref_shape(e[1])
        else:       # an input not used by an op yet
            found = tracer.scan.tensors.get(id(t._data))
            r = ref_inputs.get(found[0].expr) if found is not None else None
            ref = r.shape if r is not None else None
        if ref is None or len(ref) != len(shape):
            return shape
        out = []
        for a, b in zip(ref, shape):
            try:
                f = fit_size(a, b, syms)
            except Specialize:
                f = b
            out.append(SymSize(b, _size_expr(f, plan)) if isinstance(f, (Sym, SymExpr))
                       else b)
        return tuple(out)

    def shape(self):
        return Size(dims(self))

    def size(self, dim=None):
        d = dims(self)
        if dim is None:
            return Size(d)
        from dyngraph._tensor import _wrap_dim
        return d[_wrap_dim(dim, len(d), "size")]

    def length(self):
        if self._data.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        n = dims(self)[0]
        if isinstance(n, SymSize) and not _from_library(1):
            _pin(n.expr, n._v)      # len() returns an exact int: its uses cannot be tracked
        return n

    def numel(self):
        n = 1
        for s in dims(self):
            n = s * n
        return n

    saved = {k: Tensor.__dict__[k] for k in ("shape", "size", "__len__", "numel")}
    Tensor.shape, Tensor.size, Tensor.__len__, Tensor.numel = property(shape), size, length, numel
    _RECORD.append(tracer.size_guards)
    try:
        yield
    finally:
        _RECORD.pop()
        for k, v in saved.items():
            setattr(Tensor, k, v)
