"""The synapse seam: what a PE's weights are reached through, and the per-neuron noise streams of device stores
(docs/synapses.md).

A store holds named weight arrays of one PE (for e-prop ``w``, the input and recurrent synapses onto the PE's
neurons, and ``w_out``, their readout synapses). :meth:`SynapseStore.read` gives the weights the forward pass uses,
:meth:`SynapseStore.apply` takes one learning step, :meth:`SynapseStore.advance` lets device time pass, and
:meth:`SynapseStore.state_dict` is what checkpoints keep.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

#: Purposes of the noise streams (part of each stream's seed).
PROGRAM, READ = 1, 2


class SynapseStore(Protocol):
    """Where a PE's weights live: the interface a synapse kind implements (its class is named by a
    :class:`~pe_actors.synapses.kinds.SynapseKind`). A PE reaches its weights only through it: it reads them for
    the forward pass, hands it the gradients of a learning step, lets device time pass, and saves and restores it.

    The arrays are named like the PE's weight arrays (for e-prop ``w``, the input and recurrent synapses onto the
    PE's neurons, and ``w_out``, their readout synapses); a store of devices receives their
    :class:`Layout` (which axis is the neuron, which blocks are matrices, which synapses exist) and each matrix's
    clip range, and draws its noise per neuron so that every split of the neurons over PEs reads the same weights
    (:class:`NeuronStreams`). A store that also compensates drift answers :class:`DriftCompensated`.
    """

    #: The kind's name (``digital``, ``quantised``, ``pcm``, or a plug-in's).
    kind: str
    #: The high-precision weights learning acts on (for the digital store, the weights themselves).
    shadow: dict[str, np.ndarray]

    def read(self) -> dict[str, np.ndarray]:
        """The weights the forward pass uses now, by array name (a device store reads its devices: programming
        noise, drift and read noise included)."""
        ...

    def apply(self, grads: dict[str, np.ndarray], lr: float) -> None:
        """One learning step with the gradients ``grads`` (by array name, L2 included) at rate ``lr``: ADAM on the
        shadow, then (for devices) programming the devices whose level changes."""
        ...

    def advance(self, seconds: float) -> None:
        """Let ``seconds`` of device time pass (drift); a ValueError for a negative or non-finite time."""
        ...

    @property
    def steps(self) -> int:
        """Learning steps taken (the ADAM step count)."""
        ...

    @steps.setter
    def steps(self, n: int) -> None: ...

    @property
    def writes(self) -> int:
        """Device writes so far (0 for a store without devices)."""
        ...

    def arrays_by_category(self) -> dict[str, list[np.ndarray]]:
        """The store's arrays by memory category (``weights``, ``adam``, ``devices``), for the memory reports."""
        ...

    def state_dict(self) -> dict[str, np.ndarray]:
        """Everything a checkpoint keeps of the store: shadow weights, ADAM moments and step count, device state."""
        ...

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        """Restore what :meth:`state_dict` returned (a slice of a full state, for the PE's own neurons)."""
        ...


class DriftCompensated(Protocol):
    """A store that compensates drift globally (docs/synapses.md, "Drift compensation"): every PE reports the
    programmed and the read conductance sums of each matrix, the group adds them up, and each PE scales its reads
    by their ratio. The stores of the project answer it (the digital and quantised ones with nothing to
    compensate)."""

    def drift_sums(self) -> np.ndarray:
        """Per matrix of the layout, (programmed, read) conductance sums over the PE's devices, shape (M, 2)."""
        ...

    def set_gains(self, sums: np.ndarray) -> None:
        """Set each matrix's read gain from the group's summed :meth:`drift_sums`."""
        ...


