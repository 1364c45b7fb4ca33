"""Special math functions, as in PyTorch: the primitives erfc, erfinv, lgamma, digamma, polygamma
and xlogy, and the composites isclose/allclose, logit, ndtr, fmax/fmin, heaviside, logaddexp2,
sinc and isneginf/isposinf/isreal, with their Tensor methods.

The primitives' eager rules call scipy.special (cupyx.scipy.special on CUDA). Without scipy, erfc
and lgamma fall back to Python's math.erfc/math.lgamma, vectorised (exact to double rounding, but
slow) and erfinv to Newton steps on math.erf; digamma and polygamma raise an error that says to
install scipy.

Half-precision inputs are computed in float32 and rounded once, as PyTorch does.
"""

from __future__ import annotations

import math

import numpy as np

from .. import _dtype as D
from ._api import Tensor, apply, inplace, register_method, register_method_pair, write_out
from .elementwise._common import _needs, _scalar_or_tensor, _use_bf16_opmath
from .elementwise.binary import logaddexp
from .elementwise.ternary import where
from .elementwise.unary import _unary
from .registry import OpKind, composite, defop

__all__ = ["erfc", "erfinv", "lgamma", "digamma", "polygamma", "xlogy", "isclose", "allclose",
           "logit", "ndtr", "fmax", "fmin", "heaviside", "logaddexp2", "sinc", "isneginf",
           "isposinf", "isreal"]

UNARY, BINARY = OpKind.UNARY, OpKind.BINARY
_SQRT_PI = math.sqrt(math.pi)
_LN2 = math.log(2.0)


# ----------------------------------------------------------------------------------------------
# Eager helpers
# ----------------------------------------------------------------------------------------------

def _scipy_special(xp):
    """scipy.special (cupyx.scipy.special for cupy arrays), or None where scipy is missing."""
    if xp is not np:
        import cupyx.scipy.special as sp
        return sp
    try:
        import scipy.special as sp
    except ImportError:
        return None
    return sp


def _require_scipy(xp, op: str, fn: str):
    sp = _scipy_special(xp)
    if sp is None:
        raise RuntimeError(f"{op}: needs scipy (scipy.special.{fn}) for its CPU rule, and scipy "
                           "is not installed; install it with `pip install scipy`")
    return sp


def _opmath(x):
    """float16/bfloat16 arrays as float32 (computed there and rounded once, as in PyTorch)."""
    return x.astype(np.float32) if x.dtype.itemsize < 4 else x


def _finish(xp, r, like):
    """The result as an array of `like`'s dtype (scipy gives numpy scalars for 0-d input and
    float64 for some float32 loops)."""
    return xp.asarray(r).astype(like.dtype, copy=False)


def _vectorised(fn, x):
    """`fn` from Python's math module applied to every element (the no-scipy fallback)."""
    return np.vectorize(fn, otypes=[np.float64])(x)


def _lgamma_or_pole(v: float) -> float:
    try:
        return math.lgamma(v)
    except ValueError:  # the poles 0, -1, -2, ...: +inf, as PyTorch gives
        return math.inf


# ----------------------------------------------------------------------------------------------
# Primitives
# ----------------------------------------------------------------------------------------------

@defop("erfc", UNARY, dtype_rule="float", save=("inputs",),
       doc="complementary error function, accurate where erf(x) rounds to 1")
def erfc_op(xp, x):
    xf = _opmath(x)
    sp = _scipy_special(xp)
    return _finish(xp, sp.erfc(xf) if sp is not None else _vectorised(math.erfc, xf), x)


@erfc_op.def_grad
def _(ctx, g):
    x = ctx.inputs[0]
    return (g * (-2 / _SQRT_PI) * (-(x * x)).exp(),)


