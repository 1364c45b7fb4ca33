"""Lazy modules and uninitialized parameters (`nn/modules/lazy.py`, `nn/parameter.py`) against
PyTorch: reprs before and after the first call, state dicts, errors, dtype changes; and against
the regular layers built under the same seed (same initial values, same outputs)."""

from __future__ import annotations

import copy
import warnings

import numpy as np
import pytest

import dyngraph as dg
import dyngraph.nn as nn
from dyngraph.autograd import gradcheck
from dyngraph.nn.modules.lazy import LazyModuleMixin
from dyngraph.nn.parameter import UninitializedBuffer, UninitializedParameter, is_lazy
from tests.conftest import assert_close, assert_repr_like_torch, requires_torch, torch

RNG = np.random.default_rng(11)

LAZY_NAMES = ["LazyLinear", "LazyConv1d", "LazyConv2d", "LazyConv3d", "LazyConvTranspose1d",
              "LazyConvTranspose2d", "LazyConvTranspose3d", "LazyBatchNorm1d", "LazyBatchNorm2d",
              "LazyBatchNorm3d", "LazyInstanceNorm1d", "LazyInstanceNorm2d", "LazyInstanceNorm3d"]

# name -> (constructor args, kwargs, input shape, the regular layer's args given in_size)
CASES = {
    "LazyLinear": ((3,), {}, (2, 5), lambda c: (c, 3)),
    "LazyConv1d": ((4, 3), {"padding": 1}, (2, 3, 7), lambda c: (c, 4, 3)),
    "LazyConv2d": ((4, 3), {"stride": 2, "groups": 2}, (2, 6, 7, 7), lambda c: (c, 4, 3)),
    "LazyConv3d": ((2, 2), {"bias": False}, (1, 3, 4, 4, 4), lambda c: (c, 2, 2)),
    "LazyConvTranspose1d": ((4, 3), {"stride": 2}, (2, 3, 5), lambda c: (c, 4, 3)),
    "LazyConvTranspose2d": ((4, 3), {"padding": 1}, (2, 3, 5, 5), lambda c: (c, 4, 3)),
    "LazyConvTranspose3d": ((2, 2), {}, (1, 3, 3, 3, 3), lambda c: (c, 2, 2)),
    "LazyBatchNorm1d": ((), {}, (4, 3), lambda c: (c,)),
    "LazyBatchNorm2d": ((), {"momentum": None}, (4, 3, 2, 2), lambda c: (c,)),
    "LazyBatchNorm3d": ((), {"affine": False}, (2, 3, 2, 2, 2), lambda c: (c,)),
    "LazyInstanceNorm1d": ((), {}, (2, 3, 5), lambda c: (c,)),
    "LazyInstanceNorm2d": ((), {"bias": False}, (2, 3, 4, 4), lambda c: (c,)),
    "LazyInstanceNorm3d": ((), {}, (2, 3, 2, 3, 2), lambda c: (c,)),
}

REGULAR_KW = {  # the regular layer's kwargs matching a lazy one (lazy norms default to affine)
    "LazyBatchNorm2d": {"momentum": None}, "LazyBatchNorm3d": {"affine": False},
    "LazyInstanceNorm1d": {"affine": True, "track_running_stats": True},
    "LazyInstanceNorm2d": {"affine": True, "track_running_stats": True, "bias": False},
    "LazyInstanceNorm3d": {"affine": True, "track_running_stats": True},
}


def _x(shape, dtype=np.float32):
    return RNG.standard_normal(shape).astype(dtype)


def _regular_kwargs(name):
    args, kw, _, _ = CASES[name]
    return REGULAR_KW.get(name, kw)


# ----- exports -----------------------------------------------------------------------------
def test_exports_match_torch_nn():
    for name in LAZY_NAMES + ["UninitializedParameter", "UninitializedBuffer"]:
        assert hasattr(nn, name), name
    assert nn.UninitializedParameter is UninitializedParameter
    assert not hasattr(nn, "LazyModuleMixin")      # torch keeps it in nn.modules.lazy only
    assert issubclass(nn.LazyLinear, LazyModuleMixin) and issubclass(nn.LazyLinear, nn.Linear)
    assert not issubclass(nn.LazyBatchNorm1d, nn.BatchNorm1d)   # as in torch
    assert nn.parameter.is_lazy is is_lazy


