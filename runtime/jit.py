"""Compile LLVM IR text to native code with llvmlite (MCJIT), behind a disk cache of objects.

`compile_ir(ir_text, symbol) -> address` is the whole interface. The object code is cached:
- in memory, per process (the same kernel text is compiled once);
- on disk, under `$DYNGRAPH_CACHE_DIR` (default `$XDG_CACHE_HOME/dyngraph` or `~/.cache/dyngraph`)
  in `llvm/<key>.o`, where the key hashes the IR text, the host CPU (model and feature flags) and
  the llvmlite version (an object built for another CPU is never loaded). Entries are written to
  a temporary file and renamed, so concurrent processes never read a half-written entry; each
  entry carries a SHA-256 of its payload, and a corrupted one is counted, rebuilt and rewritten.
- beside it, `<key>.so`: the object linked into a shared library by the system's C compiler
  driver (`cc -shared`), in a background thread after the object is written (the process waits
  for it at exit). A later process loads it with `ctypes.CDLL` and never imports llvmlite, whose
  import and initialisation (~40-50 ms) was half of a disk-cached first compile. Its sidecar
  `<key>.so.sum` holds the SHA-256 of the object it was linked from and of its own bytes; both are
  checked before loading. Without a compiler driver, or with `DYNGRAPH_JIT_LINK=0`, objects are
  loaded by MCJIT as before.
Objects are position-independent with the small code model, so MCJIT and the linker take the
same object. MCJIT loads them with llvmlite's memory manager, which keeps each object's sections
in one block: the small code model's 32-bit PC-relative references from code to its constants
reach at most 2 GB. Calls to external functions (libm, memset) go through the GOT
(`calls_through_got`), the only form of external call that memory manager reserves room for.
`STATS` counts compiles, memory hits, disk hits (objects or libraries) and corrupt entries.

Optimisation: the new pass manager's O3 pipeline with the host's CPU and features. Without the
pipeline the loops stay scalar (12x slower); without the host features LLVM targets a generic
x86-64 and never uses 256/512-bit registers.
"""

from __future__ import annotations

import atexit
import ctypes
import hashlib
import os
import re
import shutil
import subprocess
import tempfile
import threading

__all__ = ["compile_ir", "assembly", "optimized_ir", "cache_dir", "STATS", "JITError"]

STATS = {"compiled": 0, "memory_hits": 0, "disk_hits": 0, "corrupt": 0}
_MAGIC = b"DGOBJ001"
_lock = threading.RLock()
_state: dict = {}
_libs: dict = {}            # key -> ctypes.CDLL of a cached shared library (kept loaded)
_linking: list = []         # background link threads (joined at exit)


class JITError(RuntimeError):
    """LLVM rejected a module (a renderer bug): the message holds LLVM's diagnostic."""


def cache_dir() -> str:
    """Where compiled objects are kept (override with DYNGRAPH_CACHE_DIR)."""
    base = os.environ.get("DYNGRAPH_CACHE_DIR")
    if not base:
        xdg = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        base = os.path.join(xdg, "dyngraph")
    return os.path.join(base, "llvm")


def _llvm():
    """The initialised binding module, target machine and execution engine (created once)."""
    if "llvm" not in _state:
        import llvmlite
        import llvmlite.binding as llvm
        llvm.initialize_native_target()
        llvm.initialize_native_asmprinter()
        cpu = llvm.get_host_cpu_name()
        features = llvm.get_host_cpu_features().flatten()
        target = llvm.Target.from_default_triple()
        # position-independent, small code model: a shared library can be linked from the
        # same object MCJIT loads
        tm = target.create_target_machine(cpu=cpu, features=features, opt=3, reloc="pic",
                                          codemodel="small")
        # llvmlite's memory manager reserves one block for all of an object's sections. LLVM's
        # default maps code and read-only data separately, and in a large or fragmented address
        # space (torch and cupy loaded, GBs of arrays) they land > 2 GB apart: the PC-relative
        # references from code to its constants then overflow (an assertion, or wrong code)
        engine = llvm.create_mcjit_compiler(llvm.parse_assembly(""), tm, use_lmm=True)
        _state.update(llvm=llvm, tm=tm, engine=engine,
                      host=f"{cpu}|{features}|llvmlite {llvmlite.__version__}")
    return _state


