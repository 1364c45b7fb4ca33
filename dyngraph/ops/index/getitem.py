"""Index keys and the `getitem`/`index_put` primitives: `x[key]` reads and writes, and
`index_put`."""

from __future__ import annotations

import builtins
import math

import numpy as np

from ... import _dtype as D
from ..._device import capturing, check_later, get_array_module
from ..._device import writeable as _writeable
from .._api import Tensor, apply, as_tensor_arg, inplace, register_method, state
from ..registry import OpKind, defop

INDEX = OpKind.INDEX


# ----------------------------------------------------------------------------------------------
# Index keys
# ----------------------------------------------------------------------------------------------

class TensorSlot:
    """Marks, in a static index key, where the i-th tensor input of an indexing op goes."""

    __slots__ = ("i",)

    def __init__(self, i: int):
        self.i = i

    def __repr__(self) -> str:
        return f"%idx{self.i}"

    def __eq__(self, other) -> bool:
        return isinstance(other, TensorSlot) and other.i == self.i

    def __hash__(self) -> int:
        return hash(("slot", self.i))


_INDEX_DTYPE_ERROR = "tensors used as indices must be long, int, byte or bool tensors"


def _index_tensor(k: Tensor) -> Tensor:
    """Check an index tensor's dtype; byte masks become bool masks (PyTorch's legacy rule)."""
    dt = k.dtype
    if dt is D.bool_ or dt in (D.int64, D.int32, D.int16, D.int8):
        return k
    if dt is D.uint8:
        return k.to(D.bool_)
    if k.numel() == 0:
        return k.to(D.int64)
    raise IndexError(f"{_INDEX_DTYPE_ERROR} (got an index tensor of dtype {dt.name})")


def split_key(key, like: Tensor):
    """Split an index into a static key (with TensorSlots) and the index tensors it uses."""
    if not isinstance(key, tuple):
        key = (key,)
    static, tensors = [], []
    for k in key:
        if isinstance(k, (int, np.integer)) and not isinstance(k, (bool, np.bool_)):
            static.append(int(k))
        elif isinstance(k, slice):
            k = slice(*(_int_or_none(v) for v in (k.start, k.stop, k.step)))
            if k.step is not None and k.step <= 0:
                raise ValueError(f"index: slice step must be positive, got {k.step} (use "
                                 "flip() to reverse a dimension)")
            static.append(k)
        elif k is None or k is Ellipsis:
            static.append(k)
        elif isinstance(k, Tensor):
            static.append(TensorSlot(len(tensors)))
            tensors.append(_index_tensor(k))
        elif isinstance(k, (bool, np.bool_)):
            from ..creation import tensor
            static.append(TensorSlot(len(tensors)))
            tensors.append(tensor(bool(k), device=like.device))
        elif isinstance(k, (list, np.ndarray)):
            static.append(TensorSlot(len(tensors)))
            tensors.append(_index_tensor(as_tensor_arg(k, like)))
        else:
            raise IndexError(f"index: {k!r} of type {type(k).__name__} is not a valid index; use "
                             "ints, slices, None, ..., or integer/bool tensors")
    return tuple(static), tensors


def _int_or_none(v):
    return None if v is None else int(v)


def _build_key(static, arrays):
    return tuple(arrays[k.i] if isinstance(k, TensorSlot) else k for k in static)


def _consumed(k, arrays) -> int:
    """How many dimensions of the indexed array one key entry uses."""
    if k is None or k is Ellipsis:
        return 0
    if isinstance(k, TensorSlot):
        a = arrays[k.i]
        return a.ndim if a.dtype == np.bool_ else 1
    return 1


def check_key(shape, static, arrays, op: str = "index") -> None:
    """Raise PyTorch's IndexError for a key that does not fit `shape` (numpy's lacks the op)."""
    ndim = len(shape)
    used = builtins.sum(_consumed(k, arrays) for k in static)
    if used > ndim:
        raise IndexError(f"{op}: too many indices for tensor of dimension {ndim} (key uses {used} "
                         f"dimensions, tensor shape {tuple(shape)})")
    dim = 0
    for k in static:
        if k is Ellipsis:
            dim += ndim - used
            continue
        if k is None:
            continue
        if isinstance(k, int):
            size = shape[dim]
            if not -size <= k < size:
                raise IndexError(f"{op}: index {k} is out of bounds for dimension {dim} with "
                                 f"size {size}")
        elif isinstance(k, TensorSlot):
            a = arrays[k.i]
            if a.dtype == np.bool_:
                if tuple(a.shape) != tuple(shape[dim:dim + a.ndim]):
                    raise IndexError(
                        f"{op}: the shape of the mask {list(a.shape)} at index {dim} does not "
                        f"match the shape of the indexed tensor {list(shape)} at index {dim}")
                dim += a.ndim
                continue
            size = shape[dim]
            if a.size and capturing(get_array_module(a)):
                check_later((a.max() >= size) | (a.min() < -size),
                            f"{op}: an index is out of bounds for dimension {dim} with size "
                            f"{size}")
            elif a.size:
                lo, hi = int(a.min()), int(a.max())
                if hi >= size or lo < -size:
                    bad = hi if hi >= size else lo
                    raise IndexError(f"{op}: index {bad} is out of bounds for dimension {dim} "
                                     f"with size {size}")
        dim += 1


