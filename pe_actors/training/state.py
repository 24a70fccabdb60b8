"""What the training loop shares with what it calls: its settings, the data splits, where training stands, the
record of a batch, the callback hooks and the recovery policy (:mod:`pe_actors.training.trainer` runs the loop,
:mod:`pe_actors.training.callbacks` holds the run's callbacks)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from pe_actors.core.checkpoint import Checkpoint, rng_from_meta, rng_to_meta
from pe_actors.core.checks import require_finite
from pe_actors.core.classify import check_labels
from pe_actors.core.engine import Engine

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


class Training(Protocol):
    """What a callback or a recovery sees of the trainer: its engine, its data splits and its loop settings."""

    engine: Engine
    data: Splits
    config: TrainConfig


class Callback:
    """Hooks the trainer calls; subclasses override the ones they need."""

    def on_train_begin(self, trainer: Training, state: TrainState) -> None:
        """Before the first batch (of a fresh or resumed run)."""

    def on_epoch_begin(self, trainer: Training, state: TrainState) -> None:
        """After the epoch's order is drawn, before its first (remaining) batch."""

    def on_batch_end(self, trainer: Training, state: TrainState, batch: BatchRecord) -> None:
        """After each mini-batch's update (``state`` already counts it)."""

    def on_epoch_end(self, trainer: Training, state: TrainState, record: dict[str, Any]) -> None:
        """After evaluation; ``state`` already points at the next epoch, ``record`` is the epoch's metrics."""

    def on_train_end(self, trainer: Training, state: TrainState) -> None:
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

    def recover(self, trainer: Training, state: TrainState, error: Exception) -> Recovered | None:
        """Repair ``trainer.engine`` after ``error``; None re-raises the error."""
        return None
