"""Training speed and memory at the field's sizes: 700 inputs with SHD-like input density, 128 / 256 / 512 hidden
neurons (recurrent where the rule allows), 20 outputs, T = 100 / 500 / 1,000 steps, batch 32, every engine of
both rules against snnTorch BPTT of the same network in the same run.

Input: binary rasters with about :data:`EVENTS` events per sample spread over the 700 channels and the T steps,
as many as an SHD sample holds (density 6.4 % at T = 100, 0.64 % at T = 1,000). Engines (each a full training
step: forward, gradients, ADAM):

- ``snntorch BPTT``      the baseline: snnTorch's recurrent leaky layer (``RLeaky``, all-to-all, fast-sigmoid
                         surrogate) between two bias-free linear layers and a leaky readout without reset, the
                         cross-entropy of its mean membrane potential, torch's Adam, one intra-op thread;
- ``e-prop replay``      e-prop's forward-replay engine (the ALIF network of docs/eprop.md, recurrent);
- ``e-prop PE``          one e-prop PE (P = 1) in this process with its default online kernel, sub-batch 32;
- ``EventProp off-chip``  EventProp's vectorised engine, feed-forward (its own network, as in docs/eventprop.md);
- ``EventProp recurrent``  the same engine on the graph with a recurrent hidden population (delay 1);
- ``EventProp PEs``      EventProp's PE program on in-process PEs, one PE per layer, layered schedule;
- ``EventProp PEs 4+4``  the same on 4 PEs per layer, pipelined schedule (the chip's: a round per step).

Every row runs in a child process of its own pinned to one core (``--cpu``), so every engine has one core, and
its peak memory is that child's peak resident set minus what it held before the engine was built (the data, the
imports). A row's time is the best of the steps timed within ``--budget`` seconds (at least one, at most 20) after
a warm-up step; a row still running after ``--row-timeout`` seconds is recorded as slower than that. Prints
samples/s, the ratio to snnTorch BPTT of the same size and the memory, and writes
``benchmarks/results/field.json``.

    .venv/bin/python benchmarks/bench_field.py --quick        # 128 and 256 hidden at T = 100, about 3 minutes
    .venv/bin/python benchmarks/bench_field.py                # every size of the grid
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

for _variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")

import numpy as np  # noqa: E402

RESULTS = Path(__file__).parent / "results" / "field.json"
N_IN, N_OUT, BATCH = 700, 20, 32
#: Events per sample, as in an SHD sample (about 4,500 over its 700 channels).
EVENTS = 4500
HIDDEN = (128, 256, 512)
STEPS = (100, 500, 1000)
ENGINES = ("snntorch BPTT", "e-prop replay", "e-prop PE", "EventProp off-chip", "EventProp recurrent",
           "EventProp PEs", "EventProp PEs 4+4")
BASELINE = "snntorch BPTT"
#: EventProp's step at the field's sizes (ms): a 1-s trial in T = 1,000 steps, as mlGeNN's SHD recipe.
EVENTPROP_DT = 1.0


def rasters(n_steps: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A batch of binary input rasters (BATCH, n_steps, N_IN) float32 with about EVENTS events each, and labels."""
    rng = np.random.default_rng(seed)
    density = min(1.0, EVENTS / (n_steps * N_IN))
    x = (rng.random((BATCH, n_steps, N_IN)) < density).astype(np.float32)
    return x, rng.integers(0, N_OUT, BATCH)


class SnnTorchStep:
    """snnTorch BPTT of a 700-H-20 network with a recurrent hidden layer (see the module docstring)."""

    def __init__(self, hidden: int, n_steps: int) -> None:
        import snntorch as snn
        import torch
        from snntorch import surrogate

        torch.set_num_threads(1)
        torch.manual_seed(0)
        self.torch = torch
        self.fc1 = torch.nn.Linear(N_IN, hidden, bias=False)
        self.lif1 = snn.RLeaky(beta=0.95, linear_features=hidden, all_to_all=True, spike_grad=surrogate.fast_sigmoid())
        self.fc2 = torch.nn.Linear(hidden, N_OUT, bias=False)
        self.lif2 = snn.Leaky(beta=0.9, reset_mechanism="none")
        parameters = [*self.fc1.parameters(), *self.lif1.parameters(), *self.fc2.parameters()]
        self.optimiser = torch.optim.Adam(parameters, lr=1e-3)
        self.n_steps = n_steps

    def __call__(self, x: np.ndarray, labels: np.ndarray) -> None:
        torch = self.torch
        inputs = torch.from_numpy(x)
        spikes, v1 = self.lif1.init_rleaky()
        v2 = self.lif2.init_leaky()
        total = 0.0
        drive = self.fc1(inputs)  # every step's input current in one product, as a user would write it
        for t in range(self.n_steps):
            spikes, v1 = self.lif1(drive[:, t], spikes, v1)
            _, v2 = self.lif2(self.fc2(spikes), v2)
            total = total + v2
        loss = torch.nn.functional.cross_entropy(total / self.n_steps, torch.from_numpy(labels))
        self.optimiser.zero_grad()
        loss.backward()
        self.optimiser.step()


