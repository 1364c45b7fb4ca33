"""F.embedding_bag and nn.EmbeddingBag against PyTorch: every mode with offsets or 2-D input,
include_last_offset, empty bags, padding_idx, per_sample_weights, scale_grad_by_freq, max_norm,
gradients (weight and per-sample weights), module repr/state_dict/from_pretrained, errors,
finite differences and compiled mode."""

from __future__ import annotations

import numpy as np
import pytest

import dyngraph as dg
import dyngraph.nn.functional as F
from dyngraph import nn
from dyngraph.autograd import gradcheck, gradgradcheck
from tests.conftest import assert_close, assert_repr_like_torch, requires_torch, to_np, torch

if torch is not None:
    import torch.nn.functional as TF

RNG = np.random.default_rng(3)
F64 = dict(rtol=1e-10, atol=1e-12)
F32 = dict(rtol=1e-5, atol=1e-6)


def _bag_both(idx, w, offsets=None, psw=None, tol=F64, **kw):
    """embedding_bag in both frameworks; compare the output and the gradients of the weight
    (and of per_sample_weights) under a random upstream gradient."""
    tw, dw = torch.tensor(w, requires_grad=True), dg.tensor(w, requires_grad=True)
    tp = None if psw is None else torch.tensor(psw, requires_grad=True)
    dp = None if psw is None else dg.tensor(psw, requires_grad=True)
    toff = None if offsets is None else torch.tensor(offsets)
    doff = None if offsets is None else dg.tensor(offsets)
    tout = TF.embedding_bag(torch.tensor(idx), tw, toff, per_sample_weights=tp, **kw)
    dout = F.embedding_bag(dg.tensor(idx), dw, doff, per_sample_weights=dp, **kw)
    assert tuple(dout.shape) == tuple(tout.shape)
    assert dout.dtype.name == str(tout.dtype).split(".")[-1]
    assert_close(dout, tout, **tol)
    g = RNG.standard_normal(tuple(tout.shape)).astype(w.dtype)
    (tout * torch.tensor(g)).sum().backward()
    (dout * dg.tensor(g)).sum().backward()
    assert_close(dw.grad, tw.grad, **tol)
    if psw is not None:
        assert_close(dp.grad, tp.grad, **tol)
    return dout


IDX = np.array([1, 2, 4, 5, 4, 3, 2, 9, 0, 4])
OFFSETS = {
    "plain": [0, 3, 7],
    "empty_bags": [0, 0, 4, 4, 10],
    "single": [0],
}


@requires_torch
@pytest.mark.parametrize("mode", ["sum", "mean", "max"])
@pytest.mark.parametrize("case", list(OFFSETS))
@pytest.mark.parametrize("include_last_offset", [False, True])
def test_embedding_bag_offsets_match_torch(mode, case, include_last_offset):
    w = RNG.standard_normal((10, 4))
    offsets = OFFSETS[case]
    if include_last_offset and offsets[-1] != len(IDX):
        # the last offset is the end of the input (torch's results are inconsistent otherwise)
        offsets = offsets + [len(IDX)]
    _bag_both(IDX, w, np.array(offsets), mode=mode, include_last_offset=include_last_offset)


@pytest.mark.parametrize("mode", ["sum", "mean", "max"])
def test_embedding_bag_no_bags(mode):
    """include_last_offset with a single offset: zero bags (torch 2.13 crashes here)."""
    w = dg.randn(10, 4, requires_grad=True)
    out = F.embedding_bag(dg.tensor(IDX), w, dg.tensor([0]), mode=mode,
                          include_last_offset=True)
    assert tuple(out.shape) == (0, 4)
    out.sum().backward()
    assert w.grad is not None and not to_np(w.grad).any()


@requires_torch
@pytest.mark.parametrize("mode", ["sum", "mean", "max"])
@pytest.mark.parametrize("padding_idx", [None, 4, -6])
def test_embedding_bag_2d_input_and_padding_match_torch(mode, padding_idx):
    w = RNG.standard_normal((10, 3))
    idx = np.array([[1, 4, 4, 2], [4, 4, 4, 4], [0, 9, 4, 9]])   # row 1 is all padding
    _bag_both(idx, w, mode=mode, padding_idx=padding_idx)
    _bag_both(IDX, w, np.array([0, 2, 5]), mode=mode, padding_idx=padding_idx)


@requires_torch
@pytest.mark.parametrize("mode", ["sum", "mean", "max"])
def test_embedding_bag_float32_and_int32_indices(mode):
    w = RNG.standard_normal((10, 5)).astype("float32")
    _bag_both(IDX.astype("int32"), w, np.array([0, 4], dtype="int32"), tol=F32, mode=mode)


@requires_torch
def test_embedding_bag_max_ties_send_gradient_to_first_row():
    w = np.array([[1.0, 2.0], [1.0, 3.0], [0.5, 3.0]])
    _bag_both(np.array([2, 1, 0, 1]), w, np.array([0, 2]), mode="max")


