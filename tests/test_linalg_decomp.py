"""svd, svdvals, qr, eigh, eigvalsh, pinv and matrix_rank against torch.linalg and numpy: values
on batches and dtypes, errors, gradients (against torch, and gradcheck in float64 on
well-separated spectra), the norms built on svdvals, and compiled vs eager."""

from __future__ import annotations

import numpy as np
import pytest

import dyngraph as dg
from dyngraph.autograd import gradcheck
from dyngraph.ops import linalg_decomp as LD
from tests.conftest import assert_close, requires_torch, torch
from tests.opinfos.linalg_decomp import spectral

DTYPES = {"float64": dg.float64, "float32": dg.float32}
TOLS = {"float64": (1e-10, 1e-12), "float32": (1e-4, 1e-5)}
SHAPES = [(4, 3), (2, 3, 5), (2, 2, 4, 4), (0, 3, 2)]


def _t(a, dtype="float64"):
    return torch.tensor(a).to(getattr(torch, dtype))


@requires_torch
@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("full", [False, True])
def test_svd_matches_torch_and_numpy(dtype, shape, full):
    A = spectral(*shape, seed=1)
    U, S, Vh = dg.linalg.svd(dg.tensor(A, dtype=DTYPES[dtype]), full_matrices=full)
    tU, tS, tVh = torch.linalg.svd(_t(A, dtype), full_matrices=full)
    nU, nS, nVh = np.linalg.svd(A, full_matrices=full)
    rtol, atol = TOLS[dtype]
    k = min(shape[-2:])
    for got, want in [(U, tU), (S, tS), (Vh, tVh)]:
        assert got.dtype is DTYPES[dtype] and tuple(got.shape) == tuple(want.shape)
    assert_close(S, tS, rtol=rtol, atol=atol)
    assert_close(S, nS, rtol=rtol, atol=atol)
    # U and V are unique up to the sign of each singular pair (and the completion past k)
    assert_close(U.abs()[..., :k], tU.abs()[..., :k], rtol=rtol, atol=atol)
    assert_close(Vh.abs()[..., :k, :], tVh.abs()[..., :k, :], rtol=rtol, atol=atol)
    assert_close(U.abs(), np.abs(nU), rtol=rtol, atol=atol) if dtype == "float64" else None
    rebuilt = (U[..., :k] * S.unsqueeze(-2)) @ Vh[..., :k, :]
    assert_close(rebuilt, A, rtol=10 * rtol, atol=10 * atol)
    eye_u, eye_v = np.eye(U.shape[-1]), np.eye(Vh.shape[-2])
    assert_close(U.mT @ U, np.broadcast_to(eye_u, U.shape[:-2] + eye_u.shape), atol=10 * atol)
    assert_close(Vh @ Vh.mT, np.broadcast_to(eye_v, Vh.shape[:-2] + eye_v.shape),
                 atol=10 * atol)
    assert_close(dg.linalg.svdvals(dg.tensor(A, dtype=DTYPES[dtype])),
                 torch.linalg.svdvals(_t(A, dtype)), rtol=rtol, atol=atol)


@requires_torch
@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("mode", ["reduced", "complete", "r"])
def test_qr_matches_torch_and_numpy(dtype, shape, mode):
    # LAPACK's Householder signs, the same in torch and numpy: Q and R compare directly
    A = spectral(*shape, seed=2)
    Q, R = dg.linalg.qr(dg.tensor(A, dtype=DTYPES[dtype]), mode)
    tQ, tR = torch.linalg.qr(_t(A, dtype), mode)
    rtol, atol = TOLS[dtype]
    for got, want in [(Q, tQ), (R, tR)]:
        assert got.dtype is DTYPES[dtype] and tuple(got.shape) == tuple(want.shape)
        assert_close(got, want, rtol=rtol, atol=atol)
    assert_close(R, np.linalg.qr(A, mode)[1] if mode != "r" else np.linalg.qr(A, "r"),
                 rtol=rtol, atol=atol)
    if mode != "r":
        assert_close(Q @ R, A, rtol=10 * rtol, atol=10 * atol)


