"""Contractions: matmul (and mm, bmm, mv, dot, outer built on it) and einsum."""

from __future__ import annotations

from ._api import Tensor, apply, write_out
from .registry import OpKind, composite, defop

CONTRACTION = OpKind.CONTRACTION


@defop("matmul", CONTRACTION, save=("inputs",))
def matmul_op(xp, a, b):
    return xp.matmul(a, b)


@matmul_op.def_grad
def _(ctx, g):
    # Inputs are at least 2-D here (the public function reshapes 1-D operands); batch dims that
    # were broadcast are summed back by the engine.
    a, b = ctx.inputs
    ga = g @ b.mT if a._rg else None
    gb = a.mT @ g if b._rg else None
    return ga, gb


def _mm_error(name, a, b):
    return RuntimeError(
        f"{name}: shapes {tuple(a.shape)} and {tuple(b.shape)} cannot be multiplied "
        f"({a.shape[-1]} != {b.shape[-2] if b.ndim > 1 else b.shape[0]})")


def matmul(input: Tensor, other: Tensor, *, out=None) -> Tensor:
    """Matrix product with numpy/PyTorch semantics for 1-D operands and broadcast batch dims.

    Example:
        >>> dyngraph.matmul(dyngraph.ones(2, 3), dyngraph.ones(3)).shape
        dyngraph.Size([2])
    """
    a, b = input, other
    if a.ndim == 0 or b.ndim == 0:
        raise RuntimeError(f"matmul: both arguments need at least 1 dimension, but got "
                           f"{a.ndim}D and {b.ndim}D tensors")
    k_b = b.shape[-2] if b.ndim > 1 else b.shape[0]
    if a.shape[-1] != k_b:
        raise _mm_error("matmul", a, b)
    if a.dtype is not b.dtype and (a.dtype.is_floating_point != b.dtype.is_floating_point):
        raise RuntimeError(f"matmul: expected both operands to have the same dtype, but got "
                           f"{a.dtype.name} and {b.dtype.name}")
    squeeze_a = a.ndim == 1
    squeeze_b = b.ndim == 1
    if squeeze_a:
        a = a.unsqueeze(0)
    if squeeze_b:
        b = b.unsqueeze(1)
    r = apply(matmul_op, a, b)
    if squeeze_a and squeeze_b:
        r = r.reshape(())
    elif squeeze_a:
        r = r.squeeze(-2)
    elif squeeze_b:
        r = r.squeeze(-1)
    return write_out(r, out, "matmul")


def mm(input: Tensor, mat2: Tensor, *, out=None) -> Tensor:
    """Product of two matrices (2-D only)."""
    if input.ndim != 2 or mat2.ndim != 2:
        raise RuntimeError(f"mm: expected 2-D tensors, got {input.ndim}D and {mat2.ndim}D "
                           f"(use matmul or bmm for batches)")
    if input.shape[1] != mat2.shape[0]:
        raise _mm_error("mm", input, mat2)
    return write_out(apply(matmul_op, input, mat2), out, "mm")


def bmm(input: Tensor, mat2: Tensor, *, out=None) -> Tensor:
    """Batched matrix product of (b, n, m) and (b, m, p) tensors."""
    if input.ndim != 3 or mat2.ndim != 3:
        raise RuntimeError(f"bmm: batch1 must be a 3D tensor and batch2 must be a 3D tensor "
                           f"(got {input.ndim}D and {mat2.ndim}D)")
    if input.shape[0] != mat2.shape[0]:
        raise RuntimeError(f"bmm: batch sizes differ: {tuple(input.shape)} and "
                           f"{tuple(mat2.shape)}")
    if input.shape[2] != mat2.shape[1]:
        raise _mm_error("bmm", input, mat2)
    return write_out(apply(matmul_op, input, mat2), out, "bmm")


@composite("mv", "matmul")
def mv(input: Tensor, vec: Tensor, *, out=None) -> Tensor:
    """Matrix-vector product."""
    if input.ndim != 2 or vec.ndim != 1:
        raise RuntimeError(f"mv: expected a matrix and a vector, got {input.ndim}D and "
                           f"{vec.ndim}D")
    return matmul(input, vec, out=out)


@composite("dot", "mul, sum")
def dot(input: Tensor, other: Tensor, *, out=None) -> Tensor:
    """Dot product of two 1-D tensors."""
    if input.ndim != 1 or other.ndim != 1:
        raise RuntimeError(f"1D tensors expected, but got {input.ndim}D and {other.ndim}D tensors")
    if input.shape[0] != other.shape[0]:
        raise RuntimeError(f"inconsistent tensor size, expected tensor [{input.shape[0]}] and src "
                           f"[{other.shape[0]}] to have the same number of elements, but got "
                           f"{input.shape[0]} and {other.shape[0]} elements respectively")
    return matmul(input, other, out=out)


inner = dot


@composite("outer", "reshape, mul")
def outer(input: Tensor, vec2: Tensor, *, out=None) -> Tensor:
    """Outer product of two 1-D tensors."""
    return write_out(input.reshape(-1, 1) * vec2.reshape(1, -1), out, "outer")


ger = outer

Tensor.matmul = matmul
Tensor.mm = mm
Tensor.bmm = bmm
Tensor.mv = mv
Tensor.dot = dot
Tensor.inner = inner
Tensor.outer = outer
Tensor.ger = outer
Tensor.__matmul__ = matmul
Tensor.__rmatmul__ = lambda self, other: matmul(other if isinstance(other, Tensor) else
                                                 Tensor(other), self)


__all__ = [_n for _n, _v in list(globals().items())
           if not _n.startswith("_") and callable(_v) and getattr(_v, "__module__", "") == __name__]
