"""Movement primitives: reshape, permute, expand, sum_to_size, indexing, cat, copies, devices.

View ops (reshape when possible, permute, expand, basic indexing) return tensors that share memory
and the version counter with their input, as in PyTorch.
"""

from __future__ import annotations

import builtins

import numpy as np

from .. import _dtype as D
from .._device import device as _device_cls
from .._device import to_device_array
from ._api import Tensor, apply, as_tensor_arg, inplace, normalize_dims, register_method, wrap_dim
from .registry import OpKind, defop

MOVEMENT, INDEX, REDUCE = OpKind.MOVEMENT, OpKind.INDEX, OpKind.REDUCE


def broadcast_error(opname: str, shapes) -> str | None:
    """PyTorch's broadcast error message for `shapes`, or None if they broadcast."""
    nd = builtins.max(len(s) for s in shapes)
    for i in range(1, nd + 1):
        sizes = [s[-i] for s in shapes if len(s) >= i]
        non1 = {x for x in sizes if x != 1}
        if len(non1) > 1:
            a, b = sorted(non1)[:2]
            return (f"{opname}: the size of tensor a ({a}) must match the size of tensor b ({b}) "
                    f"at non-singleton dimension {nd - i}; shapes {', '.join(str(tuple(s)) for s in shapes)} "
                    "cannot be broadcast (insert a dimension with unsqueeze or use expand)")
    return None


# ----------------------------------------------------------------------------------------------
# reshape / permute / expand / sum_to_size
# ----------------------------------------------------------------------------------------------

@defop("reshape", MOVEMENT, dtype_rule="none", is_view=True)
def reshape_op(xp, x, shape):
    return x.reshape(shape)


@reshape_op.def_grad
def _(ctx, g):
    return (g.reshape(ctx.input_shape(0)),)


@defop("permute", MOVEMENT, dtype_rule="none", is_view=True)
def permute_op(xp, x, dims):
    return x.transpose(dims)


@permute_op.def_grad
def _(ctx, g):
    dims = ctx.attrs["dims"]
    inv = [0] * len(dims)
    for i, d in enumerate(dims):
        inv[d] = i
    return (g.permute(*inv),)


@defop("expand", MOVEMENT, dtype_rule="none", is_view=True)
def expand_op(xp, x, shape):
    return xp.broadcast_to(x, shape)


@expand_op.def_grad
def _(ctx, g):
    return (g,)  # the engine sums g down to the input's shape


@defop("sum_to_size", REDUCE, dtype_rule="none")
def sum_to_size_op(xp, x, shape):
    lead = x.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(
        lead + i for i, s in enumerate(shape) if s == 1 and x.shape[lead + i] != 1)
    out = x.sum(axis=axes, keepdims=True, dtype=x.dtype) if axes else x
    return out.reshape(shape)


@sum_to_size_op.def_grad
def _(ctx, g):
    return (g.expand(*ctx.input_shape(0)),)


def _infer_shape(shape, numel: int, op: str, in_shape) -> tuple[int, ...]:
    shape = list(shape)
    neg = [i for i, s in enumerate(shape) if s == -1]
    if len(neg) > 1:
        raise RuntimeError(f"{op}: only one dimension can be inferred (-1), got {tuple(shape)}")
    known = 1
    for s in shape:
        if s != -1:
            if s < 0:
                raise RuntimeError(f"{op}: invalid shape dimension {s}")
            known *= s
    if neg:
        if known == 0 or numel % known:
            raise RuntimeError(f"{op}: shape '{list(shape)}' is invalid for input of size {numel} "
                               f"(input shape {tuple(in_shape)})")
        shape[neg[0]] = numel // known
    elif known != numel:
        raise RuntimeError(f"{op}: shape '{list(shape)}' is invalid for input of size {numel} "
                           f"(input shape {tuple(in_shape)})")
    return tuple(shape)


def _sizes(shape):
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = shape[0]
    return tuple(int(s) for s in shape)


