"""Loss functions of `dyngraph.nn.functional`, with PyTorch's names, arguments and semantics.

Every loss is a composite of dyngraph ops, so autograd (and double backward) come for free.
Log-probabilities come from the fused, max-shifted `log_softmax` op and logits go through
`log1p(exp(-|x|))`, so large inputs neither overflow nor lose precision.
"""

from __future__ import annotations

import warnings

from .. import _dispatch
from .. import _dtype as D
from .._tensor import Tensor
from ..ops import as_tensor, broadcast_shapes, gather, log_softmax, where
from ..ops.nn_ops import cross_entropy_indices_op as _ce_indices_op
from ..ops.registry import composite

__all__ = ["mse_loss", "l1_loss", "smooth_l1_loss", "huber_loss", "cross_entropy", "nll_loss",
           "binary_cross_entropy", "binary_cross_entropy_with_logits", "kl_div",
           "cosine_embedding_loss", "margin_ranking_loss"]

_REDUCTIONS = ("none", "mean", "sum")


# ----------------------------------------------------------------------------------------------
# Shared helpers
# ----------------------------------------------------------------------------------------------

def _legacy_reduction(size_average, reduce) -> str:
    """Map the deprecated `size_average`/`reduce` flags to a `reduction` string, as PyTorch does."""
    size_average = True if size_average is None else size_average
    reduce = True if reduce is None else reduce
    ret = "mean" if (size_average and reduce) else "sum" if reduce else "none"
    warnings.warn(f"size_average and reduce args will be deprecated, please use "
                  f"reduction='{ret}' instead.", UserWarning, stacklevel=3)
    return ret


def _get_reduction(reduction: str, size_average=None, reduce=None, allowed=_REDUCTIONS) -> str:
    if size_average is not None or reduce is not None:
        return _legacy_reduction(size_average, reduce)
    if reduction not in allowed:
        raise ValueError(f"{reduction} is not a valid value for reduction; expected one of "
                         f"{', '.join(repr(r) for r in allowed)}")
    return reduction


def _reduce(loss: Tensor, reduction: str) -> Tensor:
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    return loss


def _tensor(x, like: Tensor | None = None) -> Tensor:
    if isinstance(x, Tensor):
        return x
    return as_tensor(x, device=like.device if like is not None else None)


def _dtype_name(dt) -> str:
    return dt.name


def _pointwise_pair(name: str, input: Tensor, target: Tensor, *, warn: bool = True):
    """Broadcast input and target for a pointwise loss: PyTorch's warning, clear errors."""
    if not isinstance(input, Tensor) or not isinstance(target, Tensor):
        raise TypeError(f"{name}(): input and target must be Tensors, got "
                        f"{type(input).__name__} and {type(target).__name__}")
    if warn and target.shape != input.shape:
        warnings.warn(
            f"Using a target size ({target.size()}) that is different to the input size "
            f"({input.size()}). This will likely lead to incorrect results due to broadcasting. "
            "Please ensure they have the same size.", UserWarning, stacklevel=3)
    try:
        shape = broadcast_shapes(input.shape, target.shape)
    except (RuntimeError, ValueError):
        raise RuntimeError(
            f"{name}: input of shape {tuple(input.shape)} and target of shape "
            f"{tuple(target.shape)} cannot be broadcast together; pass a target of the input's "
            "shape") from None
    dt = D.result_type(input, target)
    if not dt.is_floating_point:
        raise RuntimeError(
            f"{name}: not implemented for integer input and target (input is "
            f"{_dtype_name(input.dtype)}, target is {_dtype_name(target.dtype)}); convert the "
            "input with .float()")
    if tuple(input.shape) != shape:
        input = input.expand(*shape)
    if tuple(target.shape) != shape:
        target = target.expand(*shape)
    return input, target


def _weighted(name: str, loss: Tensor, weight, input: Tensor, reduction: str,
              mean_by_weight: bool) -> Tensor:
    """PyTorch's optional per-element `weight` for the regression losses."""
    if weight is None:
        return _reduce(loss, reduction)
    weight = _tensor(weight, input)
    if weight.shape != input.shape:
        raise ValueError(f"{name}: Weights and input must have the same size (weight shape "
                         f"{tuple(weight.shape)}, input shape {tuple(input.shape)}).")
    loss = loss * weight
    if reduction == "mean" and mean_by_weight:
        return loss.sum() / weight.sum()
    return _reduce(loss, reduction)


