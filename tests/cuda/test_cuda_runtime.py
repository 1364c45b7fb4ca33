"""On a GPU: eager mode on cupy against the CPU (every OpCase, MLP and CNN training), compiled CUDA
kernels against the CPU in float64, the two-pass reduction, the kernel caches, CUDA graphs and
exported graphs loaded onto CUDA. Every test is marked `cuda` and skips without a GPU."""

from __future__ import annotations

import numpy as np
import pytest

import dyngraph as dg
import dyngraph.nn as nn
import dyngraph.nn.functional as F

from .patterns import PATTERNS, train_step

pytestmark = pytest.mark.cuda


def _host(t):
    a = t.detach()._data if isinstance(t, dg.Tensor) else t
    return a.get() if hasattr(a, "get") else np.asarray(a)


def _flat(out):
    return list(out) if isinstance(out, (tuple, list)) else [out]


def _to(args, dev):
    return [a.to(dev) if isinstance(a, dg.Tensor) else a for a in args]


def _close(got, want, dtype):
    g, w = _host(got), _host(want)
    assert g.shape == w.shape and g.dtype == w.dtype, (g.shape, w.shape, g.dtype, w.dtype)
    if w.dtype.kind in "biu":
        np.testing.assert_array_equal(g, w)
        return
    assert np.isnan(g).sum() <= np.isnan(w).sum(), "NaN where the CPU has none"
    tol = 1e-10 if dtype == "float64" else 3e-5
    np.testing.assert_allclose(g, w, rtol=tol, atol=tol, equal_nan=True)


# ----- eager mode ---------------------------------------------------------------------------

def _op_cases():
    from tests.opinfo import all_cases
    return all_cases()


@pytest.mark.parametrize("case", _op_cases(), ids=lambda c: c.op)
def test_every_op_case_runs_on_cuda_like_the_cpu(case):
    """Each OpCase of the op table, forward in float64 on cupy, against the same call on numpy."""
    def inputs(dev):
        out = []
        for a in case.inputs:
            a = np.asarray(a)
            t = dg.tensor(a.astype(np.float64) if a.dtype.kind == "f" else a)
            out.append(t.to(dev))
        return out
    try:
        want = _flat(case.fn(*inputs("cpu")))
    except Exception as e:  # noqa: BLE001 - a case that needs other arguments on the CPU too
        pytest.skip(f"case does not run in float64 on the CPU: {e}")
    got = _flat(case.fn(*inputs("cuda")))
    for g, w in zip(got, want):
        if isinstance(w, dg.Tensor):
            if case.op in ("random", "bernoulli", "multinomial", "dropout", "randperm"):
                assert g.shape == w.shape and g.device.type == "cuda"
                continue
            assert g.device.type == "cuda", case.op
            _close(g, w, "float64")


def _mlp():
    return nn.Sequential(nn.Linear(20, 32), nn.GELU(), nn.Linear(32, 32), nn.Tanh(),
                         nn.Linear(32, 5))


def _cnn():
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(8, 8, 3), nn.ReLU(), nn.Flatten(), nn.Linear(8 * 2 * 2, 4))


@pytest.mark.parametrize("make,shape,opt", [(_mlp, (16, 20), "sgd"), (_mlp, (16, 20), "adam"),
                                            (_cnn, (6, 3, 8, 8), "sgd")])
def test_training_on_cuda_matches_the_cpu(make, shape, opt):
    dg.manual_seed(0)
    cpu = make().double()
    gpu = make().double()
    gpu.load_state_dict(cpu.state_dict())
    gpu.to("cuda")
    x = dg.randn(*shape, dtype=dg.float64)
    y = dg.randint(0, 4, (shape[0],))
    mk = (lambda p: dg.optim.SGD(p, lr=0.1, momentum=0.9)) if opt == "sgd" else \
        (lambda p: dg.optim.Adam(p, lr=1e-2))
    opts = [mk(cpu.parameters()), mk(gpu.parameters())]
    for _ in range(5):
        losses = []
        for model, o, dev in ((cpu, opts[0], "cpu"), (gpu, opts[1], "cuda")):
            o.zero_grad()
            loss = F.cross_entropy(model(x.to(dev)), y.to(dev))
            loss.backward()
            o.step()
            losses.append(loss)
        _close(losses[1], losses[0], "float64")
    for (n, p), (_, q) in zip(cpu.named_parameters(), gpu.named_parameters()):
        assert q.device.type == "cuda", n
        _close(q, p, "float64")


