"""Selection statistics PyTorch has beside median: `mode`, `nanmedian`, `quantile`,
`nanquantile`, built from sort + gather so their values are differentiable the way PyTorch's
are. `mode` is a primitive of kind SORT (compiled code runs it on the interpreter).
"""

from __future__ import annotations

from collections import namedtuple

import numpy as np

from .. import _dtype as D
from ._api import Tensor, apply, state, wrap_dim, write_out
from .creation import full, full_like, tensor
from .elementwise import lerp, where
from .registry import OpKind, composite, nondiff
from .scans import _inclusive_scan
from .sorting import (_gather_values, _median_common, _stable_argsort, _write_pair,
                      argsort_op, sort)

__all__ = ["mode", "nanmedian", "quantile", "nanquantile"]

SORT = OpKind.SORT

ModeResult = namedtuple("mode", ["values", "indices"])
NanmedianResult = namedtuple("nanmedian", ["values", "indices"])


# ----------------------------------------------------------------------------------------------
# Selection statistics: mode, nanmedian, quantile, nanquantile
# ----------------------------------------------------------------------------------------------

@nondiff("mode", SORT, "integer output; the values are differentiable through gather",
         dtype_rule="none")
def mode_op(xp, x, dim):
    """Keepdim-shaped index of each slice's mode along `dim`.

    The mode is the most frequent value, the smallest one among equally frequent values; its
    index is that of its last occurrence (PyTorch's choice). NaN never equals NaN, so each NaN
    counts once.
    """
    if x.ndim == 0:
        return xp.zeros((), dtype=np.int64)
    moved = xp.moveaxis(x, dim, -1)
    lead, n = moved.shape[:-1], moved.shape[-1]
    rows = moved.reshape(-1, n)
    if rows.shape[0] == 0:
        return xp.ascontiguousarray(xp.moveaxis(xp.zeros(lead + (1,), dtype=np.int64), -1, dim))
    order = _stable_argsort(xp, rows, 1)      # equal values keep their index order
    sv = xp.take_along_axis(rows, order, axis=1)
    cols = xp.arange(n)
    new_run = xp.ones(rows.shape, dtype=bool)
    new_run[:, 1:] = sv[:, 1:] != sv[:, :-1]
    run_start = _inclusive_scan(xp, xp.maximum, xp.where(new_run, cols, 0), 1)
    run_ends = xp.ones(rows.shape, dtype=bool)
    run_ends[:, :-1] = new_run[:, 1:]
    length = xp.where(run_ends, cols - run_start + 1, 0)
    best = xp.argmax(length, axis=1)          # the first longest run: the smallest value
    idx = xp.take_along_axis(order, best[:, None], axis=1)
    return xp.ascontiguousarray(xp.moveaxis(idx.reshape(lead + (1,)), -1, dim)).astype(
        np.int64, copy=False)


def mode(input: Tensor, dim: int = -1, keepdim: bool = False, *, out=None):
    """The most frequent value along `dim` and the index of its last occurrence.

    Among equally frequent values the smallest wins. The values are differentiable (the
    gradient goes to the returned index).

    Args:
        input: the tensor.
        dim: the dimension to reduce (the last by default).
        keepdim: keep `dim` with size 1.
        out: optional (values, indices) tensors.

    Returns:
        A (values, indices) named tuple; indices are int64.

    Example:
        >>> dyngraph.mode(dyngraph.tensor([3, 1, 3, 2])).values
        tensor(3)
    """
    d = wrap_dim(dim, input.ndim, "mode")
    if input.ndim and input.shape[d] == 0:
        raise IndexError(f"mode(): Expected reduction dim {d} to have non-zero size (input "
                         f"shape {tuple(input.shape)})")
    idx = apply(mode_op, input.detach(), dim=d)
    values = _gather_values(input, idx, d)
    if not keepdim and input.ndim:
        values, idx = values.squeeze(d), idx.squeeze(d)
    return _write_pair(ModeResult(values, idx), out, "mode")


