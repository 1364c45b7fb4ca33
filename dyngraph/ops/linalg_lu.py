"""LU factorization: lu_factor (LU and pivots packed into one array, as linalg_decomp packs
svd), lu_permutation (the permutation matrix of LAPACK pivots), and the composites lu_unpack,
lu_solve, linalg.lu, linalg.lu_solve and the old torch.lu, batched over leading dims.

lu_factor's gradient is PyTorch's linalg_lu_backward (square, wide and tall cases), written in
dyngraph ops. The eager rule calls scipy.linalg.lu_factor on the CPU where it is installed (one
LAPACK call per matrix), and otherwise, and on cupy, an elimination loop written against `xp`
(one vectorised step per column, batched over matrices). Split from linalg_extra.py, whose
triangular solves the LU solves use.
"""

from __future__ import annotations

import warnings
from collections import namedtuple

import numpy as np

from ._api import Tensor, apply, register_method, write_out
from .elementwise import where
from .linalg_decomp import _pack, _unpack
from .linalg_extra import (_check_batch, _check_rhs, _check_same_dtype, _flat_batch,
                           _scipy_linalg, solve_triangular_op)
from .linalg_lapack import LAPACK, check_float_matrix, check_square_float
from .registry import composite, defop, nondiff

__all__ = ["lu", "lu_solve", "lu_unpack"]

LUFactorResult = namedtuple("linalg_lu_factor", ["LU", "pivots"])
LUFactorExResult = namedtuple("linalg_lu_factor_ex", ["LU", "pivots", "info"])
LUResult = namedtuple("linalg_lu", ["P", "L", "U"])
LUUnpackResult = namedtuple("lu_unpack", ["P", "L", "U"])


def _lu_eliminate(xp, a):
    """LU with partial pivoting of (B, m, n) a by Gaussian elimination, one column per step.
    Returns LU packed as LAPACK's getrf packs it and 1-based pivots (B, k)."""
    lu = a.copy()
    nb, m, n = lu.shape
    k = min(m, n)
    idx = xp.arange(nb)
    piv = xp.zeros((nb, k), dtype=np.int64)
    for j in range(k):
        p = xp.argmax(xp.abs(lu[:, j:, j]), axis=1) + j
        piv[:, j] = p
        row_j, row_p = lu[idx, j, :].copy(), lu[idx, p, :].copy()
        lu[idx, j, :], lu[idx, p, :] = row_p, row_j
        d = lu[:, j, j][:, None]
        below = lu[:, j + 1:, j]
        # a zero pivot (the column is zero below it too): no scaling, as getrf does
        mult = xp.where(d != 0, below / xp.where(d != 0, d, 1), below)
        lu[:, j + 1:, j] = mult
        lu[:, j + 1:, j + 1:] -= mult[:, :, None] * lu[:, j, None, j + 1:]
    return lu, piv + 1


def _lu_eager(xp, a):
    """(LU, 1-based pivots) of (..., m, n) a."""
    batch, (a3,) = _flat_batch(xp, a)
    m, n = a.shape[-2:]
    sl = _scipy_linalg(xp) if xp is np else None
    if sl is None or a3.shape[0] == 0 or min(m, n) == 0:
        lu, piv = _lu_eliminate(xp, a3)
    else:
        with warnings.catch_warnings():   # scipy warns about exactly singular matrices
            warnings.simplefilter("ignore")
            parts = [sl.lu_factor(a3[i], check_finite=False) for i in range(a3.shape[0])]
        lu = np.stack([p[0] for p in parts]).astype(a.dtype, copy=False)
        piv = np.stack([p[1] for p in parts]) + 1
    k = min(m, n)
    return lu.reshape(batch + (m, n)), piv.reshape(batch + (k,))


# ----------------------------------------------------------------------------------------------
# LU
# ----------------------------------------------------------------------------------------------

@defop("lu_factor", LAPACK, dtype_rule="none", save=("output",),
       doc="LU (..., m, n) and the 1-based pivots (as floats) packed into one array")
def lu_factor_op(xp, a, shape=()):
    lu, piv = _lu_eager(xp, a)
    return _pack(xp, a.shape[:-2], lu, piv.astype(a.dtype))


def _lu_shapes(m: int, n: int) -> list[tuple]:
    return [(m, n), (min(m, n),)]


@nondiff("lu_permutation", LAPACK, "a permutation matrix, piecewise constant",
         dtype_rule="none")