def _index(xp, x, static, arrays, op):
    """x[key] with PyTorch's errors; cupy does not check bounds, so check first there."""
    if xp is not np:
        check_key(x.shape, static, arrays, op)
    try:
        return x[_build_key(static, arrays)]
    except IndexError as e:
        check_key(x.shape, static, arrays, op)
        raise IndexError(f"{op}: {e} (tensor shape {list(x.shape)})") from None


def _masks_to_ints(xp, key):
    """Replace boolean masks by the integer arrays of their True positions (for scatter-add)."""
    out = []
    for k in key:
        if getattr(k, "dtype", None) == np.bool_ and k.ndim:
            out.extend(xp.nonzero(k))
        else:
            out.append(k)
    return tuple(out)


# ----------------------------------------------------------------------------------------------
# getitem / index_put: the primitives behind x[key] and x[key] = v
# ----------------------------------------------------------------------------------------------

@defop("getitem", INDEX, dtype_rule="none", is_view=True, save=("inputs[1:]",),
       doc="x[key]: a view for ints/slices/None/..., a copy with index tensors")
def getitem_op(xp, x, *index_arrays, key):
    return _index(xp, x, key, index_arrays, "index")


@getitem_op.def_grad
def _(ctx, g):
    shape, dt = ctx.in_meta[0]
    idx = ctx.inputs[1:]
    return (apply(getitem_backward_op, g, *idx, key=ctx.attrs["key"], shape=shape),) + \
        (None,) * len(idx)


def _put(xp, out, v, key, index_arrays, accumulate) -> None:
    """out[key] = v, or += v with accumulate (repeated indices add up), in place."""
    if index_arrays and xp is not np:
        check_key(out.shape, key, index_arrays, "index_put")  # cupy does not check bounds
    k = _build_key(key, index_arrays)
    if getattr(v, "dtype", None) is not None and v.dtype != out.dtype:
        v = v.astype(out.dtype)
    try:
        if accumulate and index_arrays:
            if xp is not np:
                _scatter_add_cupy(out, _masks_to_ints(xp, k), v)
            elif not _add_rows(out, v, key, index_arrays):
                np.add.at(out, k, v)
        elif accumulate:
            out[k] += v  # a basic key addresses each element at most once
        else:
            out[k] = v
    except IndexError as e:
        check_key(out.shape, key, index_arrays, "index_put")
        raise IndexError(f"index_put: {e} (tensor shape {list(out.shape)})") from None


def _scatter_add_cupy(out, key, values) -> None:
    """`np.add.at` on the GPU: cupyx.scatter_add uses atomicAdd, which has no signed 64-bit
    form; int64 sums are computed on the uint64 view (two's complement addition is the same)."""
    import cupy
    import cupyx
    if out.dtype == np.int64:
        vals = cupy.broadcast_to(cupy.asarray(values, dtype=np.int64), out[key].shape)
        cupyx.scatter_add(out.view(np.uint64), key, cupy.ascontiguousarray(vals).view(np.uint64))
    else:
        cupyx.scatter_add(out, key, values)


def _add_rows(out, v, key, arrays) -> bool:
    """Fast path of `np.add.at` for keys `(:, ..., :, int_array)` (the gradients of x[idx] and
    index_select, index_add, embedding lookups): numpy's add.at is several times faster on a
    flat array with flat indices than on rows. Returns False when the key has another form."""
    d = next((i for i, k in enumerate(key) if isinstance(k, TensorSlot)), None)
    full = slice(None)
    if d is None or len(arrays) != 1 or d >= out.ndim or not out.flags.c_contiguous or \
            any(not (isinstance(k, slice) and k == full) for j, k in enumerate(key) if j != d):
        return False
    idx = arrays[0]
    if idx.dtype == np.bool_:
        return False
    n = out.shape[d]
    pre, post = math.prod(out.shape[:d]), math.prod(out.shape[d + 1:])
    rows = idx.reshape(-1).astype(np.int64, copy=False)
    if rows.size:
        lo, hi = int(rows.min()), int(rows.max())
        if lo < -n or hi >= n:
            raise IndexError  # flat indices would land on the wrong elements; caller reports
        if lo < 0:
            rows = np.where(rows < 0, rows + n, rows)
    vals = np.broadcast_to(v, out.shape[:d] + idx.shape + out.shape[d + 1:])
    flat = (np.arange(pre)[:, None, None] * (n * post) + rows[None, :, None] * post +
            np.arange(post)[None, None, :])
    np.add.at(out.reshape(-1), flat.reshape(-1), vals.reshape(-1))
    return True


