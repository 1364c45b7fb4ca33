"""Reductions over `dim` with `keepdim`: sum, mean, prod, amax/amin, argmax/argmin, all/any,
vector norms and scans (cumsum, cumprod), plus the composites built on them (max/min with
indices, aminmax, var, std, logsumexp, count_nonzero). Median lives in sorting.py.

Dtypes follow PyTorch: integer and bool sums/products give int64, half precision accumulates in
float32 and is cast back, and `dtype=` casts the input before reducing.
"""

from __future__ import annotations

import builtins
import math
from collections import namedtuple

import numpy as np

from .. import _dtype as D
from ._api import Tensor, apply, inplace, normalize_dims, register_method, wrap_dim, write_out
from .shape import expand_op, reshape_op
from .registry import OpKind, composite, defop, nondiff

REDUCE, SCAN = OpKind.REDUCE, OpKind.SCAN


def _keep_shape(in_shape, dims):
    return tuple(1 if i in dims else s for i, s in enumerate(in_shape))


def _grad_to_input(ctx, g):
    """Reshape a reduction's gradient to keepdim form and expand it over the input."""
    shape = ctx.input_shape(0)
    dims = ctx.attrs["dim"]
    if not ctx.attrs["keepdim"] and g._data.ndim:  # a 0-d gradient broadcasts as it is
        g = apply(reshape_op, g, shape=_keep_shape(shape, dims))
    return g if tuple(g.shape) == tuple(shape) else apply(expand_op, g, shape=tuple(shape))


def _is_half(npdt) -> bool:
    # numpy computes dtype.name in Python (slow); bfloat16 is the only 2-byte kind "V" we use
    return npdt.itemsize == 2 and (npdt.kind == "f" or npdt.kind == "V")


def _acc_dtype(x, dtype):
    """The accumulation dtype: `dtype=` if given, int64 for integers and bools, float32 for
    half precision (cast back afterwards, as PyTorch does), else the input's own."""
    if dtype is not None:
        return dtype.np
    if x.dtype.kind in "biu":
        return np.dtype(np.int64)
    if _is_half(x.dtype):
        return np.dtype(np.float32)
    return None


def _back_to_half(out, x, dtype):
    """Half-precision inputs accumulate in float32; the result goes back to the input dtype."""
    if dtype is None and _is_half(x.dtype) and out.dtype != x.dtype:
        return out.astype(x.dtype)
    return out


@defop("sum", REDUCE, dtype_rule="none")
def sum_op(xp, x, dim, keepdim, dtype=None):
    acc = _acc_dtype(x, dtype)
    # The array method skips numpy's Python-level `np.sum` wrapper (a third of a small sum's time).
    out = x.sum(axis=dim, keepdims=keepdim, dtype=acc)
    return _back_to_half(out, x, dtype)


@sum_op.def_grad
def _(ctx, g):
    return (_grad_to_input(ctx, g),)


@defop("mean", REDUCE, dtype_rule="none")
def mean_op(xp, x, dim, keepdim, dtype=None):
    n = 1
    for d in dim:
        n *= x.shape[d]
    a = x if dtype is None else x.astype(dtype.np, copy=False)
    acc = np.float32 if _is_half(a.dtype) else a.dtype
    with np.errstate(all="ignore"):  # the mean of nothing is NaN, as in PyTorch
        out = xp.sum(a, axis=dim, keepdims=keepdim, dtype=acc) / n
    return out.astype(a.dtype, copy=False)


@mean_op.def_grad
def _(ctx, g):
    shape = ctx.input_shape(0)
    n = 1
    for d in ctx.attrs["dim"]:
        n *= shape[d]
    return (_grad_to_input(ctx, g) / n,)


@defop("prod", REDUCE, dtype_rule="none", save=("inputs", "output"))
def prod_op(xp, x, dim, keepdim, dtype=None):
    acc = _acc_dtype(x, dtype)
    out = xp.prod(x, axis=dim, keepdims=keepdim, dtype=acc)
    return _back_to_half(out, x, dtype)


