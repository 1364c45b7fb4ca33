"""Elementwise primitives: unary math, binary arithmetic and comparisons, where/clamp.

Each op's eager rule, dtype rule and gradient rule sit together. Gradient rules use dyngraph ops
(`g * ctx.out`), so they work for eager autograd, traced backward graphs and double backward.
The engine reduces gradients to broadcast input shapes, so binary rules return full-size grads.
"""

from __future__ import annotations

import math

import numpy as np

from .. import _dtype as D
from .registry import OPS, OpKind, defop, nondiff

UNARY, BINARY, TERNARY = OpKind.UNARY, OpKind.BINARY, OpKind.TERNARY


def _errstate(fn):
    """Run a numpy rule without floating-point warnings (inf/nan results are the answer)."""
    def wrapped(xp, *a, **k):
        if xp is np:
            with np.errstate(all="ignore"):
                return fn(xp, *a, **k)
        return fn(xp, *a, **k)
    wrapped.__name__ = fn.__name__
    wrapped.__doc__ = fn.__doc__
    return wrapped


# ----------------------------------------------------------------------------------------------
# Unary
# ----------------------------------------------------------------------------------------------

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


@defop("exp", UNARY, dtype_rule="float", save=("output",))
@_errstate
def exp_op(xp, x):
    return xp.exp(x)


@exp_op.def_grad
def _(ctx, g):
    return (g * ctx.out,)


@defop("exp2", UNARY, dtype_rule="float", save=("output",))
@_errstate
def exp2_op(xp, x):
    return xp.exp2(x)


@exp2_op.def_grad
def _(ctx, g):
    return (g * ctx.out * math.log(2.0),)


@defop("expm1", UNARY, dtype_rule="float", save=("output",))
@_errstate
def expm1_op(xp, x):
    return xp.expm1(x)


@expm1_op.def_grad
def _(ctx, g):
    return (g * (ctx.out + 1),)


@defop("log", UNARY, dtype_rule="float", save=("inputs",))
@_errstate
def log_op(xp, x):
    return xp.log(x)


@log_op.def_grad
def _(ctx, g):
    return (g / ctx.inputs[0],)


@defop("log2", UNARY, dtype_rule="float", save=("inputs",))
@_errstate
def log2_op(xp, x):
    return xp.log2(x)


@log2_op.def_grad
def _(ctx, g):
    return (g / (ctx.inputs[0] * math.log(2.0)),)


@defop("log1p", UNARY, dtype_rule="float", save=("inputs",))
@_errstate
def log1p_op(xp, x):
    return xp.log1p(x)


@log1p_op.def_grad
def _(ctx, g):
    return (g / (ctx.inputs[0] + 1),)


@defop("log10", UNARY, dtype_rule="float", save=("inputs",))
@_errstate
def log10_op(xp, x):
    return xp.log10(x)


@log10_op.def_grad
def _(ctx, g):
    return (g / (ctx.inputs[0] * math.log(10.0)),)


@defop("reciprocal", UNARY, dtype_rule="float", save=("output",))
@_errstate
def reciprocal_op(xp, x):
    return xp.reciprocal(x)


@reciprocal_op.def_grad
def _(ctx, g):
    y = ctx.out
    return (-g * y * y,)


@defop("sqrt", UNARY, dtype_rule="float", save=("output",))
@_errstate
def sqrt_op(xp, x):
    return xp.sqrt(x)


@sqrt_op.def_grad
def _(ctx, g):
    return (g / (2 * ctx.out),)


@defop("rsqrt", UNARY, dtype_rule="float", save=("output",))
@_errstate
def rsqrt_op(xp, x):
    if x.dtype.itemsize < 4:  # one rounding, as PyTorch computes half precision in float32
        return (1 / xp.sqrt(x.astype(np.float32))).astype(x.dtype)
    return 1 / xp.sqrt(x)


@rsqrt_op.def_grad
def _(ctx, g):
    y = ctx.out
    return (g * -0.5 * y * y * y,)


@defop("sin", UNARY, dtype_rule="float", save=("inputs",))
@_errstate
def sin_op(xp, x):
    return xp.sin(x)


@sin_op.def_grad
def _(ctx, g):
    return (g * ctx.inputs[0].cos(),)


@defop("cos", UNARY, dtype_rule="float", save=("inputs",))
@_errstate
def cos_op(xp, x):
    return xp.cos(x)


@cos_op.def_grad
def _(ctx, g):
    return (-g * ctx.inputs[0].sin(),)


@defop("tan", UNARY, dtype_rule="float", save=("output",))
@_errstate
def tan_op(xp, x):
    return xp.tan(x)


@tan_op.def_grad
def _(ctx, g):
    y = ctx.out
    return (g * (1 + y * y),)


def _analytic_unary(name, ufunc_name, grad_of_x, doc):
    """A float unary op whose derivative is a function of its input (sinh, asin, ...)."""
    @defop(name, UNARY, dtype_rule="float", save=("inputs",), doc=doc)
    @_errstate
    def rule(xp, x):
        return getattr(xp, ufunc_name)(x)

    @rule.def_grad
    def _(ctx, g):
        return (g * grad_of_x(ctx.inputs[0]),)
    return rule


sinh_op = _analytic_unary("sinh", "sinh", lambda x: x.cosh(), "hyperbolic sine")
cosh_op = _analytic_unary("cosh", "cosh", lambda x: x.sinh(), "hyperbolic cosine")
asin_op = _analytic_unary("asin", "arcsin", lambda x: (1 - x * x).rsqrt(), "inverse sine")
acos_op = _analytic_unary("acos", "arccos", lambda x: -(1 - x * x).rsqrt(), "inverse cosine")
atan_op = _analytic_unary("atan", "arctan", lambda x: (1 + x * x).reciprocal(), "inverse tangent")
asinh_op = _analytic_unary("asinh", "arcsinh", lambda x: (x * x + 1).rsqrt(), "inverse sinh")
acosh_op = _analytic_unary("acosh", "arccosh", lambda x: (x * x - 1).rsqrt(), "inverse cosh")
atanh_op = _analytic_unary("atanh", "arctanh", lambda x: (1 - x * x).reciprocal(), "inverse tanh")