# ----- UninitializedParameter / UninitializedBuffer ----------------------------------------
def test_uninitialized_parameter_basics():
    p = UninitializedParameter()
    assert repr(p) == str(p) == "<UninitializedParameter>"
    assert p.requires_grad and p.is_leaf and p.grad is None
    assert isinstance(p, nn.Parameter) and is_lazy(p)
    assert p.dtype == dg.float32 and p.device == dg.device("cpu")
    assert p.is_floating_point()
    q = UninitializedParameter(requires_grad=False, dtype=dg.float64)
    assert not q.requires_grad and q.dtype == dg.float64
    p.materialize((2, 3))
    assert type(p) is nn.Parameter and not is_lazy(p)
    assert p.shape == (2, 3) and p.dtype == dg.float32 and p.requires_grad
    q.materialize(dg.Size([4]), dtype=dg.float16)
    assert q.shape == (4,) and q.dtype == dg.float16 and not q.requires_grad
    r = UninitializedParameter()
    r.materialize(5)
    assert r.shape == (5,)


def test_uninitialized_buffer_basics():
    b = UninitializedBuffer(dtype=dg.float64, persistent=False)
    assert repr(b) == "<UninitializedBuffer>"
    assert not b.requires_grad and b.persistent is False
    assert isinstance(b, nn.Buffer) and not isinstance(b, nn.Parameter) and is_lazy(b)
    b.materialize((3,))
    assert type(b) is dg.Tensor and b.shape == (3,) and b.dtype == dg.float64


@requires_torch
def test_uninitialized_types_match_torch():
    for cls, tcls in [(UninitializedParameter, torch.nn.UninitializedParameter),
                      (UninitializedBuffer, torch.nn.UninitializedBuffer)]:
        d, t = cls(), tcls()
        assert repr(d) == repr(t)
        assert d.requires_grad == t.requires_grad
        assert isinstance(d, nn.Parameter) == isinstance(t, torch.nn.Parameter)
        assert isinstance(d, nn.Buffer) == isinstance(t, torch.nn.Buffer)
        assert tuple(d.size()) == tuple(t.size())


@requires_torch
@pytest.mark.parametrize("use", ["add", "rmul", "sum", "exp", "numel", "detach", "linear",
                                 "matmul", "conv2d"])
def test_using_uninitialized_data_raises_like_torch(use):
    F, tF = nn.functional, torch.nn.functional
    uses = {
        "add": (lambda p, m: p + 1), "rmul": (lambda p, m: 2 * p), "sum": (lambda p, m: p.sum()),
        "exp": (lambda p, m: m.exp(p)), "numel": (lambda p, m: p.numel()),
        "detach": (lambda p, m: p.detach()),
        "linear": (lambda p, m: (F if m is dg else tF).linear(m.ones(2, 3), p)),
        "matmul": (lambda p, m: m.matmul(m.ones(2, 2), p)),
        "conv2d": (lambda p, m: (F if m is dg else tF).conv2d(m.ones(1, 1, 3, 3), p)),
    }
    with pytest.raises(ValueError) as t_err:
        uses[use](torch.nn.UninitializedParameter(), torch)
    with pytest.raises(ValueError, match="Attempted to use an uninitialized parameter in") as e:
        uses[use](UninitializedParameter(), dg)
    assert "Call `forward` with a dummy batch" in str(e.value)
    assert "Call `forward` with a dummy batch" in str(t_err.value)


@requires_torch
def test_shape_and_share_memory_raise_like_torch():
    for p, tp in [(UninitializedParameter(), torch.nn.UninitializedParameter()),
                  (UninitializedBuffer(), torch.nn.UninitializedBuffer())]:
        with pytest.raises(RuntimeError) as t_err:
            _ = tp.shape
        with pytest.raises(RuntimeError) as d_err:
            _ = p.shape
        assert str(d_err.value) == str(t_err.value)
        with pytest.raises(RuntimeError, match="Can't share memory"):
            p.share_memory_()


