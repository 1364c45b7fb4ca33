"""Variable-length sequences for the recurrent layers, as `torch.nn.utils.rnn`.

A `PackedSequence` holds a batch of sequences sorted by decreasing length, time step by time
step: `data` has the `batch_sizes[0]` first steps, then the `batch_sizes[1]` second steps, ...
(each time step holds only the sequences that are still running). RNN, LSTM and GRU take it
and run each sequence exactly to its own length, so a bidirectional layer's reverse direction
starts at each sequence's true last step and the final states are taken there.

Packing and unpacking are one indexing op each (a gather of the valid positions and its
adjoint), so both are differentiable.

Example:
    >>> from dyngraph.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence
    >>> x = dyngraph.randn(2, 4, 8)                      # batch of 2, padded to 4 steps
    >>> packed = pack_padded_sequence(x, [4, 2], batch_first=True)
    >>> out, (h, c) = nn.LSTM(8, 16, batch_first=True)(packed)
    >>> padded, lengths = pad_packed_sequence(out, batch_first=True)
    >>> padded.shape, lengths.tolist()
    (dyngraph.Size([2, 4, 16]), [4, 2])
"""

from __future__ import annotations

from collections import namedtuple
from typing import Iterable, Sequence

import numpy as np

from ... import _dtype as D
from ... import ops as _ops
from ..._tensor import Tensor

__all__ = ["PackedSequence", "invert_permutation", "pack_padded_sequence", "pad_packed_sequence",
           "pad_sequence", "unpad_sequence", "pack_sequence", "unpack_sequence"]


_PackedSequenceBase = namedtuple("PackedSequence",
                                 ["data", "batch_sizes", "sorted_indices", "unsorted_indices"])


class PackedSequence(_PackedSequenceBase):
    """A batch of variable-length sequences, packed time step by time step (see the module).

    Args:
        data: (sum of lengths, *) the steps of every sequence, time-major.
        batch_sizes: int64 CPU tensor: how many sequences are still running at each time step.
        sorted_indices: the batch order by decreasing length (None if the input was sorted).
        unsorted_indices: the inverse permutation (computed from sorted_indices if None).

    Build one with `pack_padded_sequence` or `pack_sequence`, not directly.
    """

    __slots__ = ()

    def __new__(cls, data: Tensor, batch_sizes: Tensor | None = None,
                sorted_indices: Tensor | None = None,
                unsorted_indices: Tensor | None = None) -> PackedSequence:
        if batch_sizes is None:
            raise TypeError("PackedSequence: batch_sizes is required; build packed sequences "
                            "with pack_padded_sequence or pack_sequence")
        if unsorted_indices is None:
            unsorted_indices = invert_permutation(sorted_indices)
        return super().__new__(cls, data, batch_sizes, sorted_indices, unsorted_indices)

    def to(self, *args, **kwargs) -> PackedSequence:
        """Convert `data` as `Tensor.to` does; the indices follow its device, batch_sizes stays
        on the CPU. Returns self when nothing changes."""
        return self._with_data(self.data.to(*args, **kwargs))

    def cuda(self, device=None) -> PackedSequence:
        """`data` (and the indices) on a CUDA device."""
        return self._with_data(self.data.cuda(device))

    def cpu(self) -> PackedSequence:
        """`data` (and the indices) on the CPU."""
        return self.to("cpu")

    def _with_data(self, data: Tensor) -> PackedSequence:
        if data is self.data:
            return self
        return type(self)(data, self.batch_sizes,
                          *(None if i is None else i.to(data.device)
                            for i in (self.sorted_indices, self.unsorted_indices)))

    def is_pinned(self) -> bool:
        """False: dyngraph has no pinned host memory."""
        return False

    def pin_memory(self) -> PackedSequence:
        """self (dyngraph has no pinned host memory; CPU to GPU copies work without it)."""
        return self

    @property
    def is_cuda(self) -> bool:
        """Whether `data` lives on a CUDA device."""
        return self.data.is_cuda


def _conversion(dtype_name: str):
    """A PackedSequence method converting `data` to one dtype (`packed.double()`, ...)."""
    def convert(self) -> PackedSequence:
        return self.to(getattr(D, dtype_name))
    convert.__doc__ = f"`data` as {dtype_name}."
    return convert


