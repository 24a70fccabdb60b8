"""EventProp's named networks and how a run's settings build them (docs/eventprop.md, "Networks").

``yinyang`` is the feed-forward network of docs/eventprop.md (an :class:`EventPropConfig`) read by its first
output spikes. ``shd`` is the network for spoken digits and commands, after mlGeNN's SHD example (Nowotny et al.
2025): recurrent hidden populations of current-based LIF neurons and leaky-integrator outputs read by their
exponentially weighted mean voltage, a network graph (:class:`SequenceNetwork`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from pe_actors.core.settings import ConfigError, flag, plain
from pe_actors.networks import CompiledGraph, Network, NetworkBuilder, NetworkError, WeightInit
from pe_actors.rules.eventprop.config import EventPropConfig, EventPropSettings
from pe_actors.rules.eventprop.graph import VOLTAGE_READOUTS, EventPropGraph


@dataclass(frozen=True)
class SequenceNetwork:
    """Recurrent hidden populations for sequences of events: ``sizes`` = (inputs, hidden ..., outputs); each hidden
    population is current-based LIF (``tau_mem``, ``tau_syn`` in ms, threshold 1, reset to 0) fed by the layer
    below and by itself, all through connections of one step's delay; the outputs are current-based leaky
    integrators of the same time constants read by ``readout`` (``exp_mean_v`` or ``mean_v``). A trial of
    ``duration`` ms in steps of ``dt`` ms. Initial weights N(mean, std) (not scaled by the fan-in), one value
    each for the connections from the input, the recurrent ones (and those between hidden populations), and those
    onto the outputs: ``init_mean``, ``init_std``."""

    sizes: tuple[int, ...] = (700, 256, 20)
    dt: float = 1.0
    duration: float = 1000.0
    tau_mem: float = 20.0
    tau_syn: float = 5.0
    readout: str = "exp_mean_v"
    init_mean: tuple[float, float, float] = (0.03, 0.0, 0.0)
    init_std: tuple[float, float, float] = (0.01, 0.02, 0.03)

    @property
    def n_steps(self) -> int:
        """Steps of a trial, duration / dt."""
        return int(round(self.duration / self.dt))

    def network(self) -> Network:
        """The network graph: input ``input``, populations ``hidden`` (``hidden 1``, ... for more than one) and
        ``output``."""
        if len(self.sizes) < 3:
            raise NetworkError(f"sizes needs inputs, at least one hidden population and outputs, got {self.sizes}")
        if self.readout not in VOLTAGE_READOUTS:
            raise NetworkError(f"readout must be one of {list(VOLTAGE_READOUTS)}, got {self.readout!r}")
        for name in ("init_mean", "init_std"):
            if len(getattr(self, name)) != 3:
                raise NetworkError(f"{name} needs three values (from the input, recurrent, onto the outputs), "
                                   f"got {getattr(self, name)}")
        hidden = self.sizes[1:-1]
        names = ["hidden"] if len(hidden) == 1 else [f"hidden {k}" for k in range(1, len(hidden) + 1)]
        tau = {"tau_mem": self.tau_mem / 1000.0, "tau_syn": self.tau_syn / 1000.0}
        net = NetworkBuilder(n_steps=self.n_steps, dt_s=self.dt / 1000.0)
        net.input("input", self.sizes[0])
        for name, size in zip(names, hidden, strict=True):
            net.population(name, size, "cuba_lif", threshold=1.0, **tau)
        net.population("output", self.sizes[-1], "cuba_li", **tau)
        init = [WeightInit(mean, std, fan_in=False) for mean, std in zip(self.init_mean, self.init_std, strict=True)]
        for source, target in zip(["input", *names[:-1]], names, strict=True):
            net.connect(source, target, delay=1, init=init[0] if source == "input" else init[1])
            net.connect(target, target, delay=1, init=init[1])
        net.connect(names[-1], "output", delay=1, init=init[2])
        return net.build(["output"], readout=self.readout)

    def graph(self, settings: Any = None) -> EventPropGraph:
        """The graph EventProp trains, with a run's loss ``settings`` (:meth:`EventPropGraph.compile`)."""
        return EventPropGraph.compile(self.network(), settings)