@requires_torch
@pytest.mark.parametrize("padding_idx", [None, 2])
def test_embedding_bag_per_sample_weights_match_torch(padding_idx):
    w = RNG.standard_normal((10, 4))
    psw = RNG.standard_normal(IDX.shape)
    _bag_both(IDX, w, np.array([0, 3, 3, 8]), psw=psw, mode="sum", padding_idx=padding_idx)
    idx2 = IDX[:8].reshape(2, 4)
    _bag_both(idx2, w, psw=RNG.standard_normal(idx2.shape), mode="sum")


@requires_torch
@pytest.mark.parametrize("mode", ["sum", "mean"])
def test_embedding_bag_scale_grad_by_freq_matches_torch(mode):
    """The reference is F.embedding(scale_grad_by_freq=True) reduced per bag: torch 2.13's own
    CPU embedding_bag divides by the wrong count when counts differ (pytorch/pytorch#190063;
    its CUDA kernel and F.embedding are right), so that is not the oracle here."""
    w = RNG.standard_normal((10, 3))
    bounds = [(0, 5), (5, 10)]
    tw, dw = torch.tensor(w, requires_grad=True), dg.tensor(w, requires_grad=True)
    rows = TF.embedding(torch.tensor(IDX), tw, scale_grad_by_freq=True)
    reduce = torch.sum if mode == "sum" else torch.mean
    tout = torch.stack([reduce(rows[a:b], 0) for a, b in bounds])
    dout = F.embedding_bag(dg.tensor(IDX), dw, dg.tensor([0, 5]), mode=mode,
                           scale_grad_by_freq=True)
    assert_close(dout, tout, **F64)
    g = RNG.standard_normal((2, 3))
    (tout * torch.tensor(g)).sum().backward()
    (dout * dg.tensor(g)).sum().backward()
    assert_close(dw.grad, tw.grad, **F64)
    # where every index occurs equally often, torch's embedding_bag is right too
    _bag_both(np.repeat([1, 4, 2, 9, 0], 2), w, np.array([0, 3]), mode=mode,
              scale_grad_by_freq=True)


@requires_torch
def test_embedding_bag_empty_input():
    w = RNG.standard_normal((10, 3))
    for mode in ("sum", "mean", "max"):
        out = _bag_both(np.zeros(0, dtype=np.int64), w, np.array([0, 0]), mode=mode)
        assert not to_np(out).any()
        _bag_both(np.zeros((0, 3), dtype=np.int64), w, mode=mode)


@requires_torch
def test_embedding_bag_max_norm_renormalises_like_torch():
    w = RNG.standard_normal((10, 3)) * 3
    tw, dw = torch.tensor(w), dg.tensor(w)
    tout = TF.embedding_bag(torch.tensor(IDX), tw, torch.tensor([0, 4]), max_norm=1.5)
    dout = F.embedding_bag(dg.tensor(IDX), dw, dg.tensor([0, 4]), max_norm=1.5)
    assert_close(dout, tout, rtol=1e-6, atol=1e-7)
    assert_close(dw, tw, rtol=1e-6, atol=1e-7)      # the looked-up rows changed in place


def test_embedding_bag_gradcheck():
    w = dg.tensor(RNG.standard_normal((6, 3)), requires_grad=True)
    idx, off = dg.tensor([1, 2, 4, 5, 4, 3]), dg.tensor([0, 2, 2])
    psw = dg.tensor(RNG.standard_normal(6), requires_grad=True)
    for mode in ("sum", "mean", "max"):
        assert gradcheck(lambda t, m=mode: F.embedding_bag(idx, t, off, mode=m), (w,))
    assert gradgradcheck(lambda t: F.embedding_bag(idx, t, off, mode="mean"), (w,))
    assert gradcheck(lambda t, p: F.embedding_bag(idx, t, off, mode="sum",
                                                  per_sample_weights=p), (w, psw))


