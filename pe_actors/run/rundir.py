"""The run directory, a public format: what a training or adaptation run writes, known by name only here
(:class:`RunDir`), and what :class:`Run` reads back.

    RUN/run-config.toml    the run's settings (``pe-actors train --config`` and ``pe_actors.train(config=...)``
                           read it back)
    RUN/metrics.jsonl      one JSON record per --log-every batches and per epoch (``kind``: batch or epoch)
    RUN/checkpoints/       ckpt-e<epoch>-s<samples> directories (the latest few and the best by validation); an
                           adaptation's ckpt-adapted-n<samples>
    RUN/curves.json        the epoch records; curves.png draws them
    RUN/summary.json       the last and the best-validation epoch, whether the data are synthetic, the seconds
                           spent and the run config
    RUN/adaptation.json    an adaptation's curve, sample order and settings; adaptation.csv and .png beside it
    RUN/memory.json        the bytes per PE of an adaptation; memory.png draws them
    RUN/evaluation/        what ``pe-actors evaluate`` writes of the run's best checkpoint
    RUN/tensorboard/       TensorBoard event files (``--tensorboard``); RUN/prometheus/ the ``--monitor`` data
    RUN/.lock              the pid of the live process that owns the run (an exclusive lock while it runs)

A run's result is its best-validation epoch (the latest on ties): that epoch's checkpoint is kept, and
``pe_actors.load`` and ``pe-actors evaluate`` pick it.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pe_actors.run.config import ConfigError
from pe_actors.training.trainer import best_epoch

RUN_CONFIG = "run-config.toml"
METRICS = "metrics.jsonl"
CHECKPOINTS = "checkpoints"
CURVES_JSON = "curves.json"
CURVES_PNG = "curves.png"
SUMMARY = "summary.json"
#: Where a run without ``out`` goes.
DEFAULT_OUT = Path("runs/train")
#: The lock file that marks a run directory as owned by a live process.
LOCK = ".lock"


@dataclass(frozen=True)
class RunDir:
    """A run directory (see the module docstring): the paths of its files, its lock and its checkpoints."""

    path: Path

    def __post_init__(self) -> None:
        object.__setattr__(self, "path", Path(self.path))

    @classmethod
    def of_checkpoint(cls, checkpoint: Path | str) -> RunDir:
        """The run directory holding ``checkpoint`` (``RUN/checkpoints/ckpt-...``)."""
        return cls(run_dir_of(Path(checkpoint)))

    run_config = property(lambda self: self.path / RUN_CONFIG, doc="run-config.toml")
    metrics = property(lambda self: self.path / METRICS, doc="metrics.jsonl")
    checkpoints = property(lambda self: self.path / CHECKPOINTS, doc="checkpoints/")
    curves_json = property(lambda self: self.path / CURVES_JSON, doc="curves.json")
    curves_png = property(lambda self: self.path / CURVES_PNG, doc="curves.png")
    summary = property(lambda self: self.path / SUMMARY, doc="summary.json")
    adaptation_json = property(lambda self: self.path / "adaptation.json", doc="adaptation.json")
    adaptation_csv = property(lambda self: self.path / "adaptation.csv", doc="adaptation.csv")
    adaptation_png = property(lambda self: self.path / "adaptation.png", doc="adaptation.png")
    memory_json = property(lambda self: self.path / "memory.json", doc="memory.json")
    memory_png = property(lambda self: self.path / "memory.png", doc="memory.png")
    evaluation = property(lambda self: self.path / "evaluation", doc="evaluation/")
    tensorboard = property(lambda self: self.path / "tensorboard", doc="tensorboard/")
    prometheus = property(lambda self: self.path / "prometheus", doc="prometheus/")

    def has_checkpoints(self) -> bool:
        """True when the directory already holds checkpoints (a run would continue them, not start afresh)."""
        return self.checkpoints.is_dir() and any(self.checkpoints.iterdir())

    def owned(self) -> Any:
        """Own the directory for a block (see :func:`owned`)."""
        return owned(self.path)

    def read(self) -> Run:
        """The finished run in the directory."""
        return Run.read(self.path)


class RunDirectoryBusyError(ConfigError):
    """The run directory is owned by another live process; ``pid`` names it (a usage error of ``out``)."""

    def __init__(self, message: str, pid: int | None) -> None:
        super().__init__(message, "out")
        self.pid = pid


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
        from pe_actors.run.model import load

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


@contextmanager
def owned(out: Path) -> Iterator[Path]:
    """Own the run directory ``out`` (created if missing) for the block: an exclusive lock on ``out/.lock``
    holding this process's pid. A directory another live process owns raises :class:`RunDirectoryBusyError` naming
    it; the kernel drops a dead owner's lock, so its directory is taken over. Two runs can then never write one
    directory's checkpoints and metrics at once, and clean-up within it touches only this run's files."""
    out = Path(out)
    try:
        created = not out.exists()
        out.mkdir(parents=True, exist_ok=True)
        handle = open(out / LOCK, "a+")  # noqa: SIM115 - held for the block, closed in finally
    except OSError as error:
        raise ConfigError(f"cannot create the run directory {str(out)!r}: {error.strerror}", "out") from None
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as error:
            if error.errno not in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                raise
            handle.seek(0)
            text = handle.read().strip()
            pid = int(text) if text.isdigit() else None
            owner = f"process {pid}" if pid else "another process"
            raise RunDirectoryBusyError(
                f"run directory {out} is in use by {owner}; wait for it to finish or choose another --out", pid
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        try:
            yield out
        except BaseException:
            # A run refused before it wrote anything leaves no directory behind.
            if created and {p.name for p in out.iterdir()} <= {LOCK}:
                (out / LOCK).unlink(missing_ok=True)
                out.rmdir()
            raise
    finally:
        handle.close()


def unique_run_name(out: Path, prefix: str = "") -> str:
    """A name for the run's Ray namespace, placement groups and shared-memory mailboxes: the run directory's name,
    this process's pid and a random part, so that no two runs on a node share one (mailboxes of dead runs are
    removed by their dead pid); 1-64 characters of letters, digits, '_', '.', '-'."""
    stem = re.sub(r"[^A-Za-z0-9_.-]", "-", f"{prefix}{Path(out).resolve().name}")[:40]
    return f"{stem}-{os.getpid()}-{uuid.uuid4().hex[:8]}"

