"""Synapse stores: where the PEs' weights live, and how they are read and written (docs/synapses.md)."""

from __future__ import annotations

import numpy as np

from pe_actors.core.optimiser import OptimiserConfig
from pe_actors.synapses.config import DIGITAL, KINDS, SynapseConfig
from pe_actors.synapses.digital import DigitalStore
from pe_actors.synapses.kinds import SynapseKind, kind_names, register_kind, synapse_kind
from pe_actors.synapses.mapping import clip_range
from pe_actors.synapses.pcm import PCMModel
from pe_actors.synapses.pcm.store import PCMStore
from pe_actors.synapses.quantised import QuantisedStore
from pe_actors.synapses.store import DriftCompensated, Layout, SynapseStore

__all__ = [
    "DIGITAL",
    "DriftCompensated",
    "KINDS",
    "DigitalStore",
    "Layout",
    "PCMModel",
    "PCMStore",
    "QuantisedStore",
    "SynapseConfig",
    "SynapseKind",
    "SynapseStore",
    "clip_range",
    "kind_names",
    "make_store",
    "register_kind",
    "synapse_kind",
]


def make_store(
    config: SynapseConfig,
    arrays: dict[str, np.ndarray],
    optimiser: OptimiserConfig | None,
    layout: Layout | None = None,
    w_max: dict[str, float] | None = None,
) -> SynapseStore:
    """The store of the kind ``config.kind`` names (:func:`synapse_kind`) over ``arrays``; stores of devices need
    the ``layout`` and each matrix's clip range ``w_max``."""
    kind = synapse_kind(config.kind)
    if not kind.devices:
        return kind.store_class()(arrays, optimiser)
    if layout is None or w_max is None:
        raise ValueError(f"a {config.kind} synapse store needs the arrays' layout and clip ranges")
    return kind.store_class()(arrays, optimiser, config, layout, w_max)
