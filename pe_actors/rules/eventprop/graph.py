"""EventProp's networks as graphs (docs/networks.md): the feed-forward network of docs/eventprop.md is an input and
one population per layer of current-based LIF neurons (synaptic decay a, gain 1; membrane decay b, gain 1 - b;
threshold theta; reset to 0 at the spike step), each fed by the layer below through a connection of delay 1 (a
spike at step i reaches the next layer at step i + 1); the last layer is the output, read by its first spikes."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from pe_actors.networks import CompiledGraph, Connection, Network, NetworkError, exp_weights, population
from pe_actors.networks.dynamics import class_scores
from pe_actors.rules.eventprop.config import EventPropConfig
from pe_actors.rules.eventprop.lif import JUMP_EPSILON
from pe_actors.rules.eventprop.network import (
    Readout,
    check_spikes,
    hidden_errors,
    hidden_sources,
    output_tapes,
    read_output,
    record_populations,
)
from pe_actors.rules.eventprop.network import silence as layered_silence


def to_graph(config: EventPropConfig) -> Network:
    """The graph of EventProp's network ``config``: populations ``layer 1`` ... and ``output``, connections named
    like the rule's weights ``w_0`` ...."""
    names = [f"layer {layer}" for layer in range(1, config.n_layers)] + ["output"]
    populations = tuple(
        population(name, size, "cuba_lif", decay_syn=config.a, gain_syn=1.0, decay_mem=config.b,
                   gain_mem=1.0 - config.b, threshold=config.theta, reset="value", v_reset=0.0)
        for name, size in zip(names, config.sizes[1:], strict=True)
    )
    sources = ["input", *names[:-1]]
    connections = tuple(Connection(key, source, target, delay=1)
                        for key, source, target in zip(config.weight_keys(), sources, names, strict=True))
    return Network("input", config.n_in, populations, connections, ("output",), config.n_steps, config.dt / 1000.0,
                   "first_spike")


@dataclass(frozen=True, eq=False)
class EventPropGraph(CompiledGraph):
    """A network graph that EventProp trains (docs/networks.md, "What each rule trains"): populations of
    current-based LIF neurons in EventProp's form (synaptic gain 1, membrane gain 1 - b, no rest or bias, reset to
    0 at the spike step; one decay and threshold per population), every connection of delay 1 (a spike at step i
    enters its target's current at step i + 1, feed-forward or recurrent), one output population read by its first
    spikes. ``loss`` holds the loss settings of docs/eventprop.md (tau0, tau1, alpha_reg, loss_time,
    alpha_silent) with the output population's step, decays and threshold. A NetworkError says what does not
    fit."""

    network: Network
    loss: EventPropConfig | None = None

    def __post_init__(self) -> None:
        check_trainable(self.network)
        output = self.network.population(self.network.outputs[0])
        dt_ms = self.network.dt_s * 1000.0
        own = {"sizes": (self.network.n_in, output.size), "dt": dt_ms, "n_steps": self.network.n_steps,
               "tau_syn": tau_ms(output.uniform("decay_syn"), dt_ms),
               "tau_mem": tau_ms(output.uniform("decay_mem"), dt_ms), "theta": output.uniform("threshold") or 1.0,
               "init_mean": (0.0,), "init_std": (1.0,)}
        base = self.loss or EventPropConfig()
        own["t_code"] = min(base.t_code, (self.network.n_steps - 1) * dt_ms)
        try:
            object.__setattr__(self, "loss", replace(base, **own))
        except ValueError as error:
            raise NetworkError(f"EventProp's loss on this network: {error}") from None

    @classmethod
    def compile(cls, network: Network, settings: Any = None) -> EventPropGraph:
        """The graph EventProp trains, with the loss settings a run gives (``tau0``, ``tau1``, ``alpha_reg``,
        ``loss_time``, ``alpha_silent``; the others' defaults of docs/eventprop.md)."""
        given = {key: getattr(settings, key) for key in LOSS_SETTINGS if getattr(settings, key, None) is not None}
        return cls(network, replace(EventPropConfig(), **given))

    def to_dict(self) -> dict[str, Any]:
        """The network's plain form with the loss settings under ``loss``."""
        return self.network.to_dict() | {"loss": self.loss.to_dict()}

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> EventPropGraph:
        """Inverse of :meth:`to_dict`."""
        loss = values.get("loss")
        return cls(Network.from_dict(values), None if loss is None else EventPropConfig.from_dict(loss))


