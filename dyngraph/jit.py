"""TorchScript-style names for exported graphs: `jit.trace`, `jit.save`, `jit.load`.

They are thin aliases of `dyngraph.export` / `ExportedGraph.save` / `dyngraph.load_graph` for
people who know PyTorch's `torch.jit` API (the result is a graph file, not TorchScript).
"""

from __future__ import annotations

from .export import ExportedGraph, export, load_graph

__all__ = ["trace", "save", "load"]


def trace(func, example_inputs, *, example_kwarg_inputs=None) -> ExportedGraph:
    """Trace `func` (a module or function) on example inputs into an `ExportedGraph`.

    Example:
        >>> traced = dyngraph.jit.trace(model, x)
        >>> dyngraph.jit.save(traced, "model.dgraph")
    """
    args = example_inputs if isinstance(example_inputs, tuple) else (example_inputs,)
    return export(func, args, example_kwarg_inputs)


def save(m: ExportedGraph, f) -> None:
    """Save a traced graph to the path `f`."""
    if not isinstance(m, ExportedGraph):
        raise TypeError(f"jit.save: expected the result of dyngraph.jit.trace or "
                        f"dyngraph.export, got {type(m).__name__}")
    m.save(f)


def load(f, map_location=None):
    """Load a graph file; `map_location` is the device to run on (None: as saved)."""
    return load_graph(f, device=map_location)
