"""What device synapses cost: training samples/s of the gsc network (float32, T = 100) with digital, quantised
and PCM synapses on the replay engine and on in-process PEs, as ratios to digital in one run.

The PCM store adds, per learning step, the programming of changed devices and one noisy read of every device
(counter-based draws, docs/synapses.md "Noise streams"), and with drift compensation its conductance sums; the
forward and backward passes are unchanged. Each cell is the best of several timed steps after a warm-up step; the
stores of an engine take turns step by step, so that the machine's changing speed reaches them alike.
Results go to ``benchmarks/results/synapses.json``.

    .venv/bin/python benchmarks/bench_synapses.py [--quick]
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np

import pe_actors as pa
from pe_actors.engines import make

RESULTS = Path(__file__).parent / "results" / "synapses.json"
CONFIG = pa.NetworkConfig()
STORES = {
    "digital": pa.SynapseConfig(),
    "quantised 4 bit": pa.SynapseConfig(kind="quantised", bits=4),
    "pcm 4 bit": pa.SynapseConfig(kind="pcm", bits=4),
    "pcm 4 bit, compensated": pa.SynapseConfig(kind="pcm", bits=4, drift_compensation=True),
}


def engine(name: str, synapses: pa.SynapseConfig, batch: int):
    params = pa.init_params(CONFIG, seed=0)
    if name == "replay":
        return make("eprop", "replay", CONFIG, params, pa.OptimiserConfig(), synapses=synapses)
    return make("eprop", "inprocess", CONFIG, params, pa.OptimiserConfig(), pes=12, sub_batch=batch, synapses=synapses)


def samples_per_s(models: dict, batch: int, budget_s: float) -> dict[str, float]:
    """Samples/s of each model, from the best of its timed steps; the models take turns, one step each, so that a
    change in the machine's speed during the run (other guests, the clock) reaches every store alike."""
    rng = np.random.default_rng(0)
    x = (rng.random((batch, CONFIG.n_steps, CONFIG.n_in)) * 2).astype(np.float32)
    labels = rng.integers(0, CONFIG.n_out, batch)
    best = {}
    for name, model in models.items():
        model.train_batch(x, labels, 1e-3)
        best[name] = float("inf")
    spent = 0.0
    while spent < budget_s * len(models):
        for name, model in models.items():
            start = time.perf_counter()
            model.train_batch(x, labels, 1e-3)
            seconds = time.perf_counter() - start
            best[name], spent = min(best[name], seconds), spent + seconds
    return {name: batch / seconds for name, seconds in best.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="shorter time budgets per cell")
    args = parser.parse_args()
    budget = 1.0 if args.quick else 4.0
    rows = []
    for engine_name, batch in (("replay", 64), ("12 in-process PEs", 32)):
        models = {store: engine(engine_name, synapses, batch) for store, synapses in STORES.items()}
        rates = samples_per_s(models, batch, budget)
        base = rates["digital"]
        for store, rate in rates.items():
            rows.append({"engine": engine_name, "batch": batch, "synapses": store, "samples_per_s": rate,
                         "ratio_to_digital": rate / base})
            print(f"{engine_name:<20}{batch:>6}  {store:<24}{rate:>9.0f} samples/s  ({rate / base:.2f}x digital)")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"machine": platform.processor() or platform.machine(), "rows": rows}, indent=1))
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
