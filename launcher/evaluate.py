"""``pe-actors evaluate``: accuracy, per-class recall and the confusion matrix of a checkpoint
(:func:`pe_actors.run.evaluation.evaluate`), printed and written as ``evaluation.json`` and ``confusion.png``.

The samples come from ``--data`` (read by the checkpoint's rule's data source: prepared features, a Yin-Yang
folder), from a raw GSC-layout folder (``--gsc-dir``, featurised with the checkpoint's feature parameters and
normalisation), or from the data the checkpoint records. A checkpoint trained with device synapses is evaluated on
its devices as the checkpoint left them, or ``--after`` seconds of drift later.
"""

from __future__ import annotations

from pathlib import Path

import click
import numpy as np

from pe_actors.reports.confusion import plot_confusion
from pe_actors.reports.figures import write_json
from pe_actors.run.evaluation import evaluate as evaluate_model
from pe_actors.run.plan import describe_synapses
from pe_actors.run.rundir import RunDir
from pe_actors_launcher.options import FiniteFloatRange, existing_dir, library_errors
from pe_actors_launcher.plots import prepare_out


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
    help="The data to evaluate on (see --split), read by the checkpoint's rule's data source: prepared features, "
    "or a Yin-Yang directory (pe-actors data yinyang). Default (without --gsc-dir): the data the checkpoint was "
    "trained on.",
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
    with library_errors():
        result = evaluate_model(checkpoint_path, data, gsc_dir, split, after)
    path = result.model.path
    out_dir = prepare_out(out_dir or RunDir.of_checkpoint(path).evaluation)
    label = " (synthetic stand-in data)" if result.synthetic else ""
    title = f"accuracy {100 * result.accuracy:.2f} %{' (synthetic)' if label else ''}\n{path.name}"
    plot_confusion(result.confusion, result.class_names, out_dir / "confusion.png", title)
    write_json(out_dir / "evaluation.json", result.to_dict())
    click.echo(f"Checkpoint {path}; {result.samples} samples from {result.source}")
    if result.model.synapses.devices:
        click.echo(f"Read from {describe_synapses(result.model.synapses)}, {after:g} s after the checkpoint")
    click.echo(f"Accuracy: {100 * result.accuracy:.2f} %{label}   loss {result.loss:.4f}")
    click.echo(f"{'class':<10}{'recall %':>10}{'samples':>9}")
    for name, value, total in zip(result.class_names, result.recall, result.confusion.sum(axis=1), strict=True):
        shown = "-" if np.isnan(value) else f"{100 * value:.1f}"
        click.echo(f"{name:<10}{shown:>10}{total:>9}")
    click.echo(f"Confusion matrix in {out_dir / 'confusion.png'}, numbers in {out_dir / 'evaluation.json'}")
