"""Dynamic shapes: after a size-only recompile one symbolic graph serves every size (>= 2) of the
dims that changed; size-dependent attributes become `c * s` expressions; what cannot be expressed
stays static and explain() says why; Python comparisons of sizes are guarded."""

from __future__ import annotations

import numpy as np
import pytest

import dyngraph as dg
from compiler.dynamic import Specialize, fit_size
from compiler.ir import Sym, SymExpr
from tests.conftest import to_np, torch

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


def test_backward_partition_is_replayed_at_other_sizes():
    """Which saved values the backward recomputes is chosen by byte counts, which differ with
    the batch: (8, 6) recomputes the layer norm's elementwise values, (71, 6) keeps them. The
    traces a symbolic graph is unified and checked with replay the reference's choice, so a
    compiled forward whose backward runs outside becomes symbolic (it stayed static with "the
    graph outputs differ" before)."""
    from compiler.sources import scan_roots
    from compiler.trace import recompute_plans, trace

    dg.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 16), nn.Tanh(), nn.LayerNorm(16), nn.Linear(16, 3))
    plans = {}
    for n in (8, 71):
        x = dg.randn(n, 6, requires_grad=True)
        plans[n] = recompute_plans(trace(model, (x,), {}, scan_roots(model, (x,), {}, None)))
    assert plans[8][0] and not plans[71][0]         # the byte counts choose differently
    x = dg.randn(71, 6, requires_grad=True)
    replayed = trace(model, (x,), {}, scan_roots(model, (x,), {}, None), recompute=plans[8])
    assert recompute_plans(replayed) == plans[8]

    cf = dg.compile(model)
    for b in (8, 9, 71, 30, 8):
        x1 = dg.randn(b, 6, requires_grad=True)
        x2 = x1.detach().clone().requires_grad_(True)
        g1 = dg.autograd.grad(cf(x1).square().sum(), [x1, *model.parameters()])
        g2 = dg.autograd.grad(model(x2).square().sum(), [x2, *model.parameters()])
        for a, c in zip(g1, g2):
            _close(a, c)
    assert len(_symbolic(cf)) == 1 and len(cf._cf.entries) == 1
    assert "recomputed in backward" in str(cf.explain())


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


# ----- regression: two traces can agree by coincidence; a third trace verifies every graph ----

def _var_sum(x):
    return x.var(0, keepdim=True).sum()


def _np_var_sum(xa):
    return np.var(xa, axis=0, ddof=1).sum()


@pytest.mark.parametrize("dynamic", [True, None])
def test_var_divisor_is_not_mistaken_for_another_dim(dynamic):
    # var divides by n - 1: with (5, 4) then (6, 5) the divisor 4 -> 5 fits the other dim s1
    rng = np.random.default_rng(0)
    cf = dg.compile(_var_sum, backend="interpreter", dynamic=dynamic)
    for n, m in ((5, 4), (6, 5), (2, 4), (3, 4), (7, 6), (9, 2)):
        xa = rng.standard_normal((n, m))
        got = cf(dg.tensor(xa)).item()
        np.testing.assert_allclose(got, _np_var_sum(xa), rtol=1e-12)
        if torch is not None:
            np.testing.assert_allclose(got, torch.tensor(xa).var(0).sum().item(), rtol=1e-12)
    for e in _symbolic(cf):      # a symbolic graph divides by n - 1 of the reduced dim only
        dim0 = tuple(n for n, where in e.sym_dims.items() if (0, 0) in where)
        divisors = [x for seg in e.segments() for n in seg.nodes if n.op == "div"
                    for x in n.inputs if isinstance(x, (Sym, SymExpr))]
        assert all(isinstance(x, SymExpr) and (x.coeff, x.syms, x.offset) == (1, dim0, -1)
                   for x in divisors), divisors
    if dynamic is None:          # the recompile (5, 4) -> (6, 5) unified, the third trace refused
        assert any("third trace" in ev and "disagrees" in ev for ev in cf._cf.events)


def test_third_trace_rejects_a_coincidental_unification():
    from compiler.dynamic import SizeCheck, Specialize, unify_traces
    from compiler.sources import scan_roots
    from compiler.trace import trace

    def traced(xa):
        x = dg.tensor(xa)
        return trace(_var_sum, (x,), {}, scan_roots(_var_sum, (x,), {})), x

    rng = np.random.default_rng(1)
    plan = {"syms": {"s0": (5, 6), "s1": (4, 5)}, "dims": {(0, 0): "s0", (0, 1): "s1"},
            "exprs": {"s0": "a[0]._data.shape[0]", "s1": "a[0]._data.shape[1]"},
            "labels": {"s0": "args[0].shape[0]", "s1": "args[0].shape[1]"}}
    ta, _ = traced(rng.standard_normal((5, 4)))
    tb, _ = traced(rng.standard_normal((6, 5)))
    assert set(unify_traces(ta, tb, plan)) == {"s0", "s1"}     # two traces alone are fooled:
    assert "div %4, s1" in tb.graph.text()                      # the divisor n - 1 became s1
    ta, _ = traced(rng.standard_normal((5, 4)))
    tb, x = traced(rng.standard_normal((6, 5)))
    static = tb.graph.text()
    with pytest.raises(Specialize, match="third trace.*disagrees.*div"):
        unify_traces(ta, tb, plan, check=SizeCheck(_var_sum, (x,), {}))
    assert tb.graph.text() == static            # left as traced (a static graph)


