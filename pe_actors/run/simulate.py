"""Running a network and recording what its populations do: :func:`simulate`, the first look at any network, and
:func:`raster`, one sample of it as ``pe-actors raster`` draws it.

A network is simulated by its rule's forward pass (``Rule.record``: e-prop's ALIF recurrent population and leaky
readout, step by step as docs/eprop.md writes them; EventProp's LIF layers as docs/eventprop.md writes them). Every
population is returned by name with its recorded variables, each of shape (batch, steps, neurons).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from pe_actors.core.engine import weights_only
from pe_actors.core.partition import split_neurons
from pe_actors.core.settings import Settings, choice, int_range, setting
from pe_actors.interop.nir import ImportedNetwork
from pe_actors.networks import Network, run
from pe_actors.rules import Rule, rule_names, rule_of
from pe_actors.run.config import ConfigError
from pe_actors.run.data import load_splits, recorded_dataset
from pe_actors.run.model import Model


@dataclass(frozen=True)
class Simulation:
    """What :func:`simulate` recorded: the ``network`` and its ``rule``, the input ``x`` (batch, T, n_in), every
    population's recorded variables by name (``populations[name][variable]``, each (batch, T, neurons)) and the
    class scores ``logits`` (batch, n_out)."""

    network: Any
    rule: Rule | None
    x: np.ndarray
    populations: dict[str, dict[str, np.ndarray]]
    logits: np.ndarray

    @property
    def step_ms(self) -> float:
        """The length of one time step in ms (a network graph: its dt; e-prop: the chip's 10 ms at T = 100;
        EventProp: dt)."""
        if self.rule is None:
            return float(self.network.dt_s * 1000.0)
        return float(self.rule.data.event_binning(self.network)[0])


def simulate(
    network: Any, x: np.ndarray, params: dict[str, np.ndarray] | None = None, record: Sequence[str] | None = None,
    seed: int = 0,
) -> Simulation:
    """Run ``network`` on inputs ``x`` (batch, steps, inputs) and record its populations.

    ``network``: a network graph (:class:`pe_actors.networks.Network`, built or imported, whose populations are
    returned by their names, for an imported graph the NIR node names; any number of steps), a network read by
    ``pe_actors.from_nir``, a trained :class:`~pe_actors.run.model.Model` (``pe_actors.load``), or a network
    description of any rule; with its weights ``params`` (None: the initial weights drawn from ``seed``).
    ``record``: the variables to keep (``("spikes", "v")``; None: every one recorded). A ValueError names what does
    not fit.
    """
    if isinstance(network, Model):
        params, network = weights_only(network.state), network.config
    elif isinstance(network, ImportedNetwork):
        params, network = (network.params if params is None else params), network.network
    if isinstance(network, Network):
        if params is None:
            params = network.init_params(seed)
        populations, logits = run(network, params, x, record)
        return Simulation(network, None, np.asarray(x), populations, logits)
    spec = rule_of(network)
    if params is None:
        params = spec.init_params(network, seed=seed)
    x = np.asarray(x)
    if x.ndim != 3 or x.shape[1:] != (network.n_steps, network.n_in):
        raise ValueError(f"x has shape {x.shape}; the network needs (batch, {network.n_steps}, {network.n_in})")
    populations, logits = spec.record(params, x, network)
    if record is not None:
        populations = {name: {var: values[var] for var in record if var in values}
                       for name, values in populations.items()}
    return Simulation(network, spec, x, populations, np.asarray(logits))


@dataclass(frozen=True)
class Raster:
    """One sample through a network (see :func:`raster`): its :class:`Simulation`, where the sample and the
    weights came from, its label (None: unknown), the class names and how the PEs split each spiking population."""

    simulation: Simulation
    sample: str
    source: str
    label: int | None
    class_names: list[str]
    neurons_by_pe: dict[str, list[list[int]]] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        """What raster.json holds: per population the spikes in all, per neuron and per step, the silent neurons
        and the mean rate in Hz (and the outputs' first spikes), the class scores, probabilities and prediction."""
        sim = self.simulation
        logits = sim.logits[0].astype(np.float64)
        probabilities = np.exp(logits - logits.max())
        probabilities /= probabilities.sum()
        predicted = int(np.argmax(logits))
        populations = {}
        for name, values in sim.populations.items():
            if "spikes" not in values:
                continue
            spikes = values["spikes"][0]
            seconds = spikes.shape[0] * sim.step_ms / 1000.0
            first = [int(np.argmax(column)) if column.any() else None for column in spikes.T]
            populations[name] = {
                "total_spikes": int(spikes.sum()), "spikes_per_neuron": spikes.sum(axis=0).astype(int).tolist(),
                "spikes_per_step": spikes.sum(axis=1).astype(int).tolist(),
                "silent_neurons": int((spikes.sum(axis=0) == 0).sum()),
                "mean_rate_hz": float(spikes.mean() * spikes.shape[0] / seconds) if seconds else 0.0,
                "first_spike_ms": [None if f is None else f * sim.step_ms for f in first],
            }
        return {
            "sample": self.sample, "source": self.source,
            "rule": sim.rule.name if sim.rule else None, "network": sim.network.to_dict(),
            "step_ms": sim.step_ms, "populations": populations, "neurons_by_pe": self.neurons_by_pe,
            "logits": logits.tolist(), "probabilities": probabilities.tolist(), "predicted": predicted,
            "predicted_name": self.class_names[predicted], "label": self.label,
            "label_name": None if self.label is None else self.class_names[self.label],
        }


@dataclass(frozen=True)
class RasterSettings(Settings):
    """Which sample of which network a raster shows (``pe-actors raster``'s options besides the network's)."""

    rule: str | None = setting(default=None, **choice(rule_names, optional=True),
                               help="The rule of fresh weights (default eprop); a --checkpoint says its own rule.")
    checkpoint: Path | None = setting(default=None, kind="path", folder="exists", optional=True,
                                      help="Checkpoint directory, or a run directory (its best checkpoint); default: "
                                      "fresh weights from --seed.")
    data: Path | None = setting(default=None, kind="path", folder="existing", optional=True,
                                help="The data to take the sample from, read by the rule's data source (default: "
                                "the data the checkpoint records, or the rule's example input without a label for "
                                "fresh weights).")
    split: str = setting(default="test", **choice("train", "validation", "test"), help="Split of the data.")
    index: int = setting(default=0, **int_range(0), help="Sample index in --split.")
    pes: int | None = setting(default=None, **int_range(1, optional=True),
                              help="PEs a population is split over; its neurons are coloured by the PE that holds "
                              "them [default: 12, at most one per neuron].")
    seed: int = setting(default=0, **int_range(0), help="Seed of fresh weights and inputs.")


def raster(
    network: Any, data: Path | None = None, split: str = "test", index: int = 0, seed: int = 0,
    pes: int | None = None,
) -> Raster:
    """Sample ``index`` of a network's data through it (:func:`simulate`): ``network`` a
    :class:`~pe_actors.run.model.Model` or a network description (fresh weights from ``seed``). The sample comes
    from ``data`` (read by the rule's folder source), else from the data a model's checkpoint records, else it is
    the rule's example input (no label). ``pes``: PEs per group, by which the spiking populations' neurons are
    grouped (default: up to 12). A ConfigError names ``data`` or ``index`` when the sample cannot be had."""
    model = network if isinstance(network, Model) else None
    description = model.config if model else network
    spec = rule_of(description)
    source = f"checkpoint {model.path}" if model else f"fresh weights (seed {seed})"
    class_names = list(model.class_names) if model else []
    label = None
    if data is not None or model is not None:
        if data is not None:
            dataset, where = load_splits(spec.name, description, data), str(data)
        else:
            try:
                dataset, where = recorded_dataset(model.record, description)
            except ConfigError as error:
                raise ConfigError(f"the checkpoint's data: {error}; give --data", "data") from None
            where = f"{where}, as the checkpoint records"
        features, labels = getattr(dataset.splits, split)
        if index >= len(features):
            raise ConfigError(f"--index {index} but the {split} split holds {len(features)} samples", "index")
        x, label = np.asarray(features[index : index + 1]), int(labels[index])
        class_names = class_names or list(dataset.class_names)
        sample = f"{split} sample {index} of {where}"
    else:
        x, sample = spec.example_input(description, seed), f"example input of the {spec.name} rule (seed {seed})"
    if len(class_names) != description.n_out:
        class_names = [f"class {k}" for k in range(description.n_out)]
    simulation = simulate(model if model else description, x, seed=seed)
    layout = {}
    for name, values in simulation.populations.items():
        if "spikes" in values:
            n = values["spikes"].shape[2]
            parts = split_neurons(n, min(pes or 12, n))
            layout[name] = [[part.start, part.stop] for part in parts]
    return Raster(simulation, sample, source, label, class_names, layout)
