"""GSC loader, feature cache and bad input, on tiny GSC-layout folders the tests write (docs/data.md)."""

import os
import time
import warnings

import click
import numpy as np
import pytest
import soundfile as sf
from click.testing import CliRunner

import pe_actors_datasets as datasets
from pe_actors_datasets import cache
from pe_actors_datasets.speech_commands import CLASS_NAMES, SILENCE, UNKNOWN, BadClipError, scan, split_clips
from pe_actors_launcher.cli import cli

RATE = 16_000
WORDS = ["yes", "no", "up", "bed", "wow"]


def _word_audio(word_index: int, take: int, seconds: float = 0.8) -> np.ndarray:
    rng = np.random.default_rng([word_index, take])
    t = np.arange(int(seconds * RATE)) / RATE
    tone = np.sin(2 * np.pi * (300 + 250 * word_index) * t)
    return (0.3 * tone + 0.01 * rng.standard_normal(t.size)).astype(np.float32)


def make_gsc(root, takes: int = 4):
    """A GSC-layout folder: WORDS x ``takes`` clips (some short, some long), lists and two background files."""
    validation, testing = [], []
    for w, word in enumerate(WORDS):
        (root / word).mkdir(parents=True)
        for take in range(takes):
            name = f"{word}/spk{take}_nohash_0.wav"
            seconds = (0.6, 1.0, 1.3, 0.9)[take % 4]
            sf.write(root / name, _word_audio(w, take, seconds), RATE, subtype="PCM_16")
            if take == 0:
                validation.append(name)
            elif take == 1:
                testing.append(name)
    (root / "validation_list.txt").write_text("\n".join(validation) + "\n")
    (root / "testing_list.txt").write_text("\n".join(testing) + "\n")
    (root / "_background_noise_").mkdir()
    for k in range(2):
        noise = np.random.default_rng(k).normal(0, 0.1, 3 * RATE).astype(np.float32)
        sf.write(root / "_background_noise_" / f"noise{k}.wav", noise, RATE, subtype="PCM_16")
    return root


@pytest.fixture
def gsc(tmp_path):
    return make_gsc(tmp_path / "gsc")


def _prepare(gsc_dir, out, **kwargs):
    return datasets.prepare(gsc_dir, out, workers=1, progress=False, **kwargs)


# The loader


def test_class_names_are_fixed_and_documented():
    assert CLASS_NAMES == ["yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go", "silence", "unknown"]
    assert datasets.CLASS_NAMES is CLASS_NAMES
    assert (SILENCE, UNKNOWN) == (10, 11)


def test_splits_follow_the_lists_and_other_words_are_unknown(gsc):
    splits, skipped = split_clips(scan(gsc), seed=0)
    assert skipped == []
    words = {s: sorted(c.path for c in clips if c.offset < 0) for s, clips in splits.items()}
    assert words["validation"] == sorted(f"{w}/spk0_nohash_0.wav" for w in WORDS)
    assert words["test"] == sorted(f"{w}/spk1_nohash_0.wav" for w in WORDS)
    assert len(words["train"]) == 2 * len(WORDS)
    labels = {c.path.split("/")[0]: c.label for c in splits["train"] if c.offset < 0}
    assert labels == {"yes": 0, "no": 1, "up": 2, "bed": UNKNOWN, "wow": UNKNOWN}


def test_silence_is_seeded_crops_about_one_keyword_per_split(gsc):
    a, _ = split_clips(scan(gsc), seed=3)
    b, _ = split_clips(scan(gsc), seed=3)
    c, _ = split_clips(scan(gsc), seed=4)
    silence = [clip for clip in a["train"] if clip.label == SILENCE]
    assert len(silence) == 1  # the ten keyword classes hold 2 + 2 + 2 train clips: mean 0.6, rounded up
    assert all(clip.path.startswith("_background_noise_/") and 0 <= clip.gain < 1 for clip in silence)
    assert a == b and a != c


