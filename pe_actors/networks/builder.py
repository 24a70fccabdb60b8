"""Building a network in Python (docs/networks.md, "The builder"):

    from pe_actors.networks import NetworkBuilder

    net = NetworkBuilder(n_steps=100, dt_s=1e-3)
    net.input("spikes", 700)
    net.population("hidden", 256, "cuba_lif", tau_mem=20e-3, tau_syn=5e-3, threshold=1.0)
    net.population("out", 20, "li", tau_mem=20e-3)
    net.connect("spikes", "hidden")
    net.connect("hidden", "hidden", recurrent=True, self_connections=False)
    net.connect("hidden", "out")
    network = net.build(outputs=["out"], readout="max_v")

Time constants are in seconds; the builder turns them into the per-step coefficients of
:mod:`pe_actors.networks.neurons` at the step ``dt_s``: a decay exp(-dt/tau) (``discretisation="exp"``) or
1 - dt/tau (``"euler"``), and by default an input gain r (1 - b), so that a constant drive d holds the membrane at
r d. Any coefficient can also be given directly (``decay_mem=0.9``, ``gain_mem=1.0``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from pe_actors.networks.graph import Connection, Network, WeightInit
from pe_actors.networks.neurons import MODELS, NetworkError, Population, decay, population


class NetworkBuilder:
    """Collects an input, populations and connections, and builds the checked :class:`Network`."""

    def __init__(self, n_steps: int, dt_s: float = 1e-3, discretisation: str = "exp") -> None:
        self.n_steps, self.dt_s, self.discretisation = n_steps, dt_s, discretisation
        self._input: tuple[str, int] | None = None
        self._populations: list[Population] = []
        self._connections: list[Connection] = []

    def input(self, name: str, size: int) -> NetworkBuilder:
        """The network's input: ``size`` channels named ``name``."""
        if self._input is not None:
            raise NetworkError(f"the network already has the input {self._input[0]!r}")
        self._input = (name, size)
        return self

    def population(
        self, name: str, size: int, model: str, *, tau_mem: Any = None, tau_syn: Any = None, tau_adapt: Any = None,
        r: Any = 1.0, threshold: Any = None, v_leak: Any = 0.0, reset: str | None = None, v_reset: Any = 0.0,
        reset_delayed: bool = False, beta: Any = None, bias: Any = None, **coefficients: Any,
    ) -> NetworkBuilder:
        """A population of ``size`` neurons of ``model`` (``lif``, ``cuba_lif``, ``alif``, ``if``, ``li``,
        ``cuba_li``): membrane, synaptic and adaptation time constants in seconds, the resistance ``r``, the
        threshold (ALIF: its baseline), the rest ``v_leak``, the reset (``"value"`` to ``v_reset``, or
        ``"subtract"``; ``reset_delayed`` subtracts at the next step), ALIF's adaptation strength ``beta`` and an
        optional ``bias``; each a number or one per neuron. ``coefficients`` give per-step coefficients directly
        (``decay_mem``, ``gain_mem``, ``decay_syn``, ``gain_syn``, ``decay_adapt``)."""
        kind = MODELS.get(model)
        if kind is None:
            raise NetworkError(f"population {name!r}: unknown neuron model {model!r}; the models are {sorted(MODELS)}")
        given = dict(coefficients)
        if tau_mem is not None:
            b = decay(tau_mem, self.dt_s, self.discretisation, f"population {name!r}: tau_mem")
            given.setdefault("decay_mem", b)
            given.setdefault("gain_mem", (1.0 - b) * np.asarray(r, np.float64))
        if tau_syn is not None:
            if not kind.synapse:
                raise NetworkError(f"population {name!r}: a {model} neuron has no synaptic current (tau_syn)")
            given.setdefault("decay_syn", decay(tau_syn, self.dt_s, self.discretisation,
                                                f"population {name!r}: tau_syn"))
        if tau_adapt is not None:
            if not kind.adaptive:
                raise NetworkError(f"population {name!r}: a {model} neuron has no threshold adaptation (tau_adapt)")
            given.setdefault("decay_adapt", decay(tau_adapt, self.dt_s, self.discretisation,
                                                  f"population {name!r}: tau_adapt"))
        if kind.spiking:
            given.update(threshold=1.0 if threshold is None else threshold, v_reset=v_reset,
                         reset=reset or "value", reset_delayed=reset_delayed)
        elif threshold is not None or reset is not None:
            raise NetworkError(f"population {name!r}: a {model} neuron does not spike (no threshold or reset)")
        if kind.adaptive:
            given["beta"] = 0.0 if beta is None else beta
        elif beta is not None:
            raise NetworkError(f"population {name!r}: a {model} neuron has no threshold adaptation (beta)")
        self._populations.append(population(name, size, model, v_leak=v_leak, bias=bias, **given))
        return self

    def connect(
        self, source: str, target: str, name: str | None = None, *, recurrent: bool | None = None,
        delay: int | None = None, mask: np.ndarray | None = None, self_connections: bool = True,
        init: WeightInit | None = None,
    ) -> NetworkBuilder:
        """Weights from ``source`` (a population or the input) onto ``target``, named ``name`` (default
        ``w_<source>_<target>``). ``recurrent`` (default: when the source is the target) reads the previous step,
        delay 1; else ``delay`` steps (default 0). ``mask``: the synapses that exist (boolean (n_source,
        n_target)); ``self_connections`` False zeroes a recurrent connection's diagonal; ``init``: how the initial
        weights are drawn (default N(0, 1) / sqrt(n_source))."""
        if recurrent is None:
            recurrent = source == target
        if delay is None:
            delay = 1 if recurrent else 0
        elif recurrent and delay < 1:
            raise NetworkError(f"connection {source} -> {target}: a recurrent connection has a delay of at least 1")
        self._connections.append(Connection(name or f"w_{source}_{target}", source, target, delay,
                                            None if mask is None else np.asarray(mask, bool), self_connections,
                                            init or WeightInit()))
        return self

    def build(self, outputs: list[str] | tuple[str, ...], readout: str = "mean_v") -> Network:
        """The checked network with class scores read from ``outputs`` by ``readout``."""
        if self._input is None:
            raise NetworkError("the network has no input; call input(name, size) first")
        name, size = self._input
        return Network(name, size, tuple(self._populations), tuple(self._connections), tuple(outputs), self.n_steps,
                       self.dt_s, readout)
