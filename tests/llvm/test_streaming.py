"""Streaming (non-temporal) stores for big elementwise outputs: the peeled kernel form, the
post-O3 rewrite of its vector stores, and the runtime's choice (runtime/llvm_backend.py)."""

from __future__ import annotations

import ctypes

import numpy as np
import pytest

import dyngraph as dg
from compiler.kernel_ir import Access, KernelBuilder
from compiler.render_llvm import STREAM_ALIGN, render_llvm, streamable, symbol_name
from runtime import jit, llvm_backend
from tests.llvm.test_vecmath import _gelu_chain_kernel

_P, _I = ctypes.c_void_p, ctypes.c_int64


def _axpb(dtype: str):
    kb = KernelBuilder(1, 0)
    bx, bw = kb.buffer(dtype, False), kb.buffer(dtype, False)
    bo = kb.buffer(dtype, True)
    x, w = kb.load(Access(bx, (1,)), dtype), kb.load(Access(bw, (1,)), dtype)
    kb.store(Access(bo, (1,)), kb.op("add", [kb.op("mul", [x, w], dtype),
                                             kb.const(1.5, dtype)], dtype))
    return kb.finish("axpb")


def _both(kernel):
    nbuf = len(kernel.buffers)
    proto = ctypes.CFUNCTYPE(None, _I, _I, _P, *([_P] * nbuf))
    plain = proto(jit.compile_ir(render_llvm(kernel), symbol_name(kernel)))
    nt = proto(jit.compile_ir(render_llvm(kernel, streaming=True), symbol_name(kernel) + "_nt",
                              STREAM_ALIGN))
    return plain, nt


@pytest.mark.parametrize("kernel", [_gelu_chain_kernel(), _axpb("float32"), _axpb("float64")],
                         ids=["gelu_f32", "axpb_f32", "axpb_f64"])
def test_streaming_form_equals_the_plain_kernel_at_every_alignment(kernel):
    plain, nt = _both(kernel)
    dt = np.dtype(kernel.buffers[-1].dtype)
    n = 1000
    rng = np.random.default_rng(0)
    ins = [rng.standard_normal(n).astype(dt) for _ in kernel.buffers[:-1]]
    dims = np.array([n] + [1] * len(kernel.buffers), np.int64)
    for off in range(0, 64 // dt.itemsize + 1):       # every offset from a 64-byte boundary
        for lo, hi in [(0, n), (3, 997), (5, 9), (0, 0), (17, 400), (999, 1000)]:
            outs = [np.zeros(n + 32, dt) for _ in range(2)]
            for fn, o in zip((plain, nt), outs):
                fn(lo, hi, dims.ctypes.data, *[a.ctypes.data for a in ins], o[off:].ctypes.data)
            np.testing.assert_array_equal(outs[1], outs[0], err_msg=f"offset {off}, {lo}:{hi}")


def test_vector_stores_become_non_temporal_and_aligned():
    ir = render_llvm(_axpb("float32"), streaming=True)
    opt = jit.optimized_ir(ir)
    out = jit.streaming_stores(opt, STREAM_ALIGN)
    stores = [ln for ln in out.splitlines() if ln.strip().startswith("store <")]
    assert stores and all("!nontemporal" in ln for ln in stores)
    assert all("align 32" in ln or "align 64" in ln or "align 16" in ln for ln in stores)
    scalar = [ln for ln in out.splitlines() if ln.strip().startswith("store float")]
    assert scalar and not any("nontemporal" in ln for ln in scalar)     # the peel and tail
    asm = jit.assembly(ir)
    assert "vmovntps" not in asm                                    # the plain pipeline
    s = jit._llvm()
    mod = s["llvm"].parse_assembly(out)
    assert "vmovntps" in s["tm"].emit_assembly(mod)


def test_only_1d_elementwise_kernels_with_one_float_output_stream():
    assert streamable(_axpb("float32")) and streamable(_gelu_chain_kernel())
    kb = KernelBuilder(2, 0)
    b0, b1 = kb.buffer("float32", False), kb.buffer("float32", True)
    kb.store(Access(b1, (None, 1)), kb.load(Access(b0, (None, 1)), "float32"))
    assert not streamable(kb.finish("k2"))                     # 2-D
    kb = KernelBuilder(1, 0)
    b0, b1, b2 = (kb.buffer("float32", i > 0) for i in range(3))
    v = kb.load(Access(b0, (1,)), "float32")
    kb.store(Access(b1, (1,)), v)
    kb.store(Access(b2, (1,)), v)
    assert not streamable(kb.finish("two"))                    # two outputs
    kb = KernelBuilder(1, 0)
    b0, b1 = kb.buffer("int64", False), kb.buffer("int64", True)
    kb.store(Access(b1, (1,)), kb.load(Access(b0, (1,)), "int64"))
    assert not streamable(kb.finish("ints"))
    with pytest.raises(ValueError, match="streaming"):
        render_llvm(kb.finish("ints2"), streaming=True)


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("n", [4099, 100_003])
def test_compiled_big_elementwise_outputs_stream(monkeypatch, threads, n):
    monkeypatch.setattr(llvm_backend, "STREAM_BYTES", 4096)
    monkeypatch.setattr(llvm_backend, "THREAD_THRESHOLD", 1024)
    llvm_backend.set_num_threads(threads)
    try:
        x, w = dg.randn(n), dg.randn(n)

        def f(x, w):
            return dg.tanh(x * w + 1.0) * dg.sigmoid(x)
        cf = dg.compile(f, backend="llvm")
        for _ in range(3):
            got = cf(x, w)
        np.testing.assert_allclose(got.numpy(), f(x, w).numpy(), rtol=1e-5, atol=1e-6)
        assert "streaming stores" in str(cf.explain())
    finally:
        llvm_backend.set_num_threads(min(__import__("os").cpu_count() or 1, 8))
