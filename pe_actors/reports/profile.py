"""The pictures of the profiles: e-prop's time per PE function and step against the real-time budget (the
paper's Figure 6), and EventProp's time per PE and program."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from pe_actors.reports.figures import pyplot, save_figure
from pe_actors.studies.profiling import PROFILE_FUNCTIONS, Profile


def plot_profile(profile: Profile, path: Path, actors: dict | None = None) -> Path:
    """Two panels: microseconds per step of each function (the profile's statistic averaged over PEs, error bars
    from the fastest to the slowest PE, the other statistic as a tick), and the step and the last step (and the
    Ray actors' step, when measured) against the real-time budget."""
    plt = pyplot()
    summary = profile.to_dict()["functions"]
    names = list(PROFILE_FUNCTIONS)
    mean = np.array([profile.per_step[name] for name in names]) * 1e6
    low = mean - np.array([summary[name]["min_pe_s_per_step"] for name in names]) * 1e6
    high = np.array([summary[name]["max_pe_s_per_step"] for name in names]) * 1e6 - mean
    fig, (ax_bar, ax_budget) = plt.subplots(1, 2, figsize=(12, 4.6), gridspec_kw={"width_ratios": [2.2, 1]})
    positions = np.arange(len(names))
    ax_bar.barh(positions, mean, xerr=[low, high], color="tab:blue", capsize=3,
                label=f"{profile.statistic} over steps (error bars: PE range)")
    other = "median" if profile.statistic == "mean" else "mean"
    marks = np.array([summary[name][f"{other}_s_per_step"] for name in names]) * 1e6
    ax_bar.plot(marks, positions, "k|", markersize=14, label=f"{other} over steps")
    ax_bar.legend(fontsize=7, loc="lower right")
    for position, name in enumerate(names):
        label = f"  {mean[position]:.1f} us ({profile.shares[name]:.0%})"
        ax_bar.text(mean[position] + high[position], position, label, va="center", fontsize=8)
    ax_bar.set_yticks(positions, names)
    ax_bar.invert_yaxis()
    ax_bar.set_xlabel("wall time per step and PE [us] (weight_update: per call / T)")
    c = profile.config
    ax_bar.set_title(
        f"per function, {profile.engine} PEs ({profile.kernel} kernel): {c.n_in}/{c.n_rec}/{c.n_out}, "
        f"T = {c.n_steps}, P = {profile.n_pes}, k = {profile.sub_batch}",
        fontsize=9,
    )
    ax_bar.set_xlim(0, max(np.max(mean + high) * 1.45, np.max(marks) * 1.05))
    labels = [f"{profile.statistic}\nstep", "last step\n+ update", "budget"]
    values = [profile.step_s * 1e3, profile.last_step_s * 1e3, profile.budget_s * 1e3]
    colors = ["tab:blue", "tab:orange", "tab:red"]
    if actors is not None:
        labels.insert(2, "Ray actors\n(shm)")
        values.insert(2, actors["step_s"] * 1e3)
        colors.insert(2, "tab:purple")
    bars = ax_budget.bar(range(len(values)), values, color=colors)
    if actors is not None:
        # The actors' step split into compute and the wait at the barrier.
        wait = actors["barrier_wait_s_per_step"] * 1e3
        ax_budget.bar([2], [wait], bottom=[values[2] - wait], color="none", edgecolor="black", hatch="//",
                      label=f"barrier wait {wait:.3g} ms")
        ax_budget.legend(fontsize=7, loc="upper left")
    for position, (bar, value) in enumerate(zip(bars, values, strict=True)):
        ax_budget.text(position, bar.get_height(), f"{value:.3g}", ha="center", va="bottom", fontsize=8)
    ax_budget.set_xticks(range(len(values)), labels, fontsize=7)
    verdict = "fits" if profile.fits_real_time else "exceeds"
    ax_budget.set_title(f"one step (ms): the step {verdict} the real-time budget", fontsize=9)
    ax_budget.set_ylabel("ms per step")
    ax_budget.set_ylim(0, max(values) * 1.2)
    return save_figure(fig, path)


def plot_programs_profile(summary: dict, path: Path) -> Path:
    """Stacked bars: microseconds per step of each section of the PE programs for every PE (the summary of
    :func:`pe_actors.studies.profiling.profile_programs`), with the real-time budget."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(max(6.0, 0.6 * len(summary["per_pe"]) + 3), 4.5))
    labels = [f"L{e['layer']} {e['neurons']}" for e in summary["per_pe"]]
    bottom = np.zeros(len(labels))
    for name in summary["sections"]:
        values = np.array([e["programs_s_per_step"][name] for e in summary["per_pe"]]) * 1e6
        ax.bar(labels, values, bottom=bottom, label=name)
        bottom += values
    ax.set(ylabel="us per step of the trial", xlabel="PE (layer, neurons)")
    ax.set_title(
        f"{summary['rule']}, {summary['n_pes']} PEs, k = {summary['sub_batch']}: slowest PE "
        f"{summary['step_s'] * 1e6:.1f} us per step (budget {summary['budget_s'] * 1e3:g} ms)",
        fontsize=9,
    )
    ax.legend(fontsize=8)
    ax.tick_params(axis="x", rotation=45, labelsize=7)
    return save_figure(fig, path)
