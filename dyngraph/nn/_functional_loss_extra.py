"""More loss functions of `dyngraph.nn.functional` (probabilistic, margin, triplet and CTC
losses), with PyTorch's names, arguments, semantics and errors.

All but `ctc_loss` are composites of dyngraph ops, so autograd, double backward and the compiler
work for them as they are; `ctc_loss` runs its alpha-beta recursion as one primitive op
(dyngraph/ops/ctc_ops.py). Softplus terms use the stable form of `_functional_loss`, so large
margins neither overflow nor lose precision.
"""

from __future__ import annotations

import math
from typing import Callable

import numpy as np

from .. import _dtype as D
from .._dispatch import apply
from .._tensor import Tensor
from ..ops import (arange, as_tensor, cumsum, gather, minimum, norm, scatter, where,
                   zeros)
from ..ops import ctc_ops as _ctc
from ..ops.registry import composite
from ._functional_loss import _get_reduction, _log_sigmoid_neg, _reduce, _tensor

__all__ = ["gaussian_nll_loss", "poisson_nll_loss", "hinge_embedding_loss", "multi_margin_loss",
           "multilabel_margin_loss", "multilabel_soft_margin_loss", "soft_margin_loss",
           "triplet_margin_loss", "triplet_margin_with_distance_loss", "ctc_loss"]


def _check_tensors(name: str, **tensors) -> None:
    for arg, t in tensors.items():
        if not isinstance(t, Tensor):
            raise TypeError(f"{name}(): argument '{arg}' must be Tensor, not {type(t).__name__}")


def _host(t: Tensor) -> np.ndarray:
    """A (small) tensor's values on the host, for argument checks that record no op."""
    a = t._data
    return a if isinstance(a, np.ndarray) else a.get()


def _check_float(name: str, t: Tensor, arg: str = "input") -> None:
    if not t.dtype.is_floating_point:
        raise NotImplementedError(f"{name}: not implemented for {arg} of dtype {t.dtype.name}; "
                                  "convert it with .float()")


# ----------------------------------------------------------------------------------------------
# Probabilistic losses
# ----------------------------------------------------------------------------------------------

@composite("gaussian_nll_loss", "clamp, log, sub, mul, div, mean/sum")
def gaussian_nll_loss(input: Tensor, target: Tensor, var: Tensor | float, full: bool = False,
                      eps: float = 1e-6, reduction: str = "mean") -> Tensor:
    """Negative log-likelihood of `target` under Gaussians of mean `input` and variance `var`.

    loss = 0.5 * (log(max(var, eps)) + (input - target) ** 2 / max(var, eps)), plus
    0.5 * log(2 * pi) with full=True. As in PyTorch the clamp at `eps` is invisible to autograd:
    the gradient with respect to var is the one at the clamped value.

    Args:
        input: predicted means, any shape.
        target: observations, broadcastable to the input.
        var: positive variances: the input's shape (one per element), the input's shape with
            the last dimension dropped or one dimension of size 1 (shared, homoscedastic), or a
            float.
        full: add the constant term.
        eps: the smallest variance used.
        reduction: 'mean' (default), 'sum' or 'none'.

    Example:
        >>> F.gaussian_nll_loss(dyngraph.tensor([0.]), dyngraph.tensor([1.]), dyngraph.tensor([1.]))
        tensor(0.5000)
    """
    _check_tensors("gaussian_nll_loss", input=input, target=target)
    if isinstance(var, (int, float)):
        if var < 0:
            raise ValueError("var has negative entry/entries")
        var = as_tensor(float(var), device=input.device, dtype=input.dtype).expand(*input.shape)
    elif not isinstance(var, Tensor):
        raise TypeError(f"gaussian_nll_loss(): argument 'var' must be Tensor or float, not "
                        f"{type(var).__name__}")
    elif var.numel() and bool((_host(var) < 0).any()):
        raise ValueError("var has negative entry/entries")
    if var.shape != input.shape:
        isize, vsize = tuple(input.shape), tuple(var.shape)
        if isize[:-1] == vsize:
            var = var.unsqueeze(-1)
        elif not (len(isize) == len(vsize)
                  and sum(v for i, v in zip(isize, vsize) if i != v) == 1):
            raise ValueError(
                f"var is of incorrect size: gaussian_nll_loss expects var of the input's shape "
                f"{list(isize)}, that shape without its last dimension, or that shape with one "
                f"dimension of size 1, but got {list(vsize)}")
    if reduction not in ("none", "mean", "sum"):
        raise ValueError(f"{reduction} is not valid value for reduction; expected one of 'none', "
                         "'mean', 'sum'")
    # clamp without a trace in the gradient, as PyTorch's in-place clamp under no_grad:
    # the value is max(var, eps), the derivative that of var itself
    clamped = var.detach().clamp(min=eps)
    if var.requires_grad:
        clamped = clamped + (var - var.detach())
    diff = input - target
    loss = (clamped.log() + diff * diff / clamped) * 0.5
    if full:
        loss = loss + 0.5 * math.log(2 * math.pi)
    return _reduce(loss, reduction)


