"""`RemovableHandle`: what every `Module.register_*_hook` method returns."""

from __future__ import annotations

import itertools

__all__ = ["RemovableHandle"]


class RemovableHandle:
    """Returned by the `register_*_hook` methods; `.remove()` unregisters the hook."""

    _next_id = itertools.count()

    def __init__(self, hooks_dict: dict, *extra_dicts: dict):
        self.hooks_dict = hooks_dict
        self.extra_dicts = extra_dicts
        self.id = next(RemovableHandle._next_id)

    def remove(self) -> None:
        """Unregister the hook (a second call does nothing)."""
        for d in (self.hooks_dict, *self.extra_dicts):
            d.pop(self.id, None)

    def __enter__(self) -> "RemovableHandle":
        return self

    def __exit__(self, *exc) -> None:
        self.remove()
