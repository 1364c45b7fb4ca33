"""Fusion grouping: which nodes a code generator may emit as one kernel.

Groups (recorded in `node.meta["group"]` and the report's `fusion_groups`; the graph itself is not
changed, the backends read the grouping):
- vertical: an elementwise node joins the group of an elementwise or broadcast producer, and a
  reduction joins the group of its elementwise producers (the producer chain is fused into the
  reduction's loop); elementwise consumers of a reduction join it too (softmax-style epilogues);
- horizontal: independent elementwise nodes reading the same input with the same output shape.

A merge never creates a cycle between groups: networkx checks that no path leaves one group and
re-enters the other through a node outside both (that would make the fused kernel depend on its own
output).

networkx is imported when the pass runs, not with the module: a process whose graphs all come
from the graph cache (runtime/graph_cache.py) never imports it (0.1-0.25 s here).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from dyngraph.ops.registry import OPS, OpKind

from ..ir import Graph

if TYPE_CHECKING:
    import networkx as nx

__all__ = ["group_fusions"]

_FUSIBLE = (OpKind.UNARY, OpKind.BINARY, OpKind.TERNARY)


def _kind(node):
    op = OPS.get(node.op)
    if op is None:
        return None
    if op.kind in _FUSIBLE or node.op == "expand":
        return "elementwise"
    if op.kind is OpKind.REDUCE and node.op != "sum_to_size":
        return "reduce"
    return None


def _creates_cycle(dag: nx.DiGraph, a, b) -> bool:
    """Would contracting groups `a` and `b` close a cycle through some other group?"""
    import networkx as nx
    for x, y in ((a, b), (b, a)):
        for s in dag.successors(x):
            if s != y and nx.has_path(dag, s, y):
                return True
    return False


def group_fusions(graph: Graph, info: dict | None = None) -> bool:
    """Assign fusion groups; returns False (the graph's nodes are unchanged)."""
    import networkx as nx
    kinds = {n.out.id: _kind(n) for n in graph.nodes}
    dag = nx.DiGraph()
    group = {}
    for n in graph.nodes:
        if kinds[n.out.id] is not None:
            group[n.out.id] = n.out.id
            dag.add_node(n.out.id)
    members = {g: [g] for g in group}

    def find(v):
        return group[v]

    for n in graph.nodes:
        for x in n.value_inputs:
            if x.id in group and n.out.id in group:
                dag.add_edge(find(x.id), find(n.out.id))
    # Non-fusible nodes still carry dependencies between groups: route them through the DAG.
    for n in graph.nodes:
        if n.out.id not in group:
            dag.add_node(("n", n.out.id))
            for x in n.value_inputs:
                if x.id in group:
                    dag.add_edge(find(x.id), ("n", n.out.id))
                elif x.node is not None:
                    dag.add_edge(("n", x.id), ("n", n.out.id))
        else:
            for x in n.value_inputs:
                if x.id not in group and x.node is not None:
                    dag.add_edge(("n", x.id), find(n.out.id))

    def merge(a, b):
        ga, gb = find(a), find(b)
        if ga == gb or _creates_cycle(dag, ga, gb):
            return
        nx.contracted_nodes(dag, ga, gb, self_loops=False, copy=False)
        for v in members[gb]:
            group[v] = ga
        members[ga].extend(members.pop(gb))

    for n in graph.nodes:        # vertical
        k = kinds[n.out.id]
        if k is None:
            continue
        for x in n.value_inputs:
            kx = kinds.get(x.id)
            if kx == "elementwise" or (kx == "reduce" and k == "elementwise"):
                merge(x.id, n.out.id)
    users: dict[int, list] = {}
    for n in graph.nodes:        # horizontal
        if kinds[n.out.id] == "elementwise":
            for x in n.value_inputs:
                users.setdefault(x.id, []).append(n)
    for ns in users.values():
        for m in ns[1:]:
            if m.out.shape == ns[0].out.shape:
                merge(ns[0].out.id, m.out.id)
    groups = []
    for n in graph.nodes:
        n.meta.pop("group", None)
    index = {n.out.id: i for i, n in enumerate(graph.nodes)}
    for vs in members.values():
        if len(vs) > 1:
            gid = len(groups)
            groups.append(sorted(index[v] for v in vs))
            for v in vs:
                graph.nodes[index[v]].meta["group"] = gid
    if info is not None:
        info["fusion_groups"] = [[graph.nodes[i].op for i in g] for g in sorted(groups)]
    return False


group_fusions.wants_info = True
