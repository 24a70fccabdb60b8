"""The in-process engine: a group of P PEs stepped in lockstep in one process (SPEC section 3).

Spikes are exchanged as plain arrays; otherwise this is exactly what the distributed runtime does with the same
:class:`~pe_actors.pe.PE` code. A batch is split into sub-batches of k samples that the group runs one after the
other (standing in for G groups running side by side), and the gradients of every sub-batch are summed before
one ADAM step with their batch mean, so results do not depend on P, G or k beyond float rounding.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from pe_actors.config import NetworkConfig
from pe_actors.master import MasterResult, reduce_outputs
from pe_actors.optimiser import OptimiserConfig
from pe_actors.pe import PE, split_neurons


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


def run_forward(pes: list[PE], x: np.ndarray) -> np.ndarray:
    """Run all T steps of a sub-batch x (k, T, n_in) through the group; returns the partial outputs per PE."""
    for pe in pes:
        pe.begin_sample(x)
    for t in range(pes[0].config.n_steps):
        spikes = [pe.step_until_sync(t) for pe in pes]
        z_group = np.concatenate(spikes, axis=1)
        for pe in pes:
            pe.step_after_sync(t, z_group)
    return [pe.partial_output() for pe in pes]


def gather_params(pes: list[PE]) -> dict[str, np.ndarray]:
    """The full weight matrices assembled from the PEs' slices."""
    return {
        "w_in": np.concatenate([pe.w_in for pe in pes], axis=1),
        "w_rec": np.concatenate([pe.w_rec for pe in pes], axis=1),
        "w_out": np.concatenate([pe.w_out for pe in pes], axis=0),
    }


def gather_state(states: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """Full-matrix state from the PEs' :meth:`~pe_actors.pe.PE.state_dict` slices (columns J_p of the
    input and recurrent matrices, rows J_p of the output matrix)."""
    full = {}
    for key in states[0]:
        if key == "adam_n":
            full[key] = states[0][key]
        else:
            axis = 0 if key.endswith("w_out") else 1
            full[key] = np.concatenate([state[key] for state in states], axis=axis)
    return full


def scatter_state(state: dict[str, np.ndarray], neurons: slice) -> dict[str, np.ndarray]:
    """The slice of a full-matrix state that the PE owning ``neurons`` holds (inverse of :func:`gather_state`)."""
    return {
        key: value if key == "adam_n" else (value[neurons] if key.endswith("w_out") else value[:, neurons])
        for key, value in state.items()
    }


def sub_batches(n: int, sub_batch: int | None) -> Iterator[slice]:
    """Consecutive slices of at most ``sub_batch`` samples covering range(n)."""
    k = n if sub_batch is None else sub_batch
    if not isinstance(k, int) or k < 1:
        raise ValueError(f"sub_batch must be a positive integer or None, got {sub_batch!r}")
    for start in range(0, n, k):
        yield slice(start, min(start + k, n))


class InProcessEngine:
    """Trains one network replica held by P in-process PEs.

    Args:
        config: the network.
        params: initial weights (copied into the PEs' slices); their dtype is the engine's dtype.
        optimiser: ADAM/L2/schedule settings.
        n_pes: PEs per group, P.
        sub_batch: samples each PE vectorises, k (None: the whole batch at once).
    """

    def __init__(
        self,
        config: NetworkConfig,
        params: dict[str, np.ndarray],
        optimiser: OptimiserConfig,
        n_pes: int = 1,
        sub_batch: int | None = None,
    ) -> None:
        self.config = config
        self.sub_batch = sub_batch
        self.pes = make_group(config, params, n_pes, optimiser)
        self.dtype = self.pes[0].dtype

    def gradients(self, x: np.ndarray, labels: np.ndarray) -> tuple[list[dict[str, np.ndarray]], MasterResult]:
        """Per-PE gradient slices of the batch-mean loss, and the master's result for the whole batch."""
        x = np.asarray(x, dtype=self.dtype)
        sums = None
        results = []
        for part in sub_batches(len(x), self.sub_batch):
            result = reduce_outputs(run_forward(self.pes, x[part]), labels[part])
            grads = [pe.gradients(result.error) for pe in self.pes]
            if sums is None:
                sums = grads
            else:
                for total, grad in zip(sums, grads, strict=True):
                    for key in total:
                        total[key] += grad[key]
            results.append(result)
        mean = [{key: value / len(x) for key, value in grad.items()} for grad in sums]
        merged = MasterResult(*(np.concatenate([getattr(r, f) for r in results]) for f in ("logits", "loss", "error")))
        return mean, merged

    def train_batch(self, x: np.ndarray, labels: np.ndarray, lr: float) -> MasterResult:
        """One e-prop update on a mini-batch: gradients of all sub-batches, then one ADAM step per PE."""
        grads, result = self.gradients(x, labels)
        for pe, grad in zip(self.pes, grads, strict=True):
            pe.apply_gradients(grad, lr)
        return result

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Time-averaged readout ybar (n, n_out) without learning."""
        params = self.params()
        pes = make_group(self.config, params, len(self.pes), learning=False)
        x = np.asarray(x, dtype=self.dtype)
        return np.concatenate([np.sum(run_forward(pes, x[part]), axis=0) for part in sub_batches(len(x), 256)])

    def params(self) -> dict[str, np.ndarray]:
        """Current full weights, assembled from the PEs."""
        return gather_params(self.pes)

    def state(self) -> dict[str, np.ndarray]:
        """Full weights, ADAM moments and step count (copies), for checkpoints and replica checks."""
        return {key: np.array(value) for key, value in gather_state([pe.state_dict() for pe in self.pes]).items()}

    def load_state(self, state: dict[str, np.ndarray]) -> None:
        """Restore what :meth:`state` returned (for example from a checkpoint) into every PE."""
        for pe in self.pes:
            pe.load_state_dict(scatter_state(state, pe.neurons))
