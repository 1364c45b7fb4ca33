"""Movement ops: reshape, permute, expand, slicing views, joins and splits, flips, rolls,
triangles and diagonals, copies and devices.

View ops (reshape when the layout allows, permute, expand, basic indexing, narrow/select/split/
chunk/unbind, diagonal) return tensors that share memory and the version counter with their input,
as in PyTorch (`apply` links them for ops with `is_view=True`). Writing through a view of a tensor
that is part of an autograd graph is handled by `write_through_view`.
"""

from __future__ import annotations

import builtins
import math

import numpy as np

from .. import _dtype as D
from .._device import device as _device_cls
from .._device import to_device_array
from .._tensor import _wrap
from ._api import (Tensor, apply, as_tensor_arg, inplace, normalize_dims, register_method, state,
                   wrap_dim, write_out)
from .index import TensorSlot, getitem_op, index_put_op
from .registry import OpKind, composite, defop

MOVEMENT, REDUCE = OpKind.MOVEMENT, OpKind.REDUCE


def broadcast_error(opname: str, shapes) -> str | None:
    """PyTorch's broadcast error message for `shapes`, or None if they broadcast."""
    nd = builtins.max(len(s) for s in shapes)
    for i in range(1, nd + 1):
        sizes = [s[-i] for s in shapes if len(s) >= i]
        non1 = list(dict.fromkeys(x for x in sizes if x != 1))  # operand order, as PyTorch
        if len(non1) > 1:
            a, b = non1[:2]
            listed = ", ".join(str(tuple(s)) for s in shapes)
            return (f"{opname}: the size of tensor a ({a}) must match the size of tensor b ({b}) "
                    f"at non-singleton dimension {nd - i}; shapes {listed} cannot be broadcast "
                    "(insert a dimension with unsqueeze or use expand)")
    return None


def _sizes(shape) -> tuple[int, ...]:
    """Sizes given as `f(2, 3)` or `f((2, 3))` as a tuple of ints."""
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = shape[0]
    return tuple(int(s) for s in shape)


def _var_sizes(args, kw, name: str, op: str) -> tuple[int, ...]:
    """Sizes given positionally (`f(2, 3)`, `f((2, 3))`) or as the keyword `name`."""
    if kw:
        if args or set(kw) != {name}:
            raise TypeError(f"{op}() got unexpected arguments {sorted(kw)}; pass the sizes "
                            f"positionally or as {name}=")
        args = (kw[name],)
    return _sizes(args)


def _alias(t: Tensor) -> Tensor:
    """A new tensor object viewing all of `t` (what PyTorch returns for no-op view calls)."""
    r = _wrap(t._data)
    r._vc = t._vc
    r._base = t._base if t._base is not None else t
    return r


def _view_or_alias(t: Tensor) -> Tensor:
    """A no-op view: an alias, or an identity reshape node when autograd records `t`."""
    if t._rg and state.grad_enabled:
        return apply(reshape_op, t, shape=tuple(t._data.shape))
    return _alias(t)


# ----------------------------------------------------------------------------------------------
# reshape / permute / expand / sum_to_size
# ----------------------------------------------------------------------------------------------

@defop("reshape", MOVEMENT, dtype_rule="none", is_view=True,
       doc="the same elements in a new shape (a view when the layout allows)")
def reshape_op(xp, x, shape):
    return x.reshape(shape)


@reshape_op.def_grad
def _(ctx, g):
    return (g.reshape(ctx.input_shape(0)),)


@defop("permute", MOVEMENT, dtype_rule="none", is_view=True, doc="reorder dimensions (a view)")
def permute_op(xp, x, dims):
    return x.transpose(dims)


@permute_op.def_grad
def _(ctx, g):
    dims = ctx.attrs["dims"]
    inv = [0] * len(dims)
    for i, d in enumerate(dims):
        inv[d] = i
    return (g.permute(*inv),)


@defop("expand", MOVEMENT, dtype_rule="none", is_view=True,
       doc="broadcast to a larger shape without copying (a read-only view)")
def expand_op(xp, x, shape):
    return xp.broadcast_to(x, shape)


@expand_op.def_grad
def _(ctx, g):
    return (g,)  # the engine sums g down to the input's shape


@defop("sum_to_size", REDUCE, dtype_rule="none", doc="sum down to a shape x broadcasts from")
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
                raise RuntimeError(f"{op}: invalid shape dimension {s} in {tuple(shape)}")
            known *= s
    if (neg and (known == 0 or numel % known)) or (not neg and known != numel):
        raise RuntimeError(f"{op}: shape '{shape}' is invalid for input of size {numel} "
                           f"(input shape {list(in_shape)})")
    if neg:
        shape[neg[0]] = numel // known
    return tuple(shape)


def _viewable(old_shape, old_strides, new_shape) -> bool:
    """Whether `new_shape` can view memory laid out as (old_shape, old_strides) (PyTorch's rule)."""
    if 0 in old_shape or not old_shape:
        return True
    view_d = len(new_shape) - 1
    chunk_stride = old_strides[-1]
    tensor_numel = view_numel = 1
    for d in range(len(old_shape) - 1, -1, -1):
        tensor_numel *= old_shape[d]
        if d == 0 or (old_shape[d - 1] != 1 and
                      old_strides[d - 1] != tensor_numel * chunk_stride):
            while view_d >= 0 and (view_numel < tensor_numel or new_shape[view_d] == 1):
                view_numel *= new_shape[view_d]
                view_d -= 1
            if view_numel != tensor_numel:
                return False
            if d > 0:
                chunk_stride = old_strides[d - 1]
                tensor_numel = view_numel = 1
    return view_d == -1


def reshape(input: Tensor, shape) -> Tensor:
    """The same elements in a new shape (one size may be -1); a view when the layout allows.

    Example:
        >>> dyngraph.arange(6).reshape(2, -1)
        tensor([[0, 1, 2],
                [3, 4, 5]])
    """
    return _reshape(input, _sizes((shape,)))