def test_unknown_fraction_subsamples_unknown_only(tmp_path):
    root = make_gsc(tmp_path / "gsc", takes=12)
    full, _ = split_clips(scan(root), seed=0)
    half, _ = split_clips(scan(root), unknown_fraction=0.5, seed=0)
    count = lambda clips, label: sum(c.label == label for c in clips)  # noqa: E731
    assert count(half["train"], UNKNOWN) == count(full["train"], UNKNOWN) // 2
    assert count(half["train"], 0) == count(full["train"], 0)
    with pytest.raises(ValueError, match="unknown_fraction"):
        split_clips(scan(root), unknown_fraction=0.0)


# The cache


def test_prepare_and_load_give_memmapped_normalised_splits(gsc, tmp_path):
    result = _prepare(gsc, tmp_path / "features")
    assert not result.reused
    data = datasets.load_prepared(result.path)
    assert isinstance(data, datasets.PreparedData)
    assert data.class_names == CLASS_NAMES and data.synthetic is False
    assert set(data.splits) == {"train", "validation", "test"}
    for features, labels in data.splits.values():
        assert isinstance(features, np.memmap) and features.dtype == np.float32
        assert features.shape[1:] == (100, 80) and labels.dtype == np.int64 and labels.shape == features.shape[:1]
    train = np.asarray(data.splits["train"][0]).reshape(-1, 80)
    np.testing.assert_allclose(train.mean(axis=0), 0.0, atol=1e-3)
    meta = data.metadata
    assert meta["counts"]["train"][SILENCE] == 1 and meta["counts"]["train"][UNKNOWN] == 4
    assert meta["feature_params"]["n_fft"] == 480 and meta["librosa_version"]
    assert len(meta["normalisation"]["mean"]) == 80 and len(meta["hash"]) == 64


def test_second_run_reuses_the_cache_at_once(gsc, tmp_path):
    _prepare(gsc, tmp_path / "features")
    stamp = (tmp_path / "features" / "train_features.npy").stat().st_mtime_ns
    started = time.perf_counter()
    again = _prepare(gsc, tmp_path / "features")
    assert again.reused and time.perf_counter() - started < 0.5
    assert (tmp_path / "features" / "train_features.npy").stat().st_mtime_ns == stamp


def test_changed_file_list_or_parameters_rebuild(gsc, tmp_path):
    out = tmp_path / "features"
    first = _prepare(gsc, out)
    sf.write(gsc / "yes" / "extra_nohash_0.wav", _word_audio(0, 9), RATE, subtype="PCM_16")
    added = _prepare(gsc, out)
    assert not added.reused and added.counts["train"] == first.counts["train"] + 1
    assert not _prepare(gsc, out, unknown_fraction=0.5).reused
    assert not _prepare(gsc, out, unknown_fraction=0.5, seed=1).reused
    assert _prepare(gsc, out, unknown_fraction=0.5, seed=1).reused


def test_two_workers_give_the_same_features_as_one(gsc, tmp_path):
    one = datasets.load_prepared(_prepare(gsc, tmp_path / "one").path)
    two = datasets.load_prepared(datasets.prepare(gsc, tmp_path / "two", workers=2, progress=False).path)
    for split in one.splits:
        np.testing.assert_array_equal(one.splits[split][0], two.splits[split][0])
        np.testing.assert_array_equal(one.splits[split][1], two.splits[split][1])


def test_interrupted_build_leaves_nothing_that_loads(gsc, tmp_path, monkeypatch):
    out = tmp_path / "features"

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(cache, "normalisation_stats", interrupted)
    with pytest.raises(KeyboardInterrupt):
        _prepare(gsc, out)
    assert not out.exists() and list(tmp_path.glob(".features.tmp-*")) == []
    with pytest.raises(FileNotFoundError, match="no feature cache"):
        datasets.load_prepared(out)


