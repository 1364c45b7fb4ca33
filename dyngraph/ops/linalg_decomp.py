"""Matrix decompositions: svd, svdvals, qr, eigh and eigvalsh as LAPACK primitives, and the
composites built on them (pinv, matrix_rank), batched over leading dims.

A decomposition has several results but an op has one output, so svd, qr and eigh pack theirs
into one array: each result flattened over its matrix dims and concatenated along the last dim
(the layout lstm_layer's slabs use). The public functions slice the pack apart with movement
ops, so the gradient reaching the pack holds zeros where a result went unused, and each gradient
rule unpacks it the same way. Eager rules call `xp.linalg` (numpy's LAPACK on the CPU, cupy's
cuSOLVER on CUDA); gradient rules are written in dyngraph ops (PyTorch's svd_backward,
linalg_qr_backward and the Hermitian case of linalg_eig_backward). `dyngraph.linalg` re-exports
the torch.linalg names; PyTorch's top-level svd, qr and pinverse and the Tensor methods of those
names are defined here.
"""

from __future__ import annotations

import math
from collections import namedtuple

import numpy as np

from ._api import Tensor, apply
from .elementwise import where
from .linalg_lapack import LAPACK, check_float_matrix, solve_op
from .registry import composite, defop

SVDResult = namedtuple("linalg_svd", ["U", "S", "Vh"])
SvdResult = namedtuple("svd", ["U", "S", "V"])
QRResult = namedtuple("qr", ["Q", "R"])
EighResult = namedtuple("linalg_eigh", ["eigenvalues", "eigenvectors"])


def _not_converged(name: str) -> RuntimeError:
    return RuntimeError(f"{name}: The algorithm failed to converge because the input matrix is "
                        f"ill-conditioned or has too many repeated values (check it for nan "
                        f"or inf)")


# ----- packing several results into one output ------------------------------------------------

def _pack(xp, batch: tuple, *arrays):
    """Flatten each array's dims after `batch` and concatenate them along one last dim."""
    nb = len(batch)
    return xp.concatenate([a.reshape(batch + (math.prod(a.shape[nb:]),)) for a in arrays],
                          axis=-1)


def _unpack(packed: Tensor, shapes) -> list[Tensor]:
    """The tensors of the given trailing shapes that `_pack` concatenated into `packed`."""
    batch, parts, start = tuple(packed.shape[:-1]), [], 0
    for shape in shapes:
        size = math.prod(shape)
        parts.append(packed[..., start:start + size].reshape(batch + tuple(shape)))
        start += size
    return parts


def _svd_shapes(m: int, n: int, full_matrices: bool) -> list[tuple]:
    k = min(m, n)
    return [(m, m if full_matrices else k), (k,), (n if full_matrices else k, n)]


def _eye_like(A: Tensor, n: int) -> Tensor:
    from .creation import eye
    return eye(n, dtype=A.dtype, device=A.device)


# ----- svd and svdvals ------------------------------------------------------------------------

@defop("svd", LAPACK, dtype_rule="none", save=("inputs", "output"),
       doc="U, S, Vh of A packed into one array (each flattened over its matrix dims)")
def svd_op(xp, a, full_matrices=False):
    try:
        u, s, vh = xp.linalg.svd(a, full_matrices=full_matrices)
    except np.linalg.LinAlgError:
        raise _not_converged("linalg.svd") from None
    return _pack(xp, a.shape[:-2], u, s, vh)


def _div_where_used(num: Tensor, den: Tensor) -> Tensor:
    """num / den, and 0 where num is 0 whatever den is.

    svd and eigh pack their results into one output, so a result the caller never used reaches
    the backward as zeros rather than as PyTorch's undefined gradient. PyTorch then skips that
    result's terms, whose divisions by S_j^2 - S_i^2 (repeated or zero singular values, repeated
    eigenvalues) would be 0 / 0. Dividing by 1 where the numerator is 0 gives the same result;
    a used result with a zero denominator still gives inf or NaN, as in PyTorch.
    """
    return num / where(num == 0, 1.0, den)


