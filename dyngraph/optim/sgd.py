"""Stochastic gradient descent with momentum, dampening, Nesterov momentum and weight decay."""

from __future__ import annotations

from typing import Any, Callable

from .._tensor import _wrap
from .optimizer import Optimizer, _axpy, _check_options, _float, _iter_grads, _no_extras

__all__ = ["SGD"]


class SGD(Optimizer):
    """Stochastic gradient descent, optionally with (Nesterov) momentum, as `torch.optim.SGD`.

    With `g = grad + weight_decay * p` (negated first when `maximize`), the momentum buffer is
    `b = momentum * b + (1 - dampening) * g` (`b = g` on the first step) and the update is
    `p -= lr * (g + momentum * b if nesterov else b)`.

    Args:
        params: tensors or param-group dicts to optimize.
        lr: learning rate (default 1e-3).
        momentum: momentum factor (default 0).
        dampening: dampening for momentum (default 0).
        weight_decay: L2 penalty (default 0).
        nesterov: use Nesterov momentum (needs momentum > 0 and dampening 0).
        maximize: maximize the objective instead of minimizing it.

    Example:
        >>> opt = dyngraph.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
        >>> loss.backward(); opt.step(); opt.zero_grad()
    """

    def __init__(self, params, lr: float = 1e-3, momentum: float = 0, dampening: float = 0,
                 weight_decay: float = 0, nesterov: bool = False, *, maximize: bool = False,
                 foreach: bool | None = None, differentiable: bool = False,
                 fused: bool | None = None) -> None:
        _no_extras("SGD", foreach, fused, differentiable)
        _check_options(lr=(_float(lr) >= 0, f"Invalid learning rate: {lr}"),
                       momentum=(momentum >= 0, f"Invalid momentum value: {momentum}"),
                       weight_decay=(_float(weight_decay) >= 0,
                                     f"Invalid weight_decay value: {weight_decay}"))
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")
        defaults = dict(lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay,
                        nesterov=nesterov, maximize=maximize)
        super().__init__(params, defaults)

    def step(self, closure: Callable[[], Any] | None = None):
        """Perform one SGD step; returns the closure's loss when one is given."""
        loss = self._eval_closure(closure)
        for group in self.param_groups:
            lr, wd = _float(group["lr"]), _float(group["weight_decay"])
            momentum, dampening = group["momentum"], group["dampening"]
            nesterov, maximize = group["nesterov"], group["maximize"]
            for p, g in _iter_grads(group):
                d = p._data
                # The same sequence of fused updates as torch.optim.SGD (add_ with alpha), so
                # the values match PyTorch's (to the ulp) on the CPU; no temporaries.
                if maximize:
                    g = -g
                if wd != 0:
                    g = g.copy() if not maximize else g
                    _axpy(wd, d, g)
                if momentum != 0:
                    state = self.state[p]
                    buf = state.get("momentum_buffer")
                    if buf is None:
                        buf = state["momentum_buffer"] = _wrap(g.copy())
                    else:
                        b = buf._data
                        b *= momentum
                        _axpy(1 - dampening, g, b)
                    if nesterov:
                        g = g.copy() if g is p._grad._data else g
                        _axpy(momentum, buf._data, g)
                    else:
                        g = buf._data
                _axpy(-lr, g, d)
                p._vc[0] += 1
        return loss
