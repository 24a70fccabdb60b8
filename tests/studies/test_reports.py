"""The report commands: profile, energy, memory --plot, raster and sweep write a PNG and a
JSON/CSV whose values are sane, and their library functions reproduce the paper's figures (docs/studies.md)."""

import csv
import json

import numpy as np
import pytest
from click.testing import CliRunner

from pe_actors.core.optimiser import OptimiserConfig
from pe_actors.engines.inprocess import InProcessEngine
from pe_actors.rules.eprop.config import NetworkConfig
from pe_actors.rules.eprop.gradients import init_params
from pe_actors.rules.eprop.program import EpropGroup
from pe_actors.studies.energy import (
    PAPER_EPOCHS,
    PAPER_TRAIN_SAMPLES,
    ChipEnergyModel,
    GpuReference,
    Usage,
    energy_report,
    usage_from_metrics,
)
from pe_actors.studies.memory import (
    bptt_bytes_per_step,
    bptt_memory_line,
    crossover_steps,
    eprop_memory_line,
    paper_memory_lines,
    pe_memory,
)
from pe_actors.studies.profiling import PROFILE_FUNCTIONS, _profile_batch, profile_inprocess
from pe_actors.studies.sweep import PAPER_TABLE4, input_splits, parse_rows, second_order_delta, trainable_params
from pe_actors_launcher.cli import cli

TINY = ["--n-in", "6", "--n-rec", "8", "--n-out", "3", "--steps", "12"]
CLASS_NAMES = ["yes", "no", "up"]


def invoke(args):
    result = CliRunner().invoke(cli, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result


def write_prepared(path, n_steps=10, sizes=(24, 12, 12), seed=0):
    """A tiny prepared-features directory in the layout ``pe_actors_datasets.load_prepared`` reads (80 features)."""
    rng = np.random.default_rng(seed)
    path.mkdir()
    for split, n in zip(("train", "validation", "test"), sizes, strict=True):
        labels = np.arange(n) % len(CLASS_NAMES)
        x = rng.standard_normal((n, n_steps, 80)).astype(np.float32)
        x[np.arange(n), :, labels] += 2.0
        np.save(path / f"{split}_features.npy", x)
        np.save(path / f"{split}_labels.npy", labels.astype(np.int64))
    meta = {"class_names": CLASS_NAMES, "sizes": dict(zip(("train", "validation", "test"), sizes, strict=True))}
    (path / "metadata.json").write_text(json.dumps({**meta, "synthetic": True}))
    return path


# --- profile ------------------------------------------------------------------------------------------------------


def test_profiled_steps_train_like_the_engine():
    config = NetworkConfig(n_in=5, n_rec=9, n_out=3, n_steps=15)
    params = init_params(config, 1, np.float64)
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2, 15, 5)) * 3
    labels = np.array([0, 2])
    engine = InProcessEngine(config, params, OptimiserConfig(lr=0.01), n_pes=3)
    engine.train_batch(x, labels, 0.01)
    group = EpropGroup(config, 3)
    programs = [group.make_program(p, params, OptimiserConfig(lr=0.01)) for p in range(3)]
    times, work, update = _profile_batch(group, programs, x, labels, 0.01)
    assert times.shape == (3, len(PROFILE_FUNCTIONS), 15) and work.shape == (3, 2, 15) and update.shape == (3,)
    assert np.all(times[:, PROFILE_FUNCTIONS.index("eprop")] > 0) and np.all(update > 0)
    for pe, reference in zip([program.pe for program in programs], engine.pes, strict=True):
        np.testing.assert_allclose(pe.w, reference.w, rtol=1e-12)
        np.testing.assert_allclose(pe.w_out, reference.w_out, rtol=1e-12)


