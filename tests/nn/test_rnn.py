"""RNN, LSTM, GRU and their cells against PyTorch with identical weights: outputs, final states
and gradients (input, initial states, every parameter), plus initialisation and errors."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

import dyngraph as dg
from dyngraph import nn
from tests.conftest import assert_close, requires_torch, to_np, torch

RNG = np.random.default_rng(7)
F32 = dict(rtol=2e-4, atol=2e-5)


def _twin(cls: str, *args, dtype="float32", **kwargs):
    """The same layer in torch and dyngraph, dyngraph loaded with torch's weights."""
    torch.manual_seed(0)
    t = getattr(torch.nn, cls)(*args, **kwargs)
    d = getattr(nn, cls)(*args, **kwargs)
    if dtype == "float64":
        t, d = t.double(), d.double()
    assert list(d.state_dict()) == list(t.state_dict())
    for (kd, vd), (_, vt) in zip(d.state_dict().items(), t.state_dict().items()):
        assert tuple(vd.shape) == tuple(vt.shape), kd
    d.load_state_dict({k: dg.tensor(v.detach().numpy()) for k, v in t.state_dict().items()})
    return t, d


def _as_pair(a):
    return torch.tensor(a, requires_grad=True), dg.tensor(a, requires_grad=True)


def _flat(out):
    if isinstance(out, tuple):
        return [x for o in out for x in _flat(o)]
    return [out]


def _compare(t, d, inputs, tol):
    """Run both layers on the same inputs; compare every output and every gradient."""
    tin = [tuple(_as_pair(a)) if a is not None else (None, None) for a in inputs]
    targs = [p[0] for p in tin]
    dargs = [p[1] for p in tin]
    if len(inputs) == 3:  # LSTM: (x, h0, c0)
        targs = [targs[0], None if targs[1] is None else (targs[1], targs[2])]
        dargs = [dargs[0], None if dargs[1] is None else (dargs[1], dargs[2])]
    tout, dout = _flat(t(*targs)), _flat(d(*dargs))
    assert len(tout) == len(dout)
    tloss, dloss = 0, 0
    for a, b in zip(tout, dout):
        assert tuple(b.shape) == tuple(a.shape)
        assert_close(b, a.detach().numpy(), **tol)
        w = RNG.standard_normal(tuple(a.shape))
        tloss = tloss + (a * torch.tensor(w, dtype=a.dtype)).sum()
        dloss = dloss + (b * dg.tensor(w, dtype=b.dtype)).sum()
    tloss.backward()
    dloss.backward()
    for (pt, pd) in tin:
        if pt is not None:
            assert_close(pd.grad, pt.grad, **tol)
    for (n, pt), (_, pd) in zip(t.named_parameters(), d.named_parameters()):
        assert pd.grad is not None, f"no gradient for {n}"
        assert_close(pd.grad, pt.grad, **tol)


CONFIGS = [
    dict(),
    dict(num_layers=2),
    dict(bidirectional=True),
    dict(num_layers=2, bidirectional=True, batch_first=True),
    dict(num_layers=3, bias=False),
]


@requires_torch
@pytest.mark.parametrize("cls", ["RNN", "LSTM", "GRU"])
@pytest.mark.parametrize("cfg", CONFIGS, ids=str)
@pytest.mark.parametrize("with_hx", [False, True])
def test_layers_match_torch(cls, cfg, with_hx):
    t, d = _twin(cls, 5, 7, **cfg)
    L, N = 6, 3
    D = 2 if cfg.get("bidirectional") else 1
    n = D * cfg.get("num_layers", 1)
    x = RNG.standard_normal((N, L, 5) if cfg.get("batch_first") else (L, N, 5)).astype("f")
    h = RNG.standard_normal((n, N, 7)).astype("f") if with_hx else None
    inputs = [x, h]
    if cls == "LSTM":
        inputs.append(RNG.standard_normal((n, N, 7)).astype("f") if with_hx else None)
    _compare(t, d, inputs, F32)


@requires_torch
@pytest.mark.parametrize("cls", ["RNN", "LSTM", "GRU"])
@pytest.mark.parametrize("batch_first", [False, True])
def test_unbatched_input(cls, batch_first):
    t, d = _twin(cls, 4, 5, num_layers=2, bidirectional=True, batch_first=batch_first)
    x = RNG.standard_normal((6, 4)).astype("f")
    h = RNG.standard_normal((4, 5)).astype("f")
    inputs = [x, h] + ([RNG.standard_normal((4, 5)).astype("f")] if cls == "LSTM" else [])
    _compare(t, d, inputs, F32)


