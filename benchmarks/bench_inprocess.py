"""Samples/s of the in-process engine (one group of P PEs, e-prop training steps) on the gsc network.

Prints each configuration's samples/s and its ratio to the P = 1, k = 1 baseline measured in the same run, and
writes the figures to ``benchmarks/results/inprocess.json``.

    .venv/bin/python benchmarks/bench_inprocess.py [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402

import pe_actors as pa  # noqa: E402
from pe_actors.engines import make  # noqa: E402

RESULTS = Path(__file__).parent / "results" / "inprocess.json"


def measure(n_pes: int, sub_batch: int, min_seconds: float) -> float:
    """Training samples/s of an InProcessEngine with P = n_pes at sub-batch k (gradients + ADAM)."""
    config = pa.NetworkConfig()
    params = pa.init_params(config, 0, np.float32)
    engine = make("eprop", "inprocess", config, params, pa.OptimiserConfig(), pes=n_pes, sub_batch=sub_batch)
    rng = np.random.default_rng(0)
    x = (rng.random((sub_batch, config.n_steps, config.n_in)) * 3).astype(np.float32)
    labels = rng.integers(0, config.n_out, sub_batch)
    engine.train_batch(x, labels, 1e-3)
    samples, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < min_seconds or samples == 0:
        engine.train_batch(x, labels, 1e-3)
        samples += sub_batch
    return samples / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="shorter timing windows")
    args = parser.parse_args()
    seconds = 1.0 if args.quick else 4.0
    rows = []
    baseline = None
    print(f"{'P':>3} {'k':>4} {'samples/s':>10} {'x baseline':>11}")
    for n_pes in (1, 12):
        for sub_batch in (1, 16, 64):
            rate = measure(n_pes, sub_batch, seconds)
            baseline = baseline or rate
            rows.append({"pes": n_pes, "sub_batch": sub_batch, "samples_per_s": rate, "ratio": rate / baseline})
            print(f"{n_pes:>3} {sub_batch:>4} {rate:>10.1f} {rate / baseline:>11.2f}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    report = {"benchmark": "inprocess", "network": "gsc", "dtype": "float32", "machine": platform.node(), "rows": rows}
    RESULTS.write_text(json.dumps(report, indent=2))
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
