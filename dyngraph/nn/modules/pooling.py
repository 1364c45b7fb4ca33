"""Pooling layers: max, average, adaptive, power-average (LP) and fractional max pooling, and
max unpooling, in 1-D, 2-D and 3-D (see nn.functional)."""

from __future__ import annotations

from ..._tensor import Tensor
from .. import functional as F
from .module import Module

__all__ = ["MaxPool1d", "MaxPool2d", "MaxPool3d", "AvgPool1d", "AvgPool2d", "AvgPool3d",
           "AdaptiveAvgPool1d", "AdaptiveAvgPool2d", "AdaptiveAvgPool3d", "AdaptiveMaxPool1d",
           "AdaptiveMaxPool2d", "AdaptiveMaxPool3d", "LPPool1d", "LPPool2d", "LPPool3d",
           "MaxUnpool1d", "MaxUnpool2d", "MaxUnpool3d", "FractionalMaxPool2d",
           "FractionalMaxPool3d"]


def _single(v) -> tuple:
    return tuple(v) if isinstance(v, (list, tuple)) else (v,)


def _ntuple(v, n: int) -> tuple:
    """PyTorch's _pair/_triple: a sequence as a tuple, anything else repeated n times."""
    return tuple(v) if isinstance(v, (list, tuple)) else (v,) * n


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


