"""Scale of the PE-actor runtime on this machine: G groups of P PE actors on the gsc network at sub-batch 1, from
G = 1 up to as many as fit, each with its start-up time, training samples/s, private memory per actor and the
object references and bytes handed around per batch for gradient averaging; then a cost model fitted to the runs,
checked on the largest run and on the multi-host test bed (scripts/testbed.py), and extrapolated to cluster.yaml's
25 x 48 = 1200 actors.

Cost model (c cores, G P actors, T steps per sample, a batch of G samples, rho = G P / c actors per core):

    batch seconds = T step(rho) + rest(G, rho, H),   step(rho) = s1 rho + s2 rho^2,
    rest = r1 G rho + r3 (G rho)^3 + rh (H - 1)

step is one time step's exchange and compute as the actors time it: every core runs rho PE processes in turn
behind each barrier, each paying its compute and a switch (s1 rho), while the waiting ones spin and yield through
the others' turns (s2 rho^2). rest is everything outside the step loop: the gradient averaging (2 G P object
references, each handled by a process that shares its core with rho others), the ADAM step and the driver: linear
in the load G rho until the processes crowd the cores, then steeply (from 120 to 240 actors on 2 cores it grew
5.8-fold for twice the load, hence the cube), plus a constant per extra host H for the partial sums' extra hop.
Both parts are fitted by non-negative least squares on relative errors, each to its own measured part, on all
single-node runs. (A power law in rho and G rho, the previous form, missed the largest run by 48 % when it was
left out.)
The check runs groups on the test bed's --hosts hosts (network namespaces on this machine, each with its own Ray
node, /dev/shm and temp directory; the same cores, so the same rho) and compares them with the single-node model:
what crossing hosts adds. A second fit leaves the largest run out and predicts it: how far the form carries
beyond its data. Then the model is refitted to all runs, single- and multi-host, and each run is predicted by a
fit to the others (its held-out error).
The compute floor is one PE's step at the P = 12 slice measured in-process (no Ray): the model's step at rho = 1
must lie above it. Results go to ``benchmarks/results/scale.json``.

    .venv/bin/python benchmarks/bench_scale.py [--groups 1,2,5,10,20] [--pes 12] [--batches 3] [--hosts 2,3]
        [--host-groups 2,4] [--refit benchmarks/results/scale.json]

``--memory-sub-batches 1,4,16,32,64`` measures instead the private memory per PE actor of one group against the
sub-batch k, for each PE kernel (``c``, compiled at install; ``numba``, compiled at first use; ``numpy``), with the
samples/s of the same runs; results go to ``benchmarks/results/scale-memory.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).parent / "results" / "scale.json"
MEMORY_RESULTS = Path(__file__).parent / "results" / "scale-memory.json"
#: cluster.yaml: 25 worker nodes of 48 cores, one PE actor per core.
CLUSTER_NODES, CLUSTER_CORES = 25, 48
#: Time steps per sample of the gsc network.
STEPS = 100


def private_mb(pid: int) -> float:
    """Private_Dirty of process ``pid`` in MB."""
    for line in open(f"/proc/{pid}/smaps_rollup"):
        if line.startswith("Private_Dirty"):
            return int(line.split()[1]) / 1024
    return float("nan")


def actor_private_mb(engine) -> list[float]:
    """Private_Dirty in MB of every PE actor process of ``engine``."""
    import ray

    return [private_mb(ray.get(actor.ping.remote())[2]) for group in engine.groups for actor in group]


def run(groups: int, pes: int, batches: int) -> dict:

    import pe_actors as pa
    from pe_actors.engines import make

    config = pa.NetworkConfig()
    engine = make("eprop", "actors", config, pa.init_params(config), pa.OptimiserConfig(), pes=pes, groups=groups,
                  sub_batch=1, record_metrics=False, start_timeout_s=1800)
    engine.start()
    rng = np.random.default_rng(0)
    x = (rng.random((groups, config.n_steps, config.n_in)) * 2).astype(np.float32)
    labels = rng.integers(0, config.n_out, groups)
    engine.train_batch(x, labels, 1e-3)  # warm-up: first allocations and packet buffers
    before = dict(engine.transfer)
    seconds, steps = [], []
    for _ in range(batches):
        start = time.perf_counter()
        engine.train_batch(x, labels, 1e-3)
        seconds.append(time.perf_counter() - start)
        steps.append(engine.timing["step_ms"])
    refs = (engine.transfer["gradient_refs"] - before["gradient_refs"]) / batches
    memory = actor_private_mb(engine)
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
        "step_ms": float(np.median(steps)),
        # The batch's time outside the step loop, batch by batch (the loop is the slowest group's).
        "rest_s": float(np.median(np.array(seconds) - np.array(steps) * STEPS / 1e3)),
        "barrier_wait_ms": engine.timing["barrier_wait_ms"],
    }
    engine.shutdown()
    return row


def memory_by_sub_batch(pes: int, sub_batches: list[int], kernels: list[str], batches: int) -> list[dict]:
    """Private memory per PE actor (mean and largest) of one group of ``pes`` actors after training batches of
    k samples at sub-batch k, per kernel and k, with the samples/s of those batches."""

    import pe_actors as pa
    from pe_actors.engines import make

    config = pa.NetworkConfig()
    rng = np.random.default_rng(0)
    rows = []
    print(f"{'kernel':>7}{'k':>5}{'MB/actor':>10}{'MB max':>8}{'samples/s':>11}")
    for kernel in kernels:
        for k in sub_batches:
            engine = make("eprop", "actors", config, pa.init_params(config), pa.OptimiserConfig(), pes=pes,
                          sub_batch=k, kernel=kernel, record_metrics=False)
            engine.start()
            x = (rng.random((k, config.n_steps, config.n_in)) * 2).astype(np.float32)
            labels = rng.integers(0, config.n_out, k)
            engine.train_batch(x, labels, 1e-3)  # warm-up: the kernel loads, buffers grow to the sub-batch
            seconds = []
            for _ in range(batches):
                start = time.perf_counter()
                engine.train_batch(x, labels, 1e-3)
                seconds.append(time.perf_counter() - start)
            memory = actor_private_mb(engine)
            row = {"kernel": kernel, "sub_batch": k, "pes": pes, "private_mb_per_actor": float(np.mean(memory)),
                   "private_mb_max": float(np.max(memory)), "samples_per_s": k / float(np.median(seconds))}
            rows.append(row)
            print(f"{kernel:>7}{k:>5}{row['private_mb_per_actor']:>10.1f}{row['private_mb_max']:>8.1f}"
                  f"{row['samples_per_s']:>11.1f}", flush=True)
            engine.shutdown()
    return rows


def compute_floor_ms(pes: int, repeats: int = 3) -> float:
    """One PE's compute per time step at the P-way slice of the gsc network, sub-batch 1, in-process (no Ray, no
    barrier): the in-process group's batch time over T P."""
    import pe_actors as pa
    from pe_actors.engines import make

    config = pa.NetworkConfig()
    engine = make("eprop", "inprocess", config, pa.init_params(config), pa.OptimiserConfig(), pes=pes, sub_batch=1)
    rng = np.random.default_rng(0)
    x = (rng.random((1, config.n_steps, config.n_in)) * 2).astype(np.float32)
    labels = rng.integers(0, config.n_out, 1)
    engine.train_batch(x, labels, 1e-3)
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        engine.train_batch(x, labels, 1e-3)
        seconds.append(time.perf_counter() - start)
    return float(np.median(seconds)) / (config.n_steps * pes) * 1e3