@defop("erfinv", UNARY, dtype_rule="float", save=("output",), doc="inverse error function")
def erfinv_op(xp, x):
    xf = _opmath(x)
    if xp is np and _scipy_special(xp) is None:
        r = _erfinv_without_scipy(xf.astype(np.float64)).astype(xf.dtype, copy=False)
    else:
        r = _require_scipy(xp, "erfinv", "erfinv").erfinv(xf)
    return _finish(xp, xp.where(xf == 0, xf, r), x)  # erfinv(-0.0) = -0.0, as in PyTorch


def _erfinv_without_scipy(x: np.ndarray) -> np.ndarray:
    """erfinv in float64 without scipy: Winitzki's closed form (~2e-3 relative), then Newton
    steps (quadratic: to double rounding) on math.erf, or on math.erfc above |x| = 0.5, where
    1 - |x| is exact and erf(r) - |x| would cancel; +-1 give +-inf, |x| > 1 NaN."""
    k = 0.147
    a = np.abs(x)
    with np.errstate(divide="ignore", invalid="ignore"):
        ln = np.log1p(-a * a)
        t = 2 / (math.pi * k) + ln / 2
        r = np.sqrt(np.sqrt(t * t - ln / k) - t)
        erf = np.vectorize(math.erf, otypes=[np.float64])
        erfc = np.vectorize(math.erfc, otypes=[np.float64])
        big, tail = a > 0.5, 1.0 - a
        for _ in range(4):
            resid = np.where(big, tail - erfc(r), erf(r) - a)
            r = np.where(np.isfinite(r), r - resid / (2.0 / _SQRT_PI * np.exp(-r * r)), r)
    return np.copysign(r, x)


@erfinv_op.def_grad
def _(ctx, g):
    y = ctx.out
    return (g * (_SQRT_PI / 2) * (y * y).exp(),)


@defop("lgamma", UNARY, dtype_rule="float", save=("inputs",),
       doc="log |gamma(x)|; +inf at the poles 0, -1, -2, ... and at -inf")
def lgamma_op(xp, x):
    xf = _opmath(x)
    sp = _scipy_special(xp)
    if sp is None:
        return _finish(xp, _vectorised(_lgamma_or_pole, xf), x)
    r = sp.gammaln(xf)
    return _finish(xp, xp.where(xf == -math.inf, math.inf, r), x)  # scipy: -inf there


@lgamma_op.def_grad
def _(ctx, g):
    return (g * apply(digamma_op, ctx.inputs[0]),)


@defop("digamma", UNARY, dtype_rule="float", save=("inputs",),
       doc="d/dx lgamma(x); -inf at +0, NaN at the negative integers")
def digamma_op(xp, x):
    xf = _opmath(x)
    return _finish(xp, _require_scipy(xp, "digamma", "psi").psi(xf), x)


@digamma_op.def_grad
def _(ctx, g):
    return (g * apply(polygamma_op, ctx.inputs[0], n=1),)


@defop("polygamma", UNARY, dtype_rule="float", save=("inputs",),
       doc="n-th derivative of digamma (n >= 1; n = 0 is digamma)")
def polygamma_op(xp, x, n=1):
    xf = _opmath(x)
    sp = _require_scipy(xp, "polygamma", "polygamma")
    if n == 0:
        return _finish(xp, sp.psi(xf), x)
    # scipy gives +-inf at the poles (PyTorch a huge finite number from pi / sin(pi x)), and a
    # limit of 0 at +inf; -inf has none (the poles accumulate there): NaN, as in PyTorch.
    r = sp.polygamma(xp.asarray(n), xf)     # (cupyx's polygamma takes only an array n)
    return _finish(xp, xp.where(xf == -math.inf, math.nan, r), x)


@polygamma_op.def_grad
def _(ctx, g):
    return (g * apply(polygamma_op, ctx.inputs[0], n=ctx.attrs["n"] + 1),)


@defop("xlogy", BINARY, dtype_rule="float", save=("inputs",),
       doc="input * log(other), 0 where input == 0 unless other is NaN")
