"""Compile CUDA C to PTX or cubin without a GPU or a driver.

Three routes, tried in order (`compiler()` says which one is used, or why none is):
1. `cupy.cuda.nvrtc` when cupy is installed (the route on a GPU machine);
2. libnvrtc loaded with ctypes: from the `nvidia-cuda-nvrtc-cu12` wheel (`pip install
   'dyngraph[cuda]'`), `$DYNGRAPH_NVRTC`, or the system's CUDA toolkit;
3. `nvcc --ptx` then `ptxas` for the cubin, when both are on PATH.
NVRTC needs no driver: it is a library from source text to PTX (and, since CUDA 11.1, to cubin
for a real architecture), so CI checks that every generated kernel compiles for sm_90.
"""

from __future__ import annotations

import ctypes
import glob
import os
import shutil
import subprocess
import tempfile

__all__ = ["NVRTCError", "Compiler", "compiler", "compile_ptx", "compile_cubin", "reason"]


class NVRTCError(RuntimeError):
    """A kernel did not compile; the message holds the compiler's log and the source."""


def _error(route: str, log: str, src: str) -> NVRTCError:
    numbered = "\n".join(f"{i + 1:4d}  {ln}" for i, ln in enumerate(src.splitlines()))
    return NVRTCError(f"{route}: the CUDA kernel did not compile:\n{log.strip()}\n--- source ---\n"
                      f"{numbered}")


class Compiler:
    """One route to PTX/cubin: `ptx(src, arch)` and `cubin(src, arch)` (arch: "90" for sm_90)."""

    name = "?"

    def ptx(self, src: str, arch: str, options=()) -> str:  # pragma: no cover - abstract
        raise NotImplementedError

    def cubin(self, src: str, arch: str, options=()) -> bytes:  # pragma: no cover - abstract
        raise NotImplementedError

    def version(self) -> str:
        return "?"


class _CupyNVRTC(Compiler):
    """NVRTC through cupy's bindings."""

    name = "cupy.cuda.nvrtc"

    def __init__(self, nvrtc):
        self.n = nvrtc

    def _compile(self, src, opts):
        n = self.n
        prog = n.createProgram(src, "dyngraph.cu", [], [])
        try:
            try:
                n.compileProgram(prog, list(opts))
            except n.NVRTCError:
                raise _error(self.name, n.getProgramLog(prog), src) from None
            return prog
        except BaseException:
            n.destroyProgram(prog)
            raise

    def ptx(self, src, arch, options=()):
        prog = self._compile(src, [f"--gpu-architecture=compute_{arch}", *options])
        try:
            out = self.n.getPTX(prog)
        finally:
            self.n.destroyProgram(prog)
        return out.decode() if isinstance(out, bytes) else out

    def cubin(self, src, arch, options=()):
        if not hasattr(self.n, "getCUBIN"):
            raise NVRTCError(f"{self.name}: this cupy has no getCUBIN (cupy >= 9 has it)")
        prog = self._compile(src, [f"--gpu-architecture=sm_{arch}", *options])
        try:
            return bytes(self.n.getCUBIN(prog))
        finally:
            self.n.destroyProgram(prog)

    def version(self):
        major, minor = self.n.getVersion()
        return f"nvrtc {major}.{minor} (cupy)"


class _CtypesNVRTC(Compiler):
    """libnvrtc through ctypes (the pip wheel or a CUDA toolkit)."""

    name = "libnvrtc (ctypes)"

    def __init__(self, path: str):
        self.path = path
        lib = self.lib = ctypes.CDLL(path)
        vp, sz = ctypes.c_void_p, ctypes.c_size_t
        lib.nvrtcGetErrorString.restype = ctypes.c_char_p
        lib.nvrtcCreateProgram.argtypes = [ctypes.POINTER(vp), ctypes.c_char_p, ctypes.c_char_p,
                                           ctypes.c_int, vp, vp]
        lib.nvrtcCompileProgram.argtypes = [vp, ctypes.c_int, ctypes.POINTER(ctypes.c_char_p)]
        lib.nvrtcDestroyProgram.argtypes = [ctypes.POINTER(vp)]
        for what in ("PTX", "CUBIN", "ProgramLog"):
            getattr(lib, f"nvrtcGet{what}Size").argtypes = [vp, ctypes.POINTER(sz)]
            getattr(lib, f"nvrtcGet{what}").argtypes = [vp, ctypes.c_char_p]

    def _check(self, code: int, what: str) -> None:
        if code != 0:
            msg = self.lib.nvrtcGetErrorString(code).decode()
            raise NVRTCError(f"{self.name}: {what} failed: {msg}")

    def _get(self, prog, what: str) -> bytes:
        size = ctypes.c_size_t()
        self._check(getattr(self.lib, f"nvrtcGet{what}Size")(prog, ctypes.byref(size)), what)
        buf = ctypes.create_string_buffer(size.value)
        self._check(getattr(self.lib, f"nvrtcGet{what}")(prog, buf), what)
        return buf.raw[:size.value]

    def _run(self, src: str, opts, what: str) -> bytes:
        lib = self.lib
        prog = ctypes.c_void_p()
        self._check(lib.nvrtcCreateProgram(ctypes.byref(prog), src.encode(), b"dyngraph.cu", 0,
                                           None, None), "nvrtcCreateProgram")
        try:
            argv = (ctypes.c_char_p * len(opts))(*[o.encode() for o in opts])
            if lib.nvrtcCompileProgram(prog, len(opts), argv) != 0:
                log = self._get(prog, "ProgramLog").rstrip(b"\0").decode(errors="replace")
                raise _error(self.name, log, src)
            return self._get(prog, what)
        finally:
            lib.nvrtcDestroyProgram(ctypes.byref(prog))

    def ptx(self, src, arch, options=()):
        out = self._run(src, [f"--gpu-architecture=compute_{arch}", *options], "PTX")
        return out.rstrip(b"\0").decode()

    def cubin(self, src, arch, options=()):
        return self._run(src, [f"--gpu-architecture=sm_{arch}", *options], "CUBIN")

    def version(self):
        major, minor = ctypes.c_int(), ctypes.c_int()
        self.lib.nvrtcVersion(ctypes.byref(major), ctypes.byref(minor))
        return f"nvrtc {major.value}.{minor.value} ({os.path.basename(self.path)})"


