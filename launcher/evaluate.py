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
from pe_actors.run.evaluation import EvaluateSettings
from pe_actors.run.evaluation import evaluate as evaluate_model
from pe_actors.run.plan import describe_synapses
from pe_actors.run.rundir import RunDir
from pe_actors_launcher.options import library_errors
from pe_actors_launcher.plots import prepare_out
from pe_actors_launcher.setting_options import setting_options


@click.command("evaluate")
@setting_options(EvaluateSettings, required=("checkpoint",))
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Directory for evaluation.json and confusion.png. Default: RUN/evaluation beside the checkpoints.",
)
def evaluate(
    checkpoint: Path, data: Path | None, gsc_dir: Path | None, split: str, after: float, out_dir: Path | None
) -> None:
    """Accuracy, per-class recall and confusion matrix of a trained network, as text, JSON and PNG."""
    with library_errors():
        result = evaluate_model(checkpoint, data, gsc_dir, split, after)
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