def _even_prefix_sum(x):
    return x[: x.shape[0] // 2 * 2].sum(0)


@pytest.mark.parametrize("dynamic", [True, None])
def test_floor_division_of_a_size_stays_static(dynamic):
    # n // 2 * 2 is n at every even n (4 -> 6 fits s0) and constant from 4 to 5 (the old shadow)
    rng = np.random.default_rng(2)
    cf = dg.compile(_even_prefix_sum, backend="interpreter", dynamic=dynamic)
    for n in (4, 6, 5, 7, 8, 9):
        xa = rng.standard_normal((n, 3))
        want = xa[: n // 2 * 2].sum(0)
        _close(cf(dg.tensor(xa)), want, 1e-12)
        if torch is not None:
            _close(cf(dg.tensor(xa)), _even_prefix_sum(torch.tensor(xa)).numpy(), 1e-12)
    assert not _symbolic(cf)
    assert any("third trace" in ev for ev in cf._cf.events)
    assert "third trace" in str(cf.explain())


@pytest.mark.parametrize("dynamic", [True, None])
def test_legitimately_symbolic_graph_passes_the_check(dynamic):
    # mean divides by n (= s0), view to (B, -1): symbolic, verified, one graph for every size
    w = dg.tensor(np.random.default_rng(3).standard_normal((6, 2)), requires_grad=True)

    def f(x):
        h = x.view(x.shape[0], -1) @ w
        return (h - h.mean(0)).pow(2).mean()

    rng = np.random.default_rng(4)
    cf = dg.compile(f, backend="interpreter", dynamic=dynamic)
    sizes = (5, 2, 3, 9, 16, 2) if dynamic else (2, 5, 3, 9, 16, 2)
    for n in sizes:
        xa = rng.standard_normal((n, 2, 3))
        got = cf(dg.tensor(xa))
        got.backward()
        g_got = w.grad.numpy().copy()
        w.grad = None
        h = xa.reshape(n, -1) @ w.detach().numpy()
        np.testing.assert_allclose(got.item(), ((h - h.mean(0)) ** 2).mean(), rtol=1e-12)
        if torch is not None:
            wt = torch.tensor(w.detach().numpy(), requires_grad=True)
            ht = torch.tensor(xa).view(n, -1) @ wt
            (ht - ht.mean(0)).pow(2).mean().backward()
            np.testing.assert_allclose(g_got, wt.grad.numpy(), rtol=1e-10, atol=1e-12)
    syms = _symbolic(cf)
    assert len(syms) == 1 and [d for _, d in syms[0].sym_dims["s0"]] == [0]
    assert len(cf._cf.entries) == 1        # (the symbolic entry replaced the static one)
    assert not any("stays static" in ev for ev in cf._cf.events)


def test_third_sizes_respect_python_size_checks(monkeypatch):
    # traced at 2 and 3 under `n > 4 is False`: the third trace must run at 4 (not a prime above)
    import compiler.trace
    seen = []
    real_trace = compiler.trace.trace

    def counting_trace(fn, args, kwargs, *a, **k):
        seen.append(args[0].shape[0])
        return real_trace(fn, args, kwargs, *a, **k)

    monkeypatch.setattr(compiler.trace, "trace", counting_trace)

    def f(x):
        return x * 2 if x.shape[0] > 4 else x - 1

    cf = dg.compile(f, backend="interpreter")
    for n in (2, 3, 4, 3, 7, 8, 11):
        x = dg.randn(n, 3)
        _close(cf(x), f(x))
    # third traces: 4 is the only untraced size <= 4; then one above both traced sizes (7, 8)
    assert len(seen) == 2 and seen[0] == 4 and seen[1] > 8
    assert len(_symbolic(cf)) == 2


def test_third_trace_starts_from_the_state_the_call_started_from():
    # the first optimizer step creates state; the third trace (run after the real one) must see
    # no state either, or its graph differs and the first entry would needlessly stay static
    dg.manual_seed(5)
    m1 = nn.Sequential(nn.Linear(4, 5), nn.Tanh(), nn.Linear(5, 2))
    m2 = nn.Sequential(nn.Linear(4, 5), nn.Tanh(), nn.Linear(5, 2))
    m2.load_state_dict(m1.state_dict())
    o1 = dg.optim.Adam(m1.parameters(), lr=0.01)
    o2 = dg.optim.Adam(m2.parameters(), lr=0.01)

    def step(model, opt, x, y):
        opt.zero_grad()
        loss = ((model(x) - y) ** 2).mean()
        loss.backward()
        opt.step()
        return loss

    cstep = dg.compile(step, backend="interpreter")
    for k, b in enumerate((3, 6, 4, 9)):
        x, y = dg.randn(b, 4), dg.randn(b, 2)
        dg.mark_dynamic(x, 0)
        dg.mark_dynamic(y, 0)
        _close(cstep(m1, o1, x, y), step(m2, o2, x, y))
        if k == 0:                # the first step's graph is symbolic (verified by a third trace)
            assert cstep._cf.entries[0].sym_dims
        for p1, p2 in zip(m1.parameters(), m2.parameters()):
            _close(p1, p2)        # the hidden traces left parameters and Adam's state alone
            _close(o1.state[p1]["exp_avg_sq"], o2.state[p2]["exp_avg_sq"])
    assert len(_symbolic(cstep)) == 2 and len(cstep._cf.entries) == 2
