"""The run directory, a public format: what a training run writes and what :class:`Run` reads back.

    RUN/run-config.toml    the run's settings (``pe-actors train --config`` and ``pe_actors.train(config=...)``
                           read it back)
    RUN/metrics.jsonl      one JSON record per --log-every batches and per epoch (``kind``: batch or epoch)
    RUN/checkpoints/       ckpt-e<epoch>-s<samples> directories (the latest few and the best by validation)
    RUN/curves.json        the epoch records; curves.png draws them
    RUN/summary.json       the last and the best-validation epoch, whether the data are synthetic, the seconds
                           spent and the run config

A run's result is its best-validation epoch (the latest on ties): that epoch's checkpoint is kept, and
``pe_actors.load`` and ``pe-actors evaluate`` pick it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pe_actors.training.trainer import best_epoch

RUN_CONFIG = "run-config.toml"
METRICS = "metrics.jsonl"
CHECKPOINTS = "checkpoints"
CURVES_JSON = "curves.json"
CURVES_PNG = "curves.png"
SUMMARY = "summary.json"
#: Where a run without ``out`` goes.
DEFAULT_OUT = Path("runs/train")


@dataclass(frozen=True)
class Run:
    """A finished run directory: its per-epoch ``history``, ``summary`` and best-validation epoch ``best``."""

    path: Path
    history: list[dict] = field(repr=False)
    summary: dict = field(repr=False)

    @property
    def best(self) -> dict:
        """The record of the epoch with the best validation accuracy, the latest on ties (the run's result)."""
        return best_epoch(self.history)

    @property
    def final(self) -> dict:
        """The record of the last epoch."""
        return self.summary["final"]

    def model(self) -> Any:
        """The run's best-validation model, a :class:`pe_actors.api.Model` (see :func:`pe_actors.load`)."""
        from pe_actors.api import load

        return load(self.path)

    @classmethod
    def read(cls, path: Path | str) -> Run:
        """The run in directory ``path`` (``curves.json`` and ``summary.json`` of a finished run)."""
        path = Path(path)
        try:
            history = json.loads((path / CURVES_JSON).read_text())
            summary = json.loads((path / SUMMARY).read_text())
        except (OSError, json.JSONDecodeError) as error:
            raise ValueError(f"{path} holds no finished run (curves.json and summary.json): {error}") from None
        return cls(path, history, summary)


def run_dir_of(checkpoint: Path) -> Path:
    """The run directory holding ``checkpoint`` (``RUN/checkpoints/ckpt-...``)."""
    return checkpoint.parent.parent if checkpoint.parent.name == CHECKPOINTS else checkpoint.parent
