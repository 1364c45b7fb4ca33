"""gather / scatter_add inside native segments (compiler/render_entry.py IndexCall,
runtime/native_plan.py `_plan_index`): values against numpy float64 and torch, bit-equality with
eager for scatter_add's in-order sums, bounds errors, and a training step as one native call."""

from __future__ import annotations

import numpy as np
import pytest

import dyngraph as dg
import dyngraph.nn.functional as F
from compiler.render_entry import IndexCall, index_function
from runtime import native
from tests.conftest import requires_torch, torch


def _schedules(cf):
    return [[kind for kind, _ in p.schedule] for entry in cf._cf.entries
            for seg in entry.segments() if seg.program is not None
            for p in (seg.program[0].native or {}).values() if p]


def _gather_ref(x, dim, idx):
    """numpy float64 oracle of torch.gather (the index may be smaller than x off `dim`)."""
    grids = list(np.indices(idx.shape))
    grids[dim] = idx
    return x.astype(np.float64)[tuple(grids)]


def _scatter_add_ref(x, dim, idx, src):
    out = x.astype(np.float64).copy()
    grids = list(np.indices(idx.shape))
    grids[dim] = idx
    np.add.at(out, tuple(grids), src[tuple(slice(0, s) for s in idx.shape)].astype(np.float64))
    return out


CASES = [((6, 9), 1, (6, 4)), ((6, 9), 0, (3, 9)), ((7,), 0, (5,)), ((5, 8), 1, (4, 3))]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("xshape,dim,ishape", CASES)
def test_gather_and_scatter_add_run_natively_and_match_numpy(xshape, dim, ishape, dtype):
    rng = np.random.default_rng(len(xshape) + dim)
    x = rng.standard_normal(xshape).astype(dtype)
    idx = rng.integers(0, xshape[dim], ishape)       # repeats: scatter_add accumulates
    src = rng.standard_normal(ishape).astype(dtype)

    def f(x, i, s):
        return (x * 2).gather(dim, i) + 1, (x + 0).scatter_add(dim, i, s * 3)

    cf = dg.compile(f, backend="llvm")
    for _ in range(3):      # plan, then native calls
        g, sa = cf(dg.tensor(x), dg.tensor(idx), dg.tensor(src))
    assert _schedules(cf) == [["native"]]       # no Python step between kernels
    np.testing.assert_allclose(g.numpy(), _gather_ref(x * 2, dim, idx) + 1, rtol=1e-6)
    np.testing.assert_allclose(sa.numpy(), _scatter_add_ref(x, dim, idx, src * 3),
                               rtol=1e-5, atol=1e-6)
    eg, esa = f(dg.tensor(x), dg.tensor(idx), dg.tensor(src))
    np.testing.assert_array_equal(g.numpy(), eg.numpy())
    np.testing.assert_array_equal(sa.numpy(), esa.numpy())    # same order of additions
    if torch is not None:
        tx, ti, ts = torch.from_numpy(x), torch.from_numpy(idx), torch.from_numpy(src)
        np.testing.assert_allclose(g.numpy(), ((tx * 2).gather(dim, ti) + 1).numpy(), rtol=1e-6)
        np.testing.assert_allclose(sa.numpy(), tx.scatter_add(dim, ti, ts * 3).numpy(),
                                   rtol=1e-5, atol=1e-6)


def test_gather_reads_a_transposed_input_through_its_strides():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((9, 6)).astype(np.float32)
    idx = rng.integers(0, 9, (6, 2))
    cf = dg.compile(lambda x, i: x.T.gather(1, i) * 1.0, backend="llvm")
    for _ in range(2):
        out = cf(dg.tensor(x), dg.tensor(idx))
    np.testing.assert_array_equal(out.numpy(), np.take_along_axis(x.T, idx, axis=1))


@pytest.mark.parametrize("bad", [10, -1])
def test_index_out_of_bounds_raises_and_leaves_parameters_untouched(bad):
    """A bad label in a compiled training step raises the eager error (the native check
    returns, the step-by-step rerun raises) and no parameter was updated in place."""
    dg.manual_seed(0)
    model = dg.nn.Linear(12, 10)
    opt = dg.optim.SGD(model.parameters(), lr=0.1)

    @dg.compile(backend="llvm")
    def step(x, y):
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        return loss

    x, y = dg.randn(8, 12), dg.randint(0, 10, (8,))
    for _ in range(4):
        step(x, y)
    assert _schedules(step) and all(s == ["native"] for s in _schedules(step))
    before = [p.detach().numpy().copy() for p in model.parameters()]
    yb = y.numpy().copy()
    yb[5] = bad
    with pytest.raises(RuntimeError, match="out of bounds"):
        step(x, dg.tensor(yb))
    for p, b in zip(model.parameters(), before):
        np.testing.assert_array_equal(p.detach().numpy(), b)
    calls = native.STATS["calls"]
    step(x, y)      # the plan still works after the failed call
    assert native.STATS["calls"] == calls + 1


@requires_torch
def test_training_step_is_one_native_call_and_matches_torch():
    """MLP + cross-entropy + SGD: gather and scatter_add no longer split the step."""
    rng = np.random.default_rng(1)
    w1, w2 = rng.standard_normal((16, 20)) * 0.3, rng.standard_normal((5, 16)) * 0.3
    x, y = rng.standard_normal((12, 20)), rng.integers(0, 5, 12)
    m = dg.nn.Sequential(dg.nn.Linear(20, 16), dg.nn.ReLU(), dg.nn.Linear(16, 5)).double()
    tm = torch.nn.Sequential(torch.nn.Linear(20, 16), torch.nn.ReLU(),
                             torch.nn.Linear(16, 5)).double()
    with torch.no_grad():
        for dl, tl, w in ((m[0], tm[0], w1), (m[2], tm[2], w2)):
            dl.weight.data = dg.tensor(w)
            dl.bias.data = dg.zeros(w.shape[0], dtype=dg.float64)
            tl.weight.copy_(torch.from_numpy(w))
            tl.bias.zero_()
    opt = dg.optim.SGD(m.parameters(), lr=0.1)
    topt = torch.optim.SGD(tm.parameters(), lr=0.1)

    @dg.compile(backend="llvm")
    def step(x, y):
        opt.zero_grad()
        loss = F.cross_entropy(m(x), y)
        loss.backward()
        opt.step()
        return loss

    xt, yt = dg.tensor(x), dg.tensor(y)
    for _ in range(5):
        loss = step(xt, yt)
        topt.zero_grad()
        tloss = torch.nn.functional.cross_entropy(tm(torch.from_numpy(x)), torch.from_numpy(y))
        tloss.backward()
        topt.step()
        np.testing.assert_allclose(float(loss), float(tloss.detach()), rtol=1e-10)
    assert _schedules(step) == [["native"]]
    for p, q in zip(m.parameters(), tm.parameters()):
        np.testing.assert_allclose(p.detach().numpy(), q.detach().numpy(), rtol=1e-9,
                                   atol=1e-12)


def test_index_function_text_is_deterministic_and_checks_bounds():
    name, text = index_function("scatter_add", "float32", 1)
    assert name == "dg_scatter_add_float_d1" and text == index_function("scatter_add",
                                                                        "float32", 1)[1]
    assert "icmp uge i64" in text and "store i32 1" in text     # one unsigned compare per index
    assert IndexCall("gather", "float64", 0, 3, ()).op == "gather"
