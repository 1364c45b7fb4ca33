"""Contractions: matmul (mm, bmm, mv, dot, addmm, baddbmm built on it), einsum and tensordot.

`matmul` is the BLAS primitive. `einsum` is one primitive that takes a normalized equation
(letters only: ellipses are expanded to fresh letters when the call is parsed), so its gradient
rule is again an einsum: the gradient for an operand contracts the output gradient with the
other operands. Letters summed away in that operand alone are expanded back, and repeated
letters (diagonals) are rebuilt with identity matrices.
"""

from __future__ import annotations

import string

import numpy as np

from ._api import Tensor, apply, as_tensor_arg, inplace, register_method, write_out
from .registry import OpKind, composite, defop

CONTRACTION = OpKind.CONTRACTION


def _is_half(npdt) -> bool:
    # numpy computes dtype.name in Python (slow); bfloat16 is the only 2-byte kind "V" we use
    return npdt.itemsize == 2 and (npdt.kind == "f" or npdt.kind == "V")


@defop("matmul", CONTRACTION, save=("inputs",))
def matmul_op(xp, a, b):
    if _is_half(a.dtype) and xp is np:
        # accumulate in float32 (numpy's float16 matmul has no BLAS path); cupy's float16
        # matmul is cuBLAS's, which accumulates in float32 itself
        return xp.matmul(a.astype(np.float32), b.astype(np.float32)).astype(a.dtype)
    return xp.matmul(a, b)


@matmul_op.def_grad
def _(ctx, g):
    # Inputs are at least 2-D here (the public function reshapes 1-D operands); batch dims that
    # were broadcast are summed back by the engine.
    a, b = ctx.inputs
    ga = gb = None
    # Each gradient takes its input's memory layout: a transposed (F-ordered) operand, such as
    # the weight view in `x @ W.t()`, gets (g^T-form)^T, which is C-ordered once the view's own
    # gradient transposes it back. Parameters then receive C-ordered gradients with no copy.
    if a._rg:
        ga = apply(matmul_op, b, g.mT).mT if _f_ordered(a) else apply(matmul_op, g, b.mT)
    if b._rg:
        gb = apply(matmul_op, g.mT, a).mT if _f_ordered(b) else apply(matmul_op, a.mT, g)
    return ga, gb


def _f_ordered(t) -> bool:
    d = t._data
    return d.ndim == 2 and not d.flags.c_contiguous and d.flags.f_contiguous


def _mm_error(name, a, b):
    k_b = b.shape[-2] if b.ndim > 1 else b.shape[0]
    return RuntimeError(
        f"{name}: shapes {tuple(a.shape)} and {tuple(b.shape)} cannot be multiplied "
        f"({a.shape[-1]} != {k_b})")


def _check_dtypes(name, a, b):
    if a.dtype is not b.dtype:
        raise RuntimeError(
            f"{name}: expected both operands to have the same dtype, but got {a.dtype.name} and "
            f"{b.dtype.name}; cast one of them with .to(...)")