@prod_op.def_grad
def _(ctx, g):
    # d prod / d x_i = the product of the others, written without dividing by zero:
    # - no zero in the slice: out / x_i;
    # - one zero, at z: prod_nz (the product of the non-zeros) at z, and prod_nz / x_i * x_z
    #   elsewhere (0 in value, but with the right derivative in x_z, so double backward is exact);
    # - two or more zeros: 0 (the first derivative is exact; the second is not, there).
    from .elementwise import where
    (x,) = ctx.inputs
    dims, keep = ctx.attrs["dim"], ctx.attrs["keepdim"]
    out = ctx.out.to(x.dtype)
    shape = ctx.input_shape(0)
    if not keep:
        out = out.reshape(_keep_shape(shape, dims))
        g = g.reshape(_keep_shape(shape, dims))
    is_zero = x == 0
    nonzero = where(is_zero, 1.0, x)
    nzero = apply(sum_op, is_zero, dim=dims, keepdim=True)
    no_zero = where(nzero == 0, out, 0.0) / nonzero
    prod_nz = apply(prod_op, nonzero, dim=dims, keepdim=True)
    x_z = apply(sum_op, where(is_zero, x, 0.0), dim=dims, keepdim=True)
    one_zero = where(nzero == 1, where(is_zero, prod_nz, prod_nz / nonzero * x_z), 0.0)
    return (g * (no_zero + one_zero),)


def _check_nonempty(name, x, dim):
    if x.size == 0 and builtins.any(x.shape[d] == 0 for d in dim):
        raise IndexError(f"{name}(): Expected reduction dim to have non-zero size (input shape "
                         f"{tuple(x.shape)}, dim {dim}); reduce over a non-empty dim instead")


@defop("amax", REDUCE, dtype_rule="none", save=("inputs", "output"))
def amax_op(xp, x, dim, keepdim):
    _check_nonempty("amax", x, dim)
    return xp.max(x, axis=dim, keepdims=keepdim)


@amax_op.def_grad
def _(ctx, g):
    return (_extreme_grad(ctx, g),)


@defop("amin", REDUCE, dtype_rule="none", save=("inputs", "output"))
def amin_op(xp, x, dim, keepdim):
    _check_nonempty("amin", x, dim)
    return xp.min(x, axis=dim, keepdims=keepdim)


@amin_op.def_grad
def _(ctx, g):
    return (_extreme_grad(ctx, g),)


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


def _arg_extreme(xp, name, fn, x, dim, keepdim):
    if dim is None:
        if x.size == 0:
            raise RuntimeError(f"{name}(): Expected reduction dim to be specified for "
                               "input.numel() == 0.")
        r = fn(x.reshape(-1), axis=0)
        return r.reshape((1,) * x.ndim) if keepdim else r
    if x.ndim == 0:
        return xp.zeros((), dtype=np.int64)
    if x.shape[dim] == 0:
        raise IndexError(f"{name}(): Expected reduction dim {dim} to have non-zero size (input "
                         f"shape {tuple(x.shape)})")
    return fn(x, axis=dim, keepdims=keepdim)


@nondiff("argmax", REDUCE, "integer output", dtype_rule="none")
def argmax_op(xp, x, dim, keepdim):
    return _arg_extreme(xp, "argmax", xp.argmax, x, dim, keepdim)


@nondiff("argmin", REDUCE, "integer output", dtype_rule="none")
def argmin_op(xp, x, dim, keepdim):
    return _arg_extreme(xp, "argmin", xp.argmin, x, dim, keepdim)


@nondiff("all", REDUCE, "boolean output", dtype_rule="none")
def all_op(xp, x, dim, keepdim):
    out = xp.all(x, axis=dim, keepdims=keepdim)
    return out.astype(np.uint8) if x.dtype == np.uint8 else out  # PyTorch keeps uint8


@nondiff("any", REDUCE, "boolean output", dtype_rule="none")
def any_op(xp, x, dim, keepdim):
    out = xp.any(x, axis=dim, keepdims=keepdim)
    return out.astype(np.uint8) if x.dtype == np.uint8 else out


# ----- vector norm ----------------------------------------------------------------------------

