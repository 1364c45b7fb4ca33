"""Compile LLVM IR text to native code with llvmlite (MCJIT), behind a disk cache of objects.

`compile_ir(ir_text, symbol) -> address` is the whole interface. The object code is cached:
- in memory, per process (the same kernel text is compiled once);
- on disk, under `$DYNGRAPH_CACHE_DIR` (default `$XDG_CACHE_HOME/dyngraph` or `~/.cache/dyngraph`)
  in `llvm/<key>.o`, where the key hashes the IR text, the host CPU name and features and the
  llvmlite version (an object built for another CPU is never loaded). Entries are written to a
  temporary file and renamed, so concurrent processes never read a half-written entry; each entry
  carries a SHA-256 of its payload, and a corrupted one is counted, rebuilt and rewritten.
`STATS` counts compiles, memory hits, disk hits and corrupt entries (tests read it).

Optimisation: the new pass manager's O3 pipeline with the host's CPU and features. Without the
pipeline the loops stay scalar (12x slower); without the host features LLVM targets a generic
x86-64 and never uses 256/512-bit registers.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
import threading

__all__ = ["compile_ir", "assembly", "optimized_ir", "cache_dir", "STATS", "JITError"]

STATS = {"compiled": 0, "memory_hits": 0, "disk_hits": 0, "corrupt": 0}
_MAGIC = b"DGOBJ001"
_lock = threading.RLock()
_state: dict = {}


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
    if not _state:
        import llvmlite
        import llvmlite.binding as llvm
        llvm.initialize_native_target()
        llvm.initialize_native_asmprinter()
        cpu = llvm.get_host_cpu_name()
        features = llvm.get_host_cpu_features().flatten()
        target = llvm.Target.from_default_triple()
        tm = target.create_target_machine(cpu=cpu, features=features, opt=3,
                                          codemodel="jitdefault")
        engine = llvm.create_mcjit_compiler(llvm.parse_assembly(""), tm)
        _state.update(llvm=llvm, tm=tm, engine=engine, addresses={},
                      salt=f"{cpu}|{features}|llvmlite {llvmlite.__version__}")
    return _state


def _optimize(ir_text: str):
    s = _llvm()
    llvm, tm = s["llvm"], s["tm"]
    try:
        mod = llvm.parse_assembly(ir_text)
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
    return hashlib.sha256((_llvm()["salt"] + "\n" + ir_text).encode()).hexdigest()


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


def compile_ir(ir_text: str, symbol: str, streaming: int = 0) -> int:
    """Compile (or fetch from the caches) `ir_text` and return the address of `symbol`;
    `streaming`: an alignment in bytes for `streaming_stores` (0: none)."""
    with _lock:
        s = _llvm()
        key = _key(ir_text + (f"\n; streaming stores, align {streaming}" if streaming else ""))
        addr = s["addresses"].get((key, symbol))
        if addr is not None:
            STATS["memory_hits"] += 1
            return addr
        path = os.path.join(cache_dir(), f"{key}.o")
        obj = _read(path)
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
        llvm, engine = s["llvm"], s["engine"]
        engine.add_object_file(llvm.ObjectFileRef.from_data(obj))
        engine.finalize_object()
        addr = engine.get_function_address(symbol)
        if not addr:
            raise JITError(f"jit: symbol {symbol} not found in the compiled module")
        s["addresses"][key, symbol] = addr
        return addr
