"""The run configuration and the library's front door: validation naming the setting, TOML round trips, recipes,
resume rules, the caller's arrays as data, and pe_actors.train from a script read on standard input."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

import pe_actors as pa
from pe_actors.run.config import ConfigError, RunConfig, read_toml, recipe, resolve


@pytest.mark.parametrize(
    "settings, error, message",
    [
        ({"epochs": 0}, ConfigError, "epochs must lie in"),
        ({"lr": float("nan")}, ConfigError, "lr must be a finite number"),
        ({"lr_decay": 1.5}, ConfigError, "lr_decay must be a finite number in (0, 1]"),
        ({"engine": "gpu"}, ConfigError, "engine must be one of"),
        ({"sizes": "5"}, ConfigError, "sizes: '5' needs at least two positive layer sizes"),
        ({"epochs": "many"}, TypeError, "epochs must be an integer, got 'many'"),
        ({"sub_batch": 2.5}, TypeError, "sub_batch must be an integer"),
        ({"progress": "no"}, TypeError, "progress must be True or False"),
        ({"sub_batches": 4}, TypeError, "unknown option 'sub_batches'"),
    ],
)
def test_bad_settings_name_the_setting(settings, error, message):
    with pytest.raises(error, match=message.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[")):
        resolve(settings)
    with pytest.raises(error, match=message.split(" ")[0]):
        pa.train(**settings)


def test_a_config_error_carries_the_setting():
    with pytest.raises(ConfigError) as caught:
        RunConfig(keep_checkpoints=0)
    assert caught.value.field == "keep_checkpoints" and isinstance(caught.value, ValueError)


def test_toml_round_trip_and_the_eventprop_recipe_under_given_settings(tmp_path):
    config = resolve({"rule": "eventprop", "epochs": 3, "sizes": (5, 64, 64, 3), "out": tmp_path / "x"})
    assert config.lr == recipe("yinyang-eventprop")["lr"] and config.epochs == 3 and config.engine == "offchip"
    path = config.to_toml(tmp_path / "run-config.toml")
    again = resolve({}, path)
    assert again.recorded() == config.recorded() and again.sizes == (5, 64, 64, 3)
    assert resolve({"epochs": 5}, "gsc-paper-batch100").groups == 100
    assert resolve({"epochs": 5}, {"lr": 0.02}).lr == 0.02
    with pytest.raises(ConfigError, match="no run-config file or recipe 'nope'"):
        resolve({}, "nope")
    (tmp_path / "bad.toml").write_text("epochs = [1, 2]\n")
    with pytest.raises(ConfigError, match="only plain values"):
        read_toml(tmp_path / "bad.toml")
    # Sections: the file a run writes, a mix of sections and flat keys of files written before them.
    assert "[placement]" in path.read_text() and "[eventprop]" in path.read_text()
    (tmp_path / "mixed.toml").write_text("epochs = 2\n[placement]\nsub-batch = 4\n[eventprop]\ndt = 0.5\n")
    assert read_toml(tmp_path / "mixed.toml") == {"epochs": 2, "sub_batch": 4, "dt": 0.5}
    (tmp_path / "wrong.toml").write_text("[placement]\nlr = 0.1\n")
    with pytest.raises(ConfigError, match=r"\[placement\] has no setting 'lr'"):
        read_toml(tmp_path / "wrong.toml")


def test_a_resumed_run_keeps_what_changes_results():
    recorded = RunConfig(lr=0.02, epochs=4).recorded()
    merged = resolve({"epochs": 6, "pes": 3}, recorded=recorded)
    assert (merged.lr, merged.epochs, merged.pes) == (0.02, 6, 3)
    with pytest.raises(ConfigError, match="trained with --lr 0.02; it cannot continue with 0.05") as caught:
        resolve({"lr": 0.05}, recorded=recorded)
    assert caught.value.field == "lr"


def test_train_on_the_callers_arrays_holds_out_validation_and_test(tmp_path):
    rng = np.random.default_rng(0)
    network = pa.NetworkConfig()
    x = rng.random((60, network.n_steps, network.n_in)).astype(np.float32)
    labels = rng.integers(0, network.n_out, 60)
    run = pa.train(data=(x, labels), engine="replay", epochs=1, sub_batch=8, out=tmp_path / "run", progress=False)
    assert run.history[0]["epoch"] == 1 and run.summary["run_config"]["engine"] == "replay"
    with pytest.raises(ConfigError, match="labels must be 60 integers"):
        pa.train(data=(x, labels.astype(float)), engine="replay", out=tmp_path / "bad", progress=False)
    with pytest.raises(ConfigError, match="data lacks the split"):
        pa.train(data={"train": (x, labels)}, engine="replay", out=tmp_path / "bad", progress=False)
    with pytest.raises(ConfigError, match="features have shape"):
        pa.train(data=(x[:, :, :5], labels), engine="replay", out=tmp_path / "bad", progress=False)
    # Untrusted arrays: a NaN named by the caller's index (not the shuffled one), an empty split, a single class.
    poisoned = x.copy()
    poisoned[3, 7, 2] = np.nan
    with pytest.raises(ConfigError, match=r"data: x\[3\] holds NaN or Inf"):
        pa.train(data=(poisoned, labels), engine="replay", out=tmp_path / "bad", progress=False)
    splits = {"train": (x[:40], labels[:40]), "validation": (x[:0], labels[:0]), "test": (x[40:], labels[40:])}
    with pytest.raises(ConfigError, match=r"data\['validation'\] holds no sample"):
        pa.train(data=splits, engine="replay", out=tmp_path / "bad", progress=False)
    with pytest.raises(ConfigError, match="one class only"):
        pa.train(data=(x, np.zeros(60, np.int64)), engine="replay", out=tmp_path / "bad", progress=False)


TRAIN_FROM_STDIN = """
import sys
import pe_actors as pa
run = pa.train(engine="replay", epochs=1, max_samples=16, sub_batch=8, standin_size="small", cache=sys.argv[1],
               out=sys.argv[2], progress=False)
print("trained", run.final["epoch"])
"""


def test_train_runs_from_a_script_read_on_standard_input(small_standin, tmp_path):
    # No main guard and no file: a spawned process pool would die with BrokenProcessPool here.
    cache = small_standin[0].parent
    done = subprocess.run(
        [sys.executable, "-", str(cache), str(tmp_path / "run")],
        input=TRAIN_FROM_STDIN, capture_output=True, text=True, timeout=600,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "trained 1"


def test_event_data_start_from_the_shd_recipe_and_yinyang_keeps_its_own():
    yinyang = resolve({"rule": "eventprop"})
    assert (yinyang.t_code, yinyang.init_mean, yinyang.init_std) == (27.0, (1.5, 0.1), (0.8, 0.2))
    assert yinyang.augment == ()
    for given in ({"rule": "eventprop", "network": "shd"}, {"rule": "eventprop", "shd_dir": "some/folder"}):
        other = resolve(given)
        assert other.network == "shd"
        assert (other.t_code, other.init_mean, other.init_std) == (None, None, None)  # the shd network's own
        assert (other.lr, other.lr_decay, other.epochs, other.augment) == (0.001, 1.0, 100, ("channel_shift",))
    explicit = resolve({"rule": "eventprop", "network": "shd", "init_mean": "0.1,0,0.2", "lr": 0.002})
    assert (explicit.init_mean, explicit.lr) == ((0.1, 0.0, 0.2), 0.002)
