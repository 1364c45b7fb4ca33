"""Primitives for recurrent layers: a whole LSTM or GRU layer (one direction) as one op.

A recurrent layer written in per-step dyngraph ops costs ~20 recorded ops per time step (gate
slices, four nonlinearities, the cell update), each with its dispatch and autograd node; at the
sizes RNNs are used, that overhead, not the arithmetic, is the run time. These ops run the time
loop inside their eager rule (numpy or cupy, all gates of a step in a handful of array calls) and
record one autograd node per layer and direction.

`lstm_layer(gi, h0, c0, weight_hh)` takes the input projection of every step, `gi` = x W_ih^T +
b_ih + b_hh: (L, N, 4H) for padded input, or (T, 4H) with `batch_sizes` for a PackedSequence's
data (step t updates the first batch_sizes[t] rows). It returns, per step and row, the workspace
[h, c, i, f, g, o] (6H columns; gates in PyTorch's order, after their nonlinearity). Callers read
h (and c) from it; the gates are what the gradient rule needs. `gru_layer(gi, h0, weight_hh,
bias_hh)` likewise returns [h, r, z, n, W_hn h + b_hn] (5H columns), gi = x W_ih^T + b_ih.
With `reverse=True` the layer runs from the last step to the first (the backward direction of a
bidirectional layer; packed sequences then start each row at its own last step).

Gradients follow PyTorch's fused LSTM cell: when the backward itself is not recorded (grad mode
off, the usual `loss.backward()`), the rule calls `lstm_layer_backward` / `gru_layer_backward`,
which run backpropagation through time in their eager rule; with `create_graph=True` it composes
differentiable dyngraph ops step by step instead, so double backward works.
"""

from __future__ import annotations

import numpy as np

from .registry import OpKind, defop, nondiff

__all__: list[str] = []


# ----------------------------------------------------------------------------------------------
# Shared helpers (eager rules)
# ----------------------------------------------------------------------------------------------

def _steps(gi_shape: tuple, batch_sizes, reverse: bool) -> list:
    """(row offset, rows) of every step in the order the layer runs them."""
    if batch_sizes is None:
        L, N = gi_shape[0], gi_shape[1]
        batch_sizes = (N,) * L
    steps, off = [], 0
    for b in batch_sizes:
        steps.append((off, b))
        off += b
    return steps[::-1] if reverse else steps


def _flat(a):
    """Rows of a (L, N, G) padded array as (L * N, G) (packed data is already 2-D)."""
    return a.reshape(-1, a.shape[-1])


def _gate_affine(xp, dtype, H: int, sigmoid_cols):
    """Per-column (scale, shift) with act(x) = tanh(scale * x) * scale + shift: sigmoid(x) =
    0.5 tanh(x / 2) + 0.5 on the sigmoid gates, tanh on the others. One tanh call covers all
    gates of a step, and tanh cannot overflow (no floating-point warnings to silence)."""
    G = len(sigmoid_cols)
    scale = np.ones(G * H)
    shift = np.zeros(G * H)
    for k, sig in enumerate(sigmoid_cols):
        if sig:
            scale[k * H:(k + 1) * H] = 0.5
            shift[k * H:(k + 1) * H] = 0.5
    return xp.asarray(scale, dtype=dtype), xp.asarray(shift, dtype=dtype)


def _slope_coeffs(xp, dtype, H: int, sigmoid_cols):
    """(k, m) with d act / d x = y (k - y) + m from the activation y: y (1 - y) on sigmoid
    columns, 1 - y^2 on tanh columns."""
    G = len(sigmoid_cols)
    k = np.zeros(G * H)
    m = np.zeros(G * H)
    for j, sig in enumerate(sigmoid_cols):
        (k if sig else m)[j * H:(j + 1) * H] = 1.0
    return xp.asarray(k, dtype=dtype), xp.asarray(m, dtype=dtype)


