"""Composite elementwise functions (lerp, addcmul, addcdiv, frac, deg2rad, rad2deg) and
`positive`: plain functions over the primitives, with their Tensor methods."""

from __future__ import annotations

import math

from ... import _dtype as D
from .._api import Tensor, inplace, register_method, write_out
from ..registry import composite
from .ternary import where


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


__all__ = [_n for _n, _v in list(globals().items())
           if not _n.startswith("_") and callable(_v) and getattr(_v, "__module__", "") == __name__]
