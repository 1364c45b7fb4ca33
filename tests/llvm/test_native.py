"""One native entry function per graph (runtime/native.py, compiler/render_entry.py): segments,
the memory arena, size-independent code, backward graphs and whole training steps on LLVM, all
against eager mode."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

import dyngraph as dg
import dyngraph.nn.functional as F
from compiler.kernel_ir import RUNTIME, Access, KernelBuilder
from compiler.render_entry import GemmCall, KernelCall, Ptr, render_entry
from runtime import jit, native
from runtime.llvm_backend import LLVMProgram


def _programs(cf):
    """Every LLVMProgram of a compiled function's forward segments."""
    for entry in cf._cf.entries:
        for seg in entry.segments():
            if seg.program is not None:
                yield seg.program[0]


def _plans(cf):
    return [p for prog in _programs(cf) for p in (prog.native or {}).values() if p]


def _close(got, want, **tol):
    np.testing.assert_allclose(np.asarray(got), np.asarray(want), **(tol or dict(rtol=2e-5,
                                                                              atol=2e-6)))


def test_render_entry_is_pure_text_without_addresses():
    kb = KernelBuilder(1, 0)
    b0, b1 = kb.buffer("float32", False), kb.buffer("float32", True)
    kb.store(Access(b1, (1,)), kb.op("exp", [kb.load(Access(b0, (RUNTIME,)), "float32")],
                                     "float32"))
    k = kb.finish("k")
    calls = [GemmCall("float32", b"N", b"T", 0, Ptr(3), Ptr(4), Ptr(0, 5)),
             KernelCall(k, 7, (Ptr(0, 5), Ptr(5)))]
    text, sym = render_entry(calls)
    assert text == render_entry(calls)[0] and sym.startswith("dg_entry_")
    assert text.count("define internal void @dg_") == 1     # the kernel (not inlined)
    assert "@dg_gemm_" not in text
    # a GEMM the plan gave to a skinny kernel calls it through its address in params, and
    # nothing of OpenBLAS's (the module text holds the choice, not the sizes)
    skinny = [dataclasses.replace(calls[0], skinny="dot"), calls[1]]
    text2, sym2 = render_entry(skinny)
    assert sym2 != sym and "@c_i8_" in text and "@c_i8_" not in text2
    jit.compile_ir(text2, sym2)
    assert f"define void @{sym}(ptr %slots)" in text
    assert "inttoptr" not in text and "0x7f" not in text.lower()   # no process addresses
    jit.compile_ir(text, sym)   # LLVM accepts it


def test_mlp_forward_is_one_native_call_and_matches_eager():
    x, w1, b1, w2 = dg.randn(16, 32), dg.randn(32, 64), dg.randn(64), dg.randn(64, 8)

    def f(x, w1, b1, w2):
        h = F.gelu(x @ w1 + b1, approximate="tanh") * dg.sigmoid(x @ w1)
        return F.softmax(h @ w2, -1)

    cf = dg.compile(f, backend="llvm")
    cf(x, w1, b1, w2)     # traced (eager result)
    cf(x, w1, b1, w2)     # planned: runs step by step once, watching where values land
    calls = native.STATS["calls"]
    got = cf(x, w1, b1, w2)
    assert native.STATS["calls"] == calls + 1
    (plan,) = _plans(cf)
    assert [kind for kind, _ in plan.schedule] == ["native"]
    _close(got.numpy(), f(x, w1, b1, w2).numpy())


def test_arena_reuses_memory_of_dead_temporaries():
    ws = [dg.randn(64, 64) * 0.1 for _ in range(6)]
    x = dg.randn(32, 64)

    def f(x, *ws):
        for w in ws:
            x = (x @ w).tanh()
        return x

    cf = dg.compile(f, backend="llvm")
    cf(x, *ws)
    _close(cf(x, *ws).numpy(), f(x, *ws).numpy())
    (plan,) = _plans(cf)
    temporaries = 11 * 32 * 64 * 4       # 6 products + 5 tanh results live in the arena
    assert 0 < plan.arena_bytes <= temporaries // 3, plan.arena_bytes


def test_a_new_size_reuses_the_compiled_segment():
    def f(x, w):
        return (x @ w).relu().sum(-1)

    cf = dg.compile(f, backend="llvm", dynamic=False)    # a static graph per size
    w = dg.randn(8, 8)
    for n in (5, 5):
        cf(dg.randn(n, 8), w)
    before = jit.STATS["compiled"] + jit.STATS["disk_hits"]
    for n in (13, 13):
        x = dg.randn(n, 8)
        _close(cf(x, w).numpy(), f(x, w).numpy())
    assert jit.STATS["compiled"] + jit.STATS["disk_hits"] == before
    assert len(_plans(cf)) == 2


