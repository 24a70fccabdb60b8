"""A run's plan: what its configuration turns into before any data are read, Ray is started or a file written.

:func:`plan` is a pure step: from a :class:`~pe_actors.run.config.RunConfig` to the rule and backend, the network,
the optimiser, the synapses, the training loop's settings and the engine's options, every setting checked against
what the rule, backend and synapse kind take (a :class:`~pe_actors.core.settings.ConfigError` names the first that
does not fit). :meth:`Plan.fit` then checks the plan against the data it will train on, and :meth:`Plan.record`
is what every checkpoint of the run records of its model.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from pe_actors.core.checkpoint import ModelRecord
from pe_actors.core.optimiser import OptimiserConfig
from pe_actors.core.settings import ConfigError, flag
from pe_actors.networks import CompiledGraph
from pe_actors.rules import PE_BACKENDS, Rule, group_program, rule, rule_and_backend, rule_names
from pe_actors.run.config import (
    DEVICE_FIELDS,
    PCM_FIELDS,
    SYNAPSE_SETTINGS,
    RunConfig,
    check_schedule,
    rule_settings,
    synapse_settings,
)
from pe_actors.synapses import SynapseConfig, kind_names
from pe_actors.training.augment import BatchAugment
from pe_actors.training.trainer import TrainConfig


@dataclass(frozen=True)
class Plan:
    """What a run is made of (see the module docstring): its ``config``, its ``rule`` and ``backend`` (an alias
    such as ``bptt`` chooses its own), the ``network`` description, the ``optimiser``, the ``synapses``, the
    training loop's ``train`` settings and the engines' ``dtype``."""

    config: RunConfig
    rule: Rule
    backend: str
    network: Any
    optimiser: OptimiserConfig
    synapses: SynapseConfig
    train: TrainConfig
    dtype: type
    #: The weights a run of a ``nir`` graph starts from (the graph's own); None: drawn by the rule.
    weights: dict[str, np.ndarray] | None = None

    @property
    def engine_name(self) -> str:
        """The engine as the run names it: the backend an alias chooses, else the configured engine."""
        return self.backend if self.config.rule in self.rule.aliases else self.config.engine

    @property
    def on_actors(self) -> bool:
        """True when the run's PEs are Ray actors."""
        return self.backend == PE_BACKENDS[1]

    def engine_options(self, run_name: str) -> dict[str, Any]:
        """The options of :func:`pe_actors.engines.make` for this run (the actors' Ray namespace ``run_name``)."""
        config = self.config
        options: dict[str, Any] = {"pes": config.pes, "groups": config.groups, "sub_batch": config.sub_batch,
                                   "synapses": self.synapses}
        if self.on_actors:
            options.update(transport=config.transport, run_name=run_name, address=config.address,
                           dashboard_port=config.dashboard_port)
        if self.rule.takes("schedule", self.backend):
            options["schedule"] = config.schedule
        return options

    def init_params(self) -> dict[str, np.ndarray]:
        """The run's initial weights: a ``nir`` graph's own, else drawn by the rule from the run's seed."""
        if self.weights is not None:
            return {key: value.astype(self.dtype) for key, value in self.weights.items()}
        return self.rule.init_params(self.network, seed=self.config.seed, dtype=self.dtype)

    def fit(self, splits: Any, class_names: list[str], where: str, event_data: bool = False) -> Plan:
        """The plan for data ``splits`` with ``class_names`` (read from ``where``): event data give the network
        their input and output sizes; splits that do not fit the network, or classes that are not its outputs, are
        a ConfigError naming ``data`` (or the setting that sizes the outputs)."""
        network = self.network
        if isinstance(network, CompiledGraph) and network.n_steps != splits.train[0].shape[1]:
            # A network graph runs for as many steps as its data have.
            network = replace(network, network=network.network.with_steps(int(splits.train[0].shape[1])))
        if event_data and self.weights is None:
            # The rule's named networks take their sizes from event data; a graph with weights keeps its own,
            # which the checks below hold against the data.
            try:
                network = _resized(network, int(splits.train[0].shape[2]), len(class_names))
            except ValueError as error:
                raise ConfigError(f"{where}: {error}", "data") from None
        try:
            splits.check(network.n_steps, network.n_in, network.n_out)
        except ValueError as error:
            raise ConfigError(f"{where}: {error}", "data") from None
        if len(class_names) != network.n_out:
            # labels below n_out pass the split check, but a layer of another size would train the wrong outputs
            names = ", ".join(map(str, class_names[:6])) + (", ..." if len(class_names) > 6 else "")
            raise ConfigError(
                f"the network's output layer has {network.n_out} neurons but the data have {len(class_names)} "
                f"classes ({names})",
                "sizes" if "sizes" in self.rule.setting_names else "network",
            )
        return replace(self, network=network)

    def record(self, dataset: Any, augment: BatchAugment | None, initialisation: dict | None = None) -> ModelRecord:
        """What the run's checkpoints record of its model, trained on ``dataset`` with ``augment`` from weights
        scaled to the data as ``initialisation`` says (None: as drawn)."""
        optimiser = self.optimiser
        return ModelRecord(
            rule=self.config.rule,
            network=self.network.to_dict(),
            optimiser={"lr": optimiser.lr, "l2": optimiser.l2, "lr_decay": optimiser.lr_decay},
            synapses=self.synapses.to_dict(),
            class_names=list(dataset.class_names),
            synthetic=dataset.synthetic,
            data_metadata=dataset.metadata,
            run_config=self.config.recorded(),
            augmentation=augment.describe() if augment is not None else None,
            initialisation=initialisation,
        )

    def describe(self, samples: int, synthetic: bool, out: Any) -> str:
        """The line that opens the run."""
        config = self.config
        label = " (synthetic stand-in data)" if synthetic else ""
        network = config.network if config.nir is None else f"the network graph of {config.nir}"
        return (
            f"Training {network} with {config.rule} on the {self.engine_name} engine: P = {config.pes}, "
            f"G = {config.groups}, k = {config.sub_batch}, batch {self.train.batch_size}, {samples} training "
            f"samples per epoch{label}; {describe_synapses(self.synapses)}; run directory {out}"
        )


