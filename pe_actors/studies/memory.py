"""Memory per PE: bytes read from the arrays a PE really allocates, and the paper's formulas (docs/studies.md).

The paper counts 32-bit words. Its Table 1 lists the large variables of one PE holding an 80/20/12 network for
T = 100 (24,980 floats = 97.57 KB); its Table 6 gives the E-prop and BPTT totals as functions of the sizes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from pe_actors.core.engine import EVALUATION_BATCH
from pe_actors.core.settings import Settings, choice, int_range, setting
from pe_actors.rules import rule
from pe_actors.rules.eprop.config import NetworkConfig
from pe_actors.rules.eprop.gradients import init_params
from pe_actors.rules.eprop.memory import (
    MEMORY_CATEGORIES,
    PAPER_FLOAT_BYTES,
    PEMemory,
    paper_table1_floats,
    paper_table6_floats,
    pe_memory,
    synapse_floats,
)


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


def memory_vs_steps(
    config: NetworkConfig,
    n_pes: int,
    sub_batch: int,
    dtype: type,
    eprop_neurons: int,
    bptt_neurons: int,
    max_steps: int,
) -> dict:
    """E-prop and BPTT memory against T (the paper's Table 6 and Figure 7), ours and the paper's formulas:
    panel ``same`` for the configured network, panel ``crossover`` for e-prop with ``eprop_neurons`` against
    BPTT with ``bptt_neurons`` (the paper: 360 against 256, crossing at about 600 steps)."""
    steps = np.unique(np.linspace(1, max_steps, 200).astype(int))
    panels = {}
    for name, eprop_rec, bptt_rec in (
        ("same", config.n_rec, config.n_rec),
        ("crossover", eprop_neurons, bptt_neurons),
    ):
        ours_eprop = eprop_memory_line(config.with_sizes(n_rec=eprop_rec), min(n_pes, eprop_rec), sub_batch, dtype)
        ours_bptt = bptt_memory_line(config.with_sizes(n_rec=bptt_rec), min(n_pes, bptt_rec), sub_batch, dtype)
        paper_eprop, _ = paper_memory_lines(config.n_in, eprop_rec, config.n_out)
        _, paper_bptt = paper_memory_lines(config.n_in, bptt_rec, config.n_out)
        lines = {"ours_eprop": ours_eprop, "ours_bptt": ours_bptt, "paper_eprop": paper_eprop, "paper_bptt": paper_bptt}
        panels[name] = {
            "eprop_neurons": eprop_rec,
            "bptt_neurons": bptt_rec,
            "lines_bytes": {
                key: {"intercept": line.intercept, "slope_per_step": line.slope} for key, line in lines.items()
            },
            "bytes": {key: line.at(steps) for key, line in lines.items()},
            "crossover_steps": {
                "ours": crossover_steps(ours_eprop, ours_bptt),
                "paper": crossover_steps(paper_eprop, paper_bptt),
            },
        }
    return {
        "network": config.to_dict(),
        "pes": n_pes,
        "sub_batch": sub_batch,
        "dtype": np.dtype(dtype).name,
        "steps": steps,
        "panels": panels,
        "note": "ours = bytes of the arrays the PEs allocate (BPTT: plus what pe_actors.rules.eprop.bptt stores "
        "per step); paper = its Table 6 in 32-bit words",
    }


@dataclass(frozen=True)
class MemorySettings(Settings):
    """What the memory report counts (``pe-actors memory``'s options besides the rule and the network)."""

    pes: int = setting(default=1, **int_range(1), help="PEs per group, P; each owns a slice of the recurrent neurons.")
    sub_batch: int = setting(default=1, **int_range(1), help="Samples each PE vectorises, k (each adds its own "
                             "eligibility and accumulator).")
    dtype: str = setting(default="float32", **choice("float32", "float64"),
                         help="Floating-point type of the PE's arrays (the chip uses float32).")
    plot: bool = setting(default=False, kind="bool", help="Also write E-prop vs BPTT memory against T (Table 6, "
                         "Figure 7) with the crossover point: memory_vs_steps.png and .json in --out.")
    eprop_neurons: int = setting(default=360, **int_range(1), help="With --plot: recurrent neurons of the e-prop "
                                 "network compared against BPTT (the paper: 360).")
    bptt_neurons: int = setting(default=256, **int_range(1),
                                help="With --plot: recurrent neurons of the BPTT network (the paper: 256).")
    max_steps: int = setting(default=1000, **int_range(2), help="With --plot: largest number of time steps on the x "
                             "axis.")


def _kb(n_bytes: float) -> str:
    return f"{n_bytes / 1024:10.2f}"


def paper_comparison(paper: dict, config: Any, report: list, pes: int, sub_batch: int, dtype: str) -> list[str]:
    """The lines of a report of the bytes per PE (``report``, :func:`pe_memory`): the largest PE's by category
    beside the paper's Table 1 count ``paper`` (32-bit words) and the whole group's, and the paper's Table 6
    totals."""
    largest = max(report, key=lambda entry: entry.total)
    lines = []
    lines.append(
        f"Network {config.n_in}/{config.n_rec}/{config.n_out}, T = {config.n_steps}, P = {pes}, "
        f"k = {sub_batch}, {dtype}; largest PE: PE {largest.index} with {largest.neurons} neurons"
    )
    lines.append(f"{'category':<14}{'ours KB':>10}{'paper KB':>10}{'ratio':>8}{'group KB':>11}")
    for name in MEMORY_CATEGORIES:
        ours = largest.bytes_by_category[name]
        theirs = paper[name] * PAPER_FLOAT_BYTES
        ratio = f"{ours / theirs:8.2f}" if theirs else f"{'-':>8}"
        group = sum(entry.bytes_by_category[name] for entry in report)
        lines.append(f"{name:<14}{_kb(ours)}{_kb(theirs)}{ratio}{_kb(group)}")
    ours_total = largest.total
    paper_total = sum(paper.values()) * PAPER_FLOAT_BYTES
    group_total = sum(entry.total for entry in report)
    lines.append(f"{'total':<14}{_kb(ours_total)}{_kb(paper_total)}{ours_total / paper_total:8.2f}{_kb(group_total)}")
    lines.append(
        f"Floats per input/recurrent synapse on a PE: {largest.floats_per_synapse:g} "
        f"(W, 2 ADAM moments, and per sample ea + accumulator; the paper's layout needs 7)"
    )
    eprop, bptt = paper_table6_floats(config.n_in, config.n_rec, config.n_out, config.n_steps)
    lines.append(
        f"Paper Table 6 for the whole network: E-prop {_kb(eprop * PAPER_FLOAT_BYTES).strip()} KB, "
        f"BPTT {_kb(bptt * PAPER_FLOAT_BYTES).strip()} KB; ours, whole group: {_kb(group_total).strip()} KB "
        f"(ratio to paper E-prop {group_total / (eprop * PAPER_FLOAT_BYTES):.2f})"
    )
    return lines


def run_memory_estimate(rule_name: str, network: Any, batch: int, itemsize: int, generated: bool = False) \
        -> dict[str, float]:
    """Bytes a training run of rule ``rule_name`` at ``batch`` needs by part, estimated before anything is
    allocated (the rule's ``run_memory``: e-prop's stored forward pass, EventProp's tapes and adjoints, and the
    weights with ADAM moments; ``generated``: with the input data the run generates up front). Every epoch ends
    predicting the splits :data:`~pe_actors.core.engine.EVALUATION_BATCH` samples at a time, so the larger batch
    counts."""
    return rule(rule_name).run_memory(network, max(batch, EVALUATION_BATCH), itemsize, generated)


__all__ = [
    "MEMORY_CATEGORIES",
    "PAPER_FLOAT_BYTES",
    "MemoryLine",
    "PEMemory",
    "bptt_bytes_per_step",
    "bptt_memory_line",
    "crossover_steps",
    "memory_vs_steps",
    "eprop_memory_line",
    "paper_comparison",
    "paper_memory_lines",
    "paper_table1_floats",
    "paper_table6_floats",
    "pe_memory",
    "run_memory_estimate",
    "synapse_floats",
]
