"""`parameters_to_vector` and `vector_to_parameters`."""

from __future__ import annotations

from typing import Iterable

from ... import ops as _ops
from ..._tensor import Tensor
from ...autograd import no_grad

__all__ = ["parameters_to_vector", "vector_to_parameters"]


def _check_same_device(param: Tensor, device):
    if device is None:
        return param.device
    if param.device != device:
        raise TypeError(f"Found two parameters on different devices, this is currently not "
                        f"supported (found {device} and {param.device})")
    return device


def parameters_to_vector(parameters: Iterable[Tensor]) -> Tensor:
    """Flatten and concatenate the parameters into one 1-D tensor (differentiable).

    Example:
        >>> vec = parameters_to_vector(model.parameters())
    """
    device = None
    vec = []
    for p in parameters:
        device = _check_same_device(p, device)
        vec.append(p.reshape(-1))
    if not vec:
        return _ops.zeros(0)
    return _ops.cat(vec)


def vector_to_parameters(vec: Tensor, parameters: Iterable[Tensor]) -> None:
    """Copy consecutive slices of the 1-D `vec` into the parameters (in place, under no_grad)."""
    if not isinstance(vec, Tensor):
        raise TypeError(f"expected torch.Tensor, but got: {type(vec).__name__}")
    params = list(parameters)
    total = sum(p.numel() for p in params)
    if vec.ndim != 1 or vec.numel() != total:
        raise RuntimeError(f"vector_to_parameters: vec has shape {tuple(vec.shape)} but the "
                           f"parameters hold {total} elements in all")
    device = None
    pointer = 0
    with no_grad():
        for p in params:
            device = _check_same_device(p, device)
            n = p.numel()
            p.copy_(vec[pointer:pointer + n].reshape(*p.shape))
            pointer += n
