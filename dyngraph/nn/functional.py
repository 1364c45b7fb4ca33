"""`dyngraph.nn.functional`: the stateless form of every layer (activations, normalisation,
dropout, embedding, linear), plus the activations, losses, attention and convolution functions
gathered from their own files (`_functional_activation.py`, `_functional_loss.py`, ...).

Most functions are composites of primitive ops, so autograd (double backward included) and the
compiler see ordinary graph nodes; softmax/log_softmax use the fused primitives in
`dyngraph/ops/nn_ops.py`.
"""

from __future__ import annotations

import numbers

import numpy as np

from .. import ops as _ops
from .._device import get_array_module
from .._tensor import Tensor
from ..autograd import no_grad
from .._dispatch import apply as _apply
from ..ops.linalg import matmul_op as _matmul_op
from ..ops.shape.views import permute_op as _permute_op
from ..ops.registry import composite

# Activations live in their own file; every name (private helpers too) stays importable here.
from ._functional_args import _channel_affine, _update_running
from ._functional_activation import (  # noqa: F401
    _GELU_A, _GELU_B, _SELU_ALPHA, _SELU_SCALE, _check_tensor, _elu, _get_softmax_dim,
    _maybe_inplace, _softplus,
    celu, elu, elu_, gelu, glu, hardsigmoid, hardswish, hardtanh, hardtanh_, leaky_relu,
    leaky_relu_, log_softmax, logsigmoid, mish, relu, relu_, relu6, selu, sigmoid, silu, softmax,
    softmin, softplus, softsign, tanh, tanhshrink, threshold)

__all__ = [
    "relu", "relu_", "relu6", "leaky_relu", "leaky_relu_", "elu", "elu_", "selu", "celu", "gelu",
    "silu", "mish", "tanh", "sigmoid", "softplus", "hardtanh", "hardtanh_", "hardsigmoid",
    "hardswish", "logsigmoid", "softsign", "tanhshrink", "threshold", "glu", "softmax",
    "log_softmax", "softmin", "dropout", "one_hot", "normalize", "cosine_similarity",
    "pairwise_distance", "embedding", "linear", "bilinear", "layer_norm", "group_norm",
    "batch_norm", "rms_norm",
]


# ----------------------------------------------------------------------------------------------
# Dropout, one_hot, distances
# ----------------------------------------------------------------------------------------------

@composite("dropout", "rand, lt, mul")
def dropout(input: Tensor, p: float = 0.5, training: bool = True,
            inplace: bool = False) -> Tensor:
    """Zero each element with probability `p` (from dyngraph's RNG) and scale the rest by 1/(1-p).

    Args:
        input: a tensor.
        p: probability of an element being zeroed.
        training: apply dropout only when True (otherwise `input` is returned).
        inplace: write the result into `input`.
    """
    _check_tensor("dropout", input)
    if not isinstance(p, numbers.Real) or p < 0.0 or p > 1.0:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
    if not training or p == 0.0:
        return input
    if p == 1.0:
        return _maybe_inplace("dropout", input, lambda t: t * 0.0, inplace)
    keep = _ops.rand(*input.shape, dtype=input.dtype, device=input.device) >= p
    scale = 1.0 / (1.0 - p)
    return _maybe_inplace("dropout", input, lambda t: t * keep * scale, inplace)


def one_hot(input: Tensor, num_classes: int = -1) -> Tensor:
    """Integer class indices of shape (*) to an int64 one-hot tensor of shape (*, num_classes).

    Args:
        input: an int64 tensor of class indices (PyTorch's keyword; its docs say `tensor`).
        num_classes: the number of classes; -1 infers max(input) + 1.

    Example:
        >>> one_hot(dyngraph.tensor([0, 2]), 3)
        tensor([[1, 0, 0],
                [0, 0, 1]])
    """
    _check_tensor("one_hot", input)
    if input.dtype.name != "int64":
        raise RuntimeError(
            f"one_hot is only applicable to index tensor of type int64 (LongTensor), got "
            f"{input.dtype}; convert it with .long()")
    if input.numel() == 0:
        if num_classes < 0:
            raise RuntimeError("one_hot: can not infer total number of classes from empty tensor")
        return _ops.zeros(*input.shape, num_classes, dtype=input.dtype, device=input.device)
    lo, hi = int(input.min().item()), int(input.max().item())
    if lo < 0:
        raise RuntimeError(f"one_hot: class values must be non-negative, got {lo}")
    if num_classes == -1:
        num_classes = hi + 1
    elif hi >= num_classes:
        raise RuntimeError(f"one_hot: class values must be smaller than num_classes "
                           f"({num_classes}), got {hi}")
    classes = _ops.arange(num_classes, device=input.device)
    return (input.unsqueeze(-1) == classes).long()


