"""Reductions over `dim` with `keepdim`: sum, mean, prod, amax/amin, argmax/argmin, all/any, cumsum,
and the composites built on them (max/min with indices, var, std, norm, logsumexp).
"""

from __future__ import annotations

import builtins
from collections import namedtuple

import numpy as np

from .. import _dtype as D
from ._api import Tensor, apply, normalize_dims, register_method, wrap_dim, write_out
from .registry import OpKind, composite, defop, nondiff

REDUCE, SCAN = OpKind.REDUCE, OpKind.SCAN


def _keep_shape(in_shape, dims):
    return tuple(1 if i in dims else s for i, s in enumerate(in_shape))


def _grad_to_input(ctx, g):
    """Reshape a reduction's gradient to keepdim form and expand it over the input."""
    shape = ctx.input_shape(0)
    dims = ctx.attrs["dim"]
    if not ctx.attrs["keepdim"]:
        g = g.reshape(_keep_shape(shape, dims))
    return g.expand(*shape)


def _acc_dtype(x):
    """Accumulate half precision in float32 (as PyTorch does) and integers in int64."""
    if x.dtype.kind in "biu":
        return np.int64
    if x.dtype.itemsize < 4:
        return np.float32
    return None


@defop("sum", REDUCE, dtype_rule="none")
def sum_op(xp, x, dim, keepdim, dtype=None):
    acc = dtype.np if dtype is not None else _acc_dtype(x)
    out = xp.sum(x, axis=dim, keepdims=keepdim, dtype=acc)
    if dtype is None and acc is np.float32 and x.dtype != np.float32:
        out = out.astype(x.dtype)
    return out


@sum_op.def_grad
def _(ctx, g):
    return (_grad_to_input(ctx, g),)


@defop("mean", REDUCE, dtype_rule="none")
def mean_op(xp, x, dim, keepdim, dtype=None):
    n = 1
    for d in dim:
        n *= x.shape[d]
    acc = dtype.np if dtype is not None else (np.float32 if x.dtype.itemsize < 4 else None)
    with np.errstate(all="ignore"):
        out = xp.sum(x, axis=dim, keepdims=keepdim, dtype=acc) / xp.asarray(n, dtype=acc or x.dtype)
    return out.astype(dtype.np if dtype is not None else x.dtype, copy=False)


@mean_op.def_grad
def _(ctx, g):
    shape = ctx.input_shape(0)
    n = 1
    for d in ctx.attrs["dim"]:
        n *= shape[d]
    return (_grad_to_input(ctx, g) / n,)


@defop("prod", REDUCE, dtype_rule="none", save=("inputs", "output"))
def prod_op(xp, x, dim, keepdim, dtype=None):
    acc = dtype.np if dtype is not None else _acc_dtype(x)
    out = xp.prod(x, axis=dim, keepdims=keepdim, dtype=acc)
    if dtype is None and acc is np.float32 and x.dtype != np.float32:
        out = out.astype(x.dtype)
    return out


@prod_op.def_grad
def _(ctx, g):
    # d prod / d x_i = prod of the others. Written without dividing by x so zeros are exact:
    # no zero in the slice -> out / x; exactly one zero -> prod of the non-zeros at that element.
    from .elementwise import where
    (x,) = ctx.inputs
    dims, keep = ctx.attrs["dim"], ctx.attrs["keepdim"]
    out = ctx.out
    shape = ctx.input_shape(0)
    if not keep:
        out = out.reshape(_keep_shape(shape, dims))
        g = g.reshape(_keep_shape(shape, dims))
    is_zero = x == 0
    nonzero = where(is_zero, 1.0, x)
    prod_nz = apply(prod_op, nonzero, dim=dims, keepdim=True)
    nzero = apply(sum_op, is_zero, dim=dims, keepdim=True)
    safe = where(nzero == 0, out, 0.0) / nonzero
    one_zero = where(is_zero & (nzero == 1), prod_nz, 0.0)
    return (g * (safe + one_zero),)


@defop("amax", REDUCE, dtype_rule="none", save=("inputs", "output"))
def amax_op(xp, x, dim, keepdim):
    if x.size == 0 and any(x.shape[d] == 0 for d in dim):
        raise IndexError("amax(): Expected reduction dim to have non-zero size")
    return xp.max(x, axis=dim, keepdims=keepdim)


@amax_op.def_grad
def _(ctx, g):
    return (_extreme_grad(ctx, g),)


@defop("amin", REDUCE, dtype_rule="none", save=("inputs", "output"))
def amin_op(xp, x, dim, keepdim):
    if x.size == 0 and any(x.shape[d] == 0 for d in dim):
        raise IndexError("amin(): Expected reduction dim to have non-zero size")
    return xp.min(x, axis=dim, keepdims=keepdim)


