"""What a user watches while a run trains: a progress bar per epoch and a line per finished epoch."""

from __future__ import annotations

import sys
from typing import Any

from tqdm.auto import tqdm

from pe_actors.core.logs import log
from pe_actors.training.state import BatchRecord, Callback, Training, TrainState


class ProgressBar(Callback):
    """A tqdm bar per epoch with samples/s and the running loss and accuracy of the epoch (a widget in Jupyter),
    and one line per finished epoch, logged (INFO, :mod:`pe_actors.core.logs`). ``disable`` hides the bars, not
    the lines; so does a stderr that is not a terminal (a redirected log), where a bar would only write
    carriage-return lines."""

    def __init__(self, disable: bool = False) -> None:
        interactive = sys.stderr.isatty() or "notebook" in tqdm.__module__
        self.disable = disable or not interactive
        self.bar = None

    def on_epoch_begin(self, trainer: Training, state: TrainState) -> None:
        self._close()
        self.bar = tqdm(
            total=len(state.order),
            initial=state.position,
            desc=f"epoch {state.epoch + 1}/{trainer.config.epochs}",
            unit="sample",
            disable=self.disable,
            dynamic_ncols=True,
        )

    def on_batch_end(self, trainer: Training, state: TrainState, batch: BatchRecord) -> None:
        count = max(state.sums["count"], 1)
        self.bar.set_postfix(loss=f"{state.sums['loss'] / count:.3f}", acc=f"{state.sums['correct'] / count:.3f}")
        self.bar.update(batch.size)

    def on_epoch_end(self, trainer: Training, state: TrainState, record: dict[str, Any]) -> None:
        self._close()
        silence = record.get("silence") or {}
        log.info(
            f"epoch {record['epoch']}: train acc {record['train_accuracy']:.3f} loss {record['train_loss']:.3f}"
            f" | validation acc {record['validation_accuracy']:.3f} | test acc {record['test_accuracy']:.3f}"
            + "".join(f" | {name.replace('_', ' ')} {100 * value:.1f} %" for name, value in silence.items())
        )

    def _close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None

    def on_train_end(self, trainer: Training, state: TrainState) -> None:
        self._close()
