"""e-prop on any network graph it trains (an :class:`~pe_actors.rules.eprop.graph.EpropGraph`), as a PE program:
every hidden population is split over the group's PEs, each PE holding a slice of every one of them, the weights
onto its neurons and their weights onto the outputs (docs/networks.md, "e-prop on a graph").

Rounds: ``forward`` t = 0..T-1 (every PE updates its neurons from the input and the group's spikes of step t - 1,
updates their eligibility traces, and posts its spikes), ``readout`` (each PE posts its neurons' share of the class
scores to the master), ``loss`` (the master adds the input's share, forms the class scores, the loss and the error
and posts the error to every PE) and ``learn`` (each PE forms the gradients of its own weights). Inference ends
with ``output`` instead.

The eligibility traces are e-prop's forward-mode gradient of the neuron update (docs/networks.md) with the rule's
stop-gradients: the activity of every presynaptic neuron and the whole reset term are held constant. With one decay
per population they factor into presynaptic traces (per presynaptic neuron: the drive filtered by the synaptic and
the membrane decay) times the postsynaptic gains and pseudo-derivative psi_j; an ALIF neuron adds its adaptation
eligibility per synapse. A learning signal constant in time lets every PE keep one accumulator per synapse,
sum_t c_t e_ij[t], where c_t is how much a unit drive of the outputs at step t adds to their mean voltage.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from pe_actors.core.checks import require_finite
from pe_actors.core.classify import check_labels, cross_entropy, softmax
from pe_actors.core.optimiser import OptimiserConfig
from pe_actors.core.partition import split_neurons
from pe_actors.networks import Connection, Population
from pe_actors.networks.dynamics import NeuronState
from pe_actors.rules.eprop.graph import EpropGraph
from pe_actors.rules.eprop.neuron import surrogate
from pe_actors.runtime.program import Channel, Inbox, Phase, no_timer
from pe_actors.synapses import DIGITAL, Layout, SynapseConfig, clip_range, make_store
from pe_actors.synapses.held import HeldWeights

MASTER = 0


def readout_filter(output: Population, n_steps: int) -> np.ndarray:
    """c_t, t = 0..T-1: the sum over the rest of the trial of an output's voltage response to a unit drive at step
    t with unit gains (a leaky integrator: 1 + b + ... + b^(T-1-t); a current-based one filters twice)."""
    b = output.uniform("decay_mem")
    a = output.uniform("decay_syn")
    response = np.empty(n_steps)
    current = voltage = 0.0
    for m in range(n_steps):
        current = 1.0 if m == 0 else (a * current if a is not None else 0.0)
        voltage = b * voltage + (current if a is not None else (1.0 if m == 0 else 0.0))
        response[m] = voltage
    return np.cumsum(response)[::-1].copy()


def output_gain(output: Population) -> np.ndarray:
    """Per output neuron, the gain from drive to voltage: g_mem (times g_syn for a current-based readout)."""
    gain = np.array(output.gain_mem)
    return gain * output.gain_syn if output.gain_syn is not None else gain


def output_rest(output: Population, n_steps: int) -> np.ndarray:
    """Per output neuron, its mean voltage over the trial without any drive (from its rest v_leak)."""
    v, total = np.zeros(output.size), np.zeros(output.size)
    for _ in range(n_steps):
        v = output.decay_mem * v + (1.0 - output.decay_mem) * output.v_leak
        total += v
    return total / n_steps


class GraphGroup:
    """One e-prop replica of a network graph on ``n_pes`` PEs (each holds a slice of every hidden population).

    Args:
        graph: the network (checked for e-prop).
        n_pes: PEs per group, P (at most the smallest hidden population).
        sizes: not taken (every hidden population splits evenly).
        synapses: where the PEs' weights live: any synapse kind, each hidden population's synapses (onto it and from
            it onto the outputs) in a store of their own; drift compensation is not taken.
        kernel, sub_batch: taken for the rule's one signature; one numpy implementation serves every sub-batch.
    """

    master = MASTER

    def __init__(self, graph: EpropGraph, n_pes: int, sizes: list[int] | None = None,
                 synapses: SynapseConfig = DIGITAL, kernel: str = "auto", sub_batch: int | None = None) -> None:
        if sizes is not None:
            raise ValueError("a network graph's hidden populations split evenly over the PEs; sizes are not taken")
        if synapses.compensating:
            raise ValueError("e-prop's PEs on a network graph do not calibrate drift; give drift_compensation off")
        network = graph.network
        self.graph, self.network, self.synapses = graph, network, synapses
        #: Device seconds per training sample (the engines advance the stores after every learning step).
        self.sample_s = synapses.sample_s
        smallest = min(network.population(h).size for h in graph.hidden)
        if not isinstance(n_pes, int) or not 1 <= n_pes <= smallest:
            raise ValueError(f"n_pes must lie in [1, {smallest}] (the smallest hidden population), got {n_pes!r}")
        self.n_pes, self.n_out, self.n_steps = n_pes, network.n_out, network.n_steps
        self.slices = {h: split_neurons(network.population(h).size, n_pes) for h in graph.hidden}
        outputs = [network.population(name) for name in network.outputs]
        self.filter = readout_filter(outputs[0], self.n_steps)
        self.gain = np.concatenate([output_gain(o) for o in outputs])
        self.rest = np.concatenate([output_rest(o, self.n_steps) for o in outputs])
        self.bias = np.concatenate([o.bias if o.bias is not None else np.zeros(o.size) for o in outputs])
        starts = np.cumsum([0] + [o.size for o in outputs])
        self.columns = {o.name: slice(int(starts[k]), int(starts[k + 1])) for k, o in enumerate(outputs)}
        self.roles = {c.key: self._role(c) for c in network.connections}
        everyone = tuple(range(n_pes))
        widths = tuple(sum(s[p].stop - s[p].start for s in self.slices.values()) for p in everyone)
        self.channels = (
            Channel("spikes", "spikes", everyone, everyone, widths),
            Channel("partials", "array", everyone, (MASTER,), (self.n_out,) * n_pes),
            Channel("error", "array", (MASTER,), everyone, (self.n_out,)),
        )
        # Where each population's neurons sit in the group's spike packet (senders in PE order, each sender's
        # slices in population order).
        self.packet_index, offset = {h: np.zeros(0, np.int64) for h in graph.hidden}, 0
        parts: dict[str, list[np.ndarray]] = {h: [] for h in graph.hidden}
        for p in everyone:
            for h in graph.hidden:
                own = self.slices[h][p]
                parts[h].append(np.arange(offset, offset + own.stop - own.start))
                offset += own.stop - own.start
        self.packet_index = {h: np.concatenate(parts[h]) for h in graph.hidden}

    def _role(self, connection: Connection) -> tuple[str, str]:
        """How a connection's weights split: ``("target", h)`` by the columns of hidden target h, ``("source",
        h)`` by the rows of hidden source h (onto an output), ``("master", "")`` whole on the master (input onto
        an output)."""
        if connection.target in self.network.outputs:
            if connection.source == self.network.input:
                return ("master", "")
            return ("source", connection.source)
        return ("target", connection.target)

    def phases(self, learning: bool) -> tuple[Phase, ...]:
        """forward (T rounds), readout, then loss and learn (training) or output (inference)."""
        head = (Phase("forward", self.n_steps, ("spikes",)), Phase("readout", 1, ("partials",), first=self.n_steps))
        if learning:
            return (*head, Phase("loss", 1, ("error",)), Phase("learn", 1))
        return (*head, Phase("output", 1))

    def prepare(self, x: np.ndarray, labels: np.ndarray | None, dtype: np.dtype) -> tuple[np.ndarray, Any]:
        """A sub-batch as the PEs take it; a ValueError names a sample of NaN or the wrong shape or label."""
        x = np.asarray(x, dtype=dtype)
        if x.ndim != 3 or x.shape[1:] != (self.n_steps, self.network.n_in):
            raise ValueError(f"the network needs (N, {self.n_steps}, {self.network.n_in}), got {x.shape}")
        require_finite(x, "x")
        return x, None if labels is None else check_labels(labels, self.n_out)

    def make_program(self, pe: int, params: dict[str, np.ndarray], optimiser: OptimiserConfig | None,
                     learning: bool = True) -> GraphPE:
        """The program of PE ``pe`` holding its slice of ``params``."""
        return GraphPE(pe, self, params, optimiser)

    def scatter_state(self, state: dict[str, np.ndarray], pe: int) -> dict[str, np.ndarray]:
        """The slice of a full state PE ``pe`` holds."""
        return {key: self._slice(key, value, pe) for key, value in state.items()}

    def _weights_of(self, key: str) -> str:
        """The connection whose weights a state array ``key`` belongs to: the weights themselves, their ADAM moments
        (``m_``, ``v_``) or a device array (``<quantity>_<sign>_``) of them."""
        return max((k for k in self.roles if key == k or key.endswith(f"_{k}")), key=len)

    def _slice(self, key: str, value: np.ndarray, pe: int) -> np.ndarray:
        if np.ndim(value) == 0:
            return value
        role, population = self.roles[self._weights_of(key)]
        if role == "target":
            return value[:, self.slices[population][pe]]
        if role == "source":
            return value[self.slices[population][pe], :]
        return value if pe == MASTER else value[:, :0]

    def gather_state(self, states: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
        """Full matrices from the PEs' slices (in PE order)."""
        full = {}
        for key, value in states[MASTER].items():
            if np.ndim(value) == 0:
                full[key] = value
                continue
            role = self.roles[self._weights_of(key)][0]
            if role == "master":  # the input's synapses onto the outputs live on the master alone
                full[key] = states[MASTER][key]
                continue
            full[key] = np.concatenate([state[key] for state in states], axis=0 if role == "source" else 1)
        return full

    def pe_layout(self) -> list[dict[str, Any]]:
        """Per PE: the hidden populations' neurons it holds, its synapses and whether it is the master."""
        shapes = self.network.weight_shapes()
        rows = []
        for p in range(self.n_pes):
            synapses = sum(int(np.prod(self._slice(k, np.zeros(s), p).shape)) for k, s in shapes.items())
            neurons = {h: [self.slices[h][p].start, self.slices[h][p].stop] for h in self.graph.hidden}
            first = next(iter(neurons.values()))
            rows.append({"pe": p, "layer": 1, "neurons": first, "populations": neurons, "synapses": synapses,
                         "master": p == MASTER})
        return rows


