"""Argument parsing and checks shared by the convolution, pooling and resampling functions, and
the per-channel pieces the normalisations share.

PyTorch's `_pair`/`_single`, its input-rank messages, and the (N, C, *spatial) <-> (N, C, H, W)
lift that lets the 1-D functions run the 2-D code on an (N, C, 1, L) view; the per-channel affine
and the running-statistics update of batch_norm, instance_norm and group_norm.
"""

from __future__ import annotations

from ..autograd import no_grad
from ..ops._api import Tensor


def _tuple(v, n: int, name: str, op: str) -> tuple[int, ...]:
    """An int or a length-n sequence as an n-tuple of ints (PyTorch's _pair/_single)."""
    if isinstance(v, Tensor):
        v = v.tolist()
    if isinstance(v, (list, tuple)):
        if len(v) == 1:
            v = tuple(v) * n
        if len(v) != n:
            raise RuntimeError(f"{op}: expected {name} to be a single integer or a tuple of {n} "
                               f"integers, got {tuple(v)}")
        return tuple(int(a) for a in v)
    return (int(v),) * n


def _shape_str(t: Tensor) -> str:
    return str(list(t.shape))


def _check_dims(op: str, x: Tensor, spatial: int) -> bool:
    """Validate an (N, C, *spatial) or unbatched (C, *spatial) input; True when batched."""
    if x.ndim not in (spatial + 1, spatial + 2):
        raise RuntimeError(f"Expected {spatial + 1}D (unbatched) or {spatial + 2}D (batched) input "
                           f"to {op}, but got input of size: {_shape_str(x)}")
    return x.ndim == spatial + 2


def _check_positive(op: str, name: str, vals) -> None:
    if any(v <= 0 for v in vals):
        raise RuntimeError(f"{op}: non-positive {name} is not supported (got {tuple(vals)})")


def _same_dtype(op: str, x: Tensor, *others) -> None:
    for o in others:
        if o is not None and o.dtype is not x.dtype:
            raise RuntimeError(f"{op}: input dtype {x.dtype.name} and parameter dtype "
                               f"{o.dtype.name} should be the same; cast one with .to(dtype)")


def _to_4d(x: Tensor, spatial: int, batched: bool) -> Tensor:
    if not batched:
        x = x.unsqueeze(0)
    return x.unsqueeze(2) if spatial == 1 else x


def _from_4d(y: Tensor, spatial: int, batched: bool) -> Tensor:
    if spatial == 1:
        y = y.squeeze(2)
    return y if batched else y.squeeze(0)


def _channel_affine(y: Tensor, weight: Tensor | None, bias: Tensor | None, cs: tuple) -> Tensor:
    """y * weight + bias with per-channel (C,) parameters shaped `cs` (either may be None)."""
    if weight is not None:
        y = y * weight.reshape(*cs)
    if bias is not None:
        y = y + bias.reshape(*cs)
    return y


def _update_running(running_mean, running_var, mean: Tensor, var: Tensor, count: int,
                    momentum: float) -> None:
    """running = (1 - momentum) * running + momentum * batch statistic, in place, for (C,)
    batch `mean` and biased `var` over `count` values; the variance is unbiased by
    `* count / (count - 1)`: two size scalars, not their float ratio, so a graph compiled with
    dynamic shapes stays symbolic in the batch."""
    with no_grad():
        if running_mean is not None:
            running_mean.copy_(running_mean * (1.0 - momentum) + mean * momentum)
        if running_var is not None:
            running_var.copy_(running_var * (1.0 - momentum)
                              + var * count / (count - 1) * momentum)
