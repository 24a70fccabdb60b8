"""``pe-actors layout``: which PE holds which neurons and synapses, in which group, and which PE is the master, for
the chosen P and G (docs/runtime.md); a PNG and a JSON."""

from __future__ import annotations

from pathlib import Path

import click

from pe_actors.reports.figures import pyplot, save_figure, write_json
from pe_actors.rules import group_program, rule, rule_names
from pe_actors_launcher.plots import out_option, prepare_out

#: Groups drawn in full; further groups are replicas of the first and are summarised.
GROUPS_DRAWN = 3


def pe_layout(rule_name: str, pes: int, groups: int) -> dict:
    """Per PE of one group of the rule's first network: its layer, neurons, synapses and whether it is the master
    (the group program's ``pe_layout``), and the group's channels in words."""
    spec = rule(rule_name)
    config = next(iter(spec.networks.resolve().values()))
    group = group_program(config, pes)
    channels = [f"{c.name}: PEs {list(c.senders)} -> {list(c.receivers)} ({c.kind})" for c in group.channels]
    sizes = getattr(config, "sizes", None) or (config.n_in, config.n_rec, config.n_out)
    return {"rule": rule_name, "network": "-".join(map(str, sizes)), "pes": group.n_pes, "groups": groups,
            "per_pe": group.pe_layout(), "channels": channels, "actors": group.n_pes * groups}


def plot_layout(layout: dict, path: Path) -> Path:
    """Boxes per PE (a row per group, the first few groups drawn), labelled with neurons and synapses; the
    master outlined in red; EventProp's layers in colours."""
    plt = pyplot()
    rows = layout["per_pe"]
    drawn = min(layout["groups"], GROUPS_DRAWN)
    fig, ax = plt.subplots(figsize=(max(7.0, 1.15 * len(rows) + 1), 1.3 * drawn + 2.2))
    palette = plt.get_cmap("Pastel1")
    for g in range(drawn):
        y = drawn - 1 - g
        for row in rows:
            x = row["pe"]
            edge = "tab:red" if row["master"] else "black"
            ax.add_patch(plt.Rectangle((x + 0.05, y + 0.1), 0.9, 0.8, facecolor=palette((row["layer"] - 1) % 9),
                                       edgecolor=edge, linewidth=2.2 if row["master"] else 0.8))
            first, stop = row["neurons"]
            text = f"PE {x}\nn {first}-{stop - 1}\n{row['synapses']:,} syn"
            if len({r["layer"] for r in rows}) > 1:
                text += f"\nlayer {row['layer']}"
            ax.text(x + 0.5, y + 0.5, text, ha="center", va="center", fontsize=7)
        ax.text(-0.1, y + 0.5, f"group {g}", ha="right", va="center", fontsize=8)
    if layout["groups"] > drawn:
        ax.text(len(rows) / 2, -0.35, f"... and {layout['groups'] - drawn} more groups, replicas of group 0",
                ha="center", fontsize=8)
    ax.set_xlim(-1.2, len(rows) + 0.1)
    ax.set_ylim(-0.6 - 0.15 * len(layout["channels"]), drawn + 0.1)
    for k, channel in enumerate(layout["channels"]):
        ax.text(-1.1, -0.75 - 0.22 * k, channel, fontsize=7, va="top")
    ax.axis("off")
    ax.set_title(
        f"{layout['rule']} {layout['network']}: {layout['groups']} group(s) x {layout['pes']} PEs = "
        f"{layout['actors']} PE actors; master outlined in red",
        fontsize=9,
    )
    return save_figure(fig, path)


@click.command("layout")
@click.option(
    "--rule",
    type=click.Choice(rule_names()),
    default="eprop",
    show_default=True,
    help="The rule whose first network to lay out (e-prop: the gsc network's recurrent neurons split over the PEs; "
    "EventProp: each layer of the yinyang network split over its PEs).",
)
@click.option(
    "--pes",
    type=click.IntRange(min=1),
    default=12,
    show_default=True,
    help="PEs per group, P (EventProp: PEs per layer, at most one per neuron).",
)
@click.option("--groups", type=click.IntRange(min=1), default=1, show_default=True, help="Groups G (replicas).")
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
