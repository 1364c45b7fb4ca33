"""More layers of `dyngraph.nn`, thin modules over `dyngraph.nn.functional` with PyTorch's
arguments and reprs: PReLU, RReLU, shrinkage, Softmax2d, channel-wise and alpha dropout, pixel
and channel shuffles, padding (defined in `padding.py`), upsampling, distances, local response
and instance norm."""

from __future__ import annotations

import warnings

from ... import ops as _ops
from ..._tensor import Tensor
from .. import functional as F
from .. import init
from .._functional_extra import _cross_map_lrn2d
from ..parameter import Parameter
from .module import Module
from .normalization import _BatchNorm
from .padding import *  # noqa: F401,F403 - the padding layers, exported from here
from .padding import __all__ as _padding_all

__all__ = [
    "PReLU", "RReLU", "Hardshrink", "Softshrink", "Softmax2d",
    "Dropout1d", "Dropout2d", "Dropout3d", "AlphaDropout", "FeatureAlphaDropout",
    "PixelShuffle", "PixelUnshuffle", "ChannelShuffle", *_padding_all,
    "Upsample", "UpsamplingNearest2d", "UpsamplingBilinear2d",
    "CosineSimilarity", "PairwiseDistance", "LocalResponseNorm", "CrossMapLRN2d",
    "InstanceNorm1d", "InstanceNorm2d", "InstanceNorm3d",
]


# ----------------------------------------------------------------------------------------------
# Activations
# ----------------------------------------------------------------------------------------------

