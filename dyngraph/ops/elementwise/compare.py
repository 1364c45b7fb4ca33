"""Comparison, logical and bitwise primitives (no gradients: their outputs are boolean or
integer), their public functions and Tensor methods, and `equal`."""

from __future__ import annotations

import numpy as np

from .._api import Tensor
from ..registry import OpKind, nondiff
from ._common import _binary, _use_bf16_opmath

BINARY = OpKind.BINARY


def _boolean(name: str, ufunc_name: str, dtype_rule: str):
    """A binary op with a boolean result computed by one ufunc."""
    def rule(xp, a, b):
        return getattr(xp, ufunc_name)(a, b)
    rule.__name__ = rule.__qualname__ = f"{name}_op"
    return nondiff(name, BINARY, "boolean output", dtype_rule=dtype_rule)(rule)


# Comparisons promote their operands ("bool" rule); logical ops take them as they are.
eq_op = _boolean("eq", "equal", "bool")
ne_op = _boolean("ne", "not_equal", "bool")
lt_op = _boolean("lt", "less", "bool")
le_op = _boolean("le", "less_equal", "bool")
gt_op = _boolean("gt", "greater", "bool")
ge_op = _boolean("ge", "greater_equal", "bool")
logical_and_op = _boolean("logical_and", "logical_and", "none")
logical_or_op = _boolean("logical_or", "logical_or", "none")
logical_xor_op = _boolean("logical_xor", "logical_xor", "none")


def _bitwise(name, ufunc_name):
    """A bitwise op on integer or bool operands (floats are refused, as in PyTorch)."""
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

_use_bf16_opmath(__name__)


# ----------------------------------------------------------------------------------------------
# Public functions and Tensor methods
# ----------------------------------------------------------------------------------------------

eq = _binary(eq_op, "eq", "input == other, elementwise (bool result).")
ne = _binary(ne_op, "ne", "input != other, elementwise (bool result).")
lt = _binary(lt_op, "lt", "input < other, elementwise (bool result).")
le = _binary(le_op, "le", "input <= other, elementwise (bool result).")
gt = _binary(gt_op, "gt", "input > other, elementwise (bool result).")
ge = _binary(ge_op, "ge", "input >= other, elementwise (bool result).")
not_equal, less, less_equal, greater, greater_equal = ne, lt, le, gt, ge
for _alias, _n in (("not_equal", "ne"), ("less", "lt"), ("less_equal", "le"), ("greater", "gt"),
                   ("greater_equal", "ge")):
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


def equal(input, other) -> bool:
    """True if both tensors have the same shape and elements."""
    return input.shape == other.shape and bool((input == other).all())


Tensor.equal = equal


__all__ = [_n for _n, _v in list(globals().items())
           if not _n.startswith("_") and callable(_v) and getattr(_v, "__module__", "") == __name__]
