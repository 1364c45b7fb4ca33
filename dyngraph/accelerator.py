"""`dyngraph.accelerator`: the device-agnostic view of the current accelerator (CUDA or none)."""

from __future__ import annotations

from ._device import device

__all__ = ["is_available", "current_accelerator", "device_count"]


def is_available() -> bool:
    from . import cuda
    return cuda.is_available()


def current_accelerator(check_available: bool = False):
    """`device('cuda')` when a GPU is usable, else None."""
    from . import cuda
    if cuda.is_available():
        return device("cuda")
    return None


def device_count() -> int:
    from . import cuda
    return cuda.device_count()
