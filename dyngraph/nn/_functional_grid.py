"""_functional_grid (being written)."""

from __future__ import annotations

__all__: list[str] = []
