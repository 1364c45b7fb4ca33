"""Keep glibc from handing freed array memory back to the OS after every training step.

glibc's malloc serves blocks above a threshold with mmap and trims the heap top when more than a
second threshold is free there. Both thresholds adapt upwards only when a large *mmapped* block
is freed (to its size, and twice that for trimming), so a step whose arrays are a few MB each
settles at a low trim threshold: the memory freed at the end of each step is returned to the OS
and faulted back in, zero-filled, during the next one (a small CNN step measured ~1700 minor page
faults and ~1.5x its CPU time). `tune()` sets the two thresholds once to where glibc's own
adaptive rule stops: 32 MiB for mmap (its DEFAULT_MMAP_THRESHOLD_MAX on 64-bit) and twice that
for trimming, as documented in mallopt(3). Memory held beyond the live arrays stays bounded by the
trim threshold.

The setting is process-wide. It is skipped when the user chose glibc's malloc settings
(MALLOC_MMAP_THRESHOLD_, MALLOC_TRIM_THRESHOLD_, MALLOC_TOP_PAD_, MALLOC_MMAP_MAX_ or a
glibc.malloc tunable in GLIBC_TUNABLES) or set DYNGRAPH_MALLOC_TUNING=0, and outside glibc.
"""

from __future__ import annotations

import os

__all__ = ["tune", "MMAP_THRESHOLD", "TRIM_THRESHOLD"]

MMAP_THRESHOLD = 32 << 20
TRIM_THRESHOLD = 2 * MMAP_THRESHOLD
_M_TRIM_THRESHOLD = -1   # mallopt parameter numbers from glibc's malloc.h
_M_MMAP_THRESHOLD = -3
_USER_SETTINGS = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "MALLOC_TOP_PAD_",
                  "MALLOC_MMAP_MAX_")


def _user_chose(environ) -> bool:
    return any(k in environ for k in _USER_SETTINGS) or \
        "glibc.malloc." in environ.get("GLIBC_TUNABLES", "")


def tune(environ=os.environ) -> bool:
    """Set glibc's mmap and trim thresholds (see the module docstring); returns whether set."""
    if environ.get("DYNGRAPH_MALLOC_TUNING", "1") == "0" or _user_chose(environ):
        return False
    try:
        if not os.confstr("CS_GNU_LIBC_VERSION"):
            return False
    except (ValueError, OSError, AttributeError):   # not glibc (macOS, Windows, musl)
        return False
    import ctypes
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    # mallopt returns 1 on success; the mmap threshold first, so that a failure of the second
    # call cannot leave the dynamic rule switched off with the default 128 KiB threshold
    return bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and \
        bool(mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD))
