"""More numeric and special functions, as in PyTorch: frexp, nextafter, the modified Bessel
functions i0/i0e/i1/i1e, the regularized incomplete gamma functions igamma/igammac, erfcx, ndtri
and xlog1py as primitives; mvlgamma, log_ndtr and entr as composites; with their Tensor methods.
`dyngraph.special` (dyngraph/special.py) re-exports them under torch.special's names.

The eager rules call scipy.special (cupyx.scipy.special on CUDA). Without scipy, i0 falls back to
numpy's i0 and ndtri to sqrt(2) erfinv(2p - 1) (less accurate in the far tails); the others raise
an error that says to install scipy. Half-precision inputs are computed in float32 and rounded
once, as PyTorch does.
"""

from __future__ import annotations

import math
from collections import namedtuple

import numpy as np

from ._api import Tensor, apply, register_method, register_method_pair, write_out
from .elementwise._common import _bf16_opmath, _needs, _scalar_or_tensor
from .elementwise.ternary import where
from .elementwise.unary import _unary
from .registry import OpKind, composite, defop, nondiff
from .special_fns import (_as_float, _erfinv_without_scipy, _finish, _need_tensor, _opmath,
                          _operand, _require_scipy, _scipy_special, erfc, lgamma, lgamma_op)

# PyTorch's top-level names only; i0e, i1, i1e, erfcx, ndtri, log_ndtr, entr and xlog1py
# are in dyngraph.special
__all__ = ["frexp", "nextafter", "i0", "igamma", "igammac", "mvlgamma"]

UNARY, BINARY = OpKind.UNARY, OpKind.BINARY
FrexpResult = namedtuple("frexp", ["mantissa", "exponent"])
_SQRT_PI = math.sqrt(math.pi)


def _special(xp, op: str, fn: str, x):
    """scipy.special.<fn> applied to x in its opmath dtype, cast back to x's dtype."""
    return _finish(xp, getattr(_require_scipy(xp, op, fn), fn)(_opmath(x)), x)


# ----------------------------------------------------------------------------------------------
# frexp and nextafter
# ----------------------------------------------------------------------------------------------

@defop("frexp", UNARY, dtype_rule="none", save=("inputs",),
       doc="the mantissa of frexp: input = mantissa * 2**exponent, |mantissa| in [0.5, 1)")
def frexp_op(xp, x):
    return xp.frexp(x)[0]


@frexp_op.def_grad
def _(ctx, g):
    # PyTorch's rule: grad / exponent.exp2() (the exponent is piecewise constant)
    e = apply(frexp_exponent_op, ctx.inputs[0]).to(g.dtype)
    return (g / e.exp2(),)


@nondiff("frexp_exponent", UNARY, "an int32 exponent, piecewise constant", dtype_rule="none")
def frexp_exponent_op(xp, x):
    return xp.frexp(x)[1].astype(np.int32, copy=False)


def frexp(input: Tensor, *, out=None) -> FrexpResult:
    """Split input into a mantissa and an int32 exponent: input = mantissa * 2**exponent.

    |mantissa| is in [0.5, 1); 0, inf and NaN give themselves as mantissa and exponent 0.

    Args:
        input: a floating-point tensor.
        out: optional (mantissa, exponent) tuple of tensors to write into.

    Example:
        >>> dyngraph.frexp(dyngraph.tensor([8.0, -3.0]))
        frexp(mantissa=tensor([ 0.5000, -0.7500]), exponent=tensor([4, 2], dtype=dyngraph.int32))
    """
    _need_tensor("frexp", "input", 1, input)
    if not input.dtype.is_floating_point:
        raise RuntimeError(f"torch.frexp() only supports floating-point dtypes (got "
                           f"{input.dtype.name}); call .float() first")
    m, e = apply(frexp_op, input), apply(frexp_exponent_op, input)
    if out is not None:
        return FrexpResult(write_out(m, out[0], "frexp"), write_out(e, out[1], "frexp"))
    return FrexpResult(m, e)


@register_method("frexp")
def _frexp_method(self) -> FrexpResult:
    return frexp(self)


@defop("nextafter", BINARY, dtype_rule="promote",
       doc="the next float after input in the direction of other")
def nextafter_op(xp, a, b):
    return xp.asarray(xp.nextafter(a, b))


@nextafter_op.def_grad
def _(ctx, g):
    # PyTorch's rule: the identity for input, zero for other
    from .creation import zeros_like
    return g, zeros_like(g)


