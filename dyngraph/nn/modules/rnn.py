"""Recurrent layers: RNN (tanh/relu), LSTM, GRU and their single-step cells, as in PyTorch.

Parameter names, shapes, gate order (LSTM: i, f, g, o; GRU: r, z, n), initialisation
(uniform(-1/sqrt(hidden_size), 1/sqrt(hidden_size))) and input/hidden layouts follow PyTorch, so
a PyTorch state dict loads unchanged.

A layer projects the whole input sequence with one matmul (x @ W_ih^T + b_ih for every time
step), then loops over time for the recurrent part, which is inherently sequential. In
float32/float64 (and without LSTM's proj_size) that loop is one op per layer and direction
(`rnn_layer` / `lstm_layer` / `gru_layer`, dyngraph/ops/rnn_ops.py), which runs all gates of a
step in a few array calls; other cases compose each step from dyngraph ops. The cells live in
rnn_cells.py.

The layers also take a `PackedSequence` (dyngraph.nn.utils.rnn): each sequence then runs exactly
to its own length (time step t updates only the batch_sizes[t] sequences still running), the
output is a PackedSequence, and the final states are those at each sequence's last step.
"""

from __future__ import annotations

import math
import numbers
import warnings

from ... import ops as _ops
from ..._tensor import Tensor
from .. import functional as F
from ..parameter import Parameter
from ..utils.rnn import PackedSequence
from .module import Module
from .rnn_cells import (GRUCell, LSTMCell, RNNCell, RNNCellBase, _fusable, _gru_step,
                        _gru_workspace, _lstm_step, _lstm_workspace, _reset_parameters,
                        _rnn_outputs, _rnn_step)

__all__ = ["RNNBase", "RNN", "LSTM", "GRU", "RNNCellBase", "RNNCell", "LSTMCell", "GRUCell"]

_GATES = {"RNN_TANH": 1, "RNN_RELU": 1, "LSTM": 4, "GRU": 3}


def _time_steps(seq: Tensor) -> list:
    """The time steps seq[0], seq[1], ... of a time-major tensor, sliced through blocks.

    Each slice's gradient is materialised at the size of the tensor it was cut from; cutting
    blocks of ~sqrt(L) steps first makes backward O(L^1.5) in memory traffic instead of O(L^2).
    """
    L = seq.shape[0]
    size = max(1, math.isqrt(L))
    if size == 1:
        return [seq[t] for t in range(L)]
    steps = []
    for start in range(0, L, size):
        block = seq[start:start + size]
        steps.extend(block[i] for i in range(block.shape[0]))
    return steps


def _packed_steps(x: Tensor, batch_sizes: list) -> list:
    """The time steps of packed data: rows [offset_t, offset_t + batch_sizes[t]) of x, cut
    through blocks of ~sqrt(T) steps for the same reason as `_time_steps`."""
    offsets = [0]
    for b in batch_sizes:
        offsets.append(offsets[-1] + b)
    T = len(batch_sizes)
    size = max(1, math.isqrt(T))
    steps = []
    for start in range(0, T, size):
        stop = min(start + size, T)
        block = x[offsets[start]:offsets[stop]] if size > 1 else x
        base = offsets[start] if size > 1 else 0
        steps.extend(block[offsets[t] - base:offsets[t + 1] - base] for t in range(start, stop))
    return steps


# A recurrent state is one tensor (N, H), or LSTM's tuple (h, c); these act on its rows.
def _rows(state) -> int:
    return (state[0] if isinstance(state, tuple) else state).shape[0]


def _take_rows(state, start: int, stop: int):
    if isinstance(state, tuple):
        return tuple(s[start:stop] for s in state)
    return state[start:stop]