@composite("poisson_nll_loss", "exp/log, mul, sub, where, mean/sum")
def poisson_nll_loss(input: Tensor, target: Tensor, log_input: bool = True, full: bool = False,
                     size_average=None, eps: float = 1e-8, reduce=None,
                     reduction: str = "mean") -> Tensor:
    """Negative log-likelihood of `target` under Poisson distributions of rate exp(input)
    (log_input=True) or `input`.

    loss = exp(input) - target * input, or input - target * log(input + eps); full=True adds
    Stirling's approximation of log(target!), target * log(target) - target +
    0.5 * log(2 * pi * target), where target > 1.

    Args:
        input: log-rates (log_input=True) or rates, any shape.
        target: counts, broadcastable to the input.
        log_input: whether `input` holds log-rates.
        full: add the Stirling term.
        eps: keeps log(input + eps) finite at input = 0 (log_input=False).
        reduction: 'mean' (default), 'sum' or 'none'.
    """
    reduction = _get_reduction(reduction, size_average, reduce)
    _check_tensors("poisson_nll_loss", input=input, target=target)
    if log_input:
        loss = input.exp() - target * input
    else:
        loss = input - target * (input + eps).log()
    if full:
        big = target > 1
        t = where(big, target, 2.0)       # keeps log's argument positive where masked out
        stirling = t * t.log() - t + (t * (2 * math.pi)).log() * 0.5
        loss = loss + where(big, stirling, 0.0)
    return _reduce(loss, reduction)


# ----------------------------------------------------------------------------------------------
# Margin losses
# ----------------------------------------------------------------------------------------------

@composite("hinge_embedding_loss", "sub, clamp, where, add, mean/sum")
def hinge_embedding_loss(input: Tensor, target: Tensor, margin: float = 1.0, size_average=None,
                         reduce=None, reduction: str = "mean") -> Tensor:
    """x where target is 1, max(0, margin - x) where target is -1 (input x, e.g. distances).

    As in PyTorch a target that is neither 1 nor -1 gets both terms; input and target broadcast.

    Args:
        input: any shape.
        target: labels 1 or -1, broadcastable to the input.
        margin: the margin for dissimilar pairs.
        reduction: 'mean' (default), 'sum' or 'none'.
    """
    reduction = _get_reduction(reduction, size_average, reduce)
    _check_tensors("hinge_embedding_loss", input=input, target=target)
    output_margin = where(target != 1, (margin - input).clamp(min=0), 0.0)
    output_self = where(target != -1, input, 0.0)
    return _reduce(output_margin + output_self, reduction)


@composite("soft_margin_loss", "mul, exp, log1p, mean/sum")
def soft_margin_loss(input: Tensor, target: Tensor, size_average=None, reduce=None,
                     reduction: str = "mean") -> Tensor:
    """Two-class logistic loss log(1 + exp(-target * input)), computed without overflow.

    Args:
        input: scores, any shape.
        target: labels 1 or -1, broadcastable to the input.
        reduction: 'mean' (default), 'sum' or 'none'.
    """
    reduction = _get_reduction(reduction, size_average, reduce)
    _check_tensors("soft_margin_loss", input=input, target=target)
    return _reduce(_log_sigmoid_neg(input * target), reduction)


