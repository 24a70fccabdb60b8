"""Energy estimates: the paper's SpiNNaker 2 model, its V100 reference, and a CPU proxy of our runs (docs/studies.md).

The paper (its section 3.2.3 and Table 5) takes the CoreMark efficiency of one SpiNNaker 2 core, 21.59 uW/MHz at
100 MHz, assumes each of the 12 cores of the e-prop implementation is active all the time, and runs in real time
(10 ms per step, 100 steps per 1-s sample): 12 x 21.59 uW/MHz x 100 MHz = 25.9 mW ~ 26 mW, and 30 epochs of the
70,375 one-second GSC training files it assumes take 2,111,250 s = 586 h 27 min, i.e. 54.7 kJ. The V100 trained
the same 30 epochs at batch 100 in 1 h 58 min at 91.3 W on average: 646.4 kJ.

Everything here is an estimate. The chip figure is the paper's model, not a measurement; our side multiplies
measured CPU seconds by an assumed power per busy core, a parameter the caller states.
"""

from __future__ import annotations

import json
import os
import resource
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pe_actors.core.settings import Settings, float_range, int_range, setting

#: Training files per epoch the paper's energy estimate assumes ("30 epochs with 70,375 1-s GSC audio files").
PAPER_TRAIN_SAMPLES = 70_375
#: Epochs of the paper's training runs.
PAPER_EPOCHS = 30
#: Assumed power of one busy CPU core of the host, in watts, for the CPU-energy proxy (a stated assumption,
#: typical of a server core under load; pass your own).
DEFAULT_CPU_WATTS_PER_CORE = 10.0


@dataclass(frozen=True)
class EnergySettings(Settings):
    """The assumptions and the measurement of an energy estimate (``pe-actors energy``'s options)."""

    uw_per_mhz: float = setting(default=21.59, **float_range(0, low_open=True), help="Power efficiency of one active "
                                "SpiNNaker 2 core in uW/MHz (CoreMark, the paper).")
    clock_mhz: float = setting(default=100.0, **float_range(0, low_open=True), help="Clock frequency of the cores "
                               "in MHz.")
    cores: int = setting(default=12, **int_range(1), help="Active cores (PEs) per sample: 12 in the paper.")
    step_ms: float = setting(default=10.0, **float_range(0, low_open=True),
                             help="Duration of one time step in real time, in ms.")
    steps: int = setting(default=100, **int_range(1), help="Time steps per sample (100 x 10 ms = 1 s of audio).")
    samples_per_epoch: int = setting(default=PAPER_TRAIN_SAMPLES, **int_range(1), help="Training samples per epoch "
                                     "(the paper's estimate assumes 70,375 GSC files).")
    epochs: int = setting(default=PAPER_EPOCHS, **int_range(1), help="Training epochs.")
    cpu_watts_per_core: float = setting(default=DEFAULT_CPU_WATTS_PER_CORE, **float_range(0, low_open=True),
                                        help="Assumed power of one busy CPU core in W, for the CPU-energy proxy of "
                                        "our run.")
    run: Path | None = setting(default=None, kind="path", folder="file_or_dir", optional=True, help="A training run "
                               "directory (or its metrics.jsonl) whose measured throughput to use instead of a short "
                               "in-process measurement.")
    busy_cores: float = setting(default=float(os.cpu_count() or 1), **float_range(0, low_open=True), help="With "
                                "--run and no CPU times logged: cores assumed busy (CPU s = wall s x this).")
    measure: int = setting(default=20, **int_range(0), help="Without --run: samples to train (gsc, batch 1, "
                           "in-process) for our side; 0 skips it.")
    pes: int = setting(default=1, **int_range(1, 120), help="PEs of the in-process group measured with --measure.")


