"""A local Ray started by pe-actors keeps every port on the loopback interface (metrics endpoint included)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

pytestmark = pytest.mark.ray

PROBE = r"""
import glob, json, os, time, urllib.request
from pe_actors.runtime.cluster import start_ray, stop_ray
start_ray(None, num_pe_slots=1, dashboard_port=0)
import ray
node = ray.nodes()[0]
time.sleep(3)

def descendants(root):
    parents = {}
    for stat in glob.glob("/proc/[0-9]*/stat"):
        try:
            fields = open(stat).read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents[int(stat.split("/")[2])] = int(fields[1])
    found, frontier = {root}, {root}
    while frontier:
        frontier = {pid for pid, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found

inodes = set()
for pid in descendants(os.getpid()):
    for fd in glob.glob(f"/proc/{pid}/fd/*"):
        try:
            link = os.readlink(fd)
        except OSError:
            continue
        if link.startswith("socket:["):
            inodes.add(link[8:-1])
listening = set()
for table in ("/proc/net/tcp", "/proc/net/tcp6"):
    for line in open(table).read().splitlines()[1:]:
        parts = line.split()
        if parts[3] == "0A" and parts[9] in inodes:  # 0A: LISTEN
            listening.add(parts[1].split(":")[0])
listening = sorted(listening)
port = node["MetricsExportPort"]
with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as answer:
    served = answer.status
print(json.dumps({"node": node["NodeManagerAddress"], "listening": listening, "metrics": served}))
stop_ray()
"""


def test_a_local_ray_binds_only_to_loopback():
    # A fresh interpreter: the loopback setting must be made before Ray is imported.
    result = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["node"] == "127.0.0.1"
    assert report["metrics"] == 200
    # Kernel hex of the listening addresses: 127.0.0.1 is 0100007F (IPv4) or ::ffff:127.0.0.1 (IPv6); the
    # wildcards 0.0.0.0 and :: are all zeros.
    loopback = {"0100007F", "0000000000000000FFFF00000100007F", "00000000000000000000000001000000"}
    assert report["listening"], "the probe found none of Ray's listening sockets"
    assert set(report["listening"]) <= loopback, report["listening"]


TOKEN_PROBE = r"""
import json, os, time, urllib.error, urllib.request
import numpy as np
from pe_actors.runtime.cluster import dashboard_hint, start_ray, stop_ray
url = start_ray(None, num_pe_slots=2, dashboard_port=0, job_name="pe-actors probe")
import ray
import pe_actors as pa
from pe_actors.engines.actors import ActorEngine

def status(headers):
    request = urllib.request.Request(url + "/api/v0/actors?detail=1", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=20) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, None

config = pa.NetworkConfig(n_in=4, n_rec=6, n_out=2, n_steps=5)
engine = ActorEngine(config, pa.init_params(config), pa.OptimiserConfig(), n_pes=2, record_metrics=False).start()
token = open(os.path.expanduser("~/.ray/auth_token")).read().strip()
without, _ = status({})
for _ in range(40):  # an actor reports its repr to the dashboard shortly after it started
    with_token, listing = status({"Authorization": f"Bearer {token}"})
    actors = listing["data"]["result"]["result"] if listing else []
    reprs = sorted(a.get("repr_name", "") for a in actors if a.get("name", "").startswith("pe-"))
    if all(reprs):
        break
    time.sleep(0.5)
request = urllib.request.Request(url + "/api/jobs/", headers={"Authorization": f"Bearer {token}"})
with urllib.request.urlopen(request, timeout=20) as answer:
    jobs = [job.get("metadata", {}).get("job_name") for job in json.loads(answer.read())]
engine.shutdown()
print(json.dumps({"hint": dashboard_hint(), "without": without, "with": with_token, "reprs": reprs, "jobs": jobs}))
stop_ray()
"""


def test_dashboard_asks_for_the_token_we_print_how_to_get(tmp_path):
    """A local Ray started by pe-actors uses token authentication without Ray's warning; the dashboard refuses a
    request without the token of ~/.ray/auth_token and answers with it; the hint names `ray get-auth-token`; the
    Actors view shows the PE actors' readable repr; the driver's job carries the run's name."""
    result = subprocess.run(
        [sys.executable, "-c", TOKEN_PROBE], cwd=tmp_path, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert "get-auth-token" in report["hint"]
    assert report["without"] == 401 and report["with"] == 200
    assert report["reprs"] == ["PE g0/p0: neurons 0-2, master", "PE g0/p1: neurons 3-5"]
    assert "pe-actors probe" in report["jobs"]
    assert "Token authentication is enabled for this Ray cluster" not in result.stderr
