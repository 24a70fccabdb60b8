"""The ``--rule bptt`` engine: the same network and optimiser as the PEs, with reverse-mode BPTT gradients.

It trains the network of docs/eprop.md on whole mini-batches with :func:`pe_actors.rules.eprop.bptt.bptt_forward`
and :func:`pe_actors.rules.eprop.bptt.bptt_backward`, then takes the ADAM (TF1 form) + L2 step that every PE takes
on its slice, so an e-prop run and a BPTT run differ only in how the gradients are computed (which, with the
stop-gradients of docs/eprop.md, agree to rounding). Its state has the keys of
:meth:`pe_actors.engines.inprocess.InProcessEngine.state`, so checkpoints of the two engines are interchangeable.
"""

from __future__ import annotations

import numpy as np

from pe_actors.core.checks import require_finite
from pe_actors.core.engine import BatchResult, InProcessLifecycle, sub_batches
from pe_actors.core.optimiser import Adam, OptimiserConfig, l2_gradient
from pe_actors.rules.eprop.bptt import bptt_backward, bptt_forward
from pe_actors.rules.eprop.config import NetworkConfig
from pe_actors.rules.eprop.pe_group import make_group, run_forward
from pe_actors.rules.eprop.readout import check_labels, cross_entropy

WEIGHTS = ("w_in", "w_rec", "w_out")


class BPTTEngine(InProcessLifecycle):
    """Trains the full network with BPTT gradients of the batch-mean loss and one ADAM step per batch.

    Args:
        config: the network.
        params: initial weights ``w_in``, ``w_rec``, ``w_out`` (copied); their dtype is the engine's dtype.
        optimiser: ADAM/L2 settings, the same as the PEs use.
        predict_batch: samples per forward pass in :meth:`predict` (bounds memory, not results).
    """

    def __init__(
        self,
        config: NetworkConfig,
        params: dict[str, np.ndarray],
        optimiser: OptimiserConfig,
        predict_batch: int = 256,
    ) -> None:
        for key in WEIGHTS:
            if key not in params:
                raise ValueError(f"params lacks {key!r}; expected keys {list(WEIGHTS)}")
        self.config = config
        self.optimiser = optimiser
        self.predict_batch = predict_batch
        self.dtype = np.result_type(*(params[key] for key in WEIGHTS))
        self.weights = {key: np.array(params[key], dtype=self.dtype) for key in WEIGHTS}
        self.adam = {key: Adam(value.shape, self.dtype, optimiser) for key, value in self.weights.items()}

    def train_batch(self, x: np.ndarray, labels: np.ndarray, lr: float) -> BatchResult:
        """One update on a mini-batch: BPTT gradients of the batch-mean cross-entropy, plus the L2 gradient
        2 l2 W, then ADAM (docs/eprop.md). The W_rec diagonal is not a parameter and stays zero."""
        x = np.asarray(x, dtype=self.dtype)
        require_finite(x, "x")
        labels = check_labels(labels, self.config.n_out)
        record = bptt_forward(self.weights, x, self.config)
        grads = bptt_backward(self.weights, x, labels, record, self.config)
        for key in WEIGHTS:
            grad = grads[key] + l2_gradient(self.weights[key], self.optimiser.l2)
            if key == "w_rec":
                np.fill_diagonal(grad, 0.0)
            self.adam[key].step(self.weights[key], self.optimiser.learned(key, grad), lr)
        logits = record["logits"]
        return BatchResult(logits=logits, loss=cross_entropy(logits, labels))

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Time-averaged readout ybar (n, n_out), from the same forward code the PEs run (one PE, no learning)."""
        group = make_group(self.config, self.weights, 1, learning=False)
        x = np.asarray(x, dtype=self.dtype)
        require_finite(x, "x")
        parts = [np.sum(run_forward(group, x[part]), axis=0) for part in sub_batches(len(x), self.predict_batch)]
        return np.concatenate(parts) if parts else np.zeros((0, self.config.n_out), self.dtype)

    def advance(self, seconds: float) -> None:
        """Float weights do not drift: device time changes nothing."""

    @property
    def writes(self) -> None:
        """Float weights have no device writes."""
        return None

    def params(self) -> dict[str, np.ndarray]:
        """Current weights (copies)."""
        return {key: value.copy() for key, value in self.weights.items()}

    def state(self) -> dict[str, np.ndarray]:
        """Weights, ADAM moments ``m_*``/``v_*`` and the step count ``adam_n``, keyed like the PE engines."""
        state = self.params()
        for key in WEIGHTS:
            state[f"m_{key}"] = self.adam[key].m.copy()
            state[f"v_{key}"] = self.adam[key].v.copy()
        state["adam_n"] = np.array(self.adam["w_in"].n)
        return state

    def load_state(self, state: dict[str, np.ndarray]) -> None:
        """Restore what :meth:`state` (of this or a PE engine) returned; a missing key or a shape mismatch
        raises a ValueError naming it."""
        expected = self.state()
        for key, target in expected.items():
            if key not in state:
                raise ValueError(f"state lacks {key!r}; expected keys {sorted(expected)}")
            value = np.asarray(state[key])
            if value.shape != target.shape:
                raise ValueError(f"state {key!r} has shape {value.shape}, this engine expects {target.shape}")
        for key in WEIGHTS:
            self.weights[key][...] = state[key]
            self.adam[key].m[...] = state[f"m_{key}"]
            self.adam[key].v[...] = state[f"v_{key}"]
            self.adam[key].n = int(state["adam_n"])