class _NVCC(Compiler):
    """`nvcc --ptx` for PTX and `ptxas` for the cubin (a CUDA toolkit without NVRTC)."""

    name = "nvcc + ptxas"

    def __init__(self, nvcc: str, ptxas: str):
        self.nvcc, self.ptxas = nvcc, ptxas

    def _tool(self, argv, src) -> None:
        r = subprocess.run(argv, capture_output=True, text=True, timeout=300)
        if r.returncode != 0:
            raise _error(f"{self.name} ({os.path.basename(argv[0])})", r.stderr + r.stdout, src)

    def ptx(self, src, arch, options=()):
        with tempfile.TemporaryDirectory() as d:
            cu, out = os.path.join(d, "k.cu"), os.path.join(d, "k.ptx")
            with open(cu, "w") as f:
                f.write(src)
            opts = [o.replace("--use_fast_math", "-use_fast_math") for o in options]
            self._tool([self.nvcc, "--ptx", f"-arch=compute_{arch}", *opts, cu, "-o", out], src)
            with open(out) as f:
                return f.read()

    def cubin(self, src, arch, options=()):
        ptx = self.ptx(src, arch, options)
        with tempfile.TemporaryDirectory() as d:
            p, out = os.path.join(d, "k.ptx"), os.path.join(d, "k.cubin")
            with open(p, "w") as f:
                f.write(ptx)
            self._tool([self.ptxas, f"-arch=sm_{arch}", p, "-o", out], src)
            with open(out, "rb") as f:
                return f.read()

    def version(self):
        r = subprocess.run([self.nvcc, "--version"], capture_output=True, text=True)
        return r.stdout.strip().splitlines()[-1] if r.returncode == 0 else "nvcc"


def _libnvrtc_candidates() -> list[str]:
    paths = []
    env = os.environ.get("DYNGRAPH_NVRTC")
    if env:
        paths.append(env)
    try:
        import nvidia.cuda_nvrtc as wheel   # the nvidia-cuda-nvrtc-cu12 wheel
        for root in wheel.__path__:
            paths += sorted(glob.glob(os.path.join(root, "lib", "libnvrtc.so*")))
    except ImportError:
        pass
    for root in (os.environ.get("CUDA_HOME", ""), "/usr/local/cuda"):
        if root:
            paths += sorted(glob.glob(os.path.join(root, "lib64", "libnvrtc.so*")))
    return [p for p in paths if "builtins" not in os.path.basename(p)
            and ".alt." not in os.path.basename(p)]


_found: dict = {}


def compiler(route: str | None = None) -> Compiler | None:
    """The first route that works ("cupy", "ctypes", "nvcc", or None for any); None if none."""
    key = route or "any"
    if key in _found:
        return _found[key]
    reasons = []
    result = None
    if route in (None, "cupy"):
        try:
            from cupy.cuda import nvrtc
            result = _CupyNVRTC(nvrtc)
        except Exception as e:  # noqa: BLE001 - any import failure means "not this route"
            reasons.append(f"cupy.cuda.nvrtc: {e}")
    if result is None and route in (None, "ctypes"):
        for path in _libnvrtc_candidates():
            try:
                result = _CtypesNVRTC(path)
                break
            except OSError as e:
                reasons.append(f"{path}: {e}")
        else:
            reasons.append("libnvrtc: not found (pip install nvidia-cuda-nvrtc-cu12)")
    if result is None and route in (None, "nvcc"):
        nvcc, ptxas = shutil.which("nvcc"), shutil.which("ptxas")
        if nvcc and ptxas:
            result = _NVCC(nvcc, ptxas)
        else:
            reasons.append("nvcc/ptxas: not on PATH")
    _found[key] = result
    _found[key + ":why"] = "; ".join(reasons)
    return result


def reason(route: str | None = None) -> str:
    """Why `compiler(route)` is None (for test skip messages)."""
    compiler(route)
    return _found.get((route or "any") + ":why", "")


def compile_ptx(src: str, arch: str = "90", options=()) -> str:
    """PTX text for `src` (for compute capability `arch`, e.g. "90")."""
    c = compiler()
    if c is None:
        raise NVRTCError(f"no CUDA compiler found: {reason()}")
    return c.ptx(src, arch, options)


def compile_cubin(src: str, arch: str = "90", options=()) -> bytes:
    """A cubin for sm_<arch> built from `src` (loadable by cupy.RawModule)."""
    c = compiler()
    if c is None:
        raise NVRTCError(f"no CUDA compiler found: {reason()}")
    return c.cubin(src, arch, options)