def matmul(input: Tensor, other: Tensor, *, out=None) -> Tensor:
    """Matrix product with PyTorch's semantics for 1-D operands and broadcast batch dims.

    1-D x 1-D is a dot product, a 1-D operand is treated as a row (left) or column (right)
    vector and that dimension is removed from the result; batch dims broadcast.

    Args:
        input: the left operand (at least 1-D).
        other: the right operand (at least 1-D), of the same dtype.
        out: optional output tensor.

    Example:
        >>> dyngraph.matmul(dyngraph.ones(2, 3), dyngraph.ones(3)).shape
        dyngraph.Size([2])
    """
    a, b = input, as_tensor_arg(other, input)
    ad, bd = a._data, b._data
    if ad.ndim == 2 and bd.ndim == 2 and ad.shape[1] == bd.shape[0] and ad.dtype == bd.dtype:
        r = apply(matmul_op, a, b)  # the common case, already checked
        return r if out is None else write_out(r, out, "matmul")
    if a.ndim == 0 or b.ndim == 0:
        raise RuntimeError(f"matmul: both arguments need at least 1 dimension, but got "
                           f"{a.ndim}D and {b.ndim}D tensors (use mul or * for scalars)")
    k_b = b.shape[-2] if b.ndim > 1 else b.shape[0]
    if a.shape[-1] != k_b:
        raise _mm_error("matmul", a, b)
    _check_dtypes("matmul", a, b)
    batch_a, batch_b = tuple(a.shape[:-2]), tuple(b.shape[:-2])
    try:
        if batch_a and batch_b and batch_a != batch_b:
            np.broadcast_shapes(batch_a, batch_b)
    except ValueError:
        raise RuntimeError(
            f"matmul: batch dimensions {batch_a} and {batch_b} of shapes {tuple(a.shape)} and "
            f"{tuple(b.shape)} cannot be broadcast together") from None
    squeeze_a, squeeze_b = a.ndim == 1, b.ndim == 1
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
    """Product of two matrices (2-D only; see matmul for batches and vectors)."""
    if input.ndim != 2 or mat2.ndim != 2:
        raise RuntimeError(f"mm: expected 2-D tensors, got {input.ndim}D and {mat2.ndim}D "
                           f"(use matmul or bmm for batches)")
    if input.shape[1] != mat2.shape[0]:
        raise _mm_error("mm", input, mat2)
    _check_dtypes("mm", input, mat2)
    return write_out(apply(matmul_op, input, mat2), out, "mm")


def bmm(input: Tensor, mat2: Tensor, *, out=None) -> Tensor:
    """Batched matrix product of (b, n, m) and (b, m, p) tensors (no broadcasting)."""
    if input.ndim != 3 or mat2.ndim != 3:
        raise RuntimeError(f"bmm: batch1 must be a 3D tensor and batch2 must be a 3D tensor "
                           f"(got {input.ndim}D and {mat2.ndim}D)")
    if input.shape[0] != mat2.shape[0]:
        raise RuntimeError(f"bmm: batch sizes differ: shapes {tuple(input.shape)} and "
                           f"{tuple(mat2.shape)} ({input.shape[0]} != {mat2.shape[0]})")
    if input.shape[2] != mat2.shape[1]:
        raise _mm_error("bmm", input, mat2)
    _check_dtypes("bmm", input, mat2)
    return write_out(apply(matmul_op, input, mat2), out, "bmm")


@composite("mv", "matmul")
def mv(input: Tensor, vec: Tensor, *, out=None) -> Tensor:
    """Matrix-vector product of a (n, m) matrix and a (m,) vector."""
    if input.ndim != 2 or vec.ndim != 1:
        raise RuntimeError(f"mv: expected a matrix and a vector, got {input.ndim}D and "
                           f"{vec.ndim}D")
    if input.shape[1] != vec.shape[0]:
        raise _mm_error("mv", input, vec)
    return matmul(input, vec, out=out)


@composite("dot", "matmul")
def dot(input: Tensor, tensor: Tensor, *, out=None) -> Tensor:
    """Dot product of two 1-D tensors of the same size (PyTorch names the second `tensor`)."""
    if input.ndim != 1 or tensor.ndim != 1:
        raise RuntimeError(f"1D tensors expected, but got {input.ndim}D and {tensor.ndim}D tensors")
    if input.shape[0] != tensor.shape[0]:
        raise RuntimeError(f"inconsistent tensor size, expected tensor [{input.shape[0]}] and src "
                           f"[{tensor.shape[0]}] to have the same number of elements, but got "
                           f"{input.shape[0]} and {tensor.shape[0]} elements respectively")
    return matmul(input, tensor, out=out)


def vdot(input: Tensor, other: Tensor, *, out=None) -> Tensor:
    """Dot product of two 1-D tensors (the same as `dot` for real dtypes)."""
    return dot(input, other, out=out)


