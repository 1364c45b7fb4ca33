"""Shared fixtures for the LLVM backend tests: one object cache per test session."""

from __future__ import annotations

import pytest

pytest.importorskip("llvmlite")


@pytest.fixture(autouse=True, scope="session")
def _cache_dir(tmp_path_factory):
    """Compile into a fresh cache directory (the user's cache is never touched by tests)."""
    mp = pytest.MonkeyPatch()
    mp.setenv("DYNGRAPH_CACHE_DIR", str(tmp_path_factory.mktemp("dyngraph-cache")))
    yield
    mp.undo()
