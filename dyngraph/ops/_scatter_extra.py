"""Scatter-style writes that PyTorch has beyond scatter/scatter_add/index_add: scatter_reduce,
index_reduce, masked_scatter, put, select_scatter and slice_scatter (re-exported by
tensor_ops_extra.py).

`scatter_reduce` is a primitive (kind INDEX, run by the interpreter when compiled): its eager
rule reduces duplicates with numpy's `ufunc.at`; on cupy, sums use `cupyx.scatter_add` and the
other reductions a loop over the rank of each element among those sent to the same place (as
many passes as the most crowded target has elements). Its gradient is PyTorch's formula in
dyngraph ops. index_reduce is scatter_reduce with the index spread over `source`; the rest are
compositions of `index_put`, `getitem` and `where`.
"""

from __future__ import annotations

import numpy as np

from .. import _dtype as D
from ._api import (Tensor, apply, as_tensor_arg, register_method_pair, state, wrap_dim,
                   write_out)
from .index import TensorSlot, gather, getitem_op, index_put_op, scatter, scatter_add
from .index.gather_scatter import _check_index, _full_index, _scatter_operands
from .index.compositions import _index_source_check
from .index.getitem import _scatter_add_cupy
from .registry import OpKind, composite, defop

INDEX = OpKind.INDEX
_REDUCES = ("sum", "prod", "mean", "amax", "amin")


# ----------------------------------------------------------------------------------------------
# scatter_reduce (primitive) and index_reduce
# ----------------------------------------------------------------------------------------------

def _identity(dtype, reduce: str):
    """The value a reduction starts from when the input's own value is left out."""
    if reduce in ("sum", "mean"):
        return 0
    if reduce == "prod":
        return 1
    if dtype.kind == "b":
        return reduce == "amin"
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        return info.min if reduce == "amax" else info.max
    return -np.inf if reduce == "amax" else np.inf


_UFUNCS = {"sum": np.add, "mean": np.add, "prod": np.multiply, "amax": np.maximum,
           "amin": np.minimum}


def _reduce_at(xp, out, key, src, reduce: str) -> None:
    """`ufunc.at(out, key, src)` for the reduction, on numpy or cupy."""
    ufunc = _UFUNCS[reduce]
    if xp is np:
        ufunc.at(out, key, src)
        return
    if ufunc is np.add:
        _scatter_add_cupy(out, key, src)
        return
    # cupy has no multiply.at; a target receives at most one value per pass, so a plain
    # fancy-index update is exact (out is a fresh C-contiguous copy, so reshape is a view).
    flat = out.reshape(-1)
    lin = xp.zeros(src.shape, dtype=np.int64)
    for k, n in zip(key, out.shape):
        lin = lin * n + k
    lin, vals = lin.reshape(-1), src.reshape(-1)
    order = xp.argsort(lin)
    lin, vals = lin[order], vals[order]
    starts = xp.ones(lin.shape, dtype=bool)
    starts[1:] = lin[1:] != lin[:-1]
    first = xp.flatnonzero(starts)
    rank = xp.arange(lin.size) - first[xp.cumsum(starts) - 1]
    for r in range(int(rank.max()) + 1 if lin.size else 0):
        sel = rank == r
        t = lin[sel]
        flat[t] = getattr(xp, ufunc.__name__)(flat[t], vals[sel])


@defop("scatter_reduce", INDEX, dtype_rule="none", save=("inputs", "output"),
       doc="a copy of x with src reduced (sum/prod/mean/amax/amin) into it at index along dim")
def scatter_reduce_op(xp, x, index, src, *, dim, reduce, include_self):
    out, index, src = _scatter_operands(xp, x, index, src, dim, "scatter_reduce")
    key = _full_index(xp, index, dim)
    if not include_self:
        out[key] = _identity(out.dtype, reduce)
    _reduce_at(xp, out, key, src, reduce)
    if reduce == "mean":
        count = xp.zeros(out.shape, dtype=np.int64)
        _reduce_at(xp, count, key, xp.ones(index.shape, dtype=np.int64), "sum")
        if include_self:
            count += 1
        count = xp.maximum(count, 1)
        if out.dtype.kind in "iu":
            out = xp.floor_divide(out, count).astype(out.dtype, copy=False)
        else:
            out = (out / count).astype(out.dtype, copy=False)
    return out.reshape(x.shape)


