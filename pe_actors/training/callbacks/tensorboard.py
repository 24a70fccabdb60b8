"""TensorBoard event files of a run's training scalars (docs/runtime.md, "Watching a run"), written with
tensorboardX: per batch the loss, accuracy and samples/s, on PE actors each PE's step latency and barrier wait;
per epoch the train, validation and test loss and accuracy. ``tensorboard --logdir RUN/tensorboard`` shows them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pe_actors.training.state import BatchRecord, Callback, Training, TrainState


class TensorBoardLog(Callback):
    """Writes the scalars into ``path`` (event files), the x axis being training samples."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self.writer = None

    def on_train_begin(self, trainer: Training, state: TrainState) -> None:
        from tensorboardX import SummaryWriter

        if self.writer is None:
            self.writer = SummaryWriter(str(self.path), flush_secs=10)

    def on_batch_end(self, trainer: Training, state: TrainState, batch: BatchRecord) -> None:
        step = state.global_samples
        self.writer.add_scalar("batch/loss", batch.loss, step)
        self.writer.add_scalar("batch/accuracy", batch.correct / batch.size, step)
        if batch.seconds > 0:
            self.writer.add_scalar("batch/samples_per_s", batch.size / batch.seconds, step)
        for pe in getattr(trainer.engine, "pe_timing", None) or []:
            name = f"g{pe['group']}_p{pe['pe']:02d}"
            self.writer.add_scalar(f"pe_step_ms/{name}", pe["step_ms"], step)
            self.writer.add_scalar(f"pe_barrier_wait_ms/{name}", pe["barrier_wait_ms"], step)

    def on_epoch_end(self, trainer: Training, state: TrainState, record: dict[str, Any]) -> None:
        for split in ("train", "validation", "test"):
            for quantity in ("loss", "accuracy"):
                self.writer.add_scalar(f"epoch/{split}_{quantity}", record[f"{split}_{quantity}"], state.global_samples)
        self.writer.flush()

    def on_train_end(self, trainer: Training, state: TrainState) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None
