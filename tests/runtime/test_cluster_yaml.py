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


ONPREM_YAML = Path(__file__).resolve().parents[2] / "cluster-onprem.yaml"


def test_onprem_cluster_yaml_is_accepted_by_rays_validator():
    """The on-premise file, with its placeholders filled in as a user would, passes Ray's validation of the
    "local" provider; every worker is started, declaring the ``pe`` resource, and the head holds no PE."""
    text = ONPREM_YAML.read_text()
    for placeholder in ("HEAD_IP", "WORKER_IP_1", "WORKER_IP_2", "USER", "PE_PER_WORKER"):
        assert placeholder in text, placeholder
    filled = (
        text.replace("WORKER_IP_1", "10.0.0.2")
        .replace("WORKER_IP_2", "10.0.0.3")
        .replace("HEAD_IP", "10.0.0.1")
        .replace("ssh_user: USER", "ssh_user: researcher")
        .replace("PE_PER_WORKER", "12")
    )
    prepared = prepare_config(yaml.safe_load(filled))
    validate_config(prepared)
    assert prepared["provider"]["type"] == "local"
    workers = [t for t in prepared["available_node_types"].values() if t.get("max_workers")]
    assert workers and workers[0]["min_workers"] == workers[0]["max_workers"] == 2
    assert any("--resources='{\"pe\": 12}'" in command for command in prepared["worker_start_ray_commands"])
    assert any("--resources='{\"pe\": 0}'" in command for command in prepared["head_start_ray_commands"])
    assert any("pip install -e ~/pe-actors" in command for command in prepared["setup_commands"])
