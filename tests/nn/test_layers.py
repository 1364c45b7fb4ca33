"""Layers against PyTorch with identical weights: outputs and parameter grads, train and eval."""

from __future__ import annotations

import math

import numpy as np
import pytest

import dyngraph as dg
import dyngraph.nn as nn
from tests.conftest import (assert_close, assert_repr_like_torch, requires_pinned_torch,
                            requires_torch, torch)

RNG = np.random.default_rng(0)


def _x(*shape, scale=1.0):
    return (RNG.standard_normal(shape) * scale).astype(np.float32)


def _copy_weights(d, t):
    d.load_state_dict({k: dg.tensor(v.detach().numpy()) for k, v in t.state_dict().items()})


def _check_parity(d, t, *inputs, modes=("train", "eval"), steps=1, rtol=None, atol=None):
    """Same outputs, input grads and parameter grads (and buffers after the steps)."""
    _copy_weights(d, t)
    for mode in modes:
        getattr(d, mode)()
        getattr(t, mode)()
        for _ in range(steps):
            d.zero_grad()
            t.zero_grad()
            dx = [dg.tensor(a, requires_grad=a.dtype.kind == "f") for a in inputs]
            tx = [torch.tensor(a, requires_grad=a.dtype.kind == "f") for a in inputs]
            dy, ty = d(*dx), t(*tx)
            assert_close(dy, ty, "float32", rtol=rtol, atol=atol)
            seed = RNG.standard_normal(tuple(ty.shape)).astype(np.float32)
            ty.backward(torch.tensor(seed))
            dy.backward(dg.tensor(seed))
            for a, b in zip(dx, tx):
                if b.grad is not None:
                    assert_close(a.grad, b.grad, "float32", rtol=rtol, atol=atol)
            tp = dict(t.named_parameters())
            for name, p in d.named_parameters():
                if tp[name].grad is None:
                    assert p.grad is None or not p.grad.abs().sum().item()
                else:
                    assert_close(p.grad, tp[name].grad, "float32", rtol=rtol, atol=atol)
        tb = dict(t.named_buffers())
        for name, b in d.named_buffers():
            assert_close(b, tb[name], "float32", rtol=rtol, atol=atol)


@requires_torch
@pytest.mark.parametrize("bias", [True, False])
def test_linear(bias):
    d = nn.Linear(in_features=5, out_features=3, bias=bias)
    t = torch.nn.Linear(5, 3, bias=bias)
    _check_parity(d, t, _x(4, 5))


@requires_torch
@pytest.mark.parametrize("shape", [(2, 3, 5), (2, 1, 3, 5), (0, 3, 5)])
@pytest.mark.parametrize("contiguous", [True, False])
def test_linear_on_leading_dims(shape, contiguous):
    # (*, in) inputs: contiguous ones are folded into one matrix, others take the batched matmul
    d, t = nn.Linear(5, 4), torch.nn.Linear(5, 4)
    x = _x(*shape) if contiguous else np.swapaxes(_x(*shape[:-2], shape[-1], shape[-2]), -1, -2)
    _check_parity(d, t, x, modes=("train",))
    _check_parity(d, t, _x(2, 3, 5))  # leading batch dims
    _check_parity(d, t, _x(5))  # a single vector


def test_linear_wrong_features_names_both_sizes():
    lin = nn.Linear(4, 3)
    with pytest.raises(RuntimeError, match=r"in_features=4.*5 features|5 features.*4"):
        lin(dg.randn(2, 5))
    with pytest.raises(RuntimeError, match="in_features=4"):
        nn.functional.linear(dg.randn(2, 5), lin.weight)


def test_linear_default_init_bounds():
    lin = nn.Linear(400, 300)
    bound = 1 / math.sqrt(400)  # kaiming_uniform_(a=sqrt(5)) on fan_in 400 gives 1/sqrt(400)
    w = lin.weight.detach().numpy()
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.99 * bound
    assert abs(w.std() - bound / math.sqrt(3)) < 0.02 * bound
    b = lin.bias.detach().numpy()
    assert np.abs(b).max() <= bound and np.abs(b).max() > 0.9 * bound
    assert nn.Linear(2, 2, dtype=dg.float64).weight.dtype is dg.float64