def test_leftover_temp_dir_of_a_killed_run_does_not_load_and_is_cleaned(gsc, tmp_path):
    leftover = tmp_path / ".features.tmp-killed"
    leftover.mkdir()
    np.save(leftover / "train_features.npy", np.zeros((2, 100, 80), np.float32))
    with pytest.raises(FileNotFoundError, match="metadata.json"):
        datasets.load_prepared(leftover)
    _prepare(gsc, tmp_path / "features")
    assert not leftover.exists()
    datasets.load_prepared(tmp_path / "features")


def test_failed_rebuild_keeps_the_old_cache_loadable(gsc, tmp_path):
    out = tmp_path / "features"
    _prepare(gsc, out)
    (gsc / "yes" / "broken.wav").write_bytes(b"garbage")
    with pytest.raises(BadClipError):
        _prepare(gsc, out)
    assert datasets.load_prepared(out).metadata["sizes"]["train"] == 11


def test_refuses_to_overwrite_a_directory_that_is_not_a_cache(gsc, tmp_path):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    with pytest.raises(ValueError, match="not a pe-actors feature cache"):
        _prepare(gsc, out)
    assert (out / "notes.txt").read_text() == "keep me"


def test_featurize_folder_reproduces_the_cached_test_split(gsc, tmp_path):
    data = datasets.load_prepared(_prepare(gsc, tmp_path / "features").path)
    features, labels = datasets.featurize_folder(gsc, data.metadata)
    np.testing.assert_allclose(features, data.splits["test"][0], atol=1e-5)
    np.testing.assert_array_equal(labels, data.splits["test"][1])


def test_featurize_folder_without_lists_takes_every_clip(gsc, tmp_path):
    data = datasets.load_prepared(_prepare(gsc, tmp_path / "features").path)
    raw = make_gsc(tmp_path / "raw", takes=2)
    for name in ("validation_list.txt", "testing_list.txt"):
        (raw / name).unlink()
    (raw / "_silence_").mkdir()
    sf.write(raw / "_silence_" / "s.wav", np.zeros(RATE, np.float32), RATE, subtype="PCM_16")
    features, labels = datasets.featurize_folder(raw, data.metadata)
    assert features.shape == (2 * len(WORDS) + 1, 100, 80) and features.dtype == np.float32
    assert sorted(labels.tolist()) == sorted([0, 0, 1, 1, 2, 2, UNKNOWN, UNKNOWN, UNKNOWN, UNKNOWN, SILENCE])


def test_featurize_folder_reports_resampled_and_unusable_clips_once(gsc, tmp_path):
    import warnings

    data = datasets.load_prepared(_prepare(gsc, tmp_path / "features").path)
    raw = make_gsc(tmp_path / "raw", takes=2)
    for name in ("validation_list.txt", "testing_list.txt"):
        (raw / name).unlink()
    sf.write(raw / "yes" / "slow.wav", _word_audio(0, 7)[::2], 8_000, subtype="PCM_16")
    (raw / "yes" / "broken.wav").write_bytes(b"RIFF\x00\x00 not a wav")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        features, _ = datasets.featurize_folder(raw, data.metadata, skip_bad=True)
    notes = [str(w.message) for w in caught if "resampled" in str(w.message)]
    assert len(notes) == 1 and "1 resampled to 16000 Hz and 1 left out" in notes[0] and "broken.wav" in notes[0]
    assert len(features) == 2 * len(WORDS) + 1


def test_synthetic_flag_comes_from_the_marker(gsc, tmp_path):
    (gsc / "SYNTHETIC.json").write_text('{"generator": "test"}')
    data = datasets.load_prepared(_prepare(gsc, tmp_path / "features").path)
    assert data.synthetic is True and data.metadata["synthetic_info"] == {"generator": "test"}


# Bad input: each case names the file and the problem; --skip-bad leaves it out; nothing is written otherwise


