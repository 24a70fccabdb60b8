"""The metrics log of a run: ``RUN/metrics.jsonl`` (pe_actors.run.rundir)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from pe_actors.core.logs import log
from pe_actors.training.state import BatchRecord, Callback, Training, TrainState


class MetricsLog(Callback):
    """Appends JSON lines to ``path``: a ``batch`` record every ``log_every`` batches (means since the last one,
    samples/s, the unix ``time``, on PE actors ``pe_timing``: each PE's step and barrier-wait ms of the last batch,
    and with device synapses the device writes per learning step and so far) and an ``epoch`` record with train,
    validation and test loss and accuracy, the ``time`` (and the device writes so far).

    On a resumed run, records past the checkpoint's sample count (written after it by the interrupted run) are
    dropped first, so the file reads as one uninterrupted run.
    """

    def __init__(self, path: Path | str, log_every: int = 10) -> None:
        self.path = Path(path)
        self.log_every = log_every
        self._reset()

    def _reset(self) -> None:
        self.batches = 0
        self.loss = self.correct = self.count = self.seconds = 0.0

    def _write(self, record: dict[str, Any]) -> None:
        with open(self.path, "a") as handle:
            handle.write(json.dumps(record) + "\n")

    def on_train_begin(self, trainer: Training, state: TrainState) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.path.exists():
            kept, dropped = [], 0
            for raw in self.path.read_bytes().splitlines():
                try:
                    line = raw.decode("utf-8")
                    record = json.loads(line)
                except (UnicodeDecodeError, json.JSONDecodeError):
                    # A killed run can leave a partial last line, a damaged disk a bad byte: the line is dropped
                    # like the records past the checkpoint.
                    dropped += 1
                    continue
                samples = record.get("global_samples", 0) if isinstance(record, dict) else None
                if isinstance(samples, int) and samples <= state.global_samples:
                    kept.append(line)
            if dropped:
                log.warning(f"{self.path}: dropped {dropped} unreadable line(s) of the metrics log")
            self.path.write_text("".join(line + "\n" for line in kept))
        self._reset()
        # Device writes when the current window of batches began (None: the engine has no device synapses).
        self.window_writes = getattr(trainer.engine, "writes", None)

    def on_batch_end(self, trainer: Training, state: TrainState, batch: BatchRecord) -> None:
        self.batches += 1
        self.loss += batch.loss * batch.size
        self.correct += batch.correct
        self.count += batch.size
        self.seconds += batch.seconds
        if self.batches % self.log_every == 0:
            record = {
                "kind": "batch",
                "epoch": batch.epoch + 1,
                "global_samples": state.global_samples,
                "lr": batch.lr,
                "loss": self.loss / self.count,
                "accuracy": self.correct / self.count,
                "samples_per_s": self.count / self.seconds if self.seconds > 0 else None,
            }
            record["time"] = time.time()
            pe_timing = getattr(trainer.engine, "pe_timing", None)
            if pe_timing:
                record["pe_timing"] = pe_timing
            if batch.writes is not None and self.window_writes is not None:
                record["writes_per_step"] = (batch.writes - self.window_writes) / self.batches
                record["device_writes"] = batch.writes
            self._write(record)
            self._reset()
            self.window_writes = batch.writes

    def on_epoch_end(self, trainer: Training, state: TrainState, record: dict[str, Any]) -> None:
        writes = getattr(trainer.engine, "writes", None)
        extra = {"time": time.time(), **({} if writes is None else {"device_writes": writes})}
        self._write({"kind": "epoch", **record, **extra})
        self._reset()
        self.window_writes = writes