@scatter_reduce_op.def_grad
def _(ctx, g):
    """PyTorch's scatter_reduce_backward, written in dyngraph ops."""
    from .elementwise import where
    from .creation import ones_like, zeros_like
    x, index, src = ctx.inputs
    a = ctx.attrs
    dim, reduce, include_self = a["dim"], a["reduce"], a["include_self"]
    if reduce == "sum":
        gx, gs = g, gather(g, dim, index)
    elif reduce == "mean":
        n = ones_like(g) if include_self else zeros_like(g)
        n = scatter_add(n, dim, index, ones_like(src))
        n = where(n == 0, 1.0, n)
        gx, gs = g / n, gather(g, dim, index) / gather(n, dim, index)
    elif reduce == "prod":
        result = ctx.out
        masked_x = where(x == 0, 1.0, x)
        gx = g * _scatter_reduce(masked_x, dim, index, src, reduce, include_self) / masked_x
        src_zero = src == 0
        zeros_at = gather(scatter_add(zeros_like(x), dim, index, src_zero.to(x.dtype)), dim,
                          index)
        single_zero = src_zero & (zeros_at == 1)
        masked_src_result = _scatter_reduce(x, dim, index, where(single_zero, 1.0, src), reduce,
                                            include_self)
        gs = where(single_zero, gather(g * masked_src_result, dim, index),
                   gather(g * result, dim, index) / where(src_zero, 1.0, src))
    else:  # amax / amin: the gradient is shared evenly among the elements equal to the result
        result = ctx.out
        value = gather(result, dim, index)
        x_is = (x == result).to(x.dtype)
        src_is = (src == value).to(x.dtype)
        share = g / scatter_add(x_is, dim, index, src_is)
        gx, gs = x_is * share, src_is * gather(share, dim, index)
    if not include_self:
        gx = scatter(gx, dim, index, 0.0)
    return gx, None, gs


def _scatter_reduce(x, dim, index, src, reduce, include_self):
    return apply(scatter_reduce_op, x, index, src, dim=dim, reduce=reduce,
                 include_self=include_self)


def _check_reduce(op: str, reduce, allowed) -> None:
    if reduce not in allowed:
        names = ", ".join(allowed[:-1]) + " or " + allowed[-1]
        raise RuntimeError(f"{op}(): reduce argument must be either {names}, got {reduce!r}")


def _check_same_dtype(op: str, input: Tensor, other: Tensor, what: str) -> None:
    if other.dtype is not input.dtype:
        raise RuntimeError(f"{op}(): expected self and {what} to have the same dtype, but got "
                           f"{input.dtype.name} and {other.dtype.name}; convert {what} with "
                           f".to({input.dtype.name})")


def _leading(t: Tensor, shape) -> Tensor:
    """The leading `shape` block of `t` (a view; its gradient pads with zeros)."""
    if tuple(t.shape) == tuple(shape):
        return t
    return t[tuple(slice(0, s) for s in shape)]


