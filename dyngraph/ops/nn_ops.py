"""Primitives for neural-network layers: fused, numerically stable softmax and log_softmax.

They are primitives rather than composites because the fused forward subtracts the row maximum
once and the backward needs only the saved output (one node each way instead of five). Their
gradient rules are written in dyngraph ops, so double backward works.
"""

from __future__ import annotations

import numpy as np

from .registry import OpKind, defop, nondiff

__all__ = ["softmax", "log_softmax"]  # (cross_entropy_indices: used by F.cross_entropy)


def _widened(x):
    # float16/bfloat16 accumulate in float32, as PyTorch's kernels do.
    return x.astype(np.float32) if x.dtype.itemsize < 4 else x


@defop("softmax", OpKind.OTHER, dtype_rule="none", save=("output",),
       doc="exp(x - max) / sum(exp(x - max)) along `dim`")
def softmax_op(xp, x, dim):
    if x.ndim == 0:
        return xp.ones_like(x)
    w = _widened(x)
    e = w - w.max(axis=dim, keepdims=True)  # a fresh array: the steps below reuse it in place
    xp.exp(e, out=e)
    e /= e.sum(axis=dim, keepdims=True)
    return e.astype(x.dtype, copy=False)


@softmax_op.def_grad
def _(ctx, g):
    y = ctx.out
    dim = ctx.attrs["dim"]
    gy = g * y
    return (gy - y * gy.sum(dim, keepdim=True),)


@defop("log_softmax", OpKind.OTHER, dtype_rule="none", save=("output",),
       doc="x - max - log(sum(exp(x - max))) along `dim`")
def log_softmax_op(xp, x, dim):
    if x.ndim == 0:
        return xp.zeros_like(x)
    w = _widened(x)
    shifted = w - w.max(axis=dim, keepdims=True)
    shifted -= xp.log(xp.exp(shifted).sum(axis=dim, keepdims=True))
    return shifted.astype(x.dtype, copy=False)


@log_softmax_op.def_grad
def _(ctx, g):
    y = ctx.out
    return (g - y.exp() * g.sum(ctx.attrs["dim"], keepdim=True),)


@defop("cross_entropy_indices", OpKind.OTHER, dtype_rule="none", save=("inputs",),
       doc="sum or mean over rows of logsumexp(x) - x[target]; x (N, C), int64 target (N,)")
def cross_entropy_indices_op(xp, x, target, mean):
    # Eager mode's fused form of log_softmax + gather + neg + sum (+ div) for the common call
    # (2-D logits, class indices, no weight, nothing ignored: F.cross_entropy checks that).
    # Traces keep the general form, which the compiler fuses itself.
    w = _widened(x)
    shifted = w - w.max(axis=1, keepdims=True)
    lse = xp.log(xp.exp(shifted).sum(axis=1))
    loss = (lse - shifted[xp.arange(x.shape[0]), target]).sum()
    if mean:
        loss = loss / x.shape[0]
    return xp.asarray(loss, dtype=x.dtype)


@nondiff("cross_entropy_indices_backward", OpKind.OTHER,
         "runs only while the backward is not recorded; with create_graph=True "
         "cross_entropy_indices' gradient is composed of differentiable ops", dtype_rule="none")
def cross_entropy_indices_backward_op(xp, grad, x, target, mean):
    w = _widened(x)
    p = w - w.max(axis=1, keepdims=True)
    xp.exp(p, out=p)
    p /= p.sum(axis=1, keepdims=True)
    p[xp.arange(x.shape[0]), target] -= 1
    p *= grad / x.shape[0] if mean else grad
    return p.astype(x.dtype, copy=False)


@cross_entropy_indices_op.def_grad
def _(ctx, g):
    x, target = ctx.inputs
    mean = ctx.attrs["mean"]
    if not state.grad_enabled:      # a plain backward: one fused numpy pass
        return apply(cross_entropy_indices_backward_op, g, x, target, mean=mean), None
    from .index import scatter      # create_graph: differentiable ops (double backward)
    p = apply(softmax_op, x, dim=1)
    hot = scatter(p.detach() * 0, 1, target.unsqueeze(1), 1.0)
    return (p - hot) * (g / x.shape[0] if mean else g), None


# ----------------------------------------------------------------------------------------------
# Public functions and Tensor methods
# ----------------------------------------------------------------------------------------------
from ._api import Tensor, apply, register_method, state, wrap_dim  # noqa: E402


def _prepare(name: str, input: Tensor, dim: int, dtype) -> tuple[Tensor, int]:
    if not isinstance(input, Tensor):
        raise TypeError(f"{name}(): argument 'input' must be Tensor, not {type(input).__name__}")
    if dtype is not None:
        input = input.to(dtype)
    if not input.dtype.is_floating_point:
        raise RuntimeError(
            f"{name}: not implemented for integer/bool dtype {input.dtype}; pass dtype= "
            "(e.g. dtype=dyngraph.float32) or convert with .float() first")
    if not isinstance(dim, int):
        raise TypeError(f"{name}(): argument 'dim' must be int, not {type(dim).__name__}")
    return input, wrap_dim(dim, input.ndim, name)


def softmax(input: Tensor, dim: int, dtype=None) -> Tensor:
    """Softmax along `dim`: exp(x) / exp(x).sum(dim), computed stably.

    Args:
        input: a floating-point tensor.
        dim: the dimension whose slices sum to 1.
        dtype: cast the input to this dtype first.

    Example:
        >>> dyngraph.softmax(dyngraph.tensor([1., 1.]), dim=0)
        tensor([0.5000, 0.5000])
    """
    input, d = _prepare("softmax", input, dim, dtype)
    if input.ndim == 0:
        d = ()
    return apply(softmax_op, input, dim=d)


def log_softmax(input: Tensor, dim: int, dtype=None) -> Tensor:
    """log(softmax(input, dim)), computed without overflow or log(0).

    Args:
        input: a floating-point tensor.
        dim: the dimension to normalise over.
        dtype: cast the input to this dtype first.
    """
    input, d = _prepare("log_softmax", input, dim, dtype)
    if input.ndim == 0:
        d = ()
    return apply(log_softmax_op, input, dim=d)


@register_method("softmax")
def _softmax_method(self, dim: int, dtype=None) -> Tensor:
    return softmax(self, dim, dtype)


@register_method("log_softmax")
def _log_softmax_method(self, dim: int, dtype=None) -> Tensor:
    return log_softmax(self, dim, dtype)
