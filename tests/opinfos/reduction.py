"""OpInfo cases for dyngraph/ops/reduction.py: sum, mean, prod, amax/amin, argmax/argmin, all/any,
norm, cumsum, cumprod and the composites (max/min with dim, var, std, logsumexp, median, ...)."""

from __future__ import annotations

import numpy as np

import dyngraph as dg
from tests.conftest import torch
from tests.opinfo import OpCase, positive, rand

X = rand(3, 4, 5, seed=10)
M = rand(4, 6, seed=11)
INTS = np.random.default_rng(12).integers(-5, 6, size=(3, 4))
MASK = np.random.default_rng(13).uniform(size=(3, 4)) > 0.3
WITH_ZERO = rand(3, 4, seed=14)
WITH_ZERO[1, 2] = 0.0
TWO_ZEROS = rand(3, 4, seed=15)
TWO_ZEROS[0, 1] = TWO_ZEROS[0, 3] = 0.0
ZERO_ROWS = rand(2, 6, seed=16)
ZERO_ROWS[0, 2] = 0.0
ZERO_ROWS[1, 1] = ZERO_ROWS[1, 4] = 0.0
WITH_NAN = rand(3, 4, seed=17)
WITH_NAN[0, 1] = WITH_NAN[2, 3] = np.nan


def _lower_median(x, axis):
    s = np.sort(x, axis=axis)
    k = (x.shape[axis] - 1) // 2
    return np.take(s, k, axis=axis)


def _p_norm(x, p, axis=None, keepdims=False):
    a = np.abs(x)
    if p == np.inf:
        return a.max(axis=axis, keepdims=keepdims)
    if p == -np.inf:
        return a.min(axis=axis, keepdims=keepdims)
    if p == 0:
        return (a != 0).sum(axis=axis, keepdims=keepdims).astype(x.dtype)
    return (a ** p).sum(axis=axis, keepdims=keepdims) ** (1.0 / p)


def _var(x, axis=None, ddof=1, keepdims=False):
    return np.var(x, axis=axis, ddof=ddof, keepdims=keepdims)


def _logsumexp(x, axis, keepdims=False):
    m = x.max(axis=axis, keepdims=True)
    r = np.log(np.exp(x - m).sum(axis=axis, keepdims=True)) + m
    return r if keepdims else np.squeeze(r, axis=axis)


