"""PE actors on Ray's multi-node test cluster on one machine (ray.cluster_utils.Cluster, nodes declaring ``pe``
slots): groups land on different nodes, their gradient averaging crosses nodes, results equal the in-process
engine's; a node removed mid-run is recovered like a killed PE, its group rebuilt on another node from the
surviving replica."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

pytestmark = pytest.mark.ray

PROBE = r"""
import json, time
import numpy as np
import ray
from ray.cluster_utils import Cluster
import pe_actors as pa
from pe_actors.engines.actors import ActorEngine
from pe_actors.runtime.cluster import PEGroupError

cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "resources": {"pe": 3}})
worker = cluster.add_node(num_cpus=1, resources={"pe": 3})
ray.init(address=cluster.address, log_to_driver=False)
config = pa.NetworkConfig(n_in=8, n_rec=12, n_out=3, n_steps=10)
params = pa.init_params(config, 1, np.float64)
opt = pa.OptimiserConfig()
reference = pa.InProcessEngine(config, params, opt, n_pes=3, sub_batch=2)
engine = ActorEngine(config, params, opt, n_pes=3, n_groups=2, sub_batch=2, record_metrics=False, barrier_timeout_s=20)
rng = np.random.default_rng(0)
batches = [((rng.random((4, 10, 8)) * 3), rng.integers(0, 3, 4)) for _ in range(4)]
for x, y in batches[:2]:
    reference.train_batch(x, y, 0.01); engine.train_batch(x, y, 0.01)
nodes = sorted({engine._node_of(g, 0) for g in range(2)})
diff = max(float(np.max(np.abs(engine.state()[k] - reference.state()[k]))) for k in reference.state())
spare = cluster.add_node(num_cpus=1, resources={"pe": 3})
victim = next(n for n in (worker, ) if n.node_id in nodes)
group_on_victim = [g for g in range(2) if engine._node_of(g, 0) == victim.node_id]
cluster.remove_node(victim)
start = time.perf_counter()
error = None
try:
    engine.train_batch(*batches[2], 0.01)
except PEGroupError as failure:
    error = str(failure)
    rebuilt = engine.recover()
    engine.train_batch(*batches[2], 0.01)
recovered_s = time.perf_counter() - start
reference.train_batch(*batches[2], 0.01)
engine.train_batch(*batches[3], 0.01); reference.train_batch(*batches[3], 0.01)
after = max(float(np.max(np.abs(engine.state()[k] - reference.state()[k]))) for k in reference.state())
replicas = [engine.replica_state(g) for g in range(2)]
same = all(np.array_equal(replicas[0][k], replicas[1][k]) for k in replicas[0])
print(json.dumps({"nodes": len(nodes), "diff": diff, "error": error, "rebuilt": rebuilt, "on_victim": group_on_victim,
                  "after": after, "replicas_equal": same, "recovered_s": recovered_s,
                  "new_node": engine._node_of(group_on_victim[0], 0) == spare.node_id}))
engine.shutdown(); ray.shutdown(); cluster.shutdown()
"""


def test_groups_on_two_nodes_equal_in_process_and_survive_a_removed_node(tmp_path):
    result = subprocess.run([sys.executable, "-c", PROBE], cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["nodes"] == 2  # one group per node: the averaging sums across nodes
    assert report["diff"] == 0.0  # float64, the same order of additions as the in-process engine
    assert report["on_victim"] and report["rebuilt"] == report["on_victim"]
    assert "died" in report["error"] and report["new_node"]
    assert report["after"] == 0.0 and report["replicas_equal"]
