"""Training curves of runs, like the paper's Figure 5: train, validation and test accuracy and loss per epoch, read
from each run directory's ``metrics.jsonl``, drawn in one figure (one colour per run; train dotted, validation
dashed, test solid)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pe_actors.reports.figures import pyplot, save_figure

SPLIT_STYLES = {"train": ":", "validation": "--", "test": "-"}


def read_history(run_dir: Path) -> list[dict[str, Any]]:
    """The epoch records of ``run_dir/metrics.jsonl`` in epoch order; a ValueError names a missing or empty file."""
    path = Path(run_dir) / "metrics.jsonl"
    if not path.is_file():
        raise ValueError(f"{path} does not exist: {run_dir} is not a pe-actors run directory")
    records = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    history = [record for record in records if record.get("kind") == "epoch"]
    if not history:
        raise ValueError(f"{path} holds no epoch record yet")
    return sorted(history, key=lambda record: record["epoch"])


def plot_histories(histories: dict[str, list[dict[str, Any]]], path: Path, title: str) -> Path:
    """Accuracy and loss per epoch of every run in ``histories`` (label -> epoch records) as a PNG at ``path``."""
    plt = pyplot()
    fig, (ax_acc, ax_loss) = plt.subplots(1, 2, figsize=(11, 4.2))
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    single = len(histories) == 1
    for index, (label, history) in enumerate(histories.items()):
        epochs = [record["epoch"] for record in history]
        for split, style in SPLIT_STYLES.items():
            colour = colours[(list(SPLIT_STYLES).index(split) if single else index) % len(colours)]
            name = split if single else f"{label} {split}"
            marker = "o" if split == "test" else None
            accuracy = [100 * record[f"{split}_accuracy"] for record in history]
            ax_acc.plot(epochs, accuracy, style, color=colour, marker=marker, markersize=3, label=name)
            ax_loss.plot(epochs, [record[f"{split}_loss"] for record in history], style, color=colour, label=name)
    ax_acc.set(xlabel="epoch", ylabel="accuracy (%)", title="accuracy")
    ax_loss.set(xlabel="epoch", ylabel="cross-entropy", title="loss")
    from matplotlib.ticker import MaxNLocator

    for ax in (ax_acc, ax_loss):
        ax.grid(alpha=0.3)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # epochs are whole numbers
    # One legend below both panels, where it covers no line.
    handles, labels = ax_acc.get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=min(len(labels), 6), fontsize=7, frameon=False)
    fig.suptitle(title)
    fig.tight_layout(rect=(0, 0.06 + 0.03 * ((len(labels) - 1) // 6), 1, 0.95))
    return save_figure(fig, path, tight=False)


def history_rows(histories: dict[str, list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """One CSV row per run and epoch with the learning rate and every split's loss and accuracy."""
    keys = ["lr", "train_samples_per_s"] + [
        f"{split}_{kind}" for split in SPLIT_STYLES for kind in ("accuracy", "loss")
    ]
    return [
        {"run": label, "epoch": record["epoch"], **{key: record.get(key) for key in keys}}
        for label, history in histories.items()
        for record in history
    ]
