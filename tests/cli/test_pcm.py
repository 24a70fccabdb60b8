"""``train --synapses``, ``evaluate --after``, ``pcm sweep`` and ``pcm drift`` end to end on the small stand-in:
exact resume of a PCM run, writes in metrics.jsonl, evaluation of the devices after drift, bad values."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from click.testing import CliRunner

from pe_actors.core.checkpoint import latest_checkpoint, load_checkpoint
from pe_actors_launcher.cli import cli

TINY = ["--pes", "2", "--sub-batch", "4", "--max-samples", "8", "--no-progress", "--checkpoint-every", "4"]
PCM = ["--synapses", "pcm", "--bits", "4", "--drift-compensation", "--sample-seconds", "30"]


@pytest.fixture(scope="module")
def standin(small_standin):
    """The small offline stand-in's prepared feature directory."""
    return small_standin[0]


def run(*args: object):
    return CliRunner().invoke(cli, [str(arg) for arg in args], catch_exceptions=False)


def final_state(run_dir) -> dict[str, np.ndarray]:
    return load_checkpoint(latest_checkpoint(run_dir / "checkpoints")).engine_state


def records(run_dir, kind: str) -> list[dict]:
    lines = (run_dir / "metrics.jsonl").read_text().splitlines()
    return [record for record in map(json.loads, lines) if record["kind"] == kind]


def test_a_resumed_pcm_run_ends_with_the_uninterrupted_devices(standin, tmp_path):
    """Two epochs in one go and one epoch then --resume end with identical weights, ADAM state and device state
    (conductances, drift exponents, programming times, write counts, device time)."""
    whole, split = tmp_path / "whole", tmp_path / "split"
    common = ["--engine", "inprocess", "--data", standin, *TINY, *PCM, "--log-every", "1"]
    assert run("train", "--epochs", "2", "--out", whole, *common).exit_code == 0
    first = run("train", "--epochs", "1", "--out", split, *common)
    assert first.exit_code == 0, first.output
    assert "pcm synapses, 4 bits per device" in first.output
    resumed = run("train", "--resume", split, "--epochs", "2", "--no-progress")
    assert resumed.exit_code == 0, resumed.output
    a, b = final_state(whole), final_state(split)
    assert sorted(a) == sorted(b) and "g_pos_w_rec" in a and "tprog_neg_w_out" in a and "clock_s" in a
    for key in a:
        np.testing.assert_array_equal(b[key], a[key], err_msg=key)
    assert float(a["clock_s"]) == 2 * 8 * 30.0
    batch = records(whole, "batch")
    assert all(r["writes_per_step"] >= 0 for r in batch[1:])
    assert records(whole, "epoch")[-1]["device_writes"] == batch[-1]["device_writes"] > 0
    digital = tmp_path / "digital"
    assert (
        run("train", "--epochs", "1", "--out", digital, "--engine", "inprocess", "--data", standin, *TINY).exit_code
        == 0
    )
    assert not any("device_writes" in r for r in records(digital, "batch") + records(digital, "epoch"))


def test_evaluate_reads_the_devices_after_drift(standin, tmp_path):
    out = tmp_path / "pcm"
    assert (
        run("train", "--epochs", "1", "--out", out, "--engine", "replay", "--data", standin, *TINY, *PCM).exit_code == 0
    )
    checkpoint = latest_checkpoint(out / "checkpoints")
    trained = records(out, "epoch")[-1]["test_accuracy"]
    now = run("evaluate", "--checkpoint", checkpoint, "--data", standin, "--out", tmp_path / "now")
    assert now.exit_code == 0, now.output
    assert "Read from pcm synapses" in now.output
    # At 0 s the devices are read exactly as training read them for its test score.
    assert json.loads((tmp_path / "now" / "evaluation.json").read_text())["accuracy"] == trained
    later = run("evaluate", "--checkpoint", checkpoint, "--data", standin, "--after", 2.6e6, "--out", tmp_path / "l")
    assert later.exit_code == 0, later.output
    report = json.loads((tmp_path / "l" / "evaluation.json").read_text())
    assert report["after_s"] == 2.6e6 and report["synapses"]["kind"] == "pcm" and 0 <= report["accuracy"] <= 1
    bad = run("evaluate", "--checkpoint", checkpoint, "--data", standin, "--after", -1)
    assert bad.exit_code == 2 and "--after" in bad.output


