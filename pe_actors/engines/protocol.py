"""The engine protocol the trainer uses, and the result of one training batch."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np


@dataclass(frozen=True)
class BatchResult:
    """What an engine reports of a batch: the class scores (argmax is the prediction) and the per-sample loss.

    logits: (n, n_out); loss: (n,). Rule-internal quantities (e-prop's output error, EventProp's output errors)
    stay inside the rule.
    """

    logits: np.ndarray
    loss: np.ndarray

    @staticmethod
    def concatenate(results: list[BatchResult]) -> BatchResult:
        """The results of consecutive parts of a batch, in order, as one."""
        return BatchResult(
            logits=np.concatenate([r.logits for r in results]), loss=np.concatenate([r.loss for r in results])
        )


class Engine(Protocol):
    """Trains one network (possibly as replicas): the interface :class:`pe_actors.training.trainer.Trainer` needs."""

    def train_batch(self, x: np.ndarray, labels: np.ndarray, lr: float) -> BatchResult: ...

    def predict(self, x: np.ndarray) -> np.ndarray: ...

    def params(self) -> dict[str, np.ndarray]: ...

    def state(self) -> dict[str, np.ndarray]: ...

    def load_state(self, state: dict[str, np.ndarray]) -> None: ...
