"""The learning rules, side by side: e-prop (:mod:`pe_actors.rules.eprop`) and EventProp
(:mod:`pe_actors.rules.eventprop`). Each has a network description (its config), its numerics, a fast
off-chip engine and its PE program; :func:`group_program` picks the program for a network description."""

from __future__ import annotations

from typing import Any


def group_program(
    config: Any, n_pes: int | list[int], sizes: list[int] | None = None, synapses: Any = None, kernel: str = "numba"
) -> Any:
    """The group program (channels, phases, PE programs) of the rule whose network ``config`` describes: an
    e-prop :class:`~pe_actors.rules.eprop.config.NetworkConfig` on ``n_pes`` PEs (optionally with explicit ``sizes``),
    or an EventProp :class:`~pe_actors.rules.eventprop.config.EventPropConfig` with ``n_pes`` PEs per layer (one int for
    every layer, or a list of per-layer counts). ``synapses`` (a :class:`~pe_actors.synapses.SynapseConfig`, None:
    digital) says where the weights live; device synapses are built for e-prop. ``kernel`` is the e-prop PEs'
    per-synapse implementation (:data:`pe_actors.rules.eprop.pe.KERNELS`)."""
    from pe_actors.rules.eprop.config import NetworkConfig
    from pe_actors.rules.eventprop.config import EventPropConfig
    from pe_actors.synapses import DIGITAL

    if isinstance(config, NetworkConfig):
        from pe_actors.rules.eprop.program import EpropGroup

        return EpropGroup(config, n_pes, sizes, kernel=kernel, synapses=synapses or DIGITAL)
    if isinstance(config, EventPropConfig):
        if synapses is not None and synapses.kind != "digital":
            raise ValueError(f"{synapses.kind} synapses are built for e-prop; EventProp trains digital weights")
        from pe_actors.rules.eventprop.program import EventPropGroup

        return EventPropGroup(config, n_pes)
    raise TypeError(f"no learning rule takes a network description of type {type(config).__name__}")
