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


def check_weight_shapes(state: dict[str, np.ndarray], shapes: dict[str, tuple[int, ...]], where: str) -> None:
    """Raise a ValueError naming ``where`` when ``state`` lacks a weight matrix of ``shapes`` (a rule's
    ``weight_shapes(network)``) or holds it (or its ADAM moments) in another shape, for example a checkpoint of
    another network size."""
    for key, shape in shapes.items():
        for name in (key, f"m_{key}", f"v_{key}"):
            if name not in state:
                if name == key:
                    raise ValueError(f"{where} lacks the weights {key!r}")
                continue
            if np.shape(state[name]) != tuple(shape):
                raise ValueError(
                    f"{where} holds {name!r} of shape {tuple(np.shape(state[name]))}, but the network needs "
                    f"{tuple(shape)} (was it trained with other sizes?)"
                )
