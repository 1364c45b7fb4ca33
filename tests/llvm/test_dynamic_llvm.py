"""Dynamic (symbolic) shapes on the LLVM backend: once a size-only recompile makes a graph
symbolic, its kernels take the sizes as arguments and run every later size, forward and
backward, with no new compile (they ran on the numpy interpreter before)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import dyngraph as dg
import dyngraph.nn as nn
import dyngraph.nn.functional as F
from compiler.interpreter import Interpreter
from compiler.ir import Graph, Sym
from runtime import jit, segments
from runtime.llvm_backend import LLVMProgram
from tests.compiler.test_differential import WIDE, _run_wide

RNG = np.random.default_rng(0)


def _t(*shape):
    return dg.tensor(RNG.standard_normal(shape).astype(np.float32))


W, B = _t(16, 8), _t(8)

CASES = {
    "broadcast": (lambda x, y: (x * y + 1).exp() - y.sigmoid(), lambda n: (_t(n, 8), _t(8))),
    "mean_all": (lambda x: x.mean() * x, lambda n: (_t(n, 5),)),
    "sum_rows": (lambda x: x.sum(1) * 2, lambda n: (_t(n, 7),)),
    "softmax": (lambda x: F.softmax(x, -1) + F.log_softmax(x, 0), lambda n: (_t(n, 9),)),
    "softmax_symbolic_row": (lambda x: F.softmax(x * 3, -1), lambda n: (_t(4, n),)),
    "layer_norm": (lambda x: F.layer_norm(x, (12,)), lambda n: (_t(n, 12),)),
    "linear_gelu": (lambda x: F.gelu(x @ W + B), lambda n: (_t(n, 16),)),
    "flatten": (lambda x: x.reshape(-1) * 2, lambda n: (_t(n, 3),)),
    "cross_entropy": (lambda x, t: F.cross_entropy(x, t),
                      lambda n: (_t(n, 10), dg.tensor(RNG.integers(0, 10, n)))),
    "mse": (lambda x, y: F.mse_loss(x, y), lambda n: (_t(n, 4), _t(n, 4))),
    "cat": (lambda x: dg.cat([x, x * 2], 0).sum(0), lambda n: (_t(n, 3),)),
}


def _symbolic_entry(cf) -> str:
    text = str(cf.explain())
    entries = text.split("\nentry ")[1:]
    sym = [e for e in entries if "s0" in e.split(" passes:")[0]]
    assert sym, f"no symbolic entry:\n{text}"
    return sym[0]


@pytest.mark.parametrize("name", list(CASES))
def test_symbolic_graph_runs_llvm_kernels(name):
    f, make = CASES[name]
    cf = dg.compile(f, backend="llvm")
    for n in (7, 9, 13):            # 9: the graph turns symbolic; 13: its kernels are built
        args = make(n)
        np.testing.assert_allclose(cf(*args).numpy(), f(*args).numpy(), rtol=2e-5, atol=2e-5)
    compiled = jit.STATS["compiled"] + jit.STATS["disk_hits"]
    for n in (64, 31, 2, 101):
        args = make(n)
        np.testing.assert_allclose(cf(*args).numpy(), f(*args).numpy(), rtol=2e-5, atol=2e-5)
    assert jit.STATS["compiled"] + jit.STATS["disk_hits"] == compiled, "a new size compiled"
    entry = _symbolic_entry(cf)
    assert "llvm kernel" in entry, entry


def test_size_expressions_are_kernel_parameters():
    """`x / n` and the `n - 1` of an unbiased std are per-call kernel parameters (one kernel for
    every n); a size in another op's scalar (`x ** n`) runs that node on the interpreter."""
    def f(x):
        return (x / x.shape[0]).exp() + x.std(0)

    def g(x):
        return x ** x.shape[0]

    cf, cg = dg.compile(f, backend="llvm"), dg.compile(g, backend="llvm")
    for n in (7, 9, 13):
        x = _t(n, 5) * 0.5
        cf(x), cg(x)
    compiled = jit.STATS["compiled"] + jit.STATS["disk_hits"]
    for n in (40, 3, 101):
        x = _t(n, 5) * 0.5
        np.testing.assert_allclose(cf(x).numpy(), f(x).numpy(), rtol=2e-5)
        np.testing.assert_allclose(cg(x).numpy(), g(x).numpy(), rtol=2e-5, atol=1e-30)
    assert jit.STATS["compiled"] + jit.STATS["disk_hits"] == compiled
    entry = _symbolic_entry(cf)
    assert "interpreter" not in entry.split("backend:")[1].split("fusion")[0], entry
    assert "div %0, s0" in entry and "div %6, s0-1" in entry
    assert "pow: interpreter: a scalar operand depends on a symbolic size" in _symbolic_entry(cg)


