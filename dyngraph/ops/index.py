"""Data-dependent addressing: `x[key]` reads and writes, gather/scatter, index_select/index_add,
masked ops, nonzero, take.

Three primitives carry all the indexing: `getitem` (numpy-style indexing with ints, slices, None,
..., integer and boolean tensors; a view for basic keys), `index_put` (its adjoint: write or
accumulate values at a key) and `gather`/`scatter`/`scatter_add` (PyTorch's per-dim addressing).
index_select, index_add, masked_fill, masked_select, take and take_along_dim are compositions.

A key is split into a static part (ints, slices, None, ..., and `TensorSlot` placeholders) and the
index tensors it uses, so the static part can be an op attribute (hashable, printable in the IR)
while index tensors are ordinary op inputs.
"""

from __future__ import annotations

import builtins
import math

import numpy as np

from .. import _dtype as D
from ._api import Tensor, apply, as_tensor_arg, inplace, register_method, state, wrap_dim, write_out
from .registry import OpKind, composite, defop, nondiff

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
            from .creation import tensor
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
            if a.size:
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
        if not self._data.flags.writeable:
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


# ----------------------------------------------------------------------------------------------
# gather / scatter / scatter_add
# ----------------------------------------------------------------------------------------------

def _check_index(op, input, dim, index, src=None) -> int:
    """Validate a gather/scatter index (dtype, rank, sizes) and return the wrapped dim."""
    if not isinstance(index, Tensor):
        raise TypeError(f"{op}(): argument 'index' must be Tensor, not {type(index).__name__}")
    if index.dtype not in (D.int64, D.int32):
        raise RuntimeError(f"{op}(): Expected dtype int64 for index, got {index.dtype.name}")
    d = wrap_dim(dim, input.ndim, op)
    nd = builtins.max(input.ndim, 1)
    if builtins.max(index.ndim, 1) != nd and index.numel():
        raise RuntimeError(f"{op}(): Index tensor must have the same number of dimensions as "
                           f"input tensor (index shape {list(index.shape)}, input shape "
                           f"{list(input.shape)})")
    ishape = tuple(index.shape) or (1,)
    xshape = tuple(input.shape) or (1,)
    if index.numel():
        too_big = any(i > x for j, (i, x) in enumerate(zip(ishape, xshape)) if j != d)
        sshape = None
        if isinstance(src, Tensor):
            sshape = tuple(src.shape) or (1,)
            too_big = too_big or len(sshape) != len(ishape) or \
                any(i > s for i, s in zip(ishape, sshape))
        if too_big:
            srcpart = f" and to be no larger size than src {list(sshape)}" if sshape else ""
            raise RuntimeError(
                f"{op}(): Expected index {list(ishape)} to be no larger than self {list(xshape)} "
                f"apart from dimension {d}{srcpart}")
    return d


def _bounds(xp, index, n, dim, op):
    if index.size:
        lo, hi = int(index.min()), int(index.max())
        if lo < 0 or hi >= n:
            raise RuntimeError(f"{op}(): index {lo if lo < 0 else hi} is out of bounds for "
                               f"dimension {dim} with size {n}")


def _full_index(xp, index, dim):
    """A gather/scatter index along `dim` as a full advanced-indexing tuple."""
    nd = index.ndim
    grids = [xp.arange(n).reshape((1,) * d + (n,) + (1,) * (nd - d - 1))
             for d, n in enumerate(index.shape)]
    grids[dim] = index.astype(xp.int64, copy=False)
    return tuple(grids)


def _leading_block(a, shape):
    """The leading `shape` block of `a` (gather/scatter use only that much of src)."""
    if tuple(a.shape) == tuple(shape):
        return a
    return a[tuple(slice(0, s) for s in shape)]


def _as_1d(xp, *arrays):
    return tuple(a.reshape(1) if a.ndim == 0 else a for a in arrays)


@defop("gather", INDEX, dtype_rule="none", save=("inputs[1:]",),
       doc="out[i][j] = x[index[i][j]][j] along dim")
