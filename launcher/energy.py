"""``pe-actors energy``: the paper's SpiNNaker 2 energy estimate and V100 reference next to our run (estimates)."""

from __future__ import annotations

import click

from pe_actors.reports.energy import plot_energy
from pe_actors.reports.figures import write_csv, write_json
from pe_actors.studies.energy import (
    ChipEnergyModel,
    EnergySettings,
    energy_report,
    measure_inprocess,
    usage_from_metrics,
)
from pe_actors_launcher.plots import out_option, prepare_out
from pe_actors_launcher.setting_options import setting_options


def _duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.2f} s"
    hours, rest = divmod(seconds, 3600)
    return f"{int(hours)} h {rest / 60:04.1f} min"


@click.command("energy")
@setting_options(EnergySettings)
@out_option()
def energy(
    uw_per_mhz, clock_mhz, cores, step_ms, steps, samples_per_epoch, epochs, cpu_watts_per_core, run, busy_cores,
    measure, pes, out_dir,
) -> None:
    """Energy ESTIMATES for a whole training: the paper's SpiNNaker 2 model (21.59 uW/MHz per active core, real
    time: 26 mW, 586 h and 54.7 kJ for 30 epochs of 70,375 samples), the paper's V100 (646.4 kJ), and our run's
    wall time and a CPU-energy proxy, measured and extrapolated to the same training.

    Writes energy.png, energy.json and energy.csv into --out.
    """
    model = ChipEnergyModel(uw_per_mhz=uw_per_mhz, clock_mhz=clock_mhz, n_cores=cores, step_s=step_ms / 1e3,
                            n_steps=steps)
    measured, label = None, ""
    if run is not None:
        try:
            measured = usage_from_metrics(run, busy_cores)
        except ValueError as error:
            raise click.BadParameter(str(error), param_hint="--run") from error
        label = f"pe-actors run {run}"
    elif measure:
        measured = measure_inprocess(measure, pes)
        label = f"pe-actors in-process P = {pes}, batch 1"
    out_dir = prepare_out(out_dir)
    report = energy_report(model, samples_per_epoch, epochs, measured, cpu_watts_per_core, measured_label=label)
    write_json(out_dir / "energy.json", report)
    write_csv(out_dir / "energy.csv", [{key: row.get(key) for key in _CSV_FIELDS} for row in report["rows"]])
    plot_energy(report, out_dir / "energy.png")
    click.echo(f"ESTIMATES for {epochs} epochs x {samples_per_epoch:,} samples (host CPUs not counted):")
    click.echo(f"{'system':<58}{'power W':>10}{'time':>18}{'energy kJ':>12}")
    for row in report["rows"]:
        click.echo(
            f"{row['system'][:57]:<58}{row['power_w']:10.4g}{_duration(row['wall_s']):>18}{row['energy_j'] / 1e3:12.4g}"
        )
    click.echo(f"(our rows: CPU energy = CPU seconds x {cpu_watts_per_core:g} W per busy core, an assumption)")
    if measured is not None:
        click.echo(
            f"(our 'extrapolated' row is NOT measured: the throughput of {label}, {measured.samples} samples in "
            f"{measured.wall_s:.1f} s, scaled to {epochs} x {samples_per_epoch:,} samples)"
        )
    click.echo(f"wrote {out_dir / 'energy.png'}, {out_dir / 'energy.json'} and {out_dir / 'energy.csv'}")


_CSV_FIELDS = ("key", "system", "kind", "batch", "power_w", "wall_s", "cpu_s", "samples", "energy_j")
