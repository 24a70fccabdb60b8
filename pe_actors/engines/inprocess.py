"""The in-process engine of any rule: one network replica held by the PE programs of its group, stepped by the
step loop in this process (docs/runtime.md). What the PE actors compute, without Ray: results do not depend on
P, G or k beyond float rounding."""

from __future__ import annotations

from typing import Any

import numpy as np

from pe_actors.core.optimiser import OptimiserConfig
from pe_actors.rules import group_program
from pe_actors.runtime.group import GroupEngine
from pe_actors.synapses import DIGITAL, SynapseConfig


class InProcessEngine(GroupEngine):
    """Trains one network replica held by the in-process PEs of its rule's group program.

    Args:
        config: the network description; its type picks the rule (an e-prop
            :class:`~pe_actors.rules.eprop.config.NetworkConfig` or an EventProp
            :class:`~pe_actors.rules.eventprop.config.EventPropConfig`).
        params: initial weights (copied into the PEs' slices); their dtype is the engine's dtype.
        optimiser: ADAM/L2/schedule settings.
        n_pes: PEs per group, P (EventProp: PEs per layer, an int or one per layer).
        sub_batch: samples each PE vectorises, k (None: the whole batch at once).
        synapses: where the PEs' weights live (docs/synapses.md).
        kernel: the e-prop PEs' per-synapse implementation (:data:`pe_actors.rules.eprop.pe.KERNELS`) or ``auto``:
            ``c`` where the install built it, else ``numba`` (the same numbers either way).
        schedule: EventProp only: ``pipelined`` (a round per time step, as on the chip) or ``layered`` (a round
            per layer; :data:`pe_actors.rules.eventprop.config.SCHEDULES`). None: the rule's default.
    """

    def __init__(
        self,
        config: Any,
        params: dict[str, np.ndarray],
        optimiser: OptimiserConfig,
        n_pes: int | list[int] = 1,
        sub_batch: int | None = None,
        synapses: SynapseConfig = DIGITAL,
        kernel: str = "auto",
        schedule: str | None = None,
    ) -> None:
        self.config = config
        group = group_program(config, n_pes, synapses=synapses, kernel=kernel, schedule=schedule, sub_batch=sub_batch)
        super().__init__(group, params, optimiser, sub_batch)

    @property
    def pes(self) -> list:
        """The e-prop PEs of the group (each program's :class:`~pe_actors.rules.eprop.pe.PE`)."""
        return [program.pe for program in self.programs]
