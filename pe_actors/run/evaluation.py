"""Evaluating a trained network: accuracy, loss, per-class recall and the confusion matrix of a model on data,
what ``pe-actors evaluate`` prints and writes (``pe_actors.evaluate`` from Python)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from pe_actors.core.checks import require_finite
from pe_actors.core.logs import log
from pe_actors.core.settings import Settings, choice, float_range, setting
from pe_actors.reports.confusion import confusion_matrix, per_class_recall
from pe_actors.run.config import ConfigError, synapse_settings
from pe_actors.run.data import READERS, feature_metadata, load_splits, recorded_dataset, source
from pe_actors.run.model import Model, load


@dataclass(frozen=True)
class EvaluateSettings(Settings):
    """What to evaluate and on what (``pe-actors evaluate``'s options)."""

    checkpoint: Path | None = setting(default=None, kind="path", folder="exists", optional=True,
                                      help="A checkpoint directory, or a run directory (its best checkpoint by "
                                      "validation accuracy).")
    data: Path | None = setting(default=None, kind="path", folder="existing", optional=True,
                                help="The data to evaluate on (see --split), read by the checkpoint's rule's data "
                                "source: prepared features, or a Yin-Yang directory (pe-actors data yinyang). "
                                "Default (without --gsc-dir): the data the checkpoint was trained on.")
    gsc_dir: Path | None = setting(default=None, kind="path", folder="existing", optional=True,
                                   help="Raw GSC-layout folder (for example your own recordings): its test list, or "
                                   "every clip when it has no lists, featurised with the checkpoint's feature "
                                   "parameters and normalisation.")
    split: str = setting(default="test", **choice("test", "validation", "train"), help="Split of --data to evaluate.")
    after: float = setting(default=0.0, **float_range(0), help="Seconds of device time (drift) after the checkpoint "
                           "before the devices are read; for a checkpoint trained with --synapses pcm (float and "
                           "quantised weights do not drift).")


@dataclass(frozen=True)
class Evaluation:
    """A model's ``accuracy`` and mean cross-entropy ``loss`` on ``samples`` samples from ``source`` (labelled
    ``synthetic`` when they are), its ``recall`` per class and ``confusion`` matrix (counts of true class i
    predicted as j), after ``after_s`` seconds of device drift."""

    model: Model
    source: str
    synthetic: bool
    samples: int
    accuracy: float
    loss: float
    after_s: float
    class_names: list[str]
    recall: np.ndarray
    confusion: np.ndarray

    def to_dict(self) -> dict[str, Any]:
        """What evaluation.json holds."""
        return {
            "checkpoint": str(self.model.path), "source": self.source, "synthetic": self.synthetic,
            "samples": self.samples, "accuracy": self.accuracy, "loss": self.loss,
            "synapses": self.model.synapses.to_dict(), "after_s": self.after_s,
            "per_class_recall": dict(zip(self.class_names, self.recall.tolist(), strict=True)),
            "class_names": self.class_names, "confusion_matrix": self.confusion.tolist(),
        }


def samples_of(model: Model, data: Path | None, gsc_dir: Path | None, split: str) -> tuple:
    """(x, labels, synthetic, where) of ``split`` of ``data`` (read by the model's rule's folder source), of the
    clips of a GSC-layout ``gsc_dir`` (featurised as the model's features were), or of the data its checkpoint
    records; a ConfigError names the option."""
    if data is not None and gsc_dir is not None:
        raise ConfigError("give --data DIR or --gsc-dir DIR (a raw GSC folder), not both", "data")
    if gsc_dir is not None:
        try:
            x, labels = source("gsc_folder", READERS)(gsc_dir, feature_metadata(model.record), skip_bad=True,
                                                       progress=True)
        except (FileNotFoundError, ValueError) as error:
            raise ConfigError(str(error), "gsc_dir") from None
        return x, labels, False, f"{gsc_dir} (raw GSC-layout folder)"
    if data is not None:
        dataset, where = load_splits(model.spec.name, model.config, data), f"{data} ({split} split)"
    else:
        try:
            dataset, where = recorded_dataset(model.record, model.config)
        except ConfigError as error:
            raise ConfigError(f"the checkpoint's data: {error}; give --data or --gsc-dir", "data") from None
        where = f"{where}, as the checkpoint records ({split} split)"
    x, labels = getattr(dataset.splits, split)
    return np.asarray(x), np.asarray(labels), dataset.synthetic, where


def evaluate(
    model: Model | Path | str, data: Path | None = None, gsc_dir: Path | None = None, split: str = "test",
    after: float = 0.0,
) -> Evaluation:
    """The :class:`Evaluation` of ``model`` (a :class:`~pe_actors.run.model.Model`, or a run or checkpoint
    directory) on ``split`` of ``data``, on a GSC-layout ``gsc_dir``, or on the data its checkpoint records, read
    from its devices ``after`` seconds of drift after the checkpoint. A ConfigError names the option that does not
    fit."""
    if not isinstance(model, Model):
        try:
            model = load(model)
        except ValueError as error:
            raise ConfigError(str(error), "checkpoint") from None
    x, labels, synthetic, where = samples_of(model, data, gsc_dir, split)
    network = model.config
    if x.ndim != 3 or x.shape[1:] != (network.n_steps, network.n_in):
        raise ConfigError(f"{where}: features have shape {x.shape}; the network needs (N, {network.n_steps}, "
                          f"{network.n_in})", "data")
    try:
        require_finite(x, where)
    except ValueError as error:
        raise ConfigError(str(error), "data") from None
    if after > 0 and "drift" not in synapse_settings(model.synapses.kind):
        log.warning(f"Note: checkpoint {model.path} holds {model.synapses.kind} synapses, which do not drift; "
                    "--after changes nothing")
    try:
        model.engine.advance(after)
    except ValueError as error:
        raise ConfigError(str(error), "after") from None
    result = model.evaluate(x, labels)
    if not np.isfinite(result["loss"]):
        # Device time so long that the drift model's conductances are no longer numbers: no accuracy to report.
        raise ConfigError(f"{after:g} s of drift take the devices' conductances beyond what float64 holds; give a "
                          "shorter time", "after")
    matrix = confusion_matrix(labels, result["predictions"], network.n_out)
    synthetic = bool(synthetic or (data is None and gsc_dir is None and model.record.synthetic))
    return Evaluation(model, where, synthetic, int(len(labels)), float(result["accuracy"]), float(result["loss"]),
                      after, list(map(str, model.class_names)), per_class_recall(matrix), matrix)