def eventprop_config(hidden: int, n_steps: int) -> Any:
    import pe_actors as pa

    return pa.EventPropConfig(sizes=(N_IN, hidden, N_OUT), dt=EVENTPROP_DT, n_steps=n_steps,
                              init_mean=(0.05, 0.1), init_std=(0.1, 0.2), loss_time="crossing", alpha_silent=1.0)


def recurrent_graph(hidden: int, n_steps: int) -> Any:
    """EventProp's network with a recurrent hidden population (delay 1), as a network graph."""
    from pe_actors.networks import NetworkBuilder, WeightInit

    net = NetworkBuilder(n_steps=n_steps, dt_s=EVENTPROP_DT / 1000.0)
    net.input("x", N_IN)
    neuron = {"tau_mem": 20e-3, "tau_syn": 5e-3, "r": 1.0}
    net.population("hidden", hidden, "cuba_lif", **neuron)
    net.population("out", N_OUT, "cuba_lif", **neuron)
    net.connect("x", "hidden", delay=1, init=WeightInit(0.05, 0.1, fan_in=False))
    net.connect("hidden", "hidden", self_connections=False, init=WeightInit(0.0, 0.02, fan_in=False))
    net.connect("hidden", "out", delay=1, init=WeightInit(0.1, 0.2, fan_in=False))
    return net.build(["out"], readout="first_spike")


def make_step(engine: str, hidden: int, n_steps: int) -> Any:
    """A training step of ``engine`` at this size: a callable (x, labels)."""
    if engine == BASELINE:
        return SnnTorchStep(hidden, n_steps)
    import pe_actors as pa
    from pe_actors.engines import make

    optimiser = pa.OptimiserConfig(lr=1e-3, l2=0.0)
    if engine.startswith("e-prop"):
        config = pa.NetworkConfig(n_in=N_IN, n_rec=hidden, n_out=N_OUT, n_steps=n_steps)
        params = pa.init_params(config, 0, np.float32)
        if engine == "e-prop replay":
            model = make("eprop", "replay", config, params, optimiser)
        else:
            model = make("eprop", "inprocess", config, params, optimiser, pes=1, sub_batch=BATCH)
    elif engine == "EventProp recurrent":
        network = recurrent_graph(hidden, n_steps)
        model = make("eventprop", "offchip", network, network.init_params(0), optimiser)
    else:
        config = eventprop_config(hidden, n_steps)
        params = pa.init_eventprop_params(config, 0, np.float32)
        if engine == "EventProp off-chip":
            model = make("eventprop", "offchip", config, params, optimiser)
        elif engine == "EventProp PEs":
            model = make("eventprop", "inprocess", config, params, optimiser, pes=1, sub_batch=BATCH,
                         schedule="layered")
        else:
            model = make("eventprop", "inprocess", config, params, optimiser, pes=4, sub_batch=BATCH)
    return lambda x, labels: model.train_batch(x, labels, optimiser.lr)


def resident_bytes() -> int:
    """This process's resident set now (bytes)."""
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def measure_row(engine: str, hidden: int, n_steps: int, budget: float) -> dict[str, Any]:
    """Best seconds per training step and peak memory of one row, in this process (see the module docstring)."""
    x, labels = rasters(n_steps)
    before = resident_bytes()
    step = make_step(engine, hidden, n_steps)
    step(x, labels)  # the warm-up: numba's kernels load or compile, pages fault in
    times: list[float] = []
    deadline = time.perf_counter() + budget
    while not times or (time.perf_counter() < deadline and len(times) < 20):
        begin = time.perf_counter()
        step(x, labels)
        times.append(time.perf_counter() - begin)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    best = min(times)
    return {"engine": engine, "hidden": hidden, "n_steps": n_steps, "batch": BATCH, "seconds_per_step": best,
            "samples_per_s": BATCH / best, "repeats": len(times), "peak_mb": (peak - before) / 2**20,
            "input_density": float(x.mean())}


