"""Lazy modules: layers whose input size (`in_features`, `in_channels`, `num_features`) is
inferred from their first input, as in PyTorch.

Until that first call a lazy module holds `UninitializedParameter`s and `UninitializedBuffer`s.
A forward pre-hook (`LazyModuleMixin._infer_parameters`) then materializes them with the
inferred shape, initialises them exactly as the regular layer's constructor does (same random
draws, in the same order), removes itself and turns the module into `cls_to_become`: a
`LazyLinear` becomes a `Linear`.
"""

from __future__ import annotations

import itertools

from ... import _dtype as D
from ... import ops as _ops
from ..._dispatch import state
from ..._tensor import Tensor
from ...autograd import no_grad
from ..parameter import UninitializedBuffer, UninitializedParameter, is_lazy
from .conv import Conv1d, Conv2d, Conv3d, ConvTranspose1d, ConvTranspose2d, ConvTranspose3d
from .extra_layers import InstanceNorm1d, InstanceNorm2d, InstanceNorm3d, _InstanceNorm
from .linear import Linear
from .normalization import BatchNorm1d, BatchNorm2d, BatchNorm3d, _BatchNorm

# LazyModuleMixin is reached as nn.modules.lazy.LazyModuleMixin, as in PyTorch (not nn.*).
__all__ = ["LazyLinear", "LazyConv1d", "LazyConv2d", "LazyConv3d", "LazyConvTranspose1d",
           "LazyConvTranspose2d", "LazyConvTranspose3d", "LazyBatchNorm1d", "LazyBatchNorm2d",
           "LazyBatchNorm3d", "LazyInstanceNorm1d", "LazyInstanceNorm2d", "LazyInstanceNorm3d"]


class LazyModuleMixin:
    """A mixin for modules whose parameter shapes come from their first input ("lazy modules").

    Subclasses implement `initialize_parameters(*args, **kwargs)`, which materializes every
    uninitialized parameter and buffer from the first call's arguments. Convert the dtype or
    device of a lazy network (`to`, `double`, ...) before that first "dry run"; create
    optimizers before or after it (they hold the same parameter objects, which are filled in
    place). The state dict of an uninitialized module holds the `UninitializedParameter`s
    themselves, and loading a real state dict into one materializes it.

    Example:
        >>> net = dyngraph.nn.Sequential(dyngraph.nn.LazyLinear(8), dyngraph.nn.ReLU())
        >>> net(dyngraph.randn(2, 5)).shape
        dyngraph.Size([2, 8])
        >>> net[0]
        Linear(in_features=5, out_features=8, bias=True)
    """

    cls_to_become: type | None = None

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._initialize_hook = self.register_forward_pre_hook(self._infer_parameters,
                                                               with_kwargs=True)

    def _save_to_state_dict(self, destination: dict, prefix: str, keep_vars: bool) -> None:
        # Uninitialized tensors cannot be detached: they are saved as themselves.
        for name, param in self._parameters.items():
            if param is not None:
                destination[prefix + name] = param if keep_vars or is_lazy(param) else \
                    param.detach()
        for name, buf in self._buffers.items():
            if buf is not None and name not in self._non_persistent_buffers_set:
                destination[prefix + name] = buf if keep_vars or is_lazy(buf) else buf.detach()

    def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict, missing_keys,
                              unexpected_keys, error_msgs):
        # A real tensor in the checkpoint materializes the uninitialized one it loads into; an
        # uninitialized one loaded into an uninitialized one is a no-op (and not a missing key).
        both_lazy = []
        for name, param in itertools.chain(self._parameters.items(), self._buffers.items()):
            key = prefix + name
            if key in state_dict and param is not None and is_lazy(param):
                value = state_dict[key]
                if is_lazy(value):
                    both_lazy.append(key)
                elif isinstance(value, Tensor):
                    with no_grad():
                        param.materialize(value.shape)
        if both_lazy:
            state_dict = {k: v for k, v in state_dict.items() if k not in both_lazy}
        n_missing = len(missing_keys)
        super()._load_from_state_dict(state_dict, prefix, local_metadata, strict, missing_keys,
                                      unexpected_keys, error_msgs)
        missing_keys[n_missing:] = [k for k in missing_keys[n_missing:] if k not in both_lazy]

    def initialize_parameters(self, *args, **kwargs) -> None:
        """Materialize and initialise the parameters from the first call's arguments."""
        raise NotImplementedError(
            f"initialize_parameters is not implemented for {self.__class__.__name__}")

    def has_uninitialized_params(self) -> bool:
        """Whether a parameter or buffer of this module (not its children) is uninitialized."""
        return any(is_lazy(t) for t in itertools.chain(self._parameters.values(),
                                                       self._buffers.values()))

    def _infer_parameters(self, module, args, kwargs=None) -> None:
        """The forward pre-hook: initialise from the arguments, then become `cls_to_become`."""
        tracer = state.tracer
        if tracer is not None:
            # Inside a compile() trace: the initialisation (fresh arrays, random draws) must not
            # be recorded into the graph, so this call runs eagerly and the next one traces the
            # initialised module.
            tracer.poison(f"lazy module {self._get_name()} initialised its parameters during "
                          "this call; the next call traces the initialised module")
        module.initialize_parameters(*args, **(kwargs or {}))
        if module.has_uninitialized_params():
            raise RuntimeError(f"module {self._get_name()} has not been fully initialized")
        module._initialize_hook.remove()
        del module._initialize_hook
        if module.cls_to_become is not None:
            module.__class__ = module.cls_to_become