def reshape(input: Tensor, shape) -> Tensor:
    """The same elements in a new shape (one dimension may be -1); a view when possible."""
    shape = _infer_shape(_sizes((shape,)), input.numel(), "reshape", input.shape)
    if shape == input._data.shape:
        return apply(reshape_op, input, shape=shape) if input._rg else _alias(input)
    return apply(reshape_op, input, shape=shape)


def _alias(t: Tensor) -> Tensor:
    from .._tensor import _wrap
    r = _wrap(t._data)
    r._vc = t._vc
    r._base = t._base if t._base is not None else t
    return r


@register_method("reshape")
def _reshape_method(self, *shape):
    return reshape(self, _sizes(shape))


@register_method("view")
def view(self, *shape):
    """A view with a new shape; fails (as PyTorch does) when the memory layout does not allow it."""
    if len(shape) == 1 and isinstance(shape[0], D.dtype):
        raise NotImplementedError("view(dtype) is not supported; use .to(dtype)")
    shape = _infer_shape(_sizes(shape), self.numel(), "view", self.shape)
    if not self._data.flags.c_contiguous and self._data.size > 1:
        try:
            v = self._data.view()
            v.shape = shape
        except AttributeError:
            raise RuntimeError(
                "view size is not compatible with input tensor's size and stride (at least one "
                "dimension spans across two contiguous subspaces). Use .reshape(...) instead."
            ) from None
    return apply(reshape_op, self, shape=shape)


@register_method("view_as")
def _view_as(self, other):
    return view(self, *other.shape)


@register_method("reshape_as")
def _reshape_as(self, other):
    return reshape(self, tuple(other.shape))


def permute(input: Tensor, dims) -> Tensor:
    """Reorder dimensions (a view)."""
    dims = tuple(dims)
    nd = input.ndim
    if len(dims) != nd:
        raise RuntimeError(f"permute(sparse_coo): number of dimensions in the tensor input does not "
                           f"match the length of the desired ordering of dimensions i.e. input.dim() "
                           f"= {nd} is not equal to len(dims) = {len(dims)}")
    dims = tuple(wrap_dim(d, nd, "permute") for d in dims)
    if len(set(dims)) != nd:
        raise RuntimeError(f"permute: repeated dim in {dims}")
    return apply(permute_op, input, dims=dims)


@register_method("permute")
def _permute_method(self, *dims):
    if len(dims) == 1 and isinstance(dims[0], (tuple, list)):
        dims = dims[0]
    return permute(self, dims)


def transpose(input: Tensor, dim0: int, dim1: int) -> Tensor:
    """Swap two dimensions (a view)."""
    nd = input.ndim
    if nd == 0:
        return input
    d0, d1 = wrap_dim(dim0, nd, "transpose"), wrap_dim(dim1, nd, "transpose")
    dims = list(range(nd))
    dims[d0], dims[d1] = dims[d1], dims[d0]
    return apply(permute_op, input, dims=tuple(dims))


swapaxes = swapdims = transpose
Tensor.transpose = transpose
Tensor.swapaxes = Tensor.swapdims = transpose


def t(input: Tensor) -> Tensor:
    """Transpose a matrix (0-d and 1-d tensors are returned as they are)."""
    if input.ndim > 2:
        raise RuntimeError(f"t() expects a tensor with <= 2 dimensions, but self is {input.ndim}D")
    return transpose(input, 0, 1) if input.ndim == 2 else input


Tensor.t = t
Tensor.T = property(lambda self: permute(self, tuple(range(self.ndim - 1, -1, -1))))
Tensor.mT = property(lambda self: transpose(self, -2, -1))
Tensor.H = Tensor.T


def expand(input: Tensor, *sizes) -> Tensor:
    """Broadcast to a larger size without copying (-1 keeps a size)."""
    sizes = _sizes(sizes)
    nd = input.ndim
    if len(sizes) < nd:
        raise RuntimeError(
            f"expand: the number of sizes provided ({len(sizes)}) must be greater or equal to the "
            f"number of dimensions in the tensor ({nd})")
    shape = list(sizes)
    lead = len(sizes) - nd
    for i, s in enumerate(input.shape):
        want = sizes[lead + i]
        if want == -1:
            shape[lead + i] = s
        elif s != 1 and s != want:
            raise RuntimeError(
                f"expand: the expanded size of the tensor ({want}) must match the existing size "
                f"({s}) at non-singleton dimension {lead + i}. Target sizes: {list(sizes)}. "
                f"Tensor sizes: {list(input.shape)}")
    for i in range(lead):
        if shape[i] < 0:
            raise RuntimeError(f"expand: the expanded size {shape[i]} is not allowed in a leading, "
                               "non-existing dimension")
    shape = tuple(shape)
    if shape == input._data.shape:
        return input
    return apply(expand_op, input, shape=shape)