def test_param_instruction_renders_as_a_load_of_the_sizes_table():
    from compiler.kernel_ir import Access, KernelBuilder
    from compiler.render_llvm import render_llvm
    from compiler.ir import SymExpr

    kb = KernelBuilder(1, 0)
    b0, b1 = kb.buffer("float32", False), kb.buffer("float32", True)
    e = SymExpr(1, ("s0",), -1)
    kb.params = [e]
    v = kb.op("div", [kb.load(Access(b0, (1,)), "float32"), kb.param(0, e, "float32")],
              "float32")
    kb.store(Access(b1, (1,)), v)
    k = kb.finish("k")
    assert "param #0 (s0-1)" in k.text()
    ir = render_llvm(k)
    assert "getelementptr inbounds i64, ptr %dims, i64 3" in ir     # 1 size + 2 strides, then it
    assert "sitofp i64" in ir


def _step(m, opt, x, t):
    opt.zero_grad()
    loss = F.cross_entropy(m(x), t)
    loss.backward()
    opt.step()
    return loss


def _train_both(make, shape, classes, sizes):
    """Eager and compiled (LLVM) training steps of two copies of `make()`'s model at the batch
    `sizes`: losses, parameters and buffers agree; returns the compiled step."""
    (m1, o1), (m2, o2) = make(), make()
    cstep = dg.compile(_step, backend="llvm")
    for n in sizes:
        x, t = _t(n, *shape), dg.tensor(RNG.integers(0, classes, n))
        want, got = _step(m1, o1, x, t).item(), cstep(m2, o2, x, t).item()
        assert abs(want - got) <= 1e-4 * max(1.0, abs(want))
    for a, b in zip([*m1.parameters(), *m1.buffers()], [*m2.parameters(), *m2.buffers()]):
        np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy(), rtol=1e-3, atol=1e-5)
    return cstep


def test_training_step_with_varying_batch_matches_eager():
    def make():
        dg.manual_seed(0)
        m = nn.Sequential(nn.Linear(20, 32), nn.GELU(), nn.Linear(32, 5))
        return m, dg.optim.Adam(m.parameters(), lr=1e-2)

    cstep = _train_both(make, (20,), 5, [16, 17, 33, 64, 5, 128, 16, 31] * 2)
    assert _symbolic_entry(cstep).count("llvm kernel") > 20


def test_compiled_forward_backward_outside_runs_llvm_both_ways():
    dg.manual_seed(0)
    m = nn.Sequential(nn.Linear(6, 16), nn.Tanh(), nn.LayerNorm(16), nn.Linear(16, 3))
    cm = dg.compile(m, backend="llvm")
    for n in (4, 5, 9, 23, 2):
        x1 = _t(n, 6).requires_grad_(True)
        x2 = x1.detach().clone().requires_grad_(True)
        g1 = dg.autograd.grad(m(x1).softmax(-1)[:, 0].sum(), [x1, *m.parameters()])
        g2 = dg.autograd.grad(cm(x2).softmax(-1)[:, 0].sum(), [x2, *m.parameters()])
        for a, b in zip(g1, g2):
            np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-4, atol=1e-6)
    entry = _symbolic_entry(cm)
    assert "llvm kernel" in entry
    progs = [prog.interpreter for e in cm._cf.entries if e.sym_at for s in e.segments()
             if s.leaf for _, prog in s.leaf[4]]
    assert progs and all(isinstance(p, LLVMProgram) for p in progs)