#: The voltage readouts of a cuba_li output (a sequence loss of SHD and SSC, Nowotny et al. 2025): the class
#: scores are the outputs' mean voltage over the trial, trained by their softmax cross-entropy. The maximum is not
#: taken: measured against central differences, its hidden-weight gradients stay 30-60 % off as dt shrinks, since a
#: maximum that sits on an input spike's kink moves with that spike, which a source at the maximum's step misses.
VOLTAGE_READOUTS = ("mean_v", "exp_mean_v")

#: The settings of a run that EventProp's graphs take: the loss's.
LOSS_SETTINGS = ("tau0", "tau1", "alpha_reg", "loss_time", "alpha_silent", "alpha_hidden", "alpha_rate", "rate_upper")


def tau_ms(decay: float | None, dt_ms: float) -> float:
    """The time constant (ms) of a decay per step (a placeholder of 1e9 ms for none)."""
    return -dt_ms / math.log(decay) if decay is not None and 0 < decay < 1 else 1e9


def check_trainable(network: Network) -> None:
    """Refuse, with the reason, a graph EventProp cannot train (see :class:`EventPropGraph`)."""
    if len(network.outputs) != 1:
        raise NetworkError(f"EventProp reads one output population, not {list(network.outputs)}")
    output = network.population(network.outputs[0])
    spiking = network.readout == "first_spike"
    if network.readout not in VOLTAGE_READOUTS and not spiking:
        raise NetworkError(f"EventProp reads its output by first spikes ('first_spike') or by voltage "
                           f"({', '.join(VOLTAGE_READOUTS)}), not {network.readout!r}")
    if output.model != ("cuba_lif" if spiking else "cuba_li"):
        raise NetworkError(f"output {output.name!r} is a {output.model} population; EventProp reads a cuba_lif output "
                           "by its first spikes and a cuba_li output by its voltage")
    for pop in network.populations:
        where = f"population {pop.name!r}"
        if pop.name != output.name and pop.model != "cuba_lif":
            raise NetworkError(f"{where} is a {pop.model} population; EventProp's exact adjoint here is that of "
                               "current-based LIF neurons (cuba_lif)")
        if pop.spiking and (pop.reset != "value" or pop.reset_delayed or np.any(pop.v_reset != 0)):
            raise NetworkError(f"{where} resets {'by subtraction' if pop.reset != 'value' else 'to a non-zero value'};"
                               " EventProp's neurons reset to 0 at their spike")
        if np.any(pop.v_leak != 0) or pop.bias is not None:
            raise NetworkError(f"{where} has a rest or a bias; EventProp's neurons rest at 0 without bias")
        for key in ("decay_syn", "decay_mem", "threshold"):
            if pop.coefficient(key) is not None and pop.uniform(key) is None:
                raise NetworkError(f"{where}: its {key} differs between neurons; EventProp takes one per population")
        b = pop.uniform("decay_mem")
        if np.any(pop.gain_syn != 1.0) or not np.allclose(pop.gain_mem, 1.0 - b, rtol=1e-12, atol=0):
            raise NetworkError(f"{where}: EventProp's neurons take their drive with gain 1 into the current and "
                               "1 - b into the membrane (V = b V + (1 - b) I)")
    for connection in network.connections:
        if connection.delay != 1:
            raise NetworkError(f"connection {connection.name!r} has delay {connection.delay}; EventProp's "
                               "populations receive a spike one step after it (delay 1), as on the chip")


def graph_check_params(params: dict[str, np.ndarray], graph: EventPropGraph) -> dict[str, np.ndarray]:
    """``params`` as same-dtype float arrays of the graph's weight shapes; a ValueError names what is wrong."""
    checked = graph.network.check_params(params)
    dtype = np.result_type(*checked.values())
    return {key: np.asarray(value, dtype) for key, value in checked.items()}


def graph_check_spikes(spikes: np.ndarray, graph: EventPropGraph, dtype: np.dtype) -> np.ndarray:
    """The input raster as ``dtype`` (batch, T, n_in) of 0/1; a ValueError says what is wrong."""
    return check_spikes(spikes, graph.loss, dtype)


