"""``pe-actors evaluate``: accuracy, per-class recall and the confusion matrix of a checkpoint.

The weights come from a checkpoint (or a run directory's best checkpoint); the samples from prepared features
(``--data``) or from a raw GSC-layout folder (``--gsc-dir``), featurised with the feature parameters and the
training-split normalisation stored with the checkpoint's data metadata. A checkpoint trained with device
synapses is evaluated on its devices as the checkpoint left them, or ``--after`` seconds of drift later. An
EventProp checkpoint is evaluated on Yin-Yang: ``--data`` as written by ``pe-actors data yinyang``, or the split
generated with the published seeds.
Results go to ``--out`` as ``evaluation.json`` and ``confusion.png``, and are printed as text.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
import numpy as np

from pe_actors.core.checkpoint import ModelRecord, load_checkpoint, resolve_checkpoint
from pe_actors.core.checks import require_finite
from pe_actors.engines.registry import checkpoint_synapses, from_checkpoint
from pe_actors.reports.figures import pyplot, save_figure, write_json
from pe_actors.rules.eprop.config import NetworkConfig
from pe_actors.rules.eventprop.config import EventPropConfig
from pe_actors.run.plan import describe_synapses
from pe_actors.training.trainer import evaluate as evaluate_engine
from pe_actors_launcher.options import FiniteFloatRange, existing_dir
from pe_actors_launcher.plots import prepare_out


def confusion_matrix(labels: np.ndarray, predictions: np.ndarray, n_classes: int) -> np.ndarray:
    """Counts C[i, j] of samples of true class i predicted as class j."""
    matrix = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(matrix, (labels, predictions), 1)
    return matrix


def per_class_recall(matrix: np.ndarray) -> np.ndarray:
    """Recall per true class, C[i, i] / sum_j C[i, j] (NaN for a class without samples)."""
    totals = matrix.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(totals > 0, np.diag(matrix) / np.maximum(totals, 1), np.nan)


def plot_confusion(matrix: np.ndarray, class_names: list[str], path: Path, title: str) -> Path:
    """The confusion matrix as a PNG, rows normalised to recall, with the counts written in the cells."""
    plt = pyplot()
    totals = np.maximum(matrix.sum(axis=1, keepdims=True), 1)
    fig, ax = plt.subplots(figsize=(7.5, 6.5))
    image = ax.imshow(matrix / totals, cmap="Blues", vmin=0, vmax=1)
    ticks = np.arange(len(class_names))
    ax.set_xticks(ticks, class_names, rotation=45, ha="right")
    ax.set_yticks(ticks, class_names)
    ax.set(xlabel="predicted", ylabel="true")
    ax.set_title(title, fontsize=10)
    for i in range(len(class_names)):
        for j in range(len(class_names)):
            if matrix[i, j]:
                colour = "white" if matrix[i, j] / totals[i, 0] > 0.5 else "black"
                ax.text(j, i, str(matrix[i, j]), ha="center", va="center", fontsize=7, color=colour)
    fig.colorbar(image, ax=ax, label="fraction of the true class")
    return save_figure(fig, path)


def load_samples(
    data: Path | None, gsc_dir: Path | None, split: str, meta: dict[str, Any]
) -> tuple[np.ndarray, np.ndarray, bool, str]:
    """Features, labels, whether they are synthetic, and a description of where they came from."""
    if data is not None and gsc_dir is not None:
        raise click.UsageError("give --data DIR (prepared features) or --gsc-dir DIR (raw GSC folder), not both")
    from pe_actors.run.config import ConfigError
    from pe_actors.run.data import READERS, feature_metadata, source

    try:
        if data is not None:
            prepared = source("prepared")(data)
            x, labels = prepared.splits[split]
            return np.asarray(x), labels, bool(prepared.synthetic), f"{data} ({split} split)"
        x, labels = source("gsc_folder", READERS)(gsc_dir, feature_metadata(ModelRecord.from_meta(meta)), skip_bad=True,
                                                 progress=True)  # fmt: skip
    except ConfigError as error:
        raise click.BadParameter(str(error), param_hint=f"--{(error.field or 'data').replace('_', '-')}") from None
    except (FileNotFoundError, ValueError) as error:
        raise click.BadParameter(str(error), param_hint="--data" if data is not None else "--gsc-dir") from None
    return x, labels, False, f"{gsc_dir} (raw GSC-layout folder)"


def recorded_samples(meta: dict[str, Any], config: Any, split: str) -> tuple[np.ndarray, np.ndarray, bool, str]:
    """``split`` of the data a checkpoint's run config records (:func:`pe_actors.run.data.recorded_dataset`)."""
    from pe_actors.run.config import ConfigError
    from pe_actors.run.data import recorded_dataset

    try:
        dataset, where = recorded_dataset(ModelRecord.from_meta(meta), config)
    except ConfigError as error:
        raise click.BadParameter(f"the checkpoint's data: {error}; give --data or --gsc-dir") from None
    x, labels = getattr(dataset.splits, split)
    return np.asarray(x), np.asarray(labels), dataset.synthetic, f"{where}, as the checkpoint records ({split} split)"