def xlogy_op(xp, a, b):
    r = xp.asarray(xp.multiply(a, xp.log(b)))
    zero = xp.logical_and(xp.equal(a, 0), xp.logical_not(xp.isnan(b)))
    return xp.where(zero, xp.zeros((), r.dtype), r)


@xlogy_op.def_grad
def _(ctx, g):
    # PyTorch's rule: d/da = xlogy(g, b), 0 where a == 0 and b <= 0 (where log b is -inf or
    # NaN); d/db = g * a / b (NaN at a == b == 0).
    a, b = ctx.inputs
    ga = gb = None
    if _needs(a):
        ga = apply(xlogy_op, g, b)
        if isinstance(b, Tensor):
            ga = where((a == 0) & (b <= 0), 0.0, ga)
        elif b <= 0:
            ga = where(a == 0, 0.0, ga)
    if _needs(b):
        gb = g * a / b
    return ga, gb


_use_bf16_opmath(__name__)


# ----------------------------------------------------------------------------------------------
# Public functions of the primitives
# ----------------------------------------------------------------------------------------------

erfc = _unary(erfc_op, "erfc", "Complementary error function 1 - erf(input), accurate for large "
              "input (no cancellation).")
erfinv = _unary(erfinv_op, "erfinv", "Inverse error function: erf(erfinv(x)) = x on [-1, 1] "
                "(+-inf at +-1, NaN outside).")
lgamma = _unary(lgamma_op, "lgamma", "Natural log of the absolute value of the gamma function "
                "(+inf at 0 and the negative integers).")
digamma = _unary(digamma_op, "digamma", "Digamma function, the derivative of lgamma (-inf at "
                 "+0, NaN at the negative integers).")
for _fn in (erfc, erfinv, lgamma, digamma):
    _fn.__module__ = __name__


def _check_n(n) -> None:
    if isinstance(n, bool) or not isinstance(n, int):
        raise TypeError(f"polygamma(): argument 'n' must be int, not {type(n).__name__}")
    if n < 0:
        raise RuntimeError(f"polygamma(n, x) does not support negative n (got n={n})")


def polygamma(n: int, input: Tensor, *, out: Tensor | None = None) -> Tensor:
    """The n-th derivative of the digamma function (n = 0: digamma itself).

    Args:
        n: the order of the derivative, an int >= 0.
        input: the tensor (integers are promoted to the default float dtype).
        out: optional output tensor.

    Example:
        >>> dyngraph.polygamma(1, dyngraph.tensor([1.0]))  # trigamma(1) = pi^2 / 6
        tensor([1.6449])
    """
    _check_n(n)
    r = apply(digamma_op, input) if n == 0 else apply(polygamma_op, input, n=n)
    return write_out(r, out, "polygamma")


@register_method("polygamma")
def _polygamma_method(self, n: int) -> Tensor:
    return polygamma(n, self)


@register_method("polygamma_")
def _polygamma_method_(self, n: int) -> Tensor:
    _check_n(n)
    return inplace(lambda t: polygamma(n, t), self, opname="polygamma_")


def _operand(x, like) -> Tensor:
    """A Python number as a 0-d tensor of the dtype it promotes to with `like`."""
    x = _scalar_or_tensor(x, like)
    if isinstance(x, Tensor):
        return x
    from .creation import full
    return full((), x, dtype=D.result_type(x, like), device=like.device)


def xlogy(input, other, *, out: Tensor | None = None) -> Tensor:
    """input * log(other), with 0 where input == 0 (unless other is NaN), elementwise.

    Args:
        input: a tensor or a number.
        other: a tensor or a number (broadcast against input).
        out: optional output tensor.

    Example:
        >>> dyngraph.xlogy(dyngraph.tensor([0.0, 2.0]), dyngraph.tensor([0.0, 1.0]))
        tensor([0., 0.])
    """
    if not isinstance(input, Tensor):
        if not isinstance(other, Tensor):
            raise TypeError("xlogy(): expected at least one of input and other to be a Tensor, "
                            f"got {type(input).__name__} and {type(other).__name__}")
        input = _operand(input, other)
    return write_out(apply(xlogy_op, input, _scalar_or_tensor(other, input)), out, "xlogy")


