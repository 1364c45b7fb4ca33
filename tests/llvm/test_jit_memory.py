"""JIT-loaded code in a fragmented address space.

The objects use the small code model: code reaches its constants (and `.eh_frame` its code)
through 32-bit PC-relative offsets, so all sections of one object must lie within 2 GB of each
other. LLVM's default MCJIT memory manager maps code and read-only data separately; in a big
process (torch and cupy loaded, GBs of arrays) a new code section can land in a hole high up
and its constants below a large mapping. It asserted in RuntimeDyldELF (`isInt<32>(RealOffset)`,
an abort) on the GPU machine's llvmlite, or would have produced wrong code without the
assertion. The child below builds that address space on purpose: it reserves 4 GB, fills every
gap above the reservation page by page, then frees every other page, so that a one-page
section fits above the reservation and a larger one only below it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

_CHILD = textwrap.dedent("""
    import ctypes, mmap, sys
    import numpy as np
    sys.path.insert(0, {root!r})
    import dyngraph as dg
    import dyngraph.nn.functional as F
    from runtime import jit

    PAGE = mmap.PAGESIZE

    def at(m):
        return ctypes.addressof(ctypes.c_char.from_buffer(m))

    try:
        big = mmap.mmap(-1, 4 << 30, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS
                        | getattr(mmap, "MAP_NORESERVE", 0))
    except OSError as e:              # (strict overcommit accounting)
        print("no-reservation", e)
        sys.exit(0)
    fill = []
    for _ in range(200_000):          # every gap above the reservation, page by page
        m = mmap.mmap(-1, PAGE)
        if at(m) < at(big):
            m.close()
            break
        fill.append(m)
    for m in fill[::2]:               # one-page holes above the reservation
        m.close()

    # small code reading a 16 KB table of constants: the code fits a hole, the table does not
    rest = ", ".join(["double 2.0"] * 2047)
    for i in range(4):
        c = 1.0 + i / 7.0
        ir = (f"@tab{{i}} = internal constant [2048 x double] [double {{c}}, {{rest}}]\\n"
              f"define double @first{{i}}(i64 %k) {{{{\\n"
              f"  %p = getelementptr [2048 x double], ptr @tab{{i}}, i64 0, i64 %k\\n"
              "  %v = load double, ptr %p\\n  ret double %v\\n}}\\n")
        fn = ctypes.CFUNCTYPE(ctypes.c_double, ctypes.c_int64)(jit.compile_ir(ir, f"first{{i}}"))
        assert fn(0) == c and fn(2047) == 2.0, (i, fn(0), c)

    # fused kernels that call libm (through the GOT), one with several pages of code
    x = dg.tensor(np.linspace(-6, 6, 4099, dtype=np.float32))
    w = dg.tensor(np.linspace(0.5, 1.5, 4099, dtype=np.float32))
    chains = [
        lambda x, w: F.gelu(x * w + 1.0, approximate="tanh") * dg.sigmoid(x),
        lambda x, w: dg.tanh(x) * w - dg.exp(-x.abs()),
        lambda x, w: dg.log1p(x.abs()) + dg.erf(w * x),
        lambda x, w: (x.softmax(0) * w).sum(),
        # a kernel with several pages of code (inlined exp, tanh, erf, log polynomials)
        lambda x, w: (F.gelu(x * w, approximate="tanh") + dg.erf(x) * dg.tanh(w * x)
                      + dg.log1p(dg.exp(-x.abs())) * dg.sigmoid(w) - F.silu(x - w)
                      + F.softplus(x * 0.5) / (1.0 + dg.expm1(-w.abs()).abs()) + F.elu(x)
                      + dg.erfc(x * w) - dg.log(w + x.abs()) * dg.atan(x) + F.mish(w)),
    ]
    for i, fn in enumerate(chains):
        want = fn(x, w).numpy()
        cf = dg.compile(fn, backend="llvm")
        cf(x, w)                      # (the first call traces; the second runs the kernels)
        got = cf(x, w).numpy()
        np.testing.assert_allclose(got, want, rtol=2e-5, atol=1e-6, err_msg=f"chain {{i}}")
    print("fill", len(fill), "compiled", jit.STATS["compiled"])
""")


def test_compiled_kernels_run_in_a_fragmented_address_space(tmp_path):
    env = dict(os.environ, DYNGRAPH_CACHE_DIR=str(tmp_path), DYNGRAPH_JIT_LINK="0")
    r = subprocess.run([sys.executable, "-c", _CHILD.format(root=ROOT)], env=env,
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, (r.returncode, r.stdout[-2000:], r.stderr[-4000:])
    if r.stdout.startswith("no-reservation"):
        pytest.skip(f"cannot reserve 4 GB of address space here: {r.stdout.strip()}")
    fill, compiled = r.stdout.split()[1::2]
    assert int(compiled) >= 4, r.stdout
