"""Per-op lowering: how every op of the table lowers, and the scalar code a fused node emits.

`LOWERING` says, for every op in the table, how it runs once compiled ("kernel", "extern: ...",
or "interpreter: <reason>"); a test fails when an op is missing from it. The sets below say which
dtypes a kernel handles per op, and `_emit` writes one node's scalar computation into a kernel
(compiler/kernel_ir.py). Grouping nodes into kernels and ordering steps is compiler/lower.py.
"""

from __future__ import annotations

from dyngraph.ops.registry import OPS, OpKind

from .ir import has_sym
from .kernel_ir import KernelBuilder, ReduceKind

__all__ = ["LOWERING", "lowering_of"]

_FLOAT_ONLY = {"exp", "exp2", "expm1", "log", "log2", "log1p", "log10", "reciprocal", "sqrt",
               "rsqrt", "sin", "cos", "tan", "sinh", "cosh", "asin", "acos", "atan", "asinh",
               "acosh", "atanh", "tanh", "sigmoid", "erf", "div", "atan2", "hypot", "logaddexp",
               "copysign", "pow", "fmod", "remainder", "erfc", "lgamma", "xlogy"}
_BOOL_RESULT = {"eq", "ne", "lt", "le", "gt", "ge", "isnan", "isinf", "isfinite", "logical_not",
                "logical_and", "logical_or", "logical_xor", "signbit"}
_NOT_ON_BOOL = {"neg", "sub", "relu", "sign", "floor", "ceil", "trunc", "round", "abs"}
_INT_ONLY = {"bitwise_and", "bitwise_or", "bitwise_xor", "bitwise_not"}
_REDUCE_KIND = {"sum": ReduceKind.SUM, "mean": ReduceKind.MEAN, "prod": ReduceKind.PROD,
                "amax": ReduceKind.MAX, "amin": ReduceKind.MIN, "argmax": ReduceKind.ARGMAX,
                "argmin": ReduceKind.ARGMIN, "any": ReduceKind.ANY, "all": ReduceKind.ALL,
                "sum_to_size": ReduceKind.SUM}

# How every op of the table lowers (a test checks that none is missing).
_INTERP = {
    OpKind.MOVEMENT: "interpreter: a view or a copy made by numpy (no arithmetic to fuse)",
    OpKind.INDEX: "interpreter: data-dependent addressing",
    OpKind.SORT: "interpreter: sorting is not a loop nest",
    OpKind.SCAN: "interpreter: scans are sequential along their dim",
    OpKind.CREATION: "interpreter: random draws advance the generator's state",
}
LOWERING: dict[str, str] = {}
for _name, _op in OPS.items():
    if _op.kind.is_elementwise:
        LOWERING[_name] = "kernel"
    elif _name in _REDUCE_KIND:
        LOWERING[_name] = "kernel"
    elif _op.kind in _INTERP:
        LOWERING[_name] = _INTERP[_op.kind]