@defop("getitem_backward", INDEX, dtype_rule="none", save=("inputs[1:]",),
       doc="zeros of `shape` with g accumulated at key: the gradient of x[key]")
def getitem_backward_op(xp, g, *index_arrays, key, shape):
    out = xp.zeros(shape, dtype=g.dtype)
    _put(xp, out, g, key, index_arrays, accumulate=True)
    return out


@getitem_backward_op.def_grad
def _(ctx, gg):
    idx = ctx.inputs[1:]
    return (apply(getitem_op, gg, *idx, key=ctx.attrs["key"]),) + (None,) * len(idx)


@defop("index_put", INDEX, dtype_rule="none", save=("inputs[2:]",),
       doc="a copy of x with x[key] = v (or += v with accumulate=True)")
def index_put_op(xp, x, v, *index_arrays, key, accumulate):
    out = x.copy()
    _put(xp, out, v, key, index_arrays, accumulate)
    return out


@index_put_op.def_grad
def _(ctx, g):
    key, acc = ctx.attrs["key"], ctx.attrs["accumulate"]
    idx = ctx.inputs[2:]
    gx = g if acc else apply(index_put_op, g, 0.0, *idx, key=key, accumulate=False)
    gv = apply(getitem_op, g, *idx, key=key)
    return (gx, gv) + (None,) * len(idx)


def _getitem(self, key):
    static, tensors = split_key(key, self)
    return apply(getitem_op, self, *tensors, key=static)


def _setitem(self, key, value):
    static, tensors = split_key(key, self)
    if not isinstance(value, (Tensor, int, float, bool)):
        value = as_tensor_arg(value, self)
    vt = isinstance(value, Tensor)
    if vt and value.device != self.device:
        raise RuntimeError(f"index_put_: the value is on {value.device} but the indexed tensor is "
                           f"on {self.device}; move it with .to(device) first")
    if state.tracer is None and not (state.grad_enabled and (self._rg or (vt and value._rg))):
        # No autograd involved: write straight into the tensor's memory.
        if not _writeable(self._data):
            raise RuntimeError("index_put_: unsupported operation: the tensor is a broadcast "
                               "(expanded) view whose elements share memory; call .clone() "
                               "before writing to it")
        arrays = [t._data for t in tensors]
        vd = value._data if vt else value
        try:
            self._data[_build_key(static, arrays)] = vd
        except IndexError as e:
            check_key(self.shape, static, arrays, "index_put_")
            raise IndexError(f"index_put_: {e} (tensor shape {list(self.shape)})") from None
        except ValueError as e:
            raise RuntimeError(
                f"index_put_: shape mismatch: value tensor of shape {list(np.shape(vd))} cannot "
                f"be broadcast to the indexed result of tensor shape {list(self.shape)} ({e})"
            ) from None
        self._vc[0] += 1
        return
    inplace(lambda t, val, *idx: apply(index_put_op, t, val, *idx, key=static, accumulate=False),
            self, value, *tensors, opname="index_put_")


Tensor.__getitem__ = _getitem
Tensor.__setitem__ = _setitem


def index_put(input: Tensor, indices, values, accumulate: bool = False) -> Tensor:
    """Out of place `input[indices] = values` (`+=` with accumulate=True, summing duplicates).

    Args:
        input: the tensor to copy and write into.
        indices: a tuple of index tensors (one per leading dimension, as in `input[indices]`).
        values: a tensor (or number) broadcast to the indexed shape.
        accumulate: add instead of overwrite; repeated indices then add up.

    Example:
        >>> dyngraph.zeros(3).index_put((dyngraph.tensor([0, 0]),), dyngraph.tensor(1.),
        ...                             accumulate=True)
        tensor([2., 0., 0.])
    """
    static, tensors = split_key(tuple(indices), input)
    if not isinstance(values, (Tensor, int, float, bool)):
        values = as_tensor_arg(values, input)
    return apply(index_put_op, input, values, *tensors, key=static, accumulate=accumulate)


Tensor.index_put = index_put


@register_method("index_put_")
def index_put_(self, indices, values, accumulate: bool = False) -> Tensor:
    """In-place `index_put`."""
    return inplace(lambda t, v: index_put(t, indices, v, accumulate), self, values,
                   opname="index_put_")


__all__ = [_n for _n, _v in list(globals().items())
           if not _n.startswith("_") and callable(_v) and getattr(_v, "__module__", "") == __name__]
