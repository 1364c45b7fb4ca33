"""Guards on whether a parameter's .grad exists: only when the traced function reads the
gradient it was called with (compiler/trace.py `Tracer.grad_access`, seen through the
`Tensor._grad` property). A step that starts with zero_grad() is one trace whatever the grads;
one that accumulates into them, or reads them first, keeps the guard. Every case is checked
against the same calls run eagerly."""

from __future__ import annotations

import numpy as np
import pytest

import dyngraph as dg
from dyngraph import nn
from dyngraph.nn import functional as F


def _model():
    dg.manual_seed(0)
    return nn.Sequential(nn.Linear(6, 5), nn.Tanh(), nn.Linear(5, 3))


def _entries(cf) -> int:
    return int(str(cf.explain()).split(" cache entr")[0].rsplit(" ", 1)[1])


def _run(make_step, calls, backend="interpreter", between=None):
    """Run `calls` steps eagerly and compiled on two identical models; `between(model, i)` may
    change state between calls (e.g. give the parameters gradients). Returns the compiled
    function after checking results, parameters and grads agree."""
    x, y = dg.randn(4, 6), dg.randint(0, 3, (4,))
    outs, states, cf = [], [], None
    for compiled in (False, True):
        model = _model()
        opt = dg.optim.SGD(model.parameters(), lr=0.1)
        step = make_step(model, opt)
        fn = dg.compile(step, backend=backend) if compiled else step
        res = []
        for i in range(calls):
            if between is not None:
                between(model, i)
            r = fn(x, y)
            res.append(None if r is None else r.detach().numpy().copy())
        outs.append(res)
        states.append([(p.detach().numpy().copy(),
                        None if p.grad is None else p.grad.numpy().copy())
                       for p in model.parameters()])
        cf = fn if compiled else cf
    for a, b in zip(*outs):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    for (p1, g1), (p0, g0) in zip(states[1], states[0]):
        np.testing.assert_allclose(p1, p0, rtol=1e-5, atol=1e-6)
        assert (g1 is None) == (g0 is None)
        if g0 is not None:
            np.testing.assert_allclose(g1, g0, rtol=1e-5, atol=1e-6)
    return cf


def _train(model, opt):
    def step(x, y):
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        return loss
    return step


@pytest.mark.parametrize("backend", ["interpreter", "llvm"])
def test_a_step_starting_with_zero_grad_is_one_trace(backend):
    cf = _run(_train, 5, backend)
    assert _entries(cf) == 1
    assert ".grad is" not in str(cf.explain())


def test_module_zero_grad_also_counts_as_a_reset():
    def make(model, opt):
        def step(x, y):
            model.zero_grad()
            loss = F.cross_entropy(model(x), y)
            loss.backward()
            opt.step()
            return loss
        return step
    assert _entries(_run(make, 4)) == 1


def test_accumulating_into_existing_grads_keeps_the_guard():
    def make(model, opt):
        def step(x, y):
            loss = F.cross_entropy(model(x), y)
            loss.backward()          # adds to the grads of the previous call
            return loss
        return step
    cf = _run(make, 3)
    assert _entries(cf) == 2 and ".grad is" in str(cf.explain())


def test_reading_a_grad_before_resetting_it_keeps_the_guard():
    def make(model, opt):
        def step(x, y):
            w = model[0].weight
            seen = w.grad.sum() if w.grad is not None else dg.zeros(())
            opt.zero_grad()
            loss = F.cross_entropy(model(x), y)
            loss.backward()
            return loss + seen
        return step
    assert _entries(_run(make, 3)) == 2


def test_zero_grad_to_zeros_reads_the_grads():
    def make(model, opt):
        def step(x, y):
            opt.zero_grad(set_to_none=False)
            loss = F.cross_entropy(model(x), y)
            loss.backward()
            opt.step()
            return loss
        return step
    _run(make, 4)


def test_zero_grad_at_the_end_of_the_step():
    def make(model, opt):
        def step(x, y):
            loss = F.cross_entropy(model(x), y)
            loss.backward()
            opt.step()
            opt.zero_grad()
            return loss
        return step
    _run(make, 4)


def test_a_reset_is_written_back_when_the_traced_call_had_no_grads():
    """Traced with no grads, replayed with grads (given eagerly in between): the compiled call
    must still leave them None, as the eager call does."""
    def make(model, opt):
        def step(x, y):
            opt.zero_grad()
            return F.cross_entropy(model(x), y).detach()
        return step

    def give_grads(model, i):
        if i:
            F.cross_entropy(model(dg.randn(4, 6)), dg.randint(0, 3, (4,))).backward()
    cf = _run(make, 3, between=give_grads)
    assert _entries(cf) == 1


def test_a_function_that_never_touches_grads_does_not_guard_them():
    def make(model, opt):
        def fwd(x, y):
            return model(x)
        return fwd

    def give_grads(model, i):
        for p in model.parameters():
            p.grad = None if i % 2 == 0 else dg.ones(p.shape)
    cf = _run(make, 4, between=give_grads)
    assert _entries(cf) == 1
