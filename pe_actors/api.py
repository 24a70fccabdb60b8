"""The notebook-level API: :func:`train` trains as ``pe-actors train`` does, with its options as keyword arguments,
and returns a :class:`Run`; :func:`adapt` runs ``pe-actors adapt`` and returns its curve; :func:`load` turns a run
directory or checkpoint into a :class:`Model` with ``predict``, ``evaluate`` and ``state``.

A run's result is its best-validation epoch: that epoch's checkpoint is kept, :func:`load` (like
``pe-actors evaluate``) picks it, and :attr:`Run.best` holds its record.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from pe_actors.core.checkpoint import Checkpoint, load_checkpoint, resolve_checkpoint
from pe_actors.run.config import RunConfig, resolve
from pe_actors.run.rundir import Run
from pe_actors.training.trainer import Callback
from pe_actors.training.trainer import evaluate as evaluate_engine

__all__ = ["Model", "Run", "RunConfig", "adapt", "load", "train"]


def train(
    config: str | Path | Mapping[str, Any] | RunConfig | None = None,
    data: Any = None,
    callbacks: Sequence[Callback] = (),
    **options: Any,
) -> Run:
    """Train as ``pe-actors train`` does and return the finished :class:`Run`.

    ``options`` are ``train``'s options as keyword arguments (``sub_batch=4`` for ``--sub-batch 4``,
    ``progress=False`` for ``--no-progress``); ``config`` a recipe's name (``"gsc-paper-batch100"``), a run-config
    TOML file, a mapping or a :class:`RunConfig`, which the options override; ``data`` a prepared feature
    directory, or the arrays to train on (``(x, labels)``, of which a validation and a test split are held out,
    or ``{"train": (x, labels), "validation": ..., "test": ...}``); ``callbacks``
    (:class:`pe_actors.training.trainer.Callback` objects) are called after the run's own. An unknown option is a
    TypeError naming it, a bad value a ValueError naming the option; Ctrl-C stops the run after the current batch
    (KeyboardInterrupt), and ``train(resume=RUN)`` continues it.
    """
    from pe_actors.run.config import settings_of
    from pe_actors.run.training import train as run_training

    arrays = None
    if data is not None and not isinstance(data, (str, Path)):
        arrays = data
    elif data is not None:
        options["data"] = data
    given = {**settings_of(config), **options}
    if given.get("resume") is None:
        run_config = resolve(options, config)
    else:
        unknown = sorted(set(given) - set(RunConfig.names()))
        if unknown:
            raise TypeError(f"unknown option {unknown[0]!r}; valid options are {sorted(RunConfig.names())}")
        run_config = RunConfig(**given)
    echo = _echo if run_config.progress else _quiet
    return run_training(run_config, data=arrays, callbacks=callbacks, echo=echo, given=given)


def _echo(message: str, err: bool = False) -> None:
    print(message, file=sys.stderr if err else sys.stdout, flush=True)


def _quiet(message: str, err: bool = False) -> None:
    if err:
        print(message, file=sys.stderr, flush=True)


def adapt(config: Mapping[str, Any] | None = None, **options: Any) -> dict:
    """Adapt a trained network as ``pe-actors adapt`` does, with its options as keyword arguments
    (``checkpoint=RUN``, ``gsc_dir=FOLDER``, ``samples=100``, ``progress=False``) over ``config`` (a mapping or a
    :class:`pe_actors.run.adapting.AdaptRunConfig`), and return its ``adaptation.json``: the curve (accuracy on
    the new condition and the original task after each evaluation point), the sample order and the settings. The
    adapted network is ``load(out)``. An unknown option is a TypeError naming it, a bad value a ValueError naming
    the option."""
    from pe_actors.run.adapting import AdaptRunConfig
    from pe_actors.run.adapting import adapt as run_adaptation

    settings = AdaptRunConfig.of(config, **options)
    return run_adaptation(settings, echo=_echo if settings.progress else _quiet)


class Model:
    """A trained network from a checkpoint, on the rule's fast off-chip engine (e-prop: replay, reading the
    checkpoint's synapses as the PEs would; EventProp: the vectorised engine).

    Attributes: ``checkpoint``, ``config`` (the network), ``class_names``, ``rule``.
    """

    def __init__(self, checkpoint: Checkpoint) -> None:
        from pe_actors.engines.registry import checkpoint_network, from_checkpoint

        self.checkpoint = checkpoint
        meta = checkpoint.meta
        self.rule = meta.get("rule", "eprop")
        try:
            _, self.config = checkpoint_network(meta, f"checkpoint {checkpoint.path}")
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
