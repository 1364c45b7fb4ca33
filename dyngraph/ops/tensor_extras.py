"""PyTorch's smaller tensor utilities: dtype limits, tensor metadata and binning (the in-place
samplers are in samplers.py, mode/nanmedian/quantile in statistics.py).

- `finfo`/`iinfo`: the limits of a dtype, with PyTorch's attribute names.
- `Tensor.type_as`, `nbytes`, `itemsize`, `storage_offset`: metadata read from the array.
- `searchsorted`, `bucketize`, `bincount`, `histc`: binning, with integer or count results.

The primitives added to the op table are `searchsorted` (kind SORT) and `bincount` and `histc`
(kind INDEX); compiled code runs them on the interpreter, as it does other ops of these
kinds. bincount's output length depends on the data: the public function reads it into Python
(a graph break under `dyngraph.compile`, guarded on the value) and passes it to the op, so a
compiled call never reuses an output size that no longer fits.
"""

from __future__ import annotations

import math

import numpy as np

from .. import _dtype as D
from ._api import Tensor, apply, write_out
from .creation import tensor
from .elementwise import where
from .registry import OpKind, composite, nondiff

__all__ = ["finfo", "iinfo", "searchsorted", "bucketize", "bincount", "histc"]

SORT, INDEX = OpKind.SORT, OpKind.INDEX



# ----------------------------------------------------------------------------------------------
# dtype limits
# ----------------------------------------------------------------------------------------------

class finfo:
    """The limits of a floating-point dtype, with PyTorch's attribute names.

    Attributes: `bits`, `eps` (the gap between 1 and the next number), `max`, `min`, `tiny` and
    `smallest_normal` (the smallest positive normal number), `resolution` (10**-decimal digits)
    and `dtype` (the dtype's name, a string, as in PyTorch).

    Example:
        >>> dyngraph.finfo(dyngraph.float16).eps
        0.0009765625
    """

    def __init__(self, type: D.dtype | None = None):  # noqa: A002 - PyTorch's name
        if type is None:
            type = D.get_default_dtype()  # noqa: A001
        if not isinstance(type, D.dtype):
            raise TypeError(f"finfo(): argument 'type' (position 1) must be dyngraph.dtype, "
                            f"not {_type_name(type)}")
        if not type.is_floating_point:
            raise TypeError(f"finfo(): {type} is not a floating-point dtype; use "
                            f"dyngraph.iinfo({type}) for integer dtypes")
        info = _np_finfo(type)
        self.bits = int(info.bits)
        self.eps = float(info.eps)
        self.max = float(info.max)
        self.min = float(info.min)
        self.tiny = float(info.smallest_normal)
        self.smallest_normal = self.tiny
        self.resolution = 10.0 ** -int(info.precision)
        self.dtype = type.name

    def __eq__(self, other) -> bool:
        return isinstance(other, finfo) and other.dtype == self.dtype

    def __hash__(self) -> int:
        return hash(("finfo", self.dtype))

    def __repr__(self) -> str:
        return (f"finfo(resolution={self.resolution:g}, min={self.min:g}, max={self.max:g}, "
                f"eps={self.eps:g}, smallest_normal={self.smallest_normal:g}, "
                f"tiny={self.tiny:g}, dtype={self.dtype})")


class iinfo:
    """The limits of an integer dtype: `bits`, `max`, `min` and `dtype` (its name, a string).

    Example:
        >>> dyngraph.iinfo(dyngraph.int8).min
        -128
    """

    def __init__(self, type: D.dtype):  # noqa: A002 - PyTorch's name
        if not isinstance(type, D.dtype):
            raise TypeError(f"iinfo(): argument 'type' (position 1) must be dyngraph.dtype, "
                            f"not {_type_name(type)}")
        if type is D.bool_:
            raise TypeError("iinfo(): dyngraph.bool is not supported (it has no integer range)")
        if type.is_floating_point:
            raise TypeError(f"iinfo(): {type} is not an integer dtype; use "
                            f"dyngraph.finfo({type}) for floating-point dtypes")
        info = np.iinfo(type.np)
        self.bits = int(info.bits)
        self.max = int(info.max)
        self.min = int(info.min)
        self.dtype = type.name

    def __eq__(self, other) -> bool:
        return isinstance(other, iinfo) and other.dtype == self.dtype

    def __hash__(self) -> int:
        return hash(("iinfo", self.dtype))

    def __repr__(self) -> str:
        return f"iinfo(min={self.min:g}, max={self.max:g}, dtype={self.dtype})"


