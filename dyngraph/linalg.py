"""`dyngraph.linalg`: PyTorch's `torch.linalg` namespace.

The norms are composites of existing ops (so they differentiate and compile for free); det,
slogdet, inv, solve and cholesky are LAPACK primitives from dyngraph/ops/linalg_lapack.py; svd,
svdvals, qr, eigh and eigvalsh are from dyngraph/ops/linalg_decomp.py, with the composites pinv
and matrix_rank; the rest re-exports products dyngraph already has under torch.linalg's names
and signatures.

Example:
    >>> import dyngraph
    >>> dyngraph.linalg.vector_norm(dyngraph.tensor([3., 4.]))
    tensor(5.)
"""

from __future__ import annotations

import math
from collections import namedtuple

import numpy as np

from .ops._api import Tensor, apply as _apply, normalize_dims
from .ops.extras import cross as _cross
from .ops.linalg import matmul
from .ops.linalg_lapack import (SlogdetResult, det, inv, linalg_cholesky, matrix_power,
                                slogdet, solve)
from .ops.linalg_decomp import (EighResult, QRResult, SVDResult, eigh, eigvalsh, linalg_qr,
                                linalg_svd, matrix_rank, pinv, svdvals)
from .ops.linalg_extra import (CholeskyExResult, cholesky_ex_op as _cholesky_ex_op,
                               cholesky_info_op as _cholesky_info_op, matrix_exp,
                               solve_triangular)
from .ops.linalg_lu import (LUFactorExResult, LUFactorResult, LUResult, linalg_lu as lu,
                            linalg_lu_solve as lu_solve, lu_factor, lu_factor_ex)
from .ops.linalg_lapack import check_float_matrix as _check_float_matrix
from .ops.reduction import amax, amin, norm as _vector_norm_op, sum as _sum
from .ops.registry import composite

__all__ = ["vector_norm", "matrix_norm", "norm", "det", "slogdet", "inv", "solve", "cholesky",
           "matmul", "vecdot", "multi_dot", "diagonal", "cross", "matrix_power", "SlogdetResult",
           "svd", "svdvals", "qr", "eigh", "eigvalsh", "pinv", "matrix_rank", "SVDResult",
           "QRResult", "EighResult", "solve_triangular", "lu_factor", "lu_factor_ex", "lu",
           "lu_solve", "matrix_exp", "cholesky_ex", "inv_ex", "solve_ex", "lstsq",
           "householder_product", "LUFactorResult", "LUFactorExResult", "LUResult",
           "CholeskyExResult", "LstsqResult", "InvExResult", "SolveExResult"]

LstsqResult = namedtuple("linalg_lstsq", ["solution", "residuals", "rank", "singular_values"])
InvExResult = namedtuple("linalg_inv_ex", ["inverse", "info"])
SolveExResult = namedtuple("linalg_solve_ex", ["result", "info"])

cholesky = linalg_cholesky
svd = linalg_svd
qr = linalg_qr


def _check_float(name: str, x, dtype) -> None:
    if not isinstance(x, Tensor):
        raise TypeError(f"{name}(): argument 'input' must be Tensor, not {type(x).__name__}")
    dt = x.dtype if dtype is None else dtype
    if not dt.is_floating_point:
        raise RuntimeError(f"{name}: Expected a floating point or complex tensor as input. Got "
                           f"{dt.name}; call .float() or pass dtype=dyngraph.float32")