register_method_pair("xlogy", xlogy)


# ----------------------------------------------------------------------------------------------
# Composites
# ----------------------------------------------------------------------------------------------

def _need_tensor(op: str, arg: str, pos: int, x) -> None:
    if not isinstance(x, Tensor):
        raise TypeError(f"{op}(): argument '{arg}' (position {pos}) must be Tensor, not "
                        f"{type(x).__name__}; wrap it with dyngraph.tensor(...)")


def _as_float(x: Tensor) -> Tensor:
    """x as a float tensor: integers and bools go to the default float dtype, as in PyTorch."""
    return x if x.dtype.is_floating_point else x.to(D.get_default_dtype())


@composite("isclose", "eq, isnan, sub, abs, mul, add, le, isfinite, logical_or")
def isclose(input: Tensor, other: Tensor, rtol: float = 1e-05, atol: float = 1e-08,
            equal_nan: bool = False) -> Tensor:
    """True where |input - other| <= atol + rtol * |other|, elementwise (a bool tensor).

    As in PyTorch: infinities are close only to the same infinity, NaN is close to nothing unless
    `equal_nan`, integer and bool tensors are compared exactly when rtol = atol = 0 and else in
    the default float dtype, and both tensors must have the same dtype.

    Args:
        input: a tensor.
        other: a tensor of the same dtype (broadcast against input).
        rtol: relative tolerance (>= 0).
        atol: absolute tolerance (>= 0).
        equal_nan: whether two NaNs are close.

    Example:
        >>> dyngraph.isclose(dyngraph.tensor([1.0, float("nan")]),
        ...                  dyngraph.tensor([1.0 + 1e-9, float("nan")]))
        tensor([ True, False])
    """
    _need_tensor("isclose", "input", 1, input)
    _need_tensor("isclose", "other", 2, other)
    if input.dtype is not other.dtype:
        raise RuntimeError(
            f"isclose: input and other must have the same dtype, got {input.dtype.name} and "
            f"{other.dtype.name}; convert one first, e.g. other.to(input.dtype)")
    for name, tol in (("rtol", rtol), ("atol", atol)):
        if tol < 0:
            raise RuntimeError(f"isclose: {name} must be greater than or equal to zero, "
                               f"but got {tol}")
    close = input == other  # exact matches, infinities of the same sign included
    if equal_nan and input.dtype.is_floating_point:
        close = close | (input.isnan() & other.isnan())
    if rtol == 0 and atol == 0:
        return close
    # integers and bools are compared in the default float dtype, as in PyTorch (no unsigned
    # wrap-around in the difference; large int64 values round)
    a, b = _as_float(input), _as_float(other)
    allowed = atol + (rtol * b).abs()
    actual = (a - b).abs()
    return close | (actual.isfinite() & (actual <= allowed))


@composite("allclose", "isclose, all")
def allclose(input: Tensor, other: Tensor, rtol: float = 1e-05, atol: float = 1e-08,
             equal_nan: bool = False) -> bool:
    """Whether every element of input is close to other's (see `isclose`), as a Python bool.

    Example:
        >>> dyngraph.allclose(dyngraph.tensor([1.0, 2.0]), dyngraph.tensor([1.0, 2.0 + 1e-7]))
        True
    """
    return bool(isclose(input, other, rtol, atol, equal_nan).all())


@register_method("isclose")
def _isclose_method(self, other, rtol: float = 1e-05, atol: float = 1e-08,
                    equal_nan: bool = False) -> Tensor:
    return isclose(self, other, rtol, atol, equal_nan)


@register_method("allclose")
def _allclose_method(self, other, rtol: float = 1e-05, atol: float = 1e-08,
                     equal_nan: bool = False) -> bool:
    return allclose(self, other, rtol, atol, equal_nan)


