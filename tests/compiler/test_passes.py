"""One test per pass: a graph before and after, and the result still equals the interpreter's."""

from __future__ import annotations

import numpy as np
import pytest

import dyngraph as dg
from compiler.interpreter import run_graph
from compiler.ir import Graph
from compiler.passes.constant_fold import fold_constants
from compiler.passes.cse import eliminate_common_subexpressions
from compiler.passes.dce import eliminate_dead_code
from compiler.passes.fusion import group_fusions
from compiler.passes.manager import PassError, run_pipeline
from compiler.passes.memory import liveness, plan_memory
from compiler.passes.simplify import simplify_algebra

CPU = dg.device("cpu")
F = dg.float64


def _add(g, op, ins, shape, attrs=None, dtype=F):
    return g.add_node(op, ins, attrs or {}, shape, dtype, CPU, compute_dtype=None)


def _check_same_result(before: Graph, after: Graph, *arrays):
    for a, b in zip(run_graph(before, list(arrays)), run_graph(after, list(arrays))):
        np.testing.assert_allclose(a, b, rtol=1e-12)


def test_dce():
    g = Graph()
    x = g.add_input((3,), F, CPU)
    _add(g, "exp", [x], (3,))                      # unused
    y = _add(g, "neg", [x], (3,))
    _add(g, "random", [], (3,), {"kind": "uniform", "shape": (3,), "dtype": F, "device": CPU,
                                 "generator": None})
    g.outputs = [y]
    assert eliminate_dead_code(g)
    assert [n.op for n in g.nodes] == ["neg", "random"]   # random draws are kept
    assert not eliminate_dead_code(g)


def test_cse():
    g = Graph()
    x = g.add_input((3,), F, CPU)
    a = _add(g, "exp", [x], (3,))
    b = _add(g, "exp", [x], (3,))
    g.outputs = [_add(g, "add", [a, b], (3,))]
    before = g.copy()
    assert eliminate_common_subexpressions(g)
    assert g.text() == ("graph(%0: f64[3]) {\n  %1: f64[3] = exp %0\n  %2: f64[3] = add %1, %1\n"
                        "  return (%2)\n}")
    _check_same_result(before, g, np.arange(3.0))


def test_constant_fold():
    g = Graph()
    x = g.add_input((2,), F, CPU)
    c = _add(g, "constant", [], (2,), {"value": np.array([1.0, 4.0])})
    s = _add(g, "sqrt", [c], (2,))
    g.outputs = [_add(g, "mul", [x, s], (2,))]
    before = g.copy()
    assert fold_constants(g)
    eliminate_dead_code(g)
    assert [n.op for n in g.nodes] == ["constant", "mul"]
    np.testing.assert_array_equal(g.nodes[0].attrs["value"], [1.0, 2.0])
    _check_same_result(before, g, np.array([3.0, 5.0]))


@pytest.mark.parametrize("case", ["mul1", "add0", "negneg", "permute2", "reshape2", "cast"])
def test_simplify(case):
    g = Graph()
    x = g.add_input((2, 3), F, CPU)
    if case == "mul1":
        y = _add(g, "mul", [x, 1], (2, 3))
    elif case == "add0":
        y = _add(g, "add", [0, x], (2, 3))
    elif case == "negneg":
        y = _add(g, "neg", [_add(g, "neg", [x], (2, 3))], (2, 3))
    elif case == "permute2":
        t = _add(g, "permute", [x], (3, 2), {"dims": (1, 0)})
        y = _add(g, "permute", [t], (2, 3), {"dims": (1, 0)})
    elif case == "reshape2":
        t = _add(g, "reshape", [x], (6,), {"shape": (6,)})
        y = _add(g, "reshape", [t], (3, 2), {"shape": (3, 2)})
    else:
        y = _add(g, "cast", [x], (2, 3), {"dtype": F})
    out = _add(g, "exp", [y], y.shape)
    g.outputs = [out]
    before = g.copy()
    assert simplify_algebra(g)
    eliminate_dead_code(g)
    want = ["reshape", "exp"] if case == "reshape2" else ["exp"]
    assert [n.op for n in g.nodes] == want
    _check_same_result(before, g, np.arange(6.0).reshape(2, 3))


def test_simplify_never_returns_an_input_as_output():
    g = Graph()
    x = g.add_input((2,), F, CPU)
    g.outputs = [_add(g, "mul", [x, 1], (2,))]
    assert not simplify_algebra(g)


