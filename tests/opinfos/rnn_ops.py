"""OpInfo cases for dyngraph/ops/rnn_ops.py: the fused RNN/LSTM/GRU layer ops (padded and packed,
both directions) against a plain step-by-step reference in numpy float64 and in PyTorch, and
their BPTT backward ops against a plain numpy backward."""

from __future__ import annotations

import numpy as np

from dyngraph._dispatch import apply
from dyngraph.ops.rnn_ops import (gru_layer_backward_op, gru_layer_op, lstm_layer_backward_op,
                                  lstm_layer_op, rnn_layer_backward_op, rnn_layer_op)
from tests.conftest import torch
from tests.opinfo import OpCase, rand

H = 3
PACKED = (3, 3, 2, 1)   # batch sizes of a packed batch of lengths 4, 3, 2


class _Lib:
    """The array calls the references need, for numpy or torch."""

    def __init__(self, mod):
        self.mod = mod

    def cat(self, xs, axis):
        return np.concatenate(xs, axis) if self.mod is np else torch.cat(xs, axis)

    def stack(self, xs):
        return np.stack(xs) if self.mod is np else torch.stack(xs)

    def tanh(self, x):
        return self.mod.tanh(x)

    def sigmoid(self, x):
        return 1 / (1 + self.mod.exp(-x))


def _steps(T_or_L, N, batch_sizes, reverse):
    sizes = batch_sizes if batch_sizes is not None else (N,) * T_or_L
    steps, off = [], 0
    for b in sizes:
        steps.append((off, b))
        off += b
    return steps[::-1] if reverse else steps


def _rows(lib, carry, new, b):
    return new if b == carry.shape[0] else lib.cat([new, carry[b:]], 0)


def _slabs(lib, rows, lead):
    """Per-step lists of k quantities -> (k, *lead, H) slabs in row order."""
    offs = sorted(rows)
    k = len(rows[offs[0]])
    out = lib.stack([lib.cat([rows[o][j] for o in offs], 0) for j in range(k)])
    return out.reshape((k,) + tuple(lead) + (H,))


def _lstm_ref(lib, gi, h0, c0, w, reverse=False, batch_sizes=None):
    """Slabs h, c, i, f, g, o, tanh(c) of every step, one step at a time."""
    gi2 = gi.reshape(-1, gi.shape[-1])
    steps = _steps(gi.shape[0], h0.shape[0], batch_sizes, reverse)
    h, c, rows = h0, c0, {}
    for off, b in steps:
        gates = gi2[off:off + b] + h[:b] @ w.T
        i, f, g, o = (gates[:, k * H:(k + 1) * H] for k in range(4))
        i, f, g, o = lib.sigmoid(i), lib.sigmoid(f), lib.tanh(g), lib.sigmoid(o)
        cn = f * c[:b] + i * g
        hn = o * lib.tanh(cn)
        rows[off] = [hn, cn, i, f, g, o, lib.tanh(cn)]
        h, c = _rows(lib, h, hn, b), _rows(lib, c, cn, b)
    return _slabs(lib, rows, gi.shape[:-1])


def _gru_ref(lib, gi, h0, w, bias, reverse=False, batch_sizes=None):
    """Slabs h, r, z, n, W_hn h + b_hn of every step, one step at a time."""
    gi2 = gi.reshape(-1, gi.shape[-1])
    steps = _steps(gi.shape[0], h0.shape[0], batch_sizes, reverse)
    h, rows = h0, {}
    for off, b in steps:
        x, gh = gi2[off:off + b], h[:b] @ w.T + bias
        r = lib.sigmoid(x[:, :H] + gh[:, :H])
        z = lib.sigmoid(x[:, H:2 * H] + gh[:, H:2 * H])
        n = lib.tanh(x[:, 2 * H:] + r * gh[:, 2 * H:])
        hn = (1 - z) * n + z * h[:b]
        rows[off] = [hn, r, z, n, gh[:, 2 * H:]]
        h = _rows(lib, h, hn, b)
    return _slabs(lib, rows, gi.shape[:-1])


def _rnn_ref(lib, gi, h0, w, nonlinearity="tanh", reverse=False, batch_sizes=None):
    """h of every step, one step at a time."""
    gi2 = gi.reshape(-1, gi.shape[-1])
    steps = _steps(gi.shape[0], h0.shape[0], batch_sizes, reverse)
    h, rows = h0, {}
    for off, b in steps:
        pre = gi2[off:off + b] + h[:b] @ w.T
        hn = lib.tanh(pre) if nonlinearity == "tanh" else pre * (pre > 0)
        rows[off] = [hn]
        h = _rows(lib, h, hn, b)
    return _slabs(lib, rows, gi.shape[:-1])[0]


