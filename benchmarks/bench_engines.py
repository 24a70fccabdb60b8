"""Training samples/s of every e-prop engine on the gsc network (float32, T = 100), as ratios in one run.

Engines (each does a full training step: forward, gradients and the ADAM update, on one mini-batch):

- ``numpy PE``    the baseline: one PE (P = 1) with the numpy reference kernel, vectorising the whole batch;
- ``naive loop``  the same numpy PE fed one sample at a time (sub-batch 1), the plain per-sample loop;
- ``numba PE``    one PE with the online kernel compiled by numba (``pe_actors.rules.eprop.kernels``), sub-batch
                  min(batch, 64): at k = 256 its per-synapse state (ea and the accumulator, 2 x 24.6 MB)
                  outgrows the 32 MB L3 cache and every step becomes memory-bound, so larger batches run as
                  sub-batches of 64;
- ``c PE``        the same with the loops compiled ahead of time at install (``_pe_kernels.c``, the PE's default
                  where built; skipped where not);
- ``replay``      :class:`pe_actors.rules.eprop.replay.ReplayEngine` (forward replay, both cores);
- ``torch BPTT``  a plain PyTorch BPTT of the same network and stop-gradients (skipped without torch), on
                  ``--torch-threads`` intra-op threads (default 1: torch's spinning OpenMP workers collapse
                  when other processes share the cores; at batch 64 on a loaded machine one thread gave 480
                  samples/s, two gave 34).

Each cell is the best of several timed training steps (other work on the machine only slows steps down) and is
printed as samples/s and as the ratio to the numpy PE at the same batch size; a second table gives samples per
CPU-second of this process (process time over the same steps, all threads), which other load affects less.
A last row measures the matrix products alone that a replay step needs at each batch (the matmul floor: input
currents, one recurrent product per step, the weight gradients, the readout) and replay's share of it. Peak
memory per engine is measured with tracemalloc over construction and one step (numpy and numba engines), or
as weights, moments and the bytes autograd saves for the backward pass (torch, whose allocator tracemalloc does
not see). Results go to ``benchmarks/results/engines.json``.

    .venv/bin/python benchmarks/bench_engines.py [--quick]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import numpy as np

import pe_actors as pa
from pe_actors.engines import make
from pe_actors.rules.eprop.master import reduce_outputs
from pe_actors.rules.eprop.pe import PE, compiled_kernels_built
from pe_actors.rules.eprop.pe_group import run_forward

try:
    import torch
except ImportError:
    torch = None

RESULTS = Path(__file__).parent / "results" / "engines.json"
CONFIG = pa.NetworkConfig()
LR = 1e-3
ENGINES = ("numpy PE", "naive loop", "numba PE", "c PE", "replay", "torch BPTT")
#: Largest sub-batch of the numba PE row (see the module docstring).
NUMBA_SUB_BATCH = 64


class PEStep:
    """One PE (P = 1) trained like :class:`pe_actors.InProcessEngine` with sub-batch ``sub_batch``."""

    def __init__(self, params: dict, kernel: str, sub_batch: int | None) -> None:
        self.pe = PE(CONFIG, slice(0, CONFIG.n_rec), params, pa.OptimiserConfig(), kernel=kernel)
        self.sub_batch = sub_batch

    def __call__(self, x: np.ndarray, labels: np.ndarray) -> None:
        k = self.sub_batch or len(x)
        total = None
        for start in range(0, len(x), k):
            part = slice(start, start + k)
            result = reduce_outputs(run_forward([self.pe], x[part]), labels[part])
            grads = self.pe.gradients(result.error)
            total = grads if total is None else {key: total[key] + grads[key] for key in grads}
        self.pe.apply_gradients({key: value / len(x) for key, value in total.items()}, LR)


class ReplayStep:
    def __init__(self, params: dict) -> None:
        self.engine = make("eprop", "replay", CONFIG, params, pa.OptimiserConfig())

    def __call__(self, x: np.ndarray, labels: np.ndarray) -> None:
        self.engine.train_batch(x, labels, LR)


def _torch_spike():
    c = 0.5 / math.sqrt(2.0 * math.pi)

    class Spike(torch.autograd.Function):
        """H(u) forward, the multi-Gaussian surrogate psi(u) backward (docs/eprop.md)."""

        @staticmethod
        def forward(ctx, u):
            ctx.save_for_backward(u)
            return (u > 0).to(u.dtype)

        @staticmethod
        def backward(ctx, grad):
            (u,) = ctx.saved_tensors
            psi = c * (
                1.15 / 0.5 * torch.exp(-0.5 * (u / 0.5) ** 2)
                - 0.15 / 3.0 * torch.exp(-0.5 * ((u - 0.5) / 3.0) ** 2)
                - 0.15 / 3.0 * torch.exp(-0.5 * ((u + 0.5) / 3.0) ** 2)
            )
            return grad * psi

    return Spike.apply


def torch_loss(weights: list, x, labels, spike):
    """Batch-mean cross-entropy of the docs/eprop.md network, with the recurrent input's z^(t-1) and the reset
    term held constant (the stop-gradients under which BPTT equals e-prop)."""
    w_in, w_rec, w_out = weights
    c = CONFIG
    current = x @ w_in
    z = torch.zeros(x.shape[0], c.n_rec, dtype=x.dtype)
    v, a, zbar, total = z, z, z, z
    for t in range(c.n_steps):
        a = c.rho * a + (1.0 - c.rho) * z
        threshold = c.b0 + c.beta * a
        v = c.alpha * v + (1.0 - c.alpha) * (current[:, t] + z.detach() @ w_rec) - (threshold * z).detach()
        z = spike(v - threshold)
        zbar = c.kappa * zbar + z
        total = total + zbar
    logits = total @ w_out / c.n_steps
    return torch.nn.functional.cross_entropy(logits, labels)


class TorchStep:
    """Plain PyTorch BPTT: autograd through the time loop, then torch's Adam (eps 1e-5) with the same L2."""

    def __init__(self, params: dict) -> None:
        self.weights = [torch.tensor(params[key]).requires_grad_() for key in ("w_in", "w_rec", "w_out")]
        self.optimiser = torch.optim.Adam(self.weights, lr=LR, eps=1e-5)
        self.spike = _torch_spike()
        self.l2 = pa.OptimiserConfig().l2

    def loss(self, x: np.ndarray, labels: np.ndarray):
        loss = torch_loss(self.weights, torch.from_numpy(x), torch.from_numpy(labels), self.spike)
        return loss + self.l2 * sum((w * w).sum() for w in self.weights)

    def __call__(self, x: np.ndarray, labels: np.ndarray) -> None:
        self.optimiser.zero_grad()
        self.loss(x, labels).backward()
        self.weights[1].grad.fill_diagonal_(0.0)
        self.optimiser.step()

    def saved_bytes(self, x: np.ndarray, labels: np.ndarray) -> int:
        """Bytes of the tensors autograd keeps for the backward pass of one step."""
        saved = []

        def pack(tensor):
            saved.append(tensor.numel() * tensor.element_size())
            return tensor

        with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
            loss = self.loss(x, labels)
        loss.backward()
        return int(sum(saved))