@composite("inner", "einsum")
def inner(input: Tensor, other: Tensor, *, out=None) -> Tensor:
    """Sum of products over the last dimension of both tensors (dot for 1-D tensors)."""
    if input.ndim == 0 or other.ndim == 0:
        return write_out(input * other, out, "inner")
    if input.shape[-1] != other.shape[-1]:
        raise RuntimeError(f"inner: last dimensions differ: shapes {tuple(input.shape)} and "
                           f"{tuple(other.shape)} ({input.shape[-1]} != {other.shape[-1]})")
    return write_out(tensordot(input, other, ([input.ndim - 1], [other.ndim - 1])), out,
                     "inner")


@composite("outer", "reshape, mul")
def outer(input: Tensor, vec2: Tensor, *, out=None) -> Tensor:
    """Outer product of two 1-D tensors: out[i, j] = input[i] * vec2[j]."""
    if input.ndim != 1 or vec2.ndim != 1:
        raise RuntimeError(f"outer: expected 1-D tensors, got {input.ndim}D and {vec2.ndim}D")
    return write_out(input.reshape(-1, 1) * vec2.reshape(1, -1), out, "outer")


ger = outer


def _add_scaled(input, prod, beta, alpha):
    r = prod if alpha == 1 else prod * alpha
    if beta == 0:  # input is ignored (its NaNs too), as in PyTorch
        return r
    return r + (input if beta == 1 else input * beta)


@composite("addmm", "matmul, mul, add")
def addmm(input: Tensor, mat1: Tensor, mat2: Tensor, *, beta=1, alpha=1, out=None) -> Tensor:
    """beta * input + alpha * (mat1 @ mat2), with input broadcast to the product's shape."""
    return write_out(_add_scaled(input, mm(mat1, mat2), beta, alpha), out, "addmm")


@composite("baddbmm", "matmul, mul, add")
def baddbmm(input: Tensor, batch1: Tensor, batch2: Tensor, *, beta=1, alpha=1,
            out=None) -> Tensor:
    """beta * input + alpha * bmm(batch1, batch2)."""
    return write_out(_add_scaled(input, bmm(batch1, batch2), beta, alpha), out,
                     "baddbmm")


@composite("addmv", "matmul, mul, add")
def addmv(input: Tensor, mat: Tensor, vec: Tensor, *, beta=1, alpha=1, out=None) -> Tensor:
    """beta * input + alpha * (mat @ vec)."""
    return write_out(_add_scaled(input, mv(mat, vec), beta, alpha), out, "addmv")


# ----------------------------------------------------------------------------------------------
# einsum
# ----------------------------------------------------------------------------------------------

def _parse_normalized(equation: str):
    lhs, out = equation.split("->")
    return lhs.split(","), out


def _letter_sizes(terms, shapes):
    sizes: dict = {}
    for term, shape in zip(terms, shapes):
        for c, s in zip(term, shape):
            if sizes.get(c, 1) == 1:
                sizes[c] = s
    return sizes


def _no_repeats(terms) -> bool:
    return all(len(set(t)) == len(t) for t in terms)


def _contract_pair(xp, ta, tb, to, a, b, sizes):
    """Two-operand einsum as one batched matmul, which is what makes einsum fast (numpy's own
    einsum does not use BLAS for most equations): sum away the letters only one operand has,
    permute to (batch, free, contracted) and (batch, contracted, free), reshape, matmul."""
    only_a = [c for c in ta if c not in tb and c not in to]
    only_b = [c for c in tb if c not in ta and c not in to]
    if only_a:
        a = a.sum(axis=tuple(ta.index(c) for c in only_a))
        ta = "".join(c for c in ta if c not in only_a)
    if only_b:
        b = b.sum(axis=tuple(tb.index(c) for c in only_b))
        tb = "".join(c for c in tb if c not in only_b)
    batch = [c for c in to if c in ta and c in tb]
    left = [c for c in to if c in ta and c not in tb]
    right = [c for c in to if c in tb and c not in ta]
    contracted = [c for c in ta if c in tb and c not in to]

    def numel(letters):
        n = 1
        for c in letters:
            n *= sizes[c]
        return n

    a = a.transpose([ta.index(c) for c in batch + left + contracted])
    b = b.transpose([tb.index(c) for c in batch + contracted + right])
    nb, nk = numel(batch), numel(contracted)
    r = xp.matmul(a.reshape(nb, numel(left), nk), b.reshape(nb, nk, numel(right)))
    produced = batch + left + right
    r = r.reshape(tuple(sizes[c] for c in produced))
    r = r.transpose([produced.index(c) for c in to])
    return r if r.flags.c_contiguous else r.copy()