@dataclass(frozen=True)
class ChipEnergyModel:
    """The paper's SpiNNaker 2 power model: every active core draws ``uw_per_mhz`` x ``clock_mhz`` microwatts,
    and a sample of ``n_steps`` steps takes ``n_steps`` x ``step_s`` seconds (real-time operation)."""

    uw_per_mhz: float = 21.59
    clock_mhz: float = 100.0
    n_cores: int = 12
    step_s: float = 0.01
    n_steps: int = 100

    def __post_init__(self) -> None:
        for name in ("uw_per_mhz", "clock_mhz", "step_s"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not value > 0:
                raise ValueError(f"ChipEnergyModel.{name} must be a positive number, got {value!r}")
        for name in ("n_cores", "n_steps"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"ChipEnergyModel.{name} must be a positive integer, got {value!r}")

    @property
    def core_power_w(self) -> float:
        """Power of one active core, uw_per_mhz x clock_mhz, in watts."""
        return self.uw_per_mhz * self.clock_mhz * 1e-6

    @property
    def power_w(self) -> float:
        """Power of all active cores, in watts (the paper: 26 mW for 12 cores at 100 MHz)."""
        return self.n_cores * self.core_power_w

    @property
    def sample_s(self) -> float:
        """Seconds per sample in real time, n_steps x step_s (1 s for GSC)."""
        return self.n_steps * self.step_s

    def training_seconds(self, n_samples: int, epochs: int) -> float:
        """Real-time training duration of ``epochs`` epochs of ``n_samples`` samples, one sample at a time."""
        return epochs * n_samples * self.sample_s

    def training_energy_j(self, n_samples: int, epochs: int) -> float:
        """Energy in joules of :meth:`training_seconds` at :attr:`power_w` (the paper: 54.7 kJ)."""
        return self.power_w * self.training_seconds(n_samples, epochs)


@dataclass(frozen=True)
class GpuReference:
    """The paper's measured GPU run (its Table 5): NVIDIA Tesla V100, batch 100, average power over training."""

    name: str = "NVIDIA Tesla V100 (paper, measured)"
    power_w: float = 91.3
    seconds: float = 1 * 3600 + 58 * 60
    batch: int = 100

    @property
    def energy_j(self) -> float:
        """power x time: 646.4 kJ for the paper's 30 epochs."""
        return self.power_w * self.seconds


@dataclass(frozen=True)
class Usage:
    """Measured wall and CPU seconds of a piece of work, and the samples it trained."""

    wall_s: float
    cpu_s: float
    samples: int

    def __post_init__(self) -> None:
        if not self.wall_s > 0 or self.cpu_s < 0 or self.samples < 1:
            raise ValueError(
                f"Usage needs wall_s > 0, cpu_s >= 0 and samples >= 1, got wall_s={self.wall_s!r}, "
                f"cpu_s={self.cpu_s!r}, samples={self.samples!r}"
            )

    @property
    def samples_per_s(self) -> float:
        """Training throughput, samples per wall-clock second."""
        return self.samples / self.wall_s

    def scaled(self, samples: int) -> Usage:
        """The same throughput and CPU seconds per sample extrapolated to ``samples`` samples."""
        factor = samples / self.samples
        return Usage(self.wall_s * factor, self.cpu_s * factor, samples)


def cpu_energy_j(cpu_s: float, watts_per_core: float = DEFAULT_CPU_WATTS_PER_CORE) -> float:
    """CPU-energy proxy: busy CPU seconds (summed over cores) x the assumed power of one busy core."""
    if not watts_per_core > 0:
        raise ValueError(f"watts_per_core must be positive, got {watts_per_core!r}")
    return cpu_s * watts_per_core


def cpu_seconds() -> float:
    """User + system CPU seconds of this process and its waited-for children so far (resource.getrusage).

    CPU time of processes that are not children of this one (for example Ray workers of a cluster started
    elsewhere) is not included.
    """
    total = 0.0
    for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN):
        usage = resource.getrusage(who)
        total += usage.ru_utime + usage.ru_stime
    return total


class UsageMeter:
    """Context manager measuring wall seconds (perf_counter) and CPU seconds (:func:`cpu_seconds`) of a block.

    >>> with UsageMeter() as meter:
    ...     _ = sum(range(1000))
    >>> meter.wall_s > 0 and meter.cpu_s >= 0
    True
    """

    def __enter__(self) -> UsageMeter:
        self._wall = time.perf_counter()
        self._cpu = cpu_seconds()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall_s = time.perf_counter() - self._wall
        self.cpu_s = cpu_seconds() - self._cpu

    def usage(self, samples: int) -> Usage:
        """The measurement as :class:`Usage` of ``samples`` trained samples."""
        return Usage(self.wall_s, self.cpu_s, samples)


def usage_from_metrics(path: Path | str, busy_cores: float) -> Usage:
    """Wall seconds and samples of a training run from its ``metrics.jsonl`` (the trainer's MetricsLog), and a
    CPU-seconds estimate.

    Each ``batch`` record covers the samples since the previous record (its ``global_samples`` minus the
    previous one's) at its ``samples_per_s``. Records with a ``cpu_s`` field give CPU seconds directly;
    otherwise CPU seconds are estimated as wall seconds x ``busy_cores`` (an assumption the caller states).
    """
    path = Path(path)
    if path.is_dir():
        path = path / "metrics.jsonl"
    if not path.is_file():
        raise ValueError(f"no metrics file {str(path)!r}; pass a run directory holding metrics.jsonl")
    if not busy_cores > 0:
        raise ValueError(f"busy_cores must be positive, got {busy_cores!r}")
    wall = cpu = 0.0
    samples = previous = 0
    measured_cpu = True
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            raise ValueError(f"{path}:{number} is not a JSON line: {error}") from None
        current = int(record.get("global_samples", previous))
        if record.get("kind") == "batch" and record.get("samples_per_s"):
            count = current - previous
            wall += count / float(record["samples_per_s"])
            samples += count
            if "cpu_s" in record:
                cpu += float(record["cpu_s"])
            else:
                measured_cpu = False
        previous = current
    if samples < 1:
        raise ValueError(f"{path} holds no batch records with samples_per_s; was the run logged with MetricsLog?")
    return Usage(wall, cpu if measured_cpu else wall * busy_cores, samples)