LOWERING.update({
    "expand": "kernel (a broadcast load) or a numpy view",
    "softmax": "kernel (two reduction loops and a map loop per row)",
    "log_softmax": "kernel (two reduction loops and a map loop per row)",
    "matmul": "extern: BLAS sgemm/dgemm (runtime/blas.py); batched/other dtypes: numpy matmul",
    "einsum": "interpreter: numpy einsum (contractions other than matmul are rare)",
    "nan_to_num": "interpreter: rare; numpy's rule",
    "signbit": "interpreter: rare; numpy's rule",
    "floor_divide": "interpreter: numpy's floor rounding and integer division by zero",
    "bitwise_left_shift": "interpreter: out-of-range shift counts follow numpy",
    "bitwise_right_shift": "interpreter: out-of-range shift counts follow numpy",
    "sum_to_size": "kernel (a sum over the broadcast dims; mixed leading and size-1 dims: "
                   "interpreter)",
    "copy": "kernel (an identity map: the store makes the C-contiguous copy)",
    "fractional_max_pool_indices": "interpreter: numpy windowed argmax (per-plane random "
                                   "windows)",
    # numeric_extra / linalg_extra (scipy.special, scipy.linalg or numpy loops: no kernel)
    **{_n: "interpreter: scipy.special (cupyx.scipy.special); no libm function to call"
       for _n in ("i0", "i0e", "i1", "i1e", "igamma", "igammac", "erfcx", "ndtri")},
    "frexp": "interpreter: numpy frexp (no scalar expression in the renderers)",
    "frexp_exponent": "interpreter: numpy frexp (an int32 result)",
    "nextafter": "interpreter: numpy nextafter (no scalar expression in the renderers)",
    "xlog1py": "interpreter: numpy log1p with xlogy's zero rule",
    **{_n: "interpreter: scipy.linalg / numpy loops (triangular solves, LU)"
       for _n in ("solve_triangular", "cholesky_solve", "cholesky_inverse", "lu_factor",
                  "lu_permutation")},
    "cholesky_ex": "interpreter: numpy.linalg / cupy.linalg (LAPACK Cholesky)",
    "cholesky_info": "interpreter: numpy.linalg / cupy.linalg (LAPACK Cholesky)",
    "matrix_exp": "interpreter: Pade scaling and squaring (matmul and solve per matrix)",
    "ctc_loss": "interpreter: a loop over time steps (numpy/cupy calls per step)",
    "ctc_loss_backward": "interpreter: alpha and beta loops over time steps",
    "norm": "interpreter: vector norms with arbitrary ord",
    "im2col": "interpreter: numpy strided gather (conv)",
    "col2im": "interpreter: numpy scatter-add (conv backward)",
    "constant_pad": "interpreter: numpy pad",
    "max_pool2d_indices": "interpreter: numpy windowed argmax",
    "adaptive_max_pool2d_indices": "interpreter: numpy windowed argmax",
    "cross_entropy_indices": "interpreter: eager mode's fused form; traces record "
                             "log_softmax + gather instead, which fuse into kernels",
    "cross_entropy_indices_backward": "interpreter: eager mode's fused form (see above)",
    "lstm_layer": "interpreter: a loop over time steps (numpy/cupy calls per step)",
    "lstm_layer_backward": "interpreter: a loop over time steps (numpy/cupy calls per step)",
    "gru_layer": "interpreter: a loop over time steps (numpy/cupy calls per step)",
    "gru_layer_backward": "interpreter: a loop over time steps (numpy/cupy calls per step)",
    "rnn_layer": "interpreter: a loop over time steps (numpy/cupy calls per step)",
    "rnn_layer_backward": "interpreter: a loop over time steps (numpy/cupy calls per step)",
    # libm and CUDA's math library have erfc and lgamma (rendered in kernels) but none of these
    "erfinv": "interpreter: scipy.special.erfinv (no libm function to call from a kernel)",
    "digamma": "interpreter: scipy.special.psi (no libm function to call from a kernel)",
    "polygamma": "interpreter: scipy.special.polygamma (no libm function to call from a kernel)",
    # dense factorizations (dyngraph/ops/linalg_lapack.py): pivoting is not a loop nest to fuse
    "det": "interpreter: numpy.linalg / cupy.linalg (LAPACK LU)",
    "slogdet": "interpreter: numpy.linalg / cupy.linalg (LAPACK LU)",
    "slogdet_sign": "interpreter: numpy.linalg / cupy.linalg (LAPACK LU)",
    "inv": "interpreter: numpy.linalg / cupy.linalg (LAPACK LU)",
    "solve": "interpreter: numpy.linalg / cupy.linalg (LAPACK LU)",
    "cholesky": "interpreter: numpy.linalg / cupy.linalg (LAPACK Cholesky)",
    # decompositions (dyngraph/ops/linalg_decomp.py): iterative or Householder LAPACK drivers
    "svd": "interpreter: numpy.linalg / cupy.linalg (LAPACK gesdd)",
    "svdvals": "interpreter: numpy.linalg / cupy.linalg (LAPACK gesdd)",
    "qr": "interpreter: numpy.linalg / cupy.linalg (LAPACK geqrf + orgqr)",
    "eigh": "interpreter: numpy.linalg / cupy.linalg (LAPACK syevd)",
    "eigvalsh": "interpreter: numpy.linalg / cupy.linalg (LAPACK syevd)",
})


