"""``pe-actors curves``: training curves of one or more runs, like the paper's Figure 5.

Train, validation and test accuracy and loss per epoch, read from each run directory's ``metrics.jsonl``, drawn
in one figure (one colour per run; train dotted, validation dashed, test solid) so that, for example, an e-prop
run and a BPTT run on the same data can be compared. ``pe-actors train`` draws the same figure for its own run.
"""

from __future__ import annotations

from pathlib import Path

import click

from pe_actors.reports.curves import history_rows, plot_histories, read_history
from pe_actors.reports.figures import write_csv
from pe_actors_launcher.plots import prepare_out


def run_label(run_dir: Path) -> str:
    """The run directory's name (unique labels are the caller's business)."""
    return Path(run_dir).resolve().name


@click.command("curves")
@click.argument("runs", nargs=-1, required=True, type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("runs/reports"),
    show_default=True,
    help="Directory for curves.png and curves.csv (created if missing).",
)
@click.option("--title", default="training curves", show_default=True, help="Title of the figure.")
def curves(runs: tuple[Path, ...], out_dir: Path, title: str) -> None:
    """Train/validation/test accuracy and loss per epoch of the run directories RUNS (like the paper's Figure 5),
    as curves.png with the numbers in curves.csv; the last epoch of each run is printed."""
    histories = {}
    for run_dir in runs:
        label = run_label(run_dir)
        if label in histories:
            label = str(run_dir)
        try:
            histories[label] = read_history(run_dir)
        except ValueError as error:
            raise click.BadParameter(str(error), param_hint="RUNS") from None
    out_dir = prepare_out(out_dir)
    plot_histories(histories, out_dir / "curves.png", title)
    write_csv(out_dir / "curves.csv", history_rows(histories))
    click.echo(f"{'run':<32}{'epochs':>7}{'train %':>9}{'valid. %':>10}{'test %':>8}")
    for label, history in histories.items():
        last = history[-1]
        click.echo(
            f"{label:<32}{last['epoch']:>7}{100 * last['train_accuracy']:>9.2f}"
            f"{100 * last['validation_accuracy']:>10.2f}{100 * last['test_accuracy']:>8.2f}"
        )
    click.echo(f"Curves in {out_dir / 'curves.png'}, numbers in {out_dir / 'curves.csv'}")
