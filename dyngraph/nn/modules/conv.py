"""Convolution layers (Conv1d/2d/3d, ConvTranspose1d/2d/3d) and Unfold/Fold.

Parameters, their shapes and their default initialisation follow PyTorch exactly, so a PyTorch
state_dict loads into these layers and gives the same outputs.
"""

from __future__ import annotations

import math

from ... import ops as _ops
from ..._tensor import Tensor
from .. import functional as F
from .. import init
from ..parameter import Parameter
from .module import Module

__all__ = ["Conv1d", "Conv2d", "Conv3d", "ConvTranspose1d", "ConvTranspose2d", "ConvTranspose3d",
           "Unfold", "Fold"]

_PADDING_MODES = ("zeros", "reflect", "replicate", "circular")


def _ntuple(v, n: int, name: str, cls: str) -> tuple[int, ...]:
    if isinstance(v, (list, tuple)):
        if len(v) != n:
            raise ValueError(f"{cls}: {name} must be an int or a tuple of {n} ints, got {v!r}")
        return tuple(int(a) for a in v)
    return (int(v),) * n


class _ConvNd(Module):
    """Shared state of the convolution layers: hyper-parameters, weight, bias and init."""

    _n: int = 2
    _transposed: bool = False

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0,
                 dilation=1, groups: int = 1, bias: bool = True, padding_mode: str = "zeros",
                 output_padding=0, device=None, dtype=None):
        super().__init__()
        cls, n = type(self).__name__, self._n
        if groups <= 0:
            raise ValueError(f"{cls}: groups must be a positive integer (got {groups})")
        if in_channels % groups:
            raise ValueError(f"{cls}: in_channels ({in_channels}) must be divisible by groups "
                             f"({groups})")
        if out_channels % groups:
            raise ValueError(f"{cls}: out_channels ({out_channels}) must be divisible by groups "
                             f"({groups})")
        if padding_mode not in _PADDING_MODES:
            raise ValueError(f"{cls}: padding_mode must be one of {list(_PADDING_MODES)}, but "
                             f"got padding_mode={padding_mode!r}")
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.kernel_size = _ntuple(kernel_size, n, "kernel_size", cls)
        self.stride = _ntuple(stride, n, "stride", cls)
        self.dilation = _ntuple(dilation, n, "dilation", cls)
        if isinstance(padding, str):
            if padding not in ("same", "valid"):
                raise ValueError(f"{cls}: invalid padding string {padding!r}, should be one of "
                                 "['valid', 'same']")
            if padding == "same" and any(s != 1 for s in self.stride):
                raise ValueError(f"{cls}: padding='same' is not supported for strided "
                                 "convolutions")
            self.padding = padding
        else:
            self.padding = _ntuple(padding, n, "padding", cls)
        self.output_padding = _ntuple(output_padding, n, "output_padding", cls)
        self.groups = groups
        self.padding_mode = padding_mode
        self.transposed = self._transposed
        # F.pad order (last dim first) of the padding applied before a non-'zeros' convolution.
        if padding == "same":
            pairs = []
            for d, k in zip(self.dilation, self.kernel_size):
                total = d * (k - 1)
                pairs.append((total // 2, total - total // 2))
        elif padding == "valid":
            pairs = [(0, 0)] * n
        else:
            pairs = [(p, p) for p in self.padding]
        self._reversed_padding_repeated_twice = [v for pair in reversed(pairs) for v in pair]
        factory = {"device": device, "dtype": dtype}
        if self._transposed:
            shape = (in_channels, out_channels // groups) + self.kernel_size
        else:
            shape = (out_channels, in_channels // groups) + self.kernel_size
        self.weight = Parameter(_ops.empty(*shape, **factory))
        if bias:
            self.bias = Parameter(_ops.empty(out_channels, **factory))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """PyTorch's default: kaiming_uniform_(a=sqrt(5)) weight, U(+-1/sqrt(fan_in)) bias."""
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in, _ = init._calculate_fan_in_and_fan_out(self.weight)
            if fan_in != 0:
                bound = 1 / math.sqrt(fan_in)
                init.uniform_(self.bias, -bound, bound)

    def extra_repr(self) -> str:
        """The hyper-parameters that differ from their defaults, as PyTorch prints them."""
        n = self._n
        s = (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
             f"stride={self.stride}")
        if self.padding != (0,) * n:
            s += f", padding={self.padding}"
        if self.dilation != (1,) * n:
            s += f", dilation={self.dilation}"
        if self.output_padding != (0,) * n:
            s += f", output_padding={self.output_padding}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        if self.padding_mode != "zeros":
            s += f", padding_mode={self.padding_mode}"
        return s

    def _check_input(self, input: Tensor) -> None:
        if not isinstance(input, Tensor):
            raise TypeError(f"{type(self).__name__}: expected a Tensor input, got "
                            f"{type(input).__name__}")


class _Conv(_ConvNd):
    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1,
                 groups=1, bias=True, padding_mode="zeros", device=None, dtype=None):
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation,
                         groups, bias, padding_mode, 0, device, dtype)

    def _conv_forward(self, input: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor:
        conv = (F.conv1d, F.conv2d, F.conv3d)[self._n - 1]
        if self.padding_mode != "zeros":
            input = F.pad(input, self._reversed_padding_repeated_twice, mode=self.padding_mode)
            return conv(input, weight, bias, self.stride, 0, self.dilation, self.groups)
        return conv(input, weight, bias, self.stride, self.padding, self.dilation, self.groups)

    def forward(self, input: Tensor) -> Tensor:
        """Convolve `input` with this layer's weight (and add its bias)."""
        self._check_input(input)
        return self._conv_forward(input, self.weight, self.bias)


class Conv1d(_Conv):
    """1-D convolution over an (N, C_in, L) or (C_in, L) input.

    Args:
        in_channels, out_channels: channel counts.
        kernel_size: int or 1-tuple.
        stride, dilation: ints or 1-tuples (default 1).
        padding: int, 1-tuple, 'valid' or 'same' (default 0).
        groups: channel groups (both channel counts must divide by it).
        bias: learn an additive bias (default True).
        padding_mode: 'zeros', 'reflect', 'replicate' or 'circular'.
        device, dtype: where and in what dtype to create the parameters.

    Shape:
        (N, C_in, L) -> (N, C_out, L_out), L_out = (L + 2p - d(k-1) - 1) // s + 1.

    Example:
        >>> Conv1d(16, 33, 3, stride=2)(dyngraph.randn(20, 16, 50)).shape
        dyngraph.Size([20, 33, 24])
    """

    _n = 1


class Conv2d(_Conv):
    """2-D convolution over an (N, C_in, H, W) or (C_in, H, W) input.

    Args:
        in_channels, out_channels: channel counts.
        kernel_size: int or pair.
        stride, dilation: ints or pairs (default 1).
        padding: int, pair, 'valid' or 'same' (default 0).
        groups: channel groups (both channel counts must divide by it).
        bias: learn an additive bias (default True).
        padding_mode: 'zeros', 'reflect', 'replicate' or 'circular'.
        device, dtype: where and in what dtype to create the parameters.

    Shape:
        (N, C_in, H, W) -> (N, C_out, H_out, W_out),
        H_out = (H + 2p - d(k-1) - 1) // s + 1 (likewise W_out).

    Example:
        >>> Conv2d(16, 33, 3, stride=2)(dyngraph.randn(20, 16, 50, 100)).shape
        dyngraph.Size([20, 33, 24, 49])
    """

    _n = 2


class Conv3d(_Conv):
    """3-D convolution over an (N, C_in, D, H, W) or (C_in, D, H, W) input.

    Args:
        in_channels, out_channels: channel counts.
        kernel_size: int or triple.
        stride, dilation: ints or triples (default 1).
        padding: int, triple, 'valid' or 'same' (default 0).
        groups: channel groups (both channel counts must divide by it).
        bias: learn an additive bias (default True).
        padding_mode: 'zeros', 'reflect', 'replicate' or 'circular'.
        device, dtype: where and in what dtype to create the parameters.

    Shape:
        (N, C_in, D, H, W) -> (N, C_out, D_out, H_out, W_out),
        D_out = (D + 2p - d(k-1) - 1) // s + 1 (likewise H_out, W_out).

    Example:
        >>> Conv3d(16, 33, (3, 5, 2), stride=(2, 1, 1))(dyngraph.randn(2, 16, 10, 12, 8)).shape
        dyngraph.Size([2, 33, 4, 8, 7])
    """

    _n = 3


class _ConvTransposeNd(_ConvNd):
    _transposed = True

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0,
                 output_padding=0, groups=1, bias=True, dilation=1, padding_mode="zeros",
                 device=None, dtype=None):
        cls = type(self).__name__
        if padding_mode != "zeros":
            raise ValueError(f'{cls}: only "zeros" padding mode is supported (got '
                             f'{padding_mode!r})')
        if isinstance(padding, str):
            raise ValueError(f"{cls}: padding must be an int or a tuple, not {padding!r}")
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation,
                         groups, bias, padding_mode, output_padding, device, dtype)

    def _output_padding(self, input: Tensor, output_size) -> tuple[int, ...]:
        """The output_padding that makes the output `output_size` (PyTorch's rule)."""
        if output_size is None:
            return self.output_padding
        n, cls = self._n, type(self).__name__
        output_size = tuple(int(v) for v in output_size)
        non_spatial = 2 if input.ndim == n + 2 else 1
        if len(output_size) == non_spatial + n:
            output_size = output_size[non_spatial:]
        if len(output_size) != n:
            raise ValueError(f"{cls}: for {input.ndim}D input, output_size must have {n} or "
                             f"{non_spatial + n} elements (got {len(output_size)})")
        res = []
        for d in range(n):
            lo = ((input.shape[d + non_spatial] - 1) * self.stride[d] - 2 * self.padding[d]
                  + self.dilation[d] * (self.kernel_size[d] - 1) + 1)
            hi = lo + self.stride[d] - 1
            if not lo <= output_size[d] <= hi:
                raise ValueError(
                    f"{cls}: requested an output size of {list(output_size)}, but valid sizes "
                    f"range from {lo} to {hi} in dim {d} (for an input of "
                    f"{list(input.shape[non_spatial:])})")
            res.append(output_size[d] - lo)
        return tuple(res)

    def forward(self, input: Tensor, output_size=None) -> Tensor:
        """Transposed convolution; `output_size` picks among the sizes a stride allows."""
        self._check_input(input)
        opad = self._output_padding(input, output_size)
        conv = (F.conv_transpose1d, F.conv_transpose2d, F.conv_transpose3d)[self._n - 1]
        return conv(input, self.weight, self.bias, self.stride, self.padding, opad, self.groups,
                    self.dilation)


class ConvTranspose1d(_ConvTransposeNd):
    """1-D transposed convolution over an (N, C_in, L) or (C_in, L) input.

    The weight has shape (C_in, C_out / groups, k).

    Shape:
        (N, C_in, L) -> (N, C_out, L_out), L_out = (L-1)s - 2p + d(k-1) + output_padding + 1.

    Example:
        >>> ConvTranspose1d(16, 33, 3, stride=2)(dyngraph.randn(20, 16, 50)).shape
        dyngraph.Size([20, 33, 101])
    """

    _n = 1


class ConvTranspose2d(_ConvTransposeNd):
    """2-D transposed convolution over an (N, C_in, H, W) or (C_in, H, W) input.

    Args:
        in_channels, out_channels: channel counts.
        kernel_size: int or pair.
        stride, padding, dilation: ints or pairs.
        output_padding: extra size on one side of the output (smaller than stride or dilation).
        groups: channel groups; bias: learn an additive bias; padding_mode: only 'zeros'.
        device, dtype: where and in what dtype to create the parameters.

    Shape:
        (N, C_in, H, W) -> (N, C_out, H_out, W_out),
        H_out = (H-1)s - 2p + d(k-1) + output_padding + 1.

    Example:
        >>> up = ConvTranspose2d(16, 8, 3, stride=2, padding=1)
        >>> up(dyngraph.randn(1, 16, 12, 12), output_size=[24, 24]).shape
        dyngraph.Size([1, 8, 24, 24])
    """

    _n = 2


class ConvTranspose3d(_ConvTransposeNd):
    """3-D transposed convolution over an (N, C_in, D, H, W) or (C_in, D, H, W) input.

    Args:
        in_channels, out_channels: channel counts.
        kernel_size: int or triple.
        stride, padding, dilation: ints or triples.
        output_padding: extra size on one side of the output (smaller than stride or dilation).
        groups: channel groups; bias: learn an additive bias; padding_mode: only 'zeros'.
        device, dtype: where and in what dtype to create the parameters.

    Shape:
        (N, C_in, D, H, W) -> (N, C_out, D_out, H_out, W_out),
        D_out = (D-1)s - 2p + d(k-1) + output_padding + 1 (likewise H_out, W_out).

    Example:
        >>> up = ConvTranspose3d(16, 8, 3, stride=2, padding=1)
        >>> up(dyngraph.randn(1, 16, 4, 6, 6), output_size=[8, 12, 12]).shape
        dyngraph.Size([1, 8, 8, 12, 12])
    """

    _n = 3


class Unfold(Module):
    """Extract sliding local blocks: (N, C, H, W) -> (N, C*kH*kW, L) (see F.unfold)."""

    def __init__(self, kernel_size, dilation=1, padding=0, stride=1):
        super().__init__()
        self.kernel_size, self.dilation = kernel_size, dilation
        self.padding, self.stride = padding, stride

    def forward(self, input: Tensor) -> Tensor:
        """im2col of `input`."""
        return F.unfold(input, self.kernel_size, self.dilation, self.padding, self.stride)

    def extra_repr(self) -> str:
        """Hyper-parameters, as PyTorch prints them."""
        return (f"kernel_size={self.kernel_size}, dilation={self.dilation}, "
                f"padding={self.padding}, stride={self.stride}")


class Fold(Module):
    """Sum sliding local blocks into an image: (N, C*kH*kW, L) -> (N, C, H, W) (see F.fold)."""

    def __init__(self, output_size, kernel_size, dilation=1, padding=0, stride=1):
        super().__init__()
        self.output_size, self.kernel_size = output_size, kernel_size
        self.dilation, self.padding, self.stride = dilation, padding, stride

    def forward(self, input: Tensor) -> Tensor:
        """col2im of `input`."""
        return F.fold(input, self.output_size, self.kernel_size, self.dilation, self.padding,
                      self.stride)

    def extra_repr(self) -> str:
        """Hyper-parameters, as PyTorch prints them."""
        return (f"output_size={self.output_size}, kernel_size={self.kernel_size}, "
                f"dilation={self.dilation}, padding={self.padding}, stride={self.stride}")
