"""OpInfo cases for the elementwise ops: unary math, binary arithmetic with broadcasting and Python
scalars on either side, comparisons, logical and bitwise ops, where, clamp, pow, nan_to_num, cast.

Each case is checked against numpy in float64/float32, against PyTorch, and with gradcheck in
float64 (see tests/test_op_table.py). Integer and bool inputs are passed as they are and never
require grad, so cases on them set grad=False.
"""

from __future__ import annotations

import numpy as np

import dyngraph as dg
from tests.conftest import torch
from tests.opinfo import OpCase, positive, rand

CASES: list[OpCase] = []


def _t(name):
    """A torch function by name (None without torch, so cases still load)."""
    return None if torch is None else getattr(torch, name)


# ----------------------------------------------------------------------------------------------
# Unary
# ----------------------------------------------------------------------------------------------

def _erf(x):
    from scipy.special import erf
    return erf(x)


_DOMAIN = {
    "any": lambda s: rand(2, 3, seed=s),
    "pos": lambda s: positive(2, 3, seed=s),
    "unit": lambda s: rand(2, 3, low=-0.9, high=0.9, seed=s),
    "gt1": lambda s: rand(2, 3, low=1.2, high=3.0, seed=s),
    "gtm1": lambda s: rand(2, 3, low=-0.6, high=2.0, seed=s),
    "tan": lambda s: rand(2, 3, low=-1.2, high=1.2, seed=s),
    "nonzero": lambda s: np.sign(rand(2, 3, seed=s)) * positive(2, 3, seed=s + 1),
}

# (op, numpy reference, domain, differentiable)
_UNARY = [
    ("abs", np.abs, "nonzero", True),
    ("neg", np.negative, "any", True),
    ("sign", np.sign, "any", False),
    ("exp", np.exp, "any", True),
    ("exp2", np.exp2, "any", True),
    ("expm1", np.expm1, "any", True),
    ("log", np.log, "pos", True),
    ("log2", np.log2, "pos", True),
    ("log10", np.log10, "pos", True),
    ("log1p", np.log1p, "gtm1", True),
    ("sqrt", np.sqrt, "pos", True),
    ("rsqrt", lambda x: 1 / np.sqrt(x), "pos", True),
    ("reciprocal", np.reciprocal, "nonzero", True),
    ("sin", np.sin, "any", True),
    ("cos", np.cos, "any", True),
    ("tan", np.tan, "tan", True),
    ("tanh", np.tanh, "any", True),
    ("sinh", np.sinh, "any", True),
    ("cosh", np.cosh, "any", True),
    ("asin", np.arcsin, "unit", True),
    ("acos", np.arccos, "unit", True),
    ("atan", np.arctan, "any", True),
    ("asinh", np.arcsinh, "any", True),
    ("acosh", np.arccosh, "gt1", True),
    ("atanh", np.arctanh, "unit", True),
    ("sigmoid", lambda x: 1 / (1 + np.exp(-x)), "any", True),
    ("relu", lambda x: np.maximum(x, 0), "nonzero", True),
    ("erf", _erf, "any", True),
    ("floor", np.floor, "any", False),
    ("ceil", np.ceil, "any", False),
    ("trunc", np.trunc, "any", False),
    ("round", np.round, "any", False),
]

for _i, (_op, _ref, _dom, _grad) in enumerate(_UNARY):
    CASES.append(OpCase(_op, getattr(dg, _op), [_DOMAIN[_dom](100 + _i)], ref=_ref,
                        torch_fn=_t(_op), grad=_grad))
    # the Tensor method, on a 0-d tensor
    CASES.append(OpCase(_op, lambda x, _op=_op: getattr(x, _op)(), [_DOMAIN[_dom](200 + _i)[0, 0]],
                        ref=_ref, torch_fn=_t(_op) and (lambda x, _op=_op: getattr(x, _op)()),
                        grad=_grad, name="method-0d"))

