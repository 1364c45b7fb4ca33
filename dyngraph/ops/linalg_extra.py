"""Triangular solves, Cholesky solves, cholesky_ex and the matrix exponential, batched over
leading dims (LU is in linalg_lu.py).

Primitives: solve_triangular, cholesky_solve, cholesky_inverse, cholesky_ex and cholesky_info,
and matrix_exp. Their gradient rules are PyTorch's (linalg_solve_triangular_backward,
cholesky_solve_backward, cholesky_inverse_backward, the block-matrix rule of matrix_exp),
written in dyngraph ops. triangular_solve is a composite.

Eager rules use scipy.linalg for triangular solves on the CPU where it is installed (one LAPACK
call per matrix), and otherwise, and on cupy, a substitution loop written against `xp` (one
vectorised step per row, batched over matrices). The public torch.linalg names are re-exported
by dyngraph/linalg.py.
"""

from __future__ import annotations

import warnings
from collections import namedtuple

import numpy as np

from ._api import Tensor, apply, register_method, write_out
from .linalg_lapack import LAPACK, check_square_float, cholesky_op, lapack_errors
from .registry import composite, defop, nondiff

__all__ = ["triangular_solve", "cholesky_solve", "cholesky_inverse", "matrix_exp"]

TriangularSolveResult = namedtuple("triangular_solve", ["solution", "cloned_coefficient"])
CholeskyExResult = namedtuple("linalg_cholesky_ex", ["L", "info"])


# ----------------------------------------------------------------------------------------------
# Eager helpers (numpy or cupy)
# ----------------------------------------------------------------------------------------------

def _scipy_linalg(xp):
    """scipy.linalg (cupyx.scipy.linalg for cupy), or None where it is missing."""
    try:
        if xp is np:
            import scipy.linalg as sl
        else:
            import cupyx.scipy.linalg as sl
    except ImportError:
        return None
    return sl


def _flat_batch(xp, *arrays):
    """The arrays broadcast over their batch dims and reshaped to (B, rows, cols)."""
    batch = np.broadcast_shapes(*(a.shape[:-2] for a in arrays))
    nb = int(np.prod(batch, dtype=np.int64))
    flat = [xp.ascontiguousarray(xp.broadcast_to(a, batch + a.shape[-2:]))
            .reshape((nb,) + a.shape[-2:]) for a in arrays]
    return batch, flat


def _substitute(xp, a, b, upper: bool, unit: bool):
    """X with tri(A) X = B by forward/back substitution, one row per step ((B, n, n), (B, n, k));
    a zero pivot gives inf/NaN, as LAPACK's trtrs does in PyTorch."""
    n = a.shape[-1]
    x = xp.zeros(b.shape, dtype=b.dtype)
    for i in (range(n - 1, -1, -1) if upper else range(n)):
        done = slice(i + 1, n) if upper else slice(0, i)
        r = b[:, i, :] - xp.einsum("bj,bjk->bk", a[:, i, done], x[:, done, :])
        x[:, i, :] = r if unit else r / a[:, i, i][:, None]
    return x


def _tri_solve(xp, a, b, upper: bool, unit: bool):
    """X with tri(A) X = B for (..., n, n) a and (..., n, k) b with broadcasting batch dims."""
    batch, (a3, b3) = _flat_batch(xp, a, b)
    sl = _scipy_linalg(xp)
    if sl is None or a3.shape[0] == 0:
        return _substitute(xp, a3, b3, upper, unit).reshape(batch + b.shape[-2:])
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            x = xp.stack([sl.solve_triangular(a3[i], b3[i], lower=not upper,
                                              unit_diagonal=unit, check_finite=False)
                          for i in range(a3.shape[0])])
    except np.linalg.LinAlgError:   # a zero pivot: inf/NaN rather than an error
        x = _substitute(xp, a3, b3, upper, unit)
    return x.reshape(batch + b.shape[-2:]).astype(b.dtype, copy=False)


# ----------------------------------------------------------------------------------------------
# Triangular solve
# ----------------------------------------------------------------------------------------------

@defop("solve_triangular", LAPACK, dtype_rule="none", save=("inputs", "output"),
       doc="X with tri(A) X = B; only A's upper or lower triangle is read")
def solve_triangular_op(xp, a, b, upper=False, unitriangular=False):
    return _tri_solve(xp, a, b, upper, unitriangular)


@solve_triangular_op.def_grad
def _(ctx, g):
    # PyTorch's rule: gB = tri(A)^-T G, gA = -gB X^T restricted to the triangle that was read
    a, b = ctx.inputs
    upper, unit = ctx.attrs.get("upper", False), ctx.attrs.get("unitriangular", False)
    gb = apply(solve_triangular_op, a.mT, g, upper=not upper, unitriangular=unit)
    ga = None
    if a._rg:
        ga = -(gb @ ctx.out.mT)
        ga = ga.triu(int(unit)) if upper else ga.tril(-int(unit))
    return ga, (gb if b._rg else None)


