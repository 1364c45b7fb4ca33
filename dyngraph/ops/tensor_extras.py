"""PyTorch's smaller tensor utilities: dtype limits, tensor metadata, in-place samplers, binning
and selection statistics.

- `finfo`/`iinfo`: the limits of a dtype, with PyTorch's attribute names.
- `Tensor.type_as`, `nbytes`, `itemsize`, `storage_offset`: metadata read from the array.
- `uniform_`, `normal_`, `exponential_`, `geometric_`, `cauchy_`, `log_normal_`, `random_`,
  `bernoulli_`: fill a tensor from dyngraph's generator. `uniform_`/`normal_` draw exactly as
  `nn.init.uniform_`/`normal_` do, so the two agree under one seed.
- `searchsorted`, `bucketize`, `bincount`, `histc`: binning, with integer or count results.
- `mode`, `nanmedian`, `quantile`, `nanquantile`: selection statistics built from sort + gather,
  so their values are differentiable the way PyTorch's are.

The primitives added to the op table are `searchsorted` and `mode` (kind SORT) and `bincount` and
`histc` (kind INDEX); compiled code runs them on the interpreter, as it does other ops of these
kinds. bincount's output length depends on the data: the public function reads it into Python
(a graph break under `dyngraph.compile`, guarded on the value) and passes it to the op, so a
compiled call never reuses an output size that no longer fits.
"""

from __future__ import annotations

import math
import warnings
from collections import namedtuple

import numpy as np

from .. import _dtype as D
from ._api import Tensor, apply, inplace, state, wrap_dim, write_out
from ._random import rand, randint, randn
from .creation import full, full_like, ones_like, tensor
from .elementwise import lerp, where
from .registry import OpKind, composite, nondiff
from .sorting import (_gather_values, _median_common, _stable_argsort, _write_pair,
                      argsort_op, sort)

__all__ = ["finfo", "iinfo", "searchsorted", "bucketize", "bincount", "histc", "mode",
           "nanmedian", "quantile", "nanquantile"]

SORT, INDEX = OpKind.SORT, OpKind.INDEX

ModeResult = namedtuple("mode", ["values", "indices"])
NanmedianResult = namedtuple("nanmedian", ["values", "indices"])


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
# In-place samplers
# ----------------------------------------------------------------------------------------------

def _fill_with(self: Tensor, opname: str, draw) -> Tensor:
    """Write `draw()` (a tensor of self's shape) into `self` under `inplace`'s rules.

    A non-leaf that requires grad keeps a history whose gradient is zero, as in PyTorch (its
    old value no longer matters); `where` gives that without reading the old values (inf * 0).
    """
    def fill(old):
        new = draw().to(self.dtype)
        if old.requires_grad:
            return where(ones_like(old, dtype=D.bool_), new, old)
        return new

    return inplace(fill, self, opname=opname)


def _check_floating(self: Tensor, opname: str, what: str) -> None:
    if not self.dtype.is_floating_point:
        raise NotImplementedError(
            f"{opname}: not implemented for dtype {self.dtype.name}: {what} fills floating-point "
            "tensors only; convert with .float() first (random_ draws integers)")


def _work_dtype(self: Tensor) -> D.dtype:
    """The dtype a sampler computes in: float32 for half precision, float64 for integers."""
    if self.dtype in (D.float32, D.float64):
        return self.dtype
    return D.float32 if self.dtype.is_floating_point else D.float64


def _uniform(self, dtype, generator) -> Tensor:
    return rand(tuple(self.shape), generator=generator, dtype=dtype, device=self.device)


