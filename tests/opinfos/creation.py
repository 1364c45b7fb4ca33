"""OpCases for creation ops: random draws are checked against numpy's PCG64 with the same seed."""

import numpy as np

import dyngraph as dg
from tests.opinfo import OpCase, rand


def _g(seed, device="cpu"):
    return dg.Generator(device).manual_seed(seed)


def _draw(fn, seed, a, *args, **kwargs):
    """fn(*args) drawn on `a`'s device from a generator seeded with `seed` on that device."""
    return fn(*args, generator=_g(seed, a.device), device=a.device, **kwargs)


def _np(seed):
    return np.random.Generator(np.random.PCG64(seed))


CASES = [
    OpCase("random", lambda a: _draw(dg.rand, 5, a, 4, 3, dtype=a.dtype) + a * 0,
           [rand(4, 3, seed=1)], ref=lambda a: _np(5).random((4, 3)), grad=False,
           dtypes=("float64",), name="uniform"),
    OpCase("random", lambda a: _draw(dg.randn, 6, a, 4, 3, dtype=a.dtype) + a * 0,
           [rand(4, 3, seed=1)], ref=lambda a: _np(6).standard_normal((4, 3)), grad=False,
           dtypes=("float64",), name="normal"),
    OpCase("random", lambda a: _draw(dg.randint, 7, a, 2, 9, (5,)).to(a.dtype) + a * 0,
           [rand(5, seed=2)], ref=lambda a: _np(7).integers(2, 9, (5,)).astype(np.float64),
           grad=False, name="randint"),
    OpCase("random", lambda a: _draw(dg.randperm, 8, a, 6).to(a.dtype) + a * 0,
           [rand(6, seed=3)], ref=lambda a: _np(8).permutation(6).astype(np.float64),
           grad=False, name="randperm"),
]