def _weighted_mean(total: Tensor, weight_sum: Tensor) -> Tensor:
    """total / weight_sum; nan when every target is ignored, yet with a zero gradient there (as
    PyTorch, whose backward skips ignored targets instead of computing 0 * g / 0)."""
    empty = weight_sum == 0
    return total / where(empty, 1.0, weight_sum) + where(empty, float("nan"), 0.0)


def _log_softmax(x: Tensor, dim: int) -> Tensor:
    return log_softmax(x, dim)


def _log_sigmoid_neg(x: Tensor) -> Tensor:
    """softplus(-x) = -log(sigmoid(x)), stable for any x and with the exact gradient at x = 0.

    `where(x >= 0, -x, x)` is -|x| whose gradient picks one side at 0 (abs's subgradient 0 would
    give a wrong derivative there); the exponent is never positive, so nothing overflows.
    """
    neg_abs = where(x >= 0, -x, x)
    return neg_abs.exp().log1p() + (-x).relu()


# ----------------------------------------------------------------------------------------------
# Regression losses
# ----------------------------------------------------------------------------------------------

@composite("mse_loss", "sub, mul, mean/sum")
def mse_loss(input: Tensor, target: Tensor, size_average=None, reduce=None,
             reduction: str = "mean", weight: Tensor | None = None) -> Tensor:
    """Mean squared error ((input - target) ** 2), reduced by `reduction`.

    A target of another shape is broadcast with PyTorch's warning; an integer target is promoted
    to the input's floating dtype.

    Args:
        input: predictions of any shape.
        target: values of the same shape.
        reduction: 'mean' (default), 'sum' or 'none'.
        weight: optional per-element weights (input's shape); 'mean' divides by their sum.

    Returns:
        A scalar, or the elementwise loss for reduction='none'.

    Example:
        >>> F.mse_loss(dyngraph.tensor([1., 2.]), dyngraph.tensor([1., 4.]))
        tensor(2.)
    """
    reduction = _get_reduction(reduction, size_average, reduce)
    x, t = _pointwise_pair("mse_loss", input, target)
    d = x - t
    return _weighted("mse_loss", d * d, weight, input, reduction, mean_by_weight=True)


@composite("l1_loss", "sub, abs, mean/sum")
def l1_loss(input: Tensor, target: Tensor, size_average=None, reduce=None,
            reduction: str = "mean", weight: Tensor | None = None) -> Tensor:
    """Mean absolute error |input - target|, reduced by `reduction`.

    Args:
        input: predictions of any shape.
        target: values of the same shape.
        reduction: 'mean' (default), 'sum' or 'none'.
        weight: optional per-element weights (input's shape); 'mean' divides by their sum.
    """
    reduction = _get_reduction(reduction, size_average, reduce)
    x, t = _pointwise_pair("l1_loss", input, target)
    return _weighted("l1_loss", (x - t).abs(), weight, input, reduction, mean_by_weight=True)


@composite("smooth_l1_loss", "sub, abs, where, mul, mean/sum")
def smooth_l1_loss(input: Tensor, target: Tensor, size_average=None, reduce=None,
                   reduction: str = "mean", beta: float = 1.0) -> Tensor:
    """Smooth L1: 0.5 * d**2 / beta where |d| < beta, else |d| - 0.5 * beta (d = input - target).

    Args:
        input: predictions of any shape.
        target: values of the same shape.
        reduction: 'mean' (default), 'sum' or 'none'.
        beta: where the loss changes from quadratic to linear (beta=0 gives the L1 loss).
    """
    reduction = _get_reduction(reduction, size_average, reduce)
    if beta < 0:
        raise RuntimeError(f"smooth_l1_loss does not support negative values for beta (got "
                           f"beta={beta})")
    x, t = _pointwise_pair("smooth_l1_loss", input, target)
    d = x - t
    if beta == 0:
        return _reduce(d.abs(), reduction)
    ad = d.abs()
    loss = where(ad < beta, d * d * (0.5 / beta), ad - 0.5 * beta)
    return _reduce(loss, reduction)


