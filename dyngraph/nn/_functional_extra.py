"""More layers of `dyngraph.nn.functional`, with PyTorch's names, arguments and semantics:
parametric and random activations (prelu, rrelu), shrinkage, the in-place forms of celu, selu and
threshold, channel-wise and alpha dropout, pixel and channel shuffles, local response norm,
instance norm and gumbel_softmax.

Every function is a composite of primitive ops, so autograd (double backward included) and the
compiler see ordinary graph nodes. Random draws come from dyngraph's RNG (`dyngraph.manual_seed`),
so the streams differ from PyTorch's while the distributions are the same.
"""

from __future__ import annotations

import numbers
import warnings

from .. import ops as _ops
from .._tensor import Tensor
from ..autograd import no_grad
from ..ops.registry import composite
from ._functional_activation import _check_tensor, _maybe_inplace, celu, selu
from ._functional_args import _channel_affine, _update_running
from ._functional_activation import threshold as _threshold

__all__ = [
    "prelu", "rrelu", "rrelu_", "hardshrink", "softshrink", "celu_", "selu_", "threshold_",
    "dropout1d", "dropout2d", "dropout3d", "alpha_dropout", "feature_alpha_dropout",
    "pixel_shuffle", "pixel_unshuffle", "channel_shuffle", "native_channel_shuffle",
    "local_response_norm", "instance_norm", "gumbel_softmax",
]


def _check_floating(name: str, input: Tensor) -> None:
    if not input.dtype.is_floating_point:
        raise NotImplementedError(f"{name}: not implemented for {input.dtype} input; convert "
                                  "it to a floating-point dtype with .float()")


# ----------------------------------------------------------------------------------------------
# Activations
# ----------------------------------------------------------------------------------------------

@composite("prelu", "gt, mul, where")
def prelu(input: Tensor, weight: Tensor) -> Tensor:
    """input where input > 0, else weight * input, with one learned slope per channel (dim 1).

    Args:
        input: a tensor (N, C, *) or of fewer than 2 dims (then it has one channel).
        weight: the slopes, a scalar or a 1-D tensor of 1 or C elements.

    Example:
        >>> F.prelu(dyngraph.tensor([-2.0, 3.0]), dyngraph.tensor([0.25]))
        tensor([-0.5000,  3.0000])
    """
    _check_tensor("prelu", input)
    if not isinstance(weight, Tensor):
        raise TypeError(f"prelu(): argument 'weight' (position 2) must be Tensor, not "
                        f"{type(weight).__name__}")
    if weight.ndim > 1:
        raise RuntimeError(f"prelu: Expected `weight` to be a scalar or 1D tensor, but got: "
                           f"ndim = {weight.ndim}")
    channels = input.shape[1] if input.ndim >= 2 else 1
    n = weight.numel()
    if n != 1 and n != channels:
        raise RuntimeError(
            f"prelu: Mismatch of parameter numbers and input channel size. Found parameter "
            f"numbers = {n} and channel size = {channels} (input shape {list(input.shape)}); "
            "use one slope or one per channel of dim 1")
    if n == 1:
        w = weight.reshape(())
    else:
        w = weight.reshape(channels, *(1,) * (input.ndim - 2))
    return _ops.where(input > 0, input, input * w)


@composite("rrelu", "rand, gt, mul, where")
def rrelu(input: Tensor, lower: float = 1.0 / 8, upper: float = 1.0 / 3,
          training: bool = False, inplace: bool = False) -> Tensor:
    """Randomized leaky ReLU: negative inputs times a slope drawn from U(lower, upper).

    In training each element draws its own slope (from dyngraph's RNG); otherwise the slope is
    the fixed (lower + upper) / 2.

    Args:
        input: a floating-point tensor.
        lower: the lower bound of the slope (default 1/8).
        upper: the upper bound of the slope (default 1/3).
        training: draw random slopes (default False, as in PyTorch's functional form).
        inplace: write the result into `input`.
    """
    _check_tensor("rrelu", input)
    _check_floating("rrelu", input)
    if lower > upper:
        raise RuntimeError(f"rrelu: Lower bound should be less than or equal to the upper bound "
                           f"(got lower={lower}, upper={upper})")
    if training:
        slope = _ops.rand(*input.shape, dtype=input.dtype, device=input.device)
        slope = slope * (upper - lower) + lower
    else:
        slope = (lower + upper) / 2
    return _maybe_inplace("rrelu", input, lambda t: _ops.where(t > 0, t, t * slope), inplace)


