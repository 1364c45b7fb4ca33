"""Compiled autograd: recomputation in the forward/backward partition (memory before/after),
double backward through compiled outputs, gradients through cond and while_loop."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

import dyngraph as dg
from dyngraph.autograd import gradcheck
from tests.conftest import to_np


def _close(a, b, tol=1e-10):
    np.testing.assert_allclose(to_np(a), to_np(b), rtol=tol, atol=tol)


def _silu_stack(x, ws):
    h = x
    for w in ws:
        z = h @ w
        h = z * z.sigmoid()          # SiLU: saves z, sigmoid(z) and h for the next matmul
    return (h * h).mean()


def _programs(cf):
    return [p for e in cf._cf.entries for s in e.segments() if s.leaf for _, p in s.leaf[4]]


def test_recompute_lowers_planned_peak_and_held_memory():
    rng = np.random.default_rng(0)
    ws = [dg.tensor(rng.standard_normal((256, 256)) / 16, requires_grad=True) for _ in range(4)]
    x = dg.tensor(rng.standard_normal((512, 256)))
    on = dg.compile(_silu_stack, backend="interpreter")
    off = dg.compile(_silu_stack, backend="interpreter", options={"recompute": False})
    held = {}
    for name, cf in (("on", on), ("off", off)):
        for _ in range(2):               # trace, then compile the segment
            cf(x, ws).backward()
            for w in ws:
                w.grad = None
        tracemalloc.start()
        base = tracemalloc.get_traced_memory()[0]
        out = cf(x, ws)                  # compiled forward: what it keeps for backward
        held[name] = tracemalloc.get_traced_memory()[0] - base
        tracemalloc.stop()
        out.backward()
        held[name + "_grads"] = [w.grad.numpy().copy() for w in ws]
        for w in ws:
            w.grad = None
    (prog,) = _programs(on)
    rep = prog.report
    assert rep["recomputed"] >= 4
    p0, p1 = rep["peak_bytes"]
    s0, s1 = rep["saved_bytes"]
    assert p1 < p0 and s1 < s0
    # 4 layers of (512, 256) float64: z, sigmoid(z), h were saved; z alone now (1 MiB each)
    assert s0 - s1 >= 4 * 512 * 256 * 8
    assert held["on"] < held["off"] - 3 * 512 * 256 * 8
    (prog_off,) = _programs(off)
    assert prog_off.report == {} and len(prog_off.saved) > len(prog.saved)
    for a, b in zip(held["on_grads"], held["off_grads"]):
        _close(a, b)
    ref = [w.detach().clone().requires_grad_() for w in ws]
    _silu_stack(x, ref).backward()
    for a, w in zip(held["on_grads"], ref):
        _close(a, w.grad)
    assert "recomputed in backward" in str(on.explain())


def test_recompute_keeps_draws_and_matches_eager_with_dropout():
    lin = dg.nn.Linear(8, 8).double()

    def f(x):
        h = dg.nn.functional.dropout(lin(x).tanh(), 0.5, training=True)
        return (h.exp() * 2).sum()

    cf = dg.compile(f, backend="interpreter")
    x = dg.randn(4, 8, dtype=dg.float64)
    for _ in range(3):
        dg.manual_seed(5)
        cf(x).backward()
        g1 = [p.grad.clone() for p in lin.parameters()]
        lin.zero_grad()
        dg.manual_seed(5)
        f(x).backward()
        for a, p in zip(g1, lin.parameters()):
            _close(a, p.grad)
        lin.zero_grad()


def test_double_backward_through_compiled_output():
    def f(x, w):
        return ((x @ w).tanh() ** 3).sum()

    cf = dg.compile(f, backend="interpreter")
    x = dg.randn(3, 4, dtype=dg.float64)
    for _ in range(3):
        w1 = dg.randn(4, 2, dtype=dg.float64, requires_grad=True)
        w2 = w1.detach().clone().requires_grad_()
        (g1,) = dg.autograd.grad(cf(x, w1), [w1], create_graph=True)
        (g2,) = dg.autograd.grad(f(x, w2), [w2], create_graph=True)
        _close(g1, g2)
        (h1,) = dg.autograd.grad((g1 ** 2).sum(), [w1])
        (h2,) = dg.autograd.grad((g2 ** 2).sum(), [w2])
        _close(h1, h2)


def test_double_backward_gradcheck_and_gradgradcheck():
    cf = dg.compile(lambda a, b: (a * b.sin() + a.exp()).sum(), backend="interpreter")
    a = dg.randn(3, dtype=dg.float64, requires_grad=True)
    b = dg.randn(3, dtype=dg.float64, requires_grad=True)
    cf(a, b)

    def first(a, b):
        ga, gb = dg.autograd.grad(cf(a, b), [a, b], create_graph=True)
        return ga * gb
    assert gradcheck(first, (a, b))


def test_compiled_backward_raises_when_a_saved_input_changed():
    cf = dg.compile(lambda x, w: (x * w).sin().sum(), backend="interpreter")
    x = dg.randn(3)
    w = dg.randn(3, requires_grad=True)
    cf(x, w)
    out = cf(x, w)
    with dg.no_grad():
        w.add_(1)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        out.backward()


def _cond_fn(w):
    def f(x, y):
        a, b = dg.cond(x.sum() > 0, lambda x, y: ((x * w).tanh(), x * y),
                       lambda x, y: (x.exp() * w, y - x), (x, y))
        return (a * b).sum(), a
    return f


@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_cond_several_results_and_gradients_match_eager(sign):
    w = dg.randn(3, dtype=dg.float64, requires_grad=True)
    f = _cond_fn(w)
    cf = dg.compile(f, backend="interpreter", fullgraph=True)
    for s in (sign, -sign, sign, -sign):      # both outcomes, each traced once at most
        x0 = dg.rand(3, dtype=dg.float64) * s + 0.1 * s
        y0 = dg.randn(3, dtype=dg.float64)
        res = []
        for fn in (cf, f):
            x, y = x0.clone().requires_grad_(), y0.clone().requires_grad_()
            w.grad = None
            loss, a = fn(x, y)
            loss.backward()
            res.append((loss, a, x.grad, y.grad, w.grad))
        for got, want in zip(*res):
            _close(got, want)
    assert len(cf._cf.entries) == 1 and cf._cf.entries[0].traces == 1
    progs = _programs(cf)       # (loss and a)
    assert len(progs) == 2
    for prog in progs:          # the backward graphs keep both outcomes
        assert any(n.op == "cond" for n in prog.graph.nodes)


def test_cond_gradcheck_compiled():
    w = dg.randn(3, dtype=dg.float64, requires_grad=True)
    cf = dg.compile(_cond_fn(w), backend="interpreter")
    for s in (1.0, -1.0):
        x = (dg.rand(3, dtype=dg.float64) + 0.1) * s
        x.requires_grad_()
        y = dg.randn(3, dtype=dg.float64, requires_grad=True)
        assert gradcheck(lambda x, y, w: cf(x, y)[0], (x, y, w))


def test_while_loop_gradients_unroll_or_raise_under_fullgraph():
    def f(x):
        i, y = dg.while_loop(lambda i, y: i < 3, lambda i, y: (i + 1, y * x.sin()),
                             (dg.tensor(0), x))
        return y.sum()

    x = dg.randn(4, dtype=dg.float64, requires_grad=True)
    cf = dg.compile(f, backend="interpreter")
    for _ in range(2):
        x.grad = None
        cf(x).backward()
        got = x.grad.clone()
        x.grad = None
        f(x).backward()
        _close(got, x.grad)
    assert "while_loop at" in str(cf.explain()) and cf._cf.entries[0].root is not None
    with pytest.raises(NotImplementedError, match="gradients through a compiled while_loop"):
        dg.compile(f, fullgraph=True)(x)
    with dg.no_grad():          # no gradient needed: one compiled node
        cn = dg.compile(f, fullgraph=True)
        _close(cn(x), f(x))
        _close(cn(x), f(x))