@defop("norm", REDUCE, dtype_rule="none", save=("inputs", "output"))
def norm_op(xp, x, ord, dim, keepdim):
    acc = np.float32 if _is_half(x.dtype) else None
    a = xp.abs(x if acc is None else x.astype(acc))
    if x.size == 0 and math.isinf(ord):
        _check_nonempty("linalg.vector_norm", x, dim)
    if ord == 2:
        out = xp.sqrt(xp.sum(a * a, axis=dim, keepdims=keepdim))
    elif ord == 1:
        out = xp.sum(a, axis=dim, keepdims=keepdim)
    elif ord == math.inf:
        out = xp.max(a, axis=dim, keepdims=keepdim)
    elif ord == -math.inf:
        out = xp.min(a, axis=dim, keepdims=keepdim)
    elif ord == 0:
        out = xp.sum(a != 0, axis=dim, keepdims=keepdim).astype(a.dtype)
    else:
        with np.errstate(divide="ignore"):  # 0 ** negative p is inf, as in PyTorch
            out = xp.sum(a ** ord, axis=dim, keepdims=keepdim) ** (1.0 / ord)
    return out.astype(x.dtype, copy=False)


@norm_op.def_grad
def _(ctx, g):
    # PyTorch's norm_backward: 0 where the norm is 0 (the subgradient), ties share inf-norms.
    from .elementwise import where
    (x,) = ctx.inputs
    p, dims = ctx.attrs["ord"], ctx.attrs["dim"]
    out = ctx.out
    if not ctx.attrs["keepdim"]:
        ks = _keep_shape(ctx.input_shape(0), dims)
        out, g = out.reshape(ks), g.reshape(ks)
    if p == 0:
        return (x * 0,)
    if p == 1:
        return (x.sign() * g,)
    if p == 2:
        return (x * where(out == 0, 0.0, g / out),)
    if math.isinf(p):
        a = x.abs()
        mask = ((a == out) | a.isnan()).to(g.dtype)
        return (x.sign() * mask * (g / apply(sum_op, mask, dim=dims, keepdim=True)),)
    a = x.abs()
    scale = where(out == 0, 0.0, g / out ** (p - 1))
    return (x.sign() * a ** (p - 1) * scale,)


# ----- scans ----------------------------------------------------------------------------------

def _scan(xp, fn, x, dim, dtype, reverse):
    acc = _acc_dtype(x, dtype)
    if x.ndim == 0:
        return _back_to_half(x.astype(acc or x.dtype, copy=True), x, dtype)
    a = xp.flip(x, axis=dim) if reverse else x
    out = fn(a, axis=dim, dtype=acc)
    if reverse:
        out = xp.ascontiguousarray(xp.flip(out, axis=dim))
    return _back_to_half(out, x, dtype)


@defop("cumsum", SCAN, dtype_rule="none")
def cumsum_op(xp, x, dim, dtype=None, reverse=False):
    return _scan(xp, xp.cumsum, x, dim, dtype, reverse)


@cumsum_op.def_grad
def _(ctx, g):
    # The adjoint of a running sum is the running sum from the other end.
    return (apply(cumsum_op, g, dim=ctx.attrs["dim"], reverse=not ctx.attrs.get("reverse", False)),)


@defop("cumprod", SCAN, dtype_rule="none", save=("inputs", "output"))
def cumprod_op(xp, x, dim, dtype=None):
    return _scan(xp, xp.cumprod, x, dim, dtype, False)


@cumprod_op.def_grad
def _(ctx, g):
    # grad_k = sum_{j>=k} g_j * prod_{i<=j, i!=k} x_i. Before the first zero of a slice that is
    # revcumsum(g * out) / x; at the first zero it is revcumsum(g * cumprod(x with that zero set
    # to 1)); after it, 0. Written with no division by zero, so zeros get exact gradients.
    from .elementwise import where
    (x,) = ctx.inputs
    d = ctx.attrs["dim"]
    out = ctx.out.to(x.dtype)
    is_zero = x == 0
    zeros_upto = apply(cumsum_op, is_zero, dim=d)
    before = zeros_upto == 0
    first_zero = is_zero & (zeros_upto == 1)
    g = g.to(x.dtype)
    rev = apply(cumsum_op, g * out, dim=d, reverse=True)
    grad = where(before, rev / where(is_zero, 1.0, x), 0.0)
    out1 = apply(cumprod_op, where(first_zero, 1.0, x), dim=d)
    rev1 = apply(cumsum_op, g * out1, dim=d, reverse=True)
    return (grad + where(first_zero, rev1, 0.0),)


