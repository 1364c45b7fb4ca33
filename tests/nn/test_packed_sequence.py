"""Packed variable-length sequences (dyngraph.nn.utils.rnn) against torch.nn.utils.rnn, and
RNN/LSTM/GRU on PackedSequence inputs against PyTorch with identical weights: outputs, final
states (taken at each sequence's own length) and every gradient, sorted and unsorted batches."""

from __future__ import annotations

import numpy as np
import pytest

import dyngraph as dg
from dyngraph import nn
from dyngraph.autograd import gradcheck
from dyngraph.nn.utils import rnn as R
from tests.conftest import assert_close, requires_torch, torch

RNG = np.random.default_rng(11)
TOL = dict(rtol=1e-9, atol=1e-10)

# (lengths, enforce_sorted): sorted, unsorted with ties, all equal, single sequence
BATCHES = [([5, 3, 3, 1], True), ([2, 5, 1, 4], False), ([3, 3, 3], True), ([4], False)]


def _np(t):
    return t.detach().numpy()


def _padded(lengths, feat=3, batch_first=False):
    """A padded float64 batch (padding filled with garbage, which packing must ignore)."""
    T, B = max(lengths), len(lengths)
    shape = (B, T, feat) if batch_first else (T, B, feat)
    return RNG.standard_normal(shape)


def _pair(a):
    return torch.tensor(a, requires_grad=True), dg.tensor(a, requires_grad=True)


def _tr():
    return torch.nn.utils.rnn


# ----------------------------------------------------------------------------------------------
# Packing utilities
# ----------------------------------------------------------------------------------------------

@requires_torch
@pytest.mark.parametrize("lengths,enforce_sorted", BATCHES)
@pytest.mark.parametrize("batch_first", [False, True])
def test_pack_and_pad_match_torch(lengths, enforce_sorted, batch_first):
    x = _padded(lengths, batch_first=batch_first)
    tx, dx = _pair(x)
    tp = _tr().pack_padded_sequence(tx, lengths, batch_first=batch_first,
                                    enforce_sorted=enforce_sorted)
    dp = R.pack_padded_sequence(dx, dg.tensor(lengths), batch_first=batch_first,
                                enforce_sorted=enforce_sorted)
    assert isinstance(dp, R.PackedSequence)
    assert_close(dp.data, _np(tp.data), **TOL)
    assert dp.batch_sizes.tolist() == tp.batch_sizes.tolist()
    assert dp.batch_sizes.dtype is dg.int64
    assert (dp.sorted_indices is None) == (tp.sorted_indices is None)
    if len(set(lengths)) == len(lengths) and dp.sorted_indices is not None:
        assert dp.sorted_indices.tolist() == tp.sorted_indices.tolist()
        assert dp.unsorted_indices.tolist() == tp.unsorted_indices.tolist()
    total = max(lengths) + 2
    tpad, tlen = _tr().pad_packed_sequence(tp, batch_first=batch_first, padding_value=-7.0,
                                           total_length=total)
    dpad, dlen = R.pad_packed_sequence(dp, batch_first=batch_first, padding_value=-7.0,
                                       total_length=total)
    assert_close(dpad, _np(tpad), **TOL)
    assert dlen.tolist() == tlen.tolist() == lengths
    # gradients flow through pack -> pad back to the valid positions of the input
    w = RNG.standard_normal(tuple(tpad.shape))
    (tpad * torch.tensor(w)).sum().backward()
    (dpad * dg.tensor(w)).sum().backward()
    assert_close(dx.grad, _np(tx.grad), **TOL)


@requires_torch
@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("padding_side", ["right", "left"])
def test_pad_sequence_matches_torch(batch_first, padding_side):
    seqs = [RNG.standard_normal((n, 2, 3)) for n in (2, 5, 1)]
    t = _tr().pad_sequence([torch.tensor(s) for s in seqs], batch_first=batch_first,
                           padding_value=1.5, padding_side=padding_side)
    d = R.pad_sequence([dg.tensor(s) for s in seqs], batch_first=batch_first, padding_value=1.5,
                       padding_side=padding_side)
    assert_close(d, t.numpy(), **TOL)


