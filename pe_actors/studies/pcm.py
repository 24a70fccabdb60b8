"""The PCM studies (docs/synapses.md, "Results"): accuracy against device precision, accuracy against drift time
with and without global drift compensation, and device writes per synapse over training."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np

from pe_actors.core.engine import Engine
from pe_actors.engines.registry import from_state
from pe_actors.rules.eprop.config import NetworkConfig
from pe_actors.synapses import SynapseConfig

#: Bit widths of the precision sweep; 32 stands for the float32 (digital) network.
SWEEP_BITS = (32, 8, 6, 5, 4, 3, 2)
#: Times since the end of training of the drift study: (label, seconds); 0 s is the model as training left it.
DRIFT_TIMES = (
    ("0 s", 0.0),
    ("1 s", 1.0),
    ("1 min", 60.0),
    ("1 h", 3600.0),
    ("1 day", 86400.0),
    ("1 month", 30 * 86400.0),
)


def synapse_count(config: NetworkConfig) -> int:
    """Synapses of the network, N_in N_rec + N_rec (N_rec - 1) + N_rec N_out (W_rec has no diagonal); each is one
    device pair."""
    return config.n_in * config.n_rec + config.n_rec * (config.n_rec - 1) + config.n_rec * config.n_out


def device_engine(config: NetworkConfig, state: dict[str, np.ndarray], synapses: SynapseConfig) -> Engine:
    """The replay engine holding a checkpoint's ``state`` on ``synapses`` (the devices as the state left them), for
    evaluation; the forward pass reads the devices like the PEs do."""
    return from_state("eprop", "replay", config, state, synapses=synapses)


def accuracy(engine: Engine, x: np.ndarray, labels: np.ndarray, chunk: int = 256) -> float:
    """Fraction of ``x`` the engine classifies correctly."""
    correct = sum(
        int(np.sum(np.argmax(engine.predict(x[i : i + chunk]), axis=1) == labels[i : i + chunk]))
        for i in range(0, len(x), chunk)
    )
    return correct / len(x)


def drift_study(
    config: NetworkConfig,
    state: dict[str, np.ndarray],
    synapses: SynapseConfig,
    x: np.ndarray,
    labels: np.ndarray,
    times: tuple[tuple[str, float], ...] = DRIFT_TIMES,
    repeats: int = 3,
    on_point: Callable[[], None] | None = None,
) -> list[dict]:
    """Accuracy of a PCM-trained model on (x, labels) after each time of ``times``, without and with global drift
    compensation (against the programmed conductances for a model trained with compensation, against the reads at
    the end of training for one trained without, since those are what it learned with); each point is the mean of
    ``repeats`` reads (read noise drawn afresh: streams seeded with ``synapses.seed + r``; r = 0 is the read
    training itself would make). ``on_point`` is called after each point (a progress bar)."""
    if synapses.kind != "pcm":
        raise ValueError(f"the drift study needs a model trained with pcm synapses, not {synapses.kind}")
    if repeats < 1:
        raise ValueError(f"repeats must be a positive integer, got {repeats!r}")
    rows = []
    for compensation in (False, True):
        for label, seconds in times:
            scores = []
            for r in range(repeats):
                trained_with = compensation and synapses.drift_compensation
                reads = replace(synapses, seed=(synapses.seed + r) % 2**63, drift_compensation=trained_with)
                engine = device_engine(config, state, reads)
                if compensation and not trained_with:
                    # A model trained without compensation learned with the reads at the end of training: those
                    # are the reference the gains restore.
                    engine.compensate_to(engine.drift_sums()[:, 1])
                engine.advance(seconds)
                scores.append(accuracy(engine, x, labels))
            rows.append(
                {
                    "time": label,
                    "seconds": seconds,
                    "compensation": compensation,
                    "accuracy": float(np.mean(scores)),
                    "read_sd": float(np.std(scores, ddof=1)) if repeats > 1 else 0.0,
                    "repeats": repeats,
                }
            )
            if on_point is not None:
                on_point()
    return rows


def writes_over_training(metrics_path: Path, config: NetworkConfig) -> list[tuple[int, float]]:
    """(training samples, device writes per synapse so far) from a run's ``metrics.jsonl`` (the ``batch`` and
    ``epoch`` records that carry ``device_writes``), starting at (0, 2): the first programming writes both devices
    of every synapse."""
    points = {0: 2.0}
    for line in Path(metrics_path).read_text().splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(record, dict) and "device_writes" in record:
            points[int(record["global_samples"])] = record["device_writes"] / synapse_count(config)
    return sorted(points.items())


def summarise(rows: list[dict], keys: tuple[str, ...] = ("synapses", "bits")) -> list[dict]:
    """Rows of runs grouped by ``keys`` (in first-seen order): per group the mean and the sample standard
    deviation (``<field>_sd``, ddof 1 over the group's runs; 0 for a single run) of every numeric field, and ``n``
    runs."""
    groups: dict[tuple, list[dict]] = {}
    for row in rows:
        groups.setdefault(tuple(row[k] for k in keys), []).append(row)
    table = []
    for key, members in groups.items():
        entry: dict = dict(zip(keys, key, strict=True))
        entry["n"] = len(members)
        for field, value in members[0].items():
            if field in keys or field == "seed" or isinstance(value, (str, bool)):
                continue
            values = [m[field] for m in members if m[field] is not None]
            entry[field] = float(np.mean(values)) if values else None
            entry[f"{field}_sd"] = float(np.std(values, ddof=1)) if len(values) > 1 else (0.0 if values else None)
        table.append(entry)
    return table