def _np_finfo(dtype: D.dtype):
    if dtype is D.bfloat16:        # numpy's finfo does not know ml_dtypes' bfloat16
        import ml_dtypes
        return ml_dtypes.finfo(ml_dtypes.bfloat16)
    return np.finfo(dtype.np)


def _type_name(x) -> str:
    return type(x).__name__


# ----------------------------------------------------------------------------------------------
# Tensor metadata
# ----------------------------------------------------------------------------------------------

def _type_as(self: Tensor, other: Tensor) -> Tensor:
    """This tensor cast to `other`'s dtype and moved to its device (itself if they match)."""
    if not isinstance(other, Tensor):
        raise TypeError(f"type_as(): argument 'other' must be Tensor, not "
                        f"{type(other).__name__}")
    return self.to(other.device, other.dtype)


def _nbytes(self: Tensor) -> int:
    """Bytes the elements take: numel() * itemsize (a view counts its own elements only)."""
    return self.numel() * self.dtype.itemsize


def _itemsize(self: Tensor) -> int:
    """Bytes per element (the same as `element_size()`)."""
    return self.dtype.itemsize


def _address(a) -> int:
    return a.ctypes.data if type(a) is np.ndarray else a.data.ptr


def _storage_offset(self: Tensor) -> int:
    """The offset, in elements, of this tensor's first element from the start of its storage.

    The storage is the array that owns the memory: the end of the chain of `base` arrays (numpy
    collapses it to one link). The offset counts this tensor's own elements, so
    `storage_offset() + sum(i * stride)` addresses element i as in PyTorch. It describes
    dyngraph's memory: an op whose result is a view of an internal buffer (where PyTorch's is a
    fresh tensor) would report that view's offset.

    Example:
        >>> dyngraph.zeros(3, 4)[1:, 2:].storage_offset()
        6
    """
    a = self._data
    owner = a
    while isinstance(owner.base, type(a)):
        owner = owner.base
    return (_address(a) - _address(owner)) // a.itemsize


Tensor.type_as = _type_as
Tensor.nbytes = property(_nbytes)
Tensor.itemsize = property(_itemsize)
Tensor.storage_offset = _storage_offset


# ----------------------------------------------------------------------------------------------
# Binning: searchsorted, bucketize, bincount, histc
# ----------------------------------------------------------------------------------------------

@nondiff("searchsorted", SORT, "integer output (insertion indices), piecewise constant in the "
         "inputs", dtype_rule="none")
def searchsorted_op(xp, seq, values, sorter=None, *, right, out_int32):
    """PyTorch's binary search, vectorised over every value at once.

    Each step halves every value's [start, end) interval with the same test PyTorch's kernel
    uses (`!(mid >= v)` for the left side, `!(mid > v)` for the right), so NaN gives the same
    answers as PyTorch's: a NaN value lands at the end.
    """
    out_dt = np.int32 if out_int32 else np.int64
    n = seq.shape[-1]
    if values.size == 0 or n == 0:
        return xp.zeros(values.shape, dtype=out_dt)
    seq2 = seq.reshape(-1, n)
    vals = values.reshape(seq2.shape[0], -1)
    order = None if sorter is None else sorter.reshape(seq2.shape[0], n)
    start = xp.zeros(vals.shape, dtype=np.int64)
    end = xp.full(vals.shape, n, dtype=np.int64)
    for _ in range(n.bit_length()):   # each step at least halves every interval
        active = start < end
        mid = start + ((end - start) >> 1)
        pos = xp.minimum(mid, n - 1)
        if order is not None:
            pos = xp.take_along_axis(order, pos, axis=1)
        mid_val = xp.take_along_axis(seq2, pos, axis=1)
        go_right = ~(mid_val > vals) if right else ~(mid_val >= vals)
        start = xp.where(active & go_right, mid + 1, start)
        end = xp.where(active & ~go_right, mid, end)
    return start.reshape(values.shape).astype(out_dt)


def _as_values(x, like: Tensor, op: str) -> Tensor:
    if isinstance(x, Tensor):
        return x
    if isinstance(x, (bool, int, float, np.generic)):
        return tensor(x, dtype=D.result_type(like, x), device=like.device)
    raise TypeError(f"{op}(): expected a Tensor or a number for the values, got "
                    f"{type(x).__name__}")