def lu_permutation_op(xp, piv, m=0, dtype="float32"):
    """P (..., m, m) with A = P L U from LAPACK's 1-based pivots (..., k)."""
    batch, k = piv.shape[:-1], piv.shape[-1]
    p = piv.reshape(-1, k).astype(np.int64) - 1
    nb = p.shape[0]
    idx = xp.arange(nb)
    rows = xp.broadcast_to(xp.arange(m), (nb, m)).copy()
    for j in range(k):   # the row swaps, in getrf's order
        rj, rp = rows[idx, j].copy(), rows[idx, p[:, j]].copy()
        rows[idx, j], rows[idx, p[:, j]] = rp, rj
    P = (xp.arange(m)[:, None] == rows[:, None, :]).astype(dtype)
    return P.reshape(batch + (m, m))


def _permutation(pivots: Tensor, m: int, like: Tensor) -> Tensor:
    return apply(lu_permutation_op, pivots, m=m, dtype=like.dtype.name)


def _eye(m: int, n: int, like: Tensor) -> Tensor:
    from .creation import eye
    return eye(m, n, dtype=like.dtype, device=like.device)


def _lu_backward(gL: Tensor, gU: Tensor, P: Tensor, L: Tensor, U: Tensor) -> Tensor:
    """PyTorch's linalg_lu_backward for A = P L U (L unit lower m x k, U upper k x n)."""
    m, n, k = L.shape[-2], U.shape[-1], L.shape[-1]

    def tri(A, B, upper, left=True, unit=False):
        if left:
            return apply(solve_triangular_op, A, B, upper=upper, unitriangular=unit)
        return apply(solve_triangular_op, A.mT, B.mT, upper=not upper, unitriangular=unit).mT

    if m == n:
        gA = (L.mT @ gL).tril(-1) + (gU @ U.mT).triu()
        gA = tri(U.mT, gA, upper=False, left=False)
        gA = tri(L.mT, gA, upper=True, unit=True)
    elif m < n:   # wide: U = [U1 U2]
        from .shape import cat
        U1 = U[..., :, :k]
        gA = (L.mT @ gL - gU.triu() @ U.mT).tril(-1)
        gA = tri(U1.mT, gA, upper=False, left=False)
        gA = cat([gA + gU[..., :, :k].triu(), gU[..., :, k:]], dim=-1)
        gA = tri(L.mT, gA, upper=True, unit=True)
    else:         # tall: L = [L1; L2]
        from .shape import cat
        L1 = L[..., :k, :]
        gA = (gU @ U.mT - L.mT @ gL.tril(-1)).triu()
        gA = tri(L1.mT, gA, upper=True, unit=True)
        gA = cat([gA + gL[..., :k, :].tril(-1), gL[..., k:, :]], dim=-2)
        gA = tri(U.mT, gA, upper=False, left=False)
    return P @ gA


@lu_factor_op.def_grad
def _(ctx, g):
    # The packed LU holds L's strict lower part and U: gL and gU are those parts of g
    m, n = ctx.attrs["shape"]
    k = min(m, n)
    gLU, _ = _unpack(g, _lu_shapes(m, n))
    LU, piv = _unpack(ctx.out, _lu_shapes(m, n))
    L = LU[..., :, :k].tril(-1) + _eye(m, k, LU)
    U = LU[..., :k, :].triu()
    P = _permutation(piv, m, LU)
    return (_lu_backward(gLU[..., :, :k].tril(-1), gLU[..., :k, :].triu(), P, L, U),)


def _lu_factor(name: str, A: Tensor, pivot: bool) -> tuple[Tensor, Tensor]:
    check_float_matrix(name, A)
    if not pivot:
        raise RuntimeError(f"{name}: LU without pivoting is not implemented on the CPU "
                           f"(pass pivot=True)")
    m, n = A.shape[-2:]
    LU, piv = _unpack(apply(lu_factor_op, A, shape=(m, n)), _lu_shapes(m, n))
    from .. import _dtype as D
    return LU, piv.detach().to(D.int32)


def _lu_info(LU: Tensor) -> Tensor:
    """LAPACK's info: the 1-based index of the first zero on U's diagonal, 0 where none."""
    from .. import _dtype as D
    zero = (LU.detach().diagonal(dim1=-2, dim2=-1) == 0).to(D.int32)
    if zero.shape[-1] == 0:
        return zero.sum(-1)
    first = zero.argmax(-1).to(D.int32) + 1
    return where(zero.amax(-1) > 0, first, 0).to(D.int32)