def _rnn_backward_ref(grad, out, h0, w, nonlinearity="tanh", reverse=False, batch_sizes=None):
    """Plain BPTT from the outputs: [d gi, d h0, d w] flattened."""
    g2, o2 = grad.reshape(-1, H), out.reshape(-1, H)
    steps = _steps(out.shape[0], h0.shape[0], batch_sizes, reverse)
    hp = _prev(o2, h0, steps)
    dgi, dh_next = np.zeros_like(o2), np.zeros_like(h0)
    for off, b in reversed(steps):
        y = o2[off:off + b]
        slope = 1 - y * y if nonlinearity == "tanh" else (y > 0) * 1.0
        dgi[off:off + b] = (g2[off:off + b] + dh_next[:b]) * slope
        dh_next[:b] = dgi[off:off + b] @ w
    return np.concatenate([dgi.ravel(), dh_next.ravel(), (dgi.T @ hp).ravel()])


def _prev(hs, h0, steps):
    prev, carry = np.empty_like(hs), h0.copy()
    for off, b in steps:
        prev[off:off + b] = carry[:b]
        carry[:b] = hs[off:off + b]
    return prev


def _lstm_backward_ref(grad, out, h0, c0, w, reverse=False, batch_sizes=None):
    """Plain BPTT from the workspace: [d gi, d h0, d c0, d w] flattened."""
    g2, o2 = grad.reshape(7, -1, H), out.reshape(7, -1, H)
    steps = _steps(out.shape[1], h0.shape[0], batch_sizes, reverse)
    hp, cp = _prev(o2[0], h0, steps), _prev(o2[1], c0, steps)
    dgi = np.zeros((o2.shape[1], 4 * H))
    dh_next, dc_next = np.zeros_like(h0), np.zeros_like(c0)
    for off, b in reversed(steps):
        G = g2[:, off:off + b]
        c, i, f, g, o, tc = o2[1:, off:off + b]
        dh = G[0] + dh_next[:b]
        dc = G[1] + dc_next[:b] + (dh * o + G[6]) * (1 - tc ** 2)
        di = (G[2] + dc * g) * i * (1 - i)
        df = (G[3] + dc * cp[off:off + b]) * f * (1 - f)
        dg = (G[4] + dc * i) * (1 - g * g)
        do = (G[5] + dh * tc) * o * (1 - o)
        dgi[off:off + b] = np.concatenate([di, df, dg, do], 1)
        dh_next[:b] = dgi[off:off + b] @ w
        dc_next[:b] = dc * f
    return np.concatenate([dgi.ravel(), dh_next.ravel(), dc_next.ravel(),
                           (dgi.T @ hp).ravel()])


def _gru_backward_ref(grad, out, h0, w, reverse=False, batch_sizes=None):
    """Plain BPTT from the workspace: [d gi, d h0, d w, d bias] flattened."""
    g2, o2 = grad.reshape(5, -1, H), out.reshape(5, -1, H)
    steps = _steps(out.shape[1], h0.shape[0], batch_sizes, reverse)
    hp = _prev(o2[0], h0, steps)
    dgi, dgh = np.zeros((o2.shape[1], 3 * H)), np.zeros((o2.shape[1], 3 * H))
    dh_next = np.zeros_like(h0)
    for off, b in reversed(steps):
        G, h = g2[:, off:off + b], hp[off:off + b]
        r, z, n, ghn = o2[1:, off:off + b]
        dh = G[0] + dh_next[:b]
        dpre_n = (G[3] + dh * (1 - z)) * (1 - n * n)
        dpre_r = (G[1] + dpre_n * ghn) * r * (1 - r)
        dpre_z = (G[2] + dh * (h - n)) * z * (1 - z)
        dgi[off:off + b] = np.concatenate([dpre_r, dpre_z, dpre_n], 1)
        dgh[off:off + b] = np.concatenate([dpre_r, dpre_z, G[4] + dpre_n * r], 1)
        dh_next[:b] = dgh[off:off + b] @ w + dh * z
    return np.concatenate([dgi.ravel(), dh_next.ravel(), (dgh.T @ hp).ravel(),
                           dgh.sum(0).ravel()])


def _lstm_case(name, lead, N, reverse, batch_sizes, seed):
    inputs = [rand(*lead, 4 * H, seed=seed), rand(N, H, seed=seed + 1),
              rand(N, H, seed=seed + 2), rand(4 * H, H, low=-0.8, high=0.8, seed=seed + 3)]
    kw = dict(reverse=reverse, batch_sizes=batch_sizes)
    return OpCase("lstm_layer", lambda *xs: apply(lstm_layer_op, *xs, **kw), inputs,
                  ref=lambda *xs: _lstm_ref(_Lib(np), *xs, **kw),
                  torch_fn=lambda *xs: _lstm_ref(_Lib(torch), *xs, **kw), name=name)


def _gru_case(name, lead, N, reverse, batch_sizes, seed):
    inputs = [rand(*lead, 3 * H, seed=seed), rand(N, H, seed=seed + 1),
              rand(3 * H, H, low=-0.8, high=0.8, seed=seed + 2), rand(3 * H, seed=seed + 3)]
    kw = dict(reverse=reverse, batch_sizes=batch_sizes)
    return OpCase("gru_layer", lambda *xs: apply(gru_layer_op, *xs, **kw), inputs,
                  ref=lambda *xs: _gru_ref(_Lib(np), *xs, **kw),
                  torch_fn=lambda *xs: _gru_ref(_Lib(torch), *xs, **kw), name=name)


