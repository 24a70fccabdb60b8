"""Entry points: how an installed package adds a rule, a synapse kind or a data source (docs/architecture.md)."""

from __future__ import annotations

import sys
from collections.abc import Callable
from functools import lru_cache
from importlib.metadata import EntryPoint, entry_points
from typing import Generic, TypeVar

T = TypeVar("T")


def entry_point_table(group: str) -> dict[str, EntryPoint]:
    """The entry points of ``group`` by name. Scanning the installed distributions takes milliseconds and the
    registries ask often, so the table is kept per import path: a folder added to ``sys.path`` is seen."""
    return _table(group, tuple(sys.path))


@lru_cache(maxsize=32)
def _table(group: str, path: tuple[str, ...]) -> dict[str, EntryPoint]:
    return {point.name: point for point in entry_points(group=group)}


class Registry(Generic[T]):
    """Things of one kind found by name (rules, synapse kinds): the project's own (``builtin``: name -> a function
    giving the thing, so that it is imported on first use), those the entry points ``group`` declare, and those
    given to :meth:`register`; an unknown name is a ValueError listing the known ones."""

    def __init__(self, what: str, group: str, kind: type, builtin: dict[str, Callable[[], T]]) -> None:
        self.what, self.group, self.kind, self.builtin = what, group, kind, builtin
        self.registered: dict[str, T] = {}

    def names(self) -> tuple[str, ...]:
        """Every name: the project's, the entry points', the registered ones."""
        return tuple(dict.fromkeys([*self.builtin, *entry_point_table(self.group), *self.registered]))

    def get(self, name: str) -> T:
        """The thing called ``name``."""
        if name in self.registered:
            return self.registered[name]
        if name in self.builtin:
            return self.builtin[name]()
        points = entry_point_table(self.group)
        if name in points:
            found = points[name].load()
            if not isinstance(found, self.kind):
                raise TypeError(f"entry point {self.group}:{name} is a {type(found).__name__}, not a "
                                f"{self.kind.__name__}")
            return found
        raise ValueError(f"unknown {self.what} {name!r}; the {self.what}s are {list(self.names())}")

    def register(self, name: str, thing: T) -> T:
        """Add ``thing`` as ``name``; a ValueError when the name is another's."""
        if name in self.names() and self.get(name) is not thing:
            raise ValueError(f"cannot register {self.what} {name!r}: the name is taken")
        self.registered[name] = thing
        return thing