@composite("normalize", "norm, clamp_min, div")
def normalize(input: Tensor, p: float = 2.0, dim: int = 1, eps: float = 1e-12,
              out: Tensor | None = None) -> Tensor:
    """input / max(||input||_p along dim, eps).

    Args:
        input: a floating-point tensor.
        p: the norm's exponent (default 2).
        dim: the dimension to normalise over (default 1).
        eps: lower bound on the norm, to avoid division by zero.
        out: optional output tensor.
    """
    _check_tensor("normalize", input)
    denom = _ops.norm(input, p, dim=dim, keepdim=True).clamp_min(eps)
    result = input / denom
    if out is not None:
        from ..ops._api import write_out
        return write_out(result, out, "normalize")
    return result


@composite("cosine_similarity", "mul, sum, sqrt, clamp_min, div")
def cosine_similarity(x1: Tensor, x2: Tensor, dim: int = 1, eps: float = 1e-8) -> Tensor:
    """Cosine of the angle between x1 and x2 along `dim` (inputs broadcast).

    Each norm is clamped below by `eps`, as in PyTorch.
    """
    _check_tensor("cosine_similarity", x1)
    _check_tensor("cosine_similarity", x2)
    try:
        shape = _ops.broadcast_shapes(tuple(x1.shape), tuple(x2.shape))
    except (ValueError, RuntimeError):
        raise RuntimeError(f"cosine_similarity: the shapes of x1 {tuple(x1.shape)} and x2 "
                           f"{tuple(x2.shape)} cannot be broadcast together") from None
    if len(shape) and x1.shape != shape:
        x1 = x1.expand(*shape)
    if len(shape) and x2.shape != shape:
        x2 = x2.expand(*shape)
    n1 = (x1 * x1).sum(dim, keepdim=True).sqrt().clamp_min(eps)
    n2 = (x2 * x2).sum(dim, keepdim=True).sqrt().clamp_min(eps)
    return ((x1 / n1) * (x2 / n2)).sum(dim)


def pairwise_distance(x1: Tensor, x2: Tensor, p: float = 2.0, eps: float = 1e-6,
                      keepdim: bool = False) -> Tensor:
    """||x1 - x2 + eps||_p along the last dimension."""
    return _ops.norm(x1 - x2 + eps, p, dim=-1, keepdim=keepdim)


# ----------------------------------------------------------------------------------------------
# Embedding, linear
# ----------------------------------------------------------------------------------------------

def _renorm_rows_(weight: Tensor, input: Tensor, max_norm: float, norm_type: float) -> None:
    """Rescale, in place, the rows of `weight` that `input` looks up to norm <= max_norm."""
    w = weight._data
    xp = get_array_module(w)
    rows = xp.unique(input._data.reshape(-1))
    sub = w[rows].astype(np.float64)
    norms = (xp.abs(sub) ** norm_type).sum(axis=1) ** (1.0 / norm_type)
    scale = xp.where(norms > max_norm, max_norm / (norms + 1e-7), 1.0)
    w[rows] = (sub * scale[:, None]).astype(w.dtype)
    weight._vc[0] += 1