def energy_report(
    model: ChipEnergyModel | None = None,
    n_samples: int = PAPER_TRAIN_SAMPLES,
    epochs: int = PAPER_EPOCHS,
    measured: Usage | None = None,
    watts_per_core: float = DEFAULT_CPU_WATTS_PER_CORE,
    gpu: GpuReference | None = None,
    measured_label: str = "pe-actors on this CPU",
) -> dict:
    """Rows of the energy comparison for training ``epochs`` x ``n_samples`` samples, all labelled estimates.

    - ``spinnaker2``: the paper's chip model (:class:`ChipEnergyModel`), real time;
    - ``gpu``: the paper's V100 measurement (:class:`GpuReference`), as published (30 epochs of its data);
    - ``ours_measured`` and ``ours_extrapolated`` (when ``measured`` is given): our run's wall time and CPU-energy
      proxy (CPU seconds x ``watts_per_core``), and the same throughput extrapolated to the whole training;
      ``measured_label`` says what was measured.
    """
    model = model or ChipEnergyModel()
    gpu = gpu or GpuReference()
    rows = [
        {
            "system": f"SpiNNaker 2, {model.n_cores} cores at {model.clock_mhz:g} MHz (paper's model)",
            "key": "spinnaker2",
            "kind": "estimate (paper's power model, real-time operation)",
            "batch": 1,
            "power_w": model.power_w,
            "wall_s": model.training_seconds(n_samples, epochs),
            "energy_j": model.training_energy_j(n_samples, epochs),
        },
        {
            "system": gpu.name,
            "key": "gpu",
            "kind": "published measurement (paper's Table 5, its 30 epochs)",
            "batch": gpu.batch,
            "power_w": gpu.power_w,
            "wall_s": gpu.seconds,
            "energy_j": gpu.energy_j,
        },
    ]
    if measured is not None:
        total = measured.scaled(epochs * n_samples)
        for key, usage, kind in (
            ("ours_measured", measured, f"measured wall and CPU time of {measured.samples} samples"),
            ("ours_extrapolated", total, "extrapolated from the measured throughput"),
        ):
            rows.append(
                {
                    "system": f"{measured_label} ({key.split('_')[1]})",
                    "key": key,
                    "kind": f"estimate: {kind}; CPU energy = CPU s x {watts_per_core:g} W per busy core (assumed)",
                    "batch": None,
                    "power_w": cpu_energy_j(usage.cpu_s, watts_per_core) / usage.wall_s,
                    "wall_s": usage.wall_s,
                    "cpu_s": usage.cpu_s,
                    "samples": usage.samples,
                    "energy_j": cpu_energy_j(usage.cpu_s, watts_per_core),
                }
            )
    return {
        "assumptions": {
            "uw_per_mhz": model.uw_per_mhz,
            "clock_mhz": model.clock_mhz,
            "n_cores": model.n_cores,
            "step_s": model.step_s,
            "n_steps": model.n_steps,
            "n_samples_per_epoch": n_samples,
            "epochs": epochs,
            "cpu_watts_per_core": watts_per_core,
            "note": "all energies are estimates; the host CPU of the chip and the GPU is not counted (as in the paper)",
        },
        "rows": rows,
    }


__all__ = [
    "DEFAULT_CPU_WATTS_PER_CORE",
    "PAPER_EPOCHS",
    "PAPER_TRAIN_SAMPLES",
    "ChipEnergyModel",
    "GpuReference",
    "Usage",
    "UsageMeter",
    "cpu_energy_j",
    "cpu_seconds",
    "energy_report",
    "usage_from_metrics",
]


def measure_inprocess(samples: int, pes: int, seed: int = 0) -> Usage:
    """Wall and CPU seconds of training ``samples`` samples at batch 1 (the chip's recipe) on the ``gsc`` network
    with a group of ``pes`` in-process PEs, on standard normal inputs (one untimed warm-up sample first)."""
    from pe_actors.core.optimiser import OptimiserConfig
    from pe_actors.engines.registry import make
    from pe_actors.rules.eprop.config import NetworkConfig
    from pe_actors.rules.eprop.gradients import init_params

    config = NetworkConfig()
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((samples + 1, config.n_steps, config.n_in)).astype(np.float32)
    labels = rng.integers(0, config.n_out, samples + 1)
    engine = make("eprop", "inprocess", config, init_params(config, seed), OptimiserConfig(lr=0.001), pes=pes,
                  sub_batch=None)
    engine.train_batch(x[:1], labels[:1], 0.001)
    with UsageMeter() as meter:
        for index in range(1, samples + 1):
            engine.train_batch(x[index : index + 1], labels[index : index + 1], 0.001)
    return meter.usage(samples)