class PReLU(Module):
    """x if x > 0 else a * x, with a learned slope `a` (one, or one per channel of dim 1).

    Args:
        num_parameters: 1, or the number of input channels (default 1).
        init: the initial slope (default 0.25).

    Example:
        >>> PReLU(3)(dyngraph.randn(2, 3, 4)).shape
        dyngraph.Size([2, 3, 4])
    """

    def __init__(self, num_parameters: int = 1, init: float = 0.25, device=None, dtype=None):
        super().__init__()
        self.num_parameters = num_parameters
        self.init = init
        self.weight = Parameter(_ops.empty(num_parameters, device=device, dtype=dtype))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Every slope to `init`."""
        init.constant_(self.weight, self.init)

    def forward(self, input: Tensor) -> Tensor:
        """Apply the activation."""
        return F.prelu(input, self.weight)

    def extra_repr(self) -> str:
        return f"num_parameters={self.num_parameters}"


class RReLU(Module):
    """Randomized leaky ReLU: in training, negative inputs times a slope drawn per element from
    U(lower, upper); in eval, times (lower + upper) / 2.

    Args:
        lower: the lower bound of the slope (default 1/8).
        upper: the upper bound of the slope (default 1/3).
        inplace: overwrite the input.
    """

    def __init__(self, lower: float = 1.0 / 8, upper: float = 1.0 / 3, inplace: bool = False):
        super().__init__()
        self.lower, self.upper, self.inplace = lower, upper, inplace

    def forward(self, input: Tensor) -> Tensor:
        """Apply the activation (random slopes only when `self.training`)."""
        return F.rrelu(input, self.lower, self.upper, self.training, self.inplace)

    def extra_repr(self) -> str:
        return f"lower={self.lower}, upper={self.upper}" + (", inplace=True" if self.inplace
                                                             else "")


class Hardshrink(Module):
    """0 where |x| <= lambd, else x. Args: lambd (0.5)."""

    def __init__(self, lambd: float = 0.5):
        super().__init__()
        self.lambd = lambd

    def forward(self, input: Tensor) -> Tensor:
        """Apply the shrinkage."""
        return F.hardshrink(input, self.lambd)

    def extra_repr(self) -> str:
        return f"{self.lambd}"


class Softshrink(Module):
    """x - lambd where x > lambd, x + lambd where x < -lambd, else 0. Args: lambd (0.5)."""

    def __init__(self, lambd: float = 0.5):
        super().__init__()
        self.lambd = lambd

    def forward(self, input: Tensor) -> Tensor:
        """Apply the shrinkage."""
        return F.softshrink(input, self.lambd)

    def extra_repr(self) -> str:
        return str(self.lambd)


class Softmax2d(Module):
    """Softmax over the channels of an (N, C, H, W) or (C, H, W) input, at each location."""

    def forward(self, input: Tensor) -> Tensor:
        """Apply softmax along dim -3."""
        if input.ndim not in (3, 4):
            raise ValueError(f"Softmax2d: expected input to be 3D or 4D, got {input.ndim}D "
                             f"instead (shape {list(input.shape)})")
        return F.softmax(input, -3, _stacklevel=5)


# ----------------------------------------------------------------------------------------------
# Dropout
# ----------------------------------------------------------------------------------------------

class _DropoutNd(Module):
    """Shared arguments of the dropout layers: p and inplace."""

    _fn = None

    def __init__(self, p: float = 0.5, inplace: bool = False):
        super().__init__()
        if p < 0 or p > 1:
            raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
        self.p, self.inplace = p, inplace

    def forward(self, input: Tensor) -> Tensor:
        """Apply dropout (only when `self.training`)."""
        return type(self)._fn(input, self.p, self.training, self.inplace)

    def extra_repr(self) -> str:
        return f"p={self.p}, inplace={self.inplace}"


class Dropout1d(_DropoutNd):
    """In training, zero whole channels of an (N, C, L) or (C, L) input with probability `p`
    and scale the rest by 1/(1-p). Args: p (0.5), inplace."""

    _fn = staticmethod(F.dropout1d)


class Dropout2d(_DropoutNd):
    """In training, zero whole channels of an (N, C, H, W) or (C, H, W) input with probability
    `p` and scale the rest by 1/(1-p). Args: p (0.5), inplace."""

    _fn = staticmethod(F.dropout2d)


class Dropout3d(_DropoutNd):
    """In training, zero whole channels of an (N, C, D, H, W) or (C, D, H, W) input with
    probability `p` and scale the rest by 1/(1-p). Args: p (0.5), inplace."""

    _fn = staticmethod(F.dropout3d)


class AlphaDropout(_DropoutNd):
    """Dropout for SELU networks, keeping zero mean and unit variance. Args: p (0.5), inplace
    (stored but unused, as in PyTorch)."""

    def forward(self, input: Tensor) -> Tensor:
        """Apply alpha dropout (only when `self.training`)."""
        return F.alpha_dropout(input, self.p, self.training)


class FeatureAlphaDropout(_DropoutNd):
    """Alpha dropout of whole channels of an (N, C, *) input. Args: p (0.5), inplace (stored
    but unused, as in PyTorch)."""

    def forward(self, input: Tensor) -> Tensor:
        """Apply channel-wise alpha dropout (only when `self.training`)."""
        return F.feature_alpha_dropout(input, self.p, self.training)


# ----------------------------------------------------------------------------------------------
# Shuffles
# ----------------------------------------------------------------------------------------------

class PixelShuffle(Module):
    """(*, C * r^2, H, W) to (*, C, H * r, W * r). Args: upscale_factor (r)."""

    def __init__(self, upscale_factor: int):
        super().__init__()
        self.upscale_factor = upscale_factor

    def forward(self, input: Tensor) -> Tensor:
        """Rearrange the input."""
        return F.pixel_shuffle(input, self.upscale_factor)

    def extra_repr(self) -> str:
        return f"upscale_factor={self.upscale_factor}"


class PixelUnshuffle(Module):
    """(*, C, H * r, W * r) to (*, C * r^2, H, W). Args: downscale_factor (r)."""

    def __init__(self, downscale_factor: int):
        super().__init__()
        self.downscale_factor = downscale_factor

    def forward(self, input: Tensor) -> Tensor:
        """Rearrange the input."""
        return F.pixel_unshuffle(input, self.downscale_factor)

    def extra_repr(self) -> str:
        return f"downscale_factor={self.downscale_factor}"


class ChannelShuffle(Module):
    """Interleave the channels of an (N, C, *) input across `groups` groups."""

    def __init__(self, groups: int):
        super().__init__()
        self.groups = groups

    def forward(self, input: Tensor) -> Tensor:
        """Shuffle the channels."""
        return F.channel_shuffle(input, self.groups)

    def extra_repr(self) -> str:
        return f"groups={self.groups}"


# ----------------------------------------------------------------------------------------------
# Upsampling
# ----------------------------------------------------------------------------------------------

class Upsample(Module):
    """Resize the spatial dims of an (N, C, *spatial) input with `F.interpolate`.

    Args:
        size: the output spatial size; exclusive with scale_factor.
        scale_factor: multiplier per spatial dim (stored as float).
        mode: 'nearest', 'nearest-exact', 'linear', 'bilinear', 'bicubic', 'trilinear' or 'area'.
        align_corners: for the linear modes, map corner pixels' centres onto each other.
        recompute_scale_factor: compute the source scale from the sizes.

    Example:
        >>> Upsample(scale_factor=2, mode="bilinear")(dyngraph.zeros(1, 1, 2, 3)).shape
        dyngraph.Size([1, 1, 4, 6])
    """

    def __init__(self, size=None, scale_factor=None, mode: str = "nearest",
                 align_corners: bool | None = None, recompute_scale_factor: bool | None = None):
        super().__init__()
        self.name = type(self).__name__
        self.size = size
        if isinstance(scale_factor, tuple):
            self.scale_factor = tuple(float(f) for f in scale_factor)
        else:
            self.scale_factor = float(scale_factor) if scale_factor else None
        self.mode = mode
        self.align_corners = align_corners
        self.recompute_scale_factor = recompute_scale_factor

    def forward(self, input: Tensor) -> Tensor:
        """Resize the input."""
        return F.interpolate(input, self.size, self.scale_factor, self.mode, self.align_corners,
                             recompute_scale_factor=self.recompute_scale_factor)

    def __setstate__(self, state: dict) -> None:
        state.setdefault("recompute_scale_factor", True)
        super().__setstate__(state)

    def extra_repr(self) -> str:
        if self.scale_factor is not None:
            info = "scale_factor=" + repr(self.scale_factor)
        else:
            info = "size=" + repr(self.size)
        return info + ", mode=" + repr(self.mode)


class UpsamplingNearest2d(Upsample):
    """Nearest-neighbour upsampling of an (N, C, H, W) input. Args: size, scale_factor."""

    def __init__(self, size=None, scale_factor=None):
        super().__init__(size, scale_factor, mode="nearest")


class UpsamplingBilinear2d(Upsample):
    """Bilinear upsampling of an (N, C, H, W) input with align_corners=True.
    Args: size, scale_factor."""

    def __init__(self, size=None, scale_factor=None):
        super().__init__(size, scale_factor, mode="bilinear", align_corners=True)


# ----------------------------------------------------------------------------------------------
# Distances
# ----------------------------------------------------------------------------------------------

class CosineSimilarity(Module):
    """Cosine similarity of x1 and x2 along `dim`. Args: dim (1), eps (1e-8)."""

    def __init__(self, dim: int = 1, eps: float = 1e-8):
        super().__init__()
        self.dim, self.eps = dim, eps

    def forward(self, x1: Tensor, x2: Tensor) -> Tensor:
        """Compute the similarity."""
        return F.cosine_similarity(x1, x2, self.dim, self.eps)


class PairwiseDistance(Module):
    """||x1 - x2 + eps||_p along the last dim. Args: p (2), eps (1e-6), keepdim (False)."""

    def __init__(self, p: float = 2.0, eps: float = 1e-6, keepdim: bool = False):
        super().__init__()
        self.norm, self.eps, self.keepdim = p, eps, keepdim

    def forward(self, x1: Tensor, x2: Tensor) -> Tensor:
        """Compute the distance."""
        return F.pairwise_distance(x1, x2, self.norm, self.eps, self.keepdim)


# ----------------------------------------------------------------------------------------------
# Normalisation
# ----------------------------------------------------------------------------------------------

class LocalResponseNorm(Module):
    """x / (k + alpha * mean of x^2 over `size` neighbouring channels) ** beta.

    Args:
        size: the number of channels in the window.
        alpha: multiplicative factor (default 1e-4).
        beta: exponent (default 0.75).
        k: additive factor (default 1).
    """

    def __init__(self, size: int, alpha: float = 1e-4, beta: float = 0.75, k: float = 1.0):
        super().__init__()
        self.size, self.alpha, self.beta, self.k = size, alpha, beta, k

    def forward(self, input: Tensor) -> Tensor:
        """Normalise the input."""
        return F.local_response_norm(input, self.size, self.alpha, self.beta, self.k)

    def extra_repr(self) -> str:
        return f"{self.size}, alpha={self.alpha}, beta={self.beta}, k={self.k}"


class CrossMapLRN2d(Module):
    """PyTorch's legacy local response norm of an (N, C, H, W) input (its window differs
    slightly from LocalResponseNorm's; see `_cross_map_lrn2d`). Args as LocalResponseNorm,
    k defaulting to the int 1.

    Its gradient is the exact gradient of this forward; PyTorch's hand-written backward uses
    another window (and fails for size=1), so gradients differ from PyTorch's.
    """

    def __init__(self, size: int, alpha: float = 1e-4, beta: float = 0.75, k: float = 1):
        super().__init__()
        self.size, self.alpha, self.beta, self.k = size, alpha, beta, k

    def extra_repr(self) -> str:
        return f"{self.size}, alpha={self.alpha}, beta={self.beta}, k={self.k}"

    def forward(self, input: Tensor) -> Tensor:
        """Normalise the input."""
        return _cross_map_lrn2d(input, self.size, self.alpha, self.beta, self.k)


class _InstanceNorm(_BatchNorm):
    """Instance norm over `_spatial` spatial dims; shares parameters and buffers with BatchNorm,
    but never counts batches (as in PyTorch)."""

    _spatial = 0

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float = 0.1,
                 affine: bool = False, track_running_stats: bool = False, device=None,
                 dtype=None, *, bias: bool = True):
        super().__init__(num_features, eps, momentum, affine, track_running_stats, device,
                         dtype, bias=bias)

    def _check_input_dim(self, input: Tensor) -> None:
        s = self._spatial
        if input.ndim not in (s + 1, s + 2):
            raise ValueError(f"{self._get_name()}: expected {s + 1}D or {s + 2}D input (got "
                             f"{input.ndim}D input of shape {list(input.shape)})")

    def forward(self, input: Tensor) -> Tensor:
        """Normalise each instance (running statistics in eval mode when tracked)."""
        if not isinstance(input, Tensor):
            raise TypeError(f"{self._get_name()}: expected a Tensor, got "
                            f"{type(input).__name__}")
        self._check_input_dim(input)
        unbatched = input.ndim == self._spatial + 1
        feature_dim = 0 if unbatched else 1
        if input.shape[feature_dim] != self.num_features:
            if self.affine:
                raise ValueError(
                    f"expected input's size at dim={feature_dim} to match num_features "
                    f"({self.num_features}), but got: {input.shape[feature_dim]}.")
            warnings.warn(
                f"input's size at dim={feature_dim} does not match num_features. You can "
                "silence this warning by not passing in num_features, which is not used "
                "because affine=False", UserWarning, stacklevel=2)
        x = input.unsqueeze(0) if unbatched else input
        y = F.instance_norm(x, self.running_mean, self.running_var, self.weight, self.bias,
                            self.training or not self.track_running_stats,
                            self.momentum if self.momentum is not None else 0.0, self.eps)
        return y.squeeze(0) if unbatched else y

    def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict, missing_keys,
                              unexpected_keys, error_msgs):
        # Checkpoints from before PyTorch 0.4 hold running stats even without tracking.
        if local_metadata.get("version", None) is None and not self.track_running_stats:
            keys = [prefix + n for n in ("running_mean", "running_var")
                    if prefix + n in state_dict]
            if keys:
                name = self._get_name()
                names = " and ".join('"' + k + '"' for k in keys)
                error_msgs.append(
                    f"Unexpected running stats buffer(s) {names} "
                    f"for {name} with track_running_stats=False. If state_dict is a checkpoint "
                    f"saved before 0.4.0, this may be expected because {name} does not track "
                    "running stats by default since 0.4.0. Please remove these keys from "
                    "state_dict. If the running stats are actually needed, instead set "
                    f"track_running_stats=True in {name} to enable them. See the documentation "
                    f"of {name} for details.")
                for k in keys:
                    state_dict.pop(k)
        super()._load_from_state_dict(state_dict, prefix, local_metadata, strict, missing_keys,
                                      unexpected_keys, error_msgs)


class InstanceNorm1d(_InstanceNorm):
    """Instance normalisation of an (N, C, L) or (C, L) input: each channel of each sample is
    normalised over L.

    Args:
        num_features: C.
        eps: added to the variance (default 1e-5).
        momentum: weight of each new statistic in the running averages (0.1).
        affine: learn a per-channel weight and bias (default False).
        track_running_stats: keep running statistics and use them in eval mode (default False).
        bias: with affine, learn the bias too (keyword-only, default True).

    Example:
        >>> InstanceNorm1d(3)(dyngraph.randn(2, 3, 5)).shape
        dyngraph.Size([2, 3, 5])
    """

    _spatial = 1


class InstanceNorm2d(_InstanceNorm):
    """Instance normalisation of an (N, C, H, W) or (C, H, W) input (args as InstanceNorm1d)."""

    _spatial = 2


class InstanceNorm3d(_InstanceNorm):
    """Instance normalisation of an (N, C, D, H, W) or (C, D, H, W) input (args as
    InstanceNorm1d)."""

    _spatial = 3
