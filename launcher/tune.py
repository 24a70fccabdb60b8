"""``pe-actors tune``: hyper-parameter search with Ray Tune on the fast off-chip engines
(:func:`pe_actors.run.tuning.tune`; the search-space file is described there)."""

from __future__ import annotations

from pathlib import Path

import click

from pe_actors.run.tuning import METRIC
from pe_actors.run.tuning import tune as run_tune
from pe_actors_launcher.options import library_errors, standin_options


@click.command("tune")
@click.option(
    "--space",
    "space_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    required=True,
    help="Search-space TOML: [space] options sampled per trial, [fixed] options shared, optional rule = ... "
    "(see configs/tune/).",
)
@click.option("--trials", type=click.IntRange(min=1), default=8, show_default=True, help="Trials to sample.")
@click.option(
    "--scheduler",
    type=click.Choice(["asha", "fifo"]),
    default="asha",
    show_default=True,
    help="asha stops weak trials early at epochs 1, 2, 4, ... (reduction factor 2); fifo runs every trial out.",
)
@click.option("--concurrent", type=click.IntRange(min=1), default=2, show_default=True, help="Trials running at once.")
@standin_options
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True, help="Seed of the search.")
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("runs/tune"),
    show_default=True,
    help="Report directory: tune.csv, tune.json, tune.png, best.toml, and the trials under trials/.",
)
def tune(
    space_path: Path,
    trials: int,
    scheduler: str,
    concurrent: int,
    data: Path | None,
    cache: Path,
    standin_size: str,
    seed: int,
    out_dir: Path,
) -> None:
    """Search hyper-parameters with Ray Tune (ASHA by default) on the rule's off-chip engine; writes a table, a
    PNG and the best trial's options as a run config."""
    with library_errors():
        search = run_tune(space_path, trials, scheduler, concurrent, data, cache, standin_size, seed, out_dir)
    space, best = search.space, search.best
    click.echo(
        f"{'trial':<6}" + "".join(f"{key:>14}" for key in space) + f"{'best val %':>12}{'test %':>9}{'epochs':>8}"
    )
    for row in search.rows:
        cells = "".join(f"{row[key]:>14.4g}" if isinstance(row[key], float) else f"{row[key]!s:>14}" for key in space)
        click.echo(
            f"{row['trial']:<6}{cells}{100 * row[METRIC]:>12.2f}{100 * row['test_accuracy']:>9.2f}{row['epochs']:>8}"
        )
    click.echo(
        f"Best trial {best['trial']}: validation {100 * best[METRIC]:.2f} % "
        f"(test {100 * best['test_accuracy']:.2f} %); its options in {search.out / 'best.toml'}"
    )
