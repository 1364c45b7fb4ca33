"""The nn functions PyTorch also exposes at top level, with the top-level signatures, which can
differ from `torch.nn.functional`'s: `torch.dropout(input, p, train)` has no defaults,
`torch.batch_norm` takes weight and bias before the running statistics, losses take `reduction`
as ATen's int (0 none, 1 mean, 2 sum; the strings also work), `torch.embedding(weight, indices)`
swaps F's argument order. Each forwards to dyngraph.nn.functional, imported on first call
(nn imports ops, so ops cannot import nn at load time).
"""

from __future__ import annotations

from ._api import Tensor

__all__ = [
    "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d", "conv_transpose3d",
    "convolution", "batch_norm", "native_batch_norm", "layer_norm", "native_layer_norm",
    "group_norm", "instance_norm", "rms_norm", "norm_except_dim",
    "dropout", "dropout_", "alpha_dropout", "alpha_dropout_", "feature_alpha_dropout",
    "feature_alpha_dropout_", "feature_dropout", "feature_dropout_", "native_dropout",
    "embedding", "embedding_bag", "max_pool1d", "max_pool2d", "max_pool3d",
    "max_pool1d_with_indices", "avg_pool1d", "adaptive_avg_pool1d", "adaptive_max_pool1d",
    "bilinear", "celu", "celu_", "selu", "selu_", "threshold", "threshold_", "rrelu", "rrelu_",
    "prelu", "hardshrink", "pixel_shuffle", "pixel_unshuffle", "channel_shuffle",
    "native_channel_shuffle", "kl_div", "margin_ranking_loss", "cosine_embedding_loss",
    "hinge_embedding_loss", "poisson_nll_loss", "triplet_margin_loss", "ctc_loss",
    "binary_cross_entropy_with_logits", "constant_pad_nd",
]

_REDUCTIONS = {0: "none", 1: "mean", 2: "sum"}


def _F():
    from ..nn import functional
    return functional


def _reduction(name: str, reduction) -> str:
    """ATen's int reduction (0 none, 1 mean, 2 sum) as F's string; strings pass through."""
    if isinstance(reduction, str) and reduction in ("none", "mean", "sum"):
        return reduction
    if isinstance(reduction, int) and not isinstance(reduction, bool) and reduction in _REDUCTIONS:
        return _REDUCTIONS[reduction]
    raise ValueError(f"{name}: reduction must be 0 (none), 1 (mean) or 2 (sum), or one of "
                     f"'none', 'mean', 'sum' (got {reduction!r})")


def _stride(stride):
    """ATen's empty stride list means 'the kernel size' (F's None)."""
    return None if stride is None or (not isinstance(stride, int) and len(stride) == 0) \
        else stride


# ----------------------------------------------------------------------------------------------
# Convolutions
# ----------------------------------------------------------------------------------------------

def _conv_alias(n: int, transposed: bool):
    name = f"conv_transpose{n}d" if transposed else f"conv{n}d"
    if transposed:
        def fn(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride=1, padding=0,
               output_padding=0, groups: int = 1, dilation=1) -> Tensor:
            return getattr(_F(), name)(input, weight, bias, stride, padding, output_padding,
                                       groups, dilation)
    else:
        def fn(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride=1, padding=0,
               dilation=1, groups: int = 1) -> Tensor:
            return getattr(_F(), name)(input, weight, bias, stride, padding, dilation, groups)
    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = f"`dyngraph.nn.functional.{name}` (same arguments)."
    return fn


conv1d, conv2d, conv3d = (_conv_alias(n, False) for n in (1, 2, 3))
conv_transpose1d, conv_transpose2d, conv_transpose3d = (_conv_alias(n, True) for n in (1, 2, 3))


