"""Compiled MLP training steps on the LLVM backend vs a numpy floor, PyTorch eager and
torch.compile, plus the first compile of the step (cold and from the disk cache).

Workloads (issue 5): MLP 784-512-512-10 SGD step at batch 128 and 8 (zero_grad + forward +
cross-entropy + backward + update, all inside one `dyngraph.compile`d function); MLP 16-16-16
forward+backward; the first compile in a fresh process with an empty cache and with the cache
filled. Prints medians, ratios and GFLOP/s from one run. Not a test:
`python benchmarks/mlp_compiled.py [--no-torch-compile] [--threads N]`.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time

if __name__ == "__main__":
    _p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    _p.add_argument("--threads", type=int, default=1, help="BLAS / torch threads")
    _p.add_argument("--repeat", type=int, default=7, help="timing rounds per case")
    _p.add_argument("--no-torch-compile", dest="torch_compile", action="store_false",
                    help="skip torch.compile (it takes seconds to compile)")
    _p.add_argument("--compare-column", action="store_true",
                    help="also time the step with column kernels off (strided bias gradients)")
    _p.add_argument("--clock", choices=("wall", "cpu"), default="wall",
                    help="wall time, or this process's CPU time (less disturbed by other jobs)")
    _p.add_argument("--compile-child", default=None, help=argparse.SUPPRESS)
    ARGS = _p.parse_args()
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(ARGS.threads)

import numpy as np  # noqa: E402

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dyngraph as dg  # noqa: E402
from train_step import (bench, cnn_step_fns, dyngraph_setup, init_weights,  # noqa: E402
                        numpy_step_fn, torch_step_fn)

try:
    import torch
except ImportError:  # the comparison with PyTorch is optional
    torch = None


def dyngraph_compiled_step(weights, x, y):
    """The training step as one compiled function on the LLVM backend."""
    from dyngraph.nn import functional as F
    model, opt, xt, yt = dyngraph_setup(weights, x, y)

    @dg.compile(backend="llvm")
    def step(x, y):
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        return loss

    return lambda: step(xt, yt)


def dyngraph_row_reduction_step(weights, x, y):
    """The compiled step with column kernels off: bias gradients as strided row reductions."""
    from runtime import llvm_backend
    llvm_backend.COLUMN_KERNELS = False
    try:
        fn = dyngraph_compiled_step(weights, x, y)
        for _ in range(3):          # trace, compile, and build every program (backward too)
            fn()
    finally:
        llvm_backend.COLUMN_KERNELS = True
    return fn


def torch_compiled_step(weights, x, y):
    """PyTorch's step under torch.compile (forward+backward+update in one compiled function)."""
    eager = torch_step_fn(weights, x, y)
    return torch.compile(eager)


def mlp_flops(batch: int) -> float:
    """Multiply-adds x2 of forward (1 GEMM per layer) and backward (2 per layer, 1 for layer 1)."""
    sizes = (784, 512, 512, 10)
    f = sum(batch * a * b for a, b in zip(sizes[:-1], sizes[1:]))
    return 2 * (3 * f - batch * 784 * 512)


def small_mlp():
    """MLP 16-16-16 forward + backward (batch 16): the cost is all overhead.

    "dyngraph llvm" compiles the whole step (grads reset, forward, `.sum()`, `backward()`) as
    one function, as the training-step rows do; "llvm fwd, eager bwd" compiles the forward only
    and runs `.sum().backward()` eagerly through the compiled backward graph."""
    rng = np.random.default_rng(0)
    w1, w2 = (rng.standard_normal((16, 16)).astype(np.float32) * 0.25 for _ in range(2))
    x = rng.standard_normal((16, 16)).astype(np.float32)

    def np_step():
        h = x @ w1
        a = np.tanh(h)
        out = a @ w2
        g = np.ones_like(out)
        gw2 = a.T @ g
        ga = g @ w2.T
        gh = ga * (1 - a * a)
        return x.T @ gh, gw2

    fns = {"numpy floor": np_step}
    p1, p2 = dg.tensor(w1, requires_grad=True), dg.tensor(w2, requires_grad=True)
    xt = dg.tensor(x)

    @dg.compile(backend="llvm")
    def step(x):
        p1.grad = p2.grad = None
        loss = ((x @ p1).tanh() @ p2).sum()
        loss.backward()
        return loss

    @dg.compile(backend="llvm")
    def fwd(x):
        return (x @ p1).tanh() @ p2

    def dg_fwd_step():
        p1.grad = p2.grad = None
        fwd(xt).sum().backward()

    fns["dyngraph llvm"] = lambda: step(xt)
    fns["llvm fwd, eager bwd"] = dg_fwd_step
    if torch is not None:
        t1, t2 = (torch.tensor(w, requires_grad=True) for w in (w1, w2))
        tx = torch.from_numpy(x)

        def torch_step():
            t1.grad = t2.grad = None
            ((tx @ t1).tanh() @ t2).sum().backward()

        fns["torch eager"] = torch_step
    return bench(fns, repeat=ARGS.repeat, clock=ARGS.clock)


