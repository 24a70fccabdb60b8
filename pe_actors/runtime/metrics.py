"""Ray custom metrics of a run: per-PE step latency, barrier wait and spikes per step; per-run samples/s, loss,
accuracy and device writes (docs/synapses.md).

Ray exports them from each node's metrics agent (Prometheus format, prefixed ``ray_``) after its export interval
of about 10 s; the dashboard's Metrics tab charts them once Prometheus and Grafana are set up.
"""

from __future__ import annotations

from ray.util import metrics

_MS_BOUNDARIES = [0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0]


class PEMetrics:
    """The metrics one PE actor records after every sub-batch, tagged by run, group and PE."""

    def __init__(self, run_name: str, group: int, pe: int) -> None:
        keys = ("run", "group", "pe")
        self.tags = {"run": run_name, "group": str(group), "pe": str(pe)}
        self.step_latency = metrics.Histogram(
            "pe_step_latency_ms", "Wall time per time step of a PE (ms)", _MS_BOUNDARIES, keys
        )
        self.barrier_wait = metrics.Histogram(
            "pe_barrier_wait_ms", "Time per step a PE waits at the sync barrier (ms)", _MS_BOUNDARIES, keys
        )
        self.spikes = metrics.Gauge("pe_spikes_per_step", "Own spikes per time step and sample of a PE", keys)

    def record(self, stats: dict) -> None:
        """Record the timing statistics of one sub-batch (see :meth:`PEActor.run`)."""
        steps = max(stats["steps"], 1)
        self.step_latency.observe(1e3 * stats["loop_s"] / steps, self.tags)
        self.barrier_wait.observe(1e3 * stats["barrier_s"] / steps, self.tags)
        self.spikes.set(stats["spikes"] / (steps * max(stats["samples"], 1)), self.tags)


class RunMetrics:
    """The metrics the driver records after every mini-batch, tagged by run."""

    def __init__(self, run_name: str) -> None:
        self.tags = {"run": run_name}
        self.samples_per_s = metrics.Gauge("pe_samples_per_s", "Training samples per second of the run", ("run",))
        self.loss = metrics.Gauge("pe_loss", "Mean cross-entropy of the last mini-batch", ("run",))
        self.accuracy = metrics.Gauge("pe_accuracy", "Accuracy of the last mini-batch", ("run",))
        self.writes = metrics.Gauge(
            "pe_device_writes_per_step", "Device writes of one replica in the last learning step", ("run",)
        )
        self._last_writes: int | None = None

    def record(self, samples_per_s: float, loss: float, accuracy: float, writes: int = 0) -> None:
        """Set the run's gauges; ``writes`` is the replica's device write count so far."""
        self.samples_per_s.set(samples_per_s, self.tags)
        self.loss.set(loss, self.tags)
        self.accuracy.set(accuracy, self.tags)
        if self._last_writes is not None:
            self.writes.set(writes - self._last_writes, self.tags)
        self._last_writes = writes
