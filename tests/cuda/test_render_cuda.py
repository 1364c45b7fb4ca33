"""CUDA C for every kernel-lowered op and fused pattern, compiled to PTX (and to a cubin for sm_90)
without a GPU or a driver: through cupy's NVRTC, libnvrtc from the nvidia-cuda-nvrtc-cu12 wheel, or
nvcc + ptxas. The layout choice and launch configuration are pure functions, tested here too."""

from __future__ import annotations

import re

import pytest

from compiler.kernel_ir import RUNTIME, Access, KernelBuilder, ReduceKind
from compiler.render_cuda import (
    MAX_TPR,
    Variant,
    choose_variant,
    kernel_names,
    launch_config,
    max_vec,
    render_cuda,
    split_count,
    splittable,
)
from runtime import nvrtc

from .patterns import PATTERNS, lowered, plan_kernels

ARCH = "90"     # H100 / H200


@pytest.fixture(scope="module")
def cc():
    c = nvrtc.compiler()
    if c is None:
        pytest.skip(f"no CUDA compiler to check the generated code: {nvrtc.reason()}")
    return c


@pytest.fixture(scope="module")
def pattern_kernels():
    """name -> every kernel the pattern's plan runs (for its traced inputs)."""
    out = {}
    for name, (fn, make_args) in PATTERNS.items():
        args = make_args()
        graph, plan = lowered(fn, *args)
        out[name] = plan_kernels(graph, plan, [a.numpy() for a in args])
    return out


def _default_variant(k, sizes=(64, 4096)):
    if k.n_inner == 0:
        return Variant("map", vec=max_vec(k))
    return choose_variant(k, (sizes[0],) * k.n_outer + (sizes[1],) * k.n_inner)


def _module(sources) -> str:
    return "\n".join(dict.fromkeys(sources))       # identical kernels once


def _entries(ptx: str) -> set:
    return set(re.findall(r"\.entry\s+(\w+)\(", ptx))


def test_every_pattern_compiles_to_ptx(cc, pattern_kernels):
    """Each pattern's kernels in the layout picked for large sizes: one module, one NVRTC run."""
    srcs, names = [], set()
    for kernels in pattern_kernels.values():
        for k in kernels:
            v = _default_variant(k)
            srcs.append(render_cuda(k, v))
            names |= set(kernel_names(k, v))
    ptx = cc.ptx(_module(srcs), ARCH)
    assert names <= _entries(ptx)
    assert "shfl.sync.bfly" in ptx               # row reductions combine with warp shuffles
    assert re.search(r"ld\.global\.nc\.v4\.f32", ptx)     # vectorised float32 loads


@pytest.mark.parametrize("name", [
    "softmax_last", "layer_norm", "cross_entropy", "full_reduction",
    pytest.param("gelu_tanh_sigmoid", marks=pytest.mark.slow),
    pytest.param("argmax_argmin", marks=pytest.mark.slow),
    pytest.param("reduce_dims02_keep", marks=pytest.mark.slow)])
def test_fused_patterns_build_a_cubin_for_sm90_in_every_layout(cc, pattern_kernels, name):
    """ptxas (inside NVRTC, or the tool) accepts every layout: a cubin for sm_90."""
    srcs = {32: [], 64: []}
    for k in pattern_kernels[name]:
        if k.n_inner == 0:
            vs = [Variant("map"), Variant("map", vec=max_vec(k)), Variant("map", index_bits=64)]
        else:
            vs = [Variant("row", tpr=t) for t in (8, MAX_TPR)]
            vs += [Variant("row", tpr=512, cache=16), Variant("row", tpr=32, cache=1)]
            vs += [Variant("serial"), Variant("row", tpr=256, index_bits=64),
                   Variant("row", tpr=64, fast_math=False)]
            if splittable(k):
                vs.append(Variant("split", tpr=512))
        for v in vs:
            srcs[v.index_bits].append(render_cuda(k, v))
    for bits, group in srcs.items():
        cubin = cc.cubin(_module(group), ARCH)
        assert cubin[:4] == b"\x7fELF", bits


def test_one_kernel_for_softmax_layer_norm_and_cross_entropys_log_softmax(pattern_kernels):
    # softmax_last computes softmax and log_softmax: one kernel each
    for name, count in (("softmax_last", 2), ("layer_norm", 1)):
        kernels = pattern_kernels[name]
        assert len(kernels) == count, (name, [k.text() for k in kernels])
        for k in kernels:
            src = render_cuda(k, _default_variant(k))
            assert src.count("__global__") == 1 and "__shfl_xor_sync" in src
    ce = pattern_kernels["cross_entropy"]
    assert any("max" in k.text() and "exp" in k.text() and "log" in k.text() for k in ce)


