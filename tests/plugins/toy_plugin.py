"""A plug-in written outside the project's package, as a user's package would be: a third learning rule, a fourth
synapse kind and a data source, each declared once and found by the project's registries (the entry points
``pe_actors.rules``, ``pe_actors.synapses`` and ``pe_actors.data``, which the tests declare in a dist-info folder).

- ``delta``: a leaky readout of the input spikes (u_j[t] = kappa u_j[t-1] + sum_i x_i[t] W_ij, the logits the mean
  of u over the trial) trained by the delta rule of its softmax cross-entropy, dL/dW_ij = sum_t xbar_i[t] e_j / T
  with xbar the input filtered like u and e = softmax(logits) - onehot (W is ``w_out``: the engines name weights
  ``w_*``). Each PE holds the weights onto its slice of the outputs; every PE posts its partial logits, the master
  posts the error back, and each PE forms its own gradient: the rule on the project's PE runtime.
- ``stuck``: quantised device pairs of which a fixed fraction is stuck at zero conductance (a weight that always
  reads 0), drawn per neuron so that every PE split reads the same weights.
- ``toyspikes``: twelve classes of Poisson spike rasters (100 steps, 80 channels: the shape of e-prop's ``gsc``
  network and of ``delta``'s ``toy``) whose rates differ by input channel.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from types import MappingProxyType, SimpleNamespace
from typing import Any

import numpy as np

from pe_actors.core.optimiser import OptimiserConfig, l2_gradient
from pe_actors.core.partition import split_neurons
from pe_actors.core.settings import ConfigError
from pe_actors.rules import PE_BACKENDS, AdaptationDefaults, Backend, DataDefaults, Lazy, Rule
from pe_actors.runtime.program import Channel, Phase, no_timer
from pe_actors.synapses import DIGITAL, QuantisedStore, SynapseConfig, SynapseKind, make_store

HERE = __name__


@dataclass(frozen=True)
class ToyNetwork:
    """n_in inputs onto n_out leaky readout neurons with decay kappa, over n_steps steps."""

    n_in: int = 80
    n_out: int = 12
    n_steps: int = 100
    kappa: float = 0.8

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> ToyNetwork:
        return cls(**values)


NETWORKS = {"toy": ToyNetwork()}


def run_network(settings: Any) -> ToyNetwork:
    network = NETWORKS[settings.network]
    if settings.pes > network.n_out:
        raise ConfigError(f"--pes {settings.pes} exceeds the {network.n_out} outputs", "pes")
    return network


def init_params(network: ToyNetwork, seed: int = 0, dtype: type = np.float32) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {"w_out": (rng.standard_normal((network.n_in, network.n_out)) * 0.1).astype(dtype)}


def weight_shapes(network: ToyNetwork) -> dict[str, tuple[int, ...]]:
    return {"w_out": (network.n_in, network.n_out)}


def filtered(x: np.ndarray, kappa: float) -> np.ndarray:
    """xbar[t] = kappa xbar[t-1] + x[t], over axis 1."""
    out = np.empty_like(x)
    acc = np.zeros_like(x[:, 0])
    for t in range(x.shape[1]):
        acc = kappa * acc + x[:, t]
        out[:, t] = acc
    return out


class DeltaPE:
    """One PE: the weights onto outputs ``own`` (a slice), held by its synapse store."""

    def __init__(self, index: int, group: DeltaGroup, own: slice, params: dict, optimiser: Any) -> None:
        self.index, self.group, self.own = index, group, own
        self.timer = no_timer
        self.writes = 0
        self.optimiser = optimiser
        self.store = make_store(group.synapses, {"w_out": np.array(params["w_out"][:, own])}, optimiser)
        self.adam_steps = 0

    def begin(self, x: np.ndarray, labels: np.ndarray | None) -> None:
        self.labels = labels
        self.xbar_mean = filtered(x, self.group.network.kappa).mean(axis=1)  # (k, n_in)
        self.partial = self.xbar_mean @ self.store.read()["w_out"]  # (k, |own|): u averaged over the trial
        self.out: dict[str, Any] = {}

    def step(self, phase: str, t: int, inbox: Any) -> dict[str, np.ndarray]:
        if phase == "readout":
            return {"logits": self.partial}
        if phase == "error":
            if self.index != self.group.master:
                return {}
            logits = np.concatenate(inbox.read("logits"), axis=1)
            shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
            p = shifted / shifted.sum(axis=1, keepdims=True)
            self.out = {"logits": logits}
            if self.labels is None:
                return {}
            picked = p[np.arange(len(p)), self.labels]
            self.out["loss"] = -np.log(np.maximum(picked, 1e-30))
            p[np.arange(len(p)), self.labels] -= 1.0
            return {"error": p}
        if phase == "collect" and self.index == self.group.master:
            self.out = {"logits": np.concatenate(inbox.read("logits"), axis=1)}
        if phase == "learn":
            error = inbox.read("error")[0][:, self.own]
            self.out["grads"] = {"w_out": self.xbar_mean.T @ error}
        return {}

    def result(self) -> dict[str, Any]:
        return self.out

    def apply(self, grads: dict[str, np.ndarray], lr: float) -> None:
        w = self.store.shadow["w_out"]
        self.store.apply({"w_out": grads["w_out"] + l2_gradient(w, self.optimiser.l2)}, lr)
        self.adam_steps = self.store.steps

    def advance(self, seconds: float) -> None:
        self.store.advance(seconds)

    def state_dict(self) -> dict[str, np.ndarray]:
        return self.store.state_dict()

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        self.store.load_state_dict(state)

    def arrays_by_category(self) -> dict[str, list[np.ndarray]]:
        return self.store.arrays_by_category()


class DeltaGroup:
    """The group program: PEs split the outputs; the master (PE 0) reduces the logits and posts the error."""

    master = 0
    sample_s = 1.0

    def __init__(self, network: ToyNetwork, n_pes: int, sizes: Any = None, synapses: SynapseConfig = DIGITAL,
                 kernel: str = "numba") -> None:
        if not 1 <= n_pes <= network.n_out:
            raise ValueError(f"n_pes must lie in [1, {network.n_out}], got {n_pes}")
        self.network, self.n_pes, self.synapses = network, n_pes, synapses
        self.n_out, self.n_steps = network.n_out, network.n_steps
        self.slices = split_neurons(network.n_out, n_pes, sizes)
        pes = tuple(range(n_pes))
        self.channels = (
            Channel("logits", "array", pes, (self.master,), tuple(s.stop - s.start for s in self.slices)),
            Channel("error", "array", (self.master,), pes, (network.n_out,)),
        )

    def prepare(self, x: np.ndarray, labels: np.ndarray | None, dtype: np.dtype) -> tuple[np.ndarray, Any]:
        x = np.asarray(x, dtype)
        if x.ndim != 3 or x.shape[1:] != (self.n_steps, self.network.n_in):
            raise ValueError(f"the network needs (N, {self.n_steps}, {self.network.n_in}), got {x.shape}")
        return x, None if labels is None else np.asarray(labels)

    def phases(self, learning: bool) -> tuple[Phase, ...]:
        if learning:
            return (Phase("readout", 1, ("logits",)), Phase("error", 1, ("error",)), Phase("learn", 1))
        return (Phase("readout", 1, ("logits",)), Phase("collect", 1))

    def make_program(self, pe: int, params: dict, optimiser: Any, learning: bool = True) -> DeltaPE:
        return DeltaPE(pe, self, self.slices[pe], params, optimiser)

    def pe_layout(self) -> list[dict]:
        return [{"pe": p, "layer": 1, "neurons": [s.start, s.stop], "synapses": self.network.n_in * (s.stop - s.start),
                 "master": p == self.master} for p, s in enumerate(self.slices)]

    def gather_state(self, states: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
        return {key: np.concatenate([s[key] for s in states], axis=-1) if np.ndim(states[0][key]) == 2
                else states[0][key] for key in states[0]}

    def scatter_state(self, state: dict[str, np.ndarray], pe: int) -> dict[str, np.ndarray]:
        own = self.slices[pe]
        return {key: value[:, own] if np.ndim(value) == 2 else value for key, value in state.items()}


def memory_rows(network: ToyNetwork, pes: int, synapses: SynapseConfig, dtype: type, sub_batch: int = 1) -> list[dict]:
    group = DeltaGroup(network, pes, synapses=synapses)
    rows = []
    for pe in range(pes):
        program = group.make_program(pe, init_params(network, 0, dtype), OptimiserConfig())
        by_category = {k: int(sum(a.nbytes for a in v)) for k, v in program.arrays_by_category().items()}
        rows.append({"pe": pe, "label": f"PE {pe}", "bytes_by_category": by_category,
                     "total_bytes": sum(by_category.values())})
    return rows


def run_memory(network: ToyNetwork, batch: int, itemsize: int, generated: bool = False) -> dict[str, float]:
    return {"weights and ADAM": 3.0 * network.n_in * network.n_out * itemsize}


def record_populations(params: dict, x: np.ndarray, network: ToyNetwork) -> tuple[dict, np.ndarray]:
    u = np.stack([filtered(x, network.kappa)[:, t] @ params["w_out"] for t in range(network.n_steps)], axis=1)
    return {"readout": {"v": u}}, u.mean(axis=1)


def example_input(network: ToyNetwork, seed: int = 0) -> np.ndarray:
    return (np.random.default_rng(seed).random((1, network.n_steps, network.n_in)) < 0.1).astype(np.float32)


def event_binning(network: ToyNetwork) -> tuple[float, int]:
    return 1000.0 / network.n_steps, network.n_steps


def adapt_lr(network: ToyNetwork) -> float:
    return 0.01


def run_defaults(explicit: Any) -> dict[str, Any]:
    return {"network": "toy", "engine": "inprocess", "pes": 2, "sub_batch": 16, "augment": (), "lr": 0.02}


RULE = Rule(
    name="delta",
    title="delta-rule",
    description="the delta rule of a leaky spike readout (a test plug-in)",
    network_type=Lazy(HERE, "ToyNetwork"),
    networks=Lazy(HERE, "NETWORKS"),
    network_of=Lazy(HERE, "run_network"),
    init_params=Lazy(HERE, "init_params"),
    weight_shapes=Lazy(HERE, "weight_shapes"),
    group=Lazy(HERE, "DeltaGroup"),
    backends=(
        Backend(PE_BACKENDS[0], "the PE programs in this process", synapses=("digital",)),
        Backend(PE_BACKENDS[1], "one Ray actor per PE", frozenset({"transport", "run_name", "address",
                                                                  "dashboard_port"})),
    ),
    offchip=PE_BACKENDS[0],
    recipes=Lazy(HERE, "RECIPES"),
    run_defaults=Lazy(HERE, "run_defaults"),
    data=DataDefaults(source="toyspikes", folder="toyspikes", description="toy spike rasters",
                      event_binning=Lazy(HERE, "event_binning")),
    adaptation=AdaptationDefaults(frozen=(), rehearse_every=0, lr=Lazy(HERE, "adapt_lr"), lr_text="0.01"),
    memory=Lazy(HERE, "memory_rows"),
    memory_categories=Lazy(HERE, "MEMORY_CATEGORIES"),
    run_memory=Lazy(HERE, "run_memory"),
    record=Lazy(HERE, "record_populations"),
    example_input=Lazy(HERE, "example_input"),
    aliases=MappingProxyType({}),
)
RECIPES = {"toy-delta": MappingProxyType({"rule": "delta", "network": "toy", "epochs": 3})}
MEMORY_CATEGORIES = ("weights", "adam", "devices")

#: The fraction of devices stuck at zero conductance.
STUCK_FRACTION = 0.25


class StuckStore(QuantisedStore):
    """Quantised device pairs of which :data:`STUCK_FRACTION` read 0 whatever they are programmed to. Which ones
    is drawn per neuron (its global index and the run's seed), so every PE split reads the same weights."""

    kind = "stuck"

    def __init__(self, arrays: dict, optimiser: Any, config: SynapseConfig, layout: Any, w_max: dict) -> None:
        super().__init__(arrays, optimiser, config, layout, w_max)
        self.working = {}
        for name, array in arrays.items():
            axis = layout.neuron_axis[name]
            columns = [np.random.default_rng([config.seed, int(n)]).random(array.shape[1 - axis]) >= STUCK_FRACTION
                       for n in layout.neurons]
            self.working[name] = np.stack(columns, axis=axis)

    def read(self) -> dict[str, np.ndarray]:
        return {name: weights * self.working[name] for name, weights in super().read().items()}


KIND = SynapseKind("stuck", "quantised pairs with a quarter of the devices stuck at 0 (a test plug-in)", StuckStore)

#: Classes; class c fires at 0.3 spikes per step on channels 6c..6c+5, every other channel at 0.02.
CLASSES, CHANNELS, STEPS = 12, 80, 100


def toyspikes(path: Any = None, *, seed: int = 0, **options: Any) -> SimpleNamespace:
    """Train, validation and test splits of Poisson rasters (N, 100, 80) of 12 classes; ``path`` unused."""
    rng = np.random.default_rng(1234)
    splits = {}
    for split, n in (("train", 240), ("validation", 60), ("test", 60)):
        labels = rng.integers(0, CLASSES, n)
        rates = np.full((n, 1, CHANNELS), 0.02)
        for c in range(CLASSES):
            rates[labels == c, :, 6 * c : 6 * c + 6] = 0.3
        splits[split] = ((rng.random((n, STEPS, CHANNELS)) < rates).astype(np.float32), labels)
    return SimpleNamespace(splits=splits, class_names=[f"class{c}" for c in range(CLASSES)], synthetic=True,
                           metadata={"dataset": "toyspikes", "source": "generated"})
