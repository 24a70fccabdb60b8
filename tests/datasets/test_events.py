"""Event data: SHD-layout files binned into rasters and cached, tonic-style samples, bad files named, and e-prop
and EventProp runs on a synthetic SHD-layout folder."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from pe_actors_datasets.events import SHD_CHANNELS, bin_events, load_shd, prepare_shd, read_shd, tonic_rasters

h5py = pytest.importorskip("h5py")


def write_shd(path: Path, n: int, seed: int, classes: int = 4, **broken) -> Path:
    """An SHD-layout file: per sample spike times (s) and units as variable-length arrays, and labels. Each class
    fires its own band of channels early in the trial, so a network can tell them apart."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, classes, n)
    times, units = [], []
    for label in labels:
        k = int(rng.integers(2000, 3000))  # dense like the release's, so that the first layers spike
        units.append(rng.integers(label * 150, label * 150 + 150, k).astype(np.uint16))
        times.append(np.sort(rng.uniform(0.0, 0.5, k)).astype(np.float32))
    times = broken.get("times", times)
    units = broken.get("units", units)
    def ragged(arrays: list) -> np.ndarray:
        out = np.empty(len(arrays), dtype=object)
        for index, array in enumerate(arrays):
            out[index] = array
        return out

    with h5py.File(path, "w") as handle:
        if not broken.get("no_spikes"):
            group = handle.create_group("spikes")
            group.create_dataset("times", data=ragged(times), dtype=h5py.vlen_dtype(np.float32))
            group.create_dataset("units", data=ragged(units), dtype=h5py.vlen_dtype(np.uint16))
        handle.create_dataset("labels", data=labels.astype(np.uint8))
    return path


@pytest.fixture()
def shd_dir(tmp_path) -> Path:
    folder = tmp_path / "shd"
    folder.mkdir()
    write_shd(folder / "shd_train.h5", 120, seed=0)
    write_shd(folder / "shd_test.h5", 40, seed=1)
    return folder


def test_binning_puts_each_event_in_its_step_and_drops_late_ones():
    times = [np.array([0.0, 0.0099, 0.01, 0.25]), np.array([0.002])]
    units = [np.array([3, 3, 4, 5]), np.array([699])]
    rasters, dropped = bin_events(times, units, SHD_CHANNELS, 0.01, 20)
    assert rasters.shape == (2, 20, 700) and dropped == 1
    assert rasters[0, 0, 3] == 1 and rasters[0, 1, 4] == 1 and rasters[0].sum() == 2 and rasters[1, 0, 699] == 1


def test_shd_folder_is_cached_as_events_and_binned_at_the_networks_step(shd_dir, tmp_path):
    cache = tmp_path / "cache"
    out = prepare_shd(shd_dir, cache)
    metadata = json.loads((out / "metadata.json").read_text())
    assert metadata["sizes"] == {"train": 120, "test": 40, "validation": 0} and metadata["n_channels"] == 700
    data = load_shd(shd_dir, cache, bin_ms=10.0, n_steps=60)
    train, test = data.splits["train"][0], data.splits["test"][0]
    assert train.shape == (108, 60, 700) and set(np.unique(train[:5])) <= {0.0, 1.0}
    # The test split is the file's own samples, in order, each event in its bin.
    times, units, labels = read_shd(shd_dir / "shd_test.h5")
    np.testing.assert_array_equal(data.splits["test"][1], labels)
    for sample in (0, 17):
        steps = np.floor(times[sample] / 0.01).astype(int)
        raster = test[sample]
        assert raster.dtype == np.float32 and np.all(raster[steps, units[sample]] == 1)
        assert raster.sum() == len(set(zip(steps.tolist(), units[sample].tolist(), strict=True)))
    np.testing.assert_array_equal(test[[0, 17]], np.stack([test[0], test[17]]))
    np.testing.assert_array_equal(test[3:5], np.asarray(test)[3:5])
    # One cache for every step: a finer binning reads the same files.
    stamp = (out / "train_times.npy").stat().st_mtime
    finer = load_shd(shd_dir, cache, bin_ms=5.0, n_steps=120)
    assert finer.splits["test"][0].shape == (40, 120, 700) and (out / "train_times.npy").stat().st_mtime == stamp
    assert [p.name for p in cache.iterdir()] == [out.name]
    # The cache holds the events, not the rasters: a fifth of a dense float32 cache even at this coarse step.
    dense = (120 + 40) * 60 * 700 * 4
    assert sum(p.stat().st_size for p in out.iterdir()) < dense / 5


