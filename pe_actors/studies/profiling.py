"""Wall time per PE function and step, like the paper's clock profile (its Figure 6; docs/studies.md).

The profiler runs the group's PE programs through the one step loop on the in-process transport, with each
program's named sections timed (``timer(section, step)``, see :mod:`pe_actors.runtime.program`): for e-prop
send_input, synapse_preprocess, neuron_update, sync (reading the group's spikes), eprop, synapse_process_spike,
and the weight update (partial output, the master's reduction, gradients, ADAM); for EventProp its four programs
forward, loss, backward and weight update. In-process the PEs run one after another, so the barrier waits are
derived from the measured times as if the P PEs ran side by side on P cores: a PE's sync is the measured spike
gather plus how much longer the slowest PE of the group takes in a typical step (median) for the work before
each of the two barriers of docs/eprop.md, "On the PEs" (load imbalance). Step-to-step timing noise would make
real barriers wait longer still; on a shared machine that noise is mostly other processes, so it is reported apart
(:attr:`Profile.jitter_s`: the extra wait if every step waited for that step's slowest PE).

The weight update happens once per sample (after T steps): the reduction of the partial outputs by the master
(measured once, every PE waits for it), the error broadcast, gradients and ADAM; its time per step is its time per
call divided by T, as in the paper's figure. The chip must finish every step within 10 ms to run in real time
(one 1-s sample per second); :attr:`Profile.fits_real_time` checks the mean step.
"""

from __future__ import annotations

import time
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from pe_actors.core.optimiser import OptimiserConfig
from pe_actors.core.settings import Settings, choice, float_range, int_range, setting
from pe_actors.rules.eprop.config import NetworkConfig
from pe_actors.rules.eprop.gradients import init_params
from pe_actors.rules.eprop.pe import KERNELS
from pe_actors.rules.eprop.program import EpropGroup
from pe_actors.runtime.group import run_group
from pe_actors.runtime.program import GroupProgram, no_timer

#: The functions profiled, in the order a step calls them (the paper's Table 2, plus the sync wait).
PROFILE_FUNCTIONS = (
    "send_input",
    "synapse_preprocess",
    "neuron_update",
    "sync",
    "eprop",
    "synapse_process_spike",
    "weight_update",
)
#: The chip's real-time budget per step: 10 ms (docs/studies.md).
REAL_TIME_STEP_S = 0.01


#: Statistics over steps that a profile's step, shares and budget check can use.
STATISTICS = ("mean", "median")