def test_profile_fractions_and_weight_update_per_step():
    config = NetworkConfig(n_in=6, n_rec=10, n_out=3, n_steps=12)
    profile = profile_inprocess(config, n_pes=2, batches=2, warmup=0)
    assert len(profile.per_pe) == 2
    assert sum(profile.shares.values()) == pytest.approx(1.0)
    assert all(value >= 0 for pe in profile.per_pe for value in pe.values())
    per_call = np.mean(profile.weight_update_call_s)
    assert profile.mean["weight_update"] == pytest.approx(per_call / config.n_steps)
    assert profile.last_step_s == pytest.approx(profile.step_s - profile.mean["weight_update"] + per_call)
    assert profile.fits_real_time == (profile.step_s <= 0.01)
    robust = profile_inprocess(config, n_pes=2, batches=1, warmup=0, statistic="median")
    assert robust.step_s == pytest.approx(sum(robust.median.values()))
    assert sum(robust.shares.values()) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="statistic"):
        profile_inprocess(config, statistic="mode")


def test_profile_rejects_more_pes_than_neurons():
    with pytest.raises(ValueError, match="n_pes = 11 exceeds"):
        profile_inprocess(NetworkConfig(n_rec=10), n_pes=11)


def test_profile_command(tmp_path):
    invoke(["profile", *TINY, "--pes", "2", "--batches", "2", "--warmup", "0", "--out", str(tmp_path)])
    summary = json.loads((tmp_path / "profile.json").read_text())
    assert (tmp_path / "profile.png").stat().st_size > 0
    assert list(summary["functions"]) == list(PROFILE_FUNCTIONS)
    assert sum(entry["share"] for entry in summary["functions"].values()) == pytest.approx(1.0)
    step = sum(entry["mean_s_per_step"] for entry in summary["functions"].values())
    assert summary["step_s"] == pytest.approx(step)
    assert summary["fits_real_time"] == (summary["step_s"] <= summary["budget_s"])
    assert summary["budget_s"] == 0.01 and summary["n_pes"] == 2 and len(summary["per_pe"]) == 2


def test_profile_command_reads_prepared_data(tmp_path):
    data = write_prepared(tmp_path / "data", n_steps=12)
    args = ["profile", "--n-rec", "8", "--steps", "12", "--pes", "2", "--batches", "1", "--data", str(data)]
    invoke([*args, "--out", str(tmp_path / "out")])
    assert json.loads((tmp_path / "out" / "profile.json").read_text())["inputs"] == str(data)
    result = CliRunner().invoke(cli, ["profile", "--steps", "50", "--data", str(data), "--out", str(tmp_path)])
    assert result.exit_code != 0 and "(50, 80)" in result.output


@pytest.mark.ray
def test_profile_command_with_actors(tmp_path):
    pytest.importorskip("ray")
    args = ["profile", *TINY, "--pes", "2", "--batches", "1", "--warmup", "1", "--actors", "--out", str(tmp_path)]
    result = invoke(args)
    actors = json.loads((tmp_path / "profile.json").read_text())["actors"]
    assert "Ray actors (shm)" in result.output
    assert actors["step_s"] > 0 and 0 <= actors["sync_share"] <= 1
    assert actors["compute_s_per_step"] == pytest.approx(actors["step_s"] - actors["barrier_wait_s_per_step"])
    assert actors["fits_real_time"] == (actors["step_s"] <= 0.01)


# --- energy -------------------------------------------------------------------------------------------------------


def test_paper_energy_reproduced():
    model = ChipEnergyModel()
    assert model.power_w * 1e3 == pytest.approx(26, abs=0.1)
    seconds = model.training_seconds(PAPER_TRAIN_SAMPLES, PAPER_EPOCHS)
    hours, minutes = divmod(seconds / 60, 60)
    assert (int(hours), round(minutes)) == (586, 28) or (int(hours), int(minutes)) == (586, 27)
    assert model.training_energy_j(PAPER_TRAIN_SAMPLES, PAPER_EPOCHS) / 1e3 == pytest.approx(54.7, abs=0.05)
    assert GpuReference().energy_j / 1e3 == pytest.approx(646.4, abs=0.05)


