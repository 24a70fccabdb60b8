"""The in-process group: the PE programs of any rule stepped by the step loop in one process (docs/runtime.md).

Packets are exchanged as plain arrays; otherwise this is exactly what the distributed runtime does with the same
PE programs. A batch is split into sub-batches of k samples that the group runs one after the other (standing in
for G groups running side by side), and the gradients of every sub-batch are summed before one learning step with
their batch mean, so results do not depend on P, G or k beyond float rounding.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from pe_actors.core.engine import BatchResult, InProcessLifecycle, sub_batches, weights_only
from pe_actors.runtime.program import GroupProgram, PEProgram
from pe_actors.runtime.steploop import InProcessTransport, step_loop

Grads = dict[str, np.ndarray]

#: Samples a group forwards at once in :meth:`GroupEngine.predict`.
PREDICT_CHUNK = 256


def run_group(
    group: GroupProgram, programs: list[PEProgram], x: np.ndarray, labels: np.ndarray | None
) -> list[dict[str, Any]]:
    """One sub-batch through every round of the group's schedule in this process; the programs' results."""
    for program in programs:
        program.begin(x, labels)
    transport = InProcessTransport(programs, group.channels)
    step_loop(group.phases(labels is not None), transport, range(len(programs)))
    return [program.result() for program in programs]


def sum_grads(total: list[Grads] | None, grads: list[Grads]) -> list[Grads]:
    """Add per-PE gradient sums ``grads`` into ``total`` (in place; ``total`` None starts it)."""
    if total is None:
        return grads
    for into, grad in zip(total, grads, strict=True):
        for key in into:
            into[key] += grad[key]
    return total


class GroupEngine(InProcessLifecycle):
    """Trains one network replica held by the in-process PEs of ``group``.

    Args:
        group: the rule's group program (channels, phases, PE programs).
        params: initial weights (copied into the PEs' slices); their dtype is the engine's dtype.
        optimiser: the learning step's settings.
        sub_batch: samples each PE vectorises, k (None: the whole batch at once).
    """

    def __init__(self, group: GroupProgram, params: dict[str, np.ndarray], optimiser: Any, sub_batch: int | None):
        self.group = group
        self.sub_batch = sub_batch
        self.dtype = np.result_type(*params.values())
        self.programs = [group.make_program(p, params, optimiser) for p in range(group.n_pes)]
        self.master_results: list[dict[str, Any]] = []

    def gradients(self, x: np.ndarray, labels: np.ndarray) -> tuple[list[Grads], BatchResult]:
        """Per-PE gradient slices of the batch-mean loss and the master's result for the whole batch; the master's
        full results per sub-batch (with rule-specific extras) are kept in :attr:`master_results`."""
        x, labels = self.group.prepare(x, labels, self.dtype)
        sums, masters = None, []
        for part in sub_batches(len(x), self.sub_batch):
            results = run_group(self.group, self.programs, x[part], labels[part])
            sums = sum_grads(sums, [result["grads"] for result in results])
            masters.append(results[self.group.master])
        mean = [{key: value / len(x) for key, value in grad.items()} for grad in sums]
        self.master_results = masters
        return mean, BatchResult.concatenate([BatchResult(m["logits"], m["loss"]) for m in masters])

    def train_batch(self, x: np.ndarray, labels: np.ndarray, lr: float) -> BatchResult:
        """One update on a mini-batch: gradients of all sub-batches, then one learning step per PE."""
        grads, result = self.gradients(x, labels)
        seconds = len(x) * self.group.sample_s
        for program, grad in zip(self.programs, grads, strict=True):
            program.apply(grad, lr)
            program.advance(seconds)
        return result

    def advance(self, seconds: float) -> None:
        """Let ``seconds`` of device time pass for every PE's synapses (float weights do not drift)."""
        for program in self.programs:
            program.advance(seconds)

    @property
    def writes(self) -> int | None:
        """Device writes of the replica so far (None for float weights)."""
        if not self.group.synapses.devices:
            return None
        return sum(program.writes for program in self.programs)

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Class scores (n, n_out) without learning."""
        x, _ = self.group.prepare(x, None, self.dtype)
        logits = [
            run_group(self.group, self.programs, x[part], None)[self.group.master]["logits"]
            for part in sub_batches(len(x), PREDICT_CHUNK)
        ]
        return np.concatenate(logits) if logits else np.zeros((0, self.group.n_out), self.dtype)

    def params(self) -> dict[str, np.ndarray]:
        """Current full weights, assembled from the PEs."""
        return weights_only(self.state())

    def state(self) -> dict[str, np.ndarray]:
        """Full weights, optimiser moments and step count (copies), for checkpoints and replica checks."""
        states = [program.state_dict() for program in self.programs]
        return {key: np.array(value) for key, value in self.group.gather_state(states).items()}

    def load_state(self, state: dict[str, np.ndarray]) -> None:
        """Restore what :meth:`state` returned (for example from a checkpoint) into every PE."""
        for pe, program in enumerate(self.programs):
            program.load_state_dict(self.group.scatter_state(state, pe))


def group_memory_rows(group: GroupProgram, params: Grads, optimiser: Any, x: np.ndarray,
                      labels: np.ndarray) -> list[dict[str, Any]]:
    """The bytes every PE of ``group`` allocates by category (its program's ``arrays_by_category``) once it has
    begun learning the sub-batch ``x``, ``labels``: the rows of a memory report."""
    rows = []
    for pe in range(group.n_pes):
        program = group.make_program(pe, params, optimiser)
        program.begin(x, labels)
        by_category = {key: int(sum(a.nbytes for a in arrays)) for key, arrays in program.arrays_by_category().items()}
        rows.append({"pe": pe, "label": f"PE {pe}", "bytes_by_category": by_category,
                     "total_bytes": sum(by_category.values())})
    return rows
