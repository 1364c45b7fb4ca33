"""Compiled code at sizes it was not traced at: a graph made symbolic by a size-only recompile
against the same function compiled for one size (static), eager dyngraph, and torch (eager,
and torch.compile(dynamic=True) with --torch-compile), in one run.

Two workloads: the fused chain gelu_tanh(x*w+b)*sigmoid(x) over 1M float32 (GB/s: x, w, b read
and the result written), and an MLP 784-512-512-10 training step (SGD) at batch 96. The
symbolic graph is traced at other sizes (first at n+1 and n+2, so the measured size is new to
it); the static one at the measured size itself.

    python benchmarks/dynamic_shapes.py [--repeat 15] [--torch-compile]
"""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import dyngraph as dg  # noqa: E402
import dyngraph.nn as nn  # noqa: E402
import dyngraph.nn.functional as F  # noqa: E402
from _timing import median_time  # noqa: E402


def chain(x, w, b):
    return F.gelu(x * w + b, approximate="tanh") * dg.sigmoid(x)


def mlp():
    dg.manual_seed(0)
    m = nn.Sequential(nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 512), nn.ReLU(),
                      nn.Linear(512, 10))
    return m, dg.optim.SGD(m.parameters(), lr=0.01)


def step(m, opt, x, t):
    opt.zero_grad()
    loss = F.cross_entropy(m(x), t)
    loss.backward()
    opt.step()
    return loss


def symbolic(cf, make, n):
    """Warm `cf` at n+1 and n+2 (the second size makes it symbolic), then once at n."""
    for k in (n + 1, n + 2, n):
        cf(*make(k))
    text = str(cf.explain())
    assert "symbolic" in text, text
    return cf


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=15)
    ap.add_argument("--torch-compile", action="store_true")
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    try:
        import torch
    except ImportError:
        torch = None

    n = 1 << 20
    def make_chain(k):
        return [dg.from_numpy(rng.standard_normal(k, dtype=np.float32)) for _ in range(3)]
    xs = make_chain(n)
    nbytes = 4 * xs[0].numpy().nbytes
    rows = {}
    static = dg.compile(chain, backend="llvm")
    static(*xs)
    rows["static"] = median_time(lambda: static(*xs), args.repeat)
    sym = symbolic(dg.compile(chain, backend="llvm"), make_chain, n)
    rows["symbolic"] = median_time(lambda: sym(*xs), args.repeat)
    rows["eager"] = median_time(lambda: chain(*xs), args.repeat)
    if torch is not None:
        txs = [torch.from_numpy(a.numpy()) for a in xs]

        def tchain(x, w, b):
            return torch.nn.functional.gelu(x * w + b, approximate="tanh") * torch.sigmoid(x)
        rows["torch eager"] = median_time(lambda: tchain(*txs), args.repeat)
        if args.torch_compile:
            ct = torch.compile(tchain, dynamic=True)
            ct(*txs)
            rows["torch.compile dynamic"] = median_time(lambda: ct(*txs), args.repeat)
    print(f"gelu chain, {n} float32 (compiled at other sizes = symbolic):")
    for name, s in rows.items():
        print(f"  {name:<24} {s * 1e3:7.2f} ms  {nbytes / s / 1e9:5.1f} GB/s  "
              f"{s / rows['symbolic']:5.2f}x symbolic")

    batch = 96
    def make_batch(k):
        return (dg.from_numpy(rng.standard_normal((k, 784), dtype=np.float32)),
                dg.from_numpy(rng.integers(0, 10, k)))
    x, t = make_batch(batch)
    rows = {}
    m, opt = mlp()
    cstatic = dg.compile(step, backend="llvm")
    cstatic(m, opt, x, t)
    rows["static"] = median_time(lambda: cstatic(m, opt, x, t), args.repeat)
    m, opt = mlp()
    csym = dg.compile(step, backend="llvm")
    symbolic(csym, lambda k: (m, opt, *make_batch(k)), batch)
    rows["symbolic"] = median_time(lambda: csym(m, opt, x, t), args.repeat)
    m, opt = mlp()
    rows["eager"] = median_time(lambda: step(m, opt, x, t), args.repeat)
    if torch is not None:
        torch.manual_seed(0)
        tm = torch.nn.Sequential(torch.nn.Linear(784, 512), torch.nn.ReLU(),
                                 torch.nn.Linear(512, 512), torch.nn.ReLU(),
                                 torch.nn.Linear(512, 10))
        topt = torch.optim.SGD(tm.parameters(), lr=0.01)
        tx, tt = torch.from_numpy(x.numpy()), torch.from_numpy(t.numpy())

        def tstep():
            topt.zero_grad()
            loss = torch.nn.functional.cross_entropy(tm(tx), tt)
            loss.backward()
            topt.step()
            return loss
        rows["torch eager"] = median_time(tstep, args.repeat)
    flops = 6 * batch * (784 * 512 + 512 * 512 + 512 * 10)
    print(f"MLP 784-512-512-10 SGD step, batch {batch}:")
    for name, s in rows.items():
        print(f"  {name:<24} {s * 1e3:7.3f} ms  {flops / s / 1e9:5.1f} GFLOP/s  "
              f"{s / rows['symbolic']:5.2f}x symbolic")


if __name__ == "__main__":
    main()