def test_symbolic_graphs_on_cuda_stay_on_the_interpreter():
    """CUDAProgram takes sizes as arguments too, but symbolic graphs on it are not yet verified
    on a device: they run on the interpreter (with cupy rules)."""
    s0 = Sym("s0")
    g = Graph()
    cpu = dg.device("cpu")
    x = g.add_input((s0, 4), dg.float32, cpu)
    g.outputs = [g.add_node("exp", [x], {}, (s0, 4), dg.float32, cpu)]
    assert isinstance(segments._make_program(g, "cuda"), Interpreter)
    assert isinstance(segments._make_program(g, "llvm"), LLVMProgram)


@st.composite
def _programs(draw):
    """Random programs of tests/compiler/test_differential.py at four to six batch sizes: the
    later ones run the symbolic graph's kernels (distinct sizes: each call is a new one)."""
    m = draw(st.integers(2, 5))
    steps = draw(st.lists(st.integers(0, len(WIDE) - 1), min_size=1, max_size=5))
    sizes = draw(st.lists(st.integers(2, 40), min_size=4, max_size=6, unique=True))
    return m, steps, sizes, draw(st.booleans()), draw(st.integers(0, 2**16))


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_programs())
def test_random_programs_symbolic_on_llvm_match_eager(prog):
    """float64 forward and gradients within 1e-7 of eager (_run_wide), on a symbolic graph.
    (Not 1e-9: a kernel's full sum adds in another order than numpy, one ulp apart, and these
    programs multiply it by exp values near 1e4 twice: (2, [0, 5, 5, 1, 3], [2, 2, 3, 4]) gives
    gradients 1e-8 apart, the interpreter running the same backward graph on the same inputs
    as far from the kernels as from eager.)"""
    cf = _run_wide(prog, "llvm", True, tol=1e-7)
    assert "llvm kernel" in _symbolic_entry(cf)


def test_symbolic_graph_gets_a_native_plan_per_layout_up_to_the_limit():
    """A symbolic graph runs as one native call per input layout (its plan fixes the sizes its
    Python steps and size parameters read), like a static one; past MAX_NATIVE_PLANS layouts
    it runs step by step, with the same results. (A layout's first call is its planning run.)"""
    from runtime import llvm_backend, native

    def f(x, w):
        h = (x @ w).relu()
        return h.reshape(-1) * 2, h.std(0), F.softmax(h, -1).sum(0)

    w = _t(6, 5)
    cf = dg.compile(f, backend="llvm")
    for n in (3, 4):                # 4: the graph turns symbolic
        cf(_t(n, 6), w)
    plans, calls = native.STATS["plans"], native.STATS["calls"]
    sizes = list(range(5, 6 + llvm_backend.MAX_NATIVE_PLANS + 3))
    for n in sizes + sizes[:3]:
        x = _t(n, 6)
        for got, want in zip(cf(x, w), f(x, w)):
            np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=2e-5, atol=1e-6)
    assert native.STATS["plans"] - plans == llvm_backend.MAX_NATIVE_PLANS
    assert native.STATS["calls"] - calls == 3     # the second call of each planned size
    assert "llvm kernel" in _symbolic_entry(cf)


def test_cnn_with_batch_norm_training_step_is_symbolic_in_the_batch():
    """batch_norm's running variance is unbiased by `* count / (count - 1)`, two size scalars
    (a float ratio of them made every batch size a new static graph)."""
    def make():
        dg.manual_seed(0)
        m = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(),
                          nn.MaxPool2d(2), nn.Flatten(), nn.Linear(4 * 4 * 4, 10))
        return m, dg.optim.SGD(m.parameters(), lr=0.05, momentum=0.9)

    cstep = _train_both(make, (1, 8, 8), 10, (8, 9, 12, 5, 16, 8, 7))
    # the first step (it creates the momentum buffers) and one symbolic entry for the rest
    assert len(cstep._cf.entries) == 2 and "llvm kernel" in _symbolic_entry(cstep)
