"""Import, train, export: the NIR paper's braille network trains with e-prop through pe_actors.train and
pe-actors train --nir, on the in-process PEs and on PE actors with the same numbers, and its export reads back
into the same network with the same spikes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

import pe_actors as pa
from pe_actors.core.settings import ConfigError
from pe_actors.interop.nir import ImportedNetwork, from_nir, to_nir, write_nir
from pe_actors.networks import NetworkBuilder
from pe_actors_launcher.cli import cli as main

BRAILLE = Path(__file__).parent.parent / "data" / "nir_paper" / "braille_noDelay_bias_zero.nir"
STEPS = 64


def braille() -> ImportedNetwork:
    """The braille network over 64 steps with leaky outputs (e-prop's readout), its trained weights kept."""
    imported = from_nir(BRAILLE, dt=1e-4, n_steps=STEPS, reset="value")
    return ImportedNetwork(None, imported.network.with_leaky_outputs(), imported.params)


def taxel_task(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Seven classes of taxel spike trains, each class firing its own three taxels more often."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 7
    rates = np.full((7, 12), 0.02)
    for k in range(7):
        rates[k, [k, (k + 3) % 12, (2 * k + 5) % 12]] = 0.3
    x = (rng.random((n, STEPS, 12)) < rates[labels][:, None, :]).astype(np.float32)
    return x, labels


def test_the_braille_network_trains_with_eprop_and_exports_again(tmp_path):
    x, labels = taxel_task(280)
    run = pa.train(network=braille(), data=(x, labels), rule="eprop", engine="inprocess", pes=2, sub_batch=14,
                   epochs=4, lr=0.01, out=tmp_path / "run", progress=False, seed=1)
    assert run.best["test_accuracy"] >= 0.6, run.best  # chance is 1/7
    model = pa.load(tmp_path / "run")
    assert model.checkpoint.record.rule == "eprop" and model.config.network.outputs == ("lif2",)
    path = write_nir(to_nir(model), tmp_path / "trained.nir")
    back = from_nir(path)
    assert back.rule == "eprop" and back.network.to_dict() == model.config.to_dict()
    sample = x[:3]
    ours, again = pa.simulate(model, sample), pa.simulate(back, sample)
    spikes = ours.populations["lif1.lif"]["spikes"]
    assert spikes.sum() > 0
    np.testing.assert_array_equal(spikes, again.populations["lif1.lif"]["spikes"])
    np.testing.assert_allclose(ours.logits, again.logits, rtol=1e-6)
    assert np.array_equal(model.predict(sample).argmax(1), ours.logits.argmax(1))


@pytest.mark.ray
def test_a_graph_trains_on_pe_actors_as_in_process(tmp_path, local_ray):
    x, labels = taxel_task(56, seed=2)
    runs = {}
    for engine in ("inprocess", "actors"):
        runs[engine] = pa.train(network=braille(), data=(x, labels), rule="eprop", engine=engine, pes=2,
                                sub_batch=7, groups=2, epochs=1, out=tmp_path / engine, progress=False)
    weights = {engine: pa.load(tmp_path / engine).state for engine in runs}
    for key in ("w_fc1", "w_lif1_w_rec", "w_fc2"):
        np.testing.assert_allclose(weights["actors"][key], weights["inprocess"][key], rtol=1e-5, atol=1e-6)
    assert runs["actors"].best["train_loss"] == pytest.approx(runs["inprocess"].best["train_loss"], rel=1e-5)


def write_data(folder: Path, x: np.ndarray, labels: np.ndarray) -> Path:
    """A prepared-feature folder of the arrays (train, validation and test in thirds)."""
    folder.mkdir(parents=True)
    parts = np.array_split(np.arange(len(x)), 3)
    for split, part in zip(("train", "validation", "test"), parts, strict=True):
        np.save(folder / f"{split}_features.npy", x[part])
        np.save(folder / f"{split}_labels.npy", labels[part].astype(np.int64))
    metadata = {"sizes": {s: len(p) for s, p in zip(("train", "validation", "test"), parts, strict=True)},
                "class_names": [f"letter {k}" for k in range(7)], "synthetic": False}
    (folder / "metadata.json").write_text(json.dumps(metadata))
    return folder


def test_the_command_line_trains_a_nir_file_and_names_what_does_not_fit(tmp_path):
    network = braille()
    graph = write_nir(to_nir(network), tmp_path / "braille.nir")
    data = write_data(tmp_path / "data", *taxel_task(84, seed=3))
    result = CliRunner().invoke(main, ["train", "--rule", "eprop", "--engine", "inprocess", "--nir", str(graph),
                                       "--data", str(data), "--epochs", "1", "--pes", "2", "--sub-batch", "7",
                                       "--out", str(tmp_path / "cli"), "--no-progress"])
    assert result.exit_code == 0, result.output
    assert "Training the network graph of" in result.output
    recorded = (tmp_path / "cli" / "run-config.toml").read_text()
    assert "braille.nir" in recorded
    # The paper's file as it is: a spiking output, which e-prop refuses with the way out.
    result = CliRunner().invoke(main, ["train", "--rule", "eprop", "--engine", "inprocess", "--nir", str(BRAILLE),
                                       "--nir-dt", "1e-4", "--data", str(data), "--out", str(tmp_path / "no")])
    assert result.exit_code != 0 and "with_leaky_outputs" in result.output and "Traceback" not in result.output
    result = CliRunner().invoke(main, ["train", "--rule", "eprop", "--engine", "replay", "--nir", str(graph),
                                       "--data", str(data), "--out", str(tmp_path / "no2")])
    assert result.exit_code != 0 and "a --nir graph trains on inprocess or actors" in result.output


def test_a_built_network_trains_from_python_and_small_groups_are_refused(tmp_path):
    net = NetworkBuilder(n_steps=STEPS, dt_s=1e-3)
    net.input("taxels", 12)
    net.population("a", 8, "alif", tau_mem=20e-3, tau_adapt=200e-3, beta=0.2, reset="subtract",
                   reset_delayed=True, threshold=0.5)
    net.population("b", 6, "cuba_lif", tau_mem=20e-3, tau_syn=5e-3, threshold=0.5)
    net.population("out", 7, "li", tau_mem=20e-3)
    net.connect("taxels", "a").connect("taxels", "b").connect("a", "a").connect("b", "a", delay=1)
    net.connect("a", "out").connect("b", "out")
    network = net.build(["out"])
    x, labels = taxel_task(70, seed=4)
    run = pa.train(network=network, data=(x, labels), rule="eprop", engine="inprocess", pes=3, sub_batch=7,
                   epochs=1, out=tmp_path / "built", progress=False)
    assert np.isfinite(run.best["train_loss"])
    with pytest.raises(ConfigError, match="n_pes must lie in \\[1, 6\\]"):
        pa.train(network=network, data=(x, labels), rule="eprop", engine="inprocess", pes=7, epochs=1,
                 out=tmp_path / "too-many", progress=False)


def test_a_trained_graph_is_evaluated_and_drawn_by_population(tmp_path):
    from pe_actors.run.simulate import raster

    x, labels = taxel_task(42, seed=5)
    pa.train(network=braille(), data=(x, labels), rule="eprop", engine="inprocess", pes=1, sub_batch=14, epochs=1,
             out=tmp_path / "run", progress=False)
    model = pa.load(tmp_path / "run")
    with pytest.raises(ConfigError, match="trained on arrays passed by its caller"):
        raster(model)
    data = write_data(tmp_path / "data", x, labels)
    picture = raster(model, data=data, index=1)
    summary = picture.summary()
    assert set(summary["populations"]) == {"lif1.lif"}  # the spiking populations, by their NIR names
    assert summary["step_ms"] == pytest.approx(0.1) and summary["label"] is not None
    assert len(summary["populations"]["lif1.lif"]["spikes_per_neuron"]) == 38
    result = pa.evaluate(tmp_path / "run", data=data)
    assert 0.0 <= result.accuracy <= 1.0 and result.samples == 14


def recurrent_yinyang(n: int = 1500):
    """A 5-40-3 network with a recurrent hidden population in EventProp's form, and Yin-Yang in its latency code."""
    from pe_actors.networks import WeightInit
    from pe_actors.rules.eventprop.config import EventPropConfig
    from pe_actors.rules.eventprop.encoding import encode
    from pe_actors_datasets.yinyang import yinyang

    net = NetworkBuilder(n_steps=30, dt_s=1e-3)
    net.input("x", 5)
    net.population("h", 40, "cuba_lif", tau_mem=20e-3, tau_syn=5e-3)
    net.population("out", 3, "cuba_lif", tau_mem=20e-3, tau_syn=5e-3)
    net.connect("x", "h", delay=1, init=WeightInit(1.5, 0.8, fan_in=False))
    net.connect("h", "h", self_connections=False, init=WeightInit(0.0, 0.1, fan_in=False))
    net.connect("h", "out", delay=1, init=WeightInit(0.5, 0.4, fan_in=False))
    network = net.build(["out"], readout="first_spike")
    features, labels = yinyang(n, 5)
    return network, encode(features, EventPropConfig(t_code=27.0)), labels


def test_a_recurrent_eventprop_graph_trains_and_round_trips(tmp_path):
    network, x, labels = recurrent_yinyang()
    run = pa.train(network=network, data=(x, labels), rule="eventprop", engine="offchip", epochs=6, lr=0.003,
                   sub_batch=32, out=tmp_path / "ep", progress=False, dtype="float64")
    assert run.best["test_accuracy"] > 0.6, run.best  # chance is about 1/3
    model = pa.load(tmp_path / "ep")
    assert model.config.loss.loss_time == "crossing"  # the Yin-Yang recipe's loss, from the rule's run defaults
    back = from_nir(write_nir(to_nir(model), tmp_path / "ep.nir"))
    assert back.rule == "eventprop" and back.network.to_dict() == model.config.to_dict()
    np.testing.assert_array_equal(back.engine().predict(x[:50]), model.predict(x[:50]))
    with pytest.raises(ConfigError, match="every step"):
        pa.train(network=network, data=(x, labels), rule="eventprop", engine="inprocess", schedule="layered",
                 pes=3, epochs=1, out=tmp_path / "layered", progress=False)


@pytest.mark.ray
def test_a_recurrent_eventprop_graph_trains_on_the_pes_as_off_chip(tmp_path, local_ray):
    network, x, labels = recurrent_yinyang(140)
    weights = {}
    placements = {"offchip": {}, "inprocess": {"pes": 3}, "actors": {"pes": 2, "groups": 2, "sub_batch": 4}}
    for engine, placement in placements.items():
        pa.train(network=network, data=(x, labels), rule="eventprop", engine=engine, epochs=1,
                 out=tmp_path / engine, progress=False, dtype="float64", **({"sub_batch": 8} | placement))
        weights[engine] = pa.load(tmp_path / engine).state
    for engine in ("inprocess", "actors"):
        for key in ("w_x_h", "w_h_h", "w_h_out"):
            np.testing.assert_allclose(weights[engine][key], weights["offchip"][key], rtol=1e-9, atol=1e-12,
                                       err_msg=f"{engine} {key}")


def test_the_pe_profile_of_a_graph_names_every_section():
    from pe_actors.rules import rule
    from pe_actors.rules.eventprop.graph import EventPropGraph
    from pe_actors.studies.profiling import profile_programs

    x, labels = taxel_task(24)
    eprop = profile_programs(rule("eprop").compile(braille().network), x, labels, n_pes=2, sub_batch=4, batches=2)
    network, spikes, classes = recurrent_yinyang(24)
    eventprop = profile_programs(EventPropGraph(network), spikes, classes, n_pes=2, sub_batch=4, batches=2)
    for summary, sections in ((eprop, {"neuron_update", "gradients"}), (eventprop, {"neuron_update", "backward"})):
        assert len(summary["per_pe"]) == 2
        assert sections <= set(summary["sections"]), summary["sections"]


def test_a_graph_trains_on_device_synapses_and_names_what_it_does_not_take(tmp_path):
    x, labels = taxel_task(42, seed=6)
    run = pa.train(network=braille(), data=(x, labels), rule="eprop", engine="inprocess", pes=2, sub_batch=14,
                   epochs=1, synapses="pcm", bits=4, out=tmp_path / "pcm", progress=False)
    assert np.isfinite(run.best["train_loss"])
    assert any(key.startswith("level_pos_") for key in pa.load(tmp_path / "pcm").state)
    with pytest.raises(ConfigError, match="do not calibrate drift"):
        pa.train(network=braille(), data=(x, labels), rule="eprop", engine="inprocess", pes=2, epochs=1,
                 synapses="pcm", drift_compensation=True, out=tmp_path / "no", progress=False)


def test_a_graph_takes_its_steps_from_the_data_and_keeps_the_runs_loss(tmp_path):
    network, x, labels = recurrent_yinyang(200)
    shorter = network.with_steps(12)  # the data have 30 steps
    pa.train(network=shorter, data=(x, labels), rule="eventprop", engine="offchip", epochs=1, alpha_silent=2.0,
             out=tmp_path / "run", progress=False)
    model = pa.load(tmp_path / "run")
    assert model.config.n_steps == 30 and model.config.loss.n_steps == 30
    assert model.config.loss.alpha_silent == 2.0 and model.config.loss.loss_time == "crossing"
