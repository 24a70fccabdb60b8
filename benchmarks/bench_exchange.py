"""Per-step spike exchange of the PE-actor runtime, and its training throughput against the in-process engine.

Three parts, all measured in the same run on a local Ray:

1. exchange: wall time per time step of a group of P = 1, 4, 12 actors. For shm, probe actors that do nothing
   but the exchange (post bit-packed spikes of 10 neurons, barrier, read the group's spikes) through the runtime's
   mailbox; and for both transports, the full PE actors on a near-trivial network (4 inputs, 12 neurons), whose
   step adds the PE code's own per-step cost (about 50 us of numpy calls per PE);
2. throughput: training samples/s of one group of P = 12 on the gsc network at k = 1 and 32, and of P = 2 at
   k = 32 (shm transport), as a ratio to the in-process engine running the same PE code with the same P and k,
   with where an actor's time per step goes (its program's step, posting, the barrier, context switches);
3. groups: samples/s of G groups of 12 PEs (k = --groups-sub-batch), G = 1, 2, 4 by default, up to --max-groups
   (G = 20 is 240 actors: minutes of start-up and about 13 GB).

Writes ``benchmarks/results/exchange.json``.

    .venv/bin/python benchmarks/bench_exchange.py [--quick] [--max-groups 20]
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
import ray  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import pe_actors as pa  # noqa: E402
from pe_actors.engines import make  # noqa: E402
from pe_actors.runtime.cluster import start_ray, stop_ray  # noqa: E402
from pe_actors.runtime.mailbox import GroupMailbox, mailbox_path, unlink_mailbox  # noqa: E402
from pe_actors.runtime.program import Channel  # noqa: E402

RESULTS = Path(__file__).parent / "results" / "exchange.json"
GSC = pa.NetworkConfig()


def data(config: pa.NetworkConfig, n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = (rng.random((n, config.n_steps, config.n_in)) * 3).astype(np.float32)
    return x, rng.integers(0, config.n_out, n)


def rate(engine, x: np.ndarray, labels: np.ndarray, min_seconds: float) -> tuple[float, dict]:
    """Training samples/s of ``engine`` on (x, labels) repeated for at least ``min_seconds`` after a warm-up."""
    engine.train_batch(x, labels, 1e-3)
    samples, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < min_seconds or samples == 0:
        engine.train_batch(x, labels, 1e-3)
        samples += len(x)
    return samples / elapsed, dict(getattr(engine, "timing", {}))


class ExchangeProbe:
    """A stand-in PE that does nothing but the shared-memory exchange (made a Ray actor by :func:`probe`)."""

    def __init__(self, pe: int) -> None:
        self.pe = pe

    def open(self, path: str, run: str, create: bool, sizes: list[int]) -> None:
        everyone = tuple(range(len(sizes)))
        channels = [Channel("spikes", "spikes", everyone, everyone, tuple(sizes))]
        if create:
            self.mailbox = GroupMailbox.create(path, run, 0, len(sizes), channels, capacity=1, dtype=np.float32)
        else:
            self.mailbox = GroupMailbox.attach(path, run, 0)

    def loop(self, n_steps: int) -> float:
        """Seconds per step of post spikes, barrier, read spikes."""
        width = self.mailbox.channels["spikes"].widths[self.pe]
        z = (np.random.default_rng(self.pe).random((1, width)) < 0.3).astype(np.float32)
        start = time.perf_counter()
        for t in range(n_steps):
            self.mailbox.post("spikes", self.pe, t & 1, z)
            self.mailbox.wait(self.pe, t + 1, 30.0, f"step {t}")
            self.mailbox.read("spikes", t & 1, 1)
        return (time.perf_counter() - start) / n_steps

    def close(self) -> None:
        self.mailbox.close()


def probe(n_pes: int, n_steps: int) -> float:
    """ms per step of the bare shared-memory exchange among ``n_pes`` probe actors (10 neurons each)."""
    run = f"bench-{os.getpid()}"
    path = mailbox_path(run, 0)
    remote = ray.remote(num_cpus=0, resources={"pe": 1}, runtime_env={"env_vars": {"OMP_NUM_THREADS": "1"}})(
        ExchangeProbe
    )
    actors = [remote.remote(p) for p in range(n_pes)]
    try:
        ray.get(actors[0].open.remote(str(path), run, True, [10] * n_pes))
        ray.get([a.open.remote(str(path), run, False, [10] * n_pes) for a in actors[1:]])
        ray.get([a.loop.remote(100) for a in actors])
        return 1e3 * max(ray.get([a.loop.remote(n_steps) for a in actors]))
    finally:
        ray.get([a.close.remote() for a in actors])
        for actor in actors:
            ray.kill(actor)
        unlink_mailbox(path, n_pes)


def exchange(n_pes: int, transport: str, n_steps: int, min_seconds: float) -> dict:
    """Wall time per step of P actors on a network too small to compute (4 inputs, 12 neurons, 2 outputs)."""
    config = pa.NetworkConfig(n_in=4, n_rec=12, n_out=2, n_steps=n_steps)
    params = pa.init_params(config, 0, np.float32)
    x, labels = data(config, 1)
    engine = make("eprop", "actors", config, params, pa.OptimiserConfig(), pes=n_pes, sub_batch=1, transport=transport,
                  record_metrics=False)
    try:
        engine.start()
        samples_per_s, timing = rate(engine, x, labels, min_seconds)
    finally:
        engine.shutdown()
    reference = make("eprop", "inprocess", config, params, pa.OptimiserConfig(), pes=n_pes, sub_batch=1)
    in_process, _ = rate(reference, x, labels, min_seconds / 2)
    bare = probe(n_pes, n_steps) if transport == "shm" else None
    return {
        "pes": n_pes,
        "transport": transport,
        "steps": n_steps,
        "bare_exchange_ms": bare,
        "step_ms": 1e3 / (samples_per_s * n_steps),
        "barrier_wait_ms": timing.get("barrier_wait_ms"),
        "in_process_step_ms": 1e3 / (in_process * n_steps),
    }


def throughput(n_pes: int, sub_batch: int, min_seconds: float) -> dict:
    """Samples/s of one group of P PE actors (shm) and of the in-process engine, gsc network, sub-batch k, and
    where an actor's time per step goes: its program's step, posting, the barrier, its context switches; beside
    the in-process engine's time per PE step (its whole batch over P x T)."""
    params = pa.init_params(GSC, 0, np.float32)
    x, labels = data(GSC, sub_batch)
    reference = make("eprop", "inprocess", GSC, params, pa.OptimiserConfig(), pes=n_pes, sub_batch=sub_batch)
    engine = make(
        "eprop", "actors", GSC, params, pa.OptimiserConfig(), pes=n_pes, sub_batch=sub_batch, record_metrics=False
    )
    try:
        engine.start()
        # The two take turns batch by batch (the actors wait idle for their next call meanwhile), so that a change
        # in the machine's speed during the run reaches both alike; each keeps its best batch.
        best = {"in-process": float("inf"), "actors": float("inf")}
        timings, spent = [], 0.0
        for model in (reference, engine):
            model.train_batch(x, labels, 1e-3)
        while spent < 2 * min_seconds:
            for name, model in (("in-process", reference), ("actors", engine)):
                start = time.perf_counter()
                model.train_batch(x, labels, 1e-3)
                seconds = time.perf_counter() - start
                best[name], spent = min(best[name], seconds), spent + seconds
            timings.append(dict(engine.timing))
    finally:
        engine.shutdown()
    in_process, actors = sub_batch / best["in-process"], sub_batch / best["actors"]
    timing = {key: float(np.median([t[key] for t in timings])) for key in timings[0]}
    return {
        "pes": n_pes,
        "sub_batch": sub_batch,
        "actors_samples_per_s": actors,
        "in_process_samples_per_s": in_process,
        "ratio": actors / in_process,
        "barrier_wait_ms": timing.get("barrier_wait_ms"),
        "step_ms": timing.get("step_ms"),
        "compute_ms": timing.get("compute_ms"),
        "post_ms": timing.get("post_ms"),
        "switches_per_step": timing.get("switches_per_step"),
        "in_process_pe_step_ms": 1e3 * sub_batch / in_process / (n_pes * GSC.n_steps),
    }