def gather_op(xp, x, index, dim):
    shape0 = index.shape
    x, index = _as_1d(xp, x, index)
    _bounds(xp, index, x.shape[dim], dim, "gather")
    if x.ndim == 1:  # max pooling gathers from a flat image: take skips the index tuple
        return x.take(index).reshape(shape0)
    block = tuple(slice(None) if d == dim else slice(0, s) for d, s in enumerate(index.shape))
    return x[block][_full_index(xp, index, dim)].reshape(shape0)


@gather_op.def_grad
def _(ctx, g):
    from .creation import zeros
    shape, dt = ctx.in_meta[0]
    z = zeros(shape, dtype=dt, device=g.device)
    return apply(scatter_add_op, z, ctx.inputs[1], g, dim=ctx.attrs["dim"]), None


def _scatter_grads(ctx, g):
    """The gradient for src of scatter/scatter_add: g gathered at index, padded to src's shape."""
    index = ctx.inputs[1]
    gs = apply(gather_op, g, index, dim=ctx.attrs["dim"])
    meta = ctx.in_meta[2]
    if meta is None:
        return None
    sshape, dt = meta
    if tuple(sshape) != tuple(gs.shape):
        from .creation import zeros
        block = tuple(slice(0, s) for s in gs.shape)
        gs = apply(index_put_op, zeros(sshape, dtype=dt, device=g.device), gs, key=block,
                   accumulate=False)
    return gs


@defop("scatter_add", INDEX, dtype_rule="none", save=("inputs[1:]",),
       doc="a copy of x with src added at index along dim (duplicates add up)")
def scatter_add_op(xp, x, index, src, dim):
    out = x.copy()
    shape0 = out.shape
    out, index = _as_1d(xp, out, index)
    _bounds(xp, index, out.shape[dim], dim, "scatter_add")
    src = src.reshape(1) if src.ndim == 0 else src
    src = _leading_block(src, index.shape).astype(out.dtype, copy=False)
    if xp is np:
        # 1-D (max pooling's gradient): the index itself, not a one-element index tuple, keeps
        # numpy's fast ufunc.at path for a single integer array.
        np.add.at(out, index if out.ndim == 1 else _full_index(xp, index, dim), src)
    else:
        _scatter_add_cupy(out, _full_index(xp, index, dim), src)
    return out.reshape(shape0)


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


@scatter_add_op.def_grad
def _(ctx, g):
    return g, None, _scatter_grads(ctx, g)


@defop("scatter", INDEX, dtype_rule="none", save=("inputs[1:]",),
       doc="a copy of x with src (tensor or number) written at index along dim")
def scatter_op(xp, x, index, src, dim):
    out = x.copy()
    shape0 = out.shape
    out, index = _as_1d(xp, out, index)
    _bounds(xp, index, out.shape[dim], dim, "scatter")
    if getattr(src, "ndim", None) is not None:
        src = src.reshape(1) if src.ndim == 0 else src
        src = _leading_block(src, index.shape).astype(out.dtype, copy=False)
    out[_full_index(xp, index, dim)] = src
    return out.reshape(shape0)


@scatter_op.def_grad
def _(ctx, g):
    gx = apply(scatter_op, g, ctx.inputs[1], 0.0, dim=ctx.attrs["dim"])
    return gx, None, _scatter_grads(ctx, g)


def gather(input: Tensor, dim: int, index: Tensor, *, sparse_grad: bool = False,
           out=None) -> Tensor:
    """Pick values along `dim`: `out[i][j] = input[index[i][j]][j]` for dim=0.

    Args:
        input: the source tensor.
        dim: the dimension to index along.
        index: an int64 tensor with input's number of dimensions; out has its shape.

    Example:
        >>> dyngraph.gather(dyngraph.tensor([[1, 2], [3, 4]]), 1, dyngraph.tensor([[0, 0], [1, 0]]))
        tensor([[1, 1],
                [4, 3]])
    """
    d = _check_index("gather", input, dim, index)
    return write_out(apply(gather_op, input, index, dim=d), out, "gather")


Tensor.gather = gather