def _last_rows(states: Tensor, batch_sizes, reverse: bool) -> Tensor:
    """From per-step states (k, L, N, H) (padded) or (k, T, H) (packed), those of each
    sequence's final step: (k, N, H)."""
    if batch_sizes is None:
        return states[:, 0] if reverse else states[:, -1]
    N = batch_sizes[0]
    if reverse:  # backwards in time every sequence ends at step 0, the first N rows
        return states[:, :N]
    if batch_sizes[-1] == N:
        return states[:, -N:]
    offsets = [0]
    for b in batch_sizes:
        offsets.append(offsets[-1] + b)
    lengths = [sum(1 for b in batch_sizes if b > r) for r in range(N)]
    rows = [offsets[n - 1] + r for r, n in enumerate(lengths)]
    return states.index_select(1, _ops.tensor(rows, device=states.device))


def _cat_rows(states: list):
    if len(states) == 1:
        return states[0]
    if isinstance(states[0], tuple):
        return tuple(_ops.cat(parts, 0) for parts in zip(*states))
    return _ops.cat(states, 0)


# ----------------------------------------------------------------------------------------------
# Multi-layer recurrent layers
# ----------------------------------------------------------------------------------------------

class RNNBase(Module):
    """Shared implementation of RNN, LSTM and GRU (parameters, checks, the layer loop).

    Args:
        mode: 'RNN_TANH', 'RNN_RELU', 'LSTM' or 'GRU'.
        input_size: features of each input step.
        hidden_size: features of the hidden state.
        num_layers: stacked recurrent layers.
        bias: whether the layers have bias_ih/bias_hh.
        batch_first: input/output as (N, L, H) instead of (L, N, H).
        dropout: dropout on the outputs of every layer but the last (training only).
        bidirectional: also run each layer backwards in time and concatenate.
        proj_size: LSTM only: project h to this size (weight_hr).
    """

    def __init__(self, mode: str, input_size: int, hidden_size: int, num_layers: int = 1,
                 bias: bool = True, batch_first: bool = False, dropout: float = 0.0,
                 bidirectional: bool = False, proj_size: int = 0, device=None,
                 dtype=None) -> None:
        super().__init__()
        if mode not in _GATES:
            raise ValueError(f"Unrecognized RNN mode: {mode}")
        if not isinstance(dropout, numbers.Number) or not 0 <= dropout <= 1 or \
                isinstance(dropout, bool):
            raise ValueError("dropout should be a number in range [0, 1] representing the "
                             "probability of an element being zeroed")
        if dropout > 0 and num_layers == 1:
            warnings.warn("dropout option adds dropout after all but last recurrent layer, so "
                          "non-zero dropout expects num_layers greater than 1, but got "
                          f"dropout={dropout} and num_layers={num_layers}", UserWarning,
                          stacklevel=3)
        if not isinstance(hidden_size, int) or isinstance(hidden_size, bool):
            raise TypeError(f"hidden_size should be of type int, got: {type(hidden_size).__name__}")
        if hidden_size <= 0:
            raise ValueError("hidden_size must be greater than zero")
        if num_layers <= 0:
            raise ValueError("num_layers must be greater than zero")
        if proj_size < 0:
            raise ValueError("proj_size should be a positive integer or zero to disable "
                             "projections")
        if proj_size >= hidden_size:
            raise ValueError("proj_size has to be smaller than hidden_size")
        if proj_size and mode != "LSTM":
            raise ValueError("proj_size argument is only supported for LSTM, not RNN or GRU")
        self.mode = mode
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.bias = bias
        self.batch_first = batch_first
        self.dropout = float(dropout)
        self.bidirectional = bidirectional
        self.proj_size = proj_size
        num_directions = 2 if bidirectional else 1
        gate_size = _GATES[mode] * hidden_size
        real_hidden = proj_size if proj_size > 0 else hidden_size
        kw = {"device": device, "dtype": dtype}
        self._flat_weights_names: list[str] = []
        self._all_weights: list[list[str]] = []
        for layer in range(num_layers):
            for direction in range(num_directions):
                in_size = input_size if layer == 0 else real_hidden * num_directions
                shapes = [(gate_size, in_size), (gate_size, real_hidden)]
                names = ["weight_ih_l{}{}", "weight_hh_l{}{}"]
                if bias:
                    shapes += [(gate_size,), (gate_size,)]
                    names += ["bias_ih_l{}{}", "bias_hh_l{}{}"]
                if proj_size > 0:
                    shapes.append((proj_size, hidden_size))
                    names.append("weight_hr_l{}{}")
                suffix = "_reverse" if direction == 1 else ""
                names = [n.format(layer, suffix) for n in names]
                for name, shape in zip(names, shapes):
                    setattr(self, name, Parameter(_ops.empty(*shape, **kw)))
                self._flat_weights_names.extend(names)
                self._all_weights.append(names)
        self.reset_parameters()

    reset_parameters = _reset_parameters

    def flatten_parameters(self) -> None:
        """No-op kept for PyTorch compatibility (cuDNN weight packing does not apply here)."""

    @property
    def _flat_weights(self) -> list:
        return [getattr(self, n) for n in self._flat_weights_names]

    @property
    def all_weights(self) -> list:
        """The parameters, grouped per layer and direction."""
        return [[getattr(self, n) for n in names] for names in self._all_weights]

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        if self.proj_size != 0:
            s += f", proj_size={self.proj_size}"
        if self.num_layers != 1:
            s += f", num_layers={self.num_layers}"
        if self.bias is not True:
            s += f", bias={self.bias}"
        if self.batch_first is not False:
            s += f", batch_first={self.batch_first}"
        if self.dropout != 0:
            s += f", dropout={self.dropout}"
        if self.bidirectional is not False:
            s += f", bidirectional={self.bidirectional}"
        return s

    # ----- forward ----------------------------------------------------------------------------
    def _weights(self, layer: int, direction: int):
        """(w_ih, w_hh, b_ih, b_hh, w_hr) of one layer and direction (None where absent)."""
        suffix = "_reverse" if direction == 1 else ""
        return tuple(getattr(self, f"{n}_l{layer}{suffix}", None) for n in
                     ("weight_ih", "weight_hh", "bias_ih", "bias_hh", "weight_hr"))

    def _check_input(self, input, hx, name: str):
        """Validate ranks and sizes; return (time-major batched input, is_batched, packed).

        For a PackedSequence input, the returned input is its data and `packed` the sequence
        (None otherwise)."""
        packed = None
        if isinstance(input, PackedSequence):
            packed, input = input, input.data
            if input.ndim != 2:
                raise ValueError(f"{name}: Expected the data of a PackedSequence to be 2D "
                                 f"(total steps, features), got shape {tuple(input.shape)}")
        elif not isinstance(input, Tensor):
            raise TypeError(f"{name}: input must be a Tensor, got {type(input).__name__}")
        elif input.ndim not in (2, 3):
            raise ValueError(f"{name}: Expected input to be 2D or 3D, got {input.ndim}D tensor "
                             f"instead (shape {tuple(input.shape)})")
        is_batched = input.ndim == 3 or packed is not None
        for h in (hx if isinstance(hx, tuple) else (hx,)):
            if h is None:
                continue
            if is_batched and h.ndim != 3:
                raise RuntimeError(f"{name}: For batched 3-D input, hx should also be 3-D but "
                                   f"got {h.ndim}-D tensor")
            if not is_batched and h.ndim != 2:
                raise RuntimeError(f"{name}: For unbatched 2-D input, hx should also be 2-D but "
                                   f"got {h.ndim}-D tensor")
        if input.shape[-1] != self.input_size:
            raise RuntimeError(f"{name}: input.size(-1) must be equal to input_size. Expected "
                               f"{self.input_size}, got {input.shape[-1]} (input shape "
                               f"{tuple(input.shape)})")
        if packed is not None:
            return input, True, packed
        if not is_batched:
            input = input.unsqueeze(1)
        elif self.batch_first:
            input = input.transpose(0, 1)
        return input, is_batched, None

    @staticmethod
    def _batch_size(x: Tensor, packed) -> int:
        return x.shape[1] if packed is None else int(packed.batch_sizes[0])

    def _initial_state(self, h, shape, like: Tensor, is_batched: bool, what: str, name: str,
                       packed=None):
        """The given initial state checked against `shape` (zeros if None); for a packed input
        sorted by length, its batch rows are put in that order."""
        if h is None:
            return _ops.zeros(*shape, dtype=like.dtype, device=like.device)
        if not is_batched:
            h = h.unsqueeze(1)
        if tuple(h.shape) != tuple(shape):
            got = list(h.shape) if is_batched else [h.shape[0], h.shape[2]]
            want = list(shape) if is_batched else [shape[0], shape[2]]
            raise RuntimeError(f"{name}: Expected {what} size {tuple(want)}, got {got}")
        if packed is not None and packed.sorted_indices is not None:
            h = h.index_select(1, packed.sorted_indices)
        return h

    @staticmethod
    def _final_state(h: Tensor, packed) -> Tensor:
        """Stacked final states back in the caller's batch order (packed inputs)."""
        if packed is not None and packed.unsorted_indices is not None:
            return h.index_select(1, packed.unsorted_indices)
        return h

    def _run(self, x: Tensor, states: list, name: str, packed=None):
        """Run all layers over time-major x (L, N, H_in), or over the data of `packed`;
        `states` per layer*direction. Returns (output, final state of each)."""
        D = 2 if self.bidirectional else 1
        batch_sizes = None if packed is None else packed.batch_sizes.tolist()
        fused = not self.proj_size and _fusable(x) and x.shape[0] > 0
        finals = []
        for layer in range(self.num_layers):
            outs = []
            for direction in range(D):
                w_ih, w_hh, b_ih, b_hh, w_hr = self._weights(layer, direction)
                state = states[layer * D + direction]
                if fused:
                    out, state = self._run_fused(x, state, (w_ih, w_hh, b_ih, b_hh),
                                                 batch_sizes, direction == 1)
                    outs.append(out)
                    finals.append(state)
                    continue
                gi = F.linear(x, w_ih, b_ih)  # all steps in one matmul
                weights = (w_hh, b_hh, w_hr)
                if batch_sizes is None:
                    out, state = self._run_padded(gi, state, weights, direction == 1)
                else:
                    out, state = self._run_packed(gi, state, weights, batch_sizes,
                                                  direction == 1)
                outs.append(out)
                finals.append(state)
            x = outs[0] if D == 1 else _ops.cat(outs, -1)
            if self.dropout > 0 and self.training and layer < self.num_layers - 1:
                x = F.dropout(x, self.dropout, True)
        return x, finals

    def _run_fused(self, x: Tensor, state, weights, batch_sizes, reverse: bool):
        """One direction of a layer as one fused op: (output h of every step, final state)."""
        if self.mode == "LSTM":
            ws = _lstm_workspace(x, state[0], state[1], *weights, reverse=reverse,
                                 batch_sizes=batch_sizes)
            # one slice of the workspace: each slice's gradient is materialised at its size
            hc = ws[:2]
            h_n, c_n = _last_rows(hc, batch_sizes, reverse)
            return hc[0], (h_n, c_n)
        if self.mode == "GRU":
            hs = _gru_workspace(x, state, *weights, reverse=reverse, batch_sizes=batch_sizes)[0]
            return hs, _last_rows(hs.unsqueeze(0), batch_sizes, reverse)[0]
        hs = _rnn_outputs(x, state, *weights, relu=self.mode == "RNN_RELU", reverse=reverse,
                          batch_sizes=batch_sizes)
        return hs, _last_rows(hs.unsqueeze(0), batch_sizes, reverse)[0]

    def _step(self, gi: Tensor, state, weights):
        """One time step of this layer's cell: (new state, output h)."""
        w_hh, b_hh, w_hr = weights
        if self.mode == "LSTM":
            state = _lstm_step(gi, state[0], state[1], w_hh, b_hh, w_hr)
            return state, state[0]
        if self.mode == "GRU":
            state = _gru_step(gi, state, w_hh, b_hh)
        else:
            state = _rnn_step(gi, state, w_hh, b_hh, self.mode == "RNN_RELU")
        return state, state

    def _run_padded(self, gi: Tensor, state, weights, reverse: bool):
        """One direction over every step of a (L, N, G) input projection."""
        L = gi.shape[0]
        gi_all = _time_steps(gi)
        seq = [None] * L
        for t in (range(L - 1, -1, -1) if reverse else range(L)):
            state, seq[t] = self._step(gi_all[t], state, weights)
        if not L:
            return _ops.zeros(0, gi.shape[1], self._out_size(), dtype=gi.dtype,
                              device=gi.device), state
        return _ops.stack(seq, 0), state

    def _run_packed(self, gi: Tensor, state, weights, batch_sizes: list, reverse: bool):
        """One direction over packed steps: step t updates the first batch_sizes[t] rows (the
        sequences still running; lengths are sorted in decreasing order)."""
        steps = _packed_steps(gi, batch_sizes)
        seq = [None] * len(batch_sizes)
        if not reverse:
            finished = []  # rows whose sequence has ended, with their final state
            for t, b in enumerate(batch_sizes):
                if b < _rows(state):
                    finished.append(_take_rows(state, b, None))
                    state = _take_rows(state, 0, b)
                state, seq[t] = self._step(steps[t], state, weights)
            return _ops.cat(seq, 0), _cat_rows([state] + finished[::-1])
        # Backwards in time, a sequence joins at its own last step, from its initial state.
        initial, state = state, _take_rows(state, 0, batch_sizes[-1])
        for t in range(len(batch_sizes) - 1, -1, -1):
            if batch_sizes[t] > _rows(state):
                state = _cat_rows([state, _take_rows(initial, _rows(state), batch_sizes[t])])
            state, seq[t] = self._step(steps[t], state, weights)
        return _ops.cat(seq, 0), state

    def _out_size(self) -> int:
        return self.proj_size if self.proj_size > 0 else self.hidden_size

    def _finish(self, out: Tensor, is_batched: bool, packed=None):
        if packed is not None:
            return PackedSequence(out, packed.batch_sizes, packed.sorted_indices,
                                  packed.unsorted_indices)
        if not is_batched:
            return out.squeeze(1)
        return out.transpose(0, 1) if self.batch_first else out

    def forward(self, input, hx: Tensor | None = None):
        """Run the RNN/GRU: returns (output, h_n); see the class docstring for shapes."""
        name = type(self).__name__
        if isinstance(hx, tuple):
            raise RuntimeError(f"{name}: hx must be a Tensor (h_0), not a tuple; tuples "
                               "(h_0, c_0) are for LSTM")
        x, is_batched, packed = self._check_input(input, hx, name)
        D = 2 if self.bidirectional else 1
        shape = (self.num_layers * D, self._batch_size(x, packed), self.hidden_size)
        h0 = self._initial_state(hx, shape, x, is_batched, "hidden", name, packed)
        out, finals = self._run(x, [h0[i] for i in range(shape[0])], name, packed)
        h_n = self._final_state(_ops.stack(finals, 0), packed)
        return self._finish(out, is_batched, packed), h_n if is_batched else h_n.squeeze(1)


