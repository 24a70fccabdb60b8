"""The quantised store: each weight a differential pair of ideal devices with 2^bits levels, no noise; the
low-precision baseline of the PCM store (docs/synapses.md)."""

from __future__ import annotations

import numpy as np

from pe_actors.core.optimiser import OptimiserConfig
from pe_actors.core.state import load_slice
from pe_actors.synapses.config import SynapseConfig
from pe_actors.synapses.digital import DigitalStore, check_seconds
from pe_actors.synapses.mapping import level_conductance, pair_weight, target_levels
from pe_actors.synapses.store import Layout

SIGNS = ("pos", "neg")


class QuantisedStore(DigitalStore):
    """Weights on device pairs at 2^bits levels, trained with mixed precision (docs/synapses.md, "Learning in the
    loop"): ADAM updates a float shadow of every weight, clipped to [-w_max, w_max], and a device is programmed only
    when its target level changes; the forward pass reads the devices.

    Args:
        arrays: the PE's shadow weights by name (kept, not copied).
        optimiser: ADAM settings (None: a store that is only read).
        config: bits, g_max and the other device settings.
        layout: neurons and matrices of the arrays.
        w_max: the clip range of each matrix of ``layout``.
    """

    kind = "quantised"

    def __init__(
        self,
        arrays: dict[str, np.ndarray],
        optimiser: OptimiserConfig | None,
        config: SynapseConfig,
        layout: Layout,
        w_max: dict[str, float],
    ) -> None:
        super().__init__(arrays, optimiser)
        self.config, self.layout = config, layout
        missing = sorted(set(layout.matrices) - set(w_max))
        if missing:
            raise ValueError(f"no clip range w_max for matrices {missing}")
        for name, value in w_max.items():
            if not np.isfinite(value) or value <= 0:
                raise ValueError(f"the clip range w_max of {name!r} must be a finite number > 0, got {value!r}")
        self.w_max = {name: np.array(float(w_max[name])) for name in layout.matrices}
        self.present = {
            name: np.broadcast_to(layout.present.get(name, True), array.shape) for name, array in arrays.items()
        }
        self.clock = np.zeros(())
        self.levels = {sign: {n: np.zeros(a.shape, np.int32) for n, a in arrays.items()} for sign in SIGNS}
        self.device_writes = {sign: {n: np.zeros(a.shape, np.int64) for n, a in arrays.items()} for sign in SIGNS}
        self._cache: tuple | None = None
        self._read: dict[str, np.ndarray] = {}
        self.program_all()

    # -- weights and devices -----------------------------------------------------------------------------------

    def scale(self, name: str) -> np.ndarray:
        """w_max of every synapse of array ``name`` (from its matrix)."""
        out = np.ones(self.shadow[name].shape)
        for matrix, (array, index) in self.layout.matrices.items():
            if array == name:
                out[index] = self.w_max[matrix]
        return out

    def program_all(self) -> None:
        """Program every device to the level of its (clipped) shadow weight, as when a network is first written
        onto the devices."""
        self._program(everywhere=True)

    def _program(self, everywhere: bool = False) -> None:
        levels = self.config.levels
        for name, weights in self.shadow.items():
            scale = self.scale(name)
            np.clip(weights, -scale, scale, out=weights)
            for sign, target in zip(SIGNS, target_levels(weights, scale, levels), strict=True):
                changed = self.present[name] & (everywhere | (target != self.levels[sign][name]))
                # A learning step reprograms few devices: work on their flat indices, not on whole masks.
                index = np.flatnonzero(changed)
                self.levels[sign][name].reshape(-1)[index] = target.reshape(-1)[index]
                self.device_writes[sign][name].reshape(-1)[index] += 1
                self._write(sign, name, index)
        self._cache = None

    def _write(self, sign: str, name: str, index: np.ndarray) -> None:
        """Hook: set the conductance of the devices of (sign, array) at the flat indices ``index`` (ascending) to
        their new level."""

    def _stepped(self) -> None:
        self._program()

    def targets(self, sign: str, name: str) -> np.ndarray:
        """Target conductances (uS) of the ``sign`` devices of array ``name``."""
        return level_conductance(self.levels[sign][name], self.config.g_max, self.config.levels)

    def device_weights(self) -> dict[str, np.ndarray]:
        """The weights the devices hold now, before any drift compensation (float64)."""
        g_max = self.config.g_max
        return {
            name: pair_weight(self.targets("pos", name), self.targets("neg", name), self.scale(name), g_max)
            * self.present[name]
            for name in self.shadow
        }

    def read(self) -> dict[str, np.ndarray]:
        """The weights the forward pass uses, read from the devices once per (learning step, device time) and
        kept until either changes."""
        key = (self.steps, float(self.clock))
        if self._cache != key:
            self._raw = self.device_weights()
            self._cache = key
            self._gains = None
            self._read = {name: self._raw[name].astype(self.shadow[name].dtype) for name in self.shadow}
        return self._read

    def advance(self, seconds: float) -> None:
        """Let ``seconds`` of device time pass."""
        self.clock[...] = self.clock + check_seconds(seconds)

    @property
    def writes(self) -> int:
        """Device writes so far (the first programming included), over all devices."""
        return int(sum(int(w.sum()) for per_sign in self.device_writes.values() for w in per_sign.values()))

    def arrays_by_category(self) -> dict[str, list[np.ndarray]]:
        """As :meth:`DigitalStore.arrays_by_category`, with the device levels and write counters as ``devices``."""
        groups = super().arrays_by_category()
        groups["devices"] = [
            a for sign in SIGNS for a in (*self.levels[sign].values(), *self.device_writes[sign].values())
        ]
        return groups

    # -- state -------------------------------------------------------------------------------------------------

    def _device_state(self) -> dict[str, dict[str, dict[str, np.ndarray]]]:
        return {"level": self.levels, "writes": self.device_writes}

    def state_dict(self) -> dict[str, np.ndarray]:
        """As :meth:`DigitalStore.state_dict`, plus the device time ``clock_s``, each matrix's ``wmax_<matrix>`` and
        per device array ``<quantity>_<pos|neg>_<name>`` (levels, write counts; PCM adds conductances, drift
        exponents and programming times)."""
        state = super().state_dict()
        state["clock_s"] = self.clock
        for matrix, value in self.w_max.items():
            state[f"wmax_{matrix}"] = value
        for quantity, per_sign in self._device_state().items():
            for sign in SIGNS:
                for name, array in per_sign[sign].items():
                    state[f"{quantity}_{sign}_{name}"] = array
        return state

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        """Overwrite what ``state`` holds; a state of weights without device state (for example a digital run's)
        is programmed onto the devices at the current device time."""
        load_slice(self.state_dict(), state, lambda n: setattr(self, "steps", n))
        self._cache = None
        if not any(key.startswith("level_") for key in state):
            self.program_all()
