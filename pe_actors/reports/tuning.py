"""The picture of a hyper-parameter search: each trial's best validation accuracy against each searched setting."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pe_actors.reports.figures import pyplot, save_figure


def plot_trials(rows: list[dict], space: dict[str, Any], metric: str, path: Path, title: str) -> Path:
    """Best validation accuracy of each trial against each searched option (log axes for loguniform ones)."""
    plt = pyplot()
    names = list(space)
    fig, axes = plt.subplots(1, len(names), figsize=(4.2 * len(names), 3.8), squeeze=False)
    best = max(rows, key=lambda row: row[metric])
    for ax, name in zip(axes[0], names, strict=True):
        kind = next(iter(space[name]))
        values = [row[name] for row in rows]
        scores = [100 * row[metric] for row in rows]
        if kind == "choice" and not all(isinstance(v, (int, float)) for v in values):
            labels = sorted({str(v) for v in values})
            values = [labels.index(str(v)) for v in values]
            ax.set_xticks(range(len(labels)), labels)
        ax.scatter(values, scores, color="tab:blue")
        ax.scatter([values[rows.index(best)]], [100 * best[metric]], color="tab:red", label="best", zorder=3)
        if kind == "loguniform":
            ax.set_xscale("log")
        ax.set(xlabel=name.replace("_", "-"), ylabel="best validation accuracy [%]")
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=8)
    fig.suptitle(title, fontsize=10)
    return save_figure(fig, path)