@defop("tanh", UNARY, dtype_rule="float", save=("output",))
@_errstate
def tanh_op(xp, x):
    return xp.tanh(x)


@tanh_op.def_grad
def _(ctx, g):
    y = ctx.out
    return (g * (1 - y * y),)


@defop("sigmoid", UNARY, dtype_rule="float", save=("output",))
@_errstate
def sigmoid_op(xp, x):
    # exp(-|x|) never overflows; pick the form that is exact on each side. Half precision is
    # computed in float32 and rounded once, as PyTorch does.
    xf = x.astype(np.float32) if x.dtype.itemsize < 4 else x
    e = xp.exp(-xp.abs(xf))
    return xp.where(xf >= 0, 1 / (1 + e), e / (1 + e)).astype(x.dtype, copy=False)


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
    # sign(out) is the 0/1 mask out > 0 (NaN -> 0 as well), kept in g's dtype: one op fewer
    # than a comparison and a cast, on the hottest gradient of most networks.
    return (g * ctx.out.sign(),)


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


def _zero_grad(ctx, g):
    """Piecewise-constant ops: PyTorch records them and gives a zero gradient (not None)."""
    from .creation import zeros_like
    return (zeros_like(g),)


def _no_bool(name, x):
    if x.dtype == np.bool_:
        raise RuntimeError(f"{name}: not implemented for bool tensors; convert first, e.g. "
                           "x.to(dyngraph.uint8)")


@defop("floor", UNARY, dtype_rule="same")
def floor_op(xp, x):
    _no_bool("floor", x)
    return x.copy() if x.dtype.kind in "iu" else xp.floor(x)


@defop("ceil", UNARY, dtype_rule="same")
def ceil_op(xp, x):
    _no_bool("ceil", x)
    return x.copy() if x.dtype.kind in "iu" else xp.ceil(x)


@defop("trunc", UNARY, dtype_rule="same")
def trunc_op(xp, x):
    _no_bool("trunc", x)
    return x.copy() if x.dtype.kind in "iu" else xp.trunc(x)


@defop("round", UNARY, dtype_rule="same")
def round_op(xp, x, decimals=0):
    # numpy, like PyTorch, rounds half to even.
    _no_bool("round", x)
    return x.copy() if x.dtype.kind in "iu" else xp.round(x, decimals)


for _op in (floor_op, ceil_op, trunc_op, round_op):
    _op.def_grad(_zero_grad)


@nondiff("isnan", UNARY, "boolean output", dtype_rule="bool")
def isnan_op(xp, x):
    return xp.isnan(x)


@nondiff("isinf", UNARY, "boolean output", dtype_rule="bool")
def isinf_op(xp, x):
    return xp.isinf(x)


@nondiff("isfinite", UNARY, "boolean output", dtype_rule="bool")
def isfinite_op(xp, x):
    return xp.isfinite(x)


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
# Binary
# ----------------------------------------------------------------------------------------------

@defop("add", BINARY, fast=np.add)
def add_op(xp, a, b):
    return xp.add(a, b)


@add_op.def_grad
def _(ctx, g):
    return g, g


@defop("sub", BINARY, fast=np.subtract)
def sub_op(xp, a, b):
    if getattr(a, "dtype", None) == np.bool_ or getattr(b, "dtype", None) == np.bool_:
        raise RuntimeError("sub: subtraction, the `-` operator, with two bool tensors is not "
                           "supported. Use the `^` or logical_xor() operator instead.")
    return xp.subtract(a, b)


@sub_op.def_grad
def _(ctx, g):
    return g, -g


@defop("mul", BINARY, save=("inputs",), fast=np.multiply)
def mul_op(xp, a, b):
    return xp.multiply(a, b)


@mul_op.def_grad
def _(ctx, g):
    a, b = ctx.inputs
    return g * b, g * a


@defop("div", BINARY, dtype_rule="float", save=("inputs",))
@_errstate
def div_op(xp, a, b):
    return xp.true_divide(a, b)


@div_op.def_grad
def _(ctx, g):
    a, b = ctx.inputs
    gb = None
    if _needs(b):
        gb = -g * a / (b * b)
    return g / b, gb


def _needs(x) -> bool:
    return getattr(x, "_rg", False)


@defop("pow", BINARY, save=("inputs", "output"))
@_errstate
def pow_op(xp, a, b):
    if getattr(a, "dtype", np.dtype("f")).kind in "iub":
        if isinstance(b, int) and not isinstance(b, bool):
            if b < 0:
                raise RuntimeError(
                    f"pow: integers to negative integer powers are not allowed (exponent {b}); "
                    "use a floating-point base, e.g. x.float() ** exponent")
        elif getattr(b, "dtype", np.dtype("f")).kind in "iu" and bool((b < 0).any()):
            # PyTorch's integer pow: a ** -n is 0 except for the bases 1 and -1.
            neg = b < 0
            r = xp.power(a, xp.where(neg, 0, b))
            odd = (b % 2) != 0
            at_neg = xp.where(a == 1, 1, xp.where(a == -1, xp.where(odd, -1, 1), 0))
            return xp.where(neg, at_neg, r).astype(r.dtype, copy=False)
    return xp.power(a, b)


