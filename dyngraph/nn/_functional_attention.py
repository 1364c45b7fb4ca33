"""Attention in `dyngraph.nn.functional`: scaled_dot_product_attention and
multi_head_attention_forward, with PyTorch's signatures, mask conventions and shapes.

Masks: a bool mask marks with True the positions that *may* be attended to in
scaled_dot_product_attention, while in multi-head attention a bool `attn_mask` or
`key_padding_mask` marks with True the positions to *ignore* (PyTorch's two conventions). Float
masks are added to the attention scores in both.
"""

from __future__ import annotations

import math
import warnings

from .. import _dtype as D
from .._tensor import Tensor
from ..ops import amax, arange, bmm, cat, matmul, softmax, where, zeros
from ..ops.registry import composite

__all__ = ["scaled_dot_product_attention", "multi_head_attention_forward"]


def _masked_softmax(x: Tensor, dim: int) -> Tensor:
    """softmax that gives 0 (not nan) on fully masked rows, as PyTorch's fused SDPA kernels do."""
    m = amax(x.detach(), dim, keepdim=True)
    m = where(m.isinf(), 0.0, m)
    e = (x - m).exp()
    s = e.sum(dim, keepdim=True)
    return e / where(s == 0, 1.0, s)


def _dropout(x: Tensor, p: float, training: bool = True) -> Tensor:
    if p == 0.0 or not training:
        return x
    from . import functional
    return functional.dropout(x, p=p, training=True)


