"""Accuracy of the vectorised float32 math over the whole range, and vector registers in the
hot loop of the emitted assembly."""

from __future__ import annotations

import re

import numpy as np
import pytest
from scipy import special

from compiler.kernel_ir import Access, KernelBuilder
from compiler.render_llvm import render_llvm
from runtime import jit
from tests.llvm.test_kernel_ir import _call

F32 = np.float32


def _inputs() -> np.ndarray:
    """Random bit patterns over every exponent, plus specials, denormals and boundaries."""
    rng = np.random.default_rng(1)
    bits = rng.integers(0, 2**32, size=200_000, dtype=np.uint64).astype(np.uint32)
    rand = bits.view(F32)
    near = rng.uniform(-30, 30, 100_000).astype(F32)
    special_vals = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 1e-45, -1e-45, 1e-40, 1.17e-38,
                             88.72, 88.73, -87.3, -103.9, -104.5, 0.625, -0.625, 1.0, -1.0, 4.0,
                             0.35, -0.35, 3.4e38, -3.4e38, 1e-8, 0.5, 2.0], dtype=F32)
    return np.concatenate([rand, near, special_vals])


def _ulp_error(got: np.ndarray, ref64: np.ndarray) -> np.ndarray:
    ref32 = ref64.astype(F32)
    both_nan = np.isnan(got) & np.isnan(ref32)
    same_inf = np.isinf(ref32) & (got == ref32)
    ulp = np.spacing(np.abs(ref32)).astype(np.float64)
    ulp = np.maximum(ulp, np.float64(2.0 ** -149))    # denormal ulp
    with np.errstate(invalid="ignore"):
        err = np.abs(got.astype(np.float64) - ref64) / ulp
    err[both_nan | same_inf] = 0
    err[np.isnan(err)] = np.inf                     # a nan where the answer is not, or the reverse
    return err


def _run_unary(op: str, x: np.ndarray) -> np.ndarray:
    kb = KernelBuilder(1, 0)
    b0 = kb.buffer("float32", False)
    b1 = kb.buffer("float32", True)
    v = kb.load(Access(b0, (1,)), "float32")
    kb.store(Access(b1, (1,)), kb.op(op, [v], "float32"))
    out = np.empty_like(x)
    _call(kb.finish("k"), (x.size,), [x, out])
    return out


def _sigmoid64(x):
    return special.expit(x)


ORACLES = {
    "exp": (np.exp, 2), "exp2": (np.exp2, 2), "expm1": (np.expm1, 3), "log": (np.log, 2),
    "log2": (np.log2, 3), "log10": (np.log10, 3), "log1p": (np.log1p, 3),
    "tanh": (np.tanh, 3), "sigmoid": (_sigmoid64, 3), "erf": (special.erf, 3),
}


@pytest.mark.parametrize("op", sorted(ORACLES))
def test_float32_accuracy_over_the_whole_range(op):
    fn, max_ulp = ORACLES[op]
    x = _inputs()
    with np.errstate(all="ignore"):
        ref = fn(x.astype(np.float64))
    got = _run_unary(op, x)
    err = _ulp_error(got, ref)
    worst = int(np.argmax(err))
    assert err[worst] <= max_ulp, (f"{op}: {err[worst]:.2f} ulp at x={x[worst]!r} "
                                   f"(got {got[worst]!r}, want {ref[worst]!r})")
    # specials, exactly: signs of zero aside, numpy's float32 results
    sp = np.array([np.inf, -np.inf, np.nan, 0.0], dtype=F32)
    with np.errstate(all="ignore"):
        want = fn(sp.astype(np.float64)).astype(F32)
    np.testing.assert_array_equal(_run_unary(op, sp), want)


def _loops(asm: str) -> list[str]:
    """The assembly of every loop: a block through the branch that jumps back to its label."""
    lines = asm.splitlines()
    loops = []
    for i, ln in enumerate(lines):
        m = re.match(r"^(\.LBB\d+_\d+):", ln)
        if not m:
            continue
        for j in range(i + 1, len(lines)):
            if re.search(rf"\bj\w+\s+{re.escape(m.group(1))}\b", lines[j]):
                loops.append("\n".join(lines[i:j + 1]))
                break
    return loops


@pytest.mark.parametrize("op", ["exp", "tanh", "sigmoid", "erf"])
def test_hot_loop_uses_vector_registers(op):
    kb = KernelBuilder(1, 0)
    b0 = kb.buffer("float32", False)
    b1 = kb.buffer("float32", True)
    v = kb.load(Access(b0, (1,)), "float32")
    kb.store(Access(b1, (1,)), kb.op(op, [v], "float32"))
    asm = jit.assembly(render_llvm(kb.finish("k")))
    loops = _loops(asm)
    assert loops, "no loop found in the assembly"
    # the vector body: a loop on 256-bit (AVX2) or 512-bit (AVX-512) registers, with no calls
    vector = [lp for lp in loops if re.search(r"%[yz]mm\d+", lp) and "call" not in lp]
    assert vector, f"{op}: no vectorised loop:\n{asm[:3000]}"