def _reshape(input: Tensor, sizes: tuple[int, ...]) -> Tensor:
    shape = sizes if -1 not in sizes and math.prod(sizes) == input._data.size and \
        builtins.min(sizes, default=0) >= 0 else \
        _infer_shape(sizes, input.numel(), "reshape", input.shape)
    if shape == input._data.shape:
        return _view_or_alias(input)
    return apply(reshape_op, input, shape=shape)


@register_method("reshape")
def _reshape_method(self, *shape, **kw):
    """`reshape`, with the sizes given as `x.reshape(2, 3)` or `x.reshape((2, 3))`."""
    return _reshape(self, _var_sizes(shape, kw, "shape", "reshape"))


@register_method("view")
def view(self, *shape, **kw) -> Tensor:
    """A view with a new shape; fails (as in PyTorch) when the memory layout does not allow one."""
    if len(shape) == 1 and isinstance(shape[0], D.dtype):
        raise NotImplementedError("view(dtype) is not supported; use .to(dtype)")
    shape = _infer_shape(_var_sizes(shape, kw, "size", "view"), self.numel(), "view", self.shape)
    if not _viewable(tuple(self._data.shape), self.stride(), shape):
        raise RuntimeError(
            f"view: size {list(shape)} is not compatible with input tensor's size "
            f"{list(self.shape)} and stride {list(self.stride())} (at least one dimension spans "
            "across two contiguous subspaces). Use .reshape(...) instead.")
    if shape == self._data.shape:
        return _view_or_alias(self)
    return apply(reshape_op, self, shape=shape)


@register_method("view_as")
def view_as(self, other: Tensor) -> Tensor:
    """`self.view(other.shape)`."""
    return view(self, *other.shape)


@register_method("reshape_as")
def reshape_as(self, other: Tensor) -> Tensor:
    """`self.reshape(other.shape)`."""
    return reshape(self, tuple(other.shape))


def ravel(input: Tensor) -> Tensor:
    """The elements as a 1-D tensor (a view when the layout allows)."""
    return reshape(input, (-1,))


Tensor.ravel = ravel


def permute(input: Tensor, dims) -> Tensor:
    """Reorder the dimensions (a view): output dim i is input dim `dims[i]`.

    Example:
        >>> dyngraph.zeros(2, 3, 4).permute(2, 0, 1).shape
        dyngraph.Size([4, 2, 3])
    """
    dims = tuple(dims)
    nd = input.ndim
    if len(dims) != nd:
        raise RuntimeError(f"permute: number of dims don't match: the tensor has {nd} dims "
                           f"(shape {list(input.shape)}) but dims={list(dims)} has {len(dims)}")
    identity = tuple(range(nd))
    if tuple(sorted(dims)) != identity:  # negative, repeated or out-of-range dims
        dims = tuple(wrap_dim(int(d), nd, "permute") for d in dims)
        if len(set(dims)) != nd:
            raise RuntimeError(f"permute: duplicate dims are not allowed (dims={list(dims)})")
    if dims == identity:
        return _view_or_alias(input)
    return apply(permute_op, input, dims=tuple(int(d) for d in dims))


@register_method("permute")
def _permute_method(self, *dims, **kw):
    """`permute`, with the dims given as `x.permute(1, 0)` or `x.permute((1, 0))`."""
    return permute(self, _var_sizes(dims, kw, "dims", "permute"))


def transpose(input: Tensor, dim0: int, dim1: int) -> Tensor:
    """Swap dimensions `dim0` and `dim1` (a view)."""
    nd = input.ndim
    d0, d1 = wrap_dim(dim0, nd, "transpose"), wrap_dim(dim1, nd, "transpose")
    if d0 == d1:
        return _view_or_alias(input)
    dims = list(range(nd))
    dims[d0], dims[d1] = d1, d0
    return apply(permute_op, input, dims=tuple(dims))


def swapaxes(input: Tensor, axis0: int, axis1: int) -> Tensor:
    """NumPy's name for `transpose` (PyTorch names its dims `axis0`, `axis1`)."""
    return transpose(input, axis0, axis1)


swapdims = transpose
Tensor.transpose = Tensor.swapdims = transpose
Tensor.swapaxes = swapaxes


def t(input: Tensor) -> Tensor:
    """Transpose a matrix (0-d and 1-d tensors come back as they are)."""
    if input.ndim > 2:
        raise RuntimeError(f"t() expects a tensor with <= 2 dimensions, but self is {input.ndim}D; "
                           "use transpose(dim0, dim1) or .mT for batches")
    return transpose(input, 0, 1) if input.ndim == 2 else _view_or_alias(input)


Tensor.t = t


def _T(self) -> Tensor:
    return permute(self, tuple(range(self.ndim - 1, -1, -1)))


def _mT(self) -> Tensor:
    nd = self._data.ndim
    if nd == 2:  # the common case (gradient rules of matmul), without transpose's checks
        return apply(permute_op, self, dims=(1, 0))
    if nd < 2:
        raise RuntimeError(f"tensor.mT is only supported on matrices or batches of matrices. Got "
                           f"{self.ndim}-D tensor.")
    return transpose(self, -2, -1)


def _H(self) -> Tensor:
    if self.ndim not in (0, 2):
        raise RuntimeError(f"tensor.H is only supported on matrices (2-D tensors). Got "
                           f"{self.ndim}-D tensor.")
    return _T(self)


Tensor.T = property(_T, doc="The dimensions reversed (a view).")
Tensor.mT = property(_mT, doc="The last two dimensions swapped (a view).")
Tensor.H = property(_H, doc="The conjugate transpose of a matrix (for real dtypes: .T).")
Tensor.mH = property(_mT, doc="The last two dimensions swapped (real dtypes: same as .mT).")


