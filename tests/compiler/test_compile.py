"""compile(): parity with eager, modules, sources as inputs, guards and recompiles, cache limit,
graph breaks, fullgraph errors, cond/while_loop, explain/reset/logs."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import dyngraph as dg
from tests.conftest import to_np

W_GLOBAL = None


def _same(a, b, tol=1e-6):
    np.testing.assert_allclose(to_np(a), to_np(b), rtol=tol, atol=tol)


def test_function_matches_eager_and_is_cached():
    def f(x, w):
        y = (x @ w).relu()
        return y * 2 + 1, y.sum()

    cf = dg.compile(f)
    x, w = dg.randn(4, 3), dg.randn(3, 5)
    for _ in range(3):
        got, want = cf(x, w), f(x, w)
        _same(got[0], want[0])
        _same(got[1], want[1])
    assert len(cf._cf.entries) == 1


def test_decorator_forms():
    @dg.compile
    def f(x):
        return x.exp()

    @dg.compile(backend="interpreter", fullgraph=True)
    def g(x):
        return x.exp()

    x = dg.randn(3)
    for _ in range(2):
        _same(f(x), x.exp())
        _same(g(x), x.exp())
    with pytest.raises(ValueError, match="unknown backend"):
        dg.compile(f, backend="tpu")


def test_weights_are_inputs_not_constants():
    global W_GLOBAL
    W_GLOBAL = dg.ones(3)
    scale = dg.full((3,), 2.0)

    def f(x):
        return x * W_GLOBAL * scale

    cf = dg.compile(f)
    x = dg.randn(3)
    cf(x)
    cf(x)
    with dg.no_grad():
        scale.mul_(3)          # in place: seen through the closure source
    W_GLOBAL = dg.full((3,), 5.0)   # rebinding the global: seen through the globals source
    _same(cf(x), f(x))
    assert len(cf._cf.entries) == 1


def test_module_compile_keeps_parameters_and_train_eval():
    nn = dg.nn
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Dropout(0.5), nn.Linear(8, 2))
    cm = dg.compile(model)
    x = dg.randn(5, 4)
    assert cm.state_dict().keys() == model.state_dict().keys()
    assert len(list(cm.parameters())) == 4
    cm.eval()
    assert not model.training
    with dg.no_grad():
        _same(cm(x), model(x))
        _same(cm(x), model(x))
        model[0].weight.mul_(2)      # updated weight, no recompile needed
        _same(cm(x), model(x))
    cm.train()
    dg.manual_seed(3)
    with dg.no_grad():
        a = cm(x)
    dg.manual_seed(3)
    with dg.no_grad():
        b = model(x)
    _same(a, b)       # compiled dropout draws the same numbers as eager under the same seed


def test_guards_recompile_on_each_property():
    def f(x, k):
        return x * k

    cf = dg.compile(f)
    x = dg.randn(2, 3)
    _same(cf(x, 2), x * 2)
    _same(cf(x, 3), x * 3)                       # python value steered the trace
    y = dg.randn(5, 3)
    _same(cf(y, 2), y * 2)                       # shape
    yd = y.double()
    out = cf(yd, 2)
    assert out.dtype == dg.float64               # dtype
    _same(out, yd * 2)
    with dg.no_grad():
        _same(cf(y, 2), y * 2)                   # grad mode
    assert any("guard failed" in e for e in cf._cf.events)


def test_recompile_reason_names_guard():
    cf = dg.compile(lambda x: x + 1)
    cf(dg.randn(2))
    cf(dg.randn(3))
    assert any("args[0].shape == (2,)" in e for e in cf._cf.events)


def test_cache_limit_falls_back_to_eager_for_new_signatures_only():
    cf = dg.compile(lambda x: x * 2, options={"cache_size_limit": 2})
    cf(dg.randn(1))
    cf(dg.randn(2))
    with pytest.warns(RuntimeWarning, match="cache size limit"):
        out = cf(dg.randn(3))
    assert out.shape == (3,)
    assert len(cf._cf.entries) == 2
    _same(cf(dg.ones(2)), dg.full((2,), 2.0))    # the good entries keep working


def test_graph_break_on_item_both_outcomes():
    import itertools
    calls = itertools.count()      # counts Python runs (an iterator: not a watched object)

    def f(x):
        next(calls)
        if x.sum() > 0:
            return x * 2
        return x - 10

    cf = dg.compile(f)
    pos, neg = dg.ones(3), -dg.ones(3)
    for _ in range(2):
        _same(cf(pos), f(pos))
        _same(cf(neg), f(neg))
    entry = cf._cf.entries[0]
    assert len(entry.root.children) == 2
    n = next(calls)
    cf(pos)
    cf(neg)
    assert next(calls) == n + 1     # both outcomes cached: no Python re-run
    assert any("graph break" in e and "test_compile.py" in e for e in cf._cf.events)


def test_item_in_the_middle_and_data_dependent_loop():
    def f(x):
        n = int(x.abs().sum().item()) % 4
        y = x
        for _ in range(n):
            y = y * 2 + 1
        return y, float(y.mean())

    cf = dg.compile(f)
    for v in [0.5, 1.2, 2.7, 0.5, 3.9, 1.2]:
        x = dg.full((2,), v)
        got, want = cf(x), f(x)
        _same(got[0], want[0])
        assert got[1] == pytest.approx(want[1])


def test_tolist_and_numpy_are_breaks():
    def f(x):
        vals = x.tolist()
        arr = x.numpy()
        return x * max(vals) + float(arr.sum())

    cf = dg.compile(f)
    for data in ([1.0, 2.0], [3.0, -1.0], [1.0, 2.0]):
        x = dg.tensor(data)
        _same(cf(x), f(x))


def test_fullgraph_raises_with_source_line():
    def f(x):
        if x.sum() > 0:
            return x
        return -x

    cf = dg.compile(f, fullgraph=True)
    with pytest.raises(RuntimeError, match=r"test_compile.py:\d+: if x.sum\(\) > 0"):
        cf(dg.ones(2))


def test_cond_and_while_loop_eager_and_compiled():
    def f(x):
        y = dg.cond(x.sum() > 0, lambda a: a * 2, lambda a: a - 1, (x,))
        i, z = dg.while_loop(lambda i, z: i < 5, lambda i, z: (i + 1, z * 1.5),
                             (dg.tensor(0), y))
        return z, i

    cf = dg.compile(f, fullgraph=True)
    for x in (dg.ones(3), -dg.ones(3), dg.ones(3), -dg.ones(3)):
        got, want = cf(x), f(x)
        _same(got[0], want[0])
        assert int(got[1]) == int(want[1]) == 5
    text = str(cf.explain())
    assert "cond" in text and "while_loop" in text


def test_inplace_on_inputs_is_written_back():
    def f(x, buf):
        buf.add_(x)
        x2 = x * 2
        return x2

    cf = dg.compile(f)
    x = dg.ones(3)
    b1, b2 = dg.zeros(3), dg.zeros(3)
    for _ in range(3):
        cf(x, b1)
        f(x, b2)
    _same(b1, b2)
    assert b1._version == b2._version


def test_raw_array_writes_fall_back_to_eager():
    def f(x, buf):
        buf._data[...] += 1      # invisible to the tracer
        buf._vc[0] += 1
        return x + buf

    cf = dg.compile(f)
    x, b1, b2 = dg.zeros(2), dg.zeros(2), dg.zeros(2)
    for _ in range(3):
        _same(cf(x, b1), f(x, b2))
    assert cf._cf.entries[0].root is None


def test_compiled_backward_matches_eager():
    def f(x, w, b):
        return ((x @ w + b).tanh() ** 2).mean()

    cf = dg.compile(f)
    x = dg.randn(4, 3)
    w1 = dg.randn(3, 5, requires_grad=True)
    b1 = dg.randn(5, requires_grad=True)
    w2 = w1.detach().clone().requires_grad_()
    b2 = b1.detach().clone().requires_grad_()
    for _ in range(3):
        w1.grad = b1.grad = w2.grad = b2.grad = None
        cf(x, w1, b1).backward()
        f(x, w2, b2).backward()
        _same(w1.grad, w2.grad)
        _same(b1.grad, b2.grad)
    out = cf(x, w1, b1)
    assert out.grad_fn is not None


def test_explain_reset_and_logs(capsys):
    out = dg.explain(lambda x: (x * 1 + 0).relu().sum())(dg.randn(4))
    text = str(out)
    assert "guards" in text and "graph(" in text and "dce" in text
    cf = dg.compile(lambda x: x + 1)
    cf(dg.randn(2))
    dg.reset()
    assert not cf._cf.entries
    dg.set_logs("graphs")
    try:
        cf(dg.randn(2))
    finally:
        dg.set_logs()
    with pytest.raises(ValueError, match="unknown log channel"):
        dg.set_logs("nope")


def test_unsupported_stale_view_falls_back():
    def f(x):
        y = x.clone()
        v = y[0]
        y.add_(1)
        return v * 2

    cf = dg.compile(f)
    x = dg.randn(3, 2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for _ in range(2):
            _same(cf(x), f(x))


def test_print_in_a_compiled_function_runs_eagerly_every_call(capsys):
    def f(x):
        y = x * 2
        print("value", float(y.sum()))
        return y + 1

    cf = dg.compile(f)
    for v in (1.0, 2.0, 3.0):
        x = dg.full((2,), v)
        _same(cf(x), f(x))
    out = capsys.readouterr().out.splitlines()
    assert out == ["value 4.0", "value 4.0", "value 8.0", "value 8.0", "value 12.0", "value 12.0"]
    assert all(e.root is None for e in cf._cf.entries)
    assert "print() at" in str(cf.explain())


def test_outer_list_append_runs_eagerly_every_call():
    log, hist = [], {"n": 0}

    class Net(dg.nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = dg.nn.Linear(3, 2)
            self.history = []

        def forward(self, x):
            y = self.lin(x)
            self.history.append(float(y.sum()))
            return y

    def f(x):
        log.append(x.sum())           # closure list
        return x * 2

    def g(x):
        hist["n"] += 1                # closure dict
        return x + 1

    net = Net()
    cnet, cf, cg = dg.compile(net), dg.compile(f), dg.compile(g)
    x = dg.randn(4, 3)
    for k in range(1, 4):
        _same(cf(x), x * 2)
        _same(cg(x), x + 1)
        _same(cnet(x), net.lin(x))
        assert len(log) == k and hist["n"] == k and len(net.history) == k
    assert "the list log was changed" in str(cf.explain())
    assert "the dict hist was changed" in str(cg.explain())
    assert "history was changed" in str(cnet.explain())
    assert all(e.root is None for c in (cf, cg) for e in c._cf.entries)


def test_python_and_numpy_random_draws_run_eagerly():
    import random
    from random import gauss

    def f(x):
        return x * random.random()

    def g(x):
        return x + gauss(0.0, 1.0)    # a bound method: found by the state check

    def h(x):
        return x * float(np.random.rand())

    for fn, what in ((f, "random.random() at"), (g, "Python's random module"),
                     (h, "numpy's global random")):
        cf = dg.compile(fn)
        x = dg.ones(3)
        for _ in range(3):
            random.seed(1)
            np.random.seed(1)
            got = cf(x)
            random.seed(1)
            np.random.seed(1)
            _same(got, fn(x))
        assert what in str(cf.explain())


@pytest.mark.parametrize("backend", ["interpreter", "llvm"])
def test_compiled_inf_nan_arithmetic_matches_eager_without_warnings(backend):
    def f(x, y):
        return (x * y + x - x.exp()).sum(), (x - x).log()

    x = dg.tensor([np.inf, 1.0, -np.inf, 0.0])
    y = dg.tensor([0.0, 0.0, 2.0, np.nan])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        want = f(x, y)
        for _ in range(2):      # the tracing call and a cached one
            got = dg.compile(f, backend=backend)(x, y)
            for a, b in zip(got, want):
                np.testing.assert_array_equal(a.numpy(), b.numpy())
