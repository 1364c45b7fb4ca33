"""Memory planning: liveness of every value, buffer reuse, in-place candidates and the peak.

Walking the nodes in order, a value is live from its definition to its last use (graph outputs
live to the end). Each new value takes a free buffer of the same byte size when one exists
(recorded in `node.meta["buffer"]`), and an elementwise node whose input dies at that node with the
same size and dtype may write in place (`node.meta["inplace_of"]`). The report gets the peak of
live bytes with and without reuse. Symbolic dims count as 1 (the plan is per specialisation).
"""

from __future__ import annotations

from dyngraph.ops.registry import OPS

from ..ir import Graph, Sym, SymExpr

__all__ = ["plan_memory", "liveness"]


def _nbytes(v) -> int:
    n = v.dtype.itemsize
    for s in v.shape:
        n *= 1 if isinstance(s, Sym) else s.coeff if isinstance(s, SymExpr) else s
    return n


def liveness(graph: Graph) -> dict[int, tuple[int, int]]:
    """value id -> (defining node index, last use index); inputs are defined at -1."""
    end = len(graph.nodes)
    live = {v.id: (-1, -1) for v in graph.inputs}
    for i, n in enumerate(graph.nodes):
        live[n.out.id] = (i, i)
        for x in n.value_inputs:
            live[x.id] = (live[x.id][0], i)
    for v in graph.outputs:
        live[v.id] = (live[v.id][0], end)
    return live


def plan_memory(graph: Graph, info: dict | None = None) -> bool:
    """Assign buffers and report the peak; returns False (the nodes are unchanged)."""
    live = liveness(graph)
    dying: dict[int, list[int]] = {}
    for vid, (_, last) in live.items():
        dying.setdefault(last, []).append(vid)
    sizes = {v.id: _nbytes(v) for v in graph.inputs}
    free: dict[int, list[int]] = {}
    buffer_of: dict[int, int] = {}
    nbuf = reused = inplace = 0
    cur = peak = sum(sizes.values())
    total = cur
    for i, n in enumerate(graph.nodes):
        v = n.out
        sizes[v.id] = size = _nbytes(v)
        op = OPS.get(n.op)
        n.meta.pop("inplace_of", None)
        if op is not None and op.kind.is_elementwise:
            for x in n.value_inputs:
                if live.get(x.id, (0, -1))[1] == i and x.node is not None and \
                        x.shape == v.shape and x.dtype is v.dtype:
                    n.meta["inplace_of"] = x.id
                    inplace += 1
                    break
        pool = free.get(size)
        if pool:
            buffer_of[v.id] = pool.pop()
            reused += 1
        else:
            buffer_of[v.id] = nbuf
            nbuf += 1
        n.meta["buffer"] = buffer_of[v.id]
        cur += size
        total += size
        peak = max(peak, cur)
        for vid in dying.get(i, ()):
            if vid in buffer_of:   # graph inputs belong to the caller
                free.setdefault(sizes[vid], []).append(buffer_of[vid])
                cur -= sizes[vid]
    if info is not None:
        info["memory"] = {"peak_bytes": peak, "no_reuse_bytes": total, "buffers": nbuf,
                          "reused": reused, "inplace_candidates": inplace}
    return False


plan_memory.wants_info = True
