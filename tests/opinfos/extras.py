"""OpInfo cases for dyngraph/ops/extras.py: the scan primitives (logcumsumexp, cummax, cummin)
and the composites (cdist, cross, kron, diff, rot90, renorm, trapezoid, ...)."""

from __future__ import annotations

import itertools

import numpy as np

import dyngraph as dg
from tests.conftest import torch
from tests.opinfo import OpCase, positive, rand

X = rand(3, 5, seed=40)
V = rand(4, 3, seed=41)
W = rand(4, 3, seed=42)
P = rand(2, 4, 3, seed=43)
R = rand(2, 5, 3, seed=44)
TIES = np.array([[1.0, 3.0, 3.0, 2.0, 0.5], [2.0, -1.0, 2.0, 4.0, 4.0]])
WIDE = np.array([[-800.0, 0.5, 1.0, -2.0, 700.0], [1.0, -1.0, 40.0, -40.0, 0.0]])


def _running_index(x, axis, better):
    """Index of the running extreme along `axis`, the last of ties (numpy loop, the oracle)."""
    x = np.moveaxis(x, axis, -1)
    out = np.zeros(x.shape, dtype=np.int64)
    for pos in np.ndindex(x.shape[:-1]):
        best = 0
        for j in range(x.shape[-1]):
            if not better(x[pos][best], x[pos][j]) or x[pos][j] == x[pos][best]:
                best = j
            out[pos + (j,)] = best
    return np.moveaxis(out, -1, axis)


def _cummax_index(x, axis):
    return _running_index(x, axis, lambda best, v: v < best)


def _cummin_index(x, axis):
    return _running_index(x, axis, lambda best, v: v > best)


def _cdist(a, b, p):
    d = np.abs(a[..., :, None, :] - b[..., None, :, :])
    if p == 0:
        return (d != 0).sum(-1).astype(a.dtype)
    if np.isinf(p):
        return d.max(-1)
    return (d ** p).sum(-1) ** (1 / p)


def _renorm(x, p, dim, maxnorm):
    others = tuple(i for i in range(x.ndim) if i != dim % x.ndim)
    n = (np.abs(x) ** p).sum(others, keepdims=True) ** (1 / p)
    return x * np.where(n > maxnorm, maxnorm / (n + 1e-7), 1.0)


def _cumulative_trapezoid(y, dx, axis):
    n = y.shape[axis]
    left, right = np.take(y, range(n - 1), axis), np.take(y, range(1, n), axis)
    return np.cumsum((left + right) * dx / 2, axis)


def _combinations(x, r):
    return np.array([[x[i] for i in c] for c in itertools.combinations(range(len(x)), r)])


def _block_diag(*ms):
    out = np.zeros((sum(m.shape[0] for m in ms), sum(m.shape[1] for m in ms)))
    i = j = 0
    for m in ms:
        out[i:i + m.shape[0], j:j + m.shape[1]] = m
        i, j = i + m.shape[0], j + m.shape[1]
    return out