def cnn_compiled(batch: int = 32):
    """train_step.py's small CNN step (conv-relu-pool x2, linear, cross-entropy, SGD): the step
    compiled on the LLVM backend (im2col/col2im as native loops, GEMMs, fused epilogues), the
    same step in dyngraph eager mode, and PyTorch eager (identical weights)."""
    fns = cnn_step_fns(batch, compiled=True)
    fns["dyngraph eager"] = fns.pop("dyngraph")
    return bench(fns, repeat=ARGS.repeat, clock=ARGS.clock)


def compile_child(batch: int) -> None:
    """In a fresh process: seconds of the first three calls (two traces, then passes, lowering,
    LLVM and the native plan), minus three eager steps."""
    from runtime import jit
    weights = init_weights()
    rng = np.random.default_rng(1)
    x = rng.standard_normal((batch, 784)).astype(np.float32)
    y = rng.integers(0, 10, batch).astype(np.int64)
    step = dyngraph_compiled_step(weights, x, y)
    t0 = time.perf_counter()
    step()          # traced (grads are None)
    step()          # traced again: the grads exist now (a guard failed)
    step()          # compiled: passes, lowering, LLVM (or the disk cache), native plan
    t = time.perf_counter() - t0
    eager = numpy_step_fn(weights, x, y)
    t0 = time.perf_counter()
    for _ in range(3):
        eager()
    t -= time.perf_counter() - t0
    print(f"{t:.4f} {jit.STATS['compiled']} {jit.STATS['disk_hits']}")


def first_compile():
    """(cold, cached) seconds of the first three calls in fresh processes sharing a cache dir.

    Python's own bytecode is cached (in a temporary PYTHONPYCACHEPREFIX, warmed by a first
    child with its own compile cache), as in an installed package (pip writes the .pyc files at
    install time): with PYTHONDONTWRITEBYTECODE set, as in some sandboxes, every lazily
    imported module would be compiled from source inside the timed calls (~50-100 ms)."""
    out = []
    with tempfile.TemporaryDirectory() as d:
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        env["PYTHONPYCACHEPREFIX"] = os.path.join(d, "pyc")
        cmd = [sys.executable, os.path.abspath(__file__), "--compile-child", "128"]
        subprocess.run(cmd, env=dict(env, DYNGRAPH_CACHE_DIR=os.path.join(d, "warm")),
                       capture_output=True, text=True, check=True)
        env["DYNGRAPH_CACHE_DIR"] = os.path.join(d, "cache")
        for _ in range(2):
            r = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
            t, compiled, hits = r.stdout.split()
            out.append((float(t), int(compiled), int(hits)))
    return out


def main() -> None:
    """Time every workload and print medians, ratios, GFLOP/s."""
    if torch is not None:
        torch.set_num_threads(ARGS.threads)
    print(f"numpy {np.__version__}; torch {torch.__version__ if torch else 'not installed'}; "
          f"{ARGS.threads} BLAS thread(s) for numpy/torch; {ARGS.clock} clock; median ms")
    weights = init_weights()
    rng = np.random.default_rng(1)
    for batch in (128, 8):
        x = rng.standard_normal((batch, 784)).astype(np.float32)
        y = rng.integers(0, 10, batch).astype(np.int64)
        makers = {"numpy floor": numpy_step_fn, "dyngraph llvm": dyngraph_compiled_step}
        if ARGS.compare_column:
            makers["llvm, no column kernels"] = dyngraph_row_reduction_step
        if torch is not None:
            makers["torch eager"] = torch_step_fn
            if ARGS.torch_compile:
                makers["torch.compile"] = torch_compiled_step
        # the implementations take turns within every timing round (train_step.bench)
        times = bench({name: make(weights, x, y) for name, make in makers.items()},
                      repeat=ARGS.repeat)
        ours = times["dyngraph llvm"]
        cells = [f"MLP 784-512-512-10 step, batch {batch:>3}:"]
        cells += [f"{n} {t * 1e3:.3f}" for n, t in times.items()]
        cells.append(f"llvm {mlp_flops(batch) / ours / 1e9:.1f} GFLOP/s")
        cells += [f"{n}/llvm {t / ours:.2f}x" for n, t in times.items() if n != "dyngraph llvm"]
        print("  ".join(cells))
    small = small_mlp()
    ours = small["dyngraph llvm"]
    print("MLP 16-16-16 fwd+bwd: " + "  ".join(f"{n} {t * 1e6:.1f} us" for n, t in small.items())
          + "  " + "  ".join(f"{n}/llvm {t / ours:.2f}x" for n, t in small.items()
                             if n != "dyngraph llvm"))
    cnn = cnn_compiled()
    ours = cnn["dyngraph llvm"]
    print("CNN b32 step: " + "  ".join(f"{n} {t * 1e3:.3f} ms" for n, t in cnn.items())
          + "  " + "  ".join(f"{n}/llvm {t / ours:.2f}x" for n, t in cnn.items()
                             if n != "dyngraph llvm"))
    (cold, c1, h1), (warm, c2, h2) = first_compile()
    print(f"first compile of the batch-128 step (trace + compile, fresh process, bytecode "
          f"cached): cold "
          f"{cold:.3f} s ({c1} LLVM modules compiled), disk-cached {warm:.3f} s ({c2} compiled, "
          f"{h2} disk hits)")


if __name__ == "__main__":
    if ARGS.compile_child:
        compile_child(int(ARGS.compile_child))
    else:
        main()