@composite("multilabel_soft_margin_loss", "exp, log1p, mul, sum, div, mean/sum")
def multilabel_soft_margin_loss(input: Tensor, target: Tensor, weight: Tensor | None = None,
                                size_average=None, reduce=None,
                                reduction: str = "mean") -> Tensor:
    """One-versus-all logistic loss over C classes, averaged over the classes of each sample.

    loss[n] = -mean_c(target * log(sigmoid(x)) + (1 - target) * log(sigmoid(-x))) [* weight].

    Args:
        input: (N, C) or (C) scores.
        target: 0/1 labels of the input's shape.
        weight: optional per-class weights, broadcast against the elementwise loss.
        reduction: 'mean' (default), 'sum' or 'none' (one value per sample).
    """
    reduction = _get_reduction(reduction, size_average, reduce)
    _check_tensors("multilabel_soft_margin_loss", input=input, target=target)
    if input.ndim == 0:
        raise RuntimeError("multilabel_soft_margin_loss: expected input of shape (N, C) or (C), "
                           "got a 0-D tensor")
    # -log(sigmoid(-x)) = -log(sigmoid(x)) + x, so one softplus serves both terms
    loss = _log_sigmoid_neg(input) + (1 - target) * input
    if weight is not None:
        loss = loss * _tensor(weight, input)
    loss = loss.sum(-1) / input.shape[-1]
    return _reduce(loss, reduction)


def _check_class_indices(name: str, target: Tensor) -> None:
    if target.dtype.name != "int64":
        raise RuntimeError(f"{name}: expected target of scalar type Long (int64) class indices, "
                           f"but found {target.dtype.name}; convert it with .long()")


def _as_matrix(name: str, input: Tensor) -> Tensor:
    """(N, C) view of a (N, C), (C) or () input, as PyTorch's margin kernels read it."""
    if input.ndim > 2 or (input.ndim >= 1 and input.shape[-1] == 0):
        raise RuntimeError(f"{name}: Expected non-empty vector or matrix with optional 0-dim "
                           f"batch size, but got: {list(input.shape)}")
    return input.reshape(-1 if input.ndim == 2 else 1, input.shape[-1] if input.ndim else 1)


@composite("multi_margin_loss", "gather, sub, relu, mul, where, sum, div")
def multi_margin_loss(input: Tensor, target: Tensor, p: int = 1, margin: float = 1.0,
                      weight: Tensor | None = None, size_average=None, reduce=None,
                      reduction: str = "mean") -> Tensor:
    """Multi-class hinge loss: sum over classes j != y of max(0, margin - x[y] + x[j]) ** p,
    times weight[y], divided by the number of classes C.

    Args:
        input: (N, C) or (C) scores.
        target: int64 class indices, (N) or () (or (1) for a (C) input).
        p: 1 or 2.
        margin: the required gap between the target's score and the others.
        weight: optional per-class weights (C).
        reduction: 'mean' (over samples, default), 'sum' or 'none'.
    """
    reduction = _get_reduction(reduction, size_average, reduce)
    _check_tensors("multi_margin_loss", input=input, target=target)
    if p != 1 and p != 2:
        raise ValueError("only p == 1 and p == 2 supported")
    if weight is not None:
        weight = _tensor(weight, input)
        if weight.ndim != 1:
            raise ValueError(f"weight must be one-dimensional (multi_margin_loss got weight of "
                             f"shape {list(weight.shape)})")
    _check_float("multi_margin_loss", input)
    x = _as_matrix("multi_margin_loss", input)
    n, c = x.shape
    _check_class_indices("multi_margin_loss", target)
    if target.ndim > 1 or target.numel() != n:
        raise RuntimeError(
            f"multi_margin_loss: target tensor should be 1-D with size equal to the number of "
            f"input samples (batch size). Expected target size [{n}], but got "
            f"{list(target.shape)}. Input has shape {list(input.shape)}.")
    if weight is not None and weight.numel() != c:
        raise RuntimeError(f"multi_margin_loss: inconsistent weight size, expected {c} but got "
                           f"{list(weight.shape)}")
    t = target.reshape(n, 1)
    if n:
        ht = _host(t)
        if (ht < 0).any() or (ht >= c).any():
            bad = int(ht[(ht < 0) | (ht >= c)][0])
            raise RuntimeError(f"multi_margin_loss: target out of range: got class index {bad}, "
                               f"expected values in [0, {c})")
    z = x - gather(x, 1, t) + margin
    h = z.relu()
    if p == 2:
        h = h * h
    if weight is not None:
        h = h * gather(weight.to(x.dtype), 0, t.reshape(-1)).reshape(n, 1)
    h = where(arange(c, device=x.device) == t, 0.0, h)
    loss = h.sum(1) / c
    if reduction != "none":
        return _reduce(loss, reduction)
    return loss if input.ndim == 2 else loss.reshape(tuple(target.shape))


