"""Activation functions of `dyngraph.nn.functional` (relu ... softmin), with PyTorch's names,
arguments and semantics.

Most are composites of primitive ops; softmax/log_softmax use the fused primitives in
`dyngraph/ops/nn_ops.py`. `functional.py` re-exports every name defined here.
"""

from __future__ import annotations

import math
import warnings

from .. import ops as _ops
from .._tensor import Tensor
from ..ops._api import inplace as _inplace
from ..ops.registry import composite

__all__ = [
    "relu", "relu_", "relu6", "leaky_relu", "leaky_relu_", "elu", "elu_", "selu", "celu",
    "gelu", "silu", "mish", "tanh", "sigmoid", "softplus", "hardtanh", "hardtanh_",
    "hardsigmoid", "hardswish", "logsigmoid", "softsign", "tanhshrink", "threshold", "glu",
    "softmax", "log_softmax", "softmin",
]


def _check_tensor(name: str, x) -> None:
    if not isinstance(x, Tensor):
        raise TypeError(f"{name}(): argument 'input' must be Tensor, not {type(x).__name__}")


def _maybe_inplace(name: str, input: Tensor, fn, inplace: bool) -> Tensor:
    _check_tensor(name, input)
    if inplace:
        return _inplace(fn, input, opname=name + "_")
    return fn(input)


# ----------------------------------------------------------------------------------------------
# Activations
# ----------------------------------------------------------------------------------------------

def relu(input: Tensor, inplace: bool = False) -> Tensor:
    """max(input, 0), elementwise.

    Args:
        input: a tensor.
        inplace: write the result into `input`.
    """
    _check_tensor("relu", input)
    return input.relu_() if inplace else _ops.relu(input)


def relu_(input: Tensor) -> Tensor:
    """In-place `relu`."""
    return relu(input, inplace=True)


@composite("hardtanh", "clamp")
def hardtanh(input: Tensor, min_val: float = -1.0, max_val: float = 1.0,
             inplace: bool = False) -> Tensor:
    """Clamp to [min_val, max_val], elementwise.

    Args:
        input: a tensor.
        min_val: lower bound (default -1).
        max_val: upper bound (default 1).
        inplace: write the result into `input`.
    """
    if min_val > max_val:
        raise ValueError(f"hardtanh: min_val ({min_val}) cannot be greater than max_val "
                         f"({max_val})")
    return _maybe_inplace("hardtanh", input,
                          lambda t: _ops.clamp(t, min=min_val, max=max_val), inplace)


def hardtanh_(input: Tensor, min_val: float = -1.0, max_val: float = 1.0) -> Tensor:
    """In-place `hardtanh`."""
    return hardtanh(input, min_val, max_val, inplace=True)


def relu6(input: Tensor, inplace: bool = False) -> Tensor:
    """min(max(input, 0), 6), elementwise."""
    return hardtanh(input, 0.0, 6.0, inplace)


@composite("leaky_relu", "gt, mul, where")
def leaky_relu(input: Tensor, negative_slope: float = 0.01, inplace: bool = False) -> Tensor:
    """input where input > 0, else negative_slope * input.

    Args:
        input: a tensor.
        negative_slope: slope for negative inputs (default 0.01).
        inplace: write the result into `input`.
    """
    return _maybe_inplace("leaky_relu", input,
                          lambda t: _ops.where(t > 0, t, t * negative_slope), inplace)


def leaky_relu_(input: Tensor, negative_slope: float = 0.01) -> Tensor:
    """In-place `leaky_relu`."""
    return leaky_relu(input, negative_slope, inplace=True)


def _elu(t: Tensor, alpha: float, scale: float = 1.0, input_scale: float = 1.0) -> Tensor:
    # expm1 of the clamped value never overflows in the branch `where` discards, so the
    # discarded branch contributes 0 (not inf * 0 = nan) to the gradient.
    neg = _ops.expm1(_ops.clamp(t, max=0.0) * input_scale) * (alpha * scale)
    pos = t * scale if scale != 1.0 else t
    return _ops.where(t > 0, pos, neg)


