"""OpCases for creation ops: random draws are checked against numpy's PCG64 with the same seed."""

import numpy as np

import dyngraph as dg
from tests.opinfo import OpCase, rand


def _g(seed):
    return dg.Generator().manual_seed(seed)


def _np(seed):
    return np.random.Generator(np.random.PCG64(seed))


CASES = [
    OpCase("random", lambda a: dg.rand(4, 3, generator=_g(5), dtype=a.dtype) + a * 0,
           [rand(4, 3, seed=1)], ref=lambda a: _np(5).random((4, 3)), grad=False,
           dtypes=("float64",), name="uniform"),
    OpCase("random", lambda a: dg.randn(4, 3, generator=_g(6), dtype=a.dtype) + a * 0,
           [rand(4, 3, seed=1)], ref=lambda a: _np(6).standard_normal((4, 3)), grad=False,
           dtypes=("float64",), name="normal"),
    OpCase("random", lambda a: dg.randint(2, 9, (5,), generator=_g(7)).to(a.dtype) + a * 0,
           [rand(5, seed=2)], ref=lambda a: _np(7).integers(2, 9, (5,)).astype(np.float64),
           grad=False, name="randint"),
    OpCase("random", lambda a: dg.randperm(6, generator=_g(8)).to(a.dtype) + a * 0,
           [rand(6, seed=3)], ref=lambda a: _np(8).permutation(6).astype(np.float64),
           grad=False, name="randperm"),
]