def test_uninitialized_dtype_changes_and_deepcopy():
    p = UninitializedParameter()
    assert p.float() is p
    d = p.double()
    assert type(d) is UninitializedParameter and d.dtype == dg.float64 and d.requires_grad
    assert p.to(dg.float16).dtype == dg.float16
    assert p.to("cpu") is p
    with pytest.raises(TypeError, match="to\\(\\): unexpected argument"):
        p.to([1])
    b = UninitializedBuffer(persistent=False).double()
    assert type(b) is UninitializedBuffer and b.dtype == dg.float64 and b.persistent is False
    c = copy.deepcopy(p.double())
    assert type(c) is UninitializedParameter and c.dtype == dg.float64
    with pytest.raises(RuntimeError, match="floating point"):
        UninitializedParameter(dtype=dg.int64)
    assert UninitializedParameter(requires_grad=False, dtype=dg.int64).dtype == dg.int64


# ----- lazy modules: initialisation -------------------------------------------------------
def _lazy(name):
    args, kw, _, _ = CASES[name]
    return getattr(nn, name)(*args, **kw)


@pytest.mark.parametrize("name", LAZY_NAMES)
def test_first_call_initialises_like_the_regular_layer(name):
    args, kw, shape, regular_args = CASES[name]
    x = dg.tensor(_x(shape))
    in_size = shape[-1] if name == "LazyLinear" else shape[1]
    dg.manual_seed(3)
    lazy = _lazy(name)
    assert lazy.has_uninitialized_params()
    cls = lazy.cls_to_become
    y = lazy(x)
    after = dg.rand(1)                 # the random stream continues where the regular one's does
    assert type(lazy) is cls and cls.__name__ == name[4:]
    assert not hasattr(lazy, "_initialize_hook") and not lazy._forward_pre_hooks
    dg.manual_seed(3)
    regular = cls(*regular_args(in_size), **_regular_kwargs(name))
    y_ref = regular(x)
    assert_close(dg.rand(1), after, "float32", rtol=0, atol=0)
    ref_state = regular.state_dict()
    state = lazy.state_dict()
    assert list(state) == list(ref_state)
    for k in state:
        assert state[k].shape == ref_state[k].shape and state[k].dtype == ref_state[k].dtype, k
        assert_close(state[k], ref_state[k], "float32", rtol=0, atol=0)
        assert not is_lazy(state[k])
    assert_close(y, y_ref, "float32", rtol=0, atol=0)
    assert repr(lazy) == repr(regular)


def test_construction_draws_no_random_numbers():
    dg.manual_seed(0)
    [_lazy(n) for n in LAZY_NAMES]
    a = dg.rand(3)
    dg.manual_seed(0)
    assert_close(dg.rand(3), a, "float32", rtol=0, atol=0)


def test_has_uninitialized_params_and_parameters():
    m = nn.LazyLinear(3)
    assert m.has_uninitialized_params()
    assert [n for n, _ in m.named_parameters()] == ["weight", "bias"]
    assert all(is_lazy(p) for p in m.parameters())
    assert m.in_features == 0 and m.out_features == 3
    bn = nn.LazyBatchNorm1d()
    assert [n for n, _ in bn.named_buffers()] == ["running_mean", "running_var",
                                                  "num_batches_tracked"]
    assert is_lazy(bn.running_mean) and not is_lazy(bn.num_batches_tracked)
    assert nn.LazyBatchNorm1d(affine=False, track_running_stats=False) \
        .has_uninitialized_params() is False


def test_sequential_of_lazy_layers_trains():
    dg.manual_seed(0)
    net = nn.Sequential(nn.LazyConv2d(4, 3), nn.LazyBatchNorm2d(), nn.ReLU(), nn.Flatten(),
                        nn.LazyLinear(2))
    opt = dg.optim.SGD(net.parameters(), lr=0.1)      # before materialization, as torch allows
    x = dg.tensor(_x((2, 3, 5, 5)))
    net(x)
    assert [type(m).__name__ for m in net] == ["Conv2d", "BatchNorm2d", "ReLU", "Flatten",
                                               "Linear"]
    assert net[4].in_features == 4 * 3 * 3
    before = [p.detach().clone() for p in net.parameters()]
    assert all(a is b for a, b in zip(opt.param_groups[0]["params"], net.parameters()))
    loss = net(x).square().sum()
    loss.backward()
    opt.step()
    changed = []
    for p, b in zip(net.parameters(), before):
        assert p.grad is not None and p.grad.shape == p.shape
        changed.append(not np.allclose(p.detach().numpy(), b.numpy()))
    # (the conv bias, followed by batch norm, gets a zero gradient)
    assert changed == [True, False, True, True, True, True]


