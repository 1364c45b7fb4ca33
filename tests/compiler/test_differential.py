"""Differential tests: random programs (hypothesis) run eagerly and compiled must agree, forward
and backward, over random shapes, broadcasts and dtypes."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import dyngraph as dg

UNARY = [lambda a: a.tanh(), lambda a: a.sigmoid(), lambda a: a.sin(), lambda a: -a,
         lambda a: a.abs(), lambda a: a.relu(), lambda a: (a.clamp(-3, 3)).exp(),
         lambda a: a * 1 + 0, lambda a: a.t() if a.ndim == 2 else a,
         lambda a: a.reshape(-1).reshape(a.shape)]
BINARY = [lambda a, b: a + b, lambda a, b: a * b, lambda a, b: a - b,
          lambda a, b: dg.maximum(a, b), lambda a, b: dg.where(a > 0, a, b),
          lambda a, b: a / (b.abs() + 1)]
REDUCE = [lambda a: a.sum(-1, keepdim=True), lambda a: a.mean(0, keepdim=True),
          lambda a: a.amax(-1, keepdim=True)]


@st.composite
def programs(draw):
    n, m = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    shape_b = draw(st.sampled_from([(n, m), (1, m), (n, 1), (m,)]))
    steps = draw(st.lists(st.tuples(st.sampled_from(["u", "b", "r"]), st.integers(0, 9)),
                          min_size=1, max_size=6))
    dtype = draw(st.sampled_from([dg.float32, dg.float64]))
    grad = draw(st.booleans())
    seed = draw(st.integers(0, 2**16))
    return (n, m), shape_b, steps, dtype, grad, seed


def _program(steps):
    def f(x, y):
        vals = [x, y]
        for kind, k in steps:
            a = vals[-1]
            if kind == "u":
                vals.append(UNARY[k % len(UNARY)](a))
            elif kind == "b":
                b = vals[k % len(vals)]
                if b.ndim == 2 and a.ndim == 2 and b.shape != a.shape and (
                        b.shape[0] not in (1, a.shape[0]) or b.shape[1] not in (1, a.shape[1])):
                    b = b.t()
                try:
                    vals.append(BINARY[k % len(BINARY)](a, b))
                except RuntimeError:
                    vals.append(a * 2)
            else:
                vals.append(REDUCE[k % len(REDUCE)](a))
        return vals[-1].sum() if vals[-1].ndim else vals[-1], vals[-1].mean()
    return f


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(programs())
def test_random_programs_agree(prog):
    shape_a, shape_b, steps, dtype, grad, seed = prog
    rng = np.random.default_rng(seed)
    f = _program(steps)
    cf = dg.compile(f)
    tol = 1e-5 if dtype is dg.float32 else 1e-10
    for _ in range(2):   # first call traces, second runs the compiled graph
        xa, ya = rng.standard_normal(shape_a), rng.standard_normal(shape_b)
        ins_e = [dg.tensor(xa, dtype=dtype, requires_grad=grad),
                 dg.tensor(ya, dtype=dtype, requires_grad=grad)]
        ins_c = [dg.tensor(xa, dtype=dtype, requires_grad=grad),
                 dg.tensor(ya, dtype=dtype, requires_grad=grad)]
        want = f(*ins_e)
        got = cf(*ins_c)
        for w, g in zip(want, got):
            assert g.dtype == w.dtype and g.shape == w.shape
            np.testing.assert_allclose(g.detach().numpy(), w.detach().numpy(), rtol=tol,
                                       atol=tol)
        if grad:
            want[1].backward()
            got[1].backward()
            for e, c in zip(ins_e, ins_c):
                if e.grad is None:
                    assert c.grad is None or not np.any(c.grad.numpy())
                else:
                    np.testing.assert_allclose(c.grad.numpy(), e.grad.numpy(), rtol=tol,
                                               atol=tol)


def _nn_case():
    nn = dg.nn
    return nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Linear(16, 3))


def test_mlp_training_loop_follows_eager():
    """A compiled step (forward + loss.backward()) with the optimizer stepping eagerly."""
    dg.manual_seed(0)
    m1 = _nn_case()
    m2 = _nn_case()
    m2.load_state_dict(m1.state_dict())
    o1 = dg.optim.SGD(m1.parameters(), lr=0.1, momentum=0.9)
    o2 = dg.optim.SGD(m2.parameters(), lr=0.1, momentum=0.9)
    x, t = dg.randn(8, 6), dg.randint(0, 3, (8,))
    loss_fn = dg.nn.functional.cross_entropy

    def fwd_bwd(model, x, t):
        loss = loss_fn(model(x), t)
        loss.backward()
        return loss

    step = dg.compile(fwd_bwd)
    for _ in range(20):
        o1.zero_grad()
        o2.zero_grad()
        l1 = step(m1, x, t)
        l2 = fwd_bwd(m2, x, t)
        o1.step()
        o2.step()
        np.testing.assert_allclose(l1.item(), l2.item(), rtol=1e-5)
    for p1, p2 in zip(m1.parameters(), m2.parameters()):
        np.testing.assert_allclose(p1.detach().numpy(), p2.detach().numpy(), rtol=1e-4,
                                   atol=1e-5)
    entry = step._cf.entries[-1]
    assert entry.root is not None       # the step was compiled, not run eagerly


def test_step_with_raw_optimizer_update_runs_eagerly_and_correctly():
    """An optimizer that writes arrays directly cannot be captured: the step must fall back to
    eager (never silently drop the update)."""
    dg.manual_seed(1)
    m1, m2 = _nn_case(), _nn_case()
    m2.load_state_dict(m1.state_dict())
    o1 = dg.optim.Adam(m1.parameters(), lr=0.01)
    o2 = dg.optim.Adam(m2.parameters(), lr=0.01)
    x, y = dg.randn(8, 6), dg.randn(8, 3)

    def train_step(model, opt, x, y):
        opt.zero_grad()
        loss = ((model(x) - y) ** 2).mean()
        loss.backward()
        opt.step()
        return loss

    step = dg.compile(train_step)
    for _ in range(5):
        step(m1, o1, x, y)
        train_step(m2, o2, x, y)
    for p1, p2 in zip(m1.parameters(), m2.parameters()):
        np.testing.assert_allclose(p1.detach().numpy(), p2.detach().numpy(), rtol=1e-5,
                                   atol=1e-6)


# ----- random programs over a wider vocabulary, per backend, with dynamic sizes -----------------

WIDE = [
    lambda a, w: a.sum(-1, keepdim=True) * a,                  # reduction + broadcast
    lambda a, w: a - a.amax(0, keepdim=True),
    lambda a, w: a.softmax(-1),
    lambda a, w: a.log_softmax(-1) * 0.5,
    lambda a, w: (a @ w).tanh(),                               # matmul (w: [m, m])
    lambda a, w: a[:, ::2].exp() if a.shape[1] > 1 else a,     # slicing
    lambda a, w: a[dg.arange(a.shape[0]) % 2],                 # advanced indexing
    lambda a, w: a.mean(1, keepdim=True).expand(a.shape) + a.var(0, keepdim=True),
    lambda a, w: dg.where(a > 0, a * w[0], a.sigmoid()),
    lambda a, w: a.transpose(0, 1).contiguous().transpose(0, 1) * 2,
]


@st.composite
def wide_programs(draw):
    m = draw(st.integers(2, 5))
    steps = draw(st.lists(st.integers(0, len(WIDE) - 1), min_size=1, max_size=5))
    sizes = draw(st.lists(st.integers(2, 7), min_size=2, max_size=3))
    grad = draw(st.booleans())
    return m, steps, sizes, grad, draw(st.integers(0, 2**16))


def _wide(steps):
    def f(x, w):
        a = x
        for k in steps:
            b = WIDE[k](a, w)
            a = b if b.shape[1:] == a.shape[1:] and b.ndim == 2 else a + b.sum()
        return a.sum(), a
    return f


def _run_wide(prog, backend, dynamic, tol=1e-9):
    m, steps, sizes, grad, seed = prog
    rng = np.random.default_rng(seed)
    f = _wide(steps)
    cf = dg.compile(f, backend=backend, dynamic=dynamic)
    for n in sizes:          # the batch size changes: symbolic (dynamic) or one entry per size
        xa, wa = rng.standard_normal((n, m)), rng.standard_normal((m, m)) / m
        ins = [[dg.tensor(xa, requires_grad=grad), dg.tensor(wa, requires_grad=grad)]
               for _ in range(2)]
        want, got = f(*ins[0]), cf(*ins[1])
        for w_, g_ in zip(want, got):
            assert g_.shape == w_.shape and g_.dtype == w_.dtype
            np.testing.assert_allclose(g_.detach().numpy(), w_.detach().numpy(), rtol=tol,
                                       atol=tol)
        if grad:
            want[0].backward()
            got[0].backward()
            for e, c in zip(*ins):
                if e.grad is None:          # (w unused by the program)
                    assert c.grad is None or not np.any(c.grad.numpy())
                else:
                    np.testing.assert_allclose(c.grad.numpy(), e.grad.numpy(), rtol=tol,
                                               atol=tol)
    return cf


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(wide_programs(), st.sampled_from([None, True]))
def test_wide_random_programs_interpreter(prog, dynamic):
    _run_wide(prog, "interpreter", dynamic)


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(wide_programs(), st.sampled_from([None, True]))
def test_wide_random_programs_llvm(prog, dynamic):
    from runtime import llvm_backend
    if not llvm_backend.available():
        pytest.skip("llvmlite is not installed")
    _run_wide(prog, "llvm", dynamic)


@pytest.mark.slow
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(wide_programs(), st.sampled_from(["interpreter", "llvm"]), st.sampled_from([None, True]))
def test_wide_random_programs_many(prog, backend, dynamic):
    _run_wide(prog, backend, dynamic)