@dataclass(frozen=True)
class Profile:
    """Wall seconds per step of every profiled function, for each PE of the group.

    ``per_pe[p][name]`` is PE p's mean seconds per step in function ``name`` (weight_update amortised over the
    T steps of a sample), ``per_pe_median`` the same with medians over steps (robust to preemption by other
    processes); ``statistic`` says which of the two the step, the shares and the budget check use;
    ``weight_update_call_s[p]`` is PE p's mean seconds per weight update (once per sample);
    ``jitter_s`` is the mean extra barrier wait per step if each step waited for that step's slowest PE.
    """

    config: NetworkConfig
    n_pes: int
    sub_batch: int
    batches: int
    per_pe: list[dict[str, float]]
    per_pe_median: list[dict[str, float]]
    weight_update_call_s: list[float]
    jitter_s: float = 0.0
    budget_s: float = REAL_TIME_STEP_S
    engine: str = "inprocess"
    kernel: str = "numba"
    statistic: str = "mean"
    notes: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.statistic not in STATISTICS:
            raise ValueError(f"Profile.statistic must be one of {list(STATISTICS)}, got {self.statistic!r}")

    @property
    def mean(self) -> dict[str, float]:
        """Mean seconds per step of each function, averaged over the PEs."""
        return {name: float(np.mean([pe[name] for pe in self.per_pe])) for name in PROFILE_FUNCTIONS}

    @property
    def median(self) -> dict[str, float]:
        """Median seconds per step of each function, averaged over the PEs."""
        return {name: float(np.mean([pe[name] for pe in self.per_pe_median])) for name in PROFILE_FUNCTIONS}

    @property
    def per_step(self) -> dict[str, float]:
        """Seconds per step of each function by the profile's statistic (:attr:`mean` or :attr:`median`)."""
        return self.mean if self.statistic == "mean" else self.median

    @property
    def step_s(self) -> float:
        """Seconds per step of a PE (every function, weight_update amortised). With the barrier waits included
        every PE's step is about as long as the slowest PE's."""
        return float(sum(self.per_step.values()))

    @property
    def shares(self) -> dict[str, float]:
        """Share of the step spent in each function; the shares sum to 1."""
        total = self.step_s
        return {name: value / total for name, value in self.per_step.items()}

    @property
    def last_step_s(self) -> float:
        """Seconds of the last step of a sample: an ordinary step plus a whole weight update (T times its
        amortised share)."""
        return self.step_s + (self.config.n_steps - 1) * self.per_step["weight_update"]

    @property
    def fits_real_time(self) -> bool:
        """Whether the step fits the real-time budget (10 ms on the chip)."""
        return self.step_s <= self.budget_s

    @property
    def last_step_fits(self) -> bool:
        """Whether even the last step, which carries the whole weight update, fits the budget."""
        return self.last_step_s <= self.budget_s

    def to_dict(self) -> dict:
        """JSON-ready summary: per-function mean, median, share and spread over PEs, step totals and the budget
        check."""
        mean, median, shares = self.mean, self.median, self.shares
        table = self.per_pe if self.statistic == "mean" else self.per_pe_median
        return {
            "engine": self.engine,
            "kernel": self.kernel,
            "statistic": self.statistic,
            "network": self.config.to_dict(),
            "n_pes": self.n_pes,
            "sub_batch": self.sub_batch,
            "batches": self.batches,
            "functions": {
                name: {
                    "mean_s_per_step": mean[name],
                    "median_s_per_step": median[name],
                    "share": shares[name],
                    "min_pe_s_per_step": min(pe[name] for pe in table),
                    "max_pe_s_per_step": max(pe[name] for pe in table),
                }
                for name in PROFILE_FUNCTIONS
            },
            "step_s": self.step_s,
            "weight_update_call_s": float(np.mean(self.weight_update_call_s)),
            "last_step_s": self.last_step_s,
            "budget_s": self.budget_s,
            "fits_real_time": self.fits_real_time,
            "last_step_fits": self.last_step_fits,
            "real_time_factor": self.budget_s / self.step_s,
            "jitter_s_per_step": self.jitter_s,
            "per_pe": self.per_pe,
            "per_pe_median": self.per_pe_median,
            "notes": self.notes,
        }


def _single_blas_thread():
    """Limit BLAS to one thread, like a PE on one core (threadpoolctl when installed)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return nullcontext()
    return threadpool_limits(limits=1)


class SectionTimes:
    """Records the wall time of the programs' named sections as (PE, section, step, seconds)."""

    def __init__(self) -> None:
        self.records: list[tuple[int, str, int, float]] = []

    def timer(self, pe: int):
        """The ``timer(section, step)`` of PE ``pe``'s program."""

        @contextmanager
        def timed(section: str, step: int):
            start = time.perf_counter()
            yield
            self.records.append((pe, section, step, time.perf_counter() - start))

        return timed

    def table(self, sections: tuple[str, ...], n_pes: int, n_steps: int) -> np.ndarray:
        """Seconds per PE, section and step (P, len(sections), n_steps); other sections and steps are left out."""
        index = {name: i for i, name in enumerate(sections)}
        table = np.zeros((n_pes, len(sections), n_steps))
        for pe, section, step, seconds in self.records:
            if section in index and 0 <= step < n_steps:
                table[pe, index[section], step] += seconds
        return table

    def total(self, section: str, n_pes: int) -> np.ndarray:
        """Seconds per PE in ``section`` over all steps."""
        totals = np.zeros(n_pes)
        for pe, name, _, seconds in self.records:
            if name == section:
                totals[pe] += seconds
        return totals