@composite("huber_loss", "sub, abs, where, mul, mean/sum")
def huber_loss(input: Tensor, target: Tensor, reduction: str = "mean", delta: float = 1.0,
               weight: Tensor | None = None) -> Tensor:
    """Huber loss: 0.5 * d**2 where |d| < delta, else delta * (|d| - 0.5 * delta).

    Args:
        input: predictions of any shape.
        target: values of the same shape.
        reduction: 'mean' (default), 'sum' or 'none'.
        delta: where the loss changes from quadratic to linear (must be positive).
        weight: optional per-element weights (input's shape).
    """
    reduction = _get_reduction(reduction)
    if delta <= 0:
        raise RuntimeError(f"huber_loss does not support non-positive values for delta (got "
                           f"delta={delta})")
    x, t = _pointwise_pair("huber_loss", input, target)
    d = x - t
    ad = d.abs()
    loss = where(ad < delta, d * d * 0.5, (ad - 0.5 * delta) * delta)
    return _weighted("huber_loss", loss, weight, input, reduction, mean_by_weight=False)


# ----------------------------------------------------------------------------------------------
# Classification losses
# ----------------------------------------------------------------------------------------------

def _check_class_target(name: str, input: Tensor, target: Tensor, weight) -> int:
    """Validate (input, class-index target, weight) as nll_loss does; returns the class dim."""
    if input.ndim < 1:
        raise ValueError(f"{name}: expected input with 1 or more dimensions (C), (N, C) or "
                         f"(N, C, d1, ...), but got a 0-D tensor")
    if target.dtype not in (D.int64, D.uint8):
        hint = ""
        if target.dtype.is_floating_point:
            hint = (f"; for class probabilities pass a {target.dtype.name} target of the input's "
                    f"shape {tuple(input.shape)} (target shape is {tuple(target.shape)})")
        raise RuntimeError(f"{name}: expected target dtype to be Long (int64) or Byte (uint8) "
                           f"class indices, but got {_dtype_name(target.dtype)}{hint}")
    class_dim = 0 if input.ndim == 1 else 1
    if input.ndim == 1:
        want = ()
    else:
        want = (input.shape[0],) + tuple(input.shape[2:])
    if tuple(target.shape) != want:
        if input.ndim >= 2 and (target.ndim == 0 or target.shape[0] != input.shape[0]):
            raise ValueError(
                f"{name}: Expected input batch_size ({input.shape[0]}) to match target "
                f"batch_size ({target.shape[0] if target.ndim else 'none, a 0-D target'}); "
                f"input shape {tuple(input.shape)}, target shape {tuple(target.shape)}")
        raise RuntimeError(
            f"{name}: Expected target size {list(want)}, got {list(target.shape)} (input shape "
            f"{tuple(input.shape)}: the class dimension {class_dim} is dropped from the target)")
    n_classes = input.shape[class_dim]
    if weight is not None and (weight.ndim != 1 or weight.shape[0] != n_classes):
        raise RuntimeError(
            f"{name}: weight tensor should be defined either for all {n_classes} classes or no "
            f"classes but got weight tensor of shape: {list(weight.shape)}")
    return class_dim


def _check_bounds(name: str, target: Tensor, n_classes: int, ignore_index: int) -> bool:
    """Raise IndexError for a class index outside [0, n_classes) that is not ignore_index;
    returns whether some target equals ignore_index.

    The check reads the target's array directly and records no op: in eager mode that is a few
    array reductions instead of seven dispatched ops; under `dyngraph.compile` tracing a
    `.bool()` would split the compiled step into two graphs (later compiled calls rely on
    gather's own bounds check, a RuntimeError naming gather and the index).
    """
    t = target._data
    if t.size == 0:
        return False
    lo, hi = int(t.min()), int(t.max())
    if lo >= 0 and hi < n_classes:
        return lo <= ignore_index <= hi and bool((t == ignore_index).any())
    ignored = t == ignore_index
    bad = ((t < 0) | (t >= n_classes)) & ~ignored
    if bool(bad.any()):
        raise IndexError(f"Target {int(t[bad].reshape(-1)[0])} is out of bounds. ({name}: "
                         f"class indices must be in [0, {n_classes}) or equal "
                         f"ignore_index={ignore_index})")
    return bool(ignored.any())


