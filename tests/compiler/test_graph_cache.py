"""The disk cache of optimised graphs (runtime/graph_cache.py): hits across processes, the same
results as the passes run fresh and as eager mode, corruption detected and rebuilt, misses on any
change of the graph, and a cached process that never imports networkx."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

import dyngraph as dg
from compiler.interpreter import run_graph
from compiler.ir import Graph
from compiler.passes.manager import run_pipeline
from runtime import graph_cache

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CPU = dg.device("cpu")
F32 = dg.float32


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """A fresh cache directory and zeroed counters for each test."""
    monkeypatch.setenv("DYNGRAPH_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(graph_cache, "STATS", dict.fromkeys(graph_cache.STATS, 0))
    return tmp_path


def _graph(shape=(4, 3), const=2.0, op="exp") -> Graph:
    """x -> op(x * 1 + c) * (c + c): the passes simplify, fold and fuse it."""
    g = Graph()
    x = g.add_input(shape, F32, CPU)
    c = g.add_node("constant", [], {"value": np.full(shape, const, np.float32)}, shape, F32, CPU)
    cc = g.add_node("add", [c, c], {}, shape, F32, CPU)                # folded
    one = g.add_node("mul", [x, 1], {}, shape, F32, CPU)               # simplified away
    y = g.add_node(op, [g.add_node("add", [one, c], {}, shape, F32, CPU)], {}, shape, F32, CPU)
    g.add_node("neg", [x], {}, shape, F32, CPU)                        # dead
    g.outputs = [g.add_node("mul", [y, cc], {}, shape, F32, CPU)]
    return g


def _entries(cache) -> list[str]:
    d = os.path.join(cache, "graphs")
    return sorted(os.path.join(d, f) for f in os.listdir(d)) if os.path.isdir(d) else []


def test_hit_equals_a_fresh_pipeline(cache):
    raw = _graph()
    g1, r1 = graph_cache.optimize(raw, "llvm")
    assert graph_cache.STATS["misses"] == 1 and graph_cache.STATS["stores"] == 1
    assert len(_entries(cache)) == 1 and r1.source == ""
    g2, r2 = graph_cache.optimize(raw, "llvm")
    assert graph_cache.STATS["hits"] == 1 and r2.source.startswith("graph cache")
    fresh = raw.copy()
    rf = run_pipeline(fresh)
    assert g2.text() == fresh.text() == g1.text()
    assert [s[:4] for s in r2.steps] == [s[:4] for s in rf.steps]
    assert r2.info == rf.info and rf.info["fusion_groups"]
    assert "graph cache" in r2.text() and "graph cache" not in rf.text()
    # the passes' annotations come back, the in-place source renumbered to the new values
    num1, num2 = g1.numbering(), g2.numbering()
    for a, b in zip(g1.nodes, g2.nodes):
        ma, mb = dict(a.meta), dict(b.meta)
        if "inplace_of" in ma:
            assert num2[mb.pop("inplace_of")] == num1[ma.pop("inplace_of")]
        assert ma == mb
    x = np.random.default_rng(0).standard_normal((4, 3)).astype(np.float32)
    np.testing.assert_array_equal(run_graph(g2, [x])[0], run_graph(raw, [x])[0])
    assert len(raw.nodes) == 7      # the traced graph itself is never changed


@pytest.mark.parametrize("change", [{"shape": (5, 3)}, {"const": 3.0}, {"op": "tanh"}])
def test_a_changed_graph_misses(cache, change):
    graph_cache.optimize(_graph(), "llvm")
    graph_cache.optimize(_graph(**change), "llvm")
    assert graph_cache.STATS["misses"] == 2 and graph_cache.STATS["hits"] == 0
    assert len(_entries(cache)) == 2
    graph_cache.optimize(_graph(), "auto")          # the backend is part of the key
    assert graph_cache.STATS["misses"] == 3


@pytest.mark.parametrize("damage", ["flip", "truncate", "empty", "garbage"])
def test_a_damaged_entry_is_detected_and_rebuilt(cache, damage):
    raw = _graph()
    good, _ = graph_cache.optimize(raw, "llvm")
    path, = _entries(cache)
    with open(path, "rb") as f:
        blob = f.read()
    bad = {"flip": blob[:60] + bytes([blob[60] ^ 0xFF]) + blob[61:],
           "truncate": blob[:len(blob) // 2], "empty": b"", "garbage": b"DGGRF001" + b"x" * 64}
    with open(path, "wb") as f:
        f.write(bad[damage])
    g, report = graph_cache.optimize(raw, "llvm")
    assert graph_cache.STATS["corrupt"] == 1 and graph_cache.STATS["hits"] == 0
    assert report.source == "" and g.text() == good.text()
    with open(path, "rb") as f:
        assert f.read()[:8] == blob[:8] != bad[damage][:9]     # rewritten (pass times differ)
    graph_cache.optimize(raw, "llvm")
    assert graph_cache.STATS["hits"] == 1


def test_an_entry_of_another_key_is_refused(cache):
    """A valid entry copied under another graph's name: the stored key does not match."""
    graph_cache.optimize(_graph(), "llvm")
    path, = _entries(cache)
    other = _graph(const=5.0)
    with open(path, "rb") as f:
        blob = f.read()
    with open(os.path.join(cache, "graphs", graph_cache.graph_key(other, "llvm") + ".graph"),
              "wb") as f:
        f.write(blob)
    g, _ = graph_cache.optimize(other, "llvm")
    assert graph_cache.STATS["corrupt"] == 1
    x = np.ones((4, 3), np.float32)
    np.testing.assert_array_equal(run_graph(g, [x])[0], run_graph(other, [x])[0])


