"""The engine-agnostic training loop: epochs of shuffled mini-batches, the step learning-rate schedule, evaluation
on validation and test after each epoch, and callbacks for progress, metrics and checkpoints.

Any engine with ``train_batch(x, labels, lr) -> BatchResult``, ``predict(x) -> logits``, ``state()`` and
``load_state(state)`` can be trained: the in-process PEs, the Ray actors, the replay engine or the BPTT engine.
The sample order is drawn from one seeded numpy Generator at the start of each epoch; the Generator's state, the
order of the current epoch and the position in it are part of a checkpoint, so a resumed run takes exactly the
batches an uninterrupted run takes and ends with the same weights.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from pe_actors.core.checkpoint import (
    Checkpoint,
    load_checkpoint,
)
from pe_actors.core.classify import cross_entropy
from pe_actors.core.engine import EVALUATION_BATCH, Engine
from pe_actors.core.optimiser import OptimiserConfig, learning_rate
from pe_actors.training.augment import BatchAugment
from pe_actors.training.callbacks import CheckpointCallback, MetricsLog, ProgressBar
from pe_actors.training.state import (
    SPLITS,
    BatchRecord,
    Callback,
    Recovered,
    Recovery,
    Splits,
    TrainConfig,
    Training,
    TrainState,
)

# The run's callbacks lived here before they had a folder; their old import path still works.
__all__ = [
    "SPLITS", "BatchRecord", "Callback", "CheckpointCallback", "MetricsLog", "NonFiniteError", "ProgressBar",
    "Recovered", "Recovery", "Splits", "TrainConfig", "TrainState", "Trainer", "Training", "best_epoch", "evaluate",
    "resume_state",
]

class _RewindError(Exception):
    """Internal: unwinds an epoch so that :meth:`Trainer.fit` continues from a restored checkpoint."""

    def __init__(self, checkpoint: Checkpoint) -> None:
        super().__init__(str(checkpoint.path))
        self.checkpoint = checkpoint


def evaluate(engine: Engine, x: np.ndarray, labels: np.ndarray, batch: int = EVALUATION_BATCH) -> dict[str, Any]:
    """Mean cross-entropy, accuracy and predictions of ``engine`` on (x, labels), predicting ``batch`` at a time."""
    logits = [engine.predict(x[start : start + batch]) for start in range(0, len(x), batch)]
    logits = np.concatenate(logits) if logits else np.zeros((0, 1))
    labels = np.asarray(labels, dtype=np.int64)
    if len(labels) == 0:
        return {"loss": float("nan"), "accuracy": float("nan"), "predictions": np.zeros(0, np.int64)}
    predictions = logits.argmax(axis=1)
    return {
        "loss": float(cross_entropy(logits.astype(np.float64), labels).mean()),
        "accuracy": float(np.mean(predictions == labels)),
        "predictions": predictions,
    }


def best_epoch(history: list[dict[str, Any]]) -> dict[str, Any]:
    """The record of the epoch with the best validation accuracy, the latest on ties: the run's result, whose
    checkpoint :func:`pe_actors.core.checkpoint.best_checkpoint` keeps and ``evaluate`` picks."""
    if not history:
        raise ValueError("no epoch was trained")
    return max(reversed(history), key=lambda record: record["validation_accuracy"])


class NonFiniteError(FloatingPointError):
    """Training produced a non-finite loss or gradient; the message names the batch. Nothing after the last
    checkpoint is written, so that checkpoint stays the last good one."""


class Trainer:
    """Trains ``engine`` on ``data`` with the optimiser's step schedule (lr x lr_decay every decay_every epochs).

    Args:
        engine: any engine (see :class:`Engine`).
        data: the three splits.
        optimiser: for the learning-rate schedule (the engine applies ADAM/L2 with its own copy).
        config: the loop's settings.
        callbacks: called in order at each hook.
        recovery: what to do when an engine call fails (default: let the error propagate).
        augment: builds each training batch from augmented views and masks (default: the train split's features).
    """

    def __init__(
        self,
        engine: Engine,
        data: Splits,
        optimiser: OptimiserConfig,
        config: TrainConfig,
        callbacks: list[Callback] | None = None,
        recovery: Recovery | None = None,
        augment: BatchAugment | None = None,
    ) -> None:
        self.engine = engine
        self.augment = augment
        self.data = data
        self.optimiser = optimiser
        self.config = config
        self.callbacks = list(callbacks or [])
        self.recovery = recovery or Recovery()

    @property
    def samples_per_epoch(self) -> int:
        """Training samples per epoch (the whole train split, or ``max_samples`` of it)."""
        n = len(self.data.train[0])
        return n if self.config.max_samples is None else min(n, self.config.max_samples)

    def restore(self, checkpoint: Checkpoint) -> TrainState:
        """Load a checkpoint's engine state into the engine and return its trainer state."""
        state = TrainState.from_checkpoint(checkpoint)
        if state.order is not None and len(state.order) != self.samples_per_epoch:
            raise ValueError(
                f"checkpoint {checkpoint.path} was taken with {len(state.order)} samples per epoch, "
                f"this run has {self.samples_per_epoch} (different data or --max-samples)"
            )
        self.engine.load_state(checkpoint.engine_state)
        return state

    def _call(self, hook: str, *args: Any) -> None:
        for callback in self.callbacks:
            getattr(callback, hook)(self, *args)

    def evaluate_splits(self) -> dict[str, float]:
        """Loss and accuracy on the validation and test splits, keyed ``validation_loss`` etc."""
        out = {}
        for name in ("validation", "test"):
            x, labels = getattr(self.data, name)
            result = evaluate(self.engine, x, labels, self.config.eval_batch)
            out[f"{name}_loss"] = result["loss"]
            out[f"{name}_accuracy"] = result["accuracy"]
        return out

    def _guarded(self, state: TrainState, call: Callable[[], Any]) -> Any:
        """``call()``, handing a failure to the recovery policy: retry after a repair, or rewind to a checkpoint
        (raised as :class:`_RewindError` for :meth:`fit`), or re-raise."""
        recoveries = 0
        while True:
            try:
                return call()
            except Exception as error:
                if recoveries == self.recovery.max_attempts:
                    raise
                recoveries += 1
                recovered = self.recovery.recover(self, state, error)
                if recovered is None:
                    raise
                if recovered.rewind_to is not None:
                    raise _RewindError(recovered.rewind_to) from error

    def _train_epoch(self, state: TrainState) -> dict[str, Any]:
        x_train, y_train = self.data.train
        if state.order is None:
            state.order = state.rng.permutation(len(x_train))[: self.samples_per_epoch]
        lr = learning_rate(self.optimiser, state.epoch)
        self._call("on_epoch_begin", state)
        while state.position < len(state.order):
            index = state.order[state.position : state.position + self.config.batch_size]
            start = time.perf_counter()
            labels = y_train[index]
            x = x_train[index] if self.augment is None else self.augment.batch(index, state.epoch)
            last = state.position + len(index) - 1
            where = f"epoch {state.epoch + 1}, samples {state.position}-{last} of the epoch's order"
            try:
                result = self._guarded(state, partial(self.engine.train_batch, x, labels, lr))
            except FloatingPointError as error:
                raise NonFiniteError(f"{where}: {error}; training stopped before this batch was recorded") from None
            seconds = time.perf_counter() - start
            loss = float(np.mean(result.loss))
            if not np.isfinite(loss):
                raise NonFiniteError(f"{where}: the loss is {loss}; training stopped before this batch was recorded")
            correct = int(np.sum(np.argmax(result.logits, axis=1) == labels))
            state.position += len(index)
            state.global_samples += len(index)
            state.sums["loss"] += loss * len(index)
            state.sums["correct"] += correct
            state.sums["count"] += len(index)
            state.sums["seconds"] += seconds
            writes = getattr(self.engine, "writes", None)
            record = BatchRecord(state.epoch, len(index), loss, correct, lr, seconds, writes)
            self._call("on_batch_end", state, record)
        return {
            "epoch": state.epoch + 1,
            "global_samples": state.global_samples,
            "lr": lr,
            "train_loss": state.sums["loss"] / max(state.sums["count"], 1),
            "train_accuracy": state.sums["correct"] / max(state.sums["count"], 1),
            "train_samples_per_s": state.sums["count"] / state.sums["seconds"] if state.sums["seconds"] > 0 else None,
            **self._guarded(state, self.evaluate_splits),
        }

    def fit(self, state: TrainState | None = None) -> TrainState:
        """Train until ``config.epochs`` epochs are done, from ``state`` (a resumed run) or from the start.

        When an engine call fails, the recovery policy may repair the engine and retry the call, or restore a
        checkpoint into the engine; training then continues from that checkpoint's position, so no sample's
        update is lost or applied twice.
        """
        state = state or TrainState.fresh(self.config.seed)
        self._call("on_train_begin", state)
        try:
            while state.epoch < self.config.epochs:
                try:
                    record = self._train_epoch(state)
                except _RewindError as rewind:
                    state = TrainState.from_checkpoint(rewind.checkpoint)
                    self._call("on_train_begin", state)
                    continue
                state.history.append(record)
                state.epoch += 1
                state.position = 0
                state.order = None
                state.sums = {"loss": 0.0, "correct": 0.0, "count": 0.0, "seconds": 0.0}
                self._call("on_epoch_end", state, record)
        finally:
            self._call("on_train_end", state)
        return state


def resume_state(trainer: Trainer, path: Path | str) -> TrainState:
    """Load the checkpoint at ``path`` into the trainer's engine and return the state to continue from."""
    return trainer.restore(load_checkpoint(path))