def _nll(logp: Tensor, target: Tensor, weight, ignore_index: int, reduction: str,
         class_dim: int) -> Tensor:
    """Negative log-likelihood of `target` under log-probabilities `logp` (checked inputs)."""
    n_classes = logp.shape[class_dim]
    some_ignored = _check_bounds("nll_loss", target, n_classes, ignore_index)
    target = target.to(D.int64)
    if weight is None and not some_ignored and reduction != "none" and target.numel() and \
            _dispatch.state.tracer is None:
        # Eager, unweighted, nothing ignored: every weight is 1, so the general formula below
        # reduces to the same values with four ops instead of eleven. (A traced graph keeps the
        # general form: later calls may ignore targets.)
        total = (-gather(logp, class_dim, target.unsqueeze(class_dim))).sum()
        return total if reduction == "sum" else total / target.numel()
    ignored = target == ignore_index
    safe = where(ignored, 0, target)
    picked = gather(logp, class_dim, safe.unsqueeze(class_dim)).squeeze(class_dim)
    if weight is not None:
        w = gather(weight.to(logp.dtype), 0, safe.reshape(-1)).reshape(tuple(safe.shape))
        w = where(ignored, 0.0, w)
    else:
        w = (~ignored).to(logp.dtype)
    loss = -picked * w
    if reduction == "none":
        return loss
    if reduction == "sum":
        return loss.sum()
    return _weighted_mean(loss.sum(), w.sum())


@composite("nll_loss", "gather, where, mul, sum, div")
def nll_loss(input: Tensor, target: Tensor, weight: Tensor | None = None, size_average=None,
             ignore_index: int = -100, reduce=None, reduction: str = "mean") -> Tensor:
    """Negative log-likelihood of class indices under log-probabilities `input`.

    Args:
        input: log-probabilities, (C), (N, C) or (N, C, d1, ...).
        target: int64 class indices, () , (N) or (N, d1, ...).
        weight: optional per-class weights (C).
        ignore_index: target value that contributes nothing (and is left out of the mean).
        reduction: 'mean' (weighted mean over non-ignored targets), 'sum' or 'none'.

    Returns:
        A scalar, or the per-element loss (target's shape) for reduction='none'.
    """
    reduction = _get_reduction(reduction, size_average, reduce)
    weight = None if weight is None else _tensor(weight, input)
    class_dim = _check_class_target("nll_loss", input, target, weight)
    return _nll(input, target, weight, ignore_index, reduction, class_dim)


