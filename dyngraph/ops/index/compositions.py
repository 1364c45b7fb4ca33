"""Compositions over the indexing primitives: index_select, repeat_interleave, index_add/copy/fill,
masked_fill/masked_select, nonzero/argwhere, take."""

from __future__ import annotations

import numpy as np

from ... import _dtype as D
from .._api import (Tensor, apply, as_tensor_arg, inplace, register_method, state, wrap_dim,
                    write_out)
from ..registry import OpKind, composite, nondiff
from .getitem import TensorSlot, getitem_op, index_put_op

INDEX = OpKind.INDEX


# ----------------------------------------------------------------------------------------------
# index_select / index_add / index_fill / index_copy (compositions of getitem and index_put)
# ----------------------------------------------------------------------------------------------

def _dim_key(d: int) -> tuple:
    return (slice(None),) * d + (TensorSlot(0),)


def _check_vector_index(op: str, index) -> Tensor:
    if not isinstance(index, Tensor):
        raise TypeError(f"{op}(): argument 'index' must be Tensor, not {type(index).__name__}")
    if index.ndim > 1:
        raise IndexError(f"{op}(): Index is supposed to be a vector (got shape "
                         f"{list(index.shape)})")
    if index.dtype not in (D.int64, D.int32):
        raise RuntimeError(f"{op}(): Expected dtype int32/int64 for index, got "
                           f"{index.dtype.name}")
    return index.reshape(1) if index.ndim == 0 else index


@composite("index_select", "getitem with an index tensor at dim")
def index_select(input: Tensor, dim: int, index: Tensor, *, out=None) -> Tensor:
    """The slices of `input` at positions `index` (a vector) along `dim`.

    Example:
        >>> dyngraph.index_select(dyngraph.tensor([[1, 2], [3, 4]]), 0, dyngraph.tensor([1, 1]))
        tensor([[3, 4],
                [3, 4]])
    """
    index = _check_vector_index("index_select", index)
    d = wrap_dim(dim, input.ndim, "index_select")
    x = input.reshape(1) if input.ndim == 0 else input
    r = apply(getitem_op, x, index, key=_dim_key(d))
    return write_out(r.reshape(()) if input.ndim == 0 else r, out, "index_select")


Tensor.index_select = index_select


@composite("repeat_interleave", "index_select with the repeated positions")
def repeat_interleave(input, repeats=None, dim=None, *, output_size=None) -> Tensor:
    """Repeat each element (or each slice along `dim`) `repeats` times, keeping the order.

    `repeats` is an int or a 1-D tensor with one count per slice; without `dim` the input is
    flattened first. `repeat_interleave(counts)` alone returns each index repeated counts[i] times.

    Example:
        >>> dyngraph.tensor([1, 2]).repeat_interleave(2)
        tensor([1, 1, 2, 2])
    """
    from ..creation import tensor
    if repeats is None:  # repeat_interleave(counts): indices repeated by the counts
        counts = input.detach().cpu().numpy()   # (under compile: a graph break on the counts)
        if counts.ndim != 1 or counts.dtype.kind not in "iu":
            raise RuntimeError("repeat_interleave: repeats must be a 1-D integer tensor")
        return tensor(np.repeat(np.arange(len(counts)), counts), device=input.device)
    x = input.reshape(-1) if dim is None else input
    d = 0 if dim is None else wrap_dim(dim, x.ndim, "repeat_interleave")
    n = x.shape[d] if x.ndim else 1
    if isinstance(repeats, Tensor):
        reps = repeats.detach().cpu().numpy()   # (under compile: a graph break on the counts)
        if reps.ndim == 0:
            reps = int(reps)
        elif reps.shape != (n,):
            raise RuntimeError(f"repeat_interleave: repeats must have the same size as input "
                               f"along dim {d} ({n}), got {tuple(reps.shape)}")
    else:
        reps = int(repeats)
    if np.any(np.asarray(reps) < 0):
        raise RuntimeError("repeat_interleave: repeats can not be negative")
    idx = tensor(np.repeat(np.arange(n), reps), device=input.device)
    if x.ndim == 0:
        x = x.reshape(1)
    return index_select(x, d, idx)


Tensor.repeat_interleave = repeat_interleave


def _index_source_check(op, input, d, index, source):
    want = list(input.shape) or [1]
    want[d] = index.shape[0]
    sshape = list(source.shape) or [1]
    if sshape != want:
        if len(sshape) == len(want) and sshape[d] != want[d]:
            raise RuntimeError(f"{op}(): Number of indices ({index.shape[0]}) should be equal to "
                               f"source.size(dim): ({sshape[d]}), for dim: {d}")
        raise RuntimeError(f"{op}(): source shape {sshape} must be the shape of self "
                           f"{list(input.shape)} with dimension {d} of size {index.shape[0]} "
                           f"(expected {want})")