def expand(input: Tensor, *sizes, **kw) -> Tensor:
    """Broadcast to a larger size without copying (-1 keeps a size); a read-only view.

    Example:
        >>> dyngraph.tensor([[1], [2]]).expand(2, 3)
        tensor([[1, 1, 1],
                [2, 2, 2]])
    """
    sizes = _var_sizes(sizes, kw, "size", "expand")
    nd = input.ndim
    if len(sizes) < nd:
        raise RuntimeError(
            f"expand: the number of sizes provided ({len(sizes)}) must be greater or equal to the "
            f"number of dimensions in the tensor ({nd}); tensor shape {list(input.shape)}")
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
                               f"non-existing dimension {i}")
    shape = tuple(shape)
    if shape == input._data.shape:
        return _view_or_alias(input)
    return apply(expand_op, input, shape=shape)


Tensor.expand = expand


@register_method("expand_as")
def expand_as(self, other: Tensor) -> Tensor:
    """`self.expand(other.shape)`."""
    return expand(self, *other.shape)


def broadcast_to(input: Tensor, size) -> Tensor:
    """`input.expand(size)`."""
    return expand(input, *size)


Tensor.broadcast_to = broadcast_to


def broadcast_shapes(*shapes) -> tuple:
    """The shape tensors of these shapes broadcast to (RuntimeError when they don't)."""
    try:
        return tuple(np.broadcast_shapes(*(tuple(s) for s in shapes)))
    except ValueError:
        raise RuntimeError(broadcast_error("broadcast_shapes", [tuple(s) for s in shapes])) \
            from None


def broadcast_tensors(*tensors) -> tuple:
    """Expand all tensors to their common broadcast shape (views)."""
    shape = broadcast_shapes(*(t.shape for t in tensors))
    return tuple(expand(t, *shape) for t in tensors)


def sum_to_size(input: Tensor, *size, **kw) -> Tensor:
    """Sum `input` down to `size`, which it must broadcast from."""
    size = _var_sizes(size, kw, "size", "sum_to_size")
    if tuple(input.shape) == size:
        return input
    try:
        if np.broadcast_shapes(size, tuple(input.shape)) != tuple(input.shape):
            raise ValueError
    except ValueError:
        raise RuntimeError(f"sum_to_size: size {list(size)} is not expandable to size "
                           f"{list(input.shape)}") from None
    return apply(sum_to_size_op, input, shape=size)


Tensor.sum_to_size = sum_to_size


def flatten(input: Tensor, start_dim: int = 0, end_dim: int = -1) -> Tensor:
    """Merge dimensions start_dim..end_dim into one (a view when the layout allows)."""
    nd = input.ndim
    if nd == 0:
        return reshape(input, (1,))
    s, e = wrap_dim(start_dim, nd, "flatten"), wrap_dim(end_dim, nd, "flatten")
    if s > e:
        raise RuntimeError(f"flatten() has invalid args: start_dim ({start_dim}) cannot come after "
                           f"end_dim ({end_dim})")
    shp = input.shape
    n = 1
    for d in shp[s:e + 1]:
        n *= d
    return reshape(input, tuple(shp[:s]) + (n,) + tuple(shp[e + 1:]))


Tensor.flatten = flatten


def unflatten(input: Tensor, dim: int, sizes) -> Tensor:
    """Split dimension `dim` into `sizes` (one may be -1)."""
    d = wrap_dim(dim, input.ndim, "unflatten")
    sizes = tuple(int(s) for s in sizes)
    if not sizes:
        raise RuntimeError("unflatten: sizes must be non-empty")
    n = input.shape[d]
    try:
        sizes = _infer_shape(sizes, n, "unflatten", input.shape)
    except RuntimeError:
        raise RuntimeError(f"unflatten: Provided sizes {list(sizes)} don't multiply up to the size "
                           f"of dim {d} ({n}) in the input tensor of shape {list(input.shape)}"
                           ) from None
    return reshape(input, tuple(input.shape[:d]) + sizes + tuple(input.shape[d + 1:]))


Tensor.unflatten = unflatten


def squeeze(input: Tensor, dim=None) -> Tensor:
    """Remove size-1 dimensions: all of them, or those among `dim` (an int or tuple)."""
    shp = tuple(input.shape)
    if dim is None:
        new = tuple(s for s in shp if s != 1)
    else:
        dims = normalize_dims(dim, input.ndim, "squeeze")
        new = tuple(s for i, s in enumerate(shp) if not (i in dims and s == 1))
    if new == shp:
        return _view_or_alias(input)
    return apply(reshape_op, input, shape=new)


@register_method("squeeze")
def _squeeze_method(self, dim=None):
    """`squeeze` as a method."""
    return squeeze(self, dim)


def unsqueeze(input: Tensor, dim: int) -> Tensor:
    """Insert a size-1 dimension at `dim` (-1 appends one)."""
    d = wrap_dim(dim, input.ndim + 1, "unsqueeze")
    shp = tuple(input.shape)
    return apply(reshape_op, input, shape=shp[:d] + (1,) + shp[d:])


Tensor.unsqueeze = unsqueeze


def _inplace_view(name, fn):
    """`x.unsqueeze_()` and friends: x itself takes the view's shape and autograd history."""
    def method_(self, *args, **kwargs):
        if state.grad_enabled and self._rg and self.grad_fn is None:
            raise RuntimeError(f"{name}: a leaf Variable that requires grad is being used in an "
                               "in-place operation. Use the out-of-place op instead.")
        r = fn(self, *args, **kwargs)
        self._data = r._data
        if r.grad_fn is not None:
            self.grad_fn = r.grad_fn
        return self
    method_.__name__ = name
    method_.__doc__ = f"In-place `{name[:-1]}` (changes self's shape)."
    # Keyword calls use the out-of-place op's names (`x.transpose_(dim0=0, dim1=1)`);
    # inspect.signature follows __wrapped__ (importing inspect here would slow `import dyngraph`).
    method_.__wrapped__ = fn
    setattr(Tensor, name, method_)


