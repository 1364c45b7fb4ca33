"""Column kernels (reductions that keep the array's last dim: bias gradients, softmax over dim 0)
and the vector code of fused softmax: values against numpy float64 and torch, the assembly's hot
loops, and the lowering's choice."""

from __future__ import annotations

import ctypes
import re

import numpy as np
import pytest

import dyngraph as dg
import dyngraph.nn.functional as F
from compiler.kernel_ir import RUNTIME, Access, KernelBuilder, ReduceKind
from compiler.lower import KernelStep, lower
from compiler.render_llvm import COLUMN_STRIP, render_llvm, symbol_name
from runtime import jit, llvm_backend
from tests.conftest import requires_torch, torch
from tests.llvm.test_vecmath import _loops


def _bias_grad_kernel(column: bool, dtype: str = "float32"):
    """Domain (features, batch): g = where(h > 0, dy, 0) stored, b - 0.1 * sum_batch(g) stored,
    and the column max of dy; the contiguous dim is the features (outer) one."""
    kb = KernelBuilder(1, 1, column=column)
    dy_, h_, b_, g_, o_, mx_ = (kb.buffer(dtype, i >= 3) for i in range(6))
    full = (1, RUNTIME) if column else (RUNTIME, RUNTIME)
    row = (1, 0) if column else (RUNTIME, 0)
    dy = kb.load(Access(dy_, full), dtype)
    h = kb.load(Access(h_, full), dtype)
    zero = kb.const(0.0, dtype)
    g = kb.op("where", [kb.op("gt", [h, zero], "bool"), dy, zero], dtype)
    acc = kb.op("cast", [g], "float64") if dtype == "float32" else g
    s = kb.reduce(ReduceKind.SUM, acc, dtype, "float64")
    mx = kb.reduce(ReduceKind.MAX, dy, dtype, dtype)
    kb.store(Access(g_, full), g)
    b = kb.load(Access(b_, row), dtype)
    kb.store(Access(o_, row), kb.op("sub", [b, kb.op("mul", [s, kb.const(0.1, dtype)], dtype)],
                                      dtype))
    kb.store(Access(mx_, row), mx)
    return kb.finish("k")