def graph_forward(params: dict[str, np.ndarray], spikes: np.ndarray, graph: EventPropGraph) -> dict[str, dict]:
    """Every population's tapes (``i``, ``v`` before the reset, ``spikes``), each (batch, T, n)."""
    from pe_actors.networks import run

    tapes = run(graph.network, params, spikes, ("i", "v", "spikes"))[0]
    for values in tapes.values():
        values.setdefault("spikes", np.zeros_like(values["v"]))  # a voltage readout does not spike
    return tapes


def graph_predict(params: dict[str, np.ndarray], spikes: np.ndarray, graph: EventPropGraph) -> Readout:
    """The readout without labels."""
    tapes = graph_forward(params, spikes, graph)[graph.network.outputs[0]]
    if graph.network.readout in VOLTAGE_READOUTS:
        return voltage_readout(tapes["v"], None, graph)[0]
    return read_output(tapes["spikes"], tapes["v"], None, graph.loss)


def voltage_readout(v: np.ndarray, labels: np.ndarray | None, graph: EventPropGraph, batch_size: int | None = None)\
        -> tuple[Readout, np.ndarray | None]:
    """The readout of the mean-voltage readout (scores, cross-entropy) and, with labels, the adjoint source tape
    (n, T, n_out): the loss's gradient in the output voltage at every step, -(dloss/dV[t]) / tau_mem (docs/networks.md,
    "Sequence losses")."""
    n, n_steps, n_out = v.shape
    scores = class_scores(graph.network, {graph.network.outputs[0]: v})
    silent = np.full((n, n_out), n_steps)
    readout = Readout(silent, np.ones((n, n_out)), scores, np.zeros((n, n_out), np.int64), scores, None)
    if labels is None:
        return readout, None
    rows = np.arange(n)
    shifted = scores - scores.max(axis=1, keepdims=True)
    log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    error = np.exp(log_p)
    error[rows, labels] -= 1.0
    error /= batch_size or n
    source = voltage_sources(error, n_steps, graph.network.readout, graph.loss.tau_mem, v.dtype)
    return Readout(silent, readout.fractions, scores, readout.peak_steps, scores, -log_p[rows, labels]), source


def voltage_sources(error: np.ndarray, n_steps: int, readout: str, tau_mem: float, dtype: np.dtype) -> np.ndarray:
    """The adjoint source tape (n, T, n_out) of a voltage readout's loss from its error dloss/dscore (n, n_out):
    -(dloss/dscore) (dscore/dV[t]) / tau_mem at every step t, dscore/dV[t] being 1/T (``mean_v``) or the step's
    weight (``exp_mean_v``)."""
    source = np.empty((len(error), n_steps, error.shape[1]), dtype)
    if readout == "mean_v":
        source[:] = -error[:, None, :] / (n_steps * tau_mem)
    else:
        source[:] = -error[:, None, :] * exp_weights(n_steps)[None, :, None] / tau_mem
    return source