def _resized(network: Any, n_in: int, n_out: int) -> Any:
    """``network`` with ``n_in`` inputs and ``n_out`` outputs (a network with ``with_sizes``, or layer sizes)."""
    if hasattr(network, "with_sizes"):
        return network.with_sizes(n_in=n_in, n_out=n_out)
    return replace(network, sizes=(n_in, *network.sizes[1:-1], n_out))


def plan(config: RunConfig) -> Plan:
    """The :class:`Plan` of ``config`` (see the module docstring); a ConfigError names the setting that does not
    fit."""
    check_rule_settings(config)
    synapses = synapses_of_run(config)
    spec, backend = rule_and_backend(config.rule, config.engine)
    try:
        optimiser = OptimiserConfig(lr=config.lr, l2=config.l2, lr_decay=config.lr_decay,
                                    decay_every=config.decay_every)
        network, weights = graph_of_run(config, spec) if config.nir is not None else (spec.network_of(config), None)
        train = TrainConfig(epochs=config.epochs, batch_size=config.groups * config.sub_batch, seed=config.seed,
                            max_samples=config.max_samples, log_every=config.log_every)
    except ValueError as error:
        if isinstance(error, ConfigError):
            raise
        raise ConfigError(str(error)) from None
    dtype = np.dtype(config.dtype).type
    return Plan(config, spec, backend, network, optimiser, synapses, train, dtype, weights)


def graph_of_run(config: Any, spec: Rule) -> tuple[Any, dict[str, np.ndarray]]:
    """The network graph of the run's ``nir`` file read at ``nir_dt`` with ``nir_reset``, compiled for the run's
    rule, and its weights; a ConfigError names ``nir`` when the file does not read or the rule cannot train it
    (with the reason)."""
    from pe_actors.interop.nir import NIRError, from_nir
    from pe_actors.networks import NetworkError

    reset = {"value": ("value", False), "subtract": ("subtract", False), "subtract-delayed": ("subtract", True),
             None: (None, False)}[config.nir_reset]
    try:
        imported = from_nir(config.nir, dt=config.nir_dt, reset=reset[0], reset_delayed=reset[1])
    except NIRError as error:
        raise ConfigError(f"--nir {config.nir}: {error}", "nir") from None
    graph = getattr(imported.network, "network", imported.network)
    try:
        compiled = spec.compile(graph, config)
    except NetworkError as error:
        raise ConfigError(f"--nir {config.nir}: the {spec.name} rule cannot train this network: {error}",
                          "nir") from None
    backend = rule_and_backend(config.rule, config.engine)[1]
    if backend in PE_BACKENDS:
        schedule = config.schedule if spec.takes("schedule", backend) else None
        try:  # the group must fit the graph's populations, and hold its synapses
            group_program(compiled, config.pes, synapses=synapses_of_run(config), schedule=schedule)
        except ValueError as error:
            text = str(error)
            name = ("schedule" if schedule is not None and "schedule" in text else
                    "synapses" if "synapses" in text or "drift" in text else "pes")
            raise ConfigError(f"--{name.replace('_', '-')} {getattr(config, name)}: {text}", name) from None
    return compiled, imported.params