_SPECIAL = np.array([1.5, -0.0, np.nan, np.inf, -np.inf, -2.0])
CASES += [
    # integer inputs: same-dtype ops keep the dtype, float ops promote to the default float
    OpCase("abs", dg.abs, [np.array([-3, 0, 4])], ref=np.abs, torch_fn=_t("abs"), grad=False,
           name="int"),
    OpCase("sign", dg.sign, [np.array([-3, 0, 4])], ref=np.sign, torch_fn=_t("sign"), grad=False,
           name="int"),
    OpCase("sqrt", dg.sqrt, [np.array([1, 4, 9])], ref=np.sqrt, torch_fn=_t("sqrt"), grad=False,
           name="int"),
    OpCase("exp2", dg.exp2, [np.array([True, False])], ref=np.exp2, torch_fn=_t("exp2"),
           grad=False, name="bool"),
    OpCase("floor", dg.floor, [np.array([-3, 2])], ref=np.floor, torch_fn=_t("floor"),
           grad=False, name="int"),
    OpCase("round", dg.round, [np.array([0.5, 1.5, 2.5, -0.5, -1.5, 0.49])], ref=np.round,
           torch_fn=_t("round"), grad=False, name="half-to-even"),
    OpCase("round", lambda x: dg.round(x, decimals=2), [rand(7, seed=3) * 10],
           ref=lambda x: np.round(x, 2),
           torch_fn=torch and (lambda x: torch.round(x, decimals=2)), grad=False,
           name="decimals"),
    OpCase("relu", dg.relu, [np.array([-2, 0, 3])], ref=lambda x: np.maximum(x, 0),
           torch_fn=_t("relu"), grad=False, name="int"),
    OpCase("isnan", dg.isnan, [_SPECIAL], ref=np.isnan, torch_fn=_t("isnan"), grad=False),
    OpCase("isinf", dg.isinf, [_SPECIAL], ref=np.isinf, torch_fn=_t("isinf"), grad=False),
    OpCase("isfinite", dg.isfinite, [_SPECIAL], ref=np.isfinite, torch_fn=_t("isfinite"),
           grad=False),
    OpCase("isfinite", dg.isfinite, [np.array([1, 2])], ref=np.isfinite,
           torch_fn=_t("isfinite"), grad=False, name="int"),
    OpCase("signbit", dg.signbit, [_SPECIAL], ref=np.signbit, torch_fn=_t("signbit"),
           grad=False),
    OpCase("logical_not", dg.logical_not, [np.array([True, False])], ref=np.logical_not,
           torch_fn=_t("logical_not"), grad=False),
    OpCase("logical_not", dg.logical_not, [np.array([0.0, 1.5, -2.0])], ref=np.logical_not,
           torch_fn=_t("logical_not"), grad=False, name="float"),
    OpCase("bitwise_not", dg.bitwise_not, [np.array([0, 5, -6])], ref=np.invert,
           torch_fn=_t("bitwise_not"), grad=False),
    OpCase("bitwise_not", lambda x: ~x, [np.array([True, False])], ref=np.invert,
           torch_fn=lambda x: ~x, grad=False, name="bool-operator"),
    OpCase("nan_to_num", lambda x: dg.nan_to_num(x, nan=0.5, posinf=10.0, neginf=-10.0),
           [_SPECIAL], ref=lambda x: np.nan_to_num(x, nan=0.5, posinf=10.0, neginf=-10.0),
           torch_fn=torch and (lambda x: torch.nan_to_num(x, 0.5, 10.0, -10.0)),
           name="special"),
    OpCase("nan_to_num", dg.nan_to_num, [rand(2, 3, seed=4)], ref=np.nan_to_num,
           torch_fn=_t("nan_to_num"), name="finite"),
    OpCase("cast", lambda x: x.to(dg.float32), [rand(5, seed=5)],
           ref=lambda x: x.astype(np.float32), grad=False,
           torch_fn=lambda x: x.to(torch.float32), name="to-float32"),
    OpCase("cast", lambda x: dg.cast(x, dg.int32), [rand(5, seed=6) * 10],
           ref=lambda x: x.astype(np.int32), grad=False,
           torch_fn=lambda x: x.to(torch.int32), name="to-int32-truncates"),
    OpCase("cast", lambda x: x.bool(), [np.array([0.0, 0.5, -1.0])],
           ref=lambda x: x.astype(bool), grad=False, torch_fn=lambda x: x.bool(),
           name="to-bool"),
    OpCase("cast", lambda x: x.to(dg.float64) * 2, [rand(5, seed=7)], ref=lambda x: x * 2,
           torch_fn=lambda x: x.to(torch.float64) * 2, name="to-float64-grad"),
]


