"""Reductions over `dim` with `keepdim`: sum, mean, prod, amax/amin, argmax/argmin, all/any,
vector norms and scans (cumsum, cumprod), plus the composites built on them (max/min with
indices, aminmax, var, std, logsumexp, count_nonzero). The primitive ops, with their eager and
gradient rules, are in _reduction_ops.py; this module holds the public functions and Tensor
methods. Median lives in sorting.py.

Dtypes follow PyTorch: integer and bool sums/products give int64, half precision accumulates in
float32 and is cast back, and `dtype=` casts the input before reducing.
"""

from __future__ import annotations

import builtins
from collections import namedtuple

from .. import _dtype as D
from ._api import Tensor, apply, inplace, normalize_dims, register_method, wrap_dim, write_out
# The primitive ops (eager and gradient rules) live in _reduction_ops.py; imported here first,
# so the op table keeps its order, and re-exported (the same objects).
from ._reduction_ops import (REDUCE, SCAN, _acc_dtype, _arg_extreme,  # noqa: F401
                             _back_to_half, _check_nonempty, _extreme_grad, _grad_to_input,
                             _is_half, _keep_shape, _scan, all_op, amax_op, amin_op, any_op,
                             argmax_op, argmin_op, cumprod_op, cumsum_op, mean_op, norm_op,
                             prod_op, sum_op)
from .registry import composite


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
