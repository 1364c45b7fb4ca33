"""The op table: every primitive op is defined once, here, with all its rules side by side.

An `Op` carries:
- `eager(xp, *arrays_or_scalars, **attrs) -> array`: the evaluation rule, written against the array
  module `xp` (numpy on the CPU, cupy on CUDA).
- `grad(ctx, grad_out) -> tuple`: the gradient rule, written in dyngraph ops (so it also serves
  traced backward graphs and higher-order gradients). It returns one gradient (or None) per input.
  The engine sums gradients down to broadcast input shapes and casts them to the input's dtype, so
  elementwise rules do not repeat that.
- `dtype_rule`: how inputs are promoted before `eager` runs and what the output dtype is.
- `kind`: the op group the compiler uses for fusion (elementwise, reduce, movement, ...).
- `save`: what the gradient rule reads ("inputs", "inputs[k:]" for inputs from position k on,
  "output", or nothing). Only saved tensors are kept alive by the autograd graph and checked
  against in-place changes.
- `shape`: an optional shape rule for ops whose kind does not imply one.
- `fast`: for the hottest binary ops, the numpy ufunc that equals `eager` on same-dtype float
  arrays; `_dispatch.apply_binary` uses it to skip promotion and device checks.

Composite ops (softmax, gelu, var, ...) are ordinary functions built from primitives; they are
listed in `COMPOSITES` with what they decompose into.
"""

from __future__ import annotations

import enum
from typing import Callable

__all__ = ["Op", "OpKind", "OPS", "COMPOSITES", "defop", "composite"]


class OpKind(enum.Enum):
    """Op groups, as the compiler sees them."""

    UNARY = "unary"            # elementwise, one tensor input
    BINARY = "binary"          # elementwise with broadcasting, two inputs
    TERNARY = "ternary"        # elementwise with broadcasting, three inputs (where, clamp)
    REDUCE = "reduce"          # reduces over `dim`, optional `keepdim`
    SCAN = "scan"              # cumulative along one dim (cumsum)
    MOVEMENT = "movement"      # reshapes/permutes/slices; may return views
    INDEX = "index"            # data-dependent addressing (gather, scatter, advanced indexing)
    CONTRACTION = "contraction"  # matmul, einsum: sums of products, lowered to BLAS
    SORT = "sort"              # sort, topk
    CREATION = "creation"      # arange, full, random draws
    OTHER = "other"

    @property
    def is_elementwise(self) -> bool:
        return self in (OpKind.UNARY, OpKind.BINARY, OpKind.TERNARY)


class Op:
    """One primitive op: its name and every rule it needs, defined together."""

    __slots__ = ("name", "kind", "eager", "grad", "dtype_rule", "save_inputs", "save_output",
                 "shape", "differentiable", "is_view", "doc", "nondiff_reason", "fast")

    def __init__(self, name: str, kind: OpKind, eager: Callable, *, dtype_rule="promote",
                 save=(), shape=None, differentiable=True, is_view=False, doc="",
                 nondiff_reason="", fast=None):
        self.name = name
        self.kind = kind
        self.eager = eager
        self.grad = None
        self.dtype_rule = dtype_rule
        # None, or the position of the first input the gradient rule reads ("inputs[1:]" saves
        # only the index tensors of an indexing op, so changing its data later is allowed).
        self.save_inputs = next((int(k[7:-2]) if k != "inputs" else 0 for k in save
                                 if k.startswith("inputs")), None)
        self.save_output = "output" in save
        self.shape = shape
        self.differentiable = differentiable
        self.nondiff_reason = nondiff_reason
        self.is_view = is_view
        self.doc = doc
        # A numpy ufunc equal to `eager` when both operands are CPU arrays of one float dtype
        # (or a float array and a Python number): lets `apply_binary` skip promotion.
        self.fast = fast

    def def_grad(self, fn: Callable) -> Callable:
        """Register the gradient rule (used as a decorator right under the op's definition)."""
        self.grad = fn
        return fn

    def __repr__(self) -> str:
        return f"<op {self.name} ({self.kind.value})>"


OPS: dict[str, Op] = {}
COMPOSITES: dict[str, str] = {}


def defop(name: str, kind: OpKind, **kw) -> Callable[[Callable], Op]:
    """Decorator: define a primitive op from its eager rule and add it to the table."""

    def register(eager: Callable) -> Op:
        if name in OPS:
            raise ValueError(f"op {name!r} is defined twice")
        op = Op(name, kind, eager, **kw)
        OPS[name] = op
        return op

    return register


def nondiff(name: str, kind: OpKind, reason: str, **kw) -> Callable[[Callable], Op]:
    """Define an op that has no gradient, with the reason (integer output, piecewise constant)."""
    return defop(name, kind, differentiable=False, nondiff_reason=reason, **kw)


def composite(name: str, decomposes_to: str) -> Callable[[Callable], Callable]:
    """Mark a public function as a composite op and record its decomposition for the docs."""

    def mark(fn: Callable) -> Callable:
        COMPOSITES[name] = decomposes_to
        return fn

    return mark