def nextafter(input: Tensor, other, *, out=None) -> Tensor:
    """The next representable float after input towards other, elementwise.

    Args:
        input: a floating-point tensor.
        other: a tensor or a number (broadcast against input).
        out: optional output tensor.

    Example:
        >>> dyngraph.nextafter(dyngraph.tensor([1.0]), dyngraph.tensor([2.0])) - 1
        tensor([1.1921e-07])
    """
    _need_tensor("nextafter", "input", 1, input)
    other = _scalar_or_tensor(other, input)
    if not (input.dtype.is_floating_point or isinstance(other, float) or
            (isinstance(other, Tensor) and other.dtype.is_floating_point)):
        raise NotImplementedError(f'"nextafter_cpu" not implemented for '
                                  f"'{input.dtype.name.capitalize()}' (nextafter takes "
                                  f"floating-point tensors; call .double() first)")
    return write_out(apply(nextafter_op, input, other), out, "nextafter")


register_method_pair("nextafter", nextafter)


# ----------------------------------------------------------------------------------------------
# Modified Bessel functions of the first kind, orders 0 and 1 (plain and exponentially scaled)
# ----------------------------------------------------------------------------------------------

@defop("i0", UNARY, dtype_rule="float", save=("inputs",),
       doc="modified Bessel function of the first kind, order 0")
def i0_op(xp, x):
    if xp is np and _scipy_special(xp) is None:
        return _finish(xp, np.i0(_opmath(x)), x)
    return _special(xp, "i0", "i0", x)


@i0_op.def_grad
def _(ctx, g):
    return (g * apply(i1_op, ctx.inputs[0]),)


@defop("i0e", UNARY, dtype_rule="float", save=("inputs", "output"),
       doc="exponentially scaled i0: exp(-|x|) i0(x)")
def i0e_op(xp, x):
    return _special(xp, "special.i0e", "i0e", x)


@i0e_op.def_grad
def _(ctx, g):
    x = ctx.inputs[0]
    return (g * (apply(i1e_op, x) - x.sign() * ctx.out),)


def _safe_nonzero(x: Tensor) -> Tensor:
    """x with its zeros replaced by 1 (a divisor whose unused branch stays finite)."""
    return where(x == 0, 1.0, x)


@defop("i1", UNARY, dtype_rule="float", save=("inputs", "output"),
       doc="modified Bessel function of the first kind, order 1")
def i1_op(xp, x):
    return _special(xp, "special.i1", "i1", x)


@i1_op.def_grad
def _(ctx, g):
    # i1'(x) = i0(x) - i1(x) / x, with the limit 1/2 at 0 (PyTorch's rule)
    x = ctx.inputs[0]
    d = apply(i0_op, x) - ctx.out / _safe_nonzero(x)
    return (g * where(x == 0, 0.5, d),)


@defop("i1e", UNARY, dtype_rule="float", save=("inputs", "output"),
       doc="exponentially scaled i1: exp(-|x|) i1(x)")
def i1e_op(xp, x):
    return _special(xp, "special.i1e", "i1e", x)


@i1e_op.def_grad
def _(ctx, g):
    # i1e'(x) = i0e(x) - i1e(x) (sign(x) + 1/x), with the limit 1/2 at 0 (PyTorch's rule)
    x = ctx.inputs[0]
    d = apply(i0e_op, x) - ctx.out * (x.sign() + 1.0 / _safe_nonzero(x))
    return (g * where(x == 0, 0.5, d),)


i0 = _unary(i0_op, "i0", "Modified Bessel function of the first kind, order 0, elementwise.")
i0e = _unary(i0e_op, "i0e", "Exponentially scaled modified Bessel function of order 0: "
             "exp(-|input|) * i0(input).")
i1 = _unary(i1_op, "i1", "Modified Bessel function of the first kind, order 1, elementwise.")
i1e = _unary(i1e_op, "i1e", "Exponentially scaled modified Bessel function of order 1: "
             "exp(-|input|) * i1(input).")
for _fn in (i0, i0e, i1, i1e):
    _fn.__module__ = __name__
# torch has Tensor.i0 / i0_ only; i0e, i1 and i1e live in torch.special
for _name in ("i0e", "i1", "i1e"):
    delattr(Tensor, _name)
    delattr(Tensor, _name + "_")


# ----------------------------------------------------------------------------------------------
# Regularized incomplete gamma functions
# ----------------------------------------------------------------------------------------------

def _igamma_grad(name: str, sign: float):
    def rule(ctx, g):
        # d/dx P(a, x) = x^(a-1) exp(-x) / Gamma(a) (Q = 1 - P: minus that). PyTorch has no
        # derivative with respect to a and raises; so does this rule.
        a, x = ctx.inputs
        if _needs(a):
            raise NotImplementedError(f"the derivative for '{name}: input' is not "
                                      f"implemented.")
        d = ((a - 1) * x.log() - x - apply(lgamma_op, a)).exp()
        return None, g * (sign * d)
    return rule


@defop("igamma", BINARY, dtype_rule="float", save=("inputs",),
       doc="regularized lower incomplete gamma function P(a, x)")
