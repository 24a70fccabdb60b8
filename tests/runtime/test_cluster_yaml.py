"""cluster.yaml passes Ray's own cluster-launcher validation, offline, and declares the ``pe`` resource."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

pytest.importorskip("jsonschema")
from ray.autoscaler._private.util import prepare_config, validate_config  # noqa: E402

CLUSTER_YAML = Path(__file__).resolve().parents[2] / "cluster.yaml"


def test_cluster_yaml_is_accepted_by_rays_validator():
    config = yaml.safe_load(CLUSTER_YAML.read_text())
    prepared = prepare_config(config)
    validate_config(prepared)
    workers = prepared["available_node_types"]["pe_worker"]
    assert workers["resources"]["pe"] >= 12, "a worker must hold at least one group of 12 PEs"
    assert prepared["max_workers"] * workers["resources"]["pe"] >= 1200, "the paper's batch-100 layout must fit"
    assert any('"pe"' in command for command in prepared["worker_start_ray_commands"])
    assert any("pip install -e ~/pe-actors" in command for command in prepared["setup_commands"])


def test_a_broken_cluster_yaml_is_rejected():
    config = yaml.safe_load(CLUSTER_YAML.read_text())
    config["head_node_type"] = "no_such_type"
    with pytest.raises(ValueError, match="head_node_type"):
        validate_config(prepare_config(config))