def _linear(x: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor:
    y = matmul(x, weight.mT if hasattr(weight, "mT") else weight.transpose(-2, -1))
    return y + bias if bias is not None else y


def _causal_keep(L: int, S: int, device) -> Tensor:
    """Bool (L, S): True on and below the diagonal (query i may see keys j <= i)."""
    rows = arange(L, device=device).reshape(L, 1)
    cols = arange(S, device=device).reshape(1, S)
    return cols <= rows


@composite("scaled_dot_product_attention", "matmul, mul, add/where (mask), softmax, matmul")
def scaled_dot_product_attention(query: Tensor, key: Tensor, value: Tensor,
                                 attn_mask: Tensor | None = None, dropout_p: float = 0.0,
                                 is_causal: bool = False, scale: float | None = None,
                                 enable_gqa: bool = False) -> Tensor:
    """softmax(query @ key^T * scale + mask) @ value, over the last two dims.

    Args:
        query: (..., L, E).
        key: (..., S, E).
        value: (..., S, Ev).
        attn_mask: optional mask broadcastable to (..., L, S): bool (True = may attend) or float
            (added to the scores).
        dropout_p: dropout probability on the attention weights (always applied when > 0, as in
            PyTorch: pass 0.0 in eval mode).
        is_causal: mask out keys after each query (upper-left aligned); excludes attn_mask.
        scale: score scale, 1/sqrt(E) by default.
        enable_gqa: let key/value have fewer heads (dim -3) than query, shared in groups.

    Returns:
        (..., L, Ev). Rows whose keys are all masked give 0.

    Example:
        >>> q = k = v = dyngraph.randn(2, 4, 8, 16)
        >>> F.scaled_dot_product_attention(q, k, v, is_causal=True).shape
        dyngraph.Size([2, 4, 8, 16])
    """
    if query.ndim < 2 or key.ndim < 2 or value.ndim < 2:
        raise RuntimeError(
            f"scaled_dot_product_attention: query, key and value need at least 2 dims (..., L, E);"
            f" got shapes {tuple(query.shape)}, {tuple(key.shape)}, {tuple(value.shape)}")
    if query.shape[-1] != key.shape[-1]:
        raise RuntimeError(
            f"scaled_dot_product_attention: query and key must have the same embedding size, got "
            f"query {tuple(query.shape)} and key {tuple(key.shape)} ({query.shape[-1]} != "
            f"{key.shape[-1]})")
    if key.shape[-2] != value.shape[-2]:
        raise RuntimeError(
            f"scaled_dot_product_attention: key and value must have the same sequence length, got "
            f"key {tuple(key.shape)} and value {tuple(value.shape)}")
    if is_causal and attn_mask is not None:
        raise RuntimeError("scaled_dot_product_attention: _scaled_dot_product_attention: "
                           "Explicit attn_mask should not be set when is_causal=True")
    L, S = query.shape[-2], key.shape[-2]
    if enable_gqa and query.ndim >= 3 and key.shape[-3] != query.shape[-3]:
        hq, hk = query.shape[-3], key.shape[-3]
        if hq % hk:
            raise RuntimeError(f"scaled_dot_product_attention: number of query heads {hq} must "
                               f"be a multiple of the number of key/value heads {hk}")
        key = _repeat_heads(key, hq // hk)
        value = _repeat_heads(value, hq // hk)
    scale_factor = 1.0 / math.sqrt(query.shape[-1]) if scale is None else scale
    scores = matmul(query, key.transpose(-2, -1)) * scale_factor
    if is_causal:
        scores = where(_causal_keep(L, S, query.device), scores, float("-inf"))
    if attn_mask is not None:
        if attn_mask.dtype is D.bool_:
            scores = where(attn_mask, scores, float("-inf"))
        else:
            scores = scores + attn_mask
    weights = _masked_softmax(scores, -1)
    if dropout_p > 0.0:
        weights = _dropout(weights, dropout_p)
    return matmul(weights, value)


def _repeat_heads(x: Tensor, n: int) -> Tensor:
    """repeat_interleave(n) along dim -3 via unsqueeze + expand + reshape."""
    shape = tuple(x.shape)
    y = x.unsqueeze(-3).expand(*(shape[:-2] + (n,) + shape[-2:]))
    return y.reshape(*(shape[:-3] + (shape[-3] * n,) + shape[-2:]))


def _canonical_mask(mask, mask_name: str, other_type, other_name: str, target_type,
                    check_other: bool = True):
    """A bool mask (True = ignore) as a float mask of -inf/0; float masks pass through."""
    if mask is None:
        return None
    if mask.dtype is not D.bool_ and not mask.dtype.is_floating_point:
        raise TypeError(f"only bool and floating types of {mask_name} are supported (got "
                        f"{mask.dtype.name})")
    if check_other and other_type is not None and mask.dtype is not other_type:
        warnings.warn(f"Support for mismatched {mask_name} and {other_name} is deprecated. Use "
                      "same type for both instead.", UserWarning, stacklevel=3)
    if mask.dtype is D.bool_:
        mask = where(mask, float("-inf"), zeros(tuple(mask.shape), dtype=target_type,
                                                device=mask.device))
    return mask


def _none_or_dtype(x):
    return None if x is None else x.dtype


def _mha_shape_check(query, key, value, key_padding_mask, attn_mask, num_heads) -> bool:
    """PyTorch's checks of the input ranks; returns whether the input is batched."""
    if query.ndim == 3:
        if key.ndim != 3 or value.ndim != 3:
            raise RuntimeError(
                f"multi_head_attention_forward: for batched (3-D) query, expected key and value to "
                f"be 3-D but found {key.ndim}-D and {value.ndim}-D tensors respectively")
        if key_padding_mask is not None and key_padding_mask.ndim != 2:
            raise RuntimeError(
                "multi_head_attention_forward: for batched (3-D) query, expected key_padding_mask "
                f"to be None or 2-D but found {key_padding_mask.ndim}-D tensor instead")
        if attn_mask is not None and attn_mask.ndim not in (2, 3):
            raise RuntimeError(
                "multi_head_attention_forward: for batched (3-D) query, expected attn_mask to be "
                f"None, 2-D or 3-D but found {attn_mask.ndim}-D tensor instead")
        return True
    if query.ndim == 2:
        if key.ndim != 2 or value.ndim != 2:
            raise RuntimeError(
                "multi_head_attention_forward: for unbatched (2-D) query, expected key and value "
                f"to be 2-D but found {key.ndim}-D and {value.ndim}-D tensors respectively")
        if key_padding_mask is not None and key_padding_mask.ndim != 1:
            raise RuntimeError(
                "multi_head_attention_forward: for unbatched (2-D) query, expected "
                f"key_padding_mask to be None or 1-D but found {key_padding_mask.ndim}-D tensor "
                "instead")
        if attn_mask is not None:
            if attn_mask.ndim not in (2, 3):
                raise RuntimeError(
                    "multi_head_attention_forward: for unbatched (2-D) query, expected attn_mask "
                    f"to be None, 2-D or 3-D but found {attn_mask.ndim}-D tensor instead")
            if attn_mask.ndim == 3:
                want = (num_heads, query.shape[0], key.shape[0])
                if tuple(attn_mask.shape) != want:
                    raise RuntimeError(f"Expected attn_mask shape to be {want} but got "
                                       f"{tuple(attn_mask.shape)}.")
        return False
    raise RuntimeError(
        f"multi_head_attention_forward: query should be unbatched 2-D (L, E) or batched 3-D "
        f"(L, N, E) tensor but received {query.ndim}-D query tensor of shape "
        f"{tuple(query.shape)}")


def multi_head_attention_forward(
        query: Tensor, key: Tensor, value: Tensor, embed_dim_to_check: int, num_heads: int,
        in_proj_weight: Tensor | None, in_proj_bias: Tensor | None, bias_k: Tensor | None,
        bias_v: Tensor | None, add_zero_attn: bool, dropout_p: float, out_proj_weight: Tensor,
        out_proj_bias: Tensor | None, training: bool = True,
        key_padding_mask: Tensor | None = None, need_weights: bool = True,
        attn_mask: Tensor | None = None, use_separate_proj_weight: bool = False,
        q_proj_weight: Tensor | None = None, k_proj_weight: Tensor | None = None,
        v_proj_weight: Tensor | None = None, static_k: Tensor | None = None,
        static_v: Tensor | None = None, average_attn_weights: bool = True,
        is_causal: bool = False) -> tuple[Tensor, Tensor | None]:
    """Multi-head attention over sequence-first inputs, PyTorch's functional form.

    Args:
        query: (L, N, E) or unbatched (L, E).
        key: (S, N, Ek) or (S, Ek).
        value: (S, N, Ev) or (S, Ev).
        embed_dim_to_check: E, checked against the query.
        num_heads: number of heads (E must be divisible by it).
        in_proj_weight, in_proj_bias: packed (3E, E) / (3E) q, k, v projection.
        bias_k, bias_v: optional (1, 1, E) biases appended to the keys/values.
        add_zero_attn: append a zero key/value.
        dropout_p: dropout on the attention weights (only when training).
        out_proj_weight, out_proj_bias: the output projection.
        key_padding_mask: (N, S) bool (True = ignore) or float (added).
        need_weights: also return the attention weights.
        attn_mask: (L, S) or (N * num_heads, L, S), bool (True = ignore) or float (added).
        use_separate_proj_weight: use q_proj_weight/k_proj_weight/v_proj_weight.
        average_attn_weights: average the returned weights over heads.
        is_causal: a hint that attn_mask is the causal mask.

    Returns:
        (attn_output (L, N, E), attn_weights (N, L, S) or (N, num_heads, L, S) or None).
    """
    is_batched = _mha_shape_check(query, key, value, key_padding_mask, attn_mask, num_heads)
    if not is_batched:
        query, key, value = query.unsqueeze(1), key.unsqueeze(1), value.unsqueeze(1)
        if key_padding_mask is not None:
            key_padding_mask = key_padding_mask.unsqueeze(0)
    tgt_len, bsz, embed_dim = query.shape
    src_len = key.shape[0]
    key_padding_mask = _canonical_mask(key_padding_mask, "key_padding_mask",
                                       _none_or_dtype(attn_mask), "attn_mask", query.dtype)
    if is_causal and attn_mask is None:
        raise RuntimeError(
            "Need attn_mask if specifying the is_causal hint. You may use the Transformer module "
            "method `generate_square_subsequent_mask` to create this mask.")
    if is_causal and key_padding_mask is None and not need_weights:
        attn_mask = None
    else:
        attn_mask = _canonical_mask(attn_mask, "attn_mask", None, "", query.dtype,
                                    check_other=False)
        if key_padding_mask is not None:
            is_causal = False
    if embed_dim != embed_dim_to_check:
        raise RuntimeError(f"multi_head_attention_forward: was expecting embedding dimension of "
                           f"{embed_dim_to_check}, but got {embed_dim} (query shape "
                           f"{tuple(query.shape)})")
    head_dim = embed_dim // num_heads
    if head_dim * num_heads != embed_dim:
        raise RuntimeError(f"embed_dim {embed_dim} not divisible by num_heads {num_heads}")
    if use_separate_proj_weight:
        if tuple(key.shape[:2]) != tuple(value.shape[:2]):
            raise RuntimeError(f"key's sequence and batch dims {tuple(key.shape[:2])} do not "
                               f"match value's {tuple(value.shape[:2])}")
        b_q = b_k = b_v = None
        if in_proj_bias is not None:
            b_q, b_k, b_v = (in_proj_bias[:embed_dim], in_proj_bias[embed_dim:2 * embed_dim],
                             in_proj_bias[2 * embed_dim:])
        q = _linear(query, q_proj_weight, b_q)
        k = _linear(key, k_proj_weight, b_k)
        v = _linear(value, v_proj_weight, b_v)
    else:
        if key.shape != value.shape:
            raise RuntimeError(f"key shape {tuple(key.shape)} does not match value shape "
                               f"{tuple(value.shape)}")
        q, k, v = _in_projection_packed(query, key, value, in_proj_weight, in_proj_bias)

    if attn_mask is not None:
        if attn_mask.ndim == 2:
            if tuple(attn_mask.shape) != (tgt_len, src_len):
                raise RuntimeError(f"The shape of the 2D attn_mask is {tuple(attn_mask.shape)}, "
                                   f"but should be {(tgt_len, src_len)}.")
            attn_mask = attn_mask.unsqueeze(0)
        elif attn_mask.ndim == 3:
            want = (bsz * num_heads, tgt_len, src_len)
            if tuple(attn_mask.shape) != want:
                raise RuntimeError(f"The shape of the 3D attn_mask is {tuple(attn_mask.shape)}, "
                                   f"but should be {want}.")
        else:
            raise RuntimeError(f"attn_mask's dimension {attn_mask.ndim} is not supported")

    if bias_k is not None and bias_v is not None:
        if static_k is not None or static_v is not None:
            raise RuntimeError("bias cannot be added to static key or value.")
        k = cat([k, bias_k.expand(1, bsz, embed_dim)])
        v = cat([v, bias_v.expand(1, bsz, embed_dim)])
        attn_mask = _pad_last(attn_mask)
        key_padding_mask = _pad_last(key_padding_mask)
    elif bias_k is not None or bias_v is not None:
        raise RuntimeError("bias_k and bias_v must be given together")

    q = q.reshape(tgt_len, bsz * num_heads, head_dim).transpose(0, 1)
    k = k.reshape(k.shape[0], bsz * num_heads, head_dim).transpose(0, 1) if static_k is None \
        else static_k
    v = v.reshape(v.shape[0], bsz * num_heads, head_dim).transpose(0, 1) if static_v is None \
        else static_v
    if add_zero_attn:
        zshape = (bsz * num_heads, 1, head_dim)
        k = cat([k, zeros(zshape, dtype=k.dtype, device=k.device)], dim=1)
        v = cat([v, zeros(zshape, dtype=v.dtype, device=v.device)], dim=1)
        attn_mask = _pad_last(attn_mask)
        key_padding_mask = _pad_last(key_padding_mask)
    src_len = k.shape[1]

    if key_padding_mask is not None:
        if tuple(key_padding_mask.shape) != (bsz, src_len):
            raise RuntimeError(f"expecting key_padding_mask shape of {(bsz, src_len)}, but got "
                               f"{tuple(key_padding_mask.shape)}")
        kpm = key_padding_mask.reshape(bsz, 1, 1, src_len).expand(bsz, num_heads, 1, src_len)
        kpm = kpm.reshape(bsz * num_heads, 1, src_len)
        attn_mask = kpm if attn_mask is None else attn_mask + kpm

    if not training:
        dropout_p = 0.0

    if need_weights:
        q_scaled = q * math.sqrt(1.0 / float(head_dim))
        scores = bmm(q_scaled, k.transpose(-2, -1))
        if attn_mask is not None:
            scores = scores + attn_mask
        weights = softmax(scores, -1)  # fully masked rows give nan, as in PyTorch
        if dropout_p > 0.0:
            weights = _dropout(weights, dropout_p)
        out = bmm(weights, v)
        out = out.transpose(0, 1).reshape(tgt_len * bsz, embed_dim)
        out = _linear(out, out_proj_weight, out_proj_bias).reshape(tgt_len, bsz, -1)
        weights = weights.reshape(bsz, num_heads, tgt_len, src_len)
        if average_attn_weights:
            weights = weights.mean(1)
        if not is_batched:
            out, weights = out.squeeze(1), weights.squeeze(0)
        return out, weights

    if attn_mask is not None:
        if attn_mask.shape[0] == 1 and attn_mask.ndim == 3:
            attn_mask = attn_mask.unsqueeze(0)
        else:
            attn_mask = attn_mask.reshape(bsz, num_heads, -1, src_len)
    q = q.reshape(bsz, num_heads, tgt_len, head_dim)
    k = k.reshape(bsz, num_heads, src_len, head_dim)
    v = v.reshape(bsz, num_heads, src_len, head_dim)
    out = scaled_dot_product_attention(q, k, v, attn_mask, dropout_p, is_causal)
    out = out.permute(2, 0, 1, 3).reshape(bsz * tgt_len, embed_dim)
    out = _linear(out, out_proj_weight, out_proj_bias).reshape(tgt_len, bsz, -1)
    if not is_batched:
        out = out.squeeze(1)
    return out, None


def _in_projection_packed(q, k, v, w, b):
    """Project q, k, v with the packed (3E, E) weight (one matmul when q, k, v are the same)."""
    E = q.shape[-1]
    if k is v and q is k:
        proj = _linear(q, w, b)
        return proj[..., :E], proj[..., E:2 * E], proj[..., 2 * E:]
    bq = bk = bv = None
    if b is not None:
        bq, bk, bv = b[:E], b[E:2 * E], b[2 * E:]
    return (_linear(q, w[:E], bq), _linear(k, w[E:2 * E], bk), _linear(v, w[2 * E:], bv))


def _pad_last(mask):
    """Append one zero column to a float mask (the extra key added by bias_k/add_zero_attn)."""
    if mask is None:
        return None
    pad = zeros(tuple(mask.shape[:-1]) + (1,), dtype=mask.dtype, device=mask.device)
    return cat([mask, pad], dim=-1)
