"""Stopping a run cleanly: a signal stops it at the next batch boundary."""

from __future__ import annotations

from typing import Any

from pe_actors.training.state import Callback, Training, TrainState


class StopRequest(Callback):
    """SIGTERM (a scheduler, ``kill``) or Ctrl-C stops the run at the next batch boundary, after that batch's
    checkpoint and metrics are written, so that a signal never lands inside a checkpoint write (an exception raised
    there from a signal handler can surface as an unrelated error); a second signal stops at once. Runs that are
    not a trainer's (an adaptation) read :attr:`requested` at their own boundaries."""

    def __init__(self) -> None:
        self.requested = False

    def handler(self, signum: int, frame: Any) -> None:
        """The signal handler: the first signal requests the stop, a second raises KeyboardInterrupt at once."""
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True

    def on_batch_end(self, trainer: Training, state: TrainState, batch: Any) -> None:
        if self.requested:
            raise KeyboardInterrupt

    def on_epoch_end(self, trainer: Training, state: TrainState, record: dict[str, Any]) -> None:
        if self.requested:
            raise KeyboardInterrupt
