"""Watching a run: a Prometheus server scraping Ray's metrics (ray_pe_loss queried through its HTTP API) that
stops with the run, and TensorBoard event files of the training scalars read back with tensorboard's reader."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest
from click.testing import CliRunner

from pe_actors_launcher.cli import cli

PROBE = r"""
import json, os, time
from pe_actors.runtime.cluster import start_ray, stop_ray
start_ray(None, num_pe_slots=2, dashboard_port=0)
import numpy as np
import pe_actors as pa
from pe_actors.engines.actors import ActorEngine
from pe_actors.runtime.monitor import PrometheusMonitor

monitor = PrometheusMonitor(os.environ["STORAGE"], scrape_interval_s=1).start()
config = pa.NetworkConfig(n_in=4, n_rec=6, n_out=2, n_steps=10)
engine = ActorEngine(config, pa.init_params(config), pa.OptimiserConfig(), n_pes=2, sub_batch=4).start()
rng = np.random.default_rng(0)
found, deadline = [], time.monotonic() + 90
while not found and time.monotonic() < deadline:
    engine.train_batch(rng.random((4, 10, 4)).astype(np.float32), rng.integers(0, 2, 4), 0.01)
    found = monitor.query("ray_pe_loss")
    time.sleep(0.5)
latency = monitor.query("ray_pe_step_latency_ms_count")
pid = monitor.process.pid
engine.shutdown()
monitor.stop()
alive = os.path.exists(f"/proc/{pid}") and open(f"/proc/{pid}/stat").read().split()[2] != "Z"
print(json.dumps({"loss": found, "latency": len(latency), "alive": alive, "url": monitor.url}))
stop_ray()
"""


@pytest.mark.ray
@pytest.mark.skipif(shutil.which("prometheus") is None, reason="prometheus is not installed (scripts/setup.sh)")
def test_prometheus_scrapes_the_pe_metrics_and_stops(tmp_path):
    env = {**os.environ, "STORAGE": str(tmp_path / "prometheus"), "RAY_metrics_report_interval_ms": "1000"}
    result = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["loss"], "Prometheus never saw ray_pe_loss"
    assert report["loss"][0]["metric"]["__name__"] == "ray_pe_loss" and report["loss"][0]["metric"]["run"]
    assert report["latency"] == 2  # one series per PE
    assert report["url"].startswith("http://127.0.0.1:") and report["alive"] is False


def test_tensorboard_files_hold_the_training_scalars(tmp_path):
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed (scripts/setup.sh installs it)")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from pe_actors_datasets import ensure_standin

    data = ensure_standin(tmp_path / "standin", size="small")
    out = tmp_path / "run"
    args = ["train", "--engine", "inprocess", "--pes", "2", "--sub-batch", "4", "--max-samples", "8", "--epochs", "2"]
    result = CliRunner().invoke(cli, [*args, "--data", str(data), "--out", str(out), "--tensorboard", "--no-progress"])
    assert result.exit_code == 0, result.output
    events = EventAccumulator(str(out / "tensorboard"))
    events.Reload()
    tags = set(events.Tags()["scalars"])
    assert {
        "batch/loss",
        "batch/accuracy",
        "batch/samples_per_s",
        "epoch/test_accuracy",
        "epoch/validation_loss",
    } <= tags
    test = [event.value for event in events.Scalars("epoch/test_accuracy")]
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    epochs = [r for r in records if r["kind"] == "epoch"]
    assert test == pytest.approx([r["test_accuracy"] for r in epochs])
    assert [event.step for event in events.Scalars("batch/loss")] == [4, 8, 12, 16]
    assert all(isinstance(r["time"], float) for r in records)


def test_monitor_needs_the_actor_engine(tmp_path):
    result = CliRunner().invoke(cli, ["train", "--engine", "replay", "--monitor", "--out", str(tmp_path / "r")])
    assert result.exit_code == 2 and "--monitor watches the PE actors' Ray metrics" in result.output


def test_grafana_dashboard_charts_only_metrics_the_runtime_records():
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    source = (root / "pe_actors" / "runtime" / "metrics.py").read_text()
    recorded = {f"ray_{name}" for name in re.findall(r'metrics\.(?:Gauge|Histogram)\(\s*"(pe_\w+)"', source)}
    dashboard = json.loads((root / "docs" / "grafana" / "pe-actors-runtime.json").read_text())
    charted = set()
    for panel in dashboard["panels"]:
        for target in panel["targets"]:
            charted |= {re.sub(r"_(bucket|count|sum)$", "", n) for n in re.findall(r"ray_pe_\w+", target["expr"])}
    assert charted == recorded, (charted, recorded)


ORPHAN = r"""
import os, sys, time
from pe_actors.runtime.cluster import start_ray
start_ray(None, num_pe_slots=1, dashboard_port=0)
from pe_actors.runtime.monitor import PrometheusMonitor

monitor = PrometheusMonitor(os.environ["STORAGE"], scrape_interval_s=1).start()
print(monitor.process.pid, flush=True)
time.sleep(300)
"""


@pytest.mark.ray
def test_prometheus_ends_with_a_driver_killed_by_sigkill(tmp_path):
    import signal
    import time

    if shutil.which("prometheus") is None:
        pytest.skip("prometheus is not installed (scripts/setup.sh installs it)")
    env = {**os.environ, "STORAGE": str(tmp_path / "prometheus")}
    driver = subprocess.Popen([sys.executable, "-c", ORPHAN], stdout=subprocess.PIPE, text=True, env=env)
    pid = int(driver.stdout.readline())
    assert os.path.exists(f"/proc/{pid}")
    driver.send_signal(signal.SIGKILL)
    driver.wait(timeout=30)

    def running(pid: int) -> bool:
        try:
            return open(f"/proc/{pid}/stat").read().split()[2] not in ("Z", "X")
        except OSError:
            return False

    deadline = time.monotonic() + 30
    while running(pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not running(pid), "Prometheus kept serving after its run's driver was killed"