def test_non_contiguous_inputs_and_views_between_kernels():
    x = dg.randn(12, 10)
    w = dg.randn(6, 4).t()            # (4, 6), F-contiguous

    def f(x, w):
        h = x.t()[2:8] * 2            # a strided view of an input
        y = w @ h                     # GEMM on a transposed operand
        return y.reshape(2, 2, 12).permute(2, 0, 1).exp().sum(0)

    cf = dg.compile(f, backend="llvm")
    cf(x, w)
    _close(cf(x, w).numpy(), f(x, w).numpy(), rtol=1e-5, atol=1e-5)
    assert _plans(cf)


def test_backward_graph_runs_on_llvm():
    dg.manual_seed(0)
    m = dg.nn.Sequential(dg.nn.Linear(12, 16), dg.nn.Tanh(), dg.nn.Linear(16, 4))
    x, y = dg.randn(32, 12), dg.randint(0, 4, (32,))
    cf = dg.compile(lambda x, y: F.cross_entropy(m(x), y), backend="llvm")
    for _ in range(2):
        m.zero_grad()
        cf(x, y).backward()
    got = [p.grad.numpy().copy() for p in m.parameters()]
    m.zero_grad()
    F.cross_entropy(m(x), y).backward()
    for g, p in zip(got, m.parameters()):
        _close(g, p.grad.numpy(), rtol=1e-5, atol=1e-6)
    progs = [prog.interpreter for e in cf._cf.entries for s in e.segments() if s.leaf
             for _, prog in s.leaf[4]]
    assert progs and all(isinstance(p, LLVMProgram) for p in progs)


@pytest.mark.parametrize("opt_name", ["SGD", "Adam"])
def test_compiled_training_step_matches_eager_for_50_steps(opt_name):
    def make():
        dg.manual_seed(1)
        m = dg.nn.Sequential(dg.nn.Linear(20, 32), dg.nn.ReLU(), dg.nn.Linear(32, 32),
                             dg.nn.ReLU(), dg.nn.Linear(32, 5))
        kw = dict(lr=0.05, momentum=0.9) if opt_name == "SGD" else dict(lr=1e-2)
        return m, getattr(dg.optim, opt_name)(m.parameters(), **kw)

    def stepper(m, opt):
        def step(x, y):
            opt.zero_grad()
            loss = F.cross_entropy(m(x), y)
            loss.backward()
            opt.step()
            return loss
        return step

    (m1, o1), (m2, o2) = make(), make()
    compiled = dg.compile(stepper(m1, o1), backend="llvm")
    eager = stepper(m2, o2)
    dg.manual_seed(2)
    x, y = dg.randn(24, 20), dg.randint(0, 5, (24,))
    calls = native.STATS["calls"]
    arrays = [p._data for p in m1.parameters()]
    copies = []
    for _ in range(50):
        _close(float(compiled(x, y)), float(eager(x, y)), rtol=1e-4, atol=1e-5)
        copies.append(sum(a is not p._data for a, p in zip(arrays, m1.parameters())))
    # the updates are written in place into the parameters' own arrays by the native kernels
    plans = [p for prog in _programs(compiled) for p in (prog.native or {}).values() if p]
    assert plans and any(r.kind == "donated" for p in plans for r in p._roots)
    assert not any(copies)
    assert native.STATS["calls"] >= calls + 45          # the step ran natively
    # cross_entropy's bounds check does not split the step (one graph, no break)
    assert not compiled.explain().breaks
    for p, q in zip(m1.parameters(), m2.parameters()):
        _close(p.detach().numpy(), q.detach().numpy(), rtol=1e-3, atol=1e-4)


def test_transposed_gemm_output_is_computed_in_its_consumers_layout():
    """`(x.T @ g).T` (a Linear weight's gradient) becomes `g.T @ x`: no permute of the product
    remains, so the update kernel reads the gradient contiguously; values match numpy."""
    from compiler.ir import Graph
    from compiler.lower import transpose_gemm_outputs
    g = Graph()
    x = g.add_input((8, 5), dg.float64, None)
    gr = g.add_input((8, 3), dg.float64, None)
    xt = g.add_node("permute", [x], {"dims": (1, 0)}, (5, 8), dg.float64, None)
    mm = g.add_node("matmul", [xt, gr], {}, (5, 3), dg.float64, None)
    out = g.add_node("permute", [mm], {"dims": (1, 0)}, (3, 5), dg.float64, None)
    g.outputs = [out]
    assert transpose_gemm_outputs(g)
    g.lint()
    last = g.nodes[-1]
    assert last.out is out and last.op == "matmul"
    assert [n.op for n in g.nodes].count("matmul") == 1
    assert last.inputs[1] is x and last.inputs[0].node.op == "permute"
    assert not transpose_gemm_outputs(g)

    rng = np.random.default_rng(0)
    xa, ga = rng.standard_normal((8, 5)), rng.standard_normal((8, 3))
    cf = dg.compile(lambda x, g: (x.T @ g).T * 2.0, backend="llvm")
    for _ in range(2):
        _close(cf(dg.tensor(xa), dg.tensor(ga)).numpy(), (xa.T @ ga).T * 2.0, rtol=1e-12,
               atol=1e-12)


