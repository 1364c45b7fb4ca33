"""Python operators on Tensor (`a + b`, `a < b`, `~m`, `x += y`, ...), mapped to the
elementwise functions. The hottest ones (`+ - * / < <= > >=` with a tensor or a plain int/float)
go straight to `apply_binary`."""

from __future__ import annotations

from ... import _dtype as D
from ..._dispatch import apply_binary
from .._api import Tensor, apply
from ._common import _scalar_or_tensor
from .binary import (_as_operand, add, add_op, div, div_op, floor_divide, mul, mul_op, pow,
                     remainder, rsub, sub, sub_op)
from .compare import (bitwise_and, bitwise_left_shift, bitwise_or, bitwise_right_shift,
                      bitwise_xor, eq, ge, ge_op, gt, gt_op, le, le_op, logical_and, logical_or,
                      logical_xor, lt, lt_op, ne)
from .unary import abs_op, bitwise_not_op, logical_not_op, neg_op


def _rsub(self, other):
    return rsub(self, other)


def _rdiv(self, other):
    return div(_as_operand(other, self), self)


def _rpow(self, other):
    return pow(other, self)




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