@composite("multilabel_margin_loss", "cumsum, scatter, gather, sub, relu, mul, sum, div")
def multilabel_margin_loss(input: Tensor, target: Tensor, size_average=None, reduce=None,
                           reduction: str = "mean") -> Tensor:
    """Multi-label hinge loss: for every target class j and every non-target class k,
    max(0, 1 - (x[j] - x[k])), summed and divided by the number of classes C.

    Args:
        input: (N, C) or (C) scores.
        target: int64 of the input's shape: each row's target classes, padded with -1 after
            the last one (the first -1 ends the row).
        reduction: 'mean' (over samples, default), 'sum' or 'none'.
    """
    reduction = _get_reduction(reduction, size_average, reduce)
    _check_tensors("multilabel_margin_loss", input=input, target=target)
    _check_float("multilabel_margin_loss", input)
    x = _as_matrix("multilabel_margin_loss", input)
    n, c = x.shape
    _check_class_indices("multilabel_margin_loss", target)
    ok = target.shape == input.shape if input.ndim == 2 else \
        (target.ndim <= 1 and target.numel() == c)
    if not ok:
        raise RuntimeError(f"multilabel_margin_loss: inconsistent target size: "
                           f"{list(target.shape)} for input of size: {list(input.shape)} (the "
                           "target holds class indices padded with -1, in the input's shape)")
    t = target.reshape(n, c)
    if t.numel():
        ht = _host(t)
        if (ht < -1).any() or (ht >= c).any():
            bad = int(ht[(ht < -1) | (ht >= c)][0])
            raise RuntimeError(f"multilabel_margin_loss: argument #2 'target' is out of range: "
                               f"got {bad}, expected class indices in [0, {c}) or -1 (padding)")
    listed = cumsum(t == -1, 1) == 0                # before the row's first -1
    safe = where(listed, t, 0)
    # 1 at each listed class; the padding goes to an extra column c, dropped after
    marks = zeros(n, c + 1, dtype=x.dtype, device=x.device)
    is_target = scatter(marks, 1, where(listed, t, c), value=1.0)[:, :c]
    xj = gather(x, 1, safe)                                                     # (N, C)
    pair = (1 - xj.unsqueeze(2) + x.unsqueeze(1)).relu()                        # (N, j, k)
    keep = listed.to(x.dtype).unsqueeze(2) * (1 - is_target).unsqueeze(1)
    loss = (pair * keep).sum((1, 2)) / c
    if reduction == "none":
        return loss if target.ndim == 2 else loss.reshape(())
    if reduction == "mean":
        return loss.sum() / max(n, 1)
    return loss.sum()


# ----------------------------------------------------------------------------------------------
# Triplet losses
# ----------------------------------------------------------------------------------------------

def _pairwise_distance(x1: Tensor, x2: Tensor, p: float = 2.0, eps: float = 1e-6) -> Tensor:
    """||x1 - x2 + eps||_p over the last dimension (as torch.pairwise_distance)."""
    return norm(x1 - x2 + eps, p, dim=-1)


def _check_triplet_dims(anchor: Tensor, positive: Tensor, negative: Tensor) -> None:
    a, p, n = anchor.ndim, positive.ndim, negative.ndim
    if not (a == p == n):
        raise RuntimeError(
            f"The anchor, positive, and negative tensors are expected to have the same number of "
            f"dimensions, but got: anchor {a}D, positive {p}D, and negative {n}D inputs")


def _triplet(dist_pos: Tensor, dist_neg: Tensor, dist_swap, margin: float,
             reduction: str) -> Tensor:
    if dist_swap is not None:
        dist_neg = minimum(dist_neg, dist_swap)
    return _reduce((dist_pos - dist_neg + margin).clamp(min=0), reduction)