def test_pcm_sweep_and_drift_reports(standin, tmp_path):
    """Two seeds of float32 and 2-bit quantised and PCM: the table holds their mean and spread, each run is a run
    directory that a second sweep reuses; the drift report of both PCM models averages them."""
    out = tmp_path / "sweep"
    args = ["pcm", "sweep", "--bits", "32,2", "--seeds", "0,1", "--epochs", "1", "--max-samples", "8"]
    result = run(*args, "--data", standin, "--out", out, "--no-progress")
    assert result.exit_code == 0, result.output
    table = list(csv.DictReader((out / "pcm-sweep.csv").open()))
    assert [(r["synapses"], r["bits"], r["n"]) for r in table] == [
        ("digital", "32", "2"),
        ("quantised", "2", "2"),
        ("pcm", "2", "2"),
    ]
    runs = list(csv.DictReader((out / "pcm-sweep-runs.csv").open()))
    assert len(runs) == 6
    pcm = [float(r["test_accuracy"]) for r in runs if r["synapses"] == "pcm"]
    assert float(table[2]["test_accuracy"]) == pytest.approx(np.mean(pcm))
    assert float(table[2]["test_accuracy_sd"]) == pytest.approx(np.std(pcm, ddof=1))
    assert table[0]["writes_per_synapse"] == "" and float(table[2]["writes_per_synapse"]) >= 2.0
    assert (out / "pcm-sweep.png").read_bytes()[:4] == b"\x89PNG"
    again = run(*args, "--data", standin, "--out", out, "--no-progress")
    assert again.exit_code == 0 and again.output.count("reusing the finished run") == 6
    models = [out / "runs" / f"seed{s}" / "pcm-2bit" for s in (0, 1)]
    drift = run("pcm", "drift", "--checkpoint", models[0], "--checkpoint", models[1], "--data", standin,
                "--repeats", "2", "--out", tmp_path / "drift")
    assert drift.exit_code == 0, drift.output
    table = list(csv.DictReader((tmp_path / "drift" / "pcm-drift.csv").open()))
    assert len(table) == 12 and {r["time"] for r in table} >= {"1 s", "1 day", "1 month"}
    assert all(r["n"] == "2" for r in table)
    assert len(list(csv.DictReader((tmp_path / "drift" / "pcm-drift-models.csv").open()))) == 24
    plain = {r["time"]: r for r in table if r["compensation"] == "False"}
    compensated = {r["time"]: r for r in table if r["compensation"] == "True"}
    # Compensation against the end-of-training reads changes nothing at 0 s.
    assert plain["0 s"]["accuracy"] == compensated["0 s"]["accuracy"]
    refused = run("pcm", "drift", "--checkpoint", out / "runs" / "seed0" / "float32", "--data", standin)
    assert refused.exit_code == 2 and "digital synapses, not pcm" in refused.output


@pytest.mark.parametrize(
    "args, message",
    [
        (["--synapses", "pcm", "--bits", "0"], "Invalid value for '--bits'"),
        (["--synapses", "pcm", "--bits", "17"], "Invalid value for '--bits'"),
        (["--synapses", "pcm", "--prog-noise", "-1"], "Invalid value for '--prog-noise'"),
        (["--synapses", "pcm", "--read-noise", "nan"], "Invalid value for '--read-noise'"),
        (["--synapses", "pcm", "--g-max", "0"], "Invalid value for '--g-max'"),
        (["--synapses", "quantised", "--drift", "0.5"], "--drift applies to --synapses pcm, not quantised"),
        (["--bits", "4"], "--bits applies to --synapses quantised or pcm, not digital"),
        (["--rule", "eventprop", "--synapses", "pcm"], "the eventprop rule trains digital weights"),
        (["--rule", "bptt", "--synapses", "quantised"], "the bptt rule trains digital weights"),
    ],
)
def test_bad_device_options_name_the_option(tmp_path, args, message):
    result = run("train", *args, "--out", tmp_path / "run")
    assert result.exit_code == 2 and message in result.output, result.output
    assert not (tmp_path / "run").exists()