def convolution(input: Tensor, weight: Tensor, bias: Tensor | None, stride, padding, dilation,
                transposed: bool, output_padding, groups: int) -> Tensor:
    """ATen's generic convolution: conv{1,2,3}d or conv_transpose{1,2,3}d by the weight's rank.

    Args:
        input, weight, bias: as in conv2d (weight of rank 3, 4 or 5 picks 1-D, 2-D or 3-D).
        stride, padding, dilation, output_padding: lists with one entry per spatial dim.
        transposed: a transposed convolution.
        groups: the number of channel groups.
    """
    n = weight.ndim - 2
    if n not in (1, 2, 3):
        raise RuntimeError(f"convolution: expected a 3-D, 4-D or 5-D weight (1, 2 or 3 spatial "
                           f"dims), got weight of shape {list(weight.shape)}")
    if transposed:
        return getattr(_F(), f"conv_transpose{n}d")(input, weight, bias, stride, padding,
                                                    output_padding, groups, dilation)
    return getattr(_F(), f"conv{n}d")(input, weight, bias, stride, padding, dilation, groups)


# ----------------------------------------------------------------------------------------------
# Normalisation
# ----------------------------------------------------------------------------------------------

def batch_norm(input: Tensor, weight: Tensor | None, bias: Tensor | None,
               running_mean: Tensor | None, running_var: Tensor | None, training: bool,
               momentum: float, eps: float, cudnn_enabled: bool) -> Tensor:
    """`F.batch_norm` with ATen's argument order (weight and bias first; cudnn_enabled is
    accepted and ignored)."""
    return _F().batch_norm(input, running_mean, running_var, weight, bias, training, momentum,
                           eps)


def native_batch_norm(input: Tensor, weight: Tensor | None, bias: Tensor | None,
                      running_mean: Tensor | None, running_var: Tensor | None, training: bool,
                      momentum: float, eps: float) -> tuple:
    """(output, save_mean, save_invstd): batch norm plus the batch statistics it used per channel
    (empty tensors in eval mode, as in PyTorch)."""
    from .creation import empty
    out = batch_norm(input, weight, bias, running_mean, running_var, training, momentum, eps,
                     False)
    if not training:
        e = empty(0, dtype=input.dtype, device=input.device)
        return out, e, e.clone()
    dims = [d for d in range(input.ndim) if d != 1]
    x = input.detach()
    mean = x.mean(dims)
    invstd = (x.var(dims, correction=0) + eps).rsqrt()
    return out, mean, invstd


def layer_norm(input: Tensor, normalized_shape, weight: Tensor | None = None,
               bias: Tensor | None = None, eps: float = 1e-05,
               cudnn_enable: bool = True) -> Tensor:
    """`F.layer_norm` (cudnn_enable is accepted and ignored)."""
    return _F().layer_norm(input, normalized_shape, weight, bias, eps)


def native_layer_norm(input: Tensor, normalized_shape, weight: Tensor | None,
                      bias: Tensor | None, eps: float) -> tuple:
    """(output, mean, rstd): layer norm plus the statistics of each normalised row, shaped
    like input with the normalised dims kept as size 1."""
    shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    out = layer_norm(input, shape, weight, bias, eps)
    dims = tuple(range(input.ndim - len(shape), input.ndim))
    mean = input.mean(dims, keepdim=True)
    rstd = (input.var(dims, correction=0, keepdim=True) + eps).rsqrt()
    return out, mean, rstd


def group_norm(input: Tensor, num_groups: int, weight: Tensor | None = None,
               bias: Tensor | None = None, eps: float = 1e-05,
               cudnn_enabled: bool = True) -> Tensor:
    """`F.group_norm` (cudnn_enabled is accepted and ignored)."""
    return _F().group_norm(input, num_groups, weight, bias, eps)


def instance_norm(input: Tensor, weight: Tensor | None, bias: Tensor | None,
                  running_mean: Tensor | None, running_var: Tensor | None,
                  use_input_stats: bool, momentum: float, eps: float,
                  cudnn_enabled: bool) -> Tensor:
    """`F.instance_norm` with ATen's argument order (weight and bias first)."""
    return _F().instance_norm(input, running_mean, running_var, weight, bias, use_input_stats,
                              momentum, eps)


