"""Export -> save -> load round trips: loaded outputs equal eager ones at several dim sizes."""

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import dyngraph as dg
from runtime.graph_file import GraphFormatError
from runtime.loaded import InputError
from tests.conftest import to_np
from tests.export import models


def _save_load(ep, tmp_path, name="m.dgraph", backend="interpreter"):
    path = tmp_path / name
    ep.save(path)
    return dg.load_graph(path, backend=backend)


def _close(a, b, rtol=1e-5, atol=1e-6):
    np.testing.assert_allclose(to_np(a), to_np(b), rtol=rtol, atol=atol)


def test_mlp_round_trip_several_batch_sizes(tmp_path):
    dg.manual_seed(0)
    m = models.mlp()
    batch = dg.Dim("batch", min=1, max=4096)
    ep = dg.export(m, (dg.randn(4, 8),), dynamic_shapes=({0: batch},))
    run = _save_load(ep, tmp_path)
    assert [repr(s) for s in run.inputs] == ["input: f32[batch,8]"]
    assert [repr(s) for s in run.outputs] == ["output0: f32[batch,3]"]
    assert run.dims == {"batch": (1, 4096)}
    for n in (1, 2, 3, 7, 64):
        x = dg.randn(n, 8)
        _close(run(x), m(x))
    sd, ref = run.state_dict(), m.state_dict()
    assert list(sd) == list(ref)
    for k in ref:
        np.testing.assert_array_equal(to_np(sd[k]), to_np(ref[k]))


def test_mlp_on_default_backend_matches_eager(tmp_path):
    m = models.mlp()
    ep = dg.export(m, (dg.randn(5, 8),), dynamic_shapes=({0: dg.Dim("b")},))
    run = _save_load(ep, tmp_path, backend="auto")
    for n in (2, 9):
        x = dg.randn(n, 8)
        _close(run(x), m(x), rtol=1e-4, atol=1e-5)
    assert run.backend_used in ("llvm", "interpreter")


def test_cnn_round_trip(tmp_path):
    m = models.cnn()
    ep = dg.export(m, (dg.randn(2, 3, 8, 8),), dynamic_shapes=({0: dg.Dim("batch")},))
    run = _save_load(ep, tmp_path)
    for n in (1, 3, 6):
        x = dg.randn(n, 3, 8, 8)
        _close(run(x), m(x))


def test_lstm_tagger_dynamic_batch(tmp_path):
    m = models.Tagger().eval()
    batch = dg.Dim("batch", max=64)
    tokens = dg.randint(0, 20, (3, 5))
    ep = dg.export(m, (tokens,), dynamic_shapes={"tokens": {0: batch}})
    run = _save_load(ep, tmp_path)
    assert repr(run.inputs[0]) == "tokens: i64[batch,5]"
    for b in (1, 2, 9):
        t = dg.randint(0, 20, (b, 5))
        _close(run(t), m(t))
    # The LSTM layer is one op whose time loop runs inside it, so the sequence dim is dynamic too
    ep = dg.export(m, (tokens,), dynamic_shapes={"tokens": {0: batch, 1: dg.Dim("seq", max=50)}})
    run = _save_load(ep, tmp_path)
    for b, s in ((1, 1), (2, 7), (9, 13)):
        t = dg.randint(0, 20, (b, s))
        _close(run(t), m(t))


def test_embedding_two_dims_fit_a_product(tmp_path):
    m = dg.nn.Sequential(dg.nn.Embedding(10, 3), dg.nn.Flatten(0, 1))
    dims = {0: dg.Dim("batch"), 1: dg.Dim("seq")}
    ep = dg.export(m, (dg.randint(0, 10, (3, 4)),), dynamic_shapes=(dims,))
    run = _save_load(ep, tmp_path)
    assert repr(run.outputs[0]) == "output0: f32[batch*seq,3]"
    for b, s in ((1, 1), (2, 7), (6, 3)):
        t = dg.randint(0, 10, (b, s))
        _close(run(t), m(t))


def test_function_with_kwargs_nested_outputs_and_cond(tmp_path):
    n = dg.Dim("n", max=100)
    x, y = dg.randn(3, 4), dg.randn(3, 4)
    scale = {"a": dg.tensor(2.0)}
    ep = dg.export(models.two_inputs, (x, y), {"scale": scale},
                   dynamic_shapes={"x": {0: n}, "y": {0: n}})
    run = _save_load(ep, tmp_path)
    assert repr(run.outputs[0]) == "output0: f32[4*n]"
    for k in (1, 2, 11):
        for sign in (1, -1):
            x, y = dg.randn(k, 4) * sign + sign, dg.randn(k, 4)
            s = {"a": dg.tensor(2.0)}
            got, ref = run(x, y, scale=s), models.two_inputs(x, y, scale=s)
            assert set(got) == {"flat", "pair"} and isinstance(got["pair"], tuple)
            _close(got["flat"], ref["flat"])
            _close(got["pair"][0], ref["pair"][0])
            _close(got["pair"][1], ref["pair"][1])
    with pytest.raises(InputError, match="dim 'n' is 2 in one input but 3"):
        run(dg.randn(2, 4), dg.randn(3, 4), scale=scale)


def test_while_loop_round_trip(tmp_path):
    def f(x):
        i0 = dg.tensor(0)
        _, y = dg.while_loop(lambda i, v: i < 3, lambda i, v: (i + 1, v * 2 + 1), (i0, x))
        return y
    ep = dg.export(f, (dg.randn(4),), dynamic_shapes=({0: dg.Dim("n")},))
    run = _save_load(ep, tmp_path)
    for k in (2, 5):
        x = dg.randn(k)
        _close(run(x), f(x))


