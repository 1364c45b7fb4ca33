"""`Optimizer`: the base class every optimizer shares (param groups, state, state dicts, hooks).

Subclasses implement `step`. Updates run on the arrays behind the tensors (`p._data`, numpy or
cupy) in place, outside autograd, and bump each parameter's version counter so that a graph which
saved the old value refuses to backpropagate through it.
"""

from __future__ import annotations

import copy
import functools
import itertools
from collections import OrderedDict, defaultdict
from typing import Any, Callable, Iterable

import numpy as np

from .._device import get_array_module
from .._tensor import Tensor, _wrap
from ..autograd import enable_grad

__all__ = ["Optimizer", "required"]


class _RequiredParameter:
    """Marks a hyper-parameter every param group must give (no default)."""

    def __repr__(self) -> str:
        return "<required parameter>"


required = _RequiredParameter()


class _RemovableHandle:
    """Removes a hook from the ordered dict it was registered in."""

    _next_id = itertools.count()

    def __init__(self, hooks: OrderedDict):
        self.id = next(self._next_id)
        self._hooks = hooks

    def remove(self) -> None:
        """Unregister the hook."""
        self._hooks.pop(self.id, None)


def _with_step_hooks(step: Callable) -> Callable:
    """Wrap a subclass's `step` so that registered pre/post hooks run around it."""
    @functools.wraps(step)
    def wrapper(self, *args, **kwargs):
        if self.__dict__.get("_in_step"):  # a subclass's step calling super().step()
            return step(self, *args, **kwargs)
        self._in_step = True
        try:
            return _hooked_step(self, args, kwargs)
        finally:
            self._in_step = False

    def _hooked_step(self, args, kwargs):
        for hook in list(self._optimizer_step_pre_hooks.values()):
            result = hook(self, args, kwargs)
            if result is not None:
                if not (isinstance(result, tuple) and len(result) == 2):
                    raise RuntimeError(
                        f"{hook} must return None or a tuple of (new_args, new_kwargs), but got "
                        f"{result}.")
                args, kwargs = result
        out = step(self, *args, **kwargs)
        for hook in list(self._optimizer_step_post_hooks.values()):
            hook(self, args, kwargs)
        return out
    wrapper._hooked = True
    return wrapper


