"""More loss modules (probabilistic, margin, triplet and CTC losses): thin `Module` wrappers that
hold PyTorch's options and call `nn.functional`.

`weight` is a buffer (it follows `.to(device)` and is in the state dict under PyTorch's name).
"""

from __future__ import annotations

from typing import Callable

from .._functional_loss_extra import (_pairwise_distance, ctc_loss, gaussian_nll_loss,
                                      hinge_embedding_loss, multi_margin_loss,
                                      multilabel_margin_loss, multilabel_soft_margin_loss,
                                      poisson_nll_loss, soft_margin_loss, triplet_margin_loss,
                                      triplet_margin_with_distance_loss)
from .loss import _Loss, _WeightedLoss
from .module import Module

__all__ = ["GaussianNLLLoss", "PoissonNLLLoss", "HingeEmbeddingLoss", "MultiMarginLoss",
           "MultiLabelMarginLoss", "MultiLabelSoftMarginLoss", "SoftMarginLoss",
           "TripletMarginLoss", "TripletMarginWithDistanceLoss", "CTCLoss"]


class GaussianNLLLoss(_Loss):
    """Gaussian negative log-likelihood with predicted variances; see
    `nn.functional.gaussian_nll_loss`.

    Example:
        >>> crit = nn.GaussianNLLLoss()
        >>> loss = crit(dyngraph.randn(5, 2), dyngraph.randn(5, 2), dyngraph.ones(5, 1))
    """

    def __init__(self, *, full: bool = False, eps: float = 1e-6, reduction: str = "mean") -> None:
        super().__init__(None, None, reduction)
        self.full = full
        self.eps = eps

    def forward(self, input, target, var):
        return gaussian_nll_loss(input, target, var, full=self.full, eps=self.eps,
                                 reduction=self.reduction)


class PoissonNLLLoss(_Loss):
    """Poisson negative log-likelihood; see `nn.functional.poisson_nll_loss`."""

    def __init__(self, log_input: bool = True, full: bool = False, size_average=None,
                 eps: float = 1e-8, reduce=None, reduction: str = "mean") -> None:
        super().__init__(size_average, reduce, reduction)
        self.log_input = log_input
        self.full = full
        self.eps = eps

    def forward(self, log_input, target):
        return poisson_nll_loss(log_input, target, log_input=self.log_input, full=self.full,
                                eps=self.eps, reduction=self.reduction)


class HingeEmbeddingLoss(_Loss):
    """x where target is 1, max(0, margin - x) where it is -1; see
    `nn.functional.hinge_embedding_loss`."""

    def __init__(self, margin: float = 1.0, size_average=None, reduce=None,
                 reduction: str = "mean") -> None:
        super().__init__(size_average, reduce, reduction)
        self.margin = margin

    def forward(self, input, target):
        return hinge_embedding_loss(input, target, margin=self.margin, reduction=self.reduction)


class MultiMarginLoss(_WeightedLoss):
    """Multi-class hinge loss (p = 1 or 2) with optional per-class `weight`; see
    `nn.functional.multi_margin_loss`."""

    def __init__(self, p: int = 1, margin: float = 1.0, weight=None, size_average=None,
                 reduce=None, reduction: str = "mean") -> None:
        super().__init__(weight, size_average, reduce, reduction)
        if p != 1 and p != 2:
            raise ValueError("only p == 1 and p == 2 supported")
        if weight is not None and weight.dim() != 1:
            raise ValueError(f"MultiMarginLoss: expected weight to be None or 1D tensor, got "
                             f"{weight.dim()}D instead")
        self.p = p
        self.margin = margin

    def forward(self, input, target):
        return multi_margin_loss(input, target, p=self.p, margin=self.margin, weight=self.weight,
                                 reduction=self.reduction)


class MultiLabelMarginLoss(_Loss):
    """Multi-label hinge loss on -1-padded class-index targets; see
    `nn.functional.multilabel_margin_loss`."""

    def forward(self, input, target):
        return multilabel_margin_loss(input, target, reduction=self.reduction)