def _svd_backward(gU: Tensor, gS: Tensor, gVh: Tensor, U: Tensor, S: Tensor,
                  Vh: Tensor) -> Tensor:
    """PyTorch's svd_backward for the reduced SVD A = U diag(S) Vh (real case).

    gA = U [(skew(U^T gU) S + S skew(V^T gV)) / E + diag(gS)] Vh, with E_ij = S_j^2 - S_i^2
    off the diagonal, plus the terms for the columns of A outside span(U) or span(V).
    """
    m, n, k = U.shape[-2], Vh.shape[-1], S.shape[-1]
    UhgU = U.mT @ gU
    VhgV = Vh @ gVh.mT
    UhgU, VhgV = UhgU - UhgU.mT, VhgV - VhgV.mT
    S2 = S * S
    E = S2.unsqueeze(-2) - S2.unsqueeze(-1) + _eye_like(S, k)  # 1 on the diagonal
    inner = _div_where_used(UhgU * S.unsqueeze(-2) + S.unsqueeze(-1) * VhgV, E) + \
        gS.diag_embed()
    if m > k:    # tall: the part of gU outside span(U), (I - U U^T) gU S^-1
        gUSinv = _div_where_used(gU, S.unsqueeze(-2))
        return (U @ inner + gUSinv - U @ (U.mT @ gUSinv)) @ Vh
    if n > k:    # wide: S^-1 gVh (I - V V^T)
        SinvgVh = _div_where_used(gVh, S.unsqueeze(-1))
        return U @ (inner @ Vh + SinvgVh - (SinvgVh @ Vh.mT) @ Vh)
    return U @ inner @ Vh


@svd_op.def_grad
def _(ctx, g):
    # With full_matrices, the columns of U (rows of Vh) past k = min(m, n) are an arbitrary
    # orthonormal completion; as PyTorch does, the gradient reaching them is ignored.
    (a,) = ctx.inputs
    m, n = a.shape[-2], a.shape[-1]
    k = min(m, n)
    full = ctx.attrs.get("full_matrices", False)
    gU, gS, gVh = _unpack(g, _svd_shapes(m, n, full))
    U, S, Vh = _unpack(ctx.out, _svd_shapes(m, n, full))
    if full:
        gU, U, gVh, Vh = gU[..., :k], U[..., :k], gVh[..., :k, :], Vh[..., :k, :]
    return (_svd_backward(gU, gS, gVh, U, S, Vh),)


@defop("svdvals", LAPACK, dtype_rule="none", save=("inputs",))
def svdvals_op(xp, a):
    """The singular values of A, in descending order (no U or V is computed)."""
    try:
        return xp.linalg.svd(a, compute_uv=False)
    except np.linalg.LinAlgError:
        raise _not_converged("linalg.svdvals") from None


@svdvals_op.def_grad
def _(ctx, g):
    # dS_i = u_i^T dA v_i, so gA = U diag(gS) Vh; the SVD is recomputed (it was not kept).
    (a,) = ctx.inputs
    m, n = a.shape[-2], a.shape[-1]
    U, _, Vh = _unpack(apply(svd_op, a, full_matrices=False), _svd_shapes(m, n, False))
    return ((U * g.unsqueeze(-2)) @ Vh,)


# ----- qr -------------------------------------------------------------------------------------

def _qr_shapes(m: int, n: int, mode: str) -> list[tuple]:
    k = min(m, n)
    if mode == "complete":
        return [(m, m), (m, n)]
    if mode == "r":
        return [(0,), (k, n)]
    return [(m, k), (k, n)]


@defop("qr", LAPACK, dtype_rule="none", save=("inputs", "output"),
       doc="Q and R of A packed into one array (each flattened over its matrix dims)")
def qr_op(xp, a, mode="reduced"):
    if mode == "r":
        r = xp.linalg.qr(a, mode="r")
        return _pack(xp, a.shape[:-2], xp.empty(a.shape[:-2] + (0,), dtype=a.dtype), r)
    q, r = xp.linalg.qr(a, mode=mode)
    return _pack(xp, a.shape[:-2], q, r)