@pow_op.def_grad
def _(ctx, g):
    from . import where
    a, b = ctx.inputs
    ga = gb = None
    if _needs(a):
        if isinstance(b, (int, float)):
            ga = g * b * a ** (b - 1) if b != 0 else g * 0
        else:  # b * a^(b-1), defined as 0 where b == 0 (so 0^0 has gradient 0, as in PyTorch)
            ga = where(b == 0, 0.0, g * b * a ** (b - 1))
    if _needs(b):
        # d/db a^b = a^b log a, defined as 0 where a == 0 and b >= 0 (as in PyTorch); a
        # negative base gives NaN, as it does there.
        gb = where((a == 0) & (b >= 0), 0.0, g * ctx.out * a.log())
    return ga, gb


@defop("maximum", BINARY, save=("inputs",))
def maximum_op(xp, a, b):
    return xp.maximum(a, b)


@maximum_op.def_grad
def _(ctx, g):
    a, b = ctx.inputs
    # Ties share the gradient equally, as in PyTorch.
    wa = (a > b) + (a == b) * 0.5
    return g * wa, g * (1 - wa)


@defop("minimum", BINARY, save=("inputs",))
def minimum_op(xp, a, b):
    return xp.minimum(a, b)


@minimum_op.def_grad
def _(ctx, g):
    a, b = ctx.inputs
    wa = (a < b) + (a == b) * 0.5
    return g * wa, g * (1 - wa)


@defop("fmod", BINARY, save=("inputs",))
@_errstate
def fmod_op(xp, a, b):
    if getattr(a, "dtype", np.dtype("f")).kind in "iu" and _has_zero(xp, b):
        raise RuntimeError("fmod: ZeroDivisionError (integer division by zero)")
    return xp.fmod(a, b)


@fmod_op.def_grad
def _(ctx, g):
    a, b = ctx.inputs
    gb = -g * (a / b).trunc() if _needs(b) else None
    return g, gb


@defop("remainder", BINARY, save=("inputs",))
@_errstate
def remainder_op(xp, a, b):
    if getattr(a, "dtype", np.dtype("f")).kind in "iu" and _has_zero(xp, b):
        raise RuntimeError("remainder: ZeroDivisionError (integer division by zero)")
    return xp.remainder(a, b)


@remainder_op.def_grad
def _(ctx, g):
    a, b = ctx.inputs
    gb = -g * (a / b).floor() if _needs(b) else None
    return g, gb


def _has_zero(xp, b) -> bool:
    if isinstance(b, (int, float)):
        return b == 0
    return bool((b == 0).any())


@nondiff("floor_divide", BINARY, "piecewise constant")
@_errstate
def floor_divide_op(xp, a, b):
    if getattr(a, "dtype", np.dtype("f")).kind in "iu" and _has_zero(xp, b):
        raise RuntimeError("floor_divide: ZeroDivisionError (integer division by zero)")
    return xp.floor_divide(a, b)


@defop("atan2", BINARY, dtype_rule="float", save=("inputs",))
@_errstate
def atan2_op(xp, a, b):
    return xp.arctan2(a, b)


@atan2_op.def_grad
def _(ctx, g):
    a, b = ctx.inputs
    d = a * a + b * b
    return g * b / d, -g * a / d


@defop("hypot", BINARY, dtype_rule="float", save=("inputs", "output"))
@_errstate
def hypot_op(xp, a, b):
    return xp.hypot(a, b)


@hypot_op.def_grad
def _(ctx, g):
    a, b = ctx.inputs
    y = ctx.out
    return g * a / y, g * b / y


@defop("logaddexp", BINARY, dtype_rule="float", save=("inputs", "output"))
@_errstate
def logaddexp_op(xp, a, b):
    return xp.logaddexp(a, b)


@logaddexp_op.def_grad
def _(ctx, g):
    a, b = ctx.inputs
    y = ctx.out
    return g * (a - y).exp(), g * (b - y).exp()


@defop("copysign", BINARY, dtype_rule="float", save=("inputs", "output"))
def copysign_op(xp, a, b):
    return xp.copysign(a, b)


@copysign_op.def_grad
def _(ctx, g):
    # d/da |a| * sign(b) = sign(a) * sign(b) = out / a (0 at a == 0, as in PyTorch); the
    # derivative in b is zero almost everywhere.
    a, b = ctx.inputs
    from . import where
    from .creation import zeros_like
    return where(a == 0, 0.0, ctx.out / a) * g, zeros_like(g) if _needs(b) else None


def _cmp(name, ufunc_name):
    @nondiff(name, BINARY, "boolean output", dtype_rule="bool")
    def rule(xp, a, b):
        return getattr(xp, ufunc_name)(a, b)
    return rule


eq_op = _cmp("eq", "equal")
ne_op = _cmp("ne", "not_equal")
lt_op = _cmp("lt", "less")
le_op = _cmp("le", "less_equal")
gt_op = _cmp("gt", "greater")
ge_op = _cmp("ge", "greater_equal")


@nondiff("logical_and", BINARY, "boolean output", dtype_rule="none")
def logical_and_op(xp, a, b):
    return xp.logical_and(a, b)


@nondiff("logical_or", BINARY, "boolean output", dtype_rule="none")
def logical_or_op(xp, a, b):
    return xp.logical_or(a, b)


@nondiff("logical_xor", BINARY, "boolean output", dtype_rule="none")
def logical_xor_op(xp, a, b):
    return xp.logical_xor(a, b)


def _bitwise(name, ufunc_name):
    @nondiff(name, BINARY, "integer/boolean output")
    def rule(xp, a, b):
        for v in (a, b):
            if isinstance(v, float) or getattr(v, "dtype", np.dtype("i")).kind not in "biu":
                raise TypeError(f"{name}: not implemented for floating-point tensors")
        return getattr(xp, ufunc_name)(a, b)
    return rule


