"""The last `torch.nn` classes scripts use: AdaptiveLogSoftmaxWithLoss, SyncBatchNorm,
DataParallel, and PyTorch's deprecated NLLLoss2d and Container.

SyncBatchNorm and DataParallel are the single-process, single-device forms: dyngraph has no
process groups, so SyncBatchNorm normalises with the local batch statistics (as PyTorch does when
`torch.distributed` is not initialised), and DataParallel runs the wrapped module on one device.
"""

from __future__ import annotations

import warnings
from typing import Any, NamedTuple, Sequence

from ... import _device
from ... import ops as _ops
from ..._tensor import Tensor
from ...autograd import no_grad
from .. import functional as F
from .container import ModuleList, Sequential
from .linear import Linear
from .loss import NLLLoss
from .module import Module
from .normalization import _BatchNorm

__all__ = ["AdaptiveLogSoftmaxWithLoss", "SyncBatchNorm", "DataParallel", "NLLLoss2d",
           "Container"]


class _ASMoutput(NamedTuple):
    output: Tensor
    loss: Tensor


class AdaptiveLogSoftmaxWithLoss(Module):
    """Adaptive softmax (Grave et al., 2016): frequent classes in a head, rare ones in clusters
    reached through the head's cluster logits, each cluster on a smaller projection.

    Labels must be sorted by frequency (0 the most frequent). `cutoffs=[10, 100]` puts classes
    0..9 in the head, 10..99 in the first cluster and 100..n_classes-1 in the second; cluster `i`
    (from 1) projects to `in_features // div_value**i` features.

    Args:
        in_features: features of the input.
        n_classes: number of classes.
        cutoffs: increasing, unique cluster boundaries, each in [1, n_classes - 1].
        div_value: divisor of the projection sizes. Default: 4.0.
        head_bias: add a bias to the head's Linear. Default: False.

    Returns (forward): `_ASMoutput(output, loss)`: the target log-probabilities, shape (N,) (or ()
    for an unbatched input), and their negative mean.

    Example:
        >>> asm = nn.AdaptiveLogSoftmaxWithLoss(16, 100, [10, 50])
        >>> out, loss = asm(dyngraph.randn(4, 16), dyngraph.tensor([1, 20, 70, 3]))
    """

    def __init__(self, in_features: int, n_classes: int, cutoffs: Sequence[int],
                 div_value: float = 4.0, head_bias: bool = False, device=None,
                 dtype=None) -> None:
        super().__init__()
        fk = {"device": device, "dtype": dtype}
        cutoffs = list(cutoffs)
        if len(cutoffs) == 0:
            raise ValueError("cutoffs should be a sequence of length larger than 0")
        if (cutoffs != sorted(cutoffs) or min(cutoffs) <= 0 or max(cutoffs) > n_classes - 1
                or len(set(cutoffs)) != len(cutoffs) or any(int(c) != c for c in cutoffs)):
            raise ValueError("cutoffs should be a sequence of unique, positive integers sorted "
                             "in an increasing order, where each value is between 1 and "
                             "n_classes-1")
        self.in_features = in_features
        self.n_classes = n_classes
        self.cutoffs = cutoffs + [n_classes]
        self.div_value = div_value
        self.head_bias = head_bias
        self.shortlist_size = self.cutoffs[0]
        self.n_clusters = len(self.cutoffs) - 1
        self.head_size = self.shortlist_size + self.n_clusters
        self.head = Linear(in_features, self.head_size, bias=head_bias, **fk)
        self.tail = ModuleList()
        for i in range(self.n_clusters):
            hsz = int(in_features // (div_value ** (i + 1)))
            osz = self.cutoffs[i + 1] - self.cutoffs[i]
            self.tail.append(Sequential(Linear(in_features, hsz, bias=False, **fk),
                                        Linear(hsz, osz, bias=False, **fk)))

    def reset_parameters(self) -> None:
        """Re-initialise the head and every cluster projection."""
        self.head.reset_parameters()
        for i2h, h2o in self.tail:
            i2h.reset_parameters()
            h2o.reset_parameters()

    def forward(self, input_: Tensor, target_: Tensor) -> _ASMoutput:
        """Target log-probabilities and the loss; only clusters holding a target are run."""
        targ_dim = target_.dim()
        if targ_dim == 1:
            if input_.size(0) != target_.size(0):
                raise RuntimeError("Input and target should have the same size in the batch "
                                   "dimension.")
            if input_.dim() != 2:
                raise RuntimeError("1D target tensor expects 2D input tensors, but found inputs "
                                   f"with size {input_.size()}")
        elif targ_dim == 0:
            if input_.dim() != 1:
                raise RuntimeError("0D target tensor expects 1D input tensors, but found inputs "
                                   f"with size {input_.size()}")
        else:
            raise RuntimeError("0D or 1D target tensor expected, multi-target not supported")
        is_batched = targ_dim > 0
        input = input_ if is_batched else input_.unsqueeze(0)
        target = target_ if is_batched else target_.unsqueeze(0)
        batch_size = target.size(0)
        if batch_size > 0:
            low, high = int(target.min().item()), int(target.max().item())
            if low < 0 or high > self.n_classes - 1:
                raise RuntimeError(f"Target values should be in [0, {self.n_classes - 1}], but "
                                   f"values in range [{low}, {high}] were found. ")

        output = input.new_zeros(batch_size)
        # The head's column for each row: the class itself in the shortlist, else its cluster.
        gather_inds = target
        for i in range(self.n_clusters):
            low_idx, high_idx = self.cutoffs[i], self.cutoffs[i + 1]
            target_mask = (target >= low_idx) & (target < high_idx)
            row_indices = target_mask.nonzero()[:, 0]
            if row_indices.numel() == 0:
                continue
            gather_inds = _ops.where(target_mask, self.shortlist_size + i, gather_inds)
            relative_target = target.index_select(0, row_indices) - low_idx
            cluster_output = self.tail[i](input.index_select(0, row_indices))
            cluster_logprob = F.log_softmax(cluster_output, dim=1)
            local_logprob = cluster_logprob.gather(1, relative_target.unsqueeze(1))
            output = output.index_copy(0, row_indices, local_logprob.squeeze(1))

        head_logprob = F.log_softmax(self.head(input), dim=1)
        output = output + head_logprob.gather(1, gather_inds.unsqueeze(1)).squeeze(1)
        loss = (-output).mean()
        if not is_batched:
            output = output.squeeze(0)
        return _ASMoutput(output, loss)

    def _get_full_log_prob(self, input: Tensor, head_output: Tensor) -> Tensor:
        """Log-probabilities of all classes from the input and the head's output."""
        head_logprob = F.log_softmax(head_output, dim=1)
        parts = [head_logprob[:, :self.shortlist_size]]
        for i in range(self.n_clusters):
            cluster_logprob = F.log_softmax(self.tail[i](input), dim=1)
            parts.append(cluster_logprob
                         + head_logprob[:, self.shortlist_size + i].unsqueeze(1))
        return _ops.cat(parts, dim=1)

    def _check_2d(self, name: str, input: Tensor) -> None:
        if input.dim() == 2:
            return
        fix = ("add a batch dimension with unsqueeze(0)" if input.dim() < 2
               else "flatten the leading dimensions with reshape(-1, in_features)")
        # IndexError where PyTorch fails with one (dim 1 out of range); it has no check for >2-D
        error = IndexError if input.dim() < 2 else RuntimeError
        raise error(f"AdaptiveLogSoftmaxWithLoss.{name}: expected a 2-D input "
                    f"(N, in_features={self.in_features}), got shape {list(input.shape)}; {fix}")

    def log_prob(self, input: Tensor) -> Tensor:
        """Log-probabilities of all `n_classes` classes.

        Args:
            input: a (N, in_features) minibatch.

        Returns:
            a (N, n_classes) tensor.
        """
        self._check_2d("log_prob", input)
        return self._get_full_log_prob(input, self.head(input))

    def predict(self, input: Tensor) -> Tensor:
        """The most likely class of each row; the same as `log_prob(input).argmax(dim=1)`, but
        the clusters are run only for rows whose head argmax is a cluster.

        Args:
            input: a (N, in_features) minibatch.

        Returns:
            a (N,) int64 tensor.
        """
        self._check_2d("predict", input)
        head_output = self.head(input)
        output = _ops.argmax(head_output, dim=1)
        not_in_shortlist = output >= self.shortlist_size
        if not bool(not_in_shortlist.any()):
            return output
        if bool(not_in_shortlist.all()):
            return _ops.argmax(self._get_full_log_prob(input, head_output), dim=1)
        rows = not_in_shortlist.nonzero()[:, 0]
        log_prob = self._get_full_log_prob(input.index_select(0, rows),
                                           head_output.index_select(0, rows))
        return output.index_copy(0, rows, _ops.argmax(log_prob, dim=1))


class SyncBatchNorm(_BatchNorm):
    """Batch normalisation over (N, C, ...) inputs, synchronised across processes in PyTorch.

    dyngraph runs in one process, so this normalises with the local batch statistics, as
    PyTorch's SyncBatchNorm does when `torch.distributed` is not initialised. Parameters,
    buffers, state-dict keys and repr match PyTorch's.

    Args:
        num_features: C.
        eps: added to the variance. Default: 1e-5.
        momentum: running-statistics update factor; None for a cumulative average. Default: 0.1.
        affine: learnable weight and bias. Default: True.
        track_running_stats: keep running mean/var. Default: True.
        process_group: kept for PyTorch compatibility; unused.
        bias: learnable bias (keyword only). Default: True.

    Example:
        >>> net = nn.SyncBatchNorm.convert_sync_batchnorm(nn.Sequential(nn.BatchNorm2d(3)))
    """

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1,
                 affine: bool = True, track_running_stats: bool = True,
                 process_group: Any | None = None, device=None, dtype=None, *,
                 bias: bool = True) -> None:
        super().__init__(num_features, eps, momentum, affine, track_running_stats,
                         device=device, dtype=dtype, bias=bias)
        self.process_group = process_group

    def _check_input_dim(self, input: Tensor) -> None:
        if input.dim() < 2:
            raise ValueError(f"expected at least 2D input (got {input.dim()}D input)")

    def forward(self, input: Tensor) -> Tensor:
        """Normalise with batch statistics (training) or running statistics (eval)."""
        if isinstance(input, Tensor) and input.dim() >= 2 and input.size(1) == 0:
            raise ValueError("SyncBatchNorm number of input channels should be non-zero")
        return super().forward(input)

    @classmethod
    def convert_sync_batchnorm(cls, module: Module, process_group=None) -> Module:
        """Replace every BatchNorm1d/2d/3d in `module`'s tree with a SyncBatchNorm that shares
        its parameters and buffers (as PyTorch does).

        Args:
            module: the model; if it is itself a BatchNorm, a new SyncBatchNorm is returned.
            process_group: stored on the new layers; unused in a single process.

        Returns:
            `module`, with its batch norms replaced.
        """
        module_output = module
        if isinstance(module, _BatchNorm):
            module_output = SyncBatchNorm(module.num_features, module.eps, module.momentum,
                                          module.affine, module.track_running_stats,
                                          process_group, bias=module.bias is not None)
            if module.affine:
                with no_grad():
                    module_output.weight = module.weight
                    module_output.bias = module.bias
            module_output.running_mean = module.running_mean
            module_output.running_var = module.running_var
            module_output.num_batches_tracked = module.num_batches_tracked
            module_output.training = module.training
            if hasattr(module, "qconfig"):
                module_output.qconfig = module.qconfig
        for name, child in module.named_children():
            module_output.add_module(name, cls.convert_sync_batchnorm(child, process_group))
        return module_output


