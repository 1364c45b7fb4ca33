"""Gradient clipping: `clip_grad_norm_` and `clip_grad_value_` (in place, under no_grad)."""

from __future__ import annotations

import math
import warnings
from typing import Iterable

from ... import ops as _ops
from ..._tensor import Tensor
from ...autograd import no_grad

__all__ = ["clip_grad_norm_", "clip_grad_norm", "clip_grad_value_"]


def _grads(parameters) -> list[Tensor]:
    if isinstance(parameters, Tensor):
        parameters = [parameters]
    return [p.grad for p in parameters if p.grad is not None]


def _scale_(g: Tensor, factor: Tensor) -> None:
    g.copy_(g * factor.to(g.dtype).to(g.device))


@no_grad()
def clip_grad_norm_(parameters: Iterable[Tensor] | Tensor, max_norm: float,
                    norm_type: float = 2.0, error_if_nonfinite: bool = False,
                    foreach: bool | None = None) -> Tensor:
    """Scale all gradients together so that their joint norm is at most `max_norm`.

    Args:
        parameters: tensors (or one tensor) whose `.grad` is clipped in place.
        max_norm: the largest allowed norm.
        norm_type: p of the p-norm; `inf` uses the largest absolute value.
        error_if_nonfinite: raise when the total norm is nan or inf.
        foreach: accepted for PyTorch compatibility (ignored).

    Returns:
        The total norm of the gradients before clipping (a 0-d tensor).

    Example:
        >>> loss.backward()
        >>> clip_grad_norm_(model.parameters(), max_norm=1.0)
    """
    grads = _grads(parameters)
    max_norm = float(max_norm)
    norm_type = float(norm_type)
    if not grads:
        return _ops.tensor(0.0)
    if norm_type == math.inf:
        norms = [g.detach().abs().amax() for g in grads]
        total = norms[0] if len(norms) == 1 else _ops.stack(
            [n.to(grads[0].device) for n in norms]).amax()
    else:
        norms = [_ops.norm(g.detach(), norm_type) for g in grads]
        total = _ops.norm(_ops.stack([n.to(grads[0].device) for n in norms]), norm_type)
    if error_if_nonfinite and not bool(_ops.isfinite(total).item()):
        raise RuntimeError(
            f"The total norm of order {norm_type} for gradients from `parameters` is "
            "non-finite, so it cannot be clipped. To disable this error and scale the gradients "
            "by the non-finite norm anyway, set `error_if_nonfinite=False`")
    coef = _ops.clamp(max_norm / (total + 1e-6), max=1.0)
    for g in grads:
        _scale_(g, coef)
    return total


def clip_grad_norm(parameters, max_norm: float, norm_type: float = 2.0,
                   error_if_nonfinite: bool = False, foreach: bool | None = None) -> Tensor:
    """Deprecated alias of `clip_grad_norm_`."""
    warnings.warn("`nn.utils.clip_grad_norm` is now deprecated in favor of "
                  "`nn.utils.clip_grad_norm_`.", FutureWarning, stacklevel=2)
    return clip_grad_norm_(parameters, max_norm, norm_type, error_if_nonfinite, foreach)


@no_grad()
def clip_grad_value_(parameters: Iterable[Tensor] | Tensor, clip_value: float,
                     foreach: bool | None = None) -> None:
    """Clamp every gradient elementwise to [-clip_value, clip_value], in place.

    Args:
        parameters: tensors (or one tensor) whose `.grad` is clipped.
        clip_value: the bound.
        foreach: accepted for PyTorch compatibility (ignored).
    """
    clip_value = float(clip_value)
    for g in _grads(parameters):
        g.copy_(_ops.clamp(g, min=-clip_value, max=clip_value))