def rms_norm(input: Tensor, normalized_shape, weight: Tensor | None = None,
             eps: float | None = None) -> Tensor:
    """`F.rms_norm` (same arguments)."""
    return _F().rms_norm(input, normalized_shape, weight, eps)


def norm_except_dim(v: Tensor, pow: float = 2, dim: int = 0) -> Tensor:  # noqa: A002
    """The `pow`-norm of `v` over every dim but `dim`, kept as size-1 dims (weight norm's g);
    dim=-1 gives the norm of all of `v`."""
    from ..linalg import vector_norm
    if dim == -1:
        return vector_norm(v, pow)
    dim = dim + v.ndim if dim < 0 else dim
    return vector_norm(v, pow, [d for d in range(v.ndim) if d != dim], keepdim=True)


# ----------------------------------------------------------------------------------------------
# Dropout: (input, p, train), no defaults, as in ATen
# ----------------------------------------------------------------------------------------------

def _dropout_alias(name: str, fname: str | None, inplace: bool):
    def fn(input: Tensor, p: float, train: bool) -> Tensor:
        if fname is None:  # feature_dropout: whole channels, no alpha
            from ..nn._functional_extra import _dropout_impl
            return _dropout_impl(name, input, p, train, inplace, feature=True, alpha=False)
        return getattr(_F(), fname)(input, p, train, inplace)
    fn.__name__ = fn.__qualname__ = name
    kind = "in place" if inplace else "out of place"
    fn.__doc__ = (f"`{name.rstrip('_')}(input, p, train)`, {kind}: dropout with probability `p` "
                  "when `train` is True (both required, as in ATen).")
    return fn


dropout = _dropout_alias("dropout", "dropout", False)
dropout_ = _dropout_alias("dropout_", "dropout", True)
alpha_dropout = _dropout_alias("alpha_dropout", "alpha_dropout", False)
alpha_dropout_ = _dropout_alias("alpha_dropout_", "alpha_dropout", True)
feature_alpha_dropout = _dropout_alias("feature_alpha_dropout", "feature_alpha_dropout", False)
feature_alpha_dropout_ = _dropout_alias("feature_alpha_dropout_", "feature_alpha_dropout", True)
feature_dropout = _dropout_alias("feature_dropout", None, False)
feature_dropout_ = _dropout_alias("feature_dropout_", None, True)


def native_dropout(input: Tensor, p: float, train: bool | None) -> tuple:
    """(output, mask): dropout and the bool mask of kept elements (all True when not training)."""
    from .creation import ones_like, rand
    if train is False or p == 0.0:
        return input.clone(), ones_like(input, dtype=_bool())
    keep = rand(tuple(input.shape), dtype=input.dtype, device=input.device) >= p
    scale = 0.0 if p == 1.0 else 1.0 / (1.0 - p)
    return input * keep * scale, keep


def _bool():
    from .. import _dtype
    return _dtype.bool_


# ----------------------------------------------------------------------------------------------
# Embeddings and pooling
# ----------------------------------------------------------------------------------------------

def embedding(weight: Tensor, indices: Tensor, padding_idx: int = -1,
              scale_grad_by_freq: bool = False, sparse: bool = False) -> Tensor:
    """`F.embedding` with ATen's argument order (weight first); padding_idx < 0 means none."""
    return _F().embedding(indices, weight, padding_idx if padding_idx >= 0 else None,
                          scale_grad_by_freq=scale_grad_by_freq, sparse=sparse)