def test_input_checks_name_the_problem(tmp_path):
    m = models.mlp()
    ep = dg.export(m, (dg.randn(4, 8),), dynamic_shapes=({0: dg.Dim("batch", max=10)},))
    run = _save_load(ep, tmp_path)
    with pytest.raises(InputError, match="dtype float64 .* float32"):
        run(dg.randn(4, 8, dtype=dg.float64))
    with pytest.raises(InputError, match=r"dim 1 must be 8"):
        run(dg.randn(4, 9))
    with pytest.raises(InputError, match=r"outside the exported range \[1, 10\]"):
        run(dg.randn(11, 8))
    with pytest.raises(InputError, match="missing argument 'input'"):
        run()


def test_export_errors_name_the_cause():
    def brk(x):
        if x.sum() > 0:     # data-dependent Python control flow
            return x
        return -x
    with pytest.raises(dg.export.__globals__["ExportError"], match=r"test_roundtrip.py:\d+.*cond"):
        dg.export(brk, (dg.randn(3),))

    def loop(x):
        return sum(r for r in x)
    with pytest.raises(RuntimeError, match="number of ops depends on the dynamic dims"):
        dg.export(loop, (dg.randn(3, 2),), dynamic_shapes=({0: dg.Dim("b")},))

    def halve(x):
        return x.reshape(x.shape[0] // 2, -1)
    with pytest.raises(RuntimeError, match=r"node %1 \(reshape\).*integer polynomials"):
        dg.export(halve, (dg.randn(4, 2),), dynamic_shapes=({0: dg.Dim("b")},))
    with pytest.raises(RuntimeError, match="size >= 2"):
        dg.export(halve, (dg.randn(1, 2),), dynamic_shapes=({0: dg.Dim("b")},))
    bn = dg.nn.BatchNorm1d(3)
    with pytest.raises(RuntimeError, match="model.eval"):
        dg.export(bn, (dg.randn(4, 3),))
    with pytest.raises(TypeError, match="tuple"):
        dg.export(bn, dg.randn(4, 3))


def test_jit_aliases(tmp_path):
    m = models.mlp()
    x = dg.randn(2, 8)
    traced = dg.jit.trace(m, x)
    _close(traced(x), m(x))
    dg.jit.save(traced, tmp_path / "t.dgraph")
    loaded = dg.jit.load(tmp_path / "t.dgraph")
    _close(loaded(x), m(x))
    with pytest.raises(InputError, match="dim 0 must be 2"):
        loaded(dg.randn(3, 8))     # no dynamic_shapes: static like torch.jit.trace


_UNARY = ["relu", "tanh", "sigmoid", "exp", "neg", "abs"]


@st.composite
def programs(draw):
    """A random chain of ops over x[b, 4] and a weight; returns (ops, weight)."""
    ops = draw(st.lists(st.sampled_from(_UNARY + ["matmul", "add_row", "sum1", "flatten",
                                                  "softmax", "scale"]), min_size=1, max_size=6))
    return ops


def _run_program(ops, x, w, c):
    for op in ops:
        if op in _UNARY:
            x = getattr(x, op)() if op != "exp" else x.clamp(-5, 5).exp()
        elif op == "matmul":
            x = x @ w if x.ndim == 2 else x * 2
        elif op == "add_row":
            x = x + c if x.ndim == 2 else x + 1
        elif op == "sum1":
            x = x.sum(-1, keepdim=True).expand(-1, 4) if x.ndim == 2 else x
        elif op == "flatten":
            x = x.reshape(-1).reshape(-1, 4) if x.ndim == 2 else x
        elif op == "softmax":
            x = x.softmax(-1)
        elif op == "scale":
            x = x * 0.5 - 1
    return x


@settings(max_examples=12, deadline=None)
@given(programs())
def test_random_programs_round_trip(tmp_path_factory, ops):
    w, c = dg.randn(4, 4), dg.randn(4)

    def f(x):
        return _run_program(ops, x, w, c)
    ep = dg.export(f, (dg.randn(3, 4),), dynamic_shapes=({0: dg.Dim("batch")},))
    run = _save_load(ep, tmp_path_factory.mktemp("p"))
    for n in (1, 2, 5, 8):
        x = dg.randn(n, 4)
        _close(run(x), f(x), rtol=1e-5, atol=1e-5)


def test_checked_in_v1_file_still_loads():
    import os
    here = os.path.join(os.path.dirname(__file__), "data")
    run = dg.load_graph(os.path.join(here, "mlp_v1.dgraph"), backend="interpreter")
    io = np.load(os.path.join(here, "mlp_v1_io.npz"))
    for n in (1, 3, 17):
        _close(run(dg.from_numpy(io[f"x{n}"])), io[f"y{n}"])
    assert run.metadata["description"].startswith("MLP 6-8-3")


def test_inconsistent_graph_found_on_first_run(tmp_path):
    m = models.mlp()
    ep = dg.export(m, (dg.randn(4, 8),))
    ep.doc["graph"]["nodes"][1]["shape"] = [4, 17]     # matmul declared with the wrong shape
    ep.doc["graph"]["nodes"][2]["shape"] = [4, 17]
    with pytest.raises(GraphFormatError):
        run = _save_load(ep, tmp_path)
        run(dg.randn(4, 8))
