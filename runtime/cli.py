"""The `dyngraph` command: inspect, run, benchmark and draw exported graph files.

    dyngraph inspect model.dgraph            specs, op counts, parameters, the graph as text
    dyngraph run model.dgraph --input x.npy --output out.npz
    dyngraph bench model.dgraph --dim batch=64
    dyngraph dot model.dgraph -o graph.svg   (Graphviz when installed, DOT text otherwise)

Exit codes: 0 success, 1 a failure while running, 2 bad usage, 3 an invalid or corrupt graph
file, 4 inputs that do not match the graph's specs, 5 an input/output file that cannot be read
or written.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time

import numpy as np

__all__ = ["main", "EXIT_OK", "EXIT_FAILURE", "EXIT_USAGE", "EXIT_BAD_FILE", "EXIT_BAD_INPUT",
           "EXIT_IO"]

EXIT_OK, EXIT_FAILURE, EXIT_USAGE, EXIT_BAD_FILE, EXIT_BAD_INPUT, EXIT_IO = 0, 1, 2, 3, 4, 5


class _CliError(Exception):
    def __init__(self, code: int, msg: str):
        super().__init__(msg)
        self.code = code


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="dyngraph", description="Inspect, run, benchmark and draw dyngraph graph files "
        "(written by dyngraph.export(...).save(path)).",
        epilog="exit codes: 0 ok, 1 failure while running, 2 usage, 3 invalid graph file, "
               "4 inputs not matching the specs, 5 unreadable/unwritable data file")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    s = sub.add_parser("inspect", help="print specs, op counts, parameters and the graph",
                       description="Print the file's versions, metadata, input/output specs, "
                       "dynamic dims and their ranges, op counts, parameter count and bytes, and "
                       "the graph as text.")
    s.add_argument("file")
    s.add_argument("--json", action="store_true", help="print a JSON summary instead of text")
    s.add_argument("--no-graph", action="store_true", help="leave out the graph text")

    s = sub.add_parser("run", help="run the graph on inputs from .npy/.npz files",
                       description="Run the graph on inputs read from .npy files (one --input per "
                       "graph input, in order, or NAME=PATH) or one .npz holding every input by "
                       "name; write the outputs to a .npz (output0, output1, ...) or a .npy "
                       "(single output).")
    s.add_argument("file")
    s.add_argument("--input", "-i", action="append", default=[], metavar="[NAME=]PATH",
                   help="an input array (.npy), or a .npz with all inputs by name")
    s.add_argument("--output", "-o", required=True, metavar="PATH",
                   help="where to write the outputs (.npz or .npy)")
    s.add_argument("--device", default=None, help="cpu or cuda (default: as exported)")
    s.add_argument("--backend", default="auto", choices=("auto", "llvm", "interpreter"),
                   help="execution backend (default auto)")

    s = sub.add_parser("bench", help="time the loaded graph on random inputs",
                       description="Time the loaded graph on random inputs of the spec'd shapes; "
                       "dynamic dims take their exported example size unless given with --dim.")
    s.add_argument("file")
    s.add_argument("--dim", action="append", default=[], metavar="NAME=SIZE",
                   help="size of a dynamic dim (repeatable)")
    s.add_argument("--iters", type=int, default=20, help="timed runs (default 20)")
    s.add_argument("--warmup", type=int, default=2, help="untimed runs first (default 2)")
    s.add_argument("--device", default=None, help="cpu or cuda (default: as exported)")
    s.add_argument("--backend", default="auto", choices=("auto", "llvm", "interpreter"),
                   help="execution backend (default auto)")

    s = sub.add_parser("dot", help="draw the graph (SVG with Graphviz, else DOT text)",
                       description="Write the graph for Graphviz: an SVG/PNG/PDF when the 'dot' "
                       "program is installed and -o has that suffix, DOT text otherwise (to -o "
                       "with a .dot suffix, or stdout without -o).")
    s.add_argument("file")
    s.add_argument("-o", "--output", default=None, metavar="PATH")
    return p


def _load(path, device=None, backend="auto"):
    from .graph_file import GraphFormatError
    from .loaded import load
    if not os.path.exists(path):
        raise _CliError(EXIT_IO, f"{path}: no such file")
    try:
        return load(path, device=device, backend=backend)
    except GraphFormatError as e:
        raise _CliError(EXIT_BAD_FILE, f"invalid graph file: {e}") from None
    except OSError as e:
        raise _CliError(EXIT_IO, f"{path}: {e}") from None


def _summary(m) -> dict:
    prog = m.program
    n_params = sum(int(np.prod(s.shape)) for s, _ in prog.weights)
    n_bytes = sum(a.nbytes for a in prog.weight_arrays())
    gf = getattr(prog, "file", None)
    return {
        "file": prog.source, "file_bytes": gf.size if gf else None,
        "format_version": gf.doc["format_version"] if gf else None,
        "opset_version": gf.doc["opset_version"] if gf else None,
        "inputs": [s.as_dict() for s in m.inputs], "outputs": [s.as_dict() for s in m.outputs],
        "dims": {k: {"min": lo, "max": hi} for k, (lo, hi) in m.dims.items()},
        "weights": len(prog.weights), "parameters": n_params, "parameter_bytes": n_bytes,
        "nodes": len(m.graph.nodes), "op_counts": dict(sorted(m.graph.op_counts().items())),
        "metadata": m.metadata,
    }


def _inspect(args) -> int:
    m = _load(args.file)
    s = _summary(m)
    if args.json:
        if not args.no_graph:
            s["graph"] = m.graph.text()
        print(json.dumps(s, indent=2, default=str))
        return EXIT_OK
    print(f"file: {s['file']} ({s['file_bytes']} bytes), format version {s['format_version']}, "
          f"opset {s['opset_version']}")
    for k, v in s["metadata"].items():
        print(f"metadata: {k} = {v}")
    print("inputs:")
    for spec in m.inputs:
        print(f"  {spec!r}  ({spec.device})")
    print("outputs:")
    for spec in m.outputs:
        print(f"  {spec!r}")
    if s["dims"]:
        print("dynamic dims:")
        for k, r in s["dims"].items():
            print(f"  {k}: {r['min']}..{'inf' if r['max'] is None else r['max']}")
    print(f"parameters: {s['parameters']} in {s['weights']} tensors, "
          f"{s['parameter_bytes']} bytes")
    print(f"ops ({s['nodes']} nodes): " + ", ".join(f"{k} {v}" for k, v in
                                                     s["op_counts"].items()))
    if not args.no_graph:
        print(m.graph.text())
    return EXIT_OK


def _read_inputs(m, specs: list[str]) -> list:
    names = [s.name for s in m.inputs]
    if len(specs) == 1 and specs[0].endswith(".npz") and "=" not in specs[0]:
        try:
            with np.load(specs[0], allow_pickle=False) as z:
                missing = [n for n in names if n not in z.files]
                if missing:
                    raise _CliError(EXIT_BAD_INPUT, f"{specs[0]} lacks inputs {missing} (it has "
                                    f"{z.files}; the graph takes {names})")
                return [z[n] for n in names]
        except (OSError, ValueError) as e:
            raise _CliError(EXIT_IO, f"{specs[0]}: cannot read ({e})") from None
    by_name, positional = {}, []
    for s in specs:
        name, _, path = s.rpartition("=") if "=" in s else ("", "", s)
        try:
            arr = np.load(path, allow_pickle=False)
        except (OSError, ValueError) as e:
            raise _CliError(EXIT_IO, f"{path}: cannot read as .npy ({e})") from None
        if isinstance(arr, np.lib.npyio.NpzFile):
            arr.close()
            raise _CliError(EXIT_USAGE, f"{path}: pass a .npz as the only --input")
        if name:
            if name not in names:
                raise _CliError(EXIT_BAD_INPUT, f"--input {name}=...: the graph has no input "
                                f"{name!r} (inputs: {names})")
            by_name[name] = arr
        else:
            positional.append(arr)
    if len(positional) + len(by_name) != len(names):
        raise _CliError(EXIT_BAD_INPUT, f"the graph takes {len(names)} inputs ({names}), "
                        f"{len(positional) + len(by_name)} were given")
    out, it = [], iter(positional)
    for n in names:
        out.append(by_name[n] if n in by_name else next(it))
    return out


def _run(args) -> int:
    from .loaded import InputError
    m = _load(args.file, args.device, args.backend)
    arrays = _read_inputs(m, args.input)
    try:
        outs = m.run_arrays(arrays)
    except InputError as e:
        raise _CliError(EXIT_BAD_INPUT, str(e)) from None
    outs = [np.asarray(o.get() if hasattr(o, "get") else o) for o in outs]
    path = args.output
    try:
        if path.endswith(".npy"):
            if len(outs) != 1:
                raise _CliError(EXIT_USAGE, f"the graph has {len(outs)} outputs; write them to "
                                "a .npz")
            np.save(path, outs[0])
        elif path.endswith(".npz"):
            np.savez(path, **{f"output{i}": o for i, o in enumerate(outs)})
        else:
            raise _CliError(EXIT_USAGE, f"--output must end in .npz or .npy, got {path!r}")
    except OSError as e:
        raise _CliError(EXIT_IO, f"{path}: cannot write ({e})") from None
    for i, o in enumerate(outs):
        print(f"output{i}: {o.dtype}{list(o.shape)}")
    return EXIT_OK


def _bench_inputs(m, dims_args: list[str]) -> list:
    from compiler.ir import Sym
    sizes = dict(m.metadata.get("example_sizes", {})) if isinstance(
        m.metadata.get("example_sizes"), dict) else {}
    for d in dims_args:
        name, _, val = d.partition("=")
        if name not in m.dims or not val.isdigit():
            raise _CliError(EXIT_USAGE, f"--dim {d!r}: expected NAME=SIZE with NAME one of "
                            f"{sorted(m.dims)}")
        sizes[name] = int(val)
    rng = np.random.default_rng(0)
    out = []
    for spec in m.inputs:
        shape = []
        for s in spec.shape:
            if isinstance(s, Sym):
                shape.append(sizes.get(s.name, max(m.dims[s.name][0], 1)))
            else:
                shape.append(s)
        npdt = spec.dtype.np
        if spec.dtype.is_floating_point:
            a = rng.standard_normal(shape).astype(npdt)
        elif spec.dtype.name == "bool":
            a = rng.random(shape) < 0.5
        else:
            a = rng.integers(0, 2, shape).astype(npdt)   # small ids stay valid for lookups
        out.append(a)
    return out


def _bench(args) -> int:
    from .loaded import InputError
    m = _load(args.file, args.device, args.backend)
    arrays = _bench_inputs(m, args.dim)
    try:
        t0 = time.perf_counter()
        m.run_arrays(arrays)
        first = time.perf_counter() - t0
        for _ in range(max(args.warmup, 0)):
            m.run_arrays(arrays)
        times = []
        for _ in range(max(args.iters, 1)):
            t0 = time.perf_counter()
            m.run_arrays(arrays)
            times.append(time.perf_counter() - t0)
    except InputError as e:
        raise _CliError(EXIT_BAD_INPUT, str(e)) from None
    times.sort()
    shapes = ", ".join(f"{s.name}{list(a.shape)}" for s, a in zip(m.inputs, arrays))
    print(f"inputs: {shapes}")
    print(f"backend: {m.backend_used}")
    print(f"first call (checked run + compile): {first * 1e3:.3f} ms")
    print(f"latency over {len(times)} runs: median {times[len(times) // 2] * 1e3:.3f} ms, "
          f"min {times[0] * 1e3:.3f} ms, max {times[-1] * 1e3:.3f} ms")
    return EXIT_OK


def _dot(args) -> int:
    m = _load(args.file)
    text = m.graph.to_dot()
    out = args.output
    if out is None:
        print(text)
        return EXIT_OK
    ext = os.path.splitext(out)[1].lower().lstrip(".")
    exe = shutil.which("dot")
    if ext in ("svg", "png", "pdf") and exe:
        r = subprocess.run([exe, f"-T{ext}", "-o", out], input=text.encode(),
                           capture_output=True, timeout=120)
        if r.returncode != 0:
            raise _CliError(EXIT_FAILURE, f"graphviz failed: {r.stderr.decode(errors='replace')}")
        print(f"wrote {out}")
        return EXIT_OK
    if ext != "dot":
        out = os.path.splitext(out)[0] + ".dot"
        print(f"graphviz 'dot' is not installed: writing DOT text to {out} instead "
              "(render it with: dot -Tsvg)", file=sys.stderr)
    try:
        with open(out, "w") as fh:
            fh.write(text + "\n")
    except OSError as e:
        raise _CliError(EXIT_IO, f"{out}: cannot write ({e})") from None
    print(f"wrote {out}")
    return EXIT_OK


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `dyngraph` console script; returns the exit code."""
    p = _parser()
    try:
        args = p.parse_args(argv)
    except SystemExit as e:       # --help (0) or a usage error (2)
        return int(e.code or 0)
    handler = {"inspect": _inspect, "run": _run, "bench": _bench, "dot": _dot}[args.command]
    try:
        return handler(args)
    except _CliError as e:
        print(f"dyngraph {args.command}: error: {e}", file=sys.stderr)
        return e.code
    except Exception as e:  # noqa: BLE001 - report, do not dump a traceback on users
        from .graph_file import GraphFormatError
        code = EXIT_BAD_FILE if isinstance(e, GraphFormatError) else EXIT_FAILURE
        print(f"dyngraph {args.command}: error: {type(e).__name__}: {e}", file=sys.stderr)
        return code


if __name__ == "__main__":
    sys.exit(main())