amin_op.def_grad(lambda ctx, g: (_extreme_grad(ctx, g),))


def _extreme_grad(ctx, g):
    """The gradient is shared equally between tied extremes (PyTorch's amax/amin rule)."""
    (x,) = ctx.inputs
    dims = ctx.attrs["dim"]
    out = ctx.out
    if not ctx.attrs["keepdim"]:
        ks = _keep_shape(ctx.input_shape(0), dims)
        out, g = out.reshape(ks), g.reshape(ks)
    mask = (x == out).to(g.dtype)
    count = apply(sum_op, mask, dim=dims, keepdim=True)
    return g * mask / count


@nondiff("argmax", REDUCE, "integer output", dtype_rule="none")
def argmax_op(xp, x, dim, keepdim):
    if x.size == 0:
        raise IndexError("argmax(): Expected reduction dim to be specified for input.numel() == 0")
    if dim is None:
        r = xp.argmax(x.reshape(-1))
        return r.reshape((1,) * x.ndim) if keepdim else r
    return xp.argmax(x, axis=dim, keepdims=keepdim)


@nondiff("argmin", REDUCE, "integer output", dtype_rule="none")
def argmin_op(xp, x, dim, keepdim):
    if x.size == 0:
        raise IndexError("argmin(): Expected reduction dim to be specified for input.numel() == 0")
    if dim is None:
        r = xp.argmin(x.reshape(-1))
        return r.reshape((1,) * x.ndim) if keepdim else r
    return xp.argmin(x, axis=dim, keepdims=keepdim)


@nondiff("all", REDUCE, "boolean output", dtype_rule="none")
def all_op(xp, x, dim, keepdim):
    return xp.all(x, axis=dim, keepdims=keepdim)


@nondiff("any", REDUCE, "boolean output", dtype_rule="none")
def any_op(xp, x, dim, keepdim):
    return xp.any(x, axis=dim, keepdims=keepdim)


@defop("cumsum", SCAN, dtype_rule="none")
def cumsum_op(xp, x, dim, dtype=None):
    acc = dtype.np if dtype is not None else (np.int64 if x.dtype.kind in "biu" else None)
    return xp.cumsum(x, axis=dim, dtype=acc)


@cumsum_op.def_grad
def _(ctx, g):
    d = ctx.attrs["dim"]
    return (g.flip(d).cumsum(d).flip(d),)


@defop("cumprod", SCAN, dtype_rule="none", save=("inputs", "output"))
def cumprod_op(xp, x, dim, dtype=None):
    acc = dtype.np if dtype is not None else (np.int64 if x.dtype.kind in "biu" else None)
    return xp.cumprod(x, axis=dim, dtype=acc)


@cumprod_op.def_grad
def _(ctx, g):
    # Valid where x has no zeros; PyTorch has a slower exact path for zeros.
    (x,) = ctx.inputs
    d = ctx.attrs["dim"]
    y = ctx.out
    return ((g * y).flip(d).cumsum(d).flip(d) / x,)


# ----------------------------------------------------------------------------------------------
# Public functions
# ----------------------------------------------------------------------------------------------

def _dims(input, dim, op):
    if dim is None or (isinstance(dim, (tuple, list)) and len(dim) == 0 and op in ("sum", "mean")):
        return tuple(range(input.ndim))
    return normalize_dims(dim, input.ndim, op)


def sum(input, dim=None, keepdim: bool = False, *, dtype=None, out=None):  # noqa: A001
    """Sum over `dim` (all dims when None); integers and bools sum to int64.

    Example:
        >>> dyngraph.tensor([[1, 2], [3, 4]]).sum(dim=0)
        tensor([4, 6])
    """
    dt = D.to_dtype(dtype) if dtype is not None else None
    r = apply(sum_op, input, dim=_dims(input, dim, "sum"), keepdim=keepdim, dtype=dt)
    return write_out(r, out, "sum")


def mean(input, dim=None, keepdim: bool = False, *, dtype=None, out=None):
    """Arithmetic mean over `dim`; needs a floating dtype (or `dtype=`), as in PyTorch."""
    dt = D.to_dtype(dtype) if dtype is not None else None
    if not (dt or input.dtype).is_floating_point:
        raise RuntimeError(
            f"mean(): could not infer output dtype. Input dtype must be either a floating point or "
            f"complex dtype. Got: {input.dtype.name.capitalize()}")
    r = apply(mean_op, input, dim=_dims(input, dim, "mean"), keepdim=keepdim, dtype=dt)
    return write_out(r, out, "mean")


def nansum(input, dim=None, keepdim=False, *, dtype=None):
    """Sum treating NaN as zero."""
    from .elementwise import where
    return sum(where(input.isnan(), 0, input), dim, keepdim, dtype=dtype)