def _mul_slope(xp, d, y, coeffs) -> None:
    """d *= d act / d x, from the activations y."""
    k, m = coeffs
    s = xp.subtract(k, y)
    s *= y
    s += m
    d *= s


def _prev_rows(xp, out, h0, steps, H: int, col: int):
    """For every row of `out`, the state column block [col, col + H) it started from (the
    previous step's, or the initial state's for rows that start there)."""
    prev = xp.empty((out.shape[0], H), dtype=out.dtype)
    carry = h0.copy()
    for off, b in steps:
        prev[off:off + b] = carry[:b]
        carry[:b] = out[off:off + b, col:col + H]
    return prev


# ----------------------------------------------------------------------------------------------
# LSTM
# ----------------------------------------------------------------------------------------------

_LSTM_SIGMOID = (True, True, False, True)   # i, f, g, o


@defop("lstm_layer", OpKind.OTHER, save=("inputs[1:]", "output"),
       doc="an LSTM layer over every time step: workspace [h, c, i, f, g, o] per step")
def lstm_layer_op(xp, gi, h0, c0, weight_hh, reverse=False, batch_sizes=None):
    H = weight_hh.shape[1]
    gi2 = _flat(gi)
    out = xp.empty((gi2.shape[0], 6 * H), dtype=gi.dtype)
    scale, shift = _gate_affine(xp, gi.dtype, H, _LSTM_SIGMOID)
    w_t = weight_hh.T
    h, c = h0.copy(), c0.copy()
    for off, b in _steps(gi.shape, batch_sizes, reverse):
        blk = out[off:off + b]
        gates = blk[:, 2 * H:]
        xp.matmul(h[:b], w_t, out=gates)
        gates += gi2[off:off + b]
        gates *= scale
        xp.tanh(gates, out=gates)
        gates *= scale
        gates += shift
        i, f, g, o = (gates[:, k * H:(k + 1) * H] for k in range(4))
        hn, cn = blk[:, :H], blk[:, H:2 * H]
        xp.multiply(f, c[:b], out=cn)
        cn += i * g
        xp.tanh(cn, out=hn)
        hn *= o
        h[:b] = hn
        c[:b] = cn
    return out.reshape(gi.shape[:-1] + (6 * H,))


@nondiff("lstm_layer_backward", OpKind.OTHER,
         "runs only while the backward is not recorded; with create_graph=True lstm_layer's "
         "rule composes differentiable ops instead (as PyTorch's fused LSTM cell does)")
def lstm_layer_backward_op(xp, grad, out, h0, c0, weight_hh, reverse=False, batch_sizes=None):
    """Backpropagation through time; returns [d gi, d h0, d c0, d weight_hh] flattened."""
    H = weight_hh.shape[1]
    N = h0.shape[0]
    g2, o2 = _flat(grad), _flat(out)
    T = o2.shape[0]
    flat = xp.empty(T * 4 * H + 2 * N * H + 4 * H * H, dtype=out.dtype)
    dgi = flat[:T * 4 * H].reshape(T, 4 * H)
    dh_carry = flat[T * 4 * H:T * 4 * H + N * H].reshape(N, H)
    dc_carry = flat[T * 4 * H + N * H:T * 4 * H + 2 * N * H].reshape(N, H)
    dw = flat[T * 4 * H + 2 * N * H:].reshape(4 * H, H)
    dh_carry[...] = 0
    dc_carry[...] = 0
    steps = _steps(out.shape, batch_sizes, reverse)
    hprev = _prev_rows(xp, o2, h0, steps, H, 0)
    cprev = _prev_rows(xp, o2, c0, steps, H, H)
    slope = _slope_coeffs(xp, out.dtype, H, _LSTM_SIGMOID)
    for off, b in reversed(steps):
        G, Y = g2[off:off + b], o2[off:off + b]
        c, i, f, g, o = (Y[:, k * H:(k + 1) * H] for k in range(1, 6))
        dh = G[:, :H] + dh_carry[:b]
        tc = xp.tanh(c)
        dc = G[:, H:2 * H] + dc_carry[:b]
        t = tc * tc
        xp.subtract(1, t, out=t)
        t *= o
        t *= dh
        dc += t
        da = dgi[off:off + b]
        da[...] = G[:, 2 * H:]          # gradients arriving at the gates themselves
        da[:, :H] += dc * g
        da[:, H:2 * H] += dc * cprev[off:off + b]
        da[:, 2 * H:3 * H] += dc * i
        da[:, 3 * H:] += dh * tc
        _mul_slope(xp, da, Y[:, 2 * H:], slope)
        xp.matmul(da, weight_hh, out=dh_carry[:b])
        xp.multiply(dc, f, out=dc_carry[:b])
    xp.matmul(dgi.T, hprev, out=dw)
    return flat


