"""`apply`: the one choke point every tensor operation goes through.

Outside a trace it promotes dtypes, checks devices, runs the op's eager rule and, when grad mode is
on and an input requires grad, records an autograd `Node`. Inside `dyngraph.compile` tracing, the
tracer installed in `state.tracer` receives the call instead and records an IR node. Nothing else
decides how an op runs.

The common calls (one CPU tensor; two CPU tensors of one dtype; a float tensor and a Python number)
take shortcuts (`_apply_one`, `_apply_two`, `apply_binary`) that skip promotion work which could
not change anything; they give exactly what the general path gives, and the test suite runs both.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from . import _dtype as D
from . import _malloc
from ._fpstate import quiet_enter as _quiet_enter
from ._fpstate import quiet_exit as _quiet_exit
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
# Every eager op allocates its result through malloc: keep glibc from returning the memory freed
# at the end of a training step to the OS, only to fault it back in during the next (_malloc.py).
_malloc.tune()
_ndarray = np.ndarray
_Tensor = None   # set by _tensor.py to break the import cycle
_Node = None     # set by autograd/graph.py
_wrap = None     # Tensor's fast constructor


_PROMOTE_CACHE: dict = {}


def _compute_dtype(rule: str, inputs, sig) -> D.dtype | None:
    """The dtype array inputs are cast to before the eager rule runs (None: leave them).

    Memoised on the operands' signature (numpy dtype and 0-d-ness of tensors, type of scalars),
    since PyTorch's promotion depends on nothing else.
    """
    key = (rule, sig)
    dt = _PROMOTE_CACHE.get(key)
    if dt is not None:
        return dt
    if rule == "promote" or rule == "bool":
        dt = D.result_type(*inputs)
    elif rule == "promote_tail":  # where(cond, a, b): promote a and b, leave cond alone
        dt = D.result_type(*inputs[1:])
    elif rule == "float":
        dt = D.result_type(*inputs)
        if not dt.is_floating_point:
            dt = D.get_default_dtype()
    else:
        return None
    if len(_PROMOTE_CACHE) < 4096:
        _PROMOTE_CACHE[key] = dt
    return dt


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
    n = len(inputs)
    if n == 1:
        x = inputs[0]
        if isinstance(x, Tensor) and type(x._data) is _ndarray:
            return _apply_one(op, x, attrs)
    elif n == 2:
        x, y = inputs
        if isinstance(x, Tensor) and isinstance(y, Tensor):
            a, b = x._data, y._data
            # Two CPU tensors of one dtype: promotion has nothing to do (unless the op turns
            # integers into floats).
            if type(a) is _ndarray and type(b) is _ndarray and a.dtype is b.dtype and a.ndim \
                    and b.ndim and (op.dtype_rule != "float" or a.dtype.kind == "f"):
                return _apply_two(op, x, y, a, b, attrs)
        elif isinstance(x, Tensor) and (type(y) is float or type(y) is int) and \
                op.dtype_rule != "promote_tail":
            a = x._data
            # A float CPU tensor and a Python number: the tensor's dtype wins (numpy's weak
            # scalars agree), so there is nothing to promote.
            if type(a) is _ndarray and a.dtype.kind == "f" and a.ndim:
                return _apply_two(op, x, y, a, y, attrs)
    arrays = []
    sig = []
    xp = np
    dev = None          # set only when a non-CPU tensor is seen
    has_cpu = False
    needs_grad = False
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
            if x._rg:
                needs_grad = True
            arrays.append(a)
            sig.append(a.dtype if a.ndim else (a.dtype,))
        else:
            arrays.append(x)
            sig.append(type(x))
    if dev is not None and has_cpu:
        _cpu_operands_to(dev, xp, op, inputs, arrays)
    rule = op.dtype_rule
    dt = None
    if rule != "none" and rule != "same":
        dt = _PROMOTE_CACHE.get((rule, tuple(sig)))
        if dt is None:
            dt = _compute_dtype(rule, inputs, tuple(sig))
        if dt is not None:
            npdt = dt.np
            skip = 0 if rule != "promote_tail" else 1
            for i in range(skip, len(arrays)):
                a = arrays[i]
                if isinstance(inputs[i], Tensor) and a.dtype != npdt:
                    arrays[i] = a.astype(npdt)
    token = _quiet_enter()      # inf/nan results are the answer: no numpy warnings
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
    finally:
        _quiet_exit(token)
    if type(out) is not _ndarray and xp is np and get_array_module(out) is np:
        # (a rule with no tensor input may make a device array: random draws on cuda)
        out = np.asarray(out)
    if dt is not None and rule != "bool" and out.dtype != npdt and out.dtype.kind != "b":
        # numpy may widen (ml_dtypes' bfloat16 + a Python float gives float32): keep the
        # promoted dtype, as PyTorch does.
        out = out.astype(npdt)
    result = _wrap(out)
    if op.is_view:
        src = inputs[0]
        if _views(out, src._data, xp):
            result._vc = src._vc
            result._base = src._base if src._base is not None else src
    if needs_grad and state.grad_enabled and op.differentiable:
        k = out.dtype.kind
        if k == "f" or k == "V":  # "V": ml_dtypes' bfloat16
            _Node(op, inputs, attrs, result)
    return result


def _views(out, a, xp) -> bool:
    """Whether a view op's result `out` shares memory with its input array `a`. numpy points a
    view's `base` at the array that owns the memory, so the identity tests settle the common
    case without may_share_memory's bounds computation (~1 us of a ~3 us view op)."""
    base = out.base
    if base is None:
        return False
    return base is a or (base is a.base and base is not None) or xp.may_share_memory(out, a)