# ----------------------------------------------------------------------------------------------
# Binary arithmetic: tensors of equal shape, broadcasting, 0-d tensors, Python scalars both ways
# ----------------------------------------------------------------------------------------------

def _binary_cases(op, fn, ref, tfn, a, b, *, grad=True, scalar=1.5, name="",
                  torch_scalar=True):
    """Cases for one binary op: same shape, broadcast, 0-d other, a Python scalar other.

    `torch_scalar=False`: PyTorch's function takes tensors only, so its oracle gets a 0-d tensor.
    """
    p = f"{name}-" if name else ""
    tf = tfn if torch is not None else None
    if tf is not None and not torch_scalar:
        tfn = (lambda x, s, _f=tfn: _f(x, torch.tensor(s, dtype=x.dtype)))
    cases = [
        OpCase(op, fn, [a(2, 3, 1), b(2, 3, 2)], ref=ref, torch_fn=tf, grad=grad, name=p + "same"),
        OpCase(op, fn, [a(3, 1, 3), b(1, 4, 4)], ref=ref, torch_fn=tf, grad=grad,
               name=p + "broadcast"),
        OpCase(op, fn, [a(2, 3, 5), b(3, 6)], ref=ref, torch_fn=tf, grad=grad,
               name=p + "broadcast-lead"),
        OpCase(op, fn, [a(2, 3, 7), np.asarray(b(1, 8)[0])], ref=ref, torch_fn=tf, grad=grad,
               name=p + "0d-other"),
        OpCase(op, lambda x, _s=scalar: fn(x, _s), [a(2, 3, 9)],
               ref=lambda x, _s=scalar: ref(x, _s),
               torch_fn=tf and (lambda x, _s=scalar: tfn(x, _s)), grad=grad,
               name=p + "scalar-right"),
    ]
    return cases


def _sh(low, high):
    """A float sample factory for a domain: f(*shape, seed)."""
    return lambda *args: rand(*args[:-1], low=low, high=high, seed=args[-1])


_ANY, _POS = _sh(-2.0, 2.0), _sh(0.5, 3.0)


def _nonzero(*args):
    x = rand(*args[:-1], low=0.5, high=2.5, seed=args[-1])
    return x * np.where(rand(*args[:-1], seed=args[-1] + 50) > 0, 1.0, -1.0)


def _tensor_method(name):
    return lambda x, y: getattr(x, name)(y)


CASES += _binary_cases("add", dg.add, np.add, _t("add"), _ANY, _ANY)
CASES += _binary_cases("add", lambda x, y: x + y, np.add, lambda x, y: x + y, _ANY, _ANY,
                       name="operator")
CASES += _binary_cases("sub", dg.sub, np.subtract, _t("sub"), _ANY, _ANY)
CASES += _binary_cases("mul", dg.mul, np.multiply, _t("mul"), _ANY, _ANY)
CASES += _binary_cases("mul", lambda x, y: x * y, np.multiply, lambda x, y: x * y, _ANY, _ANY,
                       name="operator")
CASES += _binary_cases("div", dg.div, np.divide, _t("div"), _ANY, _nonzero)
CASES += _binary_cases("div", lambda x, y: x / y, np.divide, lambda x, y: x / y, _ANY, _nonzero,
                       name="operator")
CASES += _binary_cases("maximum", dg.maximum, np.maximum, _t("maximum"), _ANY, _ANY, scalar=None)
CASES += _binary_cases("minimum", dg.minimum, np.minimum, _t("minimum"), _ANY, _ANY, scalar=None)
CASES += _binary_cases("fmod", dg.fmod, np.fmod, _t("fmod"), _sh(-5, 5), _nonzero)
CASES += _binary_cases("remainder", dg.remainder, np.remainder, _t("remainder"), _sh(-5, 5),
                       _nonzero)
CASES += _binary_cases("atan2", dg.atan2, np.arctan2, _t("atan2"), _ANY, _nonzero,
                       torch_scalar=False)
CASES += _binary_cases("hypot", dg.hypot, np.hypot, _t("hypot"), _nonzero, _nonzero,
                       torch_scalar=False)
CASES += _binary_cases("logaddexp", dg.logaddexp, np.logaddexp, _t("logaddexp"), _ANY, _ANY,
                       torch_scalar=False)
