"""The ternary primitives `where` and `clamp`, their public functions and Tensor methods, and
`fill_`/`zero_` (written as a `where`, so they are differentiable and traceable)."""

from __future__ import annotations

import math

import numpy as np

from ... import _dtype as D
from .._api import Tensor, apply, as_tensor_arg, inplace, register_method, state, write_out
from ..registry import OpKind, defop
from ._common import _needs, _scalar_or_tensor, _use_bf16_opmath
from ..._device import writeable as _writeable

TERNARY = OpKind.TERNARY


@defop("where", TERNARY, dtype_rule="promote_tail", save=("inputs",))
def where_op(xp, cond, a, b):
    return xp.where(cond, a, b)


@where_op.def_grad
def _(ctx, g):
    cond = ctx.inputs[0]
    zero = g * 0
    return None, where(cond, g, zero), where(cond, zero, g)


@defop("clamp", TERNARY, save=("inputs",))
def clamp_op(xp, x, lo, hi):
    out = x
    if lo is not None:
        out = xp.maximum(out, lo)
    if hi is not None:
        out = xp.minimum(out, hi)
    return out if out is not x else x.copy()


@clamp_op.def_grad
def _(ctx, g):
    x, lo, hi = ctx.inputs
    mask = None
    if lo is not None:
        mask = x >= lo
    if hi is not None:
        m2 = x <= hi
        mask = m2 if mask is None else mask & m2
    gx = g if mask is None else g * mask
    glo = g * (x < lo) if _needs(lo) else None
    ghi = g * (x > hi) if _needs(hi) else None
    return gx, glo, ghi


_use_bf16_opmath(__name__)


# ----------------------------------------------------------------------------------------------
# Public functions and Tensor methods
# ----------------------------------------------------------------------------------------------

def where(condition, input=None, other=None, *, out=None):
    """Elements of input where condition is True, else of other (numbers allowed).

    `where(condition)` alone returns the indices of the True elements, like
    `nonzero(as_tuple=True)`.
    """
    if input is None and other is None:
        from ..index import nonzero
        return nonzero(condition, as_tuple=True)
    condition = as_tensor_arg(condition)
    if condition.dtype is not D.bool_:
        condition = condition.to(D.bool_)
    like = input if isinstance(input, Tensor) else other if isinstance(other, Tensor) else condition
    a = _scalar_or_tensor(input, like)
    b = _scalar_or_tensor(other, like)
    if not isinstance(a, Tensor) and not isinstance(b, Tensor):
        from ..creation import tensor
        a = tensor(a, dtype=D.result_type(a, b), device=condition.device)
    return write_out(apply(where_op, condition, a, b), out, "where")


@register_method("where")
def _where_method(self, condition, other):
    return where(condition, self, other)


def clamp(input, min=None, max=None, *, out=None):  # noqa: A002 - PyTorch's names
    """Clamp every element into [min, max]; either bound may be None, a number or a tensor."""
    if min is None and max is None:
        raise RuntimeError("clamp: at least one of 'min' or 'max' must not be None")
    lo = _scalar_or_tensor(min, input) if min is not None else None
    hi = _scalar_or_tensor(max, input) if max is not None else None
    return write_out(apply(clamp_op, input, lo, hi), out, "clamp")


clip = clamp


@register_method("clamp", "clip")
def _clamp_method(self, min=None, max=None):  # noqa: A002
    return clamp(self, min, max)


@register_method("clamp_", "clip_")
def _clamp_method_(self, min=None, max=None):  # noqa: A002
    return inplace(clamp, self, min, max, opname="clamp_")


def clamp_min(input, min):  # noqa: A002
    """clamp(input, min=min)."""
    return clamp(input, min=min)


def clamp_max(input, max):  # noqa: A002
    """clamp(input, max=max)."""
    return clamp(input, max=max)


Tensor.clamp_min = clamp_min
Tensor.clamp_max = clamp_max
Tensor.clamp_min_ = lambda self, min: inplace(clamp_min, self, min, opname="clamp_min_")  # noqa
Tensor.clamp_max_ = lambda self, max: inplace(clamp_max, self, max, opname="clamp_max_")  # noqa


# ----- fill and zero ---------------------------------------------------------------------------

def _fill_value(value, dt: D.dtype):
    """A Python number converted as PyTorch's fill_ does: floats truncate into integer dtypes,
    values out of the dtype's range are refused (uint8 takes negative ints, wrapping them)."""
    if dt is D.bool_:
        return bool(value)
    if dt.is_floating_point:
        return float(value)
    info = np.iinfo(dt.np)
    if isinstance(value, float):
        bad = not math.isfinite(value) or not info.min <= value <= info.max
    else:
        bad = not (-info.max if info.min == 0 else info.min) <= int(value) <= info.max
    if bad:
        raise RuntimeError(f"fill_: value {value} cannot be converted to type {dt.name} without "
                           "overflow")
    return np.asarray(int(value)).astype(dt.np)[()]


@register_method("fill_")
def fill_(self, value) -> Tensor:
    """Fill self with `value` (a number or a 0-d tensor) in place; returns self.

    Example:
        >>> dyngraph.zeros(3).fill_(2.5)
        tensor([2.5000, 2.5000, 2.5000])
    """
    if isinstance(value, Tensor):
        if value.ndim != 0:
            raise RuntimeError(f"fill_: only supports a 0-dimension value tensor but got a tensor "
                               f"with {value.ndim} dimensions; index or .item() it first")
        if not (value._rg and state.grad_enabled):
            value = value.item()
    if not isinstance(value, Tensor):
        value = _fill_value(value, self.dtype)
        if state.tracer is None and not (self._rg and state.grad_enabled):
            if not _writeable(self._data):
                raise RuntimeError(
                    "fill_: unsupported operation: the tensor is a broadcast (expanded) view "
                    "whose elements share memory; call .clone() before writing to it")
            self._data.fill(value)
            self._vc[0] += 1
            return self
    return inplace(_filled, self, value, opname="fill_")


def _filled(t: Tensor, value) -> Tensor:
    """`value` everywhere in t's shape; differentiable (zero gradient to t, summed to value)."""
    from ..creation import zeros
    if isinstance(value, Tensor):
        value = value.to(t.dtype)
    return where(zeros(t.shape, dtype=D.bool_, device=t.device), t, value)


@register_method("zero_")
def zero_(self) -> Tensor:
    """Fill self with zeros in place; returns self."""
    return fill_(self, 0)


__all__ = [_n for _n, _v in list(globals().items())
           if not _n.startswith("_") and callable(_v) and getattr(_v, "__module__", "") == __name__]