class MultiLabelSoftMarginLoss(_WeightedLoss):
    """One-versus-all logistic loss with optional per-class `weight`; see
    `nn.functional.multilabel_soft_margin_loss`."""

    def forward(self, input, target):
        return multilabel_soft_margin_loss(input, target, weight=self.weight,
                                           reduction=self.reduction)


class SoftMarginLoss(_Loss):
    """Two-class logistic loss log(1 + exp(-y x)); see `nn.functional.soft_margin_loss`."""

    def forward(self, input, target):
        return soft_margin_loss(input, target, reduction=self.reduction)


class TripletMarginLoss(_Loss):
    """Triplet loss with p-norm distances; see `nn.functional.triplet_margin_loss`.

    Example:
        >>> crit = nn.TripletMarginLoss(margin=1.0, p=2)
        >>> a, p, n = dyngraph.randn(8, 16), dyngraph.randn(8, 16), dyngraph.randn(8, 16)
        >>> loss = crit(a, p, n)
    """

    def __init__(self, margin: float = 1.0, p: float = 2.0, eps: float = 1e-6, swap: bool = False,
                 size_average=None, reduce=None, reduction: str = "mean") -> None:
        super().__init__(size_average, reduce, reduction)
        if margin <= 0:
            raise ValueError(f"TripletMarginLoss: expected margin to be greater than 0, got "
                             f"{margin} instead")
        self.margin = margin
        self.p = p
        self.eps = eps
        self.swap = swap

    def forward(self, anchor, positive, negative):
        return triplet_margin_loss(anchor, positive, negative, margin=self.margin, p=self.p,
                                   eps=self.eps, swap=self.swap, reduction=self.reduction)


class _PairwiseDistance(Module):
    """Stand-in for nn.PairwiseDistance (p=2, eps=1e-6) where that module is not available."""

    def forward(self, x1, x2):
        return _pairwise_distance(x1, x2)


def _default_distance() -> Module:
    """A PairwiseDistance module, as PyTorch's default distance_function (a child module)."""
    from . import extra_layers
    cls = getattr(extra_layers, "PairwiseDistance", None)
    return cls() if cls is not None else _PairwiseDistance()


class TripletMarginWithDistanceLoss(_Loss):
    """Triplet loss with any distance function (a PairwiseDistance module by default); see
    `nn.functional.triplet_margin_with_distance_loss`."""

    def __init__(self, *, distance_function: Callable | None = None, margin: float = 1.0,
                 swap: bool = False, reduction: str = "mean") -> None:
        super().__init__(None, None, reduction)
        if margin <= 0:
            raise ValueError(f"TripletMarginWithDistanceLoss: expected margin to be greater "
                             f"than 0, got {margin} instead")
        self.distance_function = (distance_function if distance_function is not None
                                  else _default_distance())
        self.margin = margin
        self.swap = swap

    def forward(self, anchor, positive, negative):
        return triplet_margin_with_distance_loss(
            anchor, positive, negative, distance_function=self.distance_function,
            margin=self.margin, swap=self.swap, reduction=self.reduction)


class CTCLoss(_Loss):
    """Connectionist temporal classification loss; see `nn.functional.ctc_loss`.

    Example:
        >>> crit = nn.CTCLoss(blank=0, zero_infinity=True)
        >>> lp = dyngraph.randn(30, 2, 6).log_softmax(2)
        >>> loss = crit(lp, dyngraph.tensor([[1, 2, 2], [3, 1, 0]]), (30, 25), (3, 2))
    """

    def __init__(self, blank: int = 0, reduction: str = "mean",
                 zero_infinity: bool = False) -> None:
        super().__init__(reduction=reduction)
        self.blank = blank
        self.zero_infinity = zero_infinity

    def forward(self, log_probs, targets, input_lengths, target_lengths):
        return ctc_loss(log_probs, targets, input_lengths, target_lengths, self.blank,
                        self.reduction, self.zero_infinity)
