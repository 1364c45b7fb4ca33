"""One SGD training step of an MLP 784-512-512-10 (ReLU, cross-entropy): dyngraph eager vs
PyTorch eager vs a hand-written numpy step, at batch 128 and batch 8; and one step of a small CNN
(two 3x3 convolutions, max pooling, a linear layer; batch 32 of 28x28), dyngraph vs PyTorch.

A step is zero_grad + forward + loss + backward + optimizer update. All three start from the same
weights and the script checks that their losses agree before timing. Prints medians and ratios
measured in one run, the implementations taking turns within each timing round. Not a test:
`python benchmarks/train_step.py [--threads N] [--clock cpu]` (default 1 thread for numpy's BLAS
and PyTorch, so the comparison is fair on a shared machine; `--clock cpu` times this process's
CPU time, which a busy machine disturbs less than wall time).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

if __name__ == "__main__":
    _parser = argparse.ArgumentParser(description="MLP training-step benchmark")
    _parser.add_argument("--threads", type=int, default=1, help="BLAS / torch threads")
    _parser.add_argument("--repeat", type=int, default=7, help="timing rounds per case")
    _parser.add_argument("--clock", choices=("wall", "cpu"), default="wall",
                         help="wall time, or this process's CPU time (user + system, page "
                              "faults included), which other processes on a busy machine "
                              "disturb less")
    ARGS = _parser.parse_args()
    # BLAS reads these when numpy is first imported, so set them before the imports below.
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(ARGS.threads)

import numpy as np  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import dyngraph as dg  # noqa: E402

try:
    import torch
except ImportError:  # the comparison with PyTorch is optional
    torch = None

SIZES = (784, 512, 512, 10)
LR = 0.01


def bench(fns: dict, *, repeat: int = 7, min_time: float = 0.2, clock: str | None = None) -> dict:
    """Median seconds per call of each function over `repeat` rounds, each call repeated long
    enough to last `min_time`. The functions take turns within every round, so a change in the
    machine's load falls on all of them alike. `clock` is "wall" or "cpu" (default: the command
    line's --clock when run as a script, else wall time)."""
    if clock is None:
        clock = getattr(globals().get("ARGS"), "clock", "wall")
    clock = time.process_time if clock == "cpu" else time.perf_counter
    counts = {}
    for name, fn in fns.items():
        for _ in range(5):  # warm-up: traces and compiles, allocations, BLAS thread start
            fn()
        t0 = time.perf_counter()
        fn()
        counts[name] = max(1, int(min_time / max(time.perf_counter() - t0, 1e-9)))
    times: dict = {name: [] for name in fns}
    for _ in range(repeat):
        for name, fn in fns.items():
            n = counts[name]
            t0 = clock()
            for _ in range(n):
                fn()
            times[name].append((clock() - t0) / n)
    return {name: statistics.median(ts) for name, ts in times.items()}


def init_weights(seed: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    """(W [in, out], b [out]) per layer, PyTorch's default Linear init range."""
    rng = np.random.default_rng(seed)
    layers = []
    for fan_in, fan_out in zip(SIZES[:-1], SIZES[1:]):
        bound = 1 / np.sqrt(fan_in)
        layers.append((rng.uniform(-bound, bound, (fan_in, fan_out)).astype(np.float32),
                       rng.uniform(-bound, bound, fan_out).astype(np.float32)))
    return layers


# ----- numpy, by hand -------------------------------------------------------------------------

def numpy_step_fn(weights, x, y):
    """A training step written directly against numpy (forward, backward and SGD)."""
    ws = [(w.copy(), b.copy()) for w, b in weights]
    rows = np.arange(len(y))

    def step() -> float:
        acts, pre = [x], []
        h = x
        for i, (w, b) in enumerate(ws):
            z = h @ w
            z += b
            if i < len(ws) - 1:
                pre.append(z)
                h = np.maximum(z, 0)
            else:
                h = z
            acts.append(h)
        logits = acts[-1]
        shifted = logits - logits.max(axis=1, keepdims=True)
        exp = np.exp(shifted)
        sums = exp.sum(axis=1, keepdims=True)
        loss = float(np.mean(np.log(sums[:, 0]) - shifted[rows, y]))
        grad = exp / sums
        grad[rows, y] -= 1
        grad /= len(y)
        for i in range(len(ws) - 1, -1, -1):
            w, b = ws[i]
            gw = acts[i].T @ grad
            gb = grad.sum(axis=0)
            if i:
                grad = grad @ w.T
                grad *= pre[i - 1] > 0
            w -= LR * gw
            b -= LR * gb
        return loss

    return step


# ----- dyngraph -------------------------------------------------------------------------------

def dyngraph_setup(weights, x, y):
    """The dyngraph MLP with `weights`, its SGD optimizer and the batch as tensors."""
    from dyngraph import nn
    model = nn.Sequential(nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 512), nn.ReLU(),
                          nn.Linear(512, 10))
    state = {}
    for i, (w, b) in zip((0, 2, 4), weights):
        state[f"{i}.weight"] = dg.tensor(np.ascontiguousarray(w.T))
        state[f"{i}.bias"] = dg.tensor(b)
    model.load_state_dict(state)
    return model, dg.optim.SGD(model.parameters(), lr=LR), dg.tensor(x), dg.tensor(y)


def dyngraph_step_fn(weights, x, y):
    """A step with dyngraph.nn modules, F.cross_entropy and optim.SGD."""
    from dyngraph.nn import functional as F
    model, opt, xt, yt = dyngraph_setup(weights, x, y)

    def step() -> float:
        opt.zero_grad()
        loss = F.cross_entropy(model(xt), yt)
        loss.backward()
        opt.step()
        return loss

    return step


