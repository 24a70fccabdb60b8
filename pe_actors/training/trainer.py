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
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from pe_actors.core.checkpoint import (
    Checkpoint,
    load_checkpoint,
    rng_from_meta,
    rng_to_meta,
)
from pe_actors.core.checks import require_finite
from pe_actors.core.engine import Engine
from pe_actors.core.optimiser import OptimiserConfig, learning_rate
from pe_actors.rules.eprop.readout import check_labels, cross_entropy
from pe_actors.training.augment import BatchAugment

SPLITS = ("train", "validation", "test")


@dataclass(frozen=True)
class TrainConfig:
    """The training loop's settings.

    epochs: epochs to train in total (a resumed run counts the epochs already done);
    batch_size: samples per ADAM step (G groups x sub-batch k);
    seed: seeds the Generator that shuffles the training set each epoch;
    max_samples: at most this many training samples per epoch (a fresh random subset each epoch); None: all;
    eval_batch: samples per ``predict`` call when evaluating (bounds memory, not results);
    log_every: a ``batch`` metrics record every this many batches.
    """

    epochs: int = 1
    batch_size: int = 1
    seed: int = 0
    max_samples: int | None = None
    eval_batch: int = 256
    log_every: int = 10

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_size", "eval_batch", "log_every"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"TrainConfig.{name} must be a positive integer, got {value!r}")
        if not isinstance(self.seed, int) or isinstance(self.seed, bool) or self.seed < 0:
            raise ValueError(f"TrainConfig.seed must be a non-negative integer, got {self.seed!r}")
        if self.max_samples is not None and (not isinstance(self.max_samples, int) or self.max_samples < 1):
            raise ValueError(f"TrainConfig.max_samples must be a positive integer or None, got {self.max_samples!r}")


@dataclass(frozen=True)
class Splits:
    """Features (N, T, n_in) and integer labels (N,) of the train, validation and test splits."""

    train: tuple[np.ndarray, np.ndarray]
    validation: tuple[np.ndarray, np.ndarray]
    test: tuple[np.ndarray, np.ndarray]

    @classmethod
    def from_dict(cls, splits: dict[str, tuple[np.ndarray, np.ndarray]]) -> Splits:
        """From a dict keyed ``train``, ``validation``, ``test`` (as ``pe_actors_datasets.PreparedData.splits``)."""
        missing = [name for name in SPLITS if name not in splits]
        if missing:
            raise ValueError(f"data lacks the split(s) {missing}; expected {list(SPLITS)}")
        return cls(**{name: splits[name] for name in SPLITS})

    def check(self, n_steps: int, n_in: int, n_out: int) -> None:
        """Raise a ValueError naming the split (and sample) when shapes or labels do not fit the network or a
        feature is NaN or Inf."""
        for name in SPLITS:
            x, labels = getattr(self, name)
            if x.ndim != 3 or x.shape[1:] != (n_steps, n_in):
                raise ValueError(f"{name} features have shape {x.shape}; the network needs (N, {n_steps}, {n_in})")
            require_finite(x, name)
            if len(labels) != len(x):
                raise ValueError(f"{name} split holds {len(x)} samples but {len(labels)} labels")
            try:
                check_labels(labels, n_out)
            except ValueError as error:
                raise ValueError(f"{name} labels: {error}") from None
        if len(self.train[0]) == 0:
            raise ValueError("the train split is empty")


