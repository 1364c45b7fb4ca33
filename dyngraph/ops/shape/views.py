"""View ops: reshape/view, permute/transpose, expand/broadcast, flatten/unflatten,
squeeze/unsqueeze, movedim, and the shared size-argument helpers."""

from __future__ import annotations

import builtins
import math

import numpy as np

from ... import _dtype as D
from ..._tensor import _wrap
from .._api import Tensor, apply, normalize_dims, register_method, state, wrap_dim
from ..registry import OpKind, defop

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


def _data_ptr(a) -> int:
    """The address of an array's first element (numpy or cupy)."""
    return a.__array_interface__["data"][0] if type(a) is np.ndarray else a.data.ptr


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


__all__ = [_n for _n, _v in list(globals().items())
           if not _n.startswith("_") and callable(_v) and getattr(_v, "__module__", "") == __name__]