def test_fusion_groups_and_no_cycles():
    g = Graph()
    x = g.add_input((4, 4), F, CPU)
    a = _add(g, "exp", [x], (4, 4))
    b = _add(g, "mul", [a, 2.0], (4, 4))
    m = _add(g, "matmul", [b, x], (4, 4))           # not fusible, depends on b
    c = _add(g, "add", [b, m], (4, 4))               # depends on m: must not join exp/mul
    s = _add(g, "sum", [c], (), {"dim": (0, 1), "keepdim": False, "dtype": None})
    g.outputs = [s]
    info = {}
    assert not group_fusions(g, info)
    groups = {}
    for n in g.nodes:
        if "group" in n.meta:
            groups.setdefault(n.meta["group"], []).append(n.op)
    assert sorted(groups.values()) == [["add", "sum"], ["exp", "mul"]]
    assert info["fusion_groups"]


def test_horizontal_fusion():
    g = Graph()
    x = g.add_input((8,), F, CPU)
    a = _add(g, "exp", [x], (8,))
    b = _add(g, "sin", [x], (8,))
    g.outputs = [a, b]
    info = {}
    group_fusions(g, info)
    assert info["fusion_groups"] == [["exp", "sin"]]


def test_memory_plan_reuses_buffers_and_reports_peak():
    g = Graph()
    x = g.add_input((100,), F, CPU)
    a = _add(g, "exp", [x], (100,))
    b = _add(g, "neg", [a], (100,))
    c = _add(g, "sin", [b], (100,))
    g.outputs = [c]
    live = liveness(g)
    assert live[a.id] == (0, 1) and live[c.id] == (2, 3)
    info = {}
    plan_memory(g, info)
    mem = info["memory"]
    assert mem["no_reuse_bytes"] == 4 * 800
    assert mem["peak_bytes"] < mem["no_reuse_bytes"]
    assert mem["reused"] >= 1
    assert g.nodes[2].meta["buffer"] == g.nodes[0].meta["buffer"]
    assert g.nodes[1].meta["inplace_of"] == a.id


def test_manager_names_failing_pass():
    g = Graph()
    x = g.add_input((2,), F, CPU)
    g.outputs = [_add(g, "neg", [x], (2,))]

    def breaks_graph(graph):
        graph.nodes.clear()
        return True

    good = g.copy()
    with pytest.raises(PassError, match="breaks_graph"):
        run_pipeline(g, [("breaks_graph", breaks_graph)], debug=True)
    report = run_pipeline(good, debug=True)
    assert [s[0] for s in report.steps][:2] == ["constant_fold", "simplify_algebra"]


def test_cse_tells_an_index_from_a_slice_starting_there():
    """x[1] and x[1:] printed their keys alike ('1'): CSE merged them, a wrong result (full
    sums) or an AxisError on the second call. A slice prints as `1:` now."""
    from compiler.ir import format_attr
    assert format_attr(slice(1, None)) == "1:" and format_attr((1,)) == "(1,)"
    assert format_attr(slice(None, -1)) == ":-1" and format_attr(slice(None)) == ":"
    assert format_attr(slice(1, None, 2)) == "1::2" and format_attr(slice(None, None, -1)) == "::-1"

    def f(x):
        return x[1].sum() + x[1:].sum() * 10

    x = dg.randn(3, 4)
    for backend in ("interpreter", "llvm"):
        cf = dg.compile(f, backend=backend)
        for _ in range(2):
            np.testing.assert_allclose(float(cf(x)), float(f(x)), rtol=1e-5)


def test_cse_keeps_nodes_whose_array_attributes_differ():
    """format_attr prints an array of more than 4 elements as its size and dtype only; CSE
    compares the bytes too."""
    from compiler.passes.cse import _key
    from compiler.ir import Node, Value
    x = Value((6,), dg.float32, dg.device("cpu"))
    a, b = (Node("index_select_const", [x], {"index": np.arange(6)[::s]},
                 Value((6,), dg.float32, dg.device("cpu"))) for s in (1, -1))
    assert _key(a) != _key(b)
    c = Node("index_select_const", [x], {"index": np.arange(6)},
             Value((6,), dg.float32, dg.device("cpu")))
    assert _key(a) == _key(c)
