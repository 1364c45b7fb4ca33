"""Sliding-window primitives behind convolution, pooling, fold/unfold and padding.

- `im2col` gathers every (kh, kw) window of a padded (N, C, H, W) input into a tensor of shape
  (N, C, kh, kw, oh, ow). Its memory is laid out as (C, kh, kw, N, oh, ow), so a convolution can
  view it as one (C*kh*kw, N*oh*ow) matrix and run a single GEMM without another copy.
  A 3-D (N, C, D, H, W) input works the same way: (N, C, kd, kh, kw, od, oh, ow) windows laid
  out as (C, kd, kh, kw, N, od, oh, ow).
- `col2im` is its adjoint: it sums windows back into an (N, C, H, W) (or (N, C, D, H, W)) image.
  Each is the other's gradient, so convolutions built from them have gradients of every order.
- `constant_pad` pads (or, for negative amounts, crops) every dim; its gradient is the opposite pad.
- `max_pool2d_indices` / `adaptive_max_pool2d_indices` return, per window, the flat index (into
  each H*W, or D*H*W, plane) of the first maximum, as PyTorch's `return_indices` does (a running
  maximum over kernel offsets); despite the names they serve 3-D pooling too (the number of
  spatial dims is len(kernel_size) / len(output_size)). `fractional_max_pool_indices` does the
  same for the pseudo-random windows of fractional max pooling. Max pooling gathers at those
  indices, so the gradient goes to the argmax of each window, exactly as in PyTorch.

`im2col` copies one strided view of the padded input (or, for small images, one slab per kernel
offset); `col2im` loops over the kernel offsets and adds whole (C, N, oh, ow) slabs, touching
only the part of each that lands inside the image. The 2-D paths are tuned; 3-D inputs take the
plain strided-view / per-offset paths (the compiler's native conv loops are 2-D only, so 3-D
calls stay interpreter steps when compiled).
"""

from __future__ import annotations

import itertools
import math

import numpy as np

from ._api import apply
from .registry import OpKind, defop, nondiff

OTHER = OpKind.OTHER

# Reached through nn.functional (unfold, fold, pad, conv*, *pool*), not the top-level namespace.
__all__: list[str] = []


def _window_count(size: int, k: int, pad_lo: int, pad_hi: int, stride: int, dil: int) -> int:
    return (size + pad_lo + pad_hi - dil * (k - 1) - 1) // stride + 1


def _pad_array(xp, x, padding, value=0):
    """Zero (or `value`) padding of the spatial dims by ((lo, hi), ...), e.g. ((top, bottom),
    (left, right)) for an (N, C, H, W) array."""
    if not any(lo or hi for lo, hi in padding):
        return x
    # A filled array with the input written into its interior: np.pad does the same copy with
    # several times the overhead.
    lead = x.shape[:x.ndim - len(padding)]
    sizes = x.shape[x.ndim - len(padding):]
    out = xp.full(lead + tuple(n + lo + hi for n, (lo, hi) in zip(sizes, padding)), value,
                  dtype=x.dtype)
    out[(Ellipsis,) + tuple(slice(lo, lo + n) for n, (lo, _) in zip(sizes, padding))] = x
    return out


def _flat_strides(sizes) -> list[int]:
    """Element strides of a C-contiguous array of shape `sizes` (the flat index of a plane)."""
    return [math.prod(sizes[d + 1:]) for d in range(len(sizes))]


