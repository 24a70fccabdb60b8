"""``pe-actors train`` and ``pe-actors evaluate`` end to end with CliRunner on the small stand-in (issues 4 and 6)."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from pe_actors.core.checkpoint import latest_checkpoint, list_checkpoints, load_checkpoint
from pe_actors.run.config import read_toml
from pe_actors_launcher.cli import cli

CONFIG_DIR = Path(__file__).resolve().parents[2] / "configs"

TINY = ["--pes", "2", "--sub-batch", "4", "--max-samples", "8", "--no-progress", "--checkpoint-every", "4"]


@pytest.fixture(scope="module")
def standin(small_standin):
    """The small offline stand-in: (prepared feature directory, raw GSC-layout audio directory)."""
    return small_standin


def run(*args: str) -> object:
    result = CliRunner().invoke(cli, [str(arg) for arg in args], catch_exceptions=False)
    return result


def epoch_records(run_dir) -> list[dict]:
    lines = (run_dir / "metrics.jsonl").read_text().splitlines()
    return [record for record in map(json.loads, lines) if record["kind"] == "epoch"]


def final_state(run_dir) -> dict[str, np.ndarray]:
    return load_checkpoint(latest_checkpoint(run_dir / "checkpoints")).engine_state


def test_train_inprocess_end_to_end(standin, tmp_path):
    data, _ = standin
    out = tmp_path / "run"
    result = run("train", "--engine", "inprocess", "--epochs", "2", "--data", data, "--out", out, *TINY)
    assert result.exit_code == 0, result.output
    assert "Test accuracy:" in result.output and "(synthetic stand-in data) at epoch" in result.output
    # --no-progress hides the bars (and stderr is no terminal here), not the line of each epoch.
    assert "epoch 1: train acc" in result.output and "epoch 2: train acc" in result.output
    records = epoch_records(out)
    assert [r["epoch"] for r in records] == [1, 2]
    for record in records:
        for split in ("train", "validation", "test"):
            assert 0 <= record[f"{split}_accuracy"] <= 1 and np.isfinite(record[f"{split}_loss"])
    assert (out / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert json.loads((out / "curves.json").read_text())[-1]["epoch"] == 2
    summary = json.loads((out / "summary.json").read_text())
    assert summary["synthetic"] is True and summary["final"]["test_accuracy"] == records[-1]["test_accuracy"]
    recorded = tomllib.loads((out / "run-config.toml").read_text())  # a table per section
    assert recorded["placement"]["engine"] == "inprocess" and recorded["placement"]["sub-batch"] == 4
    assert recorded["data"]["max-samples"] == 8
    # One rule everywhere: the run's result is its best-validation epoch (the latest on ties), which train prints
    # last and evaluate picks.
    best = max(reversed(records), key=lambda r: r["validation_accuracy"])
    assert result.output.strip().splitlines()[-1].startswith(f"Test accuracy: {100 * best['test_accuracy']:.2f} %")
    assert summary["best_validation"] == {k: v for k, v in best.items() if k not in ("kind", "time")}
    evaluated = run("evaluate", "--checkpoint", out, "--data", data, "--out", tmp_path / "evaluation")
    assert evaluated.exit_code == 0, evaluated.output
    assert json.loads((tmp_path / "evaluation" / "evaluation.json").read_text())["accuracy"] == best["test_accuracy"]
    checkpoint = load_checkpoint(latest_checkpoint(out / "checkpoints"))
    assert checkpoint.meta["epoch"] == 2 and checkpoint.meta["synthetic"] is True
    assert checkpoint.meta["class_names"][-2:] == ["silence", "unknown"]
    assert "normalisation" in checkpoint.meta["data_metadata"]


def test_resume_from_the_command_line_matches_an_uninterrupted_run(standin, tmp_path):
    """One epoch, then --resume to two epochs (with the engine switched to replay, which a resumed run may do),
    equals two epochs in one go to 1e-6; a conflicting option is refused."""
    data, _ = standin
    whole, split = tmp_path / "whole", tmp_path / "split"
    common = ["--data", data, *TINY]
    assert run("train", "--engine", "inprocess", "--epochs", "2", "--out", whole, *common).exit_code == 0
    assert run("train", "--engine", "inprocess", "--epochs", "1", "--out", split, *common).exit_code == 0
    again = run("train", "--out", split, "--epochs", "1", *common)
    assert again.exit_code == 2 and "already holds checkpoints" in again.output
    conflict = run("train", "--resume", split, "--epochs", "2", "--lr", "0.5")
    assert conflict.exit_code == 2 and "--lr" in conflict.output
    resumed = run("train", "--resume", split, "--epochs", "2", "--engine", "replay", "--no-progress")
    assert resumed.exit_code == 0, resumed.output
    assert "Resumed from" in resumed.output
    a, b = final_state(whole), final_state(split)
    for key in a:
        np.testing.assert_allclose(b[key], a[key], atol=1e-6, rtol=0, err_msg=key)
    assert [r["epoch"] for r in epoch_records(split)] == [1, 2]


def test_resume_on_features_of_another_hash_is_refused(standin, tmp_path):
    """A checkpoint remembers the hash of the features it trained on: resuming on others (here the same folder
    rebuilt from other inputs, as a stand-in of a newer recipe would be) is refused, naming --resume."""
    import shutil

    data = tmp_path / "features"
    shutil.copytree(standin[0], data)
    run_dir = tmp_path / "run"
    assert run("train", "--engine", "replay", "--epochs", "1", "--data", data, "--out", run_dir, *TINY).exit_code == 0
    metadata = json.loads((data / "metadata.json").read_text())
    metadata["hash"] = "0" * 64
    (data / "metadata.json").write_text(json.dumps(metadata))
    resumed = run("train", "--resume", run_dir, "--epochs", "2", "--no-progress")
    assert resumed.exit_code == 2 and "--resume" in resumed.output and "hash" in resumed.output, resumed.output


def test_run_config_file_values_are_converted_and_flags_win(standin, tmp_path):
    data, _ = standin
    config = tmp_path / "run.toml"
    config.write_text(f'engine = "replay"\nepochs = "1"\nsub_batch = 2\nlr = 1\ndata = "{data}"\nmax-samples = 4\n')
    out = tmp_path / "run"
    result = run("train", "--config", config, "--sub-batch", "4", "--out", out, "--no-progress")
    assert result.exit_code == 0, result.output
    recorded = read_toml(out / "run-config.toml")
    assert recorded["engine"] == "replay" and recorded["epochs"] == 1 and recorded["sub_batch"] == 4
    assert recorded["lr"] == 1.0
    reuse = run("train", "--config", out / "run-config.toml", "--out", tmp_path / "again", "--no-progress")
    assert reuse.exit_code == 0, reuse.output
    np.testing.assert_array_equal(final_state(out)["w_rec"], final_state(tmp_path / "again")["w_rec"])


def test_bad_run_configs_give_clear_errors(tmp_path):
    unknown = tmp_path / "unknown.toml"
    unknown.write_text("epochs = 2\nlearning_rate = 0.1\n")
    result = run("train", "--config", unknown)
    assert result.exit_code == 2 and "unknown key(s) ['learning-rate']" in result.output
    bad_type = tmp_path / "bad.toml"
    bad_type.write_text('epochs = "many"\n')
    result = run("train", "--config", bad_type, "--out", tmp_path / "run")
    assert result.exit_code == 2 and "many" in result.output
    broken = tmp_path / "broken.toml"
    broken.write_text("epochs = = 2\n")
    result = run("train", "--config", broken)
    assert result.exit_code == 2 and "cannot read run config" in result.output
    result = run("train", "--config", "no-such-recipe")
    assert result.exit_code == 2 and "gsc-paper-batch100" in result.output


@pytest.mark.parametrize(
    "line, message",
    [
        ("epochs = 1.99", "epochs must be an integer, got 1.99"),
        ("sub-batch = 40.7", "sub-batch must be an integer, got 40.7"),
        ("epochs = true", "epochs must be an integer, got True"),
        ("lr = true", "lr must be a number, got True"),
        ("progress = 1", "progress must be true or false, got 1"),
    ],
)
def test_run_config_values_click_would_convert_silently_are_errors(tmp_path, line, message):
    path = tmp_path / "typed.toml"
    path.write_text(line + "\n")
    result = run("train", "--config", path, "--out", tmp_path / "run")
    assert result.exit_code == 2, result.output
    assert str(path) in result.output and message in result.output
    assert not (tmp_path / "run").exists()


def test_recipes_hold_the_papers_settings_and_the_config_files_hold_the_recipes():
    from pe_actors.run.config import all_recipes, plain, read_toml, recipe

    names = sorted(path.stem for path in CONFIG_DIR.glob("*.toml"))
    assert names == sorted(all_recipes())
    for name in names:
        # The user-facing example files load into the library's recipes, key for key (tuples as a TOML file
        # writes them, "1.5,0.1").
        assert read_toml(CONFIG_DIR / f"{name}.toml") == {k: plain(v) for k, v in recipe(name).items()}, name
        result = run("train", "--config", name, "--help")
        assert result.exit_code == 0, result.output
    paper = recipe("gsc-paper-batch100")
    assert paper["groups"] * paper["sub_batch"] == 100
    assert (paper["lr"], paper["l2"], paper["lr_decay"], paper["decay_every"], paper["epochs"]) == (
        0.01,
        0.05e-5,
        0.3,
        6,
        30,
    )
    chip = recipe("gsc-chip-batch1")
    assert chip["groups"] * chip["sub_batch"] == 1 and chip["lr"] == 0.001 and chip["pes"] == 12


def test_bptt_rule_trains_and_evaluate_reports(standin, tmp_path):
    data, gsc_dir = standin
    out = tmp_path / "bptt"
    result = run("train", "--rule", "bptt", "--epochs", "1", "--data", data, "--out", out, *TINY)
    assert result.exit_code == 0, result.output
    assert load_checkpoint(list_checkpoints(out / "checkpoints")[-1]).meta["run_config"]["rule"] == "bptt"

    evaluation = run("evaluate", "--checkpoint", out, "--data", data)
    assert evaluation.exit_code == 0, evaluation.output
    assert "Accuracy:" in evaluation.output and "synthetic" in evaluation.output
    report = json.loads((out / "evaluation" / "evaluation.json").read_text())
    matrix = np.array(report["confusion_matrix"])
    assert matrix.shape == (12, 12) and matrix.sum() == report["samples"] == 39
    assert report["accuracy"] == pytest.approx(np.trace(matrix) / matrix.sum())
    assert set(report["per_class_recall"]) == set(report["class_names"])
    assert (out / "evaluation" / "confusion.png").read_bytes()[:4] == b"\x89PNG"

    raw = run("evaluate", "--checkpoint", out, "--gsc-dir", gsc_dir, "--out", tmp_path / "raw")
    assert raw.exit_code == 0, raw.output
    assert json.loads((tmp_path / "raw" / "evaluation.json").read_text())["samples"] > 0

    both = run("evaluate", "--checkpoint", out, "--data", data, "--gsc-dir", gsc_dir)
    assert both.exit_code == 2 and "not both" in both.output
    (tmp_path / "foreign").mkdir()
    foreign = run("evaluate", "--checkpoint", tmp_path / "foreign", "--data", data)
    assert foreign.exit_code == 2 and "holds no pe-actors checkpoint" in foreign.output


@pytest.mark.ray
def test_train_with_the_actor_engine(standin, tmp_path):
    data, _ = standin
    out = tmp_path / "actors"
    args = ["--engine", "actors", "--groups", "1", "--epochs", "1", "--data", data, "--out", out, *TINY]
    result = run("train", *args)
    assert result.exit_code == 0, result.output
    assert "Ray dashboard: http://127.0.0.1:" in result.output
    assert "Test accuracy:" in result.output
    reference = tmp_path / "inprocess"
    args = ["--engine", "inprocess", "--epochs", "1", "--data", data, "--out", reference, *TINY]
    assert run("train", *args).exit_code == 0
    a, b = final_state(out), final_state(reference)
    for key in a:
        np.testing.assert_allclose(a[key], b[key], atol=1e-5, rtol=0, err_msg=key)


def test_main_job_config_matches_the_command_defaults():
    from pe_actors.run.config import RunConfig, recipe
    from pe_actors_launcher.train import train

    defaults = train.make_context("train", []).params
    for name in RunConfig.names():
        # The option's default, checked as a setting (a comma-separated string becomes a tuple of names).
        assert getattr(RunConfig(), name) == getattr(RunConfig(**{name: defaults[name]}), name), name
    for key, value in recipe("main").items():
        assert defaults[key] == value, key


def test_curves_overlays_runs_and_writes_png_and_csv(tmp_path):
    for name, shift in (("eprop", 0.0), ("bptt", 0.01)):
        run_dir = tmp_path / name
        run_dir.mkdir()
        lines = [json.dumps({"kind": "batch", "epoch": 1, "global_samples": 5, "loss": 2.0, "accuracy": 0.1})]
        for epoch in (1, 2, 3):
            record = {"kind": "epoch", "epoch": epoch, "lr": 0.01}
            for split in ("train", "validation", "test"):
                record[f"{split}_accuracy"] = 0.2 * epoch + shift
                record[f"{split}_loss"] = 2.0 / epoch
            lines.append(json.dumps(record))
        (run_dir / "metrics.jsonl").write_text("\n".join(lines) + "\n")
    out = tmp_path / "report"
    result = run("curves", tmp_path / "eprop", tmp_path / "bptt", "--out", out)
    assert result.exit_code == 0, result.output
    assert "eprop" in result.output and "61.00" in result.output
    assert (out / "curves.png").read_bytes()[:4] == b"\x89PNG"
    rows = (out / "curves.csv").read_text().splitlines()
    assert rows[0].startswith("run,epoch,lr,train_samples_per_s,train_accuracy") and len(rows) == 1 + 6
    (tmp_path / "empty").mkdir()
    result = run("curves", tmp_path / "empty", "--out", out)
    assert result.exit_code == 2 and "metrics.jsonl does not exist" in result.output


@pytest.mark.parametrize(
    "args, message",
    [
        (["--lr", "nan"], "Invalid value for '--lr': 'nan' is not a finite number"),
        (["--l2", "inf"], "Invalid value for '--l2': 'inf' is not a finite number"),
        (["--seed", "99999999999999999999999"], "Invalid value for '--seed'"),
        (["--rule", "eventprop", "--tau0", "nan"], "Invalid value for '--tau0'"),
    ],
)
def test_bad_numbers_name_the_option_at_parse_time(tmp_path, args, message):
    result = run("train", *args, "--out", tmp_path / "run")
    assert result.exit_code == 2 and message in result.output, result.output
    assert "OptimiserConfig" not in result.output and not (tmp_path / "run").exists()