# ----- compiled kernels ------------------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(PATTERNS))
def test_compiled_cuda_kernels_match_the_cpu_in_float64(name):
    fn, make_args = PATTERNS[name]
    args = [a.double() if isinstance(a, dg.Tensor) and a.dtype.is_floating_point else a
            for a in make_args()]
    want = _flat(fn(*args))
    cf = dg.compile(fn, backend="cuda")
    dev_args = _to(args, "cuda")
    cf(*dev_args)
    got = _flat(cf(*dev_args))
    for g, w in zip(got, want):
        _close(g, w, "float64")
    assert "cuda kernel" in str(cf.explain())


def test_float32_kernels_match_the_cpu():
    for name in ("gelu_tanh_sigmoid", "softmax_last", "layer_norm", "unary_f32"):
        fn, make_args = PATTERNS[name]
        args = make_args()
        want = _flat(fn(*args))
        cf = dg.compile(fn, backend="cuda")
        got = _flat(cf(*_to(args, "cuda")))
        for g, w in zip(got, want):
            _close(g, w, "float32")


@pytest.mark.parametrize("n", [4, 12, 4 * 1001, 256 * 4 * 2 * 132 * 16 + 4, (1 << 22) + 4])
def test_wide_map_kernels_cover_every_element(n):
    """float4 groups, two per thread and iteration (an odd count of groups, fewer and more
    groups than threads): every element computed once, as on the CPU."""
    x = dg.randn(n)
    y = dg.randn(n)
    f = lambda x, y: dg.sigmoid(x) * y + x.tanh()  # noqa: E731
    cf = dg.compile(f, backend="cuda")
    xd, yd = x.to("cuda"), y.to("cuda")
    cf(xd, yd)
    _close(cf(xd, yd), f(x, y), "float32")


@pytest.mark.parametrize("n", [1, 31, 1000, (1 << 20) + 7, 1 << 23])
def test_reductions_of_any_length_including_the_two_pass_form(n):
    x = dg.randn(n, dtype=dg.float64)
    cf = dg.compile(lambda x: (x.sum(), x.amax(), x.argmin(), (x * x).mean()), backend="cuda")
    got = cf(x.to("cuda"))
    want = (x.sum(), x.amax(), x.argmin(), (x * x).mean())
    for g, w in zip(got, want):
        _close(g, w, "float64")


def test_non_contiguous_inputs_and_column_sums():
    x = dg.randn(4096, 257, dtype=dg.float64)

    def f(x):
        return x.sum(0), x.t().exp().sum(1), x[:, ::3].relu()
    cf = dg.compile(f, backend="cuda")
    xc = x.to("cuda")
    cf(xc)
    for g, w in zip(cf(xc), f(x)):
        _close(g, w, "float64")


def test_kernel_cache_memory_and_disk(tmp_path, monkeypatch):
    from runtime import cuda_backend
    monkeypatch.setenv("DYNGRAPH_CACHE_DIR", str(tmp_path))
    cuda_backend._MODULES.clear()
    before = dict(cuda_backend.STATS)
    src = 'extern "C" __global__ void dg_cache_probe(float* x) { x[threadIdx.x] += 1.0f; }'
    cuda_backend.module_for(src)
    cuda_backend.module_for(src)
    assert cuda_backend.STATS["compiled"] == before["compiled"] + 1
    assert cuda_backend.STATS["memory_hits"] == before["memory_hits"] + 1
    cuda_backend._MODULES.clear()
    mod = cuda_backend.module_for(src)
    assert cuda_backend.STATS["disk_hits"] == before["disk_hits"] + 1
    import cupy
    x = cupy.zeros(32, dtype=np.float32)
    mod.get_function("dg_cache_probe")((1,), (32,), (x,))
    assert float(x.sum()) == 32.0