CASES = [
    # ----- sum / mean -----
    OpCase("sum", lambda x: x.sum(), [X], ref=lambda x: x.sum(), torch_fn=lambda x: x.sum(),
           name="all"),
    OpCase("sum", lambda x: dg.sum(x, 1), [X], ref=lambda x: x.sum(1),
           torch_fn=lambda x: x.sum(1), name="dim1"),
    OpCase("sum", lambda x: x.sum((0, -1), keepdim=True), [X],
           ref=lambda x: x.sum((0, 2), keepdims=True),
           torch_fn=lambda x: x.sum((0, -1), keepdim=True), name="tuple_neg_keepdim"),
    OpCase("sum", lambda x: x.sum(dim=-2, dtype=dg.float64), [X], ref=lambda x: x.sum(-2),
           torch_fn=lambda x: x.sum(dim=-2, dtype=x.dtype), name="dtype_arg"),
    OpCase("sum", lambda x: x.sum(1), [INTS], ref=lambda x: x.sum(1),
           torch_fn=lambda x: x.sum(1), grad=False, name="int64"),
    OpCase("sum", lambda m: m.sum(0), [MASK], ref=lambda m: m.sum(0),
           torch_fn=lambda m: m.sum(0), grad=False, name="bool"),
    OpCase("mean", lambda x: x.mean(), [X], ref=lambda x: x.mean(),
           torch_fn=lambda x: x.mean(), name="all"),
    OpCase("mean", lambda x: dg.mean(x, (1, 2), keepdim=True), [X],
           ref=lambda x: x.mean((1, 2), keepdims=True),
           torch_fn=lambda x: x.mean((1, 2), keepdim=True), name="tuple_keepdim"),
    OpCase("mean", lambda x: x.mean(-1), [M], ref=lambda x: x.mean(-1),
           torch_fn=lambda x: x.mean(-1), name="neg"),
    OpCase("nansum", lambda x: dg.nansum(x, 1), [WITH_NAN], ref=lambda x: np.nansum(x, 1),
           torch_fn=lambda x: x.nansum(1), composite=True, name="nan"),
    OpCase("nanmean", lambda x: dg.nanmean(x, 0), [WITH_NAN], ref=lambda x: np.nanmean(x, 0),
           torch_fn=lambda x: x.nanmean(0), composite=True, name="nan"),
    # ----- prod -----
    OpCase("prod", lambda x: x.prod(), [rand(2, 3, seed=20)], ref=lambda x: x.prod(),
           torch_fn=lambda x: x.prod(), name="all"),
    OpCase("prod", lambda x: dg.prod(x, 1, keepdim=True), [M],
           ref=lambda x: x.prod(1, keepdims=True), torch_fn=lambda x: x.prod(1, keepdim=True),
           name="dim_keepdim"),
    OpCase("prod", lambda x: x.prod(-1), [WITH_ZERO], ref=lambda x: x.prod(-1),
           torch_fn=lambda x: x.prod(-1), name="one_zero"),
    OpCase("prod", lambda x: x.prod(1), [TWO_ZEROS], ref=lambda x: x.prod(1),
           torch_fn=lambda x: x.prod(1), name="two_zeros"),
    OpCase("prod", lambda x: x.prod(), [WITH_ZERO], ref=lambda x: x.prod(),
           torch_fn=lambda x: x.prod(), name="all_one_zero"),
    OpCase("prod", lambda x: x.prod(0), [INTS], ref=lambda x: x.prod(0),
           torch_fn=lambda x: x.prod(0), grad=False, name="int64"),
    # ----- amax / amin / max / min -----
    OpCase("amax", lambda x: x.amax(), [X], ref=lambda x: x.max(), torch_fn=lambda x: x.amax(),
           name="all"),
    OpCase("amax", lambda x: dg.amax(x, (0, 2), keepdim=True), [X],
           ref=lambda x: x.max((0, 2), keepdims=True),
           torch_fn=lambda x: x.amax((0, 2), keepdim=True), name="tuple_keepdim"),
    OpCase("amin", lambda x: dg.amin(x, -1), [X], ref=lambda x: x.min(-1),
           torch_fn=lambda x: x.amin(-1), name="neg"),
    OpCase("amin", lambda x: x.amin(), [M], ref=lambda x: x.min(), torch_fn=lambda x: x.amin(),
           name="all"),
    OpCase("max", lambda x: x.max(), [X], ref=lambda x: x.max(), torch_fn=lambda x: x.max(),
           composite=True, name="full"),
    OpCase("max", lambda x: dg.max(x, 1), [M], ref=lambda x: (x.max(1), x.argmax(1)),
           torch_fn=lambda x: tuple(x.max(1)), composite=True, name="dim_pair"),
    OpCase("max", lambda x: dg.max(x, -1, keepdim=True).values, [X],
           ref=lambda x: x.max(-1, keepdims=True),
           torch_fn=lambda x: x.max(-1, keepdim=True).values, composite=True,
           name="dim_values"),
    OpCase("max", lambda x, y: dg.max(x, y), [M, rand(4, 6, seed=21)],
           ref=np.maximum, torch_fn=lambda x, y: x.max(y), composite=True, name="binary"),
    OpCase("min", lambda x: x.min(0).values, [M], ref=lambda x: x.min(0),
           torch_fn=lambda x: x.min(0).values, composite=True, name="dim_values"),
    OpCase("min", lambda x: dg.min(x, 0), [M], ref=lambda x: (x.min(0), x.argmin(0)),
           torch_fn=lambda x: tuple(x.min(0)), composite=True, name="dim_pair"),
    OpCase("min", lambda x: x.min(), [X], ref=lambda x: x.min(), torch_fn=lambda x: x.min(),
           composite=True, name="full"),
    # ----- argmax / argmin -----
    OpCase("argmax", lambda x: x.argmax(), [X], ref=lambda x: np.argmax(x),
           torch_fn=lambda x: x.argmax(), grad=False, name="flat"),
    OpCase("argmax", lambda x: dg.argmax(x, 1, keepdim=True), [X],
           ref=lambda x: np.argmax(x, 1, keepdims=True),
           torch_fn=lambda x: x.argmax(1, keepdim=True), grad=False, name="dim_keepdim"),
    OpCase("argmin", lambda x: x.argmin(-1), [X], ref=lambda x: np.argmin(x, -1),
           torch_fn=lambda x: x.argmin(-1), grad=False, name="neg"),
    OpCase("argmin", lambda x: dg.argmin(x), [INTS], ref=lambda x: np.argmin(x),
           torch_fn=lambda x: x.argmin(), grad=False, name="int"),
    # ----- all / any / count_nonzero -----
    OpCase("all", lambda m: m.all(), [MASK], ref=lambda m: m.all(), torch_fn=lambda m: m.all(),
           grad=False, name="full"),
    OpCase("all", lambda m: dg.all(m, 1, keepdim=True), [MASK],
           ref=lambda m: m.all(1, keepdims=True), torch_fn=lambda m: m.all(1, keepdim=True),
           grad=False, name="dim"),
    OpCase("any", lambda m: m.any(0), [MASK], ref=lambda m: m.any(0),
           torch_fn=lambda m: m.any(0), grad=False, name="dim"),
    OpCase("any", lambda x: dg.any(x), [INTS], ref=lambda x: x.any(),
           torch_fn=lambda x: x.any(), grad=False, name="int"),
    OpCase("count_nonzero", lambda x: dg.count_nonzero(x, 1), [INTS],
           ref=lambda x: np.count_nonzero(x, 1), torch_fn=lambda x: x.count_nonzero(1),
           grad=False, composite=True),
    # ----- norm -----
    OpCase("norm", lambda x: x.norm(), [X], ref=lambda x: np.sqrt((x * x).sum()),
           torch_fn=lambda x: x.norm(), name="fro"),
    OpCase("norm", lambda x: dg.norm(x, 2, dim=1), [M], ref=lambda x: _p_norm(x, 2, 1),
           torch_fn=lambda x: x.norm(2, dim=1), name="p2_dim"),
    OpCase("norm", lambda x: x.norm(1, dim=(0, 2), keepdim=True), [X],
           ref=lambda x: _p_norm(x, 1, (0, 2), True),
           torch_fn=lambda x: x.norm(1, dim=(0, 2), keepdim=True), name="p1_tuple"),
    OpCase("norm", lambda x: x.norm(float("inf"), dim=-1), [M],
           ref=lambda x: _p_norm(x, np.inf, -1), torch_fn=lambda x: x.norm(float("inf"), dim=-1),
           name="inf"),
    OpCase("norm", lambda x: x.norm(float("-inf")), [M], ref=lambda x: _p_norm(x, -np.inf),
           torch_fn=lambda x: x.norm(float("-inf")), name="neg_inf"),
    OpCase("norm", lambda x: x.norm(3, dim=0), [M], ref=lambda x: _p_norm(x, 3, 0),
           torch_fn=lambda x: x.norm(3, dim=0), name="p3"),
    OpCase("norm", lambda x: x.norm(0, dim=1), [WITH_ZERO], ref=lambda x: _p_norm(x, 0, 1),
           torch_fn=lambda x: x.norm(0, dim=1), name="p0"),
    OpCase("norm", lambda x: x.norm("fro", dim=(0, 1)), [M], ref=lambda x: _p_norm(x, 2),
           torch_fn=lambda x: x.norm("fro", dim=(0, 1)), name="fro_dims"),
    # ----- var / std / logsumexp / median -----
    OpCase("var", lambda x: x.var(), [X], ref=lambda x: _var(x), torch_fn=lambda x: x.var(),
           composite=True, name="all"),
    OpCase("var", lambda x: dg.var(x, 1, keepdim=True), [X],
           ref=lambda x: _var(x, 1, keepdims=True), torch_fn=lambda x: x.var(1, keepdim=True),
           composite=True, name="dim_keepdim"),
    OpCase("var", lambda x: x.var((0, -1), correction=0), [X], ref=lambda x: _var(x, (0, 2), 0),
           torch_fn=lambda x: x.var((0, -1), correction=0), composite=True, name="correction0"),
    OpCase("var", lambda x: x.var(0, unbiased=False), [M], ref=lambda x: _var(x, 0, 0),
           torch_fn=lambda x: x.var(0, unbiased=False), composite=True, name="unbiased_false"),
    OpCase("std", lambda x: x.std(-1), [X], ref=lambda x: np.std(x, -1, ddof=1),
           torch_fn=lambda x: x.std(-1), composite=True, name="dim"),
    OpCase("std", lambda x: dg.std(x, correction=2), [M], ref=lambda x: np.std(x, ddof=2),
           torch_fn=lambda x: x.std(correction=2), composite=True, name="correction2"),
    OpCase("var_mean", lambda x: dg.var_mean(x, 1), [M],
           ref=lambda x: (_var(x, 1), x.mean(1)), torch_fn=lambda x: tuple(torch.var_mean(x, 1)),
           composite=True, grad=False),
    OpCase("logsumexp", lambda x: dg.logsumexp(x, 1), [X * 20], ref=lambda x: _logsumexp(x, 1),
           torch_fn=lambda x: x.logsumexp(1), composite=True, name="dim"),
    OpCase("logsumexp", lambda x: x.logsumexp((0, 2), keepdim=True), [X],
           ref=lambda x: _logsumexp(x, (0, 2), True),
           torch_fn=lambda x: x.logsumexp((0, 2), keepdim=True), composite=True, name="tuple"),
    OpCase("median", lambda x: x.median(), [rand(3, 5, seed=22)],
           ref=lambda x: _lower_median(x.reshape(-1), 0), torch_fn=lambda x: x.median(),
           composite=True, name="full"),
    OpCase("median", lambda x: dg.median(x, 1).values, [M], ref=lambda x: _lower_median(x, 1),
           torch_fn=lambda x: x.median(1).values, composite=True, name="dim"),
    OpCase("median", lambda x: dg.median(x, 0, keepdim=True), [rand(5, 3, seed=23)],
           ref=lambda x: (np.expand_dims(_lower_median(x, 0), 0),
                          np.expand_dims(np.argsort(x, 0)[2], 0)),
           torch_fn=lambda x: tuple(x.median(0, keepdim=True)), composite=True,
           name="pair_keepdim", grad=False),
    # ----- scans -----
    OpCase("cumsum", lambda x: x.cumsum(1), [X], ref=lambda x: np.cumsum(x, 1),
           torch_fn=lambda x: x.cumsum(1), name="dim1"),
    OpCase("cumsum", lambda x: dg.cumsum(x, -1), [M], ref=lambda x: np.cumsum(x, -1),
           torch_fn=lambda x: x.cumsum(-1), name="neg"),
    OpCase("cumsum", lambda x: x.cumsum(0), [INTS], ref=lambda x: np.cumsum(x, 0),
           torch_fn=lambda x: x.cumsum(0), grad=False, name="int"),
    OpCase("cumprod", lambda x: x.cumprod(1), [positive(3, 4, seed=24)],
           ref=lambda x: np.cumprod(x, 1), torch_fn=lambda x: x.cumprod(1), name="dim1"),
    OpCase("cumprod", lambda x: dg.cumprod(x, -1), [ZERO_ROWS], ref=lambda x: np.cumprod(x, -1),
           torch_fn=lambda x: x.cumprod(-1), name="zeros"),
    OpCase("cumprod", lambda x: x.cumprod(0), [WITH_ZERO], ref=lambda x: np.cumprod(x, 0),
           torch_fn=lambda x: x.cumprod(0), name="zero_dim0"),
]