class Optimizer:
    """Base class for optimizers.

    Args:
        params: an iterable of tensors, of `(name, tensor)` pairs, or of dicts defining parameter
            groups (each with a `"params"` entry and optional per-group options).
        defaults: the default value of every option, used where a group does not set it.

    Example:
        >>> w = dyngraph.zeros(3, requires_grad=True)
        >>> opt = dyngraph.optim.SGD([{"params": [w], "lr": 0.1}], lr=0.01)
        >>> (w * 2).sum().backward(); opt.step(); opt.zero_grad()
    """

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        step = cls.__dict__.get("step")
        if step is not None and not getattr(step, "_hooked", False):
            cls.step = _with_step_hooks(step)

    def __init__(self, params, defaults: dict[str, Any]) -> None:
        self.defaults = defaults
        self._optimizer_step_pre_hooks: OrderedDict = OrderedDict()
        self._optimizer_step_post_hooks: OrderedDict = OrderedDict()
        if isinstance(params, Tensor):
            raise TypeError(
                "params argument given to the optimizer should be an iterable of Tensors or "
                f"dicts, but got {type(params).__name__} (wrap a single tensor in a list)")
        self.state: defaultdict = defaultdict(dict)
        self.param_groups: list[dict[str, Any]] = []
        param_groups = list(params)
        if len(param_groups) == 0:
            raise ValueError("optimizer got an empty parameter list")
        if not isinstance(param_groups[0], dict):
            param_groups = [{"params": param_groups}]
        for group in param_groups:
            self.add_param_group(group)

    # ----- groups ---------------------------------------------------------------------------
    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """Add a group of parameters with its own options (missing ones take the defaults)."""
        if not isinstance(param_group, dict):
            raise TypeError(f"param_group must be a dict, but got {type(param_group).__name__}")
        params = param_group["params"]
        if isinstance(params, Tensor):
            params = [params]
        elif isinstance(params, set):
            raise TypeError(
                "optimizer parameters need to be organized in ordered collections, but the "
                "ordering of tensors in sets will change between runs. Please use a list instead.")
        tensors, names = [], []
        for p in params:
            if isinstance(p, tuple):
                names.append(p[0])
                p = p[1]
            tensors.append(p)
        if names:
            if len(names) != len(tensors):
                raise ValueError("all optimizer params should be with/without names. Some param "
                                 "names are missing")
            param_group["param_names"] = names
        param_group["params"] = tensors
        for p in tensors:
            if not isinstance(p, Tensor):
                raise TypeError(
                    f"optimizer can only optimize Tensors, but one of the params is "
                    f"{type(p).__module__}.{type(p).__name__}")
            if not (p.is_leaf or p.retains_grad):
                raise ValueError("can't optimize a non-leaf Tensor")
        for name, default in self.defaults.items():
            if default is required and name not in param_group:
                raise ValueError(
                    f"parameter group didn't specify a value of required optimization parameter "
                    f"{name}")
            param_group.setdefault(name, default)
        if len({id(p) for p in tensors}) != len(tensors):
            import warnings
            warnings.warn("optimizer contains a parameter group with duplicate parameters; in "
                          "future, this will cause an error", stacklevel=3)
        seen = {id(p) for g in self.param_groups for p in g["params"]}
        if any(id(p) in seen for p in tensors):
            raise ValueError("some parameters appear in more than one parameter group")
        self.param_groups.append(param_group)

    # ----- gradients ------------------------------------------------------------------------
    def zero_grad(self, set_to_none: bool = True) -> None:
        """Reset the gradients of all parameters: to None (default) or to zeros."""
        for group in self.param_groups:
            for p in group["params"]:
                if set_to_none:
                    # a write without a read: a compiled step that starts with zero_grad does
                    # not depend on whether gradients existed (no guard, one trace)
                    p._grad = None
                    continue
                g = p._grad
                if g is not None:
                    # A fresh zero array: the old one may be shared with a tensor the caller owns
                    # (the engine stores incoming gradients without copying).
                    xp = get_array_module(g._data)
                    p._grad = _wrap(xp.zeros_like(g._data))

    def step(self, closure: Callable[[], Any] | None = None):
        """Perform one optimization step; `closure` re-evaluates the model and returns the loss."""
        raise NotImplementedError

    @staticmethod
    def _eval_closure(closure):
        if closure is None:
            return None
        with enable_grad():
            return closure()

    # ----- hooks ----------------------------------------------------------------------------
    def register_step_pre_hook(self, hook: Callable) -> _RemovableHandle:
        """Call `hook(optimizer, args, kwargs)` before each `step`; it may return new args."""
        handle = _RemovableHandle(self._optimizer_step_pre_hooks)
        self._optimizer_step_pre_hooks[handle.id] = hook
        return handle

    def register_step_post_hook(self, hook: Callable) -> _RemovableHandle:
        """Call `hook(optimizer, args, kwargs)` after each `step`."""
        handle = _RemovableHandle(self._optimizer_step_post_hooks)
        self._optimizer_step_post_hooks[handle.id] = hook
        return handle

    # ----- state dicts ----------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """The optimizer state in PyTorch's format.

        Returns:
            `{"state": {index: {name: value}}, "param_groups": [{option: value, "params":
            [index, ...]}]}`, where parameters are numbered in group order. State tensors are
            references, not copies (as in PyTorch); save or clone them before stepping again.
        """
        mapping: dict[int, int] = {}
        start = 0
        groups = []
        for group in self.param_groups:
            packed = {k: v for k, v in group.items() if k != "params"}
            for i, p in enumerate(group["params"], start):
                mapping.setdefault(id(p), i)
            packed["params"] = [mapping[id(p)] for p in group["params"]]
            start += len(packed["params"])
            groups.append(packed)
        state = {(mapping[id(k)] if isinstance(k, Tensor) else k): v
                 for k, v in self.state.items()}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore state from `state_dict()` output (of this or an identically built optimizer).

        State tensors are copied, cast to their parameter's dtype (floating parameters) and moved
        to its device; `step` counters keep their dtype. Unlike PyTorch, the loaded state never
        aliases the tensors in `state_dict`, so the source optimizer can keep stepping.
        """
        if not isinstance(state_dict, dict) or "param_groups" not in state_dict \
                or "state" not in state_dict:
            raise ValueError("load_state_dict: expected a dict with 'state' and 'param_groups' "
                             "keys, as returned by Optimizer.state_dict()")
        groups = self.param_groups
        saved_groups = copy.deepcopy(state_dict["param_groups"])
        if len(groups) != len(saved_groups):
            raise ValueError(
                f"loaded state dict has a different number of parameter groups "
                f"({len(saved_groups)} saved, {len(groups)} in this optimizer)")
        for i, (g, sg) in enumerate(zip(groups, saved_groups)):
            if len(g["params"]) != len(sg["params"]):
                raise ValueError(
                    f"loaded state dict contains a parameter group that doesn't match the size "
                    f"of optimizer's group (group {i}: {len(sg['params'])} saved, "
                    f"{len(g['params'])} here)")
        id_map = dict(zip(itertools.chain.from_iterable(g["params"] for g in saved_groups),
                          itertools.chain.from_iterable(g["params"] for g in groups)))
        state: defaultdict = defaultdict(dict)
        for k, v in state_dict["state"].items():
            param = id_map.get(k)
            state[param if param is not None else k] = \
                _cast_state(param, v) if param is not None else v
        for g, sg in zip(groups, saved_groups):
            sg["params"] = g["params"]
            if "param_names" in g and "param_names" not in sg:
                sg["param_names"] = g["param_names"]
        self.state = state
        self.param_groups = saved_groups

    def __getstate__(self) -> dict[str, Any]:
        return {"defaults": self.defaults, "state": self.state, "param_groups": self.param_groups}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self.__dict__.setdefault("_optimizer_step_pre_hooks", OrderedDict())
        self.__dict__.setdefault("_optimizer_step_post_hooks", OrderedDict())

    def __repr__(self) -> str:
        lines = [self.__class__.__name__ + " ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            lines.extend(f"    {k}: {group[k]}" for k in sorted(group) if k != "params")
        lines.append(")")
        return "\n".join(lines)


def _cast_state(param: Tensor, value, key=None):
    """Copy a saved state value onto `param`'s device (and dtype, except `step` counters)."""
    if isinstance(value, Tensor):
        if key == "step":
            return value.detach().clone()
        if param.dtype.is_floating_point and value.dtype.is_floating_point:
            out = value.detach().to(device=param.device, dtype=param.dtype)
        else:
            out = value.detach().to(device=param.device)
        return out.clone() if out._data is value._data or np.shares_memory(
            _host(out._data), _host(value._data)) else out
    if isinstance(value, dict):
        return {k: _cast_state(param, v, k) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_cast_state(param, v) for v in value)
    return value


def _host(a):
    """`a` itself on the CPU; a 0-size stand-in for device arrays (which never alias host ones)."""
    return a if type(a) is np.ndarray else np.empty(0)


def _iter_grads(group: dict[str, Any]) -> Iterable[tuple[Tensor, Any]]:
    """(param, grad array) for each parameter of the group that has a gradient."""
    for p in group["params"]:
        g = p._grad
        if g is None:
            continue
        if g._data.shape != p._data.shape:
            raise RuntimeError(
                f"optimizer: gradient of shape {tuple(g.shape)} does not match its parameter's "
                f"shape {tuple(p.shape)}")
        g = g._data
        d = p._data
        if d.flags.c_contiguous and not g.flags.c_contiguous:
            # Gradients of matmul weights often arrive as transposed (Fortran-order) views;
            # mixing layouts in the elementwise update is ~5x slower than one copy here.
            g = get_array_module(g).ascontiguousarray(g)
        yield p, g


_AXPY: dict = {}   # numpy dtype -> the BLAS axpy of numpy's own OpenBLAS (None: not found)


def _blas_axpy(dtype):
    """numpy's bundled BLAS `?axpy` for float32/float64 through ctypes, or None.

    numpy does not expose axpy, but the OpenBLAS it links exports CBLAS symbols that `dlsym`
    finds through numpy's extension module (no scipy import, no second BLAS library).
    """
    if dtype in _AXPY:
        return _AXPY[dtype]
    fn = None
    letter = {np.dtype(np.float32): "s", np.dtype(np.float64): "d"}.get(dtype)
    if letter is not None:
        import ctypes
        try:
            lib = ctypes.CDLL(np._core._multiarray_umath.__file__)
        except (OSError, AttributeError):
            lib = None
        scalar = ctypes.c_float if letter == "s" else ctypes.c_double
        # (symbol, integer type): numpy's wheels ship a 64-bit-integer OpenBLAS with a prefix
        for name, int_t in ((f"scipy_cblas_{letter}axpy64_", ctypes.c_int64),
                            (f"cblas_{letter}axpy64_", ctypes.c_int64),
                            (f"cblas_{letter}axpy", ctypes.c_int)):
            f = getattr(lib, name, None) if lib is not None else None
            if f is not None:
                f.restype = None
                f.argtypes = [int_t, scalar, ctypes.c_void_p, int_t, ctypes.c_void_p, int_t]
                fn = f
                break
    _AXPY[dtype] = fn
    return fn


def _axpy(alpha: float, x, y) -> None:
    """y += alpha * x in place, in one pass and with no temporary: PyTorch's
    `y.add_(x, alpha=alpha)`. On CPU float32/float64 arrays of one layout this is BLAS axpy,
    whose vector loop rounds once per element (a fused multiply-add) as PyTorch's CPU kernel
    does (only its short scalar tail may differ by an ulp); any other array (cupy, bfloat16,
    mixed layouts) takes `y += alpha * x`."""
    if type(y) is np.ndarray and type(x) is np.ndarray and x.dtype is y.dtype and \
            x.shape == y.shape and y.size and ((x.flags.c_contiguous and y.flags.c_contiguous)
                                               or (x.flags.f_contiguous and y.flags.f_contiguous)):
        fn = _AXPY.get(y.dtype, False)
        if fn is False:
            fn = _blas_axpy(y.dtype)
        if fn is not None and y.flags.writeable:
            fn(y.size, alpha, x.ctypes.data, 1, y.ctypes.data, 1)
            return
    y += alpha * x


def _step_counter() -> Tensor:
    """A float32 scalar step count on the CPU, as PyTorch keeps it."""
    return _wrap(np.zeros((), dtype=np.float32))


def _check_options(**checks: tuple[bool, str]) -> None:
    for ok, msg in checks.values():
        if not ok:
            raise ValueError(msg)


def _no_extras(opt: str, foreach=None, fused=None, differentiable=False, capturable=False):
    """PyTorch's implementation switches: `foreach` is accepted and ignored, the others too
    where they keep their default value."""
    del foreach  # every update already runs as whole-array operations
    if fused:
        raise RuntimeError(f"{opt}: fused=True is not supported by dyngraph; leave it unset")
    if differentiable:
        raise RuntimeError(f"{opt}: differentiable=True is not supported by dyngraph; the update "
                           "runs outside autograd")
    if capturable:
        raise RuntimeError(f"{opt}: capturable=True is not supported by dyngraph")


def _float(x) -> float:
    return float(x.item()) if isinstance(x, Tensor) else float(x)