def _check_same_dtype(name: str, A: Tensor, B: Tensor, a: str = "A", b: str = "B") -> None:
    if not isinstance(B, Tensor):
        raise TypeError(f"{name}(): argument '{b}' must be Tensor, not {type(B).__name__}")
    if B.dtype is not A.dtype:
        raise RuntimeError(f"{name}: Expected {a} and {b} to have the same dtype, but found "
                           f"{a} of type {A.dtype.name} and {b} of type {B.dtype.name} instead")


def _check_rhs(name: str, A: Tensor, B: Tensor, left: bool, hint: str = "") -> None:
    """B is a matrix (or a batch) whose rows (left) or columns match the square A's order."""
    if B.ndim < 2:
        raise RuntimeError(f"{name}: The input tensor B must have at least 2 dimensions (got "
                           f"shape {list(B.shape)}){hint}")
    if (B.shape[-2] if left else B.shape[-1]) != A.shape[-1]:
        raise RuntimeError(f"{name}: Incompatible shapes of A and B for the equation "
                           f"{'AX = B' if left else 'XA = B'} ({list(A.shape[-2:])} and "
                           f"{list(B.shape[-2:])})")


def _check_batch(name: str, A: Tensor, B: Tensor) -> None:
    try:
        np.broadcast_shapes(tuple(A.shape[:-2]), tuple(B.shape[:-2]))
    except ValueError:
        raise RuntimeError(f"{name}: the batch dims of A {list(A.shape)} and B {list(B.shape)} "
                           f"cannot be broadcast together") from None


def solve_triangular(A: Tensor, B: Tensor, *, upper: bool, left: bool = True,
                     unitriangular: bool = False, out=None) -> Tensor:
    """The solution X of A X = B (left=True) or X A = B for a triangular A.

    Only the upper (upper=True) or lower triangle of A is read; with unitriangular, its
    diagonal is taken to be ones. A zero on the diagonal gives inf/NaN, not an error.

    Args:
        A: (..., n, n) triangular matrices.
        B: (..., n, k) matrices (left) or (..., k, n) (right), batch dims broadcasting.
        upper: whether A is upper (True) or lower (False) triangular.
        left: solve A X = B (True) or X A = B (False).
        unitriangular: assume A's diagonal is all ones.

    Example:
        >>> A = dyngraph.tensor([[2., 1.], [0., 4.]])
        >>> dyngraph.linalg.solve_triangular(A, dyngraph.tensor([[3.], [4.]]), upper=True)
        tensor([[1.],
                [1.]])
    """
    name = "linalg.solve_triangular"
    check_square_float(name, A)
    _check_same_dtype(name, A, B)
    _check_rhs(name, A, B, left, "; use B.unsqueeze(-1) for a vector")
    _check_batch(name, A, B)
    if left:
        X = apply(solve_triangular_op, A, B, upper=bool(upper), unitriangular=unitriangular)
    else:   # X A = B  <=>  A^T X^T = B^T, and A^T is triangular the other way
        X = apply(solve_triangular_op, A.mT, B.mT, upper=not upper,
                  unitriangular=unitriangular).mT
    return write_out(X, out, name)


@composite("triangular_solve", "solve_triangular, clone")
def triangular_solve(input: Tensor, A: Tensor, upper: bool = True, transpose: bool = False,
                     unitriangular: bool = False, *, out=None) -> TriangularSolveResult:
    """PyTorch's older triangular solve: (X, A.clone()) with op(A) X = input.

    op(A) is A, or A^T when `transpose`. Prefer dyngraph.linalg.solve_triangular.

    Example:
        >>> A = dyngraph.tensor([[2., 1.], [0., 4.]])
        >>> dyngraph.triangular_solve(dyngraph.tensor([[3.], [4.]]), A).solution
        tensor([[1.],
                [1.]])
    """
    check_square_float("triangular_solve", A)
    _check_same_dtype("triangular_solve", A, input, "A", "self")
    if input.ndim < 2 or input.shape[-2] != A.shape[-1]:
        raise RuntimeError(f"triangular_solve: Incompatible matrix sizes for A and self: A is "
                           f"{list(A.shape)} and self is {list(input.shape)}")
    _check_batch("triangular_solve", A, input)
    M = A.mT if transpose else A
    X = apply(solve_triangular_op, M, input, upper=bool(upper) != bool(transpose),
              unitriangular=unitriangular)
    if out is not None:
        return TriangularSolveResult(write_out(X, out[0], "triangular_solve"),
                                     write_out(A.clone(), out[1], "triangular_solve"))
    return TriangularSolveResult(X, A.clone())