@dataclass
class TrainState:
    """Where training stands: what a checkpoint stores besides the engine state.

    epoch: the current (0-based) epoch; position: samples of it already trained; global_samples: samples trained
    in all epochs; order: the sample order of the current epoch (None before it is drawn); rng: the shuffling
    Generator; sums: running loss/correct/count of the current epoch; history: the finished epochs' records.
    """

    rng: np.random.Generator
    epoch: int = 0
    position: int = 0
    global_samples: int = 0
    order: np.ndarray | None = None
    sums: dict[str, float] = field(default_factory=lambda: {"loss": 0.0, "correct": 0.0, "count": 0.0, "seconds": 0.0})
    history: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def fresh(cls, seed: int) -> TrainState:
        """The state at the start of a run seeded with ``seed``."""
        return cls(rng=np.random.default_rng(seed))

    def to_meta(self) -> dict[str, Any]:
        """The msgpack-serialisable part (the order goes into the checkpoint's arrays)."""
        return {
            "epoch": self.epoch,
            "position": self.position,
            "global_samples": self.global_samples,
            "rng": rng_to_meta(self.rng),
            "sums": dict(self.sums),
            "history": self.history,
        }

    @classmethod
    def from_checkpoint(cls, checkpoint: Checkpoint) -> TrainState:
        """The state a checkpoint recorded; a missing or mistyped field raises a ValueError naming the checkpoint."""
        meta = checkpoint.meta
        counts = {name: meta.get(name) for name in ("epoch", "position", "global_samples")}
        for name, value in counts.items():
            if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 0):
                raise ValueError(f"checkpoint {checkpoint.path}: trainer field {name!r} must be a count, got {value!r}")
        if not isinstance(meta.get("sums", {}), dict) or not isinstance(meta.get("history", []), list):
            raise ValueError(f"checkpoint {checkpoint.path}: trainer fields 'sums' and 'history' are malformed")
        try:
            return cls(
                rng=rng_from_meta(meta["rng"]),
                epoch=int(meta["epoch"]),
                position=int(meta["position"]),
                global_samples=int(meta["global_samples"]),
                order=checkpoint.trainer_arrays.get("order"),
                sums={key: float(value) for key, value in meta["sums"].items()},
                history=list(meta["history"]),
            )
        except KeyError as error:
            raise ValueError(f"checkpoint {checkpoint.path} lacks the trainer field {error}") from None
        except (TypeError, ValueError) as error:
            raise ValueError(f"checkpoint {checkpoint.path}: a trainer field is malformed: {error}") from None


@dataclass(frozen=True)
class BatchRecord:
    """One trained mini-batch: its size, mean loss, correct count, learning rate, wall time, and the engine's device
    writes so far (None for an engine without device synapses)."""

    epoch: int
    size: int
    loss: float
    correct: int
    lr: float
    seconds: float
    writes: int | None = None


class Callback:
    """Hooks the trainer calls; subclasses override the ones they need."""

    def on_train_begin(self, trainer: Trainer, state: TrainState) -> None:
        """Before the first batch (of a fresh or resumed run)."""

    def on_epoch_begin(self, trainer: Trainer, state: TrainState) -> None:
        """After the epoch's order is drawn, before its first (remaining) batch."""

    def on_batch_end(self, trainer: Trainer, state: TrainState, batch: BatchRecord) -> None:
        """After each mini-batch's update (``state`` already counts it)."""

    def on_epoch_end(self, trainer: Trainer, state: TrainState, record: dict[str, Any]) -> None:
        """After evaluation; ``state`` already points at the next epoch, ``record`` is the epoch's metrics."""

    def on_train_end(self, trainer: Trainer, state: TrainState) -> None:
        """After the last epoch, or when training stops with an exception (then from a ``finally``)."""


@dataclass(frozen=True)
class Recovered:
    """What a :class:`Recovery` did: repaired the engine (``rewind_to`` None: retry the failed call), or restored
    the engine state of ``rewind_to`` (the trainer then continues from that checkpoint's position)."""

    rewind_to: Checkpoint | None = None


class Recovery:
    """The trainer's policy when an engine call raises: this base class repairs nothing (the error propagates).

    Subclasses override :meth:`recover`, for example to rebuild a failed group of PE actors from its replicas or
    from the last checkpoint. At most ``max_attempts`` recoveries are tried for one call.
    """

    max_attempts: int = 3

    def recover(self, trainer: Trainer, state: TrainState, error: Exception) -> Recovered | None:
        """Repair ``trainer.engine`` after ``error``; None re-raises the error."""
        return None


class _RewindError(Exception):
    """Internal: unwinds an epoch so that :meth:`Trainer.fit` continues from a restored checkpoint."""

    def __init__(self, checkpoint: Checkpoint) -> None:
        super().__init__(str(checkpoint.path))
        self.checkpoint = checkpoint


def evaluate(engine: Engine, x: np.ndarray, labels: np.ndarray, batch: int = 256) -> dict[str, Any]:
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


def __getattr__(name: str) -> Any:
    # The callbacks moved to pe_actors.training.callbacks; their old import path still works.
    if name in ("MetricsLog", "CheckpointCallback", "ProgressBar"):
        from pe_actors.training import callbacks

        return getattr(callbacks, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def resume_state(trainer: Trainer, path: Path | str) -> TrainState:
    """Load the checkpoint at ``path`` into the trainer's engine and return the state to continue from."""
    return trainer.restore(load_checkpoint(path))