def _put_source(op: str, input: Tensor, dim: int, index, source, accumulate: bool,
                alpha=1) -> Tensor:
    """index_add/index_copy: write (or add) `alpha * source` into `input` at the positions
    `index` along `dim` with one index_put (0-d tensors act as 1-element vectors)."""
    index = _check_vector_index(op, index)
    source = as_tensor_arg(source, input)
    d = wrap_dim(dim, input.ndim, op)
    _index_source_check(op, input, d, index, source)
    if alpha != 1:
        source = source * alpha
    x = input.reshape(1) if input.ndim == 0 else input
    s = source.reshape(1) if source.ndim == 0 else source
    r = apply(index_put_op, x, s, index, key=_dim_key(d), accumulate=accumulate)
    return r.reshape(()) if input.ndim == 0 else r


@composite("index_add", "index_put(accumulate=True) with an index tensor at dim")
def index_add(input: Tensor, dim: int, index: Tensor, source: Tensor, *, alpha=1,
              out=None) -> Tensor:
    """Out of place: add `alpha * source` into `input` at positions `index` along `dim`.

    Repeated indices add up. `source` has input's shape except `len(index)` at `dim`.

    Example:
        >>> dyngraph.zeros(3).index_add(0, dyngraph.tensor([0, 0]), dyngraph.tensor([1., 2.]))
        tensor([3., 0., 0.])
    """
    return write_out(_put_source("index_add", input, dim, index, source, True, alpha), out,
                     "index_add")


Tensor.index_add = index_add


@register_method("index_add_")
def index_add_(self, dim, index, source, *, alpha=1) -> Tensor:
    """In-place `index_add`."""
    return inplace(lambda t, s: index_add(t, dim, index, s, alpha=alpha), self,
                   as_tensor_arg(source, self), opname="index_add_")


@composite("index_copy", "index_put with an index tensor at dim")
def index_copy(input: Tensor, dim: int, index: Tensor, source: Tensor) -> Tensor:
    """Out of place: copy the slices of `source` into `input` at positions `index` along `dim`."""
    return _put_source("index_copy", input, dim, index, source, False)


Tensor.index_copy = index_copy


@register_method("index_copy_")
def index_copy_(self, dim, index, source) -> Tensor:
    """In-place `index_copy`."""
    return inplace(lambda t, s: index_copy(t, dim, index, s), self, as_tensor_arg(source, self),
                   opname="index_copy_")


@composite("index_fill", "index_put of a number with an index tensor at dim")
def index_fill(input: Tensor, dim: int, index: Tensor, value) -> Tensor:
    """Out of place: fill the slices of `input` at positions `index` along `dim` with `value`."""
    index = _check_vector_index("index_fill", index)
    d = wrap_dim(dim, input.ndim, "index_fill")
    v = _fill_value("index_fill", input, value)
    x = input.reshape(1) if input.ndim == 0 else input
    r = apply(index_put_op, x, v, index, key=_dim_key(d), accumulate=False)
    return r.reshape(()) if input.ndim == 0 else r


Tensor.index_fill = index_fill


@register_method("index_fill_")
def index_fill_(self, dim, index, value) -> Tensor:
    """In-place `index_fill`."""
    if isinstance(value, Tensor):
        return inplace(lambda t, v: index_fill(t, dim, index, v), self, value,
                       opname="index_fill_")
    return inplace(lambda t: index_fill(t, dim, index, value), self, opname="index_fill_")


# ----------------------------------------------------------------------------------------------
# masked ops, nonzero, take
# ----------------------------------------------------------------------------------------------

def _fill_value(op: str, input: Tensor, value):
    """A fill value as a 0-d tensor of input's dtype (tensors keep their autograd history)."""
    if isinstance(value, Tensor):
        if value.ndim != 0:
            raise RuntimeError(f"{op}: only supports a 0-dimensional value tensor, but got a "
                               f"tensor with {value.ndim} dimension(s)")
        if value.device != input.device:
            raise RuntimeError(f"{op}: the value is on {value.device} but input is on "
                               f"{input.device}")
        return value.to(input.dtype) if value.dtype is not input.dtype else value
    if not isinstance(value, (int, float, bool, np.generic)):
        raise TypeError(f"{op}: value must be a number or a 0-d tensor, not "
                        f"{type(value).__name__}")
    from ..creation import full
    return full((), value, dtype=input.dtype, device=input.device)