#: The sequence networks by name (see the module docstring).
SEQUENCE_NETWORKS = {"shd": SequenceNetwork()}

#: ``yinyang``: 5-120-3 on the latency-coded Yin-Yang points; ``shd``: :data:`SEQUENCE_NETWORKS`'s, 700 channels,
#: 256 recurrent hidden and 20 output neurons over a trial of 1 s at dt 1 ms (the input and output sizes follow the
#: data).
EVENTPROP_NETWORKS: dict[str, EventPropConfig | EventPropGraph] = {
    "yinyang": EventPropConfig(),
    **{name: network.graph() for name, network in SEQUENCE_NETWORKS.items()},
}

#: The names of EventProp's own settings.
SETTINGS = EventPropSettings.names()
#: The settings of :data:`SETTINGS` that change the named network's fields as they are.
_NETWORK_FIELDS = ("tau0", "tau1", "alpha_reg", "loss_time", "alpha_silent", "alpha_hidden", "alpha_rate",
                   "rate_upper", "t_code", "init_mean", "init_std")
#: The settings that belong to the latency code and the first-spike loss of the feed-forward networks, which a
#: sequence network does not take.
_FIRST_SPIKE_ONLY = ("t_code",)


def run_network(settings: Any) -> EventPropConfig | EventPropGraph:
    """The network a run's settings describe: the named network (``settings.network``) with the given
    :data:`SETTINGS` applied, ``dt`` keeping the trial length; for the feed-forward networks, initial scales given
    as a pair (into the hidden layer, into the output layer) apply to a network of any depth. A ConfigError names
    what does not fit."""
    given = " ".join(f"{flag(key)} {plain(getattr(settings, key))}" for key in SETTINGS
                     if getattr(settings, key) is not None)
    if settings.network in SEQUENCE_NETWORKS:
        return _sequence_network(settings, given)
    if getattr(settings, "readout", None) is not None:
        raise ConfigError(f"network {settings.network} is read by its first output spikes; --readout is for the "
                          f"sequence networks {sorted(SEQUENCE_NETWORKS)}", "readout")
    network = EVENTPROP_NETWORKS[settings.network]
    changes: dict[str, Any] = {key: getattr(settings, key) for key in _NETWORK_FIELDS
                               if getattr(settings, key) is not None}
    if settings.sizes is not None:
        changes["sizes"] = settings.sizes
        n = len(settings.sizes) - 1
        for name in ("init_mean", "init_std"):
            scale = changes.get(name, getattr(network, name))
            if n != 2 and len(scale) == 2:
                # A pair at another depth: every matrix into a hidden layer takes the first, the output the second.
                changes[name] = (*(scale[0],) * (n - 1), scale[-1])
    try:
        network = replace(network, **changes)
        return network.with_dt(settings.dt) if settings.dt is not None else network
    except ValueError as error:
        raise ConfigError(f"network {settings.network} with {given}: {error}") from None


def _sequence_network(settings: Any, given: str) -> EventPropGraph:
    """The sequence network ``settings.network`` with the run's sizes, step, readout, initial scales and loss."""
    for name in _FIRST_SPIKE_ONLY:
        if getattr(settings, name) is not None:
            raise ConfigError(f"{flag(name)} sets the latency code of Yin-Yang's features; network "
                              f"{settings.network} reads spikes", name)
    spec = SEQUENCE_NETWORKS[settings.network]
    changes = {key: getattr(settings, key) for key in ("sizes", "dt", "readout", "init_mean", "init_std")
               if getattr(settings, key, None) is not None}
    try:
        return replace(spec, **changes).graph(settings)
    except (NetworkError, ValueError) as error:
        raise ConfigError(f"network {settings.network} with {given}: {error}") from None


def event_binning(network: Any) -> tuple[float, int]:
    """(bin in ms, steps) of event data for ``network``: its dt and T (a network graph's step)."""
    if isinstance(network, CompiledGraph):
        return network.network.dt_s * 1000.0, int(network.n_steps)
    return float(network.dt), int(network.n_steps)
