"""The compiler's logging switch, in the spirit of TORCH_LOGS.

Channels: graphs, guards, recompiles, graph_breaks, passes (or "all"). Enable them with the
environment variable `DYNGRAPH_LOGS=graphs,recompiles` or `dyngraph.set_logs(...)`. Messages go to
the `dyngraph.compile` logger (a stderr handler is added when it has none).
"""

from __future__ import annotations

import logging
import os

__all__ = ["CHANNELS", "set_channels", "enabled", "log"]

CHANNELS = ("graphs", "guards", "recompiles", "graph_breaks", "passes")
_logger = logging.getLogger("dyngraph.compile")
_on: set[str] = set()


def set_channels(names) -> None:
    """Enable exactly `names` (an iterable of channel names, "all", or a comma string)."""
    if isinstance(names, str):
        names = [n.strip() for n in names.split(",") if n.strip()]
    names = set(names or ())
    if "all" in names:
        names = set(CHANNELS)
    bad = names - set(CHANNELS)
    if bad:
        raise ValueError(f"set_logs: unknown log channel(s) {sorted(bad)}; choose from "
                         f"{list(CHANNELS)} or 'all'")
    _on.clear()
    _on.update(names)
    if _on and not _logger.handlers:
        h = logging.StreamHandler()
        h.setFormatter(logging.Formatter("[dyngraph.compile %(levelname)s] %(message)s"))
        _logger.addHandler(h)
        _logger.setLevel(logging.INFO)


def enabled(channel: str) -> bool:
    return channel in _on


def log(channel: str, message) -> None:
    """Log `message` (a string or a zero-argument callable, built only when enabled)."""
    if channel in _on:
        _logger.info("[%s] %s", channel, message() if callable(message) else message)


set_channels(os.environ.get("DYNGRAPH_LOGS", ""))
