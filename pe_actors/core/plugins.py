"""Entry points: how an installed package adds a rule, a synapse kind or a data source (docs/architecture.md)."""

from __future__ import annotations

import sys
from functools import lru_cache
from importlib.metadata import EntryPoint, entry_points


def entry_point_table(group: str) -> dict[str, EntryPoint]:
    """The entry points of ``group`` by name. Scanning the installed distributions takes milliseconds and the
    registries ask often, so the table is kept per import path: a folder added to ``sys.path`` is seen."""
    return _table(group, tuple(sys.path))


@lru_cache(maxsize=32)
def _table(group: str, path: tuple[str, ...]) -> dict[str, EntryPoint]:
    return {point.name: point for point in entry_points(group=group)}