class GraphPE(HeldWeights):
    """One PE of a :class:`GraphGroup`: its slices of the hidden populations, their eligibility traces and its
    weights (in a synapse store)."""

    def __init__(self, index: int, group: GraphGroup, params: dict[str, np.ndarray],
                 optimiser: OptimiserConfig | None) -> None:
        self.index, self.group = index, group
        self.timer = no_timer
        self.optimiser = optimiser or OptimiserConfig()
        network = group.network
        self.masks = {}
        for connection in network.connections:
            shape = network.weight_shapes()[connection.key]
            mask = connection.synapse_mask(shape)
            if mask is not None:
                self.masks[connection.key] = group._slice(connection.key, mask, index)
        self.store = StoreSet(group, index, params, self.optimiser, self.masks)
        self.dtype = np.result_type(*self.store.read().values())
        self.hidden = {h: _Slice(network.population(h), group.slices[h][index], self.dtype) for h in group.graph.hidden}
        self.incoming = {h: [c for c in network.connections if c.target == h] for h in self.hidden}
        self.readouts = [c for c in network.connections if c.target in network.outputs and c.source in self.hidden]
        self.direct = [c for c in network.connections if c.target in network.outputs and c.source == network.input]
        self.out: dict[str, Any] = {}

    def begin(self, x: np.ndarray, labels: np.ndarray | None) -> None:
        """Load sub-batch x (k, T, n_in) and zero the per-sample state; labels None runs inference."""
        self.x, self.labels, self.learning = x, labels, labels is not None
        # One read of the synapses per sub-batch, as the chip reads its devices (a device store's read draws noise).
        self.weights = self.store.read()
        k = len(x)
        network = self.group.network
        for h, part in self.hidden.items():
            part.begin(k, [network.size(c.source) for c in self.incoming[h]], self.learning)
        self.out = {}
        self.spike_count = 0

    def step(self, phase: str, t: int, inbox: Inbox) -> dict[str, np.ndarray]:
        """One round (see the module docstring)."""
        if phase == "forward":
            with self.timer("neuron_update", t):
                return {"spikes": self._forward(t, inbox)}
        if phase == "readout":
            with self.timer("partial_output", t):
                partial = np.zeros((len(self.x), self.group.n_out), self.dtype)
                weights = self.weights
                for c in self.readouts:
                    partial[:, self.group.columns[c.target]] += self.hidden[c.source].filtered @ weights[c.key]
                return {"partials": partial}
        if phase in ("loss", "output"):
            if self.index != MASTER:
                return {}
            with self.timer("master", t):
                logits = self._logits(inbox.read("partials"))
                self.out["logits"] = logits
                if phase == "output":
                    return {}
                self.out["loss"] = cross_entropy(logits, self.labels)
                error = softmax(logits)
                error[np.arange(len(error)), self.labels] -= 1.0
                return {"error": (error * self.group.gain / self.group.n_steps).astype(self.dtype)}
        if phase == "learn":
            with self.timer("gradients", t):
                self.out["grads"] = self._gradients(np.asarray(inbox.read("error")[0]))
            return {}
        raise ValueError(f"e-prop on a graph has no phase {phase!r}")

    def _forward(self, t: int, inbox: Inbox) -> np.ndarray:
        group, weights = self.group, self.weights
        spikes = None if t == 0 else inbox.read("spikes")
        posted = []
        for h, part in self.hidden.items():
            pre = []
            for c in self.incoming[h]:
                if c.source == group.network.input:
                    step = t - c.delay
                    pre.append(self.x[:, step] if step >= 0 else np.zeros_like(self.x[:, 0]))
                elif spikes is None:
                    pre.append(np.zeros((len(self.x), group.network.size(c.source)), self.dtype))
                else:
                    pre.append(np.asarray(spikes[:, group.packet_index[c.source]], self.dtype))
            drive = sum(p @ weights[c.key] for p, c in zip(pre, self.incoming[h], strict=True))
            z = part.update(drive, pre, group.filter[t])
            posted.append(z)
            self.spike_count += int(np.count_nonzero(z))
        return np.concatenate(posted, axis=1)

    def _logits(self, partials: list[np.ndarray]) -> np.ndarray:
        group, weights = self.group, self.weights
        drive = np.sum(partials, axis=0)
        for c in self.direct:
            filtered = np.einsum("t,kti->ki", group.filter, self.x)
            drive[:, group.columns[c.target]] += filtered @ weights[c.key]
        drive = drive + group.filter.sum() * group.bias
        return (drive * group.gain / group.n_steps + group.rest).astype(self.dtype)

    def _gradients(self, error: np.ndarray) -> dict[str, np.ndarray]:
        """Gradient sums over the sub-batch of the own weights from the master's error (pi - onehot) g / T."""
        group, weights = self.group, self.weights
        grads = {key: np.zeros_like(value) for key, value in weights.items()}
        signal = {h: np.zeros((len(error), part.size), self.dtype) for h, part in self.hidden.items()}
        for c in self.readouts:
            columns = error[:, group.columns[c.target]]
            signal[c.source] += columns @ weights[c.key].T
            grads[c.key] += self.hidden[c.source].filtered.T @ columns
        for c in self.direct:
            if self.index == MASTER:
                filtered = np.einsum("t,kti->ki", group.filter, self.x)
                grads[c.key] += filtered.T @ error[:, group.columns[c.target]]
        for h, part in self.hidden.items():
            for n, c in enumerate(self.incoming[h]):
                grads[c.key] += np.einsum("kj,kij->ij", signal[h], part.accumulators[n])
        for key, mask in self.masks.items():
            grads[key] *= mask
        return grads

    def result(self) -> dict[str, Any]:
        """``grads`` after training; ``logits`` (and ``loss``) on the master; this PE's ``spikes``."""
        return {**self.out, "spikes": self.spike_count}

    def arrays_by_category(self) -> dict[str, list[np.ndarray]]:
        """The PE's arrays by memory category."""
        categories = self.store.arrays_by_category()
        categories["eligibility"] = [a for part in self.hidden.values() for a in part.arrays()]
        return categories


