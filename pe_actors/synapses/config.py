"""Where a network's weights live: the synapse store's settings (docs/synapses.md)."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from pe_actors.core.fields import from_plain_dict
from pe_actors.synapses.kinds import kind_names, synapse_kind

#: The synapse stores: float arrays (``digital``), noise-free quantised device pairs (``quantised``), and
#: phase-change-memory device pairs with programming noise, drift and read noise (``pcm``).
KINDS = ("digital", "quantised", "pcm")


@dataclass(frozen=True)
class SynapseConfig:
    """Settings of the synapse store every PE reaches its weights through (docs/synapses.md).

    Attributes:
        kind: a registered synapse kind (:func:`pe_actors.synapses.kinds.kind_names`).
        bits: device precision; each device of a differential pair takes one of 2^bits conductance levels in
            [0, g_max] (``quantised`` and ``pcm``).
        prog_noise, drift, read_noise: scales of the PCM programming noise, drift exponents and 1/f read noise
            (1 is the device model, 0 turns the effect off).
        g_max: the largest device conductance in microsiemens.
        drift_compensation: scale each matrix's read by the ratio of its programmed to its read conductance sum.
        clip_sd: the clip range w_max of each matrix, in standard deviations of the weights the devices are
            first programmed with; W = (G+ - G-) w_max / g_max.
        sample_s: device time that passes per training sample (a GSC clip lasts 1 s).
        seed: seeds the device noise (each neuron's devices draw numbers of their own, so every engine and PE split
            draws the same; docs/synapses.md, "Noise streams").
    """

    kind: str = "digital"
    bits: int = 4
    prog_noise: float = 1.0
    drift: float = 1.0
    read_noise: float = 1.0
    g_max: float = 25.0
    drift_compensation: bool = False
    clip_sd: float = 10.0
    sample_s: float = 1.0
    seed: int = 0

    def __post_init__(self) -> None:
        if self.kind not in kind_names():
            raise ValueError(f"SynapseConfig.kind must be one of {list(kind_names())}, got {self.kind!r}")
        if not isinstance(self.bits, int) or isinstance(self.bits, bool) or not 1 <= self.bits <= 16:
            raise ValueError(f"SynapseConfig.bits must be an integer in [1, 16], got {self.bits!r}")
        for name in ("prog_noise", "drift", "read_noise", "sample_s"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
                raise ValueError(f"SynapseConfig.{name} must be a finite number >= 0, got {value!r}")
        for name in ("g_max", "clip_sd"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
                raise ValueError(f"SynapseConfig.{name} must be a finite number > 0, got {value!r}")
        if not isinstance(self.drift_compensation, bool):
            raise ValueError(f"SynapseConfig.drift_compensation must be true or false, got {self.drift_compensation!r}")
        if not isinstance(self.seed, int) or isinstance(self.seed, bool) or not 0 <= self.seed < 2**63:
            raise ValueError(f"SynapseConfig.seed must be an integer in [0, 2^63), got {self.seed!r}")

    @property
    def levels(self) -> int:
        """Conductance levels per device, 2^bits."""
        return 2**self.bits

    @property
    def devices(self) -> bool:
        """True when the weights live in devices (every kind but ``digital``)."""
        return synapse_kind(self.kind).devices

    @property
    def compensating(self) -> bool:
        """True when reads are drift-compensated (``drift_compensation`` on a kind that takes it, PCM)."""
        return self.drift_compensation and "drift_compensation" in synapse_kind(self.kind).settings

    def to_dict(self) -> dict[str, Any]:
        """Plain-dict form, for run configs and checkpoint metadata."""
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> SynapseConfig:
        """Inverse of :meth:`to_dict`; unknown keys raise a ValueError that lists the valid ones."""
        return from_plain_dict(cls, values)


DIGITAL = SynapseConfig()
