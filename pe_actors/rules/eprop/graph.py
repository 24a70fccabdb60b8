"""E-prop's networks as graphs (docs/networks.md): the ALIF recurrent network of docs/eprop.md is an input, a
population ``recurrent`` of ALIF neurons (membrane decay alpha, input gain 1 - alpha, baseline threshold b0,
adaptation decay rho and strength beta, reset by subtracting the threshold at the next step), its recurrent
connection without self-connections, and a leaky-integrator population ``readout`` (decay kappa, gain 1) whose
mean voltage over the trial is the class score."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pe_actors.networks import CompiledGraph, Connection, Network, NetworkError, population
from pe_actors.rules.eprop.config import EpropConfig

#: The step of e-prop's networks: the chip's 10 ms.
STEP_S = 0.01


def to_graph(config: EpropConfig) -> Network:
    """The graph of e-prop's network ``config``; its connections are named like the rule's weights."""
    recurrent = population("recurrent", config.n_rec, "alif", decay_mem=config.alpha, gain_mem=1.0 - config.alpha,
                           threshold=config.b0, decay_adapt=config.rho, beta=config.beta, reset="subtract",
                           reset_delayed=True)
    readout = population("readout", config.n_out, "li", decay_mem=config.kappa, gain_mem=1.0)
    connections = (Connection("w_in", "input", "recurrent"),
                   Connection("w_rec", "recurrent", "recurrent", delay=1, self_connections=False),
                   Connection("w_out", "recurrent", "readout"))
    return Network("input", config.n_in, (recurrent, readout), connections, ("readout",), config.n_steps, STEP_S,
                   "mean_v")



#: The neuron models e-prop trains in hidden populations, and those it reads class scores from.
HIDDEN_MODELS = ("lif", "cuba_lif", "alif", "if")
READOUT_MODELS = ("li", "cuba_li")


@dataclass(frozen=True, eq=False)
class EpropGraph(CompiledGraph):
    """A network graph that e-prop trains (docs/networks.md, "What each rule trains"): hidden populations of LIF,
    current-based LIF, ALIF or IF neurons, each with one decay per population (e-prop keeps one eligibility trace
    per presynaptic neuron), fed by the input (delay 0 or 1) and by hidden populations through the previous step
    (delay 1: on the PEs a spike crosses to the other PEs at the step's barrier); leaky-integrator outputs sharing
    their decays, read by their mean voltage, fed within the step by hidden populations or the input. Every hidden
    population projects onto an output, the path of its learning signal. A NetworkError says what does not fit."""

    network: Network

    def __post_init__(self) -> None:
        check_trainable(self.network)

    @classmethod
    def compile(cls, network: Network, settings: Any = None) -> EpropGraph:
        """The graph e-prop trains (a run's settings change nothing of it)."""
        return cls(network)

    @property
    def hidden(self) -> tuple[str, ...]:
        """The hidden populations, in the network's order."""
        return tuple(p.name for p in self.network.populations if p.name not in self.network.outputs)

    def to_dict(self) -> dict[str, Any]:
        """The network's plain form."""
        return self.network.to_dict()

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> EpropGraph:
        """Inverse of :meth:`to_dict`."""
        return cls(Network.from_dict(values))


def check_trainable(network: Network) -> None:
    """Refuse, with the reason, a graph e-prop cannot train (see :class:`EpropGraph`)."""
    outputs = [network.population(name) for name in network.outputs]
    for output in outputs:
        if output.model not in READOUT_MODELS:
            raise NetworkError(f"output {output.name!r} is a {output.model} population; e-prop reads its class scores "
                               f"from leaky readouts ({', '.join(READOUT_MODELS)}): network.with_leaky_outputs() "
                               "turns spiking outputs into leaky integrators of the same time constants")
    if network.readout != "mean_v":
        raise NetworkError(f"e-prop reads its class scores as the outputs' mean voltage (readout 'mean_v'), not "
                           f"{network.readout!r}")
    for key in ("decay_mem", "decay_syn"):
        values = [output.uniform(key) if output.coefficient(key) is not None else "none" for output in outputs]
        if None in values or len(set(values)) > 1:
            raise NetworkError(f"e-prop's outputs share one {key} (its learning signal filters the eligibility "
                               f"traces once for all outputs); the outputs {list(network.outputs)} do not")
    hidden = [p for p in network.populations if p.name not in network.outputs]
    if not hidden:
        raise NetworkError("e-prop trains hidden populations; the network has none")
    for pop in hidden:
        if pop.model not in HIDDEN_MODELS:
            raise NetworkError(f"population {pop.name!r} is a {pop.model} population; e-prop's hidden "
                               f"populations spike ({', '.join(HIDDEN_MODELS)})")
        for key in ("decay_mem", "decay_syn", "decay_adapt"):
            if pop.coefficient(key) is not None and pop.uniform(key) is None:
                raise NetworkError(f"population {pop.name!r}: its {key} differs between neurons; e-prop keeps "
                                   "one eligibility trace per presynaptic neuron, which needs one per population")
    names = {p.name for p in hidden}
    for connection in network.connections:
        if connection.source in network.outputs:
            raise NetworkError(f"connection {connection.name!r} leaves output {connection.source!r}; e-prop's outputs "
                               "feed nothing")
        if connection.target in network.outputs and connection.delay != 0:
            raise NetworkError(f"connection {connection.name!r} reaches output {connection.target!r} with delay "
                               f"{connection.delay}; e-prop's readouts take their drive within the step (delay 0)")
        if connection.source in names and connection.target in names and connection.delay != 1:
            raise NetworkError(f"connection {connection.name!r} ({connection.source} -> {connection.target}) has "
                               f"delay {connection.delay}; between hidden populations e-prop's PEs exchange spikes at "
                               "the step's barrier, so such a connection reads the previous step (delay 1)")
        if connection.source == network.input and connection.delay > 1:
            raise NetworkError(f"connection {connection.name!r} delays the input by {connection.delay} steps; e-prop "
                               "takes 0 or 1")
    for pop in hidden:
        if not any(c.source == pop.name and c.target in network.outputs for c in network.connections):
            raise NetworkError(f"population {pop.name!r} connects to no output; e-prop's learning signal "
                               "reaches a hidden pop through its connections onto the outputs")