Tensor.expand = expand
Tensor.expand_as = lambda self, other: expand(self, *other.shape)


def broadcast_to(input: Tensor, size) -> Tensor:
    return expand(input, *size)


Tensor.broadcast_to = broadcast_to


def broadcast_tensors(*tensors):
    """Expand all tensors to their common broadcast shape."""
    shape = broadcast_shapes(*(t.shape for t in tensors))
    return tuple(expand(t, *shape) for t in tensors)


def broadcast_shapes(*shapes):
    try:
        return tuple(np.broadcast_shapes(*(tuple(s) for s in shapes)))
    except ValueError:
        raise RuntimeError(broadcast_error("broadcast_shapes", [tuple(s) for s in shapes])) from None


def sum_to_size(input: Tensor, *size) -> Tensor:
    """Sum `input` down to `size`, which it must broadcast from."""
    size = _sizes(size)
    if tuple(input.shape) == size:
        return input
    return apply(sum_to_size_op, input, shape=size)


Tensor.sum_to_size = sum_to_size


def flatten(input: Tensor, start_dim: int = 0, end_dim: int = -1) -> Tensor:
    """Merge dimensions start_dim..end_dim into one."""
    nd = input.ndim
    if nd == 0:
        return reshape(input, (1,))
    s, e = wrap_dim(start_dim, nd, "flatten"), wrap_dim(end_dim, nd, "flatten")
    if s > e:
        raise RuntimeError("flatten() has invalid args: start_dim cannot come after end_dim")
    shp = input.shape
    n = 1
    for d in shp[s:e + 1]:
        n *= d
    return reshape(input, tuple(shp[:s]) + (n,) + tuple(shp[e + 1:]))


Tensor.flatten = flatten


def unflatten(input: Tensor, dim: int, sizes) -> Tensor:
    """Split dimension `dim` into `sizes` (one may be -1)."""
    d = wrap_dim(dim, input.ndim, "unflatten")
    sizes = _infer_shape(tuple(sizes), input.shape[d], "unflatten", input.shape)
    return reshape(input, tuple(input.shape[:d]) + sizes + tuple(input.shape[d + 1:]))


Tensor.unflatten = unflatten


def squeeze(input: Tensor, dim=None) -> Tensor:
    """Remove size-1 dimensions (all, or those in `dim`)."""
    shp = input.shape
    if dim is None:
        new = tuple(s for s in shp if s != 1)
    else:
        dims = normalize_dims(dim, input.ndim, "squeeze")
        new = tuple(s for i, s in enumerate(shp) if not (i in dims and s == 1))
    if new == tuple(shp):
        return _alias(input) if not input._rg else apply(reshape_op, input, shape=new)
    return apply(reshape_op, input, shape=new)


@register_method("squeeze")
def _squeeze_method(self, dim=None):
    return squeeze(self, dim)


def unsqueeze(input: Tensor, dim: int) -> Tensor:
    """Insert a size-1 dimension at `dim`."""
    d = wrap_dim(dim, input.ndim + 1, "unsqueeze")
    shp = tuple(input.shape)
    return apply(reshape_op, input, shape=shp[:d] + (1,) + shp[d:])


Tensor.unsqueeze = unsqueeze


def _inplace_view(name, fn):
    def method_(self, *args):
        r = fn(self, *args)
        self._data = r._data
        return self
    method_.__name__ = name
    setattr(Tensor, name, method_)


_inplace_view("unsqueeze_", unsqueeze)
_inplace_view("squeeze_", squeeze)
_inplace_view("t_", t)
_inplace_view("transpose_", transpose)