class RNN(RNNBase):
    """Elman RNN: h_t = tanh(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh) (or relu), stacked.

    Args:
        input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional: see
            `RNNBase`; may be given positionally in PyTorch's order
            (input_size, hidden_size, num_layers, nonlinearity, bias, batch_first, dropout,
            bidirectional).
        nonlinearity: 'tanh' (default) or 'relu'.

    Inputs: input (L, N, H_in) ((N, L, H_in) with batch_first, or unbatched (L, H_in)) and
    optional h_0 (D * num_layers, N, H_out). Returns (output (L, N, D * H_out), h_n).

    Example:
        >>> rnn = nn.RNN(10, 20, num_layers=2)
        >>> out, h_n = rnn(dyngraph.randn(5, 3, 10))
        >>> out.shape, h_n.shape
        (dyngraph.Size([5, 3, 20]), dyngraph.Size([2, 3, 20]))
    """

    def __init__(self, *args, **kwargs) -> None:
        if "proj_size" in kwargs:
            raise ValueError("proj_size argument is only supported for LSTM, not RNN or GRU")
        if len(args) > 3:
            self.nonlinearity = args[3]
            args = args[:3] + args[4:]
        else:
            self.nonlinearity = kwargs.pop("nonlinearity", "tanh")
        if self.nonlinearity == "tanh":
            mode = "RNN_TANH"
        elif self.nonlinearity == "relu":
            mode = "RNN_RELU"
        else:
            raise ValueError(f"Unknown nonlinearity '{self.nonlinearity}'. Select from 'tanh' or "
                             "'relu'.")
        super().__init__(mode, *args, **kwargs)


