"""Engines: what the trainer talks to. Every engine answers ``train_batch``, ``predict``, ``params``, ``state`` and
``load_state`` (:class:`pe_actors.engines.protocol.Engine`) whatever rule and runtime it wraps."""

from pe_actors.engines.protocol import BatchResult, Engine

__all__ = ["BatchResult", "Engine"]