def movedim(input: Tensor, source, destination) -> Tensor:
    """Move dimensions `source` to positions `destination`."""
    src = (source,) if isinstance(source, int) else tuple(source)
    dst = (destination,) if isinstance(destination, int) else tuple(destination)
    nd = input.ndim
    src = [wrap_dim(s, nd, "movedim") for s in src]
    dst = [wrap_dim(s, nd, "movedim") for s in dst]
    order = [i for i in range(nd) if i not in src]
    for d, s in sorted(zip(dst, src)):
        order.insert(d, s)
    return permute(input, order)


moveaxis = movedim
Tensor.movedim = Tensor.moveaxis = movedim


# ----------------------------------------------------------------------------------------------
# copies and devices
# ----------------------------------------------------------------------------------------------

@defop("copy", MOVEMENT, dtype_rule="none")
def copy_op(xp, x):
    return xp.array(x, copy=True, order="C")


@copy_op.def_grad
def _(ctx, g):
    return (g,)


def clone(input: Tensor, *, memory_format=None) -> Tensor:
    """A copy with its own memory (differentiable)."""
    return apply(copy_op, input)


Tensor.clone = clone


def contiguous(self, memory_format=None) -> Tensor:
    """self if already C-contiguous, else a contiguous copy."""
    if self._data.flags.c_contiguous:
        return self
    return apply(copy_op, self)


Tensor.contiguous = contiguous


@defop("to_device", MOVEMENT, dtype_rule="none")
def to_device_op(xp, x, device):
    return to_device_array(x, device)


@to_device_op.def_grad
def _(ctx, g):
    return (to_device(g, ctx.attrs["src"]),)


def to_device(input: Tensor, device) -> Tensor:
    """Copy to another device (differentiable)."""
    dev = device if isinstance(device, _device_cls) else _device_cls(device)
    if dev.type == "cuda" and dev.index is None:
        dev = _device_cls("cuda", 0)
    if dev == input.device:
        return input
    return apply(to_device_op, input, device=dev, src=input.device)


@register_method("copy_")
def copy_(self, src, non_blocking: bool = False) -> Tensor:
    """Copy the values of `src` (broadcast, cast and moved as needed) into self."""
    src = as_tensor_arg(src, self)

    def _copy(t, s):
        s = s.to(device=t.device) if s.device != t.device else s
        s = s.to(t.dtype) if s.dtype is not t.dtype else s
        return expand(s, *t.shape) + t * 0 if s.shape != t.shape else s + t * 0
    if not (self._rg or src._rg):
        if src.device != self.device:
            src = src.to(self.device)
        self._data[...] = src._data.astype(self._data.dtype, copy=False)
        self._vc[0] += 1
        return self
    return inplace(lambda t, s: _copy_node(t, s), self, src, opname="copy_")


def _copy_node(t, s):
    s = s.to(device=t.device) if s.device != t.device else s
    s = s.to(t.dtype) if s.dtype is not t.dtype else s
    if tuple(s.shape) != tuple(t.shape):
        s = expand(s, *t.shape)
    return apply(copy_op, s)


# ----------------------------------------------------------------------------------------------
# indexing
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


def split_key(key, like: Tensor):
    """Split an index into a static key (with TensorSlots) and the tensors it uses."""
    if not isinstance(key, tuple):
        key = (key,)
    static, tensors = [], []
    for k in key:
        if isinstance(k, Tensor):
            if k.dtype.is_floating_point:
                raise IndexError("tensors used as indices must be long, int, byte or bool tensors")
            static.append(TensorSlot(len(tensors)))
            tensors.append(k)
        elif isinstance(k, (list, np.ndarray)):
            tk = as_tensor_arg(k, like)
            if tk.dtype.is_floating_point:
                if tk.numel() == 0:
                    tk = tk.long()
                else:
                    raise IndexError("tensors used as indices must be long, int, byte or bool "
                                     "tensors")
            static.append(TensorSlot(len(tensors)))
            tensors.append(tk)
        elif isinstance(k, (bool, np.bool_)):
            from .creation import tensor
            static.append(TensorSlot(len(tensors)))
            tensors.append(tensor(bool(k), device=like.device))
        elif isinstance(k, (int, np.integer)):
            static.append(int(k))
        elif k is None or k is Ellipsis or isinstance(k, slice):
            if isinstance(k, slice):
                k = slice(*(_int_or_none(v) for v in (k.start, k.stop, k.step)))
                if k.step is not None and k.step <= 0:
                    raise ValueError("step must be greater than zero")
            static.append(k)
        else:
            raise IndexError(f"index {k!r} of type {type(k).__name__} is not supported; use ints, "
                             "slices, None, ..., or integer/bool tensors")
    return tuple(static), tensors