@requires_torch
def test_rnn_relu_and_float64():
    t, d = _twin("RNN", 3, 4, nonlinearity="relu", num_layers=2, dtype="float64")
    _compare(t, d, [RNG.standard_normal((5, 2, 3)), None], dict(rtol=1e-10, atol=1e-12))
    t, d = _twin("RNN", 3, 4, 2, "relu", False)  # PyTorch's positional order
    assert d.nonlinearity == "relu" and d.bias is False and d.num_layers == 2
    assert repr(d) == repr(t)


@requires_torch
@pytest.mark.parametrize("bidirectional", [False, True])
def test_lstm_proj_size(bidirectional):
    t, d = _twin("LSTM", 5, 8, num_layers=2, proj_size=3, bidirectional=bidirectional)
    D = 2 if bidirectional else 1
    x = RNG.standard_normal((4, 2, 5)).astype("f")
    h = RNG.standard_normal((2 * D, 2, 3)).astype("f")
    c = RNG.standard_normal((2 * D, 2, 8)).astype("f")
    _compare(t, d, [x, h, c], F32)


@requires_torch
@pytest.mark.parametrize("cls", ["LSTM", "GRU"])
def test_dropout_between_layers(cls):
    t, d = _twin(cls, 4, 5, num_layers=3, dropout=1.0)
    x = RNG.standard_normal((5, 2, 4)).astype("f")
    # p=1 drops every inter-layer activation: deterministic, so train mode is comparable.
    t.train()
    d.train()
    _compare(t, d, [x, None] + ([None] if cls == "LSTM" else []), F32)
    t.eval()
    d.eval()
    _compare(t, d, [x, None] + ([None] if cls == "LSTM" else []), F32)
    # 0 < p < 1: random in train mode (but reproducible from dyngraph's seed), identity in eval.
    d.dropout = 0.5
    d.train()
    xd = dg.tensor(x)
    dg.manual_seed(3)
    a = to_np(d(xd)[0])
    dg.manual_seed(3)
    assert np.array_equal(a, to_np(d(xd)[0]))
    d.eval()
    assert_close(d(xd)[0], t(torch.tensor(x))[0].detach().numpy(), **F32)


def test_dropout_warning_and_checks():
    with pytest.warns(UserWarning, match="num_layers greater than 1"):
        nn.LSTM(3, 4, dropout=0.2)
    with pytest.raises(ValueError, match="range \\[0, 1\\]"):
        nn.GRU(3, 4, num_layers=2, dropout=1.5)
    with pytest.raises(ValueError, match="hidden_size must be greater than zero"):
        nn.RNN(3, 0)
    with pytest.raises(ValueError, match="proj_size argument is only supported for LSTM"):
        nn.GRU(3, 4, proj_size=2)
    with pytest.raises(ValueError, match="Unknown nonlinearity"):
        nn.RNN(3, 4, nonlinearity="sigmoid")


def test_init_matches_pytorch_distribution():
    H = 64
    m = nn.LSTM(32, H, num_layers=2, bidirectional=True)
    bound = 1 / math.sqrt(H)
    values = np.concatenate([to_np(p).ravel() for p in m.parameters()])
    assert np.abs(values).max() <= bound
    np.testing.assert_allclose(values.std(), bound / math.sqrt(3), rtol=0.02)
    np.testing.assert_allclose(values.mean(), 0, atol=0.02 * bound)
    assert all(p.requires_grad and p.dtype == dg.float32 for p in m.parameters())


@requires_torch
@pytest.mark.parametrize("cls", ["RNN", "LSTM", "GRU"])
def test_parameter_names_shapes_and_repr(cls):
    kw = dict(num_layers=2, bidirectional=True, batch_first=True, dropout=0.25)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t, d = _twin(cls, 3, 4, **kw)
    assert repr(d) == repr(t)
    names = [n for n, _ in d.named_parameters()]
    assert names == [n for n, _ in t.named_parameters()]
    assert "weight_hh_l1_reverse" in names
    assert len(d.all_weights) == 4


