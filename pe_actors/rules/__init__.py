"""The learning rules, side by side: e-prop (:mod:`pe_actors.rules.eprop`) and EventProp
(:mod:`pe_actors.rules.eventprop`), and the registry that finds them and any a plug-in adds. Each rule declares,
beside its numerics, a :class:`Rule` that answers every question the layers above ask about it: its network
description and named networks, how a run's settings build its network, the settings only it takes, its recipes
and run defaults, its default data and input encoding, its initial weights and their shapes, its PE program and
the backends it runs on, its adaptation defaults, its memory per PE and how much of a trained network is silent.
Nothing above this package compares a rule's name. The engine registry (:mod:`pe_actors.engines.registry`) builds
engines from these declarations.

A rule is found by name (:func:`rule`): the built-in ones, those of the entry points ``pe_actors.rules`` (a
package outside the project declares ``name = "package.module:RULE"``), and those given to :func:`register`.
Everything is imported on first use, so that a PE actor loads only the program it runs.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from pe_actors.core.plugins import Registry

#: The rules of the project, by the name runs and checkpoints record.
RULE_NAMES = ("eprop", "eventprop")
#: Backends every rule with a PE program has: the runtime hosts the program (in this process, or one Ray actor per
#: PE); the others are a rule's own off-chip engines.
PE_BACKENDS = ("inprocess", "actors")
#: The entry-point group through which an installed package adds rules.
ENTRY_POINTS = "pe_actors.rules"
#: A backend's synapses that are every registered synapse kind (:func:`pe_actors.synapses.kind_names`).
ANY_SYNAPSES = ("*",)


@dataclass(frozen=True)
class Lazy:
    """``module.name``, imported when first called or resolved (keeps numba and the engines out of processes
    that do not use them)."""

    module: str
    name: str

    def resolve(self) -> Any:
        """The object ``module.name``."""
        return getattr(importlib.import_module(self.module), self.name)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.resolve()(*args, **kwargs)


@dataclass(frozen=True)
class Backend:
    """One way to run a rule: ``build`` (None for the PE backends, which the registry builds around the rule's
    group program) takes ``(network, params, optimiser, **options)``; ``options`` names what it takes besides the
    placement (``pes``, ``groups``, ``sub_batch``, which never change results); ``synapses`` the synapse kinds it
    can hold (:data:`ANY_SYNAPSES`: every registered kind)."""

    name: str
    description: str
    options: frozenset[str] = frozenset()
    synapses: tuple[str, ...] = ("digital",)
    build: Lazy | None = None
    #: Whether it trains network graphs (:class:`pe_actors.networks.Network`) the rule compiles.
    graphs: bool = False

    def holds(self, kind: str) -> bool:
        """True when this backend can hold synapses of ``kind``."""
        return self.synapses == ANY_SYNAPSES or kind in self.synapses

    def synapse_kinds(self) -> tuple[str, ...]:
        """The synapse kinds this backend holds, by name."""
        if self.synapses != ANY_SYNAPSES:
            return self.synapses
        from pe_actors.synapses import kind_names

        return kind_names()


@dataclass(frozen=True)
class DataDefaults:
    """Where a rule's runs take their data when the run names none, and how data reach its network.

    Attributes:
        source: the data source (entry point ``pe_actors.data``) of a run without ``data``.
        folder: the data source that reads a run's ``data`` folder.
        description: how a run names its default data in messages ("the stand-in").
        encode: ``encode(features, network) -> inputs``, the input code the rule's network reads the sources'
            features through (EventProp's latency code); None: the features are the input.
        event_binning: ``event_binning(network) -> (bin_ms, steps)``, how event data (SHD) are binned for it.
    """

    source: str
    folder: str
    description: str
    event_binning: Lazy
    encode: Lazy | None = None


@dataclass(frozen=True)
class AdaptationDefaults:
    """What learns and what guards the original task when an adaptation run does not say (docs/adaptation.md):
    the weight arrays left ``frozen``, an original-task sample rehearsed after every ``rehearse_every`` adaptation
    samples (0: none) and the batch-1 learning rate ``lr(network)`` (``lr_text`` states it for ``--help``)."""

    frozen: tuple[str, ...]
    rehearse_every: int
    lr: Lazy
    #: The learning rate as ``--help`` states it.
    lr_text: str = ""


@dataclass(frozen=True)
class Rule:
    """What a learning rule declares (see the module docstring).

    Attributes:
        name, title, description: how runs and checkpoints name it, how messages name it ("EventProp"), and what
            ``--help`` says of it.
        network_type, networks: its network description type and its named networks.
        network_of: ``network_of(config) -> network``: the network a run's settings (a
            :class:`~pe_actors.run.config.RunConfig` or any object with its attributes) describe; a
            :class:`~pe_actors.core.settings.ConfigError` names the setting that does not fit.
        settings: the section of run settings only this rule takes, a frozen
            :class:`~pe_actors.core.settings.Settings` dataclass (each setting with its default, range and help;
            another rule's run refuses them by name); None: none.
        recipes: ``{name: settings}``, the rule's named recipes.
        run_defaults: ``run_defaults(explicit) -> settings`` that a run of this rule starts from, under the
            settings given ``explicit``-ly; None: the run configuration's own defaults.
        aliases: other names a run may give this rule, each choosing one of its backends (e-prop's ``bptt``).
        init_params, weight_shapes: initial weights ``init_params(network, seed, dtype)`` and their shapes
            ``weight_shapes(network) -> {name: shape}``, known without drawing any.
        group: its group program ``group(network, n_pes, sizes, synapses, kernel[, schedule])``.
        backends: where it runs; ``offchip`` the backend that evaluates a trained network fastest.
        data: its :class:`DataDefaults`; ``adaptation`` its :class:`AdaptationDefaults`.
        memory: ``memory(network, pes, synapses, dtype) -> rows``, the bytes each PE allocates while learning at
            batch 1 (dicts with ``label``, ``total_bytes`` and ``bytes_by_category``), and ``memory_categories``
            the categories in the order reports draw them; ``run_memory(network, batch, itemsize, generated)
            -> {part: bytes}`` the working set of a training run, estimated before anything is allocated;
            ``paper_memory(n_in, n_rec, n_out, n_steps, n_own) -> {category: 32-bit words}`` (None: none) the count
            of one PE's memory in the rule's paper, which ``pe-actors memory`` prints beside the measured bytes.
        record: ``record(params, x, network) -> (populations, logits)``: the network run on inputs ``x`` (batch,
            T, n_in), every population by name with its recorded variables (``spikes``, ``v``, ...), each (batch,
            T, neurons), and the class scores; ``example_input(network, seed)`` one typical input (1, T, n_in).
        schedules: how its PEs may exchange packets (the first: the chip's, a round per time step; EventProp also
            ``layered``), which the backends that take a ``schedule`` choose from.
        nir: its :class:`~pe_actors.core.nirgraph.NIRForm` (None: its networks have none), how ``to_nir`` and
            ``from_nir`` write and read them.
        silence: None when the rule has none, ``silence(params, x, labels, network) -> {name: fraction}``: how
            much of a trained network has fallen silent, which a run reports after every epoch.
        input_targets: ``input_targets(network) -> {weight key: population}``: the weights that carry the input
            and the spiking population each drives (by its ``record`` name), which an initialisation from the data
            scales (None: the rule's runs are not scaled).
        health: ``health(network) -> {sign: (population, advice)}``: for each sign of a dead run
            (:mod:`pe_actors.training.callbacks.health`), the population it concerns and the settings to change.
        graph: None when the rule trains only its own networks, else the type that compiles a network graph
            (:class:`pe_actors.networks.Network`) for it, ``graph(network)``, refusing with the reason what it
            cannot train (a :class:`~pe_actors.networks.NetworkError`); the backends marked ``graphs`` train it.
    """

    name: str
    title: str
    description: str
    network_type: Lazy
    networks: Lazy
    network_of: Lazy
    init_params: Lazy
    weight_shapes: Lazy
    group: Lazy
    backends: tuple[Backend, ...]
    offchip: str
    recipes: Lazy
    data: DataDefaults
    adaptation: AdaptationDefaults
    memory: Lazy
    memory_categories: Lazy
    run_memory: Lazy
    record: Lazy
    example_input: Lazy
    settings: type | None = None
    run_defaults: Lazy | None = None
    paper_memory: Lazy | None = None
    nir: Lazy | None = None
    schedules: tuple[str, ...] = ("pipelined",)
    aliases: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    silence: Lazy | None = None
    graph: Lazy | None = None
    health: Lazy | None = None
    input_targets: Lazy | None = None

    def network_types(self) -> tuple[type, ...]:
        """The network descriptions this rule's engines take: its own type and its compiled graphs'."""
        return (self.network_type.resolve(),) + (() if self.graph is None else (self.graph.resolve(),))

    def compile(self, network: Any, settings: Any = None) -> Any:
        """``network`` as this rule trains it: a network graph compiled by :attr:`graph` (a NetworkError says
        why not) with what of a run's ``settings`` the rule's graphs take (EventProp: its loss), anything else as
        it is."""
        from pe_actors.networks import Network, NetworkError

        if not isinstance(network, Network):
            return network
        if self.graph is None:
            raise NetworkError(f"the {self.name} rule trains its own networks, not network graphs")
        return self.graph.resolve().compile(network, settings)

    def network_from_dict(self, values: Mapping[str, Any]) -> Any:
        """The network description whose plain form is ``values`` (a network graph's or the rule's own)."""
        from pe_actors.networks import is_graph

        if is_graph(values):
            if self.graph is None:
                raise ValueError(f"the {self.name} rule trains no network graphs")
            return self.graph.resolve().from_dict(values)
        return self.network_type.resolve().from_dict(values)

    def default_backend(self, network: Any) -> str:
        """Where a trained ``network`` is evaluated fastest: :attr:`offchip`, or for a compiled graph that the
        off-chip engine does not train, the first backend that trains graphs."""
        compiled = self.graph is not None and isinstance(network, self.graph.resolve())
        if compiled and not self.backend(self.offchip).graphs:
            return next(b.name for b in self.backends if b.graphs)
        return self.offchip

    def backend(self, name: str) -> Backend:
        """The backend called ``name`` (``offchip``: :attr:`offchip`); a ValueError lists this rule's backends and
        names its off-chip engine otherwise."""
        name = self.offchip if name == "offchip" else name
        for backend in self.backends:
            if backend.name == name:
                return backend
        valid = [b.name for b in self.backends]
        raise ValueError(f"the {self.name} rule runs on the backends {valid}, not {name!r}; {self.title}'s off-chip "
                         f"engine is {self.offchip} (--engine offchip names it for any rule)")

    @property
    def backend_names(self) -> tuple[str, ...]:
        """The names of this rule's backends."""
        return tuple(b.name for b in self.backends)

    def pe_synapses(self) -> tuple[str, ...]:
        """The synapse kinds this rule's PE programs hold."""
        kinds = [k for b in self.backends if b.name in PE_BACKENDS for k in b.synapse_kinds()]
        return tuple(dict.fromkeys(kinds))

    @property
    def setting_names(self) -> tuple[str, ...]:
        """The names of the settings only this rule takes."""
        return () if self.settings is None else self.settings.names()

    def option_phrase(self) -> str:
        """"an e-prop option", "an EventProp option": how messages name a setting only this rule takes."""
        article = "an" if self.title[:1].lower() in "aeiou" else "a"
        return f"{article} {self.title} option"

    def takes(self, option: str, backend: str) -> bool:
        """True when ``backend`` of this rule takes ``option`` (``schedule``, ``kernel``, ...)."""
        return option in self.backend(backend).options


def _builtin(name: str) -> Any:
    return lambda: importlib.import_module(f"pe_actors.rules.{name}").RULE


#: Every rule: the project's (imported on first use), the entry points', the registered ones.
RULES: Registry[Rule] = Registry("learning rule", ENTRY_POINTS, Rule, {name: _builtin(name) for name in RULE_NAMES})


def register(rule: Rule) -> Rule:
    """Add ``rule`` to the registry (for rules defined in a session or a test; an installed package declares an
    entry point ``pe_actors.rules`` instead); a ValueError when its name or an alias is taken by another rule."""
    taken = {alias for name in rule_names() for alias in _find(name).aliases}
    clash = sorted(({rule.name} | set(rule.aliases)) & taken)
    if clash:
        raise ValueError(f"cannot register rule {rule.name!r}: {clash} already name a rule")
    return RULES.register(rule.name, rule)


def rule_names() -> tuple[str, ...]:
    """Every rule's name: the project's, the entry points', the registered ones."""
    return RULES.names()


def run_rule_names() -> tuple[str, ...]:
    """The names a run may give its rule: every rule's name and alias (``bptt``)."""
    return tuple(dict.fromkeys(n for name in rule_names() for n in (name, *_find(name).aliases)))


def _find(name: str) -> Rule:
    try:
        return RULES.get(name)
    except ValueError:
        raise ValueError(f"unknown learning rule {name!r}; the rules are {list(run_rule_names())}") from None


def rule(name: str) -> Rule:
    """The rule called ``name`` or having it as an alias (``bptt``: e-prop); a ValueError lists the rules
    otherwise."""
    if name in rule_names():
        return _find(name)
    for candidate in rule_names():
        if name in _find(candidate).aliases:
            return _find(candidate)
    raise ValueError(f"unknown learning rule {name!r}; the rules are {list(run_rule_names())}")


def rule_and_backend(name: str, engine: str) -> tuple[Rule, str]:
    """The rule a run names ``name`` and the backend it runs on: an alias chooses its own (``bptt``), ``engine``
    is one of the rule's backends or ``offchip`` (the rule's fast off-chip engine); a ValueError lists them."""
    found = rule(name)
    if name in found.aliases:
        return found, found.aliases[name]
    return found, found.backend(engine).name


def rule_of(network: Any) -> Rule:
    """The rule whose network description ``network`` is; a TypeError otherwise."""
    for name in rule_names():
        candidate = _find(name)
        if isinstance(network, candidate.network_types()):
            return candidate
    raise TypeError(f"no learning rule takes a network description of type {type(network).__name__}")


def group_program(
    config: Any,
    n_pes: int | list[int],
    sizes: list[int] | None = None,
    synapses: Any = None,
    kernel: str = "numba",
    schedule: str | None = None,
    sub_batch: int | None = None,
) -> Any:
    """The group program (channels, phases, PE programs) of the rule whose network ``config`` describes: an
    e-prop :class:`~pe_actors.rules.eprop.config.NetworkConfig` on ``n_pes`` PEs (optionally with explicit ``sizes``),
    or an EventProp :class:`~pe_actors.rules.eventprop.config.EventPropConfig` with ``n_pes`` PEs per layer (one int for
    every layer, or a list of per-layer counts). ``synapses`` (a :class:`~pe_actors.synapses.SynapseConfig`, None:
    digital) says where the weights live. ``kernel`` is the per-synapse implementation of a rule whose PEs take one
    (e-prop: :data:`pe_actors.rules.eprop.pe.KERNELS`, or ``auto``, chosen for PEs running ``sub_batch`` samples).
    ``schedule`` (None: the rule's only or default one) is how the PEs
    of a rule whose backends take a ``schedule`` exchange packets (EventProp:
    :data:`pe_actors.rules.eventprop.config.SCHEDULES`); a rule without one (e-prop's recurrent network needs every
    step's spikes) refuses it."""
    from pe_actors.synapses import DIGITAL

    synapses = synapses or DIGITAL
    owner = rule_of(config)
    kinds = owner.pe_synapses()
    if synapses.kind not in kinds:
        raise ValueError(f"the {owner.name} rule's PEs hold {sorted(kinds)} synapses, not {synapses.kind}")
    options: dict[str, Any] = {"sub_batch": sub_batch} if owner.takes("kernel", PE_BACKENDS[0]) else {}
    if schedule is not None:
        if not owner.takes("schedule", PE_BACKENDS[0]):
            raise ValueError(f"the {owner.name} rule's PEs have one schedule; schedule applies to other rules")
        options["schedule"] = schedule
    return owner.group(config, n_pes, sizes=sizes, synapses=synapses, kernel=kernel, **options)