def make_step(engine: str, params: dict) -> Callable[[np.ndarray, np.ndarray], None]:
    """A training step of the named engine (one of :data:`ENGINES`)."""
    if engine == "numpy PE":
        return PEStep(params, "numpy", None)
    if engine == "naive loop":
        return PEStep(params, "numpy", 1)
    if engine == "numba PE":
        return PEStep(params, "numba", NUMBA_SUB_BATCH)
    if engine == "c PE":
        return PEStep(params, "c", NUMBA_SUB_BATCH)
    if engine == "replay":
        return ReplayStep(params)
    if engine == "torch BPTT":
        return TorchStep(params)
    raise ValueError(f"unknown engine {engine!r}; valid names are {list(ENGINES)}")


def peak_memory(engine: str, params: dict, x: np.ndarray, labels: np.ndarray) -> int:
    """Peak bytes of a fresh engine over its construction and one training step: its weights, optimiser
    moments, per-synapse state and temporaries (tracemalloc); for torch, weights and moments plus the tensors
    autograd saves for the backward pass (torch's allocator is invisible to tracemalloc)."""
    if engine == "torch BPTT":
        step = make_step(engine, params)
        return 3 * sum(value.nbytes for value in params.values()) + step.saved_bytes(x, labels)
    tracemalloc.start()
    step = make_step(engine, params)
    step(x, labels)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    if isinstance(step, ReplayStep):
        step.engine.shutdown()
    return peak