@lstm_layer_op.def_grad
def _(ctx, g):
    _, h0, c0, w = ctx.inputs
    attrs = ctx.attrs
    if not _api.state.grad_enabled:
        flat = _api.apply(lstm_layer_backward_op, g, ctx.out, h0, c0, w, **attrs)
        return _unflatten(flat, ctx.input_shape(0), [h0.shape, c0.shape, w.shape])
    return _lstm_backward_composed(g, ctx.out, h0, c0, w, **attrs)


def _unflatten(flat, gi_shape, shapes):
    """Split a backward op's flat result into (d gi, *d others) of the given shapes."""
    n = 1
    for s in gi_shape:
        n *= s
    parts = [flat[:n].reshape(gi_shape)]
    for shape in shapes:
        k = 1
        for s in shape:
            k *= s
        parts.append(flat[n:n + k].reshape(shape))
        n += k
    return tuple(parts)


def _lstm_backward_composed(grad, out, h0, c0, w, reverse=False, batch_sizes=None):
    """lstm_layer's gradient in differentiable dyngraph ops (for create_graph=True)."""
    from .shape import cat
    H = w.shape[1]
    g2, o2 = _flat_t(grad), _flat_t(out)
    steps = _steps(tuple(out.shape), batch_sizes, reverse)
    prev_h, prev_c = _prev_rows_t(o2, h0, steps, H, 0), _prev_rows_t(o2, c0, steps, H, H)
    dh_carry, dc_carry = h0 * 0, c0 * 0
    dgi = [None] * len(steps)
    dw = None
    for s in range(len(steps) - 1, -1, -1):
        off, b = steps[s]
        G, Y = g2[off:off + b], o2[off:off + b]
        c, i, f, g, o = (Y[:, k * H:(k + 1) * H] for k in range(1, 6))
        dh = G[:, :H] + dh_carry[:b]
        tc = c.tanh()
        dc = G[:, H:2 * H] + dc_carry[:b] + dh * o * (1 - tc * tc)
        da = cat([G[:, 2 * H:3 * H] + dc * g, G[:, 3 * H:4 * H] + dc * prev_c[s],
                  G[:, 4 * H:5 * H] + dc * i, G[:, 5 * H:] + dh * tc], 1)
        acts = Y[:, 2 * H:]
        slope = cat([acts[:, :2 * H] * (1 - acts[:, :2 * H]),
                     1 - acts[:, 2 * H:3 * H] * acts[:, 2 * H:3 * H],
                     acts[:, 3 * H:] * (1 - acts[:, 3 * H:])], 1)
        da = da * slope
        dgi[s] = da
        dw = _add(dw, da.T @ prev_h[s])
        dh_carry = _set_rows(dh_carry, da @ w, b)
        dc_carry = _set_rows(dc_carry, dc * f, b)
    order = sorted(range(len(steps)), key=lambda k: steps[k][0])
    d_gi = cat([dgi[k] for k in order], 0).reshape(tuple(out.shape[:-1]) + (4 * H,))
    return d_gi, dh_carry, dc_carry, dw


# ----------------------------------------------------------------------------------------------
# GRU
# ----------------------------------------------------------------------------------------------

