"""pe-actors tune: a 2-trial Ray Tune search on the EventProp off-chip engine, whose best run config train
accepts; bad search-space files name the file and the key."""

from __future__ import annotations

import csv
import tomllib

import pytest
from click.testing import CliRunner

from pe_actors_launcher.cli import cli

SPACE = """
rule = "eventprop"
[space]
lr = { loguniform = [0.002, 0.02] }
tau0 = { choice = [0.5, 1.0] }
[fixed]
epochs = 2
max-samples = 512
"""


def run(*args: object):
    return CliRunner().invoke(cli, [str(arg) for arg in args], catch_exceptions=False)


@pytest.mark.ray
def test_a_two_trial_search_writes_the_table_and_a_run_config_train_accepts(tmp_path):
    space = tmp_path / "space.toml"
    space.write_text(SPACE)
    out = tmp_path / "tune"
    result = run("tune", "--space", space, "--trials", "2", "--scheduler", "fifo", "--out", out)
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader((out / "tune.csv").open()))
    assert len(rows) == 2 and all(row["epochs"] == "2" for row in rows)
    assert 0.002 <= min(float(r["lr"]) for r in rows) and max(float(r["lr"]) for r in rows) <= 0.02
    assert {r["tau0"] for r in rows} <= {"0.5", "1.0"}
    best = max(rows, key=lambda r: float(r["validation_accuracy"]))
    config = tomllib.loads((out / "best.toml").read_text())
    assert config["rule"] == "eventprop" and config["lr"] == pytest.approx(float(best["lr"]))
    assert (out / "tune.png").read_bytes()[:4] == b"\x89PNG"
    again = run("train", "--config", out / "best.toml", "--epochs", "1", "--out", tmp_path / "best", "--no-progress")
    assert again.exit_code == 0, again.output
    assert "Training yinyang with eventprop" in again.output and "Test accuracy:" in again.output


@pytest.mark.parametrize(
    "text, message",
    [
        ('[space]\nlr = { normal = [0, 1] }', "[space] lr must be one of"),
        ('[space]\nlrr = { uniform = [0, 1] }', "[space] key 'lrr': not a pe-actors train option"),
        ('[space]\nlr = { uniform = [0.1, 1] }\n[fixed]\nout = "x"', "[fixed] key 'out': the trial sets it"),
        ('[space]\nlr = { loguniform = [0, 1] }', "loguniform needs 0 < a < b"),
        ("[fixed]\nepochs = 2", "the [space] table is empty"),
        ('rule = "hebb"\n[space]\nlr = { uniform = [0.1, 1] }', "rule must be one of ['eprop', 'bptt', 'eventprop'"),
        # [fixed] values are checked like train's options, before Ray starts.
        ('[space]\nlr = { uniform = [0.1, 1] }\n[fixed]\nepochs = "many"', "[fixed]: epochs must be an integer"),
        ("[space]\nlr = { uniform = [0.1, 1] }\n[fixed]\nepochs = 0", "[fixed]: epochs must lie in"),
        ("[space]\nlr = { uniform = [0.1, 1] }\n[fixed]\nl2 = 1e400", "[fixed]: l2 must be a finite number"),
    ],
)
def test_bad_search_spaces_name_the_file_and_key(tmp_path, text, message):
    space = tmp_path / "space.toml"
    space.write_text(text)
    result = run("tune", "--space", space, "--out", tmp_path / "out")
    assert result.exit_code == 2 and message in result.output and str(space) in result.output, result.output


DIVERGING = """
rule = "eprop"
[space]
lr = { choice = [0.01, 1e30] }
[fixed]
epochs = 1
max-samples = 64
"""


@pytest.mark.ray
def test_diverging_trials_end_as_failed_and_the_search_goes_on(tmp_path, small_standin):
    space = tmp_path / "space.toml"
    space.write_text(DIVERGING)
    out = tmp_path / "tune"
    result = run("tune", "--space", space, "--trials", "4", "--scheduler", "fifo", "--data", small_standin[0],
                 "--out", out)
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader((out / "tune.csv").open()))
    assert len(rows) == 4 and {row["status"] for row in rows} == {"failed", "finished"}
    for row in rows:
        diverging = float(row["lr"]) == 1e30
        assert (row["status"] == "failed") == diverging and ("non-finite" in row["error"]) == diverging
    assert "trials failed" in result.output and (out / "best.toml").is_file()