def embedding_bag(weight: Tensor, indices: Tensor, offsets: Tensor,
                  scale_grad_by_freq: bool = False, mode: int = 0, sparse: bool = False,
                  per_sample_weights: Tensor | None = None, include_last_offset: bool = False,
                  padding_idx: int | None = None) -> tuple:
    """ATen's embedding_bag: (output, offset2bag, bag_size, max_indices); mode 0 sum, 1 mean,
    2 max.

    `output` is `F.embedding_bag`'s. The other three are the bookkeeping tensors ATen's CPU
    kernel returns: offset2bag (the bag of each index), bag_size (indices per bag; zeros for
    sum), max_indices (the weight row giving each max in mode 2, zeros for sum, else
    bag_size). (ATen's float32 sum fast path returns an empty offset2bag; this always fills it.)
    """
    from .creation import arange, zeros
    if mode not in (0, 1, 2):
        raise ValueError(f"embedding_bag: mode must be 0 (sum), 1 (mean) or 2 (max), got {mode}")
    mode_s = ("sum", "mean", "max")[mode]
    out = _F().embedding_bag(indices, weight, offsets, scale_grad_by_freq=scale_grad_by_freq,
                             mode=mode_s, sparse=sparse, per_sample_weights=per_sample_weights,
                             include_last_offset=include_last_offset, padding_idx=padding_idx)
    n, nb = indices.shape[0], out.shape[0]
    from .shape import cat
    offs = offsets.to(indices.dtype)
    starts = offs[:nb]
    ends = offs[1:nb + 1] if include_last_offset else \
        cat([offs[1:], arange(n, n + 1, device=indices.device)])
    pos = arange(n, device=indices.device)
    member = (pos[None, :] >= starts[:, None]) & (pos[None, :] < ends[:, None])   # (bags, n)
    if padding_idx is not None:
        member = member & (indices[None, :] != padding_idx)
    bag_size = member.sum(1)
    offset2bag = member.to(indices.dtype).argmax(0)
    if mode == 0:
        zeros_nb = zeros(nb, dtype=indices.dtype, device=indices.device)
        return out, offset2bag, zeros_nb, zeros_nb.clone()
    if mode == 1:
        return out, offset2bag, bag_size, bag_size.clone()
    rows = weight.detach()[indices]                                        # (n, D)
    masked = rows[None, :, :].masked_fill(~member[:, :, None], float("-inf"))
    max_indices = indices[masked.argmax(1)]
    return out, offset2bag, bag_size, max_indices


def max_pool1d(input: Tensor, kernel_size, stride=(), padding=0, dilation=1,
               ceil_mode: bool = False) -> Tensor:
    """`F.max_pool1d` (an empty stride means the kernel size)."""
    return _F().max_pool1d(input, kernel_size, _stride(stride), padding, dilation, ceil_mode)


def max_pool2d(input: Tensor, kernel_size, stride=(), padding=0, dilation=1,
               ceil_mode: bool = False) -> Tensor:
    """`F.max_pool2d` (an empty stride means the kernel size)."""
    return _F().max_pool2d(input, kernel_size, _stride(stride), padding, dilation, ceil_mode)


def max_pool3d(input: Tensor, kernel_size, stride=(), padding=0, dilation=1,
               ceil_mode: bool = False) -> Tensor:
    """`F.max_pool3d` (an empty stride means the kernel size)."""
    return _F().max_pool3d(input, kernel_size, _stride(stride), padding, dilation, ceil_mode)


def max_pool1d_with_indices(input: Tensor, kernel_size, stride=(), padding=0, dilation=1,
                            ceil_mode: bool = False) -> tuple:
    """(values, indices) of `F.max_pool1d`."""
    return _F().max_pool1d_with_indices(input, kernel_size, _stride(stride), padding, dilation,
                                        ceil_mode)


def avg_pool1d(input: Tensor, kernel_size, stride=(), padding=0, ceil_mode: bool = False,
               count_include_pad: bool = True) -> Tensor:
    """`F.avg_pool1d` (an empty stride means the kernel size)."""
    return _F().avg_pool1d(input, kernel_size, _stride(stride), padding, ceil_mode,
                           count_include_pad)


