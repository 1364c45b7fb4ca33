"""Sorting and selection: sort, argsort, topk, kthvalue, median, unique.

The primitives return int64 indices only (they have no gradient); the values are gathered from
the input with those indices, so gradients flow to the selected elements through `gather`.
NaN sorts as the largest value, as in PyTorch. Sorts are always stable, which satisfies
`stable=False` too.
"""

from __future__ import annotations

import math
from collections import namedtuple

import numpy as np

from .. import _dtype as D
from ._api import Tensor, apply, wrap_dim, write_out
from .registry import OpKind, composite, nondiff

SORT = OpKind.SORT

SortResult = namedtuple("sort", ["values", "indices"])
TopkResult = namedtuple("topk", ["values", "indices"])
KthvalueResult = namedtuple("kthvalue", ["values", "indices"])
MedianResult = namedtuple("median", ["values", "indices"])


def _stable_argsort(xp, a, axis):
    if xp is np:
        return np.argsort(a, axis=axis, kind="stable")
    return xp.argsort(a, axis=axis)  # cupy's sort is a stable radix sort


def _argsort(xp, a, axis, descending):
    if not descending:
        return _stable_argsort(xp, a, axis)
    # Stable descending order with NaN first: sort the reversed array ascending, reverse the
    # result and map the positions back (a plain `-a` would keep NaN last and fail on bool).
    idx = xp.flip(_stable_argsort(xp, xp.flip(a, axis=axis), axis), axis=axis)
    return (a.shape[axis] - 1) - idx


@nondiff("argsort", SORT, "integer output; sort's values are differentiable through gather",
         dtype_rule="none")
def argsort_op(xp, x, dim, descending):
    if x.ndim == 0:
        return xp.zeros((), dtype=np.int64)
    return xp.ascontiguousarray(_argsort(xp, x, dim, descending)).astype(np.int64, copy=False)


@nondiff("topk", SORT, "integer output; the values are differentiable through gather",
         dtype_rule="none")
def topk_op(xp, x, k, dim, largest):
    if x.ndim == 0:
        return xp.zeros((), dtype=np.int64)
    n = x.shape[dim]
    if 0 < k < n:
        # Partition first (linear time), then sort only the k survivors.
        part = xp.argpartition(x, n - k if largest else k - 1, axis=dim)
        sl = [slice(None)] * x.ndim
        sl[dim] = slice(n - k, n) if largest else slice(0, k)
        cand = xp.sort(part[tuple(sl)], axis=dim)  # ties then come out lowest index first
        order = _argsort(xp, xp.take_along_axis(x, cand, axis=dim), dim, largest)
        idx = xp.take_along_axis(cand, order, axis=dim)
    elif k == 0:
        shape = list(x.shape)
        shape[dim] = 0
        idx = xp.zeros(shape, dtype=np.int64)
    else:
        idx = _argsort(xp, x, dim, largest)
    return xp.ascontiguousarray(idx).astype(np.int64, copy=False)


@nondiff("kthvalue", SORT, "integer output; the values are differentiable through gather",
         dtype_rule="none")
def kthvalue_op(xp, x, k, dim):
    """Index (keepdim-shaped) of the k-th smallest element along `dim` (k is 1-based)."""
    if x.ndim == 0:
        return xp.zeros((), dtype=np.int64)
    part = xp.argpartition(x, k - 1, axis=dim)
    sl = [slice(None)] * x.ndim
    sl[dim] = slice(k - 1, k)
    return xp.ascontiguousarray(part[tuple(sl)]).astype(np.int64, copy=False)


@nondiff("unique", SORT, "integer/selection output with a data-dependent shape",
         dtype_rule="none")
def unique_op(xp, x, dim, output):
    """One of unique's outputs ('values', 'inverse' or 'counts')."""
    values, inverse, counts = xp.unique(x.reshape(-1) if dim is None else x, axis=dim,
                                        return_inverse=True, return_counts=True)
    if output == "values":
        return values
    if output == "inverse":
        shape = x.shape if dim is None else (x.shape[dim],)
        return inverse.reshape(shape).astype(np.int64, copy=False)
    return counts.astype(np.int64, copy=False)