@defop("einsum", CONTRACTION, save=("inputs",))
def einsum_op(xp, *operands, equation):
    terms, _ = _parse_normalized(equation)
    sizes = _letter_sizes(terms, [o.shape for o in operands])
    ops = []
    for term, o in zip(terms, operands):
        want = tuple(sizes[c] for c in term)
        ops.append(o if o.shape == want else xp.broadcast_to(o, want))
    dt = ops[0].dtype if ops else None
    if dt is not None and _is_half(dt):
        ops = [o.astype(np.float32) for o in ops]
    out_term = equation.split("->")[1]
    if len(ops) == 2 and _no_repeats(terms) and ops[0].dtype.kind in "fc":
        out = _contract_pair(xp, terms[0], terms[1], out_term, ops[0], ops[1], sizes)
    elif xp is np:
        out = np.einsum(equation, *ops, optimize=len(ops) > 1)
    else:
        out = xp.einsum(equation, *ops)
    if dt is not None and out.dtype != dt:
        out = out.astype(dt)
    if getattr(out, "base", None) is not None and len(ops) == 1:
        out = out.copy()  # einsum returns views for transposes and diagonals; results own memory
    return out


@einsum_op.def_grad
def _(ctx, g):
    terms, out_term = _parse_normalized(ctx.attrs["equation"])
    inputs = ctx.inputs
    sizes = _letter_sizes(terms, [ctx.input_shape(i) for i in range(len(terms))])
    used = set("".join(terms))
    fresh = iter(c for c in string.ascii_letters if c not in used)
    grads = []
    for i, term in enumerate(terms):
        x = inputs[i]
        if not getattr(x, "_rg", False):
            grads.append(None)
            continue
        subs = [out_term] + [t for j, t in enumerate(terms) if j != i]
        ops = [g] + [o for j, o in enumerate(inputs) if j != i]
        # A repeated letter (a diagonal) gets a fresh letter tied to it by an identity matrix.
        target, seen = [], set()
        for c in term:
            if c in seen:
                c2 = next(fresh)
                from .creation import eye
                subs.append(target[term.index(c)] + c2)
                ops.append(eye(sizes[c], dtype=g.dtype, device=g.device))
                c = c2
            seen.add(c)
            target.append(c)
        available = set("".join(subs))
        kept = [c for c in target if c in available]
        r = apply(einsum_op, *ops, equation=",".join(subs) + "->" + "".join(kept))
        if len(kept) != len(target):
            # Letters summed away in this operand alone: every element gets the same gradient.
            r = r.reshape(tuple(r.shape[kept.index(c)] if c in available else 1
                                for c in target))
        full = tuple(sizes[c] for c in term)
        if tuple(r.shape) != full:
            # Size-1 dims that broadcast in the forward: expand here, the engine sums back.
            r = r.expand(*full)
        grads.append(r)
    return tuple(grads)


def _sublist_to_equation(args):
    """einsum(op1, sublist1, op2, sublist2, ..., [sublist_out]) as (equation, operands)."""
    def letters(sub):
        return "".join("..." if s is Ellipsis else string.ascii_letters[s] for s in sub)
    operands = list(args[0::2])
    terms = [letters(s) for s in args[1::2]]
    if len(args) % 2:
        operands.pop()
        return ",".join(terms) + "->" + letters(args[-1]), operands
    return ",".join(terms), operands


