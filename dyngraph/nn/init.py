"""`dyngraph.nn.init`: fill weights in place with PyTorch's initialisation schemes.

Every function writes into the given tensor under `no_grad` (so it works on Parameters) and
returns it. Random draws come from dyngraph's RNG (`generator=` or the default one).
"""

from __future__ import annotations

import math
import warnings

import numpy as np

from .. import _dtype as D
from .. import ops as _ops
from .._tensor import Tensor
from ..autograd import no_grad

__all__ = ["calculate_gain", "uniform_", "normal_", "trunc_normal_", "constant_", "ones_",
           "zeros_", "eye_", "dirac_", "xavier_uniform_", "xavier_normal_", "kaiming_uniform_",
           "kaiming_normal_", "orthogonal_", "sparse_", "uniform", "normal", "constant",
           "xavier_uniform", "xavier_normal", "kaiming_uniform", "kaiming_normal", "orthogonal"]


def _check(name: str, tensor) -> None:
    if not isinstance(tensor, Tensor):
        raise TypeError(f"init.{name}: expected a Tensor, got {type(tensor).__name__}")


def _write_(tensor: Tensor, value) -> Tensor:
    """Copy `value` (tensor or number) into `tensor` without recording autograd."""
    with no_grad():
        tensor.copy_(value if isinstance(value, Tensor) else
                     _ops.full(tuple(tensor.shape), value, dtype=tensor.dtype,
                               device=tensor.device))
    return tensor


def _draw(kind: str, tensor: Tensor, generator):
    """Standard uniform [0, 1) or normal draws with the tensor's shape, dtype and device."""
    dt = tensor.dtype if tensor.dtype.is_floating_point else None
    fn = _ops.rand if kind == "uniform" else _ops.randn
    return fn(*tensor.shape, generator=generator, dtype=dt, device=tensor.device)


_LINEAR = ("linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d",
           "conv_transpose3d")


