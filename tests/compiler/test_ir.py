"""The IR: text form (golden), lint, networkx view, dot, copy."""

from __future__ import annotations

import pytest

import dyngraph as dg
from compiler.ir import Graph, IRError, Node, Sym, Value


def _mlp_graph():
    g = Graph()
    x = g.add_input((64, 784), dg.float32, dg.device("cpu"))
    w = g.add_input((10, 784), dg.float32, dg.device("cpu"))
    wt = g.add_node("permute", [w], {"dims": (1, 0)}, (784, 10), dg.float32, dg.device("cpu"))
    y = g.add_node("matmul", [x, wt], {}, (64, 10), dg.float32, dg.device("cpu"))
    g.outputs = [y]
    return g


def test_text_form_is_deterministic_golden():
    g = _mlp_graph()
    assert g.text() == (
        "graph(%0: f32[64,784], %1: f32[10,784]) {\n"
        "  %2: f32[784,10] = permute %1 {dims=(1, 0)}\n"
        "  %3: f32[64,10] = matmul %0, %2\n"
        "  return (%3)\n"
        "}")
    assert _mlp_graph().text() == g.text()   # fresh value ids, same text


def test_symbolic_dims_print():
    g = Graph()
    x = g.add_input((Sym("s0"), 3), dg.float64, dg.device("cpu"))
    g.outputs = [g.add_node("neg", [x], {}, (Sym("s0"), 3), dg.float64, dg.device("cpu"))]
    assert "%0: f64[s0,3]" in g.text() and "%1: f64[s0,3] = neg %0" in g.text()


def test_lint_accepts_good_graph_and_rejects_bad_ones():
    g = _mlp_graph()
    g.lint()
    stray = Value((1,), dg.float32, dg.device("cpu"))
    g.nodes.append(Node("neg", [stray], {}, Value((1,), dg.float32, dg.device("cpu"))))
    with pytest.raises(IRError, match="before it is defined"):
        g.lint()
    g = _mlp_graph()
    g.nodes.reverse()
    with pytest.raises(IRError, match="before it is defined"):
        g.lint()
    g = _mlp_graph()
    g.nodes[0].op = "no_such_op"
    with pytest.raises(IRError, match="unknown op"):
        g.lint()


def test_networkx_and_dot():
    import networkx as nx
    g = _mlp_graph()
    d = g.to_networkx()
    assert nx.is_directed_acyclic_graph(d)
    assert d.number_of_nodes() == 4 and d.number_of_edges() == 3
    order = [d.nodes[v]["op"] for v in nx.topological_sort(d)]
    assert order.index("permute") < order.index("matmul")
    dot = g.to_dot()
    assert dot.startswith("digraph") and "matmul" in dot and "->" in dot


def test_copy_is_independent():
    g = _mlp_graph()
    c = g.copy()
    assert c.text() == g.text()
    c.nodes[0].attrs["dims"] = (0, 1)
    assert g.nodes[0].attrs["dims"] == (1, 0)
    assert {v.id for v in c.inputs}.isdisjoint({v.id for v in g.inputs})