@composite("embedding", "getitem (gradient accumulated by index_put), where")
def embedding(input: Tensor, weight: Tensor, padding_idx: int | None = None,
              max_norm: float | None = None, norm_type: float = 2.0,
              scale_grad_by_freq: bool = False, sparse: bool = False) -> Tensor:
    """Look up rows of `weight` (num_embeddings, embedding_dim) at the integer indices `input`.

    Args:
        input: an integer tensor of indices, any shape (*).
        weight: the embedding matrix.
        padding_idx: the row at this index gets no gradient.
        max_norm: rows looked up are renormalised in place to at most this norm.
        norm_type: the p of the norm used with `max_norm`.
        scale_grad_by_freq: scale each row's gradient by 1 / (its count in the batch).
        sparse: sparse gradients are not supported (dyngraph has no sparse tensors).

    Returns:
        A tensor of shape (*, embedding_dim).
    """
    _check_tensor("embedding", input)
    if input.dtype.is_floating_point or input.dtype.name == "bool":
        raise RuntimeError(
            f"embedding: expected indices of an integer dtype (Long or Int), got {input.dtype}; "
            "convert them with .long()")
    if weight.ndim != 2:
        raise RuntimeError(f"embedding: 'weight' must be 2-D, got shape {tuple(weight.shape)}")
    if sparse:
        raise NotImplementedError("embedding: sparse=True is not supported (dyngraph has no "
                                  "sparse tensors); use sparse=False")
    num = weight.shape[0]
    if padding_idx is not None:
        if not -num <= padding_idx < num:
            raise ValueError(f"embedding: padding_idx must be within num_embeddings ({num}), "
                             f"got {padding_idx}")
        padding_idx = padding_idx % num
    from .._dispatch import state
    if input.numel() and state.tracer is None:   # traced: indexing itself raises IndexError
        lo, hi = int(input.min().item()), int(input.max().item())
        if lo < 0 or hi >= num:
            bad = lo if lo < 0 else hi
            raise IndexError(f"embedding: index {bad} is out of range for an embedding with "
                             f"{num} rows (valid indices are 0..{num - 1})")
    if max_norm is not None:
        with no_grad():
            _renorm_rows_(weight, input, max_norm, norm_type)
    out = weight[input]
    if not weight.requires_grad:
        return out
    if scale_grad_by_freq:
        flat = input.reshape(-1)
        counts = _ops.zeros(num, dtype=weight.dtype, device=weight.device)
        counts = counts.scatter_add(0, flat, _ops.ones(flat.shape[0], dtype=weight.dtype,
                                                       device=weight.device))
        scale = (1.0 / counts[input]).unsqueeze(-1)
        # Same value, gradient scaled by `scale`.
        out = out * scale + (out * (1.0 - scale)).detach()
    if padding_idx is not None:
        keep = (input != padding_idx).unsqueeze(-1)
        out = _ops.where(keep, out, out.detach())
    return out