@requires_torch
def test_bilinear():
    d, t = nn.Bilinear(3, 4, 2), torch.nn.Bilinear(3, 4, 2)
    _check_parity(d, t, _x(5, 3), _x(5, 4))
    _check_parity(d, t, _x(2, 5, 3), _x(2, 5, 4))
    bound = 1 / math.sqrt(3)
    assert d.weight.abs().max().item() <= bound
    with pytest.raises(RuntimeError, match="in1_features=3"):
        d(dg.randn(5, 4), dg.randn(5, 4))


def test_identity_flatten_unflatten():
    x = dg.randn(2, 3, 4, 5)
    assert nn.Identity(54, unused=1)(x) is x
    assert nn.Flatten()(x).shape == (2, 60)
    assert nn.Flatten(0, 2)(x).shape == (24, 5)
    assert nn.Unflatten(1, (3, 20))(nn.Flatten()(x)).shape == (2, 3, 20)
    assert_close(nn.Unflatten(1, (3, 4, 5))(nn.Flatten()(x)), x)


@requires_torch
@pytest.mark.parametrize("name,kwargs", [
    ("ReLU", {}), ("ReLU6", {}), ("LeakyReLU", {"negative_slope": 0.2}), ("ELU", {"alpha": 0.7}),
    ("GELU", {}), ("GELU", {"approximate": "tanh"}), ("SiLU", {}), ("Mish", {}), ("Tanh", {}),
    ("Sigmoid", {}), ("Softplus", {"beta": 2.0, "threshold": 5.0}), ("Hardtanh", {}),
    ("Hardtanh", {"min_val": -0.5, "max_val": 2.0}), ("Softmax", {"dim": 1}),
    ("LogSoftmax", {"dim": -1}), ("Softmin", {"dim": 0}), ("SELU", {}), ("CELU", {"alpha": 2.0}),
    ("LogSigmoid", {}), ("Hardsigmoid", {}), ("Hardswish", {}), ("Softsign", {}),
    ("Tanhshrink", {}), ("GLU", {}), ("Threshold", {"threshold": 0.1, "value": -3.0}),
])
def test_activation_modules(name, kwargs):
    d, t = getattr(nn, name)(**kwargs), getattr(torch.nn, name)(**kwargs)
    _check_parity(d, t, _x(4, 6, scale=3.0), modes=("train",))
    assert_repr_like_torch(d, t)


@requires_torch
def test_inplace_activations():
    for name in ("ReLU", "ReLU6", "LeakyReLU", "ELU", "SiLU", "Hardtanh"):
        x = _x(3, 4)
        a = dg.tensor(x)
        out = getattr(nn, name)(inplace=True)(a)
        assert out is a
        assert_close(a, getattr(torch.nn, name)()(torch.tensor(x)), "float32")


@requires_torch
@pytest.mark.parametrize("cls,shape", [("BatchNorm1d", (8, 3)), ("BatchNorm1d", (4, 3, 5)),
                                       ("BatchNorm2d", (4, 3, 5, 2)),
                                       ("BatchNorm3d", (2, 3, 2, 2, 3))])
@pytest.mark.parametrize("momentum", [0.1, None])
def test_batchnorm(cls, shape, momentum):
    d = getattr(nn, cls)(3, momentum=momentum)
    t = getattr(torch.nn, cls)(3, momentum=momentum)
    with torch.no_grad():  # non-trivial affine parameters
        t.weight.uniform_(0.5, 1.5)
        t.bias.uniform_(-1, 1)
    _check_parity(d, t, _x(*shape, scale=2.0) + 1, steps=3)
    assert int(d.num_batches_tracked.item()) == 3


@requires_torch
@pytest.mark.parametrize("kwargs", [{"affine": False}, {"track_running_stats": False},
                                    {"affine": False, "track_running_stats": False},
                                    pytest.param({"bias": False}, marks=requires_pinned_torch)])
