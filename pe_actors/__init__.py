"""pe-actors: on-chip learning rules (e-prop, EventProp) on simulated SpiNNaker 2 processing elements.

The rules (``rules.eprop``, ``rules.eventprop``), the synapse stores the PEs reach their weights through
(``synapses``: digital, quantised, PCM), their engines, training and studies are numpy and numba: they
never import Ray, click or librosa. ``runtime`` holds the PE runtime (programs, the one step loop, transports) and
is the only place that imports Ray, so the same PE programs run in-process, in Ray actors and in tests.
"""

from __future__ import annotations

import importlib
from typing import Any

_SOURCES = {
    "EPROP_NETWORKS": "pe_actors.rules.eprop.config",
    "EVENTPROP_NETWORKS": "pe_actors.rules.eventprop.networks",
    "EpropConfig": "pe_actors.rules.eprop.config",
    "EventPropConfig": "pe_actors.rules.eventprop.config",
    "InProcessEngine": "pe_actors.engines.inprocess",
    "Model": "pe_actors.run.model",
    "NETWORKS": "pe_actors.rules.eprop.config",
    "NetworkConfig": "pe_actors.rules.eprop.config",
    "OffchipEngine": "pe_actors.rules.eventprop.offchip",
    "OptimiserConfig": "pe_actors.core.optimiser",
    "PCMModel": "pe_actors.synapses",
    "PE": "pe_actors.rules.eprop.pe",
    "ReplayEngine": "pe_actors.rules.eprop.replay",
    "adapt": "pe_actors.api",
    "Run": "pe_actors.run.rundir",
    "RunConfig": "pe_actors.run.config",
    "SynapseConfig": "pe_actors.synapses",
    "bptt_gradients": "pe_actors.rules.eprop.gradients",
    "encode": "pe_actors.rules.eventprop.encoding",
    "eprop_gradients": "pe_actors.rules.eprop.gradients",
    "evaluate": "pe_actors.run.evaluation",
    "eventprop_gradients": "pe_actors.rules.eventprop.gradients",
    "from_nir": "pe_actors.interop.nir",
    "to_nir": "pe_actors.interop.nir",
    "init_eprop_params": "pe_actors.rules.eprop.gradients",
    "init_eventprop_params": "pe_actors.rules.eventprop.network",
    "init_params": "pe_actors.rules.eprop.gradients",
    "learning_rate": "pe_actors.core.optimiser",
    "Network": "pe_actors.networks",
    "NetworkBuilder": "pe_actors.networks",
    "load": "pe_actors.run.model",
    "network_config": "pe_actors.rules.eprop.config",
    "simulate": "pe_actors.run.simulate",
    "split_neurons": "pe_actors.core.partition",
    "train": "pe_actors.api",
}

__all__ = [
    "EPROP_NETWORKS",
    "EVENTPROP_NETWORKS",
    "NETWORKS",
    "EpropConfig",
    "EventPropConfig",
    "InProcessEngine",
    "Model",
    "Network",
    "NetworkBuilder",
    "NetworkConfig",
    "OffchipEngine",
    "OptimiserConfig",
    "PCMModel",
    "PE",
    "ReplayEngine",
    "Run",
    "RunConfig",
    "SynapseConfig",
    "adapt",
    "bptt_gradients",
    "encode",
    "eventprop_gradients",
    "eprop_gradients",
    "from_nir",
    "init_eprop_params",
    "init_eventprop_params",
    "init_params",
    "learning_rate",
    "load",
    "network_config",
    "simulate",
    "split_neurons",
    "to_nir",
    "train",
]


def __getattr__(name: str) -> Any:
    # The names load on first use: a PE actor process imports pe_actors.runtime.actor, and with it this package,
    # and must not pay for numba, the trainer or the engines it does not run (docs/runtime.md, "Memory per actor").
    source = _SOURCES.get(name)
    if source is None:
        raise AttributeError(f"module 'pe_actors' has no attribute {name!r}")
    value = getattr(importlib.import_module(source), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
