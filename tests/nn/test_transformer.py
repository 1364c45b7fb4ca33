"""scaled_dot_product_attention, MultiheadAttention, TransformerEncoderLayer and
TransformerEncoder against PyTorch with identical weights (outputs, attention weights, gradients
of inputs and parameters), masks, initialisation and errors."""

from __future__ import annotations

import math

import numpy as np
import pytest

import dyngraph as dg
from dyngraph import nn
from dyngraph.nn import _functional_attention as FA
from tests.conftest import assert_close, assert_repr_like_torch, requires_torch, to_np, torch

if torch is not None:
    import torch.nn.functional as TF

RNG = np.random.default_rng(11)
F32 = dict(rtol=2e-4, atol=2e-5)
F64 = dict(rtol=1e-9, atol=1e-10)


def randn(*shape, dtype="f"):
    return RNG.standard_normal(shape).astype(dtype)


def _twin(cls: str, *args, **kwargs):
    torch.manual_seed(0)
    t = getattr(torch.nn, cls)(*args, **kwargs)
    d = getattr(nn, cls)(*args, **kwargs)
    assert list(d.state_dict()) == list(t.state_dict())
    d.load_state_dict({k: dg.tensor(v.detach().numpy()) for k, v in t.state_dict().items()})
    return t, d


def _run_both(t_fn, d_fn, arrays, tol, grad=None, t_params=(), d_params=()):
    """Call both on the same inputs; compare outputs and gradients of inputs and parameters."""
    grad = grad if grad is not None else [a is not None and a.dtype.kind == "f" for a in arrays]
    targs = [None if a is None else torch.tensor(a, requires_grad=g)
             for a, g in zip(arrays, grad)]
    dargs = [None if a is None else dg.tensor(a, requires_grad=g) for a, g in zip(arrays, grad)]
    tout, dout = t_fn(*targs), d_fn(*dargs)
    tout = tout if isinstance(tout, tuple) else (tout,)
    dout = dout if isinstance(dout, tuple) else (dout,)
    tloss, dloss = 0, 0
    for a, b in zip(tout, dout):
        if a is None:
            assert b is None
            continue
        assert tuple(b.shape) == tuple(a.shape)
        assert_close(b, a.detach().numpy(), **tol)
        w = RNG.standard_normal(tuple(a.shape))
        tloss = tloss + (a * torch.tensor(w, dtype=a.dtype)).nansum()
        dloss = dloss + (b * dg.tensor(w, dtype=b.dtype)).nansum()
    tloss.backward()
    dloss.backward()
    for a, b, g in zip(targs, dargs, grad):
        if g:
            assert_close(b.grad, a.grad, **tol)
    for (n, a), b in zip(t_params, d_params):
        assert b.grad is not None, f"no gradient for {n}"
        assert_close(b.grad, a.grad, **tol)


# ----------------------------------------------------------------------------------------------
# scaled_dot_product_attention
# ----------------------------------------------------------------------------------------------

SDPA_CASES = {
    "plain": dict(),
    "causal": dict(is_causal=True),
    "scale": dict(scale=0.3),
    "bool_mask": dict(mask="bool"),
    "float_mask": dict(mask="float"),
    "broadcast_mask": dict(mask="bool_broadcast"),
}


@requires_torch
@pytest.mark.parametrize("case", list(SDPA_CASES))
@pytest.mark.parametrize("L,S", [(5, 5), (3, 6)])
def test_sdpa_matches_torch(case, L, S):
    opts = dict(SDPA_CASES[case])
    q, k, v = randn(2, 3, L, 4, dtype="d"), randn(2, 3, S, 4, dtype="d"), randn(2, 3, S, 6,
                                                                              dtype="d")
    kind = opts.pop("mask", None)
    mask = None
    if kind == "bool":
        mask = RNG.random((2, 3, L, S)) > 0.3
        mask[..., 0] = True
    elif kind == "float":
        mask = randn(L, S, dtype="d")
    elif kind == "bool_broadcast":
        mask = RNG.random((2, 1, 1, S)) > 0.3
        mask[..., 0] = True

    def run(fn):
        def f(q, k, v, m):
            return fn(q, k, v, attn_mask=m, **opts)
        return f
    _run_both(run(TF.scaled_dot_product_attention), run(FA.scaled_dot_product_attention),
              [q, k, v, mask], F64)


