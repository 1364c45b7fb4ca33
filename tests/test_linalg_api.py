"""dyngraph.linalg against torch.linalg and numpy: the namespace, norm dispatch, LAPACK ops on
batches and dtypes, errors, gradients (gradcheck in float64) and compiled vs eager."""

from __future__ import annotations

import math

import numpy as np
import pytest

import dyngraph as dg
from dyngraph.autograd import gradcheck
from dyngraph.ops import linalg_lapack as LL
from tests.conftest import TOL, assert_close, requires_torch, torch

DTYPES = {"float64": dg.float64, "float32": dg.float32}


def _wellcond(*shape, seed=0):
    n = shape[-1]
    rng = np.random.default_rng(seed)
    return rng.uniform(-1, 1, size=shape) + n * np.eye(n)


def test_namespace_is_torch_linalg():
    import dyngraph.ops.linalg as ops_linalg
    assert dg.linalg.__name__ == "dyngraph.linalg"
    assert dg.linalg.matmul is dg.matmul is ops_linalg.matmul
    for name in ["vector_norm", "matrix_norm", "norm", "det", "slogdet", "inv", "solve",
                 "cholesky", "matmul", "vecdot", "multi_dot", "diagonal", "cross",
                 "matrix_power"]:
        assert callable(getattr(dg.linalg, name)), name
    assert not hasattr(dg.linalg, "einsum")  # torch.linalg has no einsum


@requires_torch
@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("ord,dim,keepdim", [
    (2, None, False), (1, -1, True), (math.inf, (0, 2), False), (-math.inf, 1, False),
    (0, None, False), (3.5, (1, 2), True), (-1.5, 0, False)])
def test_vector_norm_matches_torch(dtype, ord, dim, keepdim):
    x = np.random.default_rng(1).uniform(-2, 2, size=(2, 3, 4))
    x[0, 1, 2] = 0.0
    got = dg.linalg.vector_norm(dg.tensor(x, dtype=DTYPES[dtype]), ord, dim, keepdim)
    want = torch.linalg.vector_norm(torch.tensor(x), ord, dim, keepdim)
    assert got.dtype is DTYPES[dtype] and tuple(got.shape) == tuple(want.shape)
    rtol, atol = TOL[dtype]
    assert_close(got, want, rtol=rtol, atol=atol)


@requires_torch
@pytest.mark.parametrize("ord", ["fro", 1, -1, math.inf, -math.inf])
@pytest.mark.parametrize("dim,keepdim", [((-2, -1), False), ((0, 2), True), ((2, 0), False)])
def test_matrix_norm_matches_torch(ord, dim, keepdim):
    a = np.random.default_rng(2).uniform(-2, 2, size=(3, 4, 5))
    got = dg.linalg.matrix_norm(dg.tensor(a), ord, dim, keepdim)
    want = torch.linalg.matrix_norm(torch.tensor(a), ord, dim, keepdim)
    assert tuple(got.shape) == tuple(want.shape)
    assert_close(got, want)
    g = np.random.default_rng(3).standard_normal(tuple(want.shape))
    x, tx = dg.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)
    dg.linalg.matrix_norm(x, ord, dim, keepdim).backward(dg.tensor(g))
    torch.linalg.matrix_norm(tx, ord, dim, keepdim).backward(torch.tensor(g))
    assert_close(x.grad, tx.grad)


@requires_torch
@pytest.mark.parametrize("shape,ord,dim", [
    ((3, 4, 2), None, None), ((5,), 3, None), ((3, 4), None, None), ((3, 4), 1, None),
    ((3, 4), "fro", None), ((2, 3, 4), None, 1), ((2, 3, 4), -math.inf, (2, 0)),
    ((2, 3, 4), 0.5, (1,))])
def test_norm_dispatch_matches_torch(shape, ord, dim):
    a = np.random.default_rng(4).uniform(0.5, 2, size=shape)
    assert_close(dg.linalg.norm(dg.tensor(a), ord, dim), torch.linalg.norm(torch.tensor(a),
                                                                          ord, dim))


def test_norm_errors_speak_pytorch():
    with pytest.raises(RuntimeError, match="must be 1D or 2D. Got 3D"):
        dg.linalg.norm(dg.ones(2, 2, 2), ord=1)
    with pytest.raises(RuntimeError, match="Expected a floating point"):
        dg.linalg.vector_norm(dg.tensor([1, 2]))
    with pytest.raises(RuntimeError, match="ord must be a number"):
        dg.linalg.vector_norm(dg.ones(3), "fro")
    with pytest.raises(RuntimeError, match="at least 2 dimensions"):
        dg.linalg.matrix_norm(dg.ones(3))