def _write_bad(gsc, case):
    path = gsc / "yes" / f"{case}.wav"
    if case == "corrupt":
        path.write_bytes(b"RIFF\x00\x00garbage that is not a wav file")
    elif case == "not_wav":
        sf.write(path, _word_audio(0, 7), RATE, format="FLAC")
    elif case == "stereo":
        sf.write(path, np.stack([_word_audio(0, 7)] * 2, axis=1), RATE, subtype="PCM_16")
    elif case == "empty":
        sf.write(path, np.zeros(0, np.float32), RATE, subtype="PCM_16")
    elif case == "nan":
        audio = _word_audio(0, 7)
        audio[100] = np.nan
        sf.write(path, audio, RATE, subtype="FLOAT")
    return path


BAD_CASES = {
    "corrupt": "not a readable WAV",
    "not_wav": "is a FLAC file, not WAV",
    "stereo": "2 channels, expected mono",
    "empty": "is empty",
    "nan": "NaN",
}


@pytest.mark.parametrize("case", sorted(BAD_CASES))
def test_bad_file_stops_the_run_naming_it_and_writes_nothing(gsc, tmp_path, case):
    path = _write_bad(gsc, case)
    with pytest.raises(BadClipError, match=BAD_CASES[case]) as error:
        _prepare(gsc, tmp_path / "features")
    assert str(path) in str(error.value)
    assert "--skip-bad" not in str(error.value)  # the data package names no command-line option
    assert list(tmp_path.iterdir()) == [gsc]


@pytest.mark.parametrize("case", sorted(BAD_CASES))
def test_skip_bad_leaves_the_file_out_and_reports_it(gsc, tmp_path, case):
    path = _write_bad(gsc, case)
    result = _prepare(gsc, tmp_path / "features", skip_bad=True)
    assert [p for p, _ in result.skipped] == [str(path)]
    assert result.counts["train"] == 11
    data = datasets.load_prepared(result.path)
    assert len(data.metadata["skipped"]) == 1 and data.splits["train"][0].shape[0] == 11
    assert np.isfinite(np.asarray(data.splits["train"][0])).all()


def test_wrong_sample_rate_is_resampled_with_a_warning(gsc, tmp_path):
    sf.write(gsc / "yes" / "rate.wav", _word_audio(0, 7)[::2], 8_000, subtype="PCM_16")
    with pytest.warns(UserWarning, match="resampled 1 WAV files"):
        result = _prepare(gsc, tmp_path / "features")
    assert result.resampled == 1 and result.counts["train"] == 12


def test_wrong_sample_rate_is_refused_when_strict(gsc, tmp_path):
    path = gsc / "yes" / "rate.wav"
    sf.write(path, _word_audio(0, 7)[::2], 8_000, subtype="PCM_16")
    with pytest.raises(BadClipError, match="sample rate 8000 Hz") as error:
        _prepare(gsc, tmp_path / "features", strict=True)
    assert str(path) in str(error.value) and not (tmp_path / "features").exists()


@pytest.mark.parametrize("name", ["validation_list.txt", "testing_list.txt"])
def test_missing_split_list_is_named(gsc, tmp_path, name):
    (gsc / name).unlink()
    with pytest.raises(FileNotFoundError, match=name):
        _prepare(gsc, tmp_path / "features")


def test_list_entry_without_its_file_is_an_error_or_skipped(gsc, tmp_path):
    with open(gsc / "testing_list.txt", "a") as handle:
        handle.write("no/ghost_nohash_0.wav\n")
    with pytest.raises(FileNotFoundError, match="ghost_nohash_0.wav"):
        _prepare(gsc, tmp_path / "features")
    result = _prepare(gsc, tmp_path / "features", skip_bad=True)
    assert result.skipped == [("no/ghost_nohash_0.wav", "listed in testing_list.txt but missing")]