CASES += _binary_cases("copysign", dg.copysign, np.copysign, _t("copysign"), _nonzero, _nonzero)
CASES += _binary_cases("floor_divide", dg.floor_divide, np.floor_divide, _t("floor_divide"),
                       _sh(-5, 5), _nonzero, grad=False)
CASES += _binary_cases("pow", dg.pow, np.power, _t("pow"), _POS, _ANY)
# maximum/minimum take tensors only in PyTorch: drop their scalar cases (scalar=None above)
CASES = [c for c in CASES if not (c.op in ("maximum", "minimum") and "scalar" in c.name)]

CASES += [
    # Python scalars on the left go through the reflected operators
    OpCase("sub", lambda x: 2.5 - x, [rand(2, 3, seed=11)], ref=lambda x: 2.5 - x,
           torch_fn=lambda x: 2.5 - x, name="scalar-left"),
    OpCase("add", lambda x: 3 + x, [rand(2, 3, seed=12)], ref=lambda x: 3 + x,
           torch_fn=lambda x: 3 + x, name="scalar-left"),
    OpCase("mul", lambda x: -2 * x, [rand(2, 3, seed=13)], ref=lambda x: -2 * x,
           torch_fn=lambda x: -2 * x, name="scalar-left"),
    OpCase("div", lambda x: 3 / x, [_nonzero(2, 3, 14)], ref=lambda x: 3 / x,
           torch_fn=lambda x: 3 / x, name="scalar-left"),
    # (PyTorch has no derivative for a Python-number dividend: numpy and gradcheck only)
    OpCase("remainder", lambda x: 5.5 % x, [_nonzero(2, 3, 15)],
           ref=lambda x: np.remainder(5.5, x), name="scalar-left"),
    OpCase("floor_divide", lambda x: 7 // x, [_nonzero(2, 3, 16)],
           ref=lambda x: np.floor_divide(7, x), torch_fn=lambda x: 7 // x, grad=False,
           name="scalar-left"),
    OpCase("add", lambda x, y: dg.add(x, y, alpha=2.5), [rand(2, 3, seed=17), rand(3, seed=18)],
           ref=lambda x, y: x + 2.5 * y, torch_fn=lambda x, y: torch.add(x, y, alpha=2.5),
           name="alpha"),
    OpCase("sub", lambda x, y: dg.sub(x, y, alpha=-3), [rand(2, 3, seed=19), rand(3, seed=20)],
           ref=lambda x, y: x + 3 * y, torch_fn=lambda x, y: torch.sub(x, y, alpha=-3),
           name="alpha"),
    OpCase("sub", lambda x: dg.rsub(x, 2.0, alpha=2), [rand(4, seed=21)], ref=lambda x: 2 - 2 * x,
           torch_fn=lambda x: torch.rsub(x, 2.0, alpha=2), name="rsub"),
    # mixed dtypes: float tensor with an int tensor (promotes to the float dtype)
    OpCase("mul", dg.mul, [rand(2, 3, seed=22), np.array([1, -2, 3])], ref=np.multiply,
           torch_fn=_t("mul"), name="float-int"),
    OpCase("div", dg.div, [np.array([7, -7, 6]), np.array([2, 2, -4])], ref=np.divide,
           torch_fn=_t("div"), grad=False, name="int-int-true-division"),
    OpCase("div", lambda x, y: dg.div(x, y, rounding_mode="trunc"), [rand(6, seed=23) * 5,
           _nonzero(6, 24)], ref=lambda x, y: np.trunc(x / y),
           torch_fn=lambda x, y: torch.div(x, y, rounding_mode="trunc"), grad=False,
           name="rounding-trunc"),
    OpCase("floor_divide", lambda x, y: dg.div(x, y, rounding_mode="floor"),
           [np.array([7, -7, 7, -7]), np.array([2, 2, -2, -2])], ref=np.floor_divide,
           torch_fn=lambda x, y: torch.div(x, y, rounding_mode="floor"), grad=False,
           name="rounding-floor-int"),
    # integer sign semantics: fmod takes the dividend's sign, remainder the divisor's
    OpCase("fmod", dg.fmod, [np.array([-7, 7, -7, 7, 0]), np.array([3, 3, -3, -3, 5])],
           ref=np.fmod, torch_fn=_t("fmod"), grad=False, name="int-signs"),
    OpCase("remainder", dg.remainder, [np.array([-7, 7, -7, 7, 0]), np.array([3, 3, -3, -3, 5])],
           ref=np.remainder, torch_fn=_t("remainder"), grad=False, name="int-signs"),
    OpCase("fmod", dg.fmod, [np.array([-7.5, 7.5, -7.5, 7.5]), np.array([2.0, 2.0, -2.0, -2.0])],
           ref=np.fmod, torch_fn=_t("fmod"), name="float-signs"),
    OpCase("remainder", dg.remainder,
           [np.array([-7.5, 7.5, -7.5, 7.5]), np.array([2.0, 2.0, -2.0, -2.0])],
           ref=np.remainder, torch_fn=_t("remainder"), name="float-signs"),
    # pow: scalar exponents (int, negative, fractional), scalar base, integer powers
    OpCase("pow", lambda x: x ** 2, [rand(2, 3, seed=25)], ref=lambda x: x ** 2,
           torch_fn=lambda x: x ** 2, name="square"),
    OpCase("pow", lambda x: x ** 3, [rand(2, 3, seed=26)], ref=lambda x: x ** 3,
           torch_fn=lambda x: x ** 3, name="cube-negative-base"),
    OpCase("pow", lambda x: x ** -1.5, [positive(2, 3, seed=27)], ref=lambda x: x ** -1.5,
           torch_fn=lambda x: x ** -1.5, name="negative-fractional"),
    OpCase("pow", lambda x: x ** 0, [rand(3, seed=28)], ref=lambda x: x ** 0,
           torch_fn=lambda x: x ** 0, name="zero-exponent"),
    OpCase("pow", lambda x: 2.5 ** x, [rand(2, 3, seed=29)], ref=lambda x: 2.5 ** x,
           torch_fn=lambda x: 2.5 ** x, name="scalar-base"),
    OpCase("pow", lambda x: dg.pow(2, x), [rand(2, 3, seed=30)], ref=lambda x: 2.0 ** x,
           torch_fn=lambda x: torch.pow(2, x), name="scalar-base-fn"),
    OpCase("pow", dg.pow, [np.array([2, -3, 0, 1, -1, 5]), np.array([3, 2, 4, -2, -3, -1])],
           ref=lambda a, b: np.where(b < 0, np.where(np.abs(a) == 1, a ** (b % 2), 0),
                                     np.power(a, np.maximum(b, 0))),
           torch_fn=_t("pow"), grad=False, name="int-int-negative"),
    OpCase("pow", dg.pow, [positive(2, 3, seed=31), np.array([1, 2, 3])], ref=np.power,
           torch_fn=_t("pow"), name="float-int-exponent"),
]