def calculate_gain(nonlinearity: str, param: float | None = None) -> float:
    """The recommended gain for a nonlinearity (e.g. sqrt(2) for 'relu').

    Args:
        nonlinearity: 'linear', 'conv*d', 'sigmoid', 'tanh', 'relu', 'leaky_relu' or 'selu'.
        param: the negative slope for 'leaky_relu' (default 0.01).

    Example:
        >>> calculate_gain("leaky_relu", math.sqrt(5))
        0.5773502691896257
    """
    if nonlinearity in _LINEAR or nonlinearity == "sigmoid":
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        if param is None:
            slope = 0.01
        elif not isinstance(param, bool) and isinstance(param, (int, float)):
            slope = param
        else:
            raise ValueError(f"negative_slope {param} not a valid number")
        return math.sqrt(2.0 / (1 + slope ** 2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise ValueError(f"Unsupported nonlinearity {nonlinearity}")


def _calculate_fan_in_and_fan_out(tensor: Tensor) -> tuple[int, int]:
    """(fan_in, fan_out) of a weight: dims 1 and 0 times the receptive field (dims 2+)."""
    if tensor.ndim < 2:
        raise ValueError("Fan in and fan out can not be computed for tensor with fewer than 2 "
                         f"dimensions (got shape {tuple(tensor.shape)})")
    receptive = 1
    for s in tensor.shape[2:]:
        receptive *= s
    return tensor.shape[1] * receptive, tensor.shape[0] * receptive


def _calculate_correct_fan(tensor: Tensor, mode: str) -> int:
    mode = mode.lower()
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"Mode {mode} not supported, please use one of fan_in, fan_out")
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    return fan_in if mode == "fan_in" else fan_out


def uniform_(tensor: Tensor, a: float = 0.0, b: float = 1.0, generator=None) -> Tensor:
    """Fill with draws from U(a, b).

    Args:
        tensor: the tensor to fill (in place).
        a: lower bound.
        b: upper bound.
        generator: a `dyngraph.Generator` (default: the global one).
    """
    _check("uniform_", tensor)
    return _write_(tensor, _draw("uniform", tensor, generator) * (b - a) + a)


def normal_(tensor: Tensor, mean: float = 0.0, std: float = 1.0, generator=None) -> Tensor:
    """Fill with draws from N(mean, std^2)."""
    _check("normal_", tensor)
    return _write_(tensor, _draw("normal", tensor, generator) * std + mean)


def trunc_normal_(tensor: Tensor, mean: float = 0.0, std: float = 1.0, a: float = -2.0,
                  b: float = 2.0, generator=None) -> Tensor:
    """Fill with draws from N(mean, std^2) truncated to [a, b] (inverse-CDF method, as PyTorch).

    Args:
        tensor: the tensor to fill (in place).
        mean, std: the untruncated normal's parameters.
        a, b: the truncation bounds (absolute values, not in units of std).
        generator: a `dyngraph.Generator`.
    """
    _check("trunc_normal_", tensor)

    def norm_cdf(x):
        return (1.0 + math.erf(x / math.sqrt(2.0))) / 2.0

    if mean < a - 2 * std or mean > b + 2 * std:
        warnings.warn("mean is more than 2 std from [a, b] in nn.init.trunc_normal_. The "
                      "distribution of values may be incorrect.", stacklevel=2)
    lo, hi = norm_cdf((a - mean) / std), norm_cdf((b - mean) / std)
    u = _draw("uniform", tensor, generator) * (2 * hi - 2 * lo) + (2 * lo - 1)
    z = _erfinv(u)
    values = _ops.clamp(z * (std * math.sqrt(2.0)) + mean, min=a, max=b)
    return _write_(tensor, values)


def _erfinv(u: Tensor) -> Tensor:
    from ..ops.special_fns import erfinv    # (scipy's, or Newton steps on math.erf without it)
    return erfinv(u)


def constant_(tensor: Tensor, val: float) -> Tensor:
    """Fill with the value `val`."""
    _check("constant_", tensor)
    return _write_(tensor, val)


def ones_(tensor: Tensor) -> Tensor:
    """Fill with ones."""
    return constant_(tensor, 1.0)


def zeros_(tensor: Tensor) -> Tensor:
    """Fill with zeros."""
    return constant_(tensor, 0.0)


def eye_(tensor: Tensor) -> Tensor:
    """Fill a 2-D tensor with the identity matrix (ones on the diagonal)."""
    _check("eye_", tensor)
    if tensor.ndim != 2:
        raise ValueError(f"Only tensors with 2 dimensions are supported (got shape "
                         f"{tuple(tensor.shape)})")
    return _write_(tensor, _ops.eye(tensor.shape[0], tensor.shape[1], dtype=tensor.dtype,
                                    device=tensor.device))


def dirac_(tensor: Tensor, groups: int = 1) -> Tensor:
    """Fill a 3/4/5-D conv weight with the Dirac delta (identity convolution) per group."""
    _check("dirac_", tensor)
    nd = tensor.ndim
    if nd not in (3, 4, 5):
        raise ValueError("Only tensors with 3, 4, or 5 dimensions are supported")
    sizes = tensor.shape
    if sizes[0] % groups != 0:
        raise ValueError("dim 0 must be divisible by groups")
    out_per_group = sizes[0] // groups
    min_dim = min(out_per_group, sizes[1])
    arr = np.zeros(tuple(sizes), dtype=np.float64)
    centre = tuple(s // 2 for s in sizes[2:])
    for g in range(groups):
        for d in range(min_dim):
            arr[(g * out_per_group + d, d) + centre] = 1
    return _write_(tensor, _ops.tensor(arr, dtype=tensor.dtype, device=tensor.device))


def xavier_uniform_(tensor: Tensor, gain: float = 1.0, generator=None) -> Tensor:
    """Fill with U(-a, a), a = gain * sqrt(6 / (fan_in + fan_out)) (Glorot & Bengio, 2010)."""
    _check("xavier_uniform_", tensor)
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    a = math.sqrt(3.0) * gain * math.sqrt(2.0 / float(fan_in + fan_out))
    return uniform_(tensor, -a, a, generator)


def xavier_normal_(tensor: Tensor, gain: float = 1.0, generator=None) -> Tensor:
    """Fill with N(0, std^2), std = gain * sqrt(2 / (fan_in + fan_out))."""
    _check("xavier_normal_", tensor)
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    std = gain * math.sqrt(2.0 / float(fan_in + fan_out))
    return normal_(tensor, 0.0, std, generator)


def kaiming_uniform_(tensor: Tensor, a: float = 0, mode: str = "fan_in",
                     nonlinearity: str = "leaky_relu", generator=None) -> Tensor:
    """Fill with U(-bound, bound), bound = gain * sqrt(3 / fan) (He et al., 2015).

    Args:
        tensor: the tensor to fill (in place).
        a: the negative slope of the rectifier after this layer (for 'leaky_relu').
        mode: 'fan_in' (preserves the forward variance) or 'fan_out' (the backward one).
        nonlinearity: the name passed to `calculate_gain`.
        generator: a `dyngraph.Generator`.

    Example:
        >>> w = dyngraph.empty(3, 5)
        >>> kaiming_uniform_(w, a=math.sqrt(5))  # nn.Linear's default
    """
    _check("kaiming_uniform_", tensor)
    if 0 in tuple(tensor.shape):
        warnings.warn("Initializing zero-element tensors is a no-op", stacklevel=2)
        return tensor
    fan = _calculate_correct_fan(tensor, mode)
    gain = calculate_gain(nonlinearity, a)
    bound = math.sqrt(3.0) * gain / math.sqrt(fan)
    return uniform_(tensor, -bound, bound, generator)


def kaiming_normal_(tensor: Tensor, a: float = 0, mode: str = "fan_in",
                    nonlinearity: str = "leaky_relu", generator=None) -> Tensor:
    """Fill with N(0, std^2), std = gain / sqrt(fan) (He et al., 2015)."""
    _check("kaiming_normal_", tensor)
    if 0 in tuple(tensor.shape):
        warnings.warn("Initializing zero-element tensors is a no-op", stacklevel=2)
        return tensor
    fan = _calculate_correct_fan(tensor, mode)
    std = calculate_gain(nonlinearity, a) / math.sqrt(fan)
    return normal_(tensor, 0.0, std, generator)


def orthogonal_(tensor: Tensor, gain: float = 1.0, generator=None) -> Tensor:
    """Fill with a (semi-)orthogonal matrix from the QR decomposition of a normal draw.

    Dimensions after the first are flattened, as in PyTorch (Saxe et al., 2013).
    """
    _check("orthogonal_", tensor)
    if tensor.ndim < 2:
        raise ValueError("Only tensors with 2 or more dimensions are supported")
    if tensor.numel() == 0:
        return tensor
    rows = tensor.shape[0]
    cols = tensor.numel() // rows
    flat = _ops.randn(rows, cols, generator=generator, dtype=D.float64)
    a = np.asarray(flat.detach()._data if type(flat._data) is np.ndarray else flat._data.get())
    if rows < cols:
        a = a.T
    q, r = np.linalg.qr(a)
    q = q * np.sign(np.diag(r))  # makes the decomposition unique (uniform over O(n))
    if rows < cols:
        q = q.T
    q = q.reshape(tuple(tensor.shape)) * gain
    return _write_(tensor, _ops.tensor(q, dtype=tensor.dtype, device=tensor.device))


def sparse_(tensor: Tensor, sparsity: float, std: float = 0.01, generator=None) -> Tensor:
    """Fill a 2-D tensor with N(0, std^2) and zero a `sparsity` fraction of each column."""
    _check("sparse_", tensor)
    if tensor.ndim != 2:
        raise ValueError("Only tensors with 2 dimensions are supported")
    rows, cols = tensor.shape
    num_zeros = int(math.ceil(sparsity * rows))
    values = _draw("normal", tensor, generator) * std
    mask = np.ones((rows, cols))
    for c in range(cols):
        perm = _ops.randperm(rows, generator=generator).tolist()
        mask[perm[:num_zeros], c] = 0
    return _write_(tensor, values * _ops.tensor(mask, dtype=tensor.dtype, device=tensor.device))


def _deprecated(new):
    def old(*args, **kwargs):
        warnings.warn(f"nn.init.{new.__name__[:-1]} is now deprecated in favor of "
                      f"nn.init.{new.__name__}.", FutureWarning, stacklevel=2)
        return new(*args, **kwargs)
    old.__name__ = new.__name__[:-1]
    old.__doc__ = f"Deprecated alias of `{new.__name__}`."
    return old


uniform = _deprecated(uniform_)
normal = _deprecated(normal_)
constant = _deprecated(constant_)
xavier_uniform = _deprecated(xavier_uniform_)
xavier_normal = _deprecated(xavier_normal_)
kaiming_uniform = _deprecated(kaiming_uniform_)
kaiming_normal = _deprecated(kaiming_normal_)
orthogonal = _deprecated(orthogonal_)
