"""Data loading with PyTorch's API: datasets, samplers, `DataLoader`, `default_collate`.

Example:
    >>> from dyngraph.utils.data import DataLoader, TensorDataset
    >>> ds = TensorDataset(dyngraph.randn(100, 3), dyngraph.arange(100))
    >>> loader = DataLoader(ds, batch_size=16, shuffle=True,
    ...                     generator=dyngraph.Generator().manual_seed(0))
"""

from ._collate import default_collate, default_convert
from .dataloader import DataLoader, get_worker_info
from .dataset import (ChainDataset, ConcatDataset, Dataset, IterableDataset, StackDataset, Subset,
                      TensorDataset, random_split)
from .sampler import (BatchSampler, RandomSampler, Sampler, SequentialSampler,
                      SubsetRandomSampler, WeightedRandomSampler)

__all__ = ["Dataset", "IterableDataset", "TensorDataset", "StackDataset", "ConcatDataset",
           "ChainDataset", "Subset", "random_split", "DataLoader", "get_worker_info",
           "default_collate", "default_convert", "Sampler", "SequentialSampler", "RandomSampler",
           "SubsetRandomSampler", "WeightedRandomSampler", "BatchSampler"]