def linear(input: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """input @ weight.T + bias.

    Args:
        input: a tensor of shape (*, in_features).
        weight: shape (out_features, in_features).
        bias: optional, shape (out_features,).

    Returns:
        A tensor of shape (*, out_features).
    """
    _check_tensor("linear", input)
    if weight.ndim == 2 and (input.ndim == 0 or input.shape[-1] != weight.shape[1]):
        got = input.shape[-1] if input.ndim else "no"
        raise RuntimeError(
            f"linear: input has {got} features in its last dimension (input shape "
            f"{tuple(input.shape)}) but the weight expects in_features={weight.shape[1]} "
            f"(weight shape {tuple(weight.shape)}); reshape the input or change in_features")
    return _linear(input, weight, bias)


def _linear(input: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor:
    """`linear` once its arguments are checked (Linear.forward checks them itself)."""
    if weight.ndim != 2:
        out = _ops.matmul(input, weight)
    else:
        # The weight's transpose as one permute op, straight into the matmul op when the input
        # is a matrix of the weight's dtype (the common call: no wrapper checks left to do).
        wt = _apply(_permute_op, weight, dims=(1, 0))
        if input._data.ndim == 2 and input._data.dtype is weight._data.dtype:
            out = _apply(_matmul_op, input, wt)
        elif (input._data.ndim > 2 and input._data.dtype is weight._data.dtype
              and input._data.flags.c_contiguous):
            # (*, in) as one (N, in) matrix: one GEMM each way and a weight gradient with no
            # per-batch products to sum, as PyTorch folds the leading dims
            flat = input.reshape(-1, input.shape[-1])
            out = _apply(_matmul_op, flat, wt).reshape(*input.shape[:-1], weight.shape[0])
        else:
            out = _ops.matmul(input, wt)
    if bias is not None:
        out = out + bias
    return out


def bilinear(input1: Tensor, input2: Tensor, weight: Tensor,
             bias: Tensor | None = None) -> Tensor:
    """y = x1^T A x2 + b for each output feature.

    Args:
        input1: shape (*, in1_features).
        input2: shape (*, in2_features).
        weight: shape (out_features, in1_features, in2_features).
        bias: optional, shape (out_features,).
    """
    _check_tensor("bilinear", input1)
    _check_tensor("bilinear", input2)
    out_f, in1, in2 = weight.shape
    if input1.shape[-1] != in1 or input2.shape[-1] != in2:
        raise RuntimeError(
            f"bilinear: input1 has {input1.shape[-1]} features and input2 has "
            f"{input2.shape[-1]}, but the weight {tuple(weight.shape)} expects "
            f"in1_features={in1} and in2_features={in2}")
    if input1.shape[:-1] != input2.shape[:-1]:
        raise RuntimeError(
            f"bilinear: input1 {tuple(input1.shape)} and input2 {tuple(input2.shape)} must have "
            "the same leading (batch) dimensions")
    lead = tuple(input1.shape[:-1])
    x1 = input1.reshape(-1, in1)
    x2 = input2.reshape(-1, in2)
    w = weight.permute(1, 0, 2).reshape(in1, out_f * in2)
    t = (x1 @ w).reshape(-1, out_f, in2)
    out = (t * x2.unsqueeze(1)).sum(-1)
    if bias is not None:
        out = out + bias
    return out.reshape(*lead, out_f)


# ----------------------------------------------------------------------------------------------
# Normalisation
# ----------------------------------------------------------------------------------------------

def _normalize_over(x: Tensor, dims, eps: float) -> Tensor:
    mean = x.mean(dims, keepdim=True)
    xc = x - mean
    var = (xc * xc).mean(dims, keepdim=True)
    return xc * _ops.rsqrt(var + eps)


@composite("layer_norm", "mean, sub, mul, rsqrt, add")
def layer_norm(input: Tensor, normalized_shape, weight: Tensor | None = None,
               bias: Tensor | None = None, eps: float = 1e-5) -> Tensor:
    """Normalise over the trailing `normalized_shape` dimensions, then scale and shift.

    Args:
        input: shape (*, *normalized_shape).
        normalized_shape: an int or a tuple of the trailing sizes.
        weight, bias: optional elementwise affine parameters of shape normalized_shape.
        eps: added to the variance for stability.
    """
    _check_tensor("layer_norm", input)
    ns = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    n = len(ns)
    if n == 0 or tuple(input.shape[input.ndim - n:]) != ns or input.ndim < n:
        raise RuntimeError(
            f"layer_norm: given normalized_shape={list(ns)}, expected input with shape "
            f"[*, {', '.join(map(str, ns))}], but got input of size {list(input.shape)}")
    for name, p in (("weight", weight), ("bias", bias)):
        if p is not None and tuple(p.shape) != ns:
            raise RuntimeError(f"layer_norm: expected {name} of shape {list(ns)}, got "
                               f"{list(p.shape)}")
    y = _normalize_over(input, tuple(range(input.ndim - n, input.ndim)), eps)
    if weight is not None:
        y = y * weight
    if bias is not None:
        y = y + bias
    return y


def rms_norm(input: Tensor, normalized_shape, weight: Tensor | None = None,
             eps: float | None = None) -> Tensor:
    """x / sqrt(mean(x^2) + eps) over the trailing `normalized_shape` dims, times weight."""
    ns = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    if tuple(input.shape[input.ndim - len(ns):]) != ns:
        raise RuntimeError(
            f"rms_norm: given normalized_shape={list(ns)}, expected input with shape "
            f"[*, {', '.join(map(str, ns))}], but got input of size {list(input.shape)}")
    if eps is None:
        eps = float(np.finfo(input.dtype.np).eps) if input.dtype.is_floating_point else 1e-6
    dims = tuple(range(input.ndim - len(ns), input.ndim))
    y = input * _ops.rsqrt((input * input).mean(dims, keepdim=True) + eps)
    return y * weight if weight is not None else y


def _channel_shape(input: Tensor) -> tuple:
    return (1, input.shape[1]) + (1,) * (input.ndim - 2)


@composite("group_norm", "reshape, mean, sub, mul, rsqrt, add")
def group_norm(input: Tensor, num_groups: int, weight: Tensor | None = None,
               bias: Tensor | None = None, eps: float = 1e-5) -> Tensor:
    """Normalise over groups of channels of an (N, C, *) input, then scale and shift per channel.

    Args:
        input: shape (N, C, *).
        num_groups: the number of groups C is divided into.
        weight, bias: optional per-channel affine parameters of shape (C,).
        eps: added to the variance for stability.
    """
    _check_tensor("group_norm", input)
    if input.ndim < 2:
        raise RuntimeError(f"group_norm: expected an input of at least 2 dimensions (N, C, *), "
                           f"got shape {list(input.shape)}")
    n, c = input.shape[0], input.shape[1]
    if c % num_groups:
        raise RuntimeError(
            f"group_norm: expected number of channels in input to be divisible by num_groups, "
            f"but got input of shape {list(input.shape)} and num_groups={num_groups}")
    y = _normalize_over(input.reshape(n, num_groups, -1), (2,), eps).reshape(*input.shape)
    return _channel_affine(y, weight, bias, _channel_shape(input))


@composite("batch_norm", "mean, sub, mul, rsqrt, add")
def batch_norm(input: Tensor, running_mean: Tensor | None, running_var: Tensor | None,
               weight: Tensor | None = None, bias: Tensor | None = None,
               training: bool = False, momentum: float = 0.1, eps: float = 1e-5) -> Tensor:
    """Normalise each channel of an (N, C, *) input by batch (training) or running statistics.

    In training mode the running statistics, when given, are updated in place:
    running = (1 - momentum) * running + momentum * batch_stat (the variance unbiased).

    Args:
        input: shape (N, C, *).
        running_mean, running_var: per-channel running statistics (C,) or None.
        weight, bias: optional per-channel affine parameters (C,).
        training: use batch statistics (and update the running ones).
        momentum: the weight of the new batch statistic in the running average.
        eps: added to the variance for stability.
    """
    _check_tensor("batch_norm", input)
    if input.ndim < 2:
        raise ValueError(f"batch_norm: expected an input of at least 2 dimensions (N, C, *), "
                         f"got shape {list(input.shape)}")
    c = input.shape[1]
    for name, t in (("running_mean", running_mean), ("running_var", running_var),
                    ("weight", weight), ("bias", bias)):
        if t is not None and tuple(t.shape) != (c,):
            raise RuntimeError(f"batch_norm: {name} should contain {c} elements (one per "
                               f"channel of input {list(input.shape)}), not {t.numel()}")
    cs = _channel_shape(input)
    dims = (0,) + tuple(range(2, input.ndim))
    if training:
        count = input.numel() // c if c else 0
        if count <= 1:
            raise ValueError(f"Expected more than 1 value per channel when training, got input "
                             f"size {list(input.shape)}")
        mean = input.mean(dims, keepdim=True)
        xc = input - mean
        var = (xc * xc).mean(dims, keepdim=True)
        y = xc * _ops.rsqrt(var + eps)
        if running_mean is not None or running_var is not None:
            _update_running(running_mean, running_var, mean.detach().reshape(c),
                            var.detach().reshape(c), count, momentum)
    else:
        if running_mean is None or running_var is None:
            raise RuntimeError("batch_norm: running_mean and running_var must be given when "
                               "training=False")
        y = (input - running_mean.reshape(*cs)) * _ops.rsqrt(running_var.reshape(*cs) + eps)
    return _channel_affine(y, weight, bias, cs)


# ----------------------------------------------------------------------------------------------
# Losses, attention and convolutions are defined in their own files (other owners); imported
# last so that they may import the functions above from this module.
# ----------------------------------------------------------------------------------------------
from ._functional_loss import *  # noqa: E402,F401,F403
from ._functional_attention import *  # noqa: E402,F401,F403
from ._functional_conv import *  # noqa: E402,F401,F403
from ._functional_extra import *  # noqa: E402,F401,F403
from ._functional_loss_extra import *  # noqa: E402,F401,F403
from ._functional_grid import *  # noqa: E402,F401,F403
from . import _functional_attention as _fa, _functional_conv as _fc  # noqa: E402
from . import _functional_loss as _fl  # noqa: E402
from . import _functional_extra as _fx, _functional_grid as _fg  # noqa: E402
from . import _functional_loss_extra as _flx  # noqa: E402

__all__ += [n for m in (_fl, _fa, _fc, _fx, _flx, _fg) for n in m.__all__ if n not in __all__]