# ----------------------------------------------------------------------------------------------
# Public functions
# ----------------------------------------------------------------------------------------------

def _dims(input, dim, op):
    """`dim` as a sorted tuple; None, and for sum/mean-like ops an empty list, mean all dims."""
    if dim is None or (isinstance(dim, (tuple, list)) and len(dim) == 0):
        return tuple(range(input.ndim))
    dims = normalize_dims(dim, input.ndim, op)
    return dims if input.ndim else ()  # a 0-d tensor accepts dim 0 or -1 and reduces nothing


def _opt_dtype(dtype):
    return D.to_dtype(dtype) if dtype is not None else None


def sum(input, dim=None, keepdim: bool = False, *, dtype=None, out=None):  # noqa: A001
    """Sum over `dim` (an int, a tuple, or None for all dims); ints and bools sum to int64.

    Args:
        input: the tensor.
        dim: dimension(s) to reduce; negative values count from the end.
        keepdim: keep reduced dimensions with size 1.
        dtype: cast the input to this dtype first.
        out: optional output tensor.

    Example:
        >>> dyngraph.tensor([[1, 2], [3, 4]]).sum(dim=0)
        tensor([4, 6])
    """
    if dim is None and dtype is None and out is None:  # x.sum(): the common call, kept short
        return apply(sum_op, input, dim=tuple(range(input._data.ndim)), keepdim=keepdim,
                     dtype=None)
    r = apply(sum_op, input, dim=_dims(input, dim, "sum"), keepdim=keepdim,
              dtype=_opt_dtype(dtype))
    return write_out(r, out, "sum")


def mean(input, dim=None, keepdim: bool = False, *, dtype=None, out=None):
    """Arithmetic mean over `dim`; needs a floating dtype (or `dtype=`), as in PyTorch.

    Example:
        >>> dyngraph.tensor([[1., 2.], [3., 4.]]).mean(-1)
        tensor([1.5000, 3.5000])
    """
    dt = _opt_dtype(dtype)
    if not (dt or input.dtype).is_floating_point:
        raise RuntimeError(
            f"mean(): could not infer output dtype. Input dtype must be either a floating point or "
            f"complex dtype. Got: {input.dtype.name.capitalize()}. Pass dtype=dyngraph.float32 "
            "or call .float() first")
    r = apply(mean_op, input, dim=_dims(input, dim, "mean"), keepdim=keepdim, dtype=dt)
    return write_out(r, out, "mean")


def nansum(input, dim=None, keepdim=False, *, dtype=None):
    """Sum over `dim` treating NaN as zero."""
    from .elementwise import where
    x = where(input.isnan(), 0, input) if input.dtype.is_floating_point else input
    return sum(x, dim, keepdim, dtype=dtype)


def nanmean(input, dim=None, keepdim=False, *, dtype=None):
    """Mean over `dim` of the non-NaN elements."""
    valid = ~input.isnan()
    return nansum(input, dim, keepdim, dtype=dtype) / sum(valid, dim, keepdim).to(input.dtype)


def prod(input, dim=None, keepdim: bool = False, *, dtype=None):
    """Product over one `dim` (or all elements); ints and bools multiply in int64.

    Example:
        >>> dyngraph.tensor([[1., 2.], [3., 4.]]).prod(1)
        tensor([ 2., 12.])
    """
    if isinstance(dim, (tuple, list)):
        raise TypeError("prod(): argument 'dim' must be int, not tuple (reduce one dim at a time)")
    dims = _dims(input, None if dim is None else (wrap_dim(dim, input.ndim, "prod"),), "prod")
    return apply(prod_op, input, dim=dims, keepdim=keepdim, dtype=_opt_dtype(dtype))