def test_energy_report_extrapolates_the_measured_throughput():
    report = energy_report(measured=Usage(wall_s=2.0, cpu_s=1.5, samples=10), watts_per_core=20.0)
    rows = {row["key"]: row for row in report["rows"]}
    assert set(rows) == {"spinnaker2", "gpu", "ours_measured", "ours_extrapolated"}
    assert rows["ours_measured"]["energy_j"] == pytest.approx(30.0)
    total = PAPER_TRAIN_SAMPLES * PAPER_EPOCHS
    assert rows["ours_extrapolated"]["wall_s"] == pytest.approx(2.0 * total / 10)
    assert rows["ours_extrapolated"]["energy_j"] == pytest.approx(1.5 * 20.0 * total / 10)
    assert all("estimate" in row["kind"] or "published" in row["kind"] for row in rows.values())


def test_usage_from_metrics(tmp_path):
    records = [
        {"kind": "batch", "epoch": 1, "global_samples": 20, "samples_per_s": 10.0},
        {"kind": "batch", "epoch": 1, "global_samples": 40, "samples_per_s": 20.0},
        {"kind": "epoch", "epoch": 1, "global_samples": 50},
        {"kind": "batch", "epoch": 2, "global_samples": 70, "samples_per_s": 5.0},
    ]
    (tmp_path / "metrics.jsonl").write_text("".join(json.dumps(record) + "\n" for record in records))
    usage = usage_from_metrics(tmp_path, busy_cores=2)
    assert usage.samples == 60
    assert usage.wall_s == pytest.approx(2.0 + 1.0 + 4.0)
    assert usage.cpu_s == pytest.approx(2 * usage.wall_s)
    with pytest.raises(ValueError, match="no metrics file"):
        usage_from_metrics(tmp_path / "missing", busy_cores=1)


def test_energy_command(tmp_path):
    result = invoke(["energy", "--measure", "2", "--cpu-watts-per-core", "8", "--out", str(tmp_path)])
    assert "ESTIMATES" in result.output
    report = json.loads((tmp_path / "energy.json").read_text())
    rows = {row["key"]: row for row in report["rows"]}
    assert rows["spinnaker2"]["energy_j"] / 1e3 == pytest.approx(54.7, abs=0.05)
    assert rows["spinnaker2"]["power_w"] * 1e3 == pytest.approx(26, abs=0.1)
    assert rows["gpu"]["energy_j"] / 1e3 == pytest.approx(646.4, abs=0.05)
    measured = rows["ours_measured"]
    assert measured["samples"] == 2 and measured["wall_s"] > 0
    assert measured["energy_j"] == pytest.approx(measured["cpu_s"] * 8)
    with open(tmp_path / "energy.csv") as handle:
        assert [row["key"] for row in csv.DictReader(handle)] == list(rows)
    assert (tmp_path / "energy.png").stat().st_size > 0


def test_energy_command_from_a_run_directory(tmp_path):
    record = {"kind": "batch", "epoch": 1, "global_samples": 10, "samples_per_s": 5.0}
    (tmp_path / "metrics.jsonl").write_text(json.dumps(record) + "\n")
    invoke(["energy", "--run", str(tmp_path), "--busy-cores", "1", "--out", str(tmp_path / "out")])
    rows = {row["key"]: row for row in json.loads((tmp_path / "out" / "energy.json").read_text())["rows"]}
    assert rows["ours_measured"]["wall_s"] == pytest.approx(2.0)
    assert rows["ours_measured"]["cpu_s"] == pytest.approx(2.0)


# --- memory --plot ------------------------------------------------------------------------------------------------


def test_bptt_stores_five_floats_per_neuron_and_step():
    config = NetworkConfig(n_rec=30)
    assert bptt_bytes_per_step(config, dtype=np.float32) == 5 * 30 * 4
    assert bptt_bytes_per_step(config, batch=3, dtype=np.float64) == 3 * 5 * 30 * 8


