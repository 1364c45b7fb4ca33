"""Type promotion and broadcasting, checked against PyTorch with hypothesis.

For random pairs of dtypes and operands (tensors of 0 to 3 dims, Python bool/int/float scalars),
the result dtype and the values of add/mul/div/comparisons/where must equal PyTorch's; random
shapes must broadcast as numpy and PyTorch do, and shapes that do not broadcast must raise a
RuntimeError naming the sizes.
"""

from __future__ import annotations

import itertools
import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import array_shapes, mutually_broadcastable_shapes

import dyngraph as dg
from tests.conftest import requires_torch, torch

pytestmark = requires_torch

DTYPES = ["bool", "uint8", "int8", "int16", "int32", "int64", "float16", "bfloat16", "float32",
          "float64"]
SETTINGS = settings(max_examples=100, deadline=None, derandomize=True)


def _np_values(dtype: str, shape, seed: int) -> np.ndarray:
    """Small values exact in every dtype: integers in [-4, 4] (uint8: [0, 8]), floats in
    quarters, so results of add/mul are exact and only promotion decides the outcome."""
    rng = np.random.default_rng(seed)
    if dtype == "bool":
        return rng.integers(0, 2, size=shape).astype(bool)
    if dtype == "uint8":
        return rng.integers(0, 9, size=shape).astype(np.uint8)
    if dtype.startswith("int"):
        return rng.integers(-4, 5, size=shape).astype(dtype)
    return (rng.integers(-16, 17, size=shape) / 4).astype(np.float32)


def _pair(dtype: str, shape, seed: int):
    """The same tensor in dyngraph and in PyTorch."""
    a = _np_values(dtype, shape, seed)
    return (dg.tensor(a, dtype=getattr(dg, dtype)),
            torch.tensor(a).to(getattr(torch, dtype)))


@st.composite
def operands(draw, allow_scalar=True):
    """(dyngraph operand, torch operand, description): a tensor of some dtype and ndim 0-3, or a
    Python bool/int/float."""
    kinds = ["tensor", "tensor", "scalar"] if allow_scalar else ["tensor"]
    if draw(st.sampled_from(kinds)) == "scalar":
        v = draw(st.one_of(st.booleans(), st.integers(-5, 5),
                           st.integers(-20, 20).map(lambda k: k / 4)))
        return v, v, repr(v)
    dtype = draw(st.sampled_from(DTYPES))
    shape = draw(array_shapes(min_dims=0, max_dims=3, min_side=1, max_side=3))
    d, t = _pair(dtype, shape, draw(st.integers(0, 2**16)))
    return d, t, f"{dtype}{list(shape)}"


def _as_numpy(x) -> np.ndarray:
    if isinstance(x, dg.Tensor):
        a = x.detach()._data
        return a.astype(np.float64) if a.dtype.kind == "f" or a.dtype.name == "bfloat16" else a
    return x.detach().to(torch.float64 if x.dtype.is_floating_point else x.dtype).numpy()


def _dtype_name(dt) -> str:
    return str(dt).split(".")[-1]


def _check_same(got, want, where: str) -> None:
    assert _dtype_name(got.dtype) == _dtype_name(want.dtype), \
        f"{where}: dtype {got.dtype} != torch {want.dtype}"
    assert tuple(got.shape) == tuple(want.shape), where
    tol = 1e-2 if _dtype_name(want.dtype) in ("float16", "bfloat16") else 1e-6
    np.testing.assert_allclose(_as_numpy(got), _as_numpy(want), rtol=tol, atol=tol,
                               equal_nan=True, err_msg=where)


def _run_both(fn_dg, fn_torch, dargs, targs, where):
    try:
        want = fn_torch(*targs)
    except (RuntimeError, TypeError) as e:  # PyTorch refuses (e.g. bool - bool): so must we
        with pytest.raises((RuntimeError, TypeError)):
            fn_dg(*dargs)
        return str(e)
    got = fn_dg(*dargs)
    _check_same(got, want, where)
    return None