def _int_or_none(v):
    if v is None:
        return None
    if isinstance(v, Tensor):
        return int(v)
    return int(v)


def _build_key(static, arrays):
    return tuple(arrays[k.i] if isinstance(k, TensorSlot) else k for k in static)


def _check_bounds(xp, x, static, arrays, op):
    """Clear IndexError for out-of-range ints (numpy's message lacks the op and shape)."""
    dim = 0
    n_ell = sum(1 for k in static if k is Ellipsis)
    n_real = sum(1 for k in static if k is not None and k is not Ellipsis)
    for k in static:
        if k is Ellipsis:
            dim += x.ndim - (n_real - 0) if n_ell else 0
            continue
        if k is None:
            continue
        if dim >= x.ndim:
            raise IndexError(f"{op}: too many indices for tensor of dimension {x.ndim}")
        if isinstance(k, int):
            size = x.shape[dim]
            if not -size <= k < size:
                raise IndexError(f"{op}: index {k} is out of bounds for dimension {dim} with size "
                                 f"{size}")
        if isinstance(k, TensorSlot):
            a = arrays[k.i]
            if a.dtype == np.bool_:
                dim += builtins.max(a.ndim, 1) if a.ndim else 0
                continue
            size = x.shape[dim]
            if a.size and (int(a.max()) >= size or int(a.min()) < -size):
                bad = int(a.max()) if int(a.max()) >= size else int(a.min())
                raise IndexError(f"{op}: index {bad} is out of bounds for dimension {dim} with "
                                 f"size {size}")
        dim += 1


@defop("getitem", INDEX, dtype_rule="none", is_view=True, save=("inputs[1:]",))
def getitem_op(xp, x, *index_arrays, key):
    if index_arrays:
        _check_bounds(xp, x, key, index_arrays, "index")
    try:
        return x[_build_key(key, index_arrays)]
    except IndexError as e:
        _check_bounds(xp, x, key, index_arrays, "index")
        raise IndexError(f"index: {e} (tensor shape {tuple(x.shape)})") from None


@getitem_op.def_grad
def _(ctx, g):
    from .creation import zeros
    shape, dt = ctx.in_meta[0]
    z = zeros(shape, dtype=dt, device=g.device)
    idx = ctx.inputs[1:]
    return (apply(index_put_op, z, g, *idx, key=ctx.attrs["key"], accumulate=True),) + \
        (None,) * len(idx)


@defop("index_put", INDEX, dtype_rule="none", save=("inputs[2:]",))
def index_put_op(xp, x, v, *index_arrays, key, accumulate):
    out = x.copy()
    k = _build_key(key, index_arrays)
    if getattr(v, "dtype", None) is not None and v.dtype != x.dtype:
        v = v.astype(x.dtype)
    if accumulate:
        if xp is np:
            np.add.at(out, k, v)
        else:
            import cupyx
            cupyx.scatter_add(out, k, v)
    else:
        out[k] = v
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
    if not tensors and static and all(isinstance(k, slice) and k == slice(None) for k in static):
        return _alias(self) if not self._rg else apply(getitem_op, self, key=static)
    return apply(getitem_op, self, *tensors, key=static)