def _check_mask(op: str, mask) -> Tensor:
    if not isinstance(mask, Tensor):
        raise TypeError(f"{op}: argument 'mask' must be Tensor, not {type(mask).__name__}")
    if mask.dtype is not D.bool_:
        raise RuntimeError(f"{op}: only supports boolean masks, but got mask with dtype "
                           f"{mask.dtype.name}; convert it with mask.bool() or a comparison")
    return mask


@composite("masked_fill", "where(mask, value, input)")
def masked_fill(input: Tensor, mask: Tensor, value) -> Tensor:
    """`input` with `value` (a number or 0-d tensor) where `mask` (broadcast) is True.

    Example:
        >>> x = dyngraph.tensor([1., -2., 3.])
        >>> x.masked_fill(x < 0, 0.0)
        tensor([1., 0., 3.])
    """
    from ..elementwise import where
    _check_mask("masked_fill", mask)
    return where(mask, _fill_value("masked_fill", input, value), input)


Tensor.masked_fill = masked_fill


@register_method("masked_fill_")
def masked_fill_(self, mask, value) -> Tensor:
    """In-place `masked_fill`; `mask` must broadcast to self's shape."""
    _check_mask("masked_fill_", mask)
    if isinstance(value, Tensor):
        return inplace(lambda t, m, v: masked_fill(t, m, v), self, mask, value,
                       opname="masked_fill_")
    return inplace(lambda t, m: masked_fill(t, m, value), self, mask, opname="masked_fill_")


@composite("masked_select", "broadcast + getitem with a boolean mask")
def masked_select(input: Tensor, mask: Tensor, *, out=None) -> Tensor:
    """The elements of `input` where `mask` (broadcast together) is True, as a 1-D tensor.

    Example:
        >>> x = dyngraph.tensor([[1, 2], [3, 4]])
        >>> dyngraph.masked_select(x, x > 1)
        tensor([2, 3, 4])
    """
    _check_mask("masked_select", mask)
    from ..shape import broadcast_tensors
    x, m = broadcast_tensors(input, mask)
    if x.ndim == 0:
        x, m = x.reshape(1), m.reshape(1)
    return write_out(apply(getitem_op, x, m, key=(TensorSlot(0),)), out, "masked_select")


Tensor.masked_select = masked_select


@nondiff("nonzero", INDEX, "integer output (indices)", dtype_rule="none",
         doc="the (n, ndim) int64 indices of the non-zero elements")
def nonzero_op(xp, x):
    return xp.argwhere(x).astype(xp.int64, copy=False)


def nonzero(input: Tensor, *, out=None, as_tuple: bool = False):
    """The indices of the non-zero elements: an (n, ndim) int64 tensor, or one 1-D tensor per dim.

    Example:
        >>> dyngraph.nonzero(dyngraph.tensor([[0, 1], [2, 0]]))
        tensor([[0, 1],
                [1, 0]])
    """
    if as_tuple:
        x = input.reshape(1) if input.ndim == 0 else input
        cols = apply(nonzero_op, x).t().contiguous()
        return tuple(cols[i] for i in range(x.ndim))
    return write_out(apply(nonzero_op, input), out, "nonzero")


@register_method("nonzero")
def _nonzero_method(self, *, as_tuple: bool = False):
    """`nonzero` as a method."""
    return nonzero(self, as_tuple=as_tuple)


def argwhere(input: Tensor) -> Tensor:
    """The indices of the non-zero elements as an (n, ndim) tensor (same as `nonzero`)."""
    return apply(nonzero_op, input)


Tensor.argwhere = argwhere


@composite("take", "flatten + getitem with an index tensor")
def take(input: Tensor, index: Tensor) -> Tensor:
    """Elements of the flattened `input` at `index`; the result has index's shape.

    Example:
        >>> dyngraph.take(dyngraph.tensor([[4, 3], [5, 6]]), dyngraph.tensor([0, 3]))
        tensor([4, 6])
    """
    if not isinstance(index, Tensor) or index.dtype not in (D.int64, D.int32):
        raise RuntimeError(f"take(): Expected a long tensor for index, but got "
                           f"{getattr(index, 'dtype', type(index).__name__)}")
    n = input.numel()
    if index.numel() and state.tracer is None:  # (traced: the getitem rule checks bounds)
        lo, hi = int(index.min()), int(index.max())
        if hi >= n or lo < -n:
            raise IndexError(f"take(): tried to access index {hi if hi >= n else lo} on a tensor "
                             f"of {n} elements (shape {list(input.shape)})")
    return apply(getitem_op, input.reshape(-1), index, key=(TensorSlot(0),))


Tensor.take = take


__all__ = [_n for _n, _v in list(globals().items())
           if not _n.startswith("_") and callable(_v) and getattr(_v, "__module__", "") == __name__]