# ----- PyTorch --------------------------------------------------------------------------------

def torch_step_fn(weights, x, y):
    """The same step in PyTorch eager."""
    nn, F = torch.nn, torch.nn.functional
    model = nn.Sequential(nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 512), nn.ReLU(),
                          nn.Linear(512, 10))
    with torch.no_grad():
        for i, (w, b) in zip((0, 2, 4), weights):
            model[i].weight.copy_(torch.from_numpy(w.T.copy()))
            model[i].bias.copy_(torch.from_numpy(b))
    opt = torch.optim.SGD(model.parameters(), lr=LR)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)

    def step() -> float:
        opt.zero_grad()
        loss = F.cross_entropy(model(xt), yt)
        loss.backward()
        opt.step()
        return loss

    return step


def _as_float(loss) -> float:
    return float(loss) if isinstance(loss, float) else float(loss.detach().item())


def check_agreement(makers, weights, x, y) -> None:
    """Three steps from the same weights must give the same losses in every implementation."""
    losses = {}
    for name, make in makers.items():
        step = make(weights, x, y)
        losses[name] = [_as_float(step()) for _ in range(3)]
    ref = losses["numpy"]
    for name, ls in losses.items():
        if not np.allclose(ls, ref, rtol=1e-4, atol=1e-5):
            raise SystemExit(f"{name} losses {ls} differ from numpy's {ref}")


def main() -> None:
    """Check that the three steps agree, then time each at batch 128 and 8."""
    makers = {"numpy": numpy_step_fn, "dyngraph": dyngraph_step_fn}
    if torch is not None:
        torch.set_num_threads(ARGS.threads)
        makers["torch"] = torch_step_fn
    weights = init_weights()
    rng = np.random.default_rng(1)
    print(f"MLP {'-'.join(map(str, SIZES))}, ReLU, cross-entropy, SGD(lr={LR}); "
          f"{ARGS.threads} thread(s), {ARGS.clock} clock; numpy {np.__version__}"
          + (f", torch {torch.__version__}" if torch is not None else ", torch not installed"))
    print("median ms per training step (zero_grad + forward + loss + backward + update)")
    for batch in (128, 8):
        x = rng.standard_normal((batch, 784)).astype(np.float32)
        y = rng.integers(0, 10, batch).astype(np.int64)
        check_agreement(makers, weights, x, y)
        times = bench({name: make(weights, x, y) for name, make in makers.items()},
                      repeat=ARGS.repeat)
        cells = [f"batch {batch:>3}:"]
        for name, t in times.items():
            cells.append(f"{name} {t * 1e3:8.3f} ms")
        cells.append(f"dyngraph/numpy {times['dyngraph'] / times['numpy']:5.2f}x")
        if "torch" in times:
            cells.append(f"dyngraph/torch {times['dyngraph'] / times['torch']:5.2f}x")
        print("  ".join(cells))


def cnn_step_fns(batch: int = 32, compiled: bool = False):
    """The same small CNN in dyngraph and PyTorch (identical weights), as step closures;
    `compiled`: also "dyngraph llvm", the dyngraph step under dyngraph.compile (LLVM backend)
    on a second copy of the model."""
    import dyngraph.nn as dnn
    import dyngraph.nn.functional as F

    def build(nn):
        return nn.Sequential(nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                             nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                             nn.Flatten(), nn.Linear(32 * 7 * 7, 10))
    rng = np.random.default_rng(2)
    x = rng.standard_normal((batch, 1, 28, 28)).astype(np.float32)
    y = rng.integers(0, 10, batch).astype(np.int64)
    fns = {}
    dm = build(dnn)
    if torch is not None:
        tm = build(torch.nn)
        dm.load_state_dict({k: dg.tensor(v.detach().numpy()) for k, v in tm.state_dict().items()})
        topt = torch.optim.SGD(tm.parameters(), lr=LR)
        tx, ty = torch.tensor(x), torch.tensor(y)

        def torch_step():
            topt.zero_grad()
            loss = torch.nn.functional.cross_entropy(tm(tx), ty)
            loss.backward()
            topt.step()
            return loss
        fns["torch"] = torch_step
    dopt = dg.optim.SGD(dm.parameters(), lr=LR)
    dx, dy = dg.tensor(x), dg.tensor(y)

    def dyngraph_step():
        dopt.zero_grad()
        loss = F.cross_entropy(dm(dx), dy)
        loss.backward()
        dopt.step()
        return loss
    fns["dyngraph"] = dyngraph_step
    if compiled:
        cm = build(dnn)
        cm.load_state_dict(dm.state_dict())
        copt = dg.optim.SGD(cm.parameters(), lr=LR)

        @dg.compile(backend="llvm")
        def compiled_step(x, y):
            copt.zero_grad()
            loss = F.cross_entropy(cm(x), y)
            loss.backward()
            copt.step()
            return loss
        fns["dyngraph llvm"] = lambda: compiled_step(dx, dy)
    return fns


def cnn_main() -> None:
    fns = cnn_step_fns()
    losses = {name: _as_float(fn()) for name, fn in fns.items()}
    if len(losses) == 2 and abs(losses["dyngraph"] - losses["torch"]) > 1e-4:
        raise SystemExit(f"CNN losses disagree: {losses}")
    times = bench(fns, repeat=ARGS.repeat)
    cells = ["CNN b32: "] + [f"{name} {t * 1e3:8.3f} ms" for name, t in times.items()]
    if "torch" in times:
        cells.append(f"dyngraph/torch {times['dyngraph'] / times['torch']:5.2f}x")
    print("  ".join(cells))


if __name__ == "__main__":
    main()
    cnn_main()
