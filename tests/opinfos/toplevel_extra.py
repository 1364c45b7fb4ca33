"""OpInfo cases for dyngraph/ops/toplevel_extra.py: the random primitive binomial, on inputs
whose draw is certain (prob 0 or 1, or count 0). Its statistics, generator and errors are in
tests/test_toplevel_extra.py."""

from __future__ import annotations

import numpy as np

from dyngraph.ops import toplevel_extra as TE
from tests.conftest import torch
from tests.opinfo import OpCase

CASES: list[OpCase] = [
    OpCase("binomial", TE.binomial,
           [np.array([[3.0, 0.0, 7.0], [2.0, 5.0, 0.0]]), np.array([[1.0, 0.5, 0.0],
                                                                   [0.0, 1.0, 1.0]])],
           ref=lambda c, p: c * (p == 1.0), torch_fn=torch and torch.binomial, grad=False),
]