def test_memory_lines_follow_the_arrays():
    config = NetworkConfig(n_rec=20, n_steps=37)
    line = eprop_memory_line(config, n_pes=2)
    assert line.at(37) == sum(entry.total for entry in pe_memory(config, 2))
    bptt = bptt_memory_line(config, n_pes=2)
    assert bptt.at(37) - line.at(37) == 37 * bptt_bytes_per_step(config)


def test_paper_crossover_is_about_600_steps():
    eprop, _ = paper_memory_lines(80, 360, 12)
    _, bptt = paper_memory_lines(80, 256, 12)
    assert crossover_steps(eprop, bptt) == pytest.approx(596, abs=1)
    assert eprop.at(100) / 2**20 == pytest.approx(4.3, abs=0.05)
    assert bptt.at(100) / 2**20 == pytest.approx(2.7, abs=0.05)
    same_eprop, same_bptt = paper_memory_lines(80, 120, 12)
    assert crossover_steps(same_eprop, same_bptt) == 0.0
    assert crossover_steps(bptt, eprop) is None


def test_memory_plot_command(tmp_path):
    result = invoke(["memory", "--plot", "--max-steps", "800", "--out", str(tmp_path)])
    assert "paper T = 596" in result.output
    report = json.loads((tmp_path / "memory_vs_steps.json").read_text())
    assert (tmp_path / "memory_vs_steps.png").stat().st_size > 0
    crossing = report["panels"]["crossover"]["crossover_steps"]
    assert crossing["paper"] == pytest.approx(596, abs=1)
    assert 0 < crossing["ours"] < 800
    steps = np.array(report["steps"])
    assert steps[0] == 1 and steps[-1] == 800
    panel = report["panels"]["crossover"]["bytes"]
    ours_eprop, ours_bptt = np.array(panel["ours_eprop"]), np.array(panel["ours_bptt"])
    assert np.all((ours_bptt > ours_eprop) == (steps > crossing["ours"]))
    assert np.all(np.diff(panel["paper_eprop"]) == 0) and np.all(np.diff(panel["paper_bptt"]) > 0)


# --- raster -------------------------------------------------------------------------------------------------------


def test_raster_command_fresh_weights(tmp_path):
    invoke(["raster", *TINY, "--seed", "3", "--out", str(tmp_path)])
    summary = json.loads((tmp_path / "raster.json").read_text())
    assert (tmp_path / "raster.png").stat().st_size > 0
    recurrent = summary["populations"]["recurrent"]
    assert len(recurrent["spikes_per_neuron"]) == 8 and len(recurrent["spikes_per_step"]) == 12
    assert recurrent["total_spikes"] == sum(recurrent["spikes_per_neuron"]) == sum(recurrent["spikes_per_step"])
    assert sum(summary["probabilities"]) == pytest.approx(1.0)
    assert summary["predicted"] == int(np.argmax(summary["logits"])) and summary["label"] is None
    layout = summary["neurons_by_pe"]["recurrent"]
    assert [n for first, stop in layout for n in range(first, stop)] == list(range(8))


def test_raster_command_from_checkpoint_and_data(tmp_path):
    from pe_actors.core.checkpoint import save_checkpoint

    config = NetworkConfig(n_rec=16, n_out=3, n_steps=10)
    params = init_params(config, 0)
    params["w_in"] *= 6.0  # strong enough input that the neurons spike
    meta = {"network": config.to_dict(), "class_names": CLASS_NAMES}
    save_checkpoint(tmp_path / "run" / "checkpoints", "e001", params, {}, meta)
    data = write_prepared(tmp_path / "data", n_steps=10)
    args = ["raster", "--checkpoint", str(tmp_path / "run"), "--data", str(data), "--index", "4"]
    result = invoke([*args, "--out", str(tmp_path / "out")])
    summary = json.loads((tmp_path / "out" / "raster.json").read_text())
    assert summary["label"] == 4 % 3 and summary["label_name"] == CLASS_NAMES[1]
    assert summary["populations"]["recurrent"]["total_spikes"] > 0 and summary["predicted_name"] in CLASS_NAMES
    assert "checkpoint" in summary["source"] and "predicted" in result.output