@composite("linalg.vector_norm", "norm")
def vector_norm(x: Tensor, ord: float = 2, dim=None, keepdim: bool = False, *, dtype=None,
                out=None) -> Tensor:
    """The vector ord-norm of `x` over `dim` (all elements, flattened, when dim is None).

    ord is a number: inf (max |x|), -inf (min |x|), 0 (count of non-zeros), or any p for
    (sum |x|^p)^(1/p). The gradient of the 2-norm at 0 is 0 (PyTorch's subgradient).

    Args:
        x: a floating-point tensor.
        ord: the order of the norm (default 2).
        dim: an int or a tuple of ints; None reduces over every element.
        keepdim: keep the reduced dims with size 1.
        dtype: cast x to this dtype first (and return that dtype).

    Example:
        >>> dyngraph.linalg.vector_norm(dyngraph.tensor([[3., 4.], [0., 1.]]), dim=1)
        tensor([5., 1.])
    """
    _check_float("linalg.vector_norm", x, dtype)
    if isinstance(ord, str) or isinstance(ord, bool) or not isinstance(ord, (int, float)):
        raise RuntimeError(f"linalg.vector_norm: ord must be a number (int, float, inf or -inf), "
                           f"but got {ord!r}; use linalg.matrix_norm for 'fro' and 'nuc'")
    if isinstance(dim, (tuple, list)) and len(dim) == 0:
        dim = None
    return _vector_norm_op(x, p=float(ord), dim=dim, keepdim=keepdim, out=out, dtype=dtype)


def _matrix_dims(A: Tensor, dim) -> tuple[int, int]:
    if not isinstance(dim, (tuple, list)) or len(dim) != 2:
        raise RuntimeError(f"linalg.matrix_norm: dim must be a 2-tuple of ints, but got {dim!r}")
    d0, d1 = (normalize_dims(d, A.ndim, "linalg.matrix_norm")[0] for d in dim)
    if d0 == d1:
        raise RuntimeError(f"linalg.matrix_norm: dims must be different. Got ({dim[0]}, "
                           f"{dim[1]})")
    return d0, d1


@composite("linalg.matrix_norm", "norm (fro); abs, sum, amax/amin (1, -1, inf, -inf); "
                                 "svdvals, sum/amax/amin (nuc, 2, -2)")
def matrix_norm(A: Tensor, ord="fro", dim=(-2, -1), keepdim: bool = False, *, dtype=None,
                out=None) -> Tensor:
    """A matrix norm of A (or of each matrix in a batch) over the two dims `dim`.

    ord: 'fro' (Frobenius), 'nuc' (nuclear: the sum of the singular values), inf / -inf (max /
    min absolute row sum), 1 / -1 (max / min absolute column sum), 2 / -2 (largest / smallest
    singular value).

    Args:
        A: a floating-point tensor with at least 2 dims.
        ord: 'fro', 'nuc', inf, -inf, 1, -1, 2 or -2.
        dim: the two dims holding the matrices (rows, columns).
        keepdim: keep the reduced dims with size 1.
        dtype: cast A to this dtype first.

    Example:
        >>> dyngraph.linalg.matrix_norm(dyngraph.tensor([[1., -2.], [3., 4.]]), ord=1)
        tensor(6.)
    """
    _check_float("linalg.matrix_norm", A, dtype)
    if A.ndim < 2:
        raise RuntimeError(f"linalg.matrix_norm: The input tensor A must have at least 2 "
                           f"dimensions (got shape {list(A.shape)})")
    d0, d1 = _matrix_dims(A, dim)
    if dtype is not None:
        A = A.to(dtype)
    if ord == "fro":
        r = _vector_norm_op(A, p=2.0, dim=(d0, d1), keepdim=keepdim)
    elif ord in ("nuc", 2, -2):
        S = svdvals(A.movedim((d0, d1), (-2, -1)))
        r = S.sum(-1) if ord == "nuc" else (amax if ord == 2 else amin)(S, dim=-1)
        if keepdim:
            for d in sorted((d0, d1)):
                r = r.unsqueeze(d)
    elif not isinstance(ord, str) and ord in (math.inf, -math.inf, 1, -1):
        # inf: the largest sum of |a_ij| over the columns of a row; 1: the same over the rows
        # of a column. The sum keeps its dim so the other dim's index stays valid.
        sum_dim, ext_dim = (d1, d0) if abs(ord) == math.inf else (d0, d1)
        sums = _sum(A.abs(), dim=sum_dim, keepdim=True)
        r = (amax if ord > 0 else amin)(sums, dim=ext_dim, keepdim=True)
        if not keepdim:
            r = r.squeeze((d0, d1))
    else:
        raise RuntimeError(f"linalg.matrix_norm: Order {ord!r} not supported; use 'fro', 'nuc', "
                           f"inf, -inf, 1, -1, 2 or -2")
    return r if out is None else _write(r, out, "linalg.matrix_norm")


