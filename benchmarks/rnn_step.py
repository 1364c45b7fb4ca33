"""Eager speed of the recurrent layers: LSTM/GRU forward + backward, dyngraph vs PyTorch.

Each configuration builds the same layer in both libraries (dyngraph loaded with torch's weights),
then times one training-style call (forward, sum of the output, backward into the input and every
parameter). dyngraph and torch calls alternate round by round, so a change in machine load hits
both; medians of the rounds are printed with their ratio. `--composed` also times dyngraph's
per-step composed path (the layers without the fused lstm_layer/gru_layer ops). torch runs on one
thread; set OPENBLAS_NUM_THREADS=1 for a one-thread comparison. Not a test:
`OPENBLAS_NUM_THREADS=1 python benchmarks/rnn_step.py [--rounds 9] [--composed]`.
"""

from __future__ import annotations

import argparse
import functools
import statistics
import time

import numpy as np

import dyngraph as dg
from dyngraph import nn
from dyngraph.nn.modules import rnn as _rnn

try:
    import torch
    torch.set_num_threads(1)
except ImportError:
    torch = None

# (layer, input_size, hidden_size, num_layers, bidirectional, seq_len, batch)
CONFIGS = [
    ("LSTM", 32, 48, 1, True, 8, 32),
    ("LSTM", 32, 48, 2, True, 16, 32),
    ("GRU", 32, 48, 2, True, 16, 32),
    ("LSTM", 128, 256, 1, False, 32, 64),
    ("GRU", 128, 256, 1, False, 32, 64),
]


def _layers(cls, i, h, layers, bi):
    kw = dict(num_layers=layers, bidirectional=bi)
    d = getattr(nn, cls)(i, h, **kw)
    if torch is None:
        return d, None
    torch.manual_seed(0)
    t = getattr(torch.nn, cls)(i, h, **kw)
    d.load_state_dict({k: dg.tensor(v.detach().numpy()) for k, v in t.state_dict().items()})
    return d, t


def _dg_step(layer, x):
    xt = dg.tensor(x, requires_grad=True)
    layer(xt)[0].sum().backward()


def _torch_step(layer, x):
    xt = torch.tensor(x, requires_grad=True)
    layer(xt)[0].sum().backward()


def _composed_step(layer, x):
    fused = _rnn._fusable
    _rnn._fusable = lambda x: False
    try:
        _dg_step(layer, x)
    finally:
        _rnn._fusable = fused


def _time(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def run(rounds: int, composed: bool) -> None:
    print(f"forward + backward, float32, median of {rounds} alternating rounds (ms)")
    for cls, i, h, layers, bi, L, N in CONFIGS:
        d, t = _layers(cls, i, h, layers, bi)
        x = np.random.default_rng(0).standard_normal((L, N, i)).astype(np.float32)
        fns = {"dyngraph": functools.partial(_dg_step, d, x)}
        if t is not None:
            fns["torch"] = functools.partial(_torch_step, t, x)
        if composed:
            fns["composed"] = functools.partial(_composed_step, d, x)
        times = {k: [] for k in fns}
        for fn in fns.values():
            fn()  # warm up
        for _ in range(rounds):
            for k, fn in fns.items():
                times[k].append(_time(fn))
        med = {k: statistics.median(v) * 1e3 for k, v in times.items()}
        name = f"{cls} {i}->{h} x{layers}{' bi' if bi else ''} L={L} N={N}"
        cells = [f"{name:<32}", f"dyngraph {med['dyngraph']:8.2f}"]
        if "torch" in med:
            cells.append(f"torch {med['torch']:8.2f} ({med['dyngraph'] / med['torch']:4.2f}x)")
        if "composed" in med:
            cells.append(f"composed {med['composed']:8.2f} "
                         f"({med['composed'] / med['dyngraph']:4.1f}x slower)")
        print("  ".join(cells))


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=9)
    ap.add_argument("--composed", action="store_true",
                    help="also time the per-step composed path (no fused ops)")
    args = ap.parse_args()
    run(args.rounds, args.composed)
