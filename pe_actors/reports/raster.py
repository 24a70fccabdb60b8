"""The raster of one sample: its input, every spiking population's spikes (neurons coloured by the PE that holds
them) and every non-spiking population's voltage over time, with the prediction."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from pe_actors.reports.figures import pyplot, save_figure


def plot_raster(raster: Any, path: Path) -> Path:
    """Draw ``raster`` (a :class:`pe_actors.run.simulate.Raster`) into ``path``."""
    sim, summary = raster.simulation, raster.summary()
    plt = pyplot()
    panels = [("input", None, sim.x[0])] + [(name, var, values[var][0]) for name, values in sim.populations.items()
                                             for var in (("spikes",) if "spikes" in values else ("v",))]
    heights = [1.2 if var != "spikes" else 2.2 for _, var, _ in panels]
    fig, axes = plt.subplots(len(panels), 1, figsize=(9, 1.5 * sum(heights)), sharex=True,
                             gridspec_kw={"height_ratios": heights}, squeeze=False)
    times = np.arange(sim.x.shape[1]) * sim.step_ms
    colours = plt.get_cmap("tab10")
    for ax, (name, var, values) in zip(axes[:, 0], panels, strict=True):
        if var == "spikes" or (var is None and set(np.unique(values)) <= {0, 1}):
            steps, neurons = np.nonzero(values)
            parts = raster.neurons_by_pe.get(name, [[0, values.shape[1]]])
            pe = np.searchsorted([stop for _, stop in parts], neurons, side="right")
            ax.scatter(times[steps], neurons, s=5, marker="|", c=[colours(p % 10) for p in pe])
            ax.set_ylim(-0.5, values.shape[1] - 0.5)
            ax.set_ylabel(f"{name}\nspikes", fontsize=8)
        elif var is None:
            ax.imshow(values.T, aspect="auto", origin="lower", cmap="viridis",
                      extent=(times[0], times[-1] + sim.step_ms, -0.5, values.shape[1] - 0.5))
            ax.set_ylabel("input", fontsize=8)
        else:
            for k in range(values.shape[1]):
                width = 2.0 if k == summary["predicted"] else 0.8
                ax.plot(times, values[:, k], lw=width, label=raster.class_names[k] if values.shape[1] <= 12 else None)
            ax.set_ylabel(f"{name}\n{var}", fontsize=8)
            if values.shape[1] <= 12:
                ax.legend(fontsize=6, ncol=6, loc="upper left")
    axes[-1, 0].set_xlabel("time (ms)")
    verdict = "" if raster.label is None else f", label {summary['label_name']}"
    axes[0, 0].set_title(f"{raster.sample}; {raster.source}\npredicted {summary['predicted_name']}{verdict}; "
                         "spiking neurons coloured by the PE that holds them", fontsize=8)
    return save_figure(fig, path)
