"""The picture of the energy estimate: the chip's energy per epoch against the GPU reference and our run."""

from __future__ import annotations

from pathlib import Path

from pe_actors.reports.figures import pyplot, save_figure


def plot_energy(report: dict, path: Path) -> Path:
    """Energy and time of the whole training per system on linear axes, each bar labelled with its value and its
    ratio to the chip's; the measured row left out (it covers only the measured samples)."""
    plt = pyplot()
    rows = [row for row in report["rows"] if row["key"] != "ours_measured"]
    names = [row["system"].replace(" (", "\n(", 1) for row in rows]
    colors = {"spinnaker2": "tab:green", "gpu": "tab:gray", "ours_extrapolated": "tab:blue"}
    fig, (ax_energy, ax_time) = plt.subplots(1, 2, figsize=(11, 4.4))
    for ax, field, scale, unit in (
        (ax_energy, "energy_j", 1e3, "energy [kJ]"),
        (ax_time, "wall_s", 3600, "training time [h]"),
    ):
        values = [row[field] / scale for row in rows]
        chip = next((v for v, row in zip(values, rows, strict=True) if row["key"] == "spinnaker2"), None)
        ax.bar(range(len(rows)), values, color=[colors[row["key"]] for row in rows])
        for position, value in enumerate(values):
            ratio = f"\n{value / chip:.3g} x chip" if chip and rows[position]["key"] != "spinnaker2" else ""
            ax.text(position, value, f"{value:.3g}{ratio}", ha="center", va="bottom", fontsize=8)
        ax.set_xticks(range(len(rows)), names, fontsize=7)
        ax.set_ylim(0, max(values) * 1.25)
        ax.set_ylabel(unit)
    assumptions = report["assumptions"]
    fig.suptitle(
        f"ESTIMATES: {assumptions['epochs']} epochs x {assumptions['n_samples_per_epoch']:,} samples; chip at "
        f"{assumptions['uw_per_mhz']:g} uW/MHz x {assumptions['clock_mhz']:g} MHz x {assumptions['n_cores']} cores; "
        f"CPU at {assumptions['cpu_watts_per_core']:g} W per busy core",
        fontsize=9,
    )
    return save_figure(fig, path)
