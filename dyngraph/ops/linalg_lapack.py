"""LAPACK-backed primitives: det, slogdet, inv, solve and cholesky, batched over leading dims.

Each eager rule calls `xp.linalg` (numpy's LAPACK on the CPU, cupy's cuSOLVER on CUDA); each
gradient rule is written with these same primitives and matmul, so it also serves traced backward
graphs and higher-order gradients. `dyngraph.linalg` (dyngraph/linalg.py) is the public
namespace; the top-level functions PyTorch has (det, logdet, slogdet, inverse, cholesky) and the
Tensor methods of those names are defined here.
"""

from __future__ import annotations

import contextlib
from collections import namedtuple

import numpy as np

from ._api import Tensor, apply, write_out
from .registry import OpKind, composite, defop, nondiff

LAPACK = OpKind.OTHER

SlogdetResult = namedtuple("slogdet", ["sign", "logabsdet"])


def lapack_errors(xp):
    """A context in which `xp.linalg` raises LinAlgError for a singular or not positive-definite
    input. numpy always does; cupy does only under `cupyx.errstate(linalg="raise")` and else
    returns garbage. Its check reads cuSOLVER's info back from the device (a sync), as
    PyTorch's own check of LAPACK's info does on CUDA."""
    if xp is np:
        return contextlib.nullcontext()
    import cupyx
    return cupyx.errstate(linalg="raise")


def check_float_matrix(name: str, A: Tensor, square: bool = False) -> None:
    """Raise PyTorch's errors for an input that is not a batch of float (square) matrices."""
    if not isinstance(A, Tensor):
        raise TypeError(f"{name}(): argument 'A' must be Tensor, not {type(A).__name__}")
    if A.ndim < 2:
        raise RuntimeError(f"{name}: The input tensor A must have at least 2 dimensions "
                           f"(got shape {list(A.shape)})")
    if square and A.shape[-1] != A.shape[-2]:
        raise RuntimeError(f"{name}: A must be batches of square matrices, but they are "
                           f"{A.shape[-2]} by {A.shape[-1]} matrices")
    if A.dtype.name not in ("float32", "float64"):
        raise RuntimeError(f"{name}: Expected a floating point tensor as input (float32 or "
                           f"float64). Got {A.dtype.name}; call .double() or .float() first")


def check_square_float(name: str, A: Tensor) -> None:
    """Raise PyTorch's errors for an input that is not a batch of square float matrices."""
    check_float_matrix(name, A, square=True)


def _batched_scalar(t: Tensor) -> Tensor:
    """A batch of scalars (..., ) as (..., 1, 1), to scale a batch of matrices."""
    return t.unsqueeze(-1).unsqueeze(-1)


# ----- det and slogdet --------------------------------------------------------------------------

@defop("det", LAPACK, dtype_rule="none", save=("inputs", "output"))
def det_op(xp, a):
    return xp.asarray(xp.linalg.det(a))  # numpy gives a scalar for one matrix


@det_op.def_grad
def _(ctx, g):
    # d det(A) = det(A) tr(A^-1 dA), so the gradient is g det(A) A^-T. At a singular A this
    # is not the limit PyTorch takes (it goes through the SVD there); see the module docs.
    (a,) = ctx.inputs
    return (_batched_scalar(g * ctx.out) * apply(inv_op, a).mT,)


@defop("slogdet", LAPACK, dtype_rule="none", save=("inputs",))
def slogdet_op(xp, a):
    """log |det A| (the differentiable half of slogdet)."""
    return xp.asarray(xp.linalg.slogdet(a)[1])


@slogdet_op.def_grad
def _(ctx, g):
    (a,) = ctx.inputs
    return (_batched_scalar(g) * apply(inv_op, a).mT,)


@nondiff("slogdet_sign", LAPACK, "the sign of det(A) is piecewise constant (-1, 0 or 1)",
         dtype_rule="none")
def slogdet_sign_op(xp, a):
    return xp.asarray(xp.linalg.slogdet(a)[0])


# ----- inv and solve ----------------------------------------------------------------------------

def _singular(name: str) -> RuntimeError:
    return RuntimeError(f"{name}: The input matrix is singular (a zero pivot in its LU "
                        f"factorization), so it has no inverse and the system has no unique "
                        f"solution; check the matrix or use dyngraph.linalg.lstsq/pinv")


@defop("inv", LAPACK, dtype_rule="none", save=("output",))
def inv_op(xp, a):
    try:
        with lapack_errors(xp):
            return xp.linalg.inv(a)
    except np.linalg.LinAlgError:
        raise _singular("linalg.inv") from None


@inv_op.def_grad
def _(ctx, g):
    # d(A^-1) = -A^-1 dA A^-1, so the gradient is -A^-T G A^-T.
    ainv_t = ctx.out.mT
    return (-(ainv_t @ g @ ainv_t),)


