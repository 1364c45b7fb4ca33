"""im2col / col2im as native loops (compiler/render_conv.py): bit-identical to the eager ops
for every stride, padding, dilation and layout, and inside compiled convolution steps."""

from __future__ import annotations

import ctypes

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import dyngraph as dg
from compiler.render_conv import conv_function, conv_table
from dyngraph import nn
from dyngraph.ops.conv_ops import _window_count, col2im_op, im2col_op
from runtime import jit
from tests.llvm.test_gemm_skinny import train_both

_P = ctypes.c_void_p
_FNS: dict = {}


def _fn(op, dtype):
    if (op, dtype) not in _FNS:
        sym, decls, text = conv_function(op, dtype)
        module = "\n".join(decls) + "\n" + text.replace("define internal", "define", 1)
        _FNS[op, dtype] = ctypes.CFUNCTYPE(None, _P, _P, _P)(jit.compile_ir(module, sym))
    return _FNS[op, dtype]


def _el(a):
    return [s // a.itemsize for s in a.strides]


def _check(shape, k, stride, pad, dil, dtype, order="C"):
    rng = np.random.default_rng(sum(shape))
    x = np.asarray(rng.standard_normal(shape).astype(dtype), order=order)
    attrs = dict(kernel_size=k, dilation=dil, padding=pad, stride=stride)
    ref = im2col_op.eager(np, x, k, dil, pad, stride)
    out = np.full_like(ref, np.nan)
    table = np.array(conv_table(x.shape, ref.shape, attrs, _el(x), _el(out)), np.int64)
    _fn("im2col", dtype)(table.ctypes.data, x.ctypes.data, out.ctypes.data)
    np.testing.assert_array_equal(out, ref)
    cols = rng.standard_normal(ref.shape).astype(dtype)
    cref = col2im_op.eager(np, cols, shape[2:], k, dil, pad, stride)
    img = np.full_like(cref, np.nan)
    table = np.array(conv_table(img.shape, cols.shape, attrs, _el(img), _el(cols)), np.int64)
    _fn("col2im", dtype)(table.ctypes.data, cols.ctypes.data, img.ctypes.data)
    np.testing.assert_array_equal(img, cref)      # the same sums in the same order


CASES = [((2, 3, 8, 8), (3, 3), (1, 1), ((1, 1), (1, 1)), (1, 1)),
         ((1, 2, 7, 9), (2, 3), (2, 1), ((0, 1), (2, 0)), (1, 2)),
         ((3, 1, 5, 5), (5, 5), (1, 1), ((2, 2), (2, 2)), (1, 1)),
         ((2, 4, 20, 20), (3, 3), (2, 2), ((1, 1), (1, 1)), (1, 1)),
         ((1, 1, 4, 4), (1, 1), (3, 3), ((0, 0), (0, 0)), (1, 1)),
         ((2, 2, 6, 7), (3, 2), (1, 2), ((3, 3), (1, 4)), (2, 1))]


@pytest.mark.parametrize("order", ["C", "F"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("case", CASES)
def test_loops_are_bit_identical_to_the_eager_ops(case, dtype, order):
    _check(*case, dtype, order)


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 3), c=st.integers(1, 3), h=st.integers(1, 9), w=st.integers(1, 9),
       kh=st.integers(1, 4), kw=st.integers(1, 4), sh=st.integers(1, 3), sw=st.integers(1, 3),
       pads=st.lists(st.integers(0, 3), min_size=4, max_size=4),
       dh=st.integers(1, 2), dw=st.integers(1, 2))
def test_random_windows(n, c, h, w, kh, kw, sh, sw, pads, dh, dw):
    pad = ((pads[0], pads[1]), (pads[2], pads[3]))
    if min(_window_count(h, kh, *pad[0], sh, dh), _window_count(w, kw, *pad[1], sw, dw)) < 1:
        return
    _check((n, c, h, w), (kh, kw), (sh, sw), pad, (dh, dw), "float32")


def test_compiled_cnn_step_runs_its_windows_natively_and_matches_eager():
    def make():
        dg.manual_seed(0)
        m = nn.Sequential(nn.Conv2d(2, 4, 3, padding=1), nn.ReLU(),
                          nn.Conv2d(4, 4, 3, stride=2, dilation=1, padding=2), nn.Tanh(),
                          nn.Flatten(), nn.Linear(4 * 6 * 6, 5))
        return m, dg.optim.SGD(m.parameters(), lr=0.05)

    fn = train_both(make, dg.randn(6, 2, 10, 10), dg.randint(0, 5, (6,)))
    # one cache entry: the step starts with zero_grad, so grads present or not is one trace
    text = str(fn.explain())
    assert "1 cache entry" in text
    assert "llvm im2col loops" in text and "llvm col2im loops" in text
    assert "numpy strided gather" not in text and "numpy scatter-add" not in text


def test_unknown_op_is_an_error():
    with pytest.raises(ValueError, match="unknown op"):
        conv_function("unfold", "float32")