def rrelu_(input: Tensor, lower: float = 1.0 / 8, upper: float = 1.0 / 3,
           training: bool = False) -> Tensor:
    """In-place `rrelu`."""
    return rrelu(input, lower, upper, training, inplace=True)


@composite("hardshrink", "abs, le, where")
def hardshrink(input: Tensor, lambd: float = 0.5) -> Tensor:
    """0 where |input| <= lambd, else input.

    Args:
        input: a floating-point tensor.
        lambd: the half-width of the zeroed band (default 0.5).
    """
    _check_tensor("hardshrink", input)
    _check_floating("hardshrink", input)
    # `<=` rather than `>`: NaN stays NaN, as in PyTorch
    return _ops.where(_ops.abs(input) <= lambd, 0.0, input)


@composite("softshrink", "abs, le, sub, where")
def softshrink(input: Tensor, lambd: float = 0.5) -> Tensor:
    """input - lambd where input > lambd, input + lambd where input < -lambd, else 0.

    Args:
        input: a floating-point tensor.
        lambd: the shrinkage, at least 0 (default 0.5).
    """
    _check_tensor("softshrink", input)
    _check_floating("softshrink", input)
    if not lambd >= 0:
        raise RuntimeError(f"softshrink: lambda must be in range [0, inf) for input dtype "
                           f"{input.dtype}, but found {lambd}")
    # where |x| > lambd, x - clamp(x) is x -/+ lambd with gradient 1
    return _ops.where(_ops.abs(input) <= lambd, 0.0,
                      input - _ops.clamp(input, -lambd, lambd))


def celu_(input: Tensor, alpha: float = 1.0) -> Tensor:
    """In-place `celu`."""
    return celu(input, alpha, inplace=True)


def selu_(input: Tensor) -> Tensor:
    """In-place `selu`."""
    return selu(input, inplace=True)


def threshold_(input: Tensor, threshold: float, value: float) -> Tensor:
    """In-place `threshold`: input where input > threshold, else value."""
    return _threshold(input, threshold, value, inplace=True)


# ----------------------------------------------------------------------------------------------
# Dropout
# ----------------------------------------------------------------------------------------------

# SELU's -scale * alpha: the value alpha dropout gives a dropped unit before its affine map.
_ALPHA_DROPOUT = 1.7580993408473766


def _check_p(p) -> None:
    if not isinstance(p, numbers.Real) or p < 0.0 or p > 1.0:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")


def _dropout_impl(name: str, input: Tensor, p: float, training: bool, inplace: bool, *,
                  feature: bool | None, alpha: bool) -> Tensor:
    """Dropout as ATen's `_dropout_impl` does it, one draw per element (`feature` None) or per
    channel of a batched (`feature` True) or unbatched (False) input.

    Kept units are scaled by 1/(1-p). The alpha form keeps SELU's mean 0 and variance 1:
    with a = 1/sqrt((alpha^2 p + 1)(1 - p)), kept units become a x + a alpha p and dropped ones
    a alpha (p - 1).
    """
    _check_p(p)
    if not training or p == 0.0 or input.numel() == 0:
        return input
    _check_floating(name, input)
    if p == 1.0:
        return _maybe_inplace(name, input, lambda t: t * 0.0, inplace)
    if feature is None:
        shape = tuple(input.shape)
    else:
        lead = 2 if feature else 1
        if input.ndim + 2 - lead < 2:
            raise RuntimeError(f"{name}: Feature dropout requires at least 2 dimensions in the "
                               f"input, got input of shape {list(input.shape)}")
        shape = tuple(input.shape[:lead]) + (1,) * (input.ndim - lead)
    keep = (_ops.rand(*shape, dtype=input.dtype, device=input.device) >= p).to(input.dtype)
    if not alpha:
        scale = keep * (1.0 / (1.0 - p))
        return _maybe_inplace(name, input, lambda t: t * scale, inplace)
    a = 1.0 / ((_ALPHA_DROPOUT ** 2 * p + 1) * (1 - p)) ** 0.5
    shift = (keep - 1.0) * (_ALPHA_DROPOUT * a) + _ALPHA_DROPOUT * a * p
    scale = keep * a
    return _maybe_inplace(name, input, lambda t: t * scale + shift, inplace)