@requires_torch
def test_optimizer_before_materialization_like_torch():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        torch.optim.Adam(torch.nn.LazyLinear(3).parameters())
        opt = dg.optim.Adam(nn.LazyLinear(3).parameters())
    assert len(opt.param_groups[0]["params"]) == 2


# ----- reprs -------------------------------------------------------------------------------
@requires_torch
@pytest.mark.parametrize("name", LAZY_NAMES)
def test_repr_before_and_after_like_torch(name):
    args, kw, shape, _ = CASES[name]
    d, t = _lazy(name), getattr(torch.nn, name)(*args, **kw)
    assert_repr_like_torch(d, t)
    x = _x(shape)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        d(dg.tensor(x))
        t(torch.tensor(x))
    assert_repr_like_torch(d, t)
    assert type(d).__name__ == type(t).__name__
    assert list(d.state_dict()) == list(t.state_dict())


# ----- state dicts -------------------------------------------------------------------------
@requires_torch
@pytest.mark.parametrize("name", LAZY_NAMES)
def test_state_dict_before_materialization_like_torch(name):
    args, kw, _, _ = CASES[name]
    d, t = _lazy(name), getattr(torch.nn, name)(*args, **kw)
    ds, ts = d.state_dict(), t.state_dict()
    assert list(ds) == list(ts)
    assert [repr(v) if is_lazy(v) else "real" for v in ds.values()] == \
        [repr(v) if torch.nn.parameter.is_lazy(v) else "real" for v in ts.values()]
    assert all(ds[k] is d._parameters.get(k, d._buffers.get(k)) for k in ds if is_lazy(ds[k]))


@requires_torch
@pytest.mark.parametrize("name", ["LazyLinear", "LazyConv2d", "LazyConvTranspose1d",
                                  "LazyBatchNorm1d", "LazyInstanceNorm2d"])
def test_loading_a_torch_state_dict_materializes(name):
    args, kw, shape, _ = CASES[name]
    t = getattr(torch.nn, name)(*args, **kw)
    x = _x(shape)
    t.train()
    t(torch.tensor(x))                 # materialize and (norms) move the running stats
    t.eval()
    d = _lazy(name)
    result = d.load_state_dict({k: dg.tensor(v.detach().numpy()) for k, v in
                                t.state_dict().items()})
    assert not result.missing_keys and not result.unexpected_keys
    assert not d.has_uninitialized_params() and type(d).__name__ == name   # until forward
    d.eval()
    y = d(dg.tensor(x))
    assert type(d).__name__ == name[4:]
    size = {"LazyLinear": "in_features", "LazyConv2d": "in_channels",
            "LazyConvTranspose1d": "in_channels"}.get(name, "num_features")
    assert getattr(d, size) == (shape[-1] if name == "LazyLinear" else shape[1])
    assert_close(y, t(torch.tensor(x)), "float32")


def test_load_real_state_into_lazy_linear_then_call():
    full = nn.Linear(4, 3)
    m = nn.LazyLinear(3)
    m.load_state_dict(full.state_dict())
    assert repr(m) == "LazyLinear(in_features=0, out_features=3, bias=True)"   # as in torch
    assert type(m.weight) is nn.Parameter and m.weight.shape == (3, 4)
    x = dg.randn(2, 4)
    assert_close(m(x), full(x), "float32", rtol=0, atol=0)
    assert repr(m) == "Linear(in_features=4, out_features=3, bias=True)"
    m2 = nn.LazyLinear(3)
    m2.load_state_dict(full.state_dict())
    with pytest.raises(RuntimeError, match="in_features inferred from the input \\(5\\)"):
        m2(dg.randn(2, 5))