@dataclass(frozen=True)
class Layout:
    """How a PE's weight arrays map onto neurons and matrices, for stores of devices.

    Attributes:
        neuron_axis: per array, the axis that indexes the PE's neurons (the synapses of one neuron are its devices).
        matrices: matrix name -> (array name, index of the matrix's block in that array); each matrix has one
            clip range w_max and one drift-compensation gain.
        neurons: global indices of the PE's neurons; each neuron's devices draw from noise streams of their own,
            so any split of the neurons over PEs draws the same numbers.
        present: per array, where a synapse exists (absent arrays: everywhere); an absent synapse reads 0 and is
            never programmed (for example the W_rec diagonal).
        stream: distinguishes stores whose neuron indices overlap (for example the layers of a network).
    """

    neuron_axis: dict[str, int]
    matrices: dict[str, tuple[str, tuple]]
    neurons: np.ndarray
    present: dict[str, np.ndarray] = field(default_factory=dict)
    stream: int = 0


#: Bits of a device's counter (see :class:`NeuronStreams`): its index among its neuron's devices, the neuron's
#: global index, the selection it is drawn for, and the pair of rows of the draw.
DEVICE_BITS, NEURON_BITS, MASK_BITS, ROW_BITS = 32, 20, 4, 8
_GOLDEN = 0x9E3779B97F4A7C15
_MIX1, _MIX2 = np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB)
#: Which uint32 half of a uint64 holds its high bits.
_HIGH = 1 if sys.byteorder == "little" else 0


def _field_offset(pair: int = 0, selection: int = 0) -> int:
    """What a counter's row pair and selection add to a device's position, (bits) x golden mod 2^64: their bits lie
    above the neuron and device bits, so they add to the counter."""
    return ((((pair << MASK_BITS) | selection) << (DEVICE_BITS + NEURON_BITS)) * _GOLDEN) % 2**64


