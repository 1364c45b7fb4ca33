"""TransformerDecoderLayer, TransformerDecoder and Transformer against PyTorch with identical
weights: outputs and gradients (inputs and every parameter) in train mode with dropout=0 and in
eval mode, masks and key-padding masks, causal hints, reprs, state_dict keys, initialisation,
errors and compiled mode."""

from __future__ import annotations

import numpy as np
import pytest

import dyngraph as dg
from dyngraph import nn
from dyngraph.autograd import gradcheck
from tests.conftest import assert_close, assert_repr_like_torch, requires_torch, to_np, torch

RNG = np.random.default_rng(17)
F32 = dict(rtol=2e-4, atol=2e-5)
E, H, FF = 8, 2, 16


def randn(*shape, dtype="f"):
    return RNG.standard_normal(shape).astype(dtype)


def _load(d, t):
    """Give the dyngraph module the torch module's weights (keys must match exactly)."""
    assert list(d.state_dict()) == list(t.state_dict())
    d.load_state_dict({k: dg.tensor(v.detach().numpy()) for k, v in t.state_dict().items()})


def _twin(cls: str, *args, **kwargs):
    torch.manual_seed(0)
    t = getattr(torch.nn, cls)(*args, **kwargs)
    d = getattr(nn, cls)(*args, **kwargs)
    _load(d, t)
    return t, d


def _run_both(t_fn, d_fn, arrays, grad, t_mod, d_mod, tol=F32):
    """Call both on the same inputs; compare the output and the gradients of the float inputs
    flagged in `grad` and of every parameter, under a random upstream gradient."""
    targs = [None if a is None else torch.tensor(a, requires_grad=g)
             for a, g in zip(arrays, grad)]
    dargs = [None if a is None else dg.tensor(a, requires_grad=g) for a, g in zip(arrays, grad)]
    tout, dout = t_fn(*targs), d_fn(*dargs)
    assert tuple(dout.shape) == tuple(tout.shape)
    assert_close(dout, tout, **tol)
    w = RNG.standard_normal(tuple(tout.shape))
    (tout * torch.tensor(w, dtype=tout.dtype)).sum().backward()
    (dout * dg.tensor(w, dtype=dout.dtype)).sum().backward()
    for a, b, g in zip(targs, dargs, grad):
        if g:
            assert_close(b.grad, a.grad, **tol)
    tparams = dict(t_mod.named_parameters())
    for name, p in d_mod.named_parameters():
        assert p.grad is not None, f"no gradient for {name}"
        assert_close(p.grad, tparams[name].grad, **tol)


def _pad_mask(n, s, kind="bool"):
    m = RNG.random((n, s)) > 0.6
    m[:, 0] = False
    return m if kind == "bool" else np.where(m, -np.inf, 0.0).astype("f")


# ----------------------------------------------------------------------------------------------
# TransformerDecoderLayer
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
def test_decoder_layer_matches_torch(name, masks):
    kw = LAYER_CASES[name]
    t, d = _twin("TransformerDecoderLayer", E, H, dim_feedforward=FF, dropout=0.0, **kw)
    assert_repr_like_torch(d, t)
    N, T, S = 3, 5, 4
    bf = kw.get("batch_first")
    tgt = randn(N, T, E) if bf else randn(T, N, E)
    mem = randn(N, S, E) if bf else randn(S, N, E)
    tm = mm = tk = mk = None
    if masks:
        tm = np.triu(np.ones((T, T), bool), 1)
        mm = RNG.random((T, S)) > 0.7
        mm[:, 0] = False
        tk, mk = _pad_mask(N, T), _pad_mask(N, S)

    def run(mod):
        return lambda x, m, a, b, c, e: mod(x, m, tgt_mask=a, memory_mask=b,
                                            tgt_key_padding_mask=c, memory_key_padding_mask=e)
    _run_both(run(t), run(d), [tgt, mem, tm, mm, tk, mk], [True, True] + [False] * 4, t, d)


@requires_torch
def test_decoder_layer_float_masks_and_causal_hints():
    t, d = _twin("TransformerDecoderLayer", E, H, dim_feedforward=FF, dropout=0.0)
    T, S, N = 4, 4, 2
    tgt, mem = randn(T, N, E), randn(S, N, E)
    causal = np.triu(np.full((T, T), -np.inf, dtype="f"), 1)
    mem_causal = np.triu(np.full((T, S), -np.inf, dtype="f"), 1)

    def run(mod):
        return lambda x, m, a, b: mod(x, m, tgt_mask=a, memory_mask=b, tgt_is_causal=True,
                                      memory_is_causal=True)
    _run_both(run(t), run(d), [tgt, mem, causal, mem_causal], [True, True, False, False], t, d)


