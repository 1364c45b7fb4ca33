"""Unary elementwise primitives (neg, exp, log, trigonometry, rounding, predicates, cast) and
their public functions and Tensor methods (each with its in-place `_` variant).

Most float ops are one ufunc plus a gradient that reads the input or the output; they are listed
in one table (`_float_unary`). Ops with their own eager rule are written out.
"""

from __future__ import annotations

import math

import numpy as np

from ... import _dtype as D
from .._api import Tensor, apply, inplace, register_method, write_out
from ..registry import OpKind, defop, nondiff
from ._common import _no_bool, _zero_grad

UNARY = OpKind.UNARY


def _float_unary(name: str, ufunc_name: str, save: str, grad, doc: str = ""):
    """Define a float op computed by one ufunc, whose gradient `grad(g, saved)` reads the saved
    input (save="inputs") or output (save="output")."""
    def rule(xp, x):
        return getattr(xp, ufunc_name)(x)
    rule.__name__ = rule.__qualname__ = f"{name}_op"
    op = defop(name, UNARY, dtype_rule="float", save=(save,), doc=doc)(rule)
    if save == "output":
        op.def_grad(lambda ctx, g: (grad(g, ctx.out),))
    else:
        op.def_grad(lambda ctx, g: (grad(g, ctx.inputs[0]),))
    return op


@defop("neg", UNARY, dtype_rule="same")
def neg_op(xp, x):
    if x.dtype == np.bool_:
        raise RuntimeError("neg: negation, the `-` operator, on a bool tensor is not supported. "
                           "If you are trying to invert a mask, use the `~` or logical_not() "
                           "operator instead.")
    return xp.negative(x)


@neg_op.def_grad
def _(ctx, g):
    return (-g,)


@defop("abs", UNARY, dtype_rule="same", save=("inputs",))
def abs_op(xp, x):
    _no_bool("abs", x)
    return xp.abs(x)


@abs_op.def_grad
def _(ctx, g):
    (x,) = ctx.inputs
    return (g * x.sign(),)


@defop("sign", UNARY, dtype_rule="same")
def sign_op(xp, x):
    if x.dtype == np.bool_:
        return x.copy()
    if x.dtype.kind in "iu":
        return xp.sign(x)
    return xp.where(xp.isnan(x), 0, xp.sign(x)).astype(x.dtype, copy=False)  # sign(nan) == 0


sign_op.def_grad(lambda ctx, g: _zero_grad(ctx, g))


@nondiff("signbit", UNARY, "boolean output", dtype_rule="bool")
def signbit_op(xp, x):
    return xp.signbit(x) if x.dtype != np.bool_ else xp.zeros(x.shape, dtype=np.bool_)


_LN2, _LN10 = math.log(2.0), math.log(10.0)

exp_op = _float_unary("exp", "exp", "output", lambda g, y: g * y)
exp2_op = _float_unary("exp2", "exp2", "output", lambda g, y: g * y * _LN2)
expm1_op = _float_unary("expm1", "expm1", "output", lambda g, y: g * (y + 1))
log_op = _float_unary("log", "log", "inputs", lambda g, x: g / x)
log2_op = _float_unary("log2", "log2", "inputs", lambda g, x: g / (x * _LN2))
log1p_op = _float_unary("log1p", "log1p", "inputs", lambda g, x: g / (x + 1))
log10_op = _float_unary("log10", "log10", "inputs", lambda g, x: g / (x * _LN10))
reciprocal_op = _float_unary("reciprocal", "reciprocal", "output", lambda g, y: -g * y * y)
sqrt_op = _float_unary("sqrt", "sqrt", "output", lambda g, y: g / (2 * y))


@defop("rsqrt", UNARY, dtype_rule="float", save=("output",))
def rsqrt_op(xp, x):
    if x.dtype.itemsize < 4:  # one rounding, as PyTorch computes half precision in float32
        return (1 / xp.sqrt(x.astype(np.float32))).astype(x.dtype)
    return 1 / xp.sqrt(x)


@rsqrt_op.def_grad
def _(ctx, g):
    y = ctx.out
    return (g * -0.5 * y * y * y,)


sin_op = _float_unary("sin", "sin", "inputs", lambda g, x: g * x.cos())
cos_op = _float_unary("cos", "cos", "inputs", lambda g, x: -g * x.sin())
tan_op = _float_unary("tan", "tan", "output", lambda g, y: g * (1 + y * y))
sinh_op = _float_unary("sinh", "sinh", "inputs", lambda g, x: g * x.cosh(), "hyperbolic sine")
cosh_op = _float_unary("cosh", "cosh", "inputs", lambda g, x: g * x.sinh(), "hyperbolic cosine")
asin_op = _float_unary("asin", "arcsin", "inputs", lambda g, x: g * (1 - x * x).rsqrt(),
                       "inverse sine")