def test_a_damaged_event_cache_is_rebuilt(shd_dir, tmp_path):
    cache = tmp_path / "cache"
    out = prepare_shd(shd_dir, cache)
    before = load_shd(shd_dir, cache, 10.0, 60).splits["test"][0][2]
    damaged = bytearray((out / "test_channels.npy").read_bytes())
    damaged[-3] ^= 0xFF
    (out / "test_channels.npy").write_bytes(bytes(damaged))
    assert prepare_shd(shd_dir, cache) == out
    np.testing.assert_array_equal(load_shd(shd_dir, cache, 10.0, 60).splits["test"][0][2], before)


def test_every_seed_shares_one_cache_and_carves_its_own_validation_split(shd_dir, tmp_path):
    cache = tmp_path / "cache"
    whole = np.asarray(load_shd(shd_dir, cache, bin_ms=10.0, n_steps=60).splits["test"][0])  # warm the cache
    times, _, whole_labels = read_shd(shd_dir / "shd_train.h5")
    firsts = {float(t[0]): i for i, t in enumerate(times)}
    held = {}
    for seed in (0, 1):
        data = load_shd(shd_dir, cache, bin_ms=10.0, n_steps=60, seed=seed)
        (train, train_labels), (valid, valid_labels) = data.splits["train"], data.splits["validation"]
        assert (len(train), len(valid)) == (108, 12) and data.metadata["sizes"]["validation"] == 12
        # The two splits partition the training file: every sample once, in either of them.
        taken = [firsts[float(x.events(i)[0][0])] for x in (train, valid) for i in range(len(x))]
        assert sorted(taken) == list(range(120))
        np.testing.assert_array_equal(whole_labels[taken], np.concatenate([train_labels, valid_labels]))
        held[seed] = set(taken[len(train):])
    assert held[0] != held[1] and len(whole) == 40
    assert len([p for p in cache.iterdir()]) == 1  # one cache for both seeds


@pytest.mark.parametrize(
    "broken, message",
    [
        ({"no_spikes": True}, "lacks ['spikes/times', 'spikes/units']"),
        ({"times": [np.array([-0.1, 0.2], np.float32)] * 120, "units": [np.array([1, 2], np.uint16)] * 120},
         "sample 0 has a time out of range"),
        ({"times": [np.array([0.1, 0.2], np.float32)] * 120, "units": [np.array([5, 700], np.uint16)] * 120},
         "sample 0 has unit 700 beyond the 700 channels"),
        ({"times": [np.zeros(0, np.float32)] * 120, "units": [np.zeros(0, np.uint16)] * 120}, "sample 0 has no events"),
    ],
)
def test_bad_files_name_the_file_and_the_sample(tmp_path, broken, message):
    folder = tmp_path / "bad"
    folder.mkdir()
    write_shd(folder / "shd_train.h5", 120, seed=0, **broken)
    write_shd(folder / "shd_test.h5", 10, seed=1)
    with pytest.raises(ValueError, match=r"shd_train\.h5") as caught:
        prepare_shd(folder, tmp_path / "cache")
    assert message in str(caught.value)
    (folder / "shd_test.h5").unlink()
    with pytest.raises(ValueError, match="lacks .*shd_test.h5"):
        prepare_shd(folder, tmp_path / "cache")