def _check_tensor(module, input) -> None:
    if not isinstance(input, Tensor):
        raise TypeError(f"{module._get_name()}: expected a Tensor input, got "
                        f"{type(input).__name__}")


class LazyLinear(LazyModuleMixin, Linear):
    """A `Linear` whose `in_features` is inferred from the first input's last dimension.

    Its `weight` and `bias` are `UninitializedParameter`s until the first call, which
    initialises them as `Linear(in_features, out_features)` would and turns the module into a
    `Linear`.

    Args:
        out_features: size of each output sample's last dimension.
        bias: learn an additive bias (default True).
        device, dtype: where and in what dtype to create the parameters.

    Example:
        >>> fc = LazyLinear(30)
        >>> fc(dyngraph.randn(128, 20)).shape
        dyngraph.Size([128, 30])
        >>> fc
        Linear(in_features=20, out_features=30, bias=True)
    """

    cls_to_become = Linear

    def __init__(self, out_features: int, bias: bool = True, device=None, dtype=None):
        super().__init__(0, 0, False)   # no bias: it would be replaced right away
        self.weight = UninitializedParameter(device=device, dtype=dtype)
        self.out_features = out_features
        if bias:
            self.bias = UninitializedParameter(device=device, dtype=dtype)

    def reset_parameters(self) -> None:
        """Initialise as `Linear` does, once the parameters are materialized."""
        if not self.has_uninitialized_params() and self.in_features != 0:
            super().reset_parameters()

    def initialize_parameters(self, input: Tensor) -> None:
        """Infer `in_features` from `input.shape[-1]`, materialize and initialise."""
        _check_tensor(self, input)
        if input.ndim == 0:
            raise IndexError(f"{self._get_name()}: cannot infer in_features from a 0-d input; "
                             "expected an input of shape (*, in_features)")
        if self.has_uninitialized_params():
            with no_grad():
                self.in_features = input.shape[-1]
                self.weight.materialize((self.out_features, self.in_features))
                if self.bias is not None:
                    self.bias.materialize((self.out_features,))
                self.reset_parameters()
        if self.in_features == 0:       # parameters loaded from a state dict before the call
            if input.shape[-1] != self.weight.shape[-1]:
                raise RuntimeError(
                    f"{self._get_name()}: the in_features inferred from the input "
                    f"({input.shape[-1]}) is not equal to in_features from the loaded weight "
                    f"({self.weight.shape[-1]})")
            self.in_features = input.shape[-1]


