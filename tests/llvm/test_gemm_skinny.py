"""The skinny GEMM kernels (compiler/render_gemm.py): every block shape and edge against numpy
in float64, both operand layouts, and their use by compiled graphs (explain, eager parity)."""

from __future__ import annotations

import ctypes
import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import dyngraph as dg
from compiler.render_gemm import gemm_form, gemm_module, skinny_form
from runtime import jit
from runtime.native import skinny_address
from tests.llvm.test_vecmath import _loops

_I, _P = ctypes.c_int64, ctypes.c_void_p
_SIG = ctypes.CFUNCTYPE(None, _I, _I, _I, _P, _I, _I, _P, _I, _P, _I)
TOL = {np.float32: dict(rtol=2e-5, atol=2e-5), np.float64: dict(rtol=1e-12, atol=1e-12)}


def _kernel(form, dtype):
    return _SIG(skinny_address(form, np.dtype(dtype).name))


def _product(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """a @ b through the kernel gemm_form picks for the operands' layouts (as the entry does)."""
    m, k = a.shape
    n = b.shape[1]
    it = a.itemsize
    ta = b"N" if a.strides[1] == it else b"T"
    tb = b"N" if b.strides[1] == it else b"T"
    form = gemm_form(ta, tb)
    assert form is not None
    lda = a.strides[0 if ta == b"N" else 1] // it
    ldb = b.strides[0 if tb == b"N" else 1] // it
    sai, sap = (lda, 1) if ta == b"N" else (1, lda)
    out = np.full((m, n), np.nan, a.dtype)
    _kernel(form, a.dtype)(m, n, k, a.ctypes.data, sai, sap, b.ctypes.data, ldb,
                           out.ctypes.data, n)
    return out


def _operands(rng, m, n, k, dtype, ta, tb):
    a = rng.standard_normal((m, k) if ta == "N" else (k, m)).astype(dtype)
    b = rng.standard_normal((k, n) if tb == "N" else (n, k)).astype(dtype)
    return (a if ta == "N" else a.T), (b if tb == "N" else b.T)


SHAPES = [(1, 1, 1), (8, 512, 784), (3, 5, 7), (5, 17, 9), (4, 2, 8), (16, 16, 16),
          (512, 40, 8), (10, 33, 3), (7, 31, 17), (2, 1, 33)]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("layout", ["NT", "NN", "TN"])
@pytest.mark.parametrize("m,n,k", SHAPES)
def test_kernels_match_numpy_float64(m, n, k, layout, dtype):
    rng = np.random.default_rng(m * 1000 + n * 10 + k)
    a, b = _operands(rng, m, n, k, dtype, *layout)
    want = a.astype(np.float64) @ b.astype(np.float64)
    np.testing.assert_allclose(_product(a, b), want, **TOL[dtype])


@settings(max_examples=40, deadline=None)
@given(m=st.integers(1, 20), n=st.integers(1, 40), k=st.integers(1, 40),
       layout=st.sampled_from(["NT", "NN", "TN"]))
def test_random_shapes(m, n, k, layout):
    rng = np.random.default_rng(0)
    a, b = _operands(rng, m, n, k, np.float32, *layout)
    np.testing.assert_allclose(_product(a, b), a.astype(np.float64) @ b, **TOL[np.float32])


def test_only_layouts_with_a_contiguous_operand_have_a_kernel():
    assert gemm_form(b"N", b"T") == "dot"
    assert gemm_form(b"N", b"N") == gemm_form(b"T", b"N") == "axpy"
    assert gemm_form(b"T", b"T") is None



def test_the_kernels_take_only_the_regimes_they_were_measured_faster_in():
    N, T = b"N", b"T"
    assert skinny_form(N, T, 8, 512, 784, 784, 4) == "dot"           # x @ W.T at batch 8
    assert skinny_form(N, T, 16, 4096, 4096, 4096, 4) is None        # a 64 MB weight
    assert skinny_form(N, T, 4096, 512, 8, 8, 4) is None             # many rows, few terms
    assert skinny_form(T, N, 512, 784, 8, 784, 4) == "axpy"          # its weight gradient
    assert skinny_form(N, N, 8, 784, 512, 784, 4) == "axpy"          # its input gradient
    assert skinny_form(N, N, 16, 1024, 1024, 1024, 4) is None        # B of 1M elements
    assert skinny_form(N, N, 1024, 1024, 16, 1024, 4) is None        # 4 KB rows, k > 8
    assert skinny_form(N, N, 1024, 1024, 8, 1024, 4) == "axpy"
    assert skinny_form(N, N, 64, 64, 64, 64, 4) is None              # neither small
    assert skinny_form(T, T, 8, 8, 8, 8, 4) is None                  # no kernel for T x T


@pytest.mark.parametrize("form", ["dot", "axpy"])
def test_hot_loop_is_register_blocked_vector_code(form):
    """4 x 2 blocks: 8 vector FMAs per iteration of the innermost loop, no calls; every loop
    is marked so that LLVM neither unrolls nor re-vectorises it (small code, fast compile)."""
    text, _ = gemm_module(form, "float32")
    assert text.count("llvm.loop.unroll.disable") == 1 and "!llvm.loop !" in text
    loops = _loops(jit.assembly(text))
    fmas = [len(re.findall(r"vfmadd\w+\s+.*%[yz]mm", lp)) for lp in loops]
    assert 8 in fmas, f"{form}: no loop with 8 vector FMAs ({fmas})"
    hot = loops[fmas.index(8)]
    assert "call" not in hot


def _explain(cf) -> str:
    return str(cf.explain())


@pytest.mark.parametrize("shape", [(8, 64, 96), (40, 24, 12), (24, 40, 48)])
def test_compiled_products_use_the_kernel_when_skinny(shape):
    m, n, k = shape
    x, w, g = dg.randn(m, k), dg.randn(n, k), dg.randn(m, n)

    def f(x, w, g):
        y = x @ w.t()              # N x T: dot
        return y.relu(), g @ w, g.t() @ x      # N x N and T x N: axpy

    cf = dg.compile(f, backend="llvm")
    for _ in range(2):
        got = cf(x, w, g)
    for a, b in zip(got, f(x, w, g)):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-4, atol=1e-4)
    text = _explain(cf)
    N, T = b"N", b"T"
    skinny = [skinny_form(N, T, m, n, k, k, 4), skinny_form(N, N, m, k, n, k, 4),
              skinny_form(T, N, n, k, m, k, 4)]
    assert ("llvm skinny GEMM" in text) == any(skinny)
    assert ("extern: BLAS gemm" in text) == (not all(skinny))