# ----- interpreter, compiled autograd and dynamic shapes on CUDA ----------------------------

def _loss_fn(x, w):
    scale = dg.tensor([0.5, -1.0, 2.0], dtype=dg.float64, device=x.device)   # a graph constant
    return ((x @ w) * scale).tanh().sum()


@pytest.mark.parametrize("backend", ["interpreter", "cuda", "auto"])
def test_compiled_forward_and_backward_on_cuda_match_the_cpu(backend):
    """The interpreter runs cupy rules on cupy inputs; under "cuda"/"auto" the compiled-autograd
    backward graph is a CUDA program too."""
    from compiler.interpreter import Interpreter
    from runtime.cuda_backend import CUDAProgram
    x = dg.randn(4, 5, dtype=dg.float64)
    w = dg.randn(5, 3, dtype=dg.float64, requires_grad=True)
    _loss_fn(x, w).backward()
    cf = dg.compile(_loss_fn, backend=backend)
    xd = x.to("cuda")
    for _ in range(3):
        wd = w.detach().to("cuda").requires_grad_()
        loss = cf(xd, wd)
        loss.backward()
        assert loss.device.type == "cuda" and wd.grad.device.type == "cuda"
        _close(loss, _loss_fn(x, w.detach()), "float64")
        _close(wd.grad, w.grad, "float64")
    progs = [p.interpreter for _, p in cf._cf.entries[0].root.leaf[4]]
    want = Interpreter if backend == "interpreter" else CUDAProgram
    assert progs and all(isinstance(p, want) for p in progs), progs


def test_dynamic_shapes_on_cuda_match_the_cpu():
    """A symbolic graph (run by the interpreter) on cupy inputs, at several sizes."""
    def g(x):
        return (x * 2.0).softmax(-1).sum(0)
    cf = dg.compile(g, backend="cuda", dynamic=True)
    for n in (3, 5, 7, 9):
        x = dg.randn(n, 4, dtype=dg.float64)
        _close(cf(x.to("cuda")), g(x), "float64")
    assert not any("stays static" in e for e in cf._cf.events), cf._cf.events


def test_symbolic_graph_on_cuda_program_opt_in(monkeypatch):
    """DYNGRAPH_CUDA_SYMBOLIC=1: a symbolic graph runs as a CUDAProgram (sizes and the size
    parameters of var's n - 1 and a mean's 1/n as kernel arguments), forward and backward. Once
    this passes on a GPU, `segments._make_program` can make it the default."""
    from runtime.cuda_backend import CUDAProgram
    monkeypatch.setenv("DYNGRAPH_CUDA_SYMBOLIC", "1")

    def g(x):
        return ((x * 2.0).softmax(-1) + x.var(0) + x / x.shape[0]).sum(0)
    cf = dg.compile(g, backend="cuda", dynamic=True)
    for n in (3, 5, 7, 9, 33):
        x = dg.randn(n, 4, dtype=dg.float64)
        xd = x.to("cuda").requires_grad_()
        out = cf(xd)
        _close(out, g(x), "float64")
        out.sum().backward()
        xr = x.clone().requires_grad_()
        g(xr).sum().backward()
        _close(xd.grad, xr.grad, "float64")
    sym = [e for e in cf._cf.entries if e.sym_at]
    assert sym and all(isinstance(s.program[0], CUDAProgram) for e in sym for s in e.segments())


def test_folded_constants_on_cuda_match_the_cpu():
    """Constants made from CUDA tensors fold at compile time (on a host copy)."""
    def fn(x):
        return x * (dg.arange(4.0, dtype=dg.float64, device=x.device) * 2.0 + 1.0)
    x = dg.randn(3, 4, dtype=dg.float64)
    for backend in ("interpreter", "cuda"):
        cf = dg.compile(fn, backend=backend)
        for _ in range(2):
            _close(cf(x.to("cuda")), fn(x), "float64")


# ----- CUDA graphs -------------------------------------------------------------------------