@composite("dropout1d", "rand, ge, mul")
def dropout1d(input: Tensor, p: float = 0.5, training: bool = True,
              inplace: bool = False) -> Tensor:
    """Zero whole channels of an (N, C, L) or (C, L) input with probability `p`; scale the rest
    by 1/(1-p).

    Args:
        input: a 2-D (unbatched) or 3-D tensor.
        p: probability of a channel being zeroed.
        training: apply dropout only when True.
        inplace: write the result into `input`.
    """
    _check_tensor("dropout1d", input)
    _check_p(p)
    if input.ndim not in (2, 3):
        raise RuntimeError(
            f"dropout1d: Expected 2D or 3D input, but received a {input.ndim}D input. Note that "
            "dropout1d exists to provide channel-wise dropout on inputs with 1 spatial dimension, "
            "a channel dimension, and an optional batch dimension (i.e. 2D or 3D inputs).")
    return _dropout_impl("dropout1d", input, p, training, inplace, feature=input.ndim == 3,
                         alpha=False)


def _warn_rank(name: str, input: Tensor, spatial: int) -> None:
    if input.ndim not in (spatial + 1, spatial + 2):
        warnings.warn(
            f"{name}: Received a {input.ndim}-D input to {name}, which is deprecated and will "
            "result in an error in a future release. To retain the behavior and silence this "
            f"warning, please use dropout instead. Note that {name} exists to provide "
            f"channel-wise dropout on inputs with {spatial} spatial dimensions, a channel "
            f"dimension, and an optional batch dimension (i.e. {spatial + 1}D or {spatial + 2}D "
            "inputs).", UserWarning, stacklevel=3)


@composite("dropout2d", "rand, ge, mul")
def dropout2d(input: Tensor, p: float = 0.5, training: bool = True,
              inplace: bool = False) -> Tensor:
    """Zero whole channels of an (N, C, H, W) or (C, H, W) input with probability `p`.

    As in PyTorch, a 3-D input is taken as (N, C, L) (with a warning that this will change);
    use `dropout1d` for that.

    Args:
        input: a 3-D or 4-D tensor.
        p: probability of a channel being zeroed.
        training: apply dropout only when True.
        inplace: write the result into `input`.
    """
    _check_tensor("dropout2d", input)
    _check_p(p)
    _warn_rank("dropout2d", input, 2)
    if input.ndim == 3:
        warnings.warn(
            "dropout2d: Received a 3D input to dropout2d and assuming that channel-wise 1D "
            "dropout behavior is desired - input is interpreted as shape (N, C, L), where C is "
            "the channel dim. This behavior will change in a future release to interpret the "
            "input as one without a batch dimension, i.e. shape (C, H, W). To maintain the 1D "
            "channel-wise dropout behavior, please switch to using dropout1d instead.",
            UserWarning, stacklevel=2)
    return _dropout_impl("dropout2d", input, p, training, inplace, feature=True, alpha=False)


@composite("dropout3d", "rand, ge, mul")
def dropout3d(input: Tensor, p: float = 0.5, training: bool = True,
              inplace: bool = False) -> Tensor:
    """Zero whole channels of an (N, C, D, H, W) or (C, D, H, W) input with probability `p`.

    Args:
        input: a 4-D (unbatched) or 5-D tensor.
        p: probability of a channel being zeroed.
        training: apply dropout only when True.
        inplace: write the result into `input`.
    """
    _check_tensor("dropout3d", input)
    _check_p(p)
    _warn_rank("dropout3d", input, 3)
    return _dropout_impl("dropout3d", input, p, training, inplace, feature=input.ndim == 5,
                         alpha=False)