# ----------------------------------------------------------------------------------------------
# Comparisons, logical and bitwise ops (bool outputs; integer/bool inputs)
# ----------------------------------------------------------------------------------------------

_A = np.array([[1.0, -2.0, 3.5], [0.5, 2.0, -1.0]])
_B = np.array([1.0, 2.0, -1.0])  # broadcast against _A, with ties in every column
for _op, _ref in (("eq", np.equal), ("ne", np.not_equal), ("lt", np.less), ("le", np.less_equal),
                  ("gt", np.greater), ("ge", np.greater_equal)):
    CASES += [
        OpCase(_op, getattr(dg, _op), [_A, _B], ref=_ref, torch_fn=_t(_op), grad=False,
               name="broadcast"),
        OpCase(_op, lambda x, _op=_op: getattr(x, _op)(2.0), [_A],
               ref=lambda x, _r=_ref: _r(x, 2.0), torch_fn=lambda x, _op=_op: getattr(x, _op)(2.0),
               grad=False, name="scalar"),
        OpCase(_op, getattr(dg, _op), [np.array([1, 5, -3]), np.array([1.0, 4.5, -3.0])], ref=_ref,
               torch_fn=_t(_op), grad=False, name="int-float"),
    ]
CASES += [
    OpCase("lt", lambda x: 1 < x, [_A], ref=lambda x: 1 < x, torch_fn=lambda x: 1 < x,
           grad=False, name="scalar-left"),
    OpCase("eq", lambda x, y: x == y, [np.array([True, False, True]), np.array([1, 0, 2])],
           ref=np.equal, torch_fn=lambda x, y: x == y, grad=False, name="bool-int"),
]

