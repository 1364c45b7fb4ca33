"""Eager-mode overhead: per-op time on tiny tensors, a tiny MLP step, and a large elementwise op.

Prints medians (us or ms) for dyngraph, numpy and PyTorch (when installed) measured side by side in
one run, with ratios. Not a test: run `python benchmarks/eager_overhead.py`.
"""

from __future__ import annotations

import statistics
import time

import numpy as np

import dyngraph as dg

try:
    import torch
    torch.set_num_threads(1)
except ImportError:
    torch = None


def bench(fn, *, repeat: int = 7, min_time: float = 0.05) -> float:
    """Median seconds per call over `repeat` rounds of enough calls to last `min_time`."""
    fn()
    n = 1
    while True:
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        dt = time.perf_counter() - t0
        if dt > min_time / 4:
            break
        n *= 4
    n = max(1, int(n * min_time / max(dt, 1e-9)))
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        times.append((time.perf_counter() - t0) / n)
    return statistics.median(times)


def row(name, dg_t, np_t=None, torch_t=None, unit="us"):
    scale = 1e6 if unit == "us" else 1e3
    cells = [f"{name:<34}", f"dyngraph {dg_t * scale:9.2f} {unit}"]
    if np_t is not None:
        cells.append(f"numpy {np_t * scale:9.2f} {unit} ({dg_t / np_t:5.2f}x)")
    if torch_t is not None:
        cells.append(f"torch {torch_t * scale:9.2f} {unit} ({dg_t / torch_t:5.2f}x)")
    print("  ".join(cells))


def tiny_ops():
    a_np = np.random.rand(16).astype(np.float32)
    b_np = np.random.rand(16).astype(np.float32)
    m_np = np.random.rand(4, 4).astype(np.float32)
    for rg in (False, True):
        a = dg.tensor(a_np, requires_grad=rg)
        b = dg.tensor(b_np, requires_grad=rg)
        m = dg.tensor(m_np, requires_grad=rg)
        ta = tb = tm = None
        if torch is not None:
            ta = torch.tensor(a_np, requires_grad=rg)
            tb = torch.tensor(b_np, requires_grad=rg)
            tm = torch.tensor(m_np, requires_grad=rg)
        sfx = " (requires_grad)" if rg else ""
        cases = [  # default arguments bind this iteration's tensors
            ("add", lambda a=a, b=b: a + b, lambda: a_np + b_np, lambda ta=ta, tb=tb: ta + tb),
            ("mul", lambda a=a, b=b: a * b, lambda: a_np * b_np, lambda ta=ta, tb=tb: ta * tb),
            ("matmul 4x4", lambda m=m: m @ m, lambda: m_np @ m_np, lambda tm=tm: tm @ tm),
            ("sum", lambda a=a: a.sum(), lambda: a_np.sum(), lambda ta=ta: ta.sum()),
            ("relu", lambda a=a: a.relu(), lambda: np.maximum(a_np, 0), lambda ta=ta: ta.relu()),
        ]
        for name, f_dg, f_np, f_t in cases:
            row(name + sfx, bench(f_dg), bench(f_np), bench(f_t) if torch is not None else None)


def tiny_mlp():
    rng = np.random.default_rng(0)
    x_np = rng.standard_normal((16, 16)).astype(np.float32)
    w1_np = rng.standard_normal((16, 16)).astype(np.float32)
    w2_np = rng.standard_normal((16, 16)).astype(np.float32)
    w1 = dg.tensor(w1_np, requires_grad=True)
    w2 = dg.tensor(w2_np, requires_grad=True)
    x = dg.tensor(x_np)

    def step_dg():
        loss = ((x @ w1).relu() @ w2).sum()
        loss.backward()
        w1.grad = None
        w2.grad = None

    def step_np():
        h = x_np @ w1_np
        r = np.maximum(h, 0)
        y = r @ w2_np
        gy = np.ones_like(y)
        gw2 = r.T @ gy
        gr = gy @ w2_np.T
        gh = gr * (h > 0)
        gw1 = x_np.T @ gh
        return gw1, gw2

    t_t = None
    if torch is not None:
        tw1 = torch.tensor(w1_np, requires_grad=True)
        tw2 = torch.tensor(w2_np, requires_grad=True)
        tx = torch.tensor(x_np)

        def step_t():
            loss = ((tx @ tw1).relu() @ tw2).sum()
            loss.backward()
            tw1.grad = None
            tw2.grad = None
        t_t = bench(step_t)
    row("MLP 16-16-16 fwd+bwd", bench(step_dg), bench(step_np), t_t)


def large_elementwise():
    n = 16 * 1024 * 1024
    a_np = np.random.rand(n).astype(np.float32)
    b_np = np.random.rand(n).astype(np.float32)
    a, b = dg.from_numpy(a_np), dg.from_numpy(b_np)
    t_t = None
    if torch is not None:
        ta, tb = torch.from_numpy(a_np), torch.from_numpy(b_np)
        t_t = bench(lambda: ta * tb, repeat=5, min_time=0.2)
    t_dg = bench(lambda: a * b, repeat=5, min_time=0.2)
    t_np = bench(lambda: a_np * b_np, repeat=5, min_time=0.2)
    row("mul 16M float32", t_dg, t_np, t_t, unit="ms")
    gbs = 3 * n * 4 / t_dg / 1e9
    print(f"{'':<34}  dyngraph achieved {gbs:.1f} GB/s (3 x 64 MiB moved; copy bandwidth here "
          "is about 40 GB/s)")


if __name__ == "__main__":
    print(f"dyngraph {dg.__version__}, numpy {np.__version__}, "
          f"torch {torch.__version__ if torch else 'not installed'} (1 thread)")
    # Warm up the CPU clock and the caches before the first measured case.
    _w = dg.rand(16)
    _t0 = time.perf_counter()
    while time.perf_counter() - _t0 < 0.5:
        _w + _w
    tiny_ops()
    tiny_mlp()
    large_elementwise()