_BINARY = {
    "add": (lambda a, b: a + b),
    "sub": (lambda a, b: a - b),
    "mul": (lambda a, b: a * b),
    "div": (lambda a, b: a / b),
    "eq": (lambda a, b: a == b),
    "lt": (lambda a, b: a < b),
    "ge": (lambda a, b: a >= b),
}


@SETTINGS
@given(op=st.sampled_from(sorted(_BINARY)), a=operands(allow_scalar=False), b=operands())
def test_binary_promotion_matches_torch(op, a, b):
    fn = _BINARY[op]
    (da, ta, sa), (db, tb, sb) = a, b
    _run_both(fn, fn, (da, db), (ta, tb), f"{sa} {op} {sb}")
    # and with the operands swapped (a Python scalar on the left uses the reflected operator)
    _run_both(fn, fn, (db, da), (tb, ta), f"{sb} {op} {sa}")


@SETTINGS
@given(op=st.sampled_from(["add", "mul", "div", "eq", "lt"]), a=operands(allow_scalar=False),
       b=operands(allow_scalar=False))
def test_functional_forms_match_torch(op, a, b):
    (da, ta, sa), (db, tb, sb) = a, b
    _run_both(getattr(dg, op), getattr(torch, op), (da, db), (ta, tb), f"{op}({sa}, {sb})")


@SETTINGS
@given(a=operands(), b=operands(), shape=array_shapes(min_dims=0, max_dims=2, max_side=3),
       seed=st.integers(0, 2**16))
def test_where_promotion_matches_torch(a, b, shape, seed):
    (da, ta, sa), (db, tb, sb) = a, b
    cond = np.random.default_rng(seed).integers(0, 2, size=shape).astype(bool)
    dc, tc = dg.tensor(cond), torch.tensor(cond)
    _run_both(dg.where, torch.where, (dc, da, db), (tc, ta, tb), f"where({shape}, {sa}, {sb})")


@pytest.mark.parametrize("a,b", list(itertools.product(DTYPES, DTYPES)))
def test_promote_types_table(a, b):
    got = dg.promote_types(getattr(dg, a), getattr(dg, b))
    assert _dtype_name(got) == _dtype_name(torch.promote_types(getattr(torch, a),
                                                               getattr(torch, b)))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("scalar", [True, 3, -2.5])
@pytest.mark.parametrize("zero_dim", [False, True])
def test_result_type_with_scalars(dtype, scalar, zero_dim):
    shape = () if zero_dim else (2,)
    d, t = _pair(dtype, shape, 0)
    assert _dtype_name(dg.result_type(d, scalar)) == _dtype_name(torch.result_type(t, scalar))
    assert _dtype_name(dg.result_type(scalar, d)) == _dtype_name(torch.result_type(scalar, t))


@pytest.fixture
def float64_default():
    dg.set_default_dtype(dg.float64)
    torch.set_default_dtype(torch.float64)
    yield
    dg.set_default_dtype(dg.float32)
    torch.set_default_dtype(torch.float32)


@pytest.mark.parametrize("dtype", ["bool", "uint8", "int32", "int64", "float16", "float32"])
def test_default_dtype_float64_governs_scalar_promotion(float64_default, dtype):
    d, t = _pair(dtype, (3,), 1)
    for fn in (lambda x: x * 2.5, lambda x: x / 2, lambda x: x.sqrt(), lambda x: 1.5 - x):
        _run_both(fn, fn, (d,), (t,), dtype)


def test_python_float_keeps_double_precision_on_the_left():
    x = dg.tensor([0.0, 1.0], dtype=dg.float64)
    tx = torch.tensor([0.0, 1.0], dtype=torch.float64)
    for fn in (lambda v: 2.1 - v, lambda v: 2.1 / (v + 1), lambda v: 2.1 ** v,
               lambda v: 0.1 % (v + 1), lambda v: 2.1 + v):
        np.testing.assert_array_equal(_as_numpy(fn(x)), fn(tx).numpy())