@composite("elu", "clamp, expm1, mul, where")
def elu(input: Tensor, alpha: float = 1.0, inplace: bool = False) -> Tensor:
    """input where input > 0, else alpha * (exp(input) - 1).

    Args:
        input: a tensor.
        alpha: the saturation value for negative inputs (default 1).
        inplace: write the result into `input`.
    """
    return _maybe_inplace("elu", input, lambda t: _elu(t, alpha), inplace)


def elu_(input: Tensor, alpha: float = 1.0) -> Tensor:
    """In-place `elu`."""
    return elu(input, alpha, inplace=True)


_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946


@composite("selu", "elu with fixed alpha and scale")
def selu(input: Tensor, inplace: bool = False) -> Tensor:
    """scale * elu(input, alpha) with the self-normalising constants."""
    return _maybe_inplace("selu", input, lambda t: _elu(t, _SELU_ALPHA, _SELU_SCALE), inplace)


@composite("celu", "elu of input / alpha")
def celu(input: Tensor, alpha: float = 1.0, inplace: bool = False) -> Tensor:
    """max(0, x) + min(0, alpha * (exp(x / alpha) - 1))."""
    if alpha == 0:
        raise ValueError("celu: alpha must not be zero")
    return _maybe_inplace("celu", input, lambda t: _elu(t, alpha, 1.0, 1.0 / alpha), inplace)


# gelu's tanh form as a sigmoid: x/2 (1 + tanh(c (x + k x^3))) = x sigmoid(x (2c + 2ck x^2)),
# c = sqrt(2/pi), k = 0.044715.
_GELU_A = 2.0 * math.sqrt(2.0 / math.pi)
_GELU_B = _GELU_A * 0.044715


@composite("gelu", "erf, mul, add (approximate='none'); sigmoid, mul, add (approximate='tanh')")
def gelu(input: Tensor, approximate: str = "none") -> Tensor:
    """Gaussian error linear unit: x * Phi(x), or its tanh approximation.

    Args:
        input: a tensor.
        approximate: 'none' (exact, with erf) or 'tanh'.
    """
    _check_tensor("gelu", input)
    if approximate == "none":
        return input * 0.5 * (1.0 + _ops.erf(input * (1.0 / math.sqrt(2.0))))
    if approximate == "tanh":
        # PyTorch's x/2 (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) in the equal form
        # x sigmoid(x (a + b x^2)): no cancellation in 1 + tanh where x is very negative (it
        # keeps the tiny results that 1 + tanh rounds to 0), and a compiled kernel's chain of
        # dependent operations is 4 long before the sigmoid instead of 5.
        return input * _ops.sigmoid(input * (_GELU_A + _GELU_B * (input * input)))
    raise RuntimeError(f"gelu: approximate argument must be either none or tanh, got "
                       f"{approximate!r}")


@composite("silu", "sigmoid, mul")
def silu(input: Tensor, inplace: bool = False) -> Tensor:
    """x * sigmoid(x) (also called swish)."""
    return _maybe_inplace("silu", input, lambda t: t * _ops.sigmoid(t), inplace)


def _softplus(t: Tensor, beta: float, threshold: float) -> Tensor:
    bx = t * beta if beta != 1 else t
    # log(1 + exp(bx)) = max(bx, 0) + log1p(exp(-|bx|)): no overflow for any bx.
    soft = _ops.relu(bx) + _ops.log1p(_ops.exp(-_ops.abs(bx)))
    if beta != 1:
        soft = soft / beta
    return _ops.where(bx > threshold, t, soft)


@composite("softplus", "abs, exp, log1p, relu, where")
def softplus(input: Tensor, beta: float = 1.0, threshold: float = 20.0) -> Tensor:
    """log(1 + exp(beta * x)) / beta, linear where beta * x > threshold.

    Args:
        input: a tensor.
        beta: sharpness (default 1).
        threshold: above this, beta * x is returned unchanged, as in PyTorch (default 20).
    """
    _check_tensor("softplus", input)
    return _softplus(input, beta, threshold)


@composite("mish", "softplus, tanh, mul")
def mish(input: Tensor, inplace: bool = False) -> Tensor:
    """x * tanh(softplus(x))."""
    return _maybe_inplace("mish", input, lambda t: t * _ops.tanh(_softplus(t, 1.0, 20.0)),
                          inplace)