@requires_torch
def test_sdpa_fully_masked_rows_give_zero_like_torch():
    q, k, v = randn(1, 3, 4), randn(1, 5, 4), randn(1, 5, 4)
    m = np.ones((3, 5), bool)
    m[1] = False
    got = FA.scaled_dot_product_attention(dg.tensor(q), dg.tensor(k), dg.tensor(v),
                                          attn_mask=dg.tensor(m))
    want = TF.scaled_dot_product_attention(torch.tensor(q), torch.tensor(k), torch.tensor(v),
                                           attn_mask=torch.tensor(m))
    assert_close(got, want, **F32)
    assert not np.isnan(to_np(got)).any()


@requires_torch
def test_sdpa_gqa_and_gradcheck():
    q, k, v = randn(1, 4, 3, 2, dtype="d"), randn(1, 2, 5, 2, dtype="d"), randn(1, 2, 5, 2,
                                                                              dtype="d")
    _run_both(lambda a, b, c: TF.scaled_dot_product_attention(a, b, c, enable_gqa=True),
              lambda a, b, c: FA.scaled_dot_product_attention(a, b, c, enable_gqa=True),
              [q, k, v], F64)
    ins = [dg.tensor(a[..., :2, :], requires_grad=True) for a in (q, q, q)]
    assert dg.autograd.gradcheck(
        lambda a, b, c: FA.scaled_dot_product_attention(a, b, c, is_causal=True), ins,
        eps=1e-6, atol=1e-6, rtol=1e-4)


def test_sdpa_dropout_is_random_but_seeded():
    q = dg.randn(2, 4, 8)
    a = FA.scaled_dot_product_attention(q, q, q)
    dg.manual_seed(5)
    b = FA.scaled_dot_product_attention(q, q, q, dropout_p=0.5)
    dg.manual_seed(5)
    c = FA.scaled_dot_product_attention(q, q, q, dropout_p=0.5)
    assert np.array_equal(to_np(b), to_np(c))
    assert not np.allclose(to_np(a), to_np(b))


def test_sdpa_errors():
    with pytest.raises(RuntimeError, match=r"\(2, 3, 4\).*\(2, 5, 3\).*4 != 3"):
        FA.scaled_dot_product_attention(dg.randn(2, 3, 4), dg.randn(2, 5, 3), dg.randn(2, 5, 3))
    with pytest.raises(RuntimeError, match="is_causal"):
        FA.scaled_dot_product_attention(dg.randn(3, 4), dg.randn(3, 4), dg.randn(3, 4),
                                        attn_mask=dg.ones(3, 3, dtype=dg.bool), is_causal=True)


# ----------------------------------------------------------------------------------------------
# MultiheadAttention
# ----------------------------------------------------------------------------------------------

def _mha_inputs(L, S, N, E, kdim, vdim, batch_first, batched=True):
    if not batched:
        return randn(L, E), randn(S, kdim), randn(S, vdim)
    if batch_first:
        return randn(N, L, E), randn(N, S, kdim), randn(N, S, vdim)
    return randn(L, N, E), randn(S, N, kdim), randn(S, N, vdim)


MHA_CASES = {
    "self": dict(),
    "batch_first": dict(ctor=dict(batch_first=True)),
    "no_weights": dict(call=dict(need_weights=False)),
    "per_head": dict(call=dict(average_attn_weights=False)),
    "cross_kdim_vdim": dict(ctor=dict(kdim=3, vdim=5), S=7),
    "no_bias": dict(ctor=dict(bias=False)),
    "bias_kv_zero_attn": dict(ctor=dict(add_bias_kv=True, add_zero_attn=True), masks=True),
    "unbatched": dict(batched=False, masks=True),
    "masks_bool": dict(masks=True),
    "masks_bool_no_weights": dict(masks=True, call=dict(need_weights=False)),
    "masks_float": dict(masks="float"),
    "mask_3d": dict(masks="3d"),
    "causal_hint": dict(masks="causal", call=dict(need_weights=False, is_causal=True)),
}


