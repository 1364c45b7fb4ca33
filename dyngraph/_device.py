"""Devices: `cpu` holds numpy arrays, `cuda[:i]` holds cupy arrays (imported only when used)."""

from __future__ import annotations

import contextlib

import numpy as np

__all__ = ["device", "get_array_module", "cuda_available"]


class device:
    """A device: `device("cpu")`, `device("cuda")`, `device("cuda:1")`, `device("cuda", 1)`."""

    __slots__ = ("type", "index")

    def __init__(self, type, index: int | None = None):  # noqa: A002 - PyTorch's name
        if isinstance(type, device):
            self.type, self.index = type.type, type.index
            return
        if isinstance(type, int):  # device(0) means cuda:0, as in PyTorch
            type, index = "cuda", type
        if not isinstance(type, str):
            raise TypeError(f"device(): expected a string or device, got {type!r}")
        if ":" in type:
            if index is not None:
                raise ValueError(f"device(): type {type!r} already has an index")
            type, _, idx = type.partition(":")
            try:
                index = int(idx)
            except ValueError:
                raise ValueError(f"device(): invalid device string {type}:{idx!r}") from None
        if type not in ("cpu", "cuda"):
            raise ValueError(
                f"device(): unknown device type {type!r}; expected 'cpu' or 'cuda' (e.g. 'cuda:0')")
        if index is not None and index < 0:
            raise ValueError(f"device(): index must be non-negative, got {index}")
        self.type = type
        self.index = index

    def __eq__(self, other) -> bool:
        if isinstance(other, str):
            other = device(other)
        if not isinstance(other, device):
            return NotImplemented
        return self.type == other.type and self.index == other.index

    def __hash__(self) -> int:
        return hash((self.type, self.index))

    def __repr__(self) -> str:
        if self.index is None:
            return f"device(type='{self.type}')"
        return f"device(type='{self.type}', index={self.index})"

    def __str__(self) -> str:
        return self.type if self.index is None else f"{self.type}:{self.index}"


CPU = device("cpu")
_cupy = None


def cupy_module():
    """Import cupy on first use; a clear error where it is missing."""
    global _cupy
    if _cupy is None:
        try:
            import cupy
        except ImportError:
            raise RuntimeError(
                "CUDA tensors need cupy: pip install 'dyngraph[cuda]' (cupy-cuda12x or 13x)"
            ) from None
        _cupy = cupy
    return _cupy


def cuda_available() -> bool:
    try:
        cp = cupy_module()
        return bool(cp.is_available())
    except Exception:
        return False


def cuda_device_count() -> int:
    if not cuda_available():
        return 0
    return int(cupy_module().cuda.runtime.getDeviceCount())


def get_array_module(arr):
    """numpy for numpy arrays, cupy for cupy arrays."""
    if type(arr) is np.ndarray:
        return np
    if _cupy is not None and isinstance(arr, _cupy.ndarray):
        return _cupy
    return np


# While a CUDA graph is captured (runtime/cuda_backend.py), eager rules cannot read device values
# on the host: an input check that would raise becomes a device-side flag collected here and read
# after the replay (`check_later`).
_deferred: list | None = None


def capturing(xp) -> bool:
    """Is a CUDA graph being captured (so `xp` arrays must not be read on the host)?"""
    return _deferred is not None and xp is not np


def check_later(flag, message: str) -> None:
    """Under a capture: `flag` (a 0-d device bool) is true when the input was invalid; the
    replay that computes it raises RuntimeError(message) (see `deferred_checks`)."""
    _deferred.append((flag, message))


@contextlib.contextmanager
def deferred_checks():
    """Collect the checks of a capture: yields the list of (flag, message)."""
    global _deferred
    saved, _deferred = _deferred, []
    try:
        yield _deferred
    finally:
        _deferred = saved


def writeable(arr) -> bool:
    """Whether an array's elements may be written in place: numpy's `flags.writeable`. A cupy
    array has no read-only flag, so there it is whether every element has memory of its own (a
    broadcast view repeats elements: a 0 stride over a dim longer than 1)."""
    try:
        return arr.flags.writeable
    except AttributeError:      # cupy
        return all(s or n <= 1 for s, n in zip(arr.strides, arr.shape))


def device_of(arr) -> device:
    if type(arr) is np.ndarray:
        return CPU
    if _cupy is not None and isinstance(arr, _cupy.ndarray):
        return device("cuda", arr.device.id)
    return CPU


def to_device_array(arr, dev: device):
    """Move an array to `dev` (a copy only when the device changes)."""
    src = device_of(arr)
    if dev.type == "cpu":
        if src.type == "cpu":
            return arr
        return arr.get()
    cp = cupy_module()
    if not cp.is_available():
        raise RuntimeError(
            "CUDA is not available: no GPU or driver was found (dyngraph.cuda.is_available() is "
            "False); keep the tensor on 'cpu'")
    idx = dev.index or 0
    with cp.cuda.Device(idx):
        if src.type == "cuda" and src.index == idx:
            return arr
        return cp.asarray(arr)