_GRU_SIGMOID = (True, True)   # r, z


@defop("gru_layer", OpKind.OTHER, save=("inputs[1:]", "output"),
       doc="a GRU layer over every time step: workspace [h, r, z, n, W_hn h + b_hn] per step")
def gru_layer_op(xp, gi, h0, weight_hh, bias_hh, reverse=False, batch_sizes=None):
    H = weight_hh.shape[1]
    gi2 = _flat(gi)
    out = xp.empty((gi2.shape[0], 5 * H), dtype=gi.dtype)
    scale, shift = _gate_affine(xp, gi.dtype, H, _GRU_SIGMOID)
    w_t = weight_hh.T
    gh = xp.empty((h0.shape[0], 3 * H), dtype=gi.dtype)
    h = h0.copy()
    for off, b in _steps(gi.shape, batch_sizes, reverse):
        blk, x = out[off:off + b], gi2[off:off + b]
        hp, ghb = h[:b], gh[:b]
        xp.matmul(hp, w_t, out=ghb)
        ghb += bias_hh
        rz = blk[:, H:3 * H]
        xp.add(x[:, :2 * H], ghb[:, :2 * H], out=rz)
        rz *= scale
        xp.tanh(rz, out=rz)
        rz *= scale
        rz += shift
        r, z = rz[:, :H], rz[:, H:]
        n, ghn, hn = blk[:, 3 * H:4 * H], blk[:, 4 * H:], blk[:, :H]
        ghn[...] = ghb[:, 2 * H:]
        xp.multiply(r, ghn, out=n)
        n += x[:, 2 * H:]
        xp.tanh(n, out=n)
        xp.subtract(hp, n, out=hn)   # h' = n + z (h - n) = (1 - z) n + z h
        hn *= z
        hn += n
        hp[...] = hn
    return out.reshape(gi.shape[:-1] + (5 * H,))


@nondiff("gru_layer_backward", OpKind.OTHER,
         "runs only while the backward is not recorded; with create_graph=True gru_layer's "
         "rule composes differentiable ops instead (as PyTorch's fused GRU cell does)")
def gru_layer_backward_op(xp, grad, out, h0, weight_hh, reverse=False, batch_sizes=None):
    """Backpropagation through time; returns [d gi, d h0, d weight_hh, d bias_hh] flattened."""
    H = weight_hh.shape[1]
    N = h0.shape[0]
    g2, o2 = _flat(grad), _flat(out)
    T = o2.shape[0]
    flat = xp.empty(T * 3 * H + N * H + 3 * H * H + 3 * H, dtype=out.dtype)
    dgi = flat[:T * 3 * H].reshape(T, 3 * H)
    dh_carry = flat[T * 3 * H:T * 3 * H + N * H].reshape(N, H)
    dw = flat[T * 3 * H + N * H:T * 3 * H + N * H + 3 * H * H].reshape(3 * H, H)
    db = flat[T * 3 * H + N * H + 3 * H * H:]
    dh_carry[...] = 0
    dgh = xp.empty((T, 3 * H), dtype=out.dtype)
    steps = _steps(out.shape, batch_sizes, reverse)
    hprev = _prev_rows(xp, o2, h0, steps, H, 0)
    slope = _slope_coeffs(xp, out.dtype, H, _GRU_SIGMOID)
    for off, b in reversed(steps):
        G, Y, hp = g2[off:off + b], o2[off:off + b], hprev[off:off + b]
        r, z, n, ghn = (Y[:, k * H:(k + 1) * H] for k in range(1, 5))
        dh = G[:, :H] + dh_carry[:b]
        da, dg = dgi[off:off + b], dgh[off:off + b]
        d_rz = da[:, :2 * H]
        d_rz[...] = G[:, H:3 * H]
        dz = d_rz[:, H:]
        dz += dh * (hp - n)
        dn = (1 - z) * dh
        dn += G[:, 3 * H:4 * H]
        t = n * n
        xp.subtract(1, t, out=t)
        dpre_n = da[:, 2 * H:]
        xp.multiply(dn, t, out=dpre_n)
        dghn = dg[:, 2 * H:]
        xp.multiply(dpre_n, r, out=dghn)
        dghn += G[:, 4 * H:]
        d_rz[:, :H] += dpre_n * ghn
        _mul_slope(xp, d_rz, Y[:, H:3 * H], slope)
        dg[:, :2 * H] = d_rz
        xp.matmul(dg, weight_hh, out=dh_carry[:b])
        dh_carry[:b] += dh * z
    xp.matmul(dgh.T, hprev, out=dw)
    dgh.sum(axis=0, out=db)
    return flat


