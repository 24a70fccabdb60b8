"""Memory per PE: bytes read from the arrays a PE really allocates, and the paper's formulas (docs/studies.md).

The paper counts 32-bit words. Its Table 1 lists the large variables of one PE holding an 80/20/12 network for
T = 100 (24,980 floats = 97.57 KB); its Table 6 gives the E-prop and BPTT totals as functions of the sizes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from pe_actors.core.optimiser import OptimiserConfig
from pe_actors.core.partition import split_neurons
from pe_actors.rules.eprop.config import NetworkConfig
from pe_actors.rules.eprop.gradients import init_params
from pe_actors.rules.eprop.pe import MEMORY_CATEGORIES, PE
from pe_actors.rules.eventprop.config import EventPropConfig
from pe_actors.synapses import DIGITAL, SynapseConfig

PAPER_FLOAT_BYTES = 4


@dataclass(frozen=True)
class PEMemory:
    """Bytes one PE allocates, by category, and its per-synapse floats."""

    index: int
    neurons: int
    synapses: int
    bytes_by_category: dict[str, int]
    floats_per_synapse: float

    @property
    def total(self) -> int:
        """All bytes of this PE."""
        return sum(self.bytes_by_category.values())

    def as_row(self) -> dict:
        """The PE as a row of a memory report (memory.json and its bar chart)."""
        return {
            "pe": self.index,
            "label": f"PE {self.index}",
            "neurons": self.neurons,
            "bytes_by_category": self.bytes_by_category,
            "total_bytes": self.total,
        }


def synapse_floats(pe: PE) -> float:
    """Numbers held per synapse i -> j of the PE's input and recurrent synapses: the arrays whose trailing
    shape is (n_pre, |J|) (W, two ADAM moments, ea and the accumulator for each sample), divided by n_pre |J|."""
    trailing = pe.w.shape
    per_synapse = [
        array for arrays in pe.arrays_by_category().values() for array in arrays if array.shape[-2:] == trailing
    ]
    return sum(array.size for array in per_synapse) / pe.w.size


def pe_memory(
    config: NetworkConfig,
    n_pes: int = 1,
    sub_batch: int = 1,
    dtype: type = np.float32,
    synapses: SynapseConfig = DIGITAL,
) -> list[PEMemory]:
    """Memory of each PE of a group training with ``sub_batch`` samples per PE on ``synapses`` (state allocated
    for real)."""
    params = init_params(config, 0, dtype)
    pes = [
        PE(config, neurons, params, OptimiserConfig(), synapses=synapses)
        for neurons in split_neurons(config.n_rec, n_pes)
    ]
    x = np.zeros((sub_batch, config.n_steps, config.n_in), dtype)
    report = []
    for index, pe in enumerate(pes):
        pe.begin_sample(x)
        by_category = {
            name: int(sum(array.nbytes for array in arrays)) for name, arrays in pe.arrays_by_category().items()
        }
        report.append(PEMemory(index, pe.size, pe.w.size, by_category, synapse_floats(pe)))
    return report


def paper_table1_floats(n_in: int, n_rec: int, n_out: int, n_steps: int, n_own: int | None = None) -> dict[str, int]:
    """The paper's Table 1 count of one PE's large variables, in 32-bit words, by our categories.

    Per PE owning ``n_own`` of the n_rec neurons (default all): the input buffer T n_in; four eligibility arrays
    each for the input and recurrent synapses; the learning signals; weights, gradients and two ADAM moments of
    the input, recurrent and output synapses. 80/20/12, T = 100 on one PE gives 24,980.
    """
    own = n_rec if n_own is None else n_own
    synapses = n_in * own + n_rec * own + own * n_out
    return {
        "weights": synapses,
        "adam": 2 * synapses,
        "devices": 0,
        "eligibility": 4 * (n_in + n_rec) * own,
        "accumulators": synapses + own,
        "neuron_state": 0,
        "input_buffer": n_steps * n_in,
    }


def paper_table6_floats(n_in: int, n_rec: int, n_out: int, n_steps: int) -> tuple[int, int]:
    """The paper's Table 6 totals in 32-bit words: (E-prop, BPTT).

    E-prop = 2 Nout + Nin + 6 Nrec + 7 Nin Nrec + 7 Nrec^2 + 4 Nrec Nout;  BPTT = E-prop + T (Nout + Nin + 3 Nrec).
    """
    eprop = 2 * n_out + n_in + 6 * n_rec + 7 * n_in * n_rec + 7 * n_rec**2 + 4 * n_rec * n_out
    return eprop, eprop + n_steps * (n_out + n_in + 3 * n_rec)


def bptt_bytes_per_step(config: NetworkConfig, batch: int = 1, dtype: type = np.float32) -> int:
    """Bytes the BPTT reference stores per time step for its backward pass: the arrays with a time axis that
    :func:`pe_actors.rules.eprop.bptt.bptt_forward` returns (v, A, z, psi and zbar of every recurrent neuron and
    sample),
    read from the arrays it really returns for a two-step run."""
    from pe_actors.rules.eprop.bptt import bptt_forward

    short = config.with_sizes(n_steps=2)
    x = np.zeros((batch, 2, config.n_in), dtype)
    record = bptt_forward(init_params(short, 0, dtype), x, short)
    return sum(array.nbytes for array in record.values() if array.ndim == 3 and array.shape[0] == 2) // 2


@dataclass(frozen=True)
class MemoryLine:
    """Bytes as a line in the number of time steps T: ``at(T) = intercept + slope * T``."""

    intercept: int
    slope: int

    def at(self, n_steps: int | np.ndarray) -> int | np.ndarray:
        """Bytes at ``n_steps`` time steps."""
        return self.intercept + self.slope * n_steps


def eprop_memory_line(
    config: NetworkConfig, n_pes: int = 1, sub_batch: int = 1, dtype: type = np.float32
) -> MemoryLine:
    """Our e-prop memory of a whole group against T, from the arrays the PEs allocate (:func:`pe_memory`).

    It grows with T only through each PE's input buffer (the whole sample, T n_in per sample), so the totals at
    T = 1 and T = 2 give the exact line.
    """
    one, two = (
        sum(entry.total for entry in pe_memory(config.with_sizes(n_steps=n), n_pes, sub_batch, dtype)) for n in (1, 2)
    )
    return MemoryLine(2 * one - two, two - one)


def bptt_memory_line(config: NetworkConfig, n_pes: int = 1, sub_batch: int = 1, dtype: type = np.float32) -> MemoryLine:
    """Our BPTT memory against T, counted the way the paper's Table 6 counts it: the e-prop arrays
    (:func:`eprop_memory_line`) plus what the BPTT reference stores per step (:func:`bptt_bytes_per_step`)."""
    eprop = eprop_memory_line(config, n_pes, sub_batch, dtype)
    return MemoryLine(eprop.intercept, eprop.slope + bptt_bytes_per_step(config, sub_batch, dtype))


def paper_memory_lines(n_in: int, n_rec: int, n_out: int) -> tuple[MemoryLine, MemoryLine]:
    """The paper's Table 6 E-prop and BPTT bytes (32-bit words) as lines in T: (E-prop, BPTT)."""
    eprop, _ = paper_table6_floats(n_in, n_rec, n_out, 0)
    words = PAPER_FLOAT_BYTES
    return MemoryLine(eprop * words, 0), MemoryLine(eprop * words, (n_out + n_in + 3 * n_rec) * words)