def groups(n_groups: int, sub_batch: int, min_seconds: float) -> dict:
    """Samples/s of G groups of 12 PE actors (shm), gsc network, and their start-up time."""
    params = pa.init_params(GSC, 0, np.float32)
    x, labels = data(GSC, n_groups * sub_batch)
    engine = make(
        "eprop", "actors", GSC, params, pa.OptimiserConfig(), pes=12, groups=n_groups, sub_batch=sub_batch,
        record_metrics=False,
    )
    try:
        start = time.perf_counter()
        engine.start()
        start_s = time.perf_counter() - start
        samples_per_s, timing = rate(engine, x, labels, min_seconds)
    finally:
        engine.shutdown()
    return {
        "groups": n_groups,
        "actors": 12 * n_groups,
        "sub_batch": sub_batch,
        "start_s": start_s,
        "samples_per_s": samples_per_s,
        "step_ms": timing.get("step_ms"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="shorter timing windows")
    parser.add_argument("--max-groups", type=int, default=4, help="largest G of the group sweep (20 = 240 actors)")
    parser.add_argument("--groups-sub-batch", type=int, default=4, help="sub-batch k of the group sweep")
    args = parser.parse_args()
    if args.max_groups < 1:
        parser.error(f"--max-groups must be at least 1, got {args.max_groups}")
    seconds = 2.0 if args.quick else 6.0
    sweep = [g for g in (1, 2, 4, 8, 12, 16, 20, 30, 40) if g <= args.max_groups]
    if args.max_groups not in sweep:
        sweep.append(args.max_groups)
    print(f"dashboard: {start_ray(None, num_pe_slots=12 * max(sweep))}")
    report = {"benchmark": "exchange", "machine": platform.node(), "cpus": os.cpu_count(), "dtype": "float32"}
    report["load_average_before"] = os.getloadavg()
    try:
        print("\n1. per-step exchange (ms per step): bare exchange; PE actors on a near-trivial network; the same")
        print("   PEs in one process (in-proc); the ratio of the PE actors to in-proc")
        print(
            f"{'P':>3} {'transport':>9} {'bare ms':>8} {'step ms':>8} {'barrier ms':>10} "
            f"{'in-proc ms':>10} {'ratio':>6}"
        )
        report["exchange"] = []
        for transport, n_steps in (("shm", 2000), ("ray", 50)):
            for n_pes in (1, 4, 12):
                row = exchange(n_pes, transport, n_steps, seconds)
                report["exchange"].append(row)
                wait = row["barrier_wait_ms"] if row["barrier_wait_ms"] is not None else float("nan")
                bare = row["bare_exchange_ms"] if row["bare_exchange_ms"] is not None else float("nan")
                print(
                    f"{n_pes:>3} {transport:>9} {bare:>8.3f} {row['step_ms']:>8.3f} {wait:>10.3f} "
                    f"{row['in_process_step_ms']:>10.3f} {row['step_ms'] / row['in_process_step_ms']:>6.2f}"
                )
        print("\n2. training samples/s, gsc network, P actors (shm) vs in-process engine (same PE code, same run);")
        print("   per actor and step: step, its program's step (compute), posting, barrier (ms), context switches;")
        print("   in-proc ms: the in-process engine's time per PE step")
        print(f"{'P':>3} {'k':>4} {'actors':>8} {'in-proc':>8} {'ratio':>6} {'step':>7} {'compute':>8} {'post':>6} "
              f"{'barrier':>8} {'switches':>8} {'in-proc ms':>10}")
        report["throughput"] = []
        for n_pes, sub_batch in ((12, 1), (12, 32), (2, 32)):
            row = throughput(n_pes, sub_batch, seconds)
            report["throughput"].append(row)
            print(
                f"{n_pes:>3} {sub_batch:>4} {row['actors_samples_per_s']:>8.1f} "
                f"{row['in_process_samples_per_s']:>8.1f} {row['ratio']:>6.2f} {row['step_ms']:>7.3f} "
                f"{row['compute_ms']:>8.3f} {row['post_ms']:>6.3f} {row['barrier_wait_ms']:>8.3f} "
                f"{row['switches_per_step']:>8.2f} {row['in_process_pe_step_ms']:>10.3f}"
            )
        print(f"\n3. groups of 12 PEs (shm), k = {args.groups_sub_batch}: samples/s vs G (ratio to G = 1)")
        print(f"{'G':>3} {'actors':>6} {'start s':>8} {'samples/s':>9} {'x G=1':>6}")
        report["groups"] = []
        for n_groups in sweep:
            row = groups(n_groups, args.groups_sub_batch, seconds)
            row["ratio_to_one_group"] = row["samples_per_s"] / (report["groups"] or [row])[0]["samples_per_s"]
            report["groups"].append(row)
            print(
                f"{n_groups:>3} {row['actors']:>6} {row['start_s']:>8.1f} {row['samples_per_s']:>9.1f} "
                f"{row['ratio_to_one_group']:>6.2f}"
            )
    finally:
        stop_ray()
        report["load_average_after"] = os.getloadavg()
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(json.dumps(report, indent=2))
        print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
