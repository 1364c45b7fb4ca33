"""OpInfo cases for the primitives in dyngraph/ops/nn_ops.py (softmax, log_softmax,
cross_entropy_indices)."""

from __future__ import annotations

import numpy as np

import dyngraph as dg
from dyngraph._dispatch import apply
from dyngraph.ops.nn_ops import cross_entropy_indices_backward_op
from tests.opinfo import OpCase, rand


def _np_softmax(x, dim):
    e = np.exp(x - x.max(axis=dim, keepdims=True))
    return e / e.sum(axis=dim, keepdims=True)


def _np_log_softmax(x, dim):
    s = x - x.max(axis=dim, keepdims=True)
    return s - np.log(np.exp(s).sum(axis=dim, keepdims=True))


def _np_cross_entropy(x, t, mean):
    loss = -_np_log_softmax(x, 1)[np.arange(len(t)), t].sum()
    return loss / len(t) if mean else loss


_TARGET = np.array([2, 0, 4, 4], dtype=np.int64)

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
    OpCase("cross_entropy_indices",
           lambda x, t: dg.nn.functional.cross_entropy(x, t), [rand(4, 5, seed=6) * 3, _TARGET],
           ref=lambda x, t: _np_cross_entropy(x, t, True),
           torch_fn=lambda x, t: torch_F().cross_entropy(x, t), name="mean"),
    OpCase("cross_entropy_indices",
           lambda x, t: dg.nn.functional.cross_entropy(x, t, reduction="sum"),
           [rand(4, 5, seed=7) * 40, _TARGET], ref=lambda x, t: _np_cross_entropy(x, t, False),
           torch_fn=lambda x, t: torch_F().cross_entropy(x, t, reduction="sum"),
           name="sum_large_values"),
]


def _np_cross_entropy_grad(g, x, t, mean):
    p = np.exp(_np_log_softmax(x, 1))
    p[np.arange(len(t)), t] -= 1
    return p * (g / len(t) if mean else g)


CASES += [
    OpCase("cross_entropy_indices_backward",
           lambda g, x, t, mean=mean: apply(cross_entropy_indices_backward_op, g, x, t, mean=mean),
           [np.array(1.5), rand(4, 5, seed=8) * 10, _TARGET],
           ref=lambda g, x, t, mean=mean: _np_cross_entropy_grad(g, x, t, mean), grad=False,
           name=f"mean={mean}")
    for mean in (True, False)
]


def torch_F():
    """torch.nn.functional (imported only when a torch comparison runs)."""
    import torch
    return torch.nn.functional