CASES = [
    # ---- scan primitives --------------------------------------------------------------------
    OpCase("logcumsumexp", lambda x: dg.logcumsumexp(x, 1), [X],
           ref=lambda x: np.log(np.cumsum(np.exp(x), 1)),
           torch_fn=lambda x: torch.logcumsumexp(x, 1)),
    OpCase("logcumsumexp", lambda x: x.logcumsumexp(-2), [P],
           ref=lambda x: np.log(np.cumsum(np.exp(x), -2)),
           torch_fn=lambda x: x.logcumsumexp(-2), name="method_neg_dim"),
    OpCase("logcumsumexp", lambda x: dg.logcumsumexp(x, -1), [WIDE],
           ref=lambda x: np.logaddexp.accumulate(x, -1),
           torch_fn=lambda x: torch.logcumsumexp(x, -1), name="wide_range"),
    OpCase("cummax", lambda x: dg.cummax(x, 1), [TIES],
           ref=lambda x: (np.maximum.accumulate(x, 1), _cummax_index(x, 1)),
           torch_fn=lambda x: tuple(torch.cummax(x, 1)), grad=False, name="pair_ties"),
    OpCase("cummax", lambda x: dg.cummax(x, 0).values, [X],
           ref=lambda x: np.maximum.accumulate(x, 0),
           torch_fn=lambda x: torch.cummax(x, 0).values, name="values_grad"),
    OpCase("cummax", lambda x: x.cummax(-1).values, [P],
           ref=lambda x: np.maximum.accumulate(x, -1),
           torch_fn=lambda x: x.cummax(-1).values, name="method"),
    OpCase("cummin", lambda x: dg.cummin(x, 1), [TIES],
           ref=lambda x: (np.minimum.accumulate(x, 1), _cummin_index(x, 1)),
           torch_fn=lambda x: tuple(torch.cummin(x, 1)), grad=False, name="pair_ties"),
    OpCase("cummin", lambda x: x.cummin(0).values, [X],
           ref=lambda x: np.minimum.accumulate(x, 0),
           torch_fn=lambda x: x.cummin(0).values, name="values_grad"),
    # ---- composites -------------------------------------------------------------------------
    OpCase("cdist", lambda a, b: dg.cdist(a, b), [P, R], ref=lambda a, b: _cdist(a, b, 2),
           torch_fn=lambda a, b: torch.cdist(a, b), composite=True),
    OpCase("cdist", lambda a, b: dg.cdist(a, b, compute_mode="use_mm_for_euclid_dist"), [P, R],
           ref=lambda a, b: _cdist(a, b, 2),
           torch_fn=lambda a, b: torch.cdist(a, b, compute_mode="use_mm_for_euclid_dist"),
           composite=True, name="mm", rtol32=1e-4, atol32=1e-5),
    *[OpCase("cdist", lambda a, b, p=p: dg.cdist(a, b, p), [V, W[:3]],
             ref=lambda a, b, p=p: _cdist(a, b, p), torch_fn=lambda a, b, p=p: torch.cdist(a, b, p),
             composite=True, name=f"p{p}")
      for p in (0.0, 1.0, 0.5, 3.0, float("inf"))],
    OpCase("dist", lambda a, b: dg.dist(a, b, 3), [V, W[0]],
           ref=lambda a, b: (np.abs(a - b) ** 3).sum() ** (1 / 3),
           torch_fn=lambda a, b: torch.dist(a, b, 3), composite=True),
    OpCase("cross", lambda a, b: dg.cross(a, b, dim=-1), [V, W],
           ref=lambda a, b: np.cross(a, b, axis=-1), torch_fn=lambda a, b: torch.cross(a, b, -1),
           composite=True),
    OpCase("cross", lambda a, b: a.cross(b, 0), [V.T.copy(), W[:1].T.copy()],
           ref=lambda a, b: np.cross(a, b, axis=0), torch_fn=lambda a, b: a.cross(b, 0),
           composite=True, name="method_broadcast"),
    OpCase("kron", lambda a, b: dg.kron(a, b), [V[:2], P],
           ref=np.kron, torch_fn=torch.kron if torch else None, composite=True),
    OpCase("diff", lambda x: dg.diff(x), [X], ref=np.diff, torch_fn=lambda x: torch.diff(x),
           composite=True),
    OpCase("diff", lambda x, a, b: x.diff(2, 0, prepend=a, append=b), [V, W[:1], W[1:]],
           ref=lambda x, a, b: np.diff(x, 2, 0, prepend=a, append=b),
           torch_fn=lambda x, a, b: x.diff(2, 0, prepend=a, append=b), composite=True,
           name="prepend_append"),
    OpCase("rot90", lambda x: dg.rot90(x), [X], ref=np.rot90, torch_fn=lambda x: torch.rot90(x),
           composite=True),
    OpCase("rot90", lambda x: x.rot90(-1, (2, -3)), [P],
           ref=lambda x: np.rot90(x, -1, (2, 0)), torch_fn=lambda x: x.rot90(-1, (2, -3)),
           composite=True, name="method_k3"),
    OpCase("renorm", lambda x: dg.renorm(x, 2, 0, 1.5), [V * 1.5],
           ref=lambda x: _renorm(x, 2, 0, 1.5), torch_fn=lambda x: torch.renorm(x, 2, 0, 1.5),
           composite=True),
    OpCase("renorm", lambda x: x.renorm(1, -1, 2.0), [P],
           ref=lambda x: _renorm(x, 1, -1, 2.0), torch_fn=lambda x: x.renorm(1, -1, 2.0),
           composite=True, name="method_p1"),
    OpCase("trapezoid", lambda y: dg.trapezoid(y, dx=0.5, dim=0), [X],
           ref=lambda y: np.trapezoid(y, dx=0.5, axis=0),
           torch_fn=lambda y: torch.trapezoid(y, dx=0.5, dim=0), composite=True),
    OpCase("trapezoid", lambda y, x: dg.trapezoid(y, x), [X, np.cumsum(positive(5, seed=45))],
           ref=lambda y, x: np.trapezoid(y, x), torch_fn=lambda y, x: torch.trapezoid(y, x),
           composite=True, name="x"),
    OpCase("cumulative_trapezoid", lambda y: dg.cumulative_trapezoid(y, dx=2.0), [X],
           ref=lambda y: _cumulative_trapezoid(y, 2.0, -1),
           torch_fn=lambda y: torch.cumulative_trapezoid(y, dx=2.0), composite=True),
    OpCase("cumulative_trapezoid", lambda y, x: dg.cumulative_trapezoid(y, x, dim=0),
           [V, np.cumsum(positive(4, seed=46))],
           ref=lambda y, x: _cumulative_trapezoid(y, np.diff(x)[:, None], 0),
           torch_fn=lambda y, x: torch.cumulative_trapezoid(y, x, dim=0), composite=True,
           name="x"),
    OpCase("diagflat", lambda x: dg.diagflat(x, -1), [V[:2]],
           ref=lambda x: np.diagflat(x, -1), torch_fn=lambda x: torch.diagflat(x, -1),
           composite=True),
    OpCase("block_diag", lambda a, b, c: dg.block_diag(a, b, c), [V, X[0], np.array(2.5)],
           ref=lambda a, b, c: _block_diag(a, b[None], c.reshape(1, 1)),
           torch_fn=lambda a, b, c: torch.block_diag(a, b, c), composite=True),
    OpCase("column_stack", lambda a, b: dg.column_stack([a, b]), [V, X[0, :4]],
           ref=lambda a, b: np.column_stack([a, b]),
           torch_fn=lambda a, b: torch.column_stack([a, b]), composite=True),
    OpCase("meshgrid", lambda a, b: dg.meshgrid(a, b, indexing="xy"), [X[0], V[0]],
           ref=lambda a, b: np.meshgrid(a, b, indexing="xy"),
           torch_fn=lambda a, b: torch.meshgrid(a, b, indexing="xy"), grad=False,
           composite=True),
    OpCase("meshgrid", lambda a, b: dg.meshgrid(a, b, indexing="ij")[1] * 2, [X[0], V[0]],
           ref=lambda a, b: np.meshgrid(a, b, indexing="ij")[1] * 2,
           torch_fn=lambda a, b: torch.meshgrid(a, b, indexing="ij")[1] * 2, composite=True,
           name="grad"),
    OpCase("cartesian_prod", lambda a, b: dg.cartesian_prod(a, b), [X[0, :3], V[0]],
           ref=lambda a, b: np.array([[u, v] for u in a for v in b]),
           torch_fn=lambda a, b: torch.cartesian_prod(a, b), composite=True),
    OpCase("combinations", lambda x: dg.combinations(x, 3), [X[0]],
           ref=lambda x: _combinations(x, 3), torch_fn=lambda x: torch.combinations(x, 3),
           composite=True),
    OpCase("tensor_split", lambda x: dg.tensor_split(x, 3, dim=1), [X],
           ref=lambda x: np.array_split(x, 3, axis=1),
           torch_fn=lambda x: torch.tensor_split(x, 3, dim=1), grad=False, composite=True),
    OpCase("tensor_split", lambda x: x.tensor_split([1, 4], -1)[1] * 3, [X],
           ref=lambda x: np.array_split(x, [1, 4], axis=-1)[1] * 3,
           torch_fn=lambda x: x.tensor_split([1, 4], -1)[1] * 3, composite=True, name="grad"),
]
