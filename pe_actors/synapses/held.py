"""What every PE program that holds its weights in a synapse store does with them alike: the learning step with
the L2 term, keeping absent synapses absent, device time and the state (docs/synapses.md)."""

from __future__ import annotations

from typing import Any

import numpy as np

from pe_actors.core.optimiser import l2_gradient


class HeldWeights:
    """A mixin for a PE program with ``store`` (a synapse store, or stores answered as one), ``optimiser`` (its
    L2) and ``masks`` (weight name -> the synapses that exist, for sparse connections and absent diagonals)."""

    store: Any
    optimiser: Any
    masks: dict[str, np.ndarray]

    @property
    def adam_steps(self) -> int:
        """ADAM steps taken so far."""
        return self.store.steps

    @property
    def writes(self) -> int:
        """Device writes of the own synapses so far (0 for float weights)."""
        return self.store.writes

    def apply(self, grads: dict[str, np.ndarray], lr: float) -> None:
        """One learning step of the own weights with batch-mean gradients (plus the L2 term); absent synapses
        stay zero."""
        shadow = self.store.shadow
        self.store.apply({key: grads[key] + l2_gradient(shadow[key], self.optimiser.l2) for key in shadow}, lr)
        for key, mask in self.masks.items():
            shadow[key] *= mask

    def advance(self, seconds: float) -> None:
        """Let ``seconds`` of device time pass for the own synapses."""
        self.store.advance(seconds)

    def state_dict(self) -> dict[str, np.ndarray]:
        """The own weights and their optimiser and device state."""
        return self.store.state_dict()

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        """Overwrite the own weights and state from :meth:`state_dict` output."""
        self.store.load_state_dict(state)