def run_timed(
    group: GroupProgram, programs: list, x: np.ndarray, labels: np.ndarray, lr: float
) -> tuple[SectionTimes, np.ndarray]:
    """One training sub-batch through the step loop with every program section timed, then each PE's learning
    step with the batch-mean gradients (timed too); returns the section times and the learning-step seconds
    per PE."""
    times = SectionTimes()
    for pe, program in enumerate(programs):
        program.timer = times.timer(pe)
    try:
        results = run_group(group, programs, x, labels)
    finally:
        for program in programs:
            program.timer = no_timer
    apply_s = np.zeros(len(programs))
    for pe, (program, result) in enumerate(zip(programs, results, strict=True)):
        start = time.perf_counter()
        program.apply({key: value / len(x) for key, value in result["grads"].items()}, lr)
        apply_s[pe] = time.perf_counter() - start
    return times, apply_s


def _profile_batch(
    group: EpropGroup, programs: list, x: np.ndarray, labels: np.ndarray, lr: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Run one e-prop sub-batch through the group with every PE function timed.

    Returns (seconds per PE, function and step (P, F, T), with the sync column holding the measured spike gather
    only and the weight_update column zero; seconds of work per PE, barrier and step (P, 2, T); seconds of each
    PE's weight update (P,)).
    """
    n_pes, n_steps = len(programs), group.n_steps
    times, apply_s = run_timed(group, programs, x, labels, lr)
    table = times.table(PROFILE_FUNCTIONS, n_pes, n_steps)
    index = {name: i for i, name in enumerate(PROFILE_FUNCTIONS)}
    work = np.stack(
        [
            table[:, [index[name] for name in ("send_input", "synapse_preprocess", "neuron_update")]].sum(axis=1),
            table[:, [index["eprop"], index["synapse_process_spike"]]].sum(axis=1),
        ],
        axis=1,
    )
    # Every PE waits for the slowest partial output and the master's reduction before its own update.
    partial_s = times.total("partial_output", n_pes)
    master_s = times.total("master", n_pes).sum()
    return table, work, partial_s.max() + master_s + times.total("gradients", n_pes) + apply_s


def profile_inprocess(
    config: NetworkConfig,
    n_pes: int = 12,
    sub_batch: int = 1,
    batches: int = 3,
    warmup: int = 1,
    x: np.ndarray | None = None,
    labels: np.ndarray | None = None,
    params: dict[str, np.ndarray] | None = None,
    dtype: type = np.float32,
    seed: int = 0,
    lr: float = 0.001,
    budget_s: float = REAL_TIME_STEP_S,
    kernel: str = "numba",
    statistic: str = "mean",
) -> Profile:
    """Profile ``batches`` training sub-batches of ``sub_batch`` samples on a group of ``n_pes`` in-process PEs
    (after ``warmup`` untimed ones), with BLAS limited to one thread.

    ``x`` (n, T, n_in) and ``labels`` (n,) supply the samples (cycled); without them the inputs are standard
    normal (like normalised features) and the labels uniform, drawn with ``seed``. ``params`` defaults to
    :func:`~pe_actors.rules.eprop.gradients.init_params` with ``seed``; ``kernel`` picks the PEs' implementation of the
    per-synapse updates (see :data:`pe_actors.rules.eprop.pe.KERNELS`); ``statistic`` (``mean`` or ``median`` over
    steps) is what the step, the shares and the budget check use.
    """
    if statistic not in STATISTICS:
        raise ValueError(f"statistic must be one of {list(STATISTICS)}, got {statistic!r}")
    for name, value, low in (("n_pes", n_pes, 1), ("sub_batch", sub_batch, 1), ("batches", batches, 1)):
        if not isinstance(value, int) or value < low:
            raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
    if not isinstance(warmup, int) or warmup < 0:
        raise ValueError(f"warmup must be an integer >= 0, got {warmup!r}")
    if n_pes > config.n_rec:
        raise ValueError(f"n_pes = {n_pes} exceeds the {config.n_rec} recurrent neurons")
    rng = np.random.default_rng(seed)
    if x is None:
        x = rng.standard_normal((sub_batch, config.n_steps, config.n_in)).astype(dtype)
        labels = rng.integers(0, config.n_out, sub_batch)
    elif labels is None or len(labels) != len(x):
        raise ValueError("profile_inprocess needs labels with one label per sample of x")
    x = np.asarray(x, dtype)
    if x.ndim != 3 or x.shape[1:] != (config.n_steps, config.n_in):
        raise ValueError(f"x must have shape (n, {config.n_steps}, {config.n_in}), got {x.shape}")
    params = params if params is not None else init_params(config, seed, dtype)
    optimiser = OptimiserConfig(lr=lr)
    group = EpropGroup(config, n_pes, kernel=kernel)
    programs = [group.make_program(p, params, optimiser) for p in range(n_pes)]
    runs = []
    with _single_blas_thread():
        for batch in range(warmup + batches):
            rows = np.arange(batch * sub_batch, (batch + 1) * sub_batch) % len(x)
            run = _profile_batch(group, programs, x[rows], np.asarray(labels)[rows], lr)
            if batch >= warmup:
                runs.append(run)
    times = np.concatenate([run[0] for run in runs], axis=2)
    work = np.concatenate([run[1] for run in runs], axis=2)
    calls = np.stack([run[2] for run in runs], axis=1)
    steps = times.shape[2]
    sync, update = PROFILE_FUNCTIONS.index("sync"), PROFILE_FUNCTIONS.index("weight_update")
    # The barrier wait from load imbalance: how much longer the slowest PE typically (median over steps) works
    # before each of the two barriers; medians keep preemptions by other processes out of it.
    typical = np.median(work, axis=2)
    imbalance = (typical.max(axis=0) - typical).sum(axis=1)
    step_waits = (work.max(axis=0, keepdims=True) - work).sum(axis=1).mean()
    jitter = max(float(step_waits - imbalance.mean()), 0.0)
    mean = times.mean(axis=2)
    median = np.median(times, axis=2)
    for table in (mean, median):
        table[:, sync] += imbalance
    mean[:, update] = calls.sum(axis=1) / steps
    median[:, update] = np.median(calls, axis=1) / config.n_steps
    per_pe = [dict(zip(PROFILE_FUNCTIONS, map(float, row), strict=True)) for row in mean]
    per_pe_median = [dict(zip(PROFILE_FUNCTIONS, map(float, row), strict=True)) for row in median]
    notes = [
        "in-process: PEs run one after another; sync = measured spike gather + barrier wait from the load "
        "imbalance of the PEs' typical (median) work, as if they ran in parallel on one core each",
        "jitter_s_per_step: extra wait if every step waited for that step's slowest PE (timing noise)",
        "weight_update runs once per sample; per step = per call / T",
    ]
    return Profile(
        config,
        n_pes,
        sub_batch,
        batches,
        per_pe,
        per_pe_median,
        [float(value) for value in calls.mean(axis=1)],
        jitter,
        budget_s,
        "inprocess",
        kernel,
        statistic,
        notes,
    )


#: EventProp's four programs, as on the chip: their share of a PE's time per step.
EVENTPROP_PROGRAMS = ("forward", "loss", "backward", "weight_update")


@dataclass(frozen=True)
class ProfileSettings(Settings):
    """How a profile runs (``pe-actors profile``'s options besides the rule and the network)."""

    pes: int = setting(default=12, **int_range(1), help="PEs per group, P (the paper: 12).")
    sub_batch: int = setting(default=1, **int_range(1), help="Samples each PE vectorises, k.")
    batches: int = setting(default=3, **int_range(1), help="Timed sub-batches (each T steps and one weight update).")
    warmup: int = setting(default=1, **int_range(0), help="Untimed sub-batches run first.")
    actors: bool = setting(default=False, kind="bool", help="Also run the same batches on the Ray PE-actor runtime "
                           "(embedded local Ray, shared-memory transport) and report its step time and barrier wait "
                           "(it does not time individual functions).")
    kernel: str = setting(default="numba", **choice(*KERNELS), help="The PEs' implementation of the per-synapse "
                          "updates: c (the loops compiled at install), numba (the same loops compiled at first use) "
                          "or numpy (whole-array expressions); all give the same numbers.")
    statistic: str = setting(default="mean", **choice(*STATISTICS), help="Statistic over steps for the step time, "
                             "the shares and the budget check (median resists preemption by other processes on a busy "
                             "machine).")
    data: Path | None = setting(default=None, kind="path", folder="exists", optional=True,
                                help="Prepared features to feed (default: standard normal inputs, like normalised "
                                "features).")
    split: str = setting(default="train", **choice("train", "validation", "test"),
                         help="Split of --data to take samples from.")
    dtype: str = setting(default="float32", **choice("float32", "float64"), help="Float type.")
    budget_ms: float = setting(default=10.0, **float_range(0, low_open=True),
                               help="Real-time budget per step in ms (the chip: 10 ms per step).")
    seed: int = setting(default=0, **int_range(0), help="Seed of weights and inputs.")


def function_profile_lines(result: Profile, summary: dict, budget_ms: float, actor_timing: dict | None) -> list[str]:
    """The lines of an e-prop profile's report: the per-function table, the real-time verdicts (and the actors'),
    and the timing noise."""
    lines = []
    lines.append(f"{'function':<24}{'mean us':>10}{'share':>8}{'median us':>11}{'min PE':>10}{'max PE':>10}")
    for name, entry in summary["functions"].items():
        lines.append(
            f"{name:<24}{entry['mean_s_per_step'] * 1e6:10.2f}{entry['share']:8.1%}"
            f"{entry['median_s_per_step'] * 1e6:11.2f}"
            f"{entry['min_pe_s_per_step'] * 1e6:10.2f}{entry['max_pe_s_per_step'] * 1e6:10.2f}"
        )
    verdict = "fits" if result.fits_real_time else "does NOT fit"
    lines.append(
        f"{result.statistic} step {result.step_s * 1e3:.4f} ms per PE: {verdict} the {budget_ms:g} ms budget "
        f"({summary['real_time_factor']:.1f}x real time); last step with the whole weight update "
        f"{result.last_step_s * 1e3:.4f} ms ({'fits' if result.last_step_fits else 'does NOT fit'})"
    )
    if actor_timing is not None:
        lines.append(
            f"Ray actors (shm): step {actor_timing['step_s'] * 1e3:.4f} ms, of which barrier wait "
            f"{actor_timing['barrier_wait_s_per_step'] * 1e3:.4f} ms ({actor_timing['sync_share']:.0%}); "
            f"{actor_timing['samples_per_s']:.1f} samples/s; "
            f"{'fits' if actor_timing['fits_real_time'] else 'does NOT fit'} the budget"
        )
    lines.append(
        f"timing noise: waiting each step for that step's slowest PE would add "
        f"{summary['jitter_s_per_step'] * 1e6:.1f} us per step (not included above)"
    )
    return lines


def profile_programs(
    network: Any,
    x: np.ndarray,
    labels: np.ndarray,
    n_pes: int | list = 1,
    sub_batch: int = 1,
    batches: int = 3,
    warmup: int = 1,
    seed: int = 0,
    lr: float = 0.005,
) -> dict:
    """Wall time per PE of every named section of any rule's PE programs (the sections their timers record: e-prop's
    functions, EventProp's forward, loss and backward programs) and of its weight update, on a group of in-process
    PEs, per step of the trial (each section's total over a sub-batch divided by T), on the inputs ``x`` and
    ``labels`` (at least ``sub_batch`` x (``warmup`` + ``batches``) samples); the real-time budget of a step is its
    length (the rule's event binning: e-prop 10 ms, EventProp dt). Returns a JSON-ready summary, one entry per PE."""
    from pe_actors.rules import group_program, rule_of

    for name, value, low in (("sub_batch", sub_batch, 1), ("batches", batches, 1), ("warmup", warmup, 0)):
        if not isinstance(value, int) or value < low:
            raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
    spec = rule_of(network)
    group = group_program(network, n_pes)
    params = spec.init_params(network, seed=seed)
    programs = [group.make_program(p, params, OptimiserConfig(lr=lr, l2=0.0)) for p in range(group.n_pes)]
    needed = sub_batch * (warmup + batches)
    if len(x) < needed or len(labels) < needed:
        raise ValueError(f"profiling {warmup} + {batches} sub-batches of {sub_batch} needs {needed} samples")
    sections: list[str] = []
    totals: dict[str, np.ndarray] = {}
    with _single_blas_thread():
        for batch in range(warmup + batches):
            rows = slice(batch * sub_batch, (batch + 1) * sub_batch)
            times, apply_s = run_timed(group, programs, x[rows], labels[rows], lr)
            if batch < warmup:
                continue
            for _, section, _, _ in times.records:
                if section not in sections:
                    sections.append(section)
            for section in sections:
                totals[section] = totals.get(section, 0.0) + times.total(section, group.n_pes)
            totals["weight_update"] = totals.get("weight_update", 0.0) + apply_s
    names = [*sections, "weight_update"]
    per_step = {name: np.asarray(totals[name]) / (batches * network.n_steps) for name in names}
    budget_s = spec.data.event_binning(network)[0] / 1e3
    pes = []
    for row in group.pe_layout():
        pe = row["pe"]
        step_s = float(sum(per_step[name][pe] for name in names))
        first, stop = row["neurons"]
        pes.append({"pe": pe, "layer": row["layer"], "neurons": f"{first}-{stop - 1}",
                    "programs_s_per_step": {name: float(per_step[name][pe]) for name in names},
                    "step_s": step_s, "fits_real_time": step_s <= budget_s})
    slowest = max(entry["step_s"] for entry in pes)
    return {
        "rule": spec.name, "network": network.to_dict(), "n_pes": group.n_pes, "sub_batch": sub_batch,
        "batches": batches, "budget_s": budget_s, "sections": names, "per_pe": pes, "step_s": slowest,
        "fits_real_time": slowest <= budget_s,
        "notes": [
            "in-process PEs on the step loop; each section's time over a sub-batch divided by T",
            "the slowest PE sets the step of the group (every round ends at a barrier)",
            "budget: real time, one step of the network's step length per step",
        ],
    }


def profile_eventprop(
    config: Any, features: np.ndarray, labels: np.ndarray, n_pes: int | list = 1, sub_batch: int = 1,
    batches: int = 3, warmup: int = 1, seed: int = 0, lr: float = 0.005,
) -> dict:
    """:func:`profile_programs` of an EventProp network on Yin-Yang ``features`` before the latency code."""
    from pe_actors.rules.eventprop.encoding import encode

    return profile_programs(config, encode(features, config), labels, n_pes, sub_batch, batches, warmup, seed, lr)


__all__ = [
    "EVENTPROP_PROGRAMS",
    "PROFILE_FUNCTIONS",
    "REAL_TIME_STEP_S",
    "STATISTICS",
    "Profile",
    "profile_eventprop",
    "profile_inprocess",
    "profile_programs",
    "function_profile_lines",
]


def measure_actors(
    config,
    n_pes: int,
    sub_batch: int,
    batches: int,
    warmup: int,
    seed: int,
    dtype: type,
    budget_s: float,
    x: np.ndarray | None = None,
    labels: np.ndarray | None = None,
) -> dict:
    """Step time and barrier wait of the Ray PE-actor runtime (shared-memory transport) on the same network,
    repeating one sub-batch (the first ``sub_batch`` samples of ``x``, or standard normal ones). The runtime
    reports per sub-batch only the PEs' loop time and their barrier waits, not a time per function, so this
    complements the in-process profile rather than repeating it."""
    from pe_actors.core.optimiser import OptimiserConfig
    from pe_actors.engines.registry import make
    from pe_actors.rules.eprop.gradients import init_params

    if x is None:
        rng = np.random.default_rng(seed)
        x = rng.standard_normal((sub_batch, config.n_steps, config.n_in))
        labels = rng.integers(0, config.n_out, sub_batch)
    x, labels = np.asarray(x[:sub_batch], dtype), np.asarray(labels[:sub_batch])
    # A Ray this process already runs (for example a test's) is reused and left running; else the engine starts
    # a local one and stops it with the actors.
    engine = make("eprop", "actors", config, init_params(config, seed, dtype), OptimiserConfig(lr=0.001),
                  pes=n_pes, sub_batch=sub_batch, record_metrics=False)
    timings = []
    with engine:
        for batch in range(warmup + batches):
            engine.train_batch(x, labels, 0.001)
            if batch >= warmup:
                timings.append(dict(engine.timing))
    step_s = float(np.mean([timing["step_ms"] for timing in timings])) / 1e3
    wait_s = float(np.mean([timing["barrier_wait_ms"] for timing in timings])) / 1e3
    return {
        "transport": "shm",
        "step_s": step_s,
        "barrier_wait_s_per_step": wait_s,
        "compute_s_per_step": step_s - wait_s,
        "sync_share": wait_s / step_s,
        "samples_per_s": float(np.mean([timing["samples_per_s"] for timing in timings])),
        "fits_real_time": step_s <= budget_s,
        "batches": batches,
    }
