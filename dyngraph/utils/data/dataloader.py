"""`DataLoader`: batches of samples from a dataset, in the main process."""

from __future__ import annotations

import warnings
from typing import Any, Callable, Iterable, Iterator

from ..._tensor import Tensor
from ._collate import default_collate, default_convert
from .dataset import IterableDataset, TensorDataset
from .sampler import BatchSampler, RandomSampler, Sampler, SequentialSampler

__all__ = ["DataLoader", "get_worker_info"]


def get_worker_info() -> None:
    """Always None: dyngraph loads data in the main process (there are no worker processes)."""
    return None


class DataLoader:
    """Iterate over a dataset in (optionally shuffled) batches, as `torch.utils.data.DataLoader`.

    Args:
        dataset: a map-style `Dataset` (or anything with `__getitem__` and `__len__`) or an
            `IterableDataset`.
        batch_size: samples per batch; None turns batching off (each sample is converted with
            `default_convert`).
        shuffle: visit the samples in a new random order each epoch.
        sampler: the index order (excludes `shuffle`).
        batch_sampler: yields lists of indices (excludes batch_size, shuffle, sampler,
            drop_last).
        num_workers: must be 0 in effect: larger values warn and load in the main process.
        collate_fn: merges a list of samples into a batch (default `default_collate`).
        drop_last: drop the last batch when it is smaller than `batch_size`.
        generator: the `dyngraph.Generator` used for shuffling (seed it for a fixed order).
        pin_memory, timeout, worker_init_fn, multiprocessing_context, prefetch_factor,
        persistent_workers, pin_memory_device, in_order: accepted for PyTorch compatibility;
            they only matter with worker processes or CUDA pinned memory.

    Example:
        >>> ds = TensorDataset(dyngraph.randn(100, 3), dyngraph.arange(100))
        >>> g = dyngraph.Generator().manual_seed(0)
        >>> for x, y in DataLoader(ds, batch_size=32, shuffle=True, generator=g):
        ...     pass
    """

    def __init__(self, dataset, batch_size: int | None = 1, shuffle: bool | None = None,
                 sampler: Sampler | Iterable | None = None,
                 batch_sampler: Sampler | Iterable | None = None, num_workers: int = 0,
                 collate_fn: Callable | None = None, pin_memory: bool = False,
                 drop_last: bool = False, timeout: float = 0,
                 worker_init_fn: Callable | None = None, multiprocessing_context=None,
                 generator=None, *, prefetch_factor: int | None = None,
                 persistent_workers: bool = False, pin_memory_device: str = "",
                 in_order: bool = True) -> None:
        if not isinstance(num_workers, int) or num_workers < 0:
            raise ValueError("num_workers option should be non-negative; use num_workers=0 to "
                             "disable multiprocessing.")
        if num_workers > 0:
            warnings.warn(
                f"DataLoader: num_workers={num_workers} is not supported by dyngraph; data is "
                "loaded in the main process (as with num_workers=0).", UserWarning, stacklevel=2)
        if timeout < 0:
            raise ValueError("timeout option should be non-negative")
        if prefetch_factor is not None and num_workers == 0:
            raise ValueError("prefetch_factor option could only be specified in multiprocessing."
                             "let num_workers > 0 to enable multiprocessing, otherwise set "
                             "prefetch_factor to None.")
        if persistent_workers and num_workers == 0:
            raise ValueError("persistent_workers option needs num_workers > 0")
        self.dataset = dataset
        self.num_workers = num_workers
        self.pin_memory = pin_memory
        self.timeout = timeout
        self.worker_init_fn = worker_init_fn
        self.generator = generator
        self._iterable = isinstance(dataset, IterableDataset)
        if self._iterable:
            if shuffle not in (None, False):
                raise ValueError(f"DataLoader with IterableDataset: expected unspecified shuffle "
                                 f"option, but got shuffle={shuffle}")
            if sampler is not None:
                raise ValueError(f"DataLoader with IterableDataset: expected unspecified sampler "
                                 f"option, but got sampler={sampler}")
            if batch_sampler is not None:
                raise ValueError(f"DataLoader with IterableDataset: expected unspecified "
                                 f"batch_sampler option, but got batch_sampler={batch_sampler}")
        shuffle = bool(shuffle)
        if sampler is not None and shuffle:
            raise ValueError("sampler option is mutually exclusive with shuffle")
        if batch_sampler is not None:
            if batch_size != 1 or shuffle or sampler is not None or drop_last:
                raise ValueError("batch_sampler option is mutually exclusive with batch_size, "
                                 "shuffle, sampler, and drop_last")
            batch_size, drop_last = None, False
        elif batch_size is None and drop_last:
            raise ValueError("batch_size=None option disables auto-batching and is mutually "
                             "exclusive with drop_last")
        if sampler is None and not self._iterable:
            sampler = RandomSampler(dataset, generator=generator) if shuffle \
                else SequentialSampler(dataset)
        if batch_size is not None and batch_sampler is None and not self._iterable:
            batch_sampler = BatchSampler(sampler, batch_size, drop_last)
        self.batch_size = batch_size
        self.drop_last = drop_last
        self.sampler = sampler
        self.batch_sampler = batch_sampler
        if collate_fn is None:
            collate_fn = default_collate if self._auto_collation else default_convert
        self.collate_fn = collate_fn

    @property
    def _auto_collation(self) -> bool:
        return self.batch_sampler is not None or (self._iterable and self.batch_size is not None)

    def __len__(self) -> int:
        if self._iterable:
            n = len(self.dataset)
            if self.batch_size is not None:
                n = n // self.batch_size if self.drop_last else -(-n // self.batch_size)
            return n
        return len(self.batch_sampler if self.batch_sampler is not None else self.sampler)

    def __iter__(self) -> Iterator[Any]:
        return _LoaderIter(self)


class _LoaderIter:
    """One pass over a DataLoader (what `iter(loader)` returns)."""

    def __init__(self, loader: DataLoader):
        self._loader = loader
        self._batches = self._generate()

    def __iter__(self) -> "_LoaderIter":
        return self

    def __next__(self):
        return next(self._batches)

    def __len__(self) -> int:
        return len(self._loader)

    def _generate(self):
        ld = self._loader
        ds, collate = ld.dataset, ld.collate_fn
        if ld._iterable:
            it = iter(ds)
            if ld.batch_size is None:
                for sample in it:
                    yield collate(sample)
                return
            yield from _batch_stream(it, ld.batch_size, ld.drop_last, collate)
            return
        if ld.batch_sampler is None:
            for index in ld.sampler:
                yield collate(ds[index])
            return
        fast = type(ds) is TensorDataset and collate is default_collate
        getitems = getattr(ds, "__getitems__", None)
        for indices in ld.batch_sampler:
            if fast:
                yield _gather_rows(ds.tensors, indices)
            elif callable(getitems):
                yield collate(getitems(list(indices)))
            else:
                yield collate([ds[i] for i in indices])


def _batch_stream(it, batch_size: int, drop_last: bool, collate):
    batch = []
    for sample in it:
        batch.append(sample)
        if len(batch) == batch_size:
            yield collate(batch)
            batch = []
    if batch and not drop_last:
        yield collate(batch)


def _gather_rows(tensors: tuple[Tensor, ...], indices) -> list[Tensor]:
    """default_collate of TensorDataset rows, done as one gather per tensor instead of
    len(indices) row reads and a stack (same values, same list-of-columns result)."""
    from ...ops.creation import tensor
    from ... import _dtype as D
    idx = tensor(list(indices), dtype=D.int64, device=tensors[0].device)
    return [t[idx] for t in tensors]