def scatter_add(input: Tensor, dim: int, index: Tensor, src: Tensor, *, out=None) -> Tensor:
    """Out of place: add `src` into a copy of `input` at `index` along `dim` (duplicates sum).

    Example:
        >>> dyngraph.zeros(3).scatter_add(0, dyngraph.tensor([0, 0, 2]), dyngraph.ones(3))
        tensor([2., 0., 1.])
    """
    src = as_tensor_arg(src, input)
    d = _check_index("scatter_add", input, dim, index, src)
    return write_out(apply(scatter_add_op, input, index, src, dim=d), out, "scatter_add")


def scatter(input: Tensor, dim: int, index: Tensor, src=None, *, value=None, reduce=None,
            out=None) -> Tensor:
    """Out of place: write `src` (a tensor) or `value` (a number) at `index` along `dim`.

    `out[index[i][j]][j] = src[i][j]` for dim=0. With repeated indices the value written is
    one of the candidates (unspecified, as in PyTorch). `reduce='add'` is `scatter_add`.

    Example:
        >>> dyngraph.zeros(2, 3).scatter(1, dyngraph.tensor([[2], [0]]), 5.0)
        tensor([[0., 0., 5.],
                [5., 0., 0.]])
    """
    if src is None:
        if value is None:
            raise TypeError("scatter(): expected a `src` tensor or a `value` number")
        src = value
    elif value is not None:
        raise TypeError("scatter(): give either `src` or `value`, not both")
    if reduce is not None:
        if reduce != "add":
            raise NotImplementedError(f"scatter(): reduce={reduce!r} is not supported; use "
                                      "reduce='add' (scatter_add) or reduce=None")
        if not isinstance(src, Tensor):
            src = _full_like_index(input, index, src)
        return scatter_add(input, dim, index, src, out=out)
    if not isinstance(src, (Tensor, int, float, bool)):
        src = as_tensor_arg(src, input)
    if isinstance(src, Tensor) and src.device != input.device:
        raise RuntimeError(f"scatter(): src is on {src.device} but input is on {input.device}")
    d = _check_index("scatter", input, dim, index, src)
    return write_out(apply(scatter_op, input, index, src, dim=d), out, "scatter")


def _full_like_index(input, index, value):
    from .creation import full
    return full(tuple(index.shape), value, dtype=input.dtype, device=input.device)


@register_method("scatter")
def _scatter_method(self, dim, index, src=None, *, value=None, reduce=None):
    """`scatter` as a method."""
    return scatter(self, dim, index, src, value=value, reduce=reduce)


@register_method("scatter_")
def scatter_(self, dim, index, src=None, *, value=None, reduce=None) -> Tensor:
    """In-place `scatter`."""
    if isinstance(src, Tensor):
        return inplace(lambda t, s: scatter(t, dim, index, s, reduce=reduce), self, src,
                       opname="scatter_")
    return inplace(lambda t: scatter(t, dim, index, src, value=value, reduce=reduce), self,
                   opname="scatter_")


Tensor.scatter_add = scatter_add


@register_method("scatter_add_")
def scatter_add_(self, dim, index, src) -> Tensor:
    """In-place `scatter_add`."""
    return inplace(lambda t, s: scatter_add(t, dim, index, s), self, as_tensor_arg(src, self),
                   opname="scatter_add_")