@requires_torch
@pytest.mark.parametrize("name", list(MHA_CASES))
def test_mha_matches_torch(name):
    case = MHA_CASES[name]
    E, H, L, N = 8, 2, 5, 3
    S = case.get("S", L)
    ctor = case.get("ctor", {})
    t, d = _twin("MultiheadAttention", E, H, **ctor)
    assert_repr_like_torch(d, t)
    kdim, vdim = ctor.get("kdim", E), ctor.get("vdim", E)
    batched = case.get("batched", True)
    q, k, v = _mha_inputs(L, S, N, E, kdim, vdim, ctor.get("batch_first", False), batched)
    if S == L and kdim == E == vdim:
        k = v = q  # self-attention: the packed projection path
    kpm = am = None
    masks = case.get("masks")
    if masks:
        kpm = RNG.random((N, S) if batched else (S,)) > 0.7
        kpm[..., 0] = False
        am = np.triu(np.ones((L, S), bool), 1)
        if masks == "float":
            kpm = np.where(kpm, -1e4, 0.0).astype("f")
            am = randn(L, S)
        elif masks == "3d":
            am = RNG.random((N * H, L, S)) > 0.6
            am[..., 0] = False
            kpm = None
        elif masks == "causal":
            kpm = None
    call = case.get("call", {})
    self_attn = k is q

    def run(mod, lib):
        def f(q, k, v, kpm, am):
            if self_attn:
                k = v = q
            return mod(q, k, v, key_padding_mask=kpm, attn_mask=am, **call)
        return f
    _run_both(run(t, torch), run(d, dg), [q, k, v, kpm, am], F32,
              grad=[True, not self_attn, not self_attn, False, False],
              t_params=list(t.named_parameters()), d_params=list(d.parameters()))


def test_mha_init_matches_pytorch_scheme():
    E = 32
    m = nn.MultiheadAttention(E, 4)
    w = to_np(m.in_proj_weight)
    bound = math.sqrt(6.0 / (E + 3 * E))  # xavier_uniform_ on (3E, E)
    assert np.abs(w).max() <= bound and w.std() > 0.8 * bound / math.sqrt(3)
    assert not to_np(m.in_proj_bias).any() and not to_np(m.out_proj.bias).any()
    ow = to_np(m.out_proj.weight)
    assert np.abs(ow).max() <= 1 / math.sqrt(E)  # Linear's kaiming_uniform_(a=sqrt(5))
    sep = nn.MultiheadAttention(E, 4, kdim=8, vdim=16)
    assert sep.in_proj_weight is None and tuple(sep.k_proj_weight.shape) == (E, 8)


@requires_torch
def test_mha_dropout_train_vs_eval():
    t, d = _twin("MultiheadAttention", 8, 2, dropout=0.5)
    x = randn(4, 2, 8)
    d.eval()
    t.eval()
    out_t = t(*(torch.tensor(x),) * 3)[0].detach().numpy()
    assert_close(d(*(dg.tensor(x),) * 3)[0], out_t, **F32)
    d.train()
    out_d = to_np(d(*(dg.tensor(x),) * 3)[0])
    assert not np.allclose(out_d, out_t)


def test_mha_errors():
    with pytest.raises(ValueError, match="divisible"):
        nn.MultiheadAttention(10, 3)
    m = nn.MultiheadAttention(8, 2)
    x = dg.randn(5, 2, 8)
    with pytest.raises(RuntimeError, match=r"6 features.*\(5, 2, 6\).*embed_dim is 8"):
        m(dg.randn(5, 2, 6), x, x)
    with pytest.raises(RuntimeError, match=r"2D attn_mask is \(5, 4\), but should be \(5, 5\)"):
        m(x, x, x, attn_mask=dg.zeros(5, 4, dtype=dg.bool))
    with pytest.raises(RuntimeError, match="key_padding_mask shape of \\(2, 5\\)"):
        m(x, x, x, key_padding_mask=dg.zeros(2, 4, dtype=dg.bool))
    with pytest.raises(RuntimeError, match="Need attn_mask"):
        m(x, x, x, is_causal=True)


# ----------------------------------------------------------------------------------------------
# TransformerEncoderLayer / TransformerEncoder
# ----------------------------------------------------------------------------------------------

LAYER_CASES = {
    "post_norm_relu": dict(),
    "pre_norm_gelu": dict(norm_first=True, activation="gelu"),
    "batch_first": dict(batch_first=True),
    "no_bias": dict(bias=False, layer_norm_eps=1e-6),
}


