"""solve_triangular / triangular_solve, cholesky_solve / cholesky_inverse, the LU family,
matrix_exp, lstsq, householder_product and the _ex variants against PyTorch and finite
differences."""

from __future__ import annotations

import numpy as np
import pytest

import dyngraph as dg
from dyngraph.ops import linalg_extra as LX, linalg_lu as LLU
from tests.conftest import assert_close, requires_torch, to_np, torch

pytestmark = requires_torch


def _pair(a, dtype="float64", grad=False):
    a = np.asarray(a)
    d = dg.tensor(a, dtype=getattr(dg, dtype))
    t = torch.tensor(a, dtype=getattr(torch, dtype))
    if grad:
        d.requires_grad_(True)
        t.requires_grad_(True)
    return d, t


def _rand(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


def _wellcond(*shape, seed=0):
    return _rand(*shape, seed=seed) + 3 * np.eye(shape[-1])


@pytest.mark.parametrize("upper,left,unit", [(True, True, False), (False, False, True),
                                             (False, True, False), (True, False, True)])
def test_solve_triangular_forward_and_grads(upper, left, unit):
    A, tA = _pair(_wellcond(2, 1, 3, 3, seed=1), grad=True)
    B, tB = _pair(_rand(4, 3, 2, seed=2) if left else _rand(4, 2, 3, seed=2), grad=True)
    got = dg.linalg.solve_triangular(A, B, upper=upper, left=left, unitriangular=unit)
    want = torch.linalg.solve_triangular(tA, tB, upper=upper, left=left, unitriangular=unit)
    assert_close(got, want)
    g = _rand(*want.shape, seed=3)
    got.backward(dg.tensor(g))
    want.backward(torch.tensor(g))
    assert_close(A.grad, tA.grad)
    assert_close(B.grad, tB.grad)
    assert dg.autograd.gradcheck(
        lambda a, b: dg.linalg.solve_triangular(a, b, upper=upper, left=left,
                                                unitriangular=unit), [A, B])


def test_solve_triangular_singular_errors_and_empty():
    A = dg.tensor([[1.0, 0.0], [2.0, 0.0]])
    want = torch.linalg.solve_triangular(torch.tensor([[1.0, 0.0], [2.0, 0.0]]),
                                         torch.ones(2, 1), upper=False)
    assert_close(dg.linalg.solve_triangular(A, dg.ones(2, 1), upper=False), want, "float32")
    with pytest.raises(RuntimeError, match="at least 2 dimensions"):
        dg.linalg.solve_triangular(A, dg.ones(2), upper=False)
    with pytest.raises(RuntimeError, match="Incompatible shapes"):
        dg.linalg.solve_triangular(A, dg.ones(3, 1), upper=False)
    with pytest.raises(RuntimeError, match="same dtype"):
        dg.linalg.solve_triangular(A, dg.ones(2, 1, dtype=dg.float64), upper=False)
    with pytest.raises(TypeError):
        dg.linalg.solve_triangular(A, dg.ones(2, 1))   # upper is required
    assert dg.linalg.solve_triangular(dg.eye(0), dg.ones(0, 2), upper=True).shape == (0, 2)
    assert dg.linalg.solve_triangular(dg.eye(2).expand(0, 2, 2), dg.ones(0, 2, 1),
                                      upper=True).shape == (0, 2, 1)


def test_solve_triangular_without_scipy(monkeypatch):
    monkeypatch.setattr(LX, "_scipy_linalg", lambda xp: None)
    monkeypatch.setattr(LLU, "_scipy_linalg", lambda xp: None)
    A, tA = _pair(_wellcond(3, 4, 4, seed=4))
    B, tB = _pair(_rand(3, 4, 2, seed=5))
    assert_close(dg.linalg.solve_triangular(A, B, upper=True),
                 torch.linalg.solve_triangular(tA, tB, upper=True))
    P, L, U = dg.linalg.lu(A)
    tP, tL, tU = torch.linalg.lu(tA)
    for g, w in ((P, tP), (L, tL), (U, tU)):
        assert_close(g, w)


def test_triangular_solve_old_api():
    A, tA = _pair(_wellcond(3, 3, seed=6))
    b, tb = _pair(_rand(3, 2, seed=7))
    for kw in ({}, {"upper": False}, {"transpose": True}, {"unitriangular": True}):
        got, want = dg.triangular_solve(b, A, **kw), torch.triangular_solve(tb, tA, **kw)
        assert_close(got.solution, want.solution)
        assert_close(got.cloned_coefficient, want.cloned_coefficient)
    assert_close(b.triangular_solve(A)[0], tb.triangular_solve(tA)[0])


@pytest.mark.parametrize("upper", [False, True])
def test_cholesky_solve_and_inverse(upper):
    M = _rand(2, 3, 3, seed=8)
    A = M @ M.swapaxes(-1, -2) + 3 * np.eye(3)
    C = np.linalg.cholesky(A)
    C = C.swapaxes(-1, -2).copy() if upper else C
    c, tc = _pair(C, grad=True)
    b, tb = _pair(_rand(3, 2, seed=9), grad=True)
    got, want = dg.cholesky_solve(b, c, upper), torch.cholesky_solve(tb, tc, upper)
    assert_close(got, want)
    assert_close(got, np.linalg.solve(A, to_np(b)))
    got.sum().backward()
    want.sum().backward()
    assert_close(c.grad, tc.grad)   # not restricted to the triangle, as in PyTorch
    assert_close(b.grad, tb.grad)
    inv, tinv = dg.cholesky_inverse(c, upper), torch.cholesky_inverse(tc, upper)
    assert_close(inv, tinv)
    assert_close(c.detach().cholesky_inverse(upper), np.linalg.inv(A))
    with pytest.raises(RuntimeError, match="Incompatible matrix sizes"):
        dg.cholesky_solve(dg.ones(4, 1, dtype=dg.float64), c)


def test_lu_factor_pivots_info_and_old_api():
    A, tA = _pair(_rand(2, 4, 4, seed=10))
    LU, piv = dg.linalg.lu_factor(A)
    tLU, tpiv = torch.linalg.lu_factor(tA)
    assert_close(LU, tLU)
    assert piv.dtype is dg.int32
    np.testing.assert_array_equal(to_np(piv), tpiv.numpy())
    sing = np.array([[1.0, 2.0], [2.0, 4.0]])
    d, t = _pair(sing)
    got, want = dg.linalg.lu_factor_ex(d), torch.linalg.lu_factor_ex(t)
    assert int(got.info) == int(want.info) == 2
    with pytest.raises(RuntimeError, match=r"U\[1,1\] is zero"):
        dg.linalg.lu_factor(d)
    with pytest.raises(RuntimeError, match="LU without pivoting"):
        dg.linalg.lu_factor(d, pivot=False)
    with pytest.warns(UserWarning):
        t_old = torch.lu(tA, get_infos=True)
    d_old = dg.lu(A, get_infos=True)
    assert len(d_old) == 3 and int(d_old[2].sum()) == 0
    assert_close(d_old[0], t_old[0])
    assert_close(A.lu()[0], t_old[0])


@pytest.mark.parametrize("shape", [(3, 3), (2, 5, 3), (3, 5), (1, 1)])
def test_linalg_lu_and_unpack(shape):
    A, tA = _pair(_rand(*shape, seed=11), grad=True)
    P, L, U = dg.linalg.lu(A)
    tP, tL, tU = torch.linalg.lu(tA)
    for g, w in ((P, tP), (L, tL), (U, tU)):
        assert_close(g, w)
    assert_close(P @ L @ U, A.detach())
    (L.sum() + (U * U).sum()).backward()
    (tL.sum() + (tU * tU).sum()).backward()
    assert_close(A.grad, tA.grad)
    assert dg.autograd.gradcheck(lambda a: dg.linalg.lu(a).U, [A])
    uP, uL, uU = dg.lu_unpack(*dg.linalg.lu_factor(A.detach()), unpack_pivots=False)
    assert uP.numel() == 0 and uL.shape == L.shape


def test_lu_solve_variants():
    A, tA = _pair(_wellcond(2, 3, 3, seed=12), grad=True)
    B, tB = _pair(_rand(2, 3, 4, seed=13), grad=True)
    for left in (True, False):
        for adjoint in (False, True):
            Bl, tBl = (B, tB) if left else (B.mT, tB.mT)
            got = dg.linalg.lu_solve(*dg.linalg.lu_factor(A), Bl, left=left, adjoint=adjoint)
            want = torch.linalg.lu_solve(*torch.linalg.lu_factor(tA), tBl, left=left,
                                         adjoint=adjoint)
            assert_close(got, want)
    LU, piv = dg.linalg.lu_factor(A)
    tLU, tpiv = torch.linalg.lu_factor(tA)
    got, want = dg.lu_solve(B, LU, piv), torch.lu_solve(tB, tLU, tpiv)
    assert_close(got, want)
    got.sum().backward()
    want.sum().backward()
    assert_close(A.grad, tA.grad)
    assert_close(B.grad, tB.grad)
    with pytest.raises(RuntimeError, match="Expected pivots"):
        dg.linalg.lu_solve(LU, piv[..., :2], B)


def test_matrix_exp_against_torch_and_grads():
    for scale in (0.1, 1.0, 30.0):
        A, tA = _pair(_rand(2, 4, 4, seed=14) * scale, grad=True)
        got, want = dg.linalg.matrix_exp(A), torch.linalg.matrix_exp(tA)
        assert_close(got, want, rtol=1e-9)
        g = _rand(2, 4, 4, seed=15)
        got.backward(dg.tensor(g))
        want.backward(torch.tensor(g))
        assert_close(A.grad, tA.grad, rtol=1e-8)
    A32, tA32 = _pair(_rand(3, 3, seed=16), "float32")
    assert_close(A32.matrix_exp(), torch.matrix_exp(tA32), "float32", rtol=1e-5)
    assert dg.linalg.matrix_exp(dg.empty(0, 0)).shape == (0, 0)
    x = dg.tensor(_rand(3, 3, seed=17) * 0.5, requires_grad=True)
    assert dg.autograd.gradcheck(dg.linalg.matrix_exp, [x])
    assert dg.autograd.gradgradcheck(dg.linalg.matrix_exp, [x])
    with pytest.raises(RuntimeError, match="square"):
        dg.linalg.matrix_exp(dg.ones(2, 3))


@pytest.mark.parametrize("driver", [None, "gelsy", "gelsd", "gelss", "gels"])
def test_lstsq_fields_like_torch(driver):
    A, tA = _pair(_rand(2, 6, 3, seed=18), grad=True)
    B, tB = _pair(_rand(2, 6, 2, seed=19), grad=True)
    got, want = dg.linalg.lstsq(A, B, driver=driver), torch.linalg.lstsq(tA, tB, driver=driver)
    assert type(got).__name__ == "linalg_lstsq"
    for g, w in zip(got, want):
        assert tuple(g.shape) == tuple(w.shape)
        assert_close(g, w, rtol=1e-9, atol=1e-10)
    got.solution.sum().backward()
    want.solution.sum().backward()
    assert_close(A.grad, tA.grad, rtol=1e-8)
    assert_close(B.grad, tB.grad, rtol=1e-8)


def test_lstsq_vector_rank_deficient_and_errors():
    A, tA = _pair(_rand(5, 3, seed=20))
    b, tb = _pair(_rand(5, seed=21))
    got, want = dg.linalg.lstsq(A, b, driver="gelsd"), torch.linalg.lstsq(tA, b=tb,
                                                                          driver="gelsd")
    for g, w in zip(got, want):
        assert_close(g, w)
    R = np.array([[1.0, 2.0], [2.0, 4.0], [3.0, 6.0]])
    d, t = _pair(R)
    rhs, trhs = _pair(_rand(3, 1, seed=22))
    got, want = dg.linalg.lstsq(d, rhs, driver="gelsd"), torch.linalg.lstsq(t, trhs,
                                                                            driver="gelsd")
    assert int(got.rank) == int(want.rank) == 1 and got.residuals.numel() == 0
    assert_close(got.solution, want.solution)
    with pytest.raises(RuntimeError, match="driver"):
        dg.linalg.lstsq(A, b, driver="bogus")
    with pytest.raises(RuntimeError, match="same dtype"):
        dg.linalg.lstsq(A, b.float())


def test_householder_product():
    A, tA = _pair(_rand(2, 5, 3, seed=23), grad=True)
    tau, ttau = _pair(_rand(2, 2, seed=24), grad=True)
    got, want = dg.linalg.householder_product(A, tau), torch.linalg.householder_product(tA,
                                                                                         ttau)
    assert_close(got, want)
    got.sum().backward()
    want.sum().backward()
    assert_close(A.grad, tA.grad)
    assert_close(tau.grad, ttau.grad)
    # the Q of geqrf's compact QR
    M = _rand(4, 3, seed=25)
    qr, tau_np = np.linalg.qr(M, mode="raw")
    Q = dg.linalg.householder_product(dg.tensor(qr.T.copy()), dg.tensor(tau_np))
    assert_close(Q, np.linalg.qr(M)[0])
    with pytest.raises(RuntimeError, match="greater than or equal"):
        dg.linalg.householder_product(dg.ones(2, 3), dg.ones(2))


def test_ex_variants():
    good = _wellcond(3, 3, seed=26)
    M = np.stack([good, np.zeros((3, 3)), np.diag([1.0, -1.0, 1.0])])
    d, t = _pair(M)
    L, info = dg.linalg.cholesky_ex(d[[0]] @ d[[0]].mT)
    tL, tinfo = torch.linalg.cholesky_ex(t[[0]] @ t[[0]].mT)
    assert_close(L, tL)
    np.testing.assert_array_equal(to_np(dg.linalg.cholesky_ex(d).info),
                                  torch.linalg.cholesky_ex(t).info.numpy())
    assert dg.linalg.cholesky_ex(d).info.dtype is dg.int32
    assert_close(dg.linalg.cholesky_ex(d[0] @ d[0].mT, upper=True).L,
                 torch.linalg.cholesky_ex(t[0] @ t[0].mT, upper=True).L)
    with pytest.raises(RuntimeError, match="not positive-definite"):
        dg.linalg.cholesky_ex(d, check_errors=True)
    inv, info = dg.linalg.inv_ex(d)
    tinv, tinfo = torch.linalg.inv_ex(t)
    np.testing.assert_array_equal(to_np(info), tinfo.numpy())
    assert_close(inv[0], tinv[0])
    assert_close(inv[2], tinv[2])
    with pytest.raises(RuntimeError, match="singular"):
        dg.linalg.inv_ex(d, check_errors=True)
    b, tb = _pair(_rand(3, seed=27))
    r, info = dg.linalg.solve_ex(d[0], b)
    tr, tinfo = torch.linalg.solve_ex(t[0], tb)
    assert_close(r, tr)
    assert int(info) == int(tinfo) == 0
    A, tA = _pair(good, grad=True)
    B, tB = _pair(_rand(3, 2, seed=28), grad=True)
    got, want = dg.linalg.solve_ex(A, B, left=False if False else True).result, \
        torch.linalg.solve_ex(tA, tB).result
    got.sum().backward()
    want.sum().backward()
    assert_close(A.grad, tA.grad)
    assert_close(B.grad, tB.grad)
    assert dg.autograd.gradcheck(lambda a: dg.linalg.inv_ex(a).inverse,
                                 [dg.tensor(good, requires_grad=True)])


def test_compiled_matches_eager():
    def fn(a, b):
        P, L, U = dg.linalg.lu(a)
        x = dg.linalg.solve_triangular(U, b, upper=True)
        return dg.linalg.matrix_exp(a * 0.1) @ x + dg.cholesky_solve(b, L) + P.sum()
    a = dg.tensor(_wellcond(3, 3, seed=29))
    b = dg.tensor(_rand(3, 2, seed=30))
    cf = dg.compile(fn, backend="llvm")
    want = fn(a, b)
    cf(a, b)
    assert_close(cf(a, b), want)