class GRU(RNNBase):
    """Gated recurrent unit layers (gates r, z, n in PyTorch's order and equations).

    r = sigmoid(W_ir x + b_ir + W_hr h + b_hr), z likewise, n = tanh(W_in x + b_in +
    r * (W_hn h + b_hn)), h' = (1 - z) * n + z * h. Arguments, inputs and outputs as `RNN`.
    """

    def __init__(self, *args, **kwargs) -> None:
        if "proj_size" in kwargs:
            raise ValueError("proj_size argument is only supported for LSTM, not RNN or GRU")
        super().__init__("GRU", *args, **kwargs)


class LSTM(RNNBase):
    """Long short-term memory layers (gates i, f, g, o in PyTorch's order), optional proj_size.

    Takes hx as a tuple (h_0, c_0) and returns (output, (h_n, c_n)); h has size proj_size when
    it is set (weight_hr_l{k}), c always has hidden_size.

    Example:
        >>> lstm = nn.LSTM(8, 16, num_layers=2, bidirectional=True, batch_first=True)
        >>> out, (h, c) = lstm(dyngraph.randn(4, 7, 8))
        >>> out.shape, h.shape
        (dyngraph.Size([4, 7, 32]), dyngraph.Size([4, 4, 16]))
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__("LSTM", *args, **kwargs)

    def forward(self, input, hx: tuple | None = None):
        """Run the LSTM: returns (output, (h_n, c_n))."""
        name = "LSTM"
        if hx is not None and not (isinstance(hx, (tuple, list)) and len(hx) == 2):
            raise RuntimeError("LSTM: hx must be a tuple (h_0, c_0) of two tensors, got "
                               f"{type(hx).__name__}")
        h0, c0 = hx if hx is not None else (None, None)
        x, is_batched, packed = self._check_input(input, (h0, c0), name)
        D = 2 if self.bidirectional else 1
        n, N = self.num_layers * D, self._batch_size(x, packed)
        h0 = self._initial_state(h0, (n, N, self._out_size()), x, is_batched, "hidden[0]", name,
                                 packed)
        c0 = self._initial_state(c0, (n, N, self.hidden_size), x, is_batched, "hidden[1]", name,
                                 packed)
        out, finals = self._run(x, [(h0[i], c0[i]) for i in range(n)], name, packed)
        h_n = self._final_state(_ops.stack([s[0] for s in finals], 0), packed)
        c_n = self._final_state(_ops.stack([s[1] for s in finals], 0), packed)
        if not is_batched:
            h_n, c_n = h_n.squeeze(1), c_n.squeeze(1)
        return self._finish(out, is_batched, packed), (h_n, c_n)