def _salt() -> str:
    """What the cache key adds to the IR text: the host CPU's model and feature flags and the
    llvmlite version, read without importing llvmlite (a disk-cached run never needs it)."""
    salt = _state.get("salt")
    if salt is None:
        from importlib.metadata import version
        cpu = ""
        try:
            with open("/proc/cpuinfo") as f:
                for line in f:
                    if line.startswith(("model name", "flags", "vendor_id", "cpu family",
                                        "model\t", "Features", "CPU implementer", "CPU part")):
                        cpu += line
                    elif not line.strip() and cpu:
                        break           # the first processor's entry
        except OSError:
            pass
        if not cpu:
            import platform
            cpu = f"{platform.machine()}|{platform.processor()}"
        digest = hashlib.sha256(cpu.encode()).hexdigest()[:24]
        salt = _state["salt"] = f"{digest}|llvmlite {version('llvmlite')}|pic-small-got"
    return salt


_DECLARE = re.compile(r"^(declare [^@\n]*@(?!llvm\.)[\w.$]+\([^)\n]*\))(.*)$", re.M)
_GOT_FLAG = 987653


def calls_through_got(ir_text: str) -> str:
    """`ir_text` with every call to an external function made through the GOT (`nonlazybind`
    on our declarations; the `RtLibUseGOT` module flag for the libcalls LLVM emits itself, such
    as `exp`, `sinf`, `memset`): GOTPCREL relocations, whose GOT entries llvmlite's memory
    manager reserves with the object. A PLT32 call makes RuntimeDyld add a GOT that nothing
    reserved (an assertion in that memory manager)."""
    if "!llvm.module.flags" in ir_text:
        raise JITError("jit: a module may not set its own llvm.module.flags")
    text = _DECLARE.sub(lambda m: m.group(0) if "nonlazybind" in m.group(2)
                        else f"{m.group(1)} nonlazybind{m.group(2)}", ir_text)
    return (text + f"\n!llvm.module.flags = !{{!{_GOT_FLAG}}}\n"
            f"!{_GOT_FLAG} = !{{i32 7, !\"RtLibUseGOT\", i32 1}}\n")


def _optimize(ir_text: str):
    s = _llvm()
    llvm, tm = s["llvm"], s["tm"]
    try:
        mod = llvm.parse_assembly(calls_through_got(ir_text))
        mod.triple = tm.triple
        mod.data_layout = str(tm.target_data)
        mod.verify()
    except RuntimeError as e:
        raise JITError(f"LLVM rejected the module: {e}\n--- IR ---\n{ir_text}") from e
    pto = llvm.create_pipeline_tuning_options(speed_level=3)
    pto.loop_vectorization = True
    pto.slp_vectorization = True
    pb = llvm.create_pass_builder(tm, pto)
    pb.getModulePassManager().run(mod, pb)
    return mod


def optimized_ir(ir_text: str) -> str:
    """The module after the O3 pipeline (for tests and debugging)."""
    with _lock:
        return str(_optimize(ir_text))


def assembly(ir_text: str) -> str:
    """The optimised module's assembly (tests check the hot loop's vector registers)."""
    with _lock:
        return _llvm()["tm"].emit_assembly(_optimize(ir_text))


def _key(ir_text: str) -> str:
    return hashlib.sha256((_salt() + "\n" + ir_text).encode()).hexdigest()


def _read(path: str) -> bytes | None:
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError:
        return None
    head, digest, payload = data[:8], data[8:40], data[40:]
    if head != _MAGIC or hashlib.sha256(payload).digest() != digest or not payload:
        STATS["corrupt"] += 1
        return None
    return payload


