"""The EventProp PE program: layers split over PEs by neurons, spike packets up, the loss at the output layer's
master, sparse error packets down in reverse time (docs/eventprop.md, "On the PEs").

PE order in a group: the PEs of layer 1, then of layer 2, ..., then of the output layer L; the master is the
first PE of the output layer. A PE of layer l holds the columns J of W_{l-1} for its neurons, their ADAM moments,
the state I and V of its neurons, and the tapes of one sub-batch: its neurons' I, Vpre and spikes, and the spikes
of layer l - 1 it received. Rounds (T steps):

``forward`` i = 0..T-1   read s_{l-1}[i-1] (the input raster, or the spike packets layer l - 1 posted in the
                         previous round), advance I and V, post s_l[i] to the PEs of layer l + 1
``first_spikes``         the output PEs post their neurons' first-spike steps, crossing fractions and highest Vpre to
                         the master
``loss``                 the master forms the loss and the output errors (and the voltage term's adjoint sources at
                         silent label outputs) and posts them to the output PEs
``backward`` i = T-2..0  read the error packets e_l[i+1] from layer l + 1, post the error packets e_{l-1}[i] (only
                         for the neurons of layer l - 1 that spiked at step i) to layer l - 1, step the adjoints back
                         to i and accumulate the weight gradient

so the backward pass is pipelined like the forward one: layer l works one step ahead of layer l - 1. This is the
chip's schedule, ``pipelined``. The network is feed-forward, so the same packets can also move a layer at a time,
schedule ``layered``: in round ``layer_l_forward`` the PEs of layer l run all T steps of their slice with the
compiled kernels of the off-chip engine and post the spike packets of every step at once (a raster (k, T n));
``first_spikes`` and ``loss`` as above; in round ``layer_l_backward`` (l = L..1) they run their adjoints back over
all steps and post the error packets of every step as events (sample, step, neuron, value). The gradients are the
same to float rounding; 2 L + 2 rounds replace 2 T + 1.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from pe_actors.core.optimiser import OptimiserConfig, l2_gradient
from pe_actors.core.partition import split_neurons
from pe_actors.networks import CompiledGraph
from pe_actors.rules.eventprop.config import SCHEDULES, EventPropConfig
from pe_actors.rules.eventprop.lif import backward_step, forward_step
from pe_actors.rules.eventprop.loss import (
    check_labels,
    first_spike_steps,
    logits,
    loss_times,
    output_errors,
    peak_voltages,
    ttfs_loss,
)
from pe_actors.rules.eventprop.network import check_spikes, hidden_errors, hidden_sources, spike_fractions
from pe_actors.runtime.program import Channel, Inbox, Phase, no_timer
from pe_actors.synapses import DIGITAL, DigitalStore
from pe_actors.synapses.held import HeldWeights

#: Memory categories of :meth:`EventPropProgram.arrays_by_category`, in display order. The first layer reads its
#: input raster from the sub-batch (the host's input buffer), so it keeps no copy of it.
MEMORY_CATEGORIES = ("weights", "adam", "neuron_state", "tapes", "input_spikes", "adjoints")


def layer_splits(config: EventPropConfig, n_pes: int | list) -> list[list[slice]]:
    """The neuron slices of every layer's PEs. ``n_pes`` is an int (that many PEs per layer, at most one per
    neuron) or one entry per layer: a PE count (an even split) or a list of neurons per PE (an explicit split)."""
    sizes = config.sizes[1:]
    if isinstance(n_pes, bool) or not isinstance(n_pes, (int, list, tuple)):
        raise ValueError(f"n_pes must be an int or one entry per layer, got {n_pes!r}")
    if isinstance(n_pes, int):
        if n_pes < 1:
            raise ValueError(f"n_pes must be at least 1, got {n_pes}")
        n_pes = [min(n_pes, size) for size in sizes]
    if len(n_pes) != len(sizes):
        raise ValueError(f"n_pes needs one entry per LIF layer ({len(sizes)}), got {n_pes!r}")
    splits = []
    for layer, (entry, size) in enumerate(zip(n_pes, sizes, strict=True), start=1):
        try:
            if isinstance(entry, (list, tuple)):
                splits.append(split_neurons(size, len(entry), list(entry)))
            else:
                splits.append(split_neurons(size, entry))
        except ValueError as error:
            raise ValueError(f"layer {layer} ({size} neurons): {error}") from None
    return splits


class EventPropGroup:
    """One EventProp network replica on PEs: each layer split over PEs by neurons (see :func:`layer_splits`),
    exchanging packets on the ``schedule`` of :data:`~pe_actors.rules.eventprop.config.SCHEDULES`."""

    def __init__(self, config: EventPropConfig, n_pes: int | list = 1, schedule: str = "pipelined") -> None:
        if schedule not in SCHEDULES:
            raise ValueError(f"schedule must be one of {list(SCHEDULES)}, got {schedule!r}")
        self.config, self.schedule = config, schedule
        self.splits = layer_splits(config, n_pes)
        self.layer_of: list[int] = []
        self.neurons: list[slice] = []
        first: list[int] = []
        for layer, slices in enumerate(self.splits, start=1):
            first.append(len(self.layer_of))
            self.layer_of += [layer] * len(slices)
            self.neurons += slices
        self.n_pes = len(self.layer_of)
        self.n_out, self.n_steps = config.n_out, config.n_steps
        self.master = first[-1]
        #: EventProp's weights are digital; no device time passes.
        self.synapses, self.sample_s = DIGITAL, 0.0

        def pes(layer: int) -> tuple[int, ...]:
            return tuple(p for p in range(self.n_pes) if self.layer_of[p] == layer)

        def widths(layer: int) -> tuple[int, ...]:
            return tuple(self.neurons[p].stop - self.neurons[p].start for p in pes(layer))

        n_layers = config.n_layers
        # A layered round carries all T steps of a packet: T times the values per sample.
        steps = config.n_steps if schedule == "layered" else 1
        channels = []
        for layer in range(1, n_layers):
            spike_widths = tuple(steps * w for w in widths(layer))
            channels.append(Channel(f"spikes_{layer}", "spikes", pes(layer), pes(layer + 1), spike_widths))
        outputs = pes(n_layers)
        channels.append(
            Channel("first_spikes", "array", outputs, (self.master,), tuple(3 * w for w in widths(n_layers)))
        )
        channels.append(Channel("output_error", "array", (self.master,), outputs, (config.n_out,)))
        for layer in range(1, n_layers):
            senders = pes(layer + 1)
            channels.append(
                Channel(f"errors_{layer}", "events", senders, pes(layer), (steps * config.sizes[layer],) * len(senders))
            )
        self.channels = tuple(channels)

    def phases(self, learning: bool) -> tuple[Phase, ...]:
        """forward, first_spikes, then loss and backward (training) or output (inference); forward and backward
        are T and T - 1 rounds (``pipelined``) or one round per layer (``layered``)."""
        n_steps, n_layers = self.n_steps, self.config.n_layers
        hidden = range(1, n_layers)
        if self.schedule == "pipelined":
            forward = (Phase("forward", n_steps, tuple(f"spikes_{layer}" for layer in hidden)),)
            backward = (Phase("backward", n_steps - 1, tuple(f"errors_{layer}" for layer in hidden), reverse=True),)
        else:
            forward = tuple(
                Phase(f"layer_{layer}_forward", 1, (f"spikes_{layer}",) if layer < n_layers else ())
                for layer in range(1, n_layers + 1)
            )
            backward = tuple(
                Phase(f"layer_{layer}_backward", 1, (f"errors_{layer - 1}",) if layer > 1 else ())
                for layer in range(n_layers, 0, -1)
            )
        head = (*forward, Phase("first_spikes", 1, ("first_spikes",), first=n_steps))
        if not learning:
            return (*head, Phase("output", 1))
        return (*head, Phase("loss", 1, ("output_error",)), *backward)

    def make_program(
        self, pe: int, params: dict[str, np.ndarray], optimiser: OptimiserConfig | None, learning: bool = True
    ) -> EventPropProgram:
        """The program of PE ``pe``, holding its columns of its layer's weight matrix."""
        layer = self.layer_of[pe]
        below = tuple(s.stop - s.start for s in self.splits[layer - 2]) if layer > 1 else ()
        return EventPropProgram(
            self.config, pe, layer, self.neurons[pe], params, optimiser, self.master, self.schedule, below
        )

    def prepare(self, x: np.ndarray, labels: np.ndarray | None, dtype: np.dtype) -> tuple[np.ndarray, Any]:
        """The input raster checked (binary, shape) in the engine's dtype, and the labels checked."""
        x = check_spikes(x, self.config, dtype)
        return x, (None if labels is None else check_labels(labels, self.n_out, len(x)))

    def pe_layout(self) -> list[dict]:
        """Per PE: its layer, its neurons [first, stop) in the layer, its synapses (the columns of the layer's
        weight matrix onto its neurons) and whether it is the master."""
        sizes = self.config.sizes
        return [{"pe": p, "layer": layer, "neurons": [part.start, part.stop],
                 "synapses": sizes[layer - 1] * (part.stop - part.start), "master": p == self.master}
                for p, (layer, part) in enumerate(zip(self.layer_of, self.neurons, strict=True))]

    def gather_state(self, states: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
        """Full matrices from the PEs' column slices, in PE order (the PEs of a layer are consecutive)."""
        full: dict[str, list[np.ndarray]] = {}
        for state in states:
            for key, value in state.items():
                full.setdefault(key, []).append(value)
        return {key: values[0] if key == "adam_n" else np.concatenate(values, axis=1) for key, values in full.items()}

    def scatter_state(self, state: dict[str, np.ndarray], pe: int) -> dict[str, np.ndarray]:
        """The columns of its layer's matrices (weights and moments) that PE ``pe`` holds."""
        key, neurons = f"w_{self.layer_of[pe] - 1}", self.neurons[pe]
        names = [key, f"m_{key}", f"v_{key}"]
        part = {name: np.asarray(state[name])[:, neurons] for name in names if name in state}
        if "adam_n" in state:
            part["adam_n"] = state["adam_n"]
        return part


class EventPropProgram(HeldWeights):
    """The program of one EventProp PE of layer ``layer`` owning neurons ``neurons`` of it, on ``schedule``; its
    weights' device time and state as every PE holding a store has them (:class:`HeldWeights`)."""

    def __init__(
        self,
        config: EventPropConfig,
        index: int,
        layer: int,
        neurons: slice,
        params: dict[str, np.ndarray],
        optimiser: OptimiserConfig | None,
        master: int,
        schedule: str = "pipelined",
        below: tuple[int, ...] = (),
    ) -> None:
        self.config, self.index, self.layer, self.neurons = config, index, layer, neurons
        #: ``below``: the neurons of each PE of layer l - 1, the senders of the spike packets this PE reads.
        self.master, self.schedule, self.below = master, schedule, below
        self._forward_round, self._backward_round = f"layer_{layer}_forward", f"layer_{layer}_backward"
        self.timer = no_timer
        self.key = f"w_{layer - 1}"
        self.optimiser = optimiser
        self.store = DigitalStore({self.key: np.array(params[self.key][:, neurons])}, optimiser)
        self.masks: dict[str, np.ndarray] = {}
        self.w = self.store.read()[self.key]
        self.dtype = self.w.dtype
        self.is_output = layer == config.n_layers
        self.n_pre = config.sizes[layer - 1]
        self.grad: np.ndarray | None = None
        self._result: dict[str, Any] = {}

    @property
    def size(self) -> int:
        """Neurons this PE owns."""
        return self.neurons.stop - self.neurons.start

    def begin(self, x: np.ndarray, labels: np.ndarray | None) -> None:
        """Load sub-batch x (k, T, n_0) and zero the state and tapes (the layered rounds make them whole)."""
        k, n_steps, n, dt = len(x), self.config.n_steps, self.size, self.dtype
        self.k, self.labels = k, labels
        self.x = x if self.layer == 1 else None
        self.grad: np.ndarray | None = None
        self.first: np.ndarray | None = None
        self.source = self.e_tape = None
        self._result = {}
        self.s_prev = x if self.layer == 1 else None
        self.current = self.voltage = self.i_tape = self.v_tape = self.s_tape = None
        if self.schedule == "pipelined":
            if self.layer > 1:
                self.s_prev = np.zeros((k, n_steps, self.n_pre), dt)
            self.current, self.voltage = np.zeros((k, n), dt), np.zeros((k, n), dt)
            self.i_tape, self.v_tape, self.s_tape = (np.zeros((k, n_steps, n), dt) for _ in range(3))

    def step(self, phase: str, t: int, inbox: Inbox) -> dict[str, Any]:
        """One round (see the module docstring)."""
        if phase == "forward":
            with self.timer("forward", t):
                return self._forward(t, inbox)
        if phase == "first_spikes":
            with self.timer("loss", t):
                return self._first_spikes()
        if phase in ("loss", "output"):
            with self.timer("loss", t):
                return self._loss(inbox, learning=phase == "loss")
        if phase == "backward":
            with self.timer("backward", t):
                return self._backward(t, inbox)
        if phase.startswith("layer_"):
            if phase == self._forward_round:
                with self.timer("forward", t):
                    return self._forward_layer(inbox)
            if phase == self._backward_round:
                with self.timer("backward", t):
                    return self._backward_layer(inbox)
            if phase.endswith(("_forward", "_backward")):
                return {}  # another layer's round
        raise ValueError(f"EventProp has no phase {phase!r}")

    def _forward(self, i: int, inbox: Inbox) -> dict[str, Any]:
        if i > 0:
            if self.layer > 1:
                self.s_prev[:, i - 1] = inbox.read(f"spikes_{self.layer - 1}")
            v_pre, spikes = forward_step(self.current, self.voltage, self.s_prev[:, i - 1], self.w, self.config)
            self.i_tape[:, i], self.v_tape[:, i], self.s_tape[:, i] = self.current, v_pre, spikes
        return {} if self.is_output else {f"spikes_{self.layer}": self.s_tape[:, i]}

    def _forward_layer(self, inbox: Inbox) -> dict[str, Any]:
        """The layered forward round: all T steps of the own slice (the equations of :func:`forward_step`, as the
        off-chip engine's compiled loop), then the spike packets of every step at once."""
        from pe_actors.rules.eventprop import kernels  # numba, loaded only by PEs on the layered schedule

        k, n_steps = self.k, self.config.n_steps
        if self.layer > 1:
            raster = inbox.read(f"spikes_{self.layer - 1}")  # (k, T n_p) per sender, side by side in sender order
            parts = np.split(raster, np.cumsum([n_steps * w for w in self.below])[:-1], axis=1)
            self.s_prev = np.concatenate([part.reshape(k, n_steps, -1) for part in parts], axis=2)
        self.i_tape, self.v_tape, self.s_tape = kernels.forward_layer(self.s_prev, self.w, self.config)
        return {} if self.is_output else {f"spikes_{self.layer}": self.s_tape.reshape(k, -1)}

    def _first_spikes(self) -> dict[str, Any]:
        if not self.is_output:
            return {}
        self.first = first = first_spike_steps(self.s_tape)
        fractions = spike_fractions(first, self.s_tape, self.v_tape, self.config)
        peaks, self.peak_steps = peak_voltages(self.v_tape)
        packet = [first.astype(self.dtype), fractions.astype(self.dtype), peaks]
        return {"first_spikes": np.concatenate(packet, axis=1)}

    def _loss(self, inbox: Inbox, learning: bool) -> dict[str, Any]:
        if self.index != self.master:
            return {}
        thirds = [np.split(np.asarray(p), 3, axis=1) for p in inbox.read("first_spikes")]
        first, fractions, peaks = (np.concatenate([t[part] for t in thirds], axis=1) for part in range(3))
        first = first.astype(np.int64)
        self._result.update(first=first, logits=logits(first, fractions, self.config))
        if not learning:
            return {}
        times = loss_times(first, fractions, self.config)
        self._result["loss"] = ttfs_loss(first, times, peaks, self.labels, self.config)
        # Errors of the sub-batch's summed loss: the engine divides the gradient sums by the batch size.
        errors = output_errors(first, times, self.labels, self.config, batch_size=1)
        return {"output_error": errors.astype(self.dtype)}

    def _backward(self, i: int, inbox: Inbox) -> dict[str, Any]:
        c, n_steps = self.config, self.config.n_steps
        if i == n_steps - 2:
            self.lam_v = np.zeros((self.k, self.size), self.dtype)
            self.lam_i = np.zeros((self.k, self.size), self.dtype)
            self.grad = np.zeros(self.w.shape, self.dtype)
            if self.is_output:
                self._output_tapes(inbox)
            else:
                self._hidden_source()
            if self.source is not None:
                self.lam_v += self.source[:, n_steps - 1]
        if self.is_output:
            error_next = self.e_tape[:, i + 1]
        else:
            if i == n_steps - 2:
                error_next = np.zeros((self.k, self.size), self.dtype)  # no layer above reaches step T - 1
            else:
                error_next = self._received_errors(inbox.read(f"errors_{self.layer}"))
            if self.e_tape is not None:
                error_next = error_next + self.e_tape[:, i + 1]
        out = {}
        if self.layer > 1:
            out[f"errors_{self.layer - 1}"] = self._error_packet(i)
        backward_step(
            self.lam_v,
            self.lam_i,
            self.s_tape[:, i + 1],
            error_next,
            self.i_tape[:, i + 1],
            self.v_tape[:, i + 1],
            c,
            None if self.source is None else self.source[:, i],
        )
        self.grad -= c.tau_syn * (self.s_prev[:, i].T @ self.lam_i)
        return out

    def _output_tapes(self, inbox: Inbox) -> None:
        """The output PE's error tape e_L (k, T, own) and adjoint source tape (None without the voltage term)."""
        n_steps = self.config.n_steps
        self.e_tape = np.zeros((self.k, n_steps, self.size), self.dtype)
        # The master's errors enter at each spiking output's first spike step only; at a silent output what it
        # sent is the voltage term's adjoint source, at the step of the highest Vpre.
        values = inbox.read("output_error")[0][:, self.neurons]
        first = self.first  # the own neurons' first spikes, from the first_spikes round
        samples, neurons = np.nonzero(first < n_steps)
        self.e_tape[samples, first[samples, neurons], neurons] = values[samples, neurons]
        if self.config.alpha_silent:
            self.source = np.zeros((self.k, n_steps, self.size), self.dtype)
            samples, neurons = np.nonzero(first >= n_steps)
            steps = self.peak_steps[samples, neurons]
            self.source[samples, steps, neurons] = values[samples, neurons]

    def _hidden_source(self) -> None:
        """A hidden PE's adjoint source tape of the hidden voltage terms and error tape of the rate term (None
        without them): from its own neurons' tapes alone, so no packet carries them."""
        size = self.config.sizes[self.layer]
        self.source = hidden_sources(self.v_tape, self.s_tape, self.config, size, 1)
        self.e_tape = hidden_errors(self.s_tape, self.config, size, 1)

    def _backward_layer(self, inbox: Inbox) -> dict[str, Any]:
        """The layered backward round: the adjoints of the own slice back over all steps and the weight gradient
        (the equations of :func:`backward_step`, as the off-chip engine's compiled loop), then the own share of
        the error packets e_{l-1} of every step, only where layer l - 1 spiked."""
        from pe_actors.rules.eventprop import kernels

        if self.is_output:
            self._output_tapes(inbox)
            error = self.e_tape
        else:
            self._hidden_source()
            error = self._received_errors(inbox.read(f"errors_{self.layer}"), (self.config.n_steps,))
            if self.e_tape is not None:
                error = error + self.e_tape
        tapes = (self.i_tape, self.v_tape, self.s_tape)
        lower = self.layer > 1
        self.grad, e_prev = kernels.backward_layer(self.s_prev, self.w, tapes, error, self.config, lower, self.source)
        if not lower:
            return {}
        # Flat (sample, step, neuron) indices of the lower layer's spikes; the adjoints run from step T - 2 down,
        # so spikes at step T - 1 receive no error.
        flat = np.flatnonzero(self.s_prev != 0)  # a bool mask: nonzero of floats is several times slower
        flat = flat[flat // self.n_pre % self.config.n_steps < self.config.n_steps - 1]
        return {f"errors_{self.layer - 1}": (flat, e_prev.ravel()[flat])}

    def _received_errors(
        self, packets: list[tuple[np.ndarray, np.ndarray]], steps: tuple[int, ...] = ()
    ) -> np.ndarray:
        """The own neurons' errors e_l: the sum, in sender order, of the partial error packets of layer l + 1,
        indexed by (sample, neuron) for one step (k, own), or by (sample, step, neuron) for all T steps of a
        layered round (``steps`` = (T,): (k, T, own))."""
        total = np.zeros((self.k, *steps, self.size), self.dtype)
        flat_total = total.reshape(-1)
        n_layer, start, stop = self.config.sizes[self.layer], self.neurons.start, self.neurons.stop
        for indices, values in packets:
            rows, neurons = np.divmod(indices.astype(np.int64), n_layer)
            own = (neurons >= start) & (neurons < stop)
            # A sender posts each (sample, step, neuron) once, so plain fancy-index addition sums correctly.
            flat_total[rows[own] * self.size + (neurons[own] - start)] += values[own]
        return total

    def _error_packet(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        """This PE's share of e_{l-1}[i] = s_{l-1}[i] ((lambda_V[i+1] - lambda_I[i+1]) W^T), only where layer
        l - 1 spiked at step i: (flat sample x neuron indices, values)."""
        samples, neurons = np.nonzero(self.s_prev[:, i])
        diff = self.lam_v[samples] - self.lam_i[samples]
        values = np.einsum("ej,ej->e", diff, self.w[neurons]) if len(samples) else np.zeros(0, self.dtype)
        return samples * self.n_pre + neurons, values.astype(self.dtype)

    def arrays_by_category(self) -> dict[str, list[np.ndarray]]:
        """Every array this PE holds, by memory category (:data:`MEMORY_CATEGORIES`); the tapes and adjoints
        exist after :meth:`begin` and the first backward round."""
        groups: dict[str, list[np.ndarray]] = {name: [] for name in MEMORY_CATEGORIES}
        store = self.store.arrays_by_category()
        groups["weights"], groups["adam"] = store["weights"], store["adam"]
        if getattr(self, "current", None) is not None:
            groups["neuron_state"] = [self.current, self.voltage]
        if getattr(self, "s_tape", None) is not None:
            groups["tapes"] = [self.i_tape, self.v_tape, self.s_tape]
            if self.layer > 1:
                groups["input_spikes"] = [self.s_prev]
        if self.grad is not None:
            # The layered rounds keep the adjoints inside the compiled loop: only the gradient and error tapes stay.
            adjoints = [getattr(self, "lam_v", None), getattr(self, "lam_i", None), self.grad, self.e_tape,
                        self.source]
            groups["adjoints"] = [array for array in adjoints if array is not None]
        return groups

    def result(self) -> dict[str, Any]:
        """``grads`` (the own columns, summed over the sub-batch) after training; on the master ``logits``,
        ``first`` (first-spike steps) and ``loss``; ``spikes`` emitted by this PE."""
        result = {**self._result, "spikes": int(np.count_nonzero(self.s_tape))}
        if self.grad is not None:
            result["grads"] = {self.key: self.grad}
        return result

    def apply(self, grads: dict[str, np.ndarray], lr: float) -> None:
        """ADAM step of the own columns with batch-mean gradients (plus the L2 term), through the store."""
        if self.optimiser is None:
            raise RuntimeError("this PE was built without an optimiser")
        grad = self.optimiser.learned(self.key, grads[self.key] + l2_gradient(self.w, self.optimiser.l2))
        self.store.apply({self.key: grad}, lr)
        self.w = self.store.read()[self.key]


def eventprop_group(
    config: EventPropConfig,
    n_pes: int | list[int],
    sizes: list[int] | None = None,
    synapses: Any = None,
    kernel: str | None = None,
    schedule: str = "pipelined",
) -> Any:
    """The EventProp group program with ``n_pes`` PEs per layer exchanging packets on ``schedule`` (the rule's
    group factory; EventProp's PEs hold digital weights, and their slices follow from ``n_pes``, so ``sizes`` must
    be None; ``kernel`` is e-prop's)."""
    if sizes is not None:
        raise ValueError("EventProp splits each layer evenly over its PEs; give n_pes, not sizes")
    if isinstance(config, CompiledGraph):  # a network graph: a slice of every population on every PE
        from pe_actors.rules.eventprop.graph_program import GraphGroup

        if schedule != SCHEDULES[0]:
            raise ValueError(f"a network graph's PEs exchange packets every step (schedule {SCHEDULES[0]!r}), not "
                             f"{schedule!r}")
        return GraphGroup(config, n_pes, synapses or DIGITAL)
    return EventPropGroup(config, n_pes, schedule)
