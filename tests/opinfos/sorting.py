"""OpInfo cases for dyngraph/ops/sorting.py: sort/argsort, topk, kthvalue, unique.

Inputs have distinct values (ties have no single right index); ties and NaN are tested in
tests/test_reductions.py against torch with stable=True.
"""

from __future__ import annotations

import numpy as np

import dyngraph as dg
from tests.opinfo import OpCase, rand

X = rand(3, 5, seed=80)
Y = rand(4, 3, 2, seed=81)
INTS = np.random.default_rng(82).integers(0, 5, size=(3, 4))


def _desc(x, axis):
    return np.flip(np.sort(x, axis=axis), axis=axis)


def _topk(x, k, axis, largest):
    idx = np.argsort(x, axis=axis)
    idx = np.flip(idx, axis=axis) if largest else idx
    idx = np.take(idx, range(k), axis=axis)
    return np.take_along_axis(x, idx, axis), idx


def _kth(x, k, axis, keepdims=False):
    idx = np.take(np.argsort(x, axis=axis), [k - 1], axis=axis)
    v = np.take_along_axis(x, idx, axis)
    return (v, idx) if keepdims else (np.squeeze(v, axis), np.squeeze(idx, axis))


CASES = [
    OpCase("argsort", lambda x: dg.argsort(x), [X], ref=lambda x: np.argsort(x, -1),
           torch_fn=lambda x: x.argsort(), grad=False, name="last"),
    OpCase("argsort", lambda x: x.argsort(0, descending=True), [X],
           ref=lambda x: np.flip(np.argsort(x, 0), 0), torch_fn=lambda x: x.argsort(0, True),
           grad=False, name="descending"),
    OpCase("argsort", lambda x: dg.sort(x, 1), [Y],
           ref=lambda x: (np.sort(x, 1), np.argsort(x, 1)), torch_fn=lambda x: tuple(x.sort(1)),
           grad=False, name="sort_pair"),
    OpCase("argsort", lambda x: dg.sort(x, -1, descending=True).values, [X],
           ref=lambda x: _desc(x, -1), torch_fn=lambda x: x.sort(-1, descending=True).values,
           name="sort_values_grad"),
    OpCase("argsort", lambda x: x.sort(dim=0, stable=True).values, [Y], ref=lambda x: np.sort(x, 0),
           torch_fn=lambda x: x.sort(dim=0, stable=True).values, name="sort_dim0"),
    OpCase("argsort", lambda x: dg.msort(x), [X], ref=lambda x: np.sort(x, 0),
           torch_fn=lambda x: x.msort(), name="msort"),
    OpCase("topk", lambda x: dg.topk(x, 2), [X], ref=lambda x: _topk(x, 2, -1, True),
           torch_fn=lambda x: tuple(x.topk(2)), grad=False, name="pair"),
    OpCase("topk", lambda x: x.topk(3, dim=0, largest=False).values, [rand(5, 4, seed=83)],
           ref=lambda x: _topk(x, 3, 0, False)[0],
           torch_fn=lambda x: x.topk(3, dim=0, largest=False).values, name="smallest_dim0"),
    OpCase("topk", lambda x: dg.topk(x, 5, 1).values, [X], ref=lambda x: _desc(x, 1),
           torch_fn=lambda x: x.topk(5, 1).values, name="k_equals_n"),
    OpCase("topk", lambda x: x.topk(1, 1).values, [Y], ref=lambda x: _topk(x, 1, 1, True)[0],
           torch_fn=lambda x: x.topk(1, 1).values, name="k1"),
    OpCase("kthvalue", lambda x: dg.kthvalue(x, 2), [X], ref=lambda x: _kth(x, 2, -1),
           torch_fn=lambda x: tuple(x.kthvalue(2)), grad=False, name="pair"),
    OpCase("kthvalue", lambda x: x.kthvalue(3, 0, keepdim=True).values, [rand(5, 3, seed=84)],
           ref=lambda x: _kth(x, 3, 0, True)[0],
           torch_fn=lambda x: x.kthvalue(3, 0, keepdim=True).values, name="dim0_keepdim"),
    OpCase("unique", lambda x: dg.unique(x), [INTS], ref=np.unique,
           torch_fn=lambda x: x.unique(), grad=False, name="values"),
    OpCase("unique", lambda x: dg.unique(x, return_inverse=True, return_counts=True), [INTS],
           ref=lambda x: np.unique(x, return_inverse=True, return_counts=True),
           torch_fn=lambda x: x.unique(return_inverse=True, return_counts=True), grad=False,
           name="inverse_counts"),
    OpCase("unique", lambda x: dg.unique(x, dim=0), [np.array([[1, 2], [0, 5], [1, 2]])],
           ref=lambda x: np.unique(x, axis=0), torch_fn=lambda x: x.unique(dim=0), grad=False,
           name="dim"),
]
