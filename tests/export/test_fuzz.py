"""Fuzzing the reader: mutated files give GraphFormatError or a correct result, nothing else.

Raw mutations (truncation, bit flips, edited header bytes, huge sizes, negative offsets) break
the checksum or the layout and must be refused. Resealed mutations (the JSON document edited and
the checksum recomputed) test the validator behind the checksum: the file may then describe
another valid program, so it must either be refused with GraphFormatError (at load or at the
checked first run) or run without any other exception.
"""

import json
import random

import numpy as np
import pytest

import dyngraph as dg
from runtime.graph_file import GraphFormatError, reseal
from runtime.loaded import InputError, load
from tests.export import models

FAST_CASES = 2000
SLOW_CASES = 20000


@pytest.fixture(scope="module")
def original(tmp_path_factory):
    dg.manual_seed(3)
    m = models.mlp()
    ep = dg.export(m, (dg.randn(4, 8),), dynamic_shapes=({0: dg.Dim("batch", max=64)},))
    path = tmp_path_factory.mktemp("fuzz") / "mlp.dgraph"
    ep.save(path)
    x = np.random.default_rng(0).standard_normal((3, 8)).astype(np.float32)
    expected = load(path, backend="interpreter").run_arrays([x])[0]
    return path.read_bytes(), x, expected


def _leaves(obj, path=()):
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield path + (k,), v
            yield from _leaves(v, path + (k,))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield path + (i,), v
            yield from _leaves(v, path + (i,))


def _set(obj, path, value):
    for k in path[:-1]:
        obj = obj[k]
    if value is _DELETE:
        if isinstance(obj, dict):
            del obj[path[-1]]
        else:
            obj.pop(path[-1])
    else:
        obj[path[-1]] = value


_DELETE = object()
_VALUES = [0, 1, -1, 2**62, -2**40, 10**6, 3, 7, 1.5, float("inf"), None, True, "relu", "x",
           "float64", "int64", "$tuple", [], {}, [1, 2], {"$v": 0}, {"$sym": [[1, ["batch"]]]},
           {"$tuple": [0, 0]}, {"$dtype": "bool"}, _DELETE]


def _header(data):
    n = int.from_bytes(data[:8], "little")
    return n, json.loads(data[8:8 + n])


def _rewrite(data, h, seal):
    n = int.from_bytes(data[:8], "little")
    head = json.dumps(h, separators=(",", ":")).encode()
    head += b" " * (-(8 + len(head)) % 64)
    out = len(head).to_bytes(8, "little") + head + data[8 + n:]
    return reseal(out) if seal else out


def mutate(data: bytes, rng: random.Random) -> tuple[bytes, bool]:
    """A mutated file and whether its checksum was recomputed."""
    kind = rng.randrange(7)
    b = bytearray(data)
    n = int.from_bytes(data[:8], "little")
    if kind == 0:
        return bytes(b[:rng.randrange(len(b))]), False
    if kind == 1:
        for _ in range(rng.randint(1, 3)):
            i = rng.randrange(len(b))
            b[i] ^= 1 << rng.randrange(8)
        return bytes(b), False
    if kind == 2:       # edited header bytes (a digit, a quote, a brace)
        i = rng.randrange(8, 8 + n)
        b[i] = ord(rng.choice('0123456789"{}[],:-e'))
        return bytes(b), False
    _, h = _header(data)
    names = [k for k in h if k != "__metadata__"]
    if kind == 3:       # huge sizes / negative offsets in the tensor table
        e = h[rng.choice(names)]
        field = rng.choice(["shape", "data_offsets"])
        i = rng.randrange(len(e[field])) if e[field] else None
        if i is not None:
            e[field][i] = rng.choice([-64, -1, 2**62, 2**40, 10**12, e[field][i] + 64])
        seal = rng.random() < 0.5
        return _rewrite(data, h, seal), seal
    if kind == 4:       # metadata edits
        meta = h["__metadata__"]
        key = rng.choice(list(meta))
        meta[key] = rng.choice(["", "0", "2", "999", "x", meta[key][:-1]])
        seal = rng.random() < 0.5
        return _rewrite(data, h, seal), seal
    doc = json.loads(h["__metadata__"]["graph"])     # kinds 5, 6: edit the JSON document
    leaves = list(_leaves(doc))
    for _ in range(rng.randint(1, 2)):
        path, value = rng.choice(leaves)
        if isinstance(value, int) and not isinstance(value, bool) and rng.random() < 0.5:
            new = value + rng.choice([-1, 1, 16, -1000])
        else:
            new = rng.choice(_VALUES)
        try:
            _set(doc, path, new)
        except (KeyError, IndexError, TypeError):
            pass
    h["__metadata__"]["graph"] = json.dumps(doc)
    seal = kind == 5
    return _rewrite(data, h, seal), seal


def _check(data, x, expected, tmp_path, i):
    path = tmp_path / f"m{i % 8}.dgraph"
    path.write_bytes(data)
    try:
        m = load(path, backend="interpreter")
    except GraphFormatError:
        return "refused"
    try:
        out = m.run_arrays([x])
    except (GraphFormatError, InputError):
        return "refused at run"
    if len(out) == 1 and out[0].shape == expected.shape and np.array_equal(out[0], expected):
        return "same"
    return "different"


def _fuzz(original, tmp_path, cases, seed):
    data, x, expected = original
    rng = random.Random(seed)
    seen = {}
    for i in range(cases):
        mutated, sealed = mutate(data, rng)
        outcome = _check(mutated, x, expected, tmp_path, i)
        if outcome == "different":
            # Only a resealed edit may legitimately describe another program.
            assert sealed, f"case {i}: an unsealed mutation changed the result"
        seen[outcome] = seen.get(outcome, 0) + 1
    return seen


def test_fuzz_mutated_files(original, tmp_path):
    seen = _fuzz(original, tmp_path, FAST_CASES, seed=0)
    assert seen.get("refused", 0) > FAST_CASES // 2


@pytest.mark.slow
def test_fuzz_mutated_files_long(original, tmp_path):
    _fuzz(original, tmp_path, SLOW_CASES, seed=1)


def test_unmodified_file_gives_the_expected_result(original, tmp_path):
    data, x, expected = original
    assert _check(data, x, expected, tmp_path, 0) == "same"
