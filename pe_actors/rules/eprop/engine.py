"""The in-process e-prop engine: a group of P e-prop PEs stepped by the step loop in one process (docs/eprop.md).

A thin e-prop front to :class:`pe_actors.engines.inprocess.GroupEngine`, plus helpers that work on bare
:class:`~pe_actors.rules.eprop.pe.PE` objects (a group of them, their forward pass through the same step loop, full
matrices from their slices).
"""

from __future__ import annotations

import numpy as np

from pe_actors.core.optimiser import OptimiserConfig
from pe_actors.core.partition import split_neurons
from pe_actors.engines.inprocess import GroupEngine, sub_batches
from pe_actors.rules.eprop.config import NetworkConfig
from pe_actors.rules.eprop.pe import PE
from pe_actors.rules.eprop.program import EpropGroup, EpropProgram, gather_state, scatter_state
from pe_actors.runtime.steploop import InProcessTransport, step_loop
from pe_actors.synapses import DIGITAL, SynapseConfig

__all__ = [
    "InProcessEngine",
    "gather_state",
    "make_group",
    "run_forward",
    "scatter_state",
    "sub_batches",
]


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


class InProcessEngine(GroupEngine):
    """Trains one e-prop network replica held by P in-process PEs.

    Args:
        config: the network.
        params: initial weights (copied into the PEs' slices); their dtype is the engine's dtype.
        optimiser: ADAM/L2/schedule settings.
        n_pes: PEs per group, P.
        sub_batch: samples each PE vectorises, k (None: the whole batch at once).
        synapses: where the PEs' weights live (docs/synapses.md).
    """

    def __init__(
        self,
        config: NetworkConfig,
        params: dict[str, np.ndarray],
        optimiser: OptimiserConfig,
        n_pes: int = 1,
        sub_batch: int | None = None,
        synapses: SynapseConfig = DIGITAL,
    ) -> None:
        self.config = config
        super().__init__(EpropGroup(config, n_pes, synapses=synapses), params, optimiser, sub_batch)

    @property
    def pes(self) -> list[PE]:
        """The learning PEs of the group."""
        return [program.pe for program in self.programs]