@defop("solve", LAPACK, dtype_rule="none", save=("inputs", "output"))
def solve_op(xp, a, b):
    """X with A X = B, for a (..., n, n) and b (..., n, k) whose batch dims broadcast."""
    batch = np.broadcast_shapes(a.shape[:-2], b.shape[:-2])
    a = xp.broadcast_to(a, batch + a.shape[-2:])
    b = xp.broadcast_to(b, batch + b.shape[-2:])
    try:
        with lapack_errors(xp):
            return xp.linalg.solve(a, b)
    except np.linalg.LinAlgError:
        raise _singular("linalg.solve") from None


@solve_op.def_grad
def _(ctx, g):
    # X = A^-1 B: gB = A^-T G (one more solve), gA = -gB X^T. The engine sums both back over
    # broadcast batch dims.
    a, b = ctx.inputs
    gb = apply(solve_op, a.mT, g)
    ga = -(gb @ ctx.out.mT) if a._rg else None
    return ga, (gb if b._rg else None)


# ----- cholesky ---------------------------------------------------------------------------------

@defop("cholesky", LAPACK, dtype_rule="none", save=("output",))
def cholesky_op(xp, a):
    """The lower Cholesky factor L (A = L L^T); only A's lower triangle is read."""
    try:
        with lapack_errors(xp):
            return xp.linalg.cholesky(a)
    except np.linalg.LinAlgError:
        raise RuntimeError("linalg.cholesky: The factorization could not be completed because "
                           "the input is not positive-definite (check that A is symmetric "
                           "with positive eigenvalues)") from None


@cholesky_op.def_grad
def _(ctx, g):
    # PyTorch's cholesky_backward (Murray 2016): with P = Phi(L^T gL) (the lower triangle with
    # the diagonal halved, symmetrized), gA = L^-T P L^-1. The two triangular solves are general
    # LU solves here, which is exact for triangular L.
    L = ctx.out
    p = (L.mT @ g).tril()
    p = 0.5 * (p + p.tril(-1).mT)
    x = apply(solve_op, L.mT, p)               # L^-T P
    return (apply(solve_op, L.mT, x.mT).mT,)   # X L^-1 = (L^-T X^T)^T


# ----------------------------------------------------------------------------------------------
# Public functions (dyngraph.linalg re-exports these under torch.linalg's names)
# ----------------------------------------------------------------------------------------------

def det(A: Tensor, *, out=None) -> Tensor:
    """Determinant of a square matrix or of each matrix in a batch (..., n, n).

    Example:
        >>> dyngraph.det(dyngraph.tensor([[2., 0.], [0., 3.]]))
        tensor(6.)
    """
    check_square_float("linalg.det", A)
    return write_out(apply(det_op, A), out, "linalg.det")


def slogdet(A: Tensor, *, out=None) -> SlogdetResult:
    """(sign, logabsdet) with det(A) = sign * exp(logabsdet), without overflow.

    Only logabsdet is differentiable (the sign is piecewise constant); a singular matrix gives
    sign 0 and logabsdet -inf.

    Example:
        >>> dyngraph.slogdet(dyngraph.tensor([[-2., 0.], [0., 3.]]))
        slogdet(sign=tensor(-1.), logabsdet=tensor(1.7918))
    """
    check_square_float("linalg.slogdet", A)
    sign, logabs = apply(slogdet_sign_op, A), apply(slogdet_op, A)
    if out is not None:
        write_out(sign, out[0], "linalg.slogdet")
        write_out(logabs, out[1], "linalg.slogdet")
        return SlogdetResult(out[0], out[1])
    return SlogdetResult(sign, logabs)


@composite("logdet", "slogdet, slogdet_sign, log, add")
def logdet(input: Tensor) -> Tensor:
    """log(det(A)): nan where det(A) < 0 and -inf where A is singular, as in PyTorch.

    Example:
        >>> dyngraph.logdet(dyngraph.tensor([[2., 0.], [0., 3.]]))
        tensor(1.7918)
    """
    check_square_float("logdet", input)
    # log(sign) is 0 for a positive det, nan for a negative one and -inf for a zero one
    return apply(slogdet_op, input) + apply(slogdet_sign_op, input).log()


def inv(A: Tensor, *, out=None) -> Tensor:
    """Inverse of a square matrix or of each matrix in a batch; raises for a singular one.

    Example:
        >>> dyngraph.linalg.inv(dyngraph.tensor([[2., 0.], [0., 4.]]))
        tensor([[0.5000, 0.0000],
                [0.0000, 0.2500]])
    """
    check_square_float("linalg.inv", A)
    return write_out(apply(inv_op, A), out, "linalg.inv")


def inverse(input: Tensor, *, out=None) -> Tensor:
    """The same as `dyngraph.linalg.inv` (PyTorch's top-level name)."""
    return inv(input, out=out)