def _copyltu(M: Tensor) -> Tensor:
    """The symmetric matrix with M's lower triangle (the strict lower part mirrored up)."""
    return M.tril() + M.tril(-1).mT


def _qr_backward_tall(gQ: Tensor, gR: Tensor, Q: Tensor, R: Tensor) -> Tensor:
    """gA for A = QR with m >= n: (gQ + Q copyltu(R gR^T - gQ^T Q)) R^-T."""
    X = gQ + Q @ _copyltu(R @ gR.mT - gQ.mT @ Q)
    return apply(solve_op, R, X.mT).mT   # X R^-T; a general LU solve, exact for triangular R


@qr_op.def_grad
def _(ctx, g):
    (a,) = ctx.inputs
    m, n = a.shape[-2], a.shape[-1]
    mode = ctx.attrs.get("mode", "reduced")
    if mode == "r":
        raise RuntimeError("linalg.qr: The derivative of linalg.qr depends on Q, which is not "
                           "computed when mode='r'. Please use linalg.qr(A, mode='reduced') if "
                           "you are going to differentiate through linalg.qr.")
    if mode == "complete" and m > n:
        raise RuntimeError("linalg.qr: The QR decomposition is not differentiable when "
                           "mode='complete' and nrows > ncols.")
    gQ, gR = _unpack(g, _qr_shapes(m, n, mode))
    Q, R = _unpack(ctx.out, _qr_shapes(m, n, mode))
    if m >= n:
        return (_qr_backward_tall(gQ, gR, Q, R),)
    # Wide: A = Q [X | Y] with X = Q R[:, :m] square; Y = Q R[:, m:] moves Q only through X
    # (TensorFlow's QrGrad for wide matrices).
    Y, gRy = Q @ R[..., m:], gR[..., m:]
    gX = _qr_backward_tall(gQ + Y @ gRy.mT, gR[..., :m], Q, R[..., :m])
    from .shape import cat
    return (cat([gX, Q @ gRy], dim=-1),)


# ----- eigh and eigvalsh ----------------------------------------------------------------------

@defop("eigh", LAPACK, dtype_rule="none", save=("output",),
       doc="eigenvalues and eigenvectors of a symmetric A, packed into one array")
def eigh_op(xp, a, UPLO="L"):
    try:
        w, v = xp.linalg.eigh(a, UPLO=UPLO)
    except np.linalg.LinAlgError:
        raise _not_converged("linalg.eigh") from None
    return _pack(xp, a.shape[:-2], w, v)


def _eigh_backward(gL: Tensor, gV: Tensor, L: Tensor, V: Tensor) -> Tensor:
    """gA = V (diag(gL) + sym(V^T gV) / E) V^T with E_ij = L_j - L_i (distinct eigenvalues).

    As PyTorch's linalg_eig_backward for Hermitian inputs, V^T gV is first projected onto the
    skew-symmetric matrices (the tangent of the eigenvectors' gauge), so gA is symmetric.
    """
    n = L.shape[-1]
    VhgV = V.mT @ gV
    VhgV = 0.5 * (VhgV - VhgV.mT)
    eye = _eye_like(L, n)
    E = L.unsqueeze(-2) - L.unsqueeze(-1) + eye
    inner = _div_where_used(VhgV, E) * (1.0 - eye) + gL.diag_embed()
    return V @ inner @ V.mT


@eigh_op.def_grad
def _(ctx, g):
    n = int(round(math.sqrt(g.shape[-1] - 0.75) - 0.5))    # the pack holds n + n * n values
    gL, gV = _unpack(g, [(n,), (n, n)])
    L, V = _unpack(ctx.out, [(n,), (n, n)])
    return (_eigh_backward(gL, gV, L, V),)


@defop("eigvalsh", LAPACK, dtype_rule="none", save=("inputs",))
def eigvalsh_op(xp, a, UPLO="L"):
    """The eigenvalues of a symmetric A in ascending order (no eigenvectors are computed)."""
    try:
        return xp.linalg.eigvalsh(a, UPLO=UPLO)
    except np.linalg.LinAlgError:
        raise _not_converged("linalg.eigvalsh") from None