bitwise_and_op = _bitwise("bitwise_and", "bitwise_and")
bitwise_or_op = _bitwise("bitwise_or", "bitwise_or")
bitwise_xor_op = _bitwise("bitwise_xor", "bitwise_xor")
bitwise_left_shift_op = _bitwise("bitwise_left_shift", "left_shift")
bitwise_right_shift_op = _bitwise("bitwise_right_shift", "right_shift")


# ----------------------------------------------------------------------------------------------
# Ternary
# ----------------------------------------------------------------------------------------------

@defop("where", TERNARY, dtype_rule="promote_tail", save=("inputs",))
def where_op(xp, cond, a, b):
    return xp.where(cond, a, b)


@where_op.def_grad
def _(ctx, g):
    cond = ctx.inputs[0]
    zero = g * 0
    from . import where
    return None, where(cond, g, zero), where(cond, zero, g)


@defop("clamp", TERNARY, save=("inputs",))
def clamp_op(xp, x, lo, hi):
    out = x
    if lo is not None:
        out = xp.maximum(out, lo)
    if hi is not None:
        out = xp.minimum(out, hi)
    return out if out is not x else x.copy()


@clamp_op.def_grad
def _(ctx, g):
    x, lo, hi = ctx.inputs
    mask = None
    if lo is not None:
        mask = x >= lo
    if hi is not None:
        m2 = x <= hi
        mask = m2 if mask is None else mask & m2
    gx = g if mask is None else g * mask
    glo = g * (x < lo) if _needs(lo) else None
    ghi = g * (x > hi) if _needs(hi) else None
    return gx, glo, ghi


def _bf16_opmath(fn):
    """Run a binary/ternary rule on bfloat16 arrays in float32 and round the result once.

    ml_dtypes' bfloat16 has no weak Python-float scalars (`bf16_array + 0.5` is float32), and
    PyTorch computes bfloat16 arithmetic in float32 ("opmath") anyway, so this matches it.
    """
    ndarray = np.ndarray

    def wrapped(xp, *args, **kw):
        bf16 = D.bfloat16._np  # None until bfloat16 is first used; cupy has no bfloat16
        if bf16 is None:
            return fn(xp, *args, **kw)
        for a in args:  # (identity checks: this runs on every binary op)
            if type(a) is ndarray and a.dtype is bf16:
                break
        else:
            return fn(xp, *args, **kw)
        args = [a.astype(np.float32) if type(a) is ndarray and a.dtype is bf16 else a
                for a in args]
        out = fn(xp, *args, **kw)
        return out.astype(bf16) if out.dtype.kind == "f" else out
    wrapped.__name__, wrapped.__doc__ = fn.__name__, fn.__doc__
    return wrapped


for _op in list(OPS.values()):
    if _op.kind in (BINARY, TERNARY) and _op.eager.__module__ == __name__:
        _op.eager = _bf16_opmath(_op.eager)


# ----------------------------------------------------------------------------------------------
# Public functions and Tensor methods
# ----------------------------------------------------------------------------------------------
# Imported late: _api imports the Tensor class, which must not import this module first.
from .._dispatch import apply_binary  # noqa: E402
from ._api import (Tensor, apply, as_tensor_arg, inplace, register_method,  # noqa: E402
                   state, write_out)
from .registry import composite  # noqa: E402


def _unary(op, name: str, doc: str):
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


def _scalar_or_tensor(x, like):
    if isinstance(x, (Tensor, int, float, bool)):
        return x
    if hasattr(x, "item") and getattr(x, "ndim", 1) == 0 and not hasattr(x, "__len__"):
        return x.item()  # numpy scalar
    return as_tensor_arg(x, like)


def _binary(op, name: str, doc: str, *, reflected: str | None = None):
    def fn(input, other, *, out=None):
        return write_out(apply(op, input, _scalar_or_tensor(other, input)), out, name)

    def method(self, other):
        return apply(op, self, _scalar_or_tensor(other, self))

    def method_(self, other):
        return inplace(lambda t, o: apply(op, t, o), self, _scalar_or_tensor(other, self),
                       opname=name + "_")

    fn.__name__ = method.__name__ = name
    fn.__qualname__ = name
    fn.__doc__ = (f"{doc}\n\n    Args:\n        input: a tensor.\n        other: a tensor or "
                  "number (broadcast against input).\n        out: optional output tensor.")
    method.__doc__ = doc
    method_.__name__ = name + "_"
    setattr(Tensor, name, method)
    setattr(Tensor, name + "_", method_)
    return fn


def _check_alpha(name, input, other, alpha):
    """PyTorch's checks on `alpha` (a float alpha needs a float result, a bool one a bool)."""
    if isinstance(alpha, Tensor):
        alpha = alpha.item()
    dt = D.result_type(input, other)
    if isinstance(alpha, float) and not dt.is_floating_point:
        raise RuntimeError(f"{name}: for integral input tensors, argument alpha must not be a "
                           f"floating point number (got alpha={alpha} with dtype {dt.name})")
    if isinstance(alpha, bool) is False and dt is D.bool_ and alpha != 1:
        raise RuntimeError(f"{name}: boolean alpha only supported for Boolean results")


def _check_bool_sub(input, other):
    if D.result_type(input) is D.bool_ and D.result_type(other) is D.bool_:
        return  # sub_op raises its own two-bool error
    if D.result_type(input) is D.bool_ or D.result_type(other) is D.bool_:
        raise RuntimeError(
            "sub: subtraction, the `-` operator, with a bool tensor is not supported. If you are "
            "trying to invert a mask, use the `~` or logical_not() operator instead.")