# --- sweep --------------------------------------------------------------------------------------------------------


def test_parameter_counts_match_the_paper_table():
    for row in PAPER_TABLE4:
        n_in = 40 * int(row.variant[-1])
        assert trainable_params(n_in, row.n_rec, 12) == pytest.approx(row.params_k * 1000, rel=0.1)


def test_second_order_delta_of_a_ramp_is_its_slope():
    ramp = np.arange(10, dtype=np.float32)[None, :, None] * np.array([1.0, -2.0], np.float32)
    np.testing.assert_allclose(second_order_delta(ramp), np.broadcast_to([1.0, -2.0], (1, 10, 2)))


def test_input_variants():
    rng = np.random.default_rng(0)
    splits = {name: (rng.standard_normal((n, 7, 80)).astype(np.float32), np.zeros(n, np.int64))
              for name, n in (("train", 20), ("validation", 5), ("test", 5))}
    assert input_splits(splits, "40x1")["test"][0].shape == (5, 7, 40)
    assert input_splits(splits, "40x2")["test"][0] is splits["test"][0]
    train = input_splits(splits, "40x3")["train"][0]
    assert train.shape == (20, 7, 120)
    np.testing.assert_array_equal(train[..., :80], splits["train"][0])
    np.testing.assert_allclose(train[..., 80:].mean(axis=(0, 1)), 0, atol=1e-5)
    np.testing.assert_allclose(train[..., 80:].std(axis=(0, 1)), 1, atol=1e-3)
    with pytest.raises(ValueError, match="40x4"):
        parse_rows("40x4:10")
    assert len(parse_rows("paper")) == len(PAPER_TABLE4)


