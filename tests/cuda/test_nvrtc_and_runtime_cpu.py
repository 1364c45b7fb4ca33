"""Without a GPU: every compile route that is installed turns CUDA C into PTX and a cubin, errors
carry the compiler's log, and the CUDA runtime imports, refuses clearly and keeps its disk cache
entries honest."""

from __future__ import annotations

import hashlib

import pytest

import dyngraph as dg
from runtime import cuda_backend, nvrtc

SRC = ('extern "C" __global__ void dg_probe(float* x, int n) {\n'
       '    int i = blockIdx.x * blockDim.x + threadIdx.x;\n'
       '    if (i < n) x[i] = __expf(x[i]) + tanhf(x[i]);\n}\n')


@pytest.mark.parametrize("route", ["cupy", "ctypes", "nvcc"])
def test_each_installed_route_builds_ptx_and_a_cubin(route):
    c = nvrtc.compiler(route)
    if c is None:
        pytest.skip(f"route {route!r} not available: {nvrtc.reason(route)}")
    ptx = c.ptx(SRC, "90")
    assert ".entry dg_probe(" in ptx and ".target sm_90" in ptx
    assert c.cubin(SRC, "90")[:4] == b"\x7fELF"
    assert c.version()


def test_compile_errors_carry_the_log_and_the_numbered_source():
    c = nvrtc.compiler()
    if c is None:
        pytest.skip(f"no CUDA compiler: {nvrtc.reason()}")
    with pytest.raises(nvrtc.NVRTCError, match=r"(?s)undefined.*--- source ---.*   1  "):
        c.ptx('extern "C" __global__ void k() { not_declared = 1; }', "90")


def test_missing_routes_say_why():
    if nvrtc.compiler("cupy") is None:
        assert "cupy" in nvrtc.reason("cupy")


def test_cuda_runtime_imports_without_cupy_and_refuses_clearly():
    x = dg.randn(4)
    f = dg.compile(lambda x: x.exp(), backend="cuda")
    if cuda_backend.available():
        pytest.skip("a GPU is present")
    f(x)                  # the first call traces (and runs eagerly)
    with pytest.raises(RuntimeError, match=r"backend='cuda'.*no usable CUDA device"):
        f(x)


def test_auto_means_cuda_only_for_cuda_inputs():
    class V:
        def __init__(self, t):
            self.device = dg.device(t)

    class G:
        inputs = [V("cpu")]
    assert not cuda_backend.wants_cuda(G, "auto")
    assert cuda_backend.wants_cuda(G, "cuda") and cuda_backend.wants_cuda(G, "cuda:reduce-overhead")
    G.inputs = [V("cpu"), V("cuda")]
    assert cuda_backend.wants_cuda(G, "auto") and not cuda_backend.wants_cuda(G, "llvm")


def test_disk_cache_entries_are_checked(tmp_path, monkeypatch):
    monkeypatch.setenv("DYNGRAPH_CACHE_DIR", str(tmp_path))
    path = str(tmp_path / "cuda" / "abc.cubin")
    payload = b"\x7fELF fake cubin"
    assert cuda_backend._write_entry(path, payload)
    assert cuda_backend.cache_dir() == str(tmp_path / "cuda")
    assert open(path[:-6] + ".sha256").read() == hashlib.sha256(payload).hexdigest()
    assert cuda_backend._entry_ok(path)
    with open(path, "r+b") as f:
        f.write(b"X")
    corrupt = cuda_backend.STATS["corrupt"]
    assert not cuda_backend._entry_ok(path)
    assert cuda_backend.STATS["corrupt"] == corrupt + 1
    assert not cuda_backend._entry_ok(str(tmp_path / "missing.cubin"))