def test_large_outputs_are_recycled_only_when_nobody_holds_them():
    """An output of >= RECYCLE_BYTES whose tensor was dropped is written again next call (no
    fresh pages); one still held, or viewed, gets a new array. Values match numpy each time."""
    f = dg.compile(lambda x: (x * 2.0).exp(), backend="llvm")
    rng = np.random.default_rng(0)
    xs = [rng.standard_normal((64, 512)).astype(np.float32) for _ in range(4)]
    first = f(dg.tensor(xs[0]))
    first_ptr = first._data.ctypes.data
    _close(first.numpy(), np.exp(xs[0].astype(np.float64) * 2))
    held = f(dg.tensor(xs[1]))          # `first` is still held: a new array
    assert held._data.ctypes.data != first_ptr
    _close(first.numpy(), np.exp(xs[0].astype(np.float64) * 2))   # not overwritten
    view = held._data[:3]
    del held
    again = f(dg.tensor(xs[2]))          # the view keeps the previous output alive
    assert not np.shares_memory(again._data, view)
    ptr = again._data.ctypes.data
    del again
    last = f(dg.tensor(xs[3]))           # dropped: its memory is reused
    assert last._data.ctypes.data == ptr
    _close(last.numpy(), np.exp(xs[3].astype(np.float64) * 2))


def test_training_step_compiles_one_module_no_standalone_kernels(tmp_path, monkeypatch):
    """The planning run computes kernel values with eager rules: the step asks the JIT for
    one module, its native segment's (cross-entropy included), and no kernel on its own."""
    monkeypatch.setenv("DYNGRAPH_CACHE_DIR", str(tmp_path))
    native.abi_ok()
    dg.manual_seed(3)
    m = dg.nn.Sequential(dg.nn.Linear(13, 11), dg.nn.Tanh(), dg.nn.Linear(11, 7))
    opt = dg.optim.SGD(m.parameters(), lr=0.1)

    @dg.compile(backend="llvm")
    def step(x, y):
        opt.zero_grad()
        loss = F.cross_entropy(m(x), y)
        loss.backward()
        opt.step()
        return loss

    x, y = dg.randn(5, 13), dg.randint(0, 7, (5,))
    def requests():
        return jit.STATS["compiled"] + jit.STATS["memory_hits"] + jit.STATS["disk_hits"]

    before = requests()
    for _ in range(3):
        step(x, y)
    plans = _plans(step)
    assert [[k for k, _ in p.schedule] for p in plans] == [["native"]]
    assert requests() - before == 1


def test_gemm_library_integer_width_matches_the_plan_tables():
    """sgemm/dgemm take sizes by address: the plan's ints slot has the integer width of the
    library runtime/blas.py chose (numpy's 64-bit OpenBLAS when bundled), and GEMMs in native
    segments match numpy float64."""
    from runtime import blas
    from compiler.render_entry import INTS_SLOT
    rng = np.random.default_rng(5)
    a, b = rng.standard_normal((9, 33)), rng.standard_normal((33, 17))
    cf = dg.compile(lambda a, b: (a.float() @ b.float()).relu() @ b.float().T, backend="llvm")
    for _ in range(2):
        out = cf(dg.tensor(a), dg.tensor(b))
    _close(out.numpy(), np.maximum(a @ b, 0) @ b.T, rtol=1e-4, atol=1e-4)
    bits = blas.int_bits()
    assert bits in (32, 64)
    for plan in _plans(cf):
        assert plan.template[INTS_SLOT].dtype == (np.int64 if bits == 64 else np.int32)
    x = rng.standard_normal((6, 5)).astype(np.float32)
    y = rng.standard_normal((5, 4)).astype(np.float32)
    _close(blas.matmul(x, y), x.astype(np.float64) @ y, rtol=1e-5, atol=1e-5)