def igamma_op(xp, a, x):
    return xp.asarray(_require_scipy(xp, "igamma", "gammainc").gammainc(a, x))


@defop("igammac", BINARY, dtype_rule="float", save=("inputs",),
       doc="regularized upper incomplete gamma function Q(a, x) = 1 - P(a, x)")
def igammac_op(xp, a, x):
    return xp.asarray(_require_scipy(xp, "igammac", "gammaincc").gammaincc(a, x))


for _op, _sign in ((igamma_op, 1.0), (igammac_op, -1.0)):
    _op.eager = _bf16_opmath(_op.eager)
    _op.def_grad(_igamma_grad(_op.name, _sign))


def _incomplete_gamma(op, name: str):
    def fn(input: Tensor, other, *, out=None) -> Tensor:
        if not isinstance(input, Tensor):
            _need_tensor(name, "other", 2, other)
            input = _operand(input, other)
        return write_out(apply(op, input, _scalar_or_tensor(other, input)), out, name)
    fn.__name__ = fn.__qualname__ = name
    return fn


igamma = _incomplete_gamma(igamma_op, "igamma")
igammac = _incomplete_gamma(igammac_op, "igammac")
igamma.__doc__ = """The regularized lower incomplete gamma function P(input, other), elementwise.

    P(a, x) = 1 / Gamma(a) * integral_0^x t^(a-1) e^-t dt, for a > 0, x >= 0 (NaN outside).
    Only `other` (x) is differentiable, as in PyTorch.

    Args:
        input: a (> 0), a tensor or a number.
        other: x (>= 0), a tensor or a number (broadcast against input).
        out: optional output tensor.

    Example:
        >>> dyngraph.igamma(dyngraph.tensor([1.0]), dyngraph.tensor([1.0]))  # 1 - exp(-1)
        tensor([0.6321])
    """
igammac.__doc__ = """The regularized upper incomplete gamma function Q(input, other) = 1 - P.

    Args:
        input: a (> 0), a tensor or a number.
        other: x (>= 0), a tensor or a number (broadcast against input).
        out: optional output tensor.

    Example:
        >>> dyngraph.igammac(dyngraph.tensor([1.0]), dyngraph.tensor([1.0]))  # exp(-1)
        tensor([0.3679])
    """
register_method_pair("igamma", igamma)
register_method_pair("igammac", igammac)


# ----------------------------------------------------------------------------------------------
# erfcx, ndtri, xlog1py
# ----------------------------------------------------------------------------------------------

@defop("erfcx", UNARY, dtype_rule="float", save=("inputs", "output"),
       doc="scaled complementary error function exp(x^2) erfc(x)")
def erfcx_op(xp, x):
    return _special(xp, "special.erfcx", "erfcx", x)


@erfcx_op.def_grad
def _(ctx, g):
    x = ctx.inputs[0]
    return (g * (2.0 * x * ctx.out - 2.0 / _SQRT_PI),)


@defop("ndtri", UNARY, dtype_rule="float", save=("output",),
       doc="inverse of the standard normal CDF")
def ndtri_op(xp, p):
    if xp is np and _scipy_special(xp) is None:
        pf = _opmath(p).astype(np.float64)
        return _finish(xp, math.sqrt(2.0) * _erfinv_without_scipy(2.0 * pf - 1.0), p)
    return _special(xp, "special.ndtri", "ndtri", p)


@ndtri_op.def_grad
def _(ctx, g):
    y = ctx.out
    return (g * math.sqrt(2 * math.pi) * (0.5 * y * y).exp(),)


erfcx = _unary(erfcx_op, "erfcx", "Scaled complementary error function exp(input**2) * "
               "erfc(input), without overflow.")
ndtri = _unary(ndtri_op, "ndtri", "Inverse of the standard normal CDF: the x with ndtr(x) = "
               "input (-inf at 0, inf at 1).")
for _fn in (erfcx, ndtri):
    _fn.__module__ = __name__
    delattr(Tensor, _fn.__name__)   # torch.special only
    delattr(Tensor, _fn.__name__ + "_")


@defop("xlog1py", BINARY, dtype_rule="float", save=("inputs",),
       doc="input * log1p(other), 0 where input == 0 unless other is NaN")
def xlog1py_op(xp, a, b):
    r = xp.asarray(xp.multiply(a, xp.log1p(b)))
    zero = xp.logical_and(xp.equal(a, 0), xp.logical_not(xp.isnan(b)))
    return xp.where(zero, xp.zeros((), r.dtype), r)


xlog1py_op.eager = _bf16_opmath(xlog1py_op.eager)