def _run(kernel, batch, feats, arrays, begin=0, end=None):
    """Call `kernel` on (batch, feats) arrays / (feats,) vectors over domain (feats, batch)."""
    addr = jit.compile_ir(render_llvm(kernel), symbol_name(kernel))
    fn = ctypes.CFUNCTYPE(None, ctypes.c_int64, ctypes.c_int64, ctypes.c_void_p,
                          *([ctypes.c_void_p] * len(arrays)))(addr)
    dims = np.zeros(2 + 2 * len(arrays), np.int64)
    dims[:2] = feats, batch
    for i, a in enumerate(arrays):
        st = [s // a.itemsize for s in a.strides]
        dims[2 + 2 * i:4 + 2 * i] = (st[1], st[0]) if a.ndim == 2 else (st[0], 0)
    fn(begin, feats if end is None else end, dims.ctypes.data, *[a.ctypes.data for a in arrays])


def _bias_grad_arrays(batch, feats, dtype, rng):
    dy = rng.standard_normal((batch, feats)).astype(dtype)
    h = rng.standard_normal((batch, feats)).astype(dtype)
    b = rng.standard_normal(feats).astype(dtype)
    outs = [np.full((batch, feats), np.nan, dtype), np.full(feats, np.nan, dtype),
            np.full(feats, np.nan, dtype)]
    return [dy, h, b] + outs


def _bias_grad_reference(dy, h, b):
    g = np.where(h > 0, dy, 0).astype(np.float64)
    return g, b.astype(np.float64) - 0.1 * g.sum(0), dy.astype(np.float64).max(0)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("batch,feats", [(1, 1), (7, 3), (128, 512), (5, 2 * COLUMN_STRIP + 37)])
def test_column_kernel_matches_numpy(dtype, batch, feats):
    rng = np.random.default_rng(batch * 1000 + feats)
    arrays = _bias_grad_arrays(batch, feats, dtype, rng)
    _run(_bias_grad_kernel(True, dtype), batch, feats, arrays)
    g, o, mx = _bias_grad_reference(*arrays[:3])
    tol = dict(rtol=1e-6, atol=1e-6) if dtype == "float32" else dict(rtol=1e-13, atol=1e-13)
    np.testing.assert_array_equal(arrays[3], g.astype(dtype))
    np.testing.assert_allclose(arrays[4], o, **tol)
    np.testing.assert_array_equal(arrays[5], mx.astype(dtype))


def test_column_kernel_runs_any_slice_of_the_kept_dim():
    """The runtime splits dim 0 over threads: [begin, end) need not be strip aligned."""
    batch, feats = 9, COLUMN_STRIP + 100
    rng = np.random.default_rng(1)
    arrays = _bias_grad_arrays(batch, feats, "float32", rng)
    k = _bias_grad_kernel(True)
    cut = 37
    _run(k, batch, feats, arrays, 0, cut)
    assert np.isnan(arrays[4][cut:]).all()
    _run(k, batch, feats, arrays, cut, feats)
    g, o, mx = _bias_grad_reference(*arrays[:3])
    np.testing.assert_allclose(arrays[4], o, rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(arrays[3], g.astype(np.float32))


def test_column_kernel_accumulation_loop_is_vectorised():
    """The column kernel's reduction loop runs on 256/512-bit registers: packed float64 adds
    of float32 values converted from vector loads, no calls."""
    asm = jit.assembly(render_llvm(_bias_grad_kernel(True)))
    acc = [lp for lp in _loops(asm) if re.search(r"vaddpd\s+[^\n]*%[yz]mm", lp)
           and re.search(r"vcvtps2pd\s", lp) and "call" not in lp]
    assert acc, f"column kernel: no vectorised float64 accumulation loop:\n{asm[:3000]}"
    text = _bias_grad_kernel(True).text()
    assert "domain(outer=1, inner=1, column)" in text and "load b0 [1, s]" in text


def test_column_kernel_needs_outer_and_inner_dims_and_no_argmax():
    with pytest.raises(ValueError, match="outer and an inner"):
        KernelBuilder(1, 0, column=True)
    kb = KernelBuilder(1, 1, column=True)
    x = kb.load(Access(kb.buffer("float32", False), (1, RUNTIME)), "float32")
    kb.store(Access(kb.buffer("int64", True), (1, 0)),
             kb.reduce(ReduceKind.ARGMAX, x, "int64", "float32"))
    with pytest.raises(ValueError, match="argmax"):
        kb.finish("k")


# ----- through compile --------------------------------------------------------------------------

def _column_steps(cf):
    seg = next(cf._cf.entries[0].segments())
    return [s for s in lower(seg.graph.copy()).steps if isinstance(s, KernelStep) and s.column]


def _compiled(fn, *args):
    cf = dg.compile(fn, backend="llvm")
    cf(*args)
    return cf, cf(*args)


CASES = {
    "bias_grad": (lambda g, h: (g * (h > 0)).sum(0), [(128, 96), (128, 96)]),
    "mean_keepdim": (lambda x: x.mean(0, keepdim=True) * 2 + x, [(33, 65)]),
    "amax_amin": (lambda x: (x.amax(0), x.amin(0)), [(17, 300)]),
    "3d_leading": (lambda x: (x * x).sum((0, 1)), [(4, 9, 70)]),
    "3d_middle": (lambda x: x.sum(1) - x.mean(1), [(5, 11, 40)]),
    "softmax_dim0": (lambda x: F.softmax(x * 3, 0), [(31, 50)]),
    "log_softmax_dim0": (lambda x: F.log_softmax(x, 0), [(31, 50)]),
}


@pytest.mark.parametrize("name", sorted(CASES))
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_compiled_column_reductions_match_numpy_float64(name, dtype):
    fn, shapes = CASES[name]
    dt = getattr(dg, dtype)
    args = [dg.randn(*s, dtype=dt) for s in shapes]
    cf, got = _compiled(fn, *args)
    assert _column_steps(cf), cf.explain()
    want = fn(*[dg.tensor(a.numpy().astype(np.float64)) for a in args])
    got, want = (list(v) if isinstance(v, tuple) else [v] for v in (got, want))
    tol = dict(rtol=2e-5, atol=2e-6) if dtype == "float32" else dict(rtol=1e-12, atol=1e-12)
    for g, w in zip(got, want):
        assert g.dtype == dt
        np.testing.assert_allclose(g.numpy(), w.numpy(), **tol)


def test_transposed_input_to_a_column_kernel():
    """A (features, batch) array transposed: the kept dim is strided, the kernel still right."""
    x = dg.randn(40, 24)
    cf, got = _compiled(lambda x: x.sum(0), x.t())
    np.testing.assert_allclose(got.numpy(), x.numpy().astype(np.float64).sum(1), rtol=2e-6,
                               atol=2e-6)


def test_column_kernels_can_be_switched_off(monkeypatch):
    x = dg.randn(64, 48)
    _, on = _compiled(lambda x: x.sum(0), x)
    monkeypatch.setattr(llvm_backend, "COLUMN_KERNELS", False)
    cf, off = _compiled(lambda x: x.sum(0), x)
    runners = [o for prog in [s.program[0] for s in cf._cf.entries[0].segments()]
               for k, o, _ in prog.steps if k == "kernel"]
    assert runners and not any(r.column for r in runners)
    np.testing.assert_allclose(on.numpy(), off.numpy(), rtol=1e-6, atol=1e-6)


@requires_torch
def test_linear_bias_gradient_through_compiled_backward_matches_torch():
    dg.manual_seed(3)
    lin = dg.nn.Linear(20, 300)
    x = dg.randn(64, 20)
    cf = dg.compile(lambda x: (lin(x).relu() ** 2).sum(), backend="llvm")
    for _ in range(2):
        lin.zero_grad()
        cf(x).backward()
    tw = torch.tensor(lin.weight.detach().numpy().astype(np.float64), requires_grad=True)
    tb = torch.tensor(lin.bias.detach().numpy().astype(np.float64), requires_grad=True)
    (torch.relu(torch.tensor(x.numpy().astype(np.float64)) @ tw.T + tb) ** 2).sum().backward()
    np.testing.assert_allclose(lin.bias.grad.numpy(), tb.grad.numpy(), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(lin.weight.grad.numpy(), tw.grad.numpy(), rtol=1e-4, atol=1e-4)


# ----- softmax's loops ------------------------------------------------------------------------

@pytest.mark.parametrize("op", ["softmax", "log_softmax"])
def test_every_loop_of_fused_softmax_is_vectorised(op):
    """Max, sum of exp and the final map loop (exp and scale, or subtract the log): each has a
    vector body on 256/512-bit registers with no calls; the map loop stores vectors. The sum
    loop widens float32 to float64: its float32 exp must not drop to 128-bit registers (the
    renderer's vectorize.width hint)."""
    cf = dg.compile(lambda x: getattr(F, op)(x, -1), backend="llvm")
    x = dg.randn(8, 64)
    cf(x)
    cf(x)
    seg = next(cf._cf.entries[0].segments())
    (step,) = [s for s in lower(seg.graph.copy()).steps if isinstance(s, KernelStep)]
    kernel = step.kernel((True, True))
    assert [type(lp).__name__ for lp in kernel.loops] == ["ReduceLoop", "ReduceLoop", "MapLoop"]
    vector = [lp for lp in _loops(jit.assembly(render_llvm(kernel)))
              if re.search(r"%[yz]mm\d+", lp) and "call" not in lp]
    def stores(lp):     # a vector store to memory other than a spill slot on the stack
        return re.search(r"vmovup[sd]\s+%[yz]mm\d+, -?\d*\(%(?!rsp)", lp)

    has = {"max": any(re.search(r"vmaxp[sd]\s", lp) and not stores(lp) for lp in vector),
           # float32 arithmetic (exp) on full-width registers, float64 sums: not 128-bit
           "sum": any(re.search(r"vaddpd\s", lp) and not stores(lp) and
                      re.search(r"\bv(fmadd\w*|mul|sub)ps\s+[^\n]*%[yz]mm", lp) for lp in vector),
           "map": any(stores(lp) for lp in vector)}
    assert all(has.values()), has


# ----- fusion must not make a cycle between groups ----------------------------------------------

def test_fusion_checks_dependencies_of_groups_that_grew():
    """Backward of `tanh(x).t() * y` at (1, 1): group A (tanh, ...) later reads a transpose of a
    value of group B, whose member reads a transpose of A's tanh. Each join looked safe when made;
    the lowering must still see the cycle (it raised NetworkXUnfeasible before)."""
    rng = np.random.default_rng(0)

    def f(x, y):
        return (x.tanh().t() * y).sum(), (x.tanh().t() * y).mean()

    cf = dg.compile(f, backend="llvm")
    for _ in range(2):
        xa, ya = rng.standard_normal((1, 1)), rng.standard_normal((1, 1))
        xc, yc = (dg.tensor(a, dtype=dg.float64, requires_grad=True) for a in (xa, ya))
        cf(xc, yc)[1].backward()
        xe, ye = (dg.tensor(a, dtype=dg.float64, requires_grad=True) for a in (xa, ya))
        f(xe, ye)[1].backward()
        for c, e in ((xc, xe), (yc, ye)):
            np.testing.assert_allclose(c.grad.numpy(), e.grad.numpy(), rtol=1e-12, atol=1e-12)