def uniform_(self: Tensor, from_: float = 0, to: float = 1, *, generator=None) -> Tensor:
    """Fill with samples from the uniform distribution on [from_, to).

    Draws as `dyngraph.nn.init.uniform_` does (in the tensor's dtype), so under one seed the
    two give the same values.

    Example:
        >>> dyngraph.empty(3).uniform_(-1, 1).shape
        dyngraph.Size([3])
    """
    _check_floating(self, "uniform_", "the uniform distribution")
    if from_ > to:
        raise RuntimeError(f"uniform_ expects to return a [from, to) range, but found "
                           f"from={from_} > to={to}")
    return _fill_with(self, "uniform_",
                      lambda: _uniform(self, self.dtype, generator) * (to - from_) + from_)


def normal_(self: Tensor, mean: float = 0, std: float = 1, *, generator=None) -> Tensor:
    """Fill with samples from the normal distribution N(mean, std**2).

    Draws as `dyngraph.nn.init.normal_` does, so under one seed the two give the same values.
    """
    _check_floating(self, "normal_", "the normal distribution")
    if std < 0:
        raise RuntimeError(f"normal_ expects std >= 0.0, but found std {std}")
    return _fill_with(self, "normal_", lambda: randn(
        tuple(self.shape), generator=generator, dtype=self.dtype, device=self.device) * std + mean)


def exponential_(self: Tensor, lambd: float = 1, *, generator=None) -> Tensor:
    """Fill with samples from the exponential distribution with rate `lambd` (mean 1/lambd)."""
    if not self.dtype.is_floating_point:
        raise RuntimeError(f"exponential_: the exponential distribution is continuous; the "
                           f"tensor's dtype must be floating point but is {self.dtype.name}")
    if not lambd > 0:
        raise RuntimeError(f"exponential_ expects lambda > 0.0, but found lambda={lambd}")
    # -log(1 - u) with u in [0, 1) is finite and >= 0.
    return _fill_with(self, "exponential_",
                      lambda: -(-_uniform(self, _work_dtype(self), generator)).log1p() / lambd)


def geometric_(self: Tensor, p: float, *, generator=None) -> Tensor:
    """Fill with the number of Bernoulli(p) trials up to and including the first success.

    The values are 1, 2, 3, ... with P(k) = (1 - p)**(k - 1) * p (mean 1/p).
    """
    if self.dtype is D.bool_:
        raise NotImplementedError("geometric_: not implemented for dtype bool (the values are "
                                  "counts 1, 2, ...); use an integer or floating dtype")
    if not 0 < p < 1:
        raise RuntimeError(f"geometric_ expects p to be in (0, 1), but got p={p}")

    def draw():
        u = _uniform(self, _work_dtype(self), generator)
        return ((-u).log1p() / math.log1p(-p)).floor() + 1

    return _fill_with(self, "geometric_", draw)


def cauchy_(self: Tensor, median: float = 0, sigma: float = 1, *, generator=None) -> Tensor:
    """Fill with samples from the Cauchy distribution with location `median`, scale `sigma`."""
    if not self.dtype.is_floating_point:
        raise RuntimeError(f"cauchy_: the Cauchy distribution is continuous; the tensor's dtype "
                           f"must be floating point but is {self.dtype.name}")
    if not sigma > 0:
        raise RuntimeError(f"cauchy_ expects sigma > 0.0, but found sigma={sigma}")
    return _fill_with(self, "cauchy_", lambda: (
        (_uniform(self, _work_dtype(self), generator) - 0.5) * math.pi).tan() * sigma + median)


def log_normal_(self: Tensor, mean: float = 1, std: float = 2, *, generator=None) -> Tensor:
    """Fill with exp(N(mean, std**2)) samples: `mean`/`std` are those of the underlying normal."""
    _check_floating(self, "log_normal_", "the log-normal distribution")
    if not std > 0:
        raise RuntimeError(f"log_normal_ expects std > 0.0, but found std={std}")
    return _fill_with(self, "log_normal_", lambda: (randn(
        tuple(self.shape), generator=generator, dtype=_work_dtype(self),
        device=self.device) * std + mean).exp())


class _Unset:
    def __repr__(self) -> str:
        return "<to: the dtype's range>"


_TO_UNSET = _Unset()