def run_row(engine: str, hidden: int, n_steps: int, budget: float, cpu: int, timeout: float) -> dict[str, Any]:
    """One row in a child process pinned to core ``cpu``; a row that fails or times out says so."""
    argv = [sys.executable, __file__, "--row", engine, str(hidden), str(n_steps), "--budget", str(budget)]
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout,
                              preexec_fn=lambda: os.sched_setaffinity(0, {cpu}))
    except subprocess.TimeoutExpired:
        return {"engine": engine, "hidden": hidden, "n_steps": n_steps, "batch": BATCH, "samples_per_s": None,
                "error": f"a step takes more than {timeout:g} s"}
    if done.returncode != 0:
        return {"engine": engine, "hidden": hidden, "n_steps": n_steps, "batch": BATCH, "samples_per_s": None,
                "error": (done.stderr.strip().splitlines() or ["failed"])[-1]}
    return json.loads(done.stdout.strip().splitlines()[-1])


def table(rows: list[dict[str, Any]]) -> str:
    """The rows as a text table with the ratio to the baseline of the same size."""
    lines = [f"{'hidden':>6} {'T':>5} {'engine':<20} {'samples/s':>10} {'x snnTorch':>10} {'peak MB':>8}"]
    for row in rows:
        base = next((r for r in rows if r["engine"] == BASELINE and r["hidden"] == row["hidden"]
                     and r["n_steps"] == row["n_steps"]), None)
        rate = row.get("samples_per_s")
        ratio = rate / base["samples_per_s"] if rate and base and base.get("samples_per_s") else None
        row["ratio_to_snntorch"] = ratio
        shown = f"{rate:10.1f}" if rate else f"{'-':>10}"
        relative = f"{ratio:10.2f}" if ratio else f"{'-':>10}"
        memory = f"{row['peak_mb']:8.0f}" if "peak_mb" in row else f"{'-':>8}"
        note = f"  ({row['error']})" if "error" in row else ""
        lines.append(f"{row['hidden']:6d} {row['n_steps']:5d} {row['engine']:<20} {shown} {relative} {memory}{note}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hidden", default=",".join(map(str, HIDDEN)),
                        help="Hidden sizes, comma-separated (default 128,256,512).")
    parser.add_argument("--steps", default=",".join(map(str, STEPS)),
                        help="Numbers of steps T, comma-separated (default 100,500,1000).")
    parser.add_argument("--engines", default=",".join(ENGINES), help=f"Engines, comma-separated (default all: "
                        f"{', '.join(ENGINES)}).")
    parser.add_argument("--budget", type=float, default=10.0,
                        help="Seconds of repeated steps per row after the warm-up step (default 10).")
    parser.add_argument("--row-timeout", type=float, default=900.0,
                        help="Seconds after which a row is recorded as too slow (default 900).")
    parser.add_argument("--cpu", type=int, default=0, help="The core every row is pinned to (default 0).")
    parser.add_argument("--quick", action="store_true", help="Hidden 128 and 256 at T = 100, 2 s per row.")
    parser.add_argument("--out", type=Path, default=RESULTS, help=f"JSON output (default {RESULTS}).")
    parser.add_argument("--row", nargs=3, metavar=("ENGINE", "HIDDEN", "T"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.row:
        engine, hidden, n_steps = args.row
        print(json.dumps(measure_row(engine, int(hidden), int(n_steps), args.budget)))
        return
    hidden_sizes = [128, 256] if args.quick else [int(h) for h in args.hidden.split(",")]
    step_counts = [100] if args.quick else [int(t) for t in args.steps.split(",")]
    budget = 2.0 if args.quick else args.budget
    engines = [name.strip() for name in args.engines.split(",")]
    unknown = sorted(set(engines) - set(ENGINES))
    if unknown:
        parser.error(f"--engines: unknown {unknown}; the engines are {', '.join(ENGINES)}")
    rows = []
    for n_steps in step_counts:
        for hidden in hidden_sizes:
            for engine in engines:
                row = run_row(engine, hidden, n_steps, budget, args.cpu, args.row_timeout)
                rows.append(row)
                rate = f"{row['samples_per_s']:.1f} samples/s" if row.get("samples_per_s") else row["error"]
                print(f"hidden {hidden:4d}  T {n_steps:5d}  {engine:<20} {rate}", flush=True)
    print()
    print(table(rows))
    result = {
        "benchmark": "field",
        "n_in": N_IN, "n_out": N_OUT, "batch": BATCH, "events_per_sample": EVENTS, "eventprop_dt_ms": EVENTPROP_DT,
        "dtype": "float32", "one_core_per_row": True,
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "load_average": os.getloadavg()},
        "python": sys.version.split()[0],
        "rows": rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    scratch = args.out.with_suffix(".json.tmp")
    scratch.write_text(json.dumps(result, indent=2))
    scratch.replace(args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
