"""The PE runtime: PE programs' channels and phases, the one step loop, the transports (in-process lists, the
shared-memory mailbox, Ray calls), the PE actor hosting any program, and groups of actors (docs/runtime.md).

The only package of pe_actors that imports Ray, and only in :mod:`pe_actors.runtime.engine` and
:mod:`pe_actors.runtime.metrics`: the step loop and the program declarations are plain Python, so the in-process
engines use them without Ray. Ray must be initialised before an :class:`ActorEngine` starts, for example by
:func:`pe_actors_launcher.ray_session.start_ray`, which declares the ``pe`` resource the placement groups use.
"""

from __future__ import annotations

from typing import Any

_RAY_NAMES = ("TRANSPORTS", "ActorEngine", "PEGroupError")

__all__ = list(_RAY_NAMES)


def __getattr__(name: str) -> Any:
    # Importing Ray costs seconds and memory: load the actor engine only when it is asked for.
    if name in _RAY_NAMES:
        from pe_actors.runtime import engine

        return getattr(engine, name)
    raise AttributeError(f"module 'pe_actors.runtime' has no attribute {name!r}")
