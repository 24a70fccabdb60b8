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

    def normals_where(
        self, purpose: int, counter: int, extra: int, masks: list[tuple[str, np.ndarray]], lead: int
    ) -> list[np.ndarray]:
        """Per mask (an array's name and a boolean mask of its shape), draws of shape ``(lead, mask.sum())`` for
        the devices it selects, in the order of ``arr[mask]``. Neuron j draws ``lead`` rows of as many normals as
        the masks select among its devices, from the generator seeded with (seed, stream, purpose, counter, extra,
        j), masks in the order given and each neuron's devices in array order: so any split of the neurons over PEs
        draws the same numbers for a device, and a step that programs few devices draws few normals."""
        n = len(self.layout.neurons)
        # Each mask as (neurons, the neuron's devices): which of them it selects.
        per_neuron = [
            np.moveaxis(mask, self.layout.neuron_axis[name], 0).reshape(n, -1) for name, mask in masks
        ]  # fmt: skip
        counts = np.stack([m.sum(axis=1) for m in per_neuron], axis=1)  # (neurons, masks)
        totals = counts.sum(axis=1)
        draws = [
            np.random.default_rng([self.seed, self.layout.stream, purpose, counter, extra, int(j)]).standard_normal(
                (lead, int(total))
            )
            if total
            else np.empty((lead, 0))
            for j, total in zip(self.layout.neurons, totals, strict=True)
        ]
        flat = np.concatenate(draws, axis=1) if draws else np.empty((lead, 0))
        # Where each neuron's draws for each mask begin in ``flat`` (neurons, masks), and where each mask's
        # selected devices of each neuron begin in that mask's own neuron-major order (neurons, masks).
        begin = (np.cumsum(totals) - totals)[:, None] + np.cumsum(counts, axis=1) - counts
        first = np.cumsum(counts, axis=0) - counts
        out = []
        for k, ((name, mask), selected) in enumerate(zip(masks, per_neuron, strict=True)):
            rows, _ = np.nonzero(selected)
            rank = np.arange(len(rows)) - first[rows, k]
            in_neuron_order = flat[:, begin[rows, k] + rank]
            # ``selected`` walks neuron-major; ``arr[mask]`` walks the array's own order.
            axis = self.layout.neuron_axis[name]
            order = np.moveaxis(np.arange(mask.size).reshape(mask.shape), axis, 0).reshape(n, -1)[selected]
            out.append(in_neuron_order[:, np.argsort(order, kind="stable")])
        return out


def clock_key(clock: float) -> int:
    """A non-negative integer identifying a device time (its float64 bits), for seeding read noise."""
    return int(np.float64(clock).view(np.int64))