def test_reduce_overhead_replays_a_cuda_graph_of_a_training_step():
    from runtime import cuda_backend
    dg.manual_seed(0)
    model = _mlp().to("cuda")
    ref = _mlp()
    ref.load_state_dict({k: v.to("cpu") for k, v in model.state_dict().items()})
    opt = dg.optim.SGD(model.parameters(), lr=0.05)
    ref_opt = dg.optim.SGD(ref.parameters(), lr=0.05)

    step = train_step

    compiled = dg.compile(step, backend="cuda", mode="reduce-overhead")
    replays = cuda_backend.STATS["graph_replays"]
    for _ in range(6):
        x, y = dg.randn(8, 20), dg.randint(0, 5, (8,))
        got = compiled(model, opt, x.to("cuda"), y.to("cuda"))
        want = step(ref, ref_opt, x, y)
        _close(got, want, "float32")
    for p, q in zip(model.parameters(), ref.parameters()):
        _close(p, q, "float32")
    assert "CUDA graph" in str(compiled.explain())
    assert cuda_backend.STATS["graph_replays"] > replays, compiled.explain()


def test_reduce_overhead_forward_with_new_inputs_each_call():
    from runtime import cuda_backend
    w = dg.randn(64, 64).to("cuda")
    f = dg.compile(lambda x, w: F.softmax((x @ w).tanh(), -1), backend="cuda",
                   mode="reduce-overhead")
    replays = cuda_backend.STATS["graph_replays"]
    for _ in range(8):
        x = dg.randn(32, 64)
        _close(f(x.to("cuda"), w), F.softmax((x @ w.to("cpu")).tanh(), -1), "float32")
    # the first call runs eagerly while it is traced, the next two step by step, then the
    # capture and its replays
    assert cuda_backend.STATS["graph_replays"] >= replays + 4, f.explain()


# ----- exported graphs ----------------------------------------------------------------------

def test_exported_graph_loads_onto_cuda(tmp_path):
    model = _mlp()
    x = dg.randn(4, 20)
    path = str(tmp_path / "mlp.dg")
    dg.export(model, (x,)).save(path)
    loaded = dg.load_graph(path, device="cuda")
    out = loaded(x.to("cuda"))
    out = out[0] if isinstance(out, (tuple, list)) else out
    assert out.device.type == "cuda"
    _close(out, model(x), "float32")


# ----- cuBLAS called directly (capturable) ------------------------------------------------------

@pytest.mark.parametrize("dtype", ["float32", "float64", "float16"])
@pytest.mark.parametrize("m,k,n", [(1, 1, 1), (7, 5, 3), (64, 1, 33), (300, 257, 129),
                                   (5, 0, 4)])
def test_direct_cublas_gemm_matches_numpy_in_every_layout(dtype, m, k, n):
    import cupy as cp

    from runtime import cublas
    assert cublas.available(), cublas.why()
    rng = np.random.default_rng(m * 100 + n)
    a = rng.standard_normal((m, k)).astype(dtype)
    b = rng.standard_normal((k, n)).astype(dtype)
    want = a.astype(np.float64) @ b.astype(np.float64)
    tol = {"float16": 2e-2, "float32": 1e-5, "float64": 1e-12}[dtype]
    ad, bd = cp.asarray(a), cp.asarray(b)
    layouts = [(ad, bd), (cp.asfortranarray(ad), bd), (ad, cp.asfortranarray(bd)),
               (cp.asfortranarray(ad), cp.asfortranarray(bd))]
    wide = cp.zeros((m, k + 3), dtype=dtype)     # a strided view: copied first
    wide[:, :k] = ad
    layouts.append((wide[:, :k], bd))
    for x, y in layouts:
        got = cublas.gemm(x, y).get().astype(np.float64)
        assert got.shape == (m, n) and got.dtype == np.float64
        np.testing.assert_allclose(got, want, rtol=tol, atol=tol * max(1.0, np.sqrt(k)))