def scatter_reduce(input: Tensor, dim: int, index: Tensor, src: Tensor, reduce: str, *,
                   include_self: bool = True, out=None) -> Tensor:
    """Out of place: reduce the values of `src` into a copy of `input` at `index` along `dim`.

    For dim=0, `src[i][j]` is combined into `out[index[i][j]][j]`. Elements of `input` that no
    index points to keep their values.

    Args:
        input: the tensor to start from.
        dim: the dimension `index` addresses.
        index: an int64 tensor with input's number of dimensions, no larger than `src` (only
            its leading block of src is used) nor than input outside `dim`.
        src: the values to reduce (input's dtype).
        reduce: 'sum', 'prod', 'mean', 'amax' or 'amin'.
        include_self: also reduce the input's own value at each target; with False a target
            takes the reduction of the values sent to it only.
        out: optional output tensor.

    Returns:
        A tensor with input's shape and dtype. Differentiable in input and src (for 'amax' and
        'amin' ties share the gradient evenly; 'mean' on integers rounds down, as in PyTorch).

    Example:
        >>> x = dyngraph.tensor([1., 2., 3.])
        >>> x.scatter_reduce(0, dyngraph.tensor([0, 0, 2]), dyngraph.tensor([5., 6., 7.]), "amax")
        tensor([6., 2., 7.])
    """
    _check_reduce("scatter_reduce", reduce, _REDUCES)
    src = as_tensor_arg(src, input)
    d = _check_index("scatter_reduce", input, dim, index, src)
    _check_same_dtype("scatter_reduce", input, src, "src")
    if index.numel() == 0:  # nothing is sent anywhere
        return write_out(input.clone(), out, "scatter_reduce")
    if index.dtype is not D.int64:
        index = index.long()
    src = _leading(src, tuple(index.shape)) if src.ndim else src
    r = _scatter_reduce(input, d, index, src, reduce, bool(include_self))
    return write_out(r, out, "scatter_reduce")


register_method_pair("scatter_reduce", scatter_reduce)


def index_reduce(input: Tensor, dim: int, index: Tensor, source: Tensor, reduce: str, *,
                 include_self: bool = True, out=None) -> Tensor:
    """Out of place: reduce the slices of `source` into `input` at positions `index` along `dim`.

    Slice `i` of `source` (along dim) is combined into slice `index[i]` of the result.

    Args:
        input: the tensor to start from.
        dim: the dimension to index along.
        index: a 1-D int32/int64 tensor, one position per slice of `source`.
        source: input's shape except `len(index)` at `dim`, in input's dtype.
        reduce: 'prod', 'mean', 'amax' or 'amin' (use index_add for sums).
        include_self: also reduce the input's own slices; with False a slice that is indexed
            takes the reduction of the source slices sent to it only.
        out: optional output tensor.

    Example:
        >>> x = dyngraph.ones(3)
        >>> x.index_reduce(0, dyngraph.tensor([0, 0]), dyngraph.tensor([2., 3.]), "prod")
        tensor([6., 1., 1.])
    """
    op = "index_reduce"
    allowed = ("prod", "mean", "amax", "amin")
    if reduce not in allowed:
        raise RuntimeError(f"{op}(): Expected reduce to be one of prod, mean, amax or amin but "
                           f"got {reduce}.")
    if not isinstance(index, Tensor):
        raise TypeError(f"{op}(): argument 'index' must be Tensor, not {type(index).__name__}")
    if index.dtype not in (D.int64, D.int32):
        raise RuntimeError(f"{op}(): Expected dtype int32/int64 for index but got: "
                           f"{index.dtype.name}")
    if index.ndim > 1:
        raise IndexError(f"{op}(): Index is supposed to be a vector, but got dim: {index.ndim} "
                         f"with size: {list(index.shape)}")
    source = as_tensor_arg(source, input)
    _check_same_dtype(op, input, source, "source")
    d = wrap_dim(dim, input.ndim, op)
    index = index.reshape(-1).long()
    _index_source_check(op, input, d, index, source)      # (index_add/index_copy's check)
    want = list(input.shape) or [1]
    want[d] = index.shape[0]
    n = input.shape[d] if input.ndim else 1
    if index.numel() and state.tracer is None:  # (traced: the op's rule checks bounds)
        lo, hi = int(index.min()), int(index.max())
        if lo < 0 or hi >= n:
            raise IndexError(f"{op}(): index {lo if lo < 0 else hi} is out of range for "
                             f"dimension {d} with size {n} (index out of range in self)")
    x = input.reshape(1) if input.ndim == 0 else input
    s = source.reshape(want)
    spread = [1] * len(want)
    spread[d] = -1
    idx = index.reshape(spread).expand(*want)
    r = _scatter_reduce(x, d, idx, s, reduce, bool(include_self))
    return write_out(r.reshape(input.shape), out, op)


