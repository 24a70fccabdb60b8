"""Memory per e-prop PE: bytes read from the arrays a PE really allocates (docs/studies.md, "Memory per PE"),
and the working set a training run needs, estimated before anything is allocated."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from pe_actors.core.optimiser import OptimiserConfig
from pe_actors.core.partition import split_neurons
from pe_actors.networks import CompiledGraph
from pe_actors.rules.eprop.config import NetworkConfig
from pe_actors.rules.eprop.gradients import init_params
from pe_actors.rules.eprop.pe import MEMORY_CATEGORIES, PE
from pe_actors.synapses import DIGITAL, SynapseConfig

__all__ = [
    "MEMORY_CATEGORIES",
    "PAPER_FLOAT_BYTES",
    "PEMemory",
    "memory_rows",
    "paper_table1_floats",
    "paper_table6_floats",
    "pe_memory",
    "run_memory",
    "synapse_floats",
]

#: The paper counts 32-bit words.
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


def memory_rows(
    network: NetworkConfig, pes: int, synapses: SynapseConfig, dtype: type, sub_batch: int = 1
) -> list[dict]:
    """The rows of a memory report (memory.json and its bar chart) of each PE learning ``sub_batch`` samples (a
    network graph's PEs measured from their programs' arrays)."""
    if isinstance(network, CompiledGraph):
        from pe_actors.rules.eprop.program import eprop_group
        from pe_actors.runtime.group import group_memory_rows

        group = eprop_group(network, pes, synapses=synapses)
        x = np.zeros((sub_batch, network.n_steps, network.n_in), dtype)
        return group_memory_rows(group, init_params(network, 0, dtype), OptimiserConfig(), x,
                                 np.zeros(sub_batch, np.int64))
    return [entry.as_row() for entry in pe_memory(network, pes, sub_batch, dtype, synapses)]


def run_memory(network: NetworkConfig, batch: int, itemsize: int, generated: bool = False) -> dict[str, float]:
    """Bytes a training run needs by part: the stored forward pass of the replay engine and BPTT (presynaptic
    activity, spikes and pseudo-derivatives per step and sample) and the weights with ADAM moments. ``generated``
    (data the run generates up front) adds nothing: e-prop's data are read as they are. A network graph's PEs
    keep, per sample, an accumulator per synapse onto a hidden neuron (two with ALIF's adaptation eligibility)."""
    if isinstance(network, CompiledGraph):
        return graph_run_memory(network.network, batch, itemsize)
    pre = network.n_in + network.n_rec
    return {
        "forward record": 4.0 * batch * network.n_steps * (pre + network.n_rec) * itemsize,
        "weights and ADAM": 3.0 * (pre * network.n_rec + network.n_rec * network.n_out) * itemsize,
    }


def graph_run_memory(network: Any, batch: int, itemsize: int) -> dict[str, float]:
    """Bytes of a network graph's e-prop run: per-sample eligibility of the synapses onto hidden neurons, the
    weights with ADAM moments."""
    shapes = network.weight_shapes()
    eligible = 0
    for connection in network.connections:
        if connection.target in network.outputs:
            continue
        per_synapse = 2 if network.population(connection.target).model == "alif" else 1
        eligible += per_synapse * int(np.prod(shapes[connection.key]))
    return {
        "eligibility": float(batch * eligible * itemsize),
        "weights and ADAM": 3.0 * sum(int(np.prod(shape)) for shape in shapes.values()) * itemsize,
    }


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