def searchsorted(sorted_sequence: Tensor, input, *, out_int32: bool = False, right: bool = False,
                 side: str | None = None, out=None, sorter: Tensor | None = None) -> Tensor:
    """Where each value of `input` would be inserted into `sorted_sequence` to keep it sorted.

    Args:
        sorted_sequence: sorted along its last dim; 1-D, or with the same leading dims as
            `input` (one sorted row per row of values).
        input: the values (a tensor or a number).
        out_int32: return int32 indices instead of int64.
        right: give the index after equal elements (the upper bound) instead of before them.
        side: 'left' or 'right', the same as `right` (they must not disagree).
        out: optional output tensor.
        sorter: int64 indices that sort an unsorted `sorted_sequence` along its last dim.

    Returns:
        Indices with `input`'s shape; not differentiable (they are piecewise constant).

    Example:
        >>> dyngraph.searchsorted(dyngraph.tensor([1, 3, 5, 7]), dyngraph.tensor([3, 6]))
        tensor([1, 3])
    """
    if not isinstance(sorted_sequence, Tensor):
        raise TypeError(f"searchsorted(): argument 'sorted_sequence' must be Tensor, not "
                        f"{type(sorted_sequence).__name__}")
    values = _as_values(input, sorted_sequence, "searchsorted")
    if side is not None:
        if side not in ("left", "right"):
            raise RuntimeError(f"searchsorted(): side can only be 'left' or 'right' but got "
                               f"{side!r}")
        if right and side == "left":
            raise RuntimeError("searchsorted(): side and right can't be set to opposites, got "
                               "side of left while right was True")
        right = side == "right"
    seq_shape, val_shape = tuple(sorted_sequence.shape), tuple(values.shape)
    if not seq_shape:
        raise RuntimeError("searchsorted(): boundaries tensor should have positive dimension, "
                           "but got 0 dimension")
    if len(seq_shape) > 1 and (len(val_shape) != len(seq_shape)
                               or val_shape[:-1] != seq_shape[:-1]):
        raise RuntimeError(
            f"searchsorted(): boundaries tensor should be 1 dimension or the first N-1 "
            f"dimensions of boundaries tensor and input value tensor must match, but we got "
            f"boundaries tensor {list(seq_shape)} and input value tensor {list(val_shape)}")
    extra = ()
    if sorter is not None:
        if not isinstance(sorter, Tensor) or sorter.dtype is not D.int64:
            raise RuntimeError(f"searchsorted(): sorter must be a tensor of long dtype but got "
                               f"{getattr(sorter, 'dtype', type(sorter).__name__)}")
        if tuple(sorter.shape) != seq_shape:
            raise RuntimeError(f"searchsorted(): boundary and sorter must have the same size, "
                               f"but got boundary tensor {list(seq_shape)} and sorter tensor "
                               f"{list(sorter.shape)}")
        extra = (sorter,)
    common = D.promote_types(sorted_sequence.dtype, values.dtype)
    r = apply(searchsorted_op, sorted_sequence.to(common), values.to(common), *extra,
              right=bool(right), out_int32=bool(out_int32))
    return write_out(r, out, "searchsorted")


@composite("bucketize", "searchsorted(boundaries, input)")
def bucketize(input, boundaries: Tensor, *, out_int32: bool = False, right: bool = False,
              out=None) -> Tensor:
    """The index of the bucket each element of `input` falls in, given sorted 1-D `boundaries`.

    With `right=False` element x goes to i with boundaries[i-1] < x <= boundaries[i]; with
    `right=True` to i with boundaries[i-1] <= x < boundaries[i] (0 and len(boundaries) at the
    ends). Not differentiable.

    Example:
        >>> dyngraph.bucketize(dyngraph.tensor([1, 5, 9]), dyngraph.tensor([1, 3, 5, 7]))
        tensor([0, 2, 4])
    """
    if not isinstance(boundaries, Tensor) or boundaries.ndim != 1:
        raise RuntimeError(f"bucketize(): boundaries tensor must be 1 dimension, but got "
                           f"dim({getattr(boundaries, 'ndim', '?')})")
    values = _as_values(input, boundaries, "bucketize")
    return searchsorted(boundaries, values, out_int32=out_int32, right=right, out=out)


@nondiff("bincount", INDEX, "integer counts; the weighted form is a scatter-add whose "
         "gradient PyTorch does not define either", dtype_rule="none")
def bincount_op(xp, x, weights=None, *, length):
    """Counts (or summed weights) of each value 0..length-1; `length` covers max(x) + 1."""
    if weights is None:
        return xp.bincount(x, minlength=length).astype(np.int64, copy=False)
    r = xp.bincount(x, weights=weights.astype(np.float64), minlength=length)
    return r.astype(np.float32 if weights.dtype == np.float32 else np.float64)


