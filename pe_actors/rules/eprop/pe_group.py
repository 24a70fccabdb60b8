"""Helpers that work on bare e-prop :class:`~pe_actors.rules.eprop.pe.PE` objects: a group of them, their forward
pass through the step loop, full matrices from their slices (docs/eprop.md). The in-process engine of any rule is
:class:`pe_actors.engines.inprocess.InProcessEngine`."""

from __future__ import annotations

import numpy as np

from pe_actors.core.optimiser import OptimiserConfig
from pe_actors.core.partition import split_neurons
from pe_actors.rules.eprop.config import NetworkConfig
from pe_actors.rules.eprop.pe import PE
from pe_actors.rules.eprop.program import EpropGroup, EpropProgram, gather_state, scatter_state
from pe_actors.runtime.steploop import InProcessTransport, step_loop

__all__ = ["gather_state", "make_group", "run_forward", "scatter_state"]


def make_group(
    config: NetworkConfig,
    params: dict[str, np.ndarray],
    n_pes: int,
    optimiser: OptimiserConfig | None = None,
    learning: bool = True,
    sizes: list[int] | None = None,
) -> list[PE]:
    """The P PEs of one group, each holding its slice of ``params``."""
    return [PE(config, neurons, params, optimiser, learning) for neurons in split_neurons(config.n_rec, n_pes, sizes)]


def run_forward(pes: list[PE], x: np.ndarray) -> list[np.ndarray]:
    """Run all T steps of a sub-batch x (k, T, n_in) through the PEs ``pes`` (the forward and readout phases of
    the e-prop program); returns the partial outputs per PE."""
    sizes = [pe.size for pe in pes]
    group = EpropGroup(pes[0].config, len(pes), sizes)
    programs = [EpropProgram(p, pe) for p, pe in enumerate(pes)]
    for program in programs:
        program.begin(x, None)
    transport = InProcessTransport(programs, group.channels)
    step_loop(group.phases(learning=False)[:2], transport, range(len(pes)))
    return [transport.posted[("partials", p)] for p in range(len(pes))]