def check_rule_settings(config: RunConfig) -> None:
    """Settings that the chosen rule cannot take are ConfigErrors naming the setting: a network, engine or
    synapse kind it does not have, a setting of another rule, a schedule its PEs do not take."""
    spec = rule(config.rule)
    networks = spec.networks.resolve()
    if config.nir is not None:
        _check_graph_run(config, spec)
    elif config.network not in networks:
        raise ConfigError(
            f"the {config.rule} rule trains the network(s) {sorted(networks)}, not {config.network!r}", "network"
        )
    try:
        _, backend = rule_and_backend(config.rule, config.engine)
    except ValueError as error:
        raise ConfigError(str(error), "engine") from None
    if config.monitor and backend != PE_BACKENDS[1]:
        raise ConfigError("--monitor watches the PE actors' Ray metrics; use it with --engine actors", "monitor")
    if not spec.backend(backend).holds(config.synapses):
        kinds = " or ".join(spec.backend(backend).synapse_kinds())
        raise ConfigError(
            f"--synapses {config.synapses} needs another engine or rule; the {config.rule} rule trains {kinds} "
            f"weights on {backend}",
            "synapses",
        )
    check_schedule(config.schedule, config.rule)
    for name in rule_settings():
        if name not in spec.setting_names and getattr(config, name) is not None:
            owner = next(rule(n) for n in rule_names() if name in rule(n).setting_names)
            raise ConfigError(f"{flag(name)} is {owner.option_phrase()}; give it with --rule {owner.name}", name)


def _check_graph_run(config: RunConfig, spec: Rule) -> None:
    """A run of a ``nir`` graph needs a rule and an engine that train network graphs."""
    if spec.graph is None:
        raise ConfigError(f"the {config.rule} rule trains its own networks, not a --nir graph", "nir")
    try:
        _, backend = rule_and_backend(config.rule, config.engine)
    except ValueError as error:
        raise ConfigError(str(error), "engine") from None
    if not spec.backend(backend).graphs:
        graphs = [b.name for b in spec.backends if b.graphs]
        raise ConfigError(f"--engine {backend} trains the {config.rule} rule's own networks; a --nir graph trains on "
                          f"{' or '.join(graphs)}", "engine")


def synapses_of_run(config: Any) -> SynapseConfig:
    """Where the weights of the run live (``config``: a RunConfig, or any object with its synapse settings); a
    device setting given for synapses that do not take it is a ConfigError naming it."""
    allowed = synapse_settings(config.synapses)
    for name in DEVICE_FIELDS + PCM_FIELDS:
        if getattr(config, name) is not None and name not in allowed:
            takers = " or ".join(kind for kind in kind_names() if name in synapse_settings(kind))
            raise ConfigError(f"{flag(name)} applies to --synapses {takers}, not {config.synapses}", name)
    given = {key: getattr(config, name) for key, name in SYNAPSE_SETTINGS.items() if getattr(config, name) is not None}
    try:
        return SynapseConfig(kind=config.synapses, seed=config.seed, **given)
    except ValueError as error:
        raise ConfigError(str(error), "synapses") from None


def describe_synapses(config: SynapseConfig) -> str:
    """One line naming the synapses, for the start of a run."""
    if not config.devices:
        return f"{config.kind} synapses"
    text = f"{config.kind} synapses, {config.bits} bits per device, g_max {config.g_max:g} uS"
    if "drift" in synapse_settings(config.kind):
        text += (
            f", noise scales programming {config.prog_noise:g} / drift {config.drift:g} / read {config.read_noise:g}"
            f", drift compensation {'on' if config.drift_compensation else 'off'}"
        )
    return text
