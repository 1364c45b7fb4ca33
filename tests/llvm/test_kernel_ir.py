"""Kernel IR text, pure rendering, the JIT and its disk cache (second process, corruption)."""

from __future__ import annotations

import ctypes
import os
import subprocess
import sys
import textwrap

import numpy as np

from compiler.kernel_ir import RUNTIME, Access, KernelBuilder, ReduceKind
from compiler.render_llvm import render_llvm, symbol_name
from runtime import jit

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _exp_kernel(unit=True):
    kb = KernelBuilder(1, 0)
    b0 = kb.buffer("float32", False)
    b1 = kb.buffer("float32", True)
    s = 1 if unit else RUNTIME
    x = kb.load(Access(b0, (s,)), "float32")
    kb.store(Access(b1, (1,)), kb.op("exp", [x], "float32"))
    return kb.finish("k")


def _row_sum_kernel():
    kb = KernelBuilder(1, 1)
    b0 = kb.buffer("float64", False)
    b1 = kb.buffer("float64", True)
    x = kb.load(Access(b0, (RUNTIME, 1)), "float64")
    s = kb.reduce(ReduceKind.SUM, x, "float64", "float64")
    kb.store(Access(b1, (RUNTIME, 0)), s)
    return kb.finish("k")


def _call(kernel, sizes, arrays):
    addr = jit.compile_ir(render_llvm(kernel), symbol_name(kernel))
    fn = ctypes.CFUNCTYPE(None, ctypes.c_int64, ctypes.c_int64, ctypes.c_void_p,
                          *([ctypes.c_void_p] * len(arrays)))(addr)
    nd = len(sizes)
    dims = np.zeros(nd + nd * len(arrays), dtype=np.int64)
    dims[:nd] = sizes
    for b, a in enumerate(arrays):
        st = [s // a.itemsize for s in a.strides] + [0] * (nd - a.ndim)
        dims[nd + b * nd: nd + b * nd + nd] = st[:nd]
    fn(0, sizes[0], dims.ctypes.data, *[a.ctypes.data for a in arrays])


def test_kernel_text_is_deterministic_and_readable():
    k1, k2 = _exp_kernel(), _exp_kernel()
    assert k1.text() == k2.text() and k1.digest() == k2.digest()
    text = k1.text()
    assert "%1: f32 = exp %0" in text and "store b1 [1] %1" in text
    assert _exp_kernel(unit=False).digest() != k1.digest()
    reduce_text = _row_sum_kernel().text()
    assert "reduce { %1 = sum %0 : f64 }" in reduce_text


def test_render_is_pure_text_with_the_kernel_as_comment():
    ir = render_llvm(_exp_kernel())
    assert ir == render_llvm(_exp_kernel())
    assert f"define void @{symbol_name(_exp_kernel())}" in ir
    assert "; kernel k(" in ir and "@dg_expf" in ir and "alwaysinline" in ir
    assert "noalias" in ir


def test_row_sum_kernel_matches_numpy_with_strided_rows():
    x = np.random.default_rng(0).standard_normal((7, 13))
    out = np.empty(7)
    _call(_row_sum_kernel(), (7, 13), [x, out])
    np.testing.assert_allclose(out, x.sum(1), rtol=1e-12)
    y = x[::2, :]                         # rows with a stride of 26 elements
    out2 = np.empty(4)
    _call(_row_sum_kernel(), (4, 13), [y, out2])
    np.testing.assert_allclose(out2, y.sum(1), rtol=1e-12)


_CHILD = textwrap.dedent("""
    import ctypes, json, sys
    import numpy as np
    sys.path.insert(0, {root!r})
    sys.path.insert(0, {here!r})
    from test_kernel_ir import _call, _exp_kernel
    from runtime import jit
    x = np.linspace(-5, 5, 1001, dtype=np.float32)
    y = np.empty_like(x)
    _call(_exp_kernel(), (1001,), [x, y])
    np.testing.assert_allclose(y, np.exp(x), rtol=2e-6)
    print(json.dumps(dict(jit.STATS, llvmlite="llvmlite" in sys.modules)))
""")


def _child_stats(cache: str, **env_vars) -> dict:
    import json
    env = dict(os.environ, DYNGRAPH_CACHE_DIR=cache, **env_vars)
    code = _CHILD.format(root=ROOT, here=os.path.dirname(os.path.abspath(__file__)))
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         timeout=120, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_second_process_hits_the_disk_cache_and_corruption_is_rebuilt(tmp_path):
    cache = str(tmp_path)
    first = _child_stats(cache)
    assert first["compiled"] == 1 and first["disk_hits"] == 0
    second = _child_stats(cache)
    assert second["compiled"] == 0 and second["disk_hits"] == 1
    names = sorted(os.listdir(os.path.join(cache, "llvm")))
    assert not any(n.startswith(".tmp") for n in names), names
    entries = [os.path.join(cache, "llvm", n) for n in names if n.endswith(".o")]
    assert len(entries) == 1
    with open(entries[0], "r+b") as f:    # flip bytes in the middle of the object
        f.seek(100)
        f.write(b"\xff\xfe\xfd\xfc")
    third = _child_stats(cache)
    assert third["corrupt"] == 1 and third["compiled"] == 1 and third["disk_hits"] == 0
    fourth = _child_stats(cache)          # the rebuilt entry was written back
    assert fourth["disk_hits"] == 1 and fourth["corrupt"] == 0


def test_a_later_process_runs_the_linked_library_without_llvmlite(tmp_path):
    """The first process links its object into `<key>.so` in the background (and waits for it
    at exit); the next loads that with ctypes, never importing llvmlite, and computes the same.
    A corrupted library is counted and linked again; without linking, MCJIT loads the object."""
    import shutil as sh
    if sh.which("cc") is None and sh.which("gcc") is None and sh.which("clang") is None:
        import pytest
        pytest.skip("no C compiler driver to link shared libraries")
    cache = str(tmp_path)
    first = _child_stats(cache)
    assert first["compiled"] == 1 and first["llvmlite"]
    names = os.listdir(os.path.join(cache, "llvm"))
    sos = [n for n in names if n.endswith(".so")]
    assert len(sos) == 1 and sos[0] + ".sum" in names, names
    second = _child_stats(cache)
    assert second["disk_hits"] == 1 and second["compiled"] == 0 and not second["llvmlite"]
    so = os.path.join(cache, "llvm", sos[0])
    with open(so, "r+b") as f:            # flip bytes inside the library
        f.seek(2000)
        f.write(b"\xff\xfe\xfd\xfc")
    third = _child_stats(cache)           # detected: the object is loaded by MCJIT, relinked
    assert third["corrupt"] == 1 and third["disk_hits"] == 1 and third["llvmlite"]
    fourth = _child_stats(cache)
    assert fourth["corrupt"] == 0 and not fourth["llvmlite"]
    other = str(tmp_path / "nolink")
    _child_stats(other, DYNGRAPH_JIT_LINK="0")
    assert not any(n.endswith(".so") for n in os.listdir(os.path.join(other, "llvm")))
    assert _child_stats(other, DYNGRAPH_JIT_LINK="0")["llvmlite"]


def test_cache_key_includes_cpu_and_llvmlite_version():
    salt = jit._salt()
    import llvmlite
    assert llvmlite.__version__ in salt and jit._llvm()["tm"].target_data is not None
    assert jit._key("x") != jit._key("y")
    # the CPU part comes from the processor's model and feature flags (no llvmlite needed):
    # where /proc/cpuinfo has them, they agree with what LLVM sees
    try:
        with open("/proc/cpuinfo") as f:
            flags = next(ln for ln in f if ln.startswith("flags")).split()
    except (OSError, StopIteration):
        return
    assert ("+avx2" in jit._llvm()["host"]) == ("avx2" in flags)


def test_memory_cache_returns_the_same_address():
    k = _exp_kernel()
    ir = render_llvm(k)
    a = jit.compile_ir(ir, symbol_name(k))
    hits = jit.STATS["memory_hits"]
    assert jit.compile_ir(ir, symbol_name(k)) == a
    assert jit.STATS["memory_hits"] == hits + 1


def test_power_of_two_scales_fold_exactly():
    """`(x * c) * 2` becomes `x * (2c)` and `(x * 0.5) * (y * 2)` becomes `x * y` (scaling by
    a power of two is exact); other constants and integers are left as written."""
    def build(make, dtype="float32"):
        kb = KernelBuilder(1, 0)
        x = kb.load(Access(kb.buffer(dtype, False), (1,)), dtype)
        y = kb.load(Access(kb.buffer(dtype, False), (1,)), dtype)
        out = make(kb, x, y, dtype)
        kb.store(Access(kb.buffer(dtype, True), (1,)), out)
        return kb, out

    def mul(kb, a, c, dt):
        return kb.op("mul", [a, kb.const(c, dt) if isinstance(c, float) else c], dt)
    kb, out = build(lambda kb, x, y, dt: mul(kb, mul(kb, x, 0.5, dt), mul(kb, y, 2.0, dt), dt))
    assert kb.instrs[out].attr == ("mul", ()) and set(kb.instrs[out].args) == {0, 1}
    kb, out = build(lambda kb, x, y, dt: mul(kb, mul(kb, x, 0.7978845608028654, dt), 2.0, dt))
    x_arg, c = kb.instrs[out].args
    assert x_arg == 0 and kb.instrs[c].attr == np.float32(0.7978845608028654) * 2.0
    kb, out = build(lambda kb, x, y, dt: mul(kb, mul(kb, x, 0.5, dt), mul(kb, y, 3.0, dt), dt))
    assert set(kb.instrs[out].args) != {0, 1}                      # 3 is no power of two
    kb, out = build(lambda kb, x, y, dt: mul(kb, mul(kb, x, 2.0 ** 100, dt), 2.0 ** 60, dt))
    assert kb.instrs[kb.instrs[out].args[0]].attr == ("mul", ())  # 2^160 overflows float32
    # the gelu chain computes u * sigmoid(2z) and its kernel matches float64 (test_vecmath)
    x = np.linspace(-8, 8, 4096, dtype=np.float32)
    kb, out = build(lambda kb, x, y, dt: mul(kb, mul(kb, x, 0.5, dt), mul(kb, y, 2.0, dt), dt))
    k = kb.finish("k")
    y, z = np.full_like(x, 3.0), np.empty_like(x)
    _call(k, (4096,), [x, y, z])
    np.testing.assert_array_equal(z, x * np.float32(3.0))