# ----------------------------------------------------------------------------------------------
# Cholesky solve and inverse
# ----------------------------------------------------------------------------------------------

def _cholesky_solve_eager(xp, b, c, upper):
    if upper:    # A = U^T U
        y = _tri_solve(xp, xp.swapaxes(c, -1, -2), b, False, False)
        return _tri_solve(xp, c, y, True, False)
    y = _tri_solve(xp, c, b, False, False)
    return _tri_solve(xp, xp.swapaxes(c, -1, -2), y, True, False)


@defop("cholesky_solve", LAPACK, dtype_rule="none", save=("inputs", "output"),
       doc="X with A X = B, given the Cholesky factor of A")
def cholesky_solve_op(xp, b, c, upper=False):
    return _cholesky_solve_eager(xp, b, c, upper)


@cholesky_solve_op.def_grad
def _(ctx, g):
    # PyTorch's cholesky_solve_backward: gB = A^-1 G; gC = -(gB X^T + X gB^T) C (or C (...) when
    # upper). Like PyTorch's, it is not restricted to the triangle that was read.
    b, c = ctx.inputs
    upper = ctx.attrs.get("upper", False)
    gb = apply(cholesky_solve_op, g, c, upper=upper)
    gc = None
    if c._rg:
        common = gb @ ctx.out.mT
        common = common + common.mT
        gc = -(c @ common) if upper else -(common @ c)
    return (gb if b._rg else None), gc


@composite("cholesky_solve", "cholesky_solve (primitive)")
def cholesky_solve(input: Tensor, input2: Tensor, upper: bool = False, *, out=None) -> Tensor:
    """The solution X of A X = input, given the Cholesky factor `input2` of A.

    Args:
        input: (..., n, k) right-hand sides.
        input2: (..., n, n) lower factor L (A = L L^T) or, with upper, U (A = U^T U).
        upper: whether input2 is upper triangular.

    Example:
        >>> L = dyngraph.tensor([[2., 0.], [1., 1.]])   # A = [[4, 2], [2, 2]]
        >>> dyngraph.cholesky_solve(dyngraph.tensor([[6.], [4.]]), L)
        tensor([[1.],
                [1.]])
    """
    check_square_float("cholesky_solve", input2)
    _check_same_dtype("cholesky_solve", input2, input, "input2", "self")
    if input.ndim < 2 or input.shape[-2] != input2.shape[-1]:
        raise RuntimeError(f"cholesky_solve: Incompatible matrix sizes for A and self: A is "
                           f"{list(input2.shape)} and self is {list(input.shape)}")
    _check_batch("cholesky_solve", input2, input)
    return write_out(apply(cholesky_solve_op, input, input2, upper=bool(upper)), out,
                     "cholesky_solve")


@defop("cholesky_inverse", LAPACK, dtype_rule="none", save=("inputs", "output"),
       doc="the inverse of A, given its Cholesky factor")
def cholesky_inverse_op(xp, c, upper=False):
    eye = xp.broadcast_to(xp.eye(c.shape[-1], dtype=c.dtype), c.shape)
    return _cholesky_solve_eager(xp, eye, c, upper)


@cholesky_inverse_op.def_grad
def _(ctx, g):
    # PyTorch's cholesky_inverse_backward: gC = -(A^-1 (G + G^T) A^-1) C (or C (...) when upper)
    (c,) = ctx.inputs
    inv = ctx.out
    common = inv @ (g + g.mT) @ inv
    return (-(c @ common) if ctx.attrs.get("upper", False) else -(common @ c),)


@composite("cholesky_inverse", "cholesky_inverse (primitive)")
def cholesky_inverse(input: Tensor, upper: bool = False, *, out=None) -> Tensor:
    """The inverse of A = L L^T (or U^T U with upper) from its Cholesky factor.

    Example:
        >>> dyngraph.cholesky_inverse(dyngraph.tensor([[2., 0.], [0., 1.]]))
        tensor([[0.2500, 0.0000],
                [0.0000, 1.0000]])
    """
    check_square_float("cholesky_inverse", input)
    return write_out(apply(cholesky_inverse_op, input, upper=bool(upper)), out,
                     "cholesky_inverse")


register_method("cholesky_solve")(cholesky_solve)
register_method("cholesky_inverse")(cholesky_inverse)
register_method("triangular_solve")(triangular_solve)


# ----------------------------------------------------------------------------------------------
# cholesky_ex
# ----------------------------------------------------------------------------------------------