def test_load_uninitialized_state_dict():
    m = nn.LazyLinear(3)
    assert not m.load_state_dict(nn.LazyLinear(3).state_dict()).missing_keys
    assert m.has_uninitialized_params()           # still lazy, as in torch
    with pytest.raises(RuntimeError, match='Missing key\\(s\\) in state_dict: "bias"'):
        nn.LazyLinear(3).load_state_dict({"weight": dg.randn(3, 4)})
    with pytest.raises(RuntimeError, match='Unexpected key\\(s\\) in state_dict: "extra"'):
        nn.LazyLinear(3).load_state_dict({**nn.LazyLinear(3).state_dict(), "extra": dg.ones(1)})
    with pytest.raises(RuntimeError, match="Can't access the shape of an uninitialized"):
        nn.Linear(4, 3).load_state_dict(nn.LazyLinear(3).state_dict())   # as torch does
    m = nn.LazyBatchNorm1d()
    assert not m.load_state_dict(nn.LazyBatchNorm1d().state_dict()).missing_keys


# ----- dtype and device before materialization --------------------------------------------
@requires_torch
@pytest.mark.parametrize("convert", ["double", "to"])
def test_dtype_change_before_materialization(convert, name="LazyConv1d"):
    args, kw, shape, _ = CASES[name]
    for m in (nn.LazyLinear(3), _lazy(name), nn.LazyBatchNorm1d()):
        (m.double() if convert == "double" else m.to(dg.float64))
        assert all(p.dtype == dg.float64 for p in m.parameters())
    d, t = _lazy(name).double(), getattr(torch.nn, name)(*args, **kw).double()
    x = _x(shape, np.float64)
    y = d(dg.tensor(x))
    assert y.dtype == dg.float64 and d.weight.dtype == dg.float64
    t.load_state_dict({k: torch.tensor(v.numpy()) for k, v in d.state_dict().items()})
    assert_close(y, t(torch.tensor(x)), "float64")
    bn = nn.LazyBatchNorm1d().double()
    bn(dg.tensor(_x((4, 3), np.float64)))
    assert bn.running_mean.dtype == dg.float64 and bn.num_batches_tracked.dtype == dg.int64
    m = nn.LazyLinear(3, dtype=dg.float64)
    m(dg.randn(2, 4, dtype=dg.float64))
    assert m.weight.dtype == dg.float64
    with pytest.raises(TypeError, match="only accepts floating point"):
        nn.LazyLinear(3).to(dg.int64)


# ----- gradients ---------------------------------------------------------------------------
@requires_torch
def test_gradients_after_lazy_init_match_torch():
    d = nn.LazyConv2d(4, 3, padding=1).double()
    x = _x((2, 3, 5, 5), np.float64)
    d(dg.tensor(x))
    t = torch.nn.Conv2d(3, 4, 3, padding=1).double()
    t.load_state_dict({k: torch.tensor(v.numpy()) for k, v in d.state_dict().items()})
    dx, tx = dg.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    g = _x((2, 4, 5, 5), np.float64)
    d(dx).backward(dg.tensor(g))
    t(tx).backward(torch.tensor(g))
    assert_close(dx.grad, tx.grad)
    assert_close(d.weight.grad, t.weight.grad)
    assert_close(d.bias.grad, t.bias.grad)


def test_gradcheck_through_a_lazy_linear():
    m = nn.LazyLinear(2, dtype=dg.float64)
    x = dg.tensor(_x((3, 4), np.float64), requires_grad=True)
    m(x)
    assert gradcheck(lambda x, w, b: nn.functional.linear(x, w, b), (x, m.weight, m.bias))


# ----- edge cases and errors ---------------------------------------------------------------
def test_edge_shapes():
    m = nn.LazyLinear(3)
    assert m(dg.randn(0, 4)).shape == (0, 3) and m.in_features == 4   # empty batch
    m = nn.LazyLinear(3)
    assert m(dg.randn(2, 0)).shape == (2, 3) and m.in_features == 0   # no features (as torch)
    m = nn.LazyLinear(3)
    assert m(dg.randn(4)).shape == (3,) and m.in_features == 4         # a single sample
    c = nn.LazyConv1d(4, 3)
    assert c(dg.randn(3, 5)).shape == (4, 3) and c.in_channels == 3    # unbatched
    bn = nn.LazyBatchNorm1d()
    bn(dg.randn(4, 1, 6))
    assert bn.num_features == 1 and int(bn.num_batches_tracked) == 1
    i = nn.LazyInstanceNorm1d()
    assert i(dg.randn(3, 5)).shape == (3, 5) and i.num_features == 3   # unbatched (C, L)