def amax(input, dim=(), keepdim: bool = False, *, out=None):
    """Maximum over `dim` (all dims by default); the gradient is shared between ties.

    Example:
        >>> dyngraph.tensor([[1., 5.], [7., 2.]]).amax(0)
        tensor([7., 5.])
    """
    dims = _dims(input, dim, "amax")
    return write_out(apply(amax_op, input, dim=dims, keepdim=keepdim), out, "amax")


def amin(input, dim=(), keepdim: bool = False, *, out=None):
    """Minimum over `dim` (all dims by default); the gradient is shared between ties."""
    dims = _dims(input, dim, "amin")
    return write_out(apply(amin_op, input, dim=dims, keepdim=keepdim), out, "amin")


def argmax(input, dim=None, keepdim: bool = False):
    """Index (int64) of the first maximum, over the flattened tensor or along `dim`."""
    d = None if dim is None else wrap_dim(dim, input.ndim, "argmax")
    return apply(argmax_op, input, dim=d, keepdim=keepdim)


def argmin(input, dim=None, keepdim: bool = False):
    """Index (int64) of the first minimum, over the flattened tensor or along `dim`."""
    d = None if dim is None else wrap_dim(dim, input.ndim, "argmin")
    return apply(argmin_op, input, dim=d, keepdim=keepdim)


MaxResult = namedtuple("max", ["values", "indices"])
MinResult = namedtuple("min", ["values", "indices"])


def _take_along(input, idx_keep, d, keepdim):
    """input's values at `idx_keep` (keepdim-shaped indices) along `d`; differentiable."""
    from .index import gather
    if input.ndim == 0:
        return input.clone()
    v = gather(input, d, idx_keep)
    return v if keepdim else v.squeeze(d)


def _write_pair(result, out, name):
    if out is None:
        return result
    values, indices = out
    write_out(result[0], values, name)
    write_out(result[1], indices, name)
    return type(result)(values, indices)


def _extreme(name, arg_op, full, binary, result_type, input, dim, keepdim, out, other=None):
    if other is not None or isinstance(dim, Tensor):
        return binary(input, dim if other is None else other)
    if dim is None:
        if input.numel() == 0:
            raise RuntimeError(f"{name}(): Expected reduction dim to be specified for "
                               "input.numel() == 0. Specify the reduction dim with the 'dim' "
                               "argument.")
        return full(input)
    d = wrap_dim(dim, input.ndim, name)
    idx = apply(arg_op, input, dim=d, keepdim=True)
    if input.ndim == 0:
        idx = idx.reshape(())
    values = _take_along(input, idx, d, keepdim)
    r = result_type(values, idx if keepdim or input.ndim == 0 else idx.squeeze(d))
    return _write_pair(r, out, name)


@composite("max", "amax (no dim), or argmax + gather (with dim); binary form is maximum")
def max(input, dim=None, keepdim: bool = False, *, out=None, other=None):  # noqa: A001
    """`max(x)`: the largest value; `max(x, dim)`: (values, indices); `max(x, y)`: maximum.

    With `dim` the gradient flows to the selected index only; without it, it is shared
    between tied maxima (as in PyTorch).

    Example:
        >>> dyngraph.max(dyngraph.tensor([[1., 5.], [7., 2.]]), 1).indices
        tensor([1, 0])
    """
    from .elementwise import maximum
    return _extreme("max", argmax_op, amax, maximum, MaxResult, input, dim, keepdim, out, other)


@composite("min", "amin (no dim), or argmin + gather (with dim); binary form is minimum")
def min(input, dim=None, keepdim: bool = False, *, out=None, other=None):  # noqa: A001
    """`min(x)`: the smallest value; `min(x, dim)`: (values, indices); `min(x, y)`: minimum."""
    from .elementwise import minimum
    return _extreme("min", argmin_op, amin, minimum, MinResult, input, dim, keepdim, out, other)


AminmaxResult = namedtuple("aminmax", ["min", "max"])