def tanh(input: Tensor) -> Tensor:
    """Hyperbolic tangent, elementwise."""
    return _ops.tanh(input)


def sigmoid(input: Tensor) -> Tensor:
    """Logistic sigmoid, elementwise."""
    return _ops.sigmoid(input)


@composite("logsigmoid", "softplus")
def logsigmoid(input: Tensor) -> Tensor:
    """log(sigmoid(x)), computed without overflow."""
    _check_tensor("logsigmoid", input)
    return -_softplus(-input, 1.0, math.inf)


@composite("hardsigmoid", "clamp, div")
def hardsigmoid(input: Tensor, inplace: bool = False) -> Tensor:
    """clamp(x / 6 + 1 / 2, 0, 1)."""
    return _maybe_inplace("hardsigmoid", input,
                          lambda t: _ops.clamp(t + 3.0, min=0.0, max=6.0) / 6.0, inplace)


@composite("hardswish", "clamp, mul, div")
def hardswish(input: Tensor, inplace: bool = False) -> Tensor:
    """x * relu6(x + 3) / 6."""
    return _maybe_inplace("hardswish", input,
                          lambda t: t * _ops.clamp(t + 3.0, min=0.0, max=6.0) / 6.0, inplace)


def softsign(input: Tensor) -> Tensor:
    """x / (1 + |x|)."""
    return input / (1 + _ops.abs(input))


def tanhshrink(input: Tensor) -> Tensor:
    """x - tanh(x)."""
    return input - _ops.tanh(input)


def threshold(input: Tensor, threshold: float, value: float, inplace: bool = False) -> Tensor:
    """input where input > threshold, else value."""
    return _maybe_inplace("threshold", input,
                          lambda t: _ops.where(t > threshold, t, value), inplace)


def glu(input: Tensor, dim: int = -1) -> Tensor:
    """Gated linear unit: a * sigmoid(b) where (a, b) are the two halves of `input` along dim."""
    _check_tensor("glu", input)
    n = input.shape[dim]
    if n % 2:
        raise RuntimeError(f"glu: halving dimension must be even, but dimension {dim} is size {n}")
    d = dim % input.ndim
    a = input[(slice(None),) * d + (slice(0, n // 2),)]
    b = input[(slice(None),) * d + (slice(n // 2, n),)]
    return a * _ops.sigmoid(b)


def _get_softmax_dim(name: str, ndim: int, stacklevel: int) -> int:
    warnings.warn(f"Implicit dimension choice for {name} has been deprecated. Change the call to "
                  "include dim=X as an argument.", UserWarning, stacklevel=stacklevel)
    return 0 if ndim in (0, 1, 3) else 1


def softmax(input: Tensor, dim: int | None = None, _stacklevel: int = 3,
            dtype=None) -> Tensor:
    """Softmax along `dim` (slices along dim are non-negative and sum to 1).

    Args:
        input: a floating-point tensor.
        dim: the dimension to normalise. Omitting it is deprecated: as in PyTorch, dim 0 is
            used for 0-, 1- and 3-d inputs and dim 1 otherwise, with a warning.
        dtype: cast the input to this dtype first.

    Example:
        >>> softmax(dyngraph.tensor([[0., 0.]]), dim=1)
        tensor([[0.5000, 0.5000]])
    """
    _check_tensor("softmax", input)
    if dim is None:
        dim = _get_softmax_dim("softmax", input.ndim, _stacklevel)
    return _ops.softmax(input, dim, dtype)


def log_softmax(input: Tensor, dim: int | None = None, _stacklevel: int = 3,
                dtype=None) -> Tensor:
    """log(softmax(input)) along `dim`, computed stably (see `softmax` for the implicit dim)."""
    _check_tensor("log_softmax", input)
    if dim is None:
        dim = _get_softmax_dim("log_softmax", input.ndim, _stacklevel)
    return _ops.log_softmax(input, dim, dtype)


def softmin(input: Tensor, dim: int | None = None, _stacklevel: int = 3,
            dtype=None) -> Tensor:
    """softmax(-input) along `dim`."""
    _check_tensor("softmin", input)
    if dim is None:
        dim = _get_softmax_dim("softmin", input.ndim, _stacklevel)
    if dtype is not None:
        input = input.to(dtype)
    return _ops.softmax(-input, dim)
