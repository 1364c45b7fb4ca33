"""nn/modules/extra_modules.py against PyTorch: AdaptiveLogSoftmaxWithLoss (outputs, loss,
gradients with copied weights, log_prob, predict, errors, repr), SyncBatchNorm and
convert_sync_batchnorm, DataParallel, and the deprecated NLLLoss2d and Container; gradcheck in
float64 and compiled calls against eager ones."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import dyngraph as dg
from dyngraph import nn
from dyngraph.autograd import gradcheck
from tests.conftest import assert_close, assert_repr_like_torch, requires_torch, to_np, torch

RNG = np.random.default_rng(7)


def torch_state_to_dg(module):
    return {k: dg.tensor(v.detach().numpy()) for k, v in module.state_dict().items()}


def asm_pair(in_features=8, n_classes=20, cutoffs=(4, 10), div_value=2.0, head_bias=True,
             dtype="float64"):
    """A torch AdaptiveLogSoftmaxWithLoss and a dyngraph one holding the same weights."""
    t = torch.nn.AdaptiveLogSoftmaxWithLoss(in_features, n_classes, list(cutoffs), div_value,
                                            head_bias, dtype=getattr(torch, dtype))
    d = nn.AdaptiveLogSoftmaxWithLoss(in_features, n_classes, cutoffs, div_value, head_bias,
                                      dtype=getattr(dg, dtype))
    d.load_state_dict(torch_state_to_dg(t))
    return t, d


# ---------------------------------------------------------------- AdaptiveLogSoftmaxWithLoss

@requires_torch
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("head_bias", [False, True])
@pytest.mark.parametrize("target", [
    [0, 5, 19, 3, 12, 7],     # every cluster
    [0, 1, 2, 3, 3, 1],       # head only
    [15, 11, 19, 10, 18, 12],  # last cluster only
    [7],                      # one row, in a cluster
])
def test_asm_forward_and_grads_match_torch(dtype, head_bias, target):
    t, d = asm_pair(head_bias=head_bias, dtype=dtype)
    x = RNG.standard_normal((len(target), 8))
    tx = torch.tensor(x, dtype=getattr(torch, dtype), requires_grad=True)
    dx = dg.tensor(x, dtype=getattr(dg, dtype), requires_grad=True)
    want = t(tx, torch.tensor(target))
    got = d(dx, dg.tensor(target))
    assert type(got).__name__ == "_ASMoutput" and got._fields == ("output", "loss")
    assert tuple(got.output.shape) == tuple(want.output.shape) and got.loss.shape == ()
    assert got.output.dtype == getattr(dg, dtype)
    assert_close(got.output, want.output, dtype)
    assert_close(got.loss, want.loss, dtype)
    seed = RNG.standard_normal(len(target))
    (want.loss + (want.output * torch.tensor(seed, dtype=tx.dtype)).sum()).backward()
    (got.loss + (got.output * dg.tensor(seed, dtype=dx.dtype)).sum()).backward()
    assert_close(dx.grad, tx.grad, dtype)
    tparams = dict(t.named_parameters())
    for name, p in d.named_parameters():
        if tparams[name].grad is None:
            assert p.grad is None or not to_np(p.grad).any(), name
        else:
            assert_close(p.grad, tparams[name].grad, dtype)


@requires_torch
def test_asm_unbatched_and_empty_batch():
    t, d = asm_pair()
    x = RNG.standard_normal(8)
    for target in (2, 13):
        want = t(torch.tensor(x), torch.tensor(target))
        got = d(dg.tensor(x), dg.tensor(target))
        assert got.output.shape == () and got.loss.shape == ()
        assert_close(got.output, want.output)
        assert_close(got.loss, want.loss)
    got = d(dg.zeros(0, 8, dtype=dg.float64), dg.zeros(0, dtype=dg.int64))
    assert tuple(got.output.shape) == (0,) and np.isnan(got.loss.item())


@requires_torch
@pytest.mark.parametrize("n_rows", [1, 5])
def test_asm_log_prob_and_predict_match_torch(n_rows):
    t, d = asm_pair(cutoffs=(3, 8, 15))
    # Scale up so that some rows' head argmax lands on a cluster and some on the shortlist.
    x = 3 * RNG.standard_normal((n_rows, 8))
    want = t.log_prob(torch.tensor(x))
    got = d.log_prob(dg.tensor(x))
    assert tuple(got.shape) == (n_rows, 20)
    assert_close(got, want)
    np.testing.assert_allclose(np.exp(to_np(got)).sum(1), 1.0, rtol=1e-12)
    np.testing.assert_array_equal(to_np(d.predict(dg.tensor(x))),
                                  t.predict(torch.tensor(x)).numpy())
    np.testing.assert_array_equal(to_np(d.predict(dg.tensor(x))), to_np(got).argmax(1))


def test_asm_predict_mixed_all_and_no_cluster_rows():
    d = nn.AdaptiveLogSoftmaxWithLoss(4, 10, [3], dtype=dg.float64)
    with dg.no_grad():
        d.head.weight.zero_()
        # rows with x[0] > 0 pick the cluster column (3) of the head, others class 0
        d.head.weight[3, 0] = 10.0
        d.head.weight[0, 0] = -10.0
    x = dg.tensor([[1.0, 0, 0, 0], [-1.0, 0, 0, 0], [2.0, 1, 0, 0]], dtype=dg.float64)
    for rows in ([0, 1, 2], [0, 2], [1]):
        sub = x[dg.tensor(rows)]
        np.testing.assert_array_equal(to_np(d.predict(sub)), to_np(d.log_prob(sub)).argmax(1))
    assert to_np(d.predict(x[dg.tensor([1])])).tolist() == [0]


@requires_torch
def test_asm_repr_state_dict_and_shapes_match_torch():
    t = torch.nn.AdaptiveLogSoftmaxWithLoss(16, 100, [10, 50], div_value=4.0)
    d = nn.AdaptiveLogSoftmaxWithLoss(16, 100, [10, 50], div_value=4.0)
    assert_repr_like_torch(d, t)
    assert list(d.state_dict()) == list(t.state_dict())
    for k, v in t.state_dict().items():
        assert tuple(d.state_dict()[k].shape) == tuple(v.shape), k
    assert (d.shortlist_size, d.n_clusters, d.head_size, d.cutoffs) == \
        (t.shortlist_size, t.n_clusters, t.head_size, t.cutoffs)
    d.load_state_dict(torch_state_to_dg(t))    # a torch checkpoint loads
    d.reset_parameters()
    assert not np.allclose(to_np(d.head.weight), t.head.weight.detach().numpy())


def test_asm_gradcheck_float64():
    d = nn.AdaptiveLogSoftmaxWithLoss(5, 9, [2, 5], div_value=2.0, head_bias=True,
                                      dtype=dg.float64)
    x = dg.tensor(RNG.standard_normal((4, 5)), requires_grad=True)
    target = dg.tensor([0, 3, 8, 6])
    assert gradcheck(lambda v: d(v, target).output, [x], eps=1e-6, atol=1e-6, rtol=1e-4)
    assert gradcheck(lambda v: d.log_prob(v), [x], eps=1e-6, atol=1e-6, rtol=1e-4)


@requires_torch
@pytest.mark.parametrize("cutoffs", [[], [5, 3], [0, 4], [4, 20], [3, 3], [2.5]])
def test_asm_bad_cutoffs_raise_like_torch(cutoffs):
    with pytest.raises(ValueError) as want:
        torch.nn.AdaptiveLogSoftmaxWithLoss(8, 20, cutoffs)
    with pytest.raises(ValueError) as got:
        nn.AdaptiveLogSoftmaxWithLoss(8, 20, cutoffs)
    assert str(got.value) == str(want.value)


@requires_torch
@pytest.mark.parametrize("x_shape,target", [
    ((3, 8), [1, 2, 25]), ((3, 8), [-1, 2, 5]), ((3, 8), [1, 2]), ((3, 8), 2),
    ((8,), [2]), ((3, 8), [[0], [1], [2]]), ((3, 2, 8), [1, 2, 3]),
])
def test_asm_bad_inputs_raise_like_torch(x_shape, target):
    t, d = asm_pair()
    x = RNG.standard_normal(x_shape)
    with pytest.raises(RuntimeError) as want:
        t(torch.tensor(x), torch.tensor(target))
    with pytest.raises(RuntimeError) as got:
        d(dg.tensor(x), dg.tensor(target))
    assert str(got.value).replace("dyngraph", "torch") == str(want.value)


def test_asm_log_prob_needs_2d_input():
    d = nn.AdaptiveLogSoftmaxWithLoss(8, 20, [4])
    with pytest.raises(IndexError, match="log_prob: expected a 2-D input.*unsqueeze"):
        d.log_prob(dg.randn(8))
    with pytest.raises(RuntimeError, match="predict: expected a 2-D input.*reshape"):
        d.predict(dg.randn(2, 3, 8))


def test_asm_compiled_matches_eager():
    d = nn.AdaptiveLogSoftmaxWithLoss(8, 20, [4, 10], div_value=2.0, dtype=dg.float64)
    x = dg.tensor(RNG.standard_normal((6, 8)))
    target = dg.tensor([0, 5, 19, 3, 12, 7])
    compiled_log_prob = dg.compile(d.log_prob, backend="llvm", fullgraph=True)
    # forward reads the targets into Python (which clusters to run): graph breaks there
    compiled_loss = dg.compile(lambda v, y: d(v, y).loss, backend="llvm")
    want_lp, want_loss = to_np(d.log_prob(x)), to_np(d(x, target).loss)
    for _ in range(2):  # the second call runs the compiled code
        np.testing.assert_allclose(to_np(compiled_log_prob(x)), want_lp, rtol=1e-12)
        np.testing.assert_allclose(to_np(compiled_loss(x, target)), want_loss, rtol=1e-12)


# ---------------------------------------------------------------- SyncBatchNorm

@requires_torch
@pytest.mark.parametrize("shape", [(4, 3), (4, 3, 5), (2, 3, 4, 5), (2, 3, 2, 3, 2)])
@pytest.mark.parametrize("momentum", [0.1, None])
def test_sync_batch_norm_matches_torch_batch_norm(shape, momentum):
    t = torch.nn.SyncBatchNorm(3, momentum=momentum).double()
    d = nn.SyncBatchNorm(3, momentum=momentum, dtype=dg.float64)
    with torch.no_grad():
        t.weight.uniform_(0.5, 1.5)
        t.bias.uniform_(-0.5, 0.5)
    d.load_state_dict(torch_state_to_dg(t))
    x = RNG.standard_normal(shape)
    tx = torch.tensor(x, requires_grad=True)
    dx = dg.tensor(x, requires_grad=True)
    for _ in range(2):
        want, got = t(tx), d(dx)
        assert_close(got, want)
    seed = RNG.standard_normal(shape)
    want.backward(torch.tensor(seed))
    got.backward(dg.tensor(seed))
    assert_close(dx.grad, tx.grad, rtol=1e-9, atol=1e-10)
    assert_close(d.weight.grad, t.weight.grad, rtol=1e-9, atol=1e-10)
    assert_close(d.bias.grad, t.bias.grad, rtol=1e-9, atol=1e-10)
    for k, v in t.state_dict().items():
        assert_close(d.state_dict()[k], v)
    t.eval()
    d.eval()
    assert_close(d(dx), t(tx))


@requires_torch
@pytest.mark.parametrize("kwargs", [{}, {"affine": False}, {"track_running_stats": False},
                                    {"bias": False}, {"eps": 1e-3, "momentum": 0.3}])
def test_sync_batch_norm_repr_and_state_dict_match_torch(kwargs):
    t, d = torch.nn.SyncBatchNorm(5, **kwargs), nn.SyncBatchNorm(5, **kwargs)
    assert_repr_like_torch(d, t)
    assert list(d.state_dict()) == list(t.state_dict())
    assert [n for n, _ in d.named_parameters()] == [n for n, _ in t.named_parameters()]
    assert d.process_group is None


@requires_torch
def test_sync_batch_norm_errors_match_torch():
    t, d = torch.nn.SyncBatchNorm(3), nn.SyncBatchNorm(3)
    for x in (np.zeros(3, np.float32), np.zeros((2, 0, 4), np.float32)):
        bn = torch.nn.SyncBatchNorm(x.shape[1]) if x.ndim > 1 else t
        mine = nn.SyncBatchNorm(x.shape[1]) if x.ndim > 1 else d
        with pytest.raises(ValueError) as want:
            bn(torch.tensor(x))
        with pytest.raises(ValueError) as got:
            mine(dg.tensor(x))
        assert str(got.value) == str(want.value)
    with pytest.raises(RuntimeError, match="3 channels"):
        d(dg.randn(2, 4))


def _bn_model(lib):
    nn_ = lib.nn
    return nn_.Sequential(
        nn_.Conv2d(2, 3, 3), nn_.BatchNorm2d(3),
        nn_.Sequential(nn_.Flatten(), nn_.BatchNorm1d(12, affine=False, momentum=None)),
        nn_.ModuleDict({"bn3": nn_.BatchNorm3d(4, track_running_stats=False, bias=False)}),
        nn_.LayerNorm(12))


@requires_torch
def test_convert_sync_batchnorm_matches_torch():
    t, d = _bn_model(torch), _bn_model(dg)
    d.load_state_dict(torch_state_to_dg(t))
    t[2][1].eval()
    d[2][1].eval()
    old_weight, old_mean = d[1].weight, d[1].running_mean
    tc = torch.nn.SyncBatchNorm.convert_sync_batchnorm(t, process_group="pg")
    dc = nn.SyncBatchNorm.convert_sync_batchnorm(d, process_group="pg")
    assert dc is d
    assert_repr_like_torch(dc, tc)
    assert [type(m).__name__ for m in dc.modules()] == [type(m).__name__ for m in tc.modules()]
    assert list(dc.state_dict()) == list(tc.state_dict())
    assert dc[1].weight is old_weight and dc[1].running_mean is old_mean   # shared, not copied
    assert dc[2][1].training is False and dc[1].training is True
    assert dc[1].process_group == "pg"
    x = RNG.standard_normal((4, 2, 4, 4)).astype(np.float32)
    assert_close(dc[2](dc[1](dc[0](dg.tensor(x)))), tc[2](tc[1](tc[0](torch.tensor(x)))),
                 "float32")
    single = nn.SyncBatchNorm.convert_sync_batchnorm(nn.BatchNorm1d(3))
    assert type(single) is nn.SyncBatchNorm


def test_sync_batch_norm_compiled_matches_eager():
    bn = nn.SyncBatchNorm(3, dtype=dg.float64).eval()
    with dg.no_grad():
        bn.running_mean.copy_(dg.tensor([0.1, -0.2, 0.3], dtype=dg.float64))
    x = dg.tensor(RNG.standard_normal((2, 3, 4)))
    compiled = dg.compile(bn, backend="llvm")
    want = to_np(bn(x))
    for _ in range(2):  # the second call runs the compiled code
        np.testing.assert_allclose(to_np(compiled(x)), want, rtol=1e-12)


# ---------------------------------------------------------------- DataParallel

@requires_torch
def test_data_parallel_wraps_module_like_torch():
    t = torch.nn.DataParallel(torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.ReLU()))
    d = nn.DataParallel(nn.Sequential(nn.Linear(4, 3), nn.ReLU()))
    assert_repr_like_torch(d, t)
    assert list(d.state_dict()) == list(t.state_dict()) == ["module.0.weight", "module.0.bias"]
    d.load_state_dict(torch_state_to_dg(t))
    assert isinstance(d.module, nn.Sequential)
    assert [n for n, _ in d.named_parameters()] == [n for n, _ in t.named_parameters()]
    if not dg.cuda.is_available():
        assert d.device_ids == [] == t.device_ids
    x = RNG.standard_normal((5, 4)).astype(np.float32)
    assert_close(d(dg.tensor(x)), t(torch.tensor(x)), "float32")


def test_data_parallel_passes_args_and_kwargs():
    class Add(nn.Module):
        def forward(self, a, b=None, *, scale=1.0):
            return (a + b) * scale

    d = nn.DataParallel(Add(), dim=0)
    a, b = dg.randn(3), dg.randn(3)
    np.testing.assert_allclose(to_np(d(a, b=b, scale=2.0)), to_np((a + b) * 2.0), rtol=1e-6)


# ---------------------------------------------------------------- deprecated aliases

@requires_torch
def test_nll_loss_2d_is_deprecated_nll_loss():
    assert hasattr(torch.nn, "NLLLoss2d")
    with pytest.warns(FutureWarning) as rec:
        d = nn.NLLLoss2d(ignore_index=1, reduction="sum")
    with pytest.warns(FutureWarning) as want:
        t = torch.nn.NLLLoss2d(ignore_index=1, reduction="sum")
    assert str(rec[0].message) == str(want[0].message)
    assert isinstance(d, nn.NLLLoss)
    assert_repr_like_torch(d, t)
    x = RNG.standard_normal((2, 3, 4, 4))
    y = RNG.integers(0, 3, (2, 4, 4))
    assert_close(d(dg.tensor(x), dg.tensor(y)), t(torch.tensor(x), torch.tensor(y)))


@requires_torch
def test_container_is_deprecated_module():
    assert hasattr(torch.nn, "Container")
    with pytest.warns(FutureWarning) as rec:
        d = nn.Container(fc=nn.Linear(2, 3), act=nn.ReLU())
    with pytest.warns(FutureWarning) as want:
        t = torch.nn.Container(fc=torch.nn.Linear(2, 3), act=torch.nn.ReLU())
    assert str(rec[0].message) == str(want[0].message)
    assert_repr_like_torch(d, t)
    assert list(d.state_dict()) == list(t.state_dict()) == ["fc.weight", "fc.bias"]
    # as with torch's @deprecated: subclassing warns, instantiating a subclass does not
    with pytest.warns(FutureWarning):
        class Sub(nn.Container):
            pass
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        Sub(fc=nn.Linear(1, 1))
