"""Run softmax and layer norm over (8192, 8192) float32 on CUDA once per row layout, for a
profiler (`ncu --kernel-name regex:dg_ python benchmarks/gpu_profile_rows.py`): each setting of
compiler/render_cuda.py's ROW_ELEMS / ROW_CACHE compiles its own kernel (its name carries the
layout tag, e.g. `_r512c16`), warms up once, then runs once more."""

from __future__ import annotations

import sys

sys.path.insert(0, __file__.rsplit("/", 2)[0])

from benchmarks.gpu_sweep import knobs  # noqa: E402


def main() -> int:
    import cupy as cp

    import dyngraph as dg
    import dyngraph.nn.functional as F
    x = dg.randn(8192, 8192).to("cuda")
    w, b = dg.randn(8192).to("cuda"), dg.randn(8192).to("cuda")
    for elems, cache in ((16, 0), (16, 32), (8, 0)):
        for fn, args in ((lambda x: F.softmax(x, -1), (x,)),
                         (lambda x, w, b: F.layer_norm(x, (8192,), w, b), (x, w, b))):
            with knobs(ROW_ELEMS=elems, ROW_CACHE=cache):
                cf = dg.compile(fn, backend="cuda")
                cf(*args)
                cf(*args)
                cf(*args)
    cp.cuda.Device().synchronize()
    return 0


if __name__ == "__main__":
    sys.exit(main())