def load_yinyang_samples(
    data: Path | None, gsc_dir: Path | None, split: str, config: EventPropConfig
) -> tuple[np.ndarray, np.ndarray, bool, str]:
    """Yin-Yang input rasters and labels of ``split`` (from ``data`` or generated with the published seeds)."""
    if gsc_dir is not None:
        raise click.BadParameter(
            "an EventProp checkpoint is evaluated on Yin-Yang, not on a GSC folder", param_hint="--gsc-dir"
        )
    from pe_actors.run.config import ConfigError
    from pe_actors.run.data import load_splits

    try:
        x, labels = getattr(load_splits("eventprop", config, data).splits, split)
    except ConfigError as error:
        raise click.BadParameter(str(error), param_hint="--data") from None
    return x, labels, False, f"{data or 'Yin-Yang generated with the published seeds'} ({split} split)"



@click.command("evaluate")
@click.option(
    "--checkpoint",
    "checkpoint_path",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    required=True,
    help="A checkpoint directory, or a run directory (its best checkpoint by validation accuracy).",
)
@click.option(
    "--data",
    type=click.Path(path_type=Path),
    callback=existing_dir,
    help="Prepared feature directory to evaluate on (see --split); for an EventProp checkpoint a Yin-Yang "
    "directory (pe-actors data yinyang). Default (without --gsc-dir): the data the checkpoint was trained on.",
)
@click.option(
    "--gsc-dir",
    type=click.Path(path_type=Path),
    callback=existing_dir,
    help="Raw GSC-layout folder (for example your own recordings): its test list, or every clip when it has no "
    "lists, featurised with the checkpoint's feature parameters and normalisation.",
)
@click.option(
    "--split",
    type=click.Choice(["test", "validation", "train"]),
    default="test",
    show_default=True,
    help="Split of --data to evaluate.",
)
@click.option(
    "--after",
    type=FiniteFloatRange(min=0),
    default=0.0,
    show_default=True,
    help="Seconds of device time (drift) after the checkpoint before the devices are read; for a checkpoint "
    "trained with --synapses pcm (float and quantised weights do not drift).",
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Directory for evaluation.json and confusion.png. Default: RUN/evaluation beside the checkpoints.",
)
def evaluate(
    checkpoint_path: Path, data: Path | None, gsc_dir: Path | None, split: str, after: float, out_dir: Path | None
) -> None:
    """Accuracy, per-class recall and confusion matrix of a trained network, as text, JSON and PNG."""
    try:
        checkpoint = load_checkpoint(resolve_checkpoint(checkpoint_path, prefer="best"))
        eventprop = checkpoint.meta.get("rule") == "eventprop"
        network = EventPropConfig if eventprop else NetworkConfig
        config = network.from_dict(checkpoint.meta["network"])
    except (ValueError, KeyError, TypeError) as error:
        raise click.BadParameter(f"{error}", param_hint="--checkpoint") from None
    meta = checkpoint.meta
    if data is None and gsc_dir is None:
        # The data the checkpoint was trained on (its run config records them); --data or --gsc-dir override.
        x, labels, synthetic, source = recorded_samples(meta, config, split)
    elif eventprop:
        x, labels, synthetic, source = load_yinyang_samples(data, gsc_dir, split, config)
    else:
        x, labels, synthetic, source = load_samples(data, gsc_dir, split, meta)
    if x.ndim != 3 or x.shape[1:] != (config.n_steps, config.n_in):
        raise click.BadParameter(
            f"{source}: features have shape {x.shape}; the network needs (N, {config.n_steps}, {config.n_in})"
        )
    try:
        require_finite(x, source)
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint="--data") from None
    class_names = list(meta.get("class_names") or [str(c) for c in range(config.n_out)])
    try:
        # The rule's fast off-chip engine, reading the checkpoint's synapses as the PEs would (pe_actors.load too).
        engine = from_checkpoint(checkpoint.path)
        synapses = checkpoint_synapses(meta, f"checkpoint {checkpoint.path}")
        if after > 0 and synapses.kind != "pcm":
            click.echo(f"Note: checkpoint {checkpoint.path} holds {synapses.kind} synapses, which do not drift; "
                       "--after changes nothing", err=True)  # fmt: skip
        engine.advance(after)
    except ValueError as error:
        message = str(error) if str(checkpoint.path) in str(error) else f"checkpoint {checkpoint.path}: {error}"
        raise click.BadParameter(message, param_hint="--checkpoint") from None
    result = evaluate_engine(engine, x, labels)
    if not np.isfinite(result["loss"]):
        # Device time so long that the drift model's conductances are no longer numbers: no accuracy to report.
        raise click.BadParameter(
            f"{after:g} s of drift take the devices' conductances beyond what float64 holds; give a shorter time",
            param_hint="--after",
        )
    matrix = confusion_matrix(labels, result["predictions"], config.n_out)
    recall = per_class_recall(matrix)
    label = " (synthetic stand-in data)" if synthetic or (data is None and meta.get("synthetic")) else ""
    if out_dir is None:
        parent = checkpoint.path.parent
        out_dir = (parent.parent if parent.name == "checkpoints" else checkpoint.path) / "evaluation"
    out_dir = prepare_out(out_dir)
    title = f"accuracy {100 * result['accuracy']:.2f} %{' (synthetic)' if label else ''}\n{checkpoint.path.name}"
    plot_confusion(matrix, class_names, out_dir / "confusion.png", title)
    write_json(
        out_dir / "evaluation.json",
        {
            "checkpoint": checkpoint.path,
            "source": source,
            "synthetic": bool(label),
            "samples": int(len(labels)),
            "accuracy": result["accuracy"],
            "loss": result["loss"],
            "synapses": synapses.to_dict(),
            "after_s": after,
            "per_class_recall": dict(zip(class_names, recall.tolist(), strict=True)),
            "class_names": class_names,
            "confusion_matrix": matrix,
        },
    )
    click.echo(f"Checkpoint {checkpoint.path}; {len(labels)} samples from {source}")
    if synapses.kind != "digital":
        click.echo(f"Read from {describe_synapses(synapses)}, {after:g} s after the checkpoint")
    click.echo(f"Accuracy: {100 * result['accuracy']:.2f} %{label}   loss {result['loss']:.4f}")
    click.echo(f"{'class':<10}{'recall %':>10}{'samples':>9}")
    for name, value, total in zip(class_names, recall, matrix.sum(axis=1), strict=True):
        shown = "-" if np.isnan(value) else f"{100 * value:.1f}"
        click.echo(f"{name:<10}{shown:>10}{total:>9}")
    click.echo(f"Confusion matrix in {out_dir / 'confusion.png'}, numbers in {out_dir / 'evaluation.json'}")