for _name, _dtype in (("double", "float64"), ("float", "float32"), ("half", "float16"),
                      ("long", "int64"), ("int", "int32"), ("short", "int16"), ("char", "int8"),
                      ("byte", "uint8")):
    setattr(PackedSequence, _name, _conversion(_dtype))
    getattr(PackedSequence, _name).__name__ = _name


def invert_permutation(permutation: Tensor | None) -> Tensor | None:
    """The inverse of a permutation tensor (None stays None)."""
    if permutation is None:
        return None
    inverse = _ops.empty_like(permutation)
    inverse[permutation] = _ops.arange(permutation.numel(), device=permutation.device)
    return inverse


# ----------------------------------------------------------------------------------------------
# Packing and padding
# ----------------------------------------------------------------------------------------------

def _lengths_list(lengths, batch_size: int) -> list:
    """`lengths` (a list or a 1-D integer tensor) as Python ints, checked against the batch."""
    if isinstance(lengths, Tensor):
        if lengths.ndim != 1 or lengths.dtype.is_floating_point:
            raise RuntimeError("'lengths' argument should be a 1D CPU int64 tensor, but got "
                               f"{lengths.ndim}D {lengths.dtype.name} tensor")
        lengths = lengths.tolist()
    lengths = [int(n) for n in lengths]
    if len(lengths) != batch_size:
        raise RuntimeError(f"Expected `len(lengths)` to be equal to batch_size, but got "
                           f"{len(lengths)} (batch_size={batch_size})")
    return lengths


def _batch_sizes(lengths: Sequence[int]) -> np.ndarray:
    """For lengths sorted in decreasing order: how many are longer than t, for each step t."""
    ls = np.asarray(lengths, dtype=np.int64)
    return (ls[None, :] > np.arange(int(ls[0]))[:, None]).sum(1)


def _packed_positions(batch_sizes: np.ndarray, batch: int) -> np.ndarray:
    """The rows of a time-major (T * batch) flattening that the packed steps occupy, in order."""
    return np.concatenate([t * batch + np.arange(b) for t, b in enumerate(batch_sizes)])


def pack_padded_sequence(input: Tensor, lengths, batch_first: bool = False,
                         enforce_sorted: bool = True) -> PackedSequence:
    """Pack a padded batch of variable-length sequences (differentiable in `input`).

    Args:
        input: (T, B, *) padded sequences ((B, T, *) with batch_first).
        lengths: the length of each sequence (a list or a 1-D integer tensor).
        batch_first: whether input is (B, T, *).
        enforce_sorted: require lengths in decreasing order; with False the batch is sorted
            here and the order is restored by `pad_packed_sequence` and the RNN's states.

    Returns:
        a PackedSequence.

    Example:
        >>> p = pack_padded_sequence(dyngraph.randn(3, 2, 5), [3, 1])
        >>> p.batch_sizes.tolist()
        [2, 1, 1]
    """
    lengths = _lengths_list(lengths, input.shape[0 if batch_first else 1])
    sorted_indices = None
    if enforce_sorted:
        if any(a < b for a, b in zip(lengths, lengths[1:])):
            raise RuntimeError(
                "`lengths` array must be sorted in decreasing order when `enforce_sorted` is "
                "True. You can pass `enforce_sorted=False` to pack_padded_sequence and/or "
                "pack_sequence to sidestep this requirement if you do not need ONNX "
                "exportability.")
    else:
        order = sorted(range(len(lengths)), key=lambda i: -lengths[i])  # stable, as torch
        lengths = [lengths[i] for i in order]
        sorted_indices = _ops.tensor(order, dtype=D.int64, device=input.device)
        input = input.index_select(0 if batch_first else 1, sorted_indices)
    if lengths and lengths[-1] <= 0:
        raise RuntimeError("Length of all samples has to be greater than 0, but found an element "
                           "in 'lengths' that is <= 0")
    if batch_first:
        input = input.transpose(0, 1)
    T, B = input.shape[0], input.shape[1]
    if lengths and lengths[0] > T:
        raise RuntimeError(f"pack_padded_sequence: a length of {lengths[0]} is longer than the "
                           f"input's {T} time steps (shape {tuple(input.shape)})")
    batch_sizes = _batch_sizes(lengths)
    rows = _ops.tensor(_packed_positions(batch_sizes, B), device=input.device)
    data = input.reshape(T * B, *input.shape[2:])[rows]
    return PackedSequence(data, _ops.tensor(batch_sizes, dtype=D.int64), sorted_indices, None)