def nanmean(input, dim=None, keepdim=False, *, dtype=None):
    """Mean over the non-NaN elements."""
    valid = ~input.isnan()
    return nansum(input, dim, keepdim, dtype=dtype) / sum(valid, dim, keepdim).to(input.dtype)


def prod(input, dim=None, keepdim: bool = False, *, dtype=None):
    """Product over one `dim` (or all elements)."""
    dt = D.to_dtype(dtype) if dtype is not None else None
    dims = tuple(range(input.ndim)) if dim is None else (wrap_dim(dim, input.ndim, "prod"),)
    return apply(prod_op, input, dim=dims, keepdim=keepdim, dtype=dt)


def amax(input, dim=(), keepdim: bool = False, *, out=None):
    """Maximum over `dim` (all dims by default); gradient shared between ties."""
    dims = tuple(range(input.ndim)) if dim in ((), None) else normalize_dims(dim, input.ndim, "amax")
    return write_out(apply(amax_op, input, dim=dims, keepdim=keepdim), out, "amax")


def amin(input, dim=(), keepdim: bool = False, *, out=None):
    """Minimum over `dim` (all dims by default); gradient shared between ties."""
    dims = tuple(range(input.ndim)) if dim in ((), None) else normalize_dims(dim, input.ndim, "amin")
    return write_out(apply(amin_op, input, dim=dims, keepdim=keepdim), out, "amin")


def argmax(input, dim=None, keepdim: bool = False):
    """Index of the (first) maximum, over the flattened tensor or along `dim`."""
    d = None if dim is None else wrap_dim(dim, input.ndim, "argmax")
    return apply(argmax_op, input, dim=d, keepdim=keepdim)


def argmin(input, dim=None, keepdim: bool = False):
    """Index of the (first) minimum, over the flattened tensor or along `dim`."""
    d = None if dim is None else wrap_dim(dim, input.ndim, "argmin")
    return apply(argmin_op, input, dim=d, keepdim=keepdim)


MaxResult = namedtuple("max", ["values", "indices"])
MinResult = namedtuple("min", ["values", "indices"])


def _take_along(input, idx_keep, d, keepdim):
    from .index import gather
    v = gather(input, d, idx_keep)
    return v if keepdim else v.squeeze(d)


@composite("max", "amax (no dim), or argmax + gather (with dim); binary form is maximum")
def max(input, dim=None, keepdim: bool = False, *, out=None):  # noqa: A001
    """`max(x)`: the largest value; `max(x, dim)`: (values, indices); `max(x, y)`: maximum."""
    if isinstance(dim, Tensor):
        from .elementwise import maximum
        return maximum(input, dim)
    if dim is None:
        if input.numel() == 0:
            raise RuntimeError("max(): Expected reduction dim to be specified for input.numel() "
                               "== 0. Specify the reduction dim with the 'dim' argument.")
        return amax(input)
    d = wrap_dim(dim, input.ndim, "max")
    idx = apply(argmax_op, input, dim=d, keepdim=True)
    return MaxResult(_take_along(input, idx, d, keepdim), idx if keepdim else idx.squeeze(d))


@composite("min", "amin (no dim), or argmin + gather (with dim); binary form is minimum")
def min(input, dim=None, keepdim: bool = False, *, out=None):  # noqa: A001
    """`min(x)`: the smallest value; `min(x, dim)`: (values, indices); `min(x, y)`: minimum."""
    if isinstance(dim, Tensor):
        from .elementwise import minimum
        return minimum(input, dim)
    if dim is None:
        if input.numel() == 0:
            raise RuntimeError("min(): Expected reduction dim to be specified for input.numel() "
                               "== 0. Specify the reduction dim with the 'dim' argument.")
        return amin(input)
    d = wrap_dim(dim, input.ndim, "min")
    idx = apply(argmin_op, input, dim=d, keepdim=True)
    return MinResult(_take_along(input, idx, d, keepdim), idx if keepdim else idx.squeeze(d))


def all(input, dim=None, keepdim: bool = False):  # noqa: A001
    """True if every element (along `dim`) is non-zero."""
    dims = tuple(range(input.ndim)) if dim is None else normalize_dims(dim, input.ndim, "all")
    return apply(all_op, input, dim=dims, keepdim=keepdim)


def any(input, dim=None, keepdim: bool = False):  # noqa: A001
    """True if any element (along `dim`) is non-zero."""
    dims = tuple(range(input.ndim)) if dim is None else normalize_dims(dim, input.ndim, "any")
    return apply(any_op, input, dim=dims, keepdim=keepdim)