def add(input, other, *, alpha=1, out=None):
    """input + alpha * other, elementwise with broadcasting.

    Example:
        >>> dyngraph.add(dyngraph.tensor([1., 2.]), 10, alpha=2)
        tensor([21., 22.])
    """
    other = _scalar_or_tensor(other, input)
    if alpha != 1:
        _check_alpha("add", input, other, alpha)
        other = mul(other, alpha) if isinstance(other, Tensor) else other * alpha
    if not isinstance(input, Tensor):
        input = _scalar_or_tensor(input, other)
        if not isinstance(input, Tensor):
            from .creation import tensor
            input = tensor(input)
    return write_out(apply(add_op, input, other), out, "add")


def sub(input, other, *, alpha=1, out=None):
    """input - alpha * other, elementwise with broadcasting."""
    other = _scalar_or_tensor(other, input)
    _check_bool_sub(input, other)
    if alpha != 1:
        _check_alpha("sub", input, other, alpha)
        other = mul(other, alpha) if isinstance(other, Tensor) else other * alpha
    return write_out(apply(sub_op, input, other), out, "sub")


subtract = sub


def mul(input, other, *, out=None):
    """input * other, elementwise with broadcasting."""
    return write_out(apply(mul_op, input, _scalar_or_tensor(other, input)), out, "mul")


multiply = mul


def div(input, other, *, rounding_mode=None, out=None):
    """input / other; `rounding_mode` None (true division), 'trunc' or 'floor'."""
    other = _scalar_or_tensor(other, input)
    if rounding_mode is None:
        r = apply(div_op, input, other)
    elif rounding_mode == "floor":
        r = apply(floor_divide_op, input, other)
    elif rounding_mode == "trunc":
        if D.result_type(input, other).is_floating_point:
            r = apply(div_op, input, other).trunc()
        else:  # floor, plus one where the exact quotient was negative and not whole
            q = apply(floor_divide_op, input, other)
            inexact = apply(remainder_op, input, other) != 0
            r = q + (inexact & ((input < 0) ^ (other < 0)))
    else:
        raise ValueError(f"div expected rounding_mode to be one of None, 'trunc', or 'floor' but "
                         f"found '{rounding_mode}'")
    return write_out(r, out, "div")


divide = true_divide = div


def _method_with_alpha(fn, name):
    def method(self, other, *, alpha=1):
        return fn(self, other, alpha=alpha)

    def method_(self, other, *, alpha=1):
        return inplace(lambda t, o: fn(t, o, alpha=alpha), self, other, opname=name + "_")
    method.__name__, method_.__name__ = name, name + "_"
    setattr(Tensor, name, method)
    setattr(Tensor, name + "_", method_)


_method_with_alpha(add, "add")
_method_with_alpha(sub, "sub")
Tensor.subtract, Tensor.subtract_ = Tensor.sub, Tensor.sub_


@register_method("mul", "multiply")
def _mul_method(self, other):
    return mul(self, other)


@register_method("mul_", "multiply_")
def _mul_method_(self, other):
    return inplace(mul, self, other, opname="mul_")


@register_method("div", "divide", "true_divide")
def _div_method(self, other, *, rounding_mode=None):
    return div(self, other, rounding_mode=rounding_mode)


@register_method("div_", "divide_", "true_divide_")
def _div_method_(self, other, *, rounding_mode=None):
    return inplace(lambda t, o: div(t, o, rounding_mode=rounding_mode), self, other,
                   opname="div_")


def pow(input, exponent, *, out=None):  # noqa: A001 - PyTorch's name
    """input ** exponent, elementwise; either may be a number."""
    if not isinstance(input, Tensor):
        exponent = as_tensor_arg(exponent)
        from .creation import full_like
        input = full_like(exponent, input, dtype=D.result_type(input, exponent))
    return write_out(apply(pow_op, input, _scalar_or_tensor(exponent, input)), out, "pow")


@register_method("pow")
def _pow_method(self, exponent):
    return pow(self, exponent)


@register_method("pow_")
def _pow_method_(self, exponent):
    return inplace(pow, self, exponent, opname="pow_")


def square(input, *, out=None):
    """input * input (bool tensors square to int64, as `pow(input, 2)` does in PyTorch)."""
    if input.dtype is D.bool_:
        input = input.to(D.int64)
    return write_out(apply(mul_op, input, input), out, "square")


@register_method("square")
def _square_method(self):
    return square(self)


@register_method("square_")
def _square_method_(self):
    return inplace(square, self, opname="square_")


maximum = _binary(maximum_op, "maximum", "Elementwise maximum (NaN propagates).")
minimum = _binary(minimum_op, "minimum", "Elementwise minimum (NaN propagates).")
fmod = _binary(fmod_op, "fmod", "C-style remainder: the result has the sign of input.")
remainder = _binary(remainder_op, "remainder",
                    "Python-style remainder: the result has the sign of other.")
floor_divide = _binary(floor_divide_op, "floor_divide", "floor(input / other), elementwise.")
atan2 = _binary(atan2_op, "atan2", "atan(input / other) with the quadrant from both signs.")
arctan2 = atan2
eq = _binary(eq_op, "eq", "input == other, elementwise (bool result).")
ne = _binary(ne_op, "ne", "input != other, elementwise (bool result).")
lt = _binary(lt_op, "lt", "input < other, elementwise (bool result).")
le = _binary(le_op, "le", "input <= other, elementwise (bool result).")
gt = _binary(gt_op, "gt", "input > other, elementwise (bool result).")
ge = _binary(ge_op, "ge", "input >= other, elementwise (bool result).")
not_equal, less, less_equal, greater, greater_equal = ne, lt, le, gt, ge
for _alias, _n in (("not_equal", "ne"), ("less", "lt"), ("less_equal", "le"), ("greater", "gt"),
                   ("greater_equal", "ge"), ("arctan2", "atan2")):
    setattr(Tensor, _alias, getattr(Tensor, _n))
    setattr(Tensor, _alias + "_", getattr(Tensor, _n + "_"))