@requires_torch
def test_decoder_layer_eval_mode_unbatched_and_callable_activation():
    torch.manual_seed(0)
    t = torch.nn.TransformerDecoderLayer(E, H, dim_feedforward=FF, dropout=0.3,
                                         activation=torch.nn.GELU())
    d = nn.TransformerDecoderLayer(E, H, dim_feedforward=FF, dropout=0.3, activation=nn.GELU())
    assert_repr_like_torch(d, t)
    _load(d, t)
    t.eval()
    d.eval()
    _run_both(t, d, [randn(5, E), randn(3, E)], [True, True], t, d)
    d.train()
    x, m = randn(5, 2, E), randn(3, 2, E)
    assert not np.allclose(to_np(d(dg.tensor(x), dg.tensor(m))),
                           t(torch.tensor(x), torch.tensor(m)).detach().numpy())


def test_decoder_layer_errors_and_gradcheck():
    with pytest.raises(RuntimeError, match="relu/gelu, not tanh"):
        nn.TransformerDecoderLayer(E, H, activation="tanh")
    layer = nn.TransformerDecoderLayer(4, 2, dim_feedforward=6, dropout=0.0,
                                       dtype=dg.float64)
    with pytest.raises(RuntimeError, match="features"):
        layer(dg.randn(3, 1, 5, dtype=dg.float64), dg.randn(2, 1, 4, dtype=dg.float64))
    tgt = dg.tensor(randn(3, 1, 4, dtype="d"), requires_grad=True)
    mem = dg.tensor(randn(2, 1, 4, dtype="d"), requires_grad=True)
    assert gradcheck(lambda a, b: layer(a, b), (tgt, mem))


# ----------------------------------------------------------------------------------------------
# TransformerDecoder
# ----------------------------------------------------------------------------------------------

@requires_torch
@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("causal", ["none", "detected", "hint"])
def test_decoder_matches_torch(batch_first, causal):
    torch.manual_seed(0)
    tl = torch.nn.TransformerDecoderLayer(E, H, dim_feedforward=FF, dropout=0.0,
                                          batch_first=batch_first)
    t = torch.nn.TransformerDecoder(tl, num_layers=2, norm=torch.nn.LayerNorm(E))
    dl = nn.TransformerDecoderLayer(E, H, dim_feedforward=FF, dropout=0.0,
                                    batch_first=batch_first)
    d = nn.TransformerDecoder(dl, num_layers=2, norm=nn.LayerNorm(E))
    assert_repr_like_torch(d, t)
    _load(d, t)
    N, T, S = 2, 6, 5
    tgt = randn(N, T, E) if batch_first else randn(T, N, E)
    mem = randn(N, S, E) if batch_first else randn(S, N, E)
    mask = None if causal == "none" else np.triu(np.full((T, T), -np.inf, dtype="f"), 1)
    hint = True if causal == "hint" else None
    mk = _pad_mask(N, S, "float")

    def run(mod):
        return lambda x, m, a, b: mod(x, m, tgt_mask=a, memory_key_padding_mask=b,
                                      tgt_is_causal=hint)
    _run_both(run(t), run(d), [tgt, mem, mask, mk], [True, True, False, False], t, d)


def test_decoder_layers_are_independent_copies():
    layer = nn.TransformerDecoderLayer(E, H, dim_feedforward=FF)
    dec = nn.TransformerDecoder(layer, num_layers=3)
    ws = [m.multihead_attn.in_proj_weight for m in dec.layers]
    assert ws[0] is not ws[1] and np.array_equal(to_np(ws[0]), to_np(ws[1]))
    assert len(list(dec.parameters())) == 3 * len(list(layer.parameters()))
    assert dec.norm is None and dec.num_layers == 3


# ----------------------------------------------------------------------------------------------
# Transformer
# ----------------------------------------------------------------------------------------------

MODEL = dict(d_model=E, nhead=H, num_encoder_layers=2, num_decoder_layers=1,
             dim_feedforward=FF)


@requires_torch
@pytest.mark.parametrize("kw", [dict(), dict(batch_first=True, norm_first=True),
                                dict(activation="gelu", bias=False)])