def crossover_steps(eprop: MemoryLine, bptt: MemoryLine) -> float | None:
    """The number of time steps at which ``bptt`` needs as much memory as ``eprop`` (beyond it BPTT needs more);
    0.0 when BPTT needs more at every T, None when it never does. The paper: e-prop with 360 neurons against
    BPTT with 256 neurons (80 inputs, 12 outputs) cross at about 600 steps."""
    slope = bptt.slope - eprop.slope
    if slope <= 0:
        return None
    return max((eprop.intercept - bptt.intercept) / slope, 0.0)


__all__ = [
    "MEMORY_CATEGORIES",
    "PAPER_FLOAT_BYTES",
    "MemoryLine",
    "PEMemory",
    "bptt_bytes_per_step",
    "bptt_memory_line",
    "crossover_steps",
    "eprop_memory_line",
    "paper_memory_lines",
    "paper_table1_floats",
    "paper_table6_floats",
    "pe_memory",
    "synapse_floats",
]


def eventprop_pe_memory(
    config: EventPropConfig,
    features: np.ndarray,
    labels: np.ndarray,
    n_pes: int | list = 1,
    dtype: type = np.float32,
) -> list[dict]:
    """Bytes each EventProp PE holds while training the sub-batch (``features``, ``labels``) (Yin-Yang features
    before the latency code, for example :func:`pe_actors_datasets.yinyang`), by category (weights, ADAM moments,
    neuron state, the forward tapes of I, Vpre and spikes, the received spikes of the layer below, and the adjoints
    with the weight gradient), read from the arrays the PE program really allocates after that sub-batch."""
    from pe_actors.rules.eventprop.encoding import encode
    from pe_actors.rules.eventprop.network import init_eventprop_params
    from pe_actors.rules.eventprop.program import EventPropGroup
    from pe_actors.runtime.group import run_group

    group = EventPropGroup(config, n_pes)
    params = init_eventprop_params(config, 0, dtype)
    programs = [group.make_program(p, params, OptimiserConfig(l2=0.0)) for p in range(group.n_pes)]
    run_group(group, programs, encode(features, config, dtype), labels)
    report = []
    for pe, program in enumerate(programs):
        by_category = {
            name: int(sum(a.nbytes for a in arrays)) for name, arrays in program.arrays_by_category().items()
        }
        report.append(
            {
                "pe": pe,
                "layer": program.layer,
                "neurons": program.size,
                "synapses": int(program.w.size),
                "bytes_by_category": by_category,
                "total_bytes": sum(by_category.values()),
            }
        )
    return report


#: Yin-Yang's generated points (train, validation, test), whose rasters EventProp encodes up front.
YINYANG_POINTS = 7000


def run_memory_estimate(rule: str, network: Any, batch: int, itemsize: int, yinyang_rasters: bool = False)\
        -> dict[str, float]:  # fmt: skip
    """Bytes a training run needs by part, estimated before anything is allocated: EventProp's forward tapes
    (I, Vpre, s) and backward adjoints and error per neuron, step and sample, its weights with ADAM moments and
    (``yinyang_rasters``) the encoded Yin-Yang rasters; e-prop's stored forward pass (presynaptic activity, spikes
    and pseudo-derivatives per step and sample) and its weights with ADAM moments."""
    if rule == "eventprop":
        neurons = sum(network.sizes[1:])
        weights = sum(a * b for a, b in zip(network.sizes[:-1], network.sizes[1:], strict=False))
        parts = {
            "tapes": 6.0 * batch * network.n_steps * neurons * itemsize,
            "weights and ADAM": 4.0 * weights * itemsize,
        }
        if yinyang_rasters:
            parts["input rasters"] = float(YINYANG_POINTS * network.n_steps * network.n_in)  # uint8
        return parts
    pre = network.n_in + network.n_rec
    return {
        "forward record": 4.0 * batch * network.n_steps * (pre + network.n_rec) * itemsize,
        "weights and ADAM": 3.0 * (pre * network.n_rec + network.n_rec * network.n_out) * itemsize,
    }

