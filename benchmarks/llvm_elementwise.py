"""Fused elementwise kernel: gelu_tanh(x*w+b) * sigmoid(x) over 16M float32.

dyngraph (backend="llvm", one fused kernel) against numpy (with out=, the best it can do),
torch eager and, with --torch-compile, torch.compile (it takes seconds to compile). Prints the
median time of each, GB/s (bytes of x, w, b read plus the result written), the ratios, and the
copy bandwidth measured in the same run (np.copyto of x, one thread: the memory-speed yardstick).

    python benchmarks/llvm_elementwise.py [--n 16777216] [--repeat 15] [--threads 2]
                                          [--torch-compile]
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import dyngraph as dg  # noqa: E402
import dyngraph.nn.functional as F  # noqa: E402
from _timing import median_time  # noqa: E402
from runtime import llvm_backend  # noqa: E402

C = math.sqrt(2.0 / math.pi)


def numpy_out(x, w, b, out, tmp):
    np.multiply(x, w, out=out)
    out += b                                   # u = x*w + b
    np.multiply(out, out, out=tmp)
    tmp *= out
    tmp *= 0.044715
    tmp += out
    tmp *= C
    np.tanh(tmp, out=tmp)
    tmp += 1.0
    out *= tmp
    out *= 0.5                                 # gelu_tanh(u)
    np.negative(x, out=tmp)
    np.exp(tmp, out=tmp)
    tmp += 1.0
    out /= tmp                                 # * sigmoid(x)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1 << 24)
    ap.add_argument("--repeat", type=int, default=15)
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--torch-compile", action="store_true")
    args = ap.parse_args()
    n = args.n
    rng = np.random.default_rng(0)
    x = rng.standard_normal(n, dtype=np.float32)
    w = np.float32(0.7) + np.zeros(n, dtype=np.float32) * 0   # full-size, like the prototype
    b = rng.standard_normal(n, dtype=np.float32) * np.float32(0.1)
    nbytes = x.nbytes * 4                      # x, w, b read, out written

    rows = []

    def row(name, seconds):
        rows.append((name, seconds))
        print(f"{name:<28} {seconds * 1e3:8.2f} ms  {nbytes / seconds / 1e9:6.1f} GB/s", flush=True)

    out, tmp = np.empty_like(x), np.empty_like(x)
    copy_s = median_time(lambda: np.copyto(out, x), args.repeat)
    copy_bw = 2 * x.nbytes / copy_s / 1e9
    print(f"copy bandwidth (np.copyto, {x.nbytes >> 20} MB): {copy_bw:.1f} GB/s", flush=True)
    row("numpy (out=)", median_time(lambda: numpy_out(x, w, b, out, tmp), args.repeat))

    def f(x, w, b):
        return F.gelu(x * w + b, approximate="tanh") * dg.sigmoid(x)

    tx, tw, tb = dg.from_numpy(x), dg.from_numpy(w), dg.from_numpy(b)
    t0 = time.perf_counter()
    cf = dg.compile(f, backend="llvm")
    cf(tx, tw, tb)
    cf(tx, tw, tb)
    print(f"(dyngraph trace + compile + first run: {time.perf_counter() - t0:.2f} s)")
    for threads in sorted({1, args.threads}):
        llvm_backend.set_num_threads(threads)
        row(f"dyngraph llvm, {threads} thread(s)", median_time(lambda: cf(tx, tw, tb),
                                                              args.repeat))
    ref = numpy_out(x, w, b, out, tmp)
    got = cf(tx, tw, tb).numpy()
    print(f"max abs difference vs numpy: {np.max(np.abs(got - ref)):.2e}")

    try:
        import torch
    except ImportError:
        torch = None
    if torch is not None:
        torch.set_num_threads(args.threads)
        px, pw, pb = (torch.from_numpy(a) for a in (x, w, b))

        def tf(x, w, b):
            return (torch.nn.functional.gelu(x * w + b, approximate="tanh") * torch.sigmoid(x))
        row("torch eager", median_time(lambda: tf(px, pw, pb), args.repeat))
        if args.torch_compile:
            t0 = time.perf_counter()
            ctf = torch.compile(tf)
            ctf(px, pw, pb)
            print(f"(torch.compile first call: {time.perf_counter() - t0:.1f} s)")
            row("torch.compile", median_time(lambda: ctf(px, pw, pb), args.repeat))
    best = min(s for name, s in rows if name.startswith("dyngraph"))
    print(f"dyngraph's best: {nbytes / best / 1e9 / copy_bw:.0%} of the copy bandwidth")
    print("\nratios (time / dyngraph's best):")
    for name, s in rows:
        print(f"  {name:<28} {s / best:6.2f}x")


if __name__ == "__main__":
    main()
