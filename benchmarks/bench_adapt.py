"""Batch-1 learning on PE actors, what ``pe-actors adapt`` runs: time per learning step of one group of PE actors
when the driver sends every sample (a ``train_batch`` call, its gradients and learning step per sample) and when
the PEs learn a sequence of samples in one call, applying their own update after each sample as the chip does
(``train_samples``, which adaptation uses), beside the same PEs in one process, all in the same run.

The network is e-prop's gsc network (80-120-12, T = 100, float32) on ``--pes`` PEs (default 12, as ``adapt``
runs it), one group, sub-batch 1, over shared memory. The two actor rows learn the same samples from the same
weights and end with the same bits (checked). Prints milliseconds per sample and the ratios, and writes
``benchmarks/results/adapt.json``.

    .venv/bin/python benchmarks/bench_adapt.py [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402

import pe_actors as pa  # noqa: E402
from pe_actors.core.engine import train_each  # noqa: E402
from pe_actors.engines import make  # noqa: E402
from pe_actors.training.adaptation import SAMPLES_PER_CALL  # noqa: E402

RESULTS = Path(__file__).parent / "results" / "adapt.json"
CONFIG = pa.NetworkConfig()
LR = 1e-3


def learn(engine, how: str, x: np.ndarray, labels: np.ndarray) -> float:
    """Seconds per sample of learning ``x`` one sample at a time, ``how``: a call per sample or sequences."""
    start = time.perf_counter()
    if how == "sequence":
        for first in range(0, len(x), SAMPLES_PER_CALL):
            engine.train_samples(x[first : first + SAMPLES_PER_CALL], labels[first : first + SAMPLES_PER_CALL], LR)
    else:
        train_each(engine, x, labels, LR)
    return (time.perf_counter() - start) / len(x)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pes", type=int, default=12, help="PEs of the group (default 12).")
    parser.add_argument("--samples", type=int, default=96, help="Samples each row learns (default 96).")
    parser.add_argument("--repeats", type=int, default=3, help="Timed repeats per row; the best counts (default 3).")
    parser.add_argument("--quick", action="store_true", help="48 samples, 2 repeats.")
    parser.add_argument("--out", type=Path, default=RESULTS, help=f"JSON output (default {RESULTS}).")
    args = parser.parse_args()
    samples, repeats = (48, 2) if args.quick else (args.samples, args.repeats)
    rng = np.random.default_rng(0)
    x = (rng.random((samples, CONFIG.n_steps, CONFIG.n_in)) * 3.0).astype(np.float32)
    labels = rng.integers(0, CONFIG.n_out, samples)
    params = pa.init_params(CONFIG, 0, np.float32)
    optimiser = pa.OptimiserConfig(lr=LR)
    rows, states = [], {}
    inprocess = make("eprop", "inprocess", CONFIG, params, optimiser, pes=args.pes, sub_batch=1)
    learn(inprocess, "call per sample", x[:4], labels[:4])  # warm-up
    rows.append({"engine": "in-process PEs", "how": "call per sample",
                 "ms_per_sample": 1e3 * min(learn(inprocess, "call per sample", x, labels) for _ in range(repeats))})
    with make("eprop", "actors", CONFIG, params, optimiser, pes=args.pes, groups=1, sub_batch=1,
              record_metrics=False) as actors:
        initial = actors.state()  # weights, fresh ADAM moments and step count
        for how in ("call per sample", "sequence"):
            learn(actors, how, x[:4], labels[:4])  # warm-up: the PEs' kernels, the mailbox pages
            best = []
            for _ in range(repeats):
                actors.load_state(initial)
                best.append(learn(actors, how, x, labels))
            states[how] = actors.state()
            rows.append({"engine": "PE actors", "how": how, "ms_per_sample": 1e3 * min(best)})
    same = all(np.array_equal(states["sequence"][key], value) for key, value in states["call per sample"].items())
    base = rows[1]["ms_per_sample"]
    for row in rows:
        row["ratio_to_actors_call_per_sample"] = row["ms_per_sample"] / base
        print(f"{row['engine']:<15} {row['how']:<16} {row['ms_per_sample']:8.1f} ms per sample "
              f"({row['ratio_to_actors_call_per_sample']:.2f}x the time of a call per sample)")
    print(f"the two actor rows end with the same bits: {same}")
    result = {
        "benchmark": "adapt", "network": "gsc", "pes": args.pes, "samples": samples,
        "samples_per_call": SAMPLES_PER_CALL, "same_bits": same,
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "load_average": os.getloadavg()},
        "python": sys.version.split()[0], "rows": rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    print(f"wrote {args.out}")
    if not same:
        raise SystemExit("the sequence ended with other weights than a call per sample")


if __name__ == "__main__":
    main()
