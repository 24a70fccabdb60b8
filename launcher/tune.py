"""``pe-actors tune``: hyper-parameter search with Ray Tune on the fast off-chip engines
(:func:`pe_actors.run.tuning.tune`; the search-space file is described there)."""

from __future__ import annotations

from pathlib import Path

import click

from pe_actors.run.tuning import METRIC, SearchSettings
from pe_actors.run.tuning import tune as run_tune
from pe_actors_launcher.options import library_errors, standin_options
from pe_actors_launcher.setting_options import setting_options


@click.command("tune")
@setting_options(SearchSettings, names=("space", "trials", "scheduler", "concurrent"), required=("space",))
@standin_options
@setting_options(SearchSettings, names=("seed",))
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("runs/tune"),
    show_default=True,
    help="Report directory: tune.csv, tune.json, tune.png, best.toml, and the trials under trials/.",
)
def tune(
    space: Path,
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
        search = run_tune(space, trials, scheduler, concurrent, data, cache, standin_size, seed, out_dir)
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