@requires_torch
@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("batch", [(), (3,), (2, 2), (0,)])
@pytest.mark.parametrize("uplo", ["L", "U"])
def test_eigh_matches_torch_and_numpy(dtype, batch, uplo):
    A = np.random.default_rng(3).standard_normal(batch + (4, 4))  # not symmetric: UPLO matters
    L, V = dg.linalg.eigh(dg.tensor(A, dtype=DTYPES[dtype]), UPLO=uplo)
    tL, tV = torch.linalg.eigh(_t(A, dtype), UPLO=uplo)
    rtol, atol = TOLS[dtype]
    assert L.dtype is V.dtype is DTYPES[dtype] and tuple(V.shape) == tuple(tV.shape)
    assert_close(L, tL, rtol=rtol, atol=atol)
    assert_close(L, np.linalg.eigh(A, uplo)[0], rtol=rtol, atol=atol)
    assert_close(V.abs(), tV.abs(), rtol=10 * rtol, atol=10 * atol)
    assert_close(dg.linalg.eigvalsh(dg.tensor(A, dtype=DTYPES[dtype]), uplo),
                 torch.linalg.eigvalsh(_t(A, dtype), uplo), rtol=rtol, atol=atol)


@requires_torch
@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("kw", [{}, {"atol": 1.5}, {"rtol": 0.5}, {"atol": 0.1, "rtol": 0.9},
                                {"hermitian": True}, {"hermitian": True, "rtol": 0.5}])
def test_pinv_and_matrix_rank_match_torch(dtype, kw):
    A = spectral(3, 4, 4, seed=4, values=[3.0, 2.0, 1.0, 1e-20])
    if kw.get("hermitian"):
        A = A + np.swapaxes(A, -1, -2)
    a, ta = dg.tensor(A, dtype=DTYPES[dtype]), _t(A, dtype)
    rtol, atol = TOLS[dtype]
    got = dg.linalg.pinv(a, **kw)
    assert got.dtype is DTYPES[dtype]
    assert_close(got, torch.linalg.pinv(ta, **kw), rtol=10 * rtol, atol=10 * atol)
    rank = dg.linalg.matrix_rank(a, **kw)
    assert rank.dtype is dg.int64
    np.testing.assert_array_equal(rank.numpy(), torch.linalg.matrix_rank(ta, **kw).numpy())
    tol = torch.tensor([0.5, 2.5, 10.0])
    np.testing.assert_array_equal(dg.linalg.matrix_rank(a, atol=dg.tensor(tol.numpy())).numpy(),
                                  torch.linalg.matrix_rank(ta, atol=tol).numpy())
    rt = torch.tensor([0.1, 0.5, 0.9])
    assert_close(dg.linalg.pinv(a, rtol=dg.tensor(rt.numpy())), torch.linalg.pinv(ta, rtol=rt),
                 rtol=10 * rtol, atol=10 * atol)


@requires_torch
def test_top_level_functions_and_methods_match_torch():
    A = spectral(2, 4, 3, seed=5)
    a, ta = dg.tensor(A), torch.tensor(A)
    for got, want in [(a.svd(), ta.svd()), (LD.svd(a, some=False), torch.svd(ta, some=False))]:
        assert tuple(got.V.shape) == tuple(want.V.shape)
        assert_close(got.S, want.S)
        assert_close(got.V.abs()[..., :3], want.V.abs()[..., :3])
        assert_close(got.U.abs()[..., :3], want.U.abs()[..., :3])
    U, S, V = LD.svd(a, compute_uv=False)
    tU, tS, tV = torch.svd(ta, compute_uv=False)
    for got, want in [(U, tU), (S, tS), (V, tV)]:
        assert_close(got, want)
    for got, want in [(a.qr(), torch.linalg.qr(ta)),
                      (LD.qr(a, some=False), torch.linalg.qr(ta, "complete"))]:
        assert_close(got.Q, want.Q)
        assert_close(got.R, want.R)
    assert_close(a.pinverse(), ta.pinverse())
    assert_close(LD.pinverse(a, rcond=0.5), torch.pinverse(ta, rcond=0.5))
    assert type(dg.linalg.svd(a)).__name__ == "linalg_svd"
    assert dg.linalg.eigh(dg.eye(2)).eigenvalues.shape == (2,)