def graph_gradients(params: dict[str, np.ndarray], spikes: np.ndarray, labels: np.ndarray, graph: EventPropGraph,
                    batch_size: int | None = None) -> tuple[dict[str, np.ndarray], Readout]:
    """EventProp's gradients of the loss (summed, divided by ``batch_size``, default the batch) and the readout:
    the adjoints of every population stepped back together, since a connection (recurrent or not) carries a
    spike at step i into its target at i + 1 (docs/networks.md, "EventProp on a graph")."""
    network, config = graph.network, graph.loss
    tapes = graph_forward(params, spikes, graph)
    output = network.outputs[0]
    if network.readout in VOLTAGE_READOUTS:
        readout, source = voltage_readout(tapes[output]["v"], labels, graph, batch_size)
        error = np.zeros_like(tapes[output]["v"])
    else:
        readout = read_output(tapes[output]["spikes"], tapes[output]["v"], labels, config)
        error, source = output_tapes(readout, labels, config, batch_size or len(spikes), spikes.dtype)
    n, n_steps = spikes.shape[:2]
    populations = {p.name: p for p in network.populations}
    errors = {name: np.zeros_like(tapes[name]["spikes"]) for name in populations}
    errors[output] += error
    lam_v = {name: np.zeros((n, p.size), spikes.dtype) for name, p in populations.items()}
    lam_i = {name: np.zeros((n, p.size), spikes.dtype) for name, p in populations.items()}
    sources = {name: hidden_sources(tapes[name]["v"], tapes[name]["spikes"], config, p.size, batch_size or n)
               for name, p in populations.items() if name != output}
    for name, p in populations.items():
        if name != output and (rate := hidden_errors(tapes[name]["spikes"], config, p.size, batch_size or n,
                                                     p.uniform("threshold"))) is not None:
            errors[name] += rate
    sources[output] = source
    for name, tape in sources.items():
        if tape is not None:
            lam_v[name] += tape[:, n_steps - 1]
    decays = {name: (p.uniform("decay_syn"), p.uniform("decay_mem")) for name, p in populations.items()}
    tau_syn = {name: tau_ms(a, config.dt) for name, (a, _) in decays.items()}
    activity = {name: tapes[name]["spikes"] for name in populations} | {network.input: spikes}
    masks = {c.key: c.synapse_mask(params[c.key].shape) for c in network.connections}
    grads = {key: np.zeros_like(value) for key, value in params.items()}
    for i in range(n_steps - 2, -1, -1):
        for c in network.connections:
            if c.source != network.input:
                diff = lam_v[c.target] - lam_i[c.target]
                errors[c.source][:, i] += activity[c.source][:, i] * (diff @ params[c.key].T)
        for name, (a, b) in decays.items():
            tape = tapes[name]
            jump = tape["spikes"][:, i + 1] * (lam_v[name] + errors[name][:, i + 1]) / (
                tape["i"][:, i + 1] - tape["v"][:, i + 1] + JUMP_EPSILON)
            lam_i[name] = a * lam_i[name] + (1.0 - a) * lam_v[name]
            lam_v[name] = b * lam_v[name] + jump
            if sources[name] is not None:
                lam_v[name] += sources[name][:, i]
        for c in network.connections:
            grads[c.key] -= tau_syn[c.target] * (activity[c.source][:, i].T @ lam_i[c.target])
    for key, mask in masks.items():
        if mask is not None:
            grads[key] *= mask
    return grads, readout


def graph_record(params: dict[str, np.ndarray], spikes: np.ndarray, graph: EventPropGraph) -> tuple[dict, np.ndarray]:
    """Every population's ``spikes``, ``i`` and ``v`` by name, and the class scores of the output's first spikes."""
    dtype = np.result_type(*params.values(), np.float64)
    weights = {k: np.asarray(v, dtype) for k, v in params.items()}
    populations = graph_forward(weights, np.asarray(spikes, dtype), graph)
    output = populations[graph.network.outputs[0]]
    if graph.network.readout in VOLTAGE_READOUTS:
        return populations, voltage_readout(output["v"], None, graph)[0].logits
    return populations, read_output(output["spikes"], output["v"], None, graph.loss).logits


def graph_silence(params: dict[str, np.ndarray], spikes: np.ndarray, labels: np.ndarray, graph: EventPropGraph,
                  chunk: int = 256) -> dict[str, float]:
    """How much of the network has fallen silent on these samples (:func:`pe_actors.networks.silence`)."""
    from pe_actors.networks import silence

    return silence(graph.network, params, spikes, labels, chunk)


def record(params: dict[str, np.ndarray], spikes: np.ndarray, network: Any) -> tuple[dict, np.ndarray]:
    """The rule's ``record``: a network graph's populations (:func:`graph_record`) or its own layered network's
    (:func:`pe_actors.rules.eventprop.network.record_populations`)."""
    if isinstance(network, EventPropGraph):
        return graph_record(params, spikes, network)
    return record_populations(params, spikes, network)


def silence(params: dict[str, np.ndarray], spikes: np.ndarray, labels: np.ndarray, network: Any,
            chunk: int = 256) -> dict[str, float]:
    """The rule's ``silence``: a network graph's (:func:`graph_silence`) or its own layered network's
    (:func:`pe_actors.rules.eventprop.network.silence`)."""
    if isinstance(network, EventPropGraph):
        return graph_silence(params, spikes, labels, network, chunk)
    return layered_silence(params, spikes, labels, network, chunk)
