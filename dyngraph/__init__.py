"""dyngraph: PyTorch's eager way of working, with a graph-capturing compiler.

Eager tensors live on the CPU (numpy) or CUDA (cupy); every op goes through one dispatcher
(`dyngraph._dispatch.apply`) and one op table (`dyngraph.ops.OPS`). See docs/architecture.md.
"""

from __future__ import annotations

import math as _math

from . import _dtype
from ._device import device
from ._dtype import (bfloat16, dtype, float16, float32, float64, get_default_dtype, int8, int16,
                     int32, int64, promote_types, set_default_dtype, uint8)
from ._tensor import Size, Tensor
from ._printing import get_printoptions, printoptions, set_printoptions  # noqa: F401
from . import ops as _ops
from .ops import *  # noqa: F401,F403
import dyngraph.linalg as linalg  # noqa: E402,F811 - torch.linalg (`from .` would keep ops.linalg)
from .ops import OPS, OpKind  # noqa: F401
from . import autograd
from .autograd import (enable_grad, inference_mode, is_grad_enabled, no_grad,  # noqa: F401
                       set_grad_enabled)
from . import cuda, accelerator  # noqa: F401
from ._settings import *  # noqa: F401,F403

__version__ = "0.1.0"

bool = _dtype.bool_  # noqa: A001 - PyTorch's name
float = float32  # noqa: A001
double = float64
half = float16
long = int64
int = int32  # noqa: A001
short = int16
uint8 = uint8
pi = _math.pi
e = _math.e
inf = _math.inf
nan = _math.nan
newaxis = None


def is_tensor(obj) -> _dtype.builtins.bool:
    """True if `obj` is a dyngraph Tensor."""
    return isinstance(obj, Tensor)


def is_floating_point(input: Tensor) -> _dtype.builtins.bool:
    return input.dtype.is_floating_point


def numel(input: Tensor) -> _dtype.builtins.int:
    return input.numel()


def result_type(tensor1, tensor2) -> dtype:
    """The dtype PyTorch's promotion gives for an op on these two operands."""
    return _dtype.result_type(tensor1, tensor2)


def can_cast(from_: dtype, to: dtype) -> _dtype.builtins.bool:
    return from_._category <= to._category


def __getattr__(name):
    # Subpackages that pull in more (nn, optim, compiler) load on first use to keep import fast.
    import importlib
    if name in ("nn", "optim", "utils", "jit", "special"):
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module 'dyngraph' has no attribute {name!r}")


def save(obj, f, **kwargs) -> None:
    """Save tensors, state dicts and nested containers without pickle (dyngraph.serialization)."""
    from .serialization import save as _save
    _save(obj, f, **kwargs)


def load(f, map_location=None, **kwargs):
    """Load what `dyngraph.save` wrote; never executes code from the file."""
    from .serialization import load as _load
    return _load(f, map_location=map_location, **kwargs)
from ._compile import compile, explain, reset, mark_dynamic, cond, while_loop, set_logs  # noqa: E402,F401,A004
from .export import Dim, ExportedGraph, export, load_graph  # noqa: E402,F401