def test_batchnorm_options(kwargs):
    d, t = nn.BatchNorm1d(4, **kwargs), torch.nn.BatchNorm1d(4, **kwargs)
    assert list(d.state_dict()) == list(t.state_dict())
    _check_parity(d, t, _x(6, 4, 3), steps=2)
    assert_repr_like_torch(d, t)


def test_batchnorm_errors():
    with pytest.raises(ValueError, match="expected 2D or 3D input"):
        nn.BatchNorm1d(3)(dg.randn(2, 3, 4, 5))
    with pytest.raises(ValueError, match="expected 4D input"):
        nn.BatchNorm2d(3)(dg.randn(2, 3, 4))
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        nn.BatchNorm1d(3)(dg.randn(1, 3))
    with pytest.raises(RuntimeError, match="expected input with 3 channels"):
        nn.BatchNorm1d(3)(dg.randn(4, 5))
    bn = nn.BatchNorm1d(3).eval()
    assert bn(dg.randn(1, 3)).shape == (1, 3)  # eval mode works on single samples


@requires_torch
@pytest.mark.parametrize("shape,ns,kwargs", [((4, 6), 6, {}), ((2, 3, 4, 5), (4, 5), {}),
                                             ((3, 5), [5], {"elementwise_affine": False}),
                                             ((3, 5), 5, {"bias": False, "eps": 1e-3})])
def test_layernorm(shape, ns, kwargs):
    d, t = nn.LayerNorm(ns, **kwargs), torch.nn.LayerNorm(ns, **kwargs)
    if d.weight is not None:
        with torch.no_grad():
            t.weight.uniform_(0.5, 1.5)
    _check_parity(d, t, _x(*shape, scale=3.0) + 2)
    assert_repr_like_torch(d, t)
    with pytest.raises(RuntimeError, match="expected input with shape"):
        d(dg.randn(2, 7))


@requires_torch
@pytest.mark.parametrize("groups,channels,shape", [(2, 4, (3, 4, 5)), (3, 6, (2, 6, 2, 3)),
                                                   (1, 3, (2, 3)), (4, 4, (2, 4, 3))])
def test_groupnorm(groups, channels, shape):
    d, t = nn.GroupNorm(groups, channels), torch.nn.GroupNorm(groups, channels)
    with torch.no_grad():
        t.weight.uniform_(0.5, 1.5)
        t.bias.uniform_(-1, 1)
    _check_parity(d, t, _x(*shape, scale=2.0))
    assert_repr_like_torch(d, t)


def test_groupnorm_errors():
    with pytest.raises(ValueError, match="divisible"):
        nn.GroupNorm(3, 4)
    with pytest.raises(RuntimeError, match="4 channels"):
        nn.GroupNorm(2, 4)(dg.randn(2, 6, 3))


@requires_torch
def test_rmsnorm():
    d, t = nn.RMSNorm(5, eps=1e-6), torch.nn.RMSNorm(5, eps=1e-6)
    _check_parity(d, t, _x(3, 5))


def test_dropout_train_eval_statistics():
    dg.manual_seed(0)
    drop = nn.Dropout(p=0.3)
    x = dg.ones(200, 100)
    y = drop(x).numpy()
    zero_frac = (y == 0).mean()
    assert abs(zero_frac - 0.3) < 0.02
    np.testing.assert_allclose(y[y != 0], 1 / 0.7, rtol=1e-6)
    assert drop.eval()(x) is x
    dg.manual_seed(1)
    a = nn.Dropout(0.5)(x).numpy()
    dg.manual_seed(1)
    b = nn.Dropout(0.5)(x).numpy()
    assert np.array_equal(a, b)  # reproducible under dyngraph's seed
    assert nn.Dropout(0.0)(x) is x
    assert nn.Dropout(1.0)(x).abs().sum().item() == 0
    with pytest.raises(ValueError, match="between 0 and 1"):
        nn.Dropout(1.5)


