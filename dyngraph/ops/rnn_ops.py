"""Primitives for recurrent layers: a whole RNN, LSTM or GRU layer (one direction) as one op.

A recurrent layer written in per-step dyngraph ops costs ~20 recorded ops per time step (gate
slices, four nonlinearities, the cell update), each with its dispatch and autograd node; at the
sizes RNNs are used, that overhead, not the arithmetic, is the run time. These ops run the time
loop inside their eager rule (numpy or cupy, all gates of a step in a handful of array calls) and
record one autograd node per layer and direction.

`lstm_layer(gi, h0, c0, weight_hh)` takes the input projection of every step, `gi` = x W_ih^T +
b_ih + b_hh: (L, N, 4H) for padded input, or (T, 4H) with `batch_sizes` for a PackedSequence's
data (step t updates the first batch_sizes[t] rows). It returns the workspace (7, L, N, H) (or
(7, T, H)): slabs h, c, i, f, g, o, tanh(c) of every step (gates in PyTorch's order, after their
nonlinearity). Callers read h = ws[0] (already the layer's output layout) and c = ws[1]; the
rest is what the gradient rule needs. `gru_layer(gi, h0, weight_hh, bias_hh)` likewise returns
slabs h, r, z, n, W_hn h + b_hn (5, ...), gi = x W_ih^T + b_ih. `rnn_layer(gi, h0, weight_hh,
nonlinearity)` (gi = x W_ih^T + b_ih + b_hh) returns h of every step, shaped like gi.
With `reverse=True` the layer runs from the last step to the first (the backward direction of a
bidirectional layer; packed sequences then start each row at its own last step).

Gradients follow PyTorch's fused LSTM cell: when the backward itself is not recorded (grad mode
off, the usual `loss.backward()`), the rule calls `lstm_layer_backward` (`gru_`, `rnn_`), which
run backpropagation through time in their eager rule; with `create_graph=True` it composes
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


def _gate_scale(xp, dtype, H: int, gates):
    """Per-column factors for W_hh's rows and gi's columns: -1 on sigmoid gates, -2 on tanh
    gates ("tanh", computed as 2 sigmoid(2x) - 1), 1 on gates used as they are ("keep").

    Scaling by -1 or -2 is exact, so one matmul and one add give exp's argument for every gate:
    act = 1 / (1 + exp(-x)). numpy's float32 exp is vectorised where its tanh is not (3x faster
    on AVX2 machines); exp overflows to inf for very negative x, which gives the right limit 0
    (the callers silence that warning)."""
    factor = {"sigmoid": -1.0, "tanh": -2.0, "keep": 1.0}
    col = np.repeat(np.array([factor[g] for g in gates]), H)
    return xp.asarray(col, dtype=dtype)


def _activate(xp, gates, tanh_gates) -> None:
    """exp arguments (G, b, H) -> gate activations, in place (see `_gate_scale`)."""
    xp.exp(gates, out=gates)
    gates += 1
    xp.reciprocal(gates, out=gates)
    t = gates[tanh_gates]
    t *= 2
    t -= 1


def _slopes(xp, acts, gates):
    """d act / d x of every step from the activations (G, T, H): y (1 - y) on sigmoid gates,
    1 - y^2 on tanh gates (computed once per call, not per step)."""
    k = np.array([1.0 if g == "sigmoid" else 0.0 for g in gates]).reshape(-1, 1, 1)
    s = xp.subtract(xp.asarray(k, dtype=acts.dtype), acts)
    s *= acts
    s += xp.asarray(1 - k, dtype=acts.dtype)
    return s


def _prev_states(xp, hs, h0, steps, batch_sizes, reverse: bool):
    """For every row of the per-step states `hs` (T, H), the state that row's step started
    from: the previous step's, or the initial state's for rows that start there."""
    prev = xp.empty_like(hs)
    N = h0.shape[0]
    if batch_sizes is None:   # padded: the states shifted by one step
        if hs.shape[0]:
            if reverse:
                prev[:-N], prev[-N:] = hs[N:], h0
            else:
                prev[N:], prev[:N] = hs[:-N], h0
        return prev
    carry = h0.copy()
    for off, b in steps:
        prev[off:off + b] = carry[:b]
        carry[:b] = hs[off:off + b]
    return prev


def _as_gate_slabs(rows, G: int, H: int):
    """(b, G * H) rows viewed as (G, b, H) gate slabs (no copy)."""
    return rows.reshape(rows.shape[0], G, H).transpose(1, 0, 2)


def _scaled_slabs(xp, gi, scale, G: int, H: int):
    """gi (..., G * H) times the column factors, as (G, T, H) slabs (one pass over gi)."""
    gi2 = gi.reshape(-1, G * H)
    out = xp.empty((G, gi2.shape[0], H), dtype=gi.dtype)
    xp.multiply(_as_gate_slabs(gi2, G, H), scale.reshape(G, 1, H), out=out)
    return out


class _Carry:
    """The state each step starts from. Padded input, and packed input forwards in time, read
    the previous step's rows of the output directly; packed input backwards in time joins rows
    from their initial state, so a carried copy is kept."""

    def __init__(self, states, init, direct: bool):
        self.states, self.init = states, init
        self.prev = None
        self.copy = None if direct else [s.copy() for s in init]

    def get(self, b: int) -> list:
        if self.copy is not None:
            return [s[:b] for s in self.copy]
        if self.prev is None:
            return [s[:b] for s in self.init]
        return [s[self.prev:self.prev + b] for s in self.states]

    def advance(self, off: int, b: int) -> None:
        if self.copy is not None:
            for c, s in zip(self.copy, self.states):
                c[:b] = s[off:off + b]
        self.prev = off


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

_LSTM_GATES = ("sigmoid", "sigmoid", "tanh", "sigmoid")   # i, f, g, o


@defop("lstm_layer", OpKind.OTHER, save=("inputs[1:]", "output"),
       doc="an LSTM layer over every time step: slabs h, c, i, f, g, o, tanh(c) of every step")
def lstm_layer_op(xp, gi, h0, c0, weight_hh, reverse=False, batch_sizes=None):
    H = weight_hh.shape[1]
    scale = _gate_scale(xp, gi.dtype, H, _LSTM_GATES)
    gis = _scaled_slabs(xp, gi, scale, 4, H)
    w_t = (weight_hh * scale[:, None]).T
    T = gis.shape[1]
    # Slab layout (one (T, H) array per quantity): every array call below reads and writes
    # contiguous blocks, ~3x faster than column slices of (b, 7H) rows at these sizes.
    out = xp.empty((7, T, H), dtype=gi.dtype)
    rows = xp.empty((h0.shape[0], 4 * H), dtype=gi.dtype)
    carry = _Carry((out[0], out[1]), (h0, c0), batch_sizes is None or not reverse)
    with _quiet(xp):
        for off, b in _steps(gi.shape[:-1], batch_sizes, reverse):
            hp, cp = carry.get(b)
            pre = rows[:b]
            xp.matmul(hp, w_t, out=pre)
            gates = out[2:6, off:off + b]
            xp.add(_as_gate_slabs(pre, 4, H), gis[:, off:off + b], out=gates)
            _activate(xp, gates, slice(2, 3))
            i, f, g, o = gates
            hn, cn, tc = out[0, off:off + b], out[1, off:off + b], out[6, off:off + b]
            xp.multiply(f, cp, out=cn)
            xp.multiply(i, g, out=tc)
            cn += tc
            xp.tanh(cn, out=tc)
            xp.multiply(o, tc, out=hn)
            carry.advance(off, b)
    return out.reshape((7,) + gi.shape[:-1] + (H,))


@nondiff("lstm_layer_backward", OpKind.OTHER,
         "runs only while the backward is not recorded; with create_graph=True lstm_layer's "
         "rule composes differentiable ops instead (as PyTorch's fused LSTM cell does)")
def lstm_layer_backward_op(xp, grad, out, h0, c0, weight_hh, reverse=False, batch_sizes=None):
    """Backpropagation through time; returns [d gi, d h0, d c0, d weight_hh] flattened."""
    H = weight_hh.shape[1]
    N = h0.shape[0]
    G, Y = grad.reshape(7, -1, H), out.reshape(7, -1, H)
    T = Y.shape[1]
    # every part is written below (each row of dgi by its step); only the carries start at 0
    flat = xp.empty(T * 4 * H + 2 * N * H + 4 * H * H, dtype=out.dtype)
    dgi = flat[:T * 4 * H].reshape(T, 4 * H)
    dh_carry = flat[T * 4 * H:T * 4 * H + N * H].reshape(N, H)
    dc_carry = flat[T * 4 * H + N * H:T * 4 * H + 2 * N * H].reshape(N, H)
    dw = flat[T * 4 * H + 2 * N * H:].reshape(4 * H, H)
    dh_carry[...] = 0
    dc_carry[...] = 0
    steps = _steps(out.shape[1:-1], batch_sizes, reverse)
    hprev = _prev_states(xp, Y[0], h0, steps, batch_sizes, reverse)
    cprev = _prev_states(xp, Y[1], c0, steps, batch_sizes, reverse)
    slope = _slopes(xp, Y[2:6], _LSTM_GATES)
    tc_slope = Y[6] * Y[6]
    xp.subtract(1, tc_slope, out=tc_slope)
    # Gradients reaching the gate and tanh(c) slabs are zero unless a caller reads them (the
    # layers read only h and c): skip those adds when they are.
    extra = bool(G[2:].any())
    slabs = xp.empty((4, N, H), dtype=out.dtype)
    for off, b in reversed(steps):
        c, i, f, g, o, tc = Y[1:, off:off + b]
        dh = xp.add(G[0, off:off + b], dh_carry[:b])
        dc = xp.add(G[1, off:off + b], dc_carry[:b])
        t = dh * o                        # d loss / d tanh(c)
        if extra:
            t += G[6, off:off + b]
        t *= tc_slope[off:off + b]
        dc += t
        d = slabs[:, :b]
        xp.multiply(dc, g, out=d[0])
        xp.multiply(dc, cprev[off:off + b], out=d[1])
        xp.multiply(dc, i, out=d[2])
        xp.multiply(dh, tc, out=d[3])
        if extra:
            d += G[2:6, off:off + b]
        d *= slope[:, off:off + b]
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
    G, Y = grad.reshape(7, -1, H), out.reshape(7, -1, H)
    steps = _steps(tuple(out.shape[1:-1]), batch_sizes, reverse)
    prev_h, prev_c = _prev_rows_t(Y[0], h0, steps), _prev_rows_t(Y[1], c0, steps)
    dh_carry, dc_carry = h0 * 0, c0 * 0
    dgi = [None] * len(steps)
    dw = None
    for s in range(len(steps) - 1, -1, -1):
        off, b = steps[s]
        Gs, Ys = G[:, off:off + b], Y[:, off:off + b]
        c, i, f, g, o, tc = (Ys[k] for k in range(1, 7))
        dh = Gs[0] + dh_carry[:b]
        dc = Gs[1] + dc_carry[:b] + (dh * o + Gs[6]) * (1 - tc * tc)
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

_GRU_GATES = ("sigmoid", "sigmoid", "keep")   # r, z, and W_hn h used as it is


@defop("gru_layer", OpKind.OTHER, save=("inputs[1:]", "output"),
       doc="a GRU layer over every time step: slabs h, r, z, n, W_hn h + b_hn of every step")
def gru_layer_op(xp, gi, h0, weight_hh, bias_hh, reverse=False, batch_sizes=None):
    H = weight_hh.shape[1]
    scale = _gate_scale(xp, gi.dtype, H, _GRU_GATES)
    gis = _scaled_slabs(xp, gi, scale, 3, H)
    gis[:2] -= bias_hh[:2 * H].reshape(2, 1, H)   # r and z take both biases: fold b_hr, b_hz
    b_hn = bias_hh[2 * H:]
    w_t = (weight_hh * scale[:, None]).T
    out = xp.empty((5, gis.shape[1], H), dtype=gi.dtype)
    rows = xp.empty((h0.shape[0], 3 * H), dtype=gi.dtype)
    carry = _Carry((out[0],), (h0,), batch_sizes is None or not reverse)
    with _quiet(xp):
        for off, b in _steps(gi.shape[:-1], batch_sizes, reverse):
            hp, = carry.get(b)
            gh = rows[:b]
            xp.matmul(hp, w_t, out=gh)
            ghs = _as_gate_slabs(gh, 3, H)
            rz = out[1:3, off:off + b]
            xp.add(ghs[:2], gis[:2, off:off + b], out=rz)
            _activate(xp, rz, slice(0, 0))
            r, z = rz
            n, ghn, hn = out[3, off:off + b], out[4, off:off + b], out[0, off:off + b]
            xp.add(ghs[2], b_hn, out=ghn)
            xp.multiply(r, ghn, out=n)
            n += gis[2, off:off + b]
            xp.tanh(n, out=n)
            xp.subtract(hp, n, out=hn)   # h' = n + z (h - n) = (1 - z) n + z h
            hn *= z
            hn += n
            carry.advance(off, b)
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
    dh_carry[...] = 0
    dw = flat[T * 3 * H + N * H:T * 3 * H + N * H + 3 * H * H].reshape(3 * H, H)
    db = flat[T * 3 * H + N * H + 3 * H * H:]
    dgh = xp.empty((T, 3 * H), dtype=out.dtype)
    steps = _steps(out.shape[1:-1], batch_sizes, reverse)
    hprev = _prev_states(xp, Y[0], h0, steps, batch_sizes, reverse)
    rz_slope = _slopes(xp, Y[1:3], _GRU_GATES[:2])
    one_minus_z = xp.subtract(1, Y[2])
    n_slope = Y[3] * Y[3]
    xp.subtract(1, n_slope, out=n_slope)
    extra = bool(G[1:].any())   # gradients reaching r, z, n, W_hn h (see lstm_layer_backward)
    slabs = xp.empty((3, N, H), dtype=out.dtype)
    for off, b in reversed(steps):
        hp = hprev[off:off + b]
        r, z, n, ghn = Y[1:, off:off + b]
        dh = xp.add(G[0, off:off + b], dh_carry[:b])
        d = slabs[:, :b]                 # d pre-activation of r, z, n
        t = hp - n
        xp.multiply(t, dh, out=d[1])
        dn = one_minus_z[off:off + b] * dh
        if extra:
            dn += G[3, off:off + b]
        xp.multiply(dn, n_slope[off:off + b], out=d[2])
        xp.multiply(d[2], ghn, out=d[0])
        if extra:
            d[:2] += G[1:3, off:off + b]
        d[:2] *= rz_slope[:, off:off + b]
        _as_gate_slabs(dgi[off:off + b], 3, H)[...] = d
        dg = dgh[off:off + b]
        dgs = _as_gate_slabs(dg, 3, H)
        dgs[:2] = d[:2]
        xp.multiply(d[2], r, out=dgs[2])
        if extra:
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
# Elman RNN (tanh or relu)
# ----------------------------------------------------------------------------------------------

@defop("rnn_layer", OpKind.OTHER, save=("inputs[1:]", "output"),
       doc="an Elman RNN layer (tanh or relu) over every time step: h of every step")
def rnn_layer_op(xp, gi, h0, weight_hh, nonlinearity="tanh", reverse=False, batch_sizes=None):
    H = weight_hh.shape[1]
    gi2 = gi.reshape(-1, H)
    out = xp.empty_like(gi2)
    w_t = weight_hh.T
    carry = _Carry((out,), (h0,), batch_sizes is None or not reverse)
    for off, b in _steps(gi.shape[:-1], batch_sizes, reverse):
        hp, = carry.get(b)
        hn = out[off:off + b]
        xp.matmul(hp, w_t, out=hn)
        hn += gi2[off:off + b]
        if nonlinearity == "tanh":
            xp.tanh(hn, out=hn)
        else:
            xp.maximum(hn, 0, out=hn)
        carry.advance(off, b)
    return out.reshape(gi.shape)


@nondiff("rnn_layer_backward", OpKind.OTHER,
         "runs only while the backward is not recorded; with create_graph=True rnn_layer's "
         "rule composes differentiable ops instead")
def rnn_layer_backward_op(xp, grad, out, h0, weight_hh, nonlinearity="tanh", reverse=False,
                          batch_sizes=None):
    """Backpropagation through time; returns [d gi, d h0, d weight_hh] flattened."""
    H = weight_hh.shape[1]
    N = h0.shape[0]
    G, Y = grad.reshape(-1, H), out.reshape(-1, H)
    T = Y.shape[0]
    flat = xp.empty(T * H + N * H + H * H, dtype=out.dtype)
    dgi = flat[:T * H].reshape(T, H)
    dh_carry = flat[T * H:T * H + N * H].reshape(N, H)
    dw = flat[T * H + N * H:].reshape(H, H)
    dh_carry[...] = 0
    steps = _steps(out.shape[:-1], batch_sizes, reverse)
    hprev = _prev_states(xp, Y, h0, steps, batch_sizes, reverse)
    if nonlinearity == "tanh":
        slope = Y * Y
        xp.subtract(1, slope, out=slope)
    else:
        slope = (Y > 0).astype(Y.dtype)
    for off, b in reversed(steps):
        da = dgi[off:off + b]
        xp.add(G[off:off + b], dh_carry[:b], out=da)
        da *= slope[off:off + b]
        xp.matmul(da, weight_hh, out=dh_carry[:b])
    xp.matmul(dgi.T, hprev, out=dw)
    return flat


@rnn_layer_op.def_grad
def _(ctx, g):
    _, h0, w = ctx.inputs
    attrs = ctx.attrs
    if not _api.state.grad_enabled:
        flat = _api.apply(rnn_layer_backward_op, g, ctx.out, h0, w, **attrs)
        return _unflatten(flat, ctx.input_shape(0), [h0.shape, w.shape])
    return _rnn_backward_composed(g, ctx.out, h0, w, **attrs)


def _rnn_backward_composed(grad, out, h0, w, nonlinearity="tanh", reverse=False,
                           batch_sizes=None):
    """rnn_layer's gradient in differentiable dyngraph ops (for create_graph=True)."""
    from .shape import cat
    H = w.shape[1]
    G, Y = grad.reshape(-1, H), out.reshape(-1, H)
    steps = _steps(tuple(out.shape[:-1]), batch_sizes, reverse)
    prev_h = _prev_rows_t(Y, h0, steps)
    dh_carry = h0 * 0
    dgi = [None] * len(steps)
    dw = None
    for s in range(len(steps) - 1, -1, -1):
        off, b = steps[s]
        y = Y[off:off + b]
        dh = G[off:off + b] + dh_carry[:b]
        da = dh * (1 - y * y) if nonlinearity == "tanh" else dh * (y > 0).to(dh.dtype)
        dgi[s] = da
        dw = _add(dw, da.T @ prev_h[s])
        dh_carry = _set_rows(dh_carry, da @ w, b)
    order = sorted(range(len(steps)), key=lambda k: steps[k][0])
    return cat([dgi[k] for k in order], 0).reshape(tuple(out.shape)), dh_carry, dw


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
