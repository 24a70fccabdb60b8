"""EventProp on a network graph (an :class:`~pe_actors.rules.eventprop.graph.EventPropGraph`) as a PE program:
every population is split over the group's PEs, each PE holding a slice of every one of them and the weights onto
its neurons (docs/networks.md, "EventProp on a graph").

Rounds, for T steps:

``forward`` i = 0..T-1   read every population's spikes of step i - 1 (posted in the previous round), advance the
                         own neurons' I and V, record their tapes, post their spikes
``first_spikes``         post the own output neurons' first-spike steps, crossing fractions and highest Vpre to
                         the master
``loss``                 the master forms the loss and the output errors (and the voltage term's sources) and
                         posts them to every PE
``backward`` i = T-2..0  read the error partials of step i + 1 every PE posted in the previous round, post the own
                         partials of step i (what the own neurons' adjoints send back through the weights onto
                         them, for every source neuron that spiked at step i), step the adjoints back to i and
                         accumulate the own weights' gradient

A connection carries a spike at step i into its target at i + 1, which is exactly one round: the forward and the
backward pass take T and T - 1 rounds whatever the graph, recurrent connections included. Results equal the
off-chip engine's for any number of PEs and sub-batch.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from pe_actors.core.optimiser import OptimiserConfig
from pe_actors.core.partition import split_neurons
from pe_actors.networks.dynamics import NeuronState, class_scores
from pe_actors.rules.eventprop.graph import VOLTAGE_READOUTS, EventPropGraph, tau_ms, voltage_sources
from pe_actors.rules.eventprop.lif import JUMP_EPSILON
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
from pe_actors.synapses import DIGITAL, SynapseConfig, make_store
from pe_actors.synapses.held import HeldWeights

MASTER = 0


class GraphGroup:
    """One EventProp replica of a network graph on ``n_pes`` PEs (each holds a slice of every population; P at
    most the smallest population). Digital synapses only."""

    master = MASTER
    sample_s = 0.0

    def __init__(self, graph: EventPropGraph, n_pes: int, synapses: SynapseConfig = DIGITAL) -> None:
        if synapses.kind != DIGITAL.kind:
            raise ValueError(f"EventProp on a network graph holds digital synapses, not {synapses.kind}")
        network = graph.network
        self.graph, self.network, self.config, self.synapses = graph, network, graph.loss, synapses
        smallest = min(p.size for p in network.populations)
        if not isinstance(n_pes, int) or isinstance(n_pes, bool) or not 1 <= n_pes <= smallest:
            raise ValueError(f"n_pes must lie in [1, {smallest}] (the smallest population), got {n_pes!r}")
        self.n_pes, self.n_out, self.n_steps = n_pes, network.n_out, network.n_steps
        self.output = network.outputs[0]
        self.slices = {p.name: split_neurons(p.size, n_pes) for p in network.populations}
        # Every population's neurons in one row of N values (populations in the network's order): the layout of
        # the error partials.
        starts = np.cumsum([0] + [p.size for p in network.populations])
        self.offset = {p.name: int(start) for p, start in zip(network.populations, starts, strict=False)}
        self.n_total = int(starts[-1])
        everyone = tuple(range(n_pes))
        own = tuple(sum(s[p].stop - s[p].start for s in self.slices.values()) for p in everyone)
        outputs = tuple(3 * (s.stop - s.start) for s in self.slices[self.output])
        self.channels = (
            Channel("spikes", "spikes", everyone, everyone, own),
            Channel("first_spikes", "array", everyone, (MASTER,), outputs),
            Channel("output_error", "array", (MASTER,), everyone, (self.n_out,)),
            Channel("errors", "array", everyone, everyone, (self.n_total,) * n_pes),
        )
        # Where each population's neurons sit in the group's spike packet (senders in PE order, each sender's
        # slices in population order).
        parts: dict[str, list[np.ndarray]] = {name: [] for name in self.slices}
        offset = 0
        for p in everyone:
            for name, split in self.slices.items():
                parts[name].append(np.arange(offset, offset + split[p].stop - split[p].start))
                offset += split[p].stop - split[p].start
        self.packet_index = {name: np.concatenate(index) for name, index in parts.items()}

    def phases(self, learning: bool) -> tuple[Phase, ...]:
        """forward (T rounds), first_spikes, then loss and backward (T - 1 rounds, in reverse) or output."""
        head = (Phase("forward", self.n_steps, ("spikes",)), Phase("first_spikes", 1, ("first_spikes",)))
        if learning:
            return (*head, Phase("loss", 1, ("output_error",)),
                    Phase("backward", self.n_steps - 1, ("errors",), reverse=True))
        return (*head, Phase("output", 1))

    def prepare(self, x: np.ndarray, labels: np.ndarray | None, dtype: np.dtype) -> tuple[np.ndarray, Any]:
        """A sub-batch as the PEs take it: a binary raster (k, T, n_in) in ``dtype``; a ValueError otherwise."""
        x = check_spikes(x, self.config, dtype)
        return x, None if labels is None else check_labels(labels, self.n_out, len(x))

    def make_program(self, pe: int, params: dict[str, np.ndarray], optimiser: OptimiserConfig | None,
                     learning: bool = True) -> GraphPE:
        """The program of PE ``pe`` holding its slice of ``params``."""
        return GraphPE(pe, self, params, optimiser)

    def _target(self, key: str) -> str:
        base = key if key in self.network.weight_shapes() else key[2:]
        return next(c.target for c in self.network.connections if c.key == base)

    def scatter_state(self, state: dict[str, np.ndarray], pe: int) -> dict[str, np.ndarray]:
        """The columns of every weight (and its ADAM moments) onto the neurons PE ``pe`` holds."""
        return {key: value if np.ndim(value) == 0 else value[:, self.slices[self._target(key)][pe]]
                for key, value in state.items()}

    def gather_state(self, states: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
        """Full matrices from the PEs' column slices (in PE order)."""
        return {key: value if np.ndim(value) == 0 else np.concatenate([s[key] for s in states], axis=1)
                for key, value in states[0].items()}

    def pe_layout(self) -> list[dict[str, Any]]:
        """Per PE: the populations' neurons it holds, its synapses and whether it is the master."""
        shapes = self.network.weight_shapes()
        rows = []
        for p in range(self.n_pes):
            neurons = {name: [split[p].start, split[p].stop] for name, split in self.slices.items()}
            synapses = sum(shape[0] * (self.slices[self._target(k)][p].stop - self.slices[self._target(k)][p].start)
                           for k, shape in shapes.items())
            rows.append({"pe": p, "layer": 1, "neurons": neurons[self.output], "populations": neurons,
                         "synapses": synapses, "master": p == MASTER})
        return rows


