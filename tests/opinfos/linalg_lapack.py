"""OpInfo cases for dyngraph/ops/linalg_lapack.py (det, slogdet, inv, solve, cholesky) and the
norms of dyngraph/linalg.py, on seeded well-conditioned matrices."""

from __future__ import annotations

import numpy as np

import dyngraph as dg
from dyngraph.ops import linalg_lapack as LL
from tests.conftest import torch
from tests.opinfo import OpCase, rand


def _wellcond(*shape, seed):
    """Random matrices with a dominant diagonal (condition number around 3)."""
    n = shape[-1]
    return rand(*shape, low=-1.0, high=1.0, seed=seed) + 2.0 * n * np.eye(n) / 2


def _spd(A):
    """A symmetric positive-definite matrix built from A (so gradcheck may perturb A freely)."""
    return A @ A.mT + 2.0 * dg.eye(A.shape[-1], dtype=A.dtype, device=A.device)


CASES = [
    OpCase("det", dg.linalg.det, [_wellcond(3, 3, seed=300)], ref=np.linalg.det,
           torch_fn=lambda a: torch.linalg.det(a)),
    OpCase("det", lambda a: LL.det(a), [_wellcond(2, 3, 4, 4, seed=301)], ref=np.linalg.det,
           torch_fn=lambda a: torch.det(a), name="batched"),
    OpCase("slogdet", lambda a: dg.linalg.slogdet(a).logabsdet, [_wellcond(2, 3, 3, seed=302)
                                                                 * -1],
           ref=lambda a: np.linalg.slogdet(a)[1],
           torch_fn=lambda a: torch.linalg.slogdet(a).logabsdet),
    OpCase("slogdet_sign", lambda a: dg.linalg.slogdet(a)[0], [_wellcond(4, 3, 3, seed=303)
                                                               * np.array([1, -1, 1, -1])
                                                               [:, None, None]],
           ref=lambda a: np.linalg.slogdet(a)[0], grad=False),
    OpCase("slogdet", lambda a: LL.logdet(a), [_wellcond(2, 3, 3, seed=304)],
           ref=lambda a: np.log(np.linalg.det(a)), torch_fn=lambda a: torch.logdet(a),
           name="logdet"),
    OpCase("inv", dg.linalg.inv, [_wellcond(2, 4, 4, seed=305)], ref=np.linalg.inv,
           torch_fn=lambda a: torch.linalg.inv(a)),
    OpCase("inv", lambda a: LL.inverse(a), [_wellcond(3, 3, seed=306)], ref=np.linalg.inv,
           torch_fn=lambda a: torch.inverse(a), name="inverse"),
    OpCase("solve", dg.linalg.solve, [_wellcond(2, 3, 3, seed=307), rand(2, 3, 2, seed=308)],
           ref=np.linalg.solve, torch_fn=lambda a, b: torch.linalg.solve(a, b)),
    OpCase("solve", dg.linalg.solve, [_wellcond(2, 3, 3, seed=309), rand(2, 3, seed=310)],
           ref=lambda a, b: np.linalg.solve(a, b[..., None])[..., 0],
           torch_fn=lambda a, b: torch.linalg.solve(a, b), name="batched_vector"),
    OpCase("solve", dg.linalg.solve, [_wellcond(2, 1, 3, 3, seed=311), rand(4, 3, 2, seed=312)],
           ref=np.linalg.solve, torch_fn=lambda a, b: torch.linalg.solve(a, b),
           name="broadcast"),
    OpCase("solve", lambda a, b: dg.linalg.solve(a, b, left=False),
           [_wellcond(3, 3, seed=313), rand(2, 3, seed=314)],
           ref=lambda a, b: np.linalg.solve(a.T, b.T).T,
           torch_fn=lambda a, b: torch.linalg.solve(a, b, left=False), name="right"),
    OpCase("cholesky", lambda a: dg.linalg.cholesky(_spd(a)), [rand(2, 3, 3, seed=315)],
           ref=lambda a: np.linalg.cholesky(a @ a.swapaxes(-1, -2) + 2 * np.eye(3)),
           torch_fn=lambda a: torch.linalg.cholesky(a @ a.mT + 2 * torch.eye(3))),
    OpCase("cholesky", lambda a: LL.cholesky(_spd(a), True), [rand(3, 3, seed=316)],
           ref=lambda a: np.linalg.cholesky(a @ a.T + 2 * np.eye(3)).T,
           torch_fn=lambda a: torch.linalg.cholesky(a @ a.mT + 2 * torch.eye(3), upper=True),
           name="upper"),
    # ----- composites -----
    OpCase("matrix_power", lambda a: dg.linalg.matrix_power(a, -3), [_wellcond(2, 3, 3,
                                                                               seed=317)],
           ref=lambda a: np.linalg.matrix_power(a, -3),
           torch_fn=lambda a: torch.linalg.matrix_power(a, -3), composite=True),
    OpCase("linalg.vector_norm", lambda x: dg.linalg.vector_norm(x, 3, dim=(0, 2)),
           [rand(2, 3, 4, seed=318)], ref=lambda x: np.sum(np.abs(x) ** 3, axis=(0, 2)) ** (1 / 3),
           torch_fn=lambda x: torch.linalg.vector_norm(x, 3, dim=(0, 2)), composite=True),
    OpCase("linalg.matrix_norm", lambda a: dg.linalg.matrix_norm(a, -1),
           [rand(2, 3, 4, seed=319)], ref=lambda a: np.linalg.norm(a, -1, axis=(-2, -1)),
           torch_fn=lambda a: torch.linalg.matrix_norm(a, -1), composite=True),
    OpCase("linalg.norm", lambda a: dg.linalg.norm(a, float("inf")),
           [rand(3, 4, seed=320)], ref=lambda a: np.linalg.norm(a, np.inf),
           torch_fn=lambda a: torch.linalg.norm(a, float("inf")), composite=True),
]
