"""repr/str/format of tensors against PyTorch: the same text with "torch." replaced by "dyngraph."
(floats, ints, bools, scientific notation, summarised large tensors, 0-d, empty, non-default
dtypes, grad_fn/requires_grad suffixes, print options, and __format__ on 0-d tensors).
"""

from __future__ import annotations

import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import array_shapes

import dyngraph as dg
from tests.conftest import requires_torch, torch

pytestmark = requires_torch

INF, NAN = float("inf"), float("nan")


@pytest.fixture(autouse=True)
def _restore_print_options():
    yield
    dg.set_printoptions(profile="default")
    torch.set_printoptions(profile="default")


def _both(data, dtype=None):
    a = np.asarray(data)
    if dtype is None:
        dtype = "float32" if a.dtype.kind == "f" else str(a.dtype)
    return (dg.tensor(a, dtype=getattr(dg, dtype)),
            torch.tensor(a.astype(np.float32) if dtype == "bfloat16" else a)
            .to(getattr(torch, dtype)))


def _torch_text(s: str) -> str:
    return s.replace("torch.", "dyngraph.")


_SUFFIX_BREAK = re.compile(r",\n +(?=(dtype|grad_fn|requires_grad|device|size)=)")


def _unwrap_suffixes(s: str) -> str:
    """`dtype=dyngraph.float64` is 3 characters longer than `dtype=torch.float64`, so a suffix
    may move to its own line in one repr and not the other; compare with suffixes unwrapped."""
    return _SUFFIX_BREAK.sub(", ", s)


def assert_same_repr(d, t):
    got, want = repr(d), _torch_text(repr(t))
    if got != want:
        assert _unwrap_suffixes(got) == _unwrap_suffixes(want), \
            f"\ndyngraph:\n{got}\ntorch:\n{want}"
    assert str(d) == repr(d)


