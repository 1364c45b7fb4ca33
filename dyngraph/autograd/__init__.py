"""Autograd: `backward`, `grad`, grad-mode switches, custom `Function`s and `gradcheck`."""

from __future__ import annotations

import functools

import numpy as np

from .._dispatch import state
from .._device import get_array_module
from .._tensor import Tensor, _wrap
from .anomaly import detect_anomaly, set_detect_anomaly
from .graph import AccumulateGrad, Node, run_backward

__all__ = ["backward", "grad", "no_grad", "enable_grad", "set_grad_enabled", "inference_mode",
           "is_grad_enabled", "Function", "Variable", "gradcheck", "gradgradcheck", "Node",
           "detect_anomaly", "set_detect_anomaly"]


class _GradMode:
    """Base for the grad-mode context managers; each also works as a decorator."""

    def __call__(self, fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with self.__class__(*self._args):
                return fn(*args, **kwargs)
        return wrapper

    _args: tuple = ()


class no_grad(_GradMode):
    """Context manager / decorator: operations inside are not recorded for autograd."""

    def __enter__(self):
        self._prev = state.grad_enabled
        state.grad_enabled = False

    def __exit__(self, *exc):
        state.grad_enabled = self._prev


class enable_grad(_GradMode):
    """Context manager / decorator: turn recording back on inside a `no_grad` block."""

    def __enter__(self):
        self._prev = state.grad_enabled
        state.grad_enabled = True

    def __exit__(self, *exc):
        state.grad_enabled = self._prev


class set_grad_enabled(_GradMode):
    """Set grad mode on or off; usable as a function, a context manager or a decorator."""

    def __init__(self, mode: bool):
        self._args = (mode,)
        self._prev = state.grad_enabled
        state.grad_enabled = bool(mode)

    def __enter__(self):
        pass

    def __exit__(self, *exc):
        state.grad_enabled = self._prev


class inference_mode(_GradMode):
    """Like `no_grad`, for inference code (`inference_mode(False)` is a no-op)."""

    def __init__(self, mode: bool = True):
        self._args = (mode,)
        self.mode = mode

    def __enter__(self):
        self._prev = (state.grad_enabled, state.inference)
        if self.mode:
            state.grad_enabled = False
            state.inference = True

    def __exit__(self, *exc):
        state.grad_enabled, state.inference = self._prev


def is_grad_enabled() -> bool:
    return state.grad_enabled


def is_inference_mode_enabled() -> bool:
    return state.inference


def _make_grads(outputs, grad_outputs, create_graph):
    from .. import ops
    grads = []
    for out, g in zip(outputs, grad_outputs):
        if g is None:
            if out.numel() != 1:
                raise RuntimeError(
                    f"grad can be implicitly created only for scalar outputs (got an output of "
                    f"shape {tuple(out.shape)}); pass gradient= (e.g. torch.ones_like(out)) or "
                    "reduce the output with .sum() first")
            d = out._data
            g = _wrap(get_array_module(d).ones(d.shape, d.dtype))
        elif not isinstance(g, Tensor):
            g = ops.tensor(g, dtype=out.dtype, device=out.device)
        elif tuple(g.shape) != tuple(out.shape):
            raise RuntimeError(
                f"Mismatch in shape: grad_output[0] has a shape of {tuple(g.shape)} and output[0] "
                f"has a shape of {tuple(out.shape)}.")
        if not create_graph:
            g = g.detach()
        grads.append(g)
    return grads


def _as_tuple(x):
    if isinstance(x, Tensor):
        return (x,)
    return tuple(x)


def backward(tensors, grad_tensors=None, retain_graph=None, create_graph=False, inputs=None):
    """Accumulate gradients of `tensors` into the `.grad` of graph leaves (or of `inputs`)."""
    tensors = _as_tuple(tensors)
    if grad_tensors is None:
        grad_tensors = (None,) * len(tensors)
    else:
        grad_tensors = _as_tuple(grad_tensors) if not isinstance(grad_tensors, (list, tuple)) \
            else tuple(grad_tensors)
    if retain_graph is None:
        retain_graph = create_graph
    for t in tensors:
        if not t._rg:
            raise RuntimeError(
                "element 0 of tensors does not require grad and does not have a grad_fn; call "
                "requires_grad_() on the leaf tensors (or make sure the graph was built outside "
                "no_grad)")
    grads = _make_grads(tensors, grad_tensors, create_graph)
    if inputs is not None:
        inputs = _as_tuple(inputs)
        got = grad(tensors, inputs, grads, retain_graph=retain_graph, create_graph=create_graph,
                   allow_unused=True)
        for t, g in zip(inputs, got):
            if g is not None:
                t._grad = g if t._grad is None else (t._grad + g)
        return
    run_backward(tensors, grads, retain_graph=retain_graph, create_graph=create_graph)


def grad(outputs, inputs, grad_outputs=None, retain_graph=None, create_graph=False,
         only_inputs=True, allow_unused=None, is_grads_batched=False, materialize_grads=False):
    """Gradients of `outputs` with respect to `inputs`, returned (not accumulated into .grad).

    Example:
        >>> x = dyngraph.tensor(3.0, requires_grad=True)
        >>> (g,) = dyngraph.autograd.grad(x ** 2, x, create_graph=True)
        >>> dyngraph.autograd.grad(g, x)[0]
        tensor(2.)
    """
    outputs = _as_tuple(outputs)
    inputs = _as_tuple(inputs)
    if grad_outputs is None:
        grad_outputs = (None,) * len(outputs)
    else:
        grad_outputs = _as_tuple(grad_outputs) if isinstance(grad_outputs, Tensor) else \
            tuple(grad_outputs)
    if retain_graph is None:
        retain_graph = create_graph
    for t in inputs:
        if not t._rg:
            raise RuntimeError("One of the differentiated Tensors does not require grad")
    for t in outputs:
        if not t._rg:
            raise RuntimeError(
                "element 0 of tensors does not require grad and does not have a grad_fn")
    grads = _make_grads(outputs, grad_outputs, create_graph)
    capture = {}
    keys = []
    for t in inputs:
        if t.grad_fn is not None:
            node = t.grad_fn
        else:
            if t._accum is None:
                t._accum = AccumulateGrad(t)
            node = t._accum
        capture[node] = None
        keys.append(node)
    run_backward(outputs, grads, retain_graph=retain_graph, create_graph=create_graph,
                 capture=capture)
    result = []
    for t, k in zip(inputs, keys):
        g = capture[k]
        if g is None:
            if materialize_grads:
                from .. import ops
                g = ops.zeros_like(t)
            elif not allow_unused:
                raise RuntimeError(
                    "One of the differentiated Tensors appears to not have been used in the graph. "
                    "Set allow_unused=True if this is the desired behavior.")
        elif not create_graph:
            g = g.detach()
        result.append(g)
    return tuple(result)


# ----------------------------------------------------------------------------------------------
# Custom functions
# ----------------------------------------------------------------------------------------------

class FunctionCtx:
    """The `ctx` of a custom `Function`: saved tensors and flags for backward."""

    def __init__(self):
        self._saved = ()
        self.needs_input_grad = ()
        self.materialize_grads = True
        self._non_differentiable = set()

    def save_for_backward(self, *tensors):
        self._saved = tensors
        self._versions = tuple(t._vc[0] if isinstance(t, Tensor) else 0 for t in tensors)

    @property
    def saved_tensors(self):
        for t, v in zip(self._saved, self._versions):
            if isinstance(t, Tensor) and t._vc[0] != v:
                raise RuntimeError(
                    "one of the variables needed for gradient computation has been modified by "
                    f"an inplace operation: saved tensor is at version {t._vc[0]}; expected "
                    f"version {v}")
        return self._saved

    saved_variables = saved_tensors

    def mark_non_differentiable(self, *tensors):
        self._non_differentiable.update(id(t) for t in tensors)

    def mark_dirty(self, *tensors):
        pass

    def set_materialize_grads(self, value: bool):
        self.materialize_grads = value


class _FunctionNode(Node):
    """The graph node of a custom `Function` call: backward calls the user's `backward`."""

    __slots__ = ("fn_cls", "fctx", "n_out", "out_index")

    def __init__(self, fn_cls, fctx, inputs):
        from .graph import _edge
        self.op = None
        self.attrs = {}
        self.fn_cls = fn_cls
        self.fctx = fctx
        edges, meta = [], []
        for x in inputs:
            if isinstance(x, Tensor):
                edges.append(_edge(x))
                meta.append((x._data.shape, x._data.dtype))
        self.next_functions = tuple(edges)
        self._meta = meta

    def name(self) -> str:
        return f"{self.fn_cls.__name__}Backward"

    def apply(self, grad):
        grads = self.fn_cls.backward(self.fctx, grad)
        if not isinstance(grads, tuple):
            grads = (grads,)
        tensor_grads = [g for g, is_t in zip(grads, self.fctx._tensor_mask) if is_t]
        if len(grads) != len(self.fctx._tensor_mask):
            raise RuntimeError(
                f"function {self.fn_cls.__name__}Backward returned an incorrect number of "
                f"gradients "
                f"(expected {len(self.fctx._tensor_mask)}, got {len(grads)})")
        return tuple(tensor_grads)

    def release(self):
        self._freed = True
        self.fctx._saved = ()


class Function:
    """Base class for custom autograd operations with user-written `forward` and `backward`.

    Example:
        >>> class Exp(dyngraph.autograd.Function):
        ...     @staticmethod
        ...     def forward(ctx, x):
        ...         y = x.exp()
        ...         ctx.save_for_backward(y)
        ...         return y
        ...     @staticmethod
        ...     def backward(ctx, g):
        ...         (y,) = ctx.saved_tensors
        ...         return g * y
        >>> Exp.apply(dyngraph.zeros(2, requires_grad=True))
        tensor([1., 1.], grad_fn=<ExpBackward>)
    """

    @staticmethod
    def forward(ctx, *args, **kwargs):
        raise NotImplementedError

    @staticmethod
    def backward(ctx, *grad_outputs):
        raise NotImplementedError

    @classmethod
    def apply(cls, *args, **kwargs):
        fctx = FunctionCtx()
        fctx.needs_input_grad = tuple(isinstance(a, Tensor) and a._rg for a in args)
        fctx._tensor_mask = tuple(isinstance(a, Tensor) for a in args)
        with no_grad():
            out = cls.forward(fctx, *args, **kwargs)
        if state.grad_enabled and any(fctx.needs_input_grad):
            if not isinstance(out, Tensor):
                raise NotImplementedError(
                    f"{cls.__name__}.forward returned {type(out).__name__}; custom Functions with "
                    "several outputs are not supported yet (return one tensor)")
            node = _FunctionNode(cls, fctx, args)
            if id(out) in fctx._non_differentiable:
                return out
            if any(out is a for a in args):  # forward returned an input: give it its own node
                out = _wrap(out._data)
            out.grad_fn = node
            out._rg = True
        return out


class Variable:
    """Legacy `Variable(tensor, requires_grad=False)`: returns a Tensor, as in PyTorch."""

    def __new__(cls, data, requires_grad: bool = False, volatile: bool = False):
        t = data.detach() if isinstance(data, Tensor) else _wrap(np.asarray(data))
        if requires_grad:
            t.requires_grad_(True)
        return t


from .gradcheck import gradcheck, gradgradcheck  # noqa: E402