def test_softmax_uses_fast_exp_only_on_shifted_logits(pattern_kernels):
    k = pattern_kernels["softmax_last"][0]
    src = render_cuda(k, _default_variant(k))
    assert "__expf(" in src
    precise = render_cuda(k, Variant("row", tpr=256, fast_math=False))
    assert "__expf(" not in precise


def test_plain_exp_is_the_accurate_one():
    kb = KernelBuilder(1, 0)
    x = kb.load(Access(kb.buffer("float32", False), (1,)), "float32")
    kb.store(Access(kb.buffer("float32", True), (1,)), kb.op("exp", [x], "float32"))
    src = render_cuda(kb.finish("k"), Variant("map", vec=4))
    assert "expf(" in src and "__expf(" not in src


def test_symbolic_sizes_and_strides_are_kernel_arguments(cc):
    kb = KernelBuilder(1, 1)
    b0 = kb.buffer("float64", False)
    b1 = kb.buffer("float64", True)
    x = kb.load(Access(b0, (RUNTIME, RUNTIME)), "float64")
    kb.store(Access(b1, (RUNTIME, 0)), kb.reduce(ReduceKind.SUM, x, "float64", "float64"))
    k = kb.finish("k")
    for bits, ty in ((32, "u32"), (64, "u64")):
        src = render_cuda(k, Variant("row", tpr=32, index_bits=bits))
        assert "const dg_idx n0, const dg_idx n1, const dg_idx s0_0, const dg_idx s0_1" in src
        ptx = cc.ptx(src, ARCH)
        params = re.findall(r"\.param \.(\w+) \w+_param_(\d+)", ptx)
        assert [t for t, _ in params[:4]] == [ty] * 4, params


def test_rendering_is_deterministic_and_carries_the_kernel_ir(pattern_kernels):
    k = pattern_kernels["layer_norm"][0]
    v = _default_variant(k)
    assert render_cuda(k, v) == render_cuda(k, v)
    src = render_cuda(k, v)
    assert src.startswith("// kernel k(") and f"// variant: {v.text()}" in src
    assert render_cuda(k, Variant("row", tpr=64)) != src


# ----- layout choice and launch configuration (pure) ------------------------------------------

def _reduce_kernel(maps=False):
    kb = KernelBuilder(1, 1)
    b0 = kb.buffer("float32", False)
    x = kb.load(Access(b0, (RUNTIME, 1)), "float32")
    s = kb.reduce(ReduceKind.SUM, kb.op("cast", [x], "float64"), "float32", "float64")
    if maps:
        kb.store(Access(kb.buffer("float32", True), (RUNTIME, 1)), kb.op("sub", [x, s], "float32"))
    else:
        kb.store(Access(kb.buffer("float32", True), (RUNTIME, 0)), s)
    return kb.finish("k")


def test_layout_follows_the_sizes():
    red = _reduce_kernel()
    assert choose_variant(red, (8192, 8192)) == Variant("row", tpr=512, cache=16)
    assert choose_variant(red, (100000, 10)).tpr == 4
    assert choose_variant(red, (4096, 64)).tpr == 4
    assert choose_variant(red, (1, 1 << 28)).mode == "split"
    assert choose_variant(red, (1, 1000)).mode == "row"
    assert choose_variant(_reduce_kernel(maps=True), (1, 1 << 28)).mode == "row"
    assert choose_variant(red, (1 << 20, 64), strided_inner=True).mode == "serial"
    assert choose_variant(red, (100, 64), strided_inner=True).mode == "row"
    assert choose_variant(red, (8, 8), big_index=True).index_bits == 64


@pytest.mark.parametrize("inner,outer", [(1 << 16, 1), (1 << 28, 1), (123457, 3), (70001, 132)])
def test_split_chunks_cover_the_row_exactly(inner, outer):
    n, chunk = split_count(inner, outer, 132)
    assert n * chunk >= inner and (n - 1) * chunk < inner and n >= 1
    grid, block = launch_config(Variant("split", tpr=512), (outer, inner), 1)[0]
    assert grid == (n, outer, 1) and block == (512, 1, 1)


