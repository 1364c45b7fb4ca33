"""Exported graph files: size against raw weight bytes, load time, loaded vs in-process latency.

    python benchmarks/export_load.py [--mb 100] [--batch 8] [--runs 20]

The model is an MLP whose weights total about `--mb` megabytes (float32). Load time is
`dyngraph.load_graph` (header + JSON validation, memory map, sha256 of the whole file) and,
separately, the first call (checked run on the interpreter + pass pipeline + backend compile).
Latency compares the loaded graph with `dyngraph.compile(model)` in the same process and eager.
Medians; the machine is shared and noisy.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time

import dyngraph as dg
from dyngraph import nn


def _median(fn, runs: int) -> float:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--mb", type=float, default=100.0, help="weight megabytes (default 100)")
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--runs", type=int, default=20)
    args = p.parse_args()
    hidden = int(((args.mb * 1e6 / 4) / 3) ** 0.5)     # three hidden x hidden layers
    model = nn.Sequential(nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, hidden),
                          nn.ReLU(), nn.Linear(hidden, hidden)).eval()
    raw = sum(p.numel() * 4 for p in model.parameters())
    x = dg.randn(args.batch, hidden)
    batch = dg.Dim("batch", min=1, max=4096)

    t0 = time.perf_counter()
    ep = dg.export(model, (x,), dynamic_shapes=({0: batch},))
    t_export = time.perf_counter() - t0
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "model.dgraph")
        t0 = time.perf_counter()
        size = ep.save(path)
        t_save = time.perf_counter() - t0
        t_load = _median(lambda: dg.load_graph(path), 5)
        from runtime.loaded import load
        t_load_nocheck = _median(lambda: load(path, verify=False), 5)
        run = dg.load_graph(path)
        t0 = time.perf_counter()
        run(x)
        t_first = time.perf_counter() - t0
        t_loaded = _median(lambda: run(x), args.runs)
        compiled = dg.compile(model)
        with dg.no_grad():
            compiled(x)
            compiled(x)
            t_compiled = _median(lambda: compiled(x), args.runs)
            t_eager = _median(lambda: model(x), args.runs)
        backend = run.backend_used
    print(f"model: MLP {hidden}x{hidden} x3, {raw / 1e6:.1f} MB of float32 weights, "
          f"batch {args.batch}")
    print(f"export (traces at 3 sizes + unify): {t_export * 1e3:.0f} ms; save: "
          f"{t_save * 1e3:.0f} ms")
    print(f"file size: {size} bytes = raw weights + {size - raw} bytes "
          f"({(size - raw) / raw * 100:.4f}% overhead)")
    print(f"load_graph: {t_load * 1e3:.1f} ms (with sha256 of the file), "
          f"{t_load_nocheck * 1e3:.1f} ms without the checksum (target < 200 ms)")
    print(f"first call (checked run + passes + {backend} compile): {t_first * 1e3:.0f} ms")
    print(f"latency: loaded graph ({backend}) {t_loaded * 1e3:.2f} ms, dyngraph.compile "
          f"in-process {t_compiled * 1e3:.2f} ms, eager {t_eager * 1e3:.2f} ms")


if __name__ == "__main__":
    main()
