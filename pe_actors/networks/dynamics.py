"""Running a network graph step by step: the forward pass of any :class:`~pe_actors.networks.graph.Network`
on an input, recording what its populations do (docs/networks.md, "Simulation").

This is the reference of the graph semantics, written once for every neuron model: each step, the populations
update in the order of the connections of delay 0, each from its drive (the neurons' update of
:mod:`pe_actors.networks.neurons`), and the class scores are read from the output populations by the network's
readout.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from pe_actors.networks.graph import Network
from pe_actors.networks.neurons import NetworkError, Population

#: What a population can record, each (batch, T, neurons): spikes z, the membrane U before the reset (``v``), the
#: synaptic current I (current-based models), the threshold (adaptive models) and the drive d.
VARIABLES = ("spikes", "v", "i", "threshold", "drive")


def check_input(network: Network, x: np.ndarray) -> np.ndarray:
    """``x`` as a float array (batch, T, n_in) of finite values; a ValueError says what does not fit."""
    x = np.asarray(x)
    if x.ndim != 3 or x.shape[2] != network.n_in:
        raise NetworkError(f"x has shape {x.shape}; the network's input {network.input!r} needs (batch, steps, "
                           f"{network.n_in})")
    if not np.issubdtype(x.dtype, np.number) or np.issubdtype(x.dtype, np.complexfloating):
        raise NetworkError(f"x must be real numbers, got {x.dtype}")
    if not np.all(np.isfinite(x)):
        raise NetworkError("x holds NaN or Inf")
    return x if np.issubdtype(x.dtype, np.floating) else x.astype(np.float64)


def run(
    network: Network, params: dict[str, np.ndarray], x: np.ndarray, record: Sequence[str] | None = None
) -> tuple[dict[str, dict[str, np.ndarray]], np.ndarray]:
    """The populations' recorded variables by population name (each (batch, T, neurons); ``record`` None: all the
    model has) and the class scores (batch, n_out) of ``network`` with weights ``params`` on input ``x`` (batch, T,
    n_in), over x's T steps. The arithmetic is in the dtype of the weights and x together."""
    x = check_input(network, x)
    params = network.check_params(params)
    dtype = np.result_type(x, *params.values())
    x = x.astype(dtype, copy=False)
    weights = {name: value.astype(dtype, copy=False) for name, value in params.items()}
    wanted = VARIABLES if record is None else tuple(record)
    unknown = sorted(set(wanted) - set(VARIABLES))
    if unknown:
        raise NetworkError(f"cannot record {unknown}; the variables are {list(VARIABLES)}")
    batch, n_steps = x.shape[:2]
    tapes: dict[str, dict[str, np.ndarray]] = {}
    for population in network.populations:
        shape = (batch, n_steps, population.size)
        tapes[population.name] = {"out": np.zeros(shape, dtype), "v": np.zeros(shape, dtype),
                                  "drive": np.zeros(shape, dtype)}
        if population.spiking:
            tapes[population.name]["spikes"] = tapes[population.name]["out"]
            tapes[population.name]["threshold"] = np.zeros(shape, dtype)
        if population.kind.synapse:
            tapes[population.name]["i"] = np.zeros(shape, dtype)
    order = [network.population(name) for name in network.order()]
    states = {p.name: NeuronState(p, batch, dtype) for p in order}
    incoming = {p.name: network.incoming(p.name) for p in order}
    for t in range(n_steps):
        for population in order:
            drive = tapes[population.name]["drive"][:, t]
            if population.bias is not None:
                drive += population.bias.astype(dtype)
            for connection in incoming[population.name]:
                step = t - connection.delay
                if step < 0:
                    continue
                source = x if connection.source == network.input else tapes[connection.source]["out"]
                drive += source[:, step] @ weights[connection.key]
            state, tape = states[population.name], tapes[population.name]
            u = state.update(drive)
            if state.a is not None:
                tape["i"][:, t] = state.i
            if population.spiking:
                tape["v"][:, t], tape["out"][:, t], tape["threshold"][:, t] = u, state.z, state.threshold
            else:
                tape["out"][:, t] = u
    populations = {}
    for population in network.populations:
        kept = {name: tapes[population.name][name] for name in wanted if name in tapes[population.name]}
        if not population.spiking and "v" in wanted:
            kept["v"] = tapes[population.name]["out"]
        populations[population.name] = kept
    scores = class_scores(network, {p.name: tapes[p.name]["out"] for p in network.populations})
    return populations, scores