acos_op = _float_unary("acos", "arccos", "inputs", lambda g, x: g * -(1 - x * x).rsqrt(),
                       "inverse cosine")
atan_op = _float_unary("atan", "arctan", "inputs", lambda g, x: g * (1 + x * x).reciprocal(),
                       "inverse tangent")
asinh_op = _float_unary("asinh", "arcsinh", "inputs", lambda g, x: g * (x * x + 1).rsqrt(),
                        "inverse sinh")
acosh_op = _float_unary("acosh", "arccosh", "inputs", lambda g, x: g * (x * x - 1).rsqrt(),
                        "inverse cosh")
atanh_op = _float_unary("atanh", "arctanh", "inputs", lambda g, x: g * (1 - x * x).reciprocal(),
                        "inverse tanh")
tanh_op = _float_unary("tanh", "tanh", "output", lambda g, y: g * (1 - y * y))


@defop("sigmoid", UNARY, dtype_rule="float", save=("output",))
def sigmoid_op(xp, x):
    # PyTorch's form 1 / (1 + exp(-x)), in place in one buffer: exp overflowing to inf for very
    # negative x gives exactly 0 (rules run in numpy's quiet error state, dyngraph/_fpstate.py),
    # and its relative error is that of exp(-|x|) / (1 + exp(-|x|)). Half precision is computed
    # in float32 and rounded once, as PyTorch does.
    xf = x.astype(np.float32) if x.dtype.itemsize < 4 else x
    out = xp.negative(xf, out=xp.empty_like(xf))      # (a 0-d result stays an array)
    xp.exp(out, out=out)
    out += 1
    xp.reciprocal(out, out=out)
    return out.astype(x.dtype, copy=False)


@sigmoid_op.def_grad
def _(ctx, g):
    y = ctx.out
    return (g * y * (1 - y),)


@defop("relu", UNARY, dtype_rule="same", save=("output",))
def relu_op(xp, x):
    if x.dtype == np.bool_:
        raise RuntimeError("relu: bool inputs are not supported; convert first, e.g. x.float()")
    return xp.maximum(x, 0).astype(x.dtype, copy=False)


@relu_op.def_grad
def _(ctx, g):
    # the mask out > 0 (NaN -> 0, as PyTorch's threshold_backward): one comparison pass into a
    # bool array that the multiply reads (4x faster than sign(out), whose NaN handling takes
    # three passes, on the hottest gradient of most networks)
    return (g * (ctx.out > 0),)


@defop("erf", UNARY, dtype_rule="float", save=("inputs",))
def erf_op(xp, x):
    return _erf(xp, x)


@erf_op.def_grad
def _(ctx, g):
    x = ctx.inputs[0]
    return (g * (2 / math.sqrt(math.pi)) * (-(x * x)).exp(),)


def _erf(xp, x):
    if xp is not np:
        import cupyx.scipy.special as sp
        return sp.erf(x)
    try:
        from scipy.special import erf
        return erf(x).astype(x.dtype, copy=False)
    except ImportError:  # scipy is optional: vectorised math.erf, exact to double rounding
        return np.vectorize(math.erf, otypes=[x.dtype])(x)


def _rounding(name: str, ufunc_name: str):
    """floor/ceil/trunc: integers pass through unchanged; the gradient is zero."""
    def rule(xp, x):
        _no_bool(name, x)
        return x.copy() if x.dtype.kind in "iu" else getattr(xp, ufunc_name)(x)
    rule.__name__ = rule.__qualname__ = f"{name}_op"
    return defop(name, UNARY, dtype_rule="same")(rule)


floor_op = _rounding("floor", "floor")
ceil_op = _rounding("ceil", "ceil")
trunc_op = _rounding("trunc", "trunc")


@defop("round", UNARY, dtype_rule="same")
def round_op(xp, x, decimals=0):
    # numpy, like PyTorch, rounds half to even.
    _no_bool("round", x)
    return x.copy() if x.dtype.kind in "iu" else xp.round(x, decimals)


for _op in (floor_op, ceil_op, trunc_op, round_op):
    _op.def_grad(_zero_grad)