def _only_states(grad, k):
    """grad with zeros on every slab after the first k (what the layers pass: they read only
    h and c, and the backward ops skip the zero slabs)."""
    grad = grad.copy()
    grad[k:] = 0
    return grad


def _lstm_backward_case(name, lead, N, reverse, batch_sizes, seed, states_only=False):
    gi, h0, c0 = rand(*lead, 4 * H, seed=seed), rand(N, H, seed=seed + 1), rand(N, H, seed=seed)
    w = rand(4 * H, H, low=-0.8, high=0.8, seed=seed + 2)
    kw = dict(reverse=reverse, batch_sizes=batch_sizes)
    out = _lstm_ref(_Lib(np), gi, h0, c0, w, **kw)   # a workspace the forward would give
    grad = rand(*out.shape, seed=seed + 3)
    inputs = [_only_states(grad, 2) if states_only else grad, out, h0, c0, w]
    return OpCase("lstm_layer_backward", lambda *xs: apply(lstm_layer_backward_op, *xs, **kw),
                  inputs, ref=lambda *xs: _lstm_backward_ref(*xs, **kw), grad=False, name=name)


def _gru_backward_case(name, lead, N, reverse, batch_sizes, seed, states_only=False):
    gi, h0 = rand(*lead, 3 * H, seed=seed), rand(N, H, seed=seed + 1)
    w, bias = rand(3 * H, H, low=-0.8, high=0.8, seed=seed + 2), rand(3 * H, seed=seed + 4)
    kw = dict(reverse=reverse, batch_sizes=batch_sizes)
    out = _gru_ref(_Lib(np), gi, h0, w, bias, **kw)
    grad = rand(*out.shape, seed=seed + 3)
    inputs = [_only_states(grad, 1) if states_only else grad, out, h0, w]
    return OpCase("gru_layer_backward", lambda *xs: apply(gru_layer_backward_op, *xs, **kw),
                  inputs, ref=lambda *xs: _gru_backward_ref(*xs, **kw), grad=False, name=name)


def _rnn_case(name, lead, N, reverse, batch_sizes, seed, nonlinearity):
    inputs = [rand(*lead, H, seed=seed), rand(N, H, seed=seed + 1),
              rand(H, H, low=-0.8, high=0.8, seed=seed + 2)]
    kw = dict(nonlinearity=nonlinearity, reverse=reverse, batch_sizes=batch_sizes)
    return OpCase("rnn_layer", lambda *xs: apply(rnn_layer_op, *xs, **kw), inputs,
                  ref=lambda *xs: _rnn_ref(_Lib(np), *xs, **kw),
                  torch_fn=lambda *xs: _rnn_ref(_Lib(torch), *xs, **kw),
                  name=f"{name}_{nonlinearity}")


def _rnn_backward_case(name, lead, N, reverse, batch_sizes, seed, nonlinearity):
    gi, h0 = rand(*lead, H, seed=seed), rand(N, H, seed=seed + 1)
    w = rand(H, H, low=-0.8, high=0.8, seed=seed + 2)
    kw = dict(nonlinearity=nonlinearity, reverse=reverse, batch_sizes=batch_sizes)
    out = _rnn_ref(_Lib(np), gi, h0, w, **kw)
    inputs = [rand(*out.shape, seed=seed + 3), out, h0, w]
    return OpCase("rnn_layer_backward", lambda *xs: apply(rnn_layer_backward_op, *xs, **kw),
                  inputs, ref=lambda *xs: _rnn_backward_ref(*xs, **kw), grad=False,
                  name=f"{name}_{nonlinearity}")


_LAYOUTS = [("padded", (4, 2), 2, False, None), ("padded_reverse", (4, 2), 2, True, None),
            ("packed", (sum(PACKED),), PACKED[0], False, PACKED),
            ("packed_reverse", (sum(PACKED),), PACKED[0], True, PACKED)]

CASES = []
for _k, (_name, _lead, _N, _rev, _bs) in enumerate(_LAYOUTS):
    CASES += [_lstm_case(_name, _lead, _N, _rev, _bs, 700 + 10 * _k),
              _gru_case(_name, _lead, _N, _rev, _bs, 750 + 10 * _k),
              _lstm_backward_case(_name, _lead, _N, _rev, _bs, 800 + 10 * _k),
              _gru_backward_case(_name, _lead, _N, _rev, _bs, 850 + 10 * _k),
              _lstm_backward_case(_name + "_states_only", _lead, _N, _rev, _bs, 900 + 10 * _k,
                                  states_only=True),
              _gru_backward_case(_name + "_states_only", _lead, _N, _rev, _bs, 950 + 10 * _k,
                                 states_only=True)]
    for _nl in ("tanh", "relu"):
        CASES += [_rnn_case(_name, _lead, _N, _rev, _bs, 600 + 10 * _k, _nl),
                  _rnn_backward_case(_name, _lead, _N, _rev, _bs, 650 + 10 * _k, _nl)]