def test_namespace():
    for name in ["svd", "svdvals", "qr", "eigh", "eigvalsh", "pinv", "matrix_rank"]:
        assert callable(getattr(dg.linalg, name)), name
    assert dg.linalg.svd is LD.linalg_svd and dg.linalg.qr is LD.linalg_qr


def test_errors_speak_pytorch():
    with pytest.raises(RuntimeError, match="linalg.svd: Expected a floating point.*int64"):
        dg.linalg.svd(dg.tensor([[1, 0], [0, 1]]))
    with pytest.raises(RuntimeError, match="linalg.svdvals: The input tensor A must have at "
                                           "least 2 dimensions"):
        dg.linalg.svdvals(dg.ones(3))
    with pytest.raises(RuntimeError, match="linalg.qr: The input tensor A must have at least"):
        dg.linalg.qr(dg.ones(3))
    with pytest.raises(RuntimeError, match="qr received unrecognized mode 'full'"):
        dg.linalg.qr(dg.ones(3, 3), "full")
    with pytest.raises(RuntimeError, match="linalg.eigh: A must be batches of square matrices, "
                                           "but they are 3 by 2 matrices"):
        dg.linalg.eigh(dg.ones(3, 2))
    with pytest.raises(RuntimeError, match="Expected UPLO argument to be 'L' or 'U'"):
        dg.linalg.eigvalsh(dg.eye(2), UPLO="X")
    with pytest.raises(RuntimeError, match="linalg.pinv: Expected a floating point"):
        dg.linalg.pinv(dg.tensor([[1, 2]]))
    with pytest.raises(TypeError, match="must be Tensor"):
        dg.linalg.matrix_rank([[1.0]])
    a = dg.tensor(spectral(3, 3, seed=6), requires_grad=True)
    with pytest.raises(RuntimeError, match="not computed when mode='r'"):
        dg.linalg.qr(a, "r").R.sum().backward()
    b = dg.tensor(spectral(4, 3, seed=7), requires_grad=True)
    with pytest.raises(RuntimeError, match="not differentiable when mode='complete' and nrows"):
        dg.linalg.qr(b, "complete").Q.sum().backward()