def _predicate(name: str, ufunc_name: str):
    """isnan/isinf/isfinite: a boolean result, no gradient."""
    def rule(xp, x):
        return getattr(xp, ufunc_name)(x)
    rule.__name__ = rule.__qualname__ = f"{name}_op"
    return nondiff(name, UNARY, "boolean output", dtype_rule="bool")(rule)


isnan_op = _predicate("isnan", "isnan")
isinf_op = _predicate("isinf", "isinf")
isfinite_op = _predicate("isfinite", "isfinite")


@nondiff("logical_not", UNARY, "boolean output", dtype_rule="none")
def logical_not_op(xp, x):
    return xp.logical_not(x)


@nondiff("bitwise_not", UNARY, "integer output", dtype_rule="same")
def bitwise_not_op(xp, x):
    if x.dtype.kind not in "biu":
        raise TypeError("bitwise_not: not implemented for floating-point tensors")
    return xp.invert(x)


@defop("nan_to_num", UNARY, dtype_rule="same", save=("inputs",))
def nan_to_num_op(xp, x, nan=0.0, posinf=None, neginf=None):
    if x.dtype.name == "bfloat16":  # numpy's nan_to_num does not know ml_dtypes' bfloat16
        import ml_dtypes
        big = float(ml_dtypes.finfo(x.dtype).max)
        return xp.nan_to_num(x.astype(np.float32), nan=nan,
                             posinf=big if posinf is None else posinf,
                             neginf=-big if neginf is None else neginf).astype(x.dtype)
    return xp.nan_to_num(x, nan=nan, posinf=posinf, neginf=neginf)


@nan_to_num_op.def_grad
def _(ctx, g):
    return (g * ctx.inputs[0].isfinite(),)


@defop("cast", UNARY, dtype_rule="none", save=())
def cast_op(xp, x, dtype):
    return x.astype(dtype.np)


@cast_op.def_grad
def _(ctx, g):
    return (g.to(ctx.input_dtype(0)),)


# ----------------------------------------------------------------------------------------------
# Public functions and Tensor methods
# ----------------------------------------------------------------------------------------------

def _unary(op, name: str, doc: str):
    """The public function `name(input, *, out=None)` of a unary op, and its Tensor methods."""
    def fn(input, *, out=None):
        return write_out(apply(op, input), out, name)

    def method(self):
        return apply(op, self)

    def method_(self):
        return inplace(lambda t: apply(op, t), self, opname=name + "_")

    fn.__name__ = method.__name__ = name
    fn.__qualname__ = name
    fn.__doc__ = (f"{doc}\n\n    Args:\n        input: the tensor.\n"
                  "        out: optional output tensor.")
    method.__doc__ = doc
    method_.__name__ = name + "_"
    method_.__doc__ = f"In-place version of :meth:`{name}`."
    setattr(Tensor, name, method)
    setattr(Tensor, name + "_", method_)
    return fn


