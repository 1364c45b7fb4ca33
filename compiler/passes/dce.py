"""Dead-code elimination: drop nodes whose value no output needs (random draws always stay).

A random draw advances its generator even when its value is unused, and eager mode draws it, so
removing it would shift every later draw; `random` nodes are therefore kept.
"""

from __future__ import annotations

from ..ir import Graph

__all__ = ["eliminate_dead_code", "SIDE_EFFECT_OPS"]

SIDE_EFFECT_OPS = frozenset({"random"})


def eliminate_dead_code(graph: Graph) -> bool:
    """Remove unused nodes; returns whether anything changed."""
    live = {v.id for v in graph.outputs}
    keep = []
    for node in reversed(graph.nodes):
        if node.out.id in live or node.op in SIDE_EFFECT_OPS:
            keep.append(node)
            live.update(x.id for x in node.value_inputs)
    changed = len(keep) != len(graph.nodes)
    graph.nodes = keep[::-1]
    return changed
