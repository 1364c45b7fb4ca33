"""Helpers shared by the elementwise modules: bfloat16 opmath, the zero gradient of
piecewise-constant ops, and argument checks."""

from __future__ import annotations

import sys

import numpy as np

from ... import _dtype as D
from ..._device import capturing, check_later
from .._api import Tensor, apply, as_tensor_arg, inplace, write_out
from ..registry import OPS, OpKind


def _zero_grad(ctx, g):
    """Piecewise-constant ops: PyTorch records them and gives a zero gradient (not None)."""
    from ..creation import zeros_like
    return (zeros_like(g),)


def _no_bool(name, x):
    if x.dtype == np.bool_:
        raise RuntimeError(f"{name}: not implemented for bool tensors; convert first, e.g. "
                           "x.to(dyngraph.uint8)")


def _needs(x) -> bool:
    """True if the gradient rule must produce a gradient for input `x`."""
    return getattr(x, "_rg", False)


def _has_zero(xp, b) -> bool:
    if isinstance(b, (int, float)):
        return b == 0
    return bool((b == 0).any())


def _int_zero_division_check(name, xp, a, b) -> None:
    """Integer division by zero raises, as in PyTorch (floats give inf/nan instead)."""
    if getattr(a, "dtype", np.dtype("f")).kind in "iu" and not isinstance(b, (int, float)) \
            and capturing(xp):
        check_later((b == 0).any(), f"{name}: ZeroDivisionError (integer division by zero)")
    elif getattr(a, "dtype", np.dtype("f")).kind in "iu" and _has_zero(xp, b):
        raise RuntimeError(f"{name}: ZeroDivisionError (integer division by zero)")


def _bf16_opmath(fn):
    """Run a binary/ternary rule on bfloat16 arrays in float32 and round the result once.

    ml_dtypes' bfloat16 has no weak Python-float scalars (`bf16_array + 0.5` is float32), and
    PyTorch computes bfloat16 arithmetic in float32 ("opmath") anyway, so this matches it.
    """
    ndarray = np.ndarray

    def wrapped(xp, *args, **kw):
        bf16 = D.bfloat16._np  # None until bfloat16 is first used; cupy has no bfloat16
        if bf16 is None:
            return fn(xp, *args, **kw)
        for a in args:  # (identity checks: this runs on every binary op)
            if type(a) is ndarray and a.dtype is bf16:
                break
        else:
            return fn(xp, *args, **kw)
        args = [a.astype(np.float32) if type(a) is ndarray and a.dtype is bf16 else a
                for a in args]
        out = fn(xp, *args, **kw)
        return out.astype(bf16) if out.dtype.kind == "f" else out
    wrapped.__name__, wrapped.__doc__ = fn.__name__, fn.__doc__
    return wrapped


def _use_bf16_opmath(module: str) -> None:
    """Wrap the eager rules of the binary and ternary ops defined in `module` in `_bf16_opmath`."""
    for op in OPS.values():
        if op.kind in (OpKind.BINARY, OpKind.TERNARY) and op.eager.__module__ == module:
            op.eager = _bf16_opmath(op.eager)


def _scalar_or_tensor(x, like):
    """Numbers and tensors as they are, numpy scalars as Python numbers, the rest as tensors."""
    if isinstance(x, (Tensor, int, float, bool)):
        return x
    if hasattr(x, "item") and getattr(x, "ndim", 1) == 0 and not hasattr(x, "__len__"):
        return x.item()  # numpy scalar
    return as_tensor_arg(x, like)


def _binary(op, name: str, doc: str):
    """The public function `name(input, other, *, out=None)` of a binary op (other may be a
    number), and its Tensor methods `name` and `name_`."""
    def fn(input, other, *, out=None):
        return write_out(apply(op, input, _scalar_or_tensor(other, input)), out, name)

    def method(self, other):
        return apply(op, self, _scalar_or_tensor(other, self))

    def method_(self, other):
        return inplace(lambda t, o: apply(op, t, o), self, _scalar_or_tensor(other, self),
                       opname=name + "_")

    fn.__name__ = method.__name__ = name
    fn.__qualname__ = name
    # The calling module owns the function (as namedtuple does it), so its `__all__` lists it.
    fn.__module__ = sys._getframe(1).f_globals["__name__"]
    fn.__doc__ = (f"{doc}\n\n    Args:\n        input: a tensor.\n        other: a tensor or "
                  "number (broadcast against input).\n        out: optional output tensor.")
    method.__doc__ = doc
    method_.__name__ = name + "_"
    setattr(Tensor, name, method)
    setattr(Tensor, name + "_", method_)
    return fn
