"""utils.data against PyTorch's: collate results, batch order, lengths and errors; seeded
shuffling is deterministic."""

from __future__ import annotations

import collections
import warnings

import numpy as np
import pytest

import dyngraph as dg
from dyngraph.utils import data as dd
from tests.conftest import requires_torch, torch

if torch is not None:
    from torch.utils import data as td


def _to_torch(x):
    """Convert a nested sample of dyngraph tensors into the same structure of torch tensors."""
    if isinstance(x, dg.Tensor):
        return torch.from_numpy(np.array(x.detach().numpy()))
    if isinstance(x, dict):
        return type(x)((k, _to_torch(v)) for k, v in x.items())
    if isinstance(x, tuple) and hasattr(x, "_fields"):
        return type(x)(*(_to_torch(v) for v in x))
    if isinstance(x, (list, tuple)):
        return type(x)(_to_torch(v) for v in x)
    return x


def _assert_same(ours, ref):
    """Same nesting, container types, dtypes and values as PyTorch's result."""
    if isinstance(ref, torch.Tensor):
        assert isinstance(ours, dg.Tensor), type(ours)
        assert ours.dtype.name == str(ref.dtype).replace("torch.", ""), (ours.dtype, ref.dtype)
        assert tuple(ours.shape) == tuple(ref.shape)
        np.testing.assert_array_equal(ours.numpy(), ref.numpy())
    elif isinstance(ref, dict):
        assert type(ours) is type(ref) and list(ours) == list(ref)
        for k in ref:
            _assert_same(ours[k], ref[k])
    elif isinstance(ref, (list, tuple)):
        assert type(ours) is type(ref) and len(ours) == len(ref)
        for a, b in zip(ours, ref):
            _assert_same(a, b)
    else:
        assert ours == ref and type(ours) is type(ref)


Point = collections.namedtuple("Point", ["x", "label"])


def _samples(kind: str):
    rng = np.random.default_rng(0)
    if kind == "tensors":
        return [dg.tensor(rng.standard_normal((2, 3)).astype(np.float32)) for _ in range(4)]
    if kind == "tuples":
        return [(dg.tensor(rng.standard_normal(3)), i, float(i) / 2, f"s{i}") for i in range(4)]
    if kind == "dicts":
        return [{"image": rng.standard_normal((2, 2)).astype(np.float32), "label": i,
                 "meta": {"flag": bool(i % 2), "w": np.float32(i)}} for i in range(3)]
    if kind == "ordered":
        return [collections.OrderedDict(a=dg.tensor([i, i + 1]), b=[1.5, 2.5]) for i in range(3)]
    if kind == "namedtuple":
        return [Point(np.arange(3, dtype=np.int32) + i, i) for i in range(3)]
    if kind == "lists":
        return [[i, [float(i), dg.tensor(i)]] for i in range(3)]
    if kind == "numpy-scalars":
        return [np.int16(i) for i in range(5)]
    raise ValueError(kind)


COLLATE_KINDS = ["tensors", "tuples", "dicts", "ordered", "namedtuple", "lists", "numpy-scalars"]


@requires_torch
@pytest.mark.parametrize("kind", COLLATE_KINDS)
def test_default_collate_matches_torch(kind):
    batch = _samples(kind)
    _assert_same(dd.default_collate(batch), td.default_collate(_to_torch(batch)))


@requires_torch
@pytest.mark.parametrize("kind", ["dicts", "namedtuple", "tuples"])
def test_default_convert_matches_torch(kind):
    sample = _samples(kind)[1]
    _assert_same(dd.default_convert(sample), td.default_convert(_to_torch(sample)))


def test_collate_errors():
    with pytest.raises(RuntimeError, match="equal size"):
        dd.default_collate([[1, 2], [3]])
    with pytest.raises(TypeError, match="batch must contain tensors"):
        dd.default_collate([object(), object()])
    with pytest.raises(TypeError, match="batch must contain tensors"):
        dd.default_collate([np.array(["a"]), np.array(["b"])])
    with pytest.raises(RuntimeError, match=r"\(2,\).*\(3,\)"):
        dd.default_collate([dg.ones(2), dg.ones(3)])


class DictDataset(dd.Dataset):
    """A map-style dataset of dict samples (numpy image, int label, str name)."""

    def __init__(self, n: int):
        self.n = n

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i):
        return {"x": np.full((2,), i, dtype=np.float32), "y": i, "name": f"item{i}"}


class TorchDictDataset(td.Dataset if torch is not None else object):
    def __init__(self, n):
        self.n = n

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        return {"x": np.full((2,), i, dtype=np.float32), "y": i, "name": f"item{i}"}