@requires_torch
@pytest.mark.parametrize("enforce_sorted", [True, False])
def test_pack_unpack_and_unpad_sequence_round_trip(enforce_sorted):
    lengths = [4, 2, 1] if enforce_sorted else [1, 4, 2]
    seqs = [RNG.standard_normal((n, 3)) for n in lengths]
    tp = _tr().pack_sequence([torch.tensor(s) for s in seqs], enforce_sorted=enforce_sorted)
    dp = R.pack_sequence([dg.tensor(s) for s in seqs], enforce_sorted=enforce_sorted)
    assert_close(dp.data, tp.data.numpy(), **TOL)
    assert dp.batch_sizes.tolist() == tp.batch_sizes.tolist()
    for got, want in zip(R.unpack_sequence(dp), seqs):
        assert_close(got, want, **TOL)
    padded = R.pad_sequence([dg.tensor(s) for s in seqs], batch_first=True)
    for got, want in zip(R.unpad_sequence(padded, dg.tensor(lengths), batch_first=True), seqs):
        assert_close(got, want, **TOL)


def test_packed_sequence_tuple_and_conversions():
    x = dg.tensor(RNG.standard_normal((3, 2, 4)), dtype=dg.float32)
    p = R.pack_padded_sequence(x, [3, 1], enforce_sorted=False)
    data, batch_sizes, sorted_indices, unsorted_indices = p   # a namedtuple, as in torch
    assert data is p.data and batch_sizes.tolist() == [2, 1, 1]
    assert sorted_indices.tolist() == [0, 1] and unsorted_indices.tolist() == [0, 1]
    assert p.to(dg.float32) is p and p.float() is p and p.cpu() is p and not p.is_cuda
    q = p.double()
    assert q.data.dtype is dg.float64 and q.batch_sizes is p.batch_sizes
    assert q.sorted_indices.dtype is dg.int64
    assert_close(q.data, p.data.numpy().astype(np.float64))
    for method, dtype in (("half", dg.float16), ("long", dg.int64), ("int", dg.int32),
                          ("short", dg.int16), ("char", dg.int8), ("byte", dg.uint8)):
        assert getattr(p, method)().data.dtype is dtype
    assert not p.is_pinned() and p.pin_memory() is p
    perm = dg.tensor([2, 0, 1])
    assert R.invert_permutation(perm).tolist() == [1, 2, 0]
    assert R.PackedSequence(data, batch_sizes, perm).unsorted_indices.tolist() == [1, 2, 0]


def test_packing_errors_name_the_fix():
    x = dg.randn(5, 3, 2)
    with pytest.raises(RuntimeError, match="enforce_sorted=False"):
        R.pack_padded_sequence(x, [2, 5, 3])
    with pytest.raises(RuntimeError, match="greater than 0"):
        R.pack_padded_sequence(x, [5, 3, 0])
    with pytest.raises(RuntimeError, match="batch_size"):
        R.pack_padded_sequence(x, [5, 3])
    with pytest.raises(RuntimeError, match="1D CPU int64"):
        R.pack_padded_sequence(x, dg.tensor([[5, 3, 2]]))
    with pytest.raises(RuntimeError, match="longer than"):
        R.pack_padded_sequence(x, [6, 3, 2])
    with pytest.raises(ValueError, match="total_length=3 and max sequence length being 5"):
        R.pad_packed_sequence(R.pack_padded_sequence(x, [5, 3, 2]), total_length=3)
    with pytest.raises(RuntimeError, match="padding_side"):
        R.pad_sequence([dg.ones(2)], padding_side="middle")
    with pytest.raises(RuntimeError, match="empty list"):
        R.pad_sequence([])


def test_exported_like_torch():
    import dyngraph.nn.utils.rnn as mod
    assert nn.utils.rnn is mod
    if torch is not None:
        assert set(mod.__all__) == set(torch.nn.utils.rnn.__all__)


# ----------------------------------------------------------------------------------------------
# Recurrent layers on packed input
# ----------------------------------------------------------------------------------------------

def _twin(cls, *args, **kwargs):
    torch.manual_seed(0)
    t = getattr(torch.nn, cls)(*args, **kwargs).double()
    d = getattr(nn, cls)(*args, **kwargs).double()
    d.load_state_dict({k: dg.tensor(v.detach().numpy()) for k, v in t.state_dict().items()})
    return t, d


def _flat(out):
    if isinstance(out, tuple) and not hasattr(out, "batch_sizes"):
        return [x for o in out for x in _flat(o)]
    return [out.data if hasattr(out, "batch_sizes") else out]


