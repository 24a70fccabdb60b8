"""The seams of the registries, proven from outside the package: a third learning rule, a fourth synapse kind and a
data source written in this folder (``toy_plugin.py``) and declared as entry points in a dist-info folder, as an
installed package declares them, train through ``pe_actors.train`` and ``pe-actors train`` without a file of the
project knowing them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import pe_actors as pa
from pe_actors.core.settings import ConfigError

HERE = Path(__file__).parent
ENTRY_POINTS = """\
[pe_actors.rules]
delta = toy_plugin:RULE

[pe_actors.synapses]
stuck = toy_plugin:KIND

[pe_actors.data]
toyspikes = toy_plugin:toyspikes
"""


def install(folder: Path) -> Path:
    """A dist-info folder declaring the plug-in's entry points, as pip leaves one for an installed package."""
    info = folder / "toy_plugin-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: toy-plugin\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(ENTRY_POINTS)
    return folder


@pytest.fixture
def plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    site = install(tmp_path / "site")
    monkeypatch.syspath_prepend(str(HERE))
    monkeypatch.syspath_prepend(str(site))
    return site


def test_the_registries_find_the_plugins_and_refuse_unknown_names(plugin: Path) -> None:
    from pe_actors.engines.registry import table
    from pe_actors.rules import rule, run_rule_names
    from pe_actors.run.data import source, source_names
    from pe_actors.synapses import kind_names, synapse_kind

    assert run_rule_names() == ("eprop", "bptt", "eventprop", "delta")
    assert rule("delta").title == "delta-rule"
    assert ("delta", "inprocess") in [(row["rule"], row["backend"]) for row in table()]
    assert kind_names() == ("digital", "quantised", "pcm", "stuck")
    assert synapse_kind("stuck").store_class().kind == "stuck"
    assert "toyspikes" in source_names()
    with pytest.raises(ValueError, match=r"unknown learning rule 'hebb'; the rules are \['eprop', 'bptt', 'eventp"):
        rule("hebb")
    with pytest.raises(ValueError, match=r"unknown synapse kind 'rram'; the synapse kinds are \['digital', 'quant"):
        synapse_kind("rram")
    with pytest.raises(ConfigError, match="no data source 'mnist'.*'toyspikes'"):
        source("mnist")
    with pytest.raises(ValueError, match="SynapseConfig.kind must be one of .*'stuck'"):
        pa.SynapseConfig(kind="rram")


def test_a_third_rule_trains_on_its_pe_programs_with_exact_gradients(plugin: Path) -> None:
    import toy_plugin as toy

    from pe_actors.engines.registry import make

    network = toy.ToyNetwork()
    data = toy.toyspikes()
    x, labels = (np.asarray(a) for a in data.splits["train"])
    params = toy.init_params(network, 0, np.float64)
    # The PEs' batch-mean gradient against the delta rule written out here on the whole matrix.
    with make("delta", "inprocess", network, params, pa.OptimiserConfig(l2=0.0), pes=3, sub_batch=7) as engine:
        grads, _ = engine.gradients(x[:20], labels[:20])
    xbar = np.zeros((20, network.n_in))
    total = np.zeros((20, network.n_in))
    for t in range(network.n_steps):
        xbar = network.kappa * xbar + x[:20, t]
        total += xbar
    logits = (total / network.n_steps) @ params["w_out"]
    p = np.exp(logits - logits.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    p[np.arange(20), labels[:20]] -= 1
    expected = (total / network.n_steps).T @ p / 20
    np.testing.assert_allclose(np.concatenate([g["w_out"] for g in grads], axis=1), expected, rtol=1e-10)

    run = pa.train(rule="delta", epochs=3, out=plugin / "delta", progress=False)
    assert run.best["test_accuracy"] > 0.8  # chance is 1/12
    assert json.loads((run.path / "summary.json").read_text())["run_config"]["rule"] == "delta"
    model = pa.load(run.path)
    assert model.evaluate(*data.splits["test"])["accuracy"] == pytest.approx(run.best["test_accuracy"])


def test_a_fourth_synapse_kind_trains_e_prop_and_reads_its_stuck_devices(plugin: Path) -> None:
    import toy_plugin as toy

    run = pa.train(engine="replay", source="toyspikes", synapses="stuck", bits=4, epochs=1, max_samples=64,
                   sub_batch=32, out=plugin / "stuck", progress=False)
    state = pa.load(run.path).state
    assert any(key.startswith("dev") or "level" in key for key in state), sorted(state)
    from pe_actors.engines.registry import from_checkpoint

    # The devices stuck at zero read 0 on every engine and split: the PEs read what replay reads.
    replay = from_checkpoint(run.path)
    pes = from_checkpoint(run.path, backend="inprocess", pes=3)
    x = np.asarray(toy.toyspikes().splits["test"][0][:8])
    np.testing.assert_allclose(pes.predict(x), replay.predict(x), rtol=1e-4, atol=1e-5)
    with pytest.raises(ConfigError, match="--synapses stuck needs another engine or rule"):
        pa.train(rule="eventprop", synapses="stuck", epochs=1, out=plugin / "refused", progress=False)


def test_the_plugins_train_from_the_command_line(plugin: Path, tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(plugin), str(HERE), os.environ.get("PYTHONPATH", "")])}
    cli = [str(Path(sys.executable).parent / "pe-actors"), "train", "--no-progress"]
    help_text = subprocess.run([*cli, "--help"], env=env, capture_output=True, text=True, check=True).stdout
    assert "delta" in help_text and "stuck" in help_text and "toyspikes" in help_text
    done = subprocess.run([*cli, "--rule", "delta", "--epochs", "2", "--out", str(tmp_path / "cli-delta")], env=env,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "Test accuracy:" in done.stdout
    done = subprocess.run(
        [*cli, "--source", "toyspikes", "--engine", "replay", "--synapses", "stuck", "--epochs", "1",
         "--max-samples", "32", "--out", str(tmp_path / "cli-stuck")],
        env=env, capture_output=True, text=True,
    )
    assert done.returncode == 0, done.stderr
    assert "stuck synapses, 4 bits per device" in done.stdout
    done = subprocess.run([*cli, "--rule", "hebb"], env=env, capture_output=True, text=True)
    assert done.returncode == 2 and "'hebb' is not one of 'eprop', 'bptt', 'eventprop', 'delta'" in done.stderr
