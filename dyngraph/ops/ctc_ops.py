"""Primitives of the CTC loss (Graves et al., 2006): the log-space alpha recursion and the
alpha-beta gradient, computed as PyTorch's ctc_loss computes them.

A target l of length S is extended with blanks to l' = (blank, l1, blank, l2, ..., lS, blank),
2S + 1 states. alpha[t, s] is the log-probability of the paths through l'[s] at step t that
emitted l'[:s]; beta[t, s] that of completing the labelling from there (both include the emission
at t). Each step is a few array calls on (N, 2S + 1) arrays, so a loop over time costs ~T small
dispatches and one autograd node for the whole batch, instead of ~10 recorded ops per step.

`ctc_loss(log_probs, targets, input_lengths, target_lengths)` returns the negative
log-likelihood of every sample (N,); log_probs is (T, N, C), targets are (N, S) padded or 1-D
concatenated, the lengths (N,) integers. Like PyTorch's, its gradient is the one with respect to
the logits behind a log_softmax, exp(log_probs) - posterior, not -posterior: the two agree after
log_softmax's backward (whose rows' gradients sum to zero), and callers compare with PyTorch.
"""

from __future__ import annotations

import numpy as np

from ._api import apply
from .registry import OpKind, defop

__all__: list[str] = []

_NEG_INF = -np.inf


def _padded_targets(xp, targets, target_lengths, blank: int):
    """(N, S) int64 targets, S = the longest target, with positions past each length = blank."""
    n = target_lengths.shape[0]
    s = int(target_lengths.max()) if n else 0
    pos = xp.arange(s)
    inside = pos[None, :] < target_lengths[:, None]
    if targets.ndim == 1:       # concatenated: sample i starts after the lengths before it
        offsets = xp.cumsum(target_lengths) - target_lengths
        idx = xp.minimum(offsets[:, None] + pos[None, :], max(targets.shape[0] - 1, 0))
        picked = targets[idx] if targets.shape[0] else xp.zeros((n, s), dtype=np.int64)
    else:
        picked = targets[:, :s]
    return xp.where(inside, picked, blank).astype(np.int64)


def _lattice(xp, log_probs, targets, target_lengths, blank: int):
    """The extended labels l' (N, L), where a skip from s - 2 to s is allowed (N, L), and the
    emissions log_probs[t, n, l'[n, s]] (T, N, L), -inf at states past each target's end."""
    tg = _padded_targets(xp, targets, target_lengths, blank)
    n, s = tg.shape
    size = 2 * s + 1
    lprime = xp.full((n, size), blank, dtype=np.int64)
    lprime[:, 1::2] = tg
    skip = xp.zeros((n, size), dtype=bool)
    skip[:, 2:] = (lprime[:, 2:] != blank) & (lprime[:, 2:] != lprime[:, :-2])
    valid = xp.arange(size)[None, :] < (2 * target_lengths + 1)[:, None]
    index = xp.broadcast_to(lprime[None], (log_probs.shape[0],) + lprime.shape)
    emit = xp.take_along_axis(log_probs, index, axis=2)
    emit = xp.where(valid[None], emit, _NEG_INF).astype(log_probs.dtype, copy=False)
    return lprime, skip, emit


def _alpha(xp, emit, skip):
    """Forward variables alpha (T, N, L) by the log-space recursion (every step is computed for
    every sample; callers read sample n at its own last step)."""
    alpha = xp.full(emit.shape, _NEG_INF, dtype=emit.dtype)
    alpha[0, :, :2] = emit[0, :, :2]
    for t in range(1, emit.shape[0]):
        prev, cur = alpha[t - 1], alpha[t]
        cur[...] = prev
        xp.logaddexp(cur[:, 1:], prev[:, :-1], out=cur[:, 1:])
        xp.logaddexp(cur[:, 2:], xp.where(skip[:, 2:], prev[:, :-2], _NEG_INF), out=cur[:, 2:])
        cur += emit[t]
    return alpha


def _beta(xp, emit, skip, input_lengths, target_lengths):
    """Backward variables beta (T, N, L), each sample starting at its own last step
    input_lengths[n] - 1 in its two final states (values past that step are never read)."""
    steps, _, size = emit.shape
    beta = xp.empty_like(emit)
    s = xp.arange(size)[None, :]
    end = 2 * target_lengths[:, None]
    start = xp.where((s == end) | (s == end - 1), 0.0, _NEG_INF).astype(emit.dtype)
    rec = xp.empty_like(emit[0])
    for t in range(steps - 1, -1, -1):
        if t == steps - 1:
            rec[...] = _NEG_INF
        else:
            nxt = beta[t + 1]
            rec[...] = nxt
            xp.logaddexp(rec[:, :-1], nxt[:, 1:], out=rec[:, :-1])
            xp.logaddexp(rec[:, :-2], xp.where(skip[:, 2:], nxt[:, 2:], _NEG_INF),
                         out=rec[:, :-2])
        beta[t] = xp.where((input_lengths == t + 1)[:, None], start, rec) + emit[t]
    return beta


