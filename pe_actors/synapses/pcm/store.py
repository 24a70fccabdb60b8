"""The PCM store: each weight a differential pair of phase-change-memory devices with programming noise, drift and
1/f read noise (docs/synapses.md)."""

from __future__ import annotations

import numpy as np

from pe_actors.core.optimiser import OptimiserConfig
from pe_actors.synapses.config import SynapseConfig
from pe_actors.synapses.mapping import level_conductance, pair_weight
from pe_actors.synapses.pcm.model import PCMModel, ages
from pe_actors.synapses.quantised import SIGNS, QuantisedStore
from pe_actors.synapses.store import PROGRAM, READ, Layout, NeuronStreams, clock_key


class PCMStore(QuantisedStore):
    """Weights on pairs of PCM devices (docs/synapses.md): a device programmed to level l gets the conductance
    :meth:`PCMModel.program` of l g_max / (L - 1) and a drift exponent, drifts from the device time it was
    programmed at, and every read adds 1/f noise. Reads are drawn once per (learning step, device time) from the
    neurons' streams, so every engine and PE split sees the same weights.

    Args: as :class:`~pe_actors.synapses.quantised.QuantisedStore`.
    """

    kind = "pcm"

    def __init__(
        self,
        arrays: dict[str, np.ndarray],
        optimiser: OptimiserConfig | None,
        config: SynapseConfig,
        layout: Layout,
        w_max: dict[str, float],
    ) -> None:
        self.model = PCMModel(config.g_max, config.prog_noise, config.drift, config.read_noise)
        self.streams = NeuronStreams(config.seed, layout, {name: a.shape for name, a in arrays.items()})
        shapes = {name: a.shape for name, a in arrays.items()}
        self.g_prog = {sign: {n: np.zeros(s) for n, s in shapes.items()} for sign in SIGNS}
        self.nu = {sign: {n: np.zeros(s) for n, s in shapes.items()} for sign in SIGNS}
        self.t_prog = {sign: {n: np.zeros(s) for n, s in shapes.items()} for sign in SIGNS}
        self._writes: list[tuple[str, str, np.ndarray]] = []
        self._gains = None
        super().__init__(arrays, optimiser, config, layout, w_max)

    def _program(self, everywhere: bool = False) -> None:
        # The level changes of this learning step first, then one draw per neuron stream for the devices it
        # programs: (programming noise, drift exponent) for each, in the order the level changes were found.
        self._writes: list[tuple[str, str, np.ndarray]] = []
        super()._program(everywhere)
        selected = [(name, index) for _, name, index in self._writes]
        noise, drift = np.concatenate(
            self.streams.normals_where(PROGRAM, self.steps, clock_key(float(self.clock)), selected, 2), axis=1
        )
        # The model's formulas once over every programmed device, then back to their arrays.
        levels = [self.levels[sign][name].reshape(-1)[index] for sign, name, index in self._writes]
        target = level_conductance(np.concatenate(levels), self.config.g_max, self.config.levels)
        g_prog, nu = self.model.program(target, noise), self.model.drift_exponents(target, drift)
        start = 0
        for sign, name, index in self._writes:
            stop = start + len(index)
            self.g_prog[sign][name].reshape(-1)[index] = g_prog[start:stop]
            self.nu[sign][name].reshape(-1)[index] = nu[start:stop]
            self.t_prog[sign][name].reshape(-1)[index] = self.clock
            start = stop
        self._writes = []

    def _write(self, sign: str, name: str, index: np.ndarray) -> None:
        self._writes.append((sign, name, index))

    def device_weights(self) -> dict[str, np.ndarray]:
        """One read of every device at the current device time, as weights (float64, before compensation)."""
        draws = self.streams.normals(READ, self.steps, clock_key(float(self.clock)), (2,))
        # Q_s depends on a device's target level only: look it up per level rather than raise each device's to
        # the power 0.65.
        g_max, levels = self.config.g_max, self.config.levels
        q_of_level = self.model.read_q(level_conductance(np.arange(levels), g_max, levels))
        self._reads = {}
        weights = {}
        for name in self.shadow:
            reads = []
            for s, sign in enumerate(SIGNS):
                t = ages(self.clock - self.t_prog[sign][name])
                g_t = self.model.conductance(self.g_prog[sign][name], self.nu[sign][name], t)
                q_s = q_of_level[self.levels[sign][name]]
                reads.append(self.model.read(g_t, t, draws[name][s], None, q_s))
            weights[name] = pair_weight(reads[0], reads[1], self.scale(name), self.config.g_max) * self.present[name]
            self._reads[name] = reads
        return weights

    def drift_sums(self) -> np.ndarray:
        """Per matrix of the layout, (sum of programmed conductances, sum of read conductances) of its present
        devices, shape (matrices, 2): what drift compensation reduces over the PEs that hold the matrix."""
        self.read()
        sums = []
        for array, index in self.layout.matrices.values():
            # The same order of additions on both sides, so that devices that neither drift nor read noisily get
            # a gain of exactly 1.
            programmed = (self.g_prog["pos"][array] + self.g_prog["neg"][array]) * self.present[array]
            read = (self._reads[array][0] + self._reads[array][1]) * self.present[array]
            sums.append((programmed[index].sum(), read[index].sum()))
        return np.array(sums, np.float64)

    def set_gains(self, sums: np.ndarray) -> None:
        """Global drift compensation: scale each matrix's read by (programmed sum) / (read sum) of ``sums``, the
        :meth:`drift_sums` of every PE holding the matrix added up."""
        self.read()
        sums = np.asarray(sums, np.float64)
        for (array, index), (programmed, now) in zip(self.layout.matrices.values(), sums, strict=True):
            gain = programmed / now if now > 0 else 1.0
            self._read[array][index] = (self._raw[array][index] * gain).astype(self._read[array].dtype)
        self._gains = sums

    def _device_state(self) -> dict[str, dict[str, dict[str, np.ndarray]]]:
        return {**super()._device_state(), "g": self.g_prog, "nu": self.nu, "tprog": self.t_prog}

    def arrays_by_category(self) -> dict[str, list[np.ndarray]]:
        """As :meth:`QuantisedStore.arrays_by_category`, with conductances, drift exponents and programming times."""
        groups = super().arrays_by_category()
        for per_sign in (self.g_prog, self.nu, self.t_prog):
            groups["devices"].extend(a for sign in SIGNS for a in per_sign[sign].values())
        return groups
