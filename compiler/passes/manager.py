"""The pass manager: runs a named pipeline of passes `graph -> changed` over a graph.

In debug mode (`debug=True`, or `DYNGRAPH_DEBUG_PASSES=1`) the graph is linted after every pass,
and an error names the pass that broke it. The report holds node counts before and after each pass
(shown by `dyngraph.explain`) plus anything a pass publishes (fusion groups, memory peak).
"""

from __future__ import annotations

import dataclasses
import os
import time
from typing import Callable

from ..ir import Graph, IRError

__all__ = ["PassError", "PassReport", "run_pipeline", "default_pipeline"]


class PassError(RuntimeError):
    """A pass raised or left the graph malformed; the message names the pass."""


@dataclasses.dataclass
class PassReport:
    """What a pipeline run did: per pass (name, nodes before, nodes after, changed, seconds).

    `source` is empty when the passes ran in this process; a report loaded with its graph from
    runtime/graph_cache.py says so there ("graph cache <key>"): its steps are the recorded run's.
    """

    steps: list = dataclasses.field(default_factory=list)
    info: dict = dataclasses.field(default_factory=dict)
    source: str = ""

    def text(self) -> str:
        lines = [f"  {name:<24} {before:>4} -> {after:<4} nodes{'  (changed)' if ch else ''}"
                 for name, before, after, ch, _ in self.steps]
        if self.source:
            lines.insert(0, f"  (not run here: the optimised graph and this table come from the "
                            f"{self.source})")
        return "\n".join(lines)


def default_pipeline() -> list[tuple[str, Callable]]:
    """The passes, in order: cleanups first, then fusion grouping and memory planning."""
    from .constant_fold import fold_constants
    from .cse import eliminate_common_subexpressions
    from .dce import eliminate_dead_code
    from .fusion import group_fusions
    from .memory import plan_memory
    from .simplify import simplify_algebra
    return [("constant_fold", fold_constants),
            ("simplify_algebra", simplify_algebra),
            ("cse", eliminate_common_subexpressions),
            ("dce", eliminate_dead_code),
            ("fusion", group_fusions),
            ("memory_plan", plan_memory)]


def run_pipeline(graph: Graph, passes=None, *, debug: bool | None = None) -> PassReport:
    """Run `passes` (default: `default_pipeline()`) over `graph` in place."""
    if passes is None:
        passes = default_pipeline()
    if debug is None:
        debug = os.environ.get("DYNGRAPH_DEBUG_PASSES", "") not in ("", "0")
    report = PassReport()
    for name, fn in passes:
        before = len(graph.nodes)
        t0 = time.perf_counter()
        try:
            changed = fn(graph, report.info) if _takes_info(fn) else fn(graph)
        except IRError as e:
            raise PassError(f"pass {name!r} failed: {e}") from e
        except Exception as e:
            raise PassError(f"pass {name!r} raised {type(e).__name__}: {e}") from e
        if debug:
            try:
                graph.lint()
            except IRError as e:
                raise PassError(f"pass {name!r} left the graph malformed: {e}") from e
        report.steps.append((name, before, len(graph.nodes), bool(changed),
                             time.perf_counter() - t0))
    return report


def _takes_info(fn) -> bool:
    return getattr(fn, "wants_info", False)
