"""The reduction and scan primitives of the op table: sum, mean, prod, amax/amin,
argmax/argmin, all/any, the vector norm, cumsum and cumprod, each with its eager rule and its
gradient rule. The public functions and Tensor methods built on them are in reduction.py.

Dtypes follow PyTorch: integer and bool sums/products give int64, half precision accumulates in
float32 and is cast back, and `dtype=` casts the input before reducing.
"""

from __future__ import annotations

import builtins
import math

import numpy as np

from ._api import apply
from .shape import expand_op, reshape_op
from .registry import OpKind, defop, nondiff

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