@composite("cross_entropy", "log_softmax, gather, mul, sum, div")
def cross_entropy(input: Tensor, target: Tensor, weight: Tensor | None = None,
                  size_average=None, ignore_index: int = -100, reduce=None,
                  reduction: str = "mean", label_smoothing: float = 0.0) -> Tensor:
    """Cross entropy between logits `input` and class indices or class probabilities `target`.

    Computes log_softmax over the class dimension (1, or 0 for unbatched input) and then the
    negative log-likelihood, with PyTorch's treatment of `weight`, `ignore_index` and
    `label_smoothing` (mixing in the uniform distribution).

    Args:
        input: logits, (C), (N, C) or (N, C, d1, ...).
        target: int64 class indices of shape (), (N) or (N, d1, ...); or floating-point class
            probabilities of the input's shape.
        weight: optional per-class weights (C).
        ignore_index: class-index target value to skip (not allowed with probability targets).
        reduction: 'mean' (default), 'sum' or 'none'.
        label_smoothing: in [0, 1]; the amount of probability spread uniformly over classes.

    Returns:
        A scalar, or the per-sample loss for reduction='none'.

    Example:
        >>> logits = dyngraph.tensor([[2.0, 0.5, -1.0]])
        >>> F.cross_entropy(logits, dyngraph.tensor([0]))
        tensor(0.2413)
    """
    reduction = _get_reduction(reduction, size_average, reduce)
    if not 0.0 <= label_smoothing <= 1.0:
        raise RuntimeError(f"cross_entropy: label_smoothing must be between 0.0 and 1.0. Got: "
                           f"{label_smoothing}")
    weight = None if weight is None else _tensor(weight, input)
    if not input.dtype.is_floating_point:
        raise RuntimeError(f"cross_entropy: expected floating-point logits, but input is "
                           f"{_dtype_name(input.dtype)}")
    if target.dtype.is_floating_point and target.shape == input.shape:
        return _cross_entropy_probs(input, target, weight, ignore_index, reduction,
                                    label_smoothing)
    if target.dtype.is_floating_point and target.shape != input.shape:
        raise RuntimeError(
            f"cross_entropy: a floating-point ({target.dtype.name}) target holds class "
            f"probabilities and must have the "
            f"input's shape {tuple(input.shape)}, but got target shape {tuple(target.shape)}; "
            "for class indices pass an int64 target")
    class_dim = _check_class_target("cross_entropy", input, target, weight)
    if weight is None and label_smoothing == 0.0 and reduction != "none" and input.ndim == 2 \
            and input.shape[0] and _dispatch.state.tracer is None and target.dtype is D.int64 \
            and not _check_bounds("nll_loss", target, input.shape[1], ignore_index):
        # Eager, (N, C) logits, nothing weighted, smoothed or ignored: one fused op each way
        # (log_softmax, gather, neg, sum and div are five dispatches and five backward nodes).
        return _dispatch.apply(_ce_indices_op, input, target, mean=reduction == "mean")
    logp = _log_softmax(input, class_dim)
    nll = _nll(logp, target, weight, ignore_index, reduction, class_dim)
    if label_smoothing == 0.0:
        return nll
    n_classes = input.shape[class_dim]
    ignored = target.to(D.int64) == ignore_index
    if weight is not None:
        wshape = [1] * input.ndim
        wshape[class_dim] = n_classes
        smooth = -(logp * weight.to(logp.dtype).reshape(wshape)).sum(class_dim)
    else:
        smooth = -logp.sum(class_dim)
    smooth = where(ignored, 0.0, smooth)
    if reduction == "mean":
        if weight is not None:
            safe = where(ignored, 0, target.to(D.int64)).reshape(-1)
            tw = where(ignored.reshape(-1), 0.0, gather(weight.to(logp.dtype), 0, safe))
            smooth = _weighted_mean(smooth.sum(), tw.sum())
        else:
            smooth = _weighted_mean(smooth.sum(), (~ignored).sum().to(logp.dtype))
    elif reduction == "sum":
        smooth = smooth.sum()
    return nll * (1 - label_smoothing) + smooth * (label_smoothing / n_classes)


def _cross_entropy_probs(input, target, weight, ignore_index, reduction, label_smoothing):
    if ignore_index >= 0:
        raise RuntimeError("cross_entropy: ignore_index is not supported for floating point "
                           "target (class probabilities)")
    class_dim = 0 if input.ndim == 1 else 1
    n_classes = input.shape[class_dim]
    if weight is not None and (weight.ndim != 1 or weight.shape[0] != n_classes):
        raise RuntimeError(
            f"cross_entropy: weight tensor should be defined either for all {n_classes} classes "
            f"or no classes but got weight tensor of shape: {list(weight.shape)}")
    logp = _log_softmax(input, class_dim)
    if label_smoothing > 0:
        target = target * (1 - label_smoothing) + label_smoothing / n_classes
    prod = logp * target
    if weight is not None:
        wshape = [1] * input.ndim
        wshape[class_dim] = n_classes
        prod = prod * weight.to(logp.dtype).reshape(wshape)
    if reduction == "none":
        return -prod.sum(class_dim)
    if reduction == "sum":
        return -prod.sum()
    n = input.numel() // n_classes if n_classes else 0
    return -prod.sum() / (n if n else float("nan"))