def _to_device(obj, device):
    """Tensors in nested tuples/lists/dicts moved to `device` (what a one-device scatter does)."""
    if isinstance(obj, Tensor):
        return obj.to(device)
    if isinstance(obj, tuple) and hasattr(obj, "_fields"):
        return type(obj)(*(_to_device(o, device) for o in obj))
    if isinstance(obj, (tuple, list)):
        return type(obj)(_to_device(o, device) for o in obj)
    if isinstance(obj, dict):
        return {k: _to_device(v, device) for k, v in obj.items()}
    return obj


class DataParallel(Module):
    """Wraps a module for data parallelism; dyngraph runs it on a single device.

    Without a GPU, forward calls the wrapped module (PyTorch does the same on a CPU-only
    machine, leaving `device_ids` empty). With CUDA, the module is moved to `device_ids[0]` and
    the inputs follow it; the batch is not split over several GPUs. State-dict keys carry the
    `module.` prefix, as in PyTorch.

    Args:
        module: the module to wrap (available as `.module`).
        device_ids: CUDA devices; default all. Only the first is used.
        output_device: where outputs go; default `device_ids[0]`.
        dim: the batch dimension a multi-device scatter would split. Default: 0.

    Example:
        >>> net = nn.DataParallel(nn.Linear(4, 2))
        >>> net(dyngraph.randn(3, 4)).shape
        dyngraph.Size([3, 2])
    """

    def __init__(self, module: Module, device_ids: Sequence[int | Any] | None = None,
                 output_device: int | Any | None = None, dim: int = 0) -> None:
        super().__init__()
        from ... import cuda

        if not cuda.is_available():
            self.module = module
            self.device_ids = []
            return
        if device_ids is None:
            device_ids = list(range(cuda.device_count()))
        if not device_ids:
            raise RuntimeError("no available devices were found")
        if output_device is None:
            output_device = device_ids[0]
        self.dim = dim
        self.module = module
        self.device_ids = [_device_index(d) for d in device_ids]
        self.output_device = _device_index(output_device)
        self.src_device_obj = _device.device("cuda", self.device_ids[0])
        self.module.to(self.src_device_obj)

    def forward(self, *inputs: Any, **kwargs: Any) -> Any:
        """Call the wrapped module (on `device_ids[0]` when there are devices)."""
        if not self.device_ids:
            return self.module(*inputs, **kwargs)
        for t in list(self.module.parameters()) + list(self.module.buffers()):
            if t.device != self.src_device_obj:
                raise RuntimeError("module must have its parameters and buffers on device "
                                   f"{self.src_device_obj} (device_ids[0]) but found one of "
                                   f"them on device: {t.device}")
        inputs = _to_device(inputs, self.src_device_obj)
        kwargs = _to_device(kwargs, self.src_device_obj)
        outputs = self.module(*inputs, **kwargs)
        if self.output_device != self.device_ids[0]:
            outputs = _to_device(outputs, _device.device("cuda", self.output_device))
        return outputs