class GraphPE(HeldWeights):
    """One PE of a :class:`GraphGroup`: its slice of every population, their tapes and adjoints, and the weights
    onto them (in a synapse store)."""

    def __init__(self, index: int, group: GraphGroup, params: dict[str, np.ndarray],
                 optimiser: OptimiserConfig | None) -> None:
        self.index, self.group = index, group
        self.timer = no_timer
        self.optimiser = optimiser or OptimiserConfig()
        own = {key: np.array(value) for key, value in group.scatter_state(params, index).items()}
        self.store = make_store(DIGITAL, own, self.optimiser)
        self.dtype = np.result_type(*own.values())
        network = group.network
        self.own = {name: split[index] for name, split in group.slices.items()}
        self.coefficients = {p.name: (p.uniform("decay_syn"), p.uniform("decay_mem"))
                             for p in network.populations}
        self.tau_syn = {name: tau_ms(a, group.config.dt) for name, (a, _) in self.coefficients.items()}
        self.voltage = network.readout in VOLTAGE_READOUTS
        self.incoming = {name: network.incoming(name) for name in self.own}
        self.masks = {}
        for connection in network.connections:
            mask = connection.synapse_mask(network.weight_shapes()[connection.key])
            if mask is not None:
                self.masks[connection.key] = mask[:, self.own[connection.target]]
        self.out: dict[str, Any] = {}

    def begin(self, x: np.ndarray, labels: np.ndarray | None) -> None:
        """Load sub-batch x (k, T, n_in) and zero the per-sample state; labels None runs inference."""
        self.x, self.labels = x, labels
        k, n_steps = len(x), self.group.n_steps
        network = self.group.network
        self.activity = {p.name: np.zeros((k, n_steps, p.size), self.dtype) for p in network.populations}
        self.activity[network.input] = x
        self.tapes = {name: {v: np.zeros((k, n_steps, s.stop - s.start), self.dtype) for v in ("i", "v", "s")}
                      for name, s in self.own.items()}
        populations = {p.name: p for p in network.populations}
        self.state = {name: NeuronState(populations[name], k, self.dtype, own) for name, own in self.own.items()}
        self.out = {}

    def step(self, phase: str, t: int, inbox: Inbox) -> dict[str, np.ndarray]:
        """One round (see the module docstring)."""
        if phase == "forward":
            with self.timer("neuron_update", t):
                return {"spikes": self._forward(t, inbox)}
        if phase == "first_spikes":
            with self.timer("first_spikes", t):
                return {"first_spikes": self._first_spikes()}
        if phase in ("loss", "output"):
            if self.index != MASTER:
                return {}
            with self.timer("master", t):
                return self._loss(inbox, phase == "loss")
        if phase == "backward":
            with self.timer("backward", t):
                return {"errors": self._backward(t, inbox)}
        raise ValueError(f"EventProp on a graph has no phase {phase!r}")

    def _received(self, t: int, inbox: Inbox) -> None:
        """Store the group's spikes of step t - 1 (the previous round's packets)."""
        if t == 0:
            return
        packet = np.asarray(inbox.read("spikes"), self.dtype)
        for name, index in self.group.packet_index.items():
            self.activity[name][:, t - 1] = packet[:, index]

    def _forward(self, t: int, inbox: Inbox) -> np.ndarray:
        self._received(t, inbox)
        weights = self.store.read()
        posted = []
        for name, state in self.state.items():
            drive = np.zeros_like(state.i)
            if t > 0:
                for c in self.incoming[name]:
                    drive += self.activity[c.source][:, t - 1] @ weights[c.key]
            v_pre = state.update(drive)  # a voltage readout does not spike: its z stays zero
            tape = self.tapes[name]
            tape["i"][:, t], tape["v"][:, t], tape["s"][:, t] = state.i, v_pre, state.z
            posted.append(state.z)
        return np.concatenate(posted, axis=1)

    def _first_spikes(self) -> np.ndarray:
        tape = self.tapes[self.group.output]
        if self.voltage:  # the own outputs' scores (mean or weighted voltage), in the packet's first third
            scores = class_scores(self.group.network, {self.group.output: tape["v"]})
            return np.concatenate([scores, np.zeros_like(scores), np.zeros_like(scores)], axis=1)
        self.first = first_spike_steps(tape["s"])
        fractions = spike_fractions(self.first, tape["s"], tape["v"], self.group.config)
        peaks, self.peak_steps = peak_voltages(tape["v"])
        return np.concatenate([self.first.astype(self.dtype), fractions.astype(self.dtype), peaks], axis=1)

    def _loss(self, inbox: Inbox, learning: bool) -> dict[str, np.ndarray]:
        config = self.group.config
        thirds = [np.split(np.asarray(p), 3, axis=1) for p in inbox.read("first_spikes")]
        if self.voltage:
            scores = np.concatenate([t[0] for t in thirds], axis=1)
            self.out["logits"] = scores
            if not learning:
                return {}
            shifted = scores - scores.max(axis=1, keepdims=True)
            log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
            rows = np.arange(len(scores))
            self.out["loss"] = -log_p[rows, self.labels]
            error = np.exp(log_p)
            error[rows, self.labels] -= 1.0  # of the sub-batch's summed loss: the engine divides by the batch
            return {"output_error": error.astype(self.dtype)}
        first, fractions, peaks = (np.concatenate([t[part] for t in thirds], axis=1) for part in range(3))
        first = first.astype(np.int64)
        self.out.update(first=first, logits=logits(first, fractions, config))
        if not learning:
            return {}
        times = loss_times(first, fractions, config)
        self.out["loss"] = ttfs_loss(first, times, peaks, self.labels, config)
        # Errors of the sub-batch's summed loss: the engine divides the gradient sums by the batch size.
        return {"output_error": output_errors(first, times, self.labels, config, batch_size=1).astype(self.dtype)}

    def _backward(self, i: int, inbox: Inbox) -> np.ndarray:
        group, network, weights = self.group, self.group.network, self.store.read()
        k, n_steps = len(self.x), group.n_steps
        if i == n_steps - 2:
            self._start_backward(inbox)
            received = np.zeros((k, group.n_total), self.dtype)  # nothing reaches step T - 1 from another PE
        else:
            received = np.sum(inbox.read("errors"), axis=0)
        partial = np.zeros((k, group.n_total), self.dtype)
        for c in network.connections:
            if c.source == network.input:
                continue
            diff = self.lam_v[c.target] - self.lam_i[c.target]
            start = group.offset[c.source]
            partial[:, start : start + network.size(c.source)] += self.activity[c.source][:, i] * (
                diff @ weights[c.key].T)
        for name, (a, b) in self.coefficients.items():
            own, tape = self.own[name], self.tapes[name]
            error = received[:, group.offset[name] + own.start : group.offset[name] + own.stop]
            if self.e_tapes[name] is not None:
                error = error + self.e_tapes[name][:, i + 1]
            jump = tape["s"][:, i + 1] * (self.lam_v[name] + error) / (
                tape["i"][:, i + 1] - tape["v"][:, i + 1] + JUMP_EPSILON)
            self.lam_i[name] = a * self.lam_i[name] + (1.0 - a) * self.lam_v[name]
            self.lam_v[name] = b * self.lam_v[name] + jump
            if self.sources.get(name) is not None:
                self.lam_v[name] += self.sources[name][:, i]
        for c in network.connections:
            self.grads[c.key] -= self.tau_syn[c.target] * (self.activity[c.source][:, i].T @ self.lam_i[c.target])
        if i == 0:
            for key, mask in self.masks.items():
                self.grads[key] *= mask
            self.out["grads"] = self.grads
        return partial

    def _start_backward(self, inbox: Inbox) -> None:
        """Zero the adjoints and gradients; the own output neurons' error tape and voltage-term sources, and the
        own hidden neurons' sources of the hidden voltage terms and error tape of the rate term (from their own
        tapes alone); an error tape is None where nothing enters at spikes."""
        group, config = self.group, self.group.config
        k, n_steps = len(self.x), group.n_steps
        self.lam_v = {name: np.zeros((k, s.stop - s.start), self.dtype) for name, s in self.own.items()}
        self.lam_i = {name: np.zeros((k, s.stop - s.start), self.dtype) for name, s in self.own.items()}
        self.grads = {key: np.zeros_like(value) for key, value in self.store.read().items()}
        self.sources = {name: hidden_sources(self.tapes[name]["v"], self.tapes[name]["s"], config,
                                             group.network.size(name), 1)
                        for name in self.own if name != group.output}
        self.e_tapes = {name: hidden_errors(self.tapes[name]["s"], config, group.network.size(name), 1,
                                            group.network.population(name).uniform("threshold"))
                        for name in self.own if name != group.output}
        for name, source in self.sources.items():
            if source is not None:
                self.lam_v[name] += source[:, n_steps - 1]
        self._output_sources(inbox)
        self.sources[group.output] = self.source

    def _output_sources(self, inbox: Inbox) -> None:
        """The own output neurons' error tape and voltage-term sources (``source``, None without them)."""
        group, config = self.group, self.group.config
        k, n_steps = len(self.x), group.n_steps
        own = self.own[group.output]
        values = np.asarray(inbox.read("output_error")[0])[:, own]
        if self.voltage:  # the voltage's gradient enters at every step (docs/networks.md, "Sequence losses")
            self.e_tapes[group.output] = None
            self.source = voltage_sources(values, n_steps, group.network.readout, config.tau_mem, self.dtype)
            self.lam_v[group.output] += self.source[:, n_steps - 1]
            return
        e_tape = np.zeros((k, n_steps, own.stop - own.start), self.dtype)
        samples, neurons = np.nonzero(self.first < n_steps)
        e_tape[samples, self.first[samples, neurons], neurons] = values[samples, neurons]
        self.e_tapes[group.output] = e_tape
        self.source = None
        if config.alpha_silent:
            self.source = np.zeros_like(e_tape)
            samples, neurons = np.nonzero(self.first >= n_steps)
            self.source[samples, self.peak_steps[samples, neurons], neurons] = values[samples, neurons]
            self.lam_v[group.output] += self.source[:, n_steps - 1]

    def result(self) -> dict[str, Any]:
        """``grads`` after training; ``logits``, ``first`` (and ``loss``) on the master."""
        return dict(self.out)

    def arrays_by_category(self) -> dict[str, list[np.ndarray]]:
        """The PE's arrays by memory category."""
        categories = {key: arrays for key, arrays in self.store.arrays_by_category().items() if arrays}
        categories["tapes"] = [a for tape in self.tapes.values() for a in tape.values()]
        categories["input_spikes"] = [a for name, a in self.activity.items() if name != self.group.network.input]
        return categories