def cumsum(input, dim: int, *, dtype=None, out=None):
    """Cumulative sum along `dim`."""
    dt = D.to_dtype(dtype) if dtype is not None else None
    d = wrap_dim(dim, input.ndim, "cumsum")
    return write_out(apply(cumsum_op, input, dim=d, dtype=dt), out, "cumsum")


def cumprod(input, dim: int, *, dtype=None):
    """Cumulative product along `dim`."""
    dt = D.to_dtype(dtype) if dtype is not None else None
    return apply(cumprod_op, input, dim=wrap_dim(dim, input.ndim, "cumprod"), dtype=dt)


def _correction(unbiased, correction):
    if correction is not None:
        return correction
    if unbiased is None:
        return 1
    return 1 if unbiased else 0


@composite("var", "mean, sub, mul, sum, div")
def var(input, dim=None, unbiased=None, keepdim: bool = False, *, correction=None):
    """Variance over `dim` with Bessel's correction (`correction=1`) by default."""
    if isinstance(unbiased, bool) or unbiased is None:
        pass
    else:  # var(x, dim, keepdim) positional legacy form
        dim, unbiased = unbiased, None
    c = _correction(unbiased, correction)
    dims = _dims(input, dim, "var")
    n = 1
    for d in dims:
        n *= input.shape[d]
    mu = mean(input, dims, keepdim=True)
    dev = input - mu
    ss = sum(dev * dev, dims, keepdim=keepdim)
    return ss / builtins.max(n - c, 0) if n - c > 0 else ss / 0.0


@composite("std", "sqrt(var)")
def std(input, dim=None, unbiased=None, keepdim: bool = False, *, correction=None):
    """Standard deviation over `dim` (Bessel-corrected by default)."""
    return var(input, dim, unbiased, keepdim, correction=correction).sqrt()


def var_mean(input, dim=None, unbiased=None, keepdim=False, *, correction=None):
    return (var(input, dim, unbiased, keepdim, correction=correction),
            mean(input, dim, keepdim))


def std_mean(input, dim=None, unbiased=None, keepdim=False, *, correction=None):
    return (std(input, dim, unbiased, keepdim, correction=correction),
            mean(input, dim, keepdim))


@composite("logsumexp", "amax (detached), sub, exp, sum, log, add")
def logsumexp(input, dim, keepdim: bool = False):
    """log(sum(exp(input))) over `dim`, computed stably."""
    dims = normalize_dims(dim, input.ndim, "logsumexp")
    if not input.dtype.is_floating_point:
        input = input.to(D.get_default_dtype())
    m = amax(input.detach(), dims, keepdim=True)
    from .elementwise import where
    m = where(m.isinf(), 0.0, m)
    r = sum((input - m).exp(), dims, keepdim=True).log() + m
    return r if keepdim else r.squeeze(dims)


@composite("norm", "abs, pow, sum (p-norms); amax/amin of abs (inf norms)")
def norm(input, p="fro", dim=None, keepdim: bool = False, dtype=None):
    """Vector p-norm (default 2 / Frobenius) over `dim` or all elements."""
    x = input if dtype is None else input.to(dtype)
    if not x.dtype.is_floating_point:
        raise RuntimeError(f"norm(): input dtype should be floating point, got {x.dtype.name}")
    dims = _dims(x, dim, "norm")
    if p in ("fro", 2, 2.0):
        return sum(x * x, dims, keepdim).sqrt()
    if p in (float("inf"), "inf"):
        return amax(x.abs(), dims, keepdim)
    if p in (float("-inf"), "-inf"):
        return amin(x.abs(), dims, keepdim)
    if p == 0:
        return sum((x != 0).to(x.dtype), dims, keepdim)
    if p == 1:
        return sum(x.abs(), dims, keepdim)
    if p == "nuc":
        raise NotImplementedError("norm(p='nuc') is not supported")
    return sum(x.abs() ** p, dims, keepdim) ** (1.0 / p)


def _method(name, fn):
    setattr(Tensor, name, fn)


for _name, _fn in [("sum", sum), ("mean", mean), ("nansum", nansum), ("nanmean", nanmean),
                   ("prod", prod), ("amax", amax), ("amin", amin), ("argmax", argmax),
                   ("argmin", argmin), ("max", max), ("min", min), ("all", all), ("any", any),
                   ("cumsum", cumsum), ("cumprod", cumprod), ("var", var), ("std", std),
                   ("logsumexp", logsumexp), ("norm", norm)]:
    _method(_name, _fn)


@register_method("cumsum_")
def _cumsum_(self, dim):
    from ._api import inplace
    return inplace(cumsum, self, dim, opname="cumsum_")


__all__ = [_n for _n, _v in list(globals().items())
           if not _n.startswith("_") and callable(_v) and getattr(_v, "__module__", "") == __name__]