def solve(A: Tensor, B: Tensor, *, left: bool = True, out=None) -> Tensor:
    """The solution X of A X = B (left=True) or X A = B (left=False).

    B is a batch of vectors when it is 1-D or when its shape is A's without the last dim
    (PyTorch's rule); otherwise a batch of (n, k) matrices. Batch dims broadcast.

    Args:
        A: (..., n, n) invertible matrices.
        B: (..., n, k) matrices or (..., n) vectors of A's dtype.
        left: solve A X = B (True) or X A = B (False).

    Example:
        >>> A = dyngraph.tensor([[2., 0.], [0., 4.]])
        >>> dyngraph.linalg.solve(A, dyngraph.tensor([2., 2.]))
        tensor([1.0000, 0.5000])
    """
    check_square_float("linalg.solve", A)
    if not isinstance(B, Tensor):
        raise TypeError(f"linalg.solve(): argument 'B' must be Tensor, not {type(B).__name__}")
    if B.dtype is not A.dtype:
        raise RuntimeError(f"linalg.solve: Expected A and B to have the same dtype, but found "
                           f"A of type {A.dtype.name} and B of type {B.dtype.name} instead")
    vector = B.ndim == 1 or (B.ndim == A.ndim - 1 and tuple(B.shape) == tuple(A.shape[:-1]))
    Bm = B.unsqueeze(-1 if left else -2) if vector else B
    if not left:  # X A = B  <=>  A^T X^T = B^T
        A, Bm = A.mT, Bm.mT
    n = A.shape[-1]
    if Bm.ndim < 2 or Bm.shape[-2] != n:
        raise RuntimeError(f"linalg.solve: Incompatible shapes of A and B for the equation "
                           f"{'AX = B' if left else 'XA = B'} ({list(A.shape[-2:])} and "
                           f"{list(B.shape)})")
    try:
        np.broadcast_shapes(tuple(A.shape[:-2]), tuple(Bm.shape[:-2]))
    except ValueError:
        raise RuntimeError(f"linalg.solve: the batch dims of A {list(A.shape)} and B "
                           f"{list(B.shape)} cannot be broadcast together") from None
    X = apply(solve_op, A, Bm)
    if not left:
        X = X.mT
    if vector:
        X = X.squeeze(-1) if left else X.squeeze(-2)
    return write_out(X, out, "linalg.solve")


def linalg_cholesky(A: Tensor, *, upper: bool = False, out=None) -> Tensor:
    """The Cholesky factor of a symmetric positive-definite matrix (or batch of them).

    Returns L (lower) with A = L L^T, or U = L^T with A = U^T U when `upper`. Only the lower
    triangle of A is read (the gradient is the symmetric one, as in PyTorch).

    Example:
        >>> dyngraph.linalg.cholesky(dyngraph.tensor([[4., 2.], [2., 2.]]))
        tensor([[2., 0.],
                [1., 1.]])
    """
    check_square_float("linalg.cholesky", A)
    L = apply(cholesky_op, A)
    return write_out(L.mT if upper else L, out, "linalg.cholesky")


def cholesky(input: Tensor, upper: bool = False, *, out=None) -> Tensor:
    """PyTorch's top-level cholesky (`upper` may be positional); see dyngraph.linalg.cholesky."""
    return linalg_cholesky(input, upper=upper, out=out)


@composite("matrix_power", "matmul, inv")
def matrix_power(A: Tensor, n: int, *, out=None) -> Tensor:
    """A to the integer power n by repeated squaring; n < 0 inverts A first, n = 0 gives I.

    Example:
        >>> dyngraph.linalg.matrix_power(dyngraph.tensor([[1., 1.], [0., 1.]]), 3)
        tensor([[1., 3.],
                [0., 1.]])
    """
    if not isinstance(A, Tensor):
        raise TypeError(f"matrix_power(): argument 'input' must be Tensor, not "
                        f"{type(A).__name__}")
    if A.ndim < 2 or A.shape[-1] != A.shape[-2]:
        raise RuntimeError(f"linalg.matrix_power: A must be batches of square matrices, but got "
                           f"shape {list(A.shape)}")
    if not isinstance(n, (int, np.integer)) or isinstance(n, bool):
        raise TypeError(f"linalg.matrix_power: n must be an int, but got {n!r}")
    if n == 0:
        from .creation import eye
        return write_out(eye(A.shape[-1], dtype=A.dtype, device=A.device).expand(*A.shape)
                         .contiguous(), out, "linalg.matrix_power")
    if n < 0:
        check_square_float("linalg.matrix_power", A)
        A, n = apply(inv_op, A), -n
    result, base = None, A
    while n:
        if n & 1:
            result = base if result is None else result @ base
        n >>= 1
        if n:
            base = base @ base
    if result is A:
        result = A.clone()  # n = 1: a new tensor, as in PyTorch
    return write_out(result, out, "linalg.matrix_power")


# ----------------------------------------------------------------------------------------------
# Tensor methods
# ----------------------------------------------------------------------------------------------

for _name, _fn in [("det", det), ("logdet", logdet), ("slogdet", slogdet),
                   ("inverse", inverse), ("cholesky", cholesky),
                   ("matrix_power", matrix_power)]:
    setattr(Tensor, _name, _fn)

# The names `from dyngraph.ops import *` puts at the top level: PyTorch's top-level functions
# only (torch has no top-level inv or solve; those live in dyngraph.linalg).
__all__ = ["det", "logdet", "slogdet", "inverse", "cholesky", "matrix_power"]