class NeuronState:
    """The per-sample state of ``neurons`` of one population (I, A, V and the last spikes, for ``batch`` samples)
    and their update, the one of docs/networks.md ("Neuron models") that every simulation and PE program of a graph
    steps. After :meth:`update`, ``i``, ``threshold`` (None for a population that does not spike) and ``z`` hold
    the step's synaptic current, threshold and spikes."""

    def __init__(self, population: Population, batch: int, dtype: np.dtype, neurons: slice = slice(None)) -> None:
        def coefficient(name: str) -> np.ndarray | None:
            value = population.coefficient(name)
            return None if value is None else np.asarray(value[neurons], dtype)

        self.population = population
        self.b, self.g_mem = coefficient("decay_mem"), coefficient("gain_mem")
        self.rest = ((1.0 - population.decay_mem) * population.v_leak)[neurons].astype(dtype)
        self.has_rest = bool(np.any(self.rest != 0))
        self.a, self.g_syn = coefficient("decay_syn"), coefficient("gain_syn")
        self.theta, self.v_reset = coefficient("threshold"), coefficient("v_reset")
        self.rho, self.beta = coefficient("decay_adapt"), coefficient("beta")
        zeros = np.zeros((batch, len(self.b)), dtype)
        self.i, self.adapt, self.v, self.z = zeros.copy(), zeros.copy(), zeros.copy(), zeros.copy()
        self.threshold: np.ndarray | None = None

    def update(self, drive: np.ndarray) -> np.ndarray:
        """One step from ``drive`` (batch, neurons); returns the membrane U before the reset."""
        p = self.population
        if self.a is not None:
            self.i = self.a * self.i + self.g_syn * drive
            drive = self.i
        u = self.b * self.v + self.g_mem * drive
        if self.has_rest:
            u = u + self.rest
        if not p.spiking:
            self.v = u
            return u
        threshold = self.theta
        if self.rho is not None:
            self.adapt = self.rho * self.adapt + (1.0 - self.rho) * self.z
            threshold = self.theta + self.beta * self.adapt
        if p.reset_delayed:
            u = u - threshold * self.z
        self.z = (u > threshold).astype(u.dtype)
        if p.reset_delayed:
            self.v = u
        elif p.reset == "subtract":
            self.v = u - threshold * self.z
        else:
            self.v = np.where(self.z > 0, self.v_reset, u)
        self.threshold = threshold
        return u


def exp_weights(n_steps: int, dtype: np.dtype = np.float64) -> np.ndarray:
    """The step weights (T,) of the ``exp_mean_v`` readout: exp(-i / T) / T at step i, so the score is the mean
    voltage with the trial's early steps weighted up to e times its late ones (the loss shaping of Nowotny et al.'s
    "sum_weigh_exp"; docs/networks.md, "Readouts")."""
    steps = np.arange(n_steps, dtype=np.float64)
    return (np.exp(-steps / n_steps) / n_steps).astype(dtype)


def class_scores(network: Network, outputs: dict[str, np.ndarray]) -> np.ndarray:
    """The class scores (batch, n_out) from the output populations' activity over the trial (their spikes, or the
    voltage of leaky integrators), by the network's readout (``READOUTS``)."""
    activity = np.concatenate([outputs[name] for name in network.outputs], axis=2)
    n_steps = activity.shape[1]
    if network.readout == "mean_v":
        return activity.mean(axis=1)
    if network.readout == "exp_mean_v":
        return np.einsum("btn,t->bn", activity, exp_weights(n_steps, activity.dtype))
    if network.readout == "max_v":
        return activity.max(axis=1)
    if network.readout == "last_v":
        return activity[:, -1].copy()
    if network.readout == "spike_count":
        return activity.sum(axis=1)
    spiked = activity > 0
    first = np.where(spiked.any(axis=1), spiked.argmax(axis=1), n_steps)
    return -first.astype(activity.dtype)


def silence(network: Network, params: dict[str, np.ndarray], x: np.ndarray, labels: np.ndarray,
            chunk: int = 256) -> dict[str, float]:
    """How much of ``network`` is silent on inputs ``x`` with ``labels`` (docs/training.md, "No run trains dead"):
    ``hidden_silent``, the fraction of samples in which no neuron of a spiking population other than the outputs
    spikes; ``dead_hidden``, the fraction of those neurons that spike on no sample; and for spiking outputs,
    ``label_silent`` (samples whose label output never spikes) and ``all_silent`` (samples without an output
    spike). Computed ``chunk`` samples at a time, which bounds memory, not results."""
    outputs = set(network.outputs)
    hidden = [p for p in network.populations if p.spiking and p.name not in outputs]
    spiking_out = all(network.population(name).spiking for name in network.outputs)
    spiked = {p.name: np.zeros(p.size, bool) for p in hidden}
    counts = {"hidden_silent": 0, "label_silent": 0, "all_silent": 0}
    for start in range(0, len(x), chunk):
        part = slice(start, start + chunk)
        populations, _ = run(network, params, x[part], ("spikes",))
        any_hidden = np.zeros(len(x[part]), bool)
        for p in hidden:
            fired = populations[p.name]["spikes"].any(axis=1)
            spiked[p.name] |= fired.any(axis=0)
            any_hidden |= fired.any(axis=1)
        counts["hidden_silent"] += int((~any_hidden).sum()) if hidden else 0
        if spiking_out:
            out = np.concatenate([populations[name]["spikes"].any(axis=1) for name in network.outputs], axis=1)
            counts["label_silent"] += int((~out[np.arange(len(out)), labels[part]]).sum())
            counts["all_silent"] += int((~out.any(axis=1)).sum())
    n = max(len(x), 1)
    report = {}
    if hidden:
        total = sum(p.size for p in hidden)
        report["hidden_silent"] = counts["hidden_silent"] / n
        report["dead_hidden"] = sum(int(np.count_nonzero(~s)) for s in spiked.values()) / total
    if spiking_out:
        report["label_silent"] = counts["label_silent"] / n
        report["all_silent"] = counts["all_silent"] / n
    return report