class _Slice:
    """The neurons of one hidden population a PE holds: their state, their presynaptic traces per incoming
    connection, ALIF's adaptation eligibility and the accumulators sum_t c_t e_ij[t] (docs/networks.md)."""

    def __init__(self, population: Population, own: slice, dtype: np.dtype) -> None:
        self.population, self.own, self.size = population, own, own.stop - own.start
        # The per-presynaptic traces need one decay per population (EpropGraph checks it).
        self.b, self.a = population.uniform("decay_mem"), population.uniform("decay_syn")
        self.rho = population.uniform("decay_adapt")
        beta = population.coefficient("beta")
        self.beta = None if beta is None else np.asarray(beta[own], dtype)
        bias = population.coefficient("bias")
        self.bias = np.zeros(self.size, dtype) if bias is None else np.asarray(bias[own], dtype)
        gain = np.asarray(population.gain_mem[own], dtype)
        self.gain = gain * np.asarray(population.gain_syn[own], dtype) if population.gain_syn is not None else gain
        self.dtype = dtype

    def begin(self, k: int, sources: list[int], learning: bool) -> None:
        self.neurons = NeuronState(self.population, k, self.dtype, self.own)
        self.psi = np.zeros((k, self.size), self.dtype)
        self.filtered = np.zeros((k, self.size), self.dtype)
        self.learning = learning
        if not learning:
            return
        self.syn_traces = [np.zeros((k, n), self.dtype) for n in sources] if self.a is not None else None
        self.traces = [np.zeros((k, n), self.dtype) for n in sources]
        self.adapt_traces = [np.zeros((k, n, self.size), self.dtype) for n in sources] if self.rho is not None \
            else None
        self.accumulators = [np.zeros((k, n, self.size), self.dtype) for n in sources]

    def update(self, drive: np.ndarray, pre: list[np.ndarray], c_t: float) -> np.ndarray:
        """One step of the neurons (docs/networks.md) and, when learning, of their eligibility; returns the
        spikes."""
        psi_prev = self.psi
        u = self.neurons.update(drive + self.bias)
        z = self.neurons.z
        self.psi = surrogate(u - self.neurons.threshold).astype(self.dtype)
        self.filtered += c_t * z
        if self.learning:
            self._eligibility(pre, psi_prev, c_t)
        return z

    def _eligibility(self, pre: list[np.ndarray], psi_prev: np.ndarray, c_t: float) -> None:
        for n, x in enumerate(pre):
            previous = self.traces[n]
            if self.rho is not None:
                # ea[t] = (rho - (1 - rho) beta psi[t-1]) ea[t-1] + (1 - rho) psi[t-1] ev[t-1], ev = gain eps.
                ea = self.adapt_traces[n]
                ea *= (self.rho - (1.0 - self.rho) * self.beta * psi_prev)[:, None, :]
                ea += (1.0 - self.rho) * previous[:, :, None] * (psi_prev * self.gain)[:, None, :]
            if self.syn_traces is not None:
                self.syn_traces[n] = self.a * self.syn_traces[n] + x
                x = self.syn_traces[n]
            self.traces[n] = self.b * previous + x
            e = self.traces[n][:, :, None] * (self.psi * self.gain)[:, None, :]
            if self.rho is not None:
                e -= self.adapt_traces[n] * (self.psi * self.beta)[:, None, :]
            self.accumulators[n] += c_t * e

    def arrays(self) -> list[np.ndarray]:
        if not self.learning:
            return []
        return [*self.traces, *(self.syn_traces or []), *(self.adapt_traces or []), *self.accumulators]


