"""Phase-change-memory synapses: the device model and the store of differential device pairs (docs/synapses.md)."""

from pe_actors.synapses.pcm.model import PCMModel

__all__ = ["PCMModel"]