def test_vector_norm_dtype_and_zero_subgradient():
    x = dg.tensor([3, 4])
    r = dg.linalg.vector_norm(x, dtype=dg.float64)
    assert r.dtype is dg.float64 and r.item() == 5.0
    z = dg.zeros(3, dtype=dg.float64, requires_grad=True)
    dg.linalg.vector_norm(z).backward()
    np.testing.assert_array_equal(z.grad.numpy(), np.zeros(3))  # PyTorch's subgradient at 0


@requires_torch
def test_reexports_match_torch():
    rng = np.random.default_rng(5)
    a, b = rng.standard_normal((2, 4, 3)), rng.standard_normal((2, 4, 3))
    m1, m2, v = rng.standard_normal((2, 3)), rng.standard_normal((3, 4)), rng.standard_normal(4)
    assert_close(dg.linalg.vecdot(dg.tensor(a), dg.tensor(b), dim=1),
                 torch.linalg.vecdot(torch.tensor(a), torch.tensor(b), dim=1))
    assert_close(dg.linalg.multi_dot([dg.tensor(m1), dg.tensor(m2), dg.tensor(v)]),
                 torch.linalg.multi_dot([torch.tensor(m1), torch.tensor(m2), torch.tensor(v)]))
    assert_close(dg.linalg.diagonal(dg.tensor(a), offset=-1),
                 torch.linalg.diagonal(torch.tensor(a), offset=-1))
    assert_close(dg.linalg.cross(dg.tensor(a), dg.tensor(b)),
                 torch.linalg.cross(torch.tensor(a), torch.tensor(b)))


@requires_torch
@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("batch", [(), (3,), (2, 2), (0,)])
def test_lapack_ops_match_torch_and_numpy(dtype, batch):
    A = _wellcond(*batch, 4, 4, seed=6)
    B = np.random.default_rng(7).standard_normal(batch + (4, 2))
    S = A @ np.swapaxes(A, -1, -2)
    a, b, s = (dg.tensor(v, dtype=DTYPES[dtype]) for v in (A, B, S))
    ta, tb, ts = (torch.tensor(v).to(getattr(torch, dtype)) for v in (A, B, S))
    rtol, atol = (1e-10, 1e-12) if dtype == "float64" else (1e-4, 1e-5)
    pairs = [(dg.linalg.det(a), torch.linalg.det(ta), np.linalg.det(A)),
             (dg.linalg.inv(a), torch.linalg.inv(ta), np.linalg.inv(A)),
             (dg.linalg.solve(a, b), torch.linalg.solve(ta, tb), np.linalg.solve(A, B)),
             (dg.linalg.cholesky(s), torch.linalg.cholesky(ts), np.linalg.cholesky(S)),
             (dg.linalg.slogdet(a).logabsdet, torch.linalg.slogdet(ta).logabsdet,
              np.linalg.slogdet(A)[1]),
             (dg.linalg.slogdet(-a).sign, torch.linalg.slogdet(-ta).sign,
              np.linalg.slogdet(-A)[0]),
             (a.logdet(), ta.logdet(), np.log(np.linalg.det(A)))]
    for got, want, ref in pairs:
        assert got.dtype is DTYPES[dtype] and tuple(got.shape) == tuple(want.shape)
        assert_close(got, want, rtol=rtol, atol=atol)
        assert_close(got, ref, rtol=rtol, atol=atol)


@requires_torch
def test_top_level_functions_and_methods_match_torch():
    A = _wellcond(2, 3, 3, seed=8)
    A[1] = -A[1] @ A[1]  # one matrix with det < 0 (logdet gives nan there)
    a, ta = dg.tensor(A), torch.tensor(A)
    assert_close(LL.det(a), torch.det(ta))
    assert_close(a.det(), ta.det())
    assert_close(LL.logdet(a), torch.logdet(ta))
    assert_close(a.inverse(), ta.inverse())
    assert_close(LL.inverse(a), torch.inverse(ta))
    sign, logabs = a.slogdet()
    assert_close(sign, ta.slogdet()[0])
    assert_close(logabs, ta.slogdet()[1])
    S = A @ np.swapaxes(A, -1, -2)
    assert_close(dg.tensor(S).cholesky(), torch.linalg.cholesky(torch.tensor(S)))
    assert_close(LL.cholesky(dg.tensor(S), True), torch.linalg.cholesky(torch.tensor(S),
                                                                        upper=True))
    assert_close(a.matrix_power(3), ta.matrix_power(3))
    assert_close(LL.matrix_power(a, 0), torch.linalg.matrix_power(ta, 0))
    assert_close(LL.logdet(dg.zeros(2, 2, dtype=dg.float64)), np.array(-np.inf))


