"""Initialisation from the data (docs/training.md, "Initialisation from the data"): the initial input weights of a
population that fires too little scaled so that it starts firing within :data:`TARGET`.

A network's initial weights are drawn for inputs of some typical size (e-prop's for normalised features, EventProp's
for Yin-Yang's latency code). A sparse spike raster, or a user's own arrays, can sit far below that, and then no
hidden neuron ever spikes and nothing learns. So, before training, each input connection's weights are multiplied
by one gain, found by bisection in log space on a probe of training samples run through the rule's own forward
pass, until the population it drives fires on a fraction of its (neuron, step) pairs within :data:`TARGET` (the
middle of it, 3 %, where it can). A population that already fires at least the band's lower end keeps its weights
as drawn: more firing may be what its recipe wants, and silence is what stops learning.

It is *rate-targeted input scaling*: simpler than fluctuation-driven initialisation (Rossbroich et al. 2022), which
sets the weights' variance from the inputs' statistics, but aimed at the same thing, a network that starts firing;
it changes only the scale of the drawn weights, not their pattern.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

#: The firing a driven population should start with: spikes per (neuron, step) on the probe samples.
TARGET = (0.01, 0.1)
#: Training samples the forward passes run on.
PROBE = 64
#: The gains the bisection searches, and how many steps it takes.
GAINS = (1e-3, 1e4)
STEPS = 24


def scale_to_data(spec: Any, network: Any, params: dict[str, np.ndarray], x: np.ndarray)\
        -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """``params`` with each input connection's weights (``spec.input_targets(network)``: weight key -> the
    population it drives) scaled to the data ``x`` (see the module docstring), and what was done: the method, the
    target, per weight its gain and per population its firing before and after."""
    probe = np.asarray(x[:PROBE])
    scaled = dict(params)
    gains, before, after = {}, {}, {}
    for key, population in spec.input_targets(network).items():
        def rate(gain: float, key: str = key, population: str = population) -> float:
            trial = {**scaled, key: (scaled[key] * gain).astype(scaled[key].dtype)}
            populations, _ = spec.record(trial, probe, network)
            return float(np.mean(populations[population]["spikes"]))

        before[population] = start = rate(1.0)
        gain = 1.0
        if start < TARGET[0]:
            # Only a population that fires too little is scaled: one that fires more than the band may be what its
            # recipe wants (EventProp's outputs need its hidden spikes early), and silence is what stops learning.
            gain = _bisect(rate)
        scaled[key] = (scaled[key] * gain).astype(scaled[key].dtype)
        gains[key] = gain
        after[population] = rate(1.0)  # the weights now hold the gain
    report = {"method": "rate-targeted input scaling", "target": list(TARGET), "probe_samples": len(probe),
              "gains": gains, "firing_before": before, "firing_after": after}
    return scaled, report


def _bisect(rate: Any) -> float:
    """The gain in :data:`GAINS` whose firing is closest to the middle of :data:`TARGET` (firing grows with the
    gain); 1 when no gain reaches the target's band (an input of zeros)."""
    middle = math.sqrt(TARGET[0] * TARGET[1])
    low, high = math.log(GAINS[0]), math.log(GAINS[1])
    if rate(math.exp(high)) < TARGET[0] or rate(math.exp(low)) > TARGET[1]:
        return 1.0
    best, best_distance = 1.0, math.inf
    for _ in range(STEPS):
        mid = (low + high) / 2
        value = rate(math.exp(mid))
        distance = abs(math.log(max(value, 1e-12) / middle))
        if distance < best_distance:
            best, best_distance = math.exp(mid), distance
        if TARGET[0] <= value <= TARGET[1] and distance < 0.5:
            break
        if value < middle:
            low = mid
        else:
            high = mid
    return best


def describe(report: dict[str, Any]) -> str:
    """The line a run logs about its initialisation from the data."""
    parts = [f"{key} x {gain:.3g}" for key, gain in report["gains"].items()]
    firing = ", ".join(f"{name} fires {100 * report['firing_after'][name]:.1f} % (was "
                       f"{100 * report['firing_before'][name]:.1f} %)" for name in report["firing_after"])
    return (f"Initialised from the data ({report['method']}, target {100 * report['target'][0]:g}-"
            f"{100 * report['target'][1]:g} % of neuron-steps on {report['probe_samples']} training samples): "
            f"{', '.join(parts)}; {firing}")
