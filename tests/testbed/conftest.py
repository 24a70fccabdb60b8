"""The multi-host test bed (scripts/testbed.py) as a fixture: four emulated hosts, each its own network and mount
namespace, with a Ray cluster on them; skipped, naming why, where namespaces cannot be made."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PROBE = Path(__file__).with_name("probe_train.py")


def load_testbed():
    """scripts/testbed.py as a module (scripts/ is not a package)."""
    spec = importlib.util.spec_from_file_location("testbed", ROOT / "scripts" / "testbed.py")
    module = sys.modules["testbed"] = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="package")
def bed():
    """Four hosts of 3 ``pe`` slots each (the head's included): three hold a run's groups, one is spare."""
    testbed = load_testbed()
    why = testbed.namespaces_unavailable()
    if why:
        pytest.skip(why)
    with testbed.TestBed(hosts=4, pe_per_host=3) as made:
        yield made


@pytest.fixture(scope="package")
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