def bincount(input: Tensor, weights: Tensor | None = None, minlength: int = 0) -> Tensor:
    """How often each value 0, 1, ..., max(input) occurs in the 1-D non-negative `input`.

    Args:
        input: a 1-D tensor of non-negative integers (uint8 or int8/16/32/64).
        weights: optional weights, one per element: each bin sums its elements' weights.
        minlength: the least number of bins.

    Returns:
        A 1-D tensor of max(max(input) + 1, minlength) bins: int64 counts, or the summed weights
        (float32 for float32 weights, float64 otherwise, as in PyTorch). Not differentiable.

    The number of bins depends on the values, so under `dyngraph.compile` the maximum is read
    into Python (a graph break, guarded on its value).

    Example:
        >>> dyngraph.bincount(dyngraph.tensor([1, 3, 1]))
        tensor([0, 2, 0, 1])
    """
    if not isinstance(input, Tensor):
        raise TypeError(f"bincount(): argument 'input' must be Tensor, not "
                        f"{type(input).__name__}")
    if input.dtype.is_floating_point or input.dtype is D.bool_:
        raise RuntimeError(f"bincount(): input must hold integers, got dtype {input.dtype.name}; "
                           "convert it with .long() first")
    if input.ndim != 1:
        raise RuntimeError(f"bincount(): input must be 1-d, got shape {tuple(input.shape)}")
    if minlength < 0:
        raise RuntimeError(f"bincount(): minlength should be >= 0, got {minlength}")
    extra = ()
    if weights is not None:
        if not isinstance(weights, Tensor) or tuple(weights.shape) != tuple(input.shape):
            raise RuntimeError(
                f"bincount(): weights should be 1-d and have the same length as input "
                f"(got weights of shape {tuple(getattr(weights, 'shape', ()))} for input of "
                f"shape {tuple(input.shape)})")
        extra = (weights.detach(),)
    length = int(minlength)
    if input.numel():
        # one read for both the check and the size: -1 flags a negative input
        top = int(where((input < 0).any(), -1, input.max().to(D.int64) + 1).item())
        if top < 0:
            raise RuntimeError("bincount(): input must be non-negative (it holds a negative "
                               "value)")
        length = max(length, top)
    return apply(bincount_op, input, *extra, length=length)


@nondiff("histc", INDEX, "counts are piecewise constant in the input (zero gradient almost "
         "everywhere); PyTorch does not define one either", dtype_rule="none")
def histc_op(xp, x, *, bins, min, max):  # noqa: A002 - PyTorch's names
    lo, hi = float(min), float(max)
    if lo == hi and x.size:
        lo, hi = float(x.min()), float(x.max())
    if lo == hi:
        lo, hi = lo - 1, hi + 1
    if not (math.isfinite(lo) and math.isfinite(hi)):
        raise RuntimeError(f"histc(): range of [{lo}, {hi}] is not finite; pass finite min and "
                           "max (or remove NaN/inf from the input)")
    if lo > hi:
        raise RuntimeError(f"histc(): max must be larger than min (got min={min}, max={max})")
    # PyTorch's arithmetic, in the input's dtype: the bin is (x - lo) * bins / (hi - lo),
    # truncated; x == hi goes to the last bin, anything outside [lo, hi] (or NaN) nowhere.
    flat = x.reshape(-1)
    left, right = x.dtype.type(lo), x.dtype.type(hi)
    keep = (flat >= left) & (flat <= right)
    pos = ((flat[keep] - left) * bins / (right - left)).astype(np.int64)
    pos = xp.minimum(pos, bins - 1)
    return xp.bincount(pos, minlength=bins).astype(x.dtype)


def histc(input: Tensor, bins: int = 100, min: float = 0, max: float = 0, *,  # noqa: A002
          out=None) -> Tensor:
    """A histogram of `input`: `bins` equal-width bins between `min` and `max`.

    If `min` and `max` are equal, the data's own minimum and maximum are used. Elements outside
    [min, max] (and NaN) are not counted.

    Args:
        input: a floating-point tensor (any shape; flattened).
        bins: the number of bins.
        min: the lower end of the range.
        max: the upper end of the range.
        out: optional output tensor.

    Returns:
        A 1-D tensor of `bins` counts in the input's dtype. Not differentiable.

    Example:
        >>> dyngraph.histc(dyngraph.tensor([1., 2., 1.]), bins=4, min=0, max=3)
        tensor([0., 2., 1., 0.])
    """
    if not input.dtype.is_floating_point:
        raise RuntimeError(f"histc(): input must be floating point, got {input.dtype.name}; "
                           "convert it with .float() first")
    if bins <= 0:
        raise RuntimeError(f"histc(): bins must be > 0, but got {bins}")
    if min > max:
        raise RuntimeError(f"histc(): max must be larger than min (got min={min}, max={max})")
    r = apply(histc_op, input.detach(), bins=int(bins), min=float(min), max=float(max))
    return write_out(r, out, "histc")


Tensor.bincount = bincount
Tensor.histc = histc
