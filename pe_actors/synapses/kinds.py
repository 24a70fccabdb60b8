"""The synapse kinds: the registry of the stores a PE's weights can live in (docs/synapses.md).

A kind is declared once, as a :class:`SynapseKind`: its name, what it models, the store class, whether it holds
devices (then its store is built over the arrays' :class:`~pe_actors.synapses.store.Layout` and each matrix's clip
range) and which of :class:`~pe_actors.synapses.config.SynapseConfig`'s device settings it takes. The project's
kinds are ``digital``, ``quantised`` and ``pcm``; an installed package adds one through the entry points
``pe_actors.synapses`` (``name = "package.module:KIND"``), a session or a test through :func:`register_kind`.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pe_actors.core.plugins import Registry

#: The entry-point group through which an installed package adds synapse kinds.
ENTRY_POINTS = "pe_actors.synapses"
#: The settings of a store of device pairs: precision, conductance range, clip range, device time per sample.
DEVICE_SETTINGS = ("bits", "g_max", "clip_sd", "sample_s")
#: The settings of the PCM device model besides those: its three noise scales and global drift compensation.
PCM_SETTINGS = ("prog_noise", "drift", "read_noise", "drift_compensation")


@dataclass(frozen=True)
class SynapseKind:
    """A synapse kind (see the module docstring). ``store`` is the store class, or ``"module:Class"`` imported on
    first use; it is built as ``store(arrays, optimiser)`` or, for a kind of ``devices``,
    ``store(arrays, optimiser, config, layout, w_max)``, and answers the
    :class:`~pe_actors.synapses.store.SynapseStore` protocol."""

    name: str
    description: str
    store: Callable[..., Any] | str
    devices: bool = True
    settings: tuple[str, ...] = DEVICE_SETTINGS

    def store_class(self) -> Callable[..., Any]:
        """The store class, imported if it was named."""
        if not isinstance(self.store, str):
            return self.store
        module, name = self.store.split(":")
        return getattr(importlib.import_module(module), name)


_BUILTIN = (
    SynapseKind("digital", "float arrays, the weights themselves", "pe_actors.synapses.digital:DigitalStore",
                devices=False, settings=()),
    SynapseKind(
        "quantised",
        "noise-free differential pairs of devices with 2^bits levels",
        "pe_actors.synapses.quantised:QuantisedStore",
    ),
    SynapseKind(
        "pcm",
        "phase-change-memory pairs with programming noise, drift and 1/f read noise",
        "pe_actors.synapses.pcm.store:PCMStore",
        settings=DEVICE_SETTINGS + PCM_SETTINGS,
    ),
)
#: The project's kinds, by name.
BUILTIN_KINDS = tuple(kind.name for kind in _BUILTIN)
#: Every synapse kind: the project's, the entry points', the registered ones.
KINDS_REGISTRY: Registry[SynapseKind] = Registry(
    "synapse kind", ENTRY_POINTS, SynapseKind, {kind.name: (lambda kind=kind: kind) for kind in _BUILTIN}
)


def register_kind(kind: SynapseKind) -> SynapseKind:
    """Add ``kind`` to the registry; a ValueError when another kind has its name."""
    return KINDS_REGISTRY.register(kind.name, kind)


def kind_names() -> tuple[str, ...]:
    """Every synapse kind's name: the project's, the entry points', the registered ones."""
    return KINDS_REGISTRY.names()


def synapse_kind(name: str) -> SynapseKind:
    """The synapse kind called ``name``; a ValueError lists the kinds otherwise."""
    return KINDS_REGISTRY.get(name)
