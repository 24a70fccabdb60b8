"""Fixtures shared by the test modules."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="module")
def local_ray():
    """One local Ray with 12 ``pe`` slots for a module (reused if the session already started one)."""
    ray = pytest.importorskip("ray")
    from pe_actors_launcher.ray_session import start_ray

    started = not ray.is_initialized()
    start_ray(None, num_pe_slots=12)
    yield
    if started:
        ray.shutdown()
