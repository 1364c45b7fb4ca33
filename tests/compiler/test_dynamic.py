"""Dynamic shapes: after a size-only recompile one symbolic graph serves every size (>= 2) of the
dims that changed; size-dependent attributes become `c * s` expressions; what cannot be expressed
stays static and explain() says why; Python comparisons of sizes are guarded."""

from __future__ import annotations

import numpy as np
import pytest

import dyngraph as dg
from compiler.dynamic import Specialize, fit_size
from compiler.ir import Sym, SymExpr
from tests.conftest import to_np

nn = dg.nn


def _close(a, b, tol=1e-5):
    np.testing.assert_allclose(to_np(a), to_np(b), rtol=tol, atol=tol)


def _symbolic(cf):
    return [e for e in cf._cf.entries if e.sym_dims]


def test_fit_size():
    syms = {"s0": (4, 6), "s1": (10, 3)}
    assert fit_size(7, 7, syms) == 7
    assert fit_size(4, 6, syms) == Sym("s0")
    assert fit_size(12, 18, syms) == SymExpr(3, ["s0"])
    assert fit_size(40, 18, syms) == SymExpr(1, ["s0", "s1"])
    with pytest.raises(Specialize, match="not c"):
        fit_size(2, 3, syms)                     # s0 // 2
    with pytest.raises(Specialize):
        fit_size(0.25, 1 / 6, syms)              # a float derived from a size


def test_mlp_batch_sizes_share_one_graph_forward_and_backward():
    dg.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 3))

    def f(x, t):
        h = model(x.view(x.shape[0], -1))         # a reshape to a size-derived shape
        return nn.functional.cross_entropy(h, t), h.softmax(-1)

    cf = dg.compile(f)
    for b in (1, 2, 3, 7, 64, 5, 2):
        x, t = dg.randn(b, 2, 4), dg.randint(0, 3, (b,))
        (l1, h1), (l2, h2) = cf(x, t), f(x, t)
        _close(h1, h2)
        _close(l1, l2)
        grads = []
        for loss in (l1, l2):
            loss.backward()
            grads.append([p.grad.numpy().copy() for p in model.parameters()])
            for p in model.parameters():
                p.grad = None
        for a, c in zip(*grads):
            _close(a, c)
    entries = cf._cf.entries
    assert len(entries) == 2              # size 1 (specialised, as in PyTorch) + one symbolic
    (sym,) = _symbolic(cf)
    assert list(sym.sym_dims) == ["s0"] and len(sym.sym_dims["s0"]) == 2   # x and t share s0
    text = str(cf.explain())
    assert "s0" in text and "symbolic" in text
    assert "f32[s0,3]" in text


def test_compiled_training_step_with_varying_batch():
    dg.manual_seed(1)
    m1 = nn.Sequential(nn.Linear(6, 8), nn.Tanh(), nn.Linear(8, 2))
    m2 = nn.Sequential(nn.Linear(6, 8), nn.Tanh(), nn.Linear(8, 2))
    m2.load_state_dict(m1.state_dict())
    o1 = dg.optim.SGD(m1.parameters(), lr=0.1, momentum=0.9)
    o2 = dg.optim.SGD(m2.parameters(), lr=0.1, momentum=0.9)

    def step(model, opt, x, y):
        opt.zero_grad()
        loss = ((model(x) - y) ** 2).mean()
        loss.backward()
        opt.step()
        return loss

    cf = dg.compile(step)
    for b in (4, 4, 5, 9, 16, 2, 33):
        x, y = dg.randn(b, 6), dg.randn(b, 2)
        _close(cf(m1, o1, x, y), step(m2, o2, x, y))
    for p1, p2 in zip(m1.parameters(), m2.parameters()):
        _close(p1, p2)
    assert len(_symbolic(cf)) == 1


def test_size_comparison_in_python_is_guarded():
    def f(x):
        if x.shape[0] > 4:
            return x * 2
        return x - 1

    cf = dg.compile(f)
    for b in (2, 3, 4, 7, 8, 3, 9):
        x = dg.randn(b, 3)
        _close(cf(x), f(x))
    assert len(_symbolic(cf)) == 2        # one graph for sizes <= 4, one for sizes > 4
    assert any("size check" in g.text and "> 4" in g.text for e in _symbolic(cf)
               for g in e.guards.guards)