def _write(r: Tensor, out: Tensor, name: str) -> Tensor:
    from .ops._api import write_out
    return write_out(r, out, name)


@composite("linalg.norm", "linalg.vector_norm or linalg.matrix_norm")
def norm(A: Tensor, ord=None, dim=None, keepdim: bool = False, *, dtype=None,
         out=None) -> Tensor:
    """A vector or matrix norm, chosen as torch.linalg.norm chooses.

    dim an int: the vector norm along it. dim a 2-tuple: the matrix norm over it. dim None: with
    ord None, the 2-norm of every element (flattened); with an ord, A must be 1-D (vector norm)
    or 2-D (matrix norm).

    Args:
        A: a floating-point tensor.
        ord: the order (a number, or 'fro' / 'nuc' for matrix norms); None: 2 or 'fro'.
        dim: None, an int, or a 2-tuple of ints.
        keepdim: keep the reduced dims with size 1.
        dtype: cast A to this dtype first.

    Example:
        >>> dyngraph.linalg.norm(dyngraph.tensor([[3., 0.], [0., 4.]]))
        tensor(5.)
    """
    _check_float("linalg.norm", A, dtype)
    if isinstance(dim, int):
        dim = (dim,)
    if dim is not None:
        dim = tuple(dim)
        if len(dim) == 2:
            return matrix_norm(A, "fro" if ord is None else ord, dim, keepdim, dtype=dtype,
                               out=out)
        if len(dim) != 1:
            raise RuntimeError(f"linalg.norm: If dim is specified, it must be of length 1 or 2. "
                               f"Got {list(dim)}")
    elif ord is not None:
        if A.ndim == 2:
            return matrix_norm(A, ord, (-2, -1), keepdim, dtype=dtype, out=out)
        if A.ndim != 1:
            raise RuntimeError(f"linalg.norm: If dim is not specified but ord is, the input "
                               f"must be 1D or 2D. Got {A.ndim}D.")
    if isinstance(ord, str):
        raise RuntimeError(f"linalg.norm: Expected a 2D tensor or a 2-tuple dim for "
                           f"ord={ord!r} (a matrix norm), but got shape {list(A.shape)} and "
                           f"dim={dim}")
    return vector_norm(A, 2 if ord is None else ord, dim, keepdim, dtype=dtype, out=out)


@composite("linalg.vecdot", "mul, sum")
def vecdot(x: Tensor, y: Tensor, *, dim: int = -1, out=None) -> Tensor:
    """The dot product of vectors along `dim` (other dims broadcast): sum(x * y, dim).

    Example:
        >>> dyngraph.linalg.vecdot(dyngraph.tensor([1., 2.]), dyngraph.tensor([3., 4.]))
        tensor(11.)
    """
    if x.dtype is not y.dtype:
        raise RuntimeError(f"linalg.vecdot: Expected x and y to have the same dtype, but found "
                           f"x of type {x.dtype.name} and y of type {y.dtype.name} instead")
    if x.shape[dim] != y.shape[dim]:
        raise RuntimeError(f"linalg.vecdot: x and y must have the same size along dim {dim} "
                           f"(shapes {list(x.shape)} and {list(y.shape)})")
    r = _sum(x * y, dim=dim)
    return r if out is None else _write(r, out, "linalg.vecdot")