_P, _Q = np.array([True, True, False, False]), np.array([True, False, True, False])
_I, _J = np.array([12, -7, 0, 255]), np.array([10, 3, -1, 15])
for _op in ("logical_and", "logical_or", "logical_xor"):
    _r = getattr(np, _op)
    CASES += [
        OpCase(_op, getattr(dg, _op), [_P, _Q], ref=_r, torch_fn=_t(_op), grad=False),
        OpCase(_op, getattr(dg, _op), [_A, _B], ref=_r, torch_fn=_t(_op), grad=False,
               name="float-broadcast"),
        OpCase(_op, getattr(dg, _op), [_I, _Q], ref=_r, torch_fn=_t(_op), grad=False,
               name="int-bool"),
    ]
for _op, _sym in (("bitwise_and", "&"), ("bitwise_or", "|"), ("bitwise_xor", "^")):
    _r = getattr(np, _op)
    _f = eval(f"lambda x, y: x {_sym} y")  # noqa: S307 - a fixed operator from the tuple above
    _fs = eval(f"lambda x: x {_sym} 6")  # noqa: S307
    _fl = eval(f"lambda x: 6 {_sym} x")  # noqa: S307
    CASES += [
        OpCase(_op, getattr(dg, _op), [_I, _J], ref=_r, torch_fn=_t(_op), grad=False),
        OpCase(_op, _f, [_P, _Q], ref=_r, torch_fn=_f, grad=False, name="bool-operator"),
        OpCase(_op, _fs, [_I], ref=lambda x, _r=_r: _r(x, 6), torch_fn=_fs, grad=False,
               name="scalar"),
        OpCase(_op, _fl, [_I], ref=lambda x, _r=_r: _r(6, x), torch_fn=_fl, grad=False,
               name="scalar-left"),
        OpCase(_op, getattr(dg, _op), [_I.reshape(4, 1), _J], ref=_r, torch_fn=_t(_op),
               grad=False, name="broadcast"),
    ]
CASES += [
    OpCase("bitwise_left_shift", lambda x, y: x << y, [np.array([1, -3, 5]), np.array([0, 2, 4])],
           ref=np.left_shift, torch_fn=lambda x, y: x << y, grad=False),
    OpCase("bitwise_right_shift", lambda x: x >> 1, [np.array([8, -7, 5])],
           ref=lambda x: np.right_shift(x, 1), torch_fn=lambda x: x >> 1, grad=False),
]

# ----------------------------------------------------------------------------------------------
# where and clamp
# ----------------------------------------------------------------------------------------------

_COND = np.array([[True, False, True], [False, False, True]])
CASES += [
    OpCase("where", dg.where, [_COND, rand(2, 3, seed=40), rand(2, 3, seed=41)], ref=np.where,
           torch_fn=_t("where")),
    OpCase("where", dg.where, [_COND[0], rand(2, 1, seed=42), rand(3, seed=43)], ref=np.where,
           torch_fn=_t("where"), name="broadcast"),
    OpCase("where", lambda c, x: dg.where(c, x, 0.5), [_COND, rand(2, 3, seed=44)],
           ref=lambda c, x: np.where(c, x, 0.5),
           torch_fn=lambda c, x: torch.where(c, x, 0.5), name="scalar-other"),
    OpCase("where", lambda c, x: dg.where(c, -1.0, x), [_COND, rand(2, 3, seed=45)],
           ref=lambda c, x: np.where(c, -1.0, x),
           torch_fn=lambda c, x: torch.where(c, -1.0, x), name="scalar-input"),
    OpCase("where", lambda c, x: x.where(c, 0.0), [_COND, rand(2, 3, seed=46)],
           ref=lambda c, x: np.where(c, x, 0.0), torch_fn=lambda c, x: x.where(c, 0.0),
           name="method"),
    OpCase("where", dg.where, [_COND, np.array([1, 2, 3]), rand(2, 3, seed=47)], ref=np.where,
           torch_fn=_t("where"), name="int-float"),
    OpCase("clamp", lambda x: dg.clamp(x, -0.5, 0.7), [rand(3, 4, seed=48)],
           ref=lambda x: np.clip(x, -0.5, 0.7),
           torch_fn=lambda x: torch.clamp(x, -0.5, 0.7), name="scalars"),
    OpCase("clamp", lambda x: x.clamp(min=0.2), [rand(3, 4, seed=49)],
           ref=lambda x: np.maximum(x, 0.2), torch_fn=lambda x: x.clamp(min=0.2), name="min-only"),
    OpCase("clamp", lambda x: dg.clip(x, max=-0.1), [rand(3, 4, seed=50)],
           ref=lambda x: np.minimum(x, -0.1), torch_fn=lambda x: torch.clip(x, max=-0.1),
           name="max-only"),
    OpCase("clamp", dg.clamp, [rand(3, 4, seed=51), rand(4, low=-2, high=-0.2, seed=52),
                               rand(3, 1, low=0.2, high=2, seed=53)],
           ref=lambda x, lo, hi: np.minimum(np.maximum(x, lo), hi), torch_fn=_t("clamp"),
           name="tensors-broadcast"),
    OpCase("clamp", lambda x, lo: dg.clamp(x, min=lo), [rand(3, 4, seed=54), rand(3, 4, seed=55)],
           ref=np.maximum, torch_fn=lambda x, lo: torch.clamp(x, min=lo), name="tensor-min"),
    OpCase("clamp", lambda x: dg.clamp(x, 1.5, 0.5), [rand(5, seed=56)],
           ref=lambda x: np.minimum(np.maximum(x, 1.5), 0.5),
           torch_fn=lambda x: torch.clamp(x, 1.5, 0.5), name="min-above-max"),
    OpCase("clamp", lambda x: dg.clamp(x, -2, 3), [np.array([-5, 0, 7])],
           ref=lambda x: np.clip(x, -2, 3), torch_fn=lambda x: torch.clamp(x, -2, 3), grad=False,
           name="int"),
    OpCase("clamp", lambda x: dg.clamp(x, 0.5), [np.array([-5, 0, 7])],
           ref=lambda x: np.maximum(x, 0.5), torch_fn=lambda x: torch.clamp(x, 0.5), grad=False,
           name="int-float-bound"),
]

