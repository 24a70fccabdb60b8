"""``pe-actors sweep``: the paper's Table 4 network-size study (inputs 40x1/40x2/40x3 against N_rec) on our data."""

from __future__ import annotations

from pathlib import Path

import click

from pe_actors.core.optimiser import OptimiserConfig
from pe_actors.reports.figures import write_csv, write_json
from pe_actors.reports.sweep import plot_sweep
from pe_actors.run.config import RunConfig, field_named
from pe_actors.studies.sweep import SWEEP_ENGINES, parse_rows, run_sweep
from pe_actors_launcher.options import standin_options
from pe_actors_launcher.plots import out_option, prepare_out
from pe_actors_launcher.setting_options import option, setting_options


def load_sweep_data(data: Path | None, cache: Path, standin_size: str):
    """Prepared features from ``data``, or the offline stand-in synthesised once into ``cache`` (the data sources
    of the library's one data entry point)."""
    from pe_actors.run.data import source

    if data is None:
        click.echo(f"No --data: using the offline synthetic stand-in ({standin_size}) cached in {cache}")
    try:
        return source("prepared" if data is not None else "standin")(data, cache=cache, size=standin_size)
    except (OSError, ValueError) as error:
        raise click.BadParameter(f"cannot read prepared features from {str(data)!r}: {error}") from error


@click.command("sweep")
@standin_options
@click.option("--rows", default="paper", show_default=True,
              help="'paper' (the 11 rows of Table 4) or comma-separated VARIANT:N_REC, e.g. '40x1:40,40x3:360'; "
              "VARIANT is 40x1 (log-mels), 40x2 (+ deltas) or 40x3 (+ second-order deltas).")
@option(field_named("epochs"), default=10)
@setting_options(RunConfig, names=("max_samples", "lr"))
@click.option("--batch-size", type=click.IntRange(min=1), default=32, show_default=True, help="Samples per ADAM step.")
@option(field_named("l2"), default=10e-5)
@setting_options(RunConfig, names=("lr_decay", "decay_every"))
@click.option("--engine", type=click.Choice(list(SWEEP_ENGINES)), default="auto", show_default=True,
              help="replay (exact e-prop gradients), inprocess (the PEs), auto (replay if available).")
@setting_options(RunConfig, names=("seed",))
@out_option()
def sweep(
    data, cache, standin_size, rows, epochs, max_samples, batch_size, lr, l2, lr_decay, decay_every, engine, seed,
    out_dir,
) -> None:
    """The network-size study of the paper's Table 4: for every row, train a fresh network with e-prop and report
    its trainable parameters (N_in N_rec + N_rec^2 - N_rec + N_rec N_out) and accuracy next to the paper's.

    Writes sweep.png, sweep.csv and sweep.json into --out. Rows are trained with the same data, epochs and seed.
    """
    try:
        selected = parse_rows(rows)
        optimiser = OptimiserConfig(lr=lr, l2=l2, lr_decay=lr_decay, decay_every=decay_every)
    except ValueError as error:
        raise click.BadParameter(str(error)) from error
    prepared = load_sweep_data(data, cache, standin_size)
    label = "synthetic stand-in" if prepared.synthetic else str(data)
    click.echo(
        f"Sweeping {len(selected)} rows on {label}: {epochs} epoch(s), batch {batch_size}, lr {lr:g}, l2 {l2:g}, "
        f"{max_samples or len(prepared.splits['train'][1])} samples per epoch"
    )
    click.echo(
        f"{'inputs':<8}{'N_rec':>6}{'params':>9}{'train %':>9}{'valid %':>9}{'test %':>8}{'paper test %':>14}{'s':>8}"
    )
    try:
        results = run_sweep(
            prepared.splits, selected, optimiser, epochs, batch_size, max_samples, seed, engine, report=print_row
        )
    except ValueError as error:
        raise click.BadParameter(str(error)) from error
    out_dir = prepare_out(out_dir)
    settings = {"epochs": epochs, "batch_size": batch_size, "lr": lr, "l2": l2, "lr_decay": lr_decay,
                "decay_every": decay_every, "max_samples": max_samples, "seed": seed}
    write_report(results, settings, label, bool(prepared.synthetic), out_dir)


def print_row(row: dict) -> None:
    """One trained row of the study, as it finishes."""
    paper = "-" if row["paper_test"] is None else f"{row['paper_test']:.2f}"
    click.echo(
        f"{row['inputs']:<8}{row['n_rec']:>6}{row['params']:>9}{100 * row['train_accuracy']:9.2f}"
        f"{100 * row['best_validation_accuracy']:9.2f}{100 * row['test_accuracy']:8.2f}{paper:>14}"
        f"{row['seconds']:8.1f}"
    )


def write_report(results: list[dict], settings: dict, label: str, synthetic: bool, out_dir: Path) -> None:
    """sweep.csv, sweep.json and sweep.png of the rows ``results`` trained with ``settings`` on data ``label``."""
    for row in results:
        row["synthetic"] = synthetic
    write_csv(out_dir / "sweep.csv", results)
    write_json(out_dir / "sweep.json", {"data": label, "synthetic": synthetic, "settings": settings, "rows": results,
                                        "paper_note": "paper columns: its Table 4 on real GSC (TensorFlow, batch "
                                        "100, L2 10e-5)"})
    title = f"Table 4 sweep on {label}: {settings['epochs']} epoch(s), batch {settings['batch_size']}" + (
        " (SYNTHETIC data; paper: real GSC)" if synthetic else ""
    )
    plot_sweep(results, title, out_dir / "sweep.png")
    click.echo(f"wrote {out_dir / 'sweep.png'}, {out_dir / 'sweep.csv'} and {out_dir / 'sweep.json'}")
