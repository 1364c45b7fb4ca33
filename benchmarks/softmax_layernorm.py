"""Softmax and layer norm over (4096, 4096) float32: one fused LLVM kernel each.

dyngraph (backend="llvm") against dyngraph eager (numpy), torch eager and, with
--torch-compile, torch.compile. Prints median times, GB/s (input read + output written) and the
ratios, all measured in this run, with the copy bandwidth (np.copyto of x, one thread).

    python benchmarks/softmax_layernorm.py [--rows 4096] [--cols 4096] [--repeat 9]
                                           [--threads 2] [--torch-compile]
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import dyngraph as dg  # noqa: E402
import dyngraph.nn.functional as F  # noqa: E402
from _timing import median_time  # noqa: E402
from runtime import llvm_backend  # noqa: E402


def bench(name, fn, tfn, tensors, arrays, torch, args) -> None:
    """Time one workload: dyngraph eager, dyngraph llvm, torch eager (and torch.compile)."""
    tx, tw, tb = tensors
    x, w, b = arrays
    nbytes = 2 * x.nbytes
    print(f"\n{name} over {x.shape} float32")
    rows = []

    def row(label, s, rows=rows):
        rows.append((label, s))
        print(f"  {label:<22} {s * 1e3:8.2f} ms  {nbytes / s / 1e9:6.1f} GB/s", flush=True)

    row("dyngraph eager", median_time(lambda: fn(tx, tw, tb), args.repeat))
    cf = dg.compile(fn, backend="llvm")
    t0 = time.perf_counter()
    cf(tx, tw, tb)
    cf(tx, tw, tb)
    print(f"  (trace + compile + first run {time.perf_counter() - t0:.2f} s)")
    row("dyngraph llvm", median_time(lambda: cf(tx, tw, tb), args.repeat))
    diff = np.max(np.abs(cf(tx, tw, tb).numpy() - fn(tx, tw, tb).numpy()))
    print(f"  max abs difference vs eager: {diff:.2e}")
    if torch is not None:
        px, pw, pb = (torch.from_numpy(a) for a in (x, w, b))
        row("torch eager", median_time(lambda: tfn(px, pw, pb), args.repeat))
        if args.torch_compile:
            ctf = torch.compile(tfn)
            t0 = time.perf_counter()
            ctf(px, pw, pb)
            print(f"  (torch.compile first call {time.perf_counter() - t0:.1f} s)")
            row("torch.compile", median_time(lambda: ctf(px, pw, pb), args.repeat))
    ours = dict(rows)["dyngraph llvm"]
    print("  ratios (time / dyngraph llvm): " +
          ", ".join(f"{label} {s / ours:.2f}x" for label, s in rows))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=4096)
    ap.add_argument("--cols", type=int, default=4096)
    ap.add_argument("--repeat", type=int, default=9)
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--torch-compile", action="store_true")
    args = ap.parse_args()
    llvm_backend.set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((args.rows, args.cols), dtype=np.float32)
    w = rng.standard_normal(args.cols, dtype=np.float32)
    b = rng.standard_normal(args.cols, dtype=np.float32)
    tx, tw, tb = dg.from_numpy(x), dg.from_numpy(w), dg.from_numpy(b)
    dst = np.empty_like(x)
    copy_s = median_time(lambda: np.copyto(dst, x), args.repeat)
    copy_bw = 2 * x.nbytes / copy_s / 1e9
    print(f"copy bandwidth (np.copyto, {x.nbytes >> 20} MB): {copy_bw:.1f} GB/s")
    try:
        import torch
        torch.set_num_threads(args.threads)
    except ImportError:
        torch = None

    workloads = {
        "softmax": (lambda x, w, b: F.softmax(x, -1),
                    lambda x, w, b: torch.softmax(x, -1)),
        "layer_norm": (lambda x, w, b: F.layer_norm(x, (x.shape[-1],), w, b),
                       lambda x, w, b: torch.nn.functional.layer_norm(x, (x.shape[-1],), w, b)),
    }
    for name, (fn, tfn) in workloads.items():
        bench(name, fn, tfn, (tx, tw, tb), (x, w, b), torch, args)

if __name__ == "__main__":
    main()