@eigvalsh_op.def_grad
def _(ctx, g):
    # dL_i = v_i^T dA v_i, so gA = V diag(gL) V^T; the eigenvectors are recomputed.
    (a,) = ctx.inputs
    n = a.shape[-1]
    _, V = _unpack(apply(eigh_op, a, UPLO=ctx.attrs.get("UPLO", "L")), [(n,), (n, n)])
    return ((V * g.unsqueeze(-2)) @ V.mT,)


# ----------------------------------------------------------------------------------------------
# Public functions (dyngraph.linalg re-exports these under torch.linalg's names)
# ----------------------------------------------------------------------------------------------

def linalg_svd(A: Tensor, full_matrices: bool = True, *, driver=None) -> SVDResult:
    """The singular value decomposition A = U diag(S) Vh of a matrix or a batch of them.

    S is in descending order; U and Vh are defined up to the sign of each singular pair (the
    signs are LAPACK's, as PyTorch's and numpy's on the CPU). Gradients need distinct non-zero
    singular values when U or Vh is used; with full_matrices=True the gradient reaching the
    columns of U (rows of Vh) past min(m, n) is ignored, as in PyTorch.

    Args:
        A: (..., m, n) float32 or float64 matrices.
        full_matrices: U is (..., m, m) and Vh (..., n, n) (True), or (..., m, k) and
            (..., k, n) with k = min(m, n) (False).
        driver: accepted for PyTorch compatibility (CUDA-only there); must be None.

    Returns:
        A namedtuple (U, S, Vh).

    Example:
        >>> dyngraph.linalg.svd(dyngraph.tensor([[3., 0.], [0., -2.]])).S
        tensor([3., 2.])
    """
    check_float_matrix("linalg.svd", A)
    if driver is not None:
        raise RuntimeError("linalg.svd: keyword argument `driver=` is only supported on CUDA "
                           "inputs with cuSOLVER backend.")
    m, n = A.shape[-2], A.shape[-1]
    packed = apply(svd_op, A, full_matrices=bool(full_matrices))
    return SVDResult(*_unpack(packed, _svd_shapes(m, n, bool(full_matrices))))


def svdvals(A: Tensor, *, driver=None) -> Tensor:
    """The singular values of A (..., m, n) in descending order, shape (..., min(m, n)).

    Differentiable wherever the singular values are distinct (gA = U diag(gS) Vh).

    Example:
        >>> dyngraph.linalg.svdvals(dyngraph.tensor([[3., 0.], [0., -2.]]))
        tensor([3., 2.])
    """
    check_float_matrix("linalg.svdvals", A)
    if driver is not None:
        raise RuntimeError("linalg.svdvals: keyword argument `driver=` is only supported on "
                           "CUDA inputs with cuSOLVER backend.")
    return apply(svdvals_op, A)


def svd(input: Tensor, some: bool = True, compute_uv: bool = True) -> SvdResult:
    """PyTorch's older top-level svd: (U, S, V) with A = U diag(S) V^T (V, not Vh).

    some=True gives the reduced factors (linalg.svd's full_matrices=False). With
    compute_uv=False, U and V are zero-filled (m, m) and (n, n) matrices and only S is computed.

    Example:
        >>> dyngraph.svd(dyngraph.tensor([[0., 2.], [1., 0.]])).S
        tensor([2., 1.])
    """
    check_float_matrix("svd", input)
    if not compute_uv:
        from .creation import zeros
        batch, m, n = tuple(input.shape[:-2]), input.shape[-2], input.shape[-1]
        kw = dict(dtype=input.dtype, device=input.device)
        return SvdResult(zeros(*batch, m, m, **kw), svdvals(input), zeros(*batch, n, n, **kw))
    U, S, Vh = linalg_svd(input, full_matrices=not some)
    return SvdResult(U, S, Vh.mT)