def adaptive_avg_pool1d(input: Tensor, output_size) -> Tensor:
    """`F.adaptive_avg_pool1d`."""
    return _F().adaptive_avg_pool1d(input, output_size)


def adaptive_max_pool1d(input: Tensor, output_size) -> tuple:
    """(values, indices) of `F.adaptive_max_pool1d` (ATen always returns both)."""
    return _F().adaptive_max_pool1d(input, output_size, return_indices=True)


# ----------------------------------------------------------------------------------------------
# Activations, shuffles, bilinear, padding
# ----------------------------------------------------------------------------------------------

def bilinear(input1: Tensor, input2: Tensor, weight: Tensor,
             bias: Tensor | None = None) -> Tensor:
    """`F.bilinear`: x1^T W x2 + b."""
    return _F().bilinear(input1, input2, weight, bias)


def celu(input: Tensor, alpha: float = 1.0) -> Tensor:
    """`F.celu`: max(0, x) + min(0, alpha (exp(x / alpha) - 1))."""
    return _F().celu(input, alpha)


def celu_(input: Tensor, alpha: float = 1.0) -> Tensor:
    """In-place `celu`."""
    return _F().celu_(input, alpha)


def selu(input: Tensor) -> Tensor:
    """`F.selu`: scale (max(0, x) + min(0, alpha (exp(x) - 1)))."""
    return _F().selu(input)


def selu_(input: Tensor) -> Tensor:
    """In-place `selu`."""
    return _F().selu_(input)


def threshold(input: Tensor, threshold: float, value: float) -> Tensor:
    """`F.threshold`: x where x > threshold, else value."""
    return _F().threshold(input, threshold, value)


def threshold_(input: Tensor, threshold: float, value: float) -> Tensor:
    """In-place `threshold`."""
    return _F().threshold_(input, threshold, value)


def _no_generator(name: str, generator) -> None:
    if generator is not None:
        raise NotImplementedError(f"{name}: generator= is not supported (the draw uses "
                                  "dyngraph's default generator; seed it with manual_seed)")


def rrelu(input: Tensor, lower: float = 0.125, upper: float = 1.0 / 3.0,
          training: bool = False, generator=None) -> Tensor:
    """`F.rrelu`: leaky ReLU with a random slope in [lower, upper] when training."""
    _no_generator("rrelu", generator)
    return _F().rrelu(input, lower, upper, training)


def rrelu_(input: Tensor, lower: float = 0.125, upper: float = 1.0 / 3.0,
           training: bool = False, generator=None) -> Tensor:
    """In-place `rrelu`."""
    _no_generator("rrelu_", generator)
    return _F().rrelu_(input, lower, upper, training)


def prelu(input: Tensor, weight: Tensor) -> Tensor:
    """`F.prelu`: x where x >= 0, else weight * x (weight per channel or one value)."""
    return _F().prelu(input, weight)


def hardshrink(input: Tensor, lambd: float = 0.5) -> Tensor:
    """`F.hardshrink`: x where |x| > lambd, else 0."""
    return _F().hardshrink(input, lambd)


def pixel_shuffle(input: Tensor, upscale_factor: int) -> Tensor:
    """`F.pixel_shuffle`: (*, C r^2, H, W) -> (*, C, H r, W r)."""
    return _F().pixel_shuffle(input, upscale_factor)


def pixel_unshuffle(input: Tensor, downscale_factor: int) -> Tensor:
    """`F.pixel_unshuffle`: (*, C, H r, W r) -> (*, C r^2, H, W)."""
    return _F().pixel_unshuffle(input, downscale_factor)


def channel_shuffle(input: Tensor, groups: int) -> Tensor:
    """`F.channel_shuffle`: interleave the channels of `groups` groups."""
    return _F().channel_shuffle(input, groups)


def native_channel_shuffle(input: Tensor, groups: int) -> Tensor:
    """`F.native_channel_shuffle` (the same result as `channel_shuffle`)."""
    return _F().native_channel_shuffle(input, groups)