def aminmax(input, *, dim=None, keepdim: bool = False):
    """(min, max) over `dim` (all elements by default), as `amin` and `amax` compute them."""
    dims = () if dim is None else dim
    return AminmaxResult(amin(input, dims, keepdim), amax(input, dims, keepdim))


def _bool_dims(input, dim, name):
    return tuple(range(input.ndim)) if dim is None else _dims(input, dim, name)


def all(input, dim=None, keepdim: bool = False, *, out=None):  # noqa: A001
    """True if every element (along `dim`, an int or tuple) is non-zero."""
    r = apply(all_op, input, dim=_bool_dims(input, dim, "all"), keepdim=keepdim)
    return write_out(r, out, "all")


def any(input, dim=None, keepdim: bool = False, *, out=None):  # noqa: A001
    """True if any element (along `dim`, an int or tuple) is non-zero."""
    r = apply(any_op, input, dim=_bool_dims(input, dim, "any"), keepdim=keepdim)
    return write_out(r, out, "any")


@composite("count_nonzero", "ne, sum")
def count_nonzero(input, dim=None):
    """Number of non-zero elements (int64) over `dim` (an int, a tuple, or all)."""
    return sum(input != 0, dim)


def cumsum(input, dim: int, *, dtype=None, out=None):
    """Cumulative sum along `dim`; ints and bools accumulate in int64.

    Example:
        >>> dyngraph.tensor([1, 2, 3]).cumsum(0)
        tensor([1, 3, 6])
    """
    d = wrap_dim(dim, input.ndim, "cumsum")
    return write_out(apply(cumsum_op, input, dim=d, dtype=_opt_dtype(dtype)), out, "cumsum")


def cumprod(input, dim: int, *, dtype=None, out=None):
    """Cumulative product along `dim`; exact gradients also where the input has zeros."""
    d = wrap_dim(dim, input.ndim, "cumprod")
    return write_out(apply(cumprod_op, input, dim=d, dtype=_opt_dtype(dtype)), out, "cumprod")


def _var_args(input, dim, unbiased, correction, name):
    """Resolve PyTorch's var/std overloads to (dims, correction)."""
    if isinstance(dim, bool):  # var(x, unbiased)
        dim, unbiased = None, dim
    if unbiased is not None and correction is not None:
        raise RuntimeError(f"{name}(): pass either unbiased or correction, not both")
    if not input.dtype.is_floating_point:
        raise RuntimeError(f"{name}(): std and var only support floating point and complex dtypes "
                           f"(got {input.dtype.name}); call .float() first")
    c = correction if correction is not None else (1 if unbiased is None or unbiased else 0)
    return _dims(input, dim, name), c


@composite("var", "mean, sub, mul, sum, div")
def var(input, dim=None, unbiased=None, keepdim: bool = False, *, correction=None, out=None):
    """Variance over `dim`, divided by N - correction (Bessel's correction, 1, by default).

    Args:
        input: a floating-point tensor.
        dim: dimension(s) to reduce (all by default).
        unbiased: legacy flag: True means correction=1, False correction=0.
        keepdim: keep reduced dimensions with size 1.
        correction: the difference between the sample size and the degrees of freedom.
        out: optional tensor to write the result into.

    Example:
        >>> dyngraph.tensor([1., 2., 3., 4.]).var()
        tensor(1.6667)
    """
    dims, c = _var_args(input, dim, unbiased, correction, "var")
    x = input.float() if input.dtype.itemsize < 4 else input  # two-pass in float32 for halves
    n = 1
    for d in dims:
        n *= x.shape[d]
    dev = x - mean(x, dims, keepdim=True)
    r = sum(dev * dev, dims, keepdim=keepdim) / builtins.max(n - c, 0)
    return write_out(r.to(input.dtype), out, "var")


@composite("std", "sqrt(var)")
def std(input, dim=None, unbiased=None, keepdim: bool = False, *, correction=None, out=None):
    """Standard deviation over `dim` (Bessel-corrected by default); see `var` for the args."""
    return write_out(var(input, dim, unbiased, keepdim, correction=correction).sqrt(), out, "std")