def test_sweep_command(tmp_path):
    data = write_prepared(tmp_path / "data")
    args = ["sweep", "--data", str(data), "--rows", "40x1:4,40x2:6,40x3:5", "--epochs", "2", "--max-samples", "16"]
    invoke([*args, "--batch-size", "8", "--out", str(tmp_path / "out")])
    with open(tmp_path / "out" / "sweep.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert [(row["inputs"], int(row["n_rec"])) for row in rows] == [("40x1", 4), ("40x2", 6), ("40x3", 5)]
    for row in rows:
        n_in, n_rec, n_out = int(row["n_in"]), int(row["n_rec"]), int(row["n_out"])
        assert n_in == 40 * int(row["inputs"][-1]) and n_out == 12
        assert int(row["params"]) == n_in * n_rec + n_rec**2 - n_rec + n_rec * n_out
        for key in ("train_accuracy", "best_validation_accuracy", "test_accuracy"):
            assert 0.0 <= float(row[key]) <= 1.0
        assert int(row["samples_per_epoch"]) == 16
    report = json.loads((tmp_path / "out" / "sweep.json").read_text())
    assert report["synthetic"] is True and len(report["rows"]) == 3
    assert (tmp_path / "out" / "sweep.png").stat().st_size > 0


def test_eventprop_profile_times_every_program_of_every_pe(tmp_path):
    from pe_actors.rules.eventprop.config import EventPropConfig
    from pe_actors.studies.profiling import EVENTPROP_PROGRAMS, profile_eventprop
    from pe_actors_datasets.yinyang import yinyang

    features, labels = yinyang(4, 1000)
    summary = profile_eventprop(
        EventPropConfig(sizes=(5, 12, 3)), features, labels, n_pes=[2, 1], sub_batch=4, batches=1, warmup=0
    )
    assert [e["layer"] for e in summary["per_pe"]] == [1, 1, 2]
    for entry in summary["per_pe"]:
        times = entry["programs_s_per_step"]
        assert set(times) == set(EVENTPROP_PROGRAMS)
        assert times["forward"] > 0 and times["backward"] > 0 and times["weight_update"] > 0
    assert summary["per_pe"][2]["programs_s_per_step"]["loss"] > 0  # the master
    result = CliRunner().invoke(
        cli, ["profile", "--rule", "eventprop", "--pes", "2", "--sub-batch", "2", "--batches", "1", "--out", tmp_path]
    )
    assert result.exit_code == 0, result.output
    assert (tmp_path / "profile.png").is_file() and "real-time budget of 1 ms" in result.output


def test_eventprop_raster_and_memory_commands(tmp_path):
    raster_dir, memory_dir = tmp_path / "raster", tmp_path / "memory"
    result = CliRunner().invoke(cli, ["raster", "--rule", "eventprop", "--index", "2", "--out", raster_dir])
    assert result.exit_code == 0, result.output
    summary = json.loads((raster_dir / "raster.json").read_text())
    # The rule's example input: four latency-coded features and the bias, one spike each, without a label.
    assert summary["label"] is None and list(summary["populations"]) == ["layer 1", "output"]
    assert summary["rule"] == "eventprop" and summary["step_ms"] == 1.0
    assert len(summary["populations"]["output"]["first_spike_ms"]) == 3
    assert (raster_dir / "raster.png").is_file()
    result = CliRunner().invoke(cli, ["memory", "--rule", "eventprop", "--pes", "3", "--out", memory_dir])
    assert result.exit_code == 0, result.output
    report = json.loads((memory_dir / "memory.json").read_text())
    assert [entry["layer"] for entry in report["per_pe"]] == [1, 1, 1, 2, 2, 2]
    hidden = report["per_pe"][0]["bytes_by_category"]
    # 40 hidden neurons x 5 inputs x float32 weights, two ADAM moments, and three T x 40 tapes.
    assert hidden["weights"] == 5 * 40 * 4 and hidden["adam"] == 2 * 5 * 40 * 4 and hidden["tapes"] == 3 * 30 * 40 * 4
    assert "fits in 128 KB" in result.output


def test_layout_accounts_for_every_synapse_and_marks_the_master(tmp_path):
    from click.testing import CliRunner

    from pe_actors_launcher.cli import cli

    result = CliRunner().invoke(cli, ["layout", "--pes", "7", "--groups", "5", "--out", str(tmp_path / "e")])
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "e" / "layout.json").read_text())
    config = NetworkConfig()
    whole = config.n_in * config.n_rec + config.n_rec * (config.n_rec - 1) + config.n_rec * config.n_out
    assert sum(row["synapses"] for row in report["per_pe"]) == whole and report["actors"] == 35
    assert [row["master"] for row in report["per_pe"]].count(True) == 1 and report["per_pe"][0]["master"]
    covered = [n for row in report["per_pe"] for n in range(*row["neurons"])]
    assert covered == list(range(config.n_rec))
    assert (tmp_path / "e" / "layout.png").read_bytes()[:4] == b"\x89PNG"
    result = CliRunner().invoke(cli, ["layout", "--rule", "eventprop", "--pes", "3", "--out", str(tmp_path / "y")])
    assert result.exit_code == 0, result.output
    rows = json.loads((tmp_path / "y" / "layout.json").read_text())["per_pe"]
    assert sum(row["synapses"] for row in rows) == 5 * 120 + 120 * 3 and rows[-1]["layer"] == 2


def test_memory_writes_its_table_and_chart_without_plot(tmp_path):
    from click.testing import CliRunner

    from pe_actors_launcher.cli import cli

    result = CliRunner().invoke(cli, ["memory", "--pes", "3", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "memory.json").read_text())
    assert len(report["per_pe"]) == 3 and report["pe_sram_bytes"] == 128 * 1024
    assert (tmp_path / "memory.png").read_bytes()[:4] == b"\x89PNG"