def test_tonic_style_samples_become_rasters_with_the_input_size_from_the_data():
    dtype = np.dtype([("t", np.int64), ("x", np.int64), ("p", np.int64)])
    samples = [np.array([(0, 3, 1), (15_000, 5, 0)], dtype), np.array([(2_000, 7, 1)], dtype)]
    rasters, labels = tonic_rasters(samples, [1, 0], bin_ms=10.0, n_steps=4)
    assert rasters.shape == (2, 4, 16) and labels.tolist() == [1, 0]  # 8 positions x 2 polarities
    assert rasters[0, 0, 7] == 1 and rasters[0, 1, 10] == 1 and rasters[1, 0, 15] == 1 and rasters.sum() == 3
    with pytest.raises(ValueError, match="sample 0: events need the fields t and x"):
        tonic_rasters([np.zeros(3)], [0], 10.0, 4)


def test_a_2d_sensor_keeps_both_coordinates():
    """Pixels of a 3 x 2 sensor with two polarities (tonic's sensor_size (3, 2, 2)): channel (y W + x) P + p; the y
    coordinate used to be dropped, folding the rows onto each other."""
    dtype = np.dtype([("x", np.int64), ("y", np.int64), ("t", np.int64), ("p", np.int64)])
    events = np.array([(1, 0, 0, 1), (1, 1, 0, 1), (2, 1, 12_000, 0)], dtype)
    rasters, _ = tonic_rasters([events], [0], bin_ms=10.0, n_steps=2, sensor_size=(3, 2, 2))
    assert rasters.shape == (1, 2, 12)
    assert rasters[0, 0, (0 * 3 + 1) * 2 + 1] == 1 and rasters[0, 0, (1 * 3 + 1) * 2 + 1] == 1
    assert rasters[0, 1, (1 * 3 + 2) * 2 + 0] == 1 and rasters.sum() == 3
    with pytest.raises(ValueError, match="beyond the sensor of 3 x 2"):
        tonic_rasters([np.array([(1, 2, 0, 0)], dtype)], [0], 10.0, 2, sensor_size=(3, 2, 2))


def test_eprop_and_eventprop_train_on_an_shd_layout_folder(shd_dir, tmp_path):
    import pe_actors as pa

    eprop = pa.train(shd_dir=shd_dir, engine="replay", epochs=4, sub_batch=16, cache=tmp_path / "cache",
                     out=tmp_path / "eprop", progress=False)
    network = pa.load(eprop.path).config
    assert (network.n_in, network.n_out, network.n_steps) == (700, 4, 100)
    assert eprop.best["test_accuracy"] > 0.5  # four classes, each its own band of channels
    eventprop = pa.train(rule="eventprop", shd_dir=shd_dir, sizes="700,32,20", dt=10.0, epochs=3, lr=0.01,
                         cache=tmp_path / "cache", out=tmp_path / "eventprop", progress=False)
    model = pa.load(eventprop.path)
    # EventProp's shd network: a recurrent hidden population read by the outputs' voltage, sized by the data.
    assert model.config.network.weight_shapes() == {"w_input_hidden": (700, 32), "w_hidden_hidden": (32, 32),
                                                     "w_hidden_output": (32, 4)}
    assert model.config.n_steps == 100 and model.config.network.readout == "exp_mean_v"
    assert eventprop.best["test_accuracy"] > 0.5
    with pytest.raises(ValueError, match="--data or --shd-dir, not both"):
        pa.train(shd_dir=shd_dir, data=tmp_path, out=tmp_path / "x", progress=False)


def test_train_command_takes_an_shd_folder(shd_dir, tmp_path):
    from click.testing import CliRunner

    from pe_actors_launcher.cli import cli

    args = ["train", "--shd-dir", str(shd_dir), "--engine", "replay", "--epochs", "1", "--sub-batch", "16",
            "--cache", str(tmp_path / "cache"), "--no-progress", "--out", str(tmp_path / "run")]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert "SHD from" in result.output and result.output.strip().splitlines()[-1].startswith("Test accuracy:")
    missing = CliRunner().invoke(cli, [*args[:-1], str(tmp_path / "other"), "--shd-dir", str(tmp_path)])
    assert missing.exit_code == 2 and "--shd-dir" in missing.output and "shd_train.h5" in missing.output