def linalg_qr(A: Tensor, mode: str = "reduced") -> QRResult:
    """The QR decomposition A = Q R (Q with orthonormal columns, R upper triangular).

    The signs are LAPACK's (as PyTorch's and numpy's): R's diagonal may be negative.
    Differentiable for mode='reduced', and for mode='complete' when m <= n.

    Args:
        A: (..., m, n) float32 or float64 matrices.
        mode: 'reduced' (Q (..., m, k), R (..., k, n), k = min(m, n)), 'complete'
            (Q (..., m, m), R (..., m, n)) or 'r' (R only; Q is an empty tensor).

    Returns:
        A namedtuple (Q, R).

    Example:
        >>> dyngraph.linalg.qr(dyngraph.tensor([[3., 0.], [4., 5.]])).R
        tensor([[-5., -4.],
                [ 0.,  3.]])
    """
    check_float_matrix("linalg.qr", A)
    if mode not in ("reduced", "complete", "r"):
        raise RuntimeError(f"qr received unrecognized mode '{mode}' but expected one of "
                           f"'reduced' (default), 'r', or 'complete'")
    m, n = A.shape[-2], A.shape[-1]
    Q, R = _unpack(apply(qr_op, A, mode=mode), _qr_shapes(m, n, mode))
    if mode == "r":
        Q = Q.reshape(0)  # PyTorch returns an empty 1-D Q
    return QRResult(Q, R)


def qr(input: Tensor, some: bool = True) -> QRResult:
    """PyTorch's top-level qr: linalg.qr with mode 'reduced' (some=True) or 'complete'.

    Example:
        >>> dyngraph.qr(dyngraph.tensor([[3., 0.], [4., 5.]])).Q.shape
        dyngraph.Size([2, 2])
    """
    return linalg_qr(input, "reduced" if some else "complete")


def _check_uplo(name: str, UPLO: str) -> None:
    if UPLO not in ("L", "U"):
        raise RuntimeError(f"{name}: Expected UPLO argument to be 'L' or 'U', but got {UPLO!r}")


def eigh(A: Tensor, UPLO: str = "L") -> EighResult:
    """Eigenvalues (ascending) and orthonormal eigenvectors of a symmetric matrix or batch.

    Only the triangle UPLO ('L' lower, 'U' upper) of A is read. Eigenvectors are defined up to
    sign; gradients through them need distinct eigenvalues.

    Returns:
        A namedtuple (eigenvalues (..., n), eigenvectors (..., n, n)), A = V diag(L) V^T.

    Example:
        >>> dyngraph.linalg.eigh(dyngraph.tensor([[2., 1.], [1., 2.]])).eigenvalues
        tensor([1., 3.])
    """
    check_float_matrix("linalg.eigh", A, square=True)
    _check_uplo("linalg.eigh", UPLO)
    n = A.shape[-1]
    return EighResult(*_unpack(apply(eigh_op, A, UPLO=UPLO), [(n,), (n, n)]))


def eigvalsh(A: Tensor, UPLO: str = "L") -> Tensor:
    """The eigenvalues of a symmetric matrix (or batch) in ascending order.

    Example:
        >>> dyngraph.linalg.eigvalsh(dyngraph.tensor([[2., 1.], [1., 2.]]))
        tensor([1., 3.])
    """
    check_float_matrix("linalg.eigvalsh", A, square=True)
    _check_uplo("linalg.eigvalsh", UPLO)
    return apply(eigvalsh_op, A, UPLO=UPLO)


def _tolerance(S_max: Tensor, A: Tensor, atol, rtol) -> Tensor:
    """max(atol, rtol * S_max) as (..., 1), with PyTorch's default rtol eps * max(m, n).

    S_max is (..., 1); a tensor atol or rtol broadcasts against A's batch dims.
    """
    if rtol is None:
        unset = atol is None or (not isinstance(atol, Tensor) and atol <= 0)
        rtol = float(np.finfo(A.dtype.name).eps) * max(A.shape[-2], A.shape[-1]) if unset else 0.0
    from .elementwise import maximum
    tol = S_max * (rtol.to(A.dtype).unsqueeze(-1) if isinstance(rtol, Tensor) else rtol)
    if isinstance(atol, Tensor):
        return maximum(tol, atol.to(A.dtype).unsqueeze(-1))
    return tol if atol is None else maximum(tol, tol * 0 + atol)


