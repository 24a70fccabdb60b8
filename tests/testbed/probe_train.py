"""Run on the test bed's head host: train the same run on PE actors spread over the hosts and on in-process PEs,
optionally killing one host of a group mid-run, and print what a test compares (one JSON line)."""

from __future__ import annotations

import importlib.util
import json
import sys
import time
import urllib.request
from collections import Counter
from pathlib import Path

import numpy as np

import pe_actors as pa
from pe_actors.core.checkpoint import latest_checkpoint, load_checkpoint
from pe_actors.training.trainer import Callback


class Hosts(Callback):
    """Records the host of each PE and what the dashboard lists at the start; after ``kill_after`` samples (when
    given) kills every process of the host of the first group not on the head (where this driver runs), as a
    machine losing power (``testbed``: scripts/testbed.py); records where the PEs are at the end."""

    def __init__(self, kill_after: int | None, testbed) -> None:
        self.kill_after, self.testbed = kill_after, testbed
        self.before: dict[int, str] = {}
        self.after: dict[int, str] = {}
        self.killed: dict = {}
        self.dashboard: dict = {}

    @staticmethod
    def placement(engine) -> dict[int, list[str]]:
        """The host address of each PE of each group."""
        import ray

        ips = {node["NodeID"]: node["NodeManagerAddress"] for node in ray.nodes() if node["Alive"]}
        return {g: [ips.get(engine._node_of(g, p), "dead") for p in range(len(engine.groups[g]))]
                for g in range(engine.n_groups)}

    def on_train_begin(self, trainer, state) -> None:
        self.before = self.placement(trainer.engine)
        self.dashboard = dashboard_view(trainer.engine)

    def on_batch_end(self, trainer, state, batch) -> None:
        if self.killed and "recovered_s" not in self.killed:
            # The batch after the kill: its failure found, the group rebuilt, the batch trained again.
            self.killed["recovered_s"] = time.perf_counter() - self.killed.pop("at")
        if self.kill_after is None or self.killed or state.global_samples < self.kill_after:
            return
        import ray

        head = ray.util.get_node_ip_address()
        victim = next(ips[0] for _, ips in sorted(self.before.items()) if head not in ips)
        bed = self.testbed.TestBed.load()
        host = next(h.index for h in bed.hosts if h.ip == victim)
        self.killed = {"host": victim, "processes": bed.kill(host), "at": time.perf_counter()}

    def on_train_end(self, trainer, state) -> None:
        self.after = self.placement(trainer.engine)


def dashboard_view(engine, patience_s: float = 60.0) -> dict:
    """What the head's dashboard lists (its HTTP API, as its pages read it): the live hosts, and this run's live
    PE actors per host address."""
    import ray

    head = ray.util.get_node_ip_address()
    token = (Path.home() / ".ray" / "auth_token").read_text().strip()

    def get(path: str) -> dict:
        request = urllib.request.Request(f"http://{head}:8265{path}", headers={"Authorization": f"Bearer {token}"})
        return json.loads(urllib.request.urlopen(request, timeout=30).read())["data"]

    expected = sum(len(group) for group in engine.groups)
    deadline = time.monotonic() + patience_s
    while True:
        nodes = {n["raylet"]["nodeId"]: n["raylet"]["nodeManagerAddress"] for n in get("/nodes?view=summary")["summary"]
                 if n["raylet"].get("state") == "ALIVE"}
        actors = [a for a in get("/api/v0/actors?limit=10000&detail=1")["result"]["result"]
                  if a["ray_namespace"] == engine.namespace and a["state"] == "ALIVE"]
        if len(actors) == expected or time.monotonic() > deadline:
            break
        time.sleep(1.0)
    per_host = Counter(nodes.get(actor["node_id"], "unknown") for actor in actors)
    classes = sorted({actor["class_name"] for actor in actors})
    return {"hosts": sorted(nodes.values()), "pe_actors": dict(per_host), "classes": classes}


def outcome(run) -> dict:
    """The run's per-batch train losses and its final engine state (weights, ADAM moments, devices)."""
    records = [json.loads(line) for line in (run.path / "metrics.jsonl").read_text().splitlines()]
    losses = [r["loss"] for r in records if r.get("kind") == "batch"]
    state = load_checkpoint(latest_checkpoint(run.path / "checkpoints")).engine_state
    return {"losses": losses, "state": state, "final": run.final}


def main() -> None:
    spec = importlib.util.spec_from_file_location("testbed", Path(__file__).parents[2] / "scripts" / "testbed.py")
    testbed = sys.modules["testbed"] = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(testbed)
    settings = json.loads(sys.argv[1])
    kill_after = settings.pop("kill_after_batch", None)
    rng = np.random.default_rng(0)
    n, steps, n_in = 40, 100, 80
    x = (rng.random((n, steps, n_in)) < 0.3).astype(np.float64)
    labels = rng.integers(0, 12, n)
    data = {"train": (x[:24], labels[:24]), "validation": (x[24:32], labels[24:32]), "test": (x[32:], labels[32:])}
    if settings.get("rule") == "eventprop":
        data = None  # Yin-Yang, generated
    hosts = Hosts(kill_after, testbed)
    out = Path(settings.pop("out"))
    address = settings.pop("address")
    actors = pa.train(data=data, engine="actors", address=address, out=out / "actors", progress=False,
                      log_every=1, callbacks=[hosts], **settings)
    settings.pop("transport", None)
    inprocess = pa.train(data=data, engine="inprocess", out=out / "inprocess", progress=False, log_every=1, **settings)
    a, b = outcome(actors), outcome(inprocess)
    print(json.dumps({
        "hosts_before": hosts.before,
        "hosts_after": hosts.after,
        "killed": hosts.killed,
        "dashboard": hosts.dashboard,
        "batches": len(a["losses"]),
        "losses_equal": a["losses"] == b["losses"],
        "state_keys": sorted(a["state"]),
        "state_max_diff": max(float(np.max(np.abs(a["state"][k] - b["state"][k]))) for k in b["state"]),
        "final": [a["final"].get("test_accuracy"), b["final"].get("test_accuracy")],
    }))


if __name__ == "__main__":
    main()
