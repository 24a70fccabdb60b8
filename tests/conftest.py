"""Fixtures shared by the test modules, among them the multi-host test bed (scripts/testbed.py): four emulated
hosts, each its own network and mount namespace, with a Ray cluster on them; skipped, naming why, where namespaces
cannot be made."""

from __future__ import annotations

import importlib.util
import json
import shutil
import sys
from pathlib import Path

import pytest


@pytest.fixture(scope="module")
def local_ray():
    """One local Ray with 12 ``pe`` slots for a module (reused if the session already started one)."""
    ray = pytest.importorskip("ray")
    from pe_actors.runtime.cluster import start_ray

    started = not ray.is_initialized()
    start_ray(None, num_pe_slots=12, dashboard_port=0)  # any free port: other Rays may run on the machine
    yield
    if started:
        ray.shutdown()


@pytest.fixture(scope="session")
def small_standin(tmp_path_factory):
    """The small offline stand-in, synthesised once per test session: (prepared feature directory, raw
    GSC-layout audio directory). Skipped where espeak-ng is missing."""
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed (scripts/setup.sh installs it)")
    from pe_actors_datasets import ensure_standin

    cache = tmp_path_factory.mktemp("standin")
    features = ensure_standin(cache, size="small")
    return features, cache / "gsc-synth-small-seed0"


ROOT = Path(__file__).resolve().parents[1]
PROBE = ROOT / "tests" / "testbed" / "probe_train.py"


def load_testbed():
    """scripts/testbed.py as a module (scripts/ is not a package)."""
    spec = importlib.util.spec_from_file_location("testbed", ROOT / "scripts" / "testbed.py")
    module = sys.modules["testbed"] = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def testbed_tool():
    """scripts/testbed.py, loaded as the module ``testbed``."""
    return load_testbed()


@pytest.fixture(scope="module")
def bed(testbed_tool):
    """Four hosts of 3 ``pe`` slots each (the head's included): three hold a run's groups, one is spare."""
    testbed = testbed_tool
    why = testbed.namespaces_unavailable()
    if why:
        pytest.skip(why)
    with testbed.TestBed(hosts=4, pe_per_host=3) as made:
        yield made


@pytest.fixture(scope="module")
def train_on_bed(bed, tmp_path_factory):
    """A function running tests/testbed/probe_train.py on the head host with the given settings (the run's
    options, ``kill_after_batch``) and returning its report: the hosts of every PE, what the dashboard lists,
    and the run compared with the same run on in-process PEs."""

    def train(**settings) -> dict:
        out = tmp_path_factory.mktemp("testbed-run")
        settings = {"address": bed.head_address, "out": str(out), **settings}
        done = bed.run(0, [sys.executable, str(PROBE), json.dumps(settings)], timeout=900, cwd=ROOT)
        if done.returncode != 0:
            raise AssertionError(f"the probe failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
        return json.loads(done.stdout.strip().splitlines()[-1])

    return train