def _normalize_equation(equation: str, shapes) -> str:
    """Expand ellipses and the implicit output; validate the equation against the shapes."""
    eq = equation.replace(" ", "")
    lhs, arrow, rhs = eq.partition("->")
    terms = lhs.split(",")
    if len(terms) != len(shapes):
        more = "more" if len(shapes) > len(terms) else "fewer"
        raise RuntimeError(f"einsum(): {more} operands were provided than specified in the "
                         f"equation '{equation}' ({len(shapes)} operands, {len(terms)} terms)")
    for t in terms + [rhs]:
        bad = [c for c in t.replace("...", "") if c not in string.ascii_letters]
        if bad or t.count("...") > 1:
            raise RuntimeError(f"einsum(): invalid subscript {bad[0] if bad else '...'!r} in "
                             f"'{equation}'; use letters a-z, A-Z and at most one '...' a term")
    used = set(eq) & set(string.ascii_letters)
    fresh = [c for c in string.ascii_letters if c not in used]
    n_ell = 0
    for i, (t, shape) in enumerate(zip(terms, shapes)):
        n_letters = len(t.replace("...", ""))
        if "..." in t:
            if n_letters > len(shape):
                raise RuntimeError(f"einsum(): the number of subscripts in the equation "
                                 f"({n_letters}) is more than the number of dimensions "
                                 f"({len(shape)}) for operand {i}")
            n_ell = max(n_ell, len(shape) - n_letters)
        elif n_letters != len(shape):
            raise RuntimeError(f"einsum(): the number of subscripts in the equation ({n_letters}) "
                             f"does not match the number of dimensions ({len(shape)}) for "
                             f"operand {i} and no ellipsis was given")
    ell = "".join(fresh[:n_ell])
    # Each operand's ellipsis covers the last of the broadcast ellipsis dims (right-aligned).
    terms = [t.replace("...", ell[n_ell - (len(s) - len(t.replace("...", ""))):])
             for t, s in zip(terms, shapes)]
    if arrow:
        out = rhs.replace("...", ell)
    else:
        counts: dict = {}
        for c in "".join(terms):
            counts[c] = counts.get(c, 0) + 1
        out = ell + "".join(sorted(c for c, k in counts.items() if k == 1 and c not in ell))
    for c in out:
        if out.count(c) > 1:
            raise RuntimeError(f"einsum(): output subscript {c} appears more than once in the "
                             f"output of '{equation}'")
        if c not in "".join(terms):
            raise RuntimeError(f"einsum(): output subscript {c} does not appear in the equation "
                             f"for any input operand ('{equation}')")
    sizes: dict = {}
    for i, (t, shape) in enumerate(zip(terms, shapes)):
        own: dict = {}
        for c, s in zip(t, shape):
            if c in own and own[c] != s:
                raise RuntimeError(f"einsum(): subscript {c} is repeated for operand {i} but the "
                                 f"sizes don't match, {own[c]} != {s}")
            own[c] = s
            prev = sizes.get(c)
            if prev is not None and prev != s and 1 not in (prev, s):
                raise RuntimeError(f"einsum(): subscript {c} has size {s} for operand {i} which "
                                 f"does not broadcast with previously seen size {prev} "
                                 f"(equation '{equation}', shapes {[tuple(x) for x in shapes]})")
            if prev is None or prev == 1:
                sizes[c] = s
    return ",".join(terms) + "->" + out