_inplace_view("unsqueeze_", unsqueeze)
_inplace_view("squeeze_", squeeze)
_inplace_view("t_", t)
_inplace_view("transpose_", transpose)
_inplace_view("swapdims_", transpose)
_inplace_view("swapaxes_", swapaxes)


def movedim(input: Tensor, source, destination) -> Tensor:
    """Move dimensions `source` to positions `destination` (ints or tuples); a view."""
    src = (source,) if isinstance(source, int) else tuple(source)
    dst = (destination,) if isinstance(destination, int) else tuple(destination)
    nd = input.ndim
    if len(src) != len(dst):
        raise RuntimeError(f"movedim: Invalid source or destination dims: source ({list(src)} "
                           f"dims) should contain the same number of dims as destination "
                           f"({list(dst)} dims)")
    src = [wrap_dim(s, nd, "movedim") for s in src]
    dst = [wrap_dim(s, nd, "movedim") for s in dst]
    for name, ds in (("source", src), ("destination", dst)):
        if len(set(ds)) != len(ds):
            raise RuntimeError(f"movedim: repeated dim in `{name}` ({ds})")
    order = [i for i in range(nd) if i not in src]
    for d, s in sorted(zip(dst, src)):
        order.insert(d, s)
    return permute(input, order)


moveaxis = movedim
Tensor.movedim = Tensor.moveaxis = movedim


# ----------------------------------------------------------------------------------------------
# slicing views: narrow, select, split, chunk, unbind
# ----------------------------------------------------------------------------------------------

def _slice_at(input: Tensor, d: int, k) -> Tensor:
    return apply(getitem_op, input, key=(slice(None),) * d + (k,))


@composite("narrow", "getitem with a slice at dim")
def narrow(input: Tensor, dim: int, start, length: int) -> Tensor:
    """The slice `start:start+length` of dimension `dim` (a view).

    Example:
        >>> dyngraph.arange(6).narrow(0, 1, 3)
        tensor([1, 2, 3])
    """
    if input.ndim == 0:
        raise RuntimeError("narrow() cannot be applied to a 0-dim tensor.")
    d = wrap_dim(dim, input.ndim, "narrow")
    n = input.shape[d]
    start, length = int(start), int(length)
    if not -n <= start <= n:
        raise IndexError(f"narrow: start out of range (expected to be in range of [{-n}, {n}], "
                         f"but got {start})")
    if start < 0:
        start += n
    if length < 0 or start + length > n:
        raise RuntimeError(f"narrow: start ({start}) + length ({length}) exceeds dimension size "
                           f"({n}) of dim {d} (tensor shape {list(input.shape)})")
    return _slice_at(input, d, slice(start, start + length))


Tensor.narrow = narrow


@composite("select", "getitem with an int at dim")
def select(input: Tensor, dim: int, index: int) -> Tensor:
    """The slice at `index` of dimension `dim`, with that dimension removed (a view)."""
    if input.ndim == 0:
        raise IndexError("select() cannot be applied to a 0-dim tensor.")
    d = wrap_dim(dim, input.ndim, "select")
    n = input.shape[d]
    index = int(index)
    if not -n <= index < n:
        raise IndexError(f"select(): index {index} out of range for tensor of size "
                         f"{list(input.shape)} at dimension {d}")
    return _slice_at(input, d, index)


Tensor.select = select


