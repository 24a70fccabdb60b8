"""Runs that never collide and fail in one clear line: the run directory's owner, unique run names, a full disk
while checkpointing, output layers that do not fit the data, drift times that overflow, clips that are not
regular files."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pytest

import pe_actors as pa
from pe_actors.run import rundir
from pe_actors.run.config import ConfigError
from pe_actors.run.training import RunError

HOLD = """
import sys, time
from pathlib import Path
from pe_actors.run.rundir import owned
with owned(Path(sys.argv[1])):
    print("held", flush=True)
    time.sleep(120)
"""


def arrays(n: int = 40, seed: int = 0):
    network = pa.NetworkConfig()
    rng = np.random.default_rng(seed)
    return rng.random((n, network.n_steps, network.n_in)).astype(np.float32), rng.integers(0, network.n_out, n)


def test_a_run_directory_has_one_live_owner_and_a_dead_owners_is_taken_over(tmp_path):
    out = tmp_path / "run"
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(out)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(ConfigError, match=f"in use by process {holder.pid}") as caught:
            pa.train(data=arrays(), engine="replay", epochs=1, out=out, progress=False)
        assert caught.value.field == "out" and not (out / "checkpoints").exists()
    finally:
        holder.kill()
        holder.wait(timeout=30)
    # The owner died with SIGKILL: the kernel released its lock, and the next run takes the directory over.
    run = pa.train(data=arrays(), engine="replay", epochs=1, out=out, progress=False)
    assert run.path == out and (out / rundir.LOCK).read_text() == str(os.getpid())


def test_run_names_are_unique_per_run_not_per_folder(tmp_path):
    names = {rundir.unique_run_name(tmp_path / "adapt", prefix="adapt-") for _ in range(20)}
    assert len(names) == 20
    for name in names:
        assert name.startswith("adapt-adapt-") and str(os.getpid()) in name and len(name) <= 64
    assert len(rundir.unique_run_name(tmp_path / ("x" * 200))) <= 64


def test_a_long_out_name_is_a_clear_error(tmp_path):
    with pytest.raises(ConfigError, match="cannot create the run directory .*File name too long") as caught:
        pa.train(data=arrays(), engine="replay", epochs=1, out=tmp_path / ("x" * 300), progress=False)
    assert caught.value.field == "out"


def test_a_full_disk_while_checkpointing_is_one_line_and_the_last_checkpoint_resumes(tmp_path, monkeypatch):
    from pe_actors.core import checkpoint

    writes = {"n": 0}
    real = checkpoint._write_array

    def filling(path, array):
        writes["n"] += 1
        if writes["n"] > 12:  # the first checkpoint fits, the second does not
            raise OSError("9600 requested and 6112 written")
        real(path, array)

    monkeypatch.setattr(checkpoint, "_write_array", filling)
    out = tmp_path / "run"
    with pytest.raises(RunError, match=r"cannot write .*\.npy: 9600 requested and 6112 written, the disk holding "
                                       r".* is full \(.* MB free\); continue from .*ckpt"):
        pa.train(data=arrays(), engine="replay", epochs=3, sub_batch=8, out=out, progress=False)
    left = sorted(p.name for p in (out / "checkpoints").iterdir())
    assert left == ["ckpt-e001-s0000000032"]  # no partial checkpoint left behind
    monkeypatch.setattr(checkpoint, "_write_array", real)
    resumed = pa.train(resume=out, data=arrays(), progress=False)
    assert [r["epoch"] for r in resumed.history] == [1, 2, 3]


def test_an_output_layer_that_does_not_fit_the_classes_is_named(tmp_path):
    with pytest.raises(ConfigError, match="output layer has 4 neurons but the data have 3 classes") as caught:
        pa.train(rule="eventprop", sizes="5,20,4", epochs=1, out=tmp_path / "x", progress=False)
    assert caught.value.field == "sizes"


def test_evaluate_refuses_drift_that_overflows_and_says_when_nothing_drifts(tmp_path, small_standin):
    from click.testing import CliRunner

    from pe_actors_launcher.cli import cli

    run = CliRunner().invoke(cli, ["train", "--engine", "replay", "--synapses", "pcm", "--bits", "4", "--epochs",
                                   "1", "--max-samples", "16", "--data", str(small_standin[0]), "--no-progress",
                                   "--out", str(tmp_path / "pcm")])
    assert run.exit_code == 0, run.output
    evaluate = ["evaluate", "--data", str(small_standin[0]), "--checkpoint"]
    result = CliRunner().invoke(cli, [*evaluate, str(tmp_path / "pcm"), "--after", "1.7e308", "--out",
                                      str(tmp_path / "e")])
    assert result.exit_code == 2 and "--after" in result.output and "beyond what float64 holds" in result.output
    digital = CliRunner().invoke(cli, ["train", "--engine", "replay", "--epochs", "1", "--max-samples", "16",
                                       "--data", str(small_standin[0]), "--no-progress", "--out",
                                       str(tmp_path / "digital")])
    assert digital.exit_code == 0, digital.output
    noted = CliRunner().invoke(cli, [*evaluate, str(tmp_path / "digital"), "--after", "86400", "--out",
                                     str(tmp_path / "e2")])
    assert noted.exit_code == 0 and "holds digital synapses, which do not drift" in noted.output


def test_only_regular_files_are_clips(tmp_path, small_standin):
    import shutil

    from pe_actors_datasets.speech_commands import scan

    folder = tmp_path / "gsc"
    shutil.copytree(small_standin[1], folder)
    os.mkfifo(folder / "yes" / "blocking.wav")
    started = time.monotonic()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        index = scan(folder)
    assert "yes/blocking.wav" not in index.words["yes"] and time.monotonic() - started < 30
    assert any("not regular files" in str(w.message) and "yes/blocking.wav" in str(w.message) for w in caught)
    assert Path(folder / "yes" / "blocking.wav").exists()


def test_a_run_that_cannot_fit_in_memory_is_refused_before_it_allocates(tmp_path):
    started = time.monotonic()
    with pytest.raises(ConfigError, match=r"needs about [\d.]+ GiB \(tapes .* GiB available") as caught:
        pa.train(rule="eventprop", dt=1e-6, epochs=1, out=tmp_path / "fine", progress=False)
    assert caught.value.field == "dt" and time.monotonic() - started < 30
    assert not (tmp_path / "fine" / "checkpoints").exists()
    with pytest.raises(ConfigError, match="needs about") as caught:
        pa.train(rule="eventprop", sizes="5,100000000,3", epochs=1, out=tmp_path / "wide", progress=False)
    assert caught.value.field == "sizes"


@pytest.mark.ray
def test_adapt_stops_at_a_sample_boundary_on_sigterm_and_keeps_what_it_learned(tmp_path, small_standin):
    import json
    import signal

    cli = str(Path(sys.executable).parent / "pe-actors")
    features = str(small_standin[0])
    trained = subprocess.run([cli, "train", "--engine", "replay", "--epochs", "1", "--max-samples", "32", "--data",
                              features, "--no-progress", "--out", str(tmp_path / "run")],
                             capture_output=True, text=True, timeout=300)
    assert trained.returncode == 0, trained.stderr
    out = tmp_path / "adapt"
    args = [cli, "adapt", "--checkpoint", str(tmp_path / "run"), "--data", features, "--engine", "actors", "--pes",
            "3", "--samples", "100", "--eval-every", "50", "--no-progress", "--out", str(out)]
    adapt = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    for line in adapt.stdout:
        if line.startswith("Adapting "):
            break
    time.sleep(1.0)
    adapt.send_signal(signal.SIGTERM)
    stdout, stderr = adapt.communicate(timeout=120)
    assert adapt.returncode == 1, stderr
    assert "Interrupted after" in stderr and "Stack trace" not in stderr and "Traceback" not in stderr
    summary = json.loads((out / "adaptation.json").read_text())
    stopped_at = summary["curve"][-1]["samples"]
    assert 0 < stopped_at < 100 and len(summary["order"]) == stopped_at
    assert (out / "checkpoints" / f"ckpt-adapted-n{stopped_at:06d}").is_dir()


def test_memory_reports_the_estimate_train_checks(tmp_path):
    import json

    from click.testing import CliRunner

    from pe_actors.rules.eventprop.networks import EVENTPROP_NETWORKS
    from pe_actors.studies.memory import run_memory_estimate
    from pe_actors_launcher.cli import cli

    result = CliRunner().invoke(cli, ["memory", "--rule", "eventprop", "--sub-batch", "32", "--dtype", "float64",
                                      "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "A training run at batch 32 (evaluating 256 samples at a time) needs about" in result.output
    reported = json.loads((tmp_path / "memory.json").read_text())["host_run_bytes"]
    assert reported == run_memory_estimate("eventprop", EVENTPROP_NETWORKS["yinyang"], 32, 8, generated=True)


def test_evaluate_defaults_to_the_data_the_checkpoint_records(tmp_path, small_standin):
    import json

    from click.testing import CliRunner

    from pe_actors_launcher.cli import cli

    run = tmp_path / "run"
    args = ["train", "--engine", "replay", "--epochs", "1", "--max-samples", "16", "--data", str(small_standin[0]),
            "--no-progress", "--out", str(run)]
    trained = CliRunner().invoke(cli, args)
    assert trained.exit_code == 0, trained.output
    given = CliRunner().invoke(cli, ["evaluate", "--checkpoint", str(run), "--data", str(small_standin[0]), "--out",
                                     str(tmp_path / "given")])
    recorded = CliRunner().invoke(cli, ["evaluate", "--checkpoint", str(run), "--out", str(tmp_path / "recorded")])
    assert given.exit_code == 0 and recorded.exit_code == 0, recorded.output
    assert "as the checkpoint records" in recorded.output
    accuracy = [json.loads((tmp_path / d / "evaluation.json").read_text())["accuracy"] for d in ("given", "recorded")]
    assert accuracy[0] == accuracy[1]
    # raster too shows a sample of the checkpoint's own data, not random noise.
    raster = CliRunner().invoke(cli, ["raster", "--checkpoint", str(run), "--index", "2", "--out", str(tmp_path / "r")])
    assert raster.exit_code == 0, raster.output
    summary = json.loads((tmp_path / "r" / "raster.json").read_text())
    assert "as the checkpoint records" in summary["sample"] and summary["label"] is not None


def test_building_the_stand_in_into_a_log_shows_no_bars(tmp_path, capfd):
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed (scripts/setup.sh installs it)")
    run = pa.train(engine="replay", epochs=1, max_samples=16, standin_size="small", cache=tmp_path / "cache",
                   out=tmp_path / "run", progress=False)
    assert run.final["epoch"] == 1
    captured = capfd.readouterr()
    assert "synth:" not in captured.err and "features:" not in captured.err and "clip/s" not in captured.err


def test_adapt_uses_what_the_condition_holds_when_it_holds_fewer_than_the_default(tmp_path, small_standin):
    run = pa.train(engine="replay", epochs=1, max_samples=16, data=small_standin[0], out=tmp_path / "run",
                   progress=False)
    result = pa.adapt(checkpoint=run.path, data=small_standin[0], engine="replay", eval_every=50,
                      out=tmp_path / "adapt", progress=False)
    held = len(np.load(Path(small_standin[0]) / "train_labels.npy"))
    assert held < 300 and result["samples"] == held and result["curve"][-1]["samples"] == held


@pytest.mark.parametrize(("content", "message"), [
    ("a = " + "\n".join(["["] * 3000 + ["]"] * 3000) + "\n", "nests tables or arrays too deep"),
    ("a." * 40_000 + "b = 1\n", "a line of 80,005 characters, more than 4,096"),
    ("# x\n" * 70_000, "more than the 262,144 a settings file may hold"),
])
def test_run_configs_and_search_spaces_are_bounded(tmp_path, content, message):
    from pe_actors.run.config import read_toml
    from pe_actors.run.tuning import read_space

    path = tmp_path / "crafted.toml"
    path.write_text(content)
    with pytest.raises(ConfigError, match=message):
        read_toml(path)
    with pytest.raises(ConfigError, match=message):
        read_space(path)


def test_a_fifo_as_a_settings_file_is_refused_without_blocking(tmp_path):
    from pe_actors.run.tuning import read_space

    fifo = tmp_path / "space.toml"
    os.mkfifo(fifo)
    with pytest.raises(ConfigError, match="not a regular file"):
        read_space(fifo)


def test_a_full_disk_at_the_end_of_run_figure_keeps_the_run(tmp_path, monkeypatch, capfd):
    import errno

    from pe_actors.run import training

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(training, "plot_histories", full)
    run = pa.train(rule="eventprop", epochs=1, max_samples=32, out=tmp_path / "run", progress=False)
    printed = capfd.readouterr().err
    assert "could not write" in printed and "No space left on device" in printed
    assert run.best["epoch"] == 1 and (tmp_path / "run" / "curves.json").is_file()


def test_a_run_on_arrays_resumes_only_on_the_same_arrays(tmp_path):
    from pe_actors.rules.eventprop.config import EventPropConfig
    from pe_actors.rules.eventprop.encoding import encode
    from pe_actors_datasets.yinyang import yinyang

    features, labels = yinyang(200, 3)
    x = encode(features, EventPropConfig(t_code=27.0))
    out = tmp_path / "run"
    pa.train(rule="eventprop", data=(x, labels), epochs=1, out=out, progress=False)
    with pytest.raises(ConfigError, match="trained on arrays passed by the caller.*resume with the same arrays"):
        pa.train(resume=out, epochs=2, progress=False)
    other = x.copy()
    other[0, 0, 0] = 1.0 - other[0, 0, 0]
    with pytest.raises(ConfigError, match=r"trained on data with hash .*\(other arrays"):
        pa.train(resume=out, data=(other, labels), epochs=2, progress=False)
    run = pa.train(resume=out, data=(x, labels), epochs=2, progress=False)
    assert run.best["epoch"] in (1, 2) and len(run.history) == 2


def test_resume_drops_a_damaged_line_of_the_metrics_log(tmp_path, capfd):
    out = tmp_path / "run"
    pa.train(rule="eventprop", epochs=1, max_samples=32, out=out, progress=False)
    log = out / "metrics.jsonl"
    damaged = bytearray(log.read_bytes())
    damaged[10] = 0xFF
    log.write_bytes(bytes(damaged))
    run = pa.train(resume=out, epochs=2, progress=False)
    assert len(run.history) == 2 and "dropped 1 unreadable line(s) of the metrics log" in capfd.readouterr().err
    log.read_text()  # the log is valid UTF-8 again


def test_sigterm_while_adapt_finishes_keeps_the_whole_adaptation(tmp_path, monkeypatch):
    import signal

    from pe_actors.interop.nir import ImportedNetwork
    from pe_actors.rules.eventprop.config import EventPropConfig
    from pe_actors.rules.eventprop.network import init_eventprop_params
    from pe_actors.run.context import RunContext
    from pe_actors_datasets.yinyang import write_yinyang

    network = EventPropConfig(sizes=(5, 16, 3), t_code=27.0)
    checkpoint = ImportedNetwork("eventprop", network, init_eventprop_params(network, 1)).save(tmp_path / "model")
    write_yinyang(tmp_path / "rotated", rotate_deg=20.0)
    release, sent = RunContext.release, []

    def release_after_a_signal(self):
        if not sent:  # the scheduler's SIGTERM, once, after the last sample
            sent.append(True)
            os.kill(os.getpid(), signal.SIGTERM)
        release(self)

    monkeypatch.setattr(RunContext, "release", release_after_a_signal)
    with pytest.raises(KeyboardInterrupt):
        pa.adapt(checkpoint=checkpoint, data=tmp_path / "rotated", engine="inprocess", pes=2, samples=4,
                 eval_every=2, out=tmp_path / "adapted", progress=False)
    assert (tmp_path / "adapted" / "adaptation.json").is_file()
    assert pa.load(tmp_path / "adapted").config == network


def test_the_memory_guard_counts_the_evaluation_batch(tmp_path, monkeypatch):
    from pe_actors.core import checks
    from pe_actors.rules import rule
    from pe_actors.rules.eventprop.networks import EVENTPROP_NETWORKS
    from pe_actors.studies.memory import run_memory_estimate

    network = EVENTPROP_NETWORKS["yinyang"].with_dt(0.01)
    rule_memory = rule("eventprop").run_memory
    training = sum(rule_memory(network, 32, 8, True).values())
    evaluating = sum(run_memory_estimate("eventprop", network, 32, 8, True).values())
    assert evaluating > 4 * training
    # Room for the training batch, not for the evaluation's 256 samples: refused before the first epoch.
    monkeypatch.setattr(checks, "available_memory_bytes", lambda: int((training + evaluating) / 2))
    with pytest.raises(ConfigError, match="needs about .* GiB") as caught:
        pa.train(rule="eventprop", dt=0.01, epochs=1, out=tmp_path / "run", progress=False)
    assert caught.value.field == "dt" and not (tmp_path / "run" / "metrics.jsonl").exists()
