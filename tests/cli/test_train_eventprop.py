"""``pe-actors train --rule eventprop`` and ``evaluate`` end to end: every engine, resume, the recipe defaults,
and options that do not fit the rule."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from pe_actors.core.checkpoint import latest_checkpoint, load_checkpoint
from pe_actors_launcher.cli import cli

QUICK = ["--rule", "eventprop", "--max-samples", "256", "--no-progress", "--checkpoint-every", "128"]


def run(*args):
    return CliRunner().invoke(cli, [str(arg) for arg in args], catch_exceptions=False)


def final_state(run_dir):
    return load_checkpoint(latest_checkpoint(run_dir / "checkpoints")).engine_state


def test_eventprop_trains_with_no_other_flag_than_the_rule(tmp_path):
    out = tmp_path / "run"
    result = run("train", *QUICK, "--epochs", "2", "--out", out)
    assert result.exit_code == 0, result.output
    assert "Training yinyang with eventprop on the offchip engine" in result.output
    line = [text for text in result.output.splitlines() if text.startswith("Test accuracy:")]
    accuracy = float(line[0].split()[2])
    assert 40.0 < accuracy <= 100.0
    assert "synthetic" not in line[0]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["run_config"]["rule"] == "eventprop" and summary["run_config"]["lr"] == 0.005
    assert (out / "curves.png").is_file()
    evaluated = run("evaluate", "--checkpoint", out)
    assert evaluated.exit_code == 0, evaluated.output
    assert "yin" in evaluated.output and "dot" in evaluated.output
    report = json.loads((out / "evaluation" / "evaluation.json").read_text())
    assert report["samples"] == 1000 and len(report["confusion_matrix"]) == 3


def test_resume_equals_an_uninterrupted_run(tmp_path):
    whole, split = tmp_path / "whole", tmp_path / "split"
    assert run("train", *QUICK, "--epochs", "2", "--out", whole).exit_code == 0
    assert run("train", *QUICK, "--epochs", "1", "--out", split).exit_code == 0
    resumed = run("train", "--resume", split, "--epochs", "2", "--no-progress")
    assert resumed.exit_code == 0, resumed.output
    a, b = final_state(whole), final_state(split)
    for key in a:
        np.testing.assert_array_equal(b[key], a[key], err_msg=key)


def test_pe_engine_equals_offchip_engine(tmp_path):
    offchip = tmp_path / "offchip"
    common = [*QUICK, "--epochs", "1", "--sub-batch", "8", "--max-samples", "64"]
    assert run("train", *common, "--out", offchip).exit_code == 0
    for schedule in ("pipelined", "layered"):
        pes = tmp_path / schedule
        result = run("train", *common, "--engine", "inprocess", "--pes", "2", "--schedule", schedule, "--out", pes)
        assert result.exit_code == 0, result.output
        a, b = final_state(offchip), final_state(pes)
        for key in a:
            np.testing.assert_allclose(b[key], a[key], rtol=1e-10, atol=1e-12, err_msg=key)


def test_finer_dt_and_other_sizes(tmp_path):
    out = tmp_path / "fine"
    result = run(
        "train", *QUICK, "--epochs", "1", "--max-samples", "32", "--dt", "0.5", "--sizes", "5,16,8,3", "--out", out
    )
    assert result.exit_code == 0, result.output
    network = load_checkpoint(latest_checkpoint(out / "checkpoints")).meta["network"]
    assert network["n_steps"] == 60 and network["sizes"] == [5, 16, 8, 3]
    coded = tmp_path / "coded"
    args = ["--t-code", "25", "--init-mean", "1.0,0.25", "--init-std", "1.0,0.3", "--tau0", "1.0"]
    result = run("train", *QUICK, "--epochs", "1", "--max-samples", "32", *args, "--out", coded)
    assert result.exit_code == 0, result.output
    network = load_checkpoint(latest_checkpoint(coded / "checkpoints")).meta["network"]
    assert network["t_code"] == 25.0 and network["init_mean"] == [1.0, 0.25] and network["init_std"] == [1.0, 0.3]
    assert network["tau0"] == 1.0
    resumed = run("train", "--resume", coded, "--epochs", "2", "--no-progress")
    assert resumed.exit_code == 0, resumed.output


def test_the_recipe_loss_is_recorded_and_silence_is_reported(tmp_path):
    out = tmp_path / "run"
    result = run("train", *QUICK, "--epochs", "1", "--out", out)
    assert result.exit_code == 0, result.output
    network = load_checkpoint(latest_checkpoint(out / "checkpoints")).meta["network"]
    assert network["loss_time"] == "crossing" and network["alpha_silent"] == 5.0 and network["t_code"] == 27.0
    epoch = json.loads((out / "summary.json").read_text())["final"]
    assert set(epoch["silence"]) == {"label_silent", "all_silent", "dead_hidden"}
    assert "label silent" in result.output and "dead hidden" in result.output
    assert "warning" not in result.output  # the recipe's silent label outputs at the start fall as it learns


@pytest.mark.parametrize("name", ["yinyang-eventprop", "yinyang-eventprop-fine"])
def test_the_recipes_by_name_train(tmp_path, name):
    out = tmp_path / name
    result = run("train", "--config", name, "--max-samples", "32", "--epochs", "1", "--no-progress", "--out", out)
    assert result.exit_code == 0, result.output
    network = load_checkpoint(latest_checkpoint(out / "checkpoints")).meta["network"]
    fine = name == "yinyang-eventprop-fine"
    assert network["loss_time"] == "crossing" and network["alpha_silent"] == 5.0
    assert network["alpha_hidden"] == (0.1 if fine else 0.0)
    assert network["sizes"] == ([5, 200, 3] if fine else [5, 120, 3])
    assert network["init_mean"] == ([1.5, 0.3] if fine else [1.5, 0.1])


def test_a_run_that_stays_silent_stops_naming_the_population_and_claims_no_accuracy(tmp_path):
    """Output weights that never let an output spike, and the paper's loss (no voltage term): every label output
    is silent and nothing learns; the run warns at the first epoch and stops after --dead-epochs, exiting non-zero
    without a test accuracy, its checkpoints kept."""
    out = tmp_path / "silent"
    args = ["--init-mean", "1.5,-1", "--init-std", "0.8,0.1", "--alpha-silent", "0", "--loss-time", "step"]
    result = run("train", *QUICK, "--epochs", "5", "--dead-epochs", "2", *args, "--out", out)
    assert result.exit_code != 0 and "Traceback" not in result.output
    warning = "warning: epoch 1: population 'output': 100.0 % of the validation samples have a label output that never"
    assert warning in result.output and "--alpha-silent 1" in result.output
    assert "the run stayed dead for 2 epochs (to epoch 2)" in result.output and "claiming no accuracy" in result.output
    assert "Test accuracy" not in result.output
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    epochs = [r for r in records if r.get("event", r.get("kind")) in ("epoch", None) and "silence" in r]
    assert [r["epoch"] for r in epochs] == [1, 2] and epochs[-1]["silence"]["all_silent"] == 1.0
    assert latest_checkpoint(out / "checkpoints") is not None
    warned = run("train", *QUICK, "--epochs", "1", "--dead-epochs", "0", *args, "--out", tmp_path / "warned")
    assert warned.exit_code == 0 and "warning: epoch 1" in warned.output and "Test accuracy" in warned.output


@pytest.mark.parametrize(
    "args, message",
    [
        (["--rule", "eventprop", "--loss-time", "late"], "'late' is not one of 'step', 'crossing'"),
        (["--rule", "eventprop", "--alpha-silent", "-1"], "--alpha-silent"),
        (["--alpha-silent", "1"], "--alpha-silent is an EventProp option"),
        (["--rule", "eventprop", "--network", "gsc"], "trains the network(s) ['shd', 'yinyang']"),
        (["--rule", "eventprop", "--engine", "replay"], "EventProp's off-chip engine is offchip"),
        (["--dt", "0.5"], "--dt is an EventProp option"),
        (["--rule", "eventprop", "--sizes", "5,x,3"], "comma-separated list of integers"),
        (["--rule", "eventprop", "--init-mean", "1.0"], "EventPropConfig.init_mean needs one value per weight matrix"),
        (["--t-code", "20"], "--t-code is an EventProp option"),
        (["--rule", "eventprop", "--dt", "40"], "EventPropConfig.n_steps must be at least 2"),
        (["--schedule", "layered"], "--schedule layered is EventProp's"),
    ],
)
def test_options_that_do_not_fit_the_rule_are_named(tmp_path, args, message):
    result = run("train", *args, "--out", tmp_path / "bad", "--no-progress")
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert "Traceback" not in result.output


def test_recipe_file_is_a_valid_run_config():
    recipe = Path(__file__).resolve().parents[2] / "configs" / "yinyang-eventprop.toml"
    result = run("train", "--config", str(recipe), "--help")
    assert result.exit_code == 0