logical_and = _binary(logical_and_op, "logical_and", "Logical AND, elementwise (bool result).")
logical_or = _binary(logical_or_op, "logical_or", "Logical OR, elementwise (bool result).")
logical_xor = _binary(logical_xor_op, "logical_xor", "Logical XOR, elementwise (bool result).")
bitwise_and = _binary(bitwise_and_op, "bitwise_and", "Bitwise AND of integer or bool tensors.")
bitwise_or = _binary(bitwise_or_op, "bitwise_or", "Bitwise OR of integer or bool tensors.")
bitwise_xor = _binary(bitwise_xor_op, "bitwise_xor", "Bitwise XOR of integer or bool tensors.")
bitwise_left_shift = _binary(bitwise_left_shift_op, "bitwise_left_shift",
                             "input << other, elementwise, for integer tensors.")
bitwise_right_shift = _binary(bitwise_right_shift_op, "bitwise_right_shift",
                              "input >> other (arithmetic shift), elementwise.")
hypot = _binary(hypot_op, "hypot", "sqrt(input**2 + other**2) without overflow, elementwise.")
logaddexp = _binary(logaddexp_op, "logaddexp", "log(exp(input) + exp(other)), computed stably.")
copysign = _binary(copysign_op, "copysign", "|input| with the sign of other, elementwise.")


def equal(input, other) -> bool:
    """True if both tensors have the same shape and elements."""
    return input.shape == other.shape and bool((input == other).all())


Tensor.equal = equal


def where(condition, input=None, other=None, *, out=None):
    """Elements of input where condition is True, else of other (numbers allowed).

    `where(condition)` alone returns the indices of the True elements, like
    `nonzero(as_tuple=True)`.
    """
    if input is None and other is None:
        from .index import nonzero
        return nonzero(condition, as_tuple=True)
    condition = as_tensor_arg(condition)
    if condition.dtype is not D.bool_:
        condition = condition.to(D.bool_)
    like = input if isinstance(input, Tensor) else other if isinstance(other, Tensor) else condition
    a = _scalar_or_tensor(input, like)
    b = _scalar_or_tensor(other, like)
    if not isinstance(a, Tensor) and not isinstance(b, Tensor):
        from .creation import tensor
        a = tensor(a, dtype=D.result_type(a, b), device=condition.device)
    return write_out(apply(where_op, condition, a, b), out, "where")


@register_method("where")
def _where_method(self, condition, other):
    return where(condition, self, other)


def clamp(input, min=None, max=None, *, out=None):  # noqa: A002 - PyTorch's names
    """Clamp every element into [min, max]; either bound may be None, a number or a tensor."""
    if min is None and max is None:
        raise RuntimeError("clamp: at least one of 'min' or 'max' must not be None")
    lo = _scalar_or_tensor(min, input) if min is not None else None
    hi = _scalar_or_tensor(max, input) if max is not None else None
    return write_out(apply(clamp_op, input, lo, hi), out, "clamp")


clip = clamp


@register_method("clamp", "clip")
def _clamp_method(self, min=None, max=None):  # noqa: A002
    return clamp(self, min, max)


@register_method("clamp_", "clip_")
def _clamp_method_(self, min=None, max=None):  # noqa: A002
    return inplace(clamp, self, min, max, opname="clamp_")


def clamp_min(input, min):  # noqa: A002
    """clamp(input, min=min)."""
    return clamp(input, min=min)


def clamp_max(input, max):  # noqa: A002
    """clamp(input, max=max)."""
    return clamp(input, max=max)


Tensor.clamp_min = clamp_min
Tensor.clamp_max = clamp_max
Tensor.clamp_min_ = lambda self, min: inplace(clamp_min, self, min, opname="clamp_min_")  # noqa
Tensor.clamp_max_ = lambda self, max: inplace(clamp_max, self, max, opname="clamp_max_")  # noqa


# ----- fill and zero ---------------------------------------------------------------------------

def _fill_value(value, dt: D.dtype):
    """A Python number converted as PyTorch's fill_ does: floats truncate into integer dtypes,
    values out of the dtype's range are refused (uint8 takes negative ints, wrapping them)."""
    if dt is D.bool_:
        return bool(value)
    if dt.is_floating_point:
        return float(value)
    info = np.iinfo(dt.np)
    if isinstance(value, float):
        bad = not math.isfinite(value) or not info.min <= value <= info.max
    else:
        bad = not (-info.max if info.min == 0 else info.min) <= int(value) <= info.max
    if bad:
        raise RuntimeError(f"fill_: value {value} cannot be converted to type {dt.name} without "
                           "overflow")
    return np.asarray(int(value)).astype(dt.np)[()]


@register_method("fill_")
def fill_(self, value) -> Tensor:
    """Fill self with `value` (a number or a 0-d tensor) in place; returns self.

    Example:
        >>> dyngraph.zeros(3).fill_(2.5)
        tensor([2.5000, 2.5000, 2.5000])
    """
    if isinstance(value, Tensor):
        if value.ndim != 0:
            raise RuntimeError(f"fill_: only supports a 0-dimension value tensor but got a tensor "
                               f"with {value.ndim} dimensions; index or .item() it first")
        if not (value._rg and state.grad_enabled):
            value = value.item()
    if not isinstance(value, Tensor):
        value = _fill_value(value, self.dtype)
        if state.tracer is None and not (self._rg and state.grad_enabled):
            if not self._data.flags.writeable:
                raise RuntimeError(
                    "fill_: unsupported operation: the tensor is a broadcast (expanded) view "
                    "whose elements share memory; call .clone() before writing to it")
            self._data.fill(value)
            self._vc[0] += 1
            return self
    return inplace(_filled, self, value, opname="fill_")