def lowering_of(op: str) -> str | None:
    """How `op` lowers ("kernel", "extern: ...", "interpreter: <reason>"), or None if unknown."""
    return LOWERING.get(op)


# ----- scalar code of one node -----------------------------------------------------------------

def _emit(kb: KernelBuilder, n, arg) -> int:
    """Emit node n's scalar computation; returns the instr holding its value (out dtype)."""
    out_dt = n.out.dtype.name
    if n.op in _REDUCE_KIND:
        src, sdt = arg(0)
        cast = n.attrs.get("dtype")
        kind = _REDUCE_KIND[n.op]
        if cast is not None:
            src = kb.op("cast", [src], cast.name)
            sdt = cast.name
        if kind in (ReduceKind.ANY, ReduceKind.ALL):
            if sdt != "bool":
                src = kb.op("cast", [src], "bool")
            acc = "bool"
        elif kind in (ReduceKind.SUM, ReduceKind.PROD):
            acc = "float64" if sdt in ("float32", "float64") else "int64"
        elif kind is ReduceKind.MEAN:
            acc = "float64"
        else:
            acc = sdt
        if acc != sdt and kind not in (ReduceKind.ANY, ReduceKind.ALL):
            src = kb.op("cast", [src], acc)
        r = kb.reduce(kind, src, out_dt if kind not in (ReduceKind.ARGMAX, ReduceKind.ARGMIN)
                      else "int64", acc)
        return r
    if n.op in ("softmax", "log_softmax"):
        x, xdt = arg(0)
        m = kb.reduce(ReduceKind.MAX, x, xdt, xdt)
        xm = kb.op("sub", [x, m], xdt)
        e = kb.op("exp", [xm], xdt)
        s = kb.reduce(ReduceKind.SUM, kb.op("cast", [e], "float64") if xdt == "float32" else e,
                      xdt, "float64")
        if n.op == "softmax":
            return kb.op("mul", [e, kb.op("div", [kb.const(1.0, xdt), s], xdt)], xdt)
        return kb.op("sub", [xm, kb.op("log", [s], xdt)], xdt)
    if n.op in ("expand", "copy"):
        v, vdt = arg(0)
        return v
    rule = OPS[n.op]
    cdt = n.compute_dtype.name if n.compute_dtype is not None else None
    args = []
    for j in range(len(n.inputs)):
        v, vdt = arg(j)
        tail = rule.dtype_rule == "promote_tail" and j == 0
        if vdt is None:          # a Python scalar (or a missing clamp bound)
            if v is None:
                args.append(None)
                continue
            want = "bool" if tail else (cdt or out_dt)
            if has_sym(v):      # a size expression: a per-call parameter (_SIZE_SCALAR_OPS)
                v = kb.param(kb.params.index(v), v, want)
            else:
                v = kb.const(bool(v) if want == "bool" else (int(v) if want.startswith("i")
                                                             else float(v)), want)
            vdt = want
        elif tail:
            if vdt != "bool":
                v = kb.op("cast", [v], "bool")
                vdt = "bool"
        elif cdt is not None and vdt != cdt:
            v = kb.op("cast", [v], cdt)
            vdt = cdt
        args.append(v)
    adt = kb.instrs[next(a for a in args if a is not None)].dtype if args else out_dt
    if n.op == "cast":
        return kb.op("cast", args, out_dt)
    if n.op == "clamp":
        x, lo, hi = args
        if lo is not None:
            x = kb.op("maximum", [x, lo], adt)
        if hi is not None:
            x = kb.op("minimum", [x, hi], adt)
        r, rdt = x, adt
    elif n.op == "where":
        r, rdt = kb.op("where", args, kb.instrs[args[1]].dtype), kb.instrs[args[1]].dtype
    else:
        rdt = "bool" if n.op in _BOOL_RESULT else adt
        r = kb.op(n.op, args, rdt)
    if rdt != out_dt:
        r = kb.op("cast", [r], out_dt)
    return r
