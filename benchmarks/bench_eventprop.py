"""Training throughput of EventProp on Yin-Yang: the off-chip engine, the PE program on in-process PEs and on PE
actors, against plain PyTorch BPTT of the same discretised LIF network with a surrogate gradient (what a user
would write otherwise), all measured in the same run.

Engines (each does a full training step on a batch: forward, gradients, ADAM):

- ``torch BPTT``      the baseline: autograd through the T-step loop of the same network (same sizes, dt, tau's,
                      threshold, reset to zero) with a fast-sigmoid surrogate for the spike, cross-entropy on the
                      output neurons' maximum membrane potential (TTFS is not differentiable by autograd), torch's
                      Adam; ``--torch-threads`` intra-op threads (default 1, like every other row);
- ``offchip``         :class:`pe_actors.rules.eventprop.offchip.OffchipEngine`, event-driven numba kernels;
- ``numpy steps``     the same equations as whole-batch numpy expressions per step (the PE program on one PE per
                      layer): what the off-chip engine would be without its compiled kernels;
- ``in-process PEs``  the PE program on the in-process transport (``--pes`` PEs per layer, sub-batch = batch);
- ``PE actors``       the PE program on Ray actors over shared memory (one group, sub-batch = batch); skipped with
                      ``--no-actors``;
- ``layered, 1 PE per layer``, ``layered PEs``, ``layered PE actors``: the same PE program on the layered
                      schedule (a round per layer, each PE running the off-chip engine's compiled loops on its
                      slice) instead of the chip's pipelined one (a round per time step; the rows above).

Each row is the best of repeated steps within a time budget. Prints samples/s and the ratio to torch BPTT,
writes ``benchmarks/results/eventprop.json``.

    .venv/bin/python benchmarks/bench_eventprop.py [--quick] [--no-actors]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402

import pe_actors as pa  # noqa: E402
from pe_actors.engines import make  # noqa: E402
from pe_actors.rules.eventprop.encoding import encode  # noqa: E402
from pe_actors_datasets.yinyang import yinyang  # noqa: E402

try:
    import torch
except ImportError:
    torch = None

RESULTS = Path(__file__).parent / "results" / "eventprop.json"
CONFIG = pa.EVENTPROP_NETWORKS["yinyang"]
OPTIMISER = pa.OptimiserConfig(lr=0.005, l2=0.0)


class TorchLIF:
    """Plain PyTorch BPTT of the discretised LIF network of docs/eventprop.md with a surrogate gradient."""

    def __init__(self, params: dict, threads: int) -> None:
        torch.set_num_threads(threads)
        self.weights = [torch.tensor(params[key]).requires_grad_() for key in CONFIG.weight_keys()]
        self.optimiser = torch.optim.Adam(self.weights, lr=OPTIMISER.lr)

        class Spike(torch.autograd.Function):
            @staticmethod
            def forward(ctx, u):
                ctx.save_for_backward(u)
                return (u > 0).to(u.dtype)

            @staticmethod
            def backward(ctx, grad):
                (u,) = ctx.saved_tensors
                return grad / (1.0 + 10.0 * u.abs()) ** 2

        self.spike = Spike.apply

    def __call__(self, x: np.ndarray, labels: np.ndarray) -> None:
        c = CONFIG
        spikes = torch.from_numpy(x)
        for w in self.weights:
            current = torch.zeros(x.shape[0], w.shape[1], dtype=w.dtype)
            voltage = torch.zeros_like(current)
            out, peak = [torch.zeros_like(current)], None
            for i in range(1, c.n_steps):
                current = c.a * current + spikes[:, i - 1] @ w
                v_pre = c.b * voltage + (1 - c.b) * current
                s = self.spike(v_pre - c.theta)
                voltage = v_pre * (1 - s)
                out.append(s)
                peak = v_pre if peak is None else torch.maximum(peak, v_pre)
            spikes = torch.stack(out, dim=1)
        loss = torch.nn.functional.cross_entropy(peak / c.theta, torch.from_numpy(labels))
        self.optimiser.zero_grad()
        loss.backward()
        self.optimiser.step()


def make_step(engine: str, params: dict, batch: int, pes: int, threads: int) -> tuple[Callable, Callable]:
    """A training step of ``engine`` and a function that releases it."""
    if engine == "torch BPTT":
        return TorchLIF(params, threads), lambda: None
    if engine == "offchip":
        model = make("eventprop", "offchip", CONFIG, params, OPTIMISER)
        return lambda x, y: model.train_batch(x, y, OPTIMISER.lr), lambda: None
    if engine == "numpy steps":
        model = make("eventprop", "inprocess", CONFIG, params, OPTIMISER, pes=1, sub_batch=batch)
        return lambda x, y: model.train_batch(x, y, OPTIMISER.lr), lambda: None
    schedule = "layered" if engine.startswith("layered") else "pipelined"
    if engine in ("in-process PEs", "layered PEs", "layered, 1 PE per layer"):
        n_pes = 1 if engine.endswith("1 PE per layer") else pes
        model = make(
            "eventprop", "inprocess", CONFIG, params, OPTIMISER, pes=n_pes, sub_batch=batch, schedule=schedule
        )
        return lambda x, y: model.train_batch(x, y, OPTIMISER.lr), lambda: None
    # The engine starts a local Ray with the slots it needs and stops it with the actors.
    model = make("eventprop", "actors", CONFIG, params, OPTIMISER, pes=pes, sub_batch=batch, record_metrics=False,
                 schedule=schedule)
    model.start()
    return lambda x, y: model.train_batch(x, y, OPTIMISER.lr), model.close


def measure(engine: str, batch: int, budget: float, pes: int, threads: int) -> dict:
    """Best seconds per training step at ``batch`` over repeats within ``budget`` seconds (after one warm-up)."""
    features, labels = yinyang(batch, 7)
    x = encode(features, CONFIG, np.float32)
    params = pa.init_eventprop_params(CONFIG, 0, np.float32)
    step, release = make_step(engine, params, batch, pes, threads)
    try:
        step(x, labels)
        times, cpu_start, start = [], time.process_time(), time.perf_counter()
        while time.perf_counter() - start < budget or len(times) < 3:
            begin = time.perf_counter()
            step(x, labels)
            times.append(time.perf_counter() - begin)
        cpu = (time.process_time() - cpu_start) / len(times)
    finally:
        release()
    best = min(times)
    return {
        "engine": engine,
        "batch": batch,
        "seconds_per_step": best,
        "median_seconds_per_step": float(np.median(times)),
        "samples_per_s": batch / best,
        "repeats": len(times),
        "driver_cpu_seconds_per_step": cpu,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batches", default="1,32,128", help="Batch sizes, comma-separated (default 1,32,128).")
    parser.add_argument("--budget", type=float, default=3.0, help="Seconds of repeated steps per row (default 3).")
    parser.add_argument("--pes", type=int, default=4, help="PEs per layer of the PE rows (default 4).")
    parser.add_argument("--torch-threads", type=int, default=1, help="Intra-op threads of torch (default 1).")
    parser.add_argument("--no-actors", action="store_true", help="Skip the PE-actor row (no Ray).")
    parser.add_argument("--quick", action="store_true", help="Batch 32 only, 1 s per row.")
    parser.add_argument("--out", type=Path, default=RESULTS, help=f"JSON output (default {RESULTS}).")
    args = parser.parse_args()
    batches = [32] if args.quick else [int(b) for b in args.batches.split(",")]
    budget = 1.0 if args.quick else args.budget
    engines = ["torch BPTT", "offchip", "numpy steps", "in-process PEs", "layered, 1 PE per layer", "layered PEs"]
    engines += [] if args.no_actors else ["PE actors", "layered PE actors"]
    if torch is None:
        print("torch is not installed (pip install -e '.[bench]'): the torch BPTT baseline row is skipped")
        engines.remove("torch BPTT")
    rows = []
    for batch in batches:
        for engine in engines:
            row = measure(engine, batch, budget, args.pes, args.torch_threads)
            rows.append(row)
            print(f"batch {batch:4d}  {engine:<23} {row['samples_per_s']:10.1f} samples/s", flush=True)
    print(f"\n{'batch':>5} {'engine':<23} {'samples/s':>11} {'x torch BPTT':>13} {'x off-chip':>11}")
    for row in rows:
        base = next((r for r in rows if r["batch"] == row["batch"] and r["engine"] == "torch BPTT"), None)
        offchip = next(r for r in rows if r["batch"] == row["batch"] and r["engine"] == "offchip")
        ratio = row["samples_per_s"] / base["samples_per_s"] if base else float("nan")
        row["ratio_to_torch_bptt"] = ratio
        row["ratio_to_offchip"] = row["samples_per_s"] / offchip["samples_per_s"]
        print(f"{row['batch']:5d} {row['engine']:<23} {row['samples_per_s']:11.1f} {ratio:13.2f} "
              f"{row['ratio_to_offchip']:11.2f}")
    result = {
        "benchmark": "eventprop",
        "network": CONFIG.to_dict(),
        "dtype": "float32",
        "pes_per_layer": args.pes,
        "torch_threads": args.torch_threads,
        "torch": None if torch is None else torch.__version__,
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "load_average": os.getloadavg()},
        "python": sys.version.split()[0],
        "rows": rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