# ----------------------------------------------------------------------------------------------
# Public functions
# ----------------------------------------------------------------------------------------------

def _gather_values(input, idx, d):
    from .index import gather
    return input.clone() if input.ndim == 0 else gather(input, d, idx)


def _write_pair(result, out, name):
    if out is None:
        return result
    values, indices = out
    write_out(result[0], values, name)
    write_out(result[1], indices, name)
    return type(result)(values, indices)


def sort(input: Tensor, dim: int = -1, descending: bool = False, stable: bool = False, *,
         out=None):
    """Sort along `dim`; returns (values, indices). Values are differentiable.

    Args:
        input: the tensor.
        dim: the dimension to sort along (the last by default).
        descending: largest first (NaN first) instead of smallest first (NaN last).
        stable: keep the order of equal elements (always done here).
        out: optional (values, indices) tensors.

    Example:
        >>> dyngraph.sort(dyngraph.tensor([3., 1., 2.])).indices
        tensor([1, 2, 0])
    """
    d = wrap_dim(dim, input.ndim, "sort")
    idx = apply(argsort_op, input, dim=d, descending=bool(descending))
    return _write_pair(SortResult(_gather_values(input, idx, d), idx), out, "sort")


def argsort(input: Tensor, dim: int = -1, descending: bool = False, stable: bool = False):
    """Indices (int64) that sort `input` along `dim`.

    Example:
        >>> dyngraph.argsort(dyngraph.tensor([3., 1., 2.]), descending=True)
        tensor([0, 2, 1])
    """
    d = wrap_dim(dim, input.ndim, "argsort")
    return apply(argsort_op, input, dim=d, descending=bool(descending))


def msort(input: Tensor) -> Tensor:
    """Sort along the first dimension; returns the values only."""
    return sort(input, 0).values


def topk(input: Tensor, k: int, dim: int = -1, largest: bool = True, sorted: bool = True, *,
         out=None):
    """The `k` largest (or smallest) elements along `dim`; returns (values, indices).

    Args:
        input: the tensor.
        k: how many elements to keep.
        dim: the dimension to search (the last by default).
        largest: largest elements (True) or smallest (False).
        sorted: return them in sorted order (always done here).
        out: optional (values, indices) tensors.

    Example:
        >>> dyngraph.topk(dyngraph.tensor([1., 5., 3., 4.]), 2).values
        tensor([5., 4.])
    """
    d = wrap_dim(dim, input.ndim, "topk")
    n = input.shape[d] if input.ndim else 1
    if not 0 <= k <= n:
        raise RuntimeError(f"topk(): selected index k out of range: k={k} but dimension {d} of "
                           f"the input (shape {tuple(input.shape)}) has size {n}")
    idx = apply(topk_op, input, k=int(k), dim=d, largest=bool(largest))
    return _write_pair(TopkResult(_gather_values(input, idx, d), idx), out, "topk")


def kthvalue(input: Tensor, k: int, dim: int = -1, keepdim: bool = False, *, out=None):
    """The k-th smallest element (k counts from 1) along `dim`; returns (values, indices).

    Example:
        >>> dyngraph.kthvalue(dyngraph.tensor([4., 1., 3.]), 2).values
        tensor(3.)
    """
    d = wrap_dim(dim, input.ndim, "kthvalue")
    n = input.shape[d] if input.ndim else 1
    if not 1 <= k <= n:
        raise RuntimeError(f"kthvalue(): selected number k out of range for dimension {d}: k={k} "
                           f"but the input (shape {tuple(input.shape)}) has {n} elements there")
    idx = apply(kthvalue_op, input, k=int(k), dim=d)
    values = _gather_values(input, idx, d)
    if not keepdim and input.ndim:
        values, idx = values.squeeze(d), idx.squeeze(d)
    return _write_pair(KthvalueResult(values, idx), out, "kthvalue")


