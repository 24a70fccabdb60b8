"""Bad files give clear errors naming the file and what is wrong, never a traceback: a feature cache with broken
metadata or a truncated array, a checkpoint of another network size, a metrics log with a partial last line."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from click.testing import CliRunner

from pe_actors.core.checkpoint import latest_checkpoint, load_checkpoint
from pe_actors_launcher.cli import cli

QUICK = ["--rule", "eventprop", "--max-samples", "64", "--no-progress", "--checkpoint-every", "32"]


def run(*args):
    return CliRunner().invoke(cli, [str(arg) for arg in args], catch_exceptions=False)


@pytest.fixture(scope="module")
def tiny_cache(tmp_path_factory):
    """A complete feature cache written by hand in the prepared layout (no audio needed)."""
    from pe_actors_datasets import cache

    directory = tmp_path_factory.mktemp("cache")
    rng = np.random.default_rng(0)
    sizes = {"train": 6, "validation": 3, "test": 3}
    for split, n in sizes.items():
        features_path, labels_path = cache._feature_paths(directory, split)
        np.save(features_path, rng.standard_normal((n, 100, 80)).astype(np.float32))
        np.save(labels_path, rng.integers(0, 12, n))
    (directory / cache.METADATA).write_text(
        json.dumps({"sizes": sizes, "class_names": [str(i) for i in range(12)], "synthetic": True})
    )
    return directory


def test_a_cache_without_sizes_names_the_file(tiny_cache, tmp_path):
    from pe_actors_datasets import cache, load_prepared

    load_prepared(tiny_cache)  # the fixture itself loads
    broken = tmp_path / "nosizes"
    shutil.copytree(tiny_cache, broken)
    meta = json.loads((broken / cache.METADATA).read_text())
    del meta["sizes"]
    (broken / cache.METADATA).write_text(json.dumps(meta))
    with pytest.raises(ValueError, match=r"metadata.json lacks 'sizes'"):
        load_prepared(broken)
    result = run("train", "--data", broken, "--engine", "inprocess", "--no-progress", "--out", tmp_path / "r")
    assert result.exit_code == 2 and "lacks 'sizes'" in result.output and "Traceback" not in result.output


def test_a_truncated_features_file_is_named(tiny_cache, tmp_path):
    from pe_actors_datasets import cache, load_prepared

    broken = tmp_path / "truncated"
    shutil.copytree(tiny_cache, broken)
    features_path, _ = cache._feature_paths(broken, "train")
    data = features_path.read_bytes()
    features_path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match=rf"{features_path.name} is truncated or corrupt"):
        load_prepared(broken)


def test_resume_or_evaluate_of_a_checkpoint_of_another_size_is_a_clear_error(tmp_path):
    small = tmp_path / "small"
    assert run("train", *QUICK, "--epochs", "1", "--sizes", "5,16,3", "--out", small).exit_code == 0
    checkpoint = latest_checkpoint(small / "checkpoints")
    loaded = load_checkpoint(checkpoint)
    assert loaded.engine_state["w_0"].shape == (5, 16)
    # A checkpoint whose arrays disagree with its metadata: its network says 120 hidden neurons.
    from pe_actors.core.checkpoint import save_checkpoint

    meta = {k: v for k, v in loaded.meta.items() if k not in ("format", "version", "arrays")}
    meta["network"] = {**meta["network"], "sizes": [5, 120, 3]}
    meta["run_config"] = {**meta["run_config"], "sizes": "5,120,3"}
    save_checkpoint(tmp_path / "odd", "x", loaded.engine_state, loaded.trainer_arrays, meta)
    result = run("evaluate", "--checkpoint", tmp_path / "odd" / "ckpt-x")
    assert result.exit_code == 2, result.output
    assert "holds 'w_0' of shape (5, 16), but the network needs (5, 120)" in result.output
    result = run("train", "--resume", tmp_path / "odd" / "ckpt-x", "--epochs", "2", "--engine", "inprocess",
                 "--out", tmp_path / "again")
    assert result.exit_code == 2 and "holds 'w_0' of shape (5, 16)" in result.output, result.output


def test_a_partial_last_metrics_line_is_dropped_on_resume(tmp_path):
    out = tmp_path / "run"
    assert run("train", *QUICK, "--epochs", "1", "--out", out).exit_code == 0
    with open(out / "metrics.jsonl", "a") as handle:
        handle.write('{"kind": "batch", "global_sam')
    result = run("train", "--resume", out, "--epochs", "2", "--no-progress")
    assert result.exit_code == 0, result.output
    lines = (out / "metrics.jsonl").read_text().splitlines()
    assert all(json.loads(line) for line in lines)
    assert [json.loads(line)["epoch"] for line in lines if '"kind": "epoch"' in line] == [1, 2]


def test_sigterm_stops_training_like_ctrl_c_with_the_resume_hint(tmp_path):
    import os
    import signal
    import subprocess
    import sys
    import time
    from pathlib import Path

    out = tmp_path / "run"
    script = Path(sys.executable).parent / "pe-actors"  # the console script pip installed beside the interpreter
    command = [str(script), "train", *QUICK[:-2], "--epochs", "500", "--out", str(out)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               cwd=Path(__file__).resolve().parents[2])
    deadline = time.monotonic() + 60
    while not (out / "metrics.jsonl").exists() and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.1)
    assert process.poll() is None, process.communicate()
    os.kill(process.pid, signal.SIGTERM)
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode != 0
    assert f"continue this run with: pe-actors train --resume {out}" in stderr
    assert "Traceback" not in stderr


def test_nan_in_the_training_features_is_refused_before_anything_is_written(tiny_cache, tmp_path):
    from pe_actors_datasets import cache

    poisoned = tmp_path / "poisoned"
    shutil.copytree(tiny_cache, poisoned)
    features_path, _ = cache._feature_paths(poisoned, "train")
    features = np.load(features_path, mmap_mode="r+")
    features[4, 10, 3] = np.nan
    features.flush()
    del features
    out = tmp_path / "run"
    result = run("train", "--data", poisoned, "--engine", "inprocess", "--no-progress", "--out", out)
    assert result.exit_code == 2, result.output
    assert "train sample 4 holds NaN or Inf" in result.output and str(poisoned) in result.output
    assert not out.exists()
