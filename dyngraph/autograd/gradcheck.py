"""`gradcheck`: compare autograd's gradients with central finite differences."""

from __future__ import annotations

import numpy as np

from .._tensor import Tensor

__all__ = ["gradcheck", "gradgradcheck", "GradcheckError"]


class GradcheckError(RuntimeError):
    """Raised by `gradcheck` when the analytical and numerical Jacobians differ."""


def _outputs(fn, inputs):
    out = fn(*inputs)
    return (out,) if isinstance(out, Tensor) else tuple(out)


def _numerical_jacobian(fn, inputs, i, eps):
    """d(outputs)/d(inputs[i]) by central differences, one column per input element."""
    x = inputs[i]
    flat = x._data.reshape(-1)  # a view: x is contiguous (gradcheck makes it so)
    cols = []
    # Grad mode stays on: gradgradcheck's function itself calls autograd.grad.
    for j in range(flat.size):
        orig = flat[j].item()
        flat[j] = orig + eps
        plus = [o._data.astype(np.float64).ravel().copy() for o in _outputs(fn, inputs)]
        flat[j] = orig - eps
        minus = [o._data.astype(np.float64).ravel().copy() for o in _outputs(fn, inputs)]
        flat[j] = orig
        cols.append(np.concatenate([(p - m) / (2 * eps) for p, m in zip(plus, minus)]))
    return np.stack(cols, axis=1) if cols else np.zeros((0, 0))


def _analytical_jacobian(fn, inputs, i):
    from . import grad
    outs = _outputs(fn, inputs)
    rows = []
    for o in outs:
        if not o._rg:
            rows.extend(np.zeros(inputs[i].numel()) for _ in range(o.numel()))
            continue
        for k in range(o.numel()):
            go = np.zeros(o.numel(), dtype=o._data.dtype)
            go[k] = 1
            from .. import tensor
            g = grad(o, inputs[i], tensor(go.reshape(o.shape)), retain_graph=True,
                     allow_unused=True)[0]
            rows.append(np.zeros(inputs[i].numel()) if g is None else
                        g._data.astype(np.float64).ravel())
    return np.stack(rows) if rows else np.zeros((0, inputs[i].numel()))


def gradcheck(func, inputs, *, eps: float = 1e-6, atol: float = 1e-5, rtol: float = 1e-3,
              raise_exception: bool = True, **_ignored) -> bool:
    """Check gradients of `func` at `inputs` against finite differences (use float64 inputs).

    Example:
        >>> x = dyngraph.randn(3, dtype=dyngraph.float64, requires_grad=True)
        >>> dyngraph.autograd.gradcheck(lambda t: (t * t).sum(), (x,))
        True
    """
    inputs = (inputs,) if isinstance(inputs, Tensor) else tuple(inputs)
    for t in inputs:
        if isinstance(t, Tensor) and t._rg and t.dtype.name != "float64":
            import warnings
            warnings.warn(f"gradcheck: input of dtype {t.dtype.name} is not float64; finite "
                          "differences will be inaccurate", UserWarning, stacklevel=2)
    for i, x in enumerate(inputs):
        if not (isinstance(x, Tensor) and x._rg):
            continue
        if not x._data.flags.c_contiguous:
            raise ValueError("gradcheck: inputs must be contiguous (call .contiguous())")
        num = _numerical_jacobian(func, inputs, i, eps)
        ana = _analytical_jacobian(func, inputs, i)
        if num.shape != ana.shape or not np.allclose(ana, num, rtol=rtol, atol=atol,
                                                     equal_nan=True):
            err = np.max(np.abs(ana - num)) if num.shape == ana.shape else float("nan")
            msg = (f"Jacobian mismatch for output 0 with respect to input {i},\n"
                   f"numerical:{num}\nanalytical:{ana}\nmax abs difference {err}")
            if raise_exception:
                raise GradcheckError(msg)
            return False
    return True


def gradgradcheck(func, inputs, grad_outputs=None, *, eps: float = 1e-6, atol: float = 1e-5,
                  rtol: float = 1e-3, raise_exception: bool = True) -> bool:
    """Check second derivatives: gradcheck of the function that returns `func`'s input grads."""
    from . import grad
    inputs = (inputs,) if isinstance(inputs, Tensor) else tuple(inputs)
    diff = [x for x in inputs if isinstance(x, Tensor) and x._rg]

    def first_grads(*xs):
        outs = _outputs(func, xs)
        gos = grad_outputs
        if gos is None:
            from .. import ones_like
            gos = [ones_like(o) for o in outs]
        gs = grad(outs, [x for x in xs if isinstance(x, Tensor) and x._rg], gos,
                  create_graph=True, allow_unused=True)
        from .. import zeros_like
        return tuple(g if g is not None else zeros_like(x) for g, x in zip(gs, diff))

    return gradcheck(first_grads, inputs, eps=eps, atol=atol, rtol=rtol,
                     raise_exception=raise_exception)
