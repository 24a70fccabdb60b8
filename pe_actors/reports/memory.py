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
