"""Pooling layers: max, average and adaptive pooling in 1-D and 2-D (see nn.functional)."""

from __future__ import annotations

from ..._tensor import Tensor
from .. import functional as F
from .module import Module

__all__ = ["MaxPool1d", "MaxPool2d", "AvgPool1d", "AvgPool2d", "AdaptiveAvgPool1d",
           "AdaptiveAvgPool2d", "AdaptiveMaxPool1d", "AdaptiveMaxPool2d"]


def _single(v) -> tuple:
    return tuple(v) if isinstance(v, (list, tuple)) else (v,)


class _MaxPoolNd(Module):
    def __init__(self, kernel_size, stride=None, padding=0, dilation=1,
                 return_indices: bool = False, ceil_mode: bool = False):
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = stride if stride is not None else kernel_size
        self.padding = padding
        self.dilation = dilation
        self.return_indices = return_indices
        self.ceil_mode = ceil_mode

    def extra_repr(self) -> str:
        """Hyper-parameters, as PyTorch prints them."""
        return (f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
                f"dilation={self.dilation}, ceil_mode={self.ceil_mode}")


class MaxPool1d(_MaxPoolNd):
    """1-D max pooling over an (N, C, L) or (C, L) input.

    Args:
        kernel_size: window length; stride: step (default kernel_size); padding: -inf padding
            on both sides (at most half the window); dilation: spacing of window elements.
        return_indices: also return each window's argmax (for MaxUnpool).
        ceil_mode: round the output length up.

    Example:
        >>> MaxPool1d(3, stride=2)(dyngraph.randn(20, 16, 50)).shape
        dyngraph.Size([20, 16, 24])
    """

    def forward(self, input: Tensor):
        """Max over each window (and the argmax when return_indices)."""
        return F.max_pool1d(input, self.kernel_size, self.stride, self.padding, self.dilation,
                            ceil_mode=self.ceil_mode, return_indices=self.return_indices)


class MaxPool2d(_MaxPoolNd):
    """2-D max pooling over an (N, C, H, W) or (C, H, W) input.

    The gradient flows to the first maximum of each window, as in PyTorch.

    Args:
        kernel_size: window size (int or pair); stride: step (default kernel_size);
            padding: -inf padding (at most half the window); dilation: window element spacing.
        return_indices: also return the flat H*W index of each window's maximum.
        ceil_mode: round the output size up.

    Example:
        >>> MaxPool2d(3, stride=2)(dyngraph.randn(20, 16, 50, 32)).shape
        dyngraph.Size([20, 16, 24, 15])
    """

    def forward(self, input: Tensor):
        """Max over each window (and the argmax when return_indices)."""
        return F.max_pool2d(input, self.kernel_size, self.stride, self.padding, self.dilation,
                            ceil_mode=self.ceil_mode, return_indices=self.return_indices)


class AvgPool1d(Module):
    """1-D average pooling over an (N, C, L) or (C, L) input.

    Args:
        kernel_size: window length; stride: step (default kernel_size); padding: zero padding
            (at most half the window).
        ceil_mode: round the output length up.
        count_include_pad: count the zero padding in each window's divisor.

    Example:
        >>> AvgPool1d(3, stride=2)(dyngraph.randn(1, 1, 7)).shape
        dyngraph.Size([1, 1, 3])
    """

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode: bool = False,
                 count_include_pad: bool = True):
        super().__init__()
        # PyTorch stores AvgPool1d's sizes as 1-tuples (and prints them so).
        self.kernel_size = _single(kernel_size)
        self.stride = _single(stride if stride is not None else kernel_size)
        self.padding = _single(padding)
        self.ceil_mode = ceil_mode
        self.count_include_pad = count_include_pad

    def forward(self, input: Tensor) -> Tensor:
        """Mean over each window."""
        return F.avg_pool1d(input, self.kernel_size, self.stride, self.padding, self.ceil_mode,
                            self.count_include_pad)

    def extra_repr(self) -> str:
        """Hyper-parameters, as PyTorch prints them."""
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class AvgPool2d(Module):
    """2-D average pooling over an (N, C, H, W) or (C, H, W) input.

    Args:
        kernel_size: window size; stride: step (default kernel_size); padding: zero padding
            (at most half the window).
        ceil_mode: round the output size up.
        count_include_pad: count the zero padding in each window's divisor.
        divisor_override: divide every window's sum by this instead.

    Example:
        >>> AvgPool2d((3, 2), stride=(2, 1))(dyngraph.randn(20, 16, 50, 32)).shape
        dyngraph.Size([20, 16, 24, 31])
    """

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode: bool = False,
                 count_include_pad: bool = True, divisor_override: int | None = None):
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = stride if stride is not None else kernel_size
        self.padding = padding
        self.ceil_mode = ceil_mode
        self.count_include_pad = count_include_pad
        self.divisor_override = divisor_override

    def forward(self, input: Tensor) -> Tensor:
        """Mean over each window."""
        return F.avg_pool2d(input, self.kernel_size, self.stride, self.padding, self.ceil_mode,
                            self.count_include_pad, self.divisor_override)

    def extra_repr(self) -> str:
        """Hyper-parameters, as PyTorch prints them."""
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class _AdaptivePool(Module):
    def __init__(self, output_size, return_indices: bool = False):
        super().__init__()
        self.output_size = output_size
        self.return_indices = return_indices

    def extra_repr(self) -> str:
        """Hyper-parameters, as PyTorch prints them."""
        return f"output_size={self.output_size}"


class AdaptiveAvgPool1d(_AdaptivePool):
    """1-D adaptive average pooling to a fixed output length.

    Example:
        >>> AdaptiveAvgPool1d(5)(dyngraph.randn(1, 64, 8)).shape
        dyngraph.Size([1, 64, 5])
    """

    def __init__(self, output_size):
        super().__init__(output_size)

    def forward(self, input: Tensor) -> Tensor:
        """Average over PyTorch's adaptive windows."""
        return F.adaptive_avg_pool1d(input, self.output_size)


class AdaptiveAvgPool2d(_AdaptivePool):
    """2-D adaptive average pooling to `output_size` (int, pair, None entries keep the size).

    Example:
        >>> AdaptiveAvgPool2d((5, None))(dyngraph.randn(1, 64, 8, 9)).shape
        dyngraph.Size([1, 64, 5, 9])
    """

    def __init__(self, output_size):
        super().__init__(output_size)

    def forward(self, input: Tensor) -> Tensor:
        """Average over PyTorch's adaptive windows."""
        return F.adaptive_avg_pool2d(input, self.output_size)


class AdaptiveMaxPool1d(_AdaptivePool):
    """1-D adaptive max pooling to a fixed output length (optionally with indices).

    Example:
        >>> AdaptiveMaxPool1d(5)(dyngraph.randn(1, 64, 8)).shape
        dyngraph.Size([1, 64, 5])
    """

    def forward(self, input: Tensor):
        """Max over PyTorch's adaptive windows (and the argmax when return_indices)."""
        return F.adaptive_max_pool1d(input, self.output_size, self.return_indices)


class AdaptiveMaxPool2d(_AdaptivePool):
    """2-D adaptive max pooling to `output_size` (optionally with indices).

    Example:
        >>> AdaptiveMaxPool2d((5, 7))(dyngraph.randn(1, 64, 8, 9)).shape
        dyngraph.Size([1, 64, 5, 7])
    """

    def forward(self, input: Tensor):
        """Max over PyTorch's adaptive windows (and the argmax when return_indices)."""
        return F.adaptive_max_pool2d(input, self.output_size, self.return_indices)