def _filled(t: Tensor, value) -> Tensor:
    """`value` everywhere in t's shape; differentiable (zero gradient to t, summed to value)."""
    from .creation import zeros
    if isinstance(value, Tensor):
        value = value.to(t.dtype)
    return where(zeros(t.shape, dtype=D.bool_, device=t.device), t, value)


@register_method("zero_")
def zero_(self) -> Tensor:
    """Fill self with zeros in place; returns self."""
    return fill_(self, 0)


# ----- composites -------------------------------------------------------------------------------

@composite("lerp", "sub, mul, add (where for a tensor weight)")
def lerp(input, end, weight, *, out=None):
    """input + weight * (end - input), in PyTorch's two-sided form (exact at weight 0 and 1).

    Args:
        input: the start tensor (floating point).
        end: the end tensor.
        weight: a number or a tensor, broadcast with the others.
    """
    if not input.dtype.is_floating_point:
        raise RuntimeError(f"lerp: expected a floating-point input, got {input.dtype.name}")
    if input.dtype.itemsize < 4:  # half precision: compute in float32 and round once
        w = weight.float() if isinstance(weight, Tensor) else weight
        return write_out(lerp(input.float(), end.float(), w).to(input.dtype), out, "lerp")
    diff = end - input
    if isinstance(weight, Tensor):
        r = where(weight.abs() < 0.5, input + weight * diff, end - diff * (1 - weight))
    else:
        r = input + weight * diff if -0.5 < weight < 0.5 else end - diff * (1 - weight)
    return write_out(r, out, "lerp")


@register_method("lerp")
def _lerp_method(self, end, weight):
    return lerp(self, end, weight)


@register_method("lerp_")
def _lerp_method_(self, end, weight):
    return inplace(lerp, self, end, weight, opname="lerp_")


@composite("addcmul", "mul, add")
def addcmul(input, tensor1, tensor2, *, value=1, out=None):
    """input + value * tensor1 * tensor2, elementwise with broadcasting."""
    prod = tensor1 * tensor2
    return write_out(input + (prod * value if value != 1 else prod), out, "addcmul")


@composite("addcdiv", "div, mul, add")
def addcdiv(input, tensor1, tensor2, *, value=1, out=None):
    """input + value * tensor1 / tensor2 (true division; integer tensor1/tensor2 are refused)."""
    if not tensor1.dtype.is_floating_point and not tensor2.dtype.is_floating_point:
        raise RuntimeError(
            "addcdiv: integer division with addcdiv is no longer supported; convert tensor1 or "
            "tensor2 to a floating-point dtype (e.g. tensor1.float()) for true division")
    q = tensor1 / tensor2
    return write_out(input + (q * value if value != 1 else q), out, "addcdiv")


for _name, _fn in (("addcmul", addcmul), ("addcdiv", addcdiv)):
    def _m(self, tensor1, tensor2, *, value=1, _fn=_fn):
        return _fn(self, tensor1, tensor2, value=value)

    def _m_(self, tensor1, tensor2, *, value=1, _fn=_fn, _name=_name):
        return inplace(lambda t, a, b: _fn(t, a, b, value=value), self, tensor1, tensor2,
                       opname=_name + "_")
    _m.__name__, _m_.__name__ = _name, _name + "_"
    setattr(Tensor, _name, _m)
    setattr(Tensor, _name + "_", _m_)


@composite("frac", "sub, trunc")
def frac(input, *, out=None):
    """input - trunc(input): the fractional part, with the sign of input."""
    if not input.dtype.is_floating_point:
        raise RuntimeError(f"frac: not implemented for {input.dtype.name} tensors (integers have "
                           "no fractional part)")
    return write_out(input - input.trunc(), out, "frac")


Tensor.frac = lambda self: frac(self)
Tensor.frac_ = lambda self: inplace(frac, self, opname="frac_")


def rsub(input, other, *, alpha=1):
    """other - alpha * input (sub with the operands swapped)."""
    _check_bool_sub(other, input)
    return sub(_as_operand(other, input), input, alpha=alpha)


def positive(input):
    """input itself (unary plus)."""
    if input.dtype is D.bool_:
        raise RuntimeError("positive: the `+` operator, on a bool tensor is not supported.")
    return input


Tensor.positive = positive


@composite("deg2rad", "mul")
def deg2rad(input, *, out=None):
    """Degrees to radians (integers give floats)."""
    return write_out(input * (math.pi / 180.0) if input.dtype.is_floating_point else
                     input.to(D.get_default_dtype()) * (math.pi / 180.0), out, "deg2rad")


@composite("rad2deg", "mul")
def rad2deg(input, *, out=None):
    """Radians to degrees (integers give floats)."""
    return write_out(input * (180.0 / math.pi) if input.dtype.is_floating_point else
                     input.to(D.get_default_dtype()) * (180.0 / math.pi), out, "rad2deg")


Tensor.deg2rad = lambda self: deg2rad(self)
Tensor.rad2deg = lambda self: rad2deg(self)
Tensor.deg2rad_ = lambda self: inplace(deg2rad, self, opname="deg2rad_")
Tensor.rad2deg_ = lambda self: inplace(rad2deg, self, opname="rad2deg_")


def float_power(input, exponent, *, out=None):
    """input ** exponent computed in float64, as PyTorch's float_power."""
    a = input.to(D.float64) if isinstance(input, Tensor) else float(input)
    b = exponent.to(D.float64) if isinstance(exponent, Tensor) else float(exponent)
    return write_out(pow(a, b), out, "float_power")