@composite("alpha_dropout", "rand, ge, mul, add")
def alpha_dropout(input: Tensor, p: float = 0.5, training: bool = False,
                  inplace: bool = False) -> Tensor:
    """Dropout for SELU networks: keeps zero mean and unit variance of its input.

    Dropped elements are set to SELU's negative saturation value, then an affine map restores
    the mean and variance (as in PyTorch, whose random stream differs from dyngraph's).

    Args:
        input: a floating-point tensor.
        p: probability of an element being dropped.
        training: apply dropout only when True (default False, as in PyTorch).
        inplace: write the result into `input`.
    """
    _check_tensor("alpha_dropout", input)
    return _dropout_impl("alpha_dropout", input, p, training, inplace, feature=None, alpha=True)


@composite("feature_alpha_dropout", "rand, ge, mul, add")
def feature_alpha_dropout(input: Tensor, p: float = 0.5, training: bool = False,
                          inplace: bool = False) -> Tensor:
    """`alpha_dropout` of whole channels of an (N, C, *) input.

    Args:
        input: a floating-point tensor of at least 2 dims.
        p: probability of a channel being dropped.
        training: apply dropout only when True (default False, as in PyTorch).
        inplace: write the result into `input`.
    """
    _check_tensor("feature_alpha_dropout", input)
    return _dropout_impl("feature_alpha_dropout", input, p, training, inplace, feature=True,
                         alpha=True)


# ----------------------------------------------------------------------------------------------
# Shuffles
# ----------------------------------------------------------------------------------------------

def _check_factor(name: str, which: str, input: Tensor, factor: int) -> int:
    _check_tensor(name, input)
    if input.ndim < 3:
        raise RuntimeError(f"{name} expects input to have at least 3 dimensions, but got input "
                           f"with {input.ndim} dimension(s)")
    if not isinstance(factor, numbers.Integral) or factor <= 0:
        raise RuntimeError(f"{name} expects a positive {which}, but got {factor}")
    return int(factor)