@composite("linalg.pinv", "svd (or eigh when hermitian), gt, where, div, matmul")
def pinv(A: Tensor, *, atol=None, rtol=None, hermitian: bool = False, out=None) -> Tensor:
    """The Moore-Penrose pseudo-inverse of A (..., m, n), shape (..., n, m).

    Singular values at most max(atol, rtol * sigma_max) count as zero; with neither given, rtol
    is eps * max(m, n) (PyTorch's default). Differentiable where the rank is full and the
    singular values are distinct.

    Args:
        A: float32 or float64 matrices.
        atol, rtol: absolute and relative tolerances (floats or tensors broadcasting to A's
            batch dims).
        hermitian: A is symmetric (only its lower triangle is read; uses eigh).

    Example:
        >>> dyngraph.linalg.pinv(dyngraph.tensor([[2., 0.], [0., 0.]]))
        tensor([[0.5000, 0.0000],
                [0.0000, 0.0000]])
    """
    check_float_matrix("linalg.pinv", A, square=hermitian)
    from .elementwise import where
    if hermitian:
        L, V = eigh(A)
        S = L.abs()
        tol = _tolerance(S.amax(-1, keepdim=True), A, atol, rtol)
        keep = S > tol
        Sinv = where(keep, 1.0 / where(keep, L, 1.0), 0.0)
        r = (V * Sinv.unsqueeze(-2)) @ V.mT
    else:
        U, S, Vh = linalg_svd(A, full_matrices=False)
        S_max = S[..., :1] if S.shape[-1] else S.sum(-1, keepdim=True)
        tol = _tolerance(S_max, A, atol, rtol)
        keep = S > tol
        Sinv = where(keep, 1.0 / where(keep, S, 1.0), 0.0)  # no 1/0 to poison gradients
        r = (Vh.mT * Sinv.unsqueeze(-2)) @ U.mT
    if out is None:
        return r
    from ._api import write_out
    return write_out(r, out, "linalg.pinv")


def pinverse(input: Tensor, rcond: float = 1e-15) -> Tensor:
    """PyTorch's top-level pinverse: linalg.pinv with rtol=rcond.

    Example:
        >>> dyngraph.pinverse(dyngraph.tensor([[2., 0.], [0., 4.]]))
        tensor([[0.5000, 0.0000],
                [0.0000, 0.2500]])
    """
    return pinv(input, rtol=rcond)


@composite("linalg.matrix_rank", "svdvals (or eigvalsh when hermitian), gt, sum")
def matrix_rank(A: Tensor, *, atol=None, rtol=None, hermitian: bool = False,
                out=None) -> Tensor:
    """The numerical rank of A (..., m, n): the count of singular values above the tolerance.

    The tolerance is max(atol, rtol * sigma_max), as in linalg.pinv. Returns int64 (not
    differentiable).

    Example:
        >>> dyngraph.linalg.matrix_rank(dyngraph.tensor([[1., 2.], [2., 4.]]))
        tensor(1)
    """
    check_float_matrix("linalg.matrix_rank", A, square=hermitian)
    from .. import autograd
    with autograd.no_grad():
        S = eigvalsh(A).abs() if hermitian else svdvals(A)
        S_max = S.amax(-1, keepdim=True) if S.shape[-1] else S.sum(-1, keepdim=True)
        tol = _tolerance(S_max, A, atol, rtol)
        r = (S > tol).sum(-1)
    if out is None:
        return r
    from ._api import write_out
    return write_out(r, out, "linalg.matrix_rank")


# ----------------------------------------------------------------------------------------------
# Tensor methods
# ----------------------------------------------------------------------------------------------

for _name, _fn in [("svd", svd), ("qr", qr), ("pinverse", pinverse)]:
    setattr(Tensor, _name, _fn)

# The names `from dyngraph.ops import *` puts at the top level: PyTorch's top-level functions
# only (torch has no top-level eigh or svdvals; those live in dyngraph.linalg).
__all__ = ["svd", "qr", "pinverse"]