def test_direct_cublas_gemm_is_captured_by_a_cuda_graph():
    import cupy as cp

    from runtime import cublas
    a = cp.random.standard_normal((64, 48), dtype=cp.float32)
    b = cp.random.standard_normal((48, 32), dtype=cp.float32)
    s = cp.cuda.Stream(non_blocking=True)
    with s:
        out = cublas.gemm(a, b)            # the handle and workspace exist before the capture
        s.synchronize()
        s.begin_capture()
        out = cublas.gemm(a, b)
        graph = s.end_capture()
        for _ in range(3):
            a[...] = cp.random.standard_normal((64, 48), dtype=cp.float32)
            graph.launch(s)
            s.synchronize()
            np.testing.assert_allclose(out.get(), (a.get().astype(np.float64) @
                                                   b.get().astype(np.float64)),
                                       rtol=1e-5, atol=1e-4)


def test_a_cuda_graph_replay_reports_a_bad_index():
    """Index bounds are checked on the device inside a captured graph and raised after the
    replay (the step-by-step runs before the capture check them on the host)."""
    f = dg.compile(lambda x, i: x.gather(1, i) * 2.0, backend="cuda", mode="reduce-overhead")
    x = dg.randn(4, 6)
    good = dg.tensor([[0], [5], [2], [1]])
    for _ in range(5):
        _close(f(x.to("cuda"), good.to("cuda")), x.gather(1, good) * 2.0, "float32")
    assert "CUDA graph: captured" in str(f.explain()), f.explain()
    with pytest.raises(RuntimeError, match="out of bounds for dimension 1 with size 6 .found in "
                                           "a CUDA graph replay"):
        f(x.to("cuda"), dg.tensor([[0], [6], [2], [1]]).to("cuda"))


@pytest.mark.parametrize("which", ["softmax", "layer_norm"])
def test_large_row_kernels_time_both_forms_and_keep_the_faster(which):
    """Rows of 8192 over 1024 rows: both the register-cached and the re-reading form run on the
    first launch (same threads, same order, same result) and explain() names the one kept."""
    from runtime import cuda_backend
    x = dg.randn(1024, 8192)
    w, b = dg.randn(8192), dg.randn(8192)
    fn = (lambda x, w, b: F.softmax(x, -1)) if which == "softmax" else \
        (lambda x, w, b: F.layer_norm(x, (8192,), w, b))
    cf = dg.compile(fn, backend="cuda")
    before = cuda_backend.STATS["autotuned"]
    args = [x.to("cuda"), w.to("cuda"), b.to("cuda")]
    for _ in range(3):
        _close(cf(*args), fn(x, w, b), "float32")
    assert cuda_backend.STATS["autotuned"] == before + 1
    assert "timed on its first launch, kept row tpr=512" in str(cf.explain()), cf.explain()


def test_reduce_overhead_captures_a_cnn_training_step():
    """Convolutions are im2col + 2-D GEMMs: the whole step, backward and update, is one graph."""
    from runtime import cuda_backend
    dg.manual_seed(0)
    model = _cnn().to("cuda")
    ref = _cnn()
    ref.load_state_dict({k: v.to("cpu") for k, v in model.state_dict().items()})
    opt = dg.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    ref_opt = dg.optim.SGD(ref.parameters(), lr=0.05, momentum=0.9)

    step = train_step

    compiled = dg.compile(step, backend="cuda", mode="reduce-overhead")
    replays = cuda_backend.STATS["graph_replays"]
    for _ in range(8):     # two traces (momentum buffers appear), two step-by-step runs, then
        x, y = dg.randn(6, 3, 8, 8), dg.randint(0, 4, (6,))     # the capture and replays
        _close(compiled(model, opt, x.to("cuda"), y.to("cuda")), step(ref, ref_opt, x, y),
               "float32")
    for p, q in zip(model.parameters(), ref.parameters()):
        np.testing.assert_allclose(_host(p), _host(q), rtol=1e-4, atol=1e-5)
    notes = [ln for ln in str(compiled.explain()).splitlines() if "CUDA graph" in ln]
    assert any("CUDA graph: captured" in ln for ln in notes), notes
    assert cuda_backend.STATS["graph_replays"] >= replays + 3, notes