@composite("linalg.multi_dot", "matmul")
def multi_dot(tensors, *, out=None) -> Tensor:
    """The product of two or more matrices; the first and last may be 1-D (row / column vector).

    Multiplies left to right (PyTorch picks the cheapest order; the result is the same up to
    rounding).

    Example:
        >>> a, b, c = dyngraph.ones(2, 3), dyngraph.ones(3, 4), dyngraph.ones(4)
        >>> dyngraph.linalg.multi_dot([a, b, c])
        tensor([12., 12.])
    """
    tensors = list(tensors)
    if len(tensors) < 2:
        raise RuntimeError(f"multi_dot(): expected at least 2 tensors but got {len(tensors)}")
    for i, t in enumerate(tensors):
        want = (1, 2) if i in (0, len(tensors) - 1) else (2,)
        if t.ndim not in want:
            raise RuntimeError(f"multi_dot(): tensor {i} must be "
                               f"{'1D or 2D' if len(want) == 2 else '2D'} but got {t.ndim}D")
    r = tensors[0]
    for t in tensors[1:]:
        r = matmul(r, t)
    return r if out is None else _write(r, out, "linalg.multi_dot")


def diagonal(A: Tensor, *, offset: int = 0, dim1: int = -2, dim2: int = -1) -> Tensor:
    """The diagonals of A's matrices (a view), as dyngraph.diagonal with matrix-friendly dims.

    Example:
        >>> dyngraph.linalg.diagonal(dyngraph.eye(2))
        tensor([1., 1.])
    """
    return A.diagonal(offset=offset, dim1=dim1, dim2=dim2)


def cross(input: Tensor, other: Tensor, *, dim: int = -1, out=None) -> Tensor:
    """The 3-D cross product along `dim` (default the last dim, unlike dyngraph.cross).

    Example:
        >>> x, y = dyngraph.tensor([1., 0., 0.]), dyngraph.tensor([0., 1., 0.])
        >>> dyngraph.linalg.cross(x, y)
        tensor([0., 0., 1.])
    """
    return _cross(input, other, dim=dim, out=out)


# ----- the _ex variants: an info tensor instead of an error ------------------------------------

def _outs(name: str, results, out):
    if out is None:
        return results
    return type(results)(*(_write(r, o, name) for r, o in zip(results, out)))


def cholesky_ex(A: Tensor, *, upper: bool = False, check_errors: bool = False,
                out=None) -> CholeskyExResult:
    """(L, info): linalg.cholesky without the error; info is 0, or the order of the first
    leading minor of A that is not positive-definite (L is then only partly computed).

    Example:
        >>> dyngraph.linalg.cholesky_ex(dyngraph.tensor([[1., 0.], [0., -1.]])).info
        tensor(2, dtype=dyngraph.int32)
    """
    _check_square("linalg.cholesky_ex", A)
    L, info = _apply(_cholesky_ex_op, A), _apply(_cholesky_info_op, A)
    if check_errors and bool((info > 0).any()):
        raise RuntimeError(f"linalg.cholesky_ex: The factorization could not be completed "
                           f"because the input is not positive-definite (the leading minor of "
                           f"order {int(info.flatten()[info.flatten() > 0][0])} is not "
                           f"positive-definite).")
    return _outs("linalg.cholesky_ex", CholeskyExResult(L.mT if upper else L, info), out)


def _check_square(name: str, A) -> None:
    from .ops.linalg_lapack import check_square_float
    check_square_float(name, A)


def _singular_error(name: str, info: Tensor) -> None:
    flat = info.flatten()
    if bool((flat > 0).any()):
        i = int(flat[flat > 0][0])
        raise RuntimeError(f"{name}: The diagonal element {i} is zero, the inversion could not "
                           f"be completed because the input matrix is singular.")