def var_mean(input, dim=None, unbiased=None, keepdim=False, *, correction=None):
    """(var, mean) over `dim`, with `var`'s arguments."""
    return (var(input, dim, unbiased, keepdim, correction=correction),
            mean(input, _var_args(input, dim, unbiased, correction, "var_mean")[0], keepdim))


def std_mean(input, dim=None, unbiased=None, keepdim=False, *, correction=None):
    """(std, mean) over `dim`, with `std`'s arguments."""
    return (std(input, dim, unbiased, keepdim, correction=correction),
            mean(input, _var_args(input, dim, unbiased, correction, "std_mean")[0], keepdim))


@composite("logsumexp", "amax (detached), sub, exp, sum, log, add")
def logsumexp(input, dim=None, keepdim: bool = False, *, out=None):
    """log(sum(exp(input))) over `dim`, computed stably (shifted by the maximum).

    Example:
        >>> dyngraph.logsumexp(dyngraph.tensor([0., 0.]), 0)
        tensor(0.6931)
    """
    dims = _dims(input, dim, "logsumexp")
    if not input.dtype.is_floating_point:
        input = input.to(D.get_default_dtype())
    if input.numel() == 0:
        return write_out(sum(input.exp(), dims, keepdim).log(), out, "logsumexp")
    from .elementwise import where
    m = amax(input.detach(), dims, keepdim=True)
    m = where(m.isinf(), 0.0, m)
    r = sum((input - m).exp(), dims, keepdim=True).log() + m
    r = r if keepdim else r.reshape(tuple(s for i, s in enumerate(input.shape) if i not in dims))
    return write_out(r, out, "logsumexp")


def _norm_ord(p):
    if p in ("fro", None):
        return 2.0
    if p == "nuc":
        raise NotImplementedError("norm(p='nuc'): the nuclear norm is not supported")
    if isinstance(p, str):
        raise RuntimeError(f"norm(): unsupported p={p!r}; use a number, inf or 'fro'")
    return float(p)


def norm(input, p="fro", dim=None, keepdim: bool = False, out=None, dtype=None):
    """Vector p-norm over `dim` (all elements by default); 'fro' is the 2-norm.

    Args:
        input: a floating-point tensor.
        p: 'fro', or a number (inf and -inf included).
        dim: dimension(s) to reduce.
        keepdim: keep reduced dimensions with size 1.
        dtype: cast the input to this dtype first.

    Example:
        >>> dyngraph.tensor([3., 4.]).norm()
        tensor(5.)
    """
    x = input if dtype is None else input.to(dtype)
    if not x.dtype.is_floating_point:
        raise RuntimeError(f"linalg.vector_norm: Expected a floating point or complex tensor as "
                           f"input. Got {x.dtype.name}; call .float() first")
    r = apply(norm_op, x, ord=_norm_ord(p), dim=_dims(x, dim, "norm"), keepdim=keepdim)
    return write_out(r, out, "norm")


# ----------------------------------------------------------------------------------------------
# Tensor methods
# ----------------------------------------------------------------------------------------------

for _name, _fn in [("sum", sum), ("mean", mean), ("nansum", nansum), ("nanmean", nanmean),
                   ("prod", prod), ("amax", amax), ("amin", amin), ("argmax", argmax),
                   ("argmin", argmin), ("max", max), ("min", min), ("all", all), ("any", any),
                   ("count_nonzero", count_nonzero), ("cumsum", cumsum), ("cumprod", cumprod),
                   ("var", var), ("std", std), ("logsumexp", logsumexp), ("norm", norm),
                   ("aminmax", aminmax)]:
    setattr(Tensor, _name, _fn)


@register_method("cumsum_")
def _cumsum_(self, dim, *, dtype=None):
    return inplace(lambda t: cumsum(t, dim, dtype=dtype), self, opname="cumsum_")


@register_method("cumprod_")
def _cumprod_(self, dim, *, dtype=None):
    return inplace(lambda t: cumprod(t, dim, dtype=dtype), self, opname="cumprod_")


__all__ = [_n for _n, _v in list(globals().items())
           if not _n.startswith("_") and callable(_v) and getattr(_v, "__module__", "") == __name__]
