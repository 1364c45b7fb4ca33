"""OpInfo cases for dyngraph/ops/linalg_decomp.py (svd, svdvals, qr, eigh, eigvalsh, pinv,
matrix_rank), on seeded matrices with well-separated singular values / eigenvalues.

U, V and eigenvectors are defined up to sign, so the cases take sign-invariant functions of them
(products that rebuild A, or absolute values) and compare those."""

from __future__ import annotations

import numpy as np

import dyngraph as dg
from dyngraph.ops import linalg_decomp as LD
from tests.conftest import torch
from tests.opinfo import OpCase


def spectral(*shape, seed, values=None):
    """Random (..., m, n) matrices whose singular values are min(m, n) distinct values 1..2.5x."""
    rng = np.random.default_rng(seed)
    m, n = shape[-2:]
    k = min(m, n)
    q1 = np.linalg.qr(rng.standard_normal(shape[:-2] + (m, m)))[0][..., :k]
    q2 = np.linalg.qr(rng.standard_normal(shape[:-2] + (n, n)))[0][..., :k]
    s = np.linspace(2.5, 1.0, k) if values is None else np.asarray(values, dtype=float)
    return (q1 * s) @ np.swapaxes(q2, -1, -2)


def _sym(a):
    return a + a.mT


def _np_sym(a):
    return a + np.swapaxes(a, -1, -2)


def _usv(U, S, Vh):
    return (U * S[..., None, :]) @ Vh


CASES = [
    OpCase("svd", lambda a: _usv(*dg.linalg.svd(a, full_matrices=False)),
           [spectral(2, 4, 3, seed=400)], ref=lambda a: a,
           torch_fn=lambda a: _usv(*torch.linalg.svd(a, full_matrices=False))),
    # full_matrices: rows of Vh past min(m, n) are an arbitrary completion, so only the first
    # two (and all of U, which is square) enter
    OpCase("svd", lambda a: dg.linalg.svd(a).U.abs().sum(-1, keepdim=True)
           + dg.linalg.svd(a).Vh[..., :2, :].abs(), [spectral(3, 2, 5, seed=401)],
           ref=lambda a: np.abs(np.linalg.svd(a)[0]).sum(-1, keepdims=True)
           + np.abs(np.linalg.svd(a)[2][..., :2, :]),
           torch_fn=lambda a: torch.linalg.svd(a).U.abs().sum(-1, keepdim=True)
           + torch.linalg.svd(a).Vh[..., :2, :].abs(), name="abs_wide_full"),
    OpCase("svd", lambda a: LD.svd(a).V.abs() * LD.svd(a).S.unsqueeze(-2),
           [spectral(5, 3, seed=402)],
           ref=lambda a: np.abs(np.linalg.svd(a)[2].T) * np.linalg.svd(a)[1],
           torch_fn=lambda a: torch.svd(a).V.abs() * torch.svd(a).S.unsqueeze(-2),
           name="torch_svd"),
    OpCase("svdvals", dg.linalg.svdvals, [spectral(2, 3, 4, seed=403)],
           ref=lambda a: np.linalg.svd(a, compute_uv=False),
           torch_fn=lambda a: torch.linalg.svdvals(a)),
    OpCase("qr", lambda a: dg.linalg.qr(a).Q, [spectral(2, 4, 3, seed=404)],
           ref=lambda a: np.linalg.qr(a)[0], torch_fn=lambda a: torch.linalg.qr(a).Q),
    OpCase("qr", lambda a: dg.linalg.qr(a).R, [spectral(3, 5, seed=405)],
           ref=lambda a: np.linalg.qr(a)[1], torch_fn=lambda a: torch.linalg.qr(a).R,
           name="wide_R"),
    OpCase("qr", lambda a: LD.qr(a, some=False).Q @ LD.qr(a, some=False).R.abs(),
           [spectral(2, 3, 3, seed=406)],
           ref=lambda a: np.linalg.qr(a, "complete")[0] @ np.abs(np.linalg.qr(a, "complete")[1]),
           torch_fn=lambda a: torch.linalg.qr(a, "complete").Q
           @ torch.linalg.qr(a, "complete").R.abs(), name="complete"),
    OpCase("eigh", lambda a: dg.linalg.eigh(_sym(a)).eigenvalues.unsqueeze(-2)
           * dg.linalg.eigh(_sym(a)).eigenvectors.abs(), [spectral(2, 4, 4, seed=407)],
           ref=lambda a: np.linalg.eigh(_np_sym(a))[0][..., None, :]
           * np.abs(np.linalg.eigh(_np_sym(a))[1]),
           torch_fn=lambda a: torch.linalg.eigh(_sym(a)).eigenvalues.unsqueeze(-2)
           * torch.linalg.eigh(_sym(a)).eigenvectors.abs()),
    # the gradient is the symmetric one (as PyTorch's), so gradcheck symmetrizes A first
    OpCase("eigh", lambda a: dg.linalg.eigh(_sym(a), UPLO="U").eigenvalues,
           [spectral(3, 3, seed=408)], ref=lambda a: np.linalg.eigh(_np_sym(a), "U")[0],
           torch_fn=lambda a: torch.linalg.eigh(_sym(a), UPLO="U").eigenvalues, name="upper"),
    OpCase("eigvalsh", lambda a: dg.linalg.eigvalsh(_sym(a)), [spectral(2, 3, 3, seed=409)],
           ref=lambda a: np.linalg.eigvalsh(_np_sym(a)),
           torch_fn=lambda a: torch.linalg.eigvalsh(_sym(a))),
    # ----- composites -----
    OpCase("linalg.pinv", dg.linalg.pinv, [spectral(2, 4, 3, seed=410)], ref=np.linalg.pinv,
           torch_fn=lambda a: torch.linalg.pinv(a), composite=True),
    OpCase("linalg.pinv", lambda a: dg.linalg.pinv(_sym(a), hermitian=True),
           [spectral(3, 3, seed=411)], ref=lambda a: np.linalg.pinv(_np_sym(a), hermitian=True),
           torch_fn=lambda a: torch.linalg.pinv(_sym(a), hermitian=True), composite=True,
           name="hermitian"),
    OpCase("linalg.matrix_rank", dg.linalg.matrix_rank,
           [spectral(2, 4, 4, seed=412, values=[2.0, 1.0, 1e-20, 0.0])],
           ref=np.linalg.matrix_rank, torch_fn=lambda a: torch.linalg.matrix_rank(a),
           grad=False, composite=True),
]
