"""Memory per PE as a figure: stacked bars by category against a SpiNNaker 2 PE's 128 KB of SRAM."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from pe_actors.reports.figures import pyplot, save_figure

#: A SpiNNaker 2 PE's SRAM.
PE_SRAM_BYTES = 128 * 1024


def plot_pe_memory(rows: list[dict], categories: tuple[str, ...], path: Path, title: str) -> Path:
    """Bytes per PE as stacked bars by category (KB, linear axis, totals written on the bars), with a
    SpiNNaker 2 PE's 128 KB of SRAM as a line: the analogue of the paper's Tables 1 and 6 per PE."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(max(6.0, 0.55 * len(rows) + 3), 4.5))
    positions = np.arange(len(rows))
    bottom = np.zeros(len(rows))
    for name in categories:
        heights = np.array([row["bytes_by_category"].get(name, 0) / 1024 for row in rows])
        if heights.any():
            ax.bar(positions, heights, bottom=bottom, label=name)
            bottom += heights
    for x, total in zip(positions, bottom, strict=True):
        ax.annotate(f"{total:.1f}", (x, total), ha="center", va="bottom", fontsize=7)
    ax.axhline(PE_SRAM_BYTES / 1024, color="black", linestyle="--", linewidth=1, label="128 KB SRAM of a PE")
    ax.set_xticks(positions, [row["label"] for row in rows], rotation=45 if len(rows) > 8 else 0, ha="right")
    ax.set(ylabel="memory per PE [KB]", title=title)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1))
    ax.grid(axis="y", alpha=0.3)
    return save_figure(fig, path)


#: How the memory-against-T panels name the two ways of learning they compare.
METHODS = {"eprop": "E-prop", "bptt": "BPTT"}


def plot_memory_vs_steps(report: dict, path: Path) -> Path:
    """Two panels like the paper's Figure 7: the configured network, and e-prop against a smaller BPTT network
    with the crossover points marked."""
    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    steps = np.asarray(report["steps"])
    styles = {"ours_eprop": ("tab:blue", "-"), "ours_bptt": ("tab:red", "-"),
              "paper_eprop": ("tab:blue", "--"), "paper_bptt": ("tab:red", "--")}
    for ax, (name, panel) in zip(axes, report["panels"].items(), strict=True):
        for key, values in panel["bytes"].items():
            source, method = key.split("_")
            neurons = panel[f"{method}_neurons"]
            color, style = styles[key]
            label = f"{METHODS[method]} {neurons} neurons ({source})"
            ax.plot(steps, np.asarray(values) / 1024, style, color=color, label=label)
        for source, marker in (("ours", "o"), ("paper", "s")):
            crossing = panel["crossover_steps"][source]
            if crossing and crossing <= steps[-1]:
                line = panel["lines_bytes"][f"{source}_eprop"]
                at = (line["intercept"] + line["slope_per_step"] * crossing) / 1024
                ax.plot([crossing], [at], marker, color="black", fillstyle="none", markersize=9)
                ax.annotate(f"{source}: T = {crossing:.0f}", (crossing, at), textcoords="offset points",
                            xytext=(6, -14 if source == "ours" else 6), fontsize=8)
        ax.set_xlabel("time steps T")
        ax.set_ylabel("memory [KB]")
        title = "same network" if name == "same" else "E-prop vs smaller BPTT network"
        ax.set_title(f"{title}: {panel['eprop_neurons']} vs {panel['bptt_neurons']} neurons", fontsize=10)
        ax.legend(fontsize=7)
        ax.grid(alpha=0.3)
    return save_figure(fig, path)


#: SRAM of one SpiNNaker 2 PE.
