"""Fixtures shared by the test modules."""

from __future__ import annotations

import shutil

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