register_method_pair("index_reduce", index_reduce)


# ----------------------------------------------------------------------------------------------
# masked_scatter, put, select_scatter, slice_scatter
# ----------------------------------------------------------------------------------------------

def _check_bool_mask(op: str, mask) -> Tensor:
    if not isinstance(mask, Tensor):
        raise TypeError(f"{op}(): argument 'mask' must be Tensor, not {type(mask).__name__}")
    if mask.dtype is not D.bool_:
        raise RuntimeError(f"{op}: only supports boolean masks, but got mask with dtype "
                           f"{mask.dtype.name}; convert it with mask.bool() or a comparison")
    return mask


def _masked_scatter(input: Tensor, mask: Tensor, source: Tensor, op: str) -> Tensor:
    from .creation import zeros
    from .elementwise import where
    from .reduction import cumsum
    from .shape import broadcast_tensors
    _check_bool_mask(op, mask)
    source = as_tensor_arg(source, input)
    _check_same_dtype(op, input, source, "source")
    x, m = broadcast_tensors(input, mask)
    src = source.reshape(-1)
    if state.tracer is None:  # (traced: reading past the end of source fails in getitem)
        k = int(m.sum())
        if k > src.numel():
            raise RuntimeError(f"{op}: Number of elements of source < number of ones in mask "
                               f"({src.numel()} < {k})")
    if src.numel() == 0:
        return where(m, zeros((), dtype=x.dtype, device=x.device), x)
    # the k-th True of the mask (row-major) takes source element k
    pos = (cumsum(m.reshape(-1), 0) - 1).clamp(min=0)
    picked = apply(getitem_op, src, pos, key=(TensorSlot(0),))
    return where(m, picked.reshape(m.shape), x)


@composite("masked_scatter", "cumsum of the mask + getitem + where")
def masked_scatter(input: Tensor, mask: Tensor, source: Tensor) -> Tensor:
    """Out of place: copy the elements of `source`, in order, to where `mask` is True.

    `mask` and `input` broadcast together; the k-th True of the mask (in row-major order) takes
    `source.flatten()[k]`, so `source` needs at least as many elements as the mask has Trues.

    Example:
        >>> x = dyngraph.zeros(4)
        >>> x.masked_scatter(dyngraph.tensor([True, False, True, False]), dyngraph.ones(4) * 7)
        tensor([7., 0., 7., 0.])
    """
    return _masked_scatter(input, mask, source, "masked_scatter")


register_method_pair("masked_scatter", masked_scatter)


@composite("put", "flatten + index_put")
def put(input: Tensor, index: Tensor, source: Tensor, accumulate: bool = False) -> Tensor:
    """Out of place: write `source` at the positions `index` of the flattened `input`.

    Args:
        input: the tensor to copy and write into (viewed as 1-D).
        index: int64 positions into the flattened input (negative counts from the end).
        source: one value per index element, in input's dtype.
        accumulate: add into the input instead of overwriting; repeated positions add up
            (without it, which of several writes to one position wins is unspecified).

    Example:
        >>> dyngraph.zeros(2, 2).put(dyngraph.tensor([0, 3]), dyngraph.tensor([1., 2.]))
        tensor([[1., 0.],
                [0., 2.]])
    """
    op = "put_"
    if not isinstance(index, Tensor) or index.dtype is not D.int64:
        raise RuntimeError(f"{op}(): Expected a long tensor for index, but got "
                           f"{getattr(index, 'dtype', type(index).__name__)}")
    source = as_tensor_arg(source, input)
    if source.dtype is not input.dtype:
        raise RuntimeError(f"{op}(): self and source expected to have the same dtype, but got "
                           f"self.dtype = {input.dtype.name} and source.dtype = "
                           f"{source.dtype.name}")
    if source.numel() != index.numel():
        raise IndexError(f"{op}(): Expected source and index to have the same number of "
                         f"elements, but got source.numel() = {source.numel()}, index.numel() = "
                         f"{index.numel()}")
    n = input.numel()
    if index.numel() and n == 0:
        raise IndexError(f"{op}(): Tried to put elements into an empty tensor")
    if index.numel() and state.tracer is None:  # (traced: index_put's rule checks bounds)
        lo, hi = int(index.min()), int(index.max())
        if hi >= n or lo < -n:
            raise IndexError(f"out of range: tried to access index {hi if hi >= n else lo} on a "
                             f"tensor of {n} elements.")
    r = apply(index_put_op, input.reshape(-1), source.reshape(-1), index.reshape(-1),
              key=(TensorSlot(0),), accumulate=bool(accumulate))
    return r.reshape(input.shape)


