"""Engines: what the trainer, adaptation and evaluation talk to. Every engine answers the protocol of
:class:`pe_actors.core.engine.Engine` (``train_batch``, ``predict``, ``params``, ``state``, ``load_state``, device
time and writes, ``with engine:``) whatever rule and runtime it wraps; :func:`make`, :func:`from_checkpoint` and
:func:`from_loaded` (:mod:`pe_actors.engines.registry`) are the way to build one."""

from __future__ import annotations

from typing import Any

__all__ = ["BatchResult", "Engine", "from_checkpoint", "from_loaded", "make", "table"]


def __getattr__(name: str) -> Any:
    # The registry imports checkpoints and rules' declarations; load it on first use.
    if name in ("make", "from_checkpoint", "from_loaded", "table"):
        from pe_actors.engines import registry

        return getattr(registry, name)
    if name in ("BatchResult", "Engine"):
        from pe_actors.core import engine

        return getattr(engine, name)
    raise AttributeError(f"module 'pe_actors.engines' has no attribute {name!r}")
