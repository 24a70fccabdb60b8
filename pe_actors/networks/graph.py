"""A network as a graph: an input, populations of neurons, connections between them and the outputs
(docs/networks.md).

A connection ``name`` carries its source's activity onto its target through a weight matrix ``W`` (n_source,
n_target), the parameter ``params[name]``: a spiking source sends its spikes z, the input its values x, a leaky
integrator its voltage. A connection of ``delay`` d delivers at step t what its source emitted at step t - d. The
drive of a population at step t is its bias plus the sum over its incoming connections:

    d_j[t] = bias_j + sum_c sum_i src_c,i[t - d_c] W_c[i, j]

Within a step the populations update in the order of the connections of delay 0 (a feed-forward edge reaches its
target within the step, as in NIR's reference and snnTorch); every cycle must pass through a connection of delay
1 or more (a recurrent connection reads the previous step). Sparse connections have a fixed ``mask`` of the
synapses that exist; a recurrent connection onto its own population without ``self_connections`` has a zero
diagonal.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from pe_actors.networks.neurons import NetworkError, Population

#: The class scores a network reads from its output populations over the trial: the mean, maximum or last of
#: their voltage, their spike count, or the earliest first spike (the score of a silent output is -T).
READOUTS = ("mean_v", "exp_mean_v", "max_v", "last_v", "spike_count", "first_spike")


@dataclass(frozen=True)
class WeightInit:
    """Initial weights W ~ N(mean, std) with, when ``fan_in``, std divided by sqrt(n_source)."""

    mean: float = 0.0
    std: float = 1.0
    fan_in: bool = True

    def to_dict(self) -> dict[str, Any]:
        """Plain form."""
        return {"mean": self.mean, "std": self.std, "fan_in": self.fan_in}


@dataclass(frozen=True, eq=False)
class Connection:
    """Weights ``name`` from population (or the input) ``source`` onto population ``target`` (see the module
    docstring): ``delay`` in steps, an optional boolean ``mask`` (n_source, n_target) of the synapses that exist,
    whether a connection of a population onto itself keeps its diagonal (``self_connections``), and how its
    initial weights are drawn (``init``)."""

    name: str
    source: str
    target: str
    delay: int = 0
    mask: np.ndarray | None = None
    self_connections: bool = True
    init: WeightInit = field(default_factory=WeightInit)

    @property
    def key(self) -> str:
        """The name of the connection's weights among a network's parameters: ``w_<name>`` (the name itself when
        it starts with ``w_``) with every character but letters, digits and underscores written as ``_``, the form
        every engine's weights and every checkpoint's arrays take (NIR's ``lif1.w_rec`` gives ``w_lif1_w_rec``)."""
        key = self.name if self.name.startswith("w_") else f"w_{self.name}"
        return re.sub(r"[^A-Za-z0-9_]", "_", key)

    @property
    def recurrent(self) -> bool:
        """Whether the connection reads the previous step (delay >= 1)."""
        return self.delay >= 1

    def synapse_mask(self, shape: tuple[int, int]) -> np.ndarray | None:
        """The boolean mask of existing synapses (None: all of them exist)."""
        if self.mask is None and (self.self_connections or self.source != self.target):
            return None
        mask = np.ones(shape, bool) if self.mask is None else np.array(self.mask, bool)
        if not self.self_connections and self.source == self.target:
            np.fill_diagonal(mask, False)
        return mask

    def to_dict(self) -> dict[str, Any]:
        """Plain form (a mask as the flat indices of its synapses)."""
        values: dict[str, Any] = {"name": self.name, "source": self.source, "target": self.target,
                                  "delay": self.delay, "self_connections": self.self_connections,
                                  "init": self.init.to_dict()}
        if self.mask is not None:
            values["mask"] = {"shape": list(self.mask.shape), "indices": np.flatnonzero(self.mask).tolist()}
        return values

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> Connection:
        """Inverse of :meth:`to_dict`; a NetworkError names what is wrong."""
        if not isinstance(values, Mapping):
            raise NetworkError(f"a connection must be a mapping, got {type(values).__name__}")
        unknown = sorted(set(values) - {"name", "source", "target", "delay", "mask", "self_connections", "init"})
        if unknown:
            raise NetworkError(f"connection {values.get('name')!r}: unknown field(s) {unknown}")
        mask = values.get("mask")
        if mask is not None:
            try:
                shape = tuple(int(n) for n in mask["shape"])
                flat = np.zeros(int(np.prod(shape)), bool)
                flat[np.asarray(mask["indices"], np.int64)] = True
            except (KeyError, TypeError, ValueError, IndexError) as error:
                raise NetworkError(f"connection {values.get('name')!r}: unreadable mask ({error})") from None
            mask = flat.reshape(shape)
        init = values.get("init") or {}
        try:
            init = WeightInit(float(init.get("mean", 0.0)), float(init.get("std", 1.0)), bool(init.get("fan_in", True)))
        except (AttributeError, TypeError, ValueError) as error:
            raise NetworkError(f"connection {values.get('name')!r}: unreadable init ({error})") from None
        return cls(values.get("name"), values.get("source"), values.get("target"), values.get("delay", 0), mask,
                   values.get("self_connections", True), init)


@dataclass(frozen=True, eq=False)
class Network:
    """An ``input`` of ``n_in`` channels (its name), ``populations``, ``connections`` and the ``outputs`` (names of
    populations whose neurons are the class scores, in order) read by ``readout`` over ``n_steps`` steps of
    ``dt_s`` seconds. Checked when built: a NetworkError names the population or connection that is wrong."""

    input: str
    n_in: int
    populations: tuple[Population, ...]
    connections: tuple[Connection, ...]
    outputs: tuple[str, ...]
    n_steps: int
    dt_s: float
    readout: str = "mean_v"

    def __post_init__(self) -> None:
        check(self)

    @property
    def n_out(self) -> int:
        """The number of class scores: the neurons of the output populations."""
        return sum(self.population(name).size for name in self.outputs)

    def population(self, name: str) -> Population:
        """The population ``name``; a NetworkError lists the names there are."""
        for population in self.populations:
            if population.name == name:
                return population
        raise NetworkError(f"no population {name!r}; the network has {[p.name for p in self.populations]}")

    def size(self, name: str) -> int:
        """The neurons of population ``name`` (or the input's channels)."""
        return self.n_in if name == self.input else self.population(name).size

    def incoming(self, name: str) -> list[Connection]:
        """The connections onto population ``name``."""
        return [c for c in self.connections if c.target == name]

    def weight_shapes(self) -> dict[str, tuple[int, int]]:
        """The shape (n_source, n_target) of every connection's weights, by its key (``Connection.key``)."""
        return {c.key: (self.size(c.source), self.size(c.target)) for c in self.connections}

    def order(self) -> list[str]:
        """The populations in the order they update within a step (sources of delay-0 connections first)."""
        return update_order(self)

    def init_params(self, seed: int = 0, dtype: type = np.float64) -> dict[str, np.ndarray]:
        """Initial weights of every connection by its :class:`WeightInit`, drawn in connection order from one
        generator seeded ``seed``; absent synapses are zero."""
        rng = np.random.default_rng(seed)
        params = {}
        for connection, (name, shape) in zip(self.connections, self.weight_shapes().items(), strict=True):
            init = connection.init
            std = init.std / np.sqrt(shape[0]) if init.fan_in else init.std
            weight = rng.normal(init.mean, std, shape)
            mask = connection.synapse_mask(shape)
            if mask is not None:
                weight[~mask] = 0.0
            params[name] = weight.astype(dtype)
        return params

    def check_params(self, params: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """``params`` as float arrays of the connections' shapes; a ValueError names a missing, extra, misshapen
        or non-finite weight."""
        shapes = self.weight_shapes()
        if set(params) != set(shapes):
            raise NetworkError(f"the weights must be {sorted(shapes)}, got {sorted(params)}")
        checked = {}
        for name, shape in shapes.items():
            value = np.asarray(params[name])
            if not np.issubdtype(value.dtype, np.floating):
                raise NetworkError(f"weights {name!r} must be floating point, got {value.dtype}")
            if value.shape != shape:
                raise NetworkError(f"weights {name!r} have shape {value.shape}; connection {name!r} needs {shape}")
            if not np.all(np.isfinite(value)):
                raise NetworkError(f"weights {name!r} hold NaN or Inf")
            checked[name] = value
        return checked

    def to_dict(self) -> dict[str, Any]:
        """Plain form, for run configs, checkpoints and NIR metadata."""
        return {"graph": 1, "input": self.input, "n_in": self.n_in, "n_steps": self.n_steps, "dt_s": self.dt_s,
                "readout": self.readout, "outputs": list(self.outputs),
                "populations": [p.to_dict() for p in self.populations],
                "connections": [c.to_dict() for c in self.connections]}

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> Network:
        """Inverse of :meth:`to_dict`; a NetworkError names what is wrong."""
        if not isinstance(values, Mapping) or values.get("graph") != 1:
            raise NetworkError("not a network graph (expected a mapping with 'graph': 1)")
        try:
            return cls(values["input"], values["n_in"], tuple(Population.from_dict(p) for p in values["populations"]),
                       tuple(Connection.from_dict(c) for c in values["connections"]), tuple(values["outputs"]),
                       values["n_steps"], values["dt_s"], values.get("readout", "mean_v"))
        except KeyError as error:
            raise NetworkError(f"the network lacks {error}") from None
        except TypeError as error:
            raise NetworkError(f"the network's fields have the wrong types ({error})") from None

    def input_targets(self) -> dict[str, str]:
        """The weights that carry the input onto a spiking population, by key, and that population's name."""
        return {c.key: c.target for c in self.connections
                if c.source == self.input and self.population(c.target).spiking}

    def with_leaky_outputs(self) -> Network:
        """The same network with its spiking outputs turned into leaky integrators of the same coefficients (a
        ``cuba_lif`` output becomes ``cuba_li``, ``lif`` and ``if`` become ``li``; thresholds and resets dropped)
        read by their mean voltage: the readout e-prop trains."""
        leaky = {"lif": "li", "if": "li", "alif": "li", "cuba_lif": "cuba_li"}
        populations = []
        for pop in self.populations:
            if pop.name in self.outputs and pop.spiking:
                values = {k: v for k, v in pop.to_dict().items()
                          if k not in ("threshold", "v_reset", "reset", "reset_delayed", "decay_adapt", "beta")}
                pop = Population.from_dict(values | {"model": leaky[pop.model]})
            populations.append(pop)
        return Network(self.input, self.n_in, tuple(populations), self.connections, self.outputs, self.n_steps,
                       self.dt_s, "mean_v")

    def with_sizes(self, n_in: int | None = None, n_out: int | None = None) -> Network:
        """The same network with ``n_in`` input channels and ``n_out`` neurons in its one output population (None
        keeps a size), for data of other sizes; weights are drawn afresh. A NetworkError says why not when a
        neuron coefficient of the output differs between neurons or a connection of the input or output is sparse
        (its mask has the old shape)."""
        n_in = self.n_in if n_in is None else n_in
        n_out = self.n_out if n_out is None else n_out
        if (n_in, n_out) == (self.n_in, self.n_out):
            return self
        if len(self.outputs) != 1:
            raise NetworkError(f"only a network with one output population takes another size, not {self.outputs}")
        output = self.outputs[0]
        changed = {name for name, new, old in ((self.input, n_in, self.n_in), (output, n_out, self.n_out))
                   if new != old}
        for connection in self.connections:
            if changed & {connection.source, connection.target} and connection.mask is not None:
                raise NetworkError(f"connection {connection.name!r} has a mask of the network's sizes; it cannot "
                                   f"take {n_in} inputs and {n_out} outputs")
        populations = []
        for pop in self.populations:
            if pop.name == output and n_out != pop.size:
                values = pop.to_dict()
                uneven = [k for k, v in values.items() if isinstance(v, list)]
                if uneven:
                    raise NetworkError(f"population {output!r} has per-neuron {uneven}; it cannot take {n_out} "
                                       "neurons")
                pop = Population.from_dict(values | {"size": n_out})
            populations.append(pop)
        return Network(self.input, n_in, tuple(populations), self.connections, self.outputs, self.n_steps,
                       self.dt_s, self.readout)

    def with_steps(self, n_steps: int) -> Network:
        """The same network over ``n_steps`` steps."""
        return Network(self.input, self.n_in, self.populations, self.connections, self.outputs, n_steps, self.dt_s,
                       self.readout)


@dataclass(frozen=True, eq=False)
class CompiledGraph:
    """A network graph as a rule trains it (the rule's subclass checks what it can train): the sizes its engines
    ask for."""

    network: Network

    @property
    def n_in(self) -> int:
        """Input channels."""
        return self.network.n_in

    @property
    def n_out(self) -> int:
        """Class scores."""
        return self.network.n_out

    @property
    def n_steps(self) -> int:
        """Steps of a trial."""
        return self.network.n_steps

    def with_sizes(self, n_in: int | None = None, n_out: int | None = None) -> CompiledGraph:
        """The same graph for data of ``n_in`` channels and ``n_out`` classes (:meth:`Network.with_sizes`)."""
        return replace(self, network=self.network.with_sizes(n_in, n_out))


def is_graph(values: Any) -> bool:
    """Whether ``values`` is the plain form of a :class:`Network`."""
    return isinstance(values, Mapping) and values.get("graph") == 1


def check(network: Network) -> None:
    """Refuse a network that cannot run, naming the population or connection at fault."""
    if not isinstance(network.input, str) or not network.input:
        raise NetworkError(f"the input needs a non-empty name, got {network.input!r}")
    if not isinstance(network.n_in, int) or isinstance(network.n_in, bool) or network.n_in < 1:
        raise NetworkError(f"the input {network.input!r} needs a positive number of channels, got {network.n_in!r}")
    if not isinstance(network.n_steps, int) or isinstance(network.n_steps, bool) or network.n_steps < 1:
        raise NetworkError(f"n_steps must be a positive integer, got {network.n_steps!r}")
    if not isinstance(network.dt_s, (int, float)) or not np.isfinite(network.dt_s) or network.dt_s <= 0:
        raise NetworkError(f"dt_s must be a positive number of seconds, got {network.dt_s!r}")
    if network.readout not in READOUTS:
        raise NetworkError(f"readout must be one of {READOUTS}, got {network.readout!r}")
    names = [network.input]
    for population in network.populations:
        if not isinstance(population, Population):
            raise NetworkError(f"populations must be Population objects, got {type(population).__name__}")
        if population.name in names:
            raise NetworkError(f"two populations (or the input) are named {population.name!r}")
        names.append(population.name)
    connection_names = set()
    for connection in network.connections:
        _check_connection(network, connection, names)
        if connection.key in connection_names:
            raise NetworkError(f"two connections are named {connection.name!r} (their weights are both "
                               f"{connection.key!r})")
        connection_names.add(connection.key)
    if not network.outputs:
        raise NetworkError("the network needs at least one output population")
    for name in network.outputs:
        if name not in names[1:]:
            raise NetworkError(f"output {name!r} is not a population of the network")
    spiking = {network.population(name).spiking for name in network.outputs}
    if network.readout in ("spike_count", "first_spike") and False in spiking:
        raise NetworkError(f"readout {network.readout!r} needs spiking outputs; {list(network.outputs)} include a "
                           "leaky integrator")
    for population in network.populations:
        if not network.incoming(population.name) and population.bias is None:
            raise NetworkError(f"population {population.name!r} receives no connection and has no bias")
    update_order(network)


def _check_connection(network: Network, connection: Connection, names: list[str]) -> None:
    name = connection.name
    if not isinstance(name, str) or not name:
        raise NetworkError(f"a connection needs a non-empty name, got {name!r}")
    if connection.source not in names:
        raise NetworkError(f"connection {name!r}: no source {connection.source!r}; the network has {names}")
    if connection.target not in names[1:]:
        raise NetworkError(f"connection {name!r}: no target population {connection.target!r}; the populations are "
                           f"{names[1:]}")
    if not isinstance(connection.delay, int) or isinstance(connection.delay, bool) or connection.delay < 0:
        raise NetworkError(f"connection {name!r}: delay must be a whole number of steps >= 0, got "
                           f"{connection.delay!r}")
    if connection.mask is not None:
        shape = (network.size(connection.source), network.size(connection.target))
        mask = np.asarray(connection.mask)
        if mask.shape != shape or mask.dtype != bool:
            raise NetworkError(f"connection {name!r}: its mask must be a boolean array of shape {shape}, got "
                               f"{mask.dtype} {mask.shape}")


def update_order(network: Network) -> list[str]:
    """The populations sorted so that every connection of delay 0 runs from an earlier one to a later one; a
    NetworkError names a connection that closes a cycle within one step."""
    within = [c for c in network.connections if c.delay == 0]
    remaining = [p.name for p in network.populations]
    order: list[str] = []
    while remaining:
        ready = [n for n in remaining
                 if all(c.source == network.input or c.source in order for c in within if c.target == n)]
        if not ready:
            stuck = [c.name for c in within if c.target in remaining and c.source in remaining]
            raise NetworkError(f"connections {stuck} close a cycle within one step; a cycle needs a connection of "
                               "delay 1 (a recurrent connection)")
        order.append(ready[0])
        remaining.remove(ready[0])
    return order
