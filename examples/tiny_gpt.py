"""A character-level transformer (a tiny GPT) trained for about a minute on text that ships with
Python: the source of the standard library's `textwrap` module. Prints the loss falling and a
sample. Run: python examples/tiny_gpt.py [--seconds 60]
"""

from __future__ import annotations

import argparse
import inspect
import math
import textwrap
import time

import dyngraph as dg
import dyngraph.nn as nn
import dyngraph.nn.functional as F


class TinyGPT(nn.Module):
    """Token + position embeddings, causal TransformerEncoder layers (pre-norm), a linear head."""

    def __init__(self, vocab: int, ctx: int, d: int = 64, heads: int = 4, layers: int = 2):
        super().__init__()
        self.ctx = ctx
        self.tok = nn.Embedding(vocab, d)
        self.pos = nn.Embedding(ctx, d)
        layer = nn.TransformerEncoderLayer(d, heads, dim_feedforward=4 * d, dropout=0.0,
                                           activation="gelu", batch_first=True, norm_first=True)
        self.blocks = nn.TransformerEncoder(layer, layers)
        self.norm = nn.LayerNorm(d)
        self.head = nn.Linear(d, vocab)

    def forward(self, idx):
        t = idx.shape[1]
        h = self.tok(idx) + self.pos(dg.arange(t))
        mask = dg.triu(dg.full((t, t), -math.inf), diagonal=1)
        h = self.blocks(h, mask=mask, is_causal=True)
        return self.head(self.norm(h))

    @dg.no_grad()
    def generate(self, idx, n: int, temperature: float = 0.8):
        for _ in range(n):
            logits = self(idx[:, -self.ctx:])[:, -1, :] / temperature
            nxt = dg.multinomial(F.softmax(logits, dim=-1), 1)
            idx = dg.cat([idx, nxt], dim=1)
        return idx


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--steps", type=int, default=None, help="stop after this many steps")
    ap.add_argument("--ctx", type=int, default=64)
    ap.add_argument("--batch", type=int, default=32)
    args = ap.parse_args(argv)
    dg.manual_seed(0)
    text = inspect.getsource(textwrap)
    chars = sorted(set(text))
    stoi = {c: i for i, c in enumerate(chars)}
    data = dg.tensor([stoi[c] for c in text])
    print(f"corpus: textwrap.py, {len(text)} characters, vocabulary {len(chars)}")
    model = TinyGPT(len(chars), args.ctx)
    opt = dg.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=0.01)
    n_params = sum(p.numel() for p in model.parameters())
    print(f"model: {n_params} parameters")
    start = time.perf_counter()
    step, first = 0, None
    while time.perf_counter() - start < args.seconds and (args.steps is None or step < args.steps):
        ix = dg.randint(0, len(data) - args.ctx - 1, (args.batch,))
        offs = dg.arange(args.ctx)
        xb = data[ix[:, None] + offs]
        yb = data[ix[:, None] + offs + 1]
        logits = model(xb)
        loss = F.cross_entropy(logits.reshape(-1, len(chars)), yb.reshape(-1))
        opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        first = first if first is not None else loss.item()
        if step % 25 == 0:
            print(f"step {step:4d}  {time.perf_counter() - start:5.1f} s  loss {loss.item():.3f}")
        step += 1
    print(f"loss fell from {first:.3f} to {loss.item():.3f} in {step} steps")
    model.eval()
    prompt = dg.tensor([[stoi[c] for c in "def "]])
    out = model.generate(prompt, 200 if args.steps is None else 20)[0].tolist()
    print("sample:\n" + "".join(chars[i] for i in out))
    return first, loss.item()


if __name__ == "__main__":
    main()
