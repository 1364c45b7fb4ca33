"""glibc malloc tuning at import (dyngraph/_malloc.py): freed step memory is not returned to the
OS and faulted back in on the next step; the user's own settings and the opt-out are respected."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from dyngraph import _malloc

_GLIBC = bool(getattr(os, "confstr", None) and os.confstr_names.get("CS_GNU_LIBC_VERSION")
              and os.confstr("CS_GNU_LIBC_VERSION"))

# A "training step" in miniature: six 3 MB arrays made, filled and freed, 30 times; prints the
# minor page faults of the last 20 rounds.
_STEP = """
import resource, numpy as np
import dyngraph
def rounds(n):
    for _ in range(n):
        arrays = [np.ones(3 << 18, np.float32) for _ in range(6)]
        del arrays
rounds(10)
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
rounds(20)
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def _faults(**env) -> int:
    full = {k: v for k, v in os.environ.items() if not k.startswith(("MALLOC_", "GLIBC_TUN"))}
    full.update(env)
    out = subprocess.run([sys.executable, "-c", _STEP], env=full, capture_output=True, text=True,
                         check=True, cwd=os.path.dirname(os.path.dirname(__file__)))
    return int(out.stdout.split()[-1])


@pytest.mark.skipif(not _GLIBC, reason="the tuning applies to glibc's malloc only")
def test_freed_step_memory_is_not_faulted_back_in():
    untuned = _faults(DYNGRAPH_MALLOC_TUNING="0")
    tuned = _faults()
    # untuned, glibc trims the 18 MB freed at the heap top each round: ~4600 faults per round
    assert untuned > 20 * 1000
    assert tuned < untuned / 20


def test_user_settings_and_opt_out_are_respected():
    assert not _malloc.tune({"DYNGRAPH_MALLOC_TUNING": "0"})
    assert not _malloc.tune({"MALLOC_TRIM_THRESHOLD_": "1000000"})
    assert not _malloc.tune({"GLIBC_TUNABLES": "glibc.malloc.trim_threshold=1000000"})
    assert _malloc.tune({}) == _GLIBC