def solve_ex(A: Tensor, B: Tensor, *, left: bool = True, check_errors: bool = False,
             out=None) -> SolveExResult:
    """(result, info): linalg.solve through an LU factorization, with LAPACK's info instead of
    an error (a singular A gives info > 0 and inf/NaN in result).

    Example:
        >>> dyngraph.linalg.solve_ex(dyngraph.eye(2), dyngraph.ones(2, 1)).info
        tensor(0, dtype=dyngraph.int32)
    """
    _check_square("linalg.solve_ex", A)
    if not isinstance(B, Tensor):
        raise TypeError(f"linalg.solve_ex(): argument 'B' must be Tensor, not "
                        f"{type(B).__name__}")
    LU, piv, info = lu_factor_ex(A)
    if check_errors:
        _singular_error("linalg.solve_ex", info)
    vector = B.ndim == 1 or (B.ndim == A.ndim - 1 and tuple(B.shape) == tuple(A.shape[:-1]))
    Bm = B.unsqueeze(-1 if left else -2) if vector else B
    X = lu_solve(LU, piv, Bm, left=left)
    if vector:
        X = X.squeeze(-1) if left else X.squeeze(-2)
    return _outs("linalg.solve_ex", SolveExResult(X, info), out)


def inv_ex(A: Tensor, *, check_errors: bool = False, out=None) -> InvExResult:
    """(inverse, info): linalg.inv through an LU factorization, with LAPACK's info instead of
    an error (a singular A gives info > 0 and inf/NaN in inverse).

    Example:
        >>> dyngraph.linalg.inv_ex(dyngraph.tensor([[2., 0.], [0., 4.]])).inverse
        tensor([[0.5000, 0.0000],
                [0.0000, 0.2500]])
    """
    _check_square("linalg.inv_ex", A)
    LU, piv, info = lu_factor_ex(A)
    if check_errors:
        _singular_error("linalg.inv_ex", info)
    from .ops.creation import eye
    I_ = eye(A.shape[-1], dtype=A.dtype, device=A.device)
    return _outs("linalg.inv_ex", InvExResult(lu_solve(LU, piv, I_), info), out)


# ----- least squares and Householder products ---------------------------------------------------

_LSTSQ_DRIVERS = ("gels", "gelsy", "gelsd", "gelss")


@composite("linalg.lstsq", "pinv, matmul (solution); svdvals, matrix_rank, sum (the rest)")
def lstsq(A: Tensor, B: Tensor, rcond: float | None = None, *,
          driver: str | None = None) -> LstsqResult:
    """The least-squares solution X minimizing ||A X - B||_F, and what LAPACK reports with it.

    The solution is pinv(A) B (singular values at most rcond * sigma_max count as zero), which
    is what every driver gives for a full-rank A; its gradient is PyTorch's (through pinv).
    As in PyTorch on the CPU: residuals (the squared residual of each column) are given when
    m > n, every matrix has full rank and the driver is not 'gelsy'; rank for every driver but
    'gels'; singular_values for 'gelsd' and 'gelss'; the others are empty tensors.

    Args:
        A: (..., m, n) float matrices.
        B: (..., m, k) matrices, or (..., m) vectors; batch dims broadcast.
        rcond: the relative cutoff for small singular values; None: eps * max(m, n).
        driver: 'gelsy' (the default), 'gelsd', 'gelss' or 'gels'.

    Example:
        >>> A = dyngraph.tensor([[1., 0.], [0., 1.], [0., 0.]])
        >>> dyngraph.linalg.lstsq(A, dyngraph.tensor([[1.], [2.], [3.]])).solution
        tensor([[1.],
                [2.]])
    """
    name = "torch.linalg.lstsq"
    _check_float_matrix("linalg.lstsq", A)
    if not isinstance(B, Tensor):
        raise TypeError(f"linalg.lstsq(): argument 'B' must be Tensor, not {type(B).__name__}")
    if B.dtype is not A.dtype:
        raise RuntimeError(f"{name}: Expected input and other to have the same dtype, but got "
                           f"input's dtype {A.dtype.name} and other's dtype {B.dtype.name}")
    if driver is None:
        driver = "gelsy"
    if driver not in _LSTSQ_DRIVERS:
        raise RuntimeError(f"{name}: parameter `driver` should be one of "
                           f"(gels, gelsy, gelsd, gelss), but got {driver!r}")
    m, n = A.shape[-2:]
    vector = B.ndim == A.ndim - 1
    Bm = B.unsqueeze(-1) if vector else B
    if Bm.ndim < 2 or Bm.shape[-2] != m:
        raise RuntimeError(f"{name}: input.size(-2) should match other.size(-2) (A has shape "
                           f"{list(A.shape)}, B has shape {list(B.shape)})")
    if rcond is None:
        rcond = float(np.finfo(A.dtype.np).eps) * max(m, n)
    X = pinv(A, rtol=rcond) @ Bm
    from .ops.creation import empty
    from . import _dtype as D
    batch = tuple(np.broadcast_shapes(tuple(A.shape[:-2]), tuple(Bm.shape[:-2])))
    rank = matrix_rank(A, rtol=rcond).expand(*batch) if driver != "gels" else \
        empty(0, dtype=D.int64, device=A.device)
    svals = svdvals(A) if driver in ("gelsd", "gelss") else empty(0, dtype=A.dtype,
                                                                   device=A.device)
    residuals = empty(0, dtype=A.dtype, device=A.device)
    full_rank = bool((matrix_rank(A, rtol=rcond) == n).all()) if m > n else False
    if m > n and driver != "gelsy" and full_rank:
        residuals = ((A @ X - Bm) ** 2).sum(-2)
        if vector:
            residuals = residuals.squeeze(-1)
    if vector:
        X = X.squeeze(-1)
    return LstsqResult(X, residuals, rank, svals)