def _random_bounds(dtype: D.dtype) -> tuple[int, int]:
    """The default [low, high) of `random_` for a dtype (floats: integers that are exact)."""
    if dtype is D.bool_:
        return 0, 2
    if dtype.is_floating_point:
        digits = int(_np_finfo(dtype).nmant) + 1
        return 0, 2 ** digits + 1
    info = iinfo(dtype)
    # numpy draws int64 below 2**63 only: the top value 2**63 - 1 is left out (p = 2**-63).
    return 0, min(info.max + 1, 2 ** 63 - 1)


def random_(self: Tensor, from_: int = 0, to=_TO_UNSET, *, generator=None) -> Tensor:
    """Fill with integers drawn uniformly from [from_, to), as PyTorch's three forms:

    - `random_()`: [0, 2**mantissa] for floating dtypes (every integer there is exact),
      [0, max] for integer dtypes, {False, True} for bool;
    - `random_(to)`: [0, to);
    - `random_(from_, to)`: [from_, to), where `to=None` means up to the dtype's maximum.

    Example:
        >>> dyngraph.zeros(4, dtype=dyngraph.int64).random_(3, 7).min() >= 3
        tensor(True)
    """
    low, high = _random_bounds(self.dtype)
    if to is _TO_UNSET:
        if from_ != 0:
            low, high = 0, from_          # random_(to)
    else:
        low = from_
        if to is not None:
            high = to
    low, high = int(low), int(high)
    if low >= high:
        raise RuntimeError(f"random_ expects 'from' to be less than 'to', but got from={low} >= "
                           f"to={high}")
    if self.dtype.is_floating_point:
        bound = _random_bounds(self.dtype)[1] - 1
        for name, v in (("from", low), ("to - 1", high - 1)):
            if not -bound <= v <= bound:
                warnings.warn(f"random_: {name}={v} is out of bounds [-{bound}, {bound}]: "
                              f"{self.dtype.name} holds every integer only within that range",
                              UserWarning, stacklevel=2)
    elif self.dtype is not D.bool_:
        info = iinfo(self.dtype)
        for name, v in (("from", low), ("to - 1", high - 1)):
            if not info.min <= v <= info.max:
                raise RuntimeError(f"random_: {name}={v} is out of bounds for {self.dtype.name} "
                                   f"([{info.min}, {info.max}])")
    dt = self.dtype if self.dtype is not D.bool_ else D.int64
    return _fill_with(self, "random_", lambda: randint(
        low, high, tuple(self.shape), generator=generator, dtype=dt, device=self.device))


def bernoulli_(self: Tensor, p=0.5, *, generator=None) -> Tensor:
    """Fill with 1 (True) with probability `p` and 0 otherwise; `p` is a number or a tensor
    that broadcasts to self's shape."""
    if isinstance(p, Tensor):
        try:
            fits = np.broadcast_shapes(tuple(p.shape), tuple(self.shape)) == tuple(self.shape)
        except ValueError:
            fits = False
        if not fits:
            raise RuntimeError(f"bernoulli_: p of shape {tuple(p.shape)} does not broadcast to "
                               f"the tensor's shape {tuple(self.shape)}")
        if state.tracer is None and p.numel() and not bool(((p >= 0) & (p <= 1)).all()):
            raise RuntimeError("bernoulli_ expects every p to be in [0, 1]")
        prob = p.detach()
    else:
        if not 0 <= p <= 1:
            raise RuntimeError(f"bernoulli_ expects p to be in [0, 1], but got p={p}")
        prob = p
    return _fill_with(self, "bernoulli_",
                      lambda: _uniform(self, _work_dtype(self), generator) < prob)


for _fn in (uniform_, normal_, exponential_, geometric_, cauchy_, log_normal_, random_,
            bernoulli_):
    setattr(Tensor, _fn.__name__, _fn)


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
    run_start = xp.maximum.accumulate(xp.where(new_run, cols, 0), axis=1)
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