def pixel_shuffle(input: Tensor, upscale_factor: int) -> Tensor:
    """Rearrange (*, C * r^2, H, W) into (*, C, H * r, W * r), r = upscale_factor.

    Example:
        >>> F.pixel_shuffle(dyngraph.zeros(1, 8, 2, 3), 2).shape
        dyngraph.Size([1, 2, 4, 6])
    """
    r = _check_factor("pixel_shuffle", "upscale_factor", input, upscale_factor)
    *lead, c, h, w = input.shape
    if c % (r * r):
        raise RuntimeError(
            f"pixel_shuffle expects its input's 'channel' dimension to be divisible by the "
            f"square of upscale_factor, but input.size(-3)={c} is not divisible by {r * r}")
    k = len(lead)
    x = input.reshape(*lead, c // (r * r), r, r, h, w)
    x = x.permute(*range(k), k, k + 3, k + 1, k + 4, k + 2)
    return x.reshape(*lead, c // (r * r), h * r, w * r)


def pixel_unshuffle(input: Tensor, downscale_factor: int) -> Tensor:
    """Rearrange (*, C, H * r, W * r) into (*, C * r^2, H, W), r = downscale_factor; the inverse
    of `pixel_shuffle`."""
    r = _check_factor("pixel_unshuffle", "downscale_factor", input, downscale_factor)
    *lead, c, h, w = input.shape
    for which, size, dim in (("height", h, -2), ("width", w, -1)):
        if size % r:
            raise RuntimeError(
                f"pixel_unshuffle expects {which} to be divisible by downscale_factor, but "
                f"input.size({dim})={size} is not divisible by {r}")
    k = len(lead)
    x = input.reshape(*lead, c, h // r, r, w // r, r)
    x = x.permute(*range(k), k, k + 2, k + 4, k + 1, k + 3)
    return x.reshape(*lead, c * r * r, h // r, w // r)


def channel_shuffle(input: Tensor, groups: int) -> Tensor:
    """Interleave the channels of an (N, C, *) input: split C into `groups` groups of C/groups,
    then take one channel from each group in turn (as in ShuffleNet).

    Example:
        >>> F.channel_shuffle(dyngraph.arange(4.).reshape(1, 4, 1), 2).flatten()
        tensor([0., 2., 1., 3.])
    """
    _check_tensor("channel_shuffle", input)
    if input.ndim <= 2:
        raise RuntimeError(f"channel_shuffle expects input with > 2 dims, but got input with "
                           f"sizes {list(input.shape)}")
    if not isinstance(groups, numbers.Integral) or groups <= 0:
        raise RuntimeError(f"Number of groups to divide channels in must be positive. Value of "
                           f"groups:{groups}")
    n, c, *rest = input.shape
    if c % groups:
        raise RuntimeError(f"Number of channels must be divisible by groups. Got {c} channels "
                           f"and {groups} groups.")
    x = input.reshape(n, groups, c // groups, *rest).transpose(1, 2)
    return x.reshape(*input.shape)


def native_channel_shuffle(input: Tensor, groups: int) -> Tensor:
    """`channel_shuffle` (PyTorch's name for its native kernel)."""
    return channel_shuffle(input, groups)


# ----------------------------------------------------------------------------------------------
# Normalisation
# ----------------------------------------------------------------------------------------------

def _channel_window_sum(sq: Tensor, before: int, after: int) -> Tensor:
    """out[:, c] = sum of sq[:, c - before .. c + after] along dim 1 (zeros beyond the ends)."""
    c = sq.shape[1]
    rest = tuple(sq.shape[2:])
    parts = [sq]
    if before:
        parts.insert(0, _ops.zeros(sq.shape[0], before, *rest, dtype=sq.dtype, device=sq.device))
    if after:
        parts.append(_ops.zeros(sq.shape[0], after, *rest, dtype=sq.dtype, device=sq.device))
    padded = _ops.cat(parts, 1) if len(parts) > 1 else sq
    total = padded.narrow(1, 0, c)
    for i in range(1, before + after + 1):
        total = total + padded.narrow(1, i, c)
    return total


@composite("local_response_norm", "mul, cat, add, pow, div")
def local_response_norm(input: Tensor, size: int, alpha: float = 1e-4, beta: float = 0.75,
                        k: float = 1.0) -> Tensor:
    """x / (k + alpha * mean of x^2 over `size` neighbouring channels) ** beta.

    The window of channel c spans channels c - size//2 .. c + (size-1)//2, zero-padded at the
    ends, and the mean always divides by `size` (as PyTorch's average pooling does).

    Args:
        input: an (N, C, *) tensor of at least 3 dims.
        size: the number of channels in the window.
        alpha: multiplicative factor (default 1e-4).
        beta: exponent (default 0.75).
        k: additive factor (default 1).
    """
    _check_tensor("local_response_norm", input)
    if input.ndim < 3:
        raise ValueError(f"local_response_norm: Expected 3D or higher dimensionality input "
                         f"(got {input.ndim} dimensions, shape {list(input.shape)})")
    if input.numel() == 0:
        return input
    sq = input * input
    total = _channel_window_sum(sq, size // 2, (size - 1) // 2)
    div = (total * (alpha / size) + k) ** beta
    return input / div


def _cross_map_lrn2d(input: Tensor, size: int, alpha: float, beta: float, k: float) -> Tensor:
    """PyTorch's legacy CrossMapLRN2d forward, its quirk included: the window of channel c is
    c - (pre - 1) .. c + (pre - 1), pre = int((size - 1) / 2 + 1), and channel 0's square is
    always in the sum (the legacy code never subtracts it)."""
    if input.ndim != 4:
        raise ValueError(f"CrossMapLRN2d: Expected input to be 4D, got {input.ndim}D instead.")
    sq = input * input
    half = int((size - 1) / 2 + 1) - 1
    first = sq.narrow(1, 0, 1)
    rest = _ops.cat([first * 0.0, sq.narrow(1, 1, sq.shape[1] - 1)], 1)
    total = _channel_window_sum(rest, half, half) + first
    return input * (total * (alpha / size) + k) ** (-beta)


def _check_instance_norm_args(input: Tensor, tensors) -> None:
    if input.ndim < 2:
        raise ValueError(f"instance_norm: expected an input of at least 2 dimensions (N, C, *), "
                         f"got shape {list(input.shape)}")
    c = input.shape[1]
    for name, t in tensors:
        if t is not None and tuple(t.shape) != (c,):
            raise RuntimeError(
                f"instance_norm: {name} should contain {c} elements (one per channel of input "
                f"{list(input.shape)}), not {t.numel()}")


@composite("instance_norm", "mean, sub, mul, rsqrt, add")
def instance_norm(input: Tensor, running_mean: Tensor | None = None,
                  running_var: Tensor | None = None, weight: Tensor | None = None,
                  bias: Tensor | None = None, use_input_stats: bool = True,
                  momentum: float = 0.1, eps: float = 1e-5) -> Tensor:
    """Normalise each channel of each sample of an (N, C, *) input over its spatial dims.

    With `use_input_stats` the statistics come from each instance, and running statistics,
    when given, are updated in place as PyTorch does: running = (1 - momentum) * running +
    momentum * (the batch mean of the per-instance statistic), the variance unbiased. Without
    it the running statistics normalise the input.

    Args:
        input: shape (N, C, *spatial).
        running_mean, running_var: per-channel running statistics (C,) or None.
        weight, bias: optional per-channel affine parameters (C,).
        use_input_stats: use per-instance statistics (and update the running ones).
        momentum: the weight of the new statistic in the running average.
        eps: added to the variance for stability.

    Example:
        >>> F.instance_norm(dyngraph.randn(2, 3, 5)).mean(-1).abs().max() < 1e-6
        tensor(True)
    """
    _check_tensor("instance_norm", input)
    _check_instance_norm_args(input, (("running_mean", running_mean),
                                      ("running_var", running_var), ("weight", weight),
                                      ("bias", bias)))
    c = input.shape[1]
    cs = (1, c) + (1,) * (input.ndim - 2)
    if use_input_stats:
        count = 1
        for n in input.shape[2:]:
            count *= n
        if count == 1:
            raise ValueError(f"Expected more than 1 spatial element when training, got input "
                             f"size {list(input.shape)}")
        dims = tuple(range(2, input.ndim))
        mean = input.mean(dims, keepdim=True)
        xc = input - mean
        var = (xc * xc).mean(dims, keepdim=True)
        y = xc * _ops.rsqrt(var + eps)
        if running_mean is not None or running_var is not None:
            _update_running(running_mean, running_var, mean.detach().reshape(-1, c).mean(0),
                            var.detach().reshape(-1, c).mean(0), count, momentum)
    else:
        if running_mean is None or running_var is None:
            raise RuntimeError("instance_norm: Expected running_mean and running_var to be "
                               "defined when use_input_stats is false")
        y = (input - running_mean.reshape(*cs)) * _ops.rsqrt(running_var.reshape(*cs) + eps)
    return _channel_affine(y, weight, bias, cs)


# ----------------------------------------------------------------------------------------------
# Sampling
# ----------------------------------------------------------------------------------------------

@composite("gumbel_softmax", "exponential, log, add, div, softmax (hard: argmax, scatter)")
def gumbel_softmax(logits: Tensor, tau: float = 1, hard: bool = False, eps: float = 1e-10,
                   dim: int = -1) -> Tensor:
    """Sample from the Gumbel-softmax distribution: softmax((logits + g) / tau), g ~ Gumbel(0, 1).

    Args:
        logits: unnormalised log-probabilities, shape (*, num_features).
        tau: the temperature (> 0): lower is closer to one-hot.
        hard: return one-hot samples whose gradient is that of the soft sample
            (straight-through estimator).
        eps: deprecated and unused (a warning says so when it is changed).
        dim: the dimension softmax runs along.

    Example:
        >>> F.gumbel_softmax(dyngraph.zeros(2, 5), hard=True).sum(-1)
        tensor([1., 1.])
    """
    _check_tensor("gumbel_softmax", logits)
    if eps != 1e-10:
        warnings.warn("`eps` parameter is deprecated and has no effect.", UserWarning,
                      stacklevel=2)
    with no_grad():
        gumbels = -_ops.empty_like(logits).exponential_().log()
    y_soft = _ops.softmax((logits + gumbels) / tau, dim)
    if not hard:
        return y_soft
    index = y_soft.detach().argmax(dim, keepdim=True)
    y_hard = _ops.zeros_like(logits).scatter(dim, index, 1.0)
    return y_hard - y_soft.detach() + y_soft