def atomic_write(path: str, blob: bytes) -> bool:
    """Write a cache entry so that concurrent readers see the old entry or the new one, never
    a part (a temporary file, then `os.replace`); False when the directory is not writable
    (a read-only cache only costs recompiles). Shared with runtime/graph_cache.py."""
    d = os.path.dirname(path)
    try:
        os.makedirs(d, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=d, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(blob)
            os.replace(tmp, path)
        except OSError:
            os.unlink(tmp)
            raise
    except OSError:
        return False
    return True


def _write(path: str, payload: bytes) -> None:
    atomic_write(path, _MAGIC + hashlib.sha256(payload).digest() + payload)


_VECTOR_STORE = re.compile(r"store <(\d+) x (float|double)> (.+?), ptr (%[\w.]+), align \d+")


def streaming_stores(optimized_ir: str, align: int) -> str:
    """Every vector store of an optimised module made non-temporal and `align`-aligned (capped
    at the vector's size). Only for modules rendered with `render_llvm(streaming=True)`, whose
    peel loop guarantees that alignment for every vector store (it keeps its own stores
    scalar). Non-temporal stores skip reading the destination's cache lines before writing
    them; LLVM's vectoriser will not form them itself from scalar stores, whose alignment is
    only the element's."""
    def store(m):
        n, ty = int(m.group(1)), m.group(2)
        a = min(align, n * (4 if ty == "float" else 8))
        return (f"store <{n} x {ty}> {m.group(3)}, ptr {m.group(4)}, align {a}, "
                f"!nontemporal !{_NT_MD}")
    out, count = _VECTOR_STORE.subn(store, optimized_ir)
    return out + f"\n!{_NT_MD} = !{{i32 1}}\n" if count else out


_NT_MD = 987654


def _linker() -> str | None:
    if os.environ.get("DYNGRAPH_JIT_LINK", "1") == "0":
        return None
    if "linker" not in _state:
        _state["linker"] = shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
    return _state["linker"]


def _library(so: str, obj: bytes):
    """The cached shared library linked from `obj`, loaded; None when there is none or its
    sidecar does not match (a stale or corrupted library is counted and linked again)."""
    try:
        with open(so + ".sum") as f:
            want_obj, want_so = f.read().split()
        with open(so, "rb") as f:
            data = f.read()
    except (OSError, ValueError):
        return None
    if want_obj != hashlib.sha256(obj).hexdigest():
        return None
    if want_so != hashlib.sha256(data).hexdigest():
        STATS["corrupt"] += 1
        return None
    try:
        return ctypes.CDLL(so)
    except OSError:
        return None


def _link(so: str, obj: bytes) -> None:
    """Link `obj` into the shared library `so` (temporary files, then renames); any failure
    only means the next process loads the object with MCJIT."""
    cc = _linker()
    d = os.path.dirname(so)
    tmp_o = tmp_so = None
    try:
        fd, tmp_o = tempfile.mkstemp(dir=d, prefix=".tmp-", suffix=".o")
        with os.fdopen(fd, "wb") as f:
            f.write(obj)
        fd, tmp_so = tempfile.mkstemp(dir=d, prefix=".tmp-", suffix=".so")
        os.close(fd)
        r = subprocess.run([cc, "-shared", "-o", tmp_so, tmp_o, "-lm"], capture_output=True,
                           timeout=30)
        if r.returncode == 0:
            with open(tmp_so, "rb") as f:
                digest = hashlib.sha256(f.read()).hexdigest()
            os.replace(tmp_so, so)
            tmp_so = None
            atomic_write(so + ".sum", f"{hashlib.sha256(obj).hexdigest()} {digest}\n".encode())
    except (OSError, subprocess.SubprocessError):
        pass
    finally:
        for t in (tmp_o, tmp_so):
            if t:
                try:
                    os.unlink(t)
                except OSError:
                    pass


def _link_later(so: str, obj: bytes) -> None:
    if _linker() is None:
        return
    if not _linking:
        atexit.register(_wait_for_links)
    t = threading.Thread(target=_link, args=(so, obj), daemon=True, name="dyngraph-link")
    _linking.append(t)
    t.start()


def _wait_for_links(timeout: float = 30.0) -> None:
    """Let background links finish, for at most `timeout` seconds in all (at exit)."""
    import time
    deadline = time.monotonic() + timeout
    for t in list(_linking):
        t.join(max(0.0, deadline - time.monotonic()))


def compile_ir(ir_text: str, symbol: str, streaming: int = 0) -> int:
    """Compile (or fetch from the caches) `ir_text` and return the address of `symbol`;
    `streaming`: an alignment in bytes for `streaming_stores` (0: none)."""
    with _lock:
        key = _key(ir_text + (f"\n; streaming stores, align {streaming}" if streaming else ""))
        addresses = _state.setdefault("addresses", {})
        addr = addresses.get((key, symbol))
        if addr is not None:
            STATS["memory_hits"] += 1
            return addr
        path = os.path.join(cache_dir(), f"{key}.o")
        obj = _read(path)
        so = path[:-2] + ".so"
        lib = _libs.get(key) or (_library(so, obj) if obj is not None else None)
        if lib is not None:
            fn = getattr(lib, symbol, None)
            if fn is None:
                raise JITError(f"jit: symbol {symbol} not found in {so}")
            _libs[key] = lib
            STATS["disk_hits"] += 1
            addr = addresses[key, symbol] = ctypes.cast(fn, ctypes.c_void_p).value
            return addr
        s = _llvm()
        if obj is None:
            mod = _optimize(ir_text)
            if streaming:
                mod = s["llvm"].parse_assembly(streaming_stores(str(mod), streaming))
                mod.verify()
            obj = s["tm"].emit_object(mod)
            STATS["compiled"] += 1
            _write(path, obj)
        else:
            STATS["disk_hits"] += 1
        if os.path.exists(path):            # (not when the cache directory is read-only)
            _link_later(so, obj)
        llvm, engine = s["llvm"], s["engine"]
        engine.add_object_file(llvm.ObjectFileRef.from_data(obj))
        engine.finalize_object()
        addr = engine.get_function_address(symbol)
        if not addr:
            raise JITError(f"jit: symbol {symbol} not found in the compiled module")
        addresses[key, symbol] = addr
        return addr