def _apply_one(op: Op, x, attrs):
    """`apply` for the most common call: one CPU tensor (unary, reduction and movement ops)."""
    a = x._data
    rule = op.dtype_rule
    dt = None
    if rule != "none" and rule != "same":
        sig = (a.dtype if a.ndim else (a.dtype,),)
        dt = _PROMOTE_CACHE.get((rule, sig))
        if dt is None:
            dt = _compute_dtype(rule, (x,), sig)
        if dt is not None:
            npdt = dt.np
            if a.dtype != npdt:
                a = a.astype(npdt)
    token = _quiet_enter()
    try:
        out = op.eager(np, a, **attrs)
    except (ValueError, IndexError) as e:
        if op.kind.is_elementwise:
            raise _shape_error(op, (x,), e) from None
        raise
    finally:
        _quiet_exit(token)
    if type(out) is not _ndarray and get_array_module(out) is np:   # (to_device: a cupy array)
        out = np.asarray(out)
    if dt is not None and rule != "bool" and out.dtype != npdt and out.dtype.kind != "b":
        out = out.astype(npdt)
    result = _wrap(out)
    if op.is_view and _views(out, x._data, np):
        result._vc = x._vc
        result._base = x._base if x._base is not None else x
    if x._rg and state.grad_enabled and op.differentiable:
        k = out.dtype.kind
        if k == "f" or k == "V":
            _Node(op, (x,), attrs, result)
    return result


def _apply_two(op: Op, x, y, a, b, attrs):
    """`apply` for two CPU tensors of the same dtype (the dtype rules are the identity here)."""
    token = _quiet_enter()
    try:
        out = op.eager(np, a, b, **attrs)
    except (ValueError, IndexError) as e:
        if op.kind.is_elementwise:
            raise _shape_error(op, (x, y), e) from None
        raise
    finally:
        _quiet_exit(token)
    if type(out) is not _ndarray:
        out = np.asarray(out)
    result = _wrap(out)
    if op.is_view and _views(out, a, np):
        result._vc = x._vc
        result._base = x._base if x._base is not None else x
    if (x._rg or getattr(y, "_rg", False)) and state.grad_enabled and op.differentiable:
        k = out.dtype.kind
        if k == "f" or k == "V":
            _Node(op, (x, y), attrs, result)
    return result


# Ops whose inputs from this position on are index tensors, which may stay on the CPU beside a
# CUDA tensor (PyTorch's x[cpu_index], x.index_put_((cpu_index,), v)).
_CPU_INDEX_FROM = {"getitem": 1, "index_put": 2}


def _cpu_operands_to(dev, xp, op: Op, inputs, arrays) -> None:
    """CPU tensors beside `dev` tensors, moved onto `dev` in `arrays` where PyTorch allows them
    (a 0-dim tensor that needs no gradient acts as a scalar; index tensors of an indexing op);
    any other one is the same-device error."""
    first_index = _CPU_INDEX_FROM.get(op.name, len(inputs))
    for i, x in enumerate(inputs):
        if isinstance(x, _Tensor) and type(x._data) is _ndarray:
            a = x._data
            if (a.ndim == 0 and not x._rg) or (i >= first_index and a.dtype.kind in "biu"):
                with xp.cuda.Device(dev.index or 0):
                    arrays[i] = xp.asarray(a)
            else:
                raise _device_error(op, inputs)


def _device_error(op: Op, inputs) -> RuntimeError:
    devs = [str(device_of(x._data)) for x in inputs if isinstance(x, _Tensor)]
    return RuntimeError(
        f"{op.name}: expected all tensors to be on the same device, but found tensors on "
        f"{' and '.join(sorted(set(devs)))}; move them with .to(device) first")


def apply_binary(op: Op, x, y):
    """`apply` for a binary elementwise op called as an operator (`x + y`): the same result, with
    a shortcut for the common case of two CPU float tensors of one dtype (or a float tensor and a
    Python number), where promotion, device checks and casts have nothing to do."""
    a = x._data
    fast = op.fast
    if fast is not None and type(a) is _ndarray and a.dtype.kind == "f" and a.ndim and \
            state.tracer is None:
        if isinstance(y, _Tensor):
            b = y._data
            ok = type(b) is _ndarray and b.dtype is a.dtype and b.ndim
        else:
            b = y
            ok = type(y) is float or type(y) is int
        if ok:
            token = _quiet_enter()
            try:
                out = fast(a, b)
            except ValueError:  # a broadcast error: let apply word it
                return apply(op, x, y)
            finally:
                _quiet_exit(token)
            result = _wrap(out)
            if state.grad_enabled and op.differentiable and (x._rg or getattr(y, "_rg", False)):
                _Node(op, (x, y), {}, result)
            return result
    return apply(op, x, y)