def test_a_directory_that_is_not_gsc_is_refused(tmp_path):
    (tmp_path / "photos").mkdir()
    (tmp_path / "photos" / "cat.jpg").write_bytes(b"\xff\xd8")
    with pytest.raises(ValueError, match="not a Google Speech Commands folder"):
        _prepare(tmp_path, tmp_path / "features")
    with pytest.raises(FileNotFoundError, match="no such directory"):
        _prepare(tmp_path / "absent", tmp_path / "features")


def test_missing_background_folder_is_named(gsc, tmp_path):
    for f in (gsc / "_background_noise_").iterdir():
        f.unlink()
    with pytest.raises(FileNotFoundError, match="_background_noise_"):
        _prepare(gsc, tmp_path / "features")


# The command


def test_cli_prepare_builds_then_reuses(gsc, tmp_path):
    args = ["data", "prepare", "--gsc-dir", str(gsc), "--out", str(tmp_path / "f"), "--workers", "1"]
    first = CliRunner().invoke(cli, args)
    assert first.exit_code == 0, first.output
    assert "built in" in first.output and "train 11" in first.output
    assert "clip/s" not in first.output, "no progress bar when stderr is not a terminal"
    second = CliRunner().invoke(cli, [*args, "--no-progress"])
    assert second.exit_code == 0 and "reused" in second.output


def test_cli_prepare_bad_file_exits_with_its_name_and_writes_nothing(gsc, tmp_path):
    path = _write_bad(gsc, "corrupt")
    args = ["data", "prepare", "--gsc-dir", str(gsc), "--out", str(tmp_path / "f"), "--workers", "1"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 1
    assert str(path) in result.output and "nothing was written" in result.output
    assert "or pass --skip-bad to leave such clips out" in result.output
    assert not (tmp_path / "f").exists()
    skipped = CliRunner().invoke(cli, [*args, "--skip-bad"])
    assert skipped.exit_code == 0, skipped.output
    assert "skipped 1 bad files" in skipped.output and str(path) in skipped.output


def test_cli_prepare_strict_and_unknown_fraction_options(gsc, tmp_path):
    sf.write(gsc / "yes" / "rate.wav", _word_audio(0, 7)[::2], 8_000, subtype="PCM_16")
    args = ["data", "prepare", "--gsc-dir", str(gsc), "--out", str(tmp_path / "f"), "--workers", "1"]
    strict = CliRunner().invoke(cli, [*args, "--strict"])
    assert strict.exit_code == 1 and "sample rate 8000 Hz" in strict.output
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        loose = CliRunner().invoke(cli, [*args, "--unknown-fraction", "0.5"])
    assert loose.exit_code == 0 and "resampled 1 files" in loose.output
    assert datasets.load_prepared(tmp_path / "f").metadata["counts"]["train"][UNKNOWN] == 2
    bad = CliRunner().invoke(cli, [*args, "--unknown-fraction", "0"])
    assert bad.exit_code == 2


def test_every_data_option_has_help_text():
    group = cli.commands["data"]
    assert set(group.commands) == {"prepare", "synth", "yinyang", "spiking", "shd-like"}
    for command in group.commands.values():
        assert command.help
        for param in command.params:
            assert isinstance(param, click.Option) and param.help, (command.name, param.name)
        assert CliRunner().invoke(cli, ["data", command.name, "--help"]).exit_code == 0


def test_cache_files_are_plain_npy(gsc, tmp_path):
    out = _prepare(gsc, tmp_path / "features").path
    assert sorted(os.listdir(out)) == sorted(
        ["metadata.json"] + [f"{s}_{k}.npy" for s in ("train", "validation", "test") for k in ("features", "labels")]
    )
    n_clips = sum(datasets.load_prepared(out).metadata["sizes"].values())
    assert n_clips * 100 * 80 * 4 < cache.cache_bytes(out) < n_clips * 100 * 80 * 4 + 64_000
