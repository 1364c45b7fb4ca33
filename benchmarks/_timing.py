"""Timing helper shared by the benchmark scripts (they put this folder on sys.path by being run
from it)."""

from __future__ import annotations

import statistics
import time


def median_time(fn, repeat: int) -> float:
    """Median wall-clock seconds of `fn()` over `repeat` calls, after one warm-up call."""
    fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)
