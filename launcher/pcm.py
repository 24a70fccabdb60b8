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
from pe_actors.run.pcm import DRIFT_TIMES, SWEEP_BITS
from pe_actors.run.pcm import drift as pcm_drift
from pe_actors.run.pcm import sweep as pcm_sweep
from pe_actors_launcher.options import library_errors, standin_options
from pe_actors_launcher.plots import prepare_out
from pe_actors_launcher.setting_options import option, setting_options


def parse_bits(ctx: click.Context, param: click.Parameter, value: str) -> tuple[int, ...]:
    """``--bits 32,8,4`` as a tuple; 32 means float32, the others lie in 1..16."""
    try:
        bits = tuple(int(part) for part in value.split(","))
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a comma-separated list of integers", ctx, param) from None
    bad = [b for b in bits if b != 32 and not 1 <= b <= 16]
    if bad or not bits:
        raise click.BadParameter(f"bit widths must be 32 (float32) or lie in 1..16, got {value!r}", ctx, param)
    return bits


def parse_seeds(ctx: click.Context, param: click.Parameter, value: str) -> tuple[int, ...]:
    """``--seeds 0,1,2`` as a tuple of distinct non-negative integers."""
    try:
        seeds = tuple(int(part) for part in value.split(","))
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a comma-separated list of integers", ctx, param) from None
    if not seeds or min(seeds) < 0 or len(set(seeds)) != len(seeds):
        raise click.BadParameter(f"seeds must be distinct integers >= 0, got {value!r}", ctx, param)
    return seeds


@click.group("pcm")
def pcm() -> None:
    """E-prop with phase-change-memory synapses: precision sweep and drift (docs/synapses.md)."""


@pcm.command("sweep")
@click.option(
    "--bits",
    default=",".join(map(str, SWEEP_BITS)),
    show_default=True,
    callback=parse_bits,
    help="Bit widths per device to train; 32 is the float32 network (digital synapses).",
)
@click.option(
    "--kinds",
    type=click.Choice(["quantised", "pcm", "both"]),
    default="both",
    show_default=True,
    help="Device synapses to sweep: ideal quantised devices, PCM devices, or both.",
)
@click.option(
    "--engine",
    type=click.Choice(["replay", "inprocess", "actors"]),
    default="replay",
    show_default=True,
    help="Engine of every run (replay: e-prop's off-chip engine, the same device reads and gradients as the PEs).",
)
@click.option(
    "--seeds",
    default="0",
    show_default=True,
    callback=parse_seeds,
    help="Seeds to train every row with (comma-separated); the table gives the mean and standard deviation.",
)
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
@click.option(
    "--split", type=click.Choice(["test", "validation"]), default="test", show_default=True, help="Split to score."
)
@click.option(
    "--repeats",
    type=click.IntRange(min=1),
    default=3,
    show_default=True,
    help="Reads per point (read noise drawn afresh); the table gives their mean and standard deviation.",
)
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
