"""The LLVM backend against eager mode and the interpreter: every lowered op, fused patterns,
reductions, softmax/layer norm, matmul, odd sizes, non-contiguous inputs, dtypes, symbolic
sizes, threads, training steps, and random programs (hypothesis)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import dyngraph as dg
import dyngraph.nn.functional as F
from compiler.lower import LOWERING, KernelStep, lower
from dyngraph.ops.registry import OPS
from runtime import jit, llvm_backend
from tests.conftest import torch

TOL = {"float32": dict(rtol=2e-5, atol=2e-6), "float64": dict(rtol=1e-12, atol=1e-13)}


def _np(t):
    return t.detach().numpy() if isinstance(t, dg.Tensor) else np.asarray(t)


def _flat(out):
    return list(out) if isinstance(out, (tuple, list)) else [out]


def compiled_vs_eager(fn, *args, dtype="float32", expect_kernels=True, atol=None):
    """Run fn eagerly and compiled with backend='llvm' (second call runs compiled)."""
    cf = dg.compile(fn, backend="llvm")
    cf(*args)
    got = _flat(cf(*args))
    want = _flat(fn(*args))
    assert len(got) == len(want)
    for g, w in zip(got, want):
        g, w = _np(g), _np(w)
        assert g.shape == w.shape and g.dtype == w.dtype, (g.shape, w.shape, g.dtype, w.dtype)
        if g.dtype.kind in "biu":
            np.testing.assert_array_equal(g, w)
        else:
            tol = dict(TOL[dtype]) if atol is None else dict(TOL[dtype], atol=atol)
            np.testing.assert_allclose(g, w, equal_nan=True, **tol)
    text = str(cf.explain())
    if expect_kernels:
        assert "llvm kernel" in text, text
    return text


def _randn(*shape, dtype=dg.float32):
    return dg.randn(*shape, dtype=dtype)


# ----- the lowering table ------------------------------------------------------------------------

def test_every_op_in_the_table_has_a_lowering_or_a_documented_reason():
    missing = [name for name in OPS if name not in LOWERING]
    assert not missing, f"ops without a lowering entry: {missing}"
    for name, how in LOWERING.items():
        assert how.startswith(("kernel", "extern", "interpreter:")), (name, how)


# ----- elementwise ops ----------------------------------------------------------------------------

UNARY_FLOAT = ["neg", "abs", "sign", "exp", "exp2", "expm1", "log", "log2", "log1p", "log10",
               "reciprocal", "sqrt", "rsqrt", "sin", "cos", "tan", "sinh", "cosh", "asin",
               "acos", "atan", "asinh", "acosh", "atanh", "tanh", "sigmoid", "relu", "erf",
               "floor", "ceil", "trunc", "round", "isnan", "isinf", "isfinite", "logical_not"]
DOMAIN = {"log": "pos", "log2": "pos", "log10": "pos", "log1p": "pos", "sqrt": "pos",
          "rsqrt": "pos", "asin": "unit", "acos": "unit", "atanh": "unit", "acosh": "big"}


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_unary_ops_in_one_fused_kernel(dtype):
    dt = getattr(dg, dtype)
    x = _randn(5, 7, dtype=dt) * 2
    ins = {"pos": x.abs() + 0.1, "unit": x.tanh() * 0.9, "big": x.abs() + 1.5}

    def f(x, pos, unit, big):
        src = {"pos": pos, "unit": unit, "big": big}
        return tuple(getattr(dg, op)(src.get(DOMAIN.get(op), x)) for op in UNARY_FLOAT)

    text = compiled_vs_eager(f, x, ins["pos"], ins["unit"], ins["big"], dtype=dtype)
    assert "interpreter" not in text.split("backend:")[1].split("fusion")[0]


BINARY = ["add", "sub", "mul", "div", "pow", "maximum", "minimum", "fmod", "remainder",
          "atan2", "hypot", "logaddexp", "copysign", "eq", "ne", "lt", "le", "gt", "ge",
          "logical_and", "logical_or", "logical_xor"]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_binary_ops_with_broadcasting(dtype):
    dt = getattr(dg, dtype)
    a = _randn(4, 1, 6, dtype=dt)
    b = _randn(3, 1, dtype=dt) + 0.5
    a_pos = a.abs() + 0.1

    def f(a, b, a_pos):
        outs = []
        for op in BINARY:
            lhs = a_pos if op == "pow" else a
            outs.append(getattr(dg, op)(lhs, b))
        outs.append(dg.where(a > 0, a, b))
        outs.append(a.clamp(-0.5, 0.5))
        outs.append(a.clamp(min=0.1))
        outs.append(a * 2.5 - 1)
        outs.append((a > 0).to(dt) + 1)
        return tuple(outs)

    compiled_vs_eager(f, a, b, a_pos, dtype=dtype)


def test_integer_and_bool_elementwise():
    a = dg.arange(-6, 6).reshape(3, 4)
    b = dg.tensor([1, -2, 3, 4])
    m = a > 0

    def f(a, b, m):
        return (a + b, a * b, a - b, -a, a.abs(), a.relu(), a.sign(), dg.maximum(a, b),
                a == b, m & (b > 0), ~m, dg.where(m, a, b), a.to(dg.float32) * 0.5,
                a.to(dg.int32) + 1, a.clamp(-2, 2))

    compiled_vs_eager(f, a, b, m, dtype="float32")


def test_special_values_propagate():
    x = dg.tensor([0.0, -0.0, float("inf"), -float("inf"), float("nan"), 1e-40, -3.0, 90.0])

    def f(x):
        return (x.exp(), x.tanh(), x.sigmoid(), x.log(), x.relu(), dg.maximum(x, 0.0),
                x.sqrt(), x.erf(), x.abs().log1p(), x.sign())

    compiled_vs_eager(f, x)


# ----- odd sizes and layouts ----------------------------------------------------------------

@pytest.mark.parametrize("n", [0, 1, 2, 13, 97, 1031])
def test_sizes_including_zero_one_and_primes(n):
    x = _randn(3, n)
    w = _randn(n)

    def f(x, w):
        y = (x * w + 1).tanh()
        return y, y.sum(-1) if n else y

    compiled_vs_eager(f, x, w, expect_kernels=n > 0)


def test_non_contiguous_inputs():
    base = _randn(8, 12)
    xt = base.t()                    # transposed view
    xs = base[::2, 1::3]             # strided slice
    xe = _randn(12, 1).expand(12, 8)  # zero strides

    def f(xt, xs, xe):
        return (xt * 2 + xe).exp(), xs.sigmoid() * 3, xt.sum(0), xt.amax(1, keepdim=True)

    compiled_vs_eager(f, xt, xs, xe)


def test_same_kernel_serves_every_size():
    """A size-only recompile makes the graph symbolic; from then on its LLVM kernel takes the
    sizes as arguments: new sizes compile nothing (no LLVM compile, no disk read)."""
    def f(x):
        return (x * 3).tanh() + 1

    g = dg.compile(f, backend="llvm")
    for n in (1000, 999, 17):       # 999: the graph turns symbolic; 17: its kernel is built
        g(_randn(n))
    compiled = jit.STATS["compiled"] + jit.STATS["disk_hits"]
    for n in (5000, 998, 31, 2):
        y = _randn(n)
        np.testing.assert_allclose(_np(g(y)), _np(f(y)), **TOL["float32"])
    assert jit.STATS["compiled"] + jit.STATS["disk_hits"] == compiled
    text = str(g.explain())
    symbolic = text.split("entry 0:")[1].split("entry 1:")[0]
    assert "f32[s0]" in symbolic and "llvm kernel 0 (fused: mul+tanh+add)" in symbolic


# ----- reductions -----------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("dims", [0, 1, 2, (0, 2), (1, 2), None])
def test_reductions_over_any_dims(dtype, dims):
    dt = getattr(dg, dtype)
    x = _randn(4, 5, 6, dtype=dt)

    def f(x):
        kw = {} if dims is None else {"dim": dims}
        one = dims is None or isinstance(dims, int)
        out = [x.sum(**kw), x.mean(**kw), (x * 0.5 + 1).prod(**kw) if one else x.mean(**kw),
               dg.amax(x, **kw),
               dg.amin(x, **kw), (x > 0).any(**kw) if dims is None or isinstance(dims, int)
               else x.sum(**kw)]
        if dims is None or isinstance(dims, int):
            out += [x.argmax(dims), x.argmin(dims), (x > -3).all(**kw)]
        out.append(x.sum(**kw, keepdim=True) if dims is not None else x.sum())
        return tuple(out)

    compiled_vs_eager(f, x, dtype=dtype)


def test_integer_reductions_and_nan_in_max():
    a = dg.arange(24).reshape(4, 6) - 7
    x = _randn(3, 5)
    x[1, 2] = float("nan")

    def f(a, x):
        return a.sum(1), a.prod(0), a.amax(1), a.argmin(1), dg.amax(x, 1), x.argmax(1)

    compiled_vs_eager(f, a, x)


def test_long_float32_sum_is_accurate():
    x = dg.rand(1 << 20) + 1e3

    def f(x):
        return x.sum()

    cf = dg.compile(f, backend="llvm")
    cf(x)
    got = float(cf(x))
    exact = float(np.sum(x.numpy().astype(np.float64)))
    assert abs(got - exact) <= 1e-6 * abs(exact)


# ----- fused softmax / log_softmax / layer norm --------------------------------------------

@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("dim", [-1, 0])
def test_softmax_log_softmax_fused(dtype, dim):
    x = _randn(6, 33, dtype=getattr(dg, dtype)) * 4

    def f(x):
        return F.softmax(x * 2, dim), F.log_softmax(x, dim)

    text = compiled_vs_eager(f, x, dtype=dtype)
    assert "interpreter" not in text.split("backend:")[1].split("fusion")[0]


def test_layer_norm_is_one_kernel():
    x, w, b = _randn(16, 64), _randn(64), _randn(64)

    def f(x, w, b):
        return F.layer_norm(x, (64,), w, b)

    text = compiled_vs_eager(f, x, w, b)
    lowered = text.split("backend:")[1].split("fusion")[0]
    kernels = {ln.split(":")[1].split("(")[0].strip() for ln in lowered.strip().splitlines()}
    assert len(kernels) == 1, lowered


def test_lowering_groups_layer_norm_and_softmax_into_single_kernels():
    cf = dg.compile(lambda x: F.softmax(F.layer_norm(x, (32,)), -1), backend="llvm")
    x = _randn(8, 32)
    cf(x)
    cf(x)
    seg = next(cf._cf.entries[0].segments())
    plan = lower(seg.graph.copy())
    kernels = [s for s in plan.steps if isinstance(s, KernelStep)]
    assert len(kernels) == 1 and len(kernels[0].outputs) == 1


# ----- matmul / linear ---------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_linear_with_bias_and_activation_through_blas(dtype):
    dt = getattr(dg, dtype)
    x, w, b = _randn(9, 17, dtype=dt), _randn(5, 17, dtype=dt), _randn(5, dtype=dt)

    def f(x, w, b):
        return F.gelu(F.linear(x, w, b)), x @ w.t(), (x.t() @ x).relu()

    text = compiled_vs_eager(f, x, w, b, dtype=dtype)
    # 9 rows: the native plan's skinny kernel; x.t() @ x is T x N with 17 rows and 9 terms
    assert "llvm skinny GEMM" in text


def test_batched_matmul_falls_back_to_numpy_matmul():
    a, b = _randn(2, 3, 4), _randn(2, 4, 5)
    compiled_vs_eager(lambda a, b: (a @ b).tanh(), a, b)


# ----- threads ------------------------------------------------------------------------------

def test_large_kernels_split_over_threads_match():
    x = _randn(600, 1000)
    w = _randn(1000)

    def f(x, w):
        return (x * w).sigmoid(), F.softmax(x, -1), x.sum(1)

    old = llvm_backend.THREAD_THRESHOLD, llvm_backend.CHUNK_POINTS
    llvm_backend.THREAD_THRESHOLD, llvm_backend.CHUNK_POINTS = 1 << 16, 1 << 14
    llvm_backend.set_num_threads(3)
    try:
        compiled_vs_eager(f, x, w, atol=1e-4)    # sums of 1000: eager rounds in float32
    finally:
        llvm_backend.THREAD_THRESHOLD, llvm_backend.CHUNK_POINTS = old
        llvm_backend.set_num_threads(2)


def test_split_kernels_claim_chunks_so_a_slow_thread_holds_nothing_up(monkeypatch):
    """run_split covers every row once, in chunks the threads claim as they go: a thread
    stalled in its first chunk (as when a shared machine's host takes its CPU away) leaves
    the rest to the other thread."""
    import threading
    import time
    monkeypatch.setattr(llvm_backend, "CHUNK_POINTS", 10)
    assert llvm_backend.split_bounds(1600, 1600, 2) == [100 * i for i in range(17)]
    assert llvm_backend.split_bounds(3, 3_000_000, 2) == [0, 1, 2, 3]     # rows bound it
    assert llvm_backend.split_bounds(1000, 15, 2) == [0, 500, 1000]        # one per thread
    llvm_backend.set_num_threads(2)
    seen, lock, stalled = [], threading.Lock(), threading.Event()

    def fn(begin, end, dptr, *ptrs):
        with lock:
            seen.append((begin, end, threading.get_ident()))
            first = len(seen) == 1
        if first:       # the first chunk's thread stalls until the others are done
            stalled.wait(5)
        elif len(seen) == 16:
            stalled.set()
    monkeypatch.setattr(llvm_backend, "THREAD_THRESHOLD", 100)
    t0 = time.perf_counter()
    llvm_backend.run_split(fn, 1600, 1600, 0, [])
    assert time.perf_counter() - t0 < 4, "the other thread did not take the stalled one's work"
    assert sorted((b, e) for b, e, _ in seen) == [(100 * i, 100 * (i + 1)) for i in range(16)]
    by_thread = {}
    for _, _, ident in seen:
        by_thread[ident] = by_thread.get(ident, 0) + 1
    assert sorted(by_thread.values()) == [1, 15]


# ----- training: forward and backward -------------------------------------------------------

def test_mlp_training_step_matches_eager_for_50_steps():
    dg.manual_seed(0)
    model = dg.nn.Sequential(dg.nn.Linear(12, 16), dg.nn.Tanh(), dg.nn.Linear(16, 16),
                             dg.nn.LayerNorm(16), dg.nn.GELU(), dg.nn.Linear(16, 4))
    dg.manual_seed(0)
    twin = dg.nn.Sequential(dg.nn.Linear(12, 16), dg.nn.Tanh(), dg.nn.Linear(16, 16),
                            dg.nn.LayerNorm(16), dg.nn.GELU(), dg.nn.Linear(16, 4))
    x = _randn(32, 12)
    y = dg.randint(0, 4, (32,))

    def step(m):
        def loss_fn(x, y):
            return F.cross_entropy(m(x), y)
        return loss_fn

    compiled = dg.compile(step(model), backend="llvm")
    eager = step(twin)
    for _ in range(50):
        for m, fn in ((model, compiled), (twin, eager)):
            m.zero_grad()
            loss = fn(x, y)
            loss.backward()
            with dg.no_grad():
                for p in m.parameters():
                    p -= 0.1 * p.grad
        np.testing.assert_allclose(float(compiled(x, y)), float(eager(x, y)), rtol=1e-4)
    for p, q in zip(model.parameters(), twin.parameters()):
        np.testing.assert_allclose(_np(p), _np(q), rtol=1e-3, atol=1e-4)


@pytest.mark.skipif(torch is None, reason="PyTorch is not installed")
def test_gelu_sigmoid_chain_matches_torch():
    x, w, b = _randn(64, 33), _randn(33), _randn(33)

    def f(x, w, b):
        return F.gelu(x * w + b, approximate="tanh") * dg.sigmoid(x)

    cf = dg.compile(f, backend="llvm")
    cf(x, w, b)
    got = _np(cf(x, w, b))
    tx, tw, tb = (torch.tensor(_np(t)) for t in (x, w, b))
    want = (torch.nn.functional.gelu(tx * tw + tb, approximate="tanh") * torch.sigmoid(tx))
    np.testing.assert_allclose(got, want.numpy(), rtol=2e-5, atol=2e-6)


# ----- random programs ---------------------------------------------------------------------------

UN = [lambda a: a.tanh(), lambda a: a.sigmoid(), lambda a: a.exp().clamp(max=1e3),
      lambda a: -a, lambda a: a.abs().sqrt(), lambda a: a.relu(), lambda a: a.t(),
      lambda a: F.softmax(a, -1), lambda a: a.erf()]
BIN = [lambda a, b: a + b, lambda a, b: a * b, lambda a, b: a - b, lambda a, b: dg.maximum(a, b),
       lambda a, b: dg.where(a > b, a, b), lambda a, b: a / (b.abs() + 1)]
RED = [lambda a: a.sum(-1, keepdim=True), lambda a: a.mean(0, keepdim=True),
       lambda a: a.amax(-1, keepdim=True), lambda a: a.sum(0)]


@st.composite
def programs(draw):
    n = draw(st.sampled_from([1, 2, 3, 5, 7]))
    m = draw(st.sampled_from([1, 2, 4, 11]))
    shape_b = draw(st.sampled_from([(n, m), (1, m), (n, 1), (m,)]))
    steps = draw(st.lists(st.tuples(st.sampled_from("ubr"), st.integers(0, 8)), min_size=1,
                          max_size=6))
    dtype = draw(st.sampled_from(["float32", "float64"]))
    return (n, m), shape_b, steps, dtype, draw(st.integers(0, 2**16))


def _program(steps):
    def f(x, y):
        vals = [x, y]
        for kind, k in steps:
            a = vals[-1]
            if kind == "u":
                vals.append(UN[k % len(UN)](a))
            elif kind == "b":
                b = vals[-2] if len(vals) > 1 else a
                try:
                    vals.append(BIN[k % len(BIN)](a, b))
                except (RuntimeError, ValueError):
                    vals.append(a)
            else:
                vals.append(RED[k % len(RED)](a))
        return vals[-1] + 0 * vals[-1]
    return f


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(programs())
def test_random_programs_agree_with_eager(prog):
    shape_a, shape_b, steps, dtype, seed = prog
    dg.manual_seed(seed)
    dt = getattr(dg, dtype)
    x, y = _randn(*shape_a, dtype=dt), _randn(*shape_b, dtype=dt)
    f = _program(steps)
    try:
        f(x, y)
    except (RuntimeError, ValueError, IndexError):
        return          # a program eager mode rejects (shapes) is not a test case
    compiled_vs_eager(f, x, y, dtype=dtype, expect_kernels=False)