@composite("triplet_margin_loss", "sub, norm, minimum, clamp, mean/sum")
def triplet_margin_loss(anchor: Tensor, positive: Tensor, negative: Tensor, margin: float = 1.0,
                        p: float = 2, eps: float = 1e-6, swap: bool = False, size_average=None,
                        reduce=None, reduction: str = "mean") -> Tensor:
    """max(0, d(a, p) - d(a, n) + margin) with d the p-norm distance over the last dimension.

    Args:
        anchor, positive, negative: (N, D) or (D) embeddings (broadcastable, same ndim).
        margin: positive; the required gap between the two distances.
        p: the norm of the distance.
        eps: added to the differences, as torch.pairwise_distance does.
        swap: use min(d(a, n), d(p, n)) as the negative distance (Balntas et al., 2016).
        reduction: 'mean' (default), 'sum' or 'none'.
    """
    reduction = _get_reduction(reduction, size_average, reduce)
    if margin <= 0:
        raise ValueError(f"margin must be greater than 0, got {margin}")
    _check_tensors("triplet_margin_loss", anchor=anchor, positive=positive, negative=negative)
    _check_triplet_dims(anchor, positive, negative)
    dist_swap = _pairwise_distance(positive, negative, p, eps) if swap else None
    return _triplet(_pairwise_distance(anchor, positive, p, eps),
                    _pairwise_distance(anchor, negative, p, eps), dist_swap, margin, reduction)


@composite("triplet_margin_with_distance_loss", "distance_function, minimum, clamp, mean/sum")
def triplet_margin_with_distance_loss(anchor: Tensor, positive: Tensor, negative: Tensor, *,
                                      distance_function: Callable[[Tensor, Tensor], Tensor]
                                      | None = None, margin: float = 1.0, swap: bool = False,
                                      reduction: str = "mean") -> Tensor:
    """max(0, d(a, p) - d(a, n) + margin) for any distance function d.

    Args:
        anchor, positive, negative: embeddings of the same number of dimensions.
        distance_function: d(x1, x2) -> a tensor of distances; pairwise_distance (p=2) when
            None.
        margin: positive; the required gap between the two distances.
        swap: use min(d(a, n), d(p, n)) as the negative distance.
        reduction: 'mean' (default), 'sum' or 'none'.
    """
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"{reduction} is not a valid value for reduction; expected one of "
                         "'none', 'mean', 'sum'")
    if margin <= 0:
        raise ValueError(f"margin must be greater than 0, got {margin}")
    _check_triplet_dims(anchor, positive, negative)
    d = distance_function if distance_function is not None else _pairwise_distance
    dist_swap = d(positive, negative) if swap else None
    return _triplet(d(anchor, positive), d(anchor, negative), dist_swap, margin, reduction)

# ----------------------------------------------------------------------------------------------
# Connectionist temporal classification
# ----------------------------------------------------------------------------------------------

def _lengths(value, arg: str, like: Tensor) -> Tensor:
    """input_lengths / target_lengths as an int64 tensor on log_probs' device."""
    if isinstance(value, Tensor):
        if value.dtype.is_floating_point or value.dtype is D.bool_:
            raise RuntimeError(f"ctc_loss: {arg} must be integral, got a tensor of dtype "
                               f"{value.dtype.name}; convert it with .long()")
        t = value.reshape(-1)
        if t.device != like.device:
            t = t.to(like.device)
        return t.to(D.int64)
    if isinstance(value, int):
        value = [value]
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, int) for v in value):
        raise TypeError(f"ctc_loss(): argument '{arg}' must be a Tensor or a tuple of ints, not "
                        f"{type(value).__name__}")
    return as_tensor(list(value), dtype=D.int64, device=like.device).reshape(-1)


def _check_ctc(log_probs: Tensor, targets: Tensor, il: Tensor, tl: Tensor, blank: int) -> None:
    steps, n, classes = log_probs.shape
    if log_probs.numel() == 0:
        raise RuntimeError(f"ctc_loss: log_probs tensor must not be empty (got shape "
                           f"{list(log_probs.shape)})")
    if not 0 <= blank < classes:
        raise RuntimeError(f"ctc_loss: blank must be in label range [0, {classes}), got {blank}")
    for name, t in (("input_lengths", il), ("target_lengths", tl)):
        if t.numel() != n:
            raise RuntimeError(f"ctc_loss: {name} must be of size batch_size ({n}), got "
                               f"{t.numel()} values")
    il_h, tl_h = _host(il), _host(tl)
    for name, h in (("input_lengths", il_h), ("target_lengths", tl_h)):
        if (h < 0).any():
            raise RuntimeError(f"ctc_loss: Expected {name} to have value at least 0, but got "
                               f"value {int(h[h < 0][0])}")
    if (il_h > steps).any():
        raise RuntimeError(f"ctc_loss: Expected input_lengths to have value at most {steps} "
                           f"(log_probs' length), but got value {int(il_h[il_h > steps][0])}")
    if targets.ndim == 1:
        if targets.shape[0] != int(tl_h.sum()):
            raise RuntimeError(
                f"ctc_loss: 1-D targets are the batch's targets concatenated, so their size must "
                f"be target_lengths.sum() = {int(tl_h.sum())}, but got size {targets.shape[0]}")
        values = _host(targets)
    elif targets.ndim == 2:
        longest = int(tl_h.max())
        if targets.shape[0] != n or targets.shape[1] < longest:
            raise RuntimeError(
                f"ctc_loss: padded targets must have shape (N, S) with N = {n} and S >= "
                f"max(target_lengths) = {longest}, but got shape {list(targets.shape)}")
        values = _host(targets)[np.arange(targets.shape[1])[None, :] < tl_h[:, None]]
    else:
        raise RuntimeError(f"ctc_loss: targets must be 2-D (N, S), padded, or 1-D, "
                           f"concatenated, but got shape {list(targets.shape)}")
    bad = (values < 0) | (values >= classes)
    if bad.any():
        raise IndexError(f"ctc_loss: target {int(values[bad][0])} is out of bounds: labels must "
                         f"be in [0, {classes}) (log_probs has {classes} classes)")