@requires_torch
def test_instance_norm_without_lazy_params_like_torch():
    d = nn.LazyInstanceNorm1d(affine=False, track_running_stats=False)
    t = torch.nn.LazyInstanceNorm1d(affine=False, track_running_stats=False)
    assert list(d.state_dict()) == list(t.state_dict()) == []
    x = _x((2, 3, 5))
    with pytest.warns(UserWarning, match="does not match num_features"):
        y = d(dg.tensor(x))
    with pytest.warns(UserWarning, match="does not match num_features"):
        ty = t(torch.tensor(x))
    assert_repr_like_torch(d, t)
    assert_close(y, ty, "float32")


@requires_torch
def test_errors_like_torch():
    cases = [
        (lambda m: m.LazyConv2d(4, 3)(_t(m, (3, 5))), RuntimeError,
         "Expected 3D \\(unbatched\\) or 4D \\(batched\\) input to LazyConv2d"),
        (lambda m: m.LazyConv2d(4, 3, groups=2)(_t(m, (1, 3, 5, 5))), ValueError,
         "must be divisible by groups"),
        (lambda m: m.LazyConvTranspose3d(4, 3)(_t(m, (2, 3, 5))), RuntimeError,
         "Expected 4D \\(unbatched\\) or 5D \\(batched\\) input to LazyConvTranspose3d"),
    ]
    for fn, err, msg in cases:
        with pytest.raises(err):
            fn(torch.nn)
        with pytest.raises(err, match=msg):
            fn(nn)
    with pytest.raises(TypeError, match="LazyLinear: expected a Tensor input, got list"):
        nn.LazyLinear(3)([1.0, 2.0])
    with pytest.raises(IndexError, match="cannot infer in_features from a 0-d input"):
        nn.LazyLinear(3)(dg.tensor(1.0))
    with pytest.raises(ValueError, match="LazyBatchNorm2d: expected 4D input \\(got 3D"):
        nn.LazyBatchNorm2d()(dg.randn(2, 3, 4))
    with pytest.raises(NotImplementedError, match="initialize_parameters is not implemented"):
        LazyModuleMixin.initialize_parameters(nn.LazyLinear(3))


def _t(m, shape):
    return (torch if m is torch.nn else dg).randn(*shape)


def test_deepcopy_before_materialization():
    m = nn.LazyLinear(3)
    c = copy.deepcopy(m)
    assert type(c) is nn.LazyLinear and c.weight is not m.weight and is_lazy(c.weight)
    c(dg.randn(2, 5))
    assert type(c) is nn.Linear and type(m) is nn.LazyLinear and m.has_uninitialized_params()
    m(dg.randn(2, 4))
    assert m.in_features == 4 and c.in_features == 5


# ----- compiled mode -----------------------------------------------------------------------
def _lazy_net():
    return nn.Sequential(nn.LazyLinear(8), nn.LazyBatchNorm1d(), nn.ReLU(), nn.LazyLinear(2))


def test_compile_after_an_eager_call():
    dg.manual_seed(1)
    net = _lazy_net()
    xs = [dg.tensor(_x((5, 4))) for _ in range(3)]
    net(xs[0])
    ref = copy.deepcopy(net)
    f = dg.compile(lambda x: net(x).relu().sum(dim=1), backend="llvm")
    for x in xs:                        # the second and third calls run the compiled code
        assert_close(f(x), ref(x).relu().sum(dim=1), "float32")
    assert_close(net[1].running_mean, ref[1].running_mean, "float32")
    assert int(net[1].num_batches_tracked) == int(ref[1].num_batches_tracked) == 4


def test_compile_from_the_first_call():
    xs = [dg.tensor(_x((5, 4))) for _ in range(4)]
    dg.manual_seed(2)
    ref = _lazy_net()
    expected = [ref(x) for x in xs]
    dg.manual_seed(2)
    net = _lazy_net()
    compiled = dg.compile(net, backend="llvm")
    for x, e in zip(xs, expected):
        assert_close(compiled(x), e, "float32")
    assert type(net[0]) is nn.Linear
    assert_close(net[1].running_mean, ref[1].running_mean, "float32")
    events = str(compiled.explain())
    assert "lazy module LazyLinear initialised its parameters" in events   # 1st call: eager
    assert "guard failed: self.0.in_features == 0" in events              # 2nd call: traced