def test_int_scalar_out_of_range_wraps_like_torch():
    for dtype in ("uint8", "int8", "int16"):
        d, t = _pair(dtype, (4,), 2)
        for fn in (lambda x: x + 300, lambda x: x * 1000, lambda x: x - 7):
            _check_same(fn(d), fn(t), dtype)


# ----------------------------------------------------------------------------------------------
# Broadcasting
# ----------------------------------------------------------------------------------------------

@SETTINGS
@given(shapes=mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=4, max_side=3),
       op=st.sampled_from(["add", "mul", "maximum", "lt", "atan2"]))
def test_broadcast_shapes_match_numpy_and_torch(shapes, op):
    sa, sb = shapes.input_shapes
    (da, ta), (db, tb) = _pair("float32", sa, 1), _pair("float32", sb, 2)
    got = getattr(dg, op)(da, db)
    assert tuple(got.shape) == shapes.result_shape == np.broadcast_shapes(sa, sb)
    _check_same(got, getattr(torch, op)(ta, tb), f"{op} {sa} {sb}")


@SETTINGS
@given(shapes=mutually_broadcastable_shapes(num_shapes=3, min_dims=0, max_dims=3, max_side=3))
def test_three_way_broadcast_of_where_and_clamp(shapes):
    sc, sa, sb = shapes.input_shapes
    cond = np.random.default_rng(0).integers(0, 2, size=sc).astype(bool)
    (da, ta), (db, tb) = _pair("float32", sa, 3), _pair("float32", sb, 4)
    _check_same(dg.where(dg.tensor(cond), da, db), torch.where(torch.tensor(cond), ta, tb),
                "where")
    (dx, tx) = _pair("float32", sc, 5)
    _check_same(dg.clamp(dx, da, db), torch.clamp(tx, ta, tb), "clamp")


_SIZES = re.compile(r"\((\d+)\)")


@st.composite
def mismatched_shapes(draw):
    """Two shapes that do not broadcast: one dimension holds two different sizes > 1."""
    a = list(draw(array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=4)))
    b = list(draw(array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=4)))
    k = draw(st.integers(1, min(len(a), len(b))))
    x, y = draw(st.sampled_from([(2, 3), (3, 2), (2, 4), (4, 3)]))
    a[-k], b[-k] = x, y
    return tuple(a), tuple(b)


@SETTINGS
@given(shapes=mismatched_shapes(), op=st.sampled_from(["add", "sub", "mul", "div", "eq",
                                                        "maximum", "pow", "where"]))
def test_broadcast_mismatch_raises_clear_error(shapes, op):
    sa, sb = shapes
    (da, ta), (db, tb) = _pair("float32", sa, 1), _pair("float32", sb, 2)
    if op == "where":
        call_dg = lambda: dg.where(da > 0, da, db)  # noqa: E731
        call_torch = lambda: torch.where(ta > 0, ta, tb)  # noqa: E731
    else:
        call_dg = lambda: getattr(dg, op)(da, db)  # noqa: E731
        call_torch = lambda: getattr(torch, op)(ta, tb)  # noqa: E731
    with pytest.raises(RuntimeError) as want:
        call_torch()
    with pytest.raises(RuntimeError) as got:
        call_dg()
    msg = str(got.value)
    assert op in msg or (op == "where" and "where" in msg), msg
    # the same two mismatching sizes and the same dimension as PyTorch reports
    assert sorted(_SIZES.findall(msg)[:2]) == sorted(_SIZES.findall(str(want.value))[:2]), msg
    dim = re.search(r"non-singleton dimension (\d+)", str(want.value)).group(1)
    assert f"dimension {dim}" in msg, msg


def test_inplace_broadcast_to_a_smaller_target_is_refused():
    x = dg.zeros(3)
    with pytest.raises(RuntimeError, match=r"\[3\].*\[2, 3\]"):
        x.add_(dg.ones(2, 3))
    tx = torch.zeros(3)
    with pytest.raises(RuntimeError, match=r"\[3\].*\[2, 3\]"):
        tx.add_(torch.ones(2, 3))
