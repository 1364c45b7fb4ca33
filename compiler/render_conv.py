"""im2col and col2im as LLVM IR loops: the two sliding-window primitives of convolution
(dyngraph/ops/conv_ops.py) inside a native segment instead of numpy steps between segments.

    void @dg_im2col_<t>(ptr %t, ptr noalias readonly %x, ptr noalias %o)
    void @dg_col2im_<t>(ptr %t, ptr noalias readonly %x, ptr noalias %o)

`%t` is an int64 table (`conv_table`): the image's N, C, H, W, the kernel's kh, kw, the window
counts oh, ow, stride, padding (top, left) and dilation per spatial dim, then the element
strides of the (N, C, H, W) image and of the (N, C, kh, kw, oh, ow) columns; so one function
per op and dtype serves every size and layout (the columns of conv2d are laid out as
(C, kh, kw, N, oh, ow): the loops run in that order, writing im2col's output in memory order).

Per window row, the columns whose element falls inside the image form one range [b0, b1)
computed up front, so the copy (im2col) or the add (col2im) over it is a branch-free loop LLVM
vectorises when the strides are 1; the rest of the row is zeros (im2col) or skipped (col2im).
col2im first zeroes its output, then adds each window in the order of the kernel offsets
(i, j), the order eager mode sums them in: the results are bit-identical.
"""

from __future__ import annotations

from .render_gemm import LoopBuilder

__all__ = ["conv_function", "conv_table", "FIELDS"]

# the table's int64 fields, in order
FIELDS = ("n", "c", "h", "w", "kh", "kw", "oh", "ow", "sh", "sw", "ph", "pw", "dh", "dw",
          "is0", "is1", "is2", "is3", "cs0", "cs1", "cs2", "cs3", "cs4", "cs5")
_TY = {"float32": "float", "float64": "double"}
_MD = {("im2col", "float32"): 1_040_000, ("col2im", "float32"): 1_050_000,
       ("im2col", "float64"): 1_060_000, ("col2im", "float64"): 1_070_000}


def conv_table(image_shape, cols_shape, attrs, image_strides, cols_strides) -> list[int]:
    """The int64 table of one call: shapes, the op's attributes, element strides."""
    n, c, h, w = image_shape
    kh, kw, oh, ow = cols_shape[2:]
    (pt, _), (pl, _) = attrs["padding"]
    sh, sw = attrs["stride"]
    dh, dw = attrs["dilation"]
    return [n, c, h, w, kh, kw, oh, ow, sh, sw, pt, pl, dh, dw, *image_strides, *cols_strides]


def _mul_add(f: LoopBuilder, terms) -> str:
    acc = "0"
    for a, b in terms:
        t = f(f"mul nsw i64 {a}, {b}")
        acc = t if acc == "0" else f(f"add nsw i64 {acc}, {t}")
    return acc


def _clamp(f: LoopBuilder, v: str, lo: str, hi: str) -> str:
    v = f(f"call i64 @llvm.smax.i64(i64 {v}, i64 {lo})")
    return f(f"call i64 @llvm.smin.i64(i64 {v}, i64 {hi})")


def _ceil_div(f: LoopBuilder, a: str, b: str) -> str:
    """ceil(a / b) for b > 0 and any a (floor division of a + b - 1, rounding to -inf)."""
    num = f(f"add nsw i64 {a}, {f(f'sub nsw i64 {b}, 1')}")
    q = f(f"sdiv i64 {num}, {b}")
    r = f(f"srem i64 {num}, {b}")
    neg = f(f"and i1 {f(f'icmp ne i64 {r}, 0')}, {f(f'icmp slt i64 {num}, 0')}")
    return f(f"sub nsw i64 {q}, {f(f'zext i1 {neg} to i64')}")