def test_dropout_gradient_uses_the_same_mask():
    x = dg.randn(50, 20, requires_grad=True)
    y = nn.functional.dropout(x, 0.4, training=True)
    y.sum().backward()
    mask = (y.detach().numpy() != 0)
    np.testing.assert_allclose(x.grad.numpy(), mask / 0.6, rtol=1e-6)


@requires_torch
def test_embedding_padding_idx_and_duplicates():
    d = nn.Embedding(6, 3, padding_idx=2)
    t = torch.nn.Embedding(6, 3, padding_idx=2)
    assert d.weight[2].abs().sum().item() == 0  # the padding row starts at zero
    idx = np.array([[0, 2, 1, 1], [5, 2, 0, 3]])
    _copy_weights(d, t)
    dy, ty = d(dg.tensor(idx)), t(torch.tensor(idx))
    assert_close(dy, ty, "float32")
    seed = RNG.standard_normal(tuple(ty.shape)).astype(np.float32)
    ty.backward(torch.tensor(seed))
    dy.backward(dg.tensor(seed))
    assert_close(d.weight.grad, t.weight.grad, "float32")
    assert d.weight.grad[2].abs().sum().item() == 0
    assert_repr_like_torch(d, t)


@requires_torch
def test_embedding_scale_grad_by_freq_and_max_norm():
    w = _x(5, 3, scale=3.0)
    idx = np.array([1, 1, 3, 4, 1])
    d = nn.Embedding.from_pretrained(dg.tensor(w), freeze=False, scale_grad_by_freq=True)
    t = torch.nn.Embedding.from_pretrained(torch.tensor(w), freeze=False,
                                           scale_grad_by_freq=True)
    dy, ty = d(dg.tensor(idx)), t(torch.tensor(idx))
    dy.sum().backward()
    ty.sum().backward()
    assert_close(d.weight.grad, t.weight.grad, "float32")
    d = nn.Embedding.from_pretrained(dg.tensor(w), max_norm=1.0)
    t = torch.nn.Embedding.from_pretrained(torch.tensor(w), max_norm=1.0)
    assert_close(d(dg.tensor(idx)), t(torch.tensor(idx)), "float32", atol=1e-5)
    assert_close(d.weight, t.weight, "float32", atol=1e-5)  # renormalised in place


def test_embedding_from_pretrained_and_errors():
    w = dg.randn(4, 2)
    emb = nn.Embedding.from_pretrained(w)
    assert not emb.weight.requires_grad and emb.weight._data is w._data
    assert nn.Embedding.from_pretrained(w, freeze=False).weight.requires_grad
    with pytest.raises(IndexError, match="out of range"):
        emb(dg.tensor([0, 4]))
    with pytest.raises(RuntimeError, match="integer dtype"):
        emb(dg.tensor([0.0, 1.0]))
    with pytest.raises(AssertionError, match="Padding_idx"):
        nn.Embedding(3, 2, padding_idx=3)
    assert nn.Embedding(3, 2, padding_idx=-1).padding_idx == 2


@requires_torch
def test_small_model_trains_like_torch():
    """Sequential of several layers: three SGD steps give the same parameters as torch."""
    def build(lib):
        return lib.nn.Sequential(lib.nn.Linear(6, 8), lib.nn.BatchNorm1d(8), lib.nn.GELU(),
                                 lib.nn.LayerNorm(8), lib.nn.Linear(8, 3), lib.nn.LogSoftmax(1))
    d, t = build(dg), build(torch)
    _copy_weights(d, t)
    x = _x(10, 6)
    for _ in range(3):
        for m, lib in ((d, dg), (t, torch)):
            m.zero_grad()
            loss = -m(lib.tensor(x))[:, 0].mean()
            loss.backward()
            with lib.no_grad():
                for p in m.parameters():
                    p.copy_(p - 0.1 * p.grad)
    for (name, p), (tname, q) in zip(d.state_dict().items(), t.state_dict().items()):
        assert name == tname
        assert_close(p, q, "float32", atol=1e-5)