@composite("ctc_loss", "ctc_loss (primitive: alpha recursion; alpha-beta gradient), where, div, "
           "mean/sum")
def ctc_loss(log_probs: Tensor, targets: Tensor, input_lengths, target_lengths, blank: int = 0,
             reduction: str = "mean", zero_infinity: bool = False) -> Tensor:
    """Connectionist temporal classification loss: -log of the total probability of the
    alignments of each target to its input (Graves et al., 2006).

    Args:
        log_probs: (T, N, C) log-probabilities (log_softmax over C), or (T, C) unbatched;
            float32 or float64.
        targets: (N, S) class indices padded to S >= max(target_lengths), or the N targets
            concatenated into one 1-D tensor of size sum(target_lengths); (S) unbatched. Labels
            are in [0, C) and are not `blank`.
        input_lengths: (N) lengths of the inputs (each <= T): a tensor or a tuple of ints.
        target_lengths: (N) lengths of the targets: a tensor or a tuple of ints.
        blank: the blank label.
        reduction: 'mean' (each loss divided by its target length, then averaged over the
            batch; the default), 'sum' or 'none'.
        zero_infinity: set infinite losses (inputs too short for their targets) and their
            gradients to zero.

    Returns:
        A scalar, or the loss of each sample (N) for reduction='none' (a scalar unbatched).

    The gradient with respect to log_probs is PyTorch's, exp(log_probs) - posterior: the
    gradient with respect to the logits when log_probs = log_softmax(logits).

    Example:
        >>> lp = dyngraph.randn(50, 4, 20).log_softmax(2).requires_grad_()
        >>> targets = dyngraph.randint(1, 20, (4, 10))
        >>> loss = F.ctc_loss(lp, targets, (50, 50, 45, 40), (10, 10, 8, 5))
        >>> loss.backward()
    """
    reduction = _get_reduction(reduction)
    _check_tensors("ctc_loss", log_probs=log_probs, targets=targets)
    if log_probs.ndim not in (2, 3):
        raise RuntimeError(f"ctc_loss: expected log_probs of shape (T, N, C), or (T, C) "
                           f"unbatched, but got shape {list(log_probs.shape)}")
    if log_probs.dtype not in (D.float32, D.float64):
        raise NotImplementedError(f"ctc_loss: not implemented for log_probs of dtype "
                                  f"{log_probs.dtype.name}; convert them with .float()")
    batched = log_probs.ndim == 3
    il = _lengths(input_lengths, "input_lengths", log_probs)
    tl = _lengths(target_lengths, "target_lengths", log_probs)
    if not batched:
        log_probs = log_probs.unsqueeze(1)
        targets = targets.unsqueeze(0)
    if targets.dtype is not D.int64:
        targets = targets.to(D.int64)
    _check_ctc(log_probs, targets, il, tl, blank)
    loss = apply(_ctc.ctc_loss_op, log_probs, targets, il, tl, blank=int(blank),
                 zero_infinity=bool(zero_infinity))
    if zero_infinity:
        loss = where(loss == math.inf, 0.0, loss)
    if reduction == "mean":
        return (loss / tl.clamp(min=1).to(loss.dtype)).mean()
    if reduction == "sum":
        return loss.sum()
    return loss if batched else loss.reshape(())
