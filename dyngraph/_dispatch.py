"""`apply`: the one choke point every tensor operation goes through.

Outside a trace it promotes dtypes, checks devices, runs the op's eager rule and, when grad mode is on
and an input requires grad, records an autograd `Node`. Inside `dyngraph.compile` tracing, the tracer
installed in `state.tracer` receives the call instead and records an IR node. Nothing else decides how
an op runs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from . import _dtype as D
from ._device import device_of, get_array_module

if TYPE_CHECKING:
    from .ops.registry import Op

__all__ = ["apply", "state"]


class _State:
    """Process-wide switches: grad mode, inference mode and the active tracer."""

    __slots__ = ("grad_enabled", "inference", "tracer")

    def __init__(self):
        self.grad_enabled = True
        self.inference = False
        self.tracer = None


state = _State()
_ndarray = np.ndarray
_Tensor = None   # set by _tensor.py to break the import cycle
_Node = None     # set by autograd/graph.py
_wrap = None     # Tensor's fast constructor


def _compute_dtype(op: Op, inputs) -> D.dtype | None:
    """The dtype array inputs are cast to before the eager rule runs (None: leave them)."""
    rule = op.dtype_rule
    if rule == "promote" or rule == "bool":
        return D.result_type(*inputs)
    if rule == "promote_tail":  # where(cond, a, b): promote a and b, leave cond alone
        return D.result_type(*inputs[1:])
    if rule == "float":
        dt = D.result_type(*inputs)
        return dt if dt.is_floating_point else D.get_default_dtype()
    return None


def _shape_error(op: Op, inputs, err: Exception) -> Exception:
    shapes = [tuple(x.shape) for x in inputs if isinstance(x, _Tensor)]
    if op.kind.is_elementwise and len(shapes) >= 2:
        from .ops.shape import broadcast_error
        msg = broadcast_error(op.name, shapes)
        if msg:
            return RuntimeError(msg)
    return RuntimeError(f"{op.name}: {err} (input shapes {shapes})")


def apply(op: Op, *inputs, **attrs):
    """Run `op` on `inputs` (tensors or Python scalars) with static `attrs`."""
    tracer = state.tracer
    if tracer is not None:
        return tracer(op, inputs, attrs)
    Tensor = _Tensor
    arrays = []
    xp = np
    dev = None          # set only when a non-CPU tensor is seen
    has_cpu = False
    needs_grad = False
    dt = _compute_dtype(op, inputs) if op.dtype_rule != "none" else None
    skip_cast = inputs[0] if op.dtype_rule == "promote_tail" else None
    for x in inputs:
        if isinstance(x, Tensor):
            a = x._data
            if type(a) is _ndarray:
                has_cpu = True
            else:
                d = device_of(a)
                if dev is None:
                    dev, xp = d, get_array_module(a)
                elif dev != d:
                    raise _device_error(op, inputs)
            if dt is not None and a.dtype != dt.np and x is not skip_cast:
                a = a.astype(dt.np)
            if x._rg:
                needs_grad = True
            arrays.append(a)
        else:
            arrays.append(x)
    if dev is not None and has_cpu:
        raise _device_error(op, inputs)
    try:
        out = op.eager(xp, *arrays, **attrs)
    except (ValueError, IndexError) as e:
        if op.kind.is_elementwise:
            raise _shape_error(op, inputs, e) from None
        raise
    except OverflowError:
        # A Python int outside the tensor dtype's range wraps around, as in PyTorch (numpy
        # raises instead).
        if dt is None:
            raise
        arrays = [xp.asarray(np.int64(a) if isinstance(a, int) else a).astype(dt.np)
                  if isinstance(a, (int, float)) else a for a in arrays]
        out = op.eager(xp, *arrays, **attrs)
    if type(out) is not _ndarray and xp is np:
        out = np.asarray(out)
    if op.dtype_rule == "bool" and out.dtype != np.bool_:
        out = out.astype(np.bool_)
    result = _wrap(out)
    if op.is_view:
        src = inputs[0]
        if out.base is not None and np.may_share_memory(out, src._data):
            result._vc = src._vc
            result._base = src._base if src._base is not None else src
    if needs_grad and state.grad_enabled and op.differentiable:
        if out.dtype.kind == "f" or out.dtype.name == "bfloat16":
            _Node(op, inputs, attrs, result)
    return result


def _device_error(op: Op, inputs) -> RuntimeError:
    devs = [str(x.device) for x in inputs if isinstance(x, _Tensor)]
    return RuntimeError(
        f"{op.name}: expected all tensors to be on the same device, but found tensors on "
        f"{' and '.join(sorted(set(devs)))}; move them with .to(device) first")