@composite("binary_cross_entropy", "log, clamp, mul, add, mean/sum")
def binary_cross_entropy(input: Tensor, target: Tensor, weight: Tensor | None = None,
                         size_average=None, reduce=None, reduction: str = "mean") -> Tensor:
    """Binary cross entropy between probabilities `input` and `target` (same shape).

    As in PyTorch each log is clamped at -100, so a probability of exactly 0 or 1 gives a
    finite loss.

    Args:
        input: probabilities in [0, 1].
        target: values in [0, 1] of the input's shape.
        weight: optional rescaling weight, broadcast to the target's shape.
        reduction: 'mean' (default), 'sum' or 'none'.
    """
    reduction = _get_reduction(reduction, size_average, reduce)
    if target.shape != input.shape:
        raise ValueError(
            f"Using a target size ({target.size()}) that is different to the input size "
            f"({input.size()}) is deprecated. Please ensure they have the same size.")
    if not input.dtype.is_floating_point:
        raise RuntimeError(f"binary_cross_entropy: expected floating-point probabilities, but "
                           f"input is {_dtype_name(input.dtype)}")
    if bool(((input < 0) | (input > 1)).any()):
        raise RuntimeError("binary_cross_entropy: all elements of input should be between 0 and "
                           "1")

    def clamped_log(p):
        # where() keeps log's argument positive, so p == 0 gives -100 and a zero gradient, not
        # 0 * inf = nan.
        pos = p > 0
        return where(pos, where(pos, p, 1.0).log(), -100.0).clamp(min=-100.0)

    loss = -(target * clamped_log(input) + (1 - target) * clamped_log(1 - input))
    if weight is not None:
        weight = _tensor(weight, input)
        loss = loss * weight.expand(*broadcast_shapes(target.shape, weight.shape))
    return _reduce(loss, reduction)


@composite("binary_cross_entropy_with_logits", "where, exp, log1p, relu, mul, add, mean/sum")
def binary_cross_entropy_with_logits(input: Tensor, target: Tensor,
                                     weight: Tensor | None = None, size_average=None,
                                     reduce=None, reduction: str = "mean",
                                     pos_weight: Tensor | None = None) -> Tensor:
    """Sigmoid + binary cross entropy in one numerically stable expression.

    loss = (1 - target) * x + (1 + (pos_weight - 1) * target) * softplus(-x).

    Args:
        input: logits of any shape.
        target: values in [0, 1] of the input's shape.
        weight: optional rescaling weight, broadcast against the loss.
        reduction: 'mean' (default), 'sum' or 'none'.
        pos_weight: optional weight of positive examples, broadcast along the last dimension
            (one per class).
    """
    reduction = _get_reduction(reduction, size_average, reduce)
    if target.shape != input.shape:
        raise ValueError(f"Target size ({target.size()}) must be the same as input size "
                         f"({input.size()})")
    if not input.dtype.is_floating_point:
        raise RuntimeError(f"binary_cross_entropy_with_logits: expected floating-point logits, "
                           f"but input is {_dtype_name(input.dtype)}")
    sp = _log_sigmoid_neg(input)
    if pos_weight is not None:
        pos_weight = _tensor(pos_weight, input)
        log_weight = (pos_weight - 1) * target + 1
        loss = (1 - target) * input + log_weight * sp
    else:
        loss = (1 - target) * input + sp
    if weight is not None:
        loss = loss * _tensor(weight, input)
    return _reduce(loss, reduction)


@composite("kl_div", "exp/log, sub, mul, where, sum")
def kl_div(input: Tensor, target: Tensor, size_average=None, reduce=None,
           reduction: str = "mean", log_target: bool = False) -> Tensor:
    """Kullback-Leibler divergence of `target` from log-probabilities `input`.

    Pointwise loss target * (log(target) - input) (0 where target is 0), or
    exp(target) * (target - input) with log_target=True.

    Args:
        input: log-probabilities.
        target: probabilities (or log-probabilities with log_target=True), same shape.
        reduction: 'mean' (over all elements, with PyTorch's warning), 'batchmean' (the
            mathematically correct KL: sum divided by the batch size), 'sum' or 'none'.
        log_target: whether target is given in log space.
    """
    if size_average is not None or reduce is not None:
        reduction = _legacy_reduction(size_average, reduce)
    else:
        if reduction not in _REDUCTIONS + ("batchmean",):
            raise ValueError(f"{reduction} is not a valid value for reduction; expected one of "
                             "'none', 'batchmean', 'sum', 'mean'")
        if reduction == "mean":
            warnings.warn(
                "reduction: 'mean' divides the total loss by both the batch size and the support "
                "size.'batchmean' divides only by the batch size, and aligns with the KL div math "
                "definition.'mean' will be changed to behave the same as 'batchmean' in the next "
                "major release.", UserWarning, stacklevel=2)
    if log_target:
        loss = target.exp() * (target - input)
    else:
        zero = target == 0
        safe = where(zero, 1.0, target)
        loss = where(zero, 0.0, target * safe.log()) - target * input
    if reduction == "batchmean":
        total = loss.sum()
        return total / input.shape[0] if input.ndim != 0 else total
    return _reduce(loss, reduction)