# ----------------------------------------------------------------------------------------------
# Composites built on the primitives above
# ----------------------------------------------------------------------------------------------

CASES += [
    OpCase("lerp", dg.lerp, [rand(2, 3, seed=60), rand(2, 3, seed=61), rand(3, low=-0.5,
                                                                              high=1.5, seed=62)],
           ref=lambda a, b, w: a + w * (b - a), torch_fn=_t("lerp"), composite=True,
           name="tensor-weight"),
    OpCase("lerp", lambda a, b: dg.lerp(a, b, 0.75), [rand(4, seed=63), rand(4, seed=64)],
           ref=lambda a, b: a + 0.75 * (b - a), torch_fn=lambda a, b: torch.lerp(a, b, 0.75),
           composite=True, name="scalar-weight"),
    OpCase("addcmul", lambda x, a, b: dg.addcmul(x, a, b, value=0.5),
           [rand(3, seed=65), rand(2, 3, seed=66), rand(2, 1, seed=67)],
           ref=lambda x, a, b: x + 0.5 * a * b,
           torch_fn=lambda x, a, b: torch.addcmul(x, a, b, value=0.5), composite=True),
    OpCase("addcdiv", lambda x, a, b: dg.addcdiv(x, a, b, value=-2),
           [rand(3, seed=68), rand(2, 3, seed=69), _nonzero(2, 1, 70)],
           ref=lambda x, a, b: x - 2 * a / b,
           torch_fn=lambda x, a, b: torch.addcdiv(x, a, b, value=-2), composite=True),
    OpCase("frac", dg.frac, [rand(2, 3, seed=71) * 3], ref=lambda x: x - np.trunc(x),
           torch_fn=_t("frac"), composite=True),
    OpCase("deg2rad", dg.deg2rad, [rand(4, seed=72) * 90], ref=np.deg2rad,
           torch_fn=_t("deg2rad"), composite=True),
    OpCase("rad2deg", dg.rad2deg, [rand(4, seed=74)], ref=np.rad2deg,
           torch_fn=_t("rad2deg"), composite=True),
    OpCase("square", dg.square, [rand(2, 3, seed=73)], ref=np.square, torch_fn=_t("square"),
           composite=True),
    OpCase("float_power", dg.float_power, [np.array([2, 3, -2]), np.array([0.5, 2.0, 3.0])],
           ref=lambda a, b: np.power(a.astype(np.float64), b), torch_fn=_t("float_power"),
           composite=True, grad=False),
]
