"""``pe-actors layout``: which PE holds which neurons and synapses, in which group, and which PE is the master, for
the chosen P and G (docs/runtime.md); a PNG and a JSON."""

from __future__ import annotations

from pathlib import Path

import click

from pe_actors.reports.figures import write_json
from pe_actors.reports.layout import plot_layout
from pe_actors.studies.layout import LayoutSettings, pe_layout
from pe_actors_launcher.plots import out_option, prepare_out
from pe_actors_launcher.setting_options import setting_options


@click.command("layout")
@setting_options(LayoutSettings)
@out_option()
def layout(rule: str, pes: int, groups: int, out_dir: Path) -> None:
    """Draw the PE layout: which PE holds which neurons and synapses, the groups, the master and the channels."""
    try:
        report = pe_layout(rule, pes, groups)
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint="--pes") from None
    try:
        out_dir = prepare_out(out_dir)
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint="--out") from None
    write_json(out_dir / "layout.json", report)
    plot_layout(report, out_dir / "layout.png")
    click.echo(
        f"{report['rule']} {report['network']}: {groups} group(s) x {report['pes']} PEs = {report['actors']} actors"
    )
    for row in report["per_pe"]:
        first, stop = row["neurons"]
        role = " (master)" if row["master"] else ""
        click.echo(
            f"  PE {row['pe']:>2} layer {row['layer']}: neurons {first}-{stop - 1}, {row['synapses']:,} synapses{role}"
        )
    click.echo(f"wrote {out_dir / 'layout.png'} and {out_dir / 'layout.json'}")