# ----------------------------------------------------------------------------------------------
# Embedding / ranking losses
# ----------------------------------------------------------------------------------------------

@composite("cosine_embedding_loss", "mul, sum, sqrt, div, where, clamp")
def cosine_embedding_loss(input1: Tensor, input2: Tensor, target: Tensor, margin: float = 0,
                          size_average=None, reduce=None, reduction: str = "mean") -> Tensor:
    """1 - cos(x1, x2) where target is 1, max(0, cos(x1, x2) - margin) where target is -1.

    Args:
        input1: (N, D) or (D) embeddings.
        input2: embeddings of the same shape.
        target: (N) or () labels, 1 or -1.
        margin: in [-1, 1]; 0 to 0.5 is suggested.
        reduction: 'mean' (default), 'sum' or 'none'.
    """
    reduction = _get_reduction(reduction, size_average, reduce)
    tdim = target.ndim
    if tdim not in (0, 1):
        raise RuntimeError(f"cosine_embedding_loss: 0D or 1D target tensor expected, "
                           f"multi-target not supported (target shape {tuple(target.shape)})")
    want = 2 if tdim == 1 else 1
    if input1.ndim != want or input2.ndim != want:
        raise RuntimeError(
            f"cosine_embedding_loss: {tdim}D target tensor expects {want}D input tensors, but "
            f"found inputs with sizes {list(input1.shape)} and {list(input2.shape)}.")
    if input1.shape != input2.shape:
        raise RuntimeError(f"cosine_embedding_loss: input1 and input2 must have the same shape, "
                           f"got {tuple(input1.shape)} and {tuple(input2.shape)}")
    if tdim == 1 and target.shape[0] != input1.shape[0]:
        raise RuntimeError(f"cosine_embedding_loss: target of shape {tuple(target.shape)} does "
                           f"not match the batch size of inputs of shape {tuple(input1.shape)}")
    eps = 1e-12
    d = tdim
    prod = (input1 * input2).sum(d)
    mag1 = (input1 * input1).sum(d) + eps
    mag2 = (input2 * input2).sum(d) + eps
    cos = prod / (mag1 * mag2).sqrt()
    zeros = cos * 0
    pos = where(target == 1, 1 - cos, zeros)
    neg = where(target == -1, (cos - margin).clamp(min=0), zeros)
    return _reduce(pos + neg, reduction)


@composite("margin_ranking_loss", "sub, mul, clamp, mean/sum")
def margin_ranking_loss(input1: Tensor, input2: Tensor, target: Tensor, margin: float = 0,
                        size_average=None, reduce=None, reduction: str = "mean") -> Tensor:
    """max(0, -target * (input1 - input2) + margin): ranks input1 above input2 where target=1.

    Args:
        input1: scores, (N) or ().
        input2: scores of the same shape.
        target: labels, 1 or -1, of the same shape.
        margin: the required gap.
        reduction: 'mean' (default), 'sum' or 'none'.
    """
    reduction = _get_reduction(reduction, size_average, reduce)
    if not (input1.ndim == input2.ndim == target.ndim):
        raise RuntimeError(
            f"margin_ranking_loss: All input tensors should have same dimension but got sizes: "
            f"input1: {list(input1.shape)}, input2: {list(input2.shape)}, target: "
            f"{list(target.shape)}")
    loss = (-target * (input1 - input2) + margin).clamp(min=0)
    return _reduce(loss, reduction)