def _device_index(d) -> int:
    """The CUDA index of an int, 'cuda:i' string or device."""
    if isinstance(d, int):
        return d
    d = _device.device(d)
    if d.type != "cuda":
        raise ValueError(f"DataParallel: expected a CUDA device or index, got {d}")
    return 0 if d.index is None else d.index


class _DeprecatedClass:
    """Mixin: instantiating the deprecated class itself, or subclassing it, warns with its
    `_deprecation` message (what PyTorch's `@deprecated(..., category=FutureWarning)` does;
    instances of a subclass do not warn)."""

    _deprecation = ""

    def __new__(cls, *args, **kwargs):
        if "_deprecation" in cls.__dict__:
            warnings.warn(cls._deprecation, FutureWarning, stacklevel=2)
        return super().__new__(cls)

    def __init_subclass__(cls, **kwargs):
        if "_deprecation" not in cls.__dict__:
            warnings.warn(cls._deprecation, FutureWarning, stacklevel=2)
        super().__init_subclass__(**kwargs)


class NLLLoss2d(_DeprecatedClass, NLLLoss):
    """Deprecated alias of NLLLoss (PyTorch keeps it with a FutureWarning)."""

    _deprecation = ("`NLLLoss2d` has been deprecated. Please use `NLLLoss` instead as a drop-in "
                    "replacement and see https://pytorch.org/docs/main/nn.html#torch.nn.NLLLoss "
                    "for more details.")

    def __init__(self, weight: Tensor | None = None, size_average=None, ignore_index: int = -100,
                 reduce=None, reduction: str = "mean") -> None:
        super().__init__(weight, size_average, ignore_index, reduce, reduction)


class Container(_DeprecatedClass, Module):
    """Deprecated: a Module whose keyword arguments become its children. Subclass Module."""

    _deprecation = ("`nn.Container` is deprecated. All of its functionality is now implemented "
                    "in `nn.Module`. Subclass that instead.")

    def __init__(self, **kwargs: Any) -> None:
        super().__init__()
        for key, value in kwargs.items():
            self.add_module(key, value)
