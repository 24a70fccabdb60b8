"""The digital store: float weight arrays updated by ADAM, the weights of a SpiNNaker 2 PE's SRAM
(docs/synapses.md)."""

from __future__ import annotations

import math

import numpy as np

from pe_actors.core.optimiser import Adam, OptimiserConfig
from pe_actors.core.state import load_slice


def check_seconds(seconds: float) -> float:
    """``seconds`` as a float; a negative or non-finite time raises a ValueError."""
    value = float(seconds)
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"device time can only advance by a finite number of seconds >= 0, got {seconds!r}")
    return value


class DigitalStore:
    """Weights held as float arrays (the arrays given, not copies); the forward pass reads them as they are and a
    learning step is one ADAM step per array (docs/eprop.md, "Learning step").

    Args:
        arrays: the PE's weight arrays by name.
        optimiser: ADAM settings; None for a store that is only read.
    """

    kind = "digital"

    def __init__(self, arrays: dict[str, np.ndarray], optimiser: OptimiserConfig | None) -> None:
        self.shadow = arrays
        self.optimiser = optimiser
        self.adam = {} if optimiser is None else {n: Adam(a.shape, a.dtype, optimiser) for n, a in arrays.items()}

    def read(self) -> dict[str, np.ndarray]:
        """The weights the forward pass uses: the arrays themselves."""
        return self.shadow

    def apply(self, grads: dict[str, np.ndarray], lr: float) -> None:
        """One ADAM step per array with the gradients ``grads`` (same names; L2 already added) at rate ``lr``."""
        if not self.adam:
            raise RuntimeError("this synapse store was built without an optimiser")
        for name, weights in self.shadow.items():
            self.adam[name].step(weights, grads[name], lr)
        self._stepped()

    def _stepped(self) -> None:
        """Hook for stores that hold devices: called after every learning step."""

    def advance(self, seconds: float) -> None:
        """Let ``seconds`` of device time pass; float arrays do not drift."""
        check_seconds(seconds)

    @property
    def steps(self) -> int:
        """Learning steps taken (the ADAM step count)."""
        return next(iter(self.adam.values())).n if self.adam else 0

    @steps.setter
    def steps(self, n: int) -> None:
        for adam in self.adam.values():
            adam.n = n

    @property
    def writes(self) -> int:
        """Device writes so far (none: there are no devices)."""
        return 0

    def drift_sums(self) -> np.ndarray:
        """Per matrix, the programmed and read conductance sums (none here: shape (0, 2))."""
        return np.zeros((0, 2))

    def set_gains(self, sums: np.ndarray) -> None:
        """Drift compensation from summed :meth:`drift_sums` (nothing drifts here)."""

    def arrays_by_category(self) -> dict[str, list[np.ndarray]]:
        """The store's arrays by memory category: ``weights``, ``adam`` and ``devices``."""
        return {
            "weights": list(self.shadow.values()),
            "adam": [moment for adam in self.adam.values() for moment in (adam.m, adam.v)],
            "devices": [],
        }

    def state_dict(self) -> dict[str, np.ndarray]:
        """The weights (``name``), ADAM moments (``m_name``, ``v_name``) and ``adam_n`` (views)."""
        state = dict(self.shadow)
        if self.adam:
            for moment in ("m", "v"):
                for name, adam in self.adam.items():
                    state[f"{moment}_{name}"] = getattr(adam, moment)
            state["adam_n"] = np.array(self.steps)
        return state

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        """Overwrite the arrays present in ``state`` (see :func:`pe_actors.core.state.load_slice`)."""
        load_slice(self.state_dict(), state, lambda n: setattr(self, "steps", n))