def test_lapack_errors():
    with pytest.raises(RuntimeError, match="square matrices, but they are 2 by 3"):
        dg.linalg.det(dg.ones(2, 3))
    with pytest.raises(RuntimeError, match="at least 2 dimensions"):
        dg.linalg.inv(dg.ones(3))
    with pytest.raises(RuntimeError, match="Expected a floating point tensor.*int64"):
        dg.linalg.inv(dg.tensor([[1, 0], [0, 1]]))
    with pytest.raises(RuntimeError, match="linalg.inv: The input matrix is singular"):
        dg.linalg.inv(dg.zeros(2, 2))
    with pytest.raises(RuntimeError, match="linalg.solve: The input matrix is singular"):
        dg.linalg.solve(dg.zeros(2, 2), dg.ones(2))
    with pytest.raises(RuntimeError, match="Incompatible shapes"):
        dg.linalg.solve(dg.eye(3), dg.ones(2, 2))
    with pytest.raises(RuntimeError, match="same dtype"):
        dg.linalg.solve(dg.eye(2), dg.ones(2, dtype=dg.float64))
    with pytest.raises(RuntimeError, match="not positive-definite"):
        dg.linalg.cholesky(-dg.eye(2))
    # det and slogdet of a singular matrix are 0 and (0, -inf), not errors, as in PyTorch
    assert dg.linalg.det(dg.zeros(2, 2)).item() == 0.0
    sign, logabs = dg.linalg.slogdet(dg.zeros(2, 2))
    assert sign.item() == 0.0 and logabs.item() == -math.inf


@pytest.mark.parametrize("fn", [
    lambda a, b: dg.linalg.det(a),
    lambda a, b: dg.linalg.slogdet(a).logabsdet,
    lambda a, b: dg.linalg.inv(a),
    lambda a, b: dg.linalg.solve(a, b),
    lambda a, b: dg.linalg.solve(a, b[..., 0]),
    lambda a, b: dg.linalg.solve(a, b.mT, left=False),
    lambda a, b: dg.linalg.cholesky(a @ a.mT + 0.5 * dg.eye(3, dtype=a.dtype)),
    lambda a, b: dg.linalg.cholesky(a @ a.mT + 0.5 * dg.eye(3, dtype=a.dtype), upper=True),
    lambda a, b: dg.linalg.matrix_power(a, -2),
    lambda a, b: dg.linalg.norm(b, dim=(1, 2)) + dg.linalg.vector_norm(a, 1.5, dim=(-2, -1)),
], ids=["det", "slogdet", "inv", "solve", "solve_vector", "solve_right", "cholesky",
        "cholesky_upper", "matrix_power", "norms"])
def test_gradcheck_float64(fn):
    a = dg.tensor(_wellcond(2, 3, 3, seed=9), requires_grad=True)
    b = dg.tensor(np.random.default_rng(10).standard_normal((2, 3, 2)), requires_grad=True)
    assert gradcheck(fn, [a, b], eps=1e-6, atol=1e-6, rtol=1e-4)


def test_second_order_gradients():
    # gradient rules are written in dyngraph ops, so they differentiate again
    a = dg.tensor(_wellcond(3, 3, seed=11), requires_grad=True)
    assert dg.autograd.gradgradcheck(lambda x: dg.linalg.det(x), [a])
    assert dg.autograd.gradgradcheck(lambda x: dg.linalg.inv(x), [a])


def test_compiled_matches_eager_forward_and_backward():
    def fn(x, a):
        return dg.linalg.vector_norm(x, dim=-1).sum() * dg.linalg.det(a).sum()

    compiled = dg.compile(fn, backend="llvm")
    X = np.random.default_rng(12).standard_normal((4, 3))
    A = _wellcond(2, 3, 3, seed=13)
    xe, ae = dg.tensor(X, requires_grad=True), dg.tensor(A, requires_grad=True)
    xc, ac = dg.tensor(X, requires_grad=True), dg.tensor(A, requires_grad=True)
    eager, comp = fn(xe, ae), compiled(xc, ac)
    assert_close(comp, eager)
    eager.backward()
    comp.backward()
    assert_close(xc.grad, xe.grad)
    assert_close(ac.grad, ae.grad)


def test_lapack_errors_makes_cupy_raise(monkeypatch):
    """cupy's linalg returns garbage for a singular or indefinite input unless
    `cupyx.errstate(linalg="raise")` is set: inv, solve, cholesky and cholesky_ex run under it
    (checked here with a stand-in cupyx; no GPU on this machine)."""
    import contextlib
    import sys
    import types

    calls = []
    stub = types.SimpleNamespace(errstate=lambda **kw: calls.append(kw) or
                                 contextlib.nullcontext())
    monkeypatch.setitem(sys.modules, "cupyx", stub)
    with LL.lapack_errors(np):
        pass
    assert calls == []
    with LL.lapack_errors(types.SimpleNamespace()):   # any other array module
        pass
    assert calls == [{"linalg": "raise"}]
