"""Reordering and masking copies: flip, roll, repeat, tile, tril/triu, and the diagonal ops
(diagonal, diagonal_scatter, diag_embed, diag)."""

from __future__ import annotations

import builtins

import numpy as np

from .._api import (Tensor, apply, as_tensor_arg, inplace, normalize_dims, register_method,
                    wrap_dim, write_out)
from ..registry import OpKind, composite, defop
from .views import _sizes, _var_sizes, expand, reshape

MOVEMENT = OpKind.MOVEMENT


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
        from .copies import clone  # (copies is imported after this module)
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
    from ..creation import zeros
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
    from ..creation import zeros
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
        from .copies import clone
        return clone(_diagonal(input, diagonal))
    raise RuntimeError(f"diag: matrix or a vector expected (got a {input.ndim}-D tensor)")


Tensor.diag = diag


__all__ = [_n for _n, _v in list(globals().items())
           if not _n.startswith("_") and callable(_v) and getattr(_v, "__module__", "") == __name__]
