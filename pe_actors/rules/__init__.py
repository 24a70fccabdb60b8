"""The learning rules, side by side: e-prop (:mod:`pe_actors.rules.eprop`) and EventProp
(:mod:`pe_actors.rules.eventprop`). Each rule declares, beside its numerics, a :class:`Rule`: its network
description, its named networks, its initial weights, its PE program and the backends it runs on (its own
off-chip engines, and the runtime's in-process group and PE actors, which host its program). The engine registry
(:mod:`pe_actors.engines.registry`) builds engines from these declarations.

Everything is imported on first use, so that a PE actor loads only the program it runs.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

#: The rules, by the name runs and checkpoints record.
RULE_NAMES = ("eprop", "eventprop")
#: Backends every rule with a PE program has: the runtime hosts the program (in this process, or one Ray actor per
#: PE); the others are a rule's own off-chip engines.
PE_BACKENDS = ("inprocess", "actors")


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
    can hold."""

    name: str
    description: str
    options: frozenset[str] = frozenset()
    synapses: tuple[str, ...] = ("digital",)
    build: Lazy | None = None


@dataclass(frozen=True)
class Rule:
    """What a learning rule declares: its name, its network description type and named networks, its initial
    weights ``init_params(network, seed, dtype)``, its group program ``group(network, n_pes, synapses, kernel)``,
    its backends, ``offchip``, the backend that evaluates a trained network fastest, and ``silence`` (None when
    the rule has none), ``silence(params, x, labels, network) -> {name: fraction}``: how much of a trained network
    has fallen silent, which a run reports after every epoch."""

    name: str
    description: str
    network_type: Lazy
    networks: Lazy
    init_params: Lazy
    group: Lazy
    backends: tuple[Backend, ...]
    offchip: str
    silence: Lazy | None = None

    def backend(self, name: str) -> Backend:
        """The backend called ``name``; a ValueError lists this rule's backends otherwise."""
        for backend in self.backends:
            if backend.name == name:
                return backend
        valid = [b.name for b in self.backends]
        raise ValueError(f"the {self.name} rule runs on the backends {valid}, not {name!r}")

    @property
    def backend_names(self) -> tuple[str, ...]:
        """The names of this rule's backends."""
        return tuple(b.name for b in self.backends)


def rule(name: str) -> Rule:
    """The rule called ``name`` (one of :data:`RULE_NAMES`); a ValueError lists the rules otherwise."""
    if name not in RULE_NAMES:
        raise ValueError(f"unknown learning rule {name!r}; the rules are {list(RULE_NAMES)}")
    return importlib.import_module(f"pe_actors.rules.{name}").RULE


def rule_of(network: Any) -> Rule:
    """The rule whose network description ``network`` is; a TypeError otherwise."""
    for name in RULE_NAMES:
        candidate = rule(name)
        if isinstance(network, candidate.network_type.resolve()):
            return candidate
    raise TypeError(f"no learning rule takes a network description of type {type(network).__name__}")


def group_program(
    config: Any,
    n_pes: int | list[int],
    sizes: list[int] | None = None,
    synapses: Any = None,
    kernel: str = "numba",
    schedule: str | None = None,
) -> Any:
    """The group program (channels, phases, PE programs) of the rule whose network ``config`` describes: an
    e-prop :class:`~pe_actors.rules.eprop.config.NetworkConfig` on ``n_pes`` PEs (optionally with explicit ``sizes``),
    or an EventProp :class:`~pe_actors.rules.eventprop.config.EventPropConfig` with ``n_pes`` PEs per layer (one int for
    every layer, or a list of per-layer counts). ``synapses`` (a :class:`~pe_actors.synapses.SynapseConfig`, None:
    digital) says where the weights live. ``kernel`` is the e-prop PEs' per-synapse implementation
    (:data:`pe_actors.rules.eprop.pe.KERNELS`). ``schedule`` (None: the rule's only or default one) is how
    EventProp's PEs exchange packets (:data:`pe_actors.rules.eventprop.config.SCHEDULES`); e-prop's recurrent
    network needs every step's spikes, so it has no schedule to choose."""
    from pe_actors.synapses import DIGITAL

    synapses = synapses or DIGITAL
    owner = rule_of(config)
    kinds = {kind for backend in owner.backends if backend.name in PE_BACKENDS for kind in backend.synapses}
    if synapses.kind not in kinds:
        raise ValueError(f"the {owner.name} rule's PEs hold {sorted(kinds)} synapses, not {synapses.kind}")
    if schedule is None:
        return owner.group(config, n_pes, sizes=sizes, synapses=synapses, kernel=kernel)
    if owner.name != "eventprop":
        raise ValueError(f"the {owner.name} rule's PEs have one schedule; schedule applies to EventProp")
    return owner.group(config, n_pes, sizes=sizes, synapses=synapses, kernel=kernel, schedule=schedule)