Tensor.float_power = lambda self, exponent: float_power(self, exponent)
Tensor.float_power_ = lambda self, exponent: inplace(float_power, self, exponent,
                                                     opname="float_power_")


def cast(input: Tensor, dtype) -> Tensor:
    """Convert to `dtype` (differentiable between float dtypes)."""
    dtype = D.to_dtype(dtype)
    if input.dtype is dtype:
        return input
    return apply(cast_op, input, dtype=dtype)


# ----- operators ------------------------------------------------------------------------------

def _rsub(self, other):
    return rsub(self, other)


def _rdiv(self, other):
    return div(_as_operand(other, self), self)


def _rpow(self, other):
    return pow(other, self)


def _as_operand(x, like):
    """A Python number as a 0-d tensor of the dtype it promotes to with `like` (so `2.1 - t`
    keeps float64 precision for a float64 `t`, and `2 - int8_t` stays int8)."""
    x = _scalar_or_tensor(x, like)
    if isinstance(x, Tensor):
        return x
    from .creation import full
    return full((), x, dtype=D.result_type(x, like), device=like.device)


def _rfloordiv(self, other):
    return floor_divide(_as_operand(other, self), self)


def _rmod(self, other):
    return remainder(_as_operand(other, self), self)


def _logical_dispatch(bool_fn, int_fn):
    def op(self, other):
        other = _scalar_or_tensor(other, self)
        return int_fn(self, other)
    return op


def _fast(op, slow):
    """The operator for `op`: tensors and plain int/float operands go straight to the dispatcher
    (the common case, kept short because it runs for every `a + b`); anything else takes the
    public function's full argument handling."""
    def operator(self, other):
        if isinstance(other, Tensor) or type(other) is float or type(other) is int:
            return apply_binary(op, self, other)
        return slow(self, other)
    return operator


def _fast_sub(self, other):
    if (isinstance(other, Tensor) or type(other) is float or type(other) is int) and \
            self._data.dtype.kind != "b" and getattr(other, "dtype", None) is not D.bool_:
        return apply_binary(sub_op, self, other)
    return sub(self, other)


Tensor.__add__ = Tensor.__radd__ = _fast(add_op, lambda self, other: add(self, other))
Tensor.__sub__ = _fast_sub
Tensor.__rsub__ = _rsub
Tensor.__mul__ = Tensor.__rmul__ = _fast(mul_op, lambda self, other: mul(self, other))
Tensor.__truediv__ = _fast(div_op, lambda self, other: div(self, other))
Tensor.__rtruediv__ = _rdiv
Tensor.__floordiv__ = lambda self, other: floor_divide(self, other)
Tensor.__rfloordiv__ = _rfloordiv
Tensor.__mod__ = lambda self, other: remainder(self, other)
Tensor.__rmod__ = _rmod
Tensor.__pow__ = lambda self, other: pow(self, other)
Tensor.__rpow__ = _rpow
Tensor.__neg__ = lambda self: apply(neg_op, self)
Tensor.__pos__ = lambda self: self
Tensor.__abs__ = lambda self: apply(abs_op, self)
Tensor.__invert__ = lambda self: apply(logical_not_op, self) if self.dtype is D.bool_ else \
    apply(bitwise_not_op, self)
Tensor.__and__ = Tensor.__rand__ = _logical_dispatch(logical_and, bitwise_and)
Tensor.__or__ = Tensor.__ror__ = _logical_dispatch(logical_or, bitwise_or)
Tensor.__xor__ = Tensor.__rxor__ = _logical_dispatch(logical_xor, bitwise_xor)
Tensor.__eq__ = lambda self, other: False if other is None else eq(self, other)
Tensor.__ne__ = lambda self, other: True if other is None else ne(self, other)
Tensor.__lshift__ = lambda self, other: bitwise_left_shift(self, other)
Tensor.__rshift__ = lambda self, other: bitwise_right_shift(self, other)
Tensor.__rlshift__ = lambda self, other: bitwise_left_shift(_as_operand(other, self), self)
Tensor.__rrshift__ = lambda self, other: bitwise_right_shift(_as_operand(other, self), self)
Tensor.__ilshift__ = lambda self, other: self.bitwise_left_shift_(other)
Tensor.__irshift__ = lambda self, other: self.bitwise_right_shift_(other)
Tensor.__lt__ = _fast(lt_op, lambda self, other: lt(self, other))
Tensor.__le__ = _fast(le_op, lambda self, other: le(self, other))
Tensor.__gt__ = _fast(gt_op, lambda self, other: gt(self, other))
Tensor.__ge__ = _fast(ge_op, lambda self, other: ge(self, other))
Tensor.__hash__ = object.__hash__
Tensor.__iadd__ = lambda self, other: self.add_(other)
Tensor.__isub__ = lambda self, other: self.sub_(other)
Tensor.__imul__ = lambda self, other: self.mul_(other)
Tensor.__itruediv__ = lambda self, other: self.div_(other)
Tensor.__ipow__ = lambda self, other: self.pow_(other)
Tensor.__imod__ = lambda self, other: self.remainder_(other)
Tensor.__ifloordiv__ = lambda self, other: self.floor_divide_(other)
Tensor.__iand__ = lambda self, other: self.bitwise_and_(other)
Tensor.__ior__ = lambda self, other: self.bitwise_or_(other)
Tensor.__ixor__ = lambda self, other: self.bitwise_xor_(other)


__all__ = [_n for _n, _v in list(globals().items())
           if not _n.startswith("_") and callable(_v) and getattr(_v, "__module__", "") == __name__]