LOADER_ARGS = [dict(batch_size=3), dict(batch_size=3, drop_last=True), dict(batch_size=1),
               dict(batch_size=None), dict(batch_size=10)]


@requires_torch
@pytest.mark.parametrize("kwargs", LOADER_ARGS, ids=str)
def test_sequential_loader_matches_torch(kwargs):
    ours = list(dd.DataLoader(DictDataset(7), **kwargs))
    ref = list(td.DataLoader(TorchDictDataset(7), **kwargs))
    assert len(dd.DataLoader(DictDataset(7), **kwargs)) == len(td.DataLoader(
        TorchDictDataset(7), **kwargs)) == len(ref)
    assert len(ours) == len(ref)
    for a, b in zip(ours, ref):
        _assert_same(a, b)


class Stream(dd.IterableDataset):
    def __init__(self, n):
        self.n = n

    def __iter__(self):
        return iter((np.int64(i), float(i)) for i in range(self.n))

    def __len__(self):
        return self.n


class TorchStream(td.IterableDataset if torch is not None else object):
    def __init__(self, n):
        self.n = n

    def __iter__(self):
        return iter((np.int64(i), float(i)) for i in range(self.n))

    def __len__(self):
        return self.n


@requires_torch
@pytest.mark.parametrize("kwargs", [dict(batch_size=4), dict(batch_size=4, drop_last=True),
                                    dict(batch_size=None)], ids=str)
def test_iterable_dataset_matches_torch(kwargs):
    ours = list(dd.DataLoader(Stream(10), **kwargs))
    ref = list(td.DataLoader(TorchStream(10), **kwargs))
    assert len(dd.DataLoader(Stream(10), **kwargs)) == len(td.DataLoader(TorchStream(10),
                                                                          **kwargs))
    assert len(ours) == len(ref)
    for a, b in zip(ours, ref):
        _assert_same(a, b)


def _order(loader) -> list[int]:
    return [int(v) for _, y in loader for v in y.tolist()]


def _tensor_ds(n=20):
    return dd.TensorDataset(dg.arange(2 * n, dtype=dg.float32).reshape(n, 2), dg.arange(n))


def test_shuffle_is_deterministic_under_a_seed():
    ds = _tensor_ds()

    def run(seed):
        loader = dd.DataLoader(ds, batch_size=6, shuffle=True,
                               generator=dg.Generator().manual_seed(seed))
        return _order(loader), _order(loader)

    first, second = run(1)
    assert run(1) == (first, second)               # same seed, same two epochs
    assert sorted(first) == list(range(20)) == sorted(second)
    assert first != list(range(20)) and first != second   # shuffled, and again each epoch
    assert run(2)[0] != first


def test_shuffle_without_generator_follows_global_seed():
    ds = _tensor_ds()
    dg.manual_seed(123)
    a = _order(dd.DataLoader(ds, batch_size=5, shuffle=True))
    dg.manual_seed(123)
    b = _order(dd.DataLoader(ds, batch_size=5, shuffle=True))
    assert a == b and sorted(a) == list(range(20))


def test_tensor_dataset_batches_are_rows():
    ds = _tensor_ds(9)
    g = dg.Generator().manual_seed(0)
    for x, y in dd.DataLoader(ds, batch_size=4, shuffle=True, generator=g):
        np.testing.assert_array_equal(x.numpy(), ds.tensors[0].numpy()[y.numpy()])
        assert x.dtype == dg.float32 and y.dtype == dg.int64


def test_tensor_dataset_fast_path_equals_generic_collate():
    ds = _tensor_ds(11)
    fast = list(dd.DataLoader(ds, batch_size=4))
    slow = list(dd.DataLoader(ds, batch_size=4, collate_fn=lambda b: dd.default_collate(b)))
    assert len(fast) == len(slow) == 3
    for a, b in zip(fast, slow):
        assert isinstance(a, list) and isinstance(b, list)
        for ta, tb in zip(a, b):
            assert ta.dtype == tb.dtype and ta.shape == tb.shape
            np.testing.assert_array_equal(ta.numpy(), tb.numpy())


