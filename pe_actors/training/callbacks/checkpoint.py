"""Checkpoints of a run as it trains, and which of them are kept."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from pe_actors.core.checkpoint import prune_checkpoints, save_checkpoint
from pe_actors.training.state import BatchRecord, Callback, Training, TrainState


class CheckpointCallback(Callback):
    """Writes a checkpoint (see :mod:`pe_actors.core.checkpoint`) every ``every`` training samples (at the first
    batch boundary past each multiple) and at each epoch end, then keeps the ``keep_last`` newest and the best by
    validation accuracy. ``meta`` (the run config, network, class names, ...) is stored in every checkpoint."""

    def __init__(self, root: Path | str, every: int | None, keep_last: int = 3, meta: dict[str, Any] | None = None):
        if every is not None and (not isinstance(every, int) or every < 1):
            raise ValueError(f"checkpoint interval must be a positive number of samples or None, got {every!r}")
        self.root = Path(root)
        self.every = every
        self.keep_last = keep_last
        self.meta = dict(meta or {})
        self.last: Path | None = None

    def save(self, trainer: Training, state: TrainState, validation_accuracy: float | None = None) -> Path:
        """Write a checkpoint of the engine and ``state`` now, named ``ckpt-e<epochs done>-s<samples trained>``."""
        meta = {**self.meta, **state.to_meta(), "validation_accuracy": validation_accuracy}
        arrays = {} if state.order is None else {"order": np.asarray(state.order, dtype=np.int64)}
        name = f"e{state.epoch:03d}-s{state.global_samples:010d}"
        self.last = save_checkpoint(self.root, name, trainer.engine.state(), arrays, meta)
        prune_checkpoints(self.root, self.keep_last)
        return self.last

    def on_train_begin(self, trainer: Training, state: TrainState) -> None:
        self._next = self._following(state.global_samples)

    def _following(self, samples: int) -> int | None:
        return None if self.every is None else (samples // self.every + 1) * self.every

    def on_batch_end(self, trainer: Training, state: TrainState, batch: BatchRecord) -> None:
        if self._next is not None and state.global_samples >= self._next and state.position < len(state.order):
            self.save(trainer, state)
            self._next = self._following(state.global_samples)

    def on_epoch_end(self, trainer: Training, state: TrainState, record: dict[str, Any]) -> None:
        self.save(trainer, state, validation_accuracy=record["validation_accuracy"])
        self._next = self._following(state.global_samples)