def test_unwritable_directory_only_costs_the_passes(tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    monkeypatch.setenv("DYNGRAPH_CACHE_DIR", str(blocker))
    monkeypatch.setattr(graph_cache, "STATS", dict.fromkeys(graph_cache.STATS, 0))
    raw = _graph()
    g, _ = graph_cache.optimize(raw, "llvm")
    assert graph_cache.STATS["misses"] == 1 and graph_cache.STATS["stores"] == 0
    x = np.ones((4, 3), np.float32)
    np.testing.assert_array_equal(run_graph(g, [x])[0], run_graph(raw, [x])[0])


def test_uncacheable_graphs_and_backends(cache, monkeypatch):
    g = Graph()
    g.outputs = [g.add_node("random", [], {"kind": "uniform", "shape": (3,), "dtype": F32,
                                           "device": CPU, "generator": dg.Generator()},
                            (3,), F32, CPU)]
    graph_cache.optimize(g, "llvm")                 # a live generator is not a graph value
    assert graph_cache.STATS["uncacheable"] == 1 and not _entries(cache)
    graph_cache.optimize(_graph(), "interpreter")   # only the LLVM CPU backends use the cache
    assert graph_cache.STATS["misses"] == 0 and not _entries(cache)
    monkeypatch.setattr(graph_cache, "MAX_CONSTANT_BYTES", 4 * 12 - 1)
    graph_cache.optimize(_graph(), "llvm")          # one (4, 3) float32 constant: too big now
    assert graph_cache.STATS["uncacheable"] == 2 and not _entries(cache)


def test_compiled_function_hits_after_reset_and_explain_says_so(cache):
    pytest.importorskip("llvmlite")
    rng = np.random.default_rng(1)
    x = dg.tensor(rng.standard_normal((8, 5)).astype(np.float32))
    w = dg.tensor(rng.standard_normal((5, 3)).astype(np.float32))

    def f(x):
        return ((x @ w) * 1.0 + 2.0).tanh().sum(1)

    cf = dg.compile(f, backend="llvm")
    first = [cf(x).numpy() for _ in range(2)]
    assert graph_cache.STATS["misses"] == 1
    cf._cf.reset()
    again = [cf(x).numpy() for _ in range(2)]
    assert graph_cache.STATS["hits"] == 1
    np.testing.assert_array_equal(again[1], first[1])
    np.testing.assert_allclose(again[1], f(x).numpy(), rtol=1e-5, atol=1e-6)
    from dyngraph._compile import ExplainOutput
    text = str(ExplainOutput(cf._cf))           # the recorded pass table, marked as cached
    assert "from the graph cache" in text and "constant_fold" in text


def test_first_ready_order_matches_networkx():
    """lower's topological order (no networkx import) is networkx's lexicographical one."""
    import networkx as nx

    from compiler.lower import _first_ready_order
    rng = np.random.default_rng(0)
    for _ in range(30):
        n = int(rng.integers(1, 25))
        perm = rng.permutation(n)                   # positions need not follow the edges
        edges = {v: {int(w) for w in range(v + 1, n) if rng.random() < 0.2} for v in range(n)}
        pos = {v: int(perm[v]) for v in range(n)}
        dag = nx.DiGraph()
        dag.add_nodes_from(edges)
        dag.add_edges_from((v, w) for v, ws in edges.items() for w in ws)
        assert _first_ready_order(edges, pos) == list(
            nx.lexicographical_topological_sort(dag, key=lambda v: pos[v]))
    with pytest.raises(RuntimeError, match="cycle"):
        _first_ready_order({0: {1}, 1: {0}}, {0: 0, 1: 1})


_CHILD = r"""
import json, sys
sys.path.insert(0, {root!r})
import numpy as np
import dyngraph as dg
from dyngraph.nn import functional as F
from runtime import graph_cache, jit

def make():
    rng = np.random.default_rng(0)
    model = dg.nn.Sequential(dg.nn.Linear(6, 16), dg.nn.ReLU(), dg.nn.Linear(16, 4))
    for p in model.parameters():
        p.data = dg.tensor(rng.standard_normal(tuple(p.shape)).astype(np.float32) * 0.3)
    return model, dg.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)

rng = np.random.default_rng(1)
x = dg.tensor(rng.standard_normal((8, 6)).astype(np.float32))
y = dg.tensor(rng.integers(0, 4, 8))

def run(compiled):
    model, opt = make()
    def step(x, y):
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        return loss
    def fwd(x):
        return model(x).softmax(-1)
    if compiled:
        step, fwd = dg.compile(step, backend="llvm"), dg.compile(fwd, backend="llvm")
    losses = [float(step(x, y).item()) for _ in range(4)]
    outs = [fwd(x).detach().numpy() for _ in range(2)]
    return {{"losses": losses, "fwd": outs[-1].tolist(),
             "weights": [p.detach().numpy().tolist() for p in model.parameters()]}}

res = {{"cached": run(True)}}
res["networkx"] = "networkx" in sys.modules
res["graph"], res["jit"] = dict(graph_cache.STATS), dict(jit.STATS)
res["eager"] = run(False)
graph_cache.ENABLED = False
res["uncached"] = run(True)
print(json.dumps(res))
"""


def _child(cache_dir) -> dict:
    env = dict(os.environ, DYNGRAPH_CACHE_DIR=str(cache_dir))
    out = subprocess.run([sys.executable, "-c", _CHILD.format(root=ROOT)], env=env,
                         capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_second_process_hits_both_caches_without_networkx(tmp_path):
    pytest.importorskip("llvmlite")
    first = _child(tmp_path)
    assert first["graph"]["misses"] >= 2 and first["graph"]["stores"] == first["graph"]["misses"]
    assert first["graph"]["hits"] == 0 and first["jit"]["compiled"] >= 1
    assert first["networkx"]        # the fusion pass ran (so the check below can fail)
    second = _child(tmp_path)
    assert second["graph"]["hits"] == first["graph"]["misses"]
    assert second["graph"]["misses"] == 0 and second["graph"]["corrupt"] == 0
    assert second["jit"]["compiled"] == 0 and second["jit"]["disk_hits"] >= 1
    assert not second["networkx"]
    for res in (first, second):     # the cached, the uncached compile and eager agree
        for k in ("losses", "fwd", "weights"):
            assert res["cached"][k] == res["uncached"][k] == second["cached"][k]
        np.testing.assert_allclose(res["cached"]["losses"], res["eager"]["losses"], rtol=1e-5)
        np.testing.assert_allclose(res["cached"]["fwd"], res["eager"]["fwd"], rtol=1e-5,
                                   atol=1e-6)
        for a, b in zip(res["cached"]["weights"], res["eager"]["weights"]):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_compiled_backward_graph_goes_through_the_cache(cache):
    """`loss.backward()` outside the compiled forward runs the backward graph on LLVM too."""
    pytest.importorskip("llvmlite")
    rng = np.random.default_rng(2)
    x = dg.tensor(rng.standard_normal((6, 4)).astype(np.float32))
    w0 = rng.standard_normal((4, 3)).astype(np.float32)

    def grads(compiled: bool):
        w = dg.tensor(w0.copy(), requires_grad=True)

        def f(x):
            return ((x @ w).tanh() * 2.0).sum()

        fn = dg.compile(f, backend="llvm") if compiled else f
        out = []
        for _ in range(3):
            w.grad = None
            fn(x).backward()
            out.append(w.grad.numpy().copy())
        return out

    first = grads(True)
    stored = graph_cache.STATS["stores"]
    assert stored >= 2                              # the forward and its backward graph
    again = grads(True)                             # a new compiled function: same graphs
    assert graph_cache.STATS["hits"] >= stored and graph_cache.STATS["stores"] == stored
    eager = grads(False)
    for a, b, e in zip(first, again, eager):
        np.testing.assert_array_equal(a, b)
        np.testing.assert_allclose(a, e, rtol=1e-5, atol=1e-6)


def test_segments_around_a_graph_break_are_cached_each(cache):
    pytest.importorskip("llvmlite")
    x = dg.tensor(np.arange(6, dtype=np.float32).reshape(2, 3))

    def f(x):
        y = (x * 2).exp()
        if y.sum().item() > 3:      # graph break: two segments
            return y + 1
        return y - 1

    results = []
    for _ in range(2):              # a fresh compiled function: both segments come from disk
        cf = dg.compile(f, backend="llvm")
        results.append([cf(x).numpy() for _ in range(3)][-1])
    assert graph_cache.STATS["stores"] == 2 and graph_cache.STATS["hits"] == 2
    np.testing.assert_array_equal(results[0], results[1])
    np.testing.assert_allclose(results[1], f(x).numpy(), rtol=1e-6)
