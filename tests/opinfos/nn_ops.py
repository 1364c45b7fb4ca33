"""OpInfo cases for the primitives in dyngraph/ops/nn_ops.py (softmax, log_softmax)."""

from __future__ import annotations

import numpy as np

import dyngraph as dg
from tests.opinfo import OpCase, rand


def _np_softmax(x, dim):
    e = np.exp(x - x.max(axis=dim, keepdims=True))
    return e / e.sum(axis=dim, keepdims=True)


def _np_log_softmax(x, dim):
    s = x - x.max(axis=dim, keepdims=True)
    return s - np.log(np.exp(s).sum(axis=dim, keepdims=True))


CASES = [
    OpCase("softmax", lambda x: dg.softmax(x, 1), [rand(3, 5, seed=1)],
           ref=lambda x: _np_softmax(x, 1), torch_fn=lambda x: x.softmax(1), name="dim1"),
    OpCase("softmax", lambda x: x.softmax(-1), [rand(2, 3, 4, seed=2) * 30],
           ref=lambda x: _np_softmax(x, -1), torch_fn=lambda x: x.softmax(-1),
           name="large_values"),
    OpCase("softmax", lambda x: dg.softmax(x, 0), [rand(4, seed=3)],
           ref=lambda x: _np_softmax(x, 0), torch_fn=lambda x: x.softmax(0), name="1d"),
    OpCase("log_softmax", lambda x: dg.log_softmax(x, 1), [rand(3, 5, seed=4)],
           ref=lambda x: _np_log_softmax(x, 1), torch_fn=lambda x: x.log_softmax(1),
           name="dim1"),
    OpCase("log_softmax", lambda x: x.log_softmax(0), [rand(3, 2, 2, seed=5) * 40],
           ref=lambda x: _np_log_softmax(x, 0), torch_fn=lambda x: x.log_softmax(0),
           name="large_values"),
]
