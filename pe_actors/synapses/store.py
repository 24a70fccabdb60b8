"""The synapse seam: what a PE's weights are reached through, and the per-neuron noise streams of device stores
(docs/synapses.md).

A store holds named weight arrays of one PE (for e-prop ``w``, the input and recurrent synapses onto the PE's
neurons, and ``w_out``, their readout synapses). :meth:`SynapseStore.read` gives the weights the forward pass uses,
:meth:`SynapseStore.apply` takes one learning step, :meth:`SynapseStore.advance` lets device time pass, and
:meth:`SynapseStore.state_dict` is what checkpoints keep.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

#: Purposes of the noise streams (part of each stream's seed).
PROGRAM, READ = 1, 2


class SynapseStore(Protocol):
    """Where a PE's weights live (see the module docstring)."""

    kind: str
    #: The high-precision weights learning acts on (for the digital store, the weights themselves).
    shadow: dict[str, np.ndarray]

    def read(self) -> dict[str, np.ndarray]: ...

    def apply(self, grads: dict[str, np.ndarray], lr: float) -> None: ...

    def advance(self, seconds: float) -> None: ...

    @property
    def steps(self) -> int: ...

    @steps.setter
    def steps(self, n: int) -> None: ...

    @property
    def writes(self) -> int: ...

    def drift_sums(self) -> np.ndarray: ...

    def set_gains(self, sums: np.ndarray) -> None: ...

    def arrays_by_category(self) -> dict[str, list[np.ndarray]]: ...

    def state_dict(self) -> dict[str, np.ndarray]: ...

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None: ...


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


class NeuronStreams:
    """Standard normal draws for a PE's devices, from one generator per (purpose, counter, neuron)."""

    def __init__(self, seed: int, layout: Layout, shapes: dict[str, tuple[int, ...]]) -> None:
        self.seed, self.layout, self.shapes = seed, layout, dict(shapes)
        self.parts = []
        for name, shape in shapes.items():
            axis = layout.neuron_axis[name]
            if shape[axis] != len(layout.neurons):
                raise ValueError(
                    f"array {name!r} has {shape[axis]} neurons on axis {axis}, the layout {len(layout.neurons)}"
                )
            self.parts.append((name, axis, int(np.prod(shape)) // shape[axis]))
        self.per_neuron = sum(size for _, _, size in self.parts)

    def normals(self, purpose: int, counter: int, extra: int, lead: tuple[int, ...]) -> dict[str, np.ndarray]:
        """Per array, draws of shape ``lead + array shape``; neuron j's come from the generator seeded with
        (seed, stream, purpose, counter, extra, j)."""
        draws = np.stack(
            [
                np.random.default_rng([self.seed, self.layout.stream, purpose, counter, extra, int(j)]).standard_normal(
                    (*lead, self.per_neuron)
                )
                for j in self.layout.neurons
            ]
        )
        out, start = {}, 0
        for name, axis, size in self.parts:
            block = draws[..., start : start + size]
            start += size
            # block is (J, *lead, rest of the array): put the neuron axis where the array has it.
            rest = [n for i, n in enumerate(self.shapes[name]) if i != axis]
            block = block.reshape(len(self.layout.neurons), *lead, *rest)
            out[name] = np.moveaxis(block, 0, len(lead) + axis)
        return out


def clock_key(clock: float) -> int:
    """A non-negative integer identifying a device time (its float64 bits), for seeding read noise."""
    return int(np.float64(clock).view(np.int64))