def test_samplers():
    g = dg.Generator().manual_seed(3)
    rs = list(dd.RandomSampler(range(10), generator=g))
    assert sorted(rs) == list(range(10))
    more = list(dd.RandomSampler(range(4), num_samples=10, generator=g))
    assert len(more) == 10 and sorted(more[:4]) == [0, 1, 2, 3]
    rep = list(dd.RandomSampler(range(3), replacement=True, num_samples=70, generator=g))
    assert len(rep) == 70 and set(rep) == {0, 1, 2}
    sub = list(dd.SubsetRandomSampler([5, 7, 9], generator=g))
    assert sorted(sub) == [5, 7, 9]
    w = list(dd.WeightedRandomSampler([0.0, 1.0, 3.0], 50, generator=g))
    assert len(w) == 50 and set(w) <= {1, 2}
    nw = list(dd.WeightedRandomSampler([1.0, 1.0, 1.0, 0.0], 3, replacement=False, generator=g))
    assert sorted(nw) == [0, 1, 2]
    bs = dd.BatchSampler(dd.SequentialSampler(range(7)), 3, drop_last=False)
    assert list(bs) == [[0, 1, 2], [3, 4, 5], [6]] and len(bs) == 3
    bs = dd.BatchSampler(dd.SequentialSampler(range(7)), 3, drop_last=True)
    assert list(bs) == [[0, 1, 2], [3, 4, 5]] and len(bs) == 2


def test_custom_sampler_and_batch_sampler():
    ds = _tensor_ds(6)
    loader = dd.DataLoader(ds, batch_size=2, sampler=[5, 4, 3, 2, 1, 0])
    assert _order(loader) == [5, 4, 3, 2, 1, 0]
    loader = dd.DataLoader(ds, batch_sampler=[[0, 5], [2]])
    assert _order(loader) == [0, 5, 2] and len(loader) == 2


@requires_torch
@pytest.mark.parametrize("lengths", [[3, 7], [0.5, 0.5], [0.3, 0.3, 0.4], [0.33, 0.33, 0.34],
                                     [0.1, 0.9], [1, 0, 9]], ids=str)
def test_random_split_lengths_match_torch(lengths):
    ds = _tensor_ds(10)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ours = dd.random_split(ds, lengths, generator=dg.Generator().manual_seed(0))
        ref = td.random_split(range(10), lengths, generator=torch.Generator().manual_seed(0))
    assert [len(s) for s in ours] == [len(s) for s in ref]
    indices = [i for s in ours for i in s.indices]
    assert sorted(indices) == list(range(10))


def test_random_split_is_deterministic():
    ds = _tensor_ds(10)
    a = dd.random_split(ds, [0.7, 0.3], generator=dg.Generator().manual_seed(5))
    b = dd.random_split(ds, [0.7, 0.3], generator=dg.Generator().manual_seed(5))
    assert [s.indices for s in a] == [s.indices for s in b]
    x, y = a[1][0]
    assert int(y.item()) == a[1].indices[0]
    with pytest.raises(ValueError, match="does not equal the length"):
        dd.random_split(ds, [3, 3])


def test_subset_concat_stack():
    ds = _tensor_ds(5)
    sub = dd.Subset(ds, [4, 0])
    assert len(sub) == 2 and int(sub[0][1].item()) == 4
    cat = dd.ConcatDataset([ds, sub])
    assert len(cat) == 7 and int(cat[5][1].item()) == 4 and int(cat[-1][1].item()) == 0
    st = dd.StackDataset(a=ds, b=ds)
    assert set(st[1]) == {"a", "b"} and len(st) == 5
    chained = list(dd.ChainDataset([Stream(2), Stream(3)]))
    assert len(chained) == 5
    with pytest.raises(ValueError, match="Size mismatch"):
        dd.TensorDataset(dg.ones(3), dg.ones(4))


def test_loader_option_errors():
    ds = _tensor_ds(4)
    with pytest.raises(ValueError, match="mutually exclusive with shuffle"):
        dd.DataLoader(ds, sampler=[0, 1], shuffle=True)
    with pytest.raises(ValueError, match="batch_sampler option is mutually exclusive"):
        dd.DataLoader(ds, batch_sampler=[[0]], batch_size=2)
    with pytest.raises(ValueError, match="mutually exclusive with drop_last"):
        dd.DataLoader(ds, batch_size=None, drop_last=True)
    with pytest.raises(ValueError, match="expected unspecified shuffle"):
        dd.DataLoader(Stream(3), shuffle=True)
    with pytest.raises(ValueError, match="non-negative"):
        dd.DataLoader(ds, num_workers=-1)
    with pytest.raises(ValueError, match="batch_size should be a positive integer"):
        dd.DataLoader(ds, batch_size=0)


def test_num_workers_warns_and_loads_in_main_process():
    with pytest.warns(UserWarning, match="num_workers=2 is not supported"):
        loader = dd.DataLoader(_tensor_ds(4), batch_size=2, num_workers=2)
    assert _order(loader) == [0, 1, 2, 3]
    assert dd.get_worker_info() is None