def test_embedding_bag_errors():
    w, idx = dg.randn(10, 3), dg.tensor([1, 2, 4, 5])
    with pytest.raises(RuntimeError, match="offsets\\[0\\] has to be 0"):
        F.embedding_bag(idx, w, dg.tensor([1, 2]))
    with pytest.raises(RuntimeError, match="can not be greater than input's length 4"):
        F.embedding_bag(idx, w, dg.tensor([0, 5]))
    with pytest.raises(RuntimeError, match="non-decreasing"):
        F.embedding_bag(idx, w, dg.tensor([0, 3, 2]))
    with pytest.raises(RuntimeError, match="takes value 20 which is not in the valid range"):
        F.embedding_bag(dg.tensor([1, 20]), w, dg.tensor([0]))
    with pytest.raises(RuntimeError, match="integer dtype"):
        F.embedding_bag(dg.tensor([1.0, 2.0]), w, dg.tensor([0]))
    with pytest.raises(ValueError, match="offsets has to be a 1D Tensor but got None"):
        F.embedding_bag(idx, w)
    with pytest.raises(ValueError, match="if input is 2D, then offsets has to be None"):
        F.embedding_bag(idx.reshape(2, 2), w, dg.tensor([0]))
    with pytest.raises(ValueError, match="input has to be 1D or 2D"):
        F.embedding_bag(idx.reshape(1, 2, 2), w)
    with pytest.raises(ValueError, match="weight has to be a 2D Tensor"):
        F.embedding_bag(idx, w[0], dg.tensor([0]))
    with pytest.raises(ValueError, match="mode has to be one of sum, mean or max"):
        F.embedding_bag(idx, w, dg.tensor([0]), mode="min")
    with pytest.raises(ValueError, match="max mode does not support scaling"):
        F.embedding_bag(idx, w, dg.tensor([0]), mode="max", scale_grad_by_freq=True)
    with pytest.raises(NotImplementedError, match="only supported for mode='sum'"):
        F.embedding_bag(idx, w, dg.tensor([0]), per_sample_weights=dg.ones(4))
    with pytest.raises(ValueError, match="same shape as the input"):
        F.embedding_bag(idx, w, dg.tensor([0]), mode="sum", per_sample_weights=dg.ones(3))
    with pytest.raises(RuntimeError, match="padding_idx must be within the number of "
                                           "embeddings, -10 through 9, but got 10"):
        F.embedding_bag(idx, w, dg.tensor([0]), padding_idx=10)
    with pytest.raises(NotImplementedError, match="sparse"):
        F.embedding_bag(idx, w, dg.tensor([0]), sparse=True)


# ----------------------------------------------------------------------------------------------
# nn.EmbeddingBag
# ----------------------------------------------------------------------------------------------

@requires_torch
@pytest.mark.parametrize("kw", [dict(), dict(mode="sum", padding_idx=-1),
                                dict(mode="max", max_norm=2.0, norm_type=1.0),
                                dict(scale_grad_by_freq=True, include_last_offset=True)])
def test_module_matches_torch(kw):
    torch.manual_seed(0)
    t = torch.nn.EmbeddingBag(10, 4, **kw)
    d = nn.EmbeddingBag(10, 4, **kw)
    assert_repr_like_torch(d, t)
    assert list(d.state_dict()) == list(t.state_dict())
    if "padding_idx" in kw:
        assert not to_np(d.weight[9]).any()
    d.load_state_dict({k: dg.tensor(v.detach().numpy()) for k, v in t.state_dict().items()})
    off = [0, 3, 3, 10] if kw.get("include_last_offset") else [0, 3, 3]
    idx = np.repeat([1, 4, 2, 9, 0], 2)     # equal counts: see the scale_grad_by_freq test
    tout = t(torch.tensor(idx), torch.tensor(off))
    dout = d(dg.tensor(idx), dg.tensor(off))
    assert_close(dout, tout, **F32)
    tout.sum().backward()
    dout.sum().backward()
    assert_close(d.weight.grad, t.weight.grad, **F32)


def test_module_init_and_from_pretrained():
    bag = nn.EmbeddingBag(1000, 8, padding_idx=3)
    wt = to_np(bag.weight)
    assert abs(wt.std() - 1) < 0.05 and not wt[3].any()
    emb = dg.tensor(RNG.standard_normal((5, 2)))
    frozen = nn.EmbeddingBag.from_pretrained(emb, mode="sum")
    assert not frozen.weight.requires_grad and frozen.mode == "sum"
    assert_close(frozen(dg.tensor([[0, 1], [4, 4]])),
                 to_np(emb)[[0, 4]] + to_np(emb)[[1, 4]])
    assert nn.EmbeddingBag.from_pretrained(emb, freeze=False).weight.requires_grad
    with pytest.raises(AssertionError, match="2-dimensional"):
        nn.EmbeddingBag.from_pretrained(emb[0])
    with pytest.raises(AssertionError, match="padding_idx must be within num_embeddings"):
        nn.EmbeddingBag(4, 2, padding_idx=4)
    with pytest.raises(AssertionError, match="Shape of weight"):
        nn.EmbeddingBag(4, 2, _weight=dg.zeros(3, 2))


@pytest.mark.parametrize("mode", ["sum", "mean"])
def test_embedding_bag_compiled_matches_eager(mode):
    bag = nn.EmbeddingBag(10, 4, mode=mode)
    idx, off = dg.tensor(IDX), dg.tensor([0, 3, 3, 7])

    def fn(i, o):
        return bag(i, o) * 2

    compiled = dg.compile(fn, backend="llvm")
    want = fn(idx, off)
    for _ in range(2):      # the first call traces, the second runs the compiled code
        assert_close(compiled(idx, off), want, **F32)