@requires_torch
@pytest.mark.parametrize("shape", [(2, 4, 3), (3, 5), (2, 3, 3)])
def test_gradients_match_torch(shape):
    """Sign-invariant functions of every output, with random weights, against torch."""
    A = spectral(*shape, seed=8)
    rng = np.random.default_rng(9)
    m, n = shape[-2:]
    k = min(m, n)
    W = [rng.standard_normal(shape[:-2] + s) for s in [(m, k), (k,), (k, n), (m, k), (k, n),
                                                          (n, m)]]

    def f(lib, a):
        ten = dg.tensor if lib is dg else torch.tensor
        w = [ten(x) for x in W]
        U, S, Vh = lib.linalg.svd(a, full_matrices=True)
        Ur, Sr, Vhr = lib.linalg.svd(a, full_matrices=False)
        Q, R = lib.linalg.qr(a)
        r = ((U[..., :k].abs() * w[0]).sum() + (S * w[1]).sum() + (Vh[..., :k, :].abs() * w[2])
             .sum() + (Ur.abs() * Sr.unsqueeze(-2) * w[0]).sum() + (Q * w[3]).sum()
             + (R * w[4]).sum() + (lib.linalg.pinv(a) * w[5]).sum()
             + lib.linalg.svdvals(a).sum() + lib.linalg.matrix_norm(a, "nuc").sum())
        if m == n:
            s = a + a.mT
            L, V = lib.linalg.eigh(s)
            r = r + (V.abs() * w[0]).sum() + (L * w[1]).sum() + (lib.linalg.eigvalsh(s, "U")
                                                               * w[1]).sum()
        return r

    a, ta = dg.tensor(A, requires_grad=True), torch.tensor(A, requires_grad=True)
    got, want = f(dg, a), f(torch, ta)
    assert_close(got, want.detach())
    got.backward()
    want.backward()
    assert_close(a.grad, ta.grad, rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("fn,shape", [
    (lambda a: dg.linalg.svd(a, full_matrices=False).S, (2, 4, 3)),
    (lambda a: dg.linalg.svd(a, full_matrices=False).U.abs(), (4, 3)),
    (lambda a: (lambda U, S, Vh: (U * S.unsqueeze(-2)) @ Vh)(*dg.linalg.svd(a, False)),
     (2, 3, 5)),
    (lambda a: dg.linalg.svd(a).Vh.abs()[..., :3, :] + dg.linalg.svd(a).U.abs().sum(), (3, 5)),
    (lambda a: dg.linalg.svdvals(a), (2, 5, 3)),
    (lambda a: dg.linalg.matrix_norm(a, 2) + dg.linalg.matrix_norm(a, -2)
     + dg.linalg.matrix_norm(a, "nuc", dim=(0, 1), keepdim=True).sum(), (3, 4, 2)),
    (lambda a: dg.linalg.qr(a).Q + dg.linalg.qr(a).R.sum(), (2, 4, 3)),
    (lambda a: dg.linalg.qr(a).Q.sum(-1, keepdim=True) * dg.linalg.qr(a).R, (2, 3, 5)),
    (lambda a: dg.linalg.qr(a, "complete").R, (3, 4)),
    (lambda a: dg.linalg.eigh(a + a.mT).eigenvectors.abs(), (2, 4, 4)),
    (lambda a: dg.linalg.eigh(a + a.mT, UPLO="U").eigenvalues, (3, 3)),
    (lambda a: dg.linalg.eigvalsh(a @ a.mT), (2, 3, 3)),
    (lambda a: dg.linalg.pinv(a), (2, 3, 5)),
    (lambda a: dg.linalg.pinv(a + a.mT, hermitian=True), (3, 3)),
], ids=["svd_S", "svd_U_abs", "svd_rebuild_wide", "svd_full_wide", "svdvals", "matrix_norms",
        "qr_tall", "qr_wide", "qr_complete_wide", "eigh_V_abs", "eigh_upper", "eigvalsh", "pinv",
        "pinv_hermitian"])
def test_gradcheck_float64(fn, shape):
    a = dg.tensor(spectral(*shape, seed=10), requires_grad=True)
    assert gradcheck(fn, [a], eps=1e-6, atol=1e-6, rtol=1e-4)


@requires_torch
def test_full_matrices_gradient_ignores_the_completion_as_torch():
    # PyTorch 2.13 narrows U and Vh to min(m, n) columns / rows in the backward, so a gradient
    # reaching the arbitrary completion is ignored rather than an error
    A = spectral(4, 2, seed=11)
    a, ta = dg.tensor(A, requires_grad=True), torch.tensor(A, requires_grad=True)
    dg.linalg.svd(a).U.abs().sum().backward()
    torch.linalg.svd(ta).U.abs().sum().backward()
    assert_close(a.grad, ta.grad)


@requires_torch
@pytest.mark.parametrize("ord", ["nuc", 2, -2])
@pytest.mark.parametrize("dim,keepdim", [((-2, -1), False), ((0, 2), True), ((2, 0), False)])
def test_matrix_norm_via_svdvals_matches_torch(ord, dim, keepdim):
    a = spectral(3, 4, 5, seed=12)
    got = dg.linalg.matrix_norm(dg.tensor(a), ord, dim, keepdim)
    want = torch.linalg.matrix_norm(torch.tensor(a), ord, dim, keepdim)
    assert tuple(got.shape) == tuple(want.shape)
    assert_close(got, want)
    assert_close(dg.linalg.norm(dg.tensor(a[0]), ord), torch.linalg.norm(torch.tensor(a[0]), ord))
    g = np.random.default_rng(13).standard_normal(tuple(want.shape))
    x, tx = dg.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)
    dg.linalg.matrix_norm(x, ord, dim, keepdim).backward(dg.tensor(g))
    torch.linalg.matrix_norm(tx, ord, dim, keepdim).backward(torch.tensor(g))
    assert_close(x.grad, tx.grad)