def _valid_range(size: int, n_out: int, offset: int, pad_lo: int, stride: int):
    """Windows [a0, a1) whose element at kernel `offset` lies inside the unpadded input, and
    the input slice those elements come from (padding is never materialised)."""
    start = offset - pad_lo                      # input index of window 0's element
    a0 = max(0, -(start // stride)) if start < 0 else 0
    a1 = min(n_out, (size - 1 - start) // stride + 1) if size - 1 >= start else 0
    if a0 >= a1:
        return None
    first = start + a0 * stride
    return slice(a0, a1), slice(first, first + stride * (a1 - a0 - 1) + 1, stride)


def _offsets(shape_hw, out_hw, kernel_size, dilation, padding, stride):
    """(i, j, window slices, input slices) for every kernel offset with some valid window."""
    (h, w), (oh, ow) = shape_hw, out_hw
    for i in range(kernel_size[0]):
        rows = _valid_range(h, oh, i * dilation[0], padding[0][0], stride[0])
        if rows is None:
            continue
        for j in range(kernel_size[1]):
            cols = _valid_range(w, ow, j * dilation[1], padding[1][0], stride[1])
            if cols is not None:
                yield i, j, (rows[0], cols[0]), (rows[1], cols[1])


def _flat_runs(x_hw, out_hw, kernel_size, dilation, padding, stride):
    """Per kernel offset, the windows <-> input correspondence as one run over flattened planes.

    With stride 1 and as many window columns as input columns (a "same" convolution), window
    (a, b) at offset (i, j) reads input (a + i', b + j'), so its flat index a * ow + b and the
    input's flat index differ by a constant: the valid block is one contiguous run of each plane
    (numpy then loops over C*N runs of ~rows*W elements instead of C*N*rows runs of W). The run
    also crosses the row ends, where it pairs positions outside the valid block; the side lists
    name those positions so that callers restore or clear them.

    Returns a list of (i, j, window_start, input_start, length, (window_side, input_side)), each
    side a list of (rows, cols) slices of its plane, or None when the layout does not allow
    runs (then use `_offsets`).
    """
    w, ow = x_hw[1], out_hw[1]
    if tuple(stride) != (1, 1) or ow != w:
        return None
    runs = []
    for i, j, (wr, wc), (xr, xc) in _offsets(x_hw, out_hw, kernel_size, dilation, padding,
                                            stride):
        a0, a1, b0, b1 = wr.start, wr.stop, wc.start, wc.stop
        r0, c0 = xr.start, xc.start
        rows, cols = a1 - a0, b1 - b0
        length = (rows - 1) * w + cols
        # Inside the run but outside the block: columns right of it on all rows but the last,
        # left of it on all rows but the first. The run maps these positions of one plane onto
        # those of the other (they are not the same columns: the planes are shifted).
        side = ([], [])
        for plane, (top, left, n_cols) in enumerate(((a0, b0, ow), (r0, c0, w))):
            if rows > 1 and left + cols < n_cols:
                side[plane].append((slice(top, top + rows - 1), slice(left + cols, n_cols)))
            if rows > 1 and left > 0:
                side[plane].append((slice(top + 1, top + rows), slice(0, left)))
        runs.append((i, j, a0 * ow + b0, r0 * w + c0, length, side))
    return runs


def _hw_contiguous(a) -> bool:
    """Whether each (H, W) plane of `a` (last two dims) is one contiguous block."""
    it = a.itemsize
    return a.strides[-1] == it and (a.shape[-2] <= 1 or a.strides[-2] == a.shape[-1] * it)


def _im2col_nd(xp, x, kernel_size, dilation, padding, stride):
    """im2col of an (N, C, *spatial) array with any number of spatial dims: one strided view
    of the padded input, copied once into (C, *kernel, N, *windows) memory order."""
    n, c, *sizes = x.shape
    sp = len(sizes)
    outs = [_window_count(*a) for a in zip(sizes, kernel_size, *zip(*padding), stride, dilation)]
    xpad = _pad_array(xp, x, padding)
    st = xpad.strides
    windows = xp.lib.stride_tricks.as_strided(
        xpad, (c, *kernel_size, n, *outs),
        (st[1], *(st[2 + d] * dilation[d] for d in range(sp)), st[0],
         *(st[2 + d] * stride[d] for d in range(sp))))
    return xp.ascontiguousarray(windows).transpose(
        sp + 1, 0, *range(1, sp + 1), *range(sp + 2, 2 * sp + 2))


@defop("im2col", OTHER, dtype_rule="none")
def im2col_op(xp, x, kernel_size, dilation, padding, stride):
    if len(kernel_size) != 2:
        return _im2col_nd(xp, x, kernel_size, dilation, padding, stride)
    kh, kw = kernel_size
    n, c, h, w = x.shape
    oh = _window_count(h, kh, *padding[0], stride[0], dilation[0])
    ow = _window_count(w, kw, *padding[1], stride[1], dilation[1])
    if oh * ow <= 256:
        # Small images: one slab copy per kernel offset into a zeroed (C, kh, kw, N, oh, ow)
        # array, reading the unpadded input, measured 1.2-1.5x faster than the strided copy below.
        cols = xp.zeros((c, kh, kw, n, oh, ow), dtype=x.dtype)
        runs = _flat_runs((h, w), (oh, ow), kernel_size, dilation, padding, stride)
        if runs is not None and _hw_contiguous(x):
            # One run per plane and offset; the run's side positions are padding, cleared after.
            src = x.reshape(n, c, h * w).transpose(1, 0, 2)
            for i, j, w0, x0, length, side in runs:
                dst = cols[:, i, j]
                dst.reshape(c, n, oh * ow)[:, :, w0:w0 + length] = src[:, :, x0:x0 + length]
                for wr, wc in side[0]:
                    dst[:, :, wr, wc] = 0
            return cols.transpose(3, 0, 1, 2, 4, 5)
        xt = x.transpose(1, 0, 2, 3)
        for i, j, (wr, wc), (xr, xc) in _offsets((h, w), (oh, ow), kernel_size, dilation, padding,
                                                stride):
            cols[:, i, j, :, wr, wc] = xt[:, :, xr, xc]
        return cols.transpose(3, 0, 1, 2, 4, 5)
    # One strided view over the padded input holds every window; a single copy lays it out as
    # (C, kh, kw, N, oh, ow). For larger images that is faster than copying offset by offset.
    xpad = _pad_array(xp, x, padding)
    s0, s1, s2, s3 = xpad.strides
    windows = xp.lib.stride_tricks.as_strided(
        xpad, (c, kh, kw, n, oh, ow),
        (s1, s2 * dilation[0], s3 * dilation[1], s0, s2 * stride[0], s3 * stride[1]))
    return xp.ascontiguousarray(windows).transpose(3, 0, 1, 2, 4, 5)


@im2col_op.def_grad
def _(ctx, g):
    shape, _ = ctx.in_meta[0]
    a = ctx.attrs
    return (col2im(g, shape[2:], a["kernel_size"], a["dilation"], a["padding"], a["stride"]),)


def _col2im_nd(xp, cols, output_size, kernel_size, dilation, padding, stride, acc):
    """col2im for any number of spatial dims: one slab add per kernel offset, in row-major
    offset order (the order im2col lays the offsets out in)."""
    sp = len(output_size)
    n, c = cols.shape[:2]
    outs = cols.shape[2 + sp:]
    out = xp.zeros((n, c, *output_size), dtype=acc)
    for offs in itertools.product(*(range(k) for k in kernel_size)):
        ranges = [_valid_range(size, o, i * d, pad[0], s) for size, o, i, d, pad, s in
                  zip(output_size, outs, offs, dilation, padding, stride)]
        if any(r is None for r in ranges):
            continue
        win, src = zip(*ranges)
        out[(slice(None), slice(None)) + src] += cols[(slice(None), slice(None)) + offs + win]
    return out if out.dtype == cols.dtype else out.astype(cols.dtype)


@defop("col2im", OTHER, dtype_rule="none")
def col2im_op(xp, cols, output_size, kernel_size, dilation, padding, stride):
    sp = len(output_size)
    have = tuple(cols.shape[2 + sp:])
    want = tuple(_window_count(size, k, *pad, s, d) for size, k, pad, s, d in
                 zip(output_size, kernel_size, padding, stride, dilation))
    if have != want:
        raise ValueError(f"col2im: columns of shape {tuple(cols.shape)} hold "
                         f"{' x '.join(map(str, have))} windows, but an output of size "
                         f"{tuple(output_size)} with these parameters has "
                         f"{' x '.join(map(str, want))}")
    acc = cols.dtype if cols.dtype.itemsize >= 4 else np.float32
    if sp != 2:
        return _col2im_nd(xp, cols, output_size, kernel_size, dilation, padding, stride, acc)
    n, c, kh, kw, oh, ow = cols.shape
    h, w = output_size
    # Accumulate through a (C, N, H, W) view of the NCHW result, the order conv2d's columns are
    # laid out in: no copy afterwards (the same sums in the same order as accumulating in a
    # (C, N, H, W) array and transposing it, ~1.3x faster).
    out = xp.zeros((n, c, h, w), dtype=acc)
    view = out.transpose(1, 0, 2, 3)
    cols = cols.transpose(1, 2, 3, 0, 4, 5)
    runs = _flat_runs((h, w), (oh, ow), kernel_size, dilation, padding, stride)
    if runs is not None and _hw_contiguous(cols):
        # One run per plane and offset (see _flat_runs); the output positions the run crosses
        # outside the block are saved before the add and put back after it, so every sum is
        # the one the loop below makes, in the same order.
        flat = out.reshape(n, c, h * w).transpose(1, 0, 2)
        for i, j, w0, x0, length, side in runs:
            src = cols[:, i, j].reshape(c, n, oh * ow)
            kept = [(xr, xc, view[:, :, xr, xc].copy()) for xr, xc in side[1]]
            flat[:, :, x0:x0 + length] += src[:, :, w0:w0 + length]
            for xr, xc, old in kept:
                view[:, :, xr, xc] = old
        return out if out.dtype == cols.dtype else out.astype(cols.dtype)
    for i, j, (wr, wc), (xr, xc) in _offsets((h, w), (oh, ow), kernel_size, dilation, padding,
                                            stride):
        view[:, :, xr, xc] += cols[:, i, j, :, wr, wc]
    return out if out.dtype == cols.dtype else out.astype(cols.dtype)


@col2im_op.def_grad
def _(ctx, g):
    a = ctx.attrs
    return (im2col(g, a["kernel_size"], a["dilation"], a["padding"], a["stride"]),)


def im2col(input, kernel_size, dilation=(1, 1), padding=((0, 0), (0, 0)), stride=(1, 1)):
    """Windows of an (N, C, H, W) tensor as (N, C, kh, kw, oh, ow) (the primitive behind unfold).

    `padding` is ((top, bottom), (left, right)); zeros are padded. An (N, C, D, H, W) input with
    3-tuples gives (N, C, kd, kh, kw, od, oh, ow). See `nn.functional.unfold` for the
    PyTorch-style interface.
    """
    return apply(im2col_op, input, kernel_size=tuple(kernel_size), dilation=tuple(dilation),
                 padding=tuple(tuple(p) for p in padding), stride=tuple(stride))


def col2im(input, output_size, kernel_size, dilation=(1, 1), padding=((0, 0), (0, 0)),
           stride=(1, 1)):
    """Sum (N, C, kh, kw, oh, ow) windows back into an (N, C, H, W) image (adjoint of im2col);
    (N, C, kd, kh, kw, od, oh, ow) windows sum into an (N, C, D, H, W) volume."""
    return apply(col2im_op, input, output_size=tuple(output_size),
                 kernel_size=tuple(kernel_size), dilation=tuple(dilation),
                 padding=tuple(tuple(p) for p in padding), stride=tuple(stride))


# ----------------------------------------------------------------------------------------------
# constant padding
# ----------------------------------------------------------------------------------------------

@defop("constant_pad", OTHER, dtype_rule="none")
def constant_pad_op(xp, x, pad, value):
    crop = tuple(slice(-lo if lo < 0 else 0, (n + hi) if hi < 0 else n)
                 for (lo, hi), n in zip(pad, x.shape))
    x = x[crop]
    grow = tuple((max(lo, 0), max(hi, 0)) for lo, hi in pad)
    if not any(lo or hi for lo, hi in grow):
        return x.copy()
    return xp.pad(x, grow, constant_values=value)


@constant_pad_op.def_grad
def _(ctx, g):
    return (constant_pad(g, tuple((-lo, -hi) for lo, hi in ctx.attrs["pad"])),)


def constant_pad(input, pad, value=0.0):
    """Pad every dim by `pad[d] = (before, after)` with `value`; negative amounts crop."""
    return apply(constant_pad_op, input, pad=tuple((int(lo), int(hi)) for lo, hi in pad),
                 value=value)


# ----------------------------------------------------------------------------------------------
# max pooling indices
# ----------------------------------------------------------------------------------------------

def _lowest(x):
    """The padding value that never wins a max (bfloat16 reports kind 'V' in numpy)."""
    if x.dtype.kind in "iu":
        return np.iinfo(x.dtype).min
    return False if x.dtype.kind == "b" else -np.inf


def _running_argmax(xp, xpad, k, kernel_size, stride, dilation, outs, floating):
    """Set k to the kernel offset (row-major) of each window's first maximum in xpad."""
    best = None
    for q, offs in enumerate(itertools.product(*(range(kk) for kk in kernel_size))):
        win = xpad[(slice(None), slice(None)) + tuple(
            slice(i * d, i * d + s * (o - 1) + 1, s)
            for i, d, s, o in zip(offs, dilation, stride, outs))]
        if best is None:
            best = win.copy()
            continue
        if floating:
            # A NaN wins over numbers and then stays (the first NaN, where PyTorch keeps the
            # last): win > best, or win is NaN while best is not, is "not (win <= best or best
            # is NaN)"; maximum propagates the NaN into best.
            wins = xp.less_equal(win, best)
            xp.logical_or(wins, xp.isnan(best), out=wins)
            xp.logical_not(wins, out=wins)
        else:
            wins = xp.greater(win, best)
        # Later offsets are larger, so max(k, q * wins) sets k = q exactly where win won.
        wins = wins.view(np.uint8).astype(k.dtype, copy=False)
        wins *= q
        xp.maximum(k, wins, out=k)
        xp.maximum(best, win, out=best)


def _grid(xp, steps):
    """sum_d steps[d] broadcast over len(steps) axes: steps[d] is a 1-D int64 array on axis d."""
    nd = len(steps)
    total = None
    for d, v in enumerate(steps):
        v = v.reshape((1,) * d + (-1,) + (1,) * (nd - d - 1))
        total = v if total is None else total + v
    return total


@nondiff("max_pool2d_indices", OTHER, "integer output (max pooling gathers at these indices)",
         dtype_rule="none")
def max_pool2d_indices_op(xp, x, kernel_size, stride, padding, dilation):
    n, c, *sizes = x.shape
    outs = [_window_count(*a) for a in zip(sizes, kernel_size, *zip(*padding), stride, dilation)]
    xpad = _pad_array(xp, x, padding, _lowest(x))
    # Walk the kernel offsets in row-major order keeping a running maximum `best` and the offset
    # `k` it came from; an offset wins only when strictly greater, so ties keep the first maximum
    # (PyTorch's rule). Whole-array compares over strided views: stacking the windows on a last
    # axis and calling argmax was 5-10x slower (numpy's argmax loops per row of kh*kw).
    floating = x.dtype.kind in "fV"
    n_offsets = math.prod(kernel_size)
    k = xp.zeros((n, c, *outs), dtype=np.uint8 if n_offsets < 256 else np.int32)
    with np.errstate(invalid="ignore"):  # bfloat16 compares with NaN warn; the NaN rule is ours
        _running_argmax(xp, xpad, k, kernel_size, stride, dilation, outs, floating)
    # Offset q = (i, j) lies i * dh rows and j * dw columns past the window's top-left corner
    # (likewise with a depth offset in 3-D). Made on the device, not copied from a host list:
    # a CUDA graph capture allows no copy in.
    fs = _flat_strides(sizes)
    step = _grid(xp, [xp.arange(kk, dtype=np.int64) * (d * f)
                      for kk, d, f in zip(kernel_size, dilation, fs)]).reshape(-1)
    corner = _grid(xp, [(xp.arange(o, dtype=np.int64) * s - pad[0]) * f
                        for o, s, pad, f in zip(outs, stride, padding, fs)])
    out = step.take(k)
    out += corner
    return out


def _adaptive_bounds(size: int, out: int):
    """PyTorch's adaptive windows: [floor(i*size/out), ceil((i+1)*size/out)) for each i."""
    return [((i * size) // out, -((-(i + 1) * size) // out)) for i in range(out)]


@nondiff("adaptive_max_pool2d_indices", OTHER, "integer output (adaptive max pooling gathers at "
         "these indices)", dtype_rule="none")
def adaptive_max_pool2d_indices_op(xp, x, output_size):
    n, c, *sizes = x.shape
    out = xp.empty((n, c, *output_size), dtype=np.int64)
    fs = _flat_strides(sizes)
    per_dim = [list(enumerate(_adaptive_bounds(size, o))) for size, o in zip(sizes, output_size)]
    for cell in itertools.product(*per_dim):
        pos = tuple(i for i, _ in cell)
        bounds = [b for _, b in cell]
        win = x[(slice(None), slice(None)) + tuple(slice(lo, hi) for lo, hi in bounds)]
        # argmax returns the first maximum, PyTorch's tie rule.
        k = xp.argmax(win.reshape(n, c, math.prod(hi - lo for lo, hi in bounds)), axis=2)
        flat = 0
        for (lo, hi), f in zip(reversed(bounds), reversed(fs)):
            k, r = k // (hi - lo), k % (hi - lo)
            flat = flat + (lo + r) * f
        out[(slice(None), slice(None)) + pos] = flat
    return out


def _fractional_starts(xp, sample, size: int, out: int, pool: int):
    """PyTorch's fractional-pooling window starts (N, C, out) for per-plane samples (N, C) in
    [0, 1): int((i + u) * alpha) - int(u * alpha), alpha = (size - pool) / (out - 1), computed
    in the samples' dtype as PyTorch does, and size - pool for the last window."""
    n, c = sample.shape
    starts = xp.full((n, c, out), size - pool, dtype=np.int64)
    if out > 1:
        dt = sample.dtype
        alpha = dt.type(size - pool) / dt.type(out - 1)
        u = sample[:, :, None]
        pos = (xp.arange(out - 1, dtype=dt)[None, None, :] + u) * alpha
        starts[:, :, :out - 1] = pos.astype(np.int64) - (u * alpha).astype(np.int64)
    return starts


@nondiff("fractional_max_pool_indices", OTHER, "integer output (fractional max pooling gathers "
         "at these indices)", dtype_rule="none")
def fractional_max_pool_indices_op(xp, x, samples, kernel_size, output_size):
    n, c, *sizes = x.shape
    fs = _flat_strides(sizes)
    sp = len(sizes)
    # The flat index of each window's first element, (N, C, *output_size).
    corner = 0
    for d in range(sp):
        starts = _fractional_starts(xp, samples[:, :, d], sizes[d], output_size[d],
                                    kernel_size[d])
        corner = corner + starts.reshape((n, c) + (1,) * d + (-1,) + (1,) * (sp - d - 1)) * fs[d]
    corner = xp.broadcast_to(corner, (n, c, *output_size)).reshape(n, c, math.prod(output_size))
    flat = x.reshape(n, c, math.prod(sizes))
    best = best_idx = None
    # PyTorch's loop: a value wins when greater than the running maximum or NaN (so the last
    # NaN wins); ties keep the first maximum.
    for offs in itertools.product(*(range(k) for k in kernel_size)):
        idx = corner + sum(i * f for i, f in zip(offs, fs))
        val = xp.take_along_axis(flat, idx, axis=2)
        if best is None:
            best, best_idx = val, idx
            continue
        wins = xp.greater(val, best)
        if x.dtype.kind in "fV":
            xp.logical_or(wins, xp.isnan(val), out=wins)
        best = xp.where(wins, val, best)
        best_idx = xp.where(wins, idx, best_idx)
    return best_idx.reshape(n, c, *output_size)