@xlog1py_op.def_grad
def _(ctx, g):
    # PyTorch's rule: d/da = xlog1py(g, b), 0 where a == 0 and b <= -1; d/db = g * a / (1 + b)
    a, b = ctx.inputs
    ga = gb = None
    if _needs(a):
        ga = apply(xlog1py_op, g, b)
        if isinstance(b, Tensor):
            ga = where((a == 0) & (b <= -1), 0.0, ga)
        elif b <= -1:
            ga = where(a == 0, 0.0, ga)
    if _needs(b):
        gb = g * a / (b + 1)
    return ga, gb


def xlog1py(input, other, *, out=None) -> Tensor:
    """input * log1p(other), with 0 where input == 0 (unless other is NaN), elementwise.

    Args:
        input: a tensor or a number.
        other: a tensor or a number (broadcast against input).
        out: optional output tensor.

    Example:
        >>> dyngraph.special.xlog1py(dyngraph.tensor([0.0, 2.0]), dyngraph.tensor([-1.0, 0.0]))
        tensor([0., 0.])
    """
    if not isinstance(input, Tensor):
        if not isinstance(other, Tensor):
            raise TypeError("xlog1py(): expected at least one of input and other to be a "
                            f"Tensor, got {type(input).__name__} and {type(other).__name__}")
        input = _operand(input, other)
    return write_out(apply(xlog1py_op, input, _scalar_or_tensor(other, input)), out,
                     "special.xlog1py")


# ----------------------------------------------------------------------------------------------
# Composites
# ----------------------------------------------------------------------------------------------

def _check_p(p) -> None:
    if isinstance(p, bool) or not isinstance(p, (int, np.integer)):
        raise TypeError(f"mvlgamma(): argument 'p' must be int, not {type(p).__name__}")
    if p < 1:
        raise RuntimeError(f"mvlgamma: p has to be greater than or equal to 1 (got p={p})")


@composite("mvlgamma", "sub, lgamma, sum, add")
def mvlgamma(input: Tensor, p: int, *, out=None) -> Tensor:
    """The multivariate log-gamma function of dimension p, elementwise.

    log Gamma_p(x) = p (p - 1) / 4 log(pi) + sum_{i=0}^{p-1} lgamma(x - i / 2).

    Args:
        input: a tensor (integers are promoted to the default float dtype).
        p: the dimension, an int >= 1.
        out: optional output tensor.

    Example:
        >>> dyngraph.mvlgamma(dyngraph.tensor([2.5]), 2)
        tensor([0.8570])
    """
    _need_tensor("mvlgamma", "input", 1, input)
    _check_p(p)
    x = _as_float(input)
    from .creation import arange
    shifts = arange(p, dtype=x.dtype, device=x.device) * 0.5
    r = lgamma(x.unsqueeze(-1) - shifts).sum(-1) + p * (p - 1) / 4 * math.log(math.pi)
    return write_out(r, out, "mvlgamma")


register_method_pair("mvlgamma", mvlgamma)


@composite("special.log_ndtr", "erfcx, log, erfc, log1p, where")
def log_ndtr(input: Tensor, *, out=None) -> Tensor:
    """log of the standard normal CDF, accurate in both tails.

    Below -1 it is log(erfcx(-x / sqrt 2) / 2) - x^2 / 2 (no underflow); above, log1p of
    -erfc(x / sqrt 2) / 2 (no cancellation near 0).

    Example:
        >>> dyngraph.special.log_ndtr(dyngraph.tensor([0.0, -50.0]))
        tensor([-6.9315e-01, -1.2548e+03])
    """
    _need_tensor("special.log_ndtr", "input", 1, input)
    x = _as_float(input)
    low = x < -1
    # each branch gets a safe argument where it is not used, so its gradient stays finite
    xl, xh = where(low, x, -1.0), where(low, -1.0, x)
    s = -math.sqrt(0.5)
    lo = (apply(erfcx_op, xl * s) * 0.5).log() - 0.5 * xl * xl
    hi = (erfc(xh * -s) * -0.5).log1p()
    return write_out(where(low, lo, hi), out, "special.log_ndtr")


@composite("special.entr", "log, mul, where")
def entr(input: Tensor, *, out=None) -> Tensor:
    """The elementwise entropy term -x log(x): 0 at 0, -inf for x < 0, NaN for NaN.

    The gradient is -(1 + log x) for x > 0 and 0 elsewhere (PyTorch gives inf at 0 and NaN
    below).

    Example:
        >>> dyngraph.special.entr(dyngraph.tensor([0.5, 0.0, -1.0]))
        tensor([0.3466, 0.0000,   -inf])
    """
    _need_tensor("special.entr", "input", 1, input)
    x = _as_float(input)
    pos = x > 0
    xs = where(pos, x, 1.0)
    r = where(pos, -xs * xs.log(), where(x == 0, 0.0, -math.inf))
    return write_out(where(x.isnan(), x, r), out, "special.entr")