def constant_pad_nd(input: Tensor, pad, value=0) -> Tensor:
    """Pad the last dims with `value` (pad = (left, right) per dim, last dim first; negative
    amounts crop), as `F.pad(input, pad, 'constant', value)`."""
    return _F().pad(input, list(pad), "constant", value)


# ----------------------------------------------------------------------------------------------
# Losses: reduction as ATen's int
# ----------------------------------------------------------------------------------------------

def kl_div(input: Tensor, target: Tensor, reduction=0, *, log_target: bool = False) -> Tensor:
    """KL divergence (input: log-probabilities); reduction 1 is the plain elementwise mean (no
    warning, unlike F.kl_div's 'mean').

    The losses here default to reduction 0 (none): ATen's schemas say 1 (mean), but torch
    2.13's Python binding of the top-level functions returns the unreduced loss when
    reduction is left out, and that is what scripts get.
    """
    red = _reduction("kl_div", reduction)
    loss = _F().kl_div(input, target, reduction="none", log_target=log_target)
    return loss if red == "none" else (loss.mean() if red == "mean" else loss.sum())


def margin_ranking_loss(input1: Tensor, input2: Tensor, target: Tensor, margin: float = 0.0,
                        reduction=0) -> Tensor:
    """`F.margin_ranking_loss`: max(0, -target (x1 - x2) + margin)."""
    return _F().margin_ranking_loss(input1, input2, target, margin,
                                    reduction=_reduction("margin_ranking_loss", reduction))


def cosine_embedding_loss(input1: Tensor, input2: Tensor, target: Tensor, margin: float = 0.0,
                          reduction=0) -> Tensor:
    """`F.cosine_embedding_loss`."""
    return _F().cosine_embedding_loss(input1, input2, target, margin,
                                      reduction=_reduction("cosine_embedding_loss", reduction))


def hinge_embedding_loss(input: Tensor, target: Tensor, margin: float = 1.0,
                         reduction=0) -> Tensor:
    """`F.hinge_embedding_loss`."""
    return _F().hinge_embedding_loss(input, target, margin,
                                     reduction=_reduction("hinge_embedding_loss", reduction))


def poisson_nll_loss(input: Tensor, target: Tensor, log_input: bool, full: bool, eps: float,
                     reduction) -> Tensor:
    """`F.poisson_nll_loss` with every argument positional and required, as in ATen."""
    return _F().poisson_nll_loss(input, target, log_input, full, eps=eps,
                                 reduction=_reduction("poisson_nll_loss", reduction))


def triplet_margin_loss(anchor: Tensor, positive: Tensor, negative: Tensor, margin: float = 1.0,
                        p: float = 2.0, eps: float = 1e-06, swap: bool = False,
                        reduction=0) -> Tensor:
    """`F.triplet_margin_loss`."""
    return _F().triplet_margin_loss(anchor, positive, negative, margin, p, eps, swap,
                                    reduction=_reduction("triplet_margin_loss", reduction))


def ctc_loss(log_probs: Tensor, targets: Tensor, input_lengths, target_lengths, blank: int = 0,
             reduction=0, zero_infinity: bool = False) -> Tensor:
    """`F.ctc_loss` (reduction 1: each loss divided by its target length, then averaged)."""
    return _F().ctc_loss(log_probs, targets, input_lengths, target_lengths, blank,
                         _reduction("ctc_loss", reduction), zero_infinity)


def binary_cross_entropy_with_logits(input: Tensor, target: Tensor,
                                     weight: Tensor | None = None,
                                     pos_weight: Tensor | None = None, reduction=0) -> Tensor:
    """`F.binary_cross_entropy_with_logits`, with pos_weight before reduction as in ATen."""
    return _F().binary_cross_entropy_with_logits(
        input, target, weight, reduction=_reduction("binary_cross_entropy_with_logits",
                                                    reduction), pos_weight=pos_weight)
