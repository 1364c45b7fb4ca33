"""Data-dependent addressing: gather, scatter, index_select, masked ops, nonzero, take."""

from __future__ import annotations

from ._api import Tensor, apply, inplace, register_method, wrap_dim
from .registry import OpKind, defop

INDEX = OpKind.INDEX


def _check_index(op, input, dim, index):
    if index.dtype.name != "int64" and index.dtype.name != "int32":
        raise RuntimeError(f"{op}(): Expected dtype int64 for index, got {index.dtype.name}")
    if index.ndim != input.ndim and not (index.ndim <= 1 and input.ndim <= 1):
        raise RuntimeError(f"{op}(): Index tensor must have the same number of dimensions as "
                           f"input tensor ({index.ndim} vs {input.ndim})")


@defop("gather", INDEX, dtype_rule="none", save=("inputs[1:]",))
def gather_op(xp, x, index, dim):
    n = x.shape[dim] if x.ndim else 1
    if index.size and (int(index.max()) >= n or int(index.min()) < -n):
        raise RuntimeError(f"gather(): index {int(index.max())} is out of bounds for dimension "
                           f"{dim} with size {n}")
    return xp.take_along_axis(x, index.astype(xp.int64, copy=False), axis=dim)


@gather_op.def_grad
def _(ctx, g):
    from .creation import zeros
    shape, dt = ctx.in_meta[0]
    index = ctx.inputs[1]
    z = zeros(shape, dtype=dt, device=g.device)
    return apply(scatter_add_op, z, index, g, dim=ctx.attrs["dim"]), None


@defop("scatter_add", INDEX, dtype_rule="none", save=("inputs[1:]",))
def scatter_add_op(xp, x, index, src, dim):
    out = x.copy()
    idx = _full_index(xp, index, dim)
    src = src[tuple(slice(0, s) for s in index.shape)] if getattr(src, "ndim", 0) else src
    if xp is __import__("numpy"):
        xp.add.at(out, idx, src)
    else:
        import cupyx
        cupyx.scatter_add(out, idx, src)
    return out


@scatter_add_op.def_grad
def _(ctx, g):
    index = ctx.inputs[1]
    d = ctx.attrs["dim"]
    return g, None, apply(gather_op, g, index, dim=d)


def _full_index(xp, index, dim):
    """Turn a gather/scatter index along `dim` into a full advanced-indexing tuple."""
    grids = list(xp.indices(index.shape, sparse=True))
    grids[dim] = index.astype(xp.int64, copy=False)
    return tuple(grids)


def gather(input: Tensor, dim: int, index: Tensor, *, sparse_grad: bool = False) -> Tensor:
    """out[i][j] = input[index[i][j]][j] (for dim=0), and so on for other dims."""
    _check_index("gather", input, dim, index)
    d = wrap_dim(dim, input.ndim, "gather")
    return apply(gather_op, input, index, dim=d)


def scatter_add(input: Tensor, dim: int, index: Tensor, src: Tensor) -> Tensor:
    """Out-of-place: add `src` into a copy of `input` at `index` along `dim`."""
    _check_index("scatter_add", input, dim, index)
    d = wrap_dim(dim, input.ndim, "scatter_add")
    return apply(scatter_add_op, input, index, src, dim=d)


Tensor.gather = gather
Tensor.scatter_add = scatter_add


@register_method("scatter_add_")
def scatter_add_(self, dim, index, src):
    return inplace(scatter_add, self, dim, index, src, opname="scatter_add_")


__all__ = [_n for _n, _v in list(globals().items())
           if not _n.startswith("_") and callable(_v) and getattr(_v, "__module__", "") == __name__]