def test_launch_configuration_covers_every_point():
    (grid, block), = launch_config(Variant("row", tpr=32), (1000, 100), 1)
    rows = block[0] // 32
    assert grid[0] * rows >= 1000 > (grid[0] - 1) * rows
    (grid, block), = launch_config(Variant("row", tpr=1024), (7, 8192), 1)
    assert grid == (7, 1, 1) and block == (1024, 1, 1)
    (grid, block), = launch_config(Variant("map", vec=4), (1 << 28,), 1, sm_count=132)
    assert grid[0] == 132 * 16 and block == (256, 1, 1)     # grid-stride past that
    (grid, _), = launch_config(Variant("map"), (5,), 1)
    assert grid == (1, 1, 1)


def test_sigmoid_divides_with_the_fast_reciprocal_in_float32_only():
    for dtype, fast in (("float32", True), ("float64", False)):
        kb = KernelBuilder(1, 0)
        x = kb.load(Access(kb.buffer(dtype, False), (1,)), dtype)
        kb.store(Access(kb.buffer(dtype, True), (1,)), kb.op("sigmoid", [x], dtype))
        k = kb.finish("k")
        src = render_cuda(k, Variant("map", vec=max_vec(k)))
        assert ("__fdividef(1.0f, 1.0f + " in src) == fast
        assert "__fdividef" not in render_cuda(k, Variant("map", fast_math=False))


def test_row_kernels_keep_the_row_in_registers(pattern_kernels):
    """Softmax's three loops over a row: the first reads memory into c<i>[u], the others read
    the registers; the loops are unrolled over `cache` points per thread."""
    k = pattern_kernels["softmax_last"][0]
    assert k.n_outer == 2 and k.ndim == 3     # softmax over the last dim of (4, 6, 10)
    v = choose_variant(k, (4, 2048, 8192))
    assert v == Variant("row", tpr=512, cache=16)
    assert choose_variant(k, (4, 6, 100)) == Variant("row", tpr=8, cache=16)
    assert choose_variant(k, (4, 6, 10000)) == Variant("row", tpr=1024, cache=16)
    assert choose_variant(k, (1, 4, 1 << 20)).cache == 0     # too long a row: loops re-read
    src = render_cuda(k, v)
    loads = re.findall(r"= b0\[", src)
    assert len(loads) == 1, src
    assert src.count("#pragma unroll") == 3 and src.count("[u];") == 2, src
    assert re.search(r"float c\d+\[16\];", src)


def test_vector_width_from_dtypes():
    kb = KernelBuilder(1, 0)
    x = kb.load(Access(kb.buffer("float32", False), (1,)), "float32")
    kb.store(Access(kb.buffer("float64", True), (1,)), kb.op("cast", [x], "float64"))
    assert max_vec(kb.finish("k")) == 2
    kb = KernelBuilder(1, 0)
    x = kb.load(Access(kb.buffer("float32", False), (RUNTIME,)), "float32")
    kb.store(Access(kb.buffer("float32", True), (1,)), x)
    assert max_vec(kb.finish("k")) == 1          # a strided innermost access: scalar loads
    kb = KernelBuilder(1, 0)
    x = kb.load(Access(kb.buffer("float32", False), (1,)), "float32")
    kb.store(Access(kb.buffer("bool", True), (1,)), kb.op("gt", [x, kb.const(0.0, "float32")],
                                                         "bool"))
    assert max_vec(kb.finish("k")) == 1


def test_split_needs_a_single_reduction_loop():
    with pytest.raises(ValueError, match="split form"):
        render_cuda(_reduce_kernel(maps=True), Variant("split", tpr=512))


def test_size_parameters_follow_the_strides_and_compile(cc):
    """A symbolic graph's size expression (`InstrKind.PARAM`) is a `long long` argument after
    the sizes and strides, converted to the operation's type (runtime/cuda_backend.py passes
    it last among the scalars)."""
    from compiler.ir import SymExpr
    kb = KernelBuilder(1, 0)
    b0, b1 = kb.buffer("float32", False), kb.buffer("float32", True)
    e = SymExpr(1, ("s0",), -1)
    kb.params = [e]
    x = kb.load(Access(b0, (RUNTIME,)), "float32")
    kb.store(Access(b1, (1,)), kb.op("div", [x, kb.param(0, e, "float32")], "float32"))
    src = render_cuda(kb.finish("k"), Variant("map"))
    assert "const dg_idx n0, const dg_idx s0_0, const long long p0, const float*" in src
    assert "((float)p0)" in src
    ptx = cc.ptx(src, ARCH)
    assert re.findall(r"\.param \.(\w+) \w+_param_2", ptx) == ["u64"]