@requires_torch
@pytest.mark.parametrize("name", list(LAYER_CASES))
@pytest.mark.parametrize("masks", [False, True])
def test_encoder_layer_matches_torch(name, masks):
    kw = LAYER_CASES[name]
    t, d = _twin("TransformerEncoderLayer", 8, 2, dim_feedforward=16, dropout=0.0, **kw)
    assert_repr_like_torch(d, t)
    N, S = 3, 5
    x = randn(N, S, 8) if kw.get("batch_first") else randn(S, N, 8)
    kpm = am = None
    if masks:
        kpm = RNG.random((N, S)) > 0.7
        kpm[:, 0] = False
        am = np.triu(np.ones((S, S), bool), 1)

    def run(mod):
        return lambda x, m, k: mod(x, src_mask=m, src_key_padding_mask=k)
    _run_both(run(t), run(d), [x, am, kpm], F32, grad=[True, False, False],
              t_params=list(t.named_parameters()), d_params=list(d.parameters()))


@requires_torch
def test_encoder_layer_eval_mode_and_unbatched():
    t, d = _twin("TransformerEncoderLayer", 8, 2, dim_feedforward=16, dropout=0.3)
    t.eval()
    d.eval()
    x = randn(6, 8)
    _run_both(t, d, [x], F32, t_params=list(t.named_parameters()),
              d_params=list(d.parameters()))
    d.train()
    assert not np.allclose(to_np(d(dg.tensor(x))), t(torch.tensor(x)).detach().numpy())


def test_encoder_layer_activation_errors():
    with pytest.raises(RuntimeError, match="relu/gelu, not tanh"):
        nn.TransformerEncoderLayer(8, 2, activation="tanh")
    layer = nn.TransformerEncoderLayer(8, 2, dim_feedforward=4, activation=nn.GELU())
    assert isinstance(layer.activation, nn.GELU)
    assert "activation" in dict(layer.named_children())


@requires_torch
@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("causal", [False, True])
def test_encoder_matches_torch(batch_first, causal):
    torch.manual_seed(0)
    tl = torch.nn.TransformerEncoderLayer(8, 2, dim_feedforward=16, dropout=0.0,
                                          batch_first=batch_first)
    t = torch.nn.TransformerEncoder(tl, num_layers=2, norm=torch.nn.LayerNorm(8),
                                    enable_nested_tensor=False)
    dl = nn.TransformerEncoderLayer(8, 2, dim_feedforward=16, dropout=0.0,
                                    batch_first=batch_first)
    d = nn.TransformerEncoder(dl, num_layers=2, norm=nn.LayerNorm(8))
    assert list(d.state_dict()) == list(t.state_dict())
    d.load_state_dict({k: dg.tensor(v.detach().numpy()) for k, v in t.state_dict().items()})
    N, S = 2, 6
    x = randn(N, S, 8) if batch_first else randn(S, N, 8)
    mask = None
    if causal:
        mask = np.triu(np.full((S, S), -np.inf, dtype="f"), 1)
    kpm = RNG.random((N, S)) > 0.7
    kpm[:, 0] = False
    if causal:  # float mask + float padding mask (mixing bool and float is deprecated)
        kpm = np.where(kpm, -np.inf, 0.0).astype("f")

    def run(mod):
        return lambda x, m, k: mod(x, mask=m, src_key_padding_mask=k)
    _run_both(run(t), run(d), [x, mask, kpm], F32, grad=[True, False, False],
              t_params=list(t.named_parameters()), d_params=list(d.parameters()))


def test_encoder_layers_are_independent_copies():
    layer = nn.TransformerEncoderLayer(8, 2, dim_feedforward=16)
    enc = nn.TransformerEncoder(layer, num_layers=3)
    ws = [m.linear1.weight for m in enc.layers]
    assert ws[0] is not ws[1] and np.array_equal(to_np(ws[0]), to_np(ws[1]))
    with dg.no_grad():
        ws[0].mul_(2.0)
    assert not np.array_equal(to_np(ws[0]), to_np(ws[1]))
    assert len(list(enc.parameters())) == 3 * len(list(layer.parameters()))


def test_causal_mask_detection():
    from dyngraph.nn.modules.transformer import (_detect_is_causal_mask,
                                                 _generate_square_subsequent_mask)
    m = _generate_square_subsequent_mask(4)
    assert _detect_is_causal_mask(m, None, 4) is True
    assert _detect_is_causal_mask(dg.zeros(4, 4), None, 4) is False
    assert _detect_is_causal_mask(None, True, 4) is True
