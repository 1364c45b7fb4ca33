"""AdamW: Adam with decoupled weight decay (Loshchilov & Hutter)."""

from __future__ import annotations

from typing import Any, Callable

from .adam import _adam_group, _check_adam_options
from .optimizer import Optimizer, _no_extras

__all__ = ["AdamW"]


class AdamW(Optimizer):
    """Adam with decoupled weight decay, as `torch.optim.AdamW`.

    Each step first shrinks the weights, `p *= 1 - lr * weight_decay`, then applies the Adam
    update to the plain gradient (see `Adam`).

    Args:
        params: tensors or param-group dicts to optimize.
        lr: learning rate (default 1e-3).
        betas: decay rates of the moment averages (default (0.9, 0.999)).
        eps: added to the denominator for stability (default 1e-8).
        weight_decay: decoupled weight decay factor (default 1e-2).
        amsgrad: use the AMSGrad variant.
        maximize: maximize the objective instead of minimizing it.

    Example:
        >>> opt = dyngraph.optim.AdamW(model.parameters(), lr=3e-4, weight_decay=0.1)
    """

    def __init__(self, params, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 1e-2, amsgrad: bool = False, *,
                 maximize: bool = False, foreach: bool | None = None, capturable: bool = False,
                 differentiable: bool = False, fused: bool | None = None) -> None:
        _no_extras("AdamW", foreach, fused, differentiable, capturable)
        _check_adam_options(lr, betas, eps, weight_decay)
        defaults = dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay,
                        amsgrad=amsgrad, maximize=maximize)
        super().__init__(params, defaults)

    def step(self, closure: Callable[[], Any] | None = None):
        """Perform one AdamW step; returns the closure's loss when one is given."""
        loss = self._eval_closure(closure)
        for group in self.param_groups:
            _adam_group(self.state, group, decoupled=True)
        return loss