CASES = {
    "floats": [1.0, 2.5, -3.25],
    "fixed-precision": [0.1, 0.25, 3.0, -0.12345],
    "ints-as-floats": [1.0, 2.0, -30.0],
    "zeros": [0.0, -0.0, 0.0],
    "nonfinite": [1.5, NAN, INF, -INF],
    "only-nonfinite": [NAN, INF],
    "int-mode-with-inf": [1.0, INF],
    "sci-small": [1e-5, 1.0],
    "sci-large": [1e10, 1.0],
    "sci-ratio": [1.0, 1001.0],
    "no-sci-ratio": [1.0, 1000.0],
    "sci-big-int": [123456789.0, 1.0],
    "int-1e8": [1e8, 1.0],
    "tiny": [1.23456789e-5, 1.0],
    "negative-mixed": [-1.0, 2.5, -1e-3],
    "matrix": [[1.0, 2.0], [3.0, 4.0]],
    "3d": np.arange(24.0).reshape(2, 3, 4) / 7,
    "3d-ints": np.arange(24).reshape(2, 3, 4),
    "column": [[3.0], [7.0]],
    "int64": [-1, 22, 333],
    "int-wide": [10**12, -5],
    "bool": [True, False],
    "bool-all-true": [True, True],
    "bool-matrix": [[True], [False]],
    "wraps-lines": np.arange(40.0) * 1.1,
    "wraps-ints": np.arange(60).reshape(3, 20),
    "wide-row": np.arange(30.0).reshape(1, 30) * 1.1,
    "float-1e300": np.full(3, 1e300),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_repr_matches_torch(name):
    assert_same_repr(*_both(CASES[name]))


@pytest.mark.parametrize("dtype", ["float64", "float16", "bfloat16", "int8", "int16", "int32",
                                   "uint8"])
def test_non_default_dtypes_print_their_dtype(dtype):
    data = [1.5, -2.25, 3.0] if dtype.startswith(("float", "bfloat")) else [1, 2, 3]
    assert_same_repr(*_both(data, dtype))
    assert_same_repr(*_both(np.asarray(data)[0], dtype))  # 0-d


@pytest.mark.parametrize("value", [3.5, 3.0, -0.5, 0.0, 1e-8, 1e20, NAN, -INF, 7, True])
def test_zero_dim(value):
    assert_same_repr(*_both(value))


@pytest.mark.parametrize("shape,dtype", [((0,), "float32"), ((0, 3), "float32"),
                                         ((2, 0), "int32"), ((0,), "int64"), ((0,), "bool"),
                                         ((1, 0, 2), "float64")])
def test_empty(shape, dtype):
    assert_same_repr(*_both(np.zeros(shape), dtype))


@pytest.mark.parametrize("data", [np.arange(2000), np.arange(2000.0), np.arange(1001),
                                  np.arange(3000.0).reshape(30, 100),
                                  np.arange(10000.0).reshape(10, 10, 100) / 3,
                                  np.arange(2000) % 2 == 0,
                                  np.linspace(-1, 1, 1500).reshape(3, 500)])
def test_large_tensors_are_summarized(data):
    assert_same_repr(*_both(data))


def test_requires_grad_and_grad_fn_suffixes():
    d, t = _both([1.0, 2.0])
    d.requires_grad_()
    t.requires_grad_()
    assert_same_repr(d, t)
    for fn in (lambda x: x * 2, lambda x: x + 1, lambda x: x.exp(), lambda x: x.sum(),
               lambda x: x.sigmoid(), lambda x: x / 3, lambda x: x.tanh(), lambda x: -x):
        assert_same_repr(fn(d), fn(t))
    d64, t64 = _both([1.0, 2.0], "float64")
    assert_same_repr(d64.requires_grad_(), t64.requires_grad_())
    assert_same_repr(d64 * 2, t64 * 2)
    assert_same_repr(d.detach(), t.detach())


def test_long_suffix_wraps_to_a_new_line():
    d, t = _both(np.linspace(0.0, 1.0, 8), "float64")
    assert_same_repr(d.requires_grad_(), t.requires_grad_())
    assert_same_repr(d * 3, t * 3)


@pytest.mark.parametrize("options", [
    dict(precision=2), dict(precision=8), dict(sci_mode=True), dict(sci_mode=False),
    dict(threshold=5), dict(threshold=5, edgeitems=1), dict(linewidth=40),
    dict(profile="short"), dict(profile="full"), dict(threshold=5, edgeitems=0),
])
def test_print_options(options):
    dg.set_printoptions(**options)
    torch.set_printoptions(**options)
    for data in ([1.12345678, 2e-5, 300.0], np.arange(12.0).reshape(3, 4) * 1.5,
                 np.arange(20), [1e9, 1.0], np.arange(1200.0)):
        assert_same_repr(*_both(data))


def test_printoptions_context_and_getter():
    before = dg.get_printoptions()
    with dg.printoptions(precision=1):
        d, t = _both([1.26, 2.0])
        with torch._tensor_str.printoptions(precision=1):
            assert_same_repr(d, t)
        assert dg.get_printoptions()["precision"] == 1
    assert dg.get_printoptions() == before


def test_default_dtype_changes_which_dtype_is_printed():
    dg.set_default_dtype(dg.float64)
    torch.set_default_dtype(torch.float64)
    try:
        for dtype in ("float32", "float64"):
            assert_same_repr(*_both([1.5, 2.0], dtype))
        assert_same_repr(*_both(np.zeros(0), "float64"))
        assert_same_repr(*_both(np.zeros(0), "float32"))
    finally:
        dg.set_default_dtype(dg.float32)
        torch.set_default_dtype(torch.float32)


@pytest.mark.parametrize("value,spec", [(2.5, ".3f"), (2.5, ""), (2.5, ">10"), (-1.25, "e"),
                                        (7, "05d"), (7, "x"), (True, ""), (0.1, ".2%")])
def test_format_of_zero_dim_tensors(value, spec):
    d, t = _both(value)
    assert format(d, spec) == format(t, spec)
    assert f"{d}" == f"{t}"


def test_format_of_tensors_with_dims():
    d, t = _both([1.0, 2.0])
    assert format(d, "") == _torch_text(format(t, ""))
    with pytest.raises(TypeError):
        format(t, ".2f")
    with pytest.raises(TypeError):
        format(d, ".2f")
    r, tr = _both(3.25)
    r.requires_grad_()
    tr.requires_grad_()
    assert f"{r * 2:.1f}" == f"{tr * 2:.1f}"  # no error for a 0-d tensor that requires grad


# ----------------------------------------------------------------------------------------------
# Random tensors
# ----------------------------------------------------------------------------------------------

@st.composite
def printable(draw):
    shape = draw(array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=6))
    dtype = draw(st.sampled_from(["float32", "float64", "int64", "int32", "bool", "float16"]))
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    n = int(np.prod(shape))
    if dtype == "bool":
        a = rng.integers(0, 2, n).astype(bool)
    elif dtype.startswith("int"):
        a = rng.integers(-10 ** draw(st.integers(0, 6)), 10 ** draw(st.integers(1, 6)), n)
    else:
        scale = 10.0 ** draw(st.integers(-6, 9 if dtype != "float16" else 4))
        kind = draw(st.sampled_from(["uniform", "integers", "mixed"]))
        if kind == "integers":
            a = rng.integers(-50, 50, n).astype(np.float64)
        else:
            a = rng.standard_normal(n) * scale
            if kind == "mixed" and n:
                a[rng.integers(0, n)] = draw(st.sampled_from([NAN, INF, -INF, 0.0, 1e-9]))
    return a.reshape(shape).astype(dtype if dtype != "bool" else bool), dtype


@settings(max_examples=150, deadline=None, derandomize=True)
@given(sample=printable())
def test_random_tensors_print_like_torch(sample):
    a, dtype = sample
    assert_same_repr(*_both(a, dtype))