def test_gradcheck_float64():
    for cls in ("LSTM", "GRU", "RNN"):
        m = getattr(nn, cls)(2, 3, num_layers=2, bidirectional=True).double()
        x = dg.tensor(RNG.standard_normal((2, 1, 2)), requires_grad=True)
        h = dg.tensor(RNG.standard_normal((4, 1, 3)), requires_grad=True)

        def f(x, h, m=m, cls=cls):
            hx = (h, h * 0.5) if cls == "LSTM" else h
            out, _ = m(x, hx)
            return out
        assert dg.autograd.gradcheck(f, [x, h], eps=1e-6, atol=1e-6, rtol=1e-4)


def test_layer_errors():
    lstm = nn.LSTM(4, 5, num_layers=2)
    with pytest.raises(RuntimeError, match="Expected 4, got 3"):
        lstm(dg.randn(6, 2, 3))
    with pytest.raises(ValueError, match="Expected input to be 2D or 3D, got 4D"):
        lstm(dg.randn(6, 2, 3, 4))
    with pytest.raises(RuntimeError, match=r"Expected hidden\[0\] size \(2, 2, 5\), got "
                                           r"\[1, 2, 5\]"):
        lstm(dg.randn(6, 2, 4), (dg.zeros(1, 2, 5), dg.zeros(2, 2, 5)))
    with pytest.raises(RuntimeError, match=r"Expected hidden\[1\] size"):
        lstm(dg.randn(6, 2, 4), (dg.zeros(2, 2, 5), dg.zeros(2, 3, 5)))
    with pytest.raises(RuntimeError, match="hx should also be 3-D but got 2-D"):
        nn.GRU(4, 5)(dg.randn(6, 2, 4), dg.zeros(1, 5))
    with pytest.raises(RuntimeError, match="hx should also be 2-D but got 3-D"):
        nn.GRU(4, 5)(dg.randn(6, 4), dg.zeros(1, 1, 5))
    with pytest.raises(RuntimeError, match=r"Expected hidden size \(1, 2, 5\), got \[1, 3, 5\]"):
        nn.RNN(4, 5)(dg.randn(6, 2, 4), dg.zeros(1, 3, 5))
    with pytest.raises(RuntimeError, match="tuple"):
        nn.GRU(4, 5)(dg.randn(6, 2, 4), (dg.zeros(1, 2, 5), dg.zeros(1, 2, 5)))


# ----------------------------------------------------------------------------------------------
# Cells
# ----------------------------------------------------------------------------------------------

@requires_torch
@pytest.mark.parametrize("cls", ["RNNCell", "LSTMCell", "GRUCell"])
@pytest.mark.parametrize("batched", [True, False])
@pytest.mark.parametrize("bias", [True, False])
def test_cells_match_torch(cls, batched, bias):
    t, d = _twin(cls, 4, 6, bias=bias)
    shape = (3,) if batched else ()
    x = RNG.standard_normal(shape + (4,)).astype("f")
    h = RNG.standard_normal(shape + (6,)).astype("f")
    inputs = [x, h] + ([RNG.standard_normal(shape + (6,)).astype("f")] if cls == "LSTMCell"
                       else [])
    _compare(t, d, inputs, F32)


@requires_torch
def test_cells_default_state_relu_and_repr():
    t, d = _twin("RNNCell", 3, 5, nonlinearity="relu")
    assert repr(d) == repr(t)
    _compare(t, d, [RNG.standard_normal((2, 3)).astype("f"), None], F32)
    t, d = _twin("LSTMCell", 3, 5)
    x = RNG.standard_normal((2, 3)).astype("f")
    ht, ct = t(torch.tensor(x))
    hd, cd = d(dg.tensor(x))
    assert_close(hd, ht.detach().numpy(), **F32)
    assert_close(cd, ct.detach().numpy(), **F32)


def test_cell_errors():
    cell = nn.GRUCell(4, 6)
    with pytest.raises(RuntimeError, match="got 3 expected 4"):
        cell(dg.randn(2, 3))
    with pytest.raises(ValueError, match="Expected input to be 1D or 2D, got 3D"):
        cell(dg.randn(2, 3, 4))
    with pytest.raises(RuntimeError, match=r"\(2, 5\), expected \(2, 6\)"):
        cell(dg.randn(2, 4), dg.zeros(2, 5))


@requires_torch
def test_lstm_cell_loop_equals_lstm_layer():
    torch.manual_seed(0)
    layer = nn.LSTM(3, 4)
    cell = nn.LSTMCell(3, 4)
    cell.load_state_dict({k[:-3]: v for k, v in layer.state_dict().items()})
    x = dg.randn(5, 2, 3)
    out, (h, c) = layer(x)
    state = None
    for t in range(5):
        state = cell(x[t], state)
        assert_close(state[0], out[t], **F32)
    assert_close(state[1], c[0], **F32)


