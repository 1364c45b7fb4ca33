"""RMSprop (Hinton), optionally centered and with momentum."""

from __future__ import annotations

from typing import Any, Callable

from .._device import get_array_module
from .._tensor import _wrap
from .optimizer import Optimizer, _check_options, _float, _iter_grads, _no_extras, _step_counter

__all__ = ["RMSprop"]


class RMSprop(Optimizer):
    """RMSprop, as `torch.optim.RMSprop`.

    `v = alpha*v + (1-alpha)*g*g`; the step divides `g` by `sqrt(v) + eps` (with `centered`,
    by `sqrt(v - mean_g^2) + eps`, `mean_g` a running average of `g`), through a momentum buffer
    when `momentum > 0`.

    Args:
        params: tensors or param-group dicts to optimize.
        lr: learning rate (default 1e-2).
        alpha: smoothing constant (default 0.99).
        eps: added to the denominator for stability (default 1e-8).
        weight_decay: L2 penalty (default 0).
        momentum: momentum factor (default 0).
        centered: normalize by an estimate of the gradient's variance.
        maximize: maximize the objective instead of minimizing it.

    Example:
        >>> opt = dyngraph.optim.RMSprop(model.parameters(), lr=1e-3, momentum=0.9)
    """

    def __init__(self, params, lr: float = 1e-2, alpha: float = 0.99, eps: float = 1e-8,
                 weight_decay: float = 0, momentum: float = 0, centered: bool = False,
                 capturable: bool = False, foreach: bool | None = None, maximize: bool = False,
                 differentiable: bool = False) -> None:
        _no_extras("RMSprop", foreach, None, differentiable, capturable)
        _check_options(lr=(_float(lr) >= 0, f"Invalid learning rate: {lr}"),
                       eps=(eps >= 0, f"Invalid epsilon value: {eps}"),
                       momentum=(momentum >= 0, f"Invalid momentum value: {momentum}"),
                       wd=(weight_decay >= 0, f"Invalid weight_decay value: {weight_decay}"),
                       alpha=(alpha >= 0, f"Invalid alpha value: {alpha}"))
        defaults = dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay,
                        momentum=momentum, centered=centered, maximize=maximize)
        super().__init__(params, defaults)

    def step(self, closure: Callable[[], Any] | None = None):
        """Perform one RMSprop step; returns the closure's loss when one is given."""
        loss = self._eval_closure(closure)
        for group in self.param_groups:
            lr, wd, eps = _float(group["lr"]), _float(group["weight_decay"]), group["eps"]
            alpha, momentum = group["alpha"], group["momentum"]
            centered, maximize = group["centered"], group["maximize"]
            for p, g in _iter_grads(group):
                d = p._data
                xp = get_array_module(d)
                st = self.state[p]
                if not st:
                    st["step"] = _step_counter()
                    st["square_avg"] = _wrap(xp.zeros_like(d))
                    if momentum > 0:
                        st["momentum_buffer"] = _wrap(xp.zeros_like(d))
                    if centered:
                        st["grad_avg"] = _wrap(xp.zeros_like(d))
                if maximize:
                    g = -g
                st["step"]._data += 1
                if wd != 0:
                    g = g + wd * d
                v = st["square_avg"]._data
                v *= alpha
                v += (1 - alpha) * (g * g)
                if centered:
                    ga = st["grad_avg"]._data
                    ga += (1 - alpha) * (g - ga)
                    avg = xp.sqrt(v - ga * ga)
                else:
                    avg = xp.sqrt(v)
                avg += eps
                if momentum > 0:
                    buf = st["momentum_buffer"]._data
                    buf *= momentum
                    buf += g / avg
                    d -= lr * buf
                else:
                    d -= lr * (g / avg)
                p._vc[0] += 1
        return loss