def _gelu_chain_kernel():
    """gelu_tanh(x*w+b) * sigmoid(x) as the graph lowers it: u sigmoid(u (a + b u^2))."""
    kb = KernelBuilder(1, 0)
    bx, bw, bb = (kb.buffer("float32", False) for _ in range(3))
    bo = kb.buffer("float32", True)
    x, w, b = (kb.load(Access(i, (1,)), "float32") for i in (bx, bw, bb))

    def c(v):
        return kb.const(v, "float32")
    u = kb.op("add", [kb.op("mul", [x, w], "float32"), b], "float32")
    a = 2.0 * 0.7978845608028654
    poly = kb.op("add", [c(a), kb.op("mul", [c(a * 0.044715), kb.op("mul", [u, u], "float32")],
                                     "float32")], "float32")
    g = kb.op("mul", [u, kb.op("sigmoid", [kb.op("mul", [u, poly], "float32")], "float32")],
              "float32")
    kb.store(Access(bo, (1,)), kb.op("mul", [g, kb.op("sigmoid", [x], "float32")], "float32"))
    return kb.finish("gelu_chain")


def test_one_plus_tanh_lowers_to_a_sigmoid():
    """`tanh(z) + 1` becomes `2 sigmoid(2z)`: one exp, and accurate where tanh(z) -> -1."""
    kb = KernelBuilder(1, 0)
    b0, b1 = kb.buffer("float32", False), kb.buffer("float32", True)
    z = kb.load(Access(b0, (1,)), "float32")
    kb.store(Access(b1, (1,)), kb.op("add", [kb.const(1.0, "float32"),
                                             kb.op("tanh", [z], "float32")], "float32"))
    kernel = kb.finish("k")
    ir = render_llvm(kernel)
    body = ir[ir.index("define void"):]
    assert "@dg_sigmoidf" in body and "@dg_tanhf" not in body
    zs = np.concatenate([np.linspace(-40, 40, 4001), [0.0, -0.0, np.inf, -np.inf, np.nan]])
    zs = zs.astype(F32)
    out = np.empty_like(zs)
    _call(kernel, (zs.size,), [zs, out])
    with np.errstate(all="ignore"):
        ref = 1.0 + np.tanh(zs.astype(np.float64))
        ref[zs < -5] = 2.0 / (1.0 + np.exp(-2.0 * zs[zs < -5].astype(np.float64)))
    err = _ulp_error(out, ref)
    assert err.max() <= 4, f"{err.max():.1f} ulp at z={zs[np.argmax(err)]!r}"


def test_gelu_chain_kernel_accuracy_and_hot_loop():
    """The fused gelu_tanh(x*w+b)*sigmoid(x) kernel: float64 accuracy, and its hot loop is
    vector code with no calls, one division per sigmoid and under 11 instructions per element
    (it had 13.75 with tanh's own exp, and ran 1.7x slower; 9.9 with exp's polynomial in
    Horner's form, whose longer dependency chain made the kernel ~10% slower than Estrin's
    form with its extra constant broadcasts; benchmarks/llvm_elementwise.py)."""
    kernel = _gelu_chain_kernel()
    rng = np.random.default_rng(0)
    n = 10_007
    x, w, b = (rng.standard_normal(n).astype(F32) * s for s in (4, 1, 2))
    out = np.empty_like(x)
    _call(kernel, (n,), [x, w, b, out])
    x64, u = x.astype(np.float64), x.astype(np.float64) * w + b
    ref = 0.5 * u * (1 + np.tanh(0.7978845608028654 * (u + 0.044715 * u ** 3)))
    ref *= special.expit(x64)
    np.testing.assert_allclose(out, ref, rtol=2e-6, atol=1e-6)

    ir = render_llvm(kernel)
    assert '"llvm.loop.interleave.count", i32 2' in ir
    # the vector loop: one basic block on ymm/zmm registers (other "loops" the helper finds
    # span several blocks: the scalar epilogue, the outer region)
    loops = [lp for lp in _loops(jit.assembly(ir))
             if re.search(r"%[yz]mm\d+", lp) and len(re.findall(r"^\.LBB", lp, re.M)) == 1]
    assert loops, "the gelu chain kernel has no vector loop"
    hot = max(loops, key=len)
    assert "call" not in hot
    lanes = 16 if "zmm" in hot else 8
    body = [ln for ln in hot.splitlines() if ln.startswith("\t") and not ln.startswith("\t.")]
    divs = sum("div" in ln for ln in body)
    # two interleaved vectors per iteration, two sigmoids (one from 1 + tanh) each
    assert divs == 4, f"{divs} divisions in the hot loop:\n{hot}"
    per_element = len(body) / (2 * lanes)
    assert per_element < 11, f"{len(body)} instructions per {2 * lanes} elements:\n{hot}"


def test_interleave_hint_only_on_transcendental_loops():
    def kernel(op):
        kb = KernelBuilder(1, 0)
        b0, b1 = kb.buffer("float32", False), kb.buffer("float32", True)
        v = kb.load(Access(b0, (1,)), "float32")
        kb.store(Access(b1, (1,)), kb.op(op, [v], "float32"))
        return kb.finish("k")
    assert "llvm.loop.interleave.count" in render_llvm(kernel("exp"))
    assert "llvm.loop.interleave.count" not in render_llvm(kernel("neg"))