neg = _unary(neg_op, "neg", "Negation, elementwise: -input.")
negative = neg
Tensor.negative = Tensor.neg
Tensor.negative_ = Tensor.neg_
abs = _unary(abs_op, "abs", "Absolute value, elementwise.")  # noqa: A001 - PyTorch's name
absolute = abs
Tensor.absolute, Tensor.absolute_ = Tensor.abs, Tensor.abs_
sign = _unary(sign_op, "sign", "Sign (-1, 0 or 1), elementwise.")
exp = _unary(exp_op, "exp", "e**input, elementwise.")
exp2 = _unary(exp2_op, "exp2", "2**input, elementwise.")
expm1 = _unary(expm1_op, "expm1", "exp(input) - 1, accurate near 0.")
log = _unary(log_op, "log", "Natural logarithm, elementwise.")
log2 = _unary(log2_op, "log2", "Base-2 logarithm, elementwise.")
log1p = _unary(log1p_op, "log1p", "log(1 + input), accurate near 0.")
sqrt = _unary(sqrt_op, "sqrt", "Square root, elementwise.")
rsqrt = _unary(rsqrt_op, "rsqrt", "1 / sqrt(input), elementwise.")
sin = _unary(sin_op, "sin", "Sine, elementwise.")
cos = _unary(cos_op, "cos", "Cosine, elementwise.")
tan = _unary(tan_op, "tan", "Tangent, elementwise.")
tanh = _unary(tanh_op, "tanh", "Hyperbolic tangent, elementwise.")
sigmoid = _unary(sigmoid_op, "sigmoid", "Logistic sigmoid 1 / (1 + exp(-input)), elementwise.")
relu = _unary(relu_op, "relu", "max(input, 0), elementwise.")
erf = _unary(erf_op, "erf", "The error function, elementwise.")
floor = _unary(floor_op, "floor", "Largest integer <= input, elementwise.")
ceil = _unary(ceil_op, "ceil", "Smallest integer >= input, elementwise.")
trunc = _unary(trunc_op, "trunc", "Round toward zero, elementwise.")
fix = trunc
Tensor.fix, Tensor.fix_ = Tensor.trunc, Tensor.trunc_
isnan = _unary(isnan_op, "isnan", "True where input is NaN.")
isinf = _unary(isinf_op, "isinf", "True where input is +-inf.")
isfinite = _unary(isfinite_op, "isfinite", "True where input is neither inf nor NaN.")
logical_not = _unary(logical_not_op, "logical_not", "Logical NOT, elementwise (bool result).")
bitwise_not = _unary(bitwise_not_op, "bitwise_not", "Bitwise NOT of integer or bool tensors.")
signbit = _unary(signbit_op, "signbit", "True where the sign bit is set (negative, -0.0).")
log10 = _unary(log10_op, "log10", "Base-10 logarithm, elementwise.")
reciprocal = _unary(reciprocal_op, "reciprocal", "1 / input, elementwise (integers give floats).")
sinh = _unary(sinh_op, "sinh", "Hyperbolic sine, elementwise.")
cosh = _unary(cosh_op, "cosh", "Hyperbolic cosine, elementwise.")
asin = _unary(asin_op, "asin", "Inverse sine (NaN outside [-1, 1]), elementwise.")
acos = _unary(acos_op, "acos", "Inverse cosine (NaN outside [-1, 1]), elementwise.")
atan = _unary(atan_op, "atan", "Inverse tangent, elementwise.")
asinh = _unary(asinh_op, "asinh", "Inverse hyperbolic sine, elementwise.")
acosh = _unary(acosh_op, "acosh", "Inverse hyperbolic cosine (NaN below 1), elementwise.")
atanh = _unary(atanh_op, "atanh", "Inverse hyperbolic tangent (NaN outside [-1, 1]).")
arcsin, arccos, arctan, arcsinh, arccosh, arctanh = asin, acos, atan, asinh, acosh, atanh
for _n in ("asin", "acos", "atan", "asinh", "acosh", "atanh"):
    setattr(Tensor, "arc" + _n[1:], getattr(Tensor, _n))
    setattr(Tensor, "arc" + _n[1:] + "_", getattr(Tensor, _n + "_"))
sgn = sign
Tensor.sgn, Tensor.sgn_ = Tensor.sign, Tensor.sign_
for _n in ("isnan_", "isinf_", "isfinite_", "signbit_"):
    delattr(Tensor, _n)


def round(input, *, decimals: int = 0, out=None):  # noqa: A001 - PyTorch's name
    """Round half to even, elementwise, optionally to `decimals` decimal places."""
    return write_out(apply(round_op, input, decimals=decimals), out, "round")


@register_method("round")
def _round_method(self, decimals: int = 0):
    return apply(round_op, self, decimals=decimals)


@register_method("round_")
def _round_method_(self, decimals: int = 0):
    return inplace(lambda t: apply(round_op, t, decimals=decimals), self, opname="round_")


def nan_to_num(input, nan: float = 0.0, posinf=None, neginf=None, *, out=None):
    """Replace NaN, +inf and -inf with finite numbers (defaults: 0 and the dtype's extremes)."""
    return write_out(apply(nan_to_num_op, input, nan=nan, posinf=posinf, neginf=neginf), out,
                     "nan_to_num")


@register_method("nan_to_num")
def _nan_to_num_method(self, nan=0.0, posinf=None, neginf=None):
    return nan_to_num(self, nan, posinf, neginf)


@register_method("nan_to_num_")
def _nan_to_num_method_(self, nan=0.0, posinf=None, neginf=None):
    return inplace(nan_to_num, self, nan, posinf, neginf, opname="nan_to_num_")


def cast(input: Tensor, dtype) -> Tensor:
    """Convert to `dtype` (differentiable between float dtypes)."""
    dtype = D.to_dtype(dtype)
    if input.dtype is dtype:
        return input
    return apply(cast_op, input, dtype=dtype)


__all__ = [_n for _n, _v in list(globals().items())
           if not _n.startswith("_") and callable(_v) and getattr(_v, "__module__", "") == __name__]
