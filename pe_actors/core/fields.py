"""Building the rules' frozen configuration dataclasses from plain dicts (run configs, checkpoint metadata)."""

from __future__ import annotations

from dataclasses import fields
from typing import Any, TypeVar

T = TypeVar("T")


def from_plain_dict(cls: type[T], values: dict[str, Any]) -> T:
    """``cls(**values)`` for a dataclass ``cls``; unknown keys raise a ValueError that names the class and lists
    the valid fields (the class's own checks then validate the values)."""
    valid = {f.name for f in fields(cls)}
    unknown = sorted(set(values) - valid)
    if unknown:
        raise ValueError(f"unknown {cls.__name__} field(s) {unknown}; valid fields are {sorted(valid)}")
    return cls(**values)