@composite("linalg.householder_product", "mul, matmul, sub")
def householder_product(A: Tensor, tau: Tensor, *, out=None) -> Tensor:
    """The first n columns of H_1 ... H_k, H_i = I - tau_i v_i v_i^T (LAPACK's orgqr).

    v_i is 1 at row i, A[i+1:, i] below it and 0 above: the Householder vectors geqrf stores
    under A's diagonal.

    Args:
        A: (..., m, n) matrices, m >= n.
        tau: (..., k) scalars, k <= n.

    Example:
        >>> dyngraph.linalg.householder_product(dyngraph.zeros(2, 2), dyngraph.zeros(2))
        tensor([[1., 0.],
                [0., 1.]])
    """
    name = "torch.linalg.householder_product"
    _check_float_matrix("linalg.householder_product", A)
    if not isinstance(tau, Tensor):
        raise TypeError(f"linalg.householder_product(): argument 'tau' must be Tensor, not "
                        f"{type(tau).__name__}")
    m, n = A.shape[-2:]
    k = tau.shape[-1] if tau.ndim else 0
    if m < n:
        raise RuntimeError(f"{name}: input.shape[-2] must be greater than or equal to "
                           f"input.shape[-1] (got {m} and {n})")
    if tau.ndim != A.ndim - 1 or k > n:
        raise RuntimeError(f"{name}: input.shape[-1] must be greater than or equal to "
                           f"tau.shape[-1], and tau must have one dim less than input (got "
                           f"input {list(A.shape)} and tau {list(tau.shape)})")
    if tau.dtype is not A.dtype:
        raise RuntimeError(f"{name}: tau dtype {tau.dtype.name} does not match input dtype "
                           f"{A.dtype.name}")
    from .ops.creation import arange, eye
    rows = arange(m, device=A.device)
    Q = eye(m, n, dtype=A.dtype, device=A.device)
    for i in range(k - 1, -1, -1):   # H_1 (H_2 (... (H_k E)))
        v = (A[..., :, i] * (rows > i).to(A.dtype) + (rows == i).to(A.dtype)).unsqueeze(-1)
        Q = Q - tau[..., i, None, None] * (v @ (v.mT @ Q))
    if k == 0:
        Q = Q.expand(*A.shape).contiguous()
    return Q if out is None else _write(Q, out, "linalg.householder_product")