# ----------------------------------------------------------------------------------------------
# The fused layer ops (rnn_layer, lstm_layer, gru_layer): which path runs, double backward,
# compile
# ----------------------------------------------------------------------------------------------

def _node_names(t) -> set:
    """Names of every autograd node behind `t`."""
    seen, stack = set(), [t.grad_fn]
    while stack:
        n = stack.pop()
        if n is None or n in seen:
            continue
        seen.add(n)
        stack.extend(nxt for nxt, _ in n.next_functions)
    return {n.name() for n in seen}


@pytest.mark.parametrize("cls", ["RNN", "LSTM", "GRU"])
def test_fused_op_runs_one_node_per_layer_and_direction(cls):
    m = getattr(nn, cls)(3, 4, num_layers=2, bidirectional=True)
    out = m(dg.randn(7, 2, 3, requires_grad=True))[0]
    names = _node_names(out)
    assert f"{cls.capitalize()}LayerBackward0" in names
    assert "SigmoidBackward0" not in names and "TanhBackward0" not in names
    # other dtypes and projections compose each step from elementwise ops
    out = getattr(nn, cls)(3, 4).to(dg.float16)(dg.randn(3, 2, 3).half().requires_grad_())[0]
    assert "TanhBackward0" in _node_names(out)


def _packed_input(lengths, features, dtype=dg.float64):
    from dyngraph.nn.utils.rnn import pack_padded_sequence
    x = dg.tensor(RNG.standard_normal((max(lengths), len(lengths), features)), dtype=dtype,
                  requires_grad=True)
    return x, lambda t: pack_padded_sequence(t, lengths, enforce_sorted=False)


@pytest.mark.parametrize("cls", ["RNN", "LSTM", "GRU"])
@pytest.mark.parametrize("packed", [False, True], ids=["padded", "packed"])
def test_double_backward(cls, packed):
    """create_graph=True composes the gradient from differentiable ops: second derivatives
    pass gradgradcheck, and its first derivatives equal the fused backward's."""
    m = getattr(nn, cls)(2, 3, bidirectional=True).double()
    x, pack = _packed_input([3, 1, 2], 2) if packed else (
        dg.tensor(RNG.standard_normal((3, 2, 2)), requires_grad=True), lambda t: t)
    h = dg.tensor(RNG.standard_normal((2, x.shape[1], 3)), requires_grad=True)

    def f(x, h):
        out, _ = m(pack(x), (h, h * 0.5) if cls == "LSTM" else h)
        return out.data if packed else out
    assert dg.autograd.gradgradcheck(f, [x, h], eps=1e-6, atol=1e-5, rtol=1e-3)
    w = dg.tensor(RNG.standard_normal(tuple(f(x, h).shape)))
    params = [x, h] + list(m.parameters())
    fast = dg.autograd.grad((f(x, h) * w).sum(), params)
    composed = dg.autograd.grad((f(x, h) * w).sum(), params, create_graph=True)
    for a, b in zip(fast, composed):
        assert_close(a, to_np(b), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("cls", ["LSTM", "GRU"])
def test_compiled_module_matches_eager(cls):
    """dyngraph.compile of a model with a (padded) LSTM/GRU: same outputs and gradients, the
    fused op recorded as one node per layer and direction."""
    dg.manual_seed(0)

    class Tagger(nn.Module):
        def __init__(self):
            super().__init__()
            self.rnn = getattr(nn, cls)(5, 6, num_layers=2, bidirectional=True,
                                        batch_first=True)
            self.head = nn.Linear(12, 3)

        def forward(self, x):
            return self.head(self.rnn(x)[0]).log_softmax(-1)

    model = Tagger()
    x = dg.randn(4, 7, 5)
    compiled = dg.compile(model)
    for _ in range(2):   # the first call traces, the second runs the compiled graph
        model.zero_grad()
        want = model(x)
        want.sum().backward()
        grads = [to_np(p.grad).copy() for p in model.parameters()]
        model.zero_grad()
        got = compiled(x)
        got.sum().backward()
        assert_close(got, to_np(want), **F32)
        for p, g in zip(model.parameters(), grads):
            assert_close(p.grad, g, **F32)
    text = str(compiled.explain())
    assert text.count(f"= {cls.lower()}_layer ") == 4
    assert "runs eagerly" not in text