@composite("take_along_dim", "broadcast + gather")
def take_along_dim(input: Tensor, indices: Tensor, dim: int | None = None, *,
                   out=None) -> Tensor:
    """Gather along `dim` with `indices` broadcast against `input` (flattened when dim is None).

    Example:
        >>> x = dyngraph.tensor([[10, 30, 20], [60, 40, 50]])
        >>> dyngraph.take_along_dim(x, x.argmax(1, keepdim=True), 1)
        tensor([[30],
                [60]])
    """
    if dim is None:
        return write_out(gather(input.reshape(-1), 0, indices.reshape(-1)), out, "take_along_dim")
    if input.ndim != indices.ndim:
        raise RuntimeError(f"take_along_dim(): input and indices should have the same number of "
                           f"dimensions, but got {input.ndim} dimensions for input, and "
                           f"{indices.ndim} dimensions for indices")
    d = wrap_dim(dim, input.ndim, "take_along_dim")
    from .shape import broadcast_shapes
    xs, ishp = list(input.shape), list(indices.shape)
    xs[d] = ishp[d] = 1
    try:
        common = list(broadcast_shapes(xs, ishp))
    except RuntimeError:
        raise RuntimeError(f"take_along_dim(): input shape {list(input.shape)} and indices shape "
                           f"{list(indices.shape)} do not broadcast apart from dimension {d}"
                           ) from None
    xs, ishp = list(common), list(common)
    xs[d], ishp[d] = input.shape[d], indices.shape[d]
    x = input.expand(*xs) if tuple(xs) != tuple(input.shape) else input
    i = indices.expand(*ishp) if tuple(ishp) != tuple(indices.shape) else indices
    return write_out(gather(x, d, i), out, "take_along_dim")


Tensor.take_along_dim = take_along_dim


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
    from .creation import tensor
    if repeats is None:  # repeat_interleave(counts): indices repeated by the counts
        counts = np.asarray(input.detach().cpu()._data)
        if counts.ndim != 1 or counts.dtype.kind not in "iu":
            raise RuntimeError("repeat_interleave: repeats must be a 1-D integer tensor")
        return tensor(np.repeat(np.arange(len(counts)), counts), device=input.device)
    x = input.reshape(-1) if dim is None else input
    d = 0 if dim is None else wrap_dim(dim, x.ndim, "repeat_interleave")
    n = x.shape[d] if x.ndim else 1
    if isinstance(repeats, Tensor):
        reps = np.asarray(repeats.detach().cpu()._data)
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


@composite("index_add", "index_put(accumulate=True) with an index tensor at dim")
def index_add(input: Tensor, dim: int, index: Tensor, source: Tensor, *, alpha=1,
              out=None) -> Tensor:
    """Out of place: add `alpha * source` into `input` at positions `index` along `dim`.

    Repeated indices add up. `source` has input's shape except `len(index)` at `dim`.

    Example:
        >>> dyngraph.zeros(3).index_add(0, dyngraph.tensor([0, 0]), dyngraph.tensor([1., 2.]))
        tensor([3., 0., 0.])
    """
    index = _check_vector_index("index_add", index)
    source = as_tensor_arg(source, input)
    d = wrap_dim(dim, input.ndim, "index_add")
    _index_source_check("index_add", input, d, index, source)
    if alpha != 1:
        source = source * alpha
    x = input.reshape(1) if input.ndim == 0 else input
    s = source.reshape(1) if source.ndim == 0 else source
    r = apply(index_put_op, x, s, index, key=_dim_key(d), accumulate=True)
    return write_out(r.reshape(()) if input.ndim == 0 else r, out, "index_add")


Tensor.index_add = index_add


@register_method("index_add_")
def index_add_(self, dim, index, source, *, alpha=1) -> Tensor:
    """In-place `index_add`."""
    return inplace(lambda t, s: index_add(t, dim, index, s, alpha=alpha), self,
                   as_tensor_arg(source, self), opname="index_add_")


@composite("index_copy", "index_put with an index tensor at dim")
def index_copy(input: Tensor, dim: int, index: Tensor, source: Tensor) -> Tensor:
    """Out of place: copy the slices of `source` into `input` at positions `index` along `dim`."""
    index = _check_vector_index("index_copy", index)
    source = as_tensor_arg(source, input)
    d = wrap_dim(dim, input.ndim, "index_copy")
    _index_source_check("index_copy", input, d, index, source)
    x = input.reshape(1) if input.ndim == 0 else input
    s = source.reshape(1) if source.ndim == 0 else source
    r = apply(index_put_op, x, s, index, key=_dim_key(d), accumulate=False)
    return r.reshape(()) if input.ndim == 0 else r


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
    from .creation import full
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
    from .elementwise import where
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
    from .shape import broadcast_tensors
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