@composite("logit", "where (eps), log, log1p, sub")
def logit(input: Tensor, eps: float | None = None, *, out: Tensor | None = None) -> Tensor:
    """log(p / (1 - p)), the inverse of sigmoid, elementwise.

    With `eps`, input is first clamped to [eps, 1 - eps] (in PyTorch's order: below eps gives
    eps, then above 1 - eps gives 1 - eps) and the gradient is 0 outside that range.

    It is computed as log(p) - log1p(-p): the gradient is 1/p + 1/(1 - p), +inf at 0 and 1 as in
    PyTorch. Outside [0, 1] the value is NaN and the gradient is that formula's (finite) value,
    where PyTorch's is NaN.

    Args:
        input: probabilities (integers are promoted to the default float dtype).
        eps: optional clamp margin.
        out: optional output tensor.

    Example:
        >>> dyngraph.logit(dyngraph.tensor([0.5, 0.0]), eps=0.25)
        tensor([ 0.0000, -1.0986])
    """
    p = _as_float(input)
    if eps is not None:
        lo, hi = float(eps), 1.0 - float(eps)
        p = where(p < lo, lo, where(p > hi, hi, p))
    return write_out(p.log() - (-p).log1p(), out, "logit")


register_method_pair("logit", logit)


@composite("ndtr", "erfc, mul")
def ndtr(input: Tensor, *, out: Tensor | None = None) -> Tensor:
    """The standard normal CDF, (1 + erf(x / sqrt 2)) / 2, via erfc (accurate in the low tail).

    Example:
        >>> dyngraph.ndtr(dyngraph.tensor([0.0]))
        tensor([0.5000])
    """
    return write_out(erfc(input * -math.sqrt(0.5)) * 0.5, out, "ndtr")


def _nan_ignoring(name: str, keep_input):
    """fmax/fmin: where(keep_input(a, b) | isnan(b), a, b). The gradient goes to input where it
    is kept (ties included), to other elsewhere, as in PyTorch."""
    def fn(input: Tensor, other, *, out: Tensor | None = None) -> Tensor:
        _need_tensor(name, "input", 1, input)
        other = _scalar_or_tensor(other, input)
        b_nan = other.isnan() if isinstance(other, Tensor) else math.isnan(other)
        return write_out(where(keep_input(input, other) | b_nan, input, other), out, name)

    def method(self, other) -> Tensor:
        return fn(self, other)
    fn.__name__ = fn.__qualname__ = method.__name__ = name
    setattr(Tensor, name, method)
    return composite(name, "ge/le, isnan, where")(fn)


fmax = _nan_ignoring("fmax", lambda a, b: a >= b)
fmin = _nan_ignoring("fmin", lambda a, b: a <= b)
fmax.__doc__ = """Elementwise maximum that ignores NaN: where one side is NaN, the other side.

    Args:
        input: a tensor.
        other: a tensor or a number (broadcast against input).
        out: optional output tensor.

    Example:
        >>> nan = float("nan")
        >>> dyngraph.fmax(dyngraph.tensor([1.0, nan]), dyngraph.tensor([nan, 2.0]))
        tensor([1., 2.])
    """
fmin.__doc__ = fmax.__doc__.replace("maximum", "minimum").replace("dyngraph.fmax",
                                                                    "dyngraph.fmin")


@composite("heaviside", "eq, gt, where")
def heaviside(input: Tensor, values: Tensor, *, out: Tensor | None = None) -> Tensor:
    """The Heaviside step: 0 where input < 0, `values` where input == 0, 1 where input > 0
    (0 for NaN input, as in PyTorch).

    PyTorch has no derivative for it; here the gradient is 0 for input (piecewise constant)
    and flows to `values` where input == 0.

    Args:
        input: a tensor.
        values: a tensor of the same dtype (broadcast against input).
        out: optional output tensor.

    Example:
        >>> dyngraph.heaviside(dyngraph.tensor([-1.0, 0.0, 2.0]), dyngraph.tensor([0.5]))
        tensor([0.0000, 0.5000, 1.0000])
    """
    _need_tensor("heaviside", "input", 1, input)
    _need_tensor("heaviside", "values", 2, values)
    if input.dtype is not values.dtype:
        raise RuntimeError(
            f"heaviside: input and values must have the same dtype, got {input.dtype.name} and "
            f"{values.dtype.name}; convert one first, e.g. values.to(input.dtype)")
    return write_out(where(input == 0, values, (input > 0).to(input.dtype)), out, "heaviside")