class MaxPool3d(_MaxPoolNd):
    """3-D max pooling over an (N, C, D, H, W) or (C, D, H, W) input.

    Args:
        kernel_size: window size (int or triple); stride: step (default kernel_size);
            padding: -inf padding (at most half the window); dilation: window element spacing.
        return_indices: also return the flat D*H*W index of each window's maximum.
        ceil_mode: round the output size up.

    Example:
        >>> MaxPool3d((3, 2, 2), stride=(2, 1, 2))(dyngraph.randn(20, 16, 50, 44, 31)).shape
        dyngraph.Size([20, 16, 24, 43, 15])
    """

    def forward(self, input: Tensor):
        """Max over each window (and the argmax when return_indices)."""
        return F.max_pool3d(input, self.kernel_size, self.stride, self.padding, self.dilation,
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


class _AvgPoolNd(Module):
    _functional = staticmethod(F.avg_pool2d)

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
        return self._functional(input, self.kernel_size, self.stride, self.padding,
                                self.ceil_mode, self.count_include_pad, self.divisor_override)

    def extra_repr(self) -> str:
        """Hyper-parameters, as PyTorch prints them."""
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class AvgPool2d(_AvgPoolNd):
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


class AvgPool3d(_AvgPoolNd):
    """3-D average pooling over an (N, C, D, H, W) or (C, D, H, W) input.

    Args:
        kernel_size: window size (int or triple); stride: step (default kernel_size);
            padding: zero padding (at most half the window).
        ceil_mode: round the output size up.
        count_include_pad: count the zero padding in each window's divisor.
        divisor_override: divide every window's sum by this instead.

    Example:
        >>> AvgPool3d((3, 2, 2), stride=(2, 1, 2))(dyngraph.randn(20, 16, 50, 44, 31)).shape
        dyngraph.Size([20, 16, 24, 43, 15])
    """

    _functional = staticmethod(F.avg_pool3d)


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


class AdaptiveAvgPool3d(_AdaptivePool):
    """3-D adaptive average pooling to `output_size` (int, triple, None entries keep the size).

    Example:
        >>> AdaptiveAvgPool3d((5, None, 7))(dyngraph.randn(1, 64, 8, 9, 10)).shape
        dyngraph.Size([1, 64, 5, 9, 7])
    """

    def __init__(self, output_size):
        super().__init__(output_size)

    def forward(self, input: Tensor) -> Tensor:
        """Average over PyTorch's adaptive windows."""
        return F.adaptive_avg_pool3d(input, self.output_size)


class AdaptiveMaxPool3d(_AdaptivePool):
    """3-D adaptive max pooling to `output_size` (optionally with indices).

    Example:
        >>> AdaptiveMaxPool3d((5, 7, 9))(dyngraph.randn(1, 64, 8, 9, 10)).shape
        dyngraph.Size([1, 64, 5, 7, 9])
    """

    def forward(self, input: Tensor):
        """Max over PyTorch's adaptive windows (and the argmax when return_indices)."""
        return F.adaptive_max_pool3d(input, self.output_size, self.return_indices)


class _LPPoolNd(Module):
    _functional = staticmethod(F.lp_pool2d)

    def __init__(self, norm_type: float, kernel_size, stride=None, ceil_mode: bool = False):
        super().__init__()
        self.norm_type = norm_type
        self.kernel_size = kernel_size
        self.stride = stride
        self.ceil_mode = ceil_mode

    def forward(self, input: Tensor) -> Tensor:
        """(sum over each window of x**p) ** (1/p)."""
        return self._functional(input, float(self.norm_type), self.kernel_size, self.stride,
                                self.ceil_mode)

    def extra_repr(self) -> str:
        """Hyper-parameters, as PyTorch prints them."""
        return (f"norm_type={self.norm_type}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}, ceil_mode={self.ceil_mode}")


class LPPool1d(_LPPoolNd):
    """1-D power-average pooling: (sum over each window of x**p) ** (1/p).

    Args:
        norm_type: p (inf gives max pooling of |x|).
        kernel_size: window length; stride: step (default kernel_size).
        ceil_mode: round the output length up.

    Example:
        >>> LPPool1d(2, 3, stride=2)(dyngraph.randn(20, 16, 50)).shape
        dyngraph.Size([20, 16, 24])
    """

    _functional = staticmethod(F.lp_pool1d)


class LPPool2d(_LPPoolNd):
    """2-D power-average pooling: (sum over each window of x**p) ** (1/p).

    Args:
        norm_type: p (inf gives max pooling of |x|).
        kernel_size: window size (int or pair); stride: step (default kernel_size).
        ceil_mode: round the output size up.

    Example:
        >>> LPPool2d(1.2, (3, 2), stride=(2, 1))(dyngraph.randn(20, 16, 50, 32)).shape
        dyngraph.Size([20, 16, 24, 31])
    """


class LPPool3d(_LPPoolNd):
    """3-D power-average pooling: (sum over each window of x**p) ** (1/p).

    Args:
        norm_type: p (inf gives max pooling of |x|).
        kernel_size: window size (int or triple); stride: step (default kernel_size).
        ceil_mode: round the output size up.

    Example:
        >>> LPPool3d(2, 3, stride=2)(dyngraph.randn(20, 16, 50, 44, 31)).shape
        dyngraph.Size([20, 16, 24, 21, 15])
    """

    _functional = staticmethod(F.lp_pool3d)


class _MaxUnpoolNd(Module):
    _n = 2
    _functional = staticmethod(F.max_unpool2d)

    def __init__(self, kernel_size, stride=None, padding=0):
        super().__init__()
        self.kernel_size = _ntuple(kernel_size, self._n)
        self.stride = _ntuple(stride if stride is not None else kernel_size, self._n)
        self.padding = _ntuple(padding, self._n)

    def forward(self, input: Tensor, indices: Tensor, output_size=None) -> Tensor:
        """Put each value of `input` at its index in a zero output."""
        return self._functional(input, indices, self.kernel_size, self.stride, self.padding,
                                output_size)

    def extra_repr(self) -> str:
        """Hyper-parameters, as PyTorch prints them."""
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class MaxUnpool1d(_MaxUnpoolNd):
    """Partial inverse of MaxPool1d: values go back to their argmax positions, the rest is 0.

    Args:
        kernel_size, stride, padding: as given to the MaxPool1d (stride defaults to kernel_size).

    Example:
        >>> pool, unpool = MaxPool1d(2, return_indices=True), MaxUnpool1d(2)
        >>> unpool(*pool(dyngraph.tensor([[[1., 2, 3, 4, 5, 6, 7, 8]]])))
        tensor([[[0., 2., 0., 4., 0., 6., 0., 8.]]])
    """

    _n = 1
    _functional = staticmethod(F.max_unpool1d)


class MaxUnpool2d(_MaxUnpoolNd):
    """Partial inverse of MaxPool2d: values go back to their argmax positions, the rest is 0.

    Args:
        kernel_size, stride, padding: as given to the MaxPool2d (stride defaults to kernel_size).

    forward(input, indices, output_size=None): output_size picks among the sizes a stride
    allows (as MaxPool2d may have dropped a last row or column).
    """


class MaxUnpool3d(_MaxUnpoolNd):
    """Partial inverse of MaxPool3d: values go back to their argmax positions, the rest is 0.

    Args:
        kernel_size, stride, padding: as given to the MaxPool3d (stride defaults to kernel_size).
    """

    _n = 3
    _functional = staticmethod(F.max_unpool3d)


class _FractionalMaxPoolNd(Module):
    _n = 2
    _functional = staticmethod(F.fractional_max_pool2d)

    def __init__(self, kernel_size, output_size=None, output_ratio=None,
                 return_indices: bool = False, _random_samples=None):
        super().__init__()
        n, cls = self._n, type(self).__name__
        if any(k <= 0 for k in _ntuple(kernel_size, n)):
            raise ValueError(f"{cls}: kernel_size must be greater than 0, but got {kernel_size}")
        self.kernel_size = _ntuple(kernel_size, n)
        self.return_indices = return_indices
        self.register_buffer("_random_samples", _random_samples)
        self.output_size = _ntuple(output_size, n) if output_size is not None else None
        self.output_ratio = _ntuple(output_ratio, n) if output_ratio is not None else None
        if output_size is None and output_ratio is None:
            raise ValueError(f"{cls} requires specifying either an output size, or a pooling "
                             "ratio")
        if output_size is not None and output_ratio is not None:
            raise ValueError(f"{cls}: only one of output_size and output_ratio may be specified")
        if self.output_ratio is not None and not all(0 < r < 1 for r in self.output_ratio):
            raise ValueError(f"{cls}: output_ratio must be between 0 and 1 (got {output_ratio})")

    def forward(self, input: Tensor):
        """Max over pseudo-random windows (and the argmax when return_indices)."""
        return self._functional(input, self.kernel_size, self.output_size, self.output_ratio,
                                self.return_indices, _random_samples=self._random_samples)


class FractionalMaxPool2d(_FractionalMaxPoolNd):
    """2-D fractional max pooling (Graham, 2014): windows at pseudo-random steps that shrink the
    input to `output_size` (or `output_ratio` of it); new windows are drawn on every call.

    Args:
        kernel_size: window size (int or pair).
        output_size: (oH, oW) or an int; or output_ratio: fractions of H and W in (0, 1).
        return_indices: also return the flat H*W index of each window's maximum.
        _random_samples: fixed (N, C, 2) samples in [0, 1) (a buffer; default: drawn per call).

    Example:
        >>> FractionalMaxPool2d(3, output_ratio=(0.5, 0.5))(dyngraph.randn(20, 16, 50, 32)).shape
        dyngraph.Size([20, 16, 25, 16])
    """


class FractionalMaxPool3d(_FractionalMaxPoolNd):
    """3-D fractional max pooling: windows at pseudo-random steps that shrink the input to
    `output_size` (or `output_ratio` of it); new windows are drawn on every call.

    Args:
        kernel_size: window size (int or triple).
        output_size: (oT, oH, oW) or an int; or output_ratio: fractions in (0, 1).
        return_indices: also return the flat T*H*W index of each window's maximum.
        _random_samples: fixed (N, C, 3) samples in [0, 1) (a buffer; default: drawn per call).

    Example:
        >>> FractionalMaxPool3d(3, output_size=(13, 12, 11))(dyngraph.randn(2, 4, 50, 32, 16)).shape
        dyngraph.Size([2, 4, 13, 12, 11])
    """

    _n = 3
    _functional = staticmethod(F.fractional_max_pool3d)