def train_both(make, x, y, steps: int = 20):
    """Run the SGD step `zero_grad, cross_entropy(model(x), y), backward, step` `steps` times
    eagerly and compiled (LLVM) on two models `make()` builds alike; asserts that the losses and
    the final parameters agree and returns the compiled step (for its explain())."""
    from dyngraph.nn import functional as F
    runs, fn = [], None
    for compiled in (False, True):
        model, opt = make()

        def step(x, y, model=model, opt=opt):
            opt.zero_grad()
            loss = F.cross_entropy(model(x), y)
            loss.backward()
            opt.step()
            return loss
        fn = dg.compile(step, backend="llvm") if compiled else step
        losses = [float(fn(x, y)) for _ in range(steps)]
        runs.append((losses, [p.detach().numpy().copy() for p in model.parameters()]))
    (l0, p0), (l1, p1) = runs
    np.testing.assert_allclose(l1, l0, rtol=1e-4, atol=1e-5)
    for a, b in zip(p1, p0):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
    return fn


def test_training_step_at_batch_8_matches_eager():
    """The MLP step of benchmarks/mlp_compiled.py at batch 8 (forward, input and weight
    gradients all skinny) against the same step run eagerly."""
    from dyngraph import nn

    def make():
        dg.manual_seed(0)
        model = nn.Sequential(nn.Linear(40, 32), nn.ReLU(), nn.Linear(32, 10))
        return model, dg.optim.SGD(model.parameters(), lr=0.1)

    fn = train_both(make, dg.randn(8, 40), dg.randint(0, 10, (8,)))
    assert "llvm skinny GEMM" in _explain(fn)
