"""Padding layers of `dyngraph.nn` (ConstantPad*, ZeroPad*, ReflectionPad*, ReplicationPad*,
CircularPad* for 1-3 spatial dims), thin modules over `F.pad` with PyTorch's arguments and reprs.

`extra_layers.py` re-exports them into `dyngraph.nn`.
"""

from __future__ import annotations

from ..._tensor import Tensor
from .. import functional as F
from .module import Module

__all__ = [
    "ConstantPad1d", "ConstantPad2d", "ConstantPad3d", "ZeroPad1d", "ZeroPad2d", "ZeroPad3d",
    "ReflectionPad1d", "ReflectionPad2d", "ReflectionPad3d",
    "ReplicationPad1d", "ReplicationPad2d", "ReplicationPad3d",
    "CircularPad1d", "CircularPad2d", "CircularPad3d",
]


# ----------------------------------------------------------------------------------------------

def _padding(padding, n: int) -> tuple:
    """An int repeated n times; a sequence kept as given (PyTorch's _ntuple)."""
    if isinstance(padding, (list, tuple)):
        return tuple(padding)
    return (padding,) * n


class _ConstantPadNd(Module):
    """Pad with a constant; subclasses set how many values `padding` expands to."""

    _n = 0

    def __init__(self, padding, value: float):
        super().__init__()
        self.padding = _padding(padding, self._n)
        self.value = value

    def forward(self, input: Tensor) -> Tensor:
        """Pad the input."""
        return F.pad(input, self.padding, "constant", self.value)

    def extra_repr(self) -> str:
        return f"padding={self.padding}, value={self.value}"


class ConstantPad1d(_ConstantPadNd):
    """Pad the last dim with `value`. Args: padding (int or (left, right)), value.

    Example:
        >>> ConstantPad1d(2, 3.5)(dyngraph.zeros(1, 2, 3)).shape
        dyngraph.Size([1, 2, 7])
    """

    _n = 2


class ConstantPad2d(_ConstantPadNd):
    """Pad the last 2 dims with `value`. Args: padding (int or (left, right, top, bottom)),
    value."""

    _n = 4


class ConstantPad3d(_ConstantPadNd):
    """Pad the last 3 dims with `value`. Args: padding (int or a 6-tuple, last dim first),
    value."""

    _n = 6


class ZeroPad1d(ConstantPad1d):
    """Pad the last dim with zeros. Args: padding (int or (left, right))."""

    def __init__(self, padding):
        super().__init__(padding, 0.0)

    def extra_repr(self) -> str:
        return f"{self.padding}"


class ZeroPad2d(ConstantPad2d):
    """Pad the last 2 dims with zeros. Args: padding (int or (left, right, top, bottom))."""

    def __init__(self, padding):
        super().__init__(padding, 0.0)

    def extra_repr(self) -> str:
        return f"{self.padding}"


class ZeroPad3d(ConstantPad3d):
    """Pad the last 3 dims with zeros. Args: padding (int or a 6-tuple, last dim first)."""

    def __init__(self, padding):
        super().__init__(padding, 0.0)

    def extra_repr(self) -> str:
        return f"{self.padding}"


class _PadNd(Module):
    """Non-constant padding of the last `_n // 2` dims of a batched or unbatched input."""

    _n = 0
    _mode = ""

    def __init__(self, padding):
        super().__init__()
        self.padding = _padding(padding, self._n)

    def forward(self, input: Tensor) -> Tensor:
        """Pad the input."""
        return F.pad(input, self.padding, self._mode)

    def extra_repr(self) -> str:
        return f"{self.padding}"


class ReflectionPad1d(_PadNd):
    """Pad the last dim of (N, C, W) or (C, W) with its reflection (edge not repeated).
    Args: padding (int or (left, right)), each smaller than the dim."""

    _n, _mode = 2, "reflect"


class ReflectionPad2d(_PadNd):
    """Pad the last 2 dims of (N, C, H, W) or (C, H, W) with their reflection.
    Args: padding (int or (left, right, top, bottom))."""

    _n, _mode = 4, "reflect"


class ReflectionPad3d(_PadNd):
    """Pad the last 3 dims of (N, C, D, H, W) or (C, D, H, W) with their reflection.
    Args: padding (int or a 6-tuple, last dim first)."""

    _n, _mode = 6, "reflect"


class ReplicationPad1d(_PadNd):
    """Pad the last dim of (N, C, W) or (C, W) by repeating its edge values.
    Args: padding (int or (left, right))."""

    _n, _mode = 2, "replicate"


class ReplicationPad2d(_PadNd):
    """Pad the last 2 dims of (N, C, H, W) or (C, H, W) by repeating their edge values.
    Args: padding (int or (left, right, top, bottom))."""

    _n, _mode = 4, "replicate"


class ReplicationPad3d(_PadNd):
    """Pad the last 3 dims of (N, C, D, H, W) or (C, D, H, W) by repeating their edge values.
    Args: padding (int or a 6-tuple, last dim first)."""

    _n, _mode = 6, "replicate"


class _CircularPadNd(_PadNd):
    """Circular padding; checks the input's rank first, as PyTorch's modules do."""

    _mode = "circular"

    def forward(self, input: Tensor) -> Tensor:
        """Pad the input."""
        spatial = self._n // 2
        if input.ndim not in (spatial + 1, spatial + 2):
            raise ValueError(f"expected {spatial + 1}D or {spatial + 2}D input (got {input.ndim}D "
                             f"input of shape {list(input.shape)}) in {self._get_name()}")
        return F.pad(input, self.padding, "circular")


class CircularPad1d(_CircularPadNd):
    """Pad the last dim of (N, C, W) or (C, W) by wrapping around.
    Args: padding (int or (left, right))."""

    _n = 2


class CircularPad2d(_CircularPadNd):
    """Pad the last 2 dims of (N, C, H, W) or (C, H, W) by wrapping around.
    Args: padding (int or (left, right, top, bottom))."""

    _n = 4


class CircularPad3d(_CircularPadNd):
    """Pad the last 3 dims of (N, C, D, H, W) or (C, D, H, W) by wrapping around.
    Args: padding (int or a 6-tuple, last dim first)."""

    _n = 6
