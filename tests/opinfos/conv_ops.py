"""OpInfo cases for dyngraph/ops/conv_ops.py (im2col, col2im, constant_pad, max-pool indices)
and the convolution/pooling composites built on them. The numpy references are plain loops."""

from __future__ import annotations

import itertools

import numpy as np

from dyngraph.ops import conv_ops as C
from tests.opinfo import OpCase, rand


def _windows(n_in, k, d, lo, hi, s):
    return (n_in + lo + hi - d * (k - 1) - 1) // s + 1


def np_im2col(x, k, d, pad, s):
    n, c, h, w = x.shape
    (pt, pb), (pl, pr) = pad
    xp = np.pad(x, ((0, 0), (0, 0), (pt, pb), (pl, pr)))
    oh, ow = _windows(h, k[0], d[0], pt, pb, s[0]), _windows(w, k[1], d[1], pl, pr, s[1])
    out = np.zeros((n, c, k[0], k[1], oh, ow), dtype=x.dtype)
    for i in range(k[0]):
        for j in range(k[1]):
            for a in range(oh):
                for b in range(ow):
                    out[:, :, i, j, a, b] = xp[:, :, a * s[0] + i * d[0], b * s[1] + j * d[1]]
    return out


def np_col2im(cols, size, k, d, pad, s):
    n, c, _, _, oh, ow = cols.shape
    (pt, pb), (pl, pr) = pad
    out = np.zeros((n, c, size[0] + pt + pb, size[1] + pl + pr), dtype=cols.dtype)
    for i in range(k[0]):
        for j in range(k[1]):
            for a in range(oh):
                for b in range(ow):
                    out[:, :, a * s[0] + i * d[0], b * s[1] + j * d[1]] += cols[:, :, i, j, a, b]
    return out[:, :, pt:pt + size[0], pl:pl + size[1]]


def np_max_indices(x, k, s, pad, d):
    n, c, h, w = x.shape
    (pt, pb), (pl, pr) = pad
    oh, ow = _windows(h, k[0], d[0], pt, pb, s[0]), _windows(w, k[1], d[1], pl, pr, s[1])
    out = np.zeros((n, c, oh, ow), dtype=np.int64)
    for a in range(oh):
        for b in range(ow):
            best = np.full((n, c), -np.inf)
            for i in range(k[0]):
                for j in range(k[1]):
                    r, q = a * s[0] - pt + i * d[0], b * s[1] - pl + j * d[1]
                    if 0 <= r < h and 0 <= q < w:
                        v = x[:, :, r, q]
                        take = v > best
                        best = np.where(take, v, best)
                        out[:, :, a, b] = np.where(take, r * w + q, out[:, :, a, b])
    return out