@pytest.mark.parametrize(
    "change, message",
    [
        ({"labels": np.array([0.0, 1.5, 2.0, 3.0])}, "labels are float64; the SHD release's labels are whole numbers"),
        ({"labels": np.array([0, 1, 2, 250])}, "label 250 among 4 classes, but 247 classes below it never occur"),
        ({"labels": np.array([0, 1, 2, 10**9])}, "label 1000000000 implies more than 10,000 classes"),
    ],
)
def test_labels_that_are_not_a_data_set_are_refused(tmp_path, change, message):
    folder = tmp_path / "bad"
    folder.mkdir()
    path = write_shd(folder / "shd_train.h5", 4, seed=0)
    with h5py.File(path, "a") as handle:
        del handle["labels"]
        handle.create_dataset("labels", data=change["labels"])
    write_shd(folder / "shd_test.h5", 4, seed=1)
    with pytest.raises(ValueError, match=r"shd_train\.h5") as caught:
        prepare_shd(folder, tmp_path / "cache")
    assert message in str(caught.value)


def test_a_time_far_past_the_trial_is_dropped_not_a_traceback():
    rasters, dropped = bin_events([np.array([1e30, 0.001])], [np.array([1, 2])], 700, 0.01, 20)
    assert dropped == 1 and rasters[0, 0, 2] == 1 and rasters.sum() == 1


def test_an_shd_file_that_reads_other_files_or_declares_too_much_is_refused(tmp_path):
    folder = tmp_path / "crafted"
    folder.mkdir()
    path = write_shd(folder / "shd_train.h5", 8, seed=0)
    write_shd(folder / "shd_test.h5", 4, seed=1)
    secret = tmp_path / "secret.bin"
    secret.write_bytes(bytes(64))
    with h5py.File(path, "a") as handle:
        handle.create_dataset("extra", shape=(8,), dtype=np.float64, external=[(str(secret), 0, 64)])
    with pytest.raises(ValueError, match="extra is stored in other files"):
        prepare_shd(folder, tmp_path / "cache")
    path = write_shd(folder / "shd_train.h5", 8, seed=0)
    with h5py.File(path, "a") as handle:
        handle.create_dataset("huge", shape=(2**20, 2**13), dtype=np.float64, chunks=(64, 64), compression="gzip")
    with pytest.raises(ValueError, match="GiB, more than an SHD file holds"):
        prepare_shd(folder, tmp_path / "cache")


def test_a_set_whose_rasters_would_not_fit_in_memory_trains_from_its_events(shd_dir, tmp_path, monkeypatch):
    from pe_actors_datasets import events

    monkeypatch.setattr(events, "available_memory", lambda: 10**6)
    data = load_shd(shd_dir, tmp_path / "cache", 10.0, 60)  # 0.1 GiB as rasters
    assert data.splits["train"][0][[0, 1]].shape == (2, 60, 700)
    dtype = np.dtype([("t", np.int64), ("x", np.int64)])
    with pytest.raises(ValueError, match=r"3 rasters of 100000 x 8 need 0.0 GiB, more than .*coarser step"):
        tonic_rasters([np.array([(0, 3)], dtype)] * 3, [0, 1, 0], bin_ms=1.0, n_steps=100_000, sensor_size=8)


def test_a_killed_builds_leftover_is_removed_and_a_live_builds_is_kept(shd_dir, tmp_path):
    import os
    import shutil
    import subprocess

    cache = tmp_path / "cache"
    out = prepare_shd(shd_dir, cache)
    shutil.rmtree(out)  # as if the build had been killed before it was installed
    dead = subprocess.Popen(["true"])
    dead.wait()
    killed = out.parent / f".{out.name}.tmp-{dead.pid}-abc"
    live = out.parent / f".{out.name}.tmp-{os.getpid()}-def"
    for folder in (killed, live):
        folder.mkdir()
        (folder / "train_times.npy").write_bytes(bytes(1000))
    assert prepare_shd(shd_dir, cache) == out
    assert not killed.exists() and live.exists()


