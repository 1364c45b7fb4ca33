"""Scans PyTorch has beside cumsum/cumprod: logcumsumexp, cummax and cummin (SCAN primitives).

`logcumsumexp` is a running log-add-exp: shifting by one maximum, as `logsumexp` does,
underflows wherever a prefix lies far below a later value. `cummax` and `cummin` return int64
indices only; their values are gathered from the input, so gradients flow through `gather`, as
for sort and topk.
"""

from __future__ import annotations

import math
from collections import namedtuple

import numpy as np

from ._api import Tensor, apply, wrap_dim, write_out
from .elementwise import where
from .extras import _check_tensor
from .index import gather
from .registry import OpKind, defop, nondiff

SCAN = OpKind.SCAN

CummaxResult = namedtuple("cummax", ["values", "indices"])
CumminResult = namedtuple("cummin", ["values", "indices"])


# ----------------------------------------------------------------------------------------------
# Scan primitives: logcumsumexp, cummax, cummin
# ----------------------------------------------------------------------------------------------

def _inclusive_scan(xp, ufunc, a, axis):
    """`ufunc.accumulate(a, axis)` for an associative binary ufunc, on numpy or cupy."""
    if xp is np:
        return ufunc.accumulate(a, axis=axis)
    return _log_depth_scan(xp, ufunc, a, axis)  # cupy accumulates only add and multiply


def _log_depth_scan(xp, ufunc, a, axis):
    """Hillis-Steele scan: after the pass with stride k, element i combines a[i-2k+1 .. i]."""
    out = xp.moveaxis(a, axis, -1).copy()
    k = 1
    while k < out.shape[-1]:
        out[..., k:] = ufunc(out[..., k:], out[..., :-k])  # the right side is a new array
        k *= 2
    return xp.moveaxis(out, -1, axis)


def _widen_half(x):
    # numpy's float16 (and ml_dtypes' bfloat16) ufunc loops accumulate in 16 bits
    return x.astype(np.float32) if x.dtype.itemsize == 2 and x.dtype.kind in "fV" else x


@defop("logcumsumexp", SCAN, dtype_rule="none", save=("inputs", "output"),
       doc="running log(sum(exp)) along dim (reverse: from the end)")
def logcumsumexp_op(xp, x, dim, reverse=False):
    if x.ndim == 0:
        return x.copy()
    a = _widen_half(x)
    if reverse:
        a = xp.flip(a, axis=dim)
    out = _inclusive_scan(xp, xp.logaddexp, a, dim)
    if reverse:
        out = xp.flip(out, axis=dim)
    return xp.ascontiguousarray(out).astype(x.dtype, copy=False)


@logcumsumexp_op.def_grad
def _(ctx, g):
    # grad_i = sum_{j>=i} g_j exp(x_i - out_j). PyTorch's rule (from TensorFlow): sum the positive
    # and the negative parts of g in log space with a reversed scan, so nothing overflows.
    # Where a prefix is all -inf, out_j is -inf and so is every x_i it covers: exp(x_i - out_j)
    # is taken as 0 (any finite out_j gives that) instead of exp(nan). The -inf entries this
    # rule feeds to the reversed scan make that case common in double backward.
    (x,) = ctx.inputs
    out, d = ctx.out, ctx.attrs["dim"]
    out = where(out == -math.inf, 0.0, out)
    back = not ctx.attrs.get("reverse", False)
    log_abs = where(g == 0, 1.0, g.abs()).log()  # never log(0): keeps double backward finite
    parts = []
    for mask in (g > 0, g < 0):
        logs = where(mask, log_abs, -math.inf) - out
        parts.append((apply(logcumsumexp_op, logs, dim=d, reverse=back) + x).exp())
    return (parts[0] - parts[1],)


def _cum_extreme_indices(xp, x, dim, running_op):
    """Index of the running extreme: the last position that set or tied it, or the last NaN."""
    if x.ndim == 0:
        return xp.zeros((), dtype=np.int64)
    if x.size == 0:
        return xp.zeros(x.shape, dtype=np.int64)
    x = _widen_half(x)
    record = x == _inclusive_scan(xp, running_op, x, dim)
    if x.dtype.kind == "f":
        record |= xp.isnan(x)  # NaN propagates, and each later NaN takes over (as in PyTorch)
    pos = xp.arange(x.shape[dim]).reshape([-1 if i == dim else 1 for i in range(x.ndim)])
    return _inclusive_scan(xp, xp.maximum, xp.where(record, pos, 0), dim).astype(np.int64)


@nondiff("cummax", SCAN, "integer output; the values are differentiable through gather",
         dtype_rule="none")
def cummax_op(xp, x, dim):
    return _cum_extreme_indices(xp, x, dim, xp.maximum)


@nondiff("cummin", SCAN, "integer output; the values are differentiable through gather",
         dtype_rule="none")
def cummin_op(xp, x, dim):
    return _cum_extreme_indices(xp, x, dim, xp.minimum)


def logcumsumexp(input: Tensor, dim: int, *, out=None) -> Tensor:
    """log(cumsum(exp(input))) along `dim`, computed as a running log-add-exp (stable for any
    range of values).

    Example:
        >>> dyngraph.logcumsumexp(dyngraph.tensor([0., 0., 100.]), 0)
        tensor([  0.0000,   0.6931, 100.0000])
    """
    _check_tensor("logcumsumexp", input)
    if not input.dtype.is_floating_point:
        raise RuntimeError(f"logcumsumexp: expected a floating-point input, got {input.dtype.name};"
                           " convert it with .float()")
    d = wrap_dim(dim, input.ndim, "logcumsumexp")
    return write_out(apply(logcumsumexp_op, input, dim=d), out, "logcumsumexp")


def _cum_extreme(name, op, result, input, dim, out):
    _check_tensor(name, input)
    d = wrap_dim(dim, input.ndim, name)
    idx = apply(op, input, dim=d)
    values = input.clone() if input.ndim == 0 else gather(input, d, idx)
    if out is None:
        return result(values, idx)
    write_out(values, out[0], name)
    write_out(idx, out[1], name)
    return result(out[0], out[1])


def cummax(input: Tensor, dim: int, *, out=None):
    """Running maximum along `dim`; returns (values, indices). Ties take the later index, and a
    NaN stays once seen. Values are differentiable (the gradient goes to the index).

    Example:
        >>> dyngraph.cummax(dyngraph.tensor([1., 3., 2.]), 0).indices
        tensor([0, 1, 1])
    """
    return _cum_extreme("cummax", cummax_op, CummaxResult, input, dim, out)


def cummin(input: Tensor, dim: int, *, out=None):
    """Running minimum along `dim`; returns (values, indices), as `cummax` does."""
    return _cum_extreme("cummin", cummin_op, CumminResult, input, dim, out)


for _name, _fn in [("logcumsumexp", logcumsumexp), ("cummax", cummax), ("cummin", cummin)]:
    setattr(Tensor, _name, _fn)


__all__ = [_n for _n, _v in list(globals().items())
           if not _n.startswith("_") and callable(_v) and getattr(_v, "__module__", "") == __name__
           and not isinstance(_v, type)]