def _nanmedian_index(x: Tensor, d: int) -> Tensor:
    """Keepdim-shaped index of the lower median of the non-NaN values along `d`.

    An all-NaN slice gives index 0 (PyTorch gives whichever NaN its nth_element leaves first).
    """
    order = apply(argsort_op, x, dim=d, descending=False)       # NaN last
    if x.ndim == 0:
        return order
    if x.dtype.is_floating_point:
        count = (~x.isnan()).sum(d, keepdim=True)
    else:
        count = full([1] * x.ndim, x.shape[d], dtype=D.int64, device=x.device)
    pos = ((count - 1) // 2).clamp(min=0)
    return order.gather(d, pos)


@composite("nanmedian", "argsort, gather (the position counts the non-NaN values)")
def nanmedian(input: Tensor, dim: int | None = None, keepdim: bool = False, *, out=None):
    """The lower median ignoring NaN (NaN only where a slice is all NaN).

    `nanmedian(x)` is a value whose gradient is shared between tied elements (as `median`);
    `nanmedian(x, dim)` is a (values, indices) pair whose gradient goes to the index.

    Example:
        >>> dyngraph.nanmedian(dyngraph.tensor([1., float("nan"), 3., 2.]))
        tensor(2.)
    """
    return _median_common("nanmedian", input, dim, keepdim, out, _nanmedian_index,
                          NanmedianResult, ignore_nan=True)


_INTERPOLATIONS = ("linear", "lower", "higher", "midpoint", "nearest")


def _quantile(op: str, input: Tensor, q, dim, keepdim: bool, interpolation: str,
              ignore_nan: bool) -> Tensor:
    """PyTorch's quantile algorithm: sort, rank = q * (n - 1), gather below/above, lerp."""
    if input.dtype not in (D.float32, D.float64):
        raise RuntimeError(f"{op}() input tensor must be either float or double dtype, got "
                           f"{input.dtype.name}")
    if interpolation not in _INTERPOLATIONS:
        raise RuntimeError(f"{op}() interpolation must be one of linear, lower, higher, "
                           f"midpoint or nearest, but got {interpolation!r}")
    if isinstance(q, Tensor):
        if q.ndim > 1:
            raise RuntimeError(f"{op}() q must be a scalar or 1D tensor, got shape "
                               f"{tuple(q.shape)}")
        if q.dtype is not input.dtype:
            raise RuntimeError(f"{op}() q tensor must be same dtype as the input tensor (got q "
                               f"{q.dtype.name}, input {input.dtype.name})")
        if state.tracer is None and q.numel() and not bool(((q >= 0) & (q <= 1)).all()):
            raise RuntimeError(f"{op}() q values must be in the range [0, 1]")
        scalar_q = q.ndim == 0
        qv = q.reshape(-1)
    else:
        if isinstance(q, bool) or not isinstance(q, (int, float, np.floating)):
            raise TypeError(f"{op}(): q must be a float or a Tensor, not {type(q).__name__} "
                            "(wrap a list of quantiles in a tensor of the input's dtype)")
        if not 0 <= q <= 1:
            raise RuntimeError(f"{op}() q must be in the range [0, 1] but got {q}")
        scalar_q = True
        qv = tensor([float(q)], dtype=input.dtype, device=input.device)
    if input.numel() == 0:
        raise RuntimeError(f"{op}() input tensor must be non-empty")
    if dim is None:
        x = input.reshape(-1)
    else:
        d = wrap_dim(dim, input.ndim, op)
        x = input.reshape(1) if input.ndim == 0 else input.movedim(d, -1)
    values = sort(x, -1).values                   # NaN last
    isnan = values.isnan()
    if ignore_nan:
        ranks = (qv * ((~isnan).sum(-1, keepdim=True) - 1)).clamp(min=0)
    else:
        last = values.shape[-1] - 1
        ranks = where(isnan.any(-1, keepdim=True), float(last), qv * last)
    if interpolation == "lower":
        ranks = ranks.floor()
    elif interpolation == "higher":
        ranks = ranks.ceil()
    elif interpolation == "nearest":
        ranks = ranks.round()                     # half to even, as PyTorch's round_
    below = ranks.to(D.int64)
    result = values.gather(-1, below)
    if interpolation in ("linear", "midpoint"):
        weights = full_like(ranks, 0.5) if interpolation == "midpoint" else ranks - below
        result = lerp(result, values.gather(-1, ranks.ceil().to(D.int64)), weights)
    # result: x's leading dims + (len(q),); put q first and restore keepdim's size-1 dims
    if keepdim:
        if dim is None:
            result = result.reshape((1,) * input.ndim + (result.shape[-1],))
        elif input.ndim:
            result = result.unsqueeze(d)
    result = result.movedim(-1, 0)
    return result.squeeze(0) if scalar_q else result


@composite("quantile", "sort, gather below/above rank q * (n - 1), lerp")
def quantile(input: Tensor, q, dim: int | None = None, keepdim: bool = False, *,
             interpolation: str = "linear", out=None) -> Tensor:
    """The q-th quantiles of `input` (over everything, or along `dim`); NaN if a slice has NaN.

    Args:
        input: a float32 or float64 tensor.
        q: a number in [0, 1], or a 0-d/1-D tensor of them (input's dtype).
        dim: the dimension to reduce; None flattens the input.
        keepdim: keep the reduced dimension(s) with size 1.
        interpolation: between the two nearest sorted values: 'linear', 'lower', 'higher',
            'midpoint' or 'nearest' (half to even).
        out: optional output tensor.

    Returns:
        The quantiles; a 1-D `q` adds a leading dimension of len(q). Differentiable.

    Example:
        >>> dyngraph.quantile(dyngraph.tensor([0., 1., 2., 3.]), 0.5)
        tensor(1.5000)
    """
    r = _quantile("quantile", input, q, dim, keepdim, interpolation, ignore_nan=False)
    return write_out(r, out, "quantile")


@composite("nanquantile", "sort, gather below/above rank q * (non-NaN count - 1), lerp")
def nanquantile(input: Tensor, q, dim: int | None = None, keepdim: bool = False, *,
                interpolation: str = "linear", out=None) -> Tensor:
    """`quantile` ignoring NaN: the quantile of each slice's non-NaN values (NaN if none).

    Example:
        >>> dyngraph.nanquantile(dyngraph.tensor([0., float("nan"), 2.]), 0.5)
        tensor(1.)
    """
    r = _quantile("nanquantile", input, q, dim, keepdim, interpolation, ignore_nan=True)
    return write_out(r, out, "nanquantile")


for _fn in (mode, nanmedian, quantile, nanquantile):
    setattr(Tensor, _fn.__name__, _fn)
