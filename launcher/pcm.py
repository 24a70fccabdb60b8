"""``pe-actors pcm``: the phase-change-memory reports (docs/synapses.md, "Results").

``pcm sweep`` and ``pcm drift`` parse their options, call :func:`pe_actors.run.pcm.sweep` and
:func:`pe_actors.run.pcm.drift` (every row of the sweep a normal run directory, reused when finished and resumed
when interrupted) and print their tables.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from pe_actors.run.config import RunConfig, field_named
from pe_actors.run.pcm import DRIFT_TIMES, DriftSettings, SweepSettings
from pe_actors.run.pcm import drift as pcm_drift
from pe_actors.run.pcm import sweep as pcm_sweep
from pe_actors_launcher.options import library_errors, standin_options
from pe_actors_launcher.plots import prepare_out
from pe_actors_launcher.setting_options import option, setting_options


@click.group("pcm")
def pcm() -> None:
    """E-prop with phase-change-memory synapses: precision sweep and drift (docs/synapses.md)."""


@pcm.command("sweep")
@setting_options(SweepSettings)
@standin_options
# The settings every run of the sweep takes, as a run declares them; epochs None: the recipe's.
@setting_options(RunConfig, names=("max_samples", "prog_noise", "drift", "read_noise", "g_max", "clip_sd",
                                   "sample_seconds", "progress"))
@option(field_named("epochs"), default=None)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("runs/pcm-sweep"),
    show_default=True,
    help="Report directory: pcm-sweep.csv/.json/.png and one run directory per row under runs/.",
)
def sweep(
    bits: tuple[int, ...],
    kinds: str,
    engine: str,
    epochs: int | None,
    seeds: tuple[int, ...],
    max_samples: int | None,
    data: Path | None,
    cache: Path,
    standin_size: str,
    progress: bool,
    out_dir: Path,
    **devices: float | None,
) -> None:
    """Test accuracy of the main recipe against bits per device (float32, quantised, PCM) on the same data and
    seeds (each run's result: its best-validation epoch, as train reports and evaluate picks; the last epoch's
    beside it), and device writes per synapse; PNG, CSV (the mean over seeds; pcm-sweep-runs.csv: every run) and
    JSON."""
    try:
        out_dir = prepare_out(out_dir)
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint="--out") from None
    common: dict[str, Any] = {"engine": engine, "cache": cache, "standin_size": standin_size, "progress": progress}
    common |= {name: value for name, value in (("epochs", epochs), ("max_samples", max_samples), ("data", data))
               if value is not None}  # fmt: skip
    with library_errors():
        study = pcm_sweep(out_dir, bits, ("quantised", "pcm") if kinds == "both" else (kinds,), seeds, common, devices)
    click.echo(f"{'synapses':<10}{'bits':>5}{'test % (best val)':>18}{'last epoch %':>16}{'writes/synapse':>16}")
    for row in study.table:
        writes = "-" if row["writes_per_synapse"] is None else f"{row['writes_per_synapse']:.1f}"
        click.echo(
            f"{row['synapses']:<10}{row['bits']:>5}{100 * row['test_accuracy']:>11.2f} ± "
            f"{100 * row['test_accuracy_sd']:<4.2f}{100 * row['last_epoch_test_accuracy']:>9.2f} ± "
            f"{100 * row['last_epoch_test_accuracy_sd']:<4.2f}{writes:>14}"
        )
    click.echo(f"Sweep in {study.stem.with_suffix('.png')}, {study.stem.with_suffix('.csv')}")


@pcm.command("drift")
@click.option(
    "--checkpoint",
    "checkpoint_paths",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    required=True,
    multiple=True,
    help="A run trained with --synapses pcm (its best checkpoint by validation accuracy, as evaluate picks) or "
    "a checkpoint directory; repeat it for several models (for example one per seed), averaged in the table.",
)
@standin_options
@setting_options(DriftSettings)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("runs/pcm-drift"),
    show_default=True,
    help="Report directory: pcm-drift.csv/.json/.png.",
)
def drift(
    checkpoint_paths: tuple[Path, ...],
    data: Path | None,
    cache: Path,
    standin_size: str,
    split: str,
    repeats: int,
    out_dir: Path,
) -> None:
    """Accuracy of PCM-trained models 0 s, 1 s, 1 min, 1 h, 1 day and 1 month after training, without and with
    global drift compensation; PNG, CSV (the mean over models; pcm-drift-models.csv: every model) and JSON."""
    try:
        out_dir = prepare_out(out_dir)
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint="--out") from None
    with click.progressbar(length=2 * len(DRIFT_TIMES) * len(checkpoint_paths), label="reading the devices") as bar:
        with library_errors():
            study = pcm_drift(checkpoint_paths, out_dir, data, cache, standin_size, split, repeats,
                              lambda: bar.update(1))
    across = len(checkpoint_paths) > 1
    over = "models" if across else "reads"
    click.echo(f"{'time':<9}{'no compensation %':>19}{'compensated %':>17}   (± over {over})")
    spread = "accuracy_sd" if across else "read_sd"
    for label, _ in DRIFT_TIMES:
        rows = (next(r for r in study.table if r["time"] == label and r["compensation"] == c) for c in (0, 1))
        plain, compensated = rows
        click.echo(
            f"{label:<9}{100 * plain['accuracy']:>12.2f} ± {100 * plain[spread]:<4.2f}"
            f"{100 * compensated['accuracy']:>10.2f} ± {100 * compensated[spread]:.2f}"
        )
    click.echo(f"Drift in {study.stem.with_suffix('.png')}, {study.stem.with_suffix('.csv')}")
