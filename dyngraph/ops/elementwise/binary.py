"""Binary arithmetic primitives (add, sub, mul, div, pow, maximum/minimum, remainders, atan2,
hypot, logaddexp, copysign), their public functions and Tensor methods, rsub and float_power.

The engine reduces gradients to broadcast input shapes, so these rules return full-size grads.
"""

from __future__ import annotations

import numpy as np

from ... import _dtype as D
from ..._device import capturing
from .._api import Tensor, apply, as_tensor_arg, inplace, register_method, write_out
from ..registry import OpKind, defop, nondiff
from ._common import (_binary, _int_zero_division_check, _needs, _scalar_or_tensor,
                      _use_bf16_opmath)

BINARY = OpKind.BINARY

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
def div_op(xp, a, b):
    return xp.true_divide(a, b)


@div_op.def_grad
def _(ctx, g):
    a, b = ctx.inputs
    gb = None
    if _needs(b):
        gb = -g * a / (b * b)
    return g / b, gb


@defop("pow", BINARY, save=("inputs", "output"))
def pow_op(xp, a, b):
    if getattr(a, "dtype", np.dtype("f")).kind in "iub":
        if isinstance(b, int) and not isinstance(b, bool):
            if b < 0:
                raise RuntimeError(
                    f"pow: integers to negative integer powers are not allowed (exponent {b}); "
                    "use a floating-point base, e.g. x.float() ** exponent")
        elif getattr(b, "dtype", np.dtype("f")).kind in "iu" and (capturing(xp) or
                                                                  bool((b < 0).any())):
            # PyTorch's integer pow: a ** -n is 0 except for the bases 1 and -1.
            neg = b < 0
            r = xp.power(a, xp.where(neg, 0, b))
            odd = (b % 2) != 0
            at_neg = xp.where(a == 1, 1, xp.where(a == -1, xp.where(odd, -1, 1), 0))
            return xp.where(neg, at_neg, r).astype(r.dtype, copy=False)
    return xp.power(a, b)


@pow_op.def_grad
def _(ctx, g):
    from .. import where
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


def _extremum(name: str, ufunc_name: str, wins):
    """maximum/minimum: the gradient goes to the operand that `wins(a, b)`; ties share it
    equally, as in PyTorch."""
    def rule(xp, a, b):
        return getattr(xp, ufunc_name)(a, b)
    rule.__name__ = rule.__qualname__ = f"{name}_op"
    op = defop(name, BINARY, save=("inputs",))(rule)

    @op.def_grad
    def _(ctx, g):
        a, b = ctx.inputs
        wa = wins(a, b) + (a == b) * 0.5
        return g * wa, g * (1 - wa)
    return op


maximum_op = _extremum("maximum", "maximum", lambda a, b: a > b)
minimum_op = _extremum("minimum", "minimum", lambda a, b: a < b)


def _remainder(name: str, ufunc_name: str, rounding: str):
    """fmod/remainder: input - rounding(input / other) * other, where `rounding` is "trunc"
    (C-style, sign of input) or "floor" (Python-style, sign of other)."""
    def rule(xp, a, b):
        _int_zero_division_check(name, xp, a, b)
        return getattr(xp, ufunc_name)(a, b)
    rule.__name__ = rule.__qualname__ = f"{name}_op"
    op = defop(name, BINARY, save=("inputs",))(rule)

    @op.def_grad
    def _(ctx, g):
        a, b = ctx.inputs
        gb = -g * getattr(a / b, rounding)() if _needs(b) else None
        return g, gb
    return op


fmod_op = _remainder("fmod", "fmod", "trunc")
remainder_op = _remainder("remainder", "remainder", "floor")


@nondiff("floor_divide", BINARY, "piecewise constant")
def floor_divide_op(xp, a, b):
    _int_zero_division_check("floor_divide", xp, a, b)
    return xp.floor_divide(a, b)


@defop("atan2", BINARY, dtype_rule="float", save=("inputs",))
def atan2_op(xp, a, b):
    return xp.arctan2(a, b)


@atan2_op.def_grad
def _(ctx, g):
    a, b = ctx.inputs
    d = a * a + b * b
    return g * b / d, -g * a / d


def _float_binary(name: str, ufunc_name: str, grad):
    """A float op computed by one ufunc whose gradients `grad(g, a, b, out)` read the inputs
    and the output."""
    def rule(xp, a, b):
        return getattr(xp, ufunc_name)(a, b)
    rule.__name__ = rule.__qualname__ = f"{name}_op"
    op = defop(name, BINARY, dtype_rule="float", save=("inputs", "output"))(rule)
    op.def_grad(lambda ctx, g: grad(g, *ctx.inputs, ctx.out))
    return op


hypot_op = _float_binary("hypot", "hypot", lambda g, a, b, y: (g * a / y, g * b / y))
logaddexp_op = _float_binary("logaddexp", "logaddexp",
                             lambda g, a, b, y: (g * (a - y).exp(), g * (b - y).exp()))


@defop("copysign", BINARY, dtype_rule="float", save=("inputs", "output"))
def copysign_op(xp, a, b):
    return xp.copysign(a, b)


@copysign_op.def_grad
def _(ctx, g):
    # d/da |a| * sign(b) = sign(a) * sign(b) = out / a (0 at a == 0, as in PyTorch); the
    # derivative in b is zero almost everywhere.
    a, b = ctx.inputs
    from .. import where
    from ..creation import zeros_like
    return where(a == 0, 0.0, ctx.out / a) * g, zeros_like(g) if _needs(b) else None


_use_bf16_opmath(__name__)


# ----------------------------------------------------------------------------------------------
# Public functions and Tensor methods
# ----------------------------------------------------------------------------------------------

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
            from ..creation import tensor
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
        from ..creation import full_like
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
hypot = _binary(hypot_op, "hypot", "sqrt(input**2 + other**2) without overflow, elementwise.")
logaddexp = _binary(logaddexp_op, "logaddexp", "log(exp(input) + exp(other)), computed stably.")
copysign = _binary(copysign_op, "copysign", "|input| with the sign of other, elementwise.")

Tensor.arctan2, Tensor.arctan2_ = Tensor.atan2, Tensor.atan2_


def _as_operand(x, like):
    """A Python number as a 0-d tensor of the dtype it promotes to with `like` (so `2.1 - t`
    keeps float64 precision for a float64 `t`, and `2 - int8_t` stays int8)."""
    x = _scalar_or_tensor(x, like)
    if isinstance(x, Tensor):
        return x
    from ..creation import full
    return full((), x, dtype=D.result_type(x, like), device=like.device)


def rsub(input, other, *, alpha=1):
    """other - alpha * input (sub with the operands swapped)."""
    _check_bool_sub(other, input)
    return sub(_as_operand(other, input), input, alpha=alpha)


def float_power(input, exponent, *, out=None):
    """input ** exponent computed in float64, as PyTorch's float_power."""
    a = input.to(D.float64) if isinstance(input, Tensor) else float(input)
    b = exponent.to(D.float64) if isinstance(exponent, Tensor) else float(exponent)
    return write_out(pow(a, b), out, "float_power")


Tensor.float_power = lambda self, exponent: float_power(self, exponent)
Tensor.float_power_ = lambda self, exponent: inplace(float_power, self, exponent,
                                                     opname="float_power_")


__all__ = [_n for _n, _v in list(globals().items())
           if not _n.startswith("_") and callable(_v) and getattr(_v, "__module__", "") == __name__]
