"""Primitives for recurrent layers: a whole LSTM or GRU layer (one direction) as one op.

A recurrent layer written in per-step dyngraph ops costs ~20 recorded ops per time step (gate
slices, four nonlinearities, the cell update), each with its dispatch and autograd node; at the
sizes RNNs are used, that overhead, not the arithmetic, is the run time. These ops run the time
loop inside their eager rule (numpy or cupy, all gates of a step in a handful of array calls) and
record one autograd node per layer and direction.

`lstm_layer(gi, h0, c0, weight_hh)` takes the input projection of every step, `gi` = x W_ih^T +
b_ih + b_hh: (L, N, 4H) for padded input, or (T, 4H) with `batch_sizes` for a PackedSequence's
data (step t updates the first batch_sizes[t] rows). It returns the workspace (6, L, N, H) (or
(6, T, H)): slabs h, c, i, f, g, o of every step (gates in PyTorch's order, after their
nonlinearity). Callers read h = ws[0] (already the layer's output layout) and c = ws[1]; the
gates are what the gradient rule needs. `gru_layer(gi, h0, weight_hh, bias_hh)` likewise returns
slabs h, r, z, n, W_hn h + b_hn (5, ...), gi = x W_ih^T + b_ih.
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

def _steps(rows_shape: tuple, batch_sizes, reverse: bool) -> list:
    """(row offset, rows) of every step in the order the layer runs them; `rows_shape` is
    (L, N) for padded input, (T,) for packed data."""
    if batch_sizes is None:
        L, N = rows_shape
        batch_sizes = (N,) * L
    steps, off = [], 0
    for b in batch_sizes:
        steps.append((off, b))
        off += b
    return steps[::-1] if reverse else steps


def _gate_consts(xp, dtype, sigmoid_gates):
    """(scale, tanh_gates) for act(x) = 1 / (1 + exp(scale x)): scale -1 gives sigmoid(x), -2
    gives sigmoid(2x), which `2 y - 1` turns into tanh(x) on the gates in `tanh_gates` (a slice).

    One exp covers every gate of a step: numpy's float32 exp is vectorised where its tanh is not
    (3x faster on AVX2 machines). exp overflows to inf for very negative inputs, which gives the
    right limit 0; the callers silence that warning."""
    scale = np.array([-1.0 if sig else -2.0 for sig in sigmoid_gates]).reshape(-1, 1, 1)
    tanh_at = [k for k, sig in enumerate(sigmoid_gates) if not sig]
    tanh_gates = slice(tanh_at[0], tanh_at[-1] + 1) if tanh_at else slice(0, 0)
    return xp.asarray(scale, dtype=dtype), tanh_gates


def _activate(xp, gates, tanh_gates) -> None:
    """Scaled gate pre-activations (G, b, H) -> activations, in place (see `_gate_consts`)."""
    xp.exp(gates, out=gates)
    gates += 1
    xp.reciprocal(gates, out=gates)
    t = gates[tanh_gates]
    t *= 2
    t -= 1


def _slope_consts(xp, dtype, sigmoid_gates):
    """(k, m) with d act / d x = y (k - y) + m from the activation y: y (1 - y) on sigmoid
    gates, 1 - y^2 on tanh gates; shaped (G, 1, 1) for (G, b, H) gate slabs."""
    k = np.array([1.0 if sig else 0.0 for sig in sigmoid_gates]).reshape(-1, 1, 1)
    return xp.asarray(k, dtype=dtype), xp.asarray(1 - k, dtype=dtype)


def _mul_slope(xp, d, y, consts) -> None:
    """d *= d act / d x, from the activations y."""
    k, m = consts
    s = xp.subtract(k, y)
    s *= y
    s += m
    d *= s


def _prev_rows(xp, hs, h0, steps):
    """For every row of the per-step states `hs` (T, H), the state that row's step started
    from: the previous step's, or the initial state's for rows that start there."""
    prev = xp.empty_like(hs)
    carry = h0.copy()
    for off, b in steps:
        prev[off:off + b] = carry[:b]
        carry[:b] = hs[off:off + b]
    return prev


def _as_gate_slabs(rows, G: int, H: int):
    """(b, G * H) rows viewed as (G, b, H) gate slabs (no copy)."""
    return rows.reshape(rows.shape[0], G, H).transpose(1, 0, 2)


class _quiet:
    """np.errstate(over='ignore') on numpy (exp's overflow to inf is the right limit)."""

    def __init__(self, xp):
        self.ctx = np.errstate(over="ignore") if xp is np else None

    def __enter__(self):
        if self.ctx is not None:
            self.ctx.__enter__()

    def __exit__(self, *exc):
        if self.ctx is not None:
            self.ctx.__exit__(*exc)


# ----------------------------------------------------------------------------------------------
# LSTM
# ----------------------------------------------------------------------------------------------

_LSTM_SIGMOID = (True, True, False, True)   # i, f, g, o


@defop("lstm_layer", OpKind.OTHER, save=("inputs[1:]", "output"),
       doc="an LSTM layer over every time step: slabs [h, c, i, f, g, o] of every step")
def lstm_layer_op(xp, gi, h0, c0, weight_hh, reverse=False, batch_sizes=None):
    H = weight_hh.shape[1]
    gi2 = gi.reshape(-1, gi.shape[-1])
    T = gi2.shape[0]
    # Slab layout (one (T, H) array per quantity): every array call below reads and writes
    # contiguous blocks, ~3x faster than column slices of (b, 6H) rows at these sizes.
    out = xp.empty((6, T, H), dtype=gi.dtype)
    scale, tanh_gates = _gate_consts(xp, gi.dtype, _LSTM_SIGMOID)
    w_t = weight_hh.T
    rows = xp.empty((h0.shape[0], 4 * H), dtype=gi.dtype)
    h, c = h0.copy(), c0.copy()
    with _quiet(xp):
        for off, b in _steps(gi.shape[:-1], batch_sizes, reverse):
            pre = rows[:b]
            xp.matmul(h[:b], w_t, out=pre)
            pre += gi2[off:off + b]
            gates = out[2:, off:off + b]
            xp.multiply(_as_gate_slabs(pre, 4, H), scale, out=gates)
            _activate(xp, gates, tanh_gates)
            i, f, g, o = gates
            hn, cn = out[0, off:off + b], out[1, off:off + b]
            xp.multiply(f, c[:b], out=cn)
            cn += i * g
            xp.tanh(cn, out=hn)
            hn *= o
            h[:b] = hn
            c[:b] = cn
    return out.reshape((6,) + gi.shape[:-1] + (H,))


@nondiff("lstm_layer_backward", OpKind.OTHER,
         "runs only while the backward is not recorded; with create_graph=True lstm_layer's "
         "rule composes differentiable ops instead (as PyTorch's fused LSTM cell does)")
def lstm_layer_backward_op(xp, grad, out, h0, c0, weight_hh, reverse=False, batch_sizes=None):
    """Backpropagation through time; returns [d gi, d h0, d c0, d weight_hh] flattened."""
    H = weight_hh.shape[1]
    N = h0.shape[0]
    G, Y = grad.reshape(6, -1, H), out.reshape(6, -1, H)
    T = Y.shape[1]
    flat = xp.empty(T * 4 * H + 2 * N * H + 4 * H * H, dtype=out.dtype)
    dgi = flat[:T * 4 * H].reshape(T, 4 * H)
    dh_carry = flat[T * 4 * H:T * 4 * H + N * H].reshape(N, H)
    dc_carry = flat[T * 4 * H + N * H:T * 4 * H + 2 * N * H].reshape(N, H)
    dw = flat[T * 4 * H + 2 * N * H:].reshape(4 * H, H)
    dh_carry[...] = 0
    dc_carry[...] = 0
    steps = _steps(out.shape[1:-1], batch_sizes, reverse)
    hprev, cprev = _prev_rows(xp, Y[0], h0, steps), _prev_rows(xp, Y[1], c0, steps)
    slope = _slope_consts(xp, out.dtype, _LSTM_SIGMOID)
    slabs = xp.empty((4, N, H), dtype=out.dtype)
    for off, b in reversed(steps):
        c, i, f, g, o = Y[1:, off:off + b]
        dh = G[0, off:off + b] + dh_carry[:b]
        tc = xp.tanh(c)
        dc = G[1, off:off + b] + dc_carry[:b]
        t = tc * tc
        xp.subtract(1, t, out=t)
        t *= o
        t *= dh
        dc += t
        d = slabs[:, :b]
        d[...] = G[2:, off:off + b]      # gradients arriving at the gates themselves
        d[0] += dc * g
        d[1] += dc * cprev[off:off + b]
        d[2] += dc * i
        d[3] += dh * tc
        _mul_slope(xp, d, Y[2:, off:off + b], slope)
        da = dgi[off:off + b]
        _as_gate_slabs(da, 4, H)[...] = d
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
    G, Y = grad.reshape(6, -1, H), out.reshape(6, -1, H)
    steps = _steps(tuple(out.shape[1:-1]), batch_sizes, reverse)
    prev_h, prev_c = _prev_rows_t(Y[0], h0, steps), _prev_rows_t(Y[1], c0, steps)
    dh_carry, dc_carry = h0 * 0, c0 * 0
    dgi = [None] * len(steps)
    dw = None
    for s in range(len(steps) - 1, -1, -1):
        off, b = steps[s]
        Gs, Ys = G[:, off:off + b], Y[:, off:off + b]
        c, i, f, g, o = (Ys[k] for k in range(1, 6))
        dh = Gs[0] + dh_carry[:b]
        tc = c.tanh()
        dc = Gs[1] + dc_carry[:b] + dh * o * (1 - tc * tc)
        di = (Gs[2] + dc * g) * i * (1 - i)
        df = (Gs[3] + dc * prev_c[s]) * f * (1 - f)
        dg = (Gs[4] + dc * i) * (1 - g * g)
        do = (Gs[5] + dh * tc) * o * (1 - o)
        da = cat([di, df, dg, do], 1)
        dgi[s] = da
        dw = _add(dw, da.T @ prev_h[s])
        dh_carry = _set_rows(dh_carry, da @ w, b)
        dc_carry = _set_rows(dc_carry, dc * f, b)
    order = sorted(range(len(steps)), key=lambda k: steps[k][0])
    d_gi = cat([dgi[k] for k in order], 0).reshape(tuple(out.shape[1:-1]) + (4 * H,))
    return d_gi, dh_carry, dc_carry, dw


# ----------------------------------------------------------------------------------------------
# GRU
# ----------------------------------------------------------------------------------------------

_GRU_SIGMOID = (True, True)   # r, z


@defop("gru_layer", OpKind.OTHER, save=("inputs[1:]", "output"),
       doc="a GRU layer over every time step: slabs [h, r, z, n, W_hn h + b_hn] of every step")
def gru_layer_op(xp, gi, h0, weight_hh, bias_hh, reverse=False, batch_sizes=None):
    H = weight_hh.shape[1]
    gi2 = gi.reshape(-1, gi.shape[-1])
    out = xp.empty((5, gi2.shape[0], H), dtype=gi.dtype)
    w_t = weight_hh.T
    rows = xp.empty((h0.shape[0], 3 * H), dtype=gi.dtype)
    h = h0.copy()
    with _quiet(xp):
        for off, b in _steps(gi.shape[:-1], batch_sizes, reverse):
            gh = rows[:b]
            hp = h[:b]
            xp.matmul(hp, w_t, out=gh)
            gh += bias_hh
            ghs, xs = _as_gate_slabs(gh, 3, H), _as_gate_slabs(gi2[off:off + b], 3, H)
            rz = out[1:3, off:off + b]
            xp.add(xs[:2], ghs[:2], out=rz)
            xp.negative(rz, out=rz)
            _activate(xp, rz, slice(0, 0))
            r, z = rz
            n, ghn, hn = out[3, off:off + b], out[4, off:off + b], out[0, off:off + b]
            ghn[...] = ghs[2]
            xp.multiply(r, ghn, out=n)
            n += xs[2]
            xp.tanh(n, out=n)
            xp.subtract(hp, n, out=hn)   # h' = n + z (h - n) = (1 - z) n + z h
            hn *= z
            hn += n
            hp[...] = hn
    return out.reshape((5,) + gi.shape[:-1] + (H,))


@nondiff("gru_layer_backward", OpKind.OTHER,
         "runs only while the backward is not recorded; with create_graph=True gru_layer's "
         "rule composes differentiable ops instead (as PyTorch's fused GRU cell does)")
def gru_layer_backward_op(xp, grad, out, h0, weight_hh, reverse=False, batch_sizes=None):
    """Backpropagation through time; returns [d gi, d h0, d weight_hh, d bias_hh] flattened."""
    H = weight_hh.shape[1]
    N = h0.shape[0]
    G, Y = grad.reshape(5, -1, H), out.reshape(5, -1, H)
    T = Y.shape[1]
    flat = xp.empty(T * 3 * H + N * H + 3 * H * H + 3 * H, dtype=out.dtype)
    dgi = flat[:T * 3 * H].reshape(T, 3 * H)
    dh_carry = flat[T * 3 * H:T * 3 * H + N * H].reshape(N, H)
    dw = flat[T * 3 * H + N * H:T * 3 * H + N * H + 3 * H * H].reshape(3 * H, H)
    db = flat[T * 3 * H + N * H + 3 * H * H:]
    dh_carry[...] = 0
    dgh = xp.empty((T, 3 * H), dtype=out.dtype)
    steps = _steps(out.shape[1:-1], batch_sizes, reverse)
    hprev = _prev_rows(xp, Y[0], h0, steps)
    slope = _slope_consts(xp, out.dtype, _GRU_SIGMOID)
    slabs = xp.empty((3, N, H), dtype=out.dtype)
    for off, b in reversed(steps):
        hp = hprev[off:off + b]
        r, z, n, ghn = Y[1:, off:off + b]
        dh = G[0, off:off + b] + dh_carry[:b]
        d = slabs[:, :b]                 # d pre-activation of r, z, n
        d[:2] = G[1:3, off:off + b]
        t = hp - n
        t *= dh
        d[1] += t
        dn = 1 - z
        dn *= dh
        dn += G[3, off:off + b]
        t = n * n
        xp.subtract(1, t, out=t)
        xp.multiply(dn, t, out=d[2])
        d[0] += d[2] * ghn
        _mul_slope(xp, d[:2], Y[1:3, off:off + b], slope)
        _as_gate_slabs(dgi[off:off + b], 3, H)[...] = d
        dg = dgh[off:off + b]
        dgs = _as_gate_slabs(dg, 3, H)
        dgs[:2] = d[:2]
        xp.multiply(d[2], r, out=dgs[2])
        dgs[2] += G[4, off:off + b]
        xp.matmul(dg, weight_hh, out=dh_carry[:b])
        dh *= z
        dh_carry[:b] += dh
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
    G, Y = grad.reshape(5, -1, H), out.reshape(5, -1, H)
    steps = _steps(tuple(out.shape[1:-1]), batch_sizes, reverse)
    prev_h = _prev_rows_t(Y[0], h0, steps)
    dh_carry = h0 * 0
    dgi = [None] * len(steps)
    dw = db = None
    for s in range(len(steps) - 1, -1, -1):
        off, b = steps[s]
        Gs, Ys, hp = G[:, off:off + b], Y[:, off:off + b], prev_h[s]
        r, z, n, ghn = (Ys[k] for k in range(1, 5))
        dh = Gs[0] + dh_carry[:b]
        dz = Gs[2] + dh * (hp - n)
        dn = Gs[3] + dh * (1 - z)
        dpre_n = dn * (1 - n * n)
        dghn = Gs[4] + dpre_n * r
        dr = Gs[1] + dpre_n * ghn
        dpre_r, dpre_z = dr * r * (1 - r), dz * z * (1 - z)
        dgi[s] = cat([dpre_r, dpre_z, dpre_n], 1)
        dgh = cat([dpre_r, dpre_z, dghn], 1)
        dw = _add(dw, dgh.T @ hp)
        db = _add(db, dgh.sum(0))
        dh_carry = _set_rows(dh_carry, dgh @ w + dh * z, b)
    order = sorted(range(len(steps)), key=lambda k: steps[k][0])
    d_gi = cat([dgi[k] for k in order], 0).reshape(tuple(out.shape[1:-1]) + (3 * H,))
    return d_gi, dh_carry, dw, db


# ----------------------------------------------------------------------------------------------
# Helpers of the composed (differentiable) gradients, on tensors
# ----------------------------------------------------------------------------------------------
from . import _api  # noqa: E402


def _add(acc, x):
    return x if acc is None else acc + x


def _set_rows(carry, rows, b: int):
    """`carry` with its first b rows replaced by `rows` (out of place)."""
    from .shape import cat
    if b == carry.shape[0]:
        return rows
    return cat([rows, carry[b:]], 0)


def _prev_rows_t(hs, h0, steps) -> list:
    """Per step (in `steps` order), the state each row of that step started from (hs: the
    per-step states (T, H))."""
    carry, prev = h0, []
    for off, b in steps:
        prev.append(carry[:b])
        carry = _set_rows(carry, hs[off:off + b], b)
    return prev
