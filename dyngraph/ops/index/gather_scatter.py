"""PyTorch's per-dim addressing: the gather, scatter and scatter_add primitives, and
take_along_dim."""

from __future__ import annotations

import builtins

import numpy as np

from ... import _dtype as D
from ..._device import capturing, check_later
from .._api import Tensor, apply, as_tensor_arg, inplace, register_method, wrap_dim, write_out
from ..registry import OpKind, composite, defop
from .getitem import _scatter_add_cupy, index_put_op

INDEX = OpKind.INDEX


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
    if index.size and capturing(xp):
        check_later((index.min() < 0) | (index.max() >= n),
                    f"{op}(): an index is out of bounds for dimension {dim} with size {n}")
    elif index.size:
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
    from ..creation import zeros
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
        from ..creation import zeros
        block = tuple(slice(0, s) for s in gs.shape)
        gs = apply(index_put_op, zeros(sshape, dtype=dt, device=g.device), gs, key=block,
                   accumulate=False)
    return gs


def _scatter_operands(xp, x, index, src, dim, op):
    """A copy of x and the index, both at least 1-D, with the index bounds-checked, and an array
    src cut to the index's shape in x's dtype (a number src stays as it is)."""
    out, index = _as_1d(xp, x.copy(), index)
    _bounds(xp, index, out.shape[dim], dim, op)
    if getattr(src, "ndim", None) is not None:
        src = src.reshape(1) if src.ndim == 0 else src
        src = _leading_block(src, index.shape).astype(out.dtype, copy=False)
    return out, index, src


@defop("scatter_add", INDEX, dtype_rule="none", save=("inputs[1:]",),
       doc="a copy of x with src added at index along dim (duplicates add up)")
def scatter_add_op(xp, x, index, src, dim):
    out, index, src = _scatter_operands(xp, x, index, src, dim, "scatter_add")
    if xp is np:
        # 1-D (max pooling's gradient): the index itself, not a one-element index tuple, keeps
        # numpy's fast ufunc.at path for a single integer array.
        np.add.at(out, index if out.ndim == 1 else _full_index(xp, index, dim), src)
    else:
        _scatter_add_cupy(out, _full_index(xp, index, dim), src)
    return out.reshape(x.shape)


@scatter_add_op.def_grad
def _(ctx, g):
    return g, None, _scatter_grads(ctx, g)


@defop("scatter", INDEX, dtype_rule="none", save=("inputs[1:]",),
       doc="a copy of x with src (tensor or number) written at index along dim")
def scatter_op(xp, x, index, src, dim):
    out, index, src = _scatter_operands(xp, x, index, src, dim, "scatter")
    out[_full_index(xp, index, dim)] = src
    return out.reshape(x.shape)


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
    from ..creation import full
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
    from ..shape import broadcast_shapes
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


__all__ = [_n for _n, _v in list(globals().items())
           if not _n.startswith("_") and callable(_v) and getattr(_v, "__module__", "") == __name__]