LAYERS = [
    ("LSTM", dict(num_layers=2, bidirectional=True)),
    ("GRU", dict(num_layers=2, bidirectional=True, batch_first=True)),
    ("RNN", dict(bidirectional=True, nonlinearity="relu")),
    ("LSTM", dict(proj_size=2, bidirectional=True, batch_first=True)),
    ("GRU", dict()),
]


@requires_torch
@pytest.mark.parametrize("cls,cfg", LAYERS)
@pytest.mark.parametrize("lengths,enforce_sorted", BATCHES[:2])
@pytest.mark.parametrize("with_hx", [False, True])
def test_layers_on_packed_input_match_torch(cls, cfg, lengths, enforce_sorted, with_hx):
    t, d = _twin(cls, 3, 4, **cfg)
    batch_first = cfg.get("batch_first", False)
    tx, dx = _pair(_padded(lengths, batch_first=batch_first))
    tp = _tr().pack_padded_sequence(tx, lengths, batch_first, enforce_sorted)
    dp = R.pack_padded_sequence(dx, lengths, batch_first, enforce_sorted)
    states = []
    if with_hx:
        n = (2 if cfg.get("bidirectional") else 1) * cfg.get("num_layers", 1)
        out = cfg.get("proj_size") or 4
        sizes = [(n, len(lengths), out)] + ([(n, len(lengths), 4)] if cls == "LSTM" else [])
        states = [_pair(RNG.standard_normal(s)) for s in sizes]
    targ = dargs = None
    if states:
        targ = tuple(s[0] for s in states) if cls == "LSTM" else states[0][0]
        dargs = tuple(s[1] for s in states) if cls == "LSTM" else states[0][1]
    tout, dout = t(tp, targ), d(dp, dargs)
    assert isinstance(dout[0], R.PackedSequence)
    assert dout[0].batch_sizes.tolist() == tout[0].batch_sizes.tolist()
    tl, dl = 0, 0
    for a, b in zip(_flat(tout), _flat(dout)):
        assert tuple(b.shape) == tuple(a.shape)
        assert_close(b, _np(a), **TOL)
        w = RNG.standard_normal(tuple(a.shape))
        tl, dl = tl + (a * torch.tensor(w)).sum(), dl + (b * dg.tensor(w)).sum()
    tl.backward()
    dl.backward()
    assert_close(dx.grad, _np(tx.grad), **TOL)
    for pt, pd in states:
        assert_close(pd.grad, _np(pt.grad), **TOL)
    for (name, pt), (_, pd) in zip(t.named_parameters(), d.named_parameters()):
        assert pd.grad is not None, f"no gradient for {name}"
        assert_close(pd.grad, _np(pt.grad), **TOL)


@requires_torch
def test_packed_output_unpacks_to_torch_padded_output():
    t, d = _twin("LSTM", 3, 4, batch_first=True, bidirectional=True)
    lengths = [2, 6, 4]
    x = _padded(lengths, batch_first=True)
    to, _ = t(_tr().pack_padded_sequence(torch.tensor(x), lengths, True, False))
    do, _ = d(R.pack_padded_sequence(dg.tensor(x), lengths, True, False))
    tpad, _ = _tr().pad_packed_sequence(to, batch_first=True)
    dpad, dlen = R.pad_packed_sequence(do, batch_first=True)
    assert_close(dpad, _np(tpad), **TOL)
    assert dlen.tolist() == lengths


def test_gradcheck_packed_lstm():
    dg.manual_seed(0)
    lstm = nn.LSTM(2, 3, bidirectional=True).double()
    x = dg.randn(3, 3, 2, dtype=dg.float64, requires_grad=True)
    h0 = dg.randn(2, 3, 3, dtype=dg.float64, requires_grad=True)

    def f(x, h0):
        p = R.pack_padded_sequence(x, [1, 3, 2], enforce_sorted=False)
        out, (h, c) = lstm(p, (h0, dg.zeros_like(h0)))
        return out.data.sum() + (h * h).sum() + c.sum()

    assert gradcheck(f, (x, h0))


def test_packed_input_errors():
    gru = nn.GRU(3, 4)
    p = R.pack_sequence([dg.randn(3, 3), dg.randn(2, 3)])
    with pytest.raises(RuntimeError, match="Expected hidden size"):
        gru(p, dg.zeros(1, 3, 4))
    with pytest.raises(RuntimeError, match="input_size"):
        nn.GRU(5, 4)(p)