@composite("split", "getitem with slices at dim")
def split(tensor: Tensor, split_size_or_sections, dim: int = 0) -> tuple:
    """Split into pieces of `split_size_or_sections` (an int: the last may be smaller; a list:
    the sizes, which must add up to the dimension's size). The pieces are views.

    Example:
        >>> [p.tolist() for p in dyngraph.arange(5).split([2, 3])]
        [[0, 1], [2, 3, 4]]
    """
    if tensor.ndim == 0:
        raise RuntimeError("split: expected at least a 1-dimensional tensor")
    d = wrap_dim(dim, tensor.ndim, "split")
    n = tensor.shape[d]
    if isinstance(split_size_or_sections, (int, np.integer)) or (
            isinstance(split_size_or_sections, Tensor) and split_size_or_sections.ndim == 0):
        size = int(split_size_or_sections)
        if size < 0 or (size == 0 and n != 0):
            raise RuntimeError(f"split: split_size can only be 0 if dimension size is 0, but got "
                               f"split_size={size} for dimension size {n}")
        if n == 0:
            return (_slice_at(tensor, d, slice(0, 0)),)
        sizes = [size] * (n // size) + ([n % size] if n % size else [])
    else:
        sizes = [int(s) for s in split_size_or_sections]
        if builtins.sum(sizes) != n or builtins.min(sizes, default=0) < 0:
            raise RuntimeError(f"split_with_sizes expects split_sizes to sum exactly to {n} (input "
                               f"tensor's size at dimension {d}), but got split_sizes={sizes}")
    out, start = [], 0
    for s in sizes:
        out.append(_slice_at(tensor, d, slice(start, start + s)))
        start += s
    return tuple(out)


@register_method("split")
def _split_method(self, split_size, dim: int = 0):
    """`split` as a method (`split_size` is an int or a list of sizes)."""
    return split(self, split_size, dim)


@composite("chunk", "split")
def chunk(input: Tensor, chunks: int, dim: int = 0) -> tuple:
    """Split into `chunks` views of equal size (the last may be smaller; there may be fewer)."""
    if chunks <= 0:
        raise RuntimeError(f"chunk expects `chunks` to be greater than 0, got: {chunks}")
    if input.ndim == 0:
        raise RuntimeError("chunk expects at least a 1-dimensional tensor")
    d = wrap_dim(dim, input.ndim, "chunk")
    n = input.shape[d]
    if n == 0:
        return tuple(_slice_at(input, d, slice(0, 0)) for _ in range(chunks))
    return split(input, -(-n // chunks), d)


Tensor.chunk = chunk


@composite("unbind", "getitem with an int at dim, once per index")
def unbind(input: Tensor, dim: int = 0) -> tuple:
    """The slices along `dim`, each with that dimension removed (views)."""
    if input.ndim == 0:
        raise IndexError("unbind: dimension specified as 0 but tensor has no dimensions")
    d = wrap_dim(dim, input.ndim, "unbind")
    return tuple(_slice_at(input, d, i) for i in range(input.shape[d]))


Tensor.unbind = unbind


# ----------------------------------------------------------------------------------------------
# cat / stack
# ----------------------------------------------------------------------------------------------

@defop("cat", MOVEMENT, doc="concatenate along an existing dimension")
def cat_op(xp, *xs, dim):
    return xp.concatenate(xs, axis=dim)


@cat_op.def_grad
def _(ctx, g):
    dim = ctx.attrs["dim"]
    out, start = [], 0
    for shape, _ in ctx.in_meta:
        n = shape[dim]
        out.append(_slice_at(g, dim, slice(start, start + n)))
        start += n
    return tuple(out)


def cat(tensors, dim: int = 0, *, out=None) -> Tensor:
    """Concatenate tensors (dtypes promoted) along an existing dimension.

    Example:
        >>> dyngraph.cat([dyngraph.zeros(1, 2), dyngraph.ones(2, 2)]).shape
        dyngraph.Size([3, 2])
    """
    if isinstance(tensors, Tensor):
        raise TypeError("cat(): argument 'tensors' must be a sequence of Tensors, not Tensor")
    tensors = list(tensors)
    if not tensors:
        raise RuntimeError("cat(): expected a non-empty list of Tensors")
    for i, x in enumerate(tensors):
        if not isinstance(x, Tensor):
            raise TypeError(f"cat(): expected a sequence of Tensors, but element {i} is "
                            f"{type(x).__name__}")
        if x.ndim == 0:
            raise RuntimeError(f"cat(): zero-dimensional tensor (at position {i}) cannot be "
                               "concatenated; use stack() or unsqueeze it first")
    # PyTorch skips 1-D empty tensors (legacy behaviour).
    kept = [x for x in tensors if not (x.ndim == 1 and x.shape[0] == 0)] or tensors[:1]
    ref = kept[0]
    d = wrap_dim(dim, ref.ndim, "cat")
    for i, x in enumerate(kept):
        if x.ndim != ref.ndim:
            raise RuntimeError(f"cat(): tensors must have same number of dimensions: got "
                               f"{ref.ndim} and {x.ndim} (shapes {list(ref.shape)} and "
                               f"{list(x.shape)})")
        for j in range(ref.ndim):
            if j != d and x.shape[j] != ref.shape[j]:
                raise RuntimeError(
                    f"cat(): sizes of tensors must match except in dimension {d}. Expected size "
                    f"{ref.shape[j]} but got size {x.shape[j]} for tensor number {i} in the list "
                    f"(shapes {list(ref.shape)} and {list(x.shape)}).")
    return write_out(apply(cat_op, *kept, dim=d), out, "cat")


concat = concatenate = cat


def stack(tensors, dim: int = 0, *, out=None) -> Tensor:
    """Join tensors of equal shape along a new dimension `dim`.

    Example:
        >>> dyngraph.stack([dyngraph.zeros(2), dyngraph.ones(2)], dim=1)
        tensor([[0., 1.],
                [0., 1.]])
    """
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


def hstack(tensors, *, out=None) -> Tensor:
    """Concatenate along dim 1 (dim 0 for 1-D tensors)."""
    tensors = [x.reshape(1) if x.ndim == 0 else x for x in tensors]
    return cat(tensors, 0 if tensors and tensors[0].ndim == 1 else 1, out=out)


def vstack(tensors, *, out=None) -> Tensor:
    """Concatenate along dim 0 after making every tensor at least 2-D."""
    return cat([x.reshape(1, -1) if x.ndim < 2 else x for x in tensors], 0, out=out)


row_stack = vstack


def dstack(tensors, *, out=None) -> Tensor:
    """Concatenate along dim 2 after making every tensor at least 3-D."""
    def at_least_3d(x):
        if x.ndim == 0:
            return x.reshape(1, 1, 1)
        if x.ndim == 1:
            return x.reshape(1, -1, 1)
        return x.unsqueeze(-1) if x.ndim == 2 else x
    return cat([at_least_3d(x) for x in tensors], 2, out=out)


# ----------------------------------------------------------------------------------------------
# flip / roll / repeat / tile
# ----------------------------------------------------------------------------------------------

@defop("flip", MOVEMENT, dtype_rule="none", doc="reverse the order along dims (a copy)")
def flip_op(xp, x, dims):
    # A copy, as in PyTorch: xp.flip alone would return a view sharing memory.
    return xp.ascontiguousarray(xp.flip(x, axis=dims)) if dims else x.copy()


@flip_op.def_grad
def _(ctx, g):
    return (apply(flip_op, g, dims=ctx.attrs["dims"]),)


def flip(input: Tensor, dims) -> Tensor:
    """Reverse the order of elements along `dims` (a copy).

    Example:
        >>> dyngraph.tensor([[1, 2], [3, 4]]).flip(1)
        tensor([[2, 1],
                [4, 3]])
    """
    dims = normalize_dims((dims,) if isinstance(dims, int) else tuple(dims), input.ndim, "flip")
    return apply(flip_op, input, dims=dims if input.ndim else ())


@register_method("flip")
def _flip_method(self, *dims, **kw):
    """`flip`, with the dims given as `x.flip(0, 1)` or `x.flip((0, 1))`."""
    return flip(self, _var_sizes(dims, kw, "dims", "flip"))


def fliplr(input: Tensor) -> Tensor:
    """Reverse the columns (dim 1) of a tensor with at least 2 dimensions."""
    if input.ndim < 2:
        raise RuntimeError(f"fliplr: input tensor must be >= 2-d (got {input.ndim}-d)")
    return flip(input, (1,))


def flipud(input: Tensor) -> Tensor:
    """Reverse the rows (dim 0) of a tensor with at least 1 dimension."""
    if input.ndim < 1:
        raise RuntimeError("flipud: input tensor must be >= 1-d (got 0-d)")
    return flip(input, (0,))


Tensor.fliplr, Tensor.flipud = fliplr, flipud


@defop("roll", MOVEMENT, dtype_rule="none", doc="rotate elements along dims (None: flattened)")
def roll_op(xp, x, shifts, dims):
    return xp.roll(x, shifts, axis=dims)


@roll_op.def_grad
def _(ctx, g):
    shifts = ctx.attrs["shifts"]
    neg = tuple(-s for s in shifts) if isinstance(shifts, tuple) else -shifts
    return (apply(roll_op, g, shifts=neg, dims=ctx.attrs["dims"]),)


def roll(input: Tensor, shifts, dims=None) -> Tensor:
    """Rotate elements by `shifts` along `dims`; without dims, roll the flattened tensor.

    Example:
        >>> dyngraph.arange(5).roll(2)
        tensor([3, 4, 0, 1, 2])
    """
    sh = (int(shifts),) if isinstance(shifts, (int, np.integer)) else tuple(int(s) for s in shifts)
    if dims is None:
        if len(sh) != 1:
            raise RuntimeError(f"roll: shifts and dimensions must align. shifts: {len(sh)}, "
                               "dims: 0 (give dims for more than one shift)")
        return apply(roll_op, input, shifts=sh[0], dims=None)
    ds = (dims,) if isinstance(dims, (int, np.integer)) else tuple(dims)
    if len(sh) != len(ds):
        raise RuntimeError(f"roll: shifts and dimensions must align. shifts: {len(sh)}, "
                           f"dims: {len(ds)}")
    ds = tuple(wrap_dim(d, input.ndim, "roll") for d in ds)
    return apply(roll_op, input, shifts=sh, dims=ds)


Tensor.roll = roll


@composite("repeat", "reshape + expand + reshape")
def repeat(input: Tensor, *repeats, **kw) -> Tensor:
    """Tile the tensor `repeats[i]` times along each dim (extra leading repeats add dims).

    Example:
        >>> dyngraph.tensor([1, 2]).repeat(2, 2)
        tensor([[1, 2, 1, 2],
                [1, 2, 1, 2]])
    """
    reps = _var_sizes(repeats, kw, "repeats", "repeat")
    nd = input.ndim
    if len(reps) < nd:
        raise RuntimeError(f"repeat: Number of dimensions of repeat dims ({len(reps)}) can not be "
                           f"smaller than number of dimensions of tensor ({nd}, shape "
                           f"{list(input.shape)})")
    if builtins.min(reps, default=0) < 0:
        raise RuntimeError(f"repeat: repeats can not be negative, got {list(reps)}")
    shape = (1,) * (len(reps) - nd) + tuple(input.shape)
    if all(r == 1 for r in reps):
        return clone(reshape(input, shape))  # always a copy, as in PyTorch
    # (a, b) -> (1, a, 1, b) -> expand (r0, a, r1, b) -> (r0*a, r1*b): the copy is the reshape.
    inter = tuple(v for s in shape for v in (1, s))
    big = tuple(v for r, s in zip(reps, shape) for v in (r, s))
    x = reshape(input, inter) if inter else input
    return reshape(expand(x, *big), tuple(r * s for r, s in zip(reps, shape)))


Tensor.repeat = repeat


@composite("tile", "repeat")
def tile(input: Tensor, dims) -> Tensor:
    """`repeat`, with missing leading repeats taken as 1."""
    dims = _sizes((dims,))
    dims = (1,) * (input.ndim - len(dims)) + dims
    return repeat(input, *dims)


@register_method("tile")
def _tile_method(self, *dims, **kw):
    """`tile`, with the repeats given as `x.tile(2, 1)` or `x.tile((2, 1))`."""
    return tile(self, _var_sizes(dims, kw, "dims", "tile"))


# ----------------------------------------------------------------------------------------------
# triangles and diagonals
# ----------------------------------------------------------------------------------------------

def _tri_eager(xp, x, diagonal, lower):
    n, m = x.shape[-2:]
    keep = xp.tri(n, m, diagonal if lower else diagonal - 1, dtype=bool)
    if not lower:
        keep = ~keep
    return xp.where(keep, x, xp.zeros((), dtype=x.dtype))


@defop("tril", MOVEMENT, dtype_rule="none", doc="zero the elements above a diagonal")
def tril_op(xp, x, diagonal):
    return _tri_eager(xp, x, diagonal, True)


@defop("triu", MOVEMENT, dtype_rule="none", doc="zero the elements below a diagonal")
def triu_op(xp, x, diagonal):
    return _tri_eager(xp, x, diagonal, False)


tril_op.def_grad(lambda ctx, g: (apply(tril_op, g, diagonal=ctx.attrs["diagonal"]),))
triu_op.def_grad(lambda ctx, g: (apply(triu_op, g, diagonal=ctx.attrs["diagonal"]),))


def _tri(op, name):
    def fn(input: Tensor, diagonal: int = 0, *, out=None) -> Tensor:
        if input.ndim < 2:
            raise RuntimeError(f"{name}: input tensor must have at least 2 dimensions (got shape "
                               f"{list(input.shape)})")
        return write_out(apply(op, input, diagonal=int(diagonal)), out, name)

    def method_(self, diagonal: int = 0) -> Tensor:
        return inplace(lambda x: fn(x, diagonal), self, opname=name + "_")

    part = "on and below" if name == "tril" else "on and above"
    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = (f"Keep the elements {part} the `diagonal`-th diagonal of the last two dims; "
                  "zero the rest.\n\n    Args:\n        input: a tensor with at least 2 dims.\n"
                  "        diagonal: 0 is the main diagonal, > 0 above it, < 0 below it.\n")
    method_.__name__ = name + "_"
    method_.__doc__ = f"In-place `{name}`."
    setattr(Tensor, name, fn)
    setattr(Tensor, name + "_", method_)
    return fn


tril = _tri(tril_op, "tril")
triu = _tri(triu_op, "triu")


def _data_ptr(a) -> int:
    return a.__array_interface__["data"][0] if type(a) is np.ndarray else a.data.ptr


def _as_strided(xp, a, shape, strides):
    if xp is np:
        return np.lib.stride_tricks.as_strided(a, shape, strides)
    return xp.lib.stride_tricks.as_strided(a, shape, strides)


def _diagonal_view(xp, x, offset, dim1, dim2):
    """The diagonal of dims (dim1, dim2) as a writable view, appended as the last dim."""
    n1, n2 = x.shape[dim1], x.shape[dim2]
    if offset >= 0:
        length, s1, s2 = builtins.max(builtins.min(n1, n2 - offset), 0), 0, offset
    else:
        length, s1, s2 = builtins.max(builtins.min(n1 + offset, n2), 0), -offset, 0
    if length == 0:
        s1 = s2 = 0
    key = [slice(None)] * x.ndim
    key[dim1], key[dim2] = slice(s1, None), slice(s2, None)
    start = x[tuple(key)]
    other = [i for i in range(x.ndim) if i not in (dim1, dim2)]
    shape = tuple(x.shape[i] for i in other) + (length,)
    strides = tuple(x.strides[i] for i in other) + (x.strides[dim1] + x.strides[dim2],)
    return _as_strided(xp, start, shape, strides)


@defop("diagonal", MOVEMENT, dtype_rule="none", is_view=True,
       doc="a diagonal of two dims, appended as the last dim (a view)")
def diagonal_op(xp, x, offset, dim1, dim2):
    return _diagonal_view(xp, x, offset, dim1, dim2)


@diagonal_op.def_grad
def _(ctx, g):
    from .creation import zeros
    shape, dt = ctx.in_meta[0]
    a = ctx.attrs
    return (apply(diagonal_scatter_op, zeros(shape, dtype=dt, device=g.device), g,
                  offset=a["offset"], dim1=a["dim1"], dim2=a["dim2"]),)


@defop("diagonal_scatter", MOVEMENT, dtype_rule="none",
       doc="a copy of x with a diagonal replaced by src")
def diagonal_scatter_op(xp, x, src, offset, dim1, dim2):
    out = x.copy()
    _diagonal_view(xp, out, offset, dim1, dim2)[...] = src
    return out


@diagonal_scatter_op.def_grad
def _(ctx, g):
    a = ctx.attrs
    kw = dict(offset=a["offset"], dim1=a["dim1"], dim2=a["dim2"])
    return apply(diagonal_scatter_op, g, 0.0, **kw), apply(diagonal_op, g, **kw)


def _diag_dims(op, ndim, dim1, dim2):
    d1, d2 = wrap_dim(dim1, ndim, op), wrap_dim(dim2, ndim, op)
    if d1 == d2:
        raise RuntimeError(f"{op}: diagonal dimensions cannot be identical {dim1}, {dim2}")
    return d1, d2


def diagonal(input: Tensor, offset: int = 0, dim1: int = 0, dim2: int = 1) -> Tensor:
    """The `offset`-th diagonal of dims (dim1, dim2), as the last dim of a view.

    Example:
        >>> dyngraph.arange(9).reshape(3, 3).diagonal(1)
        tensor([1, 5])
    """
    d1, d2 = _diag_dims("diagonal", input.ndim, dim1, dim2)
    return apply(diagonal_op, input, offset=int(offset), dim1=d1, dim2=d2)


Tensor.diagonal = diagonal
_diagonal = diagonal  # `diag` has a parameter named `diagonal`


def diagonal_scatter(input: Tensor, src: Tensor, offset: int = 0, dim1: int = 0,
                     dim2: int = 1) -> Tensor:
    """A copy of `input` whose (offset, dim1, dim2) diagonal is replaced by `src`."""
    d1, d2 = _diag_dims("diagonal_scatter", input.ndim, dim1, dim2)
    want = tuple(diagonal(input.detach(), offset, d1, d2).shape)
    src = as_tensor_arg(src, input)
    if tuple(src.shape) != want:
        raise RuntimeError(f"diagonal_scatter: expected src to have a size equal to the diagonal "
                           f"of self. src size = {list(src.shape)}, diagonal size = {list(want)}")
    return apply(diagonal_scatter_op, input, src, offset=int(offset), dim1=d1, dim2=d2)


Tensor.diagonal_scatter = diagonal_scatter


@composite("diag_embed", "diagonal_scatter into zeros")
def diag_embed(input: Tensor, offset: int = 0, dim1: int = -2, dim2: int = -1) -> Tensor:
    """Tensors whose (dim1, dim2) diagonals are the last dim of `input` (zeros elsewhere).

    Example:
        >>> dyngraph.diag_embed(dyngraph.tensor([1., 2.]))
        tensor([[1., 0.],
                [0., 2.]])
    """
    from .creation import zeros
    nd = input.ndim + 1
    d1, d2 = _diag_dims("diag_embed", nd, dim1, dim2)
    x = input.reshape(1) if input.ndim == 0 else input
    n = x.shape[-1] + abs(int(offset))
    rest = iter(x.shape[:-1])
    shape = tuple(n if i in (d1, d2) else next(rest) for i in range(builtins.max(nd, 2)))
    z = zeros(shape, dtype=input.dtype, device=input.device)
    return apply(diagonal_scatter_op, z, x, offset=int(offset), dim1=d1, dim2=d2)


Tensor.diag_embed = diag_embed


@composite("diag", "diag_embed (1-D input) or diagonal (2-D input)")
def diag(input: Tensor, diagonal: int = 0) -> Tensor:
    """A 1-D input as the `diagonal`-th diagonal of a square matrix; a 2-D input's diagonal."""
    if input.ndim == 1:
        return diag_embed(input, diagonal, 0, 1)
    if input.ndim == 2:
        return apply(copy_op, _diagonal(input, diagonal))
    raise RuntimeError(f"diag: matrix or a vector expected (got a {input.ndim}-D tensor)")


Tensor.diag = diag


# ----------------------------------------------------------------------------------------------
# copies and devices
# ----------------------------------------------------------------------------------------------

@defop("copy", MOVEMENT, dtype_rule="none", doc="a C-contiguous copy")
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


@defop("to_device", MOVEMENT, dtype_rule="none", doc="copy to another device")
def to_device_op(xp, x, device, src=None):
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
def copy_(self, src=None, non_blocking: bool = False, *, other=None) -> Tensor:
    """Copy the values of `src` (broadcast, cast and moved as needed) into self.

    PyTorch documents the argument as `src` but its binding takes `other=`; both work here.
    """
    if (src is None) == (other is None):
        raise TypeError("copy_() takes the source tensor once, as `src` (or `other=`)")
    src = as_tensor_arg(other if src is None else src, self)
    if not (self._rg or src._rg):
        if src.device != self.device:
            src = src.to(self.device)
        if not self._data.flags.writeable:
            raise RuntimeError("copy_: unsupported operation: self is a broadcast (expanded) view "
                               "whose elements share memory; call .clone() first")
        try:
            self._data[...] = src._data.astype(self._data.dtype, copy=False)
        except ValueError:
            raise RuntimeError(f"copy_: the source of shape {list(src.shape)} cannot be broadcast "
                               f"to self's shape {list(self.shape)}") from None
        self._vc[0] += 1
        return self
    return inplace(_copy_node, self, src, opname="copy_")


def _copy_node(t, s):
    s = s.to(device=t.device) if s.device != t.device else s
    s = s.to(t.dtype) if s.dtype is not t.dtype else s
    if tuple(s.shape) != tuple(t.shape):
        s = expand(s, *t.shape)
    return apply(copy_op, s)


# ----------------------------------------------------------------------------------------------
# writing through a view of a tensor that autograd records
# ----------------------------------------------------------------------------------------------

def _view_positions(view, base):
    """For each element of array `view` (a view into array `base`), its flat C-order index in
    base, found from the two arrays' addresses and strides."""
    xp = np if type(base) is np.ndarray else __import__("cupy")
    item = base.itemsize
    off = _data_ptr(view) - _data_ptr(base)
    voff = xp.full(view.shape, off, dtype=np.int64)
    for d, (n, s) in enumerate(zip(view.shape, view.strides)):
        shape = [1] * view.ndim
        shape[d] = n
        voff = voff + (xp.arange(n, dtype=np.int64) * s).reshape(shape)
    if base.flags.c_contiguous:
        return voff // item
    boff = xp.zeros(base.shape, dtype=np.int64)
    for d, (n, s) in enumerate(zip(base.shape, base.strides)):
        shape = [1] * base.ndim
        shape[d] = n
        boff = boff + (xp.arange(n, dtype=np.int64) * s).reshape(shape)
    boff = boff.reshape(-1)
    order = xp.argsort(boff)
    return order[xp.searchsorted(boff[order], voff)]


def write_through_view(fn, view: Tensor, args, kwargs, opname: str) -> Tensor:
    """Run an in-place op on `view`, a view of a tensor recorded by autograd (PyTorch's
    CopySlices): the base's history becomes "old base with the view's region replaced by
    fn(old view)", and the view's history "that region of the new base"."""
    base = view._base
    idx = _wrap(_view_positions(view._data, base._data))
    key = (TensorSlot(0),)
    old = _wrap(base._data.copy())
    old.grad_fn, old._rg = base.grad_fn, base._rg
    flat = reshape(old, (-1,))
    result = fn(apply(getitem_op, flat, idx, key=key), *args, **kwargs)
    rdt, vdt = result.dtype, view.dtype
    if rdt is not vdt and rdt._category > vdt._category:
        raise RuntimeError(f"{opname}: result type {rdt.name.capitalize()} can't be cast to the "
                           f"desired output type {vdt.name.capitalize()}")
    if not view._data.flags.writeable:
        raise RuntimeError(f"{opname}: unsupported operation: the tensor is a broadcast "
                           "(expanded) view whose elements share memory; call .clone() first")
    if tuple(result.shape) != tuple(view.shape):
        result = expand(result, *view.shape)
    new_base = apply(index_put_op, flat, result, idx, key=key, accumulate=False)
    view._data[...] = result._data
    view._vc[0] += 1
    if new_base._rg:
        base.grad_fn = reshape(new_base, tuple(base.shape)).grad_fn
        base._rg = True
        view.grad_fn = apply(getitem_op, reshape(base, (-1,)), idx, key=key).grad_fn
        view._rg = True
    return view


__all__ = [_n for _n, _v in list(globals().items())
           if not _n.startswith("_") and callable(_v) and getattr(_v, "__module__", "") == __name__]
