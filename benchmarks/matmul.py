"""Contractions on the LLVM backend: a compiled 1024^3 matmul and a linear layer with its bias and
gelu epilogue against numpy's matmul (the issue-5 target: within 5% at 1024^3), torch eager and,
with --torch-compile, torch.compile; plus skinny products (batch-8 layers) against OpenBLAS.

Prints medians, GFLOP/s and the ratios, all measured in one run. Not a test:
`python benchmarks/matmul.py [--threads 2] [--repeat 9] [--torch-compile]`.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

if __name__ == "__main__":
    _p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    _p.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    _p.add_argument("--repeat", type=int, default=9)
    _p.add_argument("--torch-compile", action="store_true")
    ARGS = _p.parse_args()
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(ARGS.threads)

import numpy as np  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import dyngraph as dg  # noqa: E402
import dyngraph.nn.functional as F  # noqa: E402
from _timing import median_time  # noqa: E402

try:
    import torch
except ImportError:  # the comparison with PyTorch is optional
    torch = None


def rows_for(name, flops, fns, repeat):
    """Time every implementation (they take turns in each round) and print one line."""
    times = {k: [] for k in fns}
    for fn in fns.values():
        for _ in range(2):
            fn()
    for _ in range(repeat):
        for k, fn in fns.items():
            times[k].append(median_time(fn, 1))
    med = {k: float(np.median(v)) for k, v in times.items()}
    ours = med["dyngraph llvm"]
    cells = [f"{k} {v * 1e3:.3f} ms ({flops / v / 1e9:.0f} GFLOP/s)" for k, v in med.items()]
    ratios = [f"{k}/llvm {v / ours:.2f}x" for k, v in med.items() if k != "dyngraph llvm"]
    print(f"{name}: " + "  ".join(cells + ratios), flush=True)


def main() -> None:
    if torch is not None:
        torch.set_num_threads(ARGS.threads)
    print(f"numpy {np.__version__}; torch {torch.__version__ if torch else 'not installed'}; "
          f"{ARGS.threads} thread(s); medians")
    rng = np.random.default_rng(0)

    def f32(*shape):
        return rng.standard_normal(shape).astype(np.float32)

    # 1024^3 matmul
    a, b = f32(1024, 1024), f32(1024, 1024)
    ta, tb = dg.from_numpy(a), dg.from_numpy(b)
    mm = dg.compile(lambda x, y: x @ y, backend="llvm")
    fns = {"dyngraph llvm": lambda: mm(ta, tb), "numpy": lambda: a @ b}
    if torch is not None:
        pa, pb = torch.from_numpy(a), torch.from_numpy(b)
        fns["torch eager"] = lambda: pa @ pb
    rows_for("matmul 1024^3", 2 * 1024 ** 3, fns, ARGS.repeat)

    # linear + bias + gelu epilogue (the bias add and gelu fuse into one kernel after the GEMM)
    x, w, bias = f32(1024, 1024), f32(1024, 1024), f32(1024)
    tx, tw, tbias = dg.from_numpy(x), dg.from_numpy(w), dg.from_numpy(bias)
    lin = dg.compile(lambda x, w, b: F.gelu(F.linear(x, w, b), approximate="tanh"),
                     backend="llvm")

    def np_lin():
        y = x @ w.T
        y += bias
        return 0.5 * y * (1 + np.tanh(0.7978845608028654 * (y + 0.044715 * y ** 3)))
    fns = {"dyngraph llvm": lambda: lin(tx, tw, tbias), "numpy": np_lin}
    if torch is not None:
        px, pw, pbias = (torch.from_numpy(v) for v in (x, w, bias))

        def t_lin(x, w, b):
            return torch.nn.functional.gelu(torch.nn.functional.linear(x, w, b),
                                            approximate="tanh")
        fns["torch eager"] = lambda: t_lin(px, pw, pbias)
        if ARGS.torch_compile:
            ct = torch.compile(t_lin)
            t0 = time.perf_counter()
            ct(px, pw, pbias)
            print(f"(torch.compile first call: {time.perf_counter() - t0:.1f} s)")
            fns["torch.compile"] = lambda: ct(px, pw, pbias)
    rows_for("gelu(linear) 1024x1024x1024", 2 * 1024 ** 3, fns, ARGS.repeat)

    # skinny products: batch-8 layer, its input gradient and weight gradient (1 BLAS thread)
    xs, ws, gs = f32(8, 784), f32(512, 784), f32(8, 512)
    txs, tws, tgs = dg.from_numpy(xs), dg.from_numpy(ws), dg.from_numpy(gs)
    cases = [("x @ W.T (8x784 @ 784x512)", lambda x, w, g: x @ w.t(), lambda: xs @ ws.T),
             ("g @ W (8x512 @ 512x784)", lambda x, w, g: g @ w, lambda: gs @ ws),
             ("g.T @ x (512x8 @ 8x784)", lambda x, w, g: g.t() @ x, lambda: gs.T @ xs)]
    for name, fn, ref in cases:
        cf = dg.compile(fn, backend="llvm")
        rows_for(name, 2 * 8 * 784 * 512, {"dyngraph llvm": lambda cf=cf: cf(txs, tws, tgs),
                                           "numpy": ref}, ARGS.repeat * 5)


if __name__ == "__main__":
    main()
