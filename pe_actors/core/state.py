"""A PE's slice of the learning state: weights and optimiser moments keyed like the full matrices."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


def load_slice(own: dict[str, np.ndarray], state: dict[str, np.ndarray], set_steps: Callable[[int], None]) -> None:
    """Copy ``state`` into a PE's arrays ``own`` (its :meth:`state_dict` views), key by key; keys absent from
    ``state`` stay as they are, a wrong shape raises a ValueError naming the key, and ``adam_n`` (the step count)
    goes to ``set_steps``."""
    for key, target in own.items():
        if key not in state:
            continue
        value = np.asarray(state[key])
        if value.shape != target.shape:
            raise ValueError(f"state {key!r} has shape {value.shape}, this PE expects {target.shape}")
        if key == "adam_n":
            set_steps(int(value))
        else:
            target[...] = value