def _nll(xp, alpha, input_lengths, target_lengths):
    """-log p(target | input) per sample from alpha at its last step: the final blank or the
    final label (0 for an empty input and target, inf when no alignment exists)."""
    last = alpha[xp.maximum(input_lengths - 1, 0), xp.arange(alpha.shape[1])]      # (N, L)
    end = 2 * target_lengths[:, None]
    a = xp.take_along_axis(last, end, axis=1)[:, 0]
    b = xp.take_along_axis(last, xp.maximum(end - 1, 0), axis=1)[:, 0]
    ll = xp.where(target_lengths > 0, xp.logaddexp(a, b), a)
    ll = xp.where(input_lengths > 0, ll, xp.where(target_lengths == 0, 0.0, _NEG_INF))
    return (-ll).astype(alpha.dtype, copy=False)


def _int64(xp, a):
    return a.reshape(-1).astype(np.int64, copy=False)


@defop("ctc_loss", OpKind.OTHER, dtype_rule="none", save=("inputs",),
       doc="CTC negative log-likelihood per sample (N,) of log_probs (T, N, C) for targets "
           "(N, S) padded or 1-D concatenated, by the log-space alpha recursion")
def ctc_loss_op(xp, log_probs, targets, input_lengths, target_lengths, blank, zero_infinity):
    il, tl = _int64(xp, input_lengths), _int64(xp, target_lengths)
    _, skip, emit = _lattice(xp, log_probs, targets, tl, blank)
    return _nll(xp, _alpha(xp, emit, skip), il, tl)


@defop("ctc_loss_backward", OpKind.OTHER, dtype_rule="none",
       doc="the gradient of ctc_loss w.r.t. log_probs (alpha-beta posteriors)")
def ctc_loss_backward_op(xp, grad, log_probs, targets, input_lengths, target_lengths, blank,
                         zero_infinity):
    """(exp(log_probs) - posterior of each class) * grad[n] for t < input_lengths[n], else 0."""
    il, tl = _int64(xp, input_lengths), _int64(xp, target_lengths)
    steps, n, classes = log_probs.shape
    lprime, skip, emit = _lattice(xp, log_probs, targets, tl, blank)
    alpha = _alpha(xp, emit, skip)
    nll = _nll(xp, alpha, il, tl)
    beta = _beta(xp, emit, skip, il, tl)
    live = xp.arange(steps)[:, None] < il[None, :]                                   # (T, N)
    reachable = (emit > _NEG_INF) & live[:, :, None]
    # alpha + beta counts the emission at t twice; the posterior of a state is at most 1
    log_post = alpha + beta - xp.where(reachable, emit, 0) + nll[None, :, None]
    post = xp.where(reachable & (log_post > _NEG_INF), xp.exp(log_post), 0)
    # sum the posteriors of the states that emit each class: one bincount over (t, n, class)
    cell = (xp.arange(steps)[:, None, None] * n + xp.arange(n)[None, :, None]) * classes
    occupancy = xp.bincount((cell + lprime[None]).reshape(-1), weights=post.reshape(-1),
                            minlength=steps * n * classes).reshape(steps, n, classes)
    g = grad.astype(log_probs.dtype, copy=False).reshape(1, n, 1)
    out = (xp.exp(log_probs) - occupancy.astype(log_probs.dtype, copy=False)) * g
    # as in PyTorch, a sample with an infinite loss (no alignment) gets a nan gradient at its
    # steps, or 0 with zero_infinity=True; steps past a sample's input length get 0
    impossible = xp.isinf(nll)[None, :, None]
    out = xp.where(impossible, 0.0 if zero_infinity else np.nan, out)
    out = xp.where(live[:, :, None], out, 0.0)
    return out.astype(log_probs.dtype, copy=False)


@ctc_loss_op.def_grad
def _(ctx, g):
    return (apply(ctc_loss_backward_op, g, *ctx.inputs, **ctx.attrs), None, None, None)


@ctc_loss_backward_op.def_grad
def _(ctx, g):
    # differentiable, so that a double backward that needs it fails here, as in PyTorch,
    # instead of treating the first gradient as a constant
    raise NotImplementedError("the derivative for '_ctc_loss_backward' is not implemented: "
                              "ctc_loss has no double backward (as in PyTorch)")