class NeuronStreams:
    """Standard normal draws for a PE's devices from a counter-based generator, so that each neuron's devices draw
    numbers of their own whichever PE holds the neuron (docs/synapses.md, "Noise streams").

    A draw is a function of (seed, stream, purpose, counter, extra) (hashed once per call into a 64-bit key) and
    of the device's counter c: its neuron's global index j, its index d among the neuron's devices (the arrays in
    order, each neuron's devices in array order), the selection it is drawn for and the pair of rows. SplitMix64
    at position c + 1 of the stream that begins at the key, key + (c + 1) x golden, gives 64 random bits;
    Box-Muller turns the top 24 of each 32-bit half into a radius and an angle, in float32, and gives rows 2i and
    2i + 1 (the cosine and the sine; the tails end at 5.9 standard deviations). Drawing every device at once costs
    a few vectorised passes instead of a generator seeded per neuron.
    """

    def __init__(self, seed: int, layout: Layout, shapes: dict[str, tuple[int, ...]]) -> None:
        self.seed, self.layout, self.shapes = seed, layout, dict(shapes)
        neurons = np.asarray(layout.neurons, np.int64)
        if len(neurons) and (neurons.min() < 0 or neurons.max() >= 2**NEURON_BITS):
            raise ValueError(f"noise streams index neurons 0..{2**NEURON_BITS - 1}, got {neurons.max()}")
        #: Per array, every device's (c + 1) x golden for c = (neuron << DEVICE_BITS) | index among the neuron's
        #: devices; the selection and row bits add multiples of golden to it (they do not overlap these bits).
        self.positions: dict[str, np.ndarray] = {}
        offset = 0
        for name, shape in shapes.items():
            axis = layout.neuron_axis[name]
            if shape[axis] != len(neurons):
                raise ValueError(f"array {name!r} has {shape[axis]} neurons on axis {axis}, the layout {len(neurons)}")
            rest = [n for i, n in enumerate(shape) if i != axis]
            size = int(np.prod(rest, dtype=np.int64))
            index = np.arange(offset, offset + size, dtype=np.uint64).reshape(1, *rest)
            ids = (neurons.astype(np.uint64).reshape(-1, *[1] * len(rest)) << np.uint64(DEVICE_BITS)) | index
            # The multiplication wraps modulo 2^64 by design.
            self.positions[name] = np.ascontiguousarray(np.moveaxis((ids + np.uint64(1)) * np.uint64(_GOLDEN), 0, axis))
            offset += size
        if offset >= 2**DEVICE_BITS:
            raise ValueError(f"noise streams index at most {2**DEVICE_BITS} devices per neuron, got {offset}")

    def _key(self, purpose: int, counter: int, extra: int) -> int:
        words = [self.seed, self.layout.stream, purpose, counter, extra]
        return int(np.random.SeedSequence(words).generate_state(1, np.uint64)[0])

    @staticmethod
    def _draw(key: int, positions: np.ndarray, rows: int) -> np.ndarray:
        """Normals (rows, *positions.shape) for devices at ``positions`` (their selection's offset included)."""
        pairs = (rows + 1) // 2
        if pairs > 2**ROW_BITS:
            raise ValueError(f"noise streams draw at most {2 ** (ROW_BITS + 1)} rows")
        starts = [(key + _field_offset(pair=pair)) % 2**64 for pair in range(pairs)]
        z = positions.reshape(1, -1) + np.array(starts, np.uint64).reshape(-1, 1)
        # SplitMix64's output function (Steele, Lea and Flood 2014); the multiplications wrap modulo 2^64.
        z ^= z >> np.uint64(30)
        z *= _MIX1
        z ^= z >> np.uint64(27)
        z *= _MIX2
        z ^= z >> np.uint64(31)
        halves = z.reshape(-1).view(np.uint32).reshape(-1, 2)
        u = ((halves[:, _HIGH] >> np.uint32(8)).astype(np.float32) + np.float32(0.5)) * np.float32(2.0**-24)
        angle = (halves[:, 1 - _HIGH] >> np.uint32(8)).astype(np.float32) * np.float32(2 * np.pi * 2.0**-24)
        radius = np.sqrt(np.float32(-2.0) * np.log(u))
        out = np.empty((pairs, 2, positions.size), np.float32)
        np.multiply(radius.reshape(pairs, -1), np.cos(angle).reshape(pairs, -1), out=out[:, 0])
        np.multiply(radius.reshape(pairs, -1), np.sin(angle).reshape(pairs, -1), out=out[:, 1])
        return out.reshape(2 * pairs, *positions.shape)[:rows]

    def normals(self, purpose: int, counter: int, extra: int, lead: tuple[int, ...]) -> dict[str, np.ndarray]:
        """Per array, float32 draws of shape ``lead + array shape`` (see the class docstring)."""
        key, rows = self._key(purpose, counter, extra), int(np.prod(lead, dtype=np.int64))
        return {
            name: self._draw(key, positions, rows).reshape(*lead, *positions.shape)
            for name, positions in self.positions.items()
        }

    def normals_where(
        self, purpose: int, counter: int, extra: int, selected: list[tuple[str, np.ndarray]], lead: int
    ) -> list[np.ndarray]:
        """Per selection (an array's name and flat indices into it), float32 draws of shape ``(lead, len(index))``
        for the devices it selects, in the order of the indices; the k-th selection's draws are keyed by k as well,
        so two selections of one array draw different numbers for a device they both hold."""
        if len(selected) > 2**MASK_BITS:
            raise ValueError(f"noise streams draw for at most {2**MASK_BITS} selections at once")
        key = self._key(purpose, counter, extra)
        # One pass for all selections (a learning step programs few devices, so a pass's fixed cost dominates).
        positions = [
            self.positions[name].reshape(-1)[index] + np.uint64(_field_offset(selection=k))
            for k, (name, index) in enumerate(selected)
        ]
        if not positions:
            return []
        draws = self._draw(key, np.concatenate(positions), lead)
        return np.split(draws, np.cumsum([len(p) for p in positions])[:-1], axis=1)


def clock_key(clock: float) -> int:
    """A non-negative integer identifying a device time (its float64 bits), for seeding read noise."""
    return int(np.float64(clock).view(np.int64))
