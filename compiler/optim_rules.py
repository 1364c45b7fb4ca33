"""Traced optimizer steps (filled in with the compiled training step)."""

from __future__ import annotations

import contextlib

__all__ = ["traced_optimizers"]


@contextlib.contextmanager
def traced_optimizers(scan, tracer):
    """While tracing, route reachable optimizers' `step()` through traceable dyngraph ops."""
    yield
