"""Scale of the PE-actor runtime on this machine: G groups of P PE actors on the gsc network at sub-batch 1, from
G = 1 up to as many as fit, each with its start-up time, training samples/s, private memory per actor and the
object references and bytes handed around per batch for gradient averaging; then a cost model fitted to the runs
and extrapolated to cluster.yaml's 25 x 48 = 1200 actors.

Cost model (one node, c cores, G P actors, T steps per sample, batch = G samples):

    batch seconds = a + b rho + g G,     rho = G P / c   (actors per core)

a is the driver's fixed cost per batch, b the per-batch cost of every step's exchange when each core runs rho PE
processes in turn, g the averaging and bookkeeping per group. It is fitted by least squares to all but the largest
run and checked on the largest. On a cluster whose nodes give every PE a core (rho = 1) the model predicts
a + b + g G for a batch of G samples. Results go to ``benchmarks/results/scale.json``.

    .venv/bin/python benchmarks/bench_scale.py [--groups 1,2,5,10,20] [--pes 12] [--batches 3]
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).parent / "results" / "scale.json"
#: cluster.yaml: 25 worker nodes of 48 cores, one PE actor per core.
CLUSTER_NODES, CLUSTER_CORES = 25, 48


def private_mb(pid: int) -> float:
    """Private_Dirty of process ``pid`` in MB."""
    for line in open(f"/proc/{pid}/smaps_rollup"):
        if line.startswith("Private_Dirty"):
            return int(line.split()[1]) / 1024
    return float("nan")


def run(groups: int, pes: int, batches: int) -> dict:
    import ray

    import pe_actors as pa
    from pe_actors.runtime import ActorEngine

    config = pa.NetworkConfig()
    engine = ActorEngine(config, pa.init_params(config), pa.OptimiserConfig(), n_pes=pes, n_groups=groups,
                         sub_batch=1, record_metrics=False, start_timeout_s=1800)  # fmt: skip
    engine.start()
    rng = np.random.default_rng(0)
    x = (rng.random((groups, config.n_steps, config.n_in)) * 2).astype(np.float32)
    labels = rng.integers(0, config.n_out, groups)
    engine.train_batch(x, labels, 1e-3)  # warm-up: first allocations and packet buffers
    before = dict(engine.transfer)
    seconds = []
    for _ in range(batches):
        start = time.perf_counter()
        engine.train_batch(x, labels, 1e-3)
        seconds.append(time.perf_counter() - start)
    refs = (engine.transfer["gradient_refs"] - before["gradient_refs"]) / batches
    pids = [ray.get(actor.ping.remote())[2] for group in engine.groups for actor in group]
    memory = [private_mb(pid) for pid in pids]
    slice_bytes = sum(v.nbytes for k, v in engine.replica_state(0).items() if k.startswith("w_")) / pes
    row = {
        "groups": groups,
        "pes": pes,
        "actors": groups * pes,
        "startup_s": engine.startup["seconds"],
        "startup_s_per_actor": engine.startup["seconds_per_actor"],
        "batch_s": float(np.median(seconds)),
        "samples_per_s": groups / float(np.median(seconds)),
        "private_mb_per_actor": float(np.mean(memory)),
        "private_mb_max": float(np.max(memory)),
        "averaging_refs_per_batch": refs,
        "averaging_refs_before": groups * groups * pes,
        "averaging_bytes_per_batch": refs * slice_bytes,
        "step_ms": engine.timing["step_ms"],
        "barrier_wait_ms": engine.timing["barrier_wait_ms"],
    }
    engine.shutdown()
    return row


def fit(rows: list[dict], cores: int) -> dict:
    """Least-squares a, b, g of the module docstring's model on all rows but the last; the last checks it."""
    train, check = rows[:-1], rows[-1]
    design = np.array([[1.0, r["actors"] / cores, r["groups"]] for r in train])
    target = np.array([r["batch_s"] for r in train])
    (a, b, g), *_ = np.linalg.lstsq(design, target, rcond=None)
    predicted = a + b * check["actors"] / cores + g * check["groups"]
    groups_1200 = CLUSTER_NODES * CLUSTER_CORES // rows[0]["pes"]
    batch_1200 = a + b * 1.0 + g * groups_1200
    return {
        "a_s": a, "b_s_per_actor_per_core": b, "g_s_per_group": g,
        "check": {"actors": check["actors"], "measured_batch_s": check["batch_s"], "predicted_batch_s": predicted},
        "cluster_1200": {"groups": groups_1200, "pes": rows[0]["pes"], "actors_per_core": 1.0,
                         "batch_s": batch_1200, "samples_per_s": groups_1200 / batch_1200},
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--groups", default="1,2,5,10,20", help="comma-separated group counts G")
    parser.add_argument("--pes", type=int, default=12, help="PEs per group, P")
    parser.add_argument("--batches", type=int, default=3, help="timed batches per G")
    args = parser.parse_args()
    counts = [int(part) for part in args.groups.split(",")]
    from pe_actors_launcher.ray_session import start_ray

    start_ray(None, num_pe_slots=max(counts) * args.pes, dashboard_port=0)
    cores = len(os.sched_getaffinity(0))
    rows = []
    print(f"{'G':>4}{'actors':>8}{'start s/actor':>15}{'samples/s':>11}{'MB/actor':>10}{'refs/batch':>12}"
          f"{'(before)':>10}{'KB/batch':>10}")  # fmt: skip
    for groups in counts:
        row = run(groups, args.pes, args.batches)
        rows.append(row)
        line = f"{groups:>4}{row['actors']:>8}{row['startup_s_per_actor']:>15.2f}{row['samples_per_s']:>11.2f}"
        line += f"{row['private_mb_per_actor']:>10.1f}{row['averaging_refs_per_batch']:>12.0f}"
        line += f"{row['averaging_refs_before']:>10}{row['averaging_bytes_per_batch'] / 1024:>10.0f}"
        print(line, flush=True)
    model = fit(rows, cores) if len(rows) >= 4 else None
    if model:
        check, cluster = model["check"], model["cluster_1200"]
        print(f"model: batch s = {model['a_s']:.3f} + {model['b_s_per_actor_per_core']:.3f} rho + "
              f"{model['g_s_per_group']:.4f} G; check at {check['actors']} actors: measured "
              f"{check['measured_batch_s']:.2f} s, predicted {check['predicted_batch_s']:.2f} s")  # fmt: skip
        print(f"cluster.yaml, {cluster['groups']} groups x {cluster['pes']} PEs on {CLUSTER_NODES} x {CLUSTER_CORES} "
              f"cores: {cluster['batch_s']:.2f} s per batch of {cluster['groups']}, {cluster['samples_per_s']:.1f} "
              "samples/s")  # fmt: skip
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"cores": cores, "rows": rows, "model": model}, indent=1))
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