def conv_function(op: str, dtype: str) -> tuple[str, list[str], str]:
    """(symbol, declarations, internal LLVM definition) of `op` ("im2col" or "col2im")."""
    if op not in ("im2col", "col2im"):
        raise ValueError(f"render_conv: unknown op {op!r}")
    ty = _TY[dtype]
    sym = f"dg_{op}_{'f32' if dtype == 'float32' else 'f64'}"
    f = LoopBuilder(_MD[op, dtype])
    for k, name in enumerate(FIELDS):
        f.emit(f"%{name} = load i64, ptr {f(f'getelementptr inbounds i64, ptr %t, i64 {k}')}")
    zero = "0.0"

    if op == "col2im":       # zero the image first
        def zero_image(nn):
            def per_c(cc):
                def per_h(hh):
                    def per_w(ww):
                        at = _mul_add(f, [(nn, "%is0"), (cc, "%is1"), (hh, "%is2"),
                                          (ww, "%is3")])
                        f.emit(f"store {ty} {zero}, ptr "
                               f"{f(f'getelementptr inbounds {ty}, ptr %o, i64 {at}')}")
                    f.loop("0", "%w", 1, per_w, free=True)
                f.loop("0", "%h", 1, per_h)
            f.loop("0", "%c", 1, per_c)
        f.loop("0", "%n", 1, zero_image)

    def per_channel(cc):
        def per_i(i):
            ih0 = f(f"sub nsw i64 {f(f'mul nsw i64 {i}, %dh')}, %ph")   # image row of a = 0

            def per_j(j):
                iw0 = f(f"sub nsw i64 {f(f'mul nsw i64 {j}, %dw')}, %pw")
                # columns b with 0 <= b*sw + iw0 < w: [b0, b1)
                b0 = _clamp(f, _ceil_div(f, f(f"sub nsw i64 0, {iw0}"), "%sw"), "0", "%ow")
                b1 = _clamp(f, _ceil_div(f, f(f"sub nsw i64 %w, {iw0}"), "%sw"), b0, "%ow")

                def per_n(nn):
                    def per_a(a):
                        ih = f(f"add nsw i64 {f(f'mul nsw i64 {a}, %sh')}, {ih0}")
                        ok = f(f"and i1 {f(f'icmp sge i64 {ih}, 0')}, "
                               f"{f(f'icmp slt i64 {ih}, %h')}")
                        col = _mul_add(f, [(nn, "%cs0"), (cc, "%cs1"), (i, "%cs2"), (j, "%cs3"),
                                           (a, "%cs4")])
                        lo, hi = (f(f"select i1 {ok}, i64 {b0}, i64 %ow"),
                                  f(f"select i1 {ok}, i64 {b1}, i64 %ow"))
                        img = _mul_add(f, [(nn, "%is0"), (cc, "%is1"), (ih, "%is2")])
                        xstep = f("mul nsw i64 %sw, %is3")
                        xbase = f(f"add nsw i64 {img}, {f(f'mul nsw i64 {iw0}, %is3')}")

                        def col_at(b):
                            at = f(f"add nsw i64 {col}, {f(f'mul nsw i64 {b}, %cs5')}")
                            return f(f"getelementptr inbounds {ty}, ptr "
                                     f"{'%o' if op == 'im2col' else '%x'}, i64 {at}")

                        def img_at(b):
                            at = f(f"add nsw i64 {xbase}, {f(f'mul nsw i64 {b}, {xstep}')}")
                            return f(f"getelementptr inbounds {ty}, ptr "
                                     f"{'%x' if op == 'im2col' else '%o'}, i64 {at}")

                        if op == "im2col":
                            def clear(b):
                                f.emit(f"store {ty} {zero}, ptr {col_at(b)}")

                            def copy(b):
                                v = f(f"load {ty}, ptr {img_at(b)}")
                                f.emit(f"store {ty} {v}, ptr {col_at(b)}")
                            f.loop("0", lo, 1, clear, free=True)
                            f.loop(lo, hi, 1, copy, free=True)
                            f.loop(hi, "%ow", 1, clear, free=True)
                        else:
                            def add(b):
                                p = img_at(b)
                                s = f(f"fadd {ty} {f(f'load {ty}, ptr {p}')}, "
                                      f"{f(f'load {ty}, ptr {col_at(b)}')}")
                                f.emit(f"store {ty} {s}, ptr {p}")
                            f.loop(lo, hi, 1, add, free=True)
                    f.loop("0", "%oh", 1, per_a)
                f.loop("0", "%n", 1, per_n)
            f.loop("0", "%kw", 1, per_j)
        f.loop("0", "%kh", 1, per_i)
    f.loop("0", "%c", 1, per_channel)

    text = (f"define internal void @{sym}(ptr noalias readonly %t, ptr noalias readonly %x, "
            f"ptr noalias %o) nounwind {{\nentry:\n" + "\n".join(f.lines)
            + "\n  ret void\n}\n" + f.metadata() + "\n")
    decls = ["declare i64 @llvm.smax.i64(i64, i64)", "declare i64 @llvm.smin.i64(i64, i64)"]
    return sym, decls, text