def np_adaptive_max_indices(x, size):
    n, c, h, w = x.shape
    out = np.zeros((n, c) + tuple(size), dtype=np.int64)
    for a in range(size[0]):
        h0, h1 = a * h // size[0], -(-(a + 1) * h // size[0])
        for b in range(size[1]):
            w0, w1 = b * w // size[1], -(-(b + 1) * w // size[1])
            win = x[:, :, h0:h1, w0:w1].reshape(n, c, -1)
            k = win.argmax(-1)
            out[:, :, a, b] = (h0 + k // (w1 - w0)) * w + w0 + k % (w1 - w0)
    return out


def np_im2col_3d(x, k, d, pad, s):
    """3-D im2col by loops: (N, C, D, H, W) -> (N, C, kd, kh, kw, od, oh, ow)."""
    xp = np.pad(x, ((0, 0), (0, 0)) + tuple(pad))
    outs = [_windows(n, kk, dd, lo, hi, ss) for n, kk, dd, (lo, hi), ss in
            zip(x.shape[2:], k, d, pad, s)]
    out = np.zeros(x.shape[:2] + tuple(k) + tuple(outs), dtype=x.dtype)
    for off in itertools.product(*map(range, k)):
        for pos in itertools.product(*map(range, outs)):
            src = tuple(p * ss + o * dd for p, ss, o, dd in zip(pos, s, off, d))
            out[(slice(None), slice(None)) + off + pos] = xp[(slice(None), slice(None)) + src]
    return out


def np_col2im_3d(cols, size, k, d, pad, s):
    n, c = cols.shape[:2]
    outs = cols.shape[5:]
    out = np.zeros((n, c) + tuple(sz + lo + hi for sz, (lo, hi) in zip(size, pad)))
    for off in itertools.product(*map(range, k)):
        for pos in itertools.product(*map(range, outs)):
            dst = tuple(p * ss + o * dd for p, ss, o, dd in zip(pos, s, off, d))
            out[(slice(None), slice(None)) + dst] += cols[(slice(None), slice(None)) + off + pos]
    return out[(slice(None), slice(None)) + tuple(slice(lo, lo + sz)
                                                  for sz, (lo, _) in zip(size, pad))]


def np_max_indices_3d(x, k, s, pad, d):
    """First maximum of each (padded) window, as a flat D*H*W index (loops)."""
    n, c, *sizes = x.shape
    outs = [_windows(sz, kk, dd, lo, hi, ss) for sz, kk, dd, (lo, hi), ss in
            zip(sizes, k, d, pad, s)]
    out = np.zeros((n, c) + tuple(outs), dtype=np.int64)
    for pos in itertools.product(*map(range, outs)):
        best = np.full((n, c), -np.inf)
        for off in itertools.product(*map(range, k)):
            src = [p * ss - lo + o * dd for p, ss, (lo, _), o, dd in zip(pos, s, pad, off, d)]
            if all(0 <= v < sz for v, sz in zip(src, sizes)):
                v = x[(slice(None), slice(None)) + tuple(src)]
                take = v > best
                best = np.where(take, v, best)
                flat = np.ravel_multi_index(tuple(src), sizes)
                out[(slice(None), slice(None)) + pos] = np.where(
                    take, flat, out[(slice(None), slice(None)) + pos])
    return out


def np_fractional_indices(x, samples, k, outs):
    """PyTorch's fractional max pooling windows (samples already in (H, W) / (T, H, W) order)
    and each one's first maximum (loops, float64 interval arithmetic)."""
    n, c, *sizes = x.shape
    out = np.zeros((n, c) + tuple(outs), dtype=np.int64)
    for b, ch in itertools.product(range(n), range(c)):
        starts = []
        for dim, (sz, o, kk) in enumerate(zip(sizes, outs, k)):
            u = samples[b, ch, dim]
            alpha = (sz - kk) / (o - 1) if o > 1 else 0.0
            seq = [int((i + u) * alpha) - int(u * alpha) for i in range(o - 1)] + [sz - kk]
            starts.append(seq)
        for pos in itertools.product(*map(range, outs)):
            corner = [starts[dim][p] for dim, p in enumerate(pos)]
            win = x[(b, ch) + tuple(slice(a, a + kk) for a, kk in zip(corner, k))]
            loc = np.unravel_index(int(np.argmax(win)), win.shape)
            out[(b, ch) + pos] = np.ravel_multi_index(
                tuple(a + q for a, q in zip(corner, loc)), sizes)
    return out


def np_constant_pad(x, pad, value):
    crop = tuple(slice(max(-lo, 0), n - max(-hi, 0)) for (lo, hi), n in zip(pad, x.shape))
    grow = [(max(lo, 0), max(hi, 0)) for lo, hi in pad]
    return np.pad(x[crop], grow, constant_values=value)


def _unfold6(t, k, d, p, s):
    """torch's F.unfold, reshaped to im2col's (N, C, kh, kw, oh, ow)."""
    import torch.nn.functional as TF
    n, c, h, w = t.shape
    oh, ow = _windows(h, k[0], d[0], p[0], p[0], s[0]), _windows(w, k[1], d[1], p[1], p[1], s[1])
    return TF.unfold(t, k, dilation=d, padding=p, stride=s).reshape(n, c, k[0], k[1], oh, ow)


def _fold6(t, size, k, d, p, s):
    import torch.nn.functional as TF
    n, c, kh, kw, oh, ow = t.shape
    return TF.fold(t.reshape(n, c * kh * kw, oh * ow), size, k, dilation=d, padding=p, stride=s)


def _tf():
    import torch.nn.functional as TF
    return TF


def _F():
    from dyngraph.nn import functional as F
    return F


SYM = ((1, 1), (2, 2))
ASYM = ((0, 2), (1, 0))

CASES = [
    # ---- primitives ------------------------------------------------------------------------
    OpCase("im2col", lambda x: C.im2col(x, (2, 3), (1, 1), ((0, 0), (0, 0)), (1, 1)),
           [rand(2, 2, 4, 5, seed=1)],
           ref=lambda x: np_im2col(x, (2, 3), (1, 1), ((0, 0), (0, 0)), (1, 1)),
           torch_fn=lambda x: _unfold6(x, (2, 3), (1, 1), (0, 0), (1, 1)), name="plain"),
    OpCase("im2col", lambda x: C.im2col(x, (3, 2), (2, 1), SYM, (2, 3)),
           [rand(1, 2, 6, 7, seed=2)], ref=lambda x: np_im2col(x, (3, 2), (2, 1), SYM, (2, 3)),
           torch_fn=lambda x: _unfold6(x, (3, 2), (2, 1), (1, 2), (2, 3)),
           name="stride_dilation_padding"),
    OpCase("im2col", lambda x: C.im2col(x, (2, 2), (1, 2), ASYM, (1, 1)),
           [rand(1, 1, 4, 5, seed=3)], ref=lambda x: np_im2col(x, (2, 2), (1, 2), ASYM, (1, 1)),
           name="asymmetric_padding"),
    # "same" geometries (stride 1, as many window columns as input columns): flat-run path
    OpCase("im2col", lambda x: C.im2col(x, (3, 3), (1, 1), ((1, 1), (1, 1)), (1, 1)),
           [rand(2, 3, 5, 6, seed=21)],
           ref=lambda x: np_im2col(x, (3, 3), (1, 1), ((1, 1), (1, 1)), (1, 1)),
           torch_fn=lambda x: _unfold6(x, (3, 3), (1, 1), (1, 1), (1, 1)), name="same"),
    OpCase("im2col", lambda x: C.im2col(x, (2, 3), (2, 2), ((2, 0), (2, 2)), (1, 1)),
           [rand(1, 2, 4, 5, seed=22)],
           ref=lambda x: np_im2col(x, (2, 3), (2, 2), ((2, 0), (2, 2)), (1, 1)),
           name="same_width_dilated_asymmetric"),
    OpCase("col2im", lambda c: C.col2im(c, (5, 6), (3, 3), (1, 1), ((1, 1), (1, 1)), (1, 1)),
           [rand(2, 3, 3, 3, 5, 6, seed=23)],
           ref=lambda c: np_col2im(c, (5, 6), (3, 3), (1, 1), ((1, 1), (1, 1)), (1, 1)),
           torch_fn=lambda c: _fold6(c, (5, 6), (3, 3), (1, 1), (1, 1), (1, 1)), name="same"),
    OpCase("col2im", lambda c: C.col2im(c, (4, 5), (2, 3), (2, 2), ((2, 0), (2, 2)), (1, 1)),
           [rand(1, 2, 2, 3, 4, 5, seed=24)],
           ref=lambda c: np_col2im(c, (4, 5), (2, 3), (2, 2), ((2, 0), (2, 2)), (1, 1)),
           name="same_width_dilated_asymmetric"),
    OpCase("col2im", lambda c: C.col2im(c, (4, 5), (2, 3), (1, 1), ((0, 0), (0, 0)), (1, 1)),
           [rand(2, 2, 2, 3, 3, 3, seed=4)],
           ref=lambda c: np_col2im(c, (4, 5), (2, 3), (1, 1), ((0, 0), (0, 0)), (1, 1)),
           torch_fn=lambda c: _fold6(c, (4, 5), (2, 3), (1, 1), (0, 0), (1, 1)), name="plain"),
    OpCase("col2im", lambda c: C.col2im(c, (6, 7), (3, 2), (2, 1), SYM, (2, 3)),
           [rand(1, 2, 3, 2, 2, 4, seed=5)],
           ref=lambda c: np_col2im(c, (6, 7), (3, 2), (2, 1), SYM, (2, 3)),
           torch_fn=lambda c: _fold6(c, (6, 7), (3, 2), (2, 1), (1, 2), (2, 3)),
           name="stride_dilation_padding"),
    OpCase("col2im", lambda c: C.col2im(c, (4, 5), (2, 2), (1, 2), ASYM, (1, 1)),
           [rand(1, 1, 2, 2, 5, 4, seed=6)],
           ref=lambda c: np_col2im(c, (4, 5), (2, 2), (1, 2), ASYM, (1, 1)),
           name="asymmetric_padding"),
    # 3-D windows (the generic N-d paths)
    OpCase("im2col", lambda x: C.im2col(x, (2, 3, 2), (1, 2, 1), ((1, 0), (1, 1), (0, 2)),
                                        (2, 1, 1)),
           [rand(2, 2, 4, 5, 3, seed=31)],
           ref=lambda x: np_im2col_3d(x, (2, 3, 2), (1, 2, 1), ((1, 0), (1, 1), (0, 2)),
                                      (2, 1, 1)), name="3d"),
    OpCase("col2im", lambda c: C.col2im(c, (4, 5, 3), (2, 3, 2), (1, 2, 1),
                                        ((1, 0), (1, 1), (0, 2)), (2, 1, 1)),
           [rand(2, 2, 2, 3, 2, 2, 3, 4, seed=32)],
           ref=lambda c: np_col2im_3d(c, (4, 5, 3), (2, 3, 2), (1, 2, 1),
                                      ((1, 0), (1, 1), (0, 2)), (2, 1, 1)), name="3d"),
    OpCase("constant_pad", lambda x: C.constant_pad(x, ((0, 0), (1, 2), (2, 0)), 0.0),
           [rand(2, 3, 4, seed=7)],
           ref=lambda x: np_constant_pad(x, ((0, 0), (1, 2), (2, 0)), 0.0),
           torch_fn=lambda x: _tf().pad(x, (2, 0, 1, 2)), name="grow"),
    OpCase("constant_pad", lambda x: C.constant_pad(x, ((-1, 2), (1, -2)), 1.5),
           [rand(4, 5, seed=8)], ref=lambda x: np_constant_pad(x, ((-1, 2), (1, -2)), 1.5),
           torch_fn=lambda x: _tf().pad(x, (1, -2, -1, 2), value=1.5), name="crop_and_value"),
    OpCase("max_pool2d_indices",
           lambda x: C.apply(C.max_pool2d_indices_op, x, kernel_size=(2, 3), stride=(1, 2),
                             padding=((1, 1), (1, 2)), dilation=(2, 1)),
           [rand(2, 2, 5, 6, seed=9)],
           ref=lambda x: np_max_indices(x, (2, 3), (1, 2), ((1, 1), (1, 2)), (2, 1)),
           grad=False, name="padded"),
    OpCase("max_pool2d_indices",
           lambda x: C.apply(C.max_pool2d_indices_op, x, kernel_size=(3, 3), stride=(2, 2),
                             padding=((1, 2), (1, 2)), dilation=(1, 1)),
           [rand(1, 3, 6, 6, seed=10)],
           ref=lambda x: np_max_indices(x, (3, 3), (2, 2), ((1, 2), (1, 2)), (1, 1)),
           torch_fn=lambda x: _tf().max_pool2d(x, 3, 2, 1, ceil_mode=True,
                                               return_indices=True)[1],
           grad=False, name="ceil_mode"),
    OpCase("adaptive_max_pool2d_indices",
           lambda x: C.apply(C.adaptive_max_pool2d_indices_op, x, output_size=(3, 2)),
           [rand(2, 2, 7, 5, seed=11)], ref=lambda x: np_adaptive_max_indices(x, (3, 2)),
           torch_fn=lambda x: _tf().adaptive_max_pool2d(x, (3, 2), return_indices=True)[1],
           grad=False),
    OpCase("max_pool2d_indices",
           lambda x: C.apply(C.max_pool2d_indices_op, x, kernel_size=(2, 2, 3),
                             stride=(1, 2, 2), padding=((1, 1), (0, 1), (1, 2)),
                             dilation=(2, 1, 1)),
           [rand(2, 2, 5, 4, 6, seed=33)],
           ref=lambda x: np_max_indices_3d(x, (2, 2, 3), (1, 2, 2), ((1, 1), (0, 1), (1, 2)),
                                           (2, 1, 1)),
           grad=False, name="3d"),
    OpCase("adaptive_max_pool2d_indices",
           lambda x: C.apply(C.adaptive_max_pool2d_indices_op, x, output_size=(3, 2, 4)),
           [rand(2, 2, 5, 4, 6, seed=34)],
           torch_fn=lambda x: _tf().adaptive_max_pool3d(x, (3, 2, 4), return_indices=True)[1],
           grad=False, name="3d"),
    OpCase("fractional_max_pool_indices",
           lambda x, u: C.apply(C.fractional_max_pool_indices_op, x, u, kernel_size=(2, 3),
                                output_size=(4, 3)),
           [rand(2, 3, 7, 8, seed=35), rand(2, 3, 2, low=0.0, high=1.0, seed=36)],
           ref=lambda x, u: np_fractional_indices(x, u, (2, 3), (4, 3)),
           torch_fn=lambda x, u: _tf().fractional_max_pool2d(
               x, (2, 3), (4, 3), return_indices=True, _random_samples=u.flip(-1))[1],
           grad=False, name="2d"),
    OpCase("fractional_max_pool_indices",
           lambda x, u: C.apply(C.fractional_max_pool_indices_op, x, u, kernel_size=(2, 2, 3),
                                output_size=(3, 1, 2)),
           [rand(1, 2, 5, 4, 6, seed=37), rand(1, 2, 3, low=0.0, high=1.0, seed=38)],
           ref=lambda x, u: np_fractional_indices(x, u, (2, 2, 3), (3, 1, 2)),
           torch_fn=lambda x, u: _tf().fractional_max_pool3d(
               x, (2, 2, 3), (3, 1, 2), return_indices=True, _random_samples=u)[1],
           grad=False, name="3d"),
    # ---- composites (checked against torch and with gradcheck) ------------------------------
    OpCase("conv2d", lambda x, w, b: _F().conv2d(x, w, b, stride=(2, 1), padding=1, dilation=2,
                                                 groups=2),
           [rand(1, 4, 6, 5, seed=12), rand(4, 2, 2, 2, seed=13), rand(4, seed=14)],
           torch_fn=lambda x, w, b: _tf().conv2d(x, w, b, stride=(2, 1), padding=1, dilation=2,
                                                 groups=2),
           composite=True, name="groups_stride_dilation"),
    OpCase("conv_transpose2d",
           lambda x, w, b: _F().conv_transpose2d(x, w, b, stride=2, padding=1,
                                                 output_padding=1, groups=2),
           [rand(1, 4, 3, 3, seed=15), rand(4, 1, 3, 2, seed=16), rand(2, seed=17)],
           torch_fn=lambda x, w, b: _tf().conv_transpose2d(x, w, b, stride=2, padding=1,
                                                           output_padding=1, groups=2),
           composite=True),
    OpCase("max_pool2d", lambda x: _F().max_pool2d(x, 2, 1, 1),
           [rand(1, 2, 4, 5, seed=18)], torch_fn=lambda x: _tf().max_pool2d(x, 2, 1, 1),
           composite=True),
    OpCase("avg_pool2d", lambda x: _F().avg_pool2d(x, 3, 2, 1, ceil_mode=True,
                                                   count_include_pad=False),
           [rand(1, 2, 6, 5, seed=19)],
           torch_fn=lambda x: _tf().avg_pool2d(x, 3, 2, 1, ceil_mode=True,
                                               count_include_pad=False),
           composite=True),
    OpCase("conv3d", lambda x, w, b: _F().conv3d(x, w, b, stride=(2, 1, 1), padding=(1, 0, 1),
                                                 dilation=(1, 2, 1), groups=2),
           [rand(1, 4, 4, 5, 3, seed=40), rand(4, 2, 2, 2, 2, seed=41), rand(4, seed=42)],
           torch_fn=lambda x, w, b: _tf().conv3d(x, w, b, stride=(2, 1, 1), padding=(1, 0, 1),
                                                 dilation=(1, 2, 1), groups=2),
           composite=True),
    OpCase("conv_transpose3d",
           lambda x, w, b: _F().conv_transpose3d(x, w, b, stride=(2, 1, 2), padding=1,
                                                 output_padding=(1, 0, 0), groups=2),
           [rand(1, 4, 2, 3, 2, seed=43), rand(4, 1, 3, 2, 2, seed=44), rand(2, seed=45)],
           torch_fn=lambda x, w, b: _tf().conv_transpose3d(x, w, b, stride=(2, 1, 2), padding=1,
                                                           output_padding=(1, 0, 0), groups=2),
           composite=True),
    OpCase("max_pool3d", lambda x: _F().max_pool3d(x, 2, 1, 1),
           [rand(1, 2, 3, 4, 3, seed=46)], torch_fn=lambda x: _tf().max_pool3d(x, 2, 1, 1),
           composite=True),
    OpCase("avg_pool3d", lambda x: _F().avg_pool3d(x, (2, 3, 2), 2, 1, ceil_mode=True,
                                                   count_include_pad=False),
           [rand(1, 2, 4, 5, 3, seed=47)],
           torch_fn=lambda x: _tf().avg_pool3d(x, (2, 3, 2), 2, 1, ceil_mode=True,
                                               count_include_pad=False),
           composite=True),
    OpCase("interpolate", lambda x: _F().interpolate(x, size=(5, 3), mode="bilinear"),
           [rand(1, 2, 3, 4, seed=20)],
           torch_fn=lambda x: _tf().interpolate(x, size=(5, 3), mode="bilinear"),
           composite=True, name="bilinear"),
    OpCase("pad", lambda x: _F().pad(x, (2, 1, 1, 2), mode="reflect"), [rand(1, 2, 3, 4, seed=21)],
           torch_fn=lambda x: _tf().pad(x, (2, 1, 1, 2), mode="reflect"), composite=True,
           name="reflect"),
]
