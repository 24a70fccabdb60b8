"""The picture of the network-size study: test accuracy against trainable parameters per input variant, ours
beside the paper's Table 4."""

from __future__ import annotations

from pathlib import Path

from pe_actors.reports.figures import pyplot, save_figure
from pe_actors.studies.sweep import INPUT_VARIANTS, PAPER_TABLE4, trainable_params

_MARKERS = {"40x1": "o", "40x2": "s", "40x3": "^"}
_COLORS = {"40x1": "tab:blue", "40x2": "tab:orange", "40x3": "tab:green"}


def plot_sweep(rows: list[dict], title: str, path: Path) -> Path:
    """Test accuracy (at the best validation epoch) against trainable parameters per input variant, ours filled
    and the paper's Table 4 hollow."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(8, 5))
    for variant in INPUT_VARIANTS:
        ours = sorted((row for row in rows if row["inputs"] == variant), key=lambda row: row["params"])
        if ours:
            ax.plot([row["params"] for row in ours], [100 * row["test_accuracy"] for row in ours],
                    marker=_MARKERS[variant], color=_COLORS[variant], label=f"{variant} ours")
            for row in ours:
                ax.annotate(str(row["n_rec"]), (row["params"], 100 * row["test_accuracy"]), fontsize=7,
                            textcoords="offset points", xytext=(4, 4))
        paper = [row for row in PAPER_TABLE4 if row.variant == variant]
        ax.plot([trainable_params(40 * INPUT_VARIANTS[variant], row.n_rec, 12) for row in paper],
                [row.test for row in paper], marker=_MARKERS[variant], color=_COLORS[variant], linestyle=":",
                fillstyle="none", label=f"{variant} paper (GSC)")
    ax.set_xscale("log")
    ax.set_xlabel("trainable parameters")
    ax.set_ylabel("test accuracy at best validation [%]")
    ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, ncol=2)
    return save_figure(fig, path)
