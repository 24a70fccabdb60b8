"""The picture of a PE layout: boxes per PE and group, the master outlined, the channels listed."""

from __future__ import annotations

from pathlib import Path

from pe_actors.reports.figures import pyplot, save_figure

#: Groups drawn in full; further groups are replicas of the first and are summarised.
GROUPS_DRAWN = 3


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