register_method_pair("put", put)


def _scatter_into(op: str, input: Tensor, src, key: tuple, want: tuple) -> Tensor:
    """index_put of `src` (which must have the shape `want` of input[key]) at a basic key."""
    src = as_tensor_arg(src, input)
    if tuple(src.shape) != tuple(want):
        raise RuntimeError(f"{op}(): expected src to have a size equal to the slice of self. "
                           f"src size = {list(src.shape)}, slice size = {list(want)}")
    if src.dtype is not input.dtype:
        src = src.to(input.dtype)
    return apply(index_put_op, input, src, key=key, accumulate=False)


@composite("select_scatter", "index_put at an int key")
def select_scatter(input: Tensor, src: Tensor, dim: int, index: int) -> Tensor:
    """A copy of `input` whose slice `index` along `dim` is replaced by `src`.

    `src` has input's shape without `dim` (it is cast to input's dtype).

    Example:
        >>> dyngraph.select_scatter(dyngraph.zeros(2, 2), dyngraph.ones(2), 0, 1)
        tensor([[0., 0.],
                [1., 1.]])
    """
    if input.ndim == 0:
        raise IndexError("select_scatter(): select() cannot be applied to a 0-dim tensor.")
    d = wrap_dim(dim, input.ndim, "select_scatter")
    n = input.shape[d]
    index = int(index)
    if not -n <= index < n:
        raise IndexError(f"select_scatter(): index {index} out of range for tensor of size "
                         f"{list(input.shape)} at dimension {d}")
    want = tuple(s for i, s in enumerate(input.shape) if i != d)
    return _scatter_into("select_scatter", input, src, (slice(None),) * d + (index % n,), want)


Tensor.select_scatter = select_scatter


@composite("slice_scatter", "index_put at a slice key")
def slice_scatter(input: Tensor, src: Tensor, dim: int = 0, start: int | None = None,
                  end: int | None = None, step: int = 1) -> Tensor:
    """A copy of `input` whose slice `start:end:step` along `dim` is replaced by `src`.

    `start` and `end` follow Python's slicing rules (negative from the end, clamped to the
    size); `src` has the shape of that slice (it is cast to input's dtype).

    Example:
        >>> dyngraph.slice_scatter(dyngraph.zeros(4), dyngraph.ones(2), start=1, end=3)
        tensor([0., 1., 1., 0.])
    """
    if input.ndim == 0:
        raise IndexError("slice_scatter(): slice() cannot be applied to a 0-dim tensor.")
    step = int(step)
    if step <= 0:
        raise RuntimeError(f"slice_scatter(): slice step must be positive, got {step}")
    d = wrap_dim(dim, input.ndim, "slice_scatter")
    sl = slice(None if start is None else int(start), None if end is None else int(end), step)
    length = len(range(*sl.indices(input.shape[d])))
    want = tuple(length if i == d else s for i, s in enumerate(input.shape))
    return _scatter_into("slice_scatter", input, src, (slice(None),) * d + (sl,), want)


Tensor.slice_scatter = slice_scatter


__all__ = ["scatter_reduce", "index_reduce", "masked_scatter", "put", "select_scatter",
           "slice_scatter"]