class StoreSet:
    """A PE's weights in one synapse store per hidden population it holds a slice of (the synapses onto its
    neurons and from them onto the outputs, all indexed by its neurons) and, on the master, one for the input's
    synapses onto the outputs; answered as one store (read, learning step, device time, state)."""

    def __init__(self, group: GraphGroup, pe: int, params: dict[str, np.ndarray], optimiser: OptimiserConfig,
                 masks: dict[str, np.ndarray]) -> None:
        synapses, network = group.synapses, group.network
        owners: dict[str, list[str]] = {}
        for key, (role, population) in group.roles.items():
            if role != "master" or pe == MASTER:
                owners.setdefault(population or "outputs", []).append(key)
        self.stores = []
        for stream, (owner, keys) in enumerate(owners.items(), start=1):
            arrays = {key: np.array(group._slice(key, np.asarray(params[key]), pe)) for key in keys}
            if not synapses.devices:
                self.stores.append(make_store(synapses, arrays, optimiser))
                continue
            own = group.slices[owner][pe] if owner in group.slices else slice(0, network.n_out)
            layout = Layout(
                neuron_axis={key: 0 if group.roles[key][0] == "source" else 1 for key in keys},
                matrices={key: (key, np.s_[:]) for key in keys},
                neurons=np.arange(own.start, own.stop), present={k: masks[k] for k in keys if k in masks},
                stream=stream,
            )
            # Each matrix's clip range comes from the whole matrix, so every PE split programs the same levels.
            full = {c.key: c.synapse_mask(network.weight_shapes()[c.key]) for c in network.connections}
            w_max = {key: clip_range(params[key], synapses.clip_sd, full[key]) for key in keys}
            self.stores.append(make_store(synapses, arrays, optimiser, layout, w_max))

    @property
    def shadow(self) -> dict[str, np.ndarray]:
        """The float weights the learning steps update, by name."""
        return {key: value for store in self.stores for key, value in store.shadow.items()}

    def read(self) -> dict[str, np.ndarray]:
        """The weights the forward pass uses, by name."""
        return {key: value for store in self.stores for key, value in store.read().items()}

    def apply(self, grads: dict[str, np.ndarray], lr: float) -> None:
        """One learning step of every store."""
        for store in self.stores:
            store.apply({key: grads[key] for key in store.shadow}, lr)

    def advance(self, seconds: float) -> None:
        """Let device time pass for every store."""
        for store in self.stores:
            store.advance(seconds)

    @property
    def steps(self) -> int:
        """Learning steps taken."""
        return self.stores[0].steps

    @property
    def writes(self) -> int:
        """Device writes of all stores."""
        return sum(store.writes for store in self.stores)

    def state_dict(self) -> dict[str, np.ndarray]:
        """Every store's state, by its arrays' names (the step count once)."""
        return {key: value for store in self.stores for key, value in store.state_dict().items()}

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        """Restore every store from the keys it holds."""
        for store in self.stores:
            store.load_state_dict({key: value for key, value in state.items() if key in store.state_dict()})

    def arrays_by_category(self) -> dict[str, list[np.ndarray]]:
        """Every store's arrays by memory category."""
        categories: dict[str, list[np.ndarray]] = {}
        for store in self.stores:
            for key, arrays in store.arrays_by_category().items():
                categories.setdefault(key, []).extend(arrays)
        return categories
