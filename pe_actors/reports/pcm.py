"""The pictures of the PCM studies: accuracy against bits per device with the device writes over training, and
accuracy against time since training with and without drift compensation (docs/synapses.md, "Results")."""

from __future__ import annotations

from pathlib import Path

from pe_actors.reports.figures import pyplot, save_figure
from pe_actors.studies.pcm import writes_over_training


def plot_sweep(rows: list[dict], runs: dict[str, Path], path: Path, title: str) -> Path:
    """Left: test accuracy against bits per device (mean and standard deviation over the seeds), quantised and PCM,
    float32 as a line. Right: device writes per synapse over training of each PCM run of ``runs``."""
    from pe_actors.rules.eprop.config import network_config

    plt = pyplot()
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5))
    float_rows = [row for row in rows if row["synapses"] == "digital"]
    widths = sorted({row["bits"] for row in rows if row["synapses"] != "digital"}, reverse=True)
    for kind, style in (("quantised", "s--"), ("pcm", "o-")):
        ours = sorted((r for r in rows if r["synapses"] == kind), key=lambda r: -r["bits"])
        if ours:
            where = [widths.index(r["bits"]) for r in ours]
            accuracy = [100 * r["test_accuracy"] for r in ours]
            spread = [100 * r["test_accuracy_sd"] for r in ours]
            left.errorbar(where, accuracy, yerr=spread, fmt=style, capsize=3, label=kind)
    if float_rows:
        reference = 100 * float_rows[0]["test_accuracy"]
        left.axhline(reference, color="black", linewidth=1, label=f"float32 ({reference:.1f} %)")
        left.axhline(reference - 2, color="grey", linewidth=0.8, linestyle=":", label="float32 - 2 points")
    left.set_xticks(range(len(widths)), [str(b) for b in widths])
    left.set(xlabel="bits per device", ylabel="test accuracy [%]")
    left.grid(alpha=0.3)
    left.legend(fontsize=8)
    left.set_title(title, fontsize=9)
    config = network_config("gsc")
    for name, run in runs.items():
        if not name.startswith("pcm"):
            continue
        points = writes_over_training(run / "metrics.jsonl", config)
        if points:
            right.plot([p[0] for p in points], [p[1] for p in points], label=name)
    right.set(xlabel="training samples", ylabel="device writes per synapse (both devices)")
    right.grid(alpha=0.3)
    right.legend(fontsize=8)
    right.set_title("writes per synapse over training (first programming included)", fontsize=9)
    return save_figure(fig, path)


def plot_drift(rows: list[dict], path: Path, title: str) -> Path:
    """Accuracy against time since the end of training (log axis), without and with drift compensation (error bars:
    the spread over models, or over reads for one model); the models as training left them (0 s) as a line."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for compensation, style, name in ((False, "o-", "no compensation"), (True, "s-", "global drift compensation")):
        points = [r for r in rows if r["compensation"] == compensation and r["seconds"] > 0]
        spread = [100 * (r["accuracy_sd"] if r["n"] > 1 else r["read_sd"]) for r in points]
        ax.errorbar([r["seconds"] for r in points], [100 * r["accuracy"] for r in points], yerr=spread, fmt=style,
                    capsize=3, label=name)
    start = next((r for r in rows if r["seconds"] == 0 and not r["compensation"]), None)
    if start is not None:
        ax.axhline(100 * start["accuracy"], color="black", linewidth=1, label=f"0 s ({100 * start['accuracy']:.1f} %)")
    ax.set_xscale("log")
    ticks = [r for r in rows if r["seconds"] > 0 and not r["compensation"]]
    ax.set_xticks([r["seconds"] for r in ticks], [r["time"] for r in ticks])
    ax.set(xlabel="time since the end of training", ylabel="test accuracy [%]")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title(title, fontsize=9)
    return save_figure(fig, path)