@composite("median", "argsort, gather (NaN selected by argmax of isnan)")
def median(input: Tensor, dim: int | None = None, keepdim: bool = False, *, out=None):
    """Lower median; NaN if the slice has a NaN (as in PyTorch).

    `median(x)` is a value whose gradient is shared between tied elements; `median(x, dim)`
    is a (values, indices) pair whose gradient goes to the selected index.

    Example:
        >>> dyngraph.median(dyngraph.tensor([1., 4., 2., 3.]))
        tensor(2.)
    """
    return _median_common("median", input, dim, keepdim, out, _median_index, MedianResult,
                          ignore_nan=False)


def _median_common(name, input, dim, keepdim, out, index_of, result, ignore_nan: bool):
    """median and nanmedian: `index_of(x, d)` is the keepdim-shaped index of the median along
    d. Without a dim the value is m + the mean of (x - m) over the elements equal to m (NaN
    ones too when `ignore_nan` and m is NaN): m exactly, with the gradient shared between the
    ties (PyTorch's evenly_distribute_backward)."""
    if dim is None:
        flat = input.reshape(-1).detach()
        if flat.shape[0] == 0:
            return write_out(flat.sum() * math.nan, out, name)
        m = _gather_values(flat, index_of(flat, 0), 0).reshape(())
        if not (input.requires_grad and input.dtype.is_floating_point):
            return write_out(m, out, name)
        if ignore_nan:      # `where` keeps the NaN elements out of the value
            from .elementwise import where
            mask = (input == m) | (input.isnan() & m.isnan())
            shared = where(mask, input - m, 0.0).sum() / mask.sum()
        else:
            mask = (input == m).to(input.dtype)
            shared = ((input - m) * mask).sum() / mask.sum()
        return write_out(m + shared, out, name)
    d = wrap_dim(dim, input.ndim, name)
    if input.ndim and input.shape[d] == 0:
        raise IndexError(f"{name}(): Expected reduction dim {d} to have non-zero size (input "
                         f"shape {tuple(input.shape)})")
    idx = index_of(input.detach(), d)
    values = _gather_values(input, idx, d)
    if not keepdim and input.ndim:
        values, idx = values.squeeze(d), idx.squeeze(d)
    return _write_pair(result(values, idx), out, name)


def _median_index(x: Tensor, d: int) -> Tensor:
    """Keepdim-shaped index of the lower median along `d`, or of the first NaN if any."""
    if x.ndim == 0:
        return apply(argsort_op, x, dim=0, descending=False)
    k = (x.shape[d] - 1) // 2
    idx = apply(argsort_op, x, dim=d, descending=False)[(slice(None),) * d + (slice(k, k + 1),)]
    if not x.dtype.is_floating_point:
        return idx
    from .elementwise import where
    nan = x.isnan()
    return where(nan.any(d, keepdim=True), nan.to(D.uint8).argmax(d, keepdim=True), idx)


def unique(input: Tensor, sorted: bool = True, return_inverse: bool = False,
           return_counts: bool = False, dim: int | None = None):
    """The sorted unique elements (or slices along `dim`); not differentiable.

    Args:
        input: the tensor.
        sorted: return the elements sorted (always done here).
        return_inverse: also return where each input element went in the output.
        return_counts: also return how often each unique element occurs.
        dim: find unique slices along this dimension instead of unique elements.

    Returns:
        The unique values, or a tuple (values, [inverse], [counts]).

    Example:
        >>> dyngraph.unique(dyngraph.tensor([3, 1, 3]), return_counts=True)
        (tensor([1, 3]), tensor([1, 2]))
    """
    d = None if dim is None else wrap_dim(dim, input.ndim, "unique")
    values = apply(unique_op, input, dim=d, output="values")
    if not (return_inverse or return_counts):
        return values
    res = [values]
    if return_inverse:
        res.append(apply(unique_op, input, dim=d, output="inverse"))
    if return_counts:
        res.append(apply(unique_op, input, dim=d, output="counts"))
    return tuple(res)


for _name, _fn in [("sort", sort), ("argsort", argsort), ("msort", msort), ("topk", topk),
                   ("kthvalue", kthvalue), ("unique", unique), ("median", median)]:
    setattr(Tensor, _name, _fn)


__all__ = [_n for _n, _v in list(globals().items())
           if not _n.startswith("_") and callable(_v) and getattr(_v, "__module__", "") == __name__]
