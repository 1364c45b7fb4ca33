"""Adam, and the shared update that AdamW reuses with decoupled weight decay."""

from __future__ import annotations

import math
from typing import Any, Callable

from .._device import get_array_module
from .._tensor import _wrap
from .optimizer import Optimizer, _check_options, _float, _iter_grads, _no_extras, _step_counter

__all__ = ["Adam"]


class Adam(Optimizer):
    """Adam (Kingma & Ba), as `torch.optim.Adam`, with optional AMSGrad.

    `m = b1*m + (1-b1)*g`, `v = b2*v + (1-b2)*g*g`, and
    `p -= lr/(1-b1^t) * m / (sqrt(v)/sqrt(1-b2^t) + eps)` (with `v` replaced by its running
    maximum under `amsgrad`). `weight_decay` adds `weight_decay * p` to the gradient (L2); with
    `decoupled_weight_decay=True` it instead shrinks `p` by `lr * weight_decay`, as AdamW.

    Args:
        params: tensors or param-group dicts to optimize.
        lr: learning rate (default 1e-3).
        betas: decay rates of the first and second moment averages (default (0.9, 0.999)).
        eps: added to the denominator for stability (default 1e-8).
        weight_decay: weight decay factor (default 0).
        amsgrad: use the AMSGrad variant.
        maximize: maximize the objective instead of minimizing it.
        decoupled_weight_decay: apply weight decay to the weights directly (AdamW).

    Example:
        >>> opt = dyngraph.optim.Adam(model.parameters(), lr=1e-3)
    """

    def __init__(self, params, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0, amsgrad: bool = False, *,
                 foreach: bool | None = None, maximize: bool = False, capturable: bool = False,
                 differentiable: bool = False, fused: bool | None = None,
                 decoupled_weight_decay: bool = False) -> None:
        _no_extras(type(self).__name__, foreach, fused, differentiable, capturable)
        _check_adam_options(lr, betas, eps, weight_decay)
        defaults = dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay,
                        amsgrad=amsgrad, maximize=maximize,
                        decoupled_weight_decay=decoupled_weight_decay)
        super().__init__(params, defaults)

    def step(self, closure: Callable[[], Any] | None = None):
        """Perform one Adam step; returns the closure's loss when one is given."""
        loss = self._eval_closure(closure)
        for group in self.param_groups:
            _adam_group(self.state, group, group.get("decoupled_weight_decay", False))
        return loss


def _check_adam_options(lr, betas, eps, weight_decay) -> None:
    _check_options(
        lr=(_float(lr) >= 0, f"Invalid learning rate: {lr}"),
        eps=(eps >= 0, f"Invalid epsilon value: {eps}"),
        beta0=(0 <= _float(betas[0]) < 1, f"Invalid beta parameter at index 0: {betas[0]}"),
        beta1=(0 <= _float(betas[1]) < 1, f"Invalid beta parameter at index 1: {betas[1]}"),
        wd=(weight_decay >= 0, f"Invalid weight_decay value: {weight_decay}"))


def _adam_group(state: dict, group: dict, decoupled: bool) -> None:
    """One Adam/AdamW update of every parameter in `group` (PyTorch's single-tensor order)."""
    lr, wd, eps = _float(group["lr"]), _float(group["weight_decay"]), group["eps"]
    beta1, beta2 = (_float(b) for b in group["betas"])
    amsgrad, maximize = group["amsgrad"], group["maximize"]
    for p, g in _iter_grads(group):
        d = p._data
        xp = get_array_module(d)
        st = state[p]
        if not st:
            st["step"] = _step_counter()
            st["exp_avg"] = _wrap(xp.zeros_like(d))
            st["exp_avg_sq"] = _wrap(xp.zeros_like(d))
            if amsgrad:
                st["max_exp_avg_sq"] = _wrap(xp.zeros_like(d))
        if maximize:
            g = -g
        st["step"]._data += 1
        step = float(st["step"]._data)
        if wd != 0:
            if decoupled:
                d *= 1 - lr * wd
            else:
                g = g + wd * d
        m, v = st["exp_avg"]._data, st["exp_avg_sq"]._data
        m += (1 - beta1) * (g - m)       # lerp toward g, as torch's lerp_ for weights < 0.5
        v *= beta2
        v += (1 - beta2) * (g * g)
        step_size = lr / (1 - beta1 ** step)
        bias_correction2_sqrt = math.sqrt(1 - beta2 ** step)
        if amsgrad:
            vmax = st["max_exp_avg_sq"]._data
            xp.maximum(vmax, v, out=vmax)
            v = vmax
        denom = xp.sqrt(v)
        denom /= bias_correction2_sqrt
        denom += eps
        d -= step_size * m / denom
        p._vc[0] += 1
