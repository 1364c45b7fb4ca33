"""Adagrad (Duchi et al.): per-coordinate steps scaled by the accumulated squared gradients."""

from __future__ import annotations

from typing import Any, Callable

from .._device import get_array_module
from .._tensor import _wrap
from .optimizer import Optimizer, _check_options, _float, _iter_grads, _no_extras, _step_counter

__all__ = ["Adagrad"]


class Adagrad(Optimizer):
    """Adagrad, as `torch.optim.Adagrad`.

    `s += g*g`; `p -= lr / (1 + (t-1)*lr_decay) * g / (sqrt(s) + eps)`. The state (`step`,
    `sum`) is created for every parameter when the optimizer is built, as in PyTorch.

    Args:
        params: tensors or param-group dicts to optimize.
        lr: learning rate (default 1e-2).
        lr_decay: learning rate decay per step (default 0).
        weight_decay: L2 penalty (default 0).
        initial_accumulator_value: starting value of the sum of squares (default 0).
        eps: added to the denominator for stability (default 1e-10).
        maximize: maximize the objective instead of minimizing it.

    Example:
        >>> opt = dyngraph.optim.Adagrad(model.parameters(), lr=0.1)
    """

    def __init__(self, params, lr: float = 1e-2, lr_decay: float = 0, weight_decay: float = 0,
                 initial_accumulator_value: float = 0, eps: float = 1e-10,
                 foreach: bool | None = None, *, maximize: bool = False,
                 differentiable: bool = False, fused: bool | None = None) -> None:
        _no_extras("Adagrad", foreach, fused, differentiable)
        _check_options(
            lr=(_float(lr) >= 0, f"Invalid learning rate: {lr}"),
            lr_decay=(lr_decay >= 0, f"Invalid lr_decay value: {lr_decay}"),
            wd=(weight_decay >= 0, f"Invalid weight_decay value: {weight_decay}"),
            acc=(initial_accumulator_value >= 0,
                 f"Invalid initial_accumulator_value value: {initial_accumulator_value}"),
            eps=(eps >= 0, f"Invalid epsilon value: {eps}"))
        defaults = dict(lr=lr, lr_decay=lr_decay, eps=eps, weight_decay=weight_decay,
                        initial_accumulator_value=initial_accumulator_value, maximize=maximize)
        super().__init__(params, defaults)
        for group in self.param_groups:
            for p in group["params"]:
                xp = get_array_module(p._data)
                st = self.state[p]
                st["step"] = _step_counter()
                init = group["initial_accumulator_value"]
                st["sum"] = _wrap(xp.full_like(p._data, init))

    def step(self, closure: Callable[[], Any] | None = None):
        """Perform one Adagrad step; returns the closure's loss when one is given."""
        loss = self._eval_closure(closure)
        for group in self.param_groups:
            lr, wd, eps = _float(group["lr"]), _float(group["weight_decay"]), group["eps"]
            lr_decay, maximize = group["lr_decay"], group["maximize"]
            for p, g in _iter_grads(group):
                d = p._data
                xp = get_array_module(d)
                st = self.state[p]
                if not st:  # a group added after construction
                    st["step"] = _step_counter()
                    st["sum"] = _wrap(xp.full_like(d, group["initial_accumulator_value"]))
                st["step"]._data += 1
                step = float(st["step"]._data)
                if maximize:
                    g = -g
                if wd != 0:
                    g = g + wd * d
                clr = lr / (1 + (step - 1) * lr_decay)
                s = st["sum"]._data
                s += g * g
                std = xp.sqrt(s)
                std += eps
                d -= clr * (g / std)
                p._vc[0] += 1
        return loss