def lu_factor_ex(A: Tensor, *, pivot: bool = True, check_errors: bool = False,
                 out=None) -> LUFactorExResult:
    """(LU, pivots, info): the packed LU factorization of A, as LAPACK's getrf gives it.

    info is 0, or the 1-based index i of the first zero U[i-1, i-1] (A is singular).

    Example:
        >>> LU, piv, info = dyngraph.linalg.lu_factor_ex(dyngraph.tensor([[1., 2.], [3., 4.]]))
        >>> piv, info
        (tensor([2, 2], dtype=dyngraph.int32), tensor(0, dtype=dyngraph.int32))
    """
    LU, piv = _lu_factor("linalg.lu_factor_ex", A, pivot)
    info = _lu_info(LU)
    if check_errors:
        _raise_singular("linalg.lu_factor_ex", info)
    if out is not None:
        return LUFactorExResult(*(write_out(r, o, "linalg.lu_factor_ex")
                                  for r, o in zip((LU, piv, info), out)))
    return LUFactorExResult(LU, piv, info)


def _raise_singular(name: str, info: Tensor) -> None:
    bad = info.flatten()
    bad = bad[bad > 0]
    if bad.numel():
        i = int(bad[0]) - 1
        raise RuntimeError(f"{name}: U[{i},{i}] is zero and using it on lu_solve would result "
                           f"in a division by zero. If you still want to perform the "
                           f"factorization, consider calling linalg.lu(A, pivot) or "
                           f"linalg.lu_factor_ex(A, pivot)")


def lu_factor(A: Tensor, *, pivot: bool = True, out=None) -> LUFactorResult:
    """(LU, pivots): the LU factorization with partial pivoting, packed as LAPACK's getrf.

    L's strict lower part and U share LU; pivots are 1-based int32 row swaps. Raises for a
    singular A (use lu_factor_ex for an info tensor instead).

    Example:
        >>> LU, piv = dyngraph.linalg.lu_factor(dyngraph.tensor([[1., 2.], [3., 4.]]))
        >>> LU
        tensor([[3.0000, 4.0000],
                [0.3333, 0.6667]])
    """
    LU, piv = _lu_factor("linalg.lu_factor", A, pivot)
    _raise_singular("linalg.lu_factor", _lu_info(LU))
    if out is not None:
        return LUFactorResult(write_out(LU, out[0], "linalg.lu_factor"),
                              write_out(piv, out[1], "linalg.lu_factor"))
    return LUFactorResult(LU, piv)


@composite("lu_unpack", "tril, triu, add, lu_permutation")
def lu_unpack(LU_data: Tensor, LU_pivots: Tensor, unpack_data: bool = True,
              unpack_pivots: bool = True, *, out=None) -> LUUnpackResult:
    """(P, L, U) from a packed LU factorization (lu_factor's LU and pivots): A = P L U.

    Example:
        >>> P, L, U = dyngraph.lu_unpack(*dyngraph.linalg.lu_factor(dyngraph.eye(2)))
        >>> P
        tensor([[1., 0.],
                [0., 1.]])
    """
    check_float_matrix("lu_unpack", LU_data)
    m, n = LU_data.shape[-2:]
    k = min(m, n)
    if tuple(LU_pivots.shape) != tuple(LU_data.shape[:-2]) + (k,):
        raise RuntimeError(f"lu_unpack: Expected LU_pivots of shape "
                           f"{list(LU_data.shape[:-2]) + [k]} for LU_data of shape "
                           f"{list(LU_data.shape)}, but got {list(LU_pivots.shape)}")
    if LU_pivots.dtype.is_floating_point:
        raise RuntimeError(f"lu_unpack: LU_pivots is expected to be an int32 tensor, got "
                           f"{LU_pivots.dtype.name}")
    from .creation import empty
    none = empty(0, dtype=LU_data.dtype, device=LU_data.device)
    L = U = P = none
    if unpack_data:
        L = LU_data[..., :, :k].tril(-1) + _eye(m, k, LU_data)
        U = LU_data[..., :k, :].triu()
    if unpack_pivots:
        P = _permutation(LU_pivots, m, LU_data)
    if out is not None:
        return LUUnpackResult(*(write_out(r, o, "lu_unpack") for r, o in zip((P, L, U), out)))
    return LUUnpackResult(P, L, U)


