"""The notebook-level API: :func:`train` runs ``pe-actors train`` with its options as keyword arguments and returns
a :class:`Run`; :func:`adapt` runs ``pe-actors adapt`` and returns its curve; :func:`load` turns a run directory or
checkpoint into a :class:`Model` with ``predict``, ``evaluate`` and ``state``.

A run's result is its best-validation epoch: that epoch's checkpoint is kept, :func:`load` (like
``pe-actors evaluate``) picks it, and :attr:`Run.best` holds its record.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from pe_actors.core.checkpoint import Checkpoint, load_checkpoint, resolve_checkpoint
from pe_actors.training.trainer import best_epoch
from pe_actors.training.trainer import evaluate as evaluate_engine


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

    def model(self) -> Model:
        """The run's best-validation model (see :func:`load`)."""
        return load(self.path)

    @classmethod
    def read(cls, path: Path | str) -> Run:
        """The run in directory ``path`` (``curves.json`` and ``summary.json`` of a finished run)."""
        path = Path(path)
        try:
            history = json.loads((path / "curves.json").read_text())
            summary = json.loads((path / "summary.json").read_text())
        except (OSError, json.JSONDecodeError) as error:
            raise ValueError(f"{path} holds no finished run (curves.json and summary.json): {error}") from None
        return cls(path, history, summary)


def train(callbacks: list | None = None, **options: Any) -> Run:
    """Train as ``pe-actors train`` does, with its options as keyword arguments (``sub_batch=4`` for
    ``--sub-batch 4``, ``progress=False`` for ``--no-progress``, ``config="main"`` for ``--config main``), and
    return the finished :class:`Run`. ``callbacks`` (:class:`pe_actors.training.trainer.Callback` objects) are
    called with the run's own. An unknown option raises a TypeError naming it; a bad value the CLI's usage error
    (click.BadParameter) naming the option."""
    import click

    from pe_actors_launcher.options import command_args
    from pe_actors_launcher.train import train as command

    try:
        args = command_args(command, options)
    except TypeError as error:
        raise TypeError(f"train() got an {error}") from None
    try:
        command.main(args, prog_name="pe_actors.train", standalone_mode=False, obj={"callbacks": callbacks or []})
    except click.exceptions.Abort:
        raise KeyboardInterrupt from None
    if options.get("out"):
        return Run.read(options["out"])
    if options.get("resume"):
        from pe_actors_launcher.train import run_dir_of

        return Run.read(run_dir_of(resolve_checkpoint(options["resume"])))
    return Run.read("runs/train")


def adapt(**options: Any) -> dict:
    """Adapt a trained network as ``pe-actors adapt`` does, with its options as keyword arguments
    (``checkpoint=RUN``, ``gsc_dir=FOLDER``, ``samples=100``, ``progress=False`` for ``--no-progress``), and return
    its ``adaptation.json``: the curve (accuracy on the new condition and the original task after each evaluation
    point), the sample order and the settings. The adapted network is ``load(out)``. Unknown options raise a
    TypeError naming them; bad values the CLI's usage error naming the option."""
    import click

    from pe_actors_launcher.adapt import adapt_command
    from pe_actors_launcher.options import command_args

    if "progress" in options:
        options["no_progress"] = not options.pop("progress")
    try:
        args = command_args(adapt_command, options)
    except TypeError as error:
        raise TypeError(f"adapt() got an {error}") from None
    try:
        adapt_command.main(args, prog_name="pe_actors.adapt", standalone_mode=False)
    except click.exceptions.Abort:
        raise KeyboardInterrupt from None
    out = Path(options.get("out") or "runs/adapt")
    return json.loads((out / "adaptation.json").read_text())


class Model:
    """A trained network from a checkpoint, on the rule's fast off-chip engine (e-prop: replay, reading the
    checkpoint's synapses as the PEs would; EventProp: the vectorised engine).

    Attributes: ``checkpoint``, ``config`` (the network), ``class_names``, ``rule``.
    """

    def __init__(self, checkpoint: Checkpoint) -> None:
        from pe_actors.engines.registry import from_checkpoint, network_of

        self.checkpoint = checkpoint
        meta = checkpoint.meta
        self.rule = meta.get("rule", "eprop")
        try:
            _, self.config = network_of(meta, f"checkpoint {checkpoint.path}")
            self.engine = from_checkpoint(checkpoint.path)
        except (KeyError, TypeError, ValueError) as error:
            message = str(error) if str(checkpoint.path) in str(error) else f"{error}"
            raise ValueError(f"checkpoint {checkpoint.path} cannot be loaded: {message}") from None
        self.class_names = list(meta.get("class_names") or range(self.config.n_out))

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Class scores (n, n_out) of inputs x (n, T, n_in); argmax is the predicted class."""
        return self.engine.predict(x)

    def evaluate(self, x: np.ndarray, labels: np.ndarray) -> dict[str, Any]:
        """Mean cross-entropy (``loss``), ``accuracy`` and ``predictions`` on (x, labels)."""
        return evaluate_engine(self.engine, x, labels)

    @property
    def state(self) -> dict[str, np.ndarray]:
        """Weights, optimiser and (for device synapses) device state, full matrices (copies)."""
        return self.engine.state()

    def __repr__(self) -> str:
        return f"Model({self.rule}, {self.checkpoint.path})"


def load(path: Path | str) -> Model:
    """The model of a run directory (its best-validation checkpoint, as ``pe-actors evaluate`` picks) or of a
    checkpoint directory."""
    return Model(load_checkpoint(resolve_checkpoint(path, prefer="best")))
