"""A local Ray started by pe-actors keeps every port on the loopback interface (metrics endpoint included)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

pytestmark = pytest.mark.ray

PROBE = r"""
import glob, json, os, time, urllib.request
from pe_actors_launcher.ray_session import start_ray, stop_ray
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