@pytest.mark.parametrize("fn", [
    lambda a: (dg.linalg.svdvals(a) ** 2).sum() + dg.linalg.matrix_norm(a, "nuc").sum(),
    lambda a: (dg.linalg.qr(a).Q * a).sum() + dg.linalg.qr(a).R.diagonal(dim1=-2, dim2=-1)
    .abs().sum(),
], ids=["svdvals", "qr"])
def test_compiled_matches_eager_forward_and_backward(fn):
    compiled = dg.compile(fn, backend="llvm")
    A = spectral(2, 4, 3, seed=14)
    ae, ac = dg.tensor(A, requires_grad=True), dg.tensor(A, requires_grad=True)
    eager, comp = fn(ae), compiled(ac)
    assert_close(comp, eager)
    eager.backward()
    comp.backward()
    assert_close(ac.grad, ae.grad)


@pytest.mark.parametrize("shape", [(4, 4), (5, 3), (3, 5), (2, 4, 4)])
def test_rank_deficient_svd_gradient_through_S_alone_is_finite(shape):
    """Only S used: the gradient is U diag(gS) Vh, as PyTorch's undefined-gU branch gives (the
    unused U and Vh reach the packed backward as zeros; their 0 / 0 terms are 0, not NaN)."""
    rng = np.random.default_rng(7)
    B = rng.standard_normal(shape[:-1] + (2,)) @ rng.standard_normal(shape[:-2] + (2, shape[-1]))
    a = dg.tensor(B, requires_grad=True)
    r = dg.linalg.svd(a, full_matrices=False)
    r.S.sum().backward()
    U, Vh = r.U.detach().numpy(), r.Vh.detach().numpy()
    np.testing.assert_allclose(a.grad.numpy(), U @ Vh, atol=1e-12)
    if torch is not None:   # weights on the nonzero singular values only: a unique gradient
        w = np.zeros(min(shape[-2:]))
        w[:2] = [1.0, 2.0]
        a.grad = None
        t = torch.tensor(B, requires_grad=True)
        (dg.linalg.svd(a, full_matrices=False).S * dg.tensor(w)).sum().backward()
        (torch.linalg.svd(t, full_matrices=False).S * torch.tensor(w)).sum().backward()
        np.testing.assert_allclose(a.grad.numpy(), t.grad.numpy(), atol=1e-12)


def test_repeated_eigenvalues_gradient_through_eigenvalues_alone_matches_torch():
    rng = np.random.default_rng(8)
    Q, _ = np.linalg.qr(rng.standard_normal((4, 4)))
    A = Q @ np.diag([2.0, 2.0, 2.0, 5.0]) @ Q.T
    a = dg.tensor(A, requires_grad=True)
    dg.linalg.eigh(a).eigenvalues.pow(2).sum().backward()
    assert np.isfinite(a.grad.numpy()).all()
    L, V = np.linalg.eigh(A)
    np.testing.assert_allclose(a.grad.numpy(), (V * (2 * L)) @ V.T, atol=1e-12)
    # a used eigenvector of a repeated eigenvalue has no gradient: the computed eigenvalues
    # differ by rounding, and the gradient is huge (or inf), as in PyTorch
    a.grad = None
    dg.linalg.eigh(a).eigenvectors[:, 0].sum().backward()
    assert not (np.abs(a.grad.numpy()) < 1e8).all()