def _cholesky_with_info(xp, a):
    """(L, info) for (..., n, n) a: info is 0, or the order of the first leading minor that is
    not positive-definite (L then holds the columns factored before it, zeros after)."""
    try:
        with lapack_errors(xp):
            return xp.linalg.cholesky(a), xp.zeros(a.shape[:-2], dtype=np.int32)
    except np.linalg.LinAlgError:
        pass
    batch, (a3,) = _flat_batch(xp, a)
    nb, n = a3.shape[0], a3.shape[-1]
    L = xp.zeros_like(a3)
    info = xp.zeros(nb, dtype=np.int32)
    for j in range(n):   # column Cholesky, batched; a failed matrix stops updating
        ok = info == 0
        d = a3[:, j, j] - xp.einsum("bk,bk->b", L[:, j, :j], L[:, j, :j])
        bad = ok & ~(d > 0)
        info = xp.where(bad, j + 1, info)
        ok = ok & ~bad
        ljj = xp.sqrt(xp.where(ok, d, 1))
        col = (a3[:, j + 1:, j] - xp.einsum("bik,bk->bi", L[:, j + 1:, :j], L[:, j, :j]))
        L[:, j, j] = xp.where(ok, ljj, 0)
        L[:, j + 1:, j] = xp.where(ok[:, None], col / ljj[:, None], 0)
    return L.reshape(a.shape), info.reshape(batch)


@defop("cholesky_ex", LAPACK, dtype_rule="none", save=("output",),
       doc="the lower Cholesky factor, partial where the matrix is not positive-definite")
def cholesky_ex_op(xp, a):
    return _cholesky_with_info(xp, a)[0]


cholesky_ex_op.def_grad(cholesky_op.grad)   # the same rule as cholesky's


@nondiff("cholesky_info", LAPACK, "an int32 error code", dtype_rule="none")
def cholesky_info_op(xp, a):
    return _cholesky_with_info(xp, a)[1]


# ----------------------------------------------------------------------------------------------
# matrix_exp
# ----------------------------------------------------------------------------------------------

# Higham (2005): the [13/13] Pade approximant is accurate to double rounding for |A|_1 <= theta
_PADE13 = (64764752532480000., 32382376266240000., 7771770303897600., 1187353796428800.,
           129060195264000., 10559470521600., 670442572800., 33522128640., 1323241920.,
           40840800., 960960., 16380., 182., 1.)
_THETA13 = 5.371920351148152


def _expm_eager(xp, a):
    """exp(A) by scaling and squaring with the [13/13] Pade approximant, batched; each matrix
    is scaled by its own power of two, and squared that many times."""
    batch, (a3,) = _flat_batch(xp, a)
    n = a.shape[-1]
    if n == 0 or a3.shape[0] == 0:
        return a.copy()
    norm = xp.abs(a3).sum(axis=1).max(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        s = xp.ceil(xp.log2(norm / _THETA13))
    s = xp.where(xp.isfinite(s) & (s > 0), s, 0).astype(np.int64)
    A = a3 * xp.exp2(-s.astype(a3.dtype))[:, None, None]
    b = _PADE13
    eye = xp.eye(n, dtype=a3.dtype)
    A2 = A @ A
    A4 = A2 @ A2
    A6 = A4 @ A2
    U = A @ (A6 @ (b[13] * A6 + b[11] * A4 + b[9] * A2) + b[7] * A6 + b[5] * A4 + b[3] * A2
             + b[1] * eye)
    V = A6 @ (b[12] * A6 + b[10] * A4 + b[8] * A2) + b[6] * A6 + b[4] * A4 + b[2] * A2 \
        + b[0] * eye
    R = xp.linalg.solve(V - U, V + U)
    for i in range(int(s.max())):
        R = xp.where((s > i)[:, None, None], R @ R, R)
    return R.reshape(a.shape).astype(a.dtype, copy=False)


@defop("matrix_exp", LAPACK, dtype_rule="none", save=("inputs",),
       doc="the matrix exponential, by scaling and squaring with a Pade approximant")
def matrix_exp_op(xp, a):
    return _expm_eager(xp, a)


@matrix_exp_op.def_grad
def _(ctx, g):
    # PyTorch's rule: the gradient is the top-right block of exp([[A^T, G], [0, A^T]])
    from .creation import zeros_like
    from .shape import cat
    (a,) = ctx.inputs
    n = a.shape[-1]
    at = a.mT
    big = cat([cat([at, g], dim=-1), cat([zeros_like(at), at], dim=-1)], dim=-2)
    return (apply(matrix_exp_op, big)[..., :n, n:],)


def matrix_exp(A: Tensor) -> Tensor:
    """The matrix exponential exp(A) = sum_k A^k / k! of a square matrix or batch of them.

    Example:
        >>> dyngraph.linalg.matrix_exp(dyngraph.tensor([[0., 1.], [0., 0.]]))
        tensor([[1., 1.],
                [0., 1.]])
    """
    check_square_float("linalg.matrix_exp", A)
    return apply(matrix_exp_op, A)


register_method("matrix_exp")(matrix_exp)
