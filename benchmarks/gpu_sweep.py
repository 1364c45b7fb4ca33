"""Layout sweeps of the CUDA renderer on a GPU, in one run: the knobs of compiler/render_cuda.py
(`FAST_RCP`, `ROW_ELEMS`, `ROW_CACHE`) against the device's copy bandwidth measured alongside.

Run from the source tree: `PYTHONPATH=. python benchmarks/gpu_sweep.py [--quick]`. Each setting
compiles its own kernels (the knobs are part of the source, hence of the cache key) and is timed
with CUDA events (median of the repetitions, after warm-up); settings take turns within each
round and the table gives each one's median over the rounds.
"""

from __future__ import annotations

import argparse
import contextlib
import sys

import numpy as np

sys.path.insert(0, __file__.rsplit("/", 2)[0])

from benchmarks.gpu_bench import _events_ms  # noqa: E402


@contextlib.contextmanager
def knobs(**values):
    import compiler.render_cuda as rc
    old = {k: getattr(rc, k) for k in values}
    for k, v in values.items():
        setattr(rc, k, v)
    try:
        yield
    finally:
        for k, v in old.items():
            setattr(rc, k, v)


def _compiled(fn, settings, args):
    """{setting name: compiled fn} (each compiled, and run once, under its knobs)."""
    import dyngraph as dg
    out = {}
    for name, kv in settings:
        with knobs(**kv):
            cf = dg.compile(fn, backend="cuda")
            cf(*args)
            cf(*args)
        out[name] = (cf, kv)
    return out


def sweep(title, fn, args, nbytes, settings, copy_gbs, rounds=3, reps=10) -> list:
    fns = _compiled(fn, settings, args)
    times: dict = {n: [] for n in fns}
    for _ in range(rounds):
        for name, (cf, kv) in fns.items():
            with knobs(**kv):
                times[name].append(_events_ms(cf, reps, *args))
    rows = []
    for name, ts in times.items():
        ms = float(np.median(ts))
        gbs = nbytes / ms / 1e6
        rows.append((title, name, f"{ms:.3f} ms", f"{gbs:.0f} GB/s",
                     f"{gbs / copy_gbs * 100:.0f}% of copy", f"{min(ts):.3f}-{max(ts):.3f}"))
    return rows


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="sizes / 16")
    args = p.parse_args(argv)
    import cupy as cp

    import dyngraph as dg
    import dyngraph.nn.functional as F
    from benchmarks.gpu_bench import _table
    s = 16 if args.quick else 1
    a = cp.empty((1 << 28) // s, dtype=cp.float32)
    b = cp.empty_like(a)
    a.fill(1)
    copy_gbs = 2 * a.nbytes / _events_ms(cp.copyto, 20, b, a) / 1e6
    del a, b
    rows = [("device copy", "cupy.copyto", "-", f"{copy_gbs:.0f} GB/s", "100% of copy", "-")]

    x = dg.randn((1 << 28) // s // 4096, 4096).to("cuda")
    w, bias = dg.randn(4096).to("cuda"), dg.randn(4096).to("cuda")

    def chain(x, w, b):
        return F.gelu(x * w + b, approximate="tanh") * dg.sigmoid(x)
    settings = [(f"fast_rcp={int(r)}", {"FAST_RCP": r}) for r in (False, True)]
    rows += sweep("gelu chain 256M", chain, (x, w, bias), 2 * x.numel() * 4, settings, copy_gbs)
    del x

    r = 8192 // (4 if args.quick else 1)
    x = dg.randn(r, 8192).to("cuda")
    lw, lb = dg.randn(8192).to("cuda"), dg.randn(8192).to("cuda")
    settings = [(f"row_elems={e} (tpr {min(1024, 8192 // e)}) cache={c}",
                 {"ROW_ELEMS": e, "ROW_CACHE": c})
                for e, c in ((8, 0), (8, 8), (16, 0), (16, 16), (32, 0), (32, 32))]
    rows += sweep(f"softmax ({r}, 8192)", lambda x: F.softmax(x, -1), (x,), 2 * x.numel() * 4,
                  settings, copy_gbs)
    rows += sweep(f"layer norm ({r}, 8192)", lambda x, w, b: F.layer_norm(x, (8192,), w, b),
                  (x, lw, lb), 2 * x.numel() * 4, settings, copy_gbs)
    print(_table(("workload", "setting", "median", "rate", "vs copy", "range"), rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