@composite("linalg.lu", "lu_factor, lu_unpack")
def linalg_lu(A: Tensor, *, pivot: bool = True, out=None) -> LUResult:
    """(P, L, U) with A = P L U: P a permutation, L unit lower (m x k), U upper (k x n).

    Example:
        >>> P, L, U = dyngraph.linalg.lu(dyngraph.tensor([[1., 2.], [3., 4.]]))
        >>> U
        tensor([[3.0000, 4.0000],
                [0.0000, 0.6667]])
    """
    LU, piv = _lu_factor("linalg.lu", A, pivot)
    P, L, U = lu_unpack(LU, piv)
    if out is not None:
        return LUResult(*(write_out(r, o, "linalg.lu") for r, o in zip((P, L, U), out)))
    return LUResult(P, L, U)


@composite("lu", "lu_factor")
def lu(A: Tensor, pivot: bool = True, get_infos: bool = False, out=None):
    """PyTorch's older LU: (LU, pivots), or (LU, pivots, infos) with get_infos.

    Prefer dyngraph.linalg.lu_factor / lu_factor_ex.
    """
    LU, piv, info = lu_factor_ex(A, pivot=pivot, check_errors=not get_infos)
    r = (LU, piv, info) if get_infos else (LU, piv)
    if out is not None:
        return tuple(write_out(x, o, "lu") for x, o in zip(r, out))
    return r


@composite("linalg.lu_solve", "lu_permutation, matmul, solve_triangular")
def linalg_lu_solve(LU: Tensor, pivots: Tensor, B: Tensor, *, left: bool = True,
                    adjoint: bool = False, out=None) -> Tensor:
    """The solution X of A X = B (or X A = B, or with A^T when `adjoint`) from A's LU.

    Args:
        LU, pivots: lu_factor(A)'s results, A square (..., n, n).
        B: (..., n, k) right-hand sides ((..., k, n) when not left), batch dims broadcasting.
        left: solve A X = B (True) or X A = B (False).
        adjoint: solve with A^T instead of A.

    Example:
        >>> A = dyngraph.tensor([[1., 2.], [3., 4.]])
        >>> LU, piv = dyngraph.linalg.lu_factor(A)
        >>> dyngraph.linalg.lu_solve(LU, piv, dyngraph.tensor([[3.], [7.]]))
        tensor([[1.0000],
                [1.0000]])
    """
    name = "linalg.lu_solve"
    check_square_float(name, LU)
    _check_same_dtype(name, LU, B, "LU", "B")
    _check_rhs(name, LU, B, left)
    if tuple(pivots.shape) != tuple(LU.shape[:-1]):
        raise RuntimeError(f"{name}: Expected pivots of shape {list(LU.shape[:-1])}, but got "
                           f"{list(pivots.shape)}")
    _check_batch(name, LU, B)
    if not left:   # X A = B  <=>  A^T X^T = B^T
        return write_out(linalg_lu_solve(LU, pivots, B.mT, adjoint=not adjoint).mT, out, name)
    P = _permutation(pivots, LU.shape[-1], LU)

    def tri(M, R, upper, unit=False):
        return apply(solve_triangular_op, M, R, upper=upper, unitriangular=unit)
    if adjoint:    # A^T = U^T L^T P^T:  X = P L^-T U^-T B
        X = P @ tri(LU.mT, tri(LU.mT, B, upper=False), upper=True, unit=True)
    else:          # A = P L U:  X = U^-1 L^-1 P^T B
        X = tri(LU, tri(LU, P.mT @ B, upper=False, unit=True), upper=True)
    return write_out(X, out, name)


def lu_solve(b: Tensor, LU_data: Tensor, LU_pivots: Tensor, *, out=None) -> Tensor:
    """PyTorch's older argument order for linalg.lu_solve(LU_data, LU_pivots, b).

    Example:
        >>> LU, piv = dyngraph.linalg.lu_factor(dyngraph.tensor([[2., 0.], [0., 4.]]))
        >>> dyngraph.lu_solve(dyngraph.tensor([[2.], [4.]]), LU, piv)
        tensor([[1.],
                [1.]])
    """
    return linalg_lu_solve(LU_data, LU_pivots, b, out=out)


@register_method("lu")
def _lu_method(self, pivot: bool = True, get_infos: bool = False):
    return lu(self, pivot, get_infos)


@register_method("lu_solve")
def _lu_solve_method(self, LU_data: Tensor, LU_pivots: Tensor) -> Tensor:
    return lu_solve(self, LU_data, LU_pivots)