register_method_pair("heaviside", heaviside)


@composite("logaddexp2", "mul, logaddexp, div")
def logaddexp2(input: Tensor, other, *, out: Tensor | None = None) -> Tensor:
    """log2(2**input + 2**other), computed stably (logaddexp on inputs scaled by ln 2).

    Args:
        input: a float tensor.
        other: a float tensor or a number (broadcast against input).
        out: optional output tensor.

    Example:
        >>> dyngraph.logaddexp2(dyngraph.tensor([1.0]), dyngraph.tensor([1.0]))
        tensor([2.])
    """
    _need_tensor("logaddexp2", "input", 1, input)
    other = _scalar_or_tensor(other, input)
    dt = D.result_type(input, other)
    if not dt.is_floating_point:
        raise RuntimeError(f"logaddexp2: not implemented for {dt.name} tensors; convert to a "
                           "float dtype first, e.g. input.float()")
    b = other * _LN2 if isinstance(other, Tensor) else _operand(other * _LN2, input)
    return write_out(logaddexp(input * _LN2, b) / _LN2, out, "logaddexp2")


@register_method("logaddexp2")
def _logaddexp2_method(self, other) -> Tensor:
    return logaddexp2(self, other)


@composite("sinc", "mul, sin, div, where")
def sinc(input: Tensor, *, out: Tensor | None = None) -> Tensor:
    """The normalized sinc, sin(pi x) / (pi x), with sinc(0) = 1 (gradient 0 there).

    Example:
        >>> dyngraph.sinc(dyngraph.tensor([0.0, 0.5]))
        tensor([1.0000, 0.6366])
    """
    x = _as_float(input)
    at0 = x == 0
    # a safe argument at 0: 0/0 there would poison the gradient through where
    px = where(at0, 1.0, x * math.pi)
    return write_out(where(at0, 1.0, px.sin() / px), out, "sinc")


register_method_pair("sinc", sinc)


@composite("isposinf", "eq")
def isposinf(input: Tensor, *, out: Tensor | None = None) -> Tensor:
    """True where input is +inf (never for integer or bool tensors).

    Example:
        >>> dyngraph.isposinf(dyngraph.tensor([1.0, float("inf"), -float("inf")]))
        tensor([False,  True, False])
    """
    return write_out(input == math.inf, out, "isposinf")


@composite("isneginf", "eq")
def isneginf(input: Tensor, *, out: Tensor | None = None) -> Tensor:
    """True where input is -inf (never for integer or bool tensors).

    Example:
        >>> dyngraph.isneginf(dyngraph.tensor([1.0, float("inf"), -float("inf")]))
        tensor([False, False,  True])
    """
    return write_out(input == -math.inf, out, "isneginf")


@composite("isreal", "ones_like")
def isreal(input: Tensor) -> Tensor:
    """True where input has no imaginary part: everywhere, as dyngraph has no complex dtypes.

    Example:
        >>> dyngraph.isreal(dyngraph.tensor([1.0, 2.0]))
        tensor([True, True])
    """
    _need_tensor("isreal", "input", 1, input)
    from .creation import ones_like
    return ones_like(input, dtype=D.bool_)




@register_method("isposinf")
def _isposinf_method(self) -> Tensor:
    return isposinf(self)


@register_method("isneginf")
def _isneginf_method(self) -> Tensor:
    return isneginf(self)


@register_method("isreal")
def _isreal_method(self) -> Tensor:
    return isreal(self)