def test_computed_size_specialises_and_explains():
    def f(x):
        return x.reshape(x.shape[0] // 2, -1).sum(0)

    cf = dg.compile(f)
    for b in (4, 6, 8):
        x = dg.randn(b, 3)
        _close(cf(x), f(x))
    assert not _symbolic(cf)
    assert any("stays static" in e and "reshape" in e for e in cf._cf.events)
    assert "stays static" in str(cf.explain())


def test_dynamic_false_and_mark_dynamic():
    f = lambda x: (x * 3).sum(-1)  # noqa: E731
    cf = dg.compile(f, dynamic=False)
    for b in (2, 3, 4):
        x = dg.randn(b, 5)
        _close(cf(x), f(x))
    assert not _symbolic(cf) and len(cf._cf.entries) == 3
    cm = dg.compile(f, dynamic=False)
    for b in (2, 3, 4):
        x = dg.randn(b, 5)
        dg.mark_dynamic(x, 0)
        _close(cm(x), f(x))
    assert len(_symbolic(cm)) == 1 and len(cm._cf.entries) == 1


def test_changed_parameter_shape_stays_static():
    w = {"w": dg.randn(3)}

    def f(x):
        return x * w["w"]

    cf = dg.compile(f)
    for n in (3, 4):
        w["w"] = dg.randn(n)
        x = dg.randn(n)
        _close(cf(x), f(x))
    assert not _symbolic(cf)


def test_fills_and_aranges_become_symbolic_constants():
    def f(x):
        idx = dg.arange(x.shape[0])
        return x[idx, idx % x.shape[1]] + dg.ones(x.shape[0])

    cf = dg.compile(f)
    for b in (3, 5, 6, 11):
        x = dg.randn(b, 2)
        _close(cf(x), f(x))
    assert len(_symbolic(cf)) == 1


def test_dynamic_true_makes_the_first_graph_symbolic():
    dg.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Dropout(0.5), nn.Linear(16, 3))

    def f(x, t):
        return nn.functional.cross_entropy(model(x), t)

    cf = dg.compile(f, dynamic=True, backend="interpreter")
    for b in (5, 2, 9, 64):
        x, t = dg.randn(b, 8), dg.randint(0, 3, (b,))
        dg.manual_seed(b)
        l1 = cf(x, t)
        l1.backward()
        g1 = [p.grad.clone() for p in model.parameters()]
        model.zero_grad()
        dg.manual_seed(b)
        l2 = f(x, t)
        l2.backward()
        _close(l1, l2)       # dropout draws the same numbers: the shadow trace left no trace
        for a, p in zip(g1, model.parameters()):
            _close(a, p.grad)
        model.zero_grad()
        if b == 5:
            (e,) = cf._cf.entries
            assert e.sym_dims and "s0" in str(cf.explain())     # symbolic from the first call
    assert len(cf._cf.entries) == 1 and cf._cf.entries[0].traces == 1


def test_mark_dynamic_first_graph_and_state_untouched_by_the_shadow_trace():
    dg.manual_seed(2)
    m1 = nn.Sequential(nn.Linear(4, 6), nn.Tanh(), nn.Linear(6, 2))
    m2 = nn.Sequential(nn.Linear(4, 6), nn.Tanh(), nn.Linear(6, 2))
    m2.load_state_dict(m1.state_dict())
    o1 = dg.optim.Adam(m1.parameters(), lr=0.01)
    o2 = dg.optim.Adam(m2.parameters(), lr=0.01)

    def step(model, opt, x, y):
        opt.zero_grad()
        loss = ((model(x) - y) ** 2).mean()
        loss.backward()
        opt.step()
        return loss

    cstep = dg.compile(step, dynamic=False, backend="interpreter")
    for b in (3, 7, 3, 12):
        x, y = dg.randn(b, 4), dg.randn(b, 2)
        dg.mark_dynamic(x, 0)
        dg.mark_dynamic(y, 0)
        _close(cstep(m1, o1, x, y), step(m2, o2, x, y))
        for p1, p2 in zip(m1.parameters(), m2.parameters()):
            _close(p1, p2)
    syms = _symbolic(cstep)
    assert syms and len(cstep._cf.entries) == 2      # first step (creates state) + later steps


def test_dynamic_true_falls_back_to_leading_dims_and_says_why_when_static():
    w = dg.randn(5, 3)
    cf = dg.compile(lambda x: x @ w, dynamic=True, backend="interpreter")
    for b in (4, 6):
        x = dg.randn(b, 5)        # dim 1 must stay 5 (the weight): only dim 0 is symbolic
        _close(cf(x), x @ w)
    (e,) = cf._cf.entries
    assert [d for _, d in e.sym_dims["s0"]] == [0]
    cs = dg.compile(lambda x: x.reshape(x.shape[0] // 2, -1), dynamic=True,
                    backend="interpreter")
    x = dg.randn(4, 3)
    _close(cs(x), x.reshape(2, -1))
    assert "stays static" in str(cs.explain()) and not _symbolic(cs)