def einsum(*args) -> Tensor:
    """Sum of products over the letters of an Einstein-summation equation.

    Supports `einsum(equation, *operands)`, `einsum(equation, [operands])` and the sublist form
    `einsum(op1, [0, 1], op2, [1, 2], [0, 2])`; implicit output (the letters used once, sorted),
    '...' for broadcast batch dims, and repeated letters for diagonals and traces.

    Args:
        equation: e.g. 'bij,bjk->bik'.
        operands: the tensors, one per comma-separated term.

    Example:
        >>> a, b = dyngraph.ones(2, 3), dyngraph.ones(3, 4)
        >>> dyngraph.einsum('ij,jk->ik', a, b).shape
        dyngraph.Size([2, 4])
    """
    if not args:
        raise TypeError("einsum(): must specify the equation string and at least one operand")
    if isinstance(args[0], str):
        equation, operands = args[0], list(args[1:])
        if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
            operands = list(operands[0])
    else:
        equation, operands = _sublist_to_equation(args)
    if not operands:
        raise RuntimeError("einsum(): must provide at least one operand")
    operands = [as_tensor_arg(o) for o in operands]
    eq = _normalize_equation(equation, [tuple(o.shape) for o in operands])
    return apply(einsum_op, *operands, equation=eq)


@composite("tensordot", "einsum")
def tensordot(a: Tensor, b: Tensor, dims=2, out=None) -> Tensor:
    """Contract the last `dims` dims of `a` with the first of `b`, or the listed dim pairs."""
    if isinstance(dims, int):
        if dims < 0:
            raise RuntimeError(f"tensordot expects dims >= 0, but got dims={dims}")
        da, db = list(range(a.ndim - dims, a.ndim)), list(range(dims))
    else:
        da, db = ([d] if isinstance(d, int) else list(d) for d in dims)
    if len(da) != len(db):
        raise RuntimeError(f"tensordot: both dimension lists should have the same length, got "
                           f"{da} and {db}")
    da, db = [d % max(a.ndim, 1) for d in da], [d % max(b.ndim, 1) for d in db]
    letters = iter(string.ascii_letters)
    ta = [next(letters) for _ in range(a.ndim)]
    tb = [next(letters) for _ in range(b.ndim)]
    for i, j in zip(da, db):
        if a.shape[i] != b.shape[j]:
            raise RuntimeError(f"tensordot: contracted dimensions need to match, but first has "
                               f"size {a.shape[i]} in dim {i} and second has size {b.shape[j]} "
                               f"in dim {j}")
        tb[j] = ta[i]
    res = [c for k, c in enumerate(ta) if k not in da] + [c for k, c in enumerate(tb)
                                                          if k not in db]
    eq = "".join(ta) + "," + "".join(tb) + "->" + "".join(res)
    return write_out(apply(einsum_op, a, b, equation=eq), out, "tensordot")


# ----------------------------------------------------------------------------------------------
# Tensor methods
# ----------------------------------------------------------------------------------------------

for _name, _fn in [("matmul", matmul), ("mm", mm), ("bmm", bmm), ("mv", mv), ("dot", dot),
                   ("vdot", vdot), ("inner", inner), ("outer", outer), ("ger", outer),
                   ("addmm", addmm), ("baddbmm", baddbmm), ("addmv", addmv)]:
    setattr(Tensor, _name, _fn)


def _inplace_method(name, fn):
    def method_(self, *args, beta=1, alpha=1):
        return inplace(lambda t, *a: fn(t, *a, beta=beta, alpha=alpha), self, *args,
                       opname=name + "_")
    method_.__name__ = name + "_"
    method_.__doc__ = f"In-place version of :meth:`{name}`."
    setattr(Tensor, name + "_", method_)


for _name, _fn in [("addmm", addmm), ("baddbmm", baddbmm), ("addmv", addmv)]:
    _inplace_method(_name, _fn)


@register_method("__matmul__")
def _matmul_op(self, other):
    return matmul(self, other)


@register_method("__rmatmul__")
def _rmatmul_op(self, other):
    return matmul(as_tensor_arg(other, self), self)



__all__ = [_n for _n, _v in list(globals().items())
           if not _n.startswith("_") and callable(_v) and getattr(_v, "__module__", "") == __name__]