def pad_packed_sequence(sequence: PackedSequence, batch_first: bool = False,
                        padding_value: float = 0.0,
                        total_length: int | None = None) -> tuple[Tensor, Tensor]:
    """Unpack a PackedSequence into a padded tensor (the inverse of `pack_padded_sequence`).

    Args:
        sequence: the packed batch.
        batch_first: return (B, T, *) instead of (T, B, *).
        padding_value: the value of the padded positions.
        total_length: pad to this many steps instead of the longest length.

    Returns:
        (padded, lengths): the padded tensor and an int64 tensor of the lengths, both in the
        batch order given to `pack_padded_sequence`.
    """
    data, batch_sizes = sequence.data, sequence.batch_sizes.tolist()
    T, B = len(batch_sizes), batch_sizes[0]
    if total_length is not None:
        if total_length < T:
            raise ValueError("Expected total_length to be at least the length of the longest "
                             f"sequence in input, but got total_length={total_length} and max "
                             f"sequence length being {T}")
        T = total_length
    rows = _ops.tensor(_packed_positions(np.asarray(batch_sizes), B), device=data.device)
    flat = _ops.full((T * B, *data.shape[1:]), padding_value, dtype=data.dtype,
                     device=data.device)
    padded = flat.index_put((rows,), data).reshape(T, B, *data.shape[1:])
    lengths = (np.asarray(batch_sizes)[None, :] > np.arange(B)[:, None]).sum(1)
    lengths = _ops.tensor(lengths, dtype=D.int64)
    if sequence.unsorted_indices is not None:
        padded = padded.index_select(1, sequence.unsorted_indices)
        lengths = lengths[sequence.unsorted_indices.cpu()]
    return (padded.transpose(0, 1) if batch_first else padded), lengths


def pad_sequence(sequences: Sequence[Tensor] | Tensor, batch_first: bool = False,
                 padding_value: float = 0.0, padding_side: str = "right") -> Tensor:
    """Stack sequences of different lengths (L_i, *) into one (T, B, *) tensor, padded.

    Args:
        sequences: the tensors, equal in every dim but the first.
        batch_first: return (B, T, *) instead of (T, B, *).
        padding_value: the value of the padded positions.
        padding_side: pad on the 'right' (after each sequence) or the 'left'.
    """
    if padding_side not in ("left", "right"):
        raise RuntimeError(f"Expected padding_side to be one of left or right, but got "
                           f"{padding_side}.")
    sequences = list(sequences)
    if not sequences:
        raise RuntimeError("received an empty list of sequences")
    T = max(s.shape[0] for s in sequences)
    padded = []
    for s in sequences:
        if s.shape[0] == T:
            padded.append(s)
            continue
        pad = _ops.full((T - s.shape[0], *s.shape[1:]), padding_value, dtype=s.dtype,
                        device=s.device)
        padded.append(_ops.cat([s, pad] if padding_side == "right" else [pad, s], 0))
    return _ops.stack(padded, 0 if batch_first else 1)


def unpad_sequence(padded_sequences: Tensor, lengths, batch_first: bool = False) -> list:
    """The list of unpadded sequences in a padded batch (the inverse of `pad_sequence`)."""
    if not batch_first:
        padded_sequences = padded_sequences.transpose(0, 1)
    lengths = _lengths_list(lengths, padded_sequences.shape[0])
    return [padded_sequences[i, :n] for i, n in enumerate(lengths)]


def pack_sequence(sequences: Iterable[Tensor], enforce_sorted: bool = True) -> PackedSequence:
    """Pack a list of variable-length sequences (L_i, *) (sorted by decreasing length unless
    enforce_sorted=False).

    Example:
        >>> p = pack_sequence([dyngraph.ones(3), dyngraph.ones(2)])
        >>> p.batch_sizes.tolist()
        [2, 2, 1]
    """
    sequences = list(sequences)
    lengths = [s.shape[0] for s in sequences]
    return pack_padded_sequence(pad_sequence(sequences), lengths, enforce_sorted=enforce_sorted)


def unpack_sequence(packed_sequences: PackedSequence) -> list:
    """The list of sequences in a PackedSequence, in their original order."""
    padded, lengths = pad_packed_sequence(packed_sequences, batch_first=True)
    return unpad_sequence(padded, lengths, batch_first=True)