def _setitem(self, key, value):
    static, tensors = split_key(key, self)
    if isinstance(value, Tensor):
        v = value
    elif isinstance(value, (int, float, bool)):
        v = value
    else:
        v = as_tensor_arg(value, self)
    if not self._rg and not (isinstance(v, Tensor) and v._rg):
        from .._dispatch import state
        if state.tracer is None:
            if not self._data.flags.writeable:
                raise RuntimeError("unsupported operation: the tensor is a broadcast (expanded) "
                                   "view; call .clone() before writing to it")
            arrays = [t._data for t in tensors]
            if arrays:
                _check_bounds(None, self._data, static, arrays, "index_put_")
            vd = v._data if isinstance(v, Tensor) else v
            if isinstance(v, Tensor) and v.device != self.device:
                raise RuntimeError(f"index_put_: value is on {v.device} but the tensor is on "
                                   f"{self.device}")
            try:
                self._data[_build_key(static, arrays)] = vd
            except ValueError as e:
                raise RuntimeError(f"index_put_: {e} (tensor shape {tuple(self.shape)}, value "
                                   f"shape {tuple(getattr(v, 'shape', ()))})") from None
            self._vc[0] += 1
            return
    inplace(lambda t, val, *idx: apply(index_put_op, t, val, *idx, key=static, accumulate=False),
            self, v, *tensors, opname="index_put_")


Tensor.__getitem__ = _getitem
Tensor.__setitem__ = _setitem


def index_put(input: Tensor, indices, values, accumulate: bool = False) -> Tensor:
    """Out-of-place `input[indices] = values` (or `+=` with accumulate=True)."""
    static, tensors = split_key(tuple(indices), input)
    return apply(index_put_op, input, values, *tensors, key=static, accumulate=accumulate)


@register_method("index_put_")
def index_put_(self, indices, values, accumulate: bool = False):
    return inplace(lambda t, v: index_put(t, indices, v, accumulate), self, values,
                   opname="index_put_")


Tensor.index_put = index_put


# ----------------------------------------------------------------------------------------------
# cat
# ----------------------------------------------------------------------------------------------

@defop("cat", MOVEMENT)
def cat_op(xp, *xs, dim):
    return xp.concatenate(xs, axis=dim)


@cat_op.def_grad
def _(ctx, g):
    dim = ctx.attrs["dim"]
    out, start = [], 0
    for shape, _ in ctx.in_meta:
        n = shape[dim]
        key = (slice(None),) * dim + (slice(start, start + n),)
        out.append(g[key])
        start += n
    return tuple(out)


def cat(tensors, dim: int = 0, *, out=None) -> Tensor:
    """Concatenate tensors along an existing dimension."""
    tensors = list(tensors)
    if not tensors:
        raise RuntimeError("cat(): expected a non-empty list of Tensors")
    # PyTorch skips 1-D empty tensors (legacy behaviour).
    kept = [x for x in tensors if not (x.ndim == 1 and x.shape[0] == 0)] or tensors[:1]
    ref = kept[0]
    d = wrap_dim(dim, ref.ndim, "cat")
    for i, x in enumerate(kept):
        if x.ndim != ref.ndim:
            raise RuntimeError(f"cat(): tensors must have same number of dimensions: got "
                               f"{ref.ndim} and {x.ndim}")
        for j in range(ref.ndim):
            if j != d and x.shape[j] != ref.shape[j]:
                raise RuntimeError(
                    f"cat(): sizes of tensors must match except in dimension {d}. Expected size "
                    f"{ref.shape[j]} but got size {x.shape[j]} for tensor number {i} in the list.")
    from ._api import write_out
    return write_out(apply(cat_op, *kept, dim=d), out, "cat")


concat = concatenate = cat


def stack(tensors, dim: int = 0, *, out=None) -> Tensor:
    """Join tensors of equal shape along a new dimension."""
    tensors = list(tensors)
    if not tensors:
        raise RuntimeError("stack expects a non-empty TensorList")
    s0 = tensors[0].shape
    for i, x in enumerate(tensors):
        if x.shape != s0:
            raise RuntimeError(f"stack expects each tensor to be equal size, but got {list(s0)} at "
                               f"entry 0 and {list(x.shape)} at entry {i}")
    d = wrap_dim(dim, len(s0) + 1, "stack")
    return cat([unsqueeze(x, d) for x in tensors], d, out=out)


__all__ = [_n for _n, _v in list(globals().items())
           if not _n.startswith("_") and callable(_v) and getattr(_v, "__module__", "") == __name__]
