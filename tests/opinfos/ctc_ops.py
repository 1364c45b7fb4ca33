"""OpInfo cases for dyngraph/ops/ctc_ops.py (ctc_loss and its backward) against a brute-force
numpy oracle that enumerates every alignment (tiny T and C), and against PyTorch."""

from __future__ import annotations

import itertools

import numpy as np

import dyngraph as dg
from dyngraph._dispatch import apply
from dyngraph.ops.ctc_ops import ctc_loss_backward_op
from tests.opinfo import OpCase, rand


def _collapse(path, blank):
    out, prev = [], None
    for c in path:
        if c != prev and c != blank:
            out.append(c)
        prev = c
    return out


def ctc_brute_force(log_probs, targets, input_lengths, target_lengths, blank=0):
    """Per-sample CTC nll (N,) and the posterior of each class (T, N, C), by enumerating all
    C ** T paths of every sample (float64)."""
    steps, n, classes = log_probs.shape
    nll = np.empty(n)
    post = np.zeros((steps, n, classes))
    offset = 0
    for b in range(n):
        length, tl = int(input_lengths[b]), int(target_lengths[b])
        if targets.ndim == 1:
            want = [int(v) for v in targets[offset:offset + tl]]
            offset += tl
        else:
            want = [int(v) for v in targets[b, :tl]]
        probs = np.exp(log_probs[:length, b])
        total, occ = 0.0, np.zeros((length, classes))
        for path in itertools.product(range(classes), repeat=length):
            if _collapse(path, blank) == want:
                p = np.prod(probs[np.arange(length), list(path)])
                total += p
                occ[np.arange(length), list(path)] += p
        with np.errstate(divide="ignore", invalid="ignore"):
            nll[b] = -np.log(total)
            post[:length, b] = occ / total
    return nll, post


def _ctc_grad_ref(g, lp, tg, il, tl):
    """PyTorch's gradient of ctc_loss w.r.t. log_probs: (exp(lp) - posterior) * g at t < il."""
    nll, post = ctc_brute_force(lp, tg, il, tl)
    live = np.arange(lp.shape[0])[:, None] < il[None, :]
    out = (np.exp(lp) - post) * g[None, :, None]
    out = np.where(np.isinf(nll)[None, :, None], np.nan, out)
    return np.where(live[:, :, None], out, 0.0)


def _log_softmax(x):
    s = x - x.max(axis=2, keepdims=True)
    return s - np.log(np.exp(s).sum(axis=2, keepdims=True))


# 3 samples, T = 5, C = 4: a repeated label (needs a blank between), a target shorter than the
# input, an empty target, and concatenated targets
_PADDED = np.array([[1, 2, 2], [3, 1, 0], [0, 0, 0]])
_IL, _TL = np.array([5, 4, 3]), np.array([3, 2, 0])
_CONCAT = np.array([1, 2, 2, 3, 1])
# a sample that cannot align (3 labels, 2 with a repeat, in 3 steps): an infinite loss
_IMPOSSIBLE = (np.array([[1, 1, 2], [2, 0, 0]]), np.array([3, 4]), np.array([3, 1]))


def _torch_ctc(x, tg, il, tl, **kw):
    import torch
    return torch.nn.functional.ctc_loss(x.log_softmax(2), tg, il, tl, reduction="none", **kw)


def _dg_ctc(x, tg, il, tl, **kw):
    return dg.nn.functional.ctc_loss(x.log_softmax(2), tg, il, tl, reduction="none", **kw)


def _torch_ctc_grad(g, lp, tg, il, tl):
    import torch
    lp = lp.detach().requires_grad_()
    loss = torch.nn.functional.ctc_loss(lp, tg, il, tl, reduction="none")
    return torch.autograd.grad(loss, lp, g)[0]


CASES = [
    OpCase("ctc_loss", _dg_ctc, [rand(5, 3, 4, seed=40), _PADDED, _IL, _TL],
           ref=lambda x, tg, il, tl: ctc_brute_force(_log_softmax(x), tg, il, tl)[0],
           torch_fn=_torch_ctc, name="padded"),
    OpCase("ctc_loss", _dg_ctc, [rand(5, 3, 4, seed=41) * 2, _CONCAT, _IL, _TL],
           ref=lambda x, tg, il, tl: ctc_brute_force(_log_softmax(x), tg, il, tl)[0],
           torch_fn=_torch_ctc, name="concatenated"),
    OpCase("ctc_loss", lambda x, tg, il, tl: _dg_ctc(x, tg, il, tl, zero_infinity=True),
           [rand(4, 2, 3, seed=42), *_IMPOSSIBLE],
           ref=lambda x, tg, il, tl: np.nan_to_num(
               ctc_brute_force(_log_softmax(x), tg, il, tl)[0], posinf=0.0),
           torch_fn=lambda x, tg, il, tl: _torch_ctc(x, tg, il, tl, zero_infinity=True),
           name="zero_infinity"),
    OpCase("ctc_loss_backward",
           lambda g, lp, tg, il, tl: apply(ctc_loss_backward_op, g, lp, tg, il, tl, blank=0,
                                           zero_infinity=False),
           [np.array([1.0, -0.5, 2.0]), _log_softmax(rand(5, 3, 4, seed=43)), _PADDED, _IL, _TL],
           ref=_ctc_grad_ref, torch_fn=_torch_ctc_grad, grad=False),
    OpCase("ctc_loss_backward",
           lambda g, lp, tg, il, tl: apply(ctc_loss_backward_op, g, lp, tg, il, tl, blank=0,
                                           zero_infinity=False),
           [np.array([1.0, 0.5]), _log_softmax(rand(4, 2, 3, seed=44)), *_IMPOSSIBLE],
           ref=_ctc_grad_ref, torch_fn=_torch_ctc_grad, grad=False, name="impossible"),
]