class _LazyConvXdMixin(LazyModuleMixin):
    """`in_channels` inference shared by the lazy convolutions."""

    def reset_parameters(self) -> None:
        """Initialise as the regular convolution does, once the parameters are materialized."""
        if not self.has_uninitialized_params() and self.in_channels != 0:
            super().reset_parameters()

    def initialize_parameters(self, input: Tensor, *args, **kwargs) -> None:
        """Infer `in_channels` from the input's channel dimension, materialize, initialise."""
        if self.has_uninitialized_params():
            self.in_channels = self._get_in_channels(input)
            if self.in_channels % self.groups != 0:
                raise ValueError(
                    f"{self._get_name()}: in_channels ({self.in_channels}, inferred from an "
                    f"input of shape {list(input.shape)}) must be divisible by groups "
                    f"({self.groups})")
            if self.transposed:
                shape = (self.in_channels, self.out_channels // self.groups) + self.kernel_size
            else:
                shape = (self.out_channels, self.in_channels // self.groups) + self.kernel_size
            with no_grad():
                self.weight.materialize(shape)
                if self.bias is not None:
                    self.bias.materialize((self.out_channels,))
                self.reset_parameters()
        elif self.in_channels == 0:     # loaded from a state dict (PyTorch leaves 0 here)
            w = self.weight.shape
            self.in_channels = w[0] if self.transposed else w[1] * self.groups

    def _get_in_channels(self, input: Tensor) -> int:
        _check_tensor(self, input)
        unbatched = self._n + 1
        if input.ndim not in (unbatched, unbatched + 1):
            raise RuntimeError(
                f"Expected {unbatched}D (unbatched) or {unbatched + 1}D (batched) input to "
                f"{self._get_name()}, but got input of size: {input.shape}")
        return input.shape[1] if input.ndim == unbatched + 1 else input.shape[0]


def _lazy_conv_doc(regular: str, dims: str) -> str:
    return f"""A `{regular}` whose `in_channels` is inferred from the first input's channel
    dimension (dim 1, or dim 0 for an unbatched {dims} input).

    Its `weight` and `bias` are `UninitializedParameter`s until the first call, which
    initialises them as `{regular}(in_channels, ...)` would and turns the module into a
    `{regular}`. The arguments are `{regular}`'s, without `in_channels`.
    """


class _LazyConv(_LazyConvXdMixin):
    def __init__(self, out_channels: int, kernel_size, stride=1, padding=0, dilation=1,
                 groups: int = 1, bias: bool = True, padding_mode: str = "zeros", device=None,
                 dtype=None):
        super().__init__(0, 0, kernel_size, stride, padding, dilation, groups, False,
                         padding_mode, device=device, dtype=dtype)
        self.weight = UninitializedParameter(device=device, dtype=dtype)
        self.out_channels = out_channels
        if bias:
            self.bias = UninitializedParameter(device=device, dtype=dtype)


class LazyConv1d(_LazyConv, Conv1d):
    __doc__ = _lazy_conv_doc("Conv1d", "(C, L)")
    cls_to_become = Conv1d


class LazyConv2d(_LazyConv, Conv2d):
    __doc__ = _lazy_conv_doc("Conv2d", "(C, H, W)") + """
    Example:
        >>> conv = LazyConv2d(8, 3)
        >>> conv(dyngraph.randn(1, 4, 10, 10)).shape
        dyngraph.Size([1, 8, 8, 8])
        >>> conv
        Conv2d(4, 8, kernel_size=(3, 3), stride=(1, 1))
    """
    cls_to_become = Conv2d


class LazyConv3d(_LazyConv, Conv3d):
    __doc__ = _lazy_conv_doc("Conv3d", "(C, D, H, W)")
    cls_to_become = Conv3d


class _LazyConvTranspose(_LazyConvXdMixin):
    def __init__(self, out_channels: int, kernel_size, stride=1, padding=0, output_padding=0,
                 groups: int = 1, bias: bool = True, dilation=1, padding_mode: str = "zeros",
                 device=None, dtype=None):
        super().__init__(0, 0, kernel_size, stride, padding, output_padding, groups, False,
                         dilation, padding_mode, device=device, dtype=dtype)
        self.weight = UninitializedParameter(device=device, dtype=dtype)
        self.out_channels = out_channels
        if bias:
            self.bias = UninitializedParameter(device=device, dtype=dtype)


class LazyConvTranspose1d(_LazyConvTranspose, ConvTranspose1d):
    __doc__ = _lazy_conv_doc("ConvTranspose1d", "(C, L)")
    cls_to_become = ConvTranspose1d


class LazyConvTranspose2d(_LazyConvTranspose, ConvTranspose2d):
    __doc__ = _lazy_conv_doc("ConvTranspose2d", "(C, H, W)")
    cls_to_become = ConvTranspose2d


class LazyConvTranspose3d(_LazyConvTranspose, ConvTranspose3d):
    __doc__ = _lazy_conv_doc("ConvTranspose3d", "(C, D, H, W)")
    cls_to_become = ConvTranspose3d


class _LazyNormBase(LazyModuleMixin):
    """`num_features` inference shared by the lazy batch and instance norms."""

    def __init__(self, eps: float = 1e-5, momentum: float | None = 0.1, affine: bool = True,
                 track_running_stats: bool = True, device=None, dtype=None, *,
                 bias: bool = True):
        # Built without affine parameters or running statistics, which are then replaced by
        # uninitialized ones.
        super().__init__(0, eps, momentum, False, False, device=device, dtype=dtype,
                         bias=False)
        self.affine = affine
        self.track_running_stats = track_running_stats
        fk = {"device": device, "dtype": dtype}
        if affine:
            self.weight = UninitializedParameter(**fk)
            if bias:
                self.bias = UninitializedParameter(**fk)
        if track_running_stats:
            self.running_mean = UninitializedBuffer(**fk)
            self.running_var = UninitializedBuffer(**fk)
            self.num_batches_tracked = _ops.tensor(0, dtype=D.int64, device=device)

    def reset_parameters(self) -> None:
        """Reset as the regular norm does, once the parameters are materialized."""
        if not self.has_uninitialized_params() and self.num_features != 0:
            super().reset_parameters()

    def _feature_dim(self, input: Tensor) -> int:
        return 1

    def initialize_parameters(self, input: Tensor) -> None:
        """Infer `num_features` from the input's channel dimension, materialize, initialise."""
        if self.has_uninitialized_params():
            _check_tensor(self, input)
            self._check_input_dim(input)
            self.num_features = input.shape[self._feature_dim(input)]
            with no_grad():
                for t in (self.weight, self.bias, self.running_mean, self.running_var):
                    if t is not None:
                        t.materialize((self.num_features,))
                self.reset_parameters()
        elif self.num_features == 0:
            # Loaded from a state dict: PyTorch leaves 0 here (and its instance norms then
            # reject every input); take the size of the loaded tensors.
            loaded = self.weight if self.weight is not None else self.running_mean
            if loaded is not None:
                self.num_features = loaded.shape[0]


def _lazy_norm_doc(regular: str, affine: str) -> str:
    return f"""A `{regular}` whose `num_features` is inferred from the first input's channel
    dimension.

    Its `weight`, `bias`, `running_mean` and `running_var` are uninitialized until the first
    call, which materializes and resets them as `{regular}(num_features, ...)` would and turns
    the module into a `{regular}`.

    Args:
        eps: added to the variance (default 1e-5).
        momentum: weight of each new batch in the running averages (default 0.1).
        affine: learn a per-channel weight and bias (default True{affine}).
        track_running_stats: keep running statistics (default True{affine}).
        bias: with affine, learn the bias too (keyword-only, default True).
        device, dtype: where and in what dtype to create the parameters and buffers.
    """


def _check_batch_dims(module, input: Tensor, dims: tuple) -> None:
    if input.ndim not in dims:
        want = " or ".join(f"{d}D" for d in dims)
        raise ValueError(f"{module._get_name()}: expected {want} input (got {input.ndim}D input "
                         f"of shape {list(input.shape)})")


class LazyBatchNorm1d(_LazyNormBase, _BatchNorm):
    __doc__ = _lazy_norm_doc("BatchNorm1d", "") + """
    Example:
        >>> bn = LazyBatchNorm1d()
        >>> bn(dyngraph.randn(8, 4)).shape
        dyngraph.Size([8, 4])
        >>> bn.num_features
        4
    """
    cls_to_become = BatchNorm1d

    def _check_input_dim(self, input: Tensor) -> None:
        _check_batch_dims(self, input, (2, 3))


class LazyBatchNorm2d(_LazyNormBase, _BatchNorm):
    __doc__ = _lazy_norm_doc("BatchNorm2d", "")
    cls_to_become = BatchNorm2d

    def _check_input_dim(self, input: Tensor) -> None:
        _check_batch_dims(self, input, (4,))


class LazyBatchNorm3d(_LazyNormBase, _BatchNorm):
    __doc__ = _lazy_norm_doc("BatchNorm3d", "")
    cls_to_become = BatchNorm3d

    def _check_input_dim(self, input: Tensor) -> None:
        _check_batch_dims(self, input, (5,))


_INSTANCE_DEFAULTS = ", as PyTorch's lazy instance norms, unlike the regular ones"


class _LazyInstanceNorm(_LazyNormBase, _InstanceNorm):
    def _feature_dim(self, input: Tensor) -> int:
        return 0 if input.ndim == self._spatial + 1 else 1     # unbatched: (C, *spatial)


class LazyInstanceNorm1d(_LazyInstanceNorm):
    __doc__ = _lazy_norm_doc("InstanceNorm1d", _INSTANCE_DEFAULTS)
    cls_to_become = InstanceNorm1d
    _spatial = 1


class LazyInstanceNorm2d(_LazyInstanceNorm):
    __doc__ = _lazy_norm_doc("InstanceNorm2d", _INSTANCE_DEFAULTS)
    cls_to_become = InstanceNorm2d
    _spatial = 2


class LazyInstanceNorm3d(_LazyInstanceNorm):
    __doc__ = _lazy_norm_doc("InstanceNorm3d", _INSTANCE_DEFAULTS)
    cls_to_become = InstanceNorm3d
    _spatial = 3