def measure(engine: str, batch: int, budget: float, max_repeats: int) -> dict:
    """Best-of-n seconds per training step at ``batch``, n limited by ``budget`` seconds, and peak memory."""
    rng = np.random.default_rng(batch)
    params = pa.init_params(CONFIG, 0, np.float32)
    x = (rng.random((batch, CONFIG.n_steps, CONFIG.n_in)) * 3.0).astype(np.float32)
    labels = rng.integers(0, CONFIG.n_out, batch)
    peak = peak_memory(engine, params, x, labels)
    step = make_step(engine, params)
    start, cpu_start = time.perf_counter(), time.process_time()
    step(x, labels)
    times = [time.perf_counter() - start]
    cpu = time.process_time() - cpu_start
    # The first step includes page faults and, for numba, loading the compiled kernels; it only counts when a
    # second step would not fit the budget.
    repeats = int(min(max_repeats, budget // times[0]))
    if repeats:
        times = []
    cpu_start = time.process_time()
    for _ in range(repeats):
        start = time.perf_counter()
        step(x, labels)
        times.append(time.perf_counter() - start)
    if repeats:
        cpu = (time.process_time() - cpu_start) / repeats
    if isinstance(step, ReplayStep):
        step.engine.shutdown()
    best = min(times)
    return {
        "engine": engine,
        "batch": batch,
        "seconds_per_step": best,
        "samples_per_s": batch / best,
        "repeats": len(times),
        "cpu_seconds_per_step": cpu,
        "samples_per_cpu_s": batch / cpu,
        "peak_bytes": peak,
    }


def torch_agrees() -> float | None:
    """Max relative difference of the torch BPTT gradients from the replay engine's, in float64 (a check that
    the torch row trains the same network)."""
    if torch is None:
        return None
    config_batch = 3
    rng = np.random.default_rng(1)
    params = pa.init_params(CONFIG, 1, np.float64)
    x = rng.random((config_batch, CONFIG.n_steps, CONFIG.n_in)) * 7.0
    labels = rng.integers(0, CONFIG.n_out, config_batch)
    reference, _, _ = pa.eprop_gradients(params, x, labels, CONFIG, engine="replay")
    weights = [torch.tensor(params[key]).requires_grad_() for key in ("w_in", "w_rec", "w_out")]
    torch_loss(weights, torch.from_numpy(x), torch.from_numpy(labels), _torch_spike()).backward()
    weights[1].grad.fill_diagonal_(0.0)
    return max(
        float(np.abs(w.grad.numpy() - reference[key]).max() / np.abs(reference[key]).max())
        for w, key in zip(weights, ("w_in", "w_rec", "w_out"), strict=True)
    )


def matmul_floor(batch: int, budget: float, max_repeats: int) -> dict:
    """Samples/s of the matrix products alone that a replay training step needs at ``batch`` (float32, the same
    BLAS and threads): the input currents of all steps at once, one recurrent product per step, the gradient
    products of the input, recurrent and readout weights, and the readout. Replay can be no faster than this."""
    c = CONFIG
    rng = np.random.default_rng(0)
    rows = batch * c.n_steps
    x = rng.random((rows, c.n_in), dtype=np.float32)
    z = (rng.random((batch, c.n_rec)) < 0.05).astype(np.float32)
    pre = rng.random((c.n_in + c.n_rec, rows), dtype=np.float32)
    signal = rng.random((rows, c.n_rec), dtype=np.float32)
    w_in = rng.random((c.n_in, c.n_rec), dtype=np.float32)
    w_rec = rng.random((c.n_rec, c.n_rec), dtype=np.float32)
    w_out = rng.random((c.n_rec, c.n_out), dtype=np.float32)
    spikes = rng.random((rows, c.n_rec), dtype=np.float32)
    error = rng.random((rows, c.n_out), dtype=np.float32)

    def products() -> None:
        x @ w_in  # the input currents of every step
        for _ in range(c.n_steps):
            z @ w_rec  # the recurrent currents, step by step
        pre @ signal  # the input and recurrent weight gradients
        spikes @ w_out  # the readout
        spikes.T @ error  # the readout weight gradient

    best, repeats, start = float("inf"), 0, time.perf_counter()
    while repeats < max_repeats and (repeats < 2 or time.perf_counter() - start < budget):
        begin = time.perf_counter()
        products()
        best = min(best, time.perf_counter() - begin)
        repeats += 1
    return {"engine": "matmul floor", "batch": batch, "samples_per_s": batch / best}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="batches 1, 16, 64 and shorter timing budgets")
    parser.add_argument("--torch-threads", type=int, default=1, help="torch intra-op threads (default 1)")
    args = parser.parse_args()
    batches = (1, 16, 64) if args.quick else (1, 16, 64, 256)
    budget, max_repeats = (1.0, 5) if args.quick else (4.0, 20)
    engines = [engine for engine in ENGINES if engine != "torch BPTT" or torch is not None]
    if not compiled_kernels_built():
        engines.remove("c PE")
        print("the C kernels are not built (no C compiler at install): skipping the c PE row")
    if torch is None:
        print("torch is not installed (pip install -e '.[bench]'): skipping the torch BPTT row")
    else:
        torch.set_num_threads(args.torch_threads)
    agreement = torch_agrees()
    if agreement is not None:
        print(f"torch BPTT vs replay gradients (float64): max relative difference {agreement:.1e}")
    rows = []
    header = (
        f"{'engine':<11}"
        + "".join(f"{'B=' + str(b):>22}" for b in batches)
        + f"{'peak MB at B=' + str(batches[-1]):>18}"
    )
    print(header)
    print(f"{'':<11}" + "".join(f"{'samples/s  (x numpy)':>22}" for _ in batches))
    baseline = {}
    for engine in engines:
        line = f"{engine:<11}"
        for batch in batches:
            row = measure(engine, batch, budget, max_repeats)
            baseline.setdefault(batch, row["samples_per_s"])
            row["ratio_to_numpy_pe"] = row["samples_per_s"] / baseline[batch]
            rows.append(row)
            line += f"{row['samples_per_s']:>12.1f} ({row['ratio_to_numpy_pe']:>6.1f}x)"
        line += f"{rows[-1]['peak_bytes'] / 1e6:>18.1f}"
        print(line, flush=True)
    floors = [matmul_floor(batch, budget, max_repeats) for batch in batches]
    line = f"{'matmul floor':<11}"
    for floor in floors:
        replay = next(row for row in rows if row["engine"] == "replay" and row["batch"] == floor["batch"])
        floor["replay_share"] = replay["samples_per_s"] / floor["samples_per_s"]
        line += f"{floor['samples_per_s']:>12.1f} ({100 * floor['replay_share']:>5.0f}%)"
    print(line + "   (the products alone; in brackets: replay's share of this floor)")
    print("samples per CPU-second of this process (all its threads; less sensitive to other load):")
    for engine in engines:
        cells = [row for row in rows if row["engine"] == engine]
        print(f"{engine:<11}" + "".join(f"{row['samples_per_cpu_s']:>22.1f}" for row in cells))
    report = {
        "benchmark": "engines",
        "network": "gsc",
        "dtype": "float32",
        "n_steps": CONFIG.n_steps,
        "machine": platform.node(),
        "cpus": len(os.sched_getaffinity(0)),
        "torch_vs_replay_max_relative_difference": agreement,
        "torch_threads": args.torch_threads,
        "numba_sub_batch": NUMBA_SUB_BATCH,
        "rows": rows,
        "matmul_floor": floors,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2))
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