def test_the_synthetic_digits_have_shds_layout_statistics_and_held_out_speakers(tmp_path):
    from pe_actors_datasets.synthetic_shd import SpeakerSpec, synthesize, write_shd_like

    spec = SpeakerSpec(classes=5, speakers=4, test_speakers=1, takes=3, events=3000)
    folder = write_shd_like(tmp_path / "synthetic", spec, seed=3)
    train, test = read_shd(folder / "shd_train.h5"), read_shd(folder / "shd_test.h5")
    assert len(train[2]) == 5 * 3 * 3 and len(test[2]) == 5 * 3 and set(train[2]) == set(range(5))
    counts = [len(t) for t in train[0] + test[0]]
    assert 2000 < np.mean(counts) < 3000  # the events, less the 10 % dropped
    assert all(0 <= t.min() and t.max() < 1.4 for t in train[0])
    assert all(u.max() < SHD_CHANNELS for u in train[1])
    with h5py.File(folder / "shd_train.h5") as train_file, h5py.File(folder / "shd_test.h5") as test_file:
        assert set(train_file["extra/speaker"][:]).isdisjoint(test_file["extra/speaker"][:])
    again = synthesize(spec, seed=3)["test"]
    assert all(np.array_equal(a, b) for a, b in zip(again[0], test[0], strict=True))  # the seed fixes it all
    assert prepare_shd(folder, tmp_path / "cache").is_dir()


def test_an_shd_run_takes_event_augmentations_and_records_them(shd_dir, tmp_path):
    import pe_actors as pa

    run = pa.train(shd_dir=shd_dir, engine="replay", epochs=1, sub_batch=16, augment="channel_shift,time_skew",
                   cache=tmp_path / "cache", out=tmp_path / "run", progress=False)
    record = pa.load(run.path).record
    assert record.augmentation["events"]["channel_shift"] == 10.0
    assert record.augmentation["events"]["time_jitter"] is None and record.augmentation["seed"] == 0


def test_a_graph_of_its_own_keeps_its_sizes_and_event_data_that_do_not_fit_are_named(shd_dir, tmp_path):
    import pe_actors as pa
    from pe_actors.networks import NetworkBuilder

    net = NetworkBuilder(n_steps=100, dt_s=0.01)
    net.input("x", 12)
    net.population("h", 8, "cuba_lif", tau_mem=20e-3, tau_syn=5e-3)
    net.population("out", 4, "cuba_li", tau_mem=20e-3, tau_syn=5e-3)
    net.connect("x", "h", delay=1).connect("h", "h", delay=1).connect("h", "out", delay=1)
    wanted = r"shd: train features have shape \(108, 100, 700\); the network needs \(N, 100, 12\)"
    with pytest.raises(ValueError, match=wanted):
        pa.train(rule="eventprop", network=net.build(["out"], readout="mean_v"), shd_dir=shd_dir, epochs=1,
                 cache=tmp_path / "cache", out=tmp_path / "run", progress=False)


def test_the_data_command_writes_synthetic_spiking_digits_and_names_a_bad_split(tmp_path):
    from click.testing import CliRunner

    from pe_actors_launcher.cli import cli

    args = ["data", "shd-like", "--classes", "3", "--speakers", "3", "--test-speakers", "1", "--takes", "2",
            "--events", "500", "--out", str(tmp_path / "digits")]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert len(read_shd(tmp_path / "digits" / "shd_train.h5")[2]) == 3 * 2 * 2
    assert len(read_shd(tmp_path / "digits" / "shd_test.h5")[2]) == 3 * 1 * 2
    bad = CliRunner().invoke(cli, [*args[:-6], "--test-speakers", "3", "--out", str(tmp_path / "bad")])
    assert bad.exit_code == 2 and "test_speakers must lie in [1, 3)" in bad.output and "Traceback" not in bad.output