@gru_layer_op.def_grad
def _(ctx, g):
    _, h0, w, b = ctx.inputs
    attrs = ctx.attrs
    if not _api.state.grad_enabled:
        flat = _api.apply(gru_layer_backward_op, g, ctx.out, h0, w, **attrs)
        return _unflatten(flat, ctx.input_shape(0), [h0.shape, w.shape, b.shape])
    return _gru_backward_composed(g, ctx.out, h0, w, **attrs)


def _gru_backward_composed(grad, out, h0, w, reverse=False, batch_sizes=None):
    """gru_layer's gradient in differentiable dyngraph ops (for create_graph=True)."""
    from .shape import cat
    H = w.shape[1]
    g2, o2 = _flat_t(grad), _flat_t(out)
    steps = _steps(tuple(out.shape), batch_sizes, reverse)
    prev_h = _prev_rows_t(o2, h0, steps, H, 0)
    dh_carry = h0 * 0
    dgi = [None] * len(steps)
    dw = db = None
    for s in range(len(steps) - 1, -1, -1):
        off, b = steps[s]
        G, Y, hp = g2[off:off + b], o2[off:off + b], prev_h[s]
        r, z, n, ghn = (Y[:, k * H:(k + 1) * H] for k in range(1, 5))
        dh = G[:, :H] + dh_carry[:b]
        dz = G[:, 2 * H:3 * H] + dh * (hp - n)
        dn = G[:, 3 * H:4 * H] + dh * (1 - z)
        dpre_n = dn * (1 - n * n)
        dghn = G[:, 4 * H:] + dpre_n * r
        dr = G[:, H:2 * H] + dpre_n * ghn
        dpre_r, dpre_z = dr * r * (1 - r), dz * z * (1 - z)
        dgi[s] = cat([dpre_r, dpre_z, dpre_n], 1)
        dgh = cat([dpre_r, dpre_z, dghn], 1)
        dw = _add(dw, dgh.T @ hp)
        db = _add(db, dgh.sum(0))
        dh_carry = _set_rows(dh_carry, dgh @ w + dh * z, b)
    order = sorted(range(len(steps)), key=lambda k: steps[k][0])
    d_gi = cat([dgi[k] for k in order], 0).reshape(tuple(out.shape[:-1]) + (3 * H,))
    return d_gi, dh_carry, dw, db


# ----------------------------------------------------------------------------------------------
# Helpers of the composed (differentiable) gradients, on tensors
# ----------------------------------------------------------------------------------------------
from . import _api  # noqa: E402


def _flat_t(t):
    return t.reshape(-1, t.shape[-1])


def _add(acc, x):
    return x if acc is None else acc + x


def _set_rows(carry, rows, b: int):
    """`carry` with its first b rows replaced by `rows` (out of place)."""
    from .shape import cat
    if b == carry.shape[0]:
        return rows
    return cat([rows, carry[b:]], 0)


def _prev_rows_t(out2, h0, steps, H: int, col: int) -> list:
    """Per step (in `steps` order), the state block each row of that step started from."""
    carry, prev = h0, []
    for off, b in steps:
        prev.append(carry[:b])
        carry = _set_rows(carry, out2[off:off + b, col:col + H], b)
    return prev
