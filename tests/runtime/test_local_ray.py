"""A local run starts its own Ray: it never joins a cluster it was not given, neither a `ray start` cluster running
on the machine nor the stale current-cluster file one leaves behind (each in a Ray temp directory of the test's
own, so that no other Ray on the machine is touched)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

pytest.importorskip("ray")

PROBE = """
import ray
from pe_actors.runtime.cluster import start_ray
start_ray(None, num_pe_slots=2)
resources = ray.cluster_resources()
print("pe", resources.get("pe"), "stranger", resources.get("stranger"), "nodes", len(ray.nodes()))
ray.shutdown()
"""


def probe(temp: Path) -> subprocess.CompletedProcess:
    # RAY_TMPDIR is where Ray keeps its sessions and the current-cluster file a plain ray.init would follow.
    env = {**os.environ, "RAY_TMPDIR": str(temp)}
    return subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=300, env=env)


@pytest.fixture()
def short_temp():
    # Ray's Unix sockets live under the temp directory, whose path must stay short (about 100 characters).
    path = Path(tempfile.mkdtemp(prefix="ray-", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.mark.ray
def test_a_stale_current_cluster_file_is_not_followed(short_temp):
    (short_temp / "ray").mkdir()
    (short_temp / "ray" / "ray_current_cluster").write_text("127.0.0.1:59999")  # nobody listens there
    done = probe(short_temp)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "pe 2.0 stranger None nodes 1" in done.stdout


@pytest.mark.ray
def test_a_running_ray_start_cluster_is_not_joined(short_temp):
    ray_cli = str(Path(sys.executable).parent / "ray")
    env = {**os.environ, "RAY_TMPDIR": str(short_temp)}
    head = subprocess.Popen(
        [ray_cli, "start", "--head", "--block", "--port", "0", "--num-cpus", "1", "--resources", '{"stranger": 1}',
         "--include-dashboard", "false", "--disable-usage-stats"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 120
        while not (short_temp / "ray" / "ray_current_cluster").is_file() and time.monotonic() < deadline:
            time.sleep(0.5)
        assert (short_temp / "ray" / "ray_current_cluster").is_file(), "ray start did not come up"
        done = probe(short_temp)
        assert done.returncode == 0, done.stderr[-2000:]
        assert "pe 2.0 stranger None nodes 1" in done.stdout
    finally:
        os.killpg(head.pid, 15)
        head.wait(timeout=60)


RACE = """
import socket
import pe_actors.runtime.cluster as cluster

taken = socket.socket()
taken.bind(("127.0.0.1", 0))
taken.listen()
port = taken.getsockname()[1]
real = cluster._free_port
calls = []


def racing(host, preferred):
    # The race: the port was free when checked, and another process bound it before Ray did.
    calls.append(preferred)
    return port if len(calls) == 1 else real(host, preferred)


cluster._free_port = racing
url = cluster.start_ray(None, num_pe_slots=1, dashboard_port=port)
print("url", url, "taken", port, "calls", len(calls))
cluster.stop_ray()
"""


@pytest.mark.ray
def test_a_dashboard_port_taken_before_ray_binds_it_is_retried(short_temp):
    env = {**os.environ, "RAY_TMPDIR": str(short_temp)}
    done = subprocess.run([sys.executable, "-c", RACE], capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    words = done.stdout.split()
    url, taken, calls = words[words.index("url") + 1], words[words.index("taken") + 1], words[-1]
    assert url.startswith("http://127.0.0.1:") and not url.endswith(f":{taken}") and calls == "2"


def test_a_dashboard_that_fails_to_start_is_retried_and_nothing_of_the_failed_start_is_left():
    from types import SimpleNamespace

    from pe_actors.runtime import cluster

    calls, shutdowns = [], []

    def init(**options):
        calls.append(options["dashboard_port"])
        if len(calls) < 3:
            raise Exception("Failed to read dashboard.err" if len(calls) == 1 else "port 8265 already occupied")
        return SimpleNamespace(dashboard_url="127.0.0.1:1234")

    fake = SimpleNamespace(init=init, shutdown=lambda: shutdowns.append(True))
    context = cluster._start_local(fake, None, 4, "127.0.0.1", 8265)
    assert context.dashboard_url == "127.0.0.1:1234" and len(calls) == 3 and len(shutdowns) == 2

    def broken(**options):
        raise ValueError("the resources are wrong")

    shutdowns.clear()
    with pytest.raises(ValueError, match="resources are wrong"):
        cluster._start_local(SimpleNamespace(init=broken, shutdown=lambda: shutdowns.append(True)), None, 4,
                             "127.0.0.1", 8265)
    assert shutdowns == [True]