@pytest.mark.parametrize("train", [True, False])
def test_transformer_matches_torch(kw, train):
    t, d = _twin("Transformer", dropout=0.0 if train else 0.2, **MODEL, **kw)
    assert_repr_like_torch(d, t)
    t.train(train)
    d.train(train)
    N, S, T = 3, 5, 4
    bf = kw.get("batch_first", False)
    src = randn(N, S, E) if bf else randn(S, N, E)
    tgt = randn(N, T, E) if bf else randn(T, N, E)
    tmask = nn.Transformer.generate_square_subsequent_mask(T).numpy()
    sk, tk, mk = _pad_mask(N, S), _pad_mask(N, T), None
    mk = sk.copy()
    mmask = RNG.random((T, S)) > 0.8
    mmask[:, 0] = False

    def run(mod):
        return lambda s, x, a, b, c, e, f: mod(
            s, x, tgt_mask=a, memory_mask=b, src_key_padding_mask=c, tgt_key_padding_mask=e,
            memory_key_padding_mask=f)
    _run_both(run(t), run(d), [src, tgt, tmask, mmask, sk, tk, mk],
              [True, True] + [False] * 5, t, d)


@requires_torch
def test_transformer_unbatched_and_src_mask():
    t, d = _twin("Transformer", dropout=0.0, **MODEL)
    S, T = 6, 3
    src_mask = np.triu(np.ones((S, S), bool), 1)

    def run(mod):
        return lambda s, x, m: mod(s, x, src_mask=m, src_is_causal=False)
    _run_both(run(t), run(d), [randn(S, E), randn(T, E), src_mask], [True, True, False], t, d)


@requires_torch
def test_generate_square_subsequent_mask_matches_torch():
    for sz in (0, 1, 5):
        got = nn.Transformer.generate_square_subsequent_mask(sz)
        want = torch.nn.Transformer.generate_square_subsequent_mask(sz)
        assert got.dtype == dg.float32
        assert_close(got, want)
    got = nn.Transformer.generate_square_subsequent_mask(3, dtype=dg.float64)
    assert got.dtype == dg.float64


def test_transformer_init_and_custom_parts():
    model = nn.Transformer(**MODEL)
    assert model.d_model == E and model.nhead == H and model.batch_first is False
    w = to_np(model.decoder.layers[0].linear1.weight)
    bound = np.sqrt(6 / (E + FF))                      # xavier_uniform_
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.5 * bound
    assert not to_np(model.encoder.layers[0].self_attn.in_proj_bias).any()
    assert np.array_equal(to_np(model.encoder.norm.weight), np.ones(E))
    enc = nn.TransformerEncoder(nn.TransformerEncoderLayer(E, H, FF), 1)
    dec = nn.TransformerDecoder(nn.TransformerDecoderLayer(E, H, FF), 1)
    custom = nn.Transformer(d_model=E, nhead=H, custom_encoder=enc, custom_decoder=dec)
    assert custom.encoder is enc and custom.decoder is dec
    assert custom(dg.randn(4, 2, E), dg.randn(3, 2, E)).shape == (3, 2, E)


def test_transformer_errors():
    model = nn.Transformer(**MODEL)
    with pytest.raises(RuntimeError, match="the batch number of src and tgt must be equal"):
        model(dg.randn(4, 2, E), dg.randn(3, 3, E))
    with pytest.raises(RuntimeError, match="the feature number of src and tgt must be equal to "
                                           "d_model"):
        model(dg.randn(4, 2, E), dg.randn(3, 2, E + 1))
    bf = nn.Transformer(batch_first=True, **MODEL)
    with pytest.raises(RuntimeError, match="batch number"):
        bf(dg.randn(2, 4, E), dg.randn(3, 4, E))


def test_transformer_compiled_matches_eager():
    model = nn.Transformer(dropout=0.0, **MODEL)
    mask = nn.Transformer.generate_square_subsequent_mask(4)

    def fn(src, tgt):
        return model(src, tgt, tgt_mask=mask, tgt_is_causal=True)

    src, tgt = dg.tensor(randn(5, 2, E)), dg.tensor(randn(4, 2, E))
    compiled = dg.compile(fn, backend="llvm")
    want = fn(src, tgt)
    for _ in range(2):      # the first call traces, the second runs the compiled code
        assert_close(compiled(src, tgt), want, rtol=1e-5, atol=1e-5)
