"""OpInfo cases for dyngraph/ops/linalg_extra.py and linalg_lu.py (solve_triangular,
cholesky_solve/inverse, the LU family, cholesky_ex, matrix_exp) and the lstsq /
householder_product composites."""

from __future__ import annotations

import numpy as np
import scipy.linalg as sla

import dyngraph as dg
from tests.conftest import torch
from tests.opinfo import OpCase, rand


def _wellcond(*shape, seed):
    n = shape[-1]
    return rand(*shape, low=-1.0, high=1.0, seed=seed) + n * np.eye(n)


def _lower(*shape, seed):
    return np.tril(_wellcond(*shape, seed=seed))


def _expm(a):
    return np.stack([sla.expm(m) for m in a.reshape(-1, *a.shape[-2:])]).reshape(a.shape)


def _lu_np(a):
    lu, piv = sla.lu_factor(a)
    return lu


CASES = [
    OpCase("solve_triangular", lambda a, b: dg.linalg.solve_triangular(a, b, upper=False),
           [_lower(2, 3, 3, seed=700), rand(2, 3, 2, seed=701)],
           ref=lambda a, b: np.linalg.solve(np.tril(a), b),
           torch_fn=lambda a, b: torch.linalg.solve_triangular(a, b, upper=False)),
    OpCase("solve_triangular",
           lambda a, b: dg.linalg.solve_triangular(a, b, upper=True, left=False,
                                                   unitriangular=True),
           [_wellcond(3, 3, seed=702), rand(2, 2, 3, seed=703)],
           ref=lambda a, b: np.linalg.solve((np.triu(a, 1) + np.eye(3)).T,
                                            b.swapaxes(-1, -2)).swapaxes(-1, -2),
           torch_fn=lambda a, b: torch.linalg.solve_triangular(a, b, upper=True, left=False,
                                                               unitriangular=True),
           name="right_unit"),
    OpCase("solve_triangular", lambda b, a: dg.triangular_solve(b, a, transpose=True)[0],
           [rand(3, 2, seed=704), _wellcond(3, 3, seed=705)],
           ref=lambda b, a: np.linalg.solve(np.triu(a).T, b),
           torch_fn=lambda b, a: torch.triangular_solve(b, a, transpose=True)[0],
           name="triangular_solve"),
    # PyTorch's gradients for the factor are not restricted to the triangle that is read (nor
    # are ours): the cases pass c.tril() / c.triu() so that gradcheck sees the same function
    OpCase("cholesky_solve", lambda b, c: dg.cholesky_solve(b, c.tril()),
           [rand(2, 3, 2, seed=706), _lower(3, 3, seed=707)],
           ref=lambda b, c: np.linalg.solve(np.tril(c) @ np.tril(c).T, b),
           torch_fn=lambda b, c: torch.cholesky_solve(b, c.tril())),
    OpCase("cholesky_solve", lambda b, c: dg.cholesky_solve(b, c.triu(), True),
           [rand(3, 1, seed=708), np.ascontiguousarray(_lower(3, 3, seed=709).T)],
           ref=lambda b, c: np.linalg.solve(np.triu(c).T @ np.triu(c), b),
           torch_fn=lambda b, c: torch.cholesky_solve(b, c.triu(), True), name="upper"),
    OpCase("cholesky_inverse", lambda c: dg.cholesky_inverse(c.tril()),
           [_lower(2, 3, 3, seed=710)],
           ref=lambda c: np.linalg.inv(np.tril(c) @ np.tril(c).swapaxes(-1, -2)),
           torch_fn=lambda c: torch.cholesky_inverse(c.tril())),
    OpCase("cholesky_inverse", lambda c: dg.cholesky_inverse(c.triu(), upper=True),
           [np.ascontiguousarray(_lower(3, 3, seed=728).T)],
           ref=lambda c: np.linalg.inv(np.triu(c).T @ np.triu(c)),
           torch_fn=lambda c: torch.cholesky_inverse(c.triu(), upper=True), name="upper"),
    OpCase("lu_factor", lambda a: dg.linalg.lu_factor(a).LU, [_wellcond(3, 3, seed=711)
                                                              - 2.5 * np.eye(3)],
           ref=_lu_np, torch_fn=lambda a: torch.linalg.lu_factor(a).LU),
    OpCase("lu_factor", lambda a: dg.linalg.lu(a).L, [rand(2, 4, 3, seed=712)],
           torch_fn=lambda a: torch.linalg.lu(a).L, name="tall_L"),
    OpCase("lu_factor", lambda a: dg.linalg.lu(a).U, [rand(2, 3, 5, seed=713)],
           torch_fn=lambda a: torch.linalg.lu(a).U, name="wide_U"),
    OpCase("lu_factor", lambda a: dg.linalg.lu(a).U, [rand(5, 3, seed=714)],
           torch_fn=lambda a: torch.linalg.lu(a).U, name="tall_U"),
    OpCase("lu_factor", lambda a: dg.linalg.lu(a).L, [rand(3, 4, seed=715)],
           torch_fn=lambda a: torch.linalg.lu(a).L, name="wide_L"),
    OpCase("lu_permutation", lambda a: dg.linalg.lu(a).P, [rand(2, 4, 4, seed=716)],
           ref=lambda a: np.stack([sla.lu(m)[0] for m in a]), grad=False),
    OpCase("lu_factor", lambda a, b: dg.linalg.lu_solve(*dg.linalg.lu_factor(a), b),
           [rand(2, 3, 3, seed=717), rand(3, 2, seed=718)], ref=np.linalg.solve,
           torch_fn=lambda a, b: torch.linalg.lu_solve(*torch.linalg.lu_factor(a), b),
           name="lu_solve"),
    OpCase("lu_factor",
           lambda a, b: dg.linalg.lu_solve(*dg.linalg.lu_factor(a), b, left=False,
                                           adjoint=True),
           [rand(3, 3, seed=719), rand(2, 3, seed=720)],
           ref=lambda a, b: np.linalg.solve(a, b.T).T,
           torch_fn=lambda a, b: torch.linalg.lu_solve(*torch.linalg.lu_factor(a), b,
                                                       left=False, adjoint=True),
           name="lu_solve_right_adjoint"),
    OpCase("cholesky_ex",
           lambda a: dg.linalg.cholesky_ex(a @ a.mT + 3 * dg.eye(3, dtype=a.dtype,
                                                                 device=a.device)).L,
           [rand(2, 3, 3, seed=721)],
           ref=lambda a: np.linalg.cholesky(a @ a.swapaxes(-1, -2) + 3 * np.eye(3)),
           torch_fn=lambda a: torch.linalg.cholesky_ex(a @ a.mT + 3 * torch.eye(3)).L),
    OpCase("cholesky_info", lambda a: dg.linalg.cholesky_ex(a).info,
           [np.array([[[1.0, 0.0], [0.0, -1.0]], [[2.0, 0.0], [0.0, 1.0]]])],
           ref=lambda a: np.array([2, 0]), grad=False),
    OpCase("matrix_exp", dg.linalg.matrix_exp, [rand(2, 3, 3, seed=722)], ref=_expm,
           torch_fn=torch.linalg.matrix_exp),
    OpCase("matrix_exp", dg.matrix_exp, [rand(4, 4, low=-3, high=3, seed=723)], ref=_expm,
           torch_fn=torch.matrix_exp, name="scaled", rtol32=1e-4, atol32=1e-4),
    # ----- composites -----
    OpCase("linalg.lstsq", lambda a, b: dg.linalg.lstsq(a, b).solution,
           [rand(2, 5, 3, seed=724), rand(2, 5, 2, seed=725)],
           ref=lambda a, b: np.linalg.pinv(a) @ b,
           torch_fn=lambda a, b: torch.linalg.lstsq(a, b).solution, composite=True,
           rtol32=1e-4, atol32=1e-5),
    OpCase("linalg.householder_product", dg.linalg.householder_product,
           [rand(4, 3, seed=726), rand(2, seed=727)],
           torch_fn=torch.linalg.householder_product, composite=True),
]