def split_costs(row: dict) -> tuple[float, float]:
    """A run's step seconds (as the actors time it) and the rest of its batch seconds."""
    return row["step_ms"] / 1e3, row["rest_s"]


def _non_negative(features: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Coefficients >= 0 of y = features @ c, least squares on the relative error."""
    from scipy.optimize import nnls

    coefficients, _ = nnls(features / y[:, None], np.ones(len(y)))
    return coefficients


def step_features(rho: np.ndarray) -> np.ndarray:
    """The step's terms: rho, rho^2."""
    return np.vstack([rho, rho**2]).T


def rest_features(load: np.ndarray, hosts: np.ndarray) -> np.ndarray:
    """The rest's terms: G rho, (G rho)^3, H - 1."""
    return np.vstack([load, load**3, hosts - 1.0]).T


def fit(rows: list[dict], cores: int, steps: int) -> dict:
    """The module docstring's model fitted to ``rows``, with each row's relative residual and the model's figure
    for cluster.yaml's 1200 actors."""
    rho = np.array([r["actors"] / cores for r in rows])
    groups = np.array([r["groups"] for r in rows])
    hosts = np.array([r["nodes"] for r in rows], float)
    parts = np.array([split_costs(r) for r in rows])
    s1, s2 = _non_negative(step_features(rho), parts[:, 0])
    r1, r3, rh = _non_negative(rest_features(groups * rho, hosts), parts[:, 1])
    model = {"s1_s": float(s1), "s2_s": float(s2), "r1_s": float(r1), "r3_s": float(r3), "rh_s": float(rh),
             "steps": steps, "fitted_on_actors": [r["actors"] for r in rows]}
    model["residuals"] = {
        f"{r['nodes']}x{r['actors']}": predict(model, r["groups"], r["actors"] / cores, r["nodes"]) / r["batch_s"] - 1
        for r in rows
    }
    groups_1200 = CLUSTER_NODES * CLUSTER_CORES // rows[0]["pes"]
    batch_1200 = predict(model, groups_1200, 1.0, CLUSTER_NODES)
    model["cluster_1200"] = {
        "groups": groups_1200, "pes": rows[0]["pes"], "actors_per_core": 1.0, "batch_s": batch_1200,
        "samples_per_s": groups_1200 / batch_1200, "step_ms": 1e3 * (s1 + s2), "rest_s": batch_1200 - steps * (s1 + s2),
    }
    return model


def describe(model: dict) -> str:
    """The fitted model as a formula."""
    return (f"batch s = {STEPS} x ({1e3 * model['s1_s']:.4f} rho + {1e3 * model['s2_s']:.5f} rho^2) ms + "
            f"({model['r1_s']:.5f} G rho + {model['r3_s']:.2e} (G rho)^3 + {model['rh_s']:.3f} (H - 1)) s")


def checks(rows: list[dict], node_rows: list[dict], cores: int, floor_ms: float) -> dict:
    """The model of all single-node runs, checked on the multi-node runs, on the largest run left out of a second
    fit, and against the compute floor; printed and returned."""
    model = fit(rows, cores, STEPS)
    print(f"model: {describe(model)}, fitted to {model['fitted_on_actors']} actors")
    print("residuals: " + ", ".join(f"{n} actors {100 * e:+.0f} %" for n, e in model["residuals"].items()))
    model["node_checks"] = []
    for row in node_rows:
        predicted = predict(model, row["groups"], row["actors"] / cores, row["nodes"])
        model["node_checks"].append({"nodes": row["nodes"], "groups": row["groups"], "actors": row["actors"],
                                     "measured_batch_s": row["batch_s"], "predicted_batch_s": predicted})
        print(f"check on {row['nodes']} nodes, G = {row['groups']}: measured {row['batch_s']:.2f} s, predicted "
              f"{predicted:.2f} s ({100 * (predicted / row['batch_s'] - 1):+.0f} %)")
    largest = rows[-1]
    without = fit(rows[:-1], cores, STEPS)
    predicted = predict(without, largest["groups"], largest["actors"] / cores)
    model["leave_largest_out"] = {"actors": largest["actors"], "measured_batch_s": largest["batch_s"],
                                  "predicted_batch_s": predicted}
    print(f"fitted without the {largest['actors']}-actor run, the model predicts it at {predicted:.2f} s against "
          f"{largest['batch_s']:.2f} s measured ({100 * (predicted / largest['batch_s'] - 1):+.0f} %)")
    if node_rows:
        everything = rows + node_rows
        combined = fit(everything, cores, STEPS)
        model["refit_all"] = {key: combined[key] for key in ("s1_s", "s2_s", "r1_s", "r3_s", "rh_s", "cluster_1200")}
        hosts = max(r["nodes"] for r in everything)
        print(f"refitted to all {len(everything)} runs (1 to {hosts} hosts): {describe(combined)}")
        model["held_out"] = []
        for index, row in enumerate(everything):
            others = fit(everything[:index] + everything[index + 1 :], cores, STEPS)
            predicted = predict(others, row["groups"], row["actors"] / cores, row["nodes"])
            error = predicted / row["batch_s"] - 1
            model["held_out"].append({"hosts": row["nodes"], "groups": row["groups"], "actors": row["actors"],
                                      "measured_batch_s": row["batch_s"], "predicted_batch_s": predicted,
                                      "error": error})
            print(f"held out: {row['nodes']} host(s), G = {row['groups']} ({row['actors']} actors): measured "
                  f"{row['batch_s']:.2f} s, predicted {predicted:.2f} s by the other runs ({100 * error:+.0f} %)")
    cluster = model["cluster_1200"]
    model["compute_floor_ms"] = floor_ms
    print(f"step at rho = 1: {cluster['step_ms']:.3f} ms (the compute floor: {floor_ms:.3f} ms)")
    print(f"cluster.yaml, {cluster['groups']} groups x {cluster['pes']} PEs on {CLUSTER_NODES} x {CLUSTER_CORES} "
          f"cores: {cluster['batch_s']:.2f} s per batch of {cluster['groups']} ({STEPS} steps x "
          f"{cluster['step_ms']:.3f} ms + {cluster['rest_s']:.2f} s), "
          f"{cluster['samples_per_s']:.0f} samples/s")
    return model


def predict(model: dict, groups: int, rho: float, hosts: int = 1) -> float:
    """Batch seconds of G groups at rho actors per core over ``hosts`` hosts under the fitted model."""
    step = model["s1_s"] * rho + model["s2_s"] * rho**2
    load = groups * rho
    return model["steps"] * step + model["r1_s"] * load + model["r3_s"] * load**3 + model["rh_s"] * (hosts - 1)


def load_testbed():
    """scripts/testbed.py as a module (scripts/ is not a package)."""
    import importlib.util
    import sys

    spec = importlib.util.spec_from_file_location("testbed", Path(__file__).parents[1] / "scripts" / "testbed.py")
    module = sys.modules["testbed"] = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_on_testbed(hosts: int, counts: list[int], pes: int, batches: int) -> list[dict]:
    """The runs of ``counts`` groups on the multi-host test bed (scripts/testbed.py) of ``hosts`` hosts, each
    declaring an equal share of the pe slots, the driver on the head: the groups spread over the hosts, their
    averaging crossing them. The hosts share this machine's cores, so rho is the same as on one host."""
    import subprocess
    import sys
    import tempfile

    testbed = load_testbed()
    why = testbed.namespaces_unavailable()
    if why:
        raise SystemExit(f"bench_scale --hosts: {why}")
    slots = -(-max(counts) // hosts) * pes  # whole groups: a shm group lives on one host
    with testbed.TestBed(hosts=hosts, pe_per_host=slots, dashboard=False) as bed, tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "rows.json"
        argv = [sys.executable, str(Path(__file__).resolve()), "--address", bed.head_address, "--rows-out", str(out),
                "--groups", ",".join(map(str, counts)), "--pes", str(pes), "--batches", str(batches)]
        done = bed.run(0, argv, capture=False, stdout=subprocess.DEVNULL)
        if done.returncode != 0:
            raise SystemExit(f"the run on the test bed of {hosts} hosts failed (exit {done.returncode})")
        rows = json.loads(out.read_text())
    for row in rows:
        row["nodes"] = hosts
    return rows


def rows_on_cluster(address: str, counts: list[int], pes: int, batches: int, out: Path) -> None:
    """The driver's side of :func:`run_on_testbed`: join the cluster at ``address``, run ``counts`` and write the
    rows to ``out``."""
    import ray

    from pe_actors.runtime.cluster import start_ray

    start_ray(address, num_pe_slots=max(counts) * pes)
    rows = [run(groups, pes, batches) for groups in counts]
    ray.shutdown()
    out.write_text(json.dumps(rows))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--groups", default="1,2,5,10,20", help="comma-separated group counts G on one node")
    parser.add_argument("--pes", type=int, default=12, help="PEs per group, P")
    parser.add_argument("--batches", type=int, default=3, help="timed batches per G")
    parser.add_argument("--hosts", default="2,3",
                        help="comma-separated host counts of the multi-host test bed's runs ('' for none; needs root)")
    parser.add_argument("--host-groups", default="2,4", help="comma-separated G of each test-bed run")
    parser.add_argument("--address", default=None, help=argparse.SUPPRESS)  # the driver on a test bed's head
    parser.add_argument("--rows-out", type=Path, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--refit", type=Path, default=None, help="refit the model to the runs of a results file")
    parser.add_argument("--memory-sub-batches", default=None,
                        help="comma-separated sub-batches k: measure private memory per actor against k instead")
    parser.add_argument("--kernels", default="c,numba,numpy", help="PE kernels of the memory measurement")
    args = parser.parse_args()
    if args.memory_sub_batches is not None:
        from pe_actors.runtime.cluster import start_ray

        start_ray(None, num_pe_slots=args.pes, dashboard_port=0)
        rows = memory_by_sub_batch(args.pes, [int(k) for k in args.memory_sub_batches.split(",")],
                                   args.kernels.split(","), args.batches)
        MEMORY_RESULTS.parent.mkdir(parents=True, exist_ok=True)
        MEMORY_RESULTS.write_text(json.dumps({"pes": args.pes, "rows": rows}, indent=1))
        print(f"wrote {MEMORY_RESULTS}")
        return
    if args.address is not None:
        rows_on_cluster(args.address, [int(g) for g in args.groups.split(",")], args.pes, args.batches, args.rows_out)
        return
    if args.refit is not None:
        report = json.loads(args.refit.read_text())
        rows, node_rows, cores, floor = report["rows"], report["node_rows"], report["cores"], report["compute_floor_ms"]
        for row in rows + node_rows:
            print(_line(row, cores))
    else:
        cores = len(os.sched_getaffinity(0))
        floor = compute_floor_ms(args.pes)
        rows, node_rows = measure(args, floor, cores)
    model = checks(rows, node_rows, cores, floor) if len(rows) >= 3 else None
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    report = {"cores": cores, "compute_floor_ms": floor, "rows": rows, "node_rows": node_rows, "model": model}
    RESULTS.write_text(json.dumps(report, indent=1))
    print(f"wrote {RESULTS}")


def measure(args: argparse.Namespace, floor: float, cores: int) -> tuple[list[dict], list[dict]]:
    """The single-node runs of ``--groups`` and the multi-node runs of ``--node-groups``, printed as they end."""
    import ray

    from pe_actors.runtime.cluster import start_ray

    counts = [int(part) for part in args.groups.split(",")]
    print(f"compute floor: {floor:.3f} ms per PE step at P = {args.pes}, sub-batch 1, in-process")
    start_ray(None, num_pe_slots=max(counts) * args.pes, dashboard_port=0)
    print(f"{'nodes':>5}{'G':>4}{'actors':>8}{'start s/actor':>15}{'samples/s':>11}{'MB/actor':>10}"
          f"{'refs/batch':>12}{'(before)':>10}{'KB/batch':>10}{'step ms':>9}{'rest s':>8}")
    rows = []
    for groups in counts:
        row = run(groups, args.pes, args.batches)
        row["nodes"] = 1
        rows.append(row)
        print(_line(row, cores), flush=True)
    ray.shutdown()
    node_rows = []
    for hosts in [int(h) for h in args.hosts.split(",") if h]:
        for row in run_on_testbed(hosts, [int(g) for g in args.host_groups.split(",")], args.pes, args.batches):
            node_rows.append(row)
            print(_line(row, cores), flush=True)
    return rows, node_rows


def _line(row: dict, cores: int) -> str:
    step, rest = split_costs(row)
    line = f"{row['nodes']:>5}{row['groups']:>4}{row['actors']:>8}{row['startup_s_per_actor']:>15.2f}"
    line += f"{row['samples_per_s']:>11.2f}{row['private_mb_per_actor']:>10.1f}{row['averaging_refs_per_batch']:>12.0f}"
    line += f"{row['averaging_refs_before']:>10}{row['averaging_bytes_per_batch'] / 1024:>10.0f}"
    return line + f"{1e3 * step:>9.2f}{rest:>8.2f}"


if __name__ == "__main__":
    main()
